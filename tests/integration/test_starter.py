#!/usr/bin/env python3
"""The shipped starter model (issue 19 point 3): real redis-server, real binary.

A fresh Redis and a fresh site that never learned anything: `modgate serve`
stores the compiled-in starter into Redis at start (its keys are there), a
second instance starting on the same Redis does not store it again, an
obvious spam comment is held with a bayes reason from the very first check,
`starter_weight: 0` gives no opinion, the site's own learning moves the
score (and never goes into the starter), a stale starter (another build's)
is replaced, and another site's export seeds a site as its starter.
Prints "N passed, N failed"; the sizes and times measured are printed."""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CMS_KEY, MOD_KEY, ADMIN_KEY, TIGHT_KEY, Redis, Runner, Service,  # noqa: E402
                     base_config, start, wait_until)

STARTER = "modgate-starter"
SPAM = ("WINNER!! As a valued network customer you have been selected to receive a "
        "£900 prize reward! To claim call 09061701461. Claim code KL341. Valid 12 hours only.")
HAM = "Thanks for the article, I had not seen the figures for the second quarter before."
ctx = {}


def bayes_reason(answer):
    rs = [r for r in answer["reasons"] if r["filter"] == "bayes"]
    return rs[0] if rs else None


def p_of(reason):
    m = re.match(r"P\(spam\) ([0-9.]+) from (\d+) clues", reason["detail"])
    assert m, reason
    return float(m.group(1))


def check(svc, body, site="news", key=CMS_KEY, ip="198.51.100.7"):
    st, b, _ = svc.request("POST", "/v1/check", {"site": site, "comment": {"body": body}, "client": {"ip": ip}},
                           key=key)
    assert st == 200, (st, b)
    return b


def model(svc, site="news", key=MOD_KEY):
    st, m, _ = svc.request("GET", "/v1/sites/%s/model" % site, key=key)
    assert st == 200, (st, m)
    return m


def learn(svc, body, label, site="news", key=MOD_KEY):
    st, b, _ = svc.request("POST", "/v1/learn", {"site": site, "comment": {"body": body}, "label": label},
                           key=key)
    assert st == 200, (st, b)
    return b


def put_policy(svc, policy):
    st, b, _ = svc.request("PUT", "/v1/sites/news/policy", {"policy": policy}, key=ADMIN_KEY)
    assert st == 200, (st, b)


def starter_loaded(svc):
    m = model(svc)
    return m["starter_model"]["loaded"] and m["starter_model"]["nspam"] > 0


def serve(redis, name, **news):
    cfg = base_config(redis.port, **news)
    cfg["log_level"] = "info"
    svc = Service(ctx["bin"], ctx["tmp"], cfg, name=name)
    svc.start()
    return svc


def stored_log(svc):
    return re.findall(r"stored the starter model %s: (\d+) tokens, (\d+) ms" % STARTER, svc.logtext())


def test_serve_stores_the_starter_once():
    """The first instance stores it (its keys are in Redis, marked with the
    build's id); a second instance on the same Redis finds it and does not
    store it again (the model's seq does not move)."""
    r = ctx["redis"]
    assert r.cmd("EXISTS", "mg:{%s}:bayes:meta" % STARTER) == 0
    t0 = time.monotonic()
    a = serve(r, "first")
    ctx["a"] = a
    assert wait_until(lambda: starter_loaded(a), 60), a.logtext()[-2000:]
    print("     serve start to starter loaded: %.0f ms" % ((time.monotonic() - t0) * 1000))
    assert wait_until(lambda: stored_log(a), 10), a.logtext()[-2000:]
    tokens, ms = stored_log(a)[0]
    meta = r.cmd("HGETALL", "mg:{%s}:bayes:meta" % STARTER)
    meta = dict(zip(meta[::2], meta[1::2]))
    assert re.fullmatch(r"[0-9a-f]{32}", meta["starter_id"]), meta
    nspam, nham = r.cmd("HLEN", "mg:{%s}:bayes:spam" % STARTER), r.cmd("HLEN", "mg:{%s}:bayes:ham" % STARTER)
    assert nspam > 1000 and nham > 1000, (nspam, nham)
    mem = sum(int(r.cmd("MEMORY", "USAGE", "mg:{%s}:bayes:%s" % (STARTER, k)) or 0)
              for k in ("spam", "ham", "meta", "events"))
    m = model(a)["starter_model"]
    print("     starter: %s tokens stored in %s ms; Redis %d + %d fields, %.1f MB (MEMORY USAGE); "
          "%d bytes in memory per instance; nspam %d nham %d" %
          (tokens, ms, nspam, nham, mem / 1e6, m["memory_bytes"], m["nspam"], m["nham"]))
    ctx["meta"] = meta
    b = serve(r, "second")
    ctx["b"] = b
    assert wait_until(lambda: starter_loaded(b), 60), b.logtext()[-2000:]
    assert not stored_log(b), b.logtext()[-2000:]
    meta2 = r.cmd("HGETALL", "mg:{%s}:bayes:meta" % STARTER)
    assert dict(zip(meta2[::2], meta2[1::2]))["seq"] == meta["seq"], (meta, meta2)
    assert model(b)["starter_model"]["seq"] == int(meta["seq"])


def test_first_comment_gets_an_opinion():
    """A site that learned nothing holds an obvious spam comment with a
    bayes reason from the first check; an ordinary comment is not held.
    GET model names the starter blended and its strength."""
    a = ctx["a"]
    m = model(a)
    assert m["nspam"] == 0 and m["nham"] == 0, m
    assert m["starter"] == STARTER and m["starter_weight"] == 50, m
    assert m["classifier"] == "news" and m["blend"]["starter_read"], m
    assert abs(m["blend"]["nspam"] - 50) < 1e-6 and abs(m["blend"]["nham"] - 50) < 1e-6, m
    ans = check(a, SPAM)
    r = bayes_reason(ans)
    assert r and r["code"] == "bayes_spam" and p_of(r) > 0.9, ans
    assert ans["decision"] == "hold", ans
    ham = check(a, HAM, ip="198.51.100.8")
    assert ham["decision"] == "accept", ham
    print("     first spam: %s; an ordinary comment: %s" % (r["detail"], [x["detail"] for x in ham["reasons"]]))


def test_weight_zero_gives_no_opinion():
    """starter_weight 0 (a policy may set it): no starter, so a site with
    no learning of its own has no opinion, as before the starter."""
    a = ctx["a"]
    put_policy(a, {"bayes": {"starter_weight": 0}})
    assert wait_until(lambda: model(a)["starter"] is None, 10), model(a)
    m = model(a)
    assert m["classifier"] is None and "starter_model" not in m, m
    assert bayes_reason(check(a, SPAM, ip="198.51.100.9")) is None
    put_policy(a, {"bayes": {"starter_weight": 50}})
    assert wait_until(lambda: model(a)["starter"] == STARTER, 10), model(a)




def test_own_learning_moves_the_score():
    """Teaching the site that a spam-looking text is ham lowers its score:
    the site's counts add to the capped starter's. The starter itself does
    not change (learning never goes into it)."""
    a = ctx["a"]
    assert wait_until(lambda: starter_loaded(a), 30), model(a)
    body = "Claim your FREE ringtone now, txt WIN to 80086, just 150p per msg"
    before = p_of(bayes_reason(check(a, body, ip="198.51.100.10")))
    seq = model(a)["starter_model"]["seq"]
    for i in range(30):
        learn(a, body + " (%d)" % i, "ham")
    m = model(a)
    assert m["nham"] == 30 and m["starter_model"]["seq"] == seq, m
    after_r = bayes_reason(check(a, body + " again", ip="198.51.100.11"))
    after = p_of(after_r) if after_r else 0.5
    print("     P(spam) before %.3f, after 30 own ham learns %.3f" % (before, after))
    assert before > 0.9 and after < before - 0.3, (before, after)


def test_stale_starter_is_replaced():
    """A starter of another build (another starter_id) is replaced at the
    next start; the old counts are gone."""
    r = ctx["redis"]
    ctx["a"].stop()
    ctx["b"].stop()
    r.cmd("HSET", "mg:{%s}:bayes:meta" % STARTER, "starter_id", "0" * 32)
    r.cmd("HSET", "mg:{%s}:bayes:spam" % STARTER, "00000000000000ff", "999")
    c = serve(r, "third")
    try:
        assert wait_until(lambda: stored_log(c), 60), c.logtext()[-2000:]
        assert r.cmd("HGET", "mg:{%s}:bayes:meta" % STARTER, "starter_id") == ctx["meta"]["starter_id"]
        assert r.cmd("HGET", "mg:{%s}:bayes:spam" % STARTER, "00000000000000ff") is None
        assert r.cmd("EXISTS", "mg:{%s}:bayes:storing" % STARTER) == 0
    finally:
        c.stop()


def test_seeded_from_another_sites_export():
    """`model export` of one site, `model import` under another model name,
    and bayes.starter naming it: a new site reads that model as its
    starter. The build's own starter file imports the same way."""
    r = Redis(ctx["tmp"], name="redis-seed")
    r.start()
    cfg = base_config(r.port)
    cfg["sites"]["news"]["bayes"] = {"starter_weight": 0}
    cfg["sites"]["other"]["bayes"] = {"model": "seed", "starter": None}
    cfg["sites"]["tight"]["bayes"] = {"starter": "seed"}
    svc = Service(ctx["bin"], ctx["tmp"], cfg, name="seed")
    try:
        svc.start()
        for i in range(25):
            learn(svc, SPAM + " #%d" % i, "spam")
            learn(svc, HAM + " #%d" % i, "ham")
        exp = subprocess.run([ctx["bin"], "model", "export", "--config", svc.path, "--site", "news"],
                             capture_output=True, text=True, timeout=60)
        assert exp.returncode == 0, exp.stderr
        path = os.path.join(ctx["tmp"], "news.export.jsonl")
        with open(path, "w") as f:
            f.write(exp.stdout)
        imp = subprocess.run([ctx["bin"], "model", "import", "--config", svc.path, "--site", "other", path],
                             capture_output=True, text=True, timeout=60)
        assert imp.returncode == 0, imp.stderr
        assert json.loads(imp.stdout)["learned"] == 50, imp.stdout
        assert wait_until(lambda: bayes_reason(check(svc, SPAM + " again", site="tight", key=TIGHT_KEY)), 20)
        ans = check(svc, SPAM + " again", site="tight", key=TIGHT_KEY)
        assert p_of(bayes_reason(ans)) > 0.9, ans
        # The shipped starter file is an export too: it imports as raw counts.
        built = os.path.join(os.path.dirname(ctx["bin"]), "starter.jsonl")
        imp = subprocess.run([ctx["bin"], "model", "import", "--config", svc.path, "--site", "other", built],
                             capture_output=True, text=True, timeout=120)
        assert imp.returncode == 0, imp.stderr
        assert json.loads(imp.stdout)["raw_tokens"] > 10000, imp.stdout
    finally:
        svc.stop()
        r.stop()


def test_config_refuses_learning_into_a_starter():
    """A site whose model is its own starter or the shipped starter is a
    config error: learning never goes into a starter."""
    cfg = base_config(1)
    cfg["sites"]["news"]["bayes"] = {"model": STARTER}
    path = os.path.join(ctx["tmp"], "bad.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    p = subprocess.run([ctx["bin"], "config", "check", path], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "starter" in p.stderr + p.stdout, (p.returncode, p.stderr, p.stdout)
    cfg["sites"]["news"]["bayes"] = {"model": "mine", "starter": "mine"}
    with open(path, "w") as f:
        json.dump(cfg, f)
    p = subprocess.run([ctx["bin"], "config", "check", path], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "starter" in p.stderr + p.stdout, (p.returncode, p.stderr, p.stdout)


def main():
    only = start(ctx)
    run = Runner()
    try:
        for name, fn in list(globals().items()):
            if name.startswith("test_") and callable(fn) and only in name:
                run.run(fn)
    finally:
        for k in ("a", "b"):
            if ctx.get(k):
                ctx[k].stop()
        ctx["redis"].stop()
    return run.summary()


if __name__ == "__main__":
    sys.exit(main())
