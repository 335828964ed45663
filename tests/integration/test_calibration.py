#!/usr/bin/env python3
"""Calibrated Bayes scores in the service (issue 19 point 4): real
redis-server, real binary.

A fresh site reads the shipped starter's calibration (stored into Redis with
the starter), a site without a starter the static default; a check's Bayes
contribution is the calibrated log-odds a z + b of the same raw score z
(shown by two sites that read the same counts under two calibrations); every
learn (the API, a moderator's action, a held comment learned by id) records
the score the site gave the comment before, so that after 30 of each label
the site fits its own calibration, which a check then uses; an unlearn takes
its entry back; a restart and a second instance on the same Redis read the
same calibration; an export carries it and an import stores it.
Prints "N passed, N failed" and the calibrations measured."""
import json
import math
import os
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CMS_KEY, MOD_KEY, OTHER_CMS_KEY, Runner, Service, base_config,  # noqa: E402
                     free_port, lua_scripts, sha256, start, wait_until)

STARTER = "modgate-starter"
DEFAULT = (0.700, -4.774)          # bayes_calib_default (filters/bayes.c)
# The reference calibration a = REF_A, b = 0: a contribution of REF_A z,
# so that z up to 16 shows unclamped, to 0.0005 / REF_A.
REF_A = 0.25
DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "youtube-dev.jsonl")
ctx = {}


def mod_key(site):
    return MOD_KEY if site == "news" else "it-cal-mod-%s-0123456789abcdef" % site


def model(svc, site="news"):
    st, m, _ = svc.request("GET", "/v1/sites/%s/model" % site, key=mod_key(site))
    assert st == 200, (st, m)
    return m


def calib(svc, site="news"):
    return model(svc, site)["calibration"]


def check(svc, body, site="news", key=CMS_KEY, cid=None, ip="198.51.100.7"):
    doc = {"site": site, "comment": {"body": body}, "client": {"ip": ip}}
    if cid:
        doc["comment"]["id"] = cid
    st, b, _ = svc.request("POST", "/v1/check", doc, key=key)
    assert st == 200, (st, b)
    return b


def bayes_contribution(answer):
    """The Bayes reason's contribution at bayes.weight 1 (the default):
    the calibrated log-odds, within +-4 (BAYES_MAX_LOGIT); None without one."""
    rs = [r for r in answer["reasons"] if r["filter"] == "bayes"]
    return rs[0]["contribution"] if rs else None


def close(x, y):
    """GET model gives 6 significant digits (reply.c)."""
    return abs(x - y) <= 1e-5 * max(1, abs(y))


def learn(svc, doc, path="/v1/learn"):
    st, b, _ = svc.request("POST", path, doc, key=MOD_KEY)
    assert st == 200, (st, b)
    return b


def serve(name):
    """An instance on the shared Redis, on a port of its own."""
    cfg = dict(ctx["cfg"], listen="127.0.0.1:%d" % free_port())
    svc = Service(ctx["bin"], ctx["tmp"], cfg, name=name)
    svc.start()
    assert svc.proc.poll() is None, svc.logtext()[-2000:]
    return svc


def corpus(n):
    """The first n spam and n ham comments of youtube-dev.jsonl, alternating."""
    by = {"spam": [], "ham": []}
    with open(DATA) as f:
        for line in f:
            d = json.loads(line)
            if len(by[d["label"]]) < n:
                by[d["label"]].append(d["body"])
    return [x for pair in zip(by["spam"], by["ham"]) for x in ((pair[0], "spam"), (pair[1], "ham"))]


def starter_header():
    with open(os.path.join(os.path.dirname(ctx["bin"]), "starter.jsonl")) as f:
        return json.loads(f.readline())["calibration"]


def test_fresh_site_reads_the_starters_calibration():
    """serve stores the starter's calibration with it (meta calib_a,
    calib_b); a fresh site reports it, with no labels of its own; a site
    reading no starter reports the static default."""
    r = ctx["redis"]
    a = ctx["a"] = serve("first")
    assert wait_until(lambda: model(a)["blend"]["starter_read"], 60), a.logtext()[-2000:]
    head = starter_header()
    meta = r.cmd("HMGET", "mg:{%s}:bayes:meta" % STARTER, "calib_a", "calib_b")
    assert float(meta[0]) == head["a"] and float(meta[1]) == head["b"], (meta, head)
    c = calib(a)
    assert c["from"] == "starter" and c["labels"] == {"spam": 0, "ham": 0}, c
    assert close(c["a"], head["a"]) and close(c["b"], head["b"]), (c, head)
    d = calib(a, "epoch")
    assert d["from"] == "default" and close(d["a"], DEFAULT[0]) and close(d["b"], DEFAULT[1]), d
    print("     starter calibration a %.4f b %.4f (fitted on %d comments)" % (head["a"], head["b"], head["comments"]))


def test_check_uses_the_calibration():
    """Sites news and other read the same counts (the starter, nothing of
    their own); other's model was imported from a header-only file with
    the calibration a = REF_A, b = 0, so its contribution gives the raw
    score z. news's contribution of the same comment is a z + b with the
    starter's a, b (to the reply's rounding: 3 decimals)."""
    a = ctx["a"]
    path = os.path.join(ctx["tmp"], "calz.jsonl")
    with open(path, "w") as f:
        f.write(json.dumps({"model": "calz", "tok_version": 3, "nspam": 0, "nham": 0, "calibration": {"a": REF_A, "b": 0}})
                + "\n")
    imp = subprocess.run([ctx["bin"], "model", "import", "--config", a.path, "--site", "other", path],
                         capture_output=True, text=True, timeout=60)
    assert imp.returncode == 0, imp.stderr
    assert wait_until(lambda: calib(a, "other")["from"] == "import", 10), calib(a, "other")
    c = calib(a, "other")
    assert c["a"] == REF_A and c["b"] == 0, c
    head = starter_header()
    bodies = ["Check out my channel, subscribe please!", "I love this song so much",
              "Win a free iPhone, visit my page now", "hey everyone", "please like and subscribe to my videos",
              "great video", "free gift cards here"]
    compared = 0
    for i, body in enumerate(bodies):
        ref = bayes_contribution(check(a, body, site="other", key=OTHER_CMS_KEY, ip="198.51.100.%d" % (20 + i)))
        got = bayes_contribution(check(a, body, ip="198.51.100.%d" % (40 + i)))
        z = ref / REF_A
        want = head["a"] * z + head["b"]
        print("     %-45r z %.3f: news %.3f, a z + b %.3f" % (body, z, got, want))
        if abs(ref) >= 3.99 or abs(want) >= 3.99:
            continue  # clamped at +-4: says nothing about the formula
        assert abs(got - want) <= 0.0005 * (1 + head["a"] / REF_A) + 1e-9, (body, z, got, want)
        compared += 1
    assert compared >= 2, compared


def test_site_fits_its_own_calibration():
    """Learning youtube comments (the API), one held comment by a
    moderator's spam action and one learned by comment_id: each records
    its score from before the learn; from 30 of each label on, the site
    reads its own fitted calibration (the labels counted), stored in meta
    by one instance."""
    a, r = ctx["a"], ctx["redis"]
    docs = corpus(40)
    for body, label in docs:
        learn(a, {"site": "news", "comment": {"body": body}, "label": label})
    held = []
    for i, body in enumerate(["WIN a FREE prize!!! txt CLAIM to 80086 now, visit http://win.example/prize",
                              "FREE ringtones!!! call 09061701461 now to claim your cash prize"]):
        ans = check(a, body, cid="cal-%d" % i, ip="198.51.100.%d" % (60 + i))
        assert ans["decision"] == "hold", ans
        held.append("cal-%d" % i)
    st, b, _ = a.request("POST", "/v1/sites/news/comments/%s/action" % urllib.parse.quote(held[0]),
                         {"action": "spam"}, key=MOD_KEY)
    assert st == 200, (st, b)
    learn(a, {"site": "news", "comment_id": held[1], "label": "spam"})
    # every comment learned is counted (the corpus repeats a few texts: a text counts once)
    m = model(a)
    assert m["nspam"] >= 30 and m["nham"] >= 30, m
    assert wait_until(lambda: calib(a)["labels"] == {"spam": m["nspam"], "ham": m["nham"]}, 10), (calib(a), m)
    assert r.cmd("HLEN", "mg:{news}:bayes:calib") == m["nspam"] + m["nham"]
    assert r.cmd("ZCARD", "mg:{news}:bayes:calib:order") == m["nspam"] + m["nham"]
    assert wait_until(lambda: calib(a)["from"] == "site", 10), (calib(a), a.logtext()[-1500:])
    c = calib(a)
    head = starter_header()
    assert (c["a"], c["b"]) != (head["a"], head["b"]), c
    meta = r.cmd("HMGET", "mg:{news}:bayes:meta", "fit_a", "fit_b", "fit_n", "calib_n")
    assert close(c["a"], float(meta[0])) and close(c["b"], float(meta[1])), (meta, c)
    ctx["fit"] = c
    print("     after %d spam + %d ham (youtube, 2 held): a %.4f b %.4f (starter's %.4f %.4f); "
          "fit_n %s of calib_n %s" % (m["nspam"], m["nham"], c["a"], c["b"], head["a"], head["b"], meta[2], meta[3]))


def test_check_uses_the_sites_fit():
    """The site's fit replaced by a = REF_A, b = 0 in Redis (calib_put.lua,
    as an instance stores one): the check's contribution gives z, and the
    one before was a z + b with the site's fitted a, b. Then put back."""
    a, r = ctx["a"], ctx["redis"]
    fit = ctx["fit"]
    put = lua_scripts()["CALIB_PUT_LUA"]
    keys = ["mg:{news}:bayes:meta", "mg:{news}:bayes:events"]
    n = int(r.cmd("HGET", keys[0], "calib_n"))
    bodies = ["subscribe to my channel for more music", "this song never gets old", "check out my new video"]
    before = [bayes_contribution(check(a, b, ip="198.51.100.%d" % (80 + i))) for i, b in enumerate(bodies)]
    assert r.cmd("EVAL", put, 2, *keys, "fit", str(REF_A), "0", n + 1000, 5000) == 1
    assert wait_until(lambda: calib(a)["a"] == REF_A, 10), calib(a)
    compared = 0
    for i, body in enumerate(bodies):
        ref = bayes_contribution(check(a, body, ip="198.51.100.%d" % (90 + i)))
        z = ref / REF_A
        want = fit["a"] * z + fit["b"]
        print("     %-42r z %.3f: with the site's fit %.3f, a z + b %.3f" % (body, z, before[i], want))
        if abs(ref) < 3.99 and abs(want) < 3.99:
            assert abs(before[i] - want) <= 0.0005 * (1 + fit["a"] / REF_A) + 1e-5, (body, z, before[i], want)
            compared += 1
    assert compared >= 1, compared
    assert r.cmd("EVAL", put, 2, *keys, "fit", repr(fit["a"]), repr(fit["b"]), n + 1001, 5000) == 1
    assert wait_until(lambda: calib(a)["a"] == fit["a"], 10), calib(a)


def test_unlearn_takes_its_entry_back():
    """An unlearn deletes the comment's entry: the ham label count drops."""
    a = ctx["a"]
    before = calib(a)["labels"]
    body = corpus(1)[1][0]
    b = learn(a, {"site": "news", "comment": {"body": body}}, path="/v1/unlearn")
    assert b["changed"] == "unlearned", b
    assert wait_until(lambda: calib(a)["labels"]["ham"] == before["ham"] - 1, 10), (before, calib(a))
    assert calib(a)["labels"]["spam"] == before["spam"]


def test_restart_and_second_instance_read_the_same():
    """The calibration lives in Redis: a second instance on the same
    Redis, and the first one restarted, report exactly the same."""
    a = ctx["a"]
    c = calib(a)
    b = ctx["b"] = serve("second")
    assert b.port != a.port
    assert wait_until(lambda: calib(b)["from"] == "site", 30), calib(b)
    assert calib(b) == c, (calib(b), c)
    assert a.stop() == 0, a.logtext()[-3000:]
    a.start()
    assert wait_until(lambda: calib(a)["from"] == "site", 30), calib(a)
    assert calib(a) == c, (calib(a), c)


def test_export_carries_it_and_import_stores_it():
    """model export writes the site's calibration in its header; importing
    the file under another model gives the site reading it that calibration."""
    a = ctx["a"]
    c = calib(a)
    exp = subprocess.run([ctx["bin"], "model", "export", "--config", a.path, "--site", "news"],
                         capture_output=True, text=True, timeout=60)
    assert exp.returncode == 0, exp.stderr
    head = json.loads(exp.stdout.splitlines()[0])
    hc = head["calibration"]
    assert hc["from"] == "site" and close(hc["a"], c["a"]) and close(hc["b"], c["b"]), (head, c)
    assert hc["comments"] == sum(c["labels"].values()), (head, c)
    path = os.path.join(ctx["tmp"], "news.jsonl")
    with open(path, "w") as f:
        f.write(exp.stdout)
    imp = subprocess.run([ctx["bin"], "model", "import", "--config", a.path, "--site", "tight", path],
                         capture_output=True, text=True, timeout=60)
    assert imp.returncode == 0, imp.stderr
    assert wait_until(lambda: calib(a, "tight")["from"] == "import", 10), calib(a, "tight")
    t = calib(a, "tight")
    assert t["a"] == c["a"] and t["b"] == c["b"] and t["labels"] == {"spam": 0, "ham": 0}, (t, c)
    # a calibration that cannot be one is refused with a reason (the counts still go in)
    bad = os.path.join(ctx["tmp"], "bad.jsonl")
    with open(bad, "w") as f:
        f.write(json.dumps({"model": "x", "tok_version": 3, "nspam": 0, "nham": 0, "calibration": {"a": -1, "b": 0}})
                + "\n")
    imp = subprocess.run([ctx["bin"], "model", "import", "--config", a.path, "--site", "tight", bad],
                         capture_output=True, text=True, timeout=60)
    assert imp.returncode == 1 and "calibration" in imp.stderr, (imp.returncode, imp.stderr)
    assert calib(a, "tight")["a"] == c["a"]


def test_instances_exit_cleanly():
    """Both instances stop with status 0 (under ASan: no error, no leak)."""
    for k in ("a", "b"):
        svc = ctx.pop(k)
        assert svc.stop() == 0, svc.logtext()[-3000:]


def main():
    only = start(ctx)
    cfg = base_config(ctx["redis"].port)
    cfg["sites"]["other"]["bayes"] = {"model": "calz"}
    cfg["sites"]["tight"]["bayes"] = {"model": "seeded"}
    cfg["sites"]["epoch"]["bayes"] = {"starter": None}
    for site in ("other", "tight", "epoch"):
        cfg["sites"][site]["keys"].append({"id": site + "-mod", "role": "moderator", "sha256": sha256(mod_key(site))})
    ctx["cfg"] = cfg
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
