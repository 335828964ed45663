#!/usr/bin/env python3
"""Browser test of the moderator page (/ui/): headless Chromium (Debian's
chromium, driven by playwright-core from tests/interop) signs in with a bad
key and sees the error, signs in with the moderator key, sees the comments
/v1/check held, approves one and marks one spam by keyboard; the API then
shows the new states, the audit log has both actions and the filter
learned from both. A comment holding <script> and <img onerror> is shown
as text and runs nothing. The focused comment's card shows its author's
history (counts, network, last comments), and Shift+T, Shift+B twice and
the Normal button set the author's status, read back through the API
after each step. The "reported" tab lists comments modgate published at
once and readers then reported (api.md 2.16), each card with the reports'
count, reasons, times and notes (as text); r rejects one there (the API
then says rejected), u holds it (the API's undo) and a keeps the other
published. Real redis-server, real binary, real HTTP.
Prints "N passed, N failed"."""
import argparse
import hashlib
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CMS_KEY, MOD_KEY, ROOT, Redis, Service, base_config, comment, interop_missing,  # noqa: E402
                     interop_node, keep_screenshot, make_tmp, run_tests, StepBrowser)

LINKS = "at http://p.example.com and http://q.example.com and http://r.example.com"
XSS = ('<script>window.__xss = "script"</script><img src=x onerror="window.__xss = \'img\'"> '
       'see http://p.example.com http://q.example.com http://r.example.com')
ctx = {}


def svc():
    return ctx["svc"]


def node(script, *args):
    return json.loads(interop_node(script, *args))


def hold(cid, body, ip):
    st, r, _ = svc().check(comment(body, cid=cid, ip=ip, author={"name": "Reader " + cid}))
    assert st == 200 and r["decision"] == "hold" and r["stored"] is True, r
    # the queue is oldest first, and comments held in the same millisecond
    # by id (api.md); a pause makes each hold its own millisecond, so the
    # order below is the order of the holds
    time.sleep(0.003)


def model():
    st, m, _ = svc().request("GET", "/v1/sites/news/model", key=MOD_KEY)
    assert st == 200, m
    return m["nspam"], m["nham"]


def test_a_moderator_works_the_queue_by_keyboard():
    hold("ui-1", "Great deals " + LINKS, "198.51.100.10")
    hold("ui-2", "Cheap pills " + LINKS, "198.51.100.20")
    hold("ui-3", "More offers " + LINKS, "198.51.100.30")
    hold("ui-xss", XSS, "198.51.100.40")
    hold("ui-word", "Earn with Crypto today, friends", "198.51.100.50")  # a suspect word: held
    spam0, ham0 = model()
    shot = os.path.join(ctx["tmp"], "queue.png")
    out = node("moderator.mjs", "http://127.0.0.1:%d" % svc().port, MOD_KEY, "not-a-key-of-any-site",
               "ui-2", "ui-3", "ui-xss", "ui-word", shot)
    # a bad key is refused with a message, and nothing else is shown
    assert "not accepted" in out["bad_key_error"], out
    # the held comments, oldest first, with the live count
    assert out["held_shown"] == ["ui-1", "ui-2", "ui-3", "ui-xss", "ui-word"], out
    assert out["held_tab"] == "held 5", out
    # the links and words that drove the score are highlighted in the text
    assert ["hl-link", "http://p.example.com"] in out["marks"], out
    assert out["word_marks"] == [["hl-word", "Crypto"]], out
    # the XSS comment: its markup shown as text, no element made of it, nothing ran
    assert "<script>" in out["xss_text"] and "onerror" in out["xss_text"], out
    assert all(t == "MARK" for t in out["xss_elements"]), out
    assert out["xss_ran"] is None and out["xss_ran_end"] is None and not out["page_errors"], out
    assert "dialog" not in out, out
    # both actions done by keyboard, and the page moved on
    assert "approve" in out["toast_after_approve"], out
    assert out["left"] == ["ui-1", "ui-xss", "ui-word"] and out["held_tab_after"] == "held 3", out
    # what the API says now
    for cid, state, learned in (("ui-2", "approved", "ham"), ("ui-3", "spam", "spam"), ("ui-1", "held", None)):
        st, c, _ = svc().request("GET", "/v1/sites/news/comments/" + cid, key=MOD_KEY)
        assert st == 200 and c["state"] == state and c["learned"] == learned, (cid, c)
    st, audit, _ = svc().request("GET", "/v1/sites/news/audit", key=MOD_KEY)
    assert st == 200, audit
    seen = [(e["id"], e["action"], e["from"], e["to"], e["by"]) for e in audit["entries"]]
    assert seen[-2:] == [("ui-3", "spam", "held", "spam", "t-mod"), ("ui-2", "approve", "held", "approved", "t-mod")], seen
    # the filter learned from both: one spam, one ham (approve teaches ham by default)
    assert model() == (spam0 + 1, ham0 + 1), (model(), spam0, ham0)
    # bulk by selection, then undo: both rejected together, then back in held
    assert out["selected"] == ["ui-1", "ui-xss"], out
    assert out["after_reject"] == ["ui-word"], out
    assert sorted(out["after_undo"]) == ["ui-1", "ui-word", "ui-xss"], out
    for cid in ("ui-1", "ui-xss"):
        st, c, _ = svc().request("GET", "/v1/sites/news/comments/" + cid, key=MOD_KEY)
        assert st == 200 and c["state"] == "held", c
        assert [(h["action"], h["from"], h["to"]) for h in c["history"]] == [("reject", "held", "rejected"),
                                                                            ("hold", "rejected", "held")], c
    assert model() == (spam0 + 1, ham0 + 1), "rejecting teaches nothing by default"
    assert out["rejected_empty"] == "No rejected comments." and out["rejected_items"] == 0, out
    assert os.path.getsize(shot) > 20000, shot
    keep_screenshot(shot, "moderator-queue.png", "MODGATE_UI_SCREENSHOT")  # for people: build/artifacts


AUTHOR = "ana-ui"
AUTHOR_NET = "198.51.77"
THREAD = "ui-authors"


def hold_in_thread(cid, author):
    """A comment of THREAD from AUTHOR_NET, held for its suspect word."""
    c = comment("Is crypto the answer to the budget, as %s asks?" % cid, cid=cid, ip=AUTHOR_NET + ".20", author=author)
    c["comment"]["thread_id"] = THREAD
    st, r, _ = svc().check(c)
    assert st == 200 and r["decision"] == "hold" and r["stored"] is True, r
    time.sleep(0.003)  # each its own millisecond: the author's last comments in a known order


def decide(cid, action):
    st, b, _ = svc().request("POST", "/v1/sites/news/comments/%s/action" % cid, {"action": action}, key=MOD_KEY)
    assert st == 200 and b["status"] == "ok", (cid, action, st, b)
    time.sleep(0.003)


def author_view():
    st, b, _ = svc().request("GET", "/v1/sites/news/authors/" + AUTHOR, key=MOD_KEY)
    assert st == 200, (st, b)
    return b


def test_the_card_shows_the_author_and_trusts_and_bans_by_key():
    ana = {"id": AUTHOR, "name": "Ana"}
    for cid, action in (("au-1", "approve"), ("au-2", "approve"), ("au-3", "spam")):
        hold_in_thread(cid, ana)
        decide(cid, action)
    hold_in_thread("au-4", ana)
    hold_in_thread("na-1", {"name": "A guest"})  # no id, no e-mail: no author key
    view = author_view()
    key = hashlib.blake2b(b"id:" + AUTHOR.encode(), digest_size=8).hexdigest()
    assert view["key"] == key and view["status"] == "normal", view
    counts = "2 approved · 0 rejected · 1 spam"
    shot = os.path.join(ctx["tmp"], "author.png")
    b = StepBrowser(ctx["tmp"], "moderator-authors.mjs", "http://127.0.0.1:%d" % svc().port, MOD_KEY, THREAD, "au-4", "na-1", shot)
    try:
        out = b.step("panel")
        assert sorted(out["shown"]) == ["au-4", "na-1"], out
        # no author: only the network, and the author keys refuse with a message
        na = out["no_author"]
        assert na["key"] == "" and "no author id or e-mail" in na["none"] and na["status"] is None, na
        assert na["prefix"] == "Network %s.0/24" % AUTHOR_NET and na["net_recent"] == "last 7 days: " + counts, na
        assert all(d for _, _, d in na["buttons"]) and "no author id or e-mail" in na["msg"], na
        assert "no author id or e-mail" in out["no_author_toast"], out
        # the author: status, counts in all and in the window, network, last comments
        a = out["author"]
        assert out["panels"] == 1 and a["in_card"] == "au-4" and a["key"] == key and a["status"] == "normal", a
        assert a["all"] == "All: " + counts and a["recent"] == "Last 7 days: " + counts, a
        assert a["prefix"] == "Network %s.0/24" % AUTHOR_NET and a["net_recent"] == "last 7 days: " + counts, a
        assert [x[:2] for x in a["last"]] == [["au-4", "held"], ["au-3", "spam"], ["au-2", "approved"],
                                              ["au-1", "approved"]], a
        assert [x[2] for x in a["last"]] == [x["at"] for x in view["last"]] and all(x[3] for x in a["last"]), a
        assert a["buttons"] == [["trusted", "Trust (Shift+t)", False], ["banned", "Ban (Shift+b)", False],
                                ["normal", "Normal (Shift+n)", True]], a
        b.go()
        # Shift+T: trusted at once, no confirmation
        out = b.step("trusted")
        v = author_view()
        assert v["status"] == "trusted" and v["set_by"] == "t-mod" and v["note"] == "on comment au-4", v
        assert out["author"]["status"] == "trusted" and "trusted now (was normal)" in out["author"]["toast"], out
        assert out["author"]["all"] == "All: " + counts, out
        b.go()
        # one Shift+B only asks
        out = b.step("armed")
        assert author_view()["status"] == "trusted"
        assert out["author"]["status"] == "trusted" and "Press B again" in out["author"]["msg"], out
        assert ["banned", "Confirm ban (Shift+b)", False] in out["author"]["buttons"], out
        b.go()
        # the second one bans: the author's next comment is rejected
        out = b.step("banned")
        assert author_view()["status"] == "banned" and out["author"]["status"] == "banned", out
        st, r, _ = svc().check(comment("A calm remark about the budget.", ip=AUTHOR_NET + ".99", author=ana))
        assert st == 200 and r["decision"] == "reject" and "author_banned" in [x["code"] for x in r["reasons"]], r
        b.go()
        # the Normal button, by mouse
        out = b.step("normal")
        assert author_view()["status"] == "normal" and out["author"]["status"] == "normal", out
    finally:
        rc = b.close()
    assert rc == 0, rc
    st, audit, _ = svc().request("GET", "/v1/sites/news/audit?order=oldest", key=MOD_KEY)
    assert st == 200, audit
    seen = [(e["action"], e["from"], e["to"], e["by"]) for e in audit["entries"] if e["id"] == "author:" + key]
    assert seen == [("author_status", "n", "t", "t-mod"), ("author_status", "t", "b", "t-mod"),
                    ("author_status", "b", "n", "t-mod")], seen
    assert os.path.getsize(shot) > 20000, shot
    keep_screenshot(shot, "moderator-author.png", "MODGATE_UI_AUTHOR_SCREENSHOT")  # for people: build/artifacts


REPORTED_THREAD = "ui-reports"


def published(cid, body, net):
    """A comment of REPORTED_THREAD that modgate accepted at once."""
    c = comment(body, cid=cid, ip=net + ".7", author={"id": "writer-" + cid, "name": "Writer " + cid})
    c["comment"]["thread_id"] = REPORTED_THREAD
    st, r, _ = svc().check(c)
    assert st == 200 and r["decision"] == "accept", r


def reader_report(cid, body, reader, reason, note=None):
    doc = {"reader_id": reader, "reason": reason, "body": body}
    if note is not None:
        doc["note"] = note
    st, b, _ = svc().request("POST", "/v1/sites/news/comments/%s/reports" % urllib.parse.quote(cid, safe=""), doc,
                             key=CMS_KEY)
    assert st == 200 and b["counted"] is True, (cid, reader, st, b)
    time.sleep(0.003)  # each report its own millisecond: the last reports in a known order
    return b


def shown_comment(cid):
    st, c, _ = svc().request("GET", "/v1/sites/news/comments/" + urllib.parse.quote(cid, safe=""), key=MOD_KEY)
    assert st == 200, (cid, st, c)
    return c


def queue_counts():
    st, q, _ = svc().request("GET", "/v1/sites/news/queue?state=reported&limit=1", key=MOD_KEY)
    assert st == 200, q
    return q["counts"]


def iso_ms(at):
    """A report's time (ms) as the page's <time datetime> (Date.toISOString)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at // 1000)) + ".%03dZ" % (at % 1000)


def test_the_reported_tab_shows_readers_reports_and_decides_them_by_key():
    # the site's policy keeps the default threshold: the third distinct reader queues a comment
    bodies = {"rp-ui-1": "I was at the town meeting too, and the library item was settled in ten minutes.",
              "rp-ui-2": "The new bus timetable suits the early shift much better than the old one did."}
    published("rp-ui-1", bodies["rp-ui-1"], "198.51.90")
    published("rp-ui-2", bodies["rp-ui-2"], "198.51.91")
    note = "selling <b>pills</b> in the comments <img src=x onerror=\"window.__xss = 1\">"
    for reader, reason, n in (("reader-1", "spam", note), ("reader-2", "abusive", "calls the mayor names"),
                              ("reader-3", "spam", None)):
        b = reader_report("rp-ui-1", bodies["rp-ui-1"], reader, reason, n)
    assert b["queued"] is True and b["state"] == "reported", b
    for reader, reason, n in (("reader-1", "offensive", None), ("reader-4", "other", "off topic"),
                              ("reader-5", "offensive", None)):
        b = reader_report("rp-ui-2", bodies["rp-ui-2"], reader, reason, n)
    assert b["queued"] is True, b
    api = {cid: shown_comment(cid) for cid in bodies}
    assert api["rp-ui-1"]["state"] == "reported" and api["rp-ui-1"]["published"] is True, api["rp-ui-1"]
    counts = queue_counts()
    assert counts["reported"] >= 2, counts
    shot = os.path.join(ctx["tmp"], "reported.png")
    b = StepBrowser(ctx["tmp"], "moderator-reports.mjs", "http://127.0.0.1:%d" % svc().port, MOD_KEY, REPORTED_THREAD,
                "rp-ui-1", "rp-ui-2", shot)
    try:
        out = b.step("cards")
        # its own tab, next to the others, with the count; marked while it has comments
        assert [t.split(" ")[0] for t in out["tabs"]] == ["held", "approved", "rejected", "spam", "reported"], out
        assert "reported %d" % counts["reported"] in out["tabs"], out
        assert out["tab"] == "reported %d" % counts["reported"] and out["attention"] is True, out
        assert out["shown"] == ["rp-ui-1", "rp-ui-2"], out  # oldest reported first
        cards = {c["id"]: c for c in out["cards"]}
        for cid, total in (("rp-ui-1", "3 reports: spam 2 · abusive 1"),
                           ("rp-ui-2", "3 reports: offensive 2 · other 1")):
            c = cards[cid]
            assert c["reported_class"] and c["published"] == "published, reported by readers", c
            assert c["sum"] == total and c["body"] == bodies[cid], c
            # the last reports, newest first, at the times the API gives
            want = [[iso_ms(x["at"]), x["reason"], x["note"] or None] for x in reversed(api[cid]["reports"]["last"])]
            assert [[d, r, n] for d, _, r, n in c["last"]] == want and all(t for _, t, _, _ in c["last"]), (c, want)
        assert [x[3] for x in cards["rp-ui-1"]["last"]] == [None, "calls the mayor names", note], cards["rp-ui-1"]
        # a reader's note is text: no element is made of it
        assert cards["rp-ui-1"]["note_elements"] == [], cards["rp-ui-1"]
        assert cards["rp-ui-2"]["last"][1][2:] == ["other", "off topic"], cards["rp-ui-2"]
        assert os.path.getsize(shot) > 20000, shot
        b.go()
        # r: rejected from the reported state, by the moderator
        out = b.step("rejected")
        assert out["tab"] == "reported %d" % (counts["reported"] - 1) and out["shown"] == ["rp-ui-2"], out
        assert "reject" in out["toast"], out
        c = shown_comment("rp-ui-1")
        assert c["state"] == "rejected", c
        h = c["history"][-1]
        assert (h["action"], h["from"], h["to"], h["by"]) == ("reject", "reported", "rejected", "t-mod"), c["history"]
        assert [x["action"] for x in c["history"]] == ["report", "reject"], c["history"]
        b.go()
        # u: the API's undo is a hold, so the comment waits in held now
        out = b.step("undone")
        assert out["shown"] == ["rp-ui-2"] and "held" in out["toast"], out
        c = shown_comment("rp-ui-1")
        assert c["state"] == "held" and [x["action"] for x in c["history"]] == ["report", "reject", "hold"], c
        assert out["held_tab"] == "held %d" % queue_counts()["held"], out
        b.go()
        # a: approved, so it stays published; the tab's list is empty
        out = b.step("approved")
        assert out["shown"] == [] and out["empty"] == "No reported comments matching these filters.", out
        c = shown_comment("rp-ui-2")
        assert c["state"] == "approved" and c["history"][-1]["from"] == "reported", c
    finally:
        rc = b.close()
    assert rc == 0, rc
    keep_screenshot(shot, "moderator-reported.png", "MODGATE_UI_REPORTED_SCREENSHOT")  # for people: build/artifacts


def test_the_page_is_served_with_its_security_headers():
    st, _, h = svc().request("GET", "/ui/", raw=True)
    assert st == 200 and h["content-type"].startswith("text/html"), h
    csp = h["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, csp
    assert h["x-content-type-options"] == "nosniff" and h["x-frame-options"] == "DENY", h
    st, _, h = svc().request("GET", "/ui/app.js", raw=True)
    assert st == 200 and h["content-type"].startswith("text/javascript"), h
    st, _, h = svc().request("GET", "/ui", raw=True)
    assert st == 308 and h["location"] == "/ui/", (st, h)


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
