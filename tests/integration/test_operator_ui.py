#!/usr/bin/env python3
"""Browser test of the operator page (/ui/, "Policy & tuning", admin key):
headless Chromium (Debian's chromium, driven by playwright-core from
tests/interop) reads the tuning chart built from comments moderators
labelled, sees inverted thresholds refused as it types, runs a dry run,
saves a new version with a note and reverts to the config file's; the
API then shows exactly those versions, and the page's figures are the
API's. Real redis-server, real binary, real HTTP. Prints "N passed, N
failed"."""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ADMIN_KEY, MOD_KEY, ROOT, Redis, Service, base_config, comment,  # noqa: E402
                     interop_missing, interop_node, keep_screenshot, make_tmp, run_tests)

ctx = {}


def svc():
    return ctx["svc"]


def node(script, *args):
    return json.loads(interop_node(script, *args))


def labelled():
    """Held comments of several scores, decided by a moderator through the API."""
    bodies = [
        ("Offers at http://a1.example.com and http://a2.example.com and http://a3.example.com", "spam"),
        ("Cheap pills, the best prices anywhere http://b1.example.com http://b2.example.com http://b3.example.com", "spam"),
        ("Earn with crypto today, friends, it works", "spam"),
        ("Crypto is a scam, the article is right to warn people about it", "ham"),
        ("Great deals http://g1.example.com http://g2.example.com", "spam"),
        ("See http://s1.example.org and http://s2.example.org", "ham"),
        ("Photos: http://r1.example.net http://r2.example.net", "ham"),
        ("Buy now at our shop, friends: http://d1.example.com http://d2.example.com!!!!!!!!", "spam"),
    ]
    for i, (body, label) in enumerate(bodies):
        st, r, _ = svc().check(comment(body, cid="op-%d" % i, ip="198.51.100.%d" % (60 + i)))
        assert st == 200 and r["decision"] == "hold", r
        st, a, _ = svc().request("POST", "/v1/sites/news/comments/op-%d/action" % i,
                                 {"action": "approve" if label == "ham" else "reject"}, key=MOD_KEY)
        assert st == 200, a
    return len(bodies)


def test_an_operator_tunes_and_changes_the_policy():
    n = labelled()
    st, t, _ = svc().request("GET", "/v1/sites/news/tuning?days=30", key=ADMIN_KEY)
    assert st == 200 and t["labelled"]["spam"] + t["labelled"]["ham"] == n, t
    shot = os.path.join(ctx["tmp"], "operator.png")
    out = node("operator.mjs", "http://127.0.0.1:%d" % svc().port, ADMIN_KEY, shot)
    assert not out["page_errors"], out
    assert out["version_text"] == "version 0 (the config file's)", out
    assert out["labelled"].startswith("%d labelled comments: 5 spam, 3 ham" % n), out
    # one line per figure, one point per threshold where it is defined (as the API's rows)
    want = {m: sum(1 for r in t["rows"] if r[m] is not None) for m in ("precision", "recall", "fpr")}
    assert dict(out["series"]) == want and want["recall"] == 19, (out["series"], want)
    assert out["current_marker"] == 0.5, out
    assert out["versions_before"][0][0] == 0 and "config file" in out["versions_before"][0][1], out
    assert out["save_disabled_at_start"] is True
    # validation as you type
    assert "thresholds" in out["invalid_message"] and "must not be above" in out["invalid_message"], out
    assert out["save_disabled_when_invalid"] is True
    assert out["json_message"].startswith("JSON:"), out
    assert out["valid_message"] == "Valid: not saved yet." and out["save_disabled_when_valid"] is False, out
    assert out["proposed_marker"] == 0.7, out
    # the dry run the page shows is the API's
    st, d, _ = svc().request("POST", "/v1/sites/news/tuning/dry-run",
                             {"policy": {"thresholds": {"hold": 0.7, "reject": 0.97}}, "days": 30, "sample": 10},
                             key=ADMIN_KEY)
    assert st == 200, d
    assert out["dry_changed"] == d["changed"], (out, d)
    assert out["dry_summary"].startswith("Of %d labelled comments, %d would be" % (n, d["changed"])), out
    assert out["dry_sample"] == [s["id"] for s in d["sample"]], (out, d["sample"])
    # saved, then reverted: the versions the API lists
    assert out["version_text_after_save"] == "version 1 by t-admin", out
    assert "stricter before the election" in out["versions_after_save"][0][1], out
    assert "Saved as version 1" in out["toast"], out
    assert [v for v, _ in out["versions_after_revert"]] == [2, 1, 0], out
    assert "reverted to v0" in out["versions_after_revert"][0][1], out
    assert out["hold_after_revert"] == "0.5", out
    st, v, _ = svc().request("GET", "/v1/sites/news/policy/versions", key=ADMIN_KEY)
    assert st == 200 and [e["version"] for e in v["versions"]] == [2, 1, 0], v
    assert v["versions"][1]["policy"]["thresholds"] == {"hold": 0.7, "reject": 0.97}, v["versions"][1]
    assert d["changed"] > 0 and out["dry_sample"], (d, out)  # the picture shows a real change
    assert v["versions"][1]["note"] == "stricter before the election" and v["versions"][1]["by"] == "t-admin"
    assert v["versions"][0]["reverted_from"] == 0
    st, p, _ = svc().request("GET", "/v1/sites/news/policy", key=ADMIN_KEY)
    assert p["version"] == 2 and p["source"] == "file" and p["policy"]["thresholds"]["hold"] == 0.5, p
    assert os.path.getsize(shot) > 20000, shot
    keep_screenshot(shot, "operator-policy.png", "MODGATE_OPERATOR_SCREENSHOT")  # for people: build/artifacts


def test_a_moderator_key_gets_no_policy_page():
    st, b, _ = svc().request("GET", "/v1/sites/news/policy", key=MOD_KEY)
    assert st == 403, (st, b)  # the page hides the tab; the API refuses anyway


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "modgate"))
    ap.add_argument("-k", default="", help="run only the tests whose name holds this")
    a = ap.parse_args()
    if interop_missing("playwright-core"):
        return 1
    tmp = make_tmp()
    ctx["tmp"] = tmp
    r = Redis(tmp)
    r.start()
    s = Service(os.path.abspath(a.bin), tmp, base_config(r.port))
    s.start()
    ctx["svc"] = s
    return run_tests(globals(), s, r, a.k)


if __name__ == "__main__":
    sys.exit(main())
