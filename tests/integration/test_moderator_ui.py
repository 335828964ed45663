#!/usr/bin/env python3
"""Browser test of the moderator page (/ui/): headless Chromium (Debian's
chromium, driven by playwright-core from tests/interop) signs in with a bad
key and sees the error, signs in with the moderator key, sees the comments
/v1/check held, approves one and marks one spam by keyboard; the API then
shows the new states, the audit log has both actions and the filter
learned from both. A comment holding <script> and <img onerror> is shown
as text and runs nothing. Real redis-server, real binary, real HTTP.
Prints "N passed, N failed"."""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MOD_KEY, ROOT, Redis, Service, base_config, comment, interop_missing, interop_node,  # noqa: E402
                     keep_screenshot, make_tmp, run_tests)

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
