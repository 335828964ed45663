#!/usr/bin/env python3
"""The Bayes filter inside POST /v1/check: real redis-server, real binary.

A model is bulk-loaded from the SMS corpus's training split with `modgate
learn`, then checks show what the CMS and a moderator see: a bayes reason
with the tokens that moved it, a spam verdict that holds (never rejects
on its own), a ham verdict that lowers the score, a site reading a shared
fallback model, a site with Bayes switched off, the site weight, and the
same probability through the service as `modgate eval` computes offline.
Prints "N passed, N failed"."""
import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CMS_KEY, ROOT, Redis, Runner, Service, base_config, make_tmp,  # noqa: E402
                     sha256, wait_until, MOD_KEY)
import corpus_split  # noqa: E402

FB_KEY = "it-fallback-cms-key-0123456789abcdef"
OFF_KEY = "it-off-cms-key-0123456789abcdef"
HALF_KEY = "it-half-cms-key-0123456789abcdef"
ctx = {}


def check(body, site="news", key=CMS_KEY, ip="198.51.100.7", cid=None):
    doc = {"site": site, "comment": {"body": body}, "client": {"ip": ip}}
    if cid:
        doc["comment"]["id"] = cid
    st, b, _ = ctx["svc"].check(doc, key=key)
    assert st == 200, (st, b)
    return b


def bayes_reason(answer):
    rs = [r for r in answer["reasons"] if r["filter"] == "bayes"]
    assert len(rs) <= 1, answer
    return rs[0] if rs else None


def p_of(reason):
    m = re.match(r"P\(spam\) ([0-9.]+) from (\d+) clues", reason["detail"])
    assert m, reason
    return float(m.group(1))


def test_no_opinion_before_learning():
    """An empty model says nothing: no bayes reason, the prior decides."""
    a = check("WINNER!! Claim your FREE prize now, call 09061701461", site="news")
    assert bayes_reason(a) is None, a


def load_model():
    """The SMS training split, learned with the command line."""
    tr = os.path.join(ctx["tmp"], "sms.train.jsonl")
    te = os.path.join(ctx["tmp"], "sms.test.jsonl")
    corpus_split.write_split(os.path.join(ROOT, "tests", "data", "sms.jsonl"), tr, te)
    p = subprocess.run([ctx["bin"], "learn", "--config", ctx["svc"].path, "--site", "news", tr],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["errors"] == 0 and out["learned"] > 3000, out

    def ready():
        st, m, _ = ctx["svc"].request("GET", "/v1/sites/news/model", key=MOD_KEY)
        return st == 200 and m["opinion"] and m["nspam"] + m["nham"] == out["learned"]
    assert wait_until(ready, 30), "the model did not reach the instance"
    ctx["train"], ctx["test"] = tr, te


def test_spam_is_held_not_rejected():
    """Certain spam adds the capped 4 log-odds: a hold for a moderator
    (score 0.86 at the default prior), not a rejection, and the reason
    names what gave it away in words a moderator reads."""
    a = check("WINNER!! As a valued network customer you have been selected to receive a "
              "£900 prize reward! To claim call 09061701461. Claim code KL341. Valid 12 hours only.")
    r = bayes_reason(a)
    assert r and r["code"] == "bayes_spam", a
    assert abs(r["contribution"] - 4.0) < 1e-9, r
    assert p_of(r) > 0.99, r
    assert "spammy:" in r["detail"] and ("phone number" in r["detail"] or '"' in r["detail"]), r
    assert a["decision"] == "hold" and 0.85 < a["score"] < 0.87, a


def test_ham_lowers_the_score():
    a = check("Sorry, I'll call you later when I get home. Are we still meeting for lunch tomorrow?")
    r = bayes_reason(a)
    assert r and r["code"] == "bayes_ham" and r["contribution"] < -1, a
    assert "hammy:" in r["detail"], r
    assert a["decision"] == "accept" and a["score"] < 0.05, a


def test_service_scores_equal_eval_scores():
    """The service's P(spam) for each test comment is the one `modgate
    eval` computes offline with the same training data and the calibration
    the site's model endpoint shows: one tokenizer and one classifier,
    learned through Redis or in memory."""
    st, m, _ = ctx["svc"].request("GET", "/v1/sites/news/model", key=MOD_KEY)
    assert st == 200, m
    cal = m["calibration"]
    scores = os.path.join(ctx["tmp"], "scores.jsonl")
    p = subprocess.run([ctx["bin"], "eval", "--train", ctx["train"], "--test", ctx["test"], "--scores", scores,
                        "--calibration", "%.17g,%.17g" % (cal["a"], cal["b"])],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    want = {json.loads(l)["id"]: json.loads(l)["p"] for l in open(scores, encoding="utf-8")}
    rows = [json.loads(l) for l in open(ctx["test"], encoding="utf-8")]
    compared = 0
    for i, row in enumerate(rows[::5]):  # every fifth: 311 checks
        a = check(row["body"], ip="198.51.%d.%d" % (i // 200, i % 200 + 1))
        r = bayes_reason(a)
        assert r is not None, (row, a)
        assert abs(p_of(r) - want[row["id"]]) < 0.0006, (row["id"], r["detail"], want[row["id"]])
        compared += 1
    assert compared > 300


def test_fallback_model():
    """A site with no learns of its own reads the shared model it names,
    and says so."""
    a = check("URGENT! You have won a 1 week FREE membership in our £100,000 Prize Jackpot! "
              "Txt the word CLAIM to 81010", site="fb", key=FB_KEY)
    r = bayes_reason(a)
    assert r and r["code"] == "bayes_spam" and "(shared model news)" in r["detail"], a


def test_disabled_and_weight():
    body = "Congratulations! You have won a £1000 cash prize. Call 09061701461 to claim"
    assert bayes_reason(check(body, site="off", key=OFF_KEY)) is None
    r = bayes_reason(check(body, site="half", key=HALF_KEY))
    assert r and abs(r["contribution"] - 2.0) < 1e-9, r  # weight 0.5 x the cap 4


def test_held_comment_keeps_its_bayes_reason():
    """What the moderator sees in the held queue explains the hold."""
    a = check("FREE entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005. "
              "Text FA to 87121 to receive entry question", cid="held-bayes-1")
    assert a["decision"] == "hold" and a.get("stored") is True, a
    item = json.loads(ctx["redis"].cmd("HGET", "mg:{news}:c:held-bayes-1", "item"))
    assert any(r["filter"] == "bayes" and r["code"] == "bayes_spam" for r in item["reasons"]), item


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "modgate"))
    a = ap.parse_args()
    ctx["bin"] = os.path.abspath(a.bin)
    tmp = ctx["tmp"] = make_tmp()
    r = Redis(tmp)
    r.start()
    ctx["redis"] = r
    # starter_weight 0: these tests are about a site's own model (the
    # same p as `modgate eval`, which reads no starter) and its fallback;
    # the shipped starter has tests/integration/test_starter.py.
    cfg = base_config(r.port, bayes={"starter_weight": 0})
    cfg["sites"]["fb"] = {"keys": [{"id": "fb-cms", "role": "cms", "sha256": sha256(FB_KEY)}],
                          "bayes": {"fallback": "news", "starter_weight": 0}}
    cfg["sites"]["off"] = {"keys": [{"id": "off-cms", "role": "cms", "sha256": sha256(OFF_KEY)}],
                           "bayes": {"fallback": "news", "enabled": False, "starter_weight": 0}}
    cfg["sites"]["half"] = {"keys": [{"id": "half-cms", "role": "cms", "sha256": sha256(HALF_KEY)}],
                            "bayes": {"fallback": "news", "weight": 0.5, "starter_weight": 0}}
    s = Service(ctx["bin"], tmp, cfg)
    s.start()
    ctx["svc"] = s
    run = Runner()
    try:
        run.run(test_no_opinion_before_learning)
        run.run(load_model)
        if run.failed == 0:
            for t in (test_spam_is_held_not_rejected, test_ham_lowers_the_score,
                      test_service_scores_equal_eval_scores, test_fallback_model, test_disabled_and_weight,
                      test_held_comment_keeps_its_bayes_reason):
                run.run(t)
    finally:
        rc = s.stop()
        r.stop()
    if rc != 0:
        print("FAIL service exit status %s at SIGTERM\n%s" % (rc, s.logtext()[-4000:]))
        run.failed += 1
    return run.summary()


if __name__ == "__main__":
    sys.exit(main())
