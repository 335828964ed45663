#!/usr/bin/env python3
"""Readers' reports (api.md 2.16): POST /v1/sites/{site}/comments/{id}/reports
by the CMS on a reader's behalf, for a comment that was published (modgate
accepted it, or a moderator approved it). Distinct readers are counted
once; the K-th (reports.threshold) puts the comment in the queue's
"reported" state with the report reasons, and the events feed tells the
CMS (with "hide" when the site says so). A moderator's decision on it is a
label like a held comment's: the filter learns it, and the author's
reputation counts it. Bad input: an unknown comment, a held one, one
modgate rejected, a body that is not the one checked, bad fields, the
wrong role. Real redis-server, real binary, real HTTP. Prints "N passed,
N failed"."""
import copy
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ADMIN_KEY, CMS_KEY, MOD_KEY, OTHER_CMS_KEY, Service, base_config, comment,  # noqa: E402
                     err_code, no_starter, run_tests, start)

ctx = {}
_n = [0]


def svc():
    return ctx["svc"]


def redis():
    return ctx["redis"]


def published(author="reader-fav", body=None):
    """(id, body) of a fresh comment modgate accepted at once."""
    _n[0] += 1
    cid = "pub-%d" % _n[0]
    body = body or "I was at the meeting too, and item %d was decided in ten minutes." % _n[0]
    c = comment(body, cid=cid, ip="198.18.5.%d" % (_n[0] % 250 + 1))
    c["author"] = {"id": author}
    st, r, _ = svc().check(c)
    assert st == 200 and r["decision"] == "accept", r
    return cid, body


def report(cid, reader, reason="spam", key=CMS_KEY, **extra):
    doc = {"reader_id": reader, "reason": reason}
    doc.update(extra)
    st, b, _ = svc().request("POST", "/v1/sites/news/comments/%s/reports" % urllib.parse.quote(cid, safe=""), doc,
                             key=key)
    return st, b


def policy(threshold=3, hide=False):
    st, b = svc().request("PUT", "/v1/sites/news/policy",
                          {"policy": {"reports": {"threshold": threshold, "hide": hide}}}, key=ADMIN_KEY)[:2]
    assert st == 200, (st, b)


def events_of(cid):
    """The events feed's entries of comment cid, read the way a CMS does."""
    out, cursor = [], None
    for _ in range(100):
        st, b, _ = svc().request("GET", "/v1/sites/news/events?limit=1000" + ("&after=" + cursor if cursor else ""),
                                 key=CMS_KEY)
        assert st == 200, b
        out += [e for e in b["events"] if e["id"] == cid]
        if not b["events"]:
            return out
        cursor = b["next_cursor"]
    raise AssertionError("the feed never ended")


def show(cid):
    st, b, _ = svc().request("GET", "/v1/sites/news/comments/" + urllib.parse.quote(cid, safe=""), key=MOD_KEY)
    return st, b


def act(cid, action, frm):
    st, b, _ = svc().request("POST", "/v1/sites/news/comments/%s/action" % cid, {"action": action, "from": frm},
                             key=MOD_KEY)
    assert st == 200 and b["status"] == "ok", (st, b)
    return b


def test_distinct_readers_counted_once_and_the_kth_queues_it():
    policy(3)
    cid, body = published()
    st, b = report(cid, "r1", body=body, note="selling something")
    assert st == 200 and (b["reports"], b["counted"], b["state"], b["queued"]) == (1, True, "published", False), b
    st, b = report(cid, "r1", body=body, reason="abusive")  # the same reader again
    assert st == 200 and (b["reports"], b["counted"]) == (1, False), b
    assert report(cid, "r2", "offensive", body=body)[1]["reports"] == 2
    assert show(cid)[0] == 404  # not in the queue yet
    st, b = report(cid, "r3", body=body)
    assert st == 200 and (b["reports"], b["state"], b["queued"]) == (3, "reported", True), b
    st, c = show(cid)
    assert st == 200 and c["state"] == "reported" and c["comment"]["body"] == body and c["published"] is True, c
    assert c["reports"]["count"] == 3 and c["reports"]["reasons"] == {"spam": 2, "offensive": 1}, c["reports"]
    assert [x["note"] for x in c["reports"]["last"]][0] == "selling something", c["reports"]
    assert c["history"][-1]["action"] == "report" and c["history"][-1]["to"] == "reported", c["history"]
    ev = events_of(cid)
    assert [(e["state"], e["previous"], e["action"], e["hide"]) for e in ev] == \
        [("reported", "published", "report", "0")], ev
    st, q, _ = svc().request("GET", "/v1/sites/news/queue?state=reported", key=MOD_KEY)
    assert st == 200 and cid in [i["id"] for i in q["items"]] and q["counts"]["reported"] >= 1, q
    # a fourth report still counts, without queueing it again
    st, b = report(cid, "r4", body=body)
    assert st == 200 and (b["reports"], b["queued"], b["state"]) == (4, False, "reported"), b
    assert len(events_of(cid)) == 1
    # the readers' ids are not stored, only their hashes
    assert all("r1" != m for m in redis().cmd("SMEMBERS", "mg:{news}:rp:" + cid))


def test_a_moderators_decision_labels_the_filter_and_the_author():
    policy(1, hide=True)
    author = "troll-%d" % _n[0]
    cid, body = published(author=author)
    before = int(redis().cmd("HGET", "mg:{news}:bayes:meta", "nspam") or 0)
    st, b = report(cid, "r1", "abusive", body=body)
    assert st == 200 and b["queued"] is True, b
    assert events_of(cid)[-1]["hide"] == "1"
    out = act(cid, "spam", "reported")
    assert out["from"] == "reported" and out["state"] == "spam", out
    assert int(redis().cmd("HGET", "mg:{news}:bayes:meta", "nspam")) == before + 1
    st, a, _ = svc().request("GET", "/v1/sites/news/authors/" + author, key=MOD_KEY)
    assert st == 200 and a["spam"] == 1, a
    assert events_of(cid)[-1]["state"] == "spam"
    # reported again after that: no longer published
    st, b = report(cid, "r9", body=body)
    assert st == 409 and err_code(b) == "comment_not_published", b


def test_an_approved_comment_goes_back_to_reported_without_its_body():
    policy(2)
    _n[0] += 1
    cid = "held-%d" % _n[0]
    c = comment("Is crypto the future of the town's budget, item %d?" % _n[0], cid=cid)
    st, r, _ = svc().check(c)
    assert r["decision"] == "hold", r
    st, b = report(cid, "r1")
    assert st == 409 and err_code(b) == "comment_held", b
    act(cid, "approve", "held")
    assert report(cid, "r1")[1]["state"] == "approved"
    st, b = report(cid, "r2", "other", note="off topic")
    assert st == 200 and b["queued"] is True and b["state"] == "reported", b
    st, v = show(cid)
    assert v["state"] == "reported" and v["reports"]["reasons"] == {"spam": 1, "other": 1}, v
    act(cid, "approve", "reported")  # the moderator keeps it published
    assert show(cid)[1]["state"] == "approved"


def test_after_a_moderator_decides_it_takes_new_readers_and_an_edit_starts_afresh():
    """Approved from reported, a comment needs `threshold` new readers to
    be queued again; an accepted edit takes it out of the queue, tells the
    CMS ("published", action "edit") and forgets the old text's reports."""
    policy(2)
    cid, body = published()
    for rd in ("r1", "r2"):
        report(cid, rd, body=body)
    assert show(cid)[1]["state"] == "reported"
    act(cid, "approve", "reported")
    st, b = report(cid, "r3")
    assert st == 200 and (b["queued"], b["state"], b["reports"]) == (False, "approved", 3), b
    assert report(cid, "r1")[1]["counted"] is False  # an earlier reader still counts once
    st, b = report(cid, "r4", "offensive")
    assert st == 200 and (b["queued"], b["state"]) == (True, "reported"), b
    # the commenter edits it and modgate accepts the new text
    new_body = "Edited: I checked the minutes again and item %d was indeed decided quickly." % _n[0]
    st, r, _ = svc().check(comment(new_body, cid=cid))
    assert st == 200 and r["decision"] == "accept", r
    assert show(cid)[0] == 404
    ev = events_of(cid)[-1]
    assert (ev["state"], ev["previous"], ev["action"], ev["by"]) == ("published", "reported", "edit", "modgate"), ev
    st, b = report(cid, "r1", body=new_body)  # the old text's reports are gone
    assert st == 200 and (b["reports"], b["counted"], b["queued"]) == (1, True, False), b
    st, b = report(cid, "r9", body=body)  # the old text is not what is published now
    assert st == 409 and err_code(b) == "body_mismatch", b


def test_a_decision_on_a_reported_comment_replaces_what_its_check_counted():
    """With trust.count_automatic, a comment accepted at once counted as
    its author's approval; a moderator's spam decision after reports
    replaces that count, it does not add to it."""
    st, b = svc().request("PUT", "/v1/sites/news/policy", {"policy": {"trust": {"count_automatic": True,
                          "automatic_max_score": 0.5}, "reports": {"threshold": 1, "hide": False}}},
                          key=ADMIN_KEY)[:2]
    assert st == 200, b
    try:
        author = "auto-%d" % _n[0]
        cid, body = published(author=author)
        a = svc().request("GET", "/v1/sites/news/authors/" + author, key=MOD_KEY)[1]
        assert (a["approved"], a["spam"]) == (1, 0), a
        assert report(cid, "r1", body=body)[1]["queued"] is True
        act(cid, "spam", "reported")
        a = svc().request("GET", "/v1/sites/news/authors/" + author, key=MOD_KEY)[1]
        assert (a["approved"], a["spam"]) == (0, 1), a
        act(cid, "hold", "spam")  # the undo: neither count now (it waits for a moderator)
        a = svc().request("GET", "/v1/sites/news/authors/" + author, key=MOD_KEY)[1]
        assert (a["approved"], a["spam"]) == (0, 0), a
    finally:
        svc().request("PUT", "/v1/sites/news/policy", {"policy": {"trust": {"count_automatic": False}}},
                      key=ADMIN_KEY)


def test_the_cms_may_name_the_thread_and_author_for_the_card():
    """A comment published at once is stored with the thread the CMS
    names, when it is the one the comment was checked on, and the
    author's name to show."""
    policy(1)
    cid, body = published()  # checked on thread a42 (harness.comment)
    st, b = report(cid, "r1", body=body, thread_id="another-story", author_name="Reader Fav")
    assert st == 409 and err_code(b) == "thread_mismatch", b
    st, b = report(cid, "r1", body=body, thread_id="a42", author_name="Reader Fav")
    assert st == 200 and b["queued"] is True, b
    c = show(cid)[1]
    assert c["comment"]["thread_id"] == "a42" and c["author"]["name"] == "Reader Fav", c
    st, q, _ = svc().request("GET", "/v1/sites/news/queue?state=reported&thread=a42", key=MOD_KEY)
    assert cid in [i["id"] for i in q["items"]], q
    for doc in ({"thread_id": 5}, {"author_name": "x" * 201}, {"thread_id": ""}):
        d = {"reader_id": "r2", "reason": "spam"}
        d.update(doc)
        st, b, _ = svc().request("POST", "/v1/sites/news/comments/%s/reports" % cid, d, key=CMS_KEY)
        assert st == 400 and err_code(b) in ("wrong_type", "invalid_field"), (doc, b)


def test_bad_reports_get_their_own_errors():
    policy(3)
    cid, body = published()
    cases = [
        ("never-checked-%d" % _n[0], {"reader_id": "r", "reason": "spam", "body": "x"}, 404, "unknown_comment"),
        (cid, {"reader_id": "r", "reason": "spam"}, 400, "missing_field"),
        (cid, {"reader_id": "r", "reason": "spam", "body": body + " (edited by a forger)"}, 409, "body_mismatch"),
        (cid, {"reader_id": "r", "reason": "boring", "body": body}, 400, "invalid_field"),
        (cid, {"reason": "spam", "body": body}, 400, "missing_field"),
        (cid, {"reader_id": 5, "reason": "spam", "body": body}, 400, "wrong_type"),
        (cid, {"reader_id": "", "reason": "spam", "body": body}, 400, "invalid_field"),
        (cid, {"reader_id": "r", "reason": "spam", "body": body, "why": 1}, 400, "unknown_field"),
        (cid, {"reader_id": "r", "reason": "spam", "body": body, "note": "n" * 501}, 400, "invalid_field"),
    ]
    for c, doc, code, err in cases:
        st, b, _ = svc().request("POST", "/v1/sites/news/comments/%s/reports" % c, doc, key=CMS_KEY)
        assert st == code and err_code(b) == err, (doc, st, b)
    # a comment modgate rejected was never published
    _n[0] += 1
    rid = "rej-%d" % _n[0]
    st, r, _ = svc().check(comment("Win at the casino tonight, number %d" % _n[0], cid=rid))
    assert r["decision"] == "reject", r
    st, b = report(rid, "r1", body="Win at the casino tonight, number %d" % _n[0])
    assert st == 409 and err_code(b) == "comment_not_published", b
    # roles and sites
    assert report(cid, "r1", body=body, key=MOD_KEY)[0] == 403
    assert report(cid, "r1", body=body, key=OTHER_CMS_KEY)[0] == 403
    st, b = svc().request("PUT", "/v1/sites/news/policy", {"policy": {"reports": {"threshold": 0}}},
                          key=ADMIN_KEY)[:2]
    assert st == 400 and "threshold" in b["error"]["message"], b
    # nothing of the bad ones counted
    assert report(cid, "r1", body=body)[1]["reports"] == 1


def main():
    only = start(ctx)
    cfg = no_starter(base_config(ctx["redis"].port))
    s = Service(ctx["bin"], ctx["tmp"], copy.deepcopy(cfg))
    s.start()
    ctx["svc"] = s
    return run_tests(globals(), s, ctx["redis"], only)


if __name__ == "__main__":
    sys.exit(main())
