#!/usr/bin/env python3
"""Tuning from moderator labels (api.md 2.11): GET /v1/sites/{site}/tuning
sweeps thresholds over the comments moderators approved (ham) or rejected
(spam); POST .../tuning/dry-run says what a proposed policy would have
changed. The right answers are computed here, independently, from the
scores /v1/check answered and the labels the test gave. Real
redis-server, real binary, real HTTP. Prints "N passed, N failed"."""
import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ROOT, Redis, Service, base_config, err_code, make_tmp, run_tests,  # noqa: E402
                     secret_file, sha256)

CMS = "it-tune-cms-key-0123456789abcdef"
MOD = "it-tune-mod-key-0123456789abcdef"
ADM = "it-tune-admin-key-0123456789abcdef"
ctx = {}
SITE = "tune"

# (body, label). Every comment is held (hold threshold 0.05); the scores
# differ by links, shouting and repeated letters; "crypto" is a suspect
# word, whose floor holds whatever the threshold.
COMMENTS = [
    ("I read the whole piece twice and the part about the budget rings true.", "ham"),
    ("Good points on the tram line; the council should publish the figures.", "ham"),
    ("See the official report at http://example.org/report for the details.", "ham"),
    ("THIS IS OUTRAGEOUS AND EVERYONE SHOULD KNOW ABOUT IT RIGHT NOW TODAY", "ham"),
    ("Cheap watches http://w1.example.com and http://w2.example.com best deals", "spam"),
    ("Make money fast http://m1.example.com http://m2.example.com http://m3.example.com", "spam"),
    ("Soooooooo goooood deals on crypto at our shop, join now", "spam"),
    ("Great crypto tips, ask me how I doubled my savings", "ham"),
    ("WIN BIG NOW AT http://prize.example.com CLICK HERE FOR YOUR REWARD", "spam"),
    ("Best lottery numbers every week, the lottery club is open", "spam"),
    ("The mayor was right about the lottery funding for the library.", "ham"),
    ("Nice article!!!!!!!! http://blog.example.net", "spam"),
]
FLOORS = {"suspect_word": "hold", "too_many_links": "hold", "blocked_word": "reject", "honeypot": "reject"}
ORDER = ["accept", "challenge", "hold", "reject"]


def svc():
    return ctx["svc"]


def expected_decision(score, floor, hold, reject):
    d = "reject" if score >= reject else "hold" if score >= hold else "accept"
    return max(d, floor, key=ORDER.index)


def expected_row(items, hold, reject):
    tp = fp = fn = tn = 0
    counts = dict.fromkeys(ORDER, 0)
    for it in items:
        d = expected_decision(it["score"], it["floor"], hold, reject)
        counts[d] += 1
        flagged = d != "accept"
        if it["label"] == "spam":
            tp, fn = tp + flagged, fn + (not flagged)
        else:
            fp, tn = fp + flagged, tn + (not flagged)
    ratio = (lambda a, b: round(a / b, 4) if b else None)
    return dict(tp=tp, fp=fp, fn=fn, tn=tn, precision=ratio(tp, tp + fp), recall=ratio(tp, tp + fn),
                fpr=ratio(fp, fp + tn), **counts)


def setup_labelled():
    """Check every comment, then label it as a moderator would."""
    items = []
    for i, (body, label) in enumerate(COMMENTS):
        doc = {"site": SITE, "comment": {"id": "tc-%d" % i, "body": body, "thread_id": "t1"},
               "client": {"ip": "198.51.100.%d" % (i + 1)}}
        st, r, _ = svc().request("POST", "/v1/check", doc, key=CMS)
        assert st == 200 and r["decision"] == "hold", (st, r)
        floor = "accept"
        for reason in r["reasons"]:
            floor = max(floor, FLOORS.get(reason["code"], "accept"), key=ORDER.index)
        items.append({"id": "tc-%d" % i, "score": r["score"], "floor": floor, "label": label, "body": body})
        action = "approve" if label == "ham" else "reject"
        st, a, _ = svc().request("POST", "/v1/sites/%s/comments/tc-%d/action" % (SITE, i), {"action": action},
                                 key=MOD)
        assert st == 200, (st, a)
    # scores near a grid point would make the test depend on rounding
    for it in items:
        assert min(abs(it["score"] - k / 20) for k in range(21)) > 0.0005, it
    ctx["items"] = items
    return items


def items():
    return ctx.get("items") or setup_labelled()


def tuning(q=""):
    st, b, _ = svc().request("GET", "/v1/sites/%s/tuning%s" % (SITE, q), key=ADM)
    assert st == 200, (st, b)
    return b


def test_sweep_matches_an_independent_count():
    its = items()
    b = tuning()
    assert b["labelled"] == {"spam": 6, "ham": 6, "truncated": False}, b["labelled"]
    assert b["sweep"] == "hold" and len(b["rows"]) == 19, b
    assert len({round(i["score"], 2) for i in its}) >= 5, [i["score"] for i in its]  # a real spread
    for row in b["rows"]:
        t = row["threshold"]
        want = expected_row(its, t, max(t, 0.99))
        got = {k: row[k] for k in want}
        assert got == want, (t, got, want)
    cur = b["current"]
    assert cur["hold"] == 0.05 and cur["reject"] == 0.99, cur
    assert {k: cur["row"][k] for k in expected_row(its, 0.05, 0.99)} == expected_row(its, 0.05, 0.99)
    # figures that change along the sweep: more held at low thresholds, fewer false positives at high ones
    assert b["rows"][0]["fp"] > b["rows"][-1]["fp"], b["rows"]


def test_reject_sweep_and_window():
    its = items()
    b = tuning("?sweep=reject&min=0.1&max=0.9&step=0.1")
    assert [r["threshold"] for r in b["rows"]] == [round(0.1 * k, 1) for k in range(1, 10)], b["rows"]
    for row in b["rows"]:
        t = row["threshold"]
        tp = sum(1 for i in its if i["label"] == "spam" and expected_decision(i["score"], i["floor"], min(0.05, t), t)
                 == "reject")
        fp = sum(1 for i in its if i["label"] == "ham" and expected_decision(i["score"], i["floor"], min(0.05, t), t)
                 == "reject")
        assert (row["tp"], row["fp"]) == (tp, fp), (t, row, tp, fp)
    # a window that ended before the comments were decided sees none of them
    old = tuning("?to=2020-01-01")
    assert old["labelled"]["spam"] == 0 and old["labelled"]["ham"] == 0, old["labelled"]
    assert old["rows"][0]["precision"] is None, old["rows"][0]
    yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
    assert tuning("?from=%s" % yesterday)["labelled"]["spam"] == 6
    # a date as "to" includes that day
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert tuning("?to=%s" % today)["labelled"] == {"spam": 6, "ham": 6, "truncated": False}
    # the newest 'limit' of each state, and truncated says that some were left out
    assert tuning("?limit=6")["labelled"] == {"spam": 6, "ham": 6, "truncated": False}
    assert tuning("?limit=5")["labelled"] == {"spam": 5, "ham": 5, "truncated": True}


def test_bad_parameters_are_refused():
    assert len(tuning("?min=0.1&max=0.299&step=0.001")["rows"]) == 200
    for q in ("?sweep=sideways", "?min=2", "?step=0", "?from=yesterday", "?days=0", "?min=0.9&max=0.1",
              "?min=0.1&max=0.3&step=0.001",  # 201 rows
              "?limit=0", "?from=2026-12-01&to=2026-01-01"):
        st, b, _ = svc().request("GET", "/v1/sites/%s/tuning%s" % (SITE, q), key=ADM)
        assert st == 400 and err_code(b) == "bad_parameter", (q, st, b)
    st, b, _ = svc().request("GET", "/v1/sites/%s/tuning" % SITE, key=MOD)
    assert st == 403, (st, b)
    st, b, _ = svc().request("GET", "/v1/sites/news/tuning", key=ADM)
    assert st == 403 and err_code(b) == "wrong_site", (st, b)


def dry(body):
    st, b, _ = svc().request("POST", "/v1/sites/%s/tuning/dry-run" % SITE, body, key=ADM)
    return st, b


def test_dry_run_of_a_threshold_change():
    its = items()
    st, b = dry({"policy": {"thresholds": {"hold": 0.3}}, "sample": 50})
    assert st == 200, b
    new = {i["id"]: expected_decision(i["score"], i["floor"], 0.3, 0.99) for i in its}
    changed = {k: v for k, v in new.items() if v != "hold"}  # every comment was held then
    assert b["changed"] == len(changed) and b["changed"] > 0, (b["changed"], changed)
    assert b["changed_from_current"] == len(changed)
    assert b["transitions"] == {"hold->accept": len(changed)}, b["transitions"]
    assert {s["id"]: s["proposed"] for s in b["sample"]} == changed, b["sample"]
    for s in b["sample"]:
        assert s["then"] == "hold" and s["current"] == "hold" and s["label"] in ("spam", "ham"), s
        assert s["excerpt"] and s["decided_at"].endswith("Z"), s
    want = expected_row(its, 0.3, 0.99)
    assert {k: b["proposed"]["row"][k] for k in want} == want, (b["proposed"]["row"], want)
    assert b["proposed"]["hold"] == 0.3 and b["current"]["hold"] == 0.05
    assert b["policy"]["thresholds"] == {"hold": 0.3, "reject": 0.99}, b["policy"]["thresholds"]
    # a dry run stores nothing: the policy in force is unchanged
    st, p, _ = svc().request("GET", "/v1/sites/%s/policy" % SITE, key=ADM)
    assert p["version"] == 0 and p["policy"]["thresholds"]["hold"] == 0.05, p


def test_dry_run_of_a_word_list_rescores_the_text():
    its = items()
    st, b = dry({"policy": {"words": {"blocked": ["lottery"]}}, "sample": 0})
    assert st == 200, b
    hit = [i for i in its if "lottery" in i["body"].lower()]
    assert len(hit) == 2 and b["changed"] == 2, (b["changed"], hit)
    assert b["transitions"] == {"hold->reject": 2} and b["sample"] == [], b
    row = b["proposed"]["row"]
    assert row["reject"] == 2 and row["hold"] == len(its) - 2, row


def test_dry_run_refuses_an_invalid_policy():
    st, b = dry({"policy": {"thresholds": {"hold": 0.9, "reject": 0.2}}})
    assert st == 400 and err_code(b) == "invalid_policy" and b["error"]["field"] == "thresholds", b
    st, b = dry({"thresholds": {"hold": 0.3}})
    assert st == 400 and err_code(b) == "unknown_field", b
    st, b = dry({"policy": {}, "sample": 500})
    assert st == 400 and err_code(b) == "bad_parameter", b
    st, b = dry({"policy": {}, "sample": "5"})
    assert st == 400 and err_code(b) == "wrong_type", b
    st, b = dry({"policy": {}, "from": 5})
    assert st == 400 and err_code(b) == "wrong_type", b


def test_more_comments_than_a_page():
    """The comments are read in pages of 200 (short scripts): 250 approved
    comments of another site are all counted, and a limit cuts exactly."""
    ids = []
    for i in range(250):
        doc = {"site": "bulk", "comment": {"id": "bk-%d" % i, "body": "Plain remark number %d about the article" % i},
               "client": {"ip": "203.0.113.%d" % (i % 250 + 1)}}
        st, r, _ = svc().request("POST", "/v1/check", doc, key="bulk-" + CMS)
        assert st == 200 and r["decision"] == "hold", (st, r)
        ids.append("bk-%d" % i)
    st, r, _ = svc().request("POST", "/v1/sites/bulk/actions", {"ids": ids, "action": "approve"}, key="bulk-" + MOD)
    assert st == 200, (st, r)
    st, b, _ = svc().request("GET", "/v1/sites/bulk/tuning", key="bulk-" + ADM)
    assert st == 200 and b["labelled"] == {"spam": 0, "ham": 250, "truncated": False}, b["labelled"]
    assert b["rows"][0]["fp"] == 250 and b["rows"][0]["precision"] == 0 and b["rows"][0]["recall"] is None, b["rows"][0]
    st, b, _ = svc().request("GET", "/v1/sites/bulk/tuning?limit=220", key="bulk-" + ADM)
    assert b["labelled"] == {"spam": 0, "ham": 220, "truncated": True}, b["labelled"]
    st, b, _ = svc().request("GET", "/v1/sites/bulk/tuning?limit=250", key="bulk-" + ADM)
    assert b["labelled"] == {"spam": 0, "ham": 250, "truncated": False}, b["labelled"]


def test_a_refused_test_mode_captcha_earns_no_credit_when_scored_again():
    """A site without test mode refuses the widget's test payload: the
    reason is recorded with no credit, and tuning must not give it one."""
    import base64
    test = base64.b64encode(b'{"challenge":null,"solution":null,"test":true}').decode()
    doc = {"site": "tcap", "comment": {"id": "tm-1", "body": "A fair point about the budget, thanks for writing."},
           "client": {"ip": "198.51.100.77"}, "captcha": test}
    st, r, _ = svc().request("POST", "/v1/check", doc, key="tcap-" + CMS)
    assert st == 200 and r["decision"] == "hold", (st, r)
    cap = [x for x in r["reasons"] if x["filter"] == "captcha"]
    assert [(x["code"], x["contribution"]) for x in cap] == [("captcha_test_mode", 0)], r
    st, a, _ = svc().request("POST", "/v1/sites/tcap/comments/tm-1/action", {"action": "approve"}, key="tcap-" + MOD)
    assert st == 200, a
    st, b, _ = svc().request("POST", "/v1/sites/tcap/tuning/dry-run", {"policy": {}}, key="tcap-" + ADM)
    assert st == 200 and b["labelled"]["ham"] == 1, b
    assert b["changed"] == 0 and b["current"]["row"]["hold"] == 1, b  # still held under the same policy


def test_eval_sweep_offline_matches_its_own_scores():
    """`modgate eval --sweep`: the same table over a JSONL corpus; checked
    against the per-comment scores the same run writes."""
    data = os.path.join(ROOT, "tests", "data")
    tmp = ctx["tmp"]
    train, test = os.path.join(tmp, "train.jsonl"), os.path.join(tmp, "test.jsonl")
    import json
    with open(os.path.join(data, "youtube-dev.jsonl")) as f:
        lines = f.readlines()
    with open(train, "w") as f:
        f.writelines(lines[: len(lines) * 2 // 3])
    with open(test, "w") as f:
        f.writelines(lines[len(lines) * 2 // 3:])
    scores = os.path.join(tmp, "scores.jsonl")
    import subprocess
    p = subprocess.run([svc().binary, "eval", "--train", train, "--test", test, "--scores", scores, "--sweep"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    rows = out["sweep"]
    with open(scores) as f:
        sc = [json.loads(line) for line in f]
    assert len(rows) == 19 and sc, out
    def p(s):  # what a threshold reads: the calibrated P(spam), 0.5 without an opinion
        return s["p"] if s["opinion"] else 0.5
    for row in rows:
        t = row["threshold"]
        tp = sum(1 for s in sc if s["label"] == "spam" and p(s) >= t)
        fp = sum(1 for s in sc if s["label"] == "ham" and p(s) >= t)
        nspam = sum(1 for s in sc if s["label"] == "spam")
        assert (row["tp"], row["fp"], row["fn"]) == (tp, fp, nspam - tp), (t, row, tp, fp)
        assert row["recall"] == round(tp / nspam, 4) and row["hold"] + row["reject"] == tp + fp, row
        assert math.isclose(row["precision"], round(tp / (tp + fp), 4)) if tp + fp else row["precision"] is None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "modgate"))
    ap.add_argument("-k", default="", help="run only the tests whose name holds this")
    a = ap.parse_args()
    tmp = make_tmp()
    ctx["tmp"] = tmp
    r = Redis(tmp)
    r.start()
    c = base_config(r.port)
    c["sites"][SITE] = {
        "keys": [{"id": "tune-cms", "role": "cms", "sha256": sha256(CMS)},
                 {"id": "tune-mod", "role": "moderator", "sha256": sha256(MOD)},
                 {"id": "tune-admin", "role": "admin", "sha256": sha256(ADM)}],
        "thresholds": {"hold": 0.05, "reject": 0.99},
        "prior": 0.12,  # off the sweep's grid
        "words": {"suspect": ["crypto"]},
        "links": {"max": 2},
        "duplicates": {"enabled": False},
        # no learning: the scores stay what the checks answered
        "moderation": {"learn_on_approve": False, "learn_on_reject": False},
        "rate_limits": {"ip": None, "ip_prefix": None, "author": None, "thread": None, "site": None},
    }
    c["sites"]["bulk"] = dict(c["sites"][SITE], keys=[{"id": "bulk-" + r, "role": r, "sha256": sha256("bulk-" + k)}
                                                       for r, k in (("cms", CMS), ("moderator", MOD), ("admin", ADM))])
    c["sites"]["tcap"] = {
        "keys": [{"id": "tcap-" + r, "role": r, "sha256": sha256("tcap-" + k)}
                 for r, k in (("cms", CMS), ("moderator", MOD), ("admin", ADM))],
        "thresholds": {"hold": 0.05, "reject": 0.99}, "prior": 0.12,
        "captcha": {"keys": [{"id": "t1", "secret_file": secret_file(tmp, "cd" * 32, "tcap.key")}]},
        "moderation": {"learn_on_approve": False},
        "rate_limits": {"ip": None, "ip_prefix": None, "author": None, "thread": None, "site": None},
    }
    s = Service(os.path.abspath(a.bin), tmp, c)
    s.start()
    ctx["svc"] = s
    return run_tests(globals(), s, r, a.k)


if __name__ == "__main__":
    sys.exit(main())
