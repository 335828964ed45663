#!/usr/bin/env python3
"""Browser test of the operator page (/ui/, "Policy & tuning", admin key):
headless Chromium (Debian's chromium, driven by playwright-core from
tests/interop) reads the tuning chart built from comments moderators
labelled, sees inverted thresholds refused as it types, runs a dry run,
saves a new version with a note and reverts to the config file's; the
API then shows exactly those versions, and the page's figures are the
API's. In the Stories panel (api.md 2.14) it pre-moderates a story for a
day with the form's defaults and a note (the API then has it, and a
check on that thread is held with reason premod), pages with "More",
sees an empty thread id and the API's refusal of a setting with neither
premod nor closed, and removes the story's settings with two clicks.
Real redis-server, real binary, real HTTP. Prints "N passed, N
failed"."""
import argparse
import datetime
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ADMIN_KEY, CMS_KEY, MOD_KEY, ROOT, Redis, Service, base_config,  # noqa: E402
                     comment, interop_missing, interop_node, keep_screenshot, make_tmp, run_tests, StepBrowser)

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


THREADS = "/v1/sites/news/threads"
STORY = "trial-2291"
ARCHIVE = ["archive-%02d" % i for i in range(60)]  # more than the panel's page of 50


def story(thread_id):
    return svc().request("GET", THREADS + "/" + urllib.parse.quote(thread_id, safe=""), key=ADMIN_KEY)[:2]


def stories_total():
    st, b, _ = svc().request("GET", THREADS + "?limit=1", key=ADMIN_KEY)
    assert st == 200, (st, b)
    return b["total"]


def check_thread(thread_id, body):
    c = comment(body, ip="198.51.100.200")
    c["comment"]["thread_id"] = thread_id
    st, r, _ = svc().check(c, key=CMS_KEY)
    assert st == 200, (st, r)
    return r["decision"], [x["code"] for x in r["reasons"]]


def iso(t):
    return datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def test_an_editor_premoderates_a_story_for_a_day_and_removes_it():
    for t in ARCHIVE:  # old stories a CMS closed
        st, b, _ = svc().request("PUT", THREADS + "/" + t, {"closed": True, "note": "archived"}, key=CMS_KEY)
        assert st == 200 and b["created"] is True, (st, b)
    assert check_thread(STORY, "A first remark on the trial coverage.")[0] == "accept"  # the site's settings
    note = "the trial: lawyers read every comment"
    shot = os.path.join(ctx["tmp"], "stories.png")
    b = StepBrowser(ctx["tmp"], "operator-stories.mjs", "http://127.0.0.1:%d" % svc().port, ADMIN_KEY, STORY, note, shot)
    try:
        out = b.step("listed")
        # the first page of 50, in thread id order, and More
        assert [r["id"] for r in out["rows"]] == ARCHIVE[:50] and out["more"] is True, out
        first = out["rows"][0]
        assert first["cells"] == ["archive-00", "site's", "closed", "no end", "t-cms", "archived"], first
        assert first["until"] is None and first["remove"] == "Remove", first
        assert out["total"] == "· 60 stories with settings of their own, 50 shown", out
        # the form's defaults: pre-moderate every comment, for a day
        f = out["form"]
        assert f["premod"] == "all" and f["for"] == "86400" and f["for_text"] == "1 day" and f["closed"] is False, f
        assert f["summary"].startswith("This story: every comment held for a moderator, for 1 day (until "), f
        b.go()

        out = b.step("added")
        st, s = story(STORY)
        assert st == 200, (st, s)
        assert s["premod"] == "all" and "closed" not in s and s["note"] == note and s["by"] == "t-admin", s
        ahead = iso(s["until"]) - time.time()
        assert 86400 - 120 < ahead <= 86400 + 5, (s, ahead)
        assert abs(iso(s["until"]) - iso(s["at"]) - 86400) < 2, s
        # the check the CMS sends for a comment on that story is held: premod
        decision, reasons = check_thread(STORY, "I followed the hearing today and the verdict surprised me.")
        assert decision == "hold" and "premod" in reasons, (decision, reasons)
        # the table has it at once, on top until its page is read
        r = out["row"]
        assert r["cells"] == [STORY, "all", "site's", out["until_local"], "t-admin", note], r
        assert r["until"] == s["until"] and out["until_local"] and r["pinned"] is True and out["first"] == STORY, out
        assert out["count"] == 51 and out["error_shown"] is False, out
        assert out["summary"].startswith("This story: every comment held for a moderator, for 1 day"), out
        assert out["toast"] == "Story %s: every comment held for a moderator, until %s." % (STORY, out["until_local"]), out
        assert out["form_after"] == {"thread": "", "note": "", "premod": "all", "for": "86400"}, out
        assert out["total"] == "· 61 stories with settings of their own, 51 shown", out
        b.go()

        out = b.step("paged")
        ids = [x["id"] for x in out["rows"]]
        assert ids == ARCHIVE + [STORY], ids  # the next page, and the story in its place, once
        assert out["total"] == "· 61 stories with settings of their own", out
        b.go()

        out = b.step("bad")
        assert "thread id" in out["empty"] and out["empty_invalid"] == "true", out
        st, e, _ = svc().request("PUT", THREADS + "/bad-story", {"for_s": 86400}, key=ADMIN_KEY)
        assert st == 400 and e["error"]["code"] == "missing_field", (st, e)
        assert out["api"] == "Not set: " + e["error"]["message"], (out, e)  # the API's own words
        assert out["summary"].startswith("Choose a pre-moderation or Closed"), out
        assert out["count"] == 61, out
        assert story("bad-story")[0] == 404 and story("")[0] == 404 and stories_total() == 61  # nothing stored
        b.go()

        out = b.step("armed")
        assert out["row"]["remove"] == "Confirm remove", out
        assert story(STORY)[0] == 200, "one click removes nothing"
        b.go()

        out = b.step("removed")
        assert STORY not in out["ids"] and len(out["ids"]) == 60 and out["error_shown"] is False, out
        assert out["toast"] == "Story %s follows the site's settings again." % STORY, out
        assert out["total"] == "· 60 stories with settings of their own", out
        st, gone = story(STORY)
        assert st == 404 and gone["error"]["code"] == "unknown_thread", (st, gone)
        assert check_thread(STORY, "After the verdict: a calm word on the appeal.")[0] == "accept"
    finally:
        rc = b.close()
        for t in ARCHIVE + [STORY]:
            svc().request("DELETE", THREADS + "/" + t, key=ADMIN_KEY)
    assert rc == 0, rc
    assert os.path.getsize(shot) > 10000, shot
    keep_screenshot(shot, "operator-stories.png", "MODGATE_STORIES_SCREENSHOT")  # for people: build/artifacts


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
