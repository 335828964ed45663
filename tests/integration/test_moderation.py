#!/usr/bin/env python3
"""Integration tests of moderation (api.md section 2.8): the queue listing
with its keyset pages and filters, a comment with its history, single and
bulk actions with what they teach the filter, two moderators racing, the
audit log, the CMS's changes feed, keys of other sites and top-level admin
keys, retention of decided comments, and Redis going away. Real
redis-server, real binary, real HTTP. Prints "N passed, N failed"."""
import argparse
import base64
import os
import re
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ADMIN_KEY, API_KEY, CMS_KEY, MOD_KEY, OTHER_CMS_KEY, ROOT, Redis, Service,  # noqa: E402
                     base_config, comment, err_code, make_tmp, run_tests, sha256, wait_until)

OTHER_MOD_KEY = "it-other-moderator-key-0123456789abcdef"
MOD2_KEY = "it-second-moderator-key-0123456789abcdef"
GLOBAL_ADMIN_KEY = "it-global-admin-key-0123456789abcdef"
QUIET_CMS_KEY = "it-quiet-cms-key-0123456789abcdef"
QUIET_MOD_KEY = "it-quiet-moderator-key-0123456789abcdef"
API_MOD_KEY = "it-api-moderator-key-0123456789abcdef"
FEED_CMS_KEY = "it-feed-cms-key-0123456789abcdef"
FEED_MOD_KEY = "it-feed-moderator-key-0123456789abcdef"
TWIN_CMS_KEY = "it-twin-cms-key-0123456789abcdef"
TWIN_MOD_KEY = "it-twin-moderator-key-0123456789abcdef"
DAY_MS = 86400000
STREAM_ID = re.compile(r"^\d+-\d+$")

ctx = {}


def svc():
    return ctx["svc"]


def redis():
    return ctx["redis"]


def config(redis_port):
    # min_learns out of reach: the model never has an opinion, so what the
    # tests teach it never changes how later comments are scored.
    c = base_config(redis_port, bayes={"min_learns": 1000000})
    c["sites"]["news"]["keys"].append({"id": "t-mod2", "role": "moderator", "sha256": sha256(MOD2_KEY)})
    c["sites"]["other"]["keys"].append({"id": "o-mod", "role": "moderator", "sha256": sha256(OTHER_MOD_KEY)})
    c["sites"]["quiet"] = {
        "keys": [{"id": "q-cms", "role": "cms", "sha256": sha256(QUIET_CMS_KEY)},
                 {"id": "q-mod", "role": "moderator", "sha256": sha256(QUIET_MOD_KEY)}],
        "bayes": {"min_learns": 1000000},
        "moderation": {"learn_on_approve": False, "learn_on_reject": True},
    }
    c["sites"]["apilimit"]["keys"].append({"id": "api-mod", "role": "moderator", "sha256": sha256(API_MOD_KEY)})
    # no Bayes opinion here either: the shipped starter would add one from
    # the first comment (held() relies on links alone giving a hold)
    c["sites"]["apilimit"]["bayes"] = {"min_learns": 1000000}
    c["sites"]["feed"] = {
        "keys": [{"id": "f-cms", "role": "cms", "sha256": sha256(FEED_CMS_KEY)},
                 {"id": "f-mod", "role": "moderator", "sha256": sha256(FEED_MOD_KEY)}],
        "bayes": {"min_learns": 1000000},
    }
    # the same text twice is no duplicate here
    c["sites"]["twin"] = {
        "keys": [{"id": "tw-cms", "role": "cms", "sha256": sha256(TWIN_CMS_KEY)},
                 {"id": "tw-mod", "role": "moderator", "sha256": sha256(TWIN_MOD_KEY)}],
        "bayes": {"min_learns": 1000000},
        "duplicates": {"enabled": False},
    }
    c["admin_keys"] = [{"id": "g-admin", "role": "admin", "sha256": sha256(GLOBAL_ADMIN_KEY)}]
    return c


# ---------------------------------------------------------------- helpers

_n = [0]


def held(cid, thread="t-default", ip="192.0.2.1", author=None, kind="dense", site="news", key=CMS_KEY):
    """Post a comment that the site holds (three or four links, no spam
    words) and return its id. kind: "dense" (score 0.8585, reasons links,
    too_many_links, link_density), "four" (four links, 0.9091) or "sparse"
    (three links in a longer text, 0.6906, no link_density)."""
    _n[0] += 1
    n = _n[0]
    if kind == "dense":
        body = "Offers %d at http://p%d.example.com and http://q%d.example.com and http://r%d.example.com here" % (
            n, n, n, n)
    elif kind == "four":
        body = ("Offers %d at http://p%d.example.com and http://q%d.example.com and http://r%d.example.com "
                "and http://s%d.example.com here" % (n, n, n, n, n))
    else:
        body = ("I looked at the three pages http://p%d.example.com and http://q%d.example.com and "
                "http://r%d.example.com for the council meeting notes %d and the budget tables they mention"
                % (n, n, n, n))
    c = comment(body, ip=ip, site=site, cid=cid)
    c["comment"]["thread_id"] = thread
    if author is not None:
        c["author"] = author
    st, r, _ = svc().check(c, key=key)
    assert st == 200 and r["decision"] == "hold" and r["stored"] is True, (st, r)
    assert r["comment_id"] == cid, r
    return cid


def get(path, key=MOD_KEY, **params):
    q = urllib.parse.urlencode(params)
    st, body, _ = svc().request("GET", path + ("?" + q if q else ""), key=key)
    return st, body


def queue(site="news", key=MOD_KEY, **params):
    return get("/v1/sites/%s/queue" % site, key=key, **params)


def queue_ids(**params):
    st, body = queue(**params)
    assert st == 200, (st, body)
    return [i["id"] for i in body["items"]]


def all_ids(**params):
    """Every id of a listing, following next_cursor to the end."""
    out, cursor = [], None
    for _ in range(1000):
        p = dict(params)
        if cursor:
            p["cursor"] = cursor
        st, body = queue(**p)
        assert st == 200, (st, body)
        out += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            return out
    raise AssertionError("the listing never ended")


def show(cid, site="news", key=MOD_KEY):
    st, body, _ = svc().request("GET", "/v1/sites/%s/comments/%s" % (site, urllib.parse.quote(cid, safe="")),
                                key=key)
    return st, body


def act(cid, action, site="news", key=MOD_KEY, **fields):
    doc = {"action": action}
    doc.update(fields)
    st, body, _ = svc().request("POST", "/v1/sites/%s/comments/%s/action" % (site, urllib.parse.quote(cid, safe="")),
                                doc, key=key)
    return st, body


def acted(cid, action, **fields):
    st, body = act(cid, action, **fields)
    assert st == 200 and body["status"] == "ok", (cid, action, st, body)
    return body


def bulk(doc, site="news", key=MOD_KEY):
    st, body, _ = svc().request("POST", "/v1/sites/%s/actions" % site, doc, key=key)
    return st, body


def meta(model="news"):
    """(nspam, nham) of a model, from Redis."""
    v = redis().cmd("HMGET", "mg:{%s}:bayes:meta" % model, "nspam", "nham")
    return int(v[0] or 0), int(v[1] or 0)


def model_counts(site="news", key=MOD_KEY):
    st, body = get("/v1/sites/%s/model" % site, key=key)
    assert st == 200, (st, body)
    return body["nspam"], body["nham"]


def model_agrees(want, site="news", key=MOD_KEY):
    """The service's copy of the model catches up with Redis."""
    return wait_until(lambda: model_counts(site, key) == want, 10)


def state_of(cid):
    st, body = show(cid)
    assert st == 200, (cid, st, body)
    return body["state"]


def cursor_of(ms, cid):
    return base64.urlsafe_b64encode(("%s %s" % (ms, cid)).encode()).decode().rstrip("=")


# ---------------------------------------------------------------- the queue listing

def test_listing_items_order_limits_and_counts():
    st, before = queue(limit=1)
    assert st == 200, before
    author = {"id": "u-list-1", "email": "list1@example.org", "name": "Lister"}
    ids = [held("ls-%d" % i, thread="t-list", ip="10.1.1.%d" % (i + 1), author=author) for i in range(4)]
    st, body = queue(thread="t-list")
    assert st == 200, body
    assert body["site"] == "news" and body["state"] == "held" and body["order"] == "oldest", body
    assert [i["id"] for i in body["items"]] == ids, body
    it = body["items"][0]
    assert it["id"] == "ls-0" and it["state"] == "held" and it["version"] == 1, it
    assert it["score"] == 0.8585, it
    assert [r["code"] for r in it["reasons"]] == ["links", "too_many_links", "link_density"], it
    assert it["comment"]["id"] == "ls-0" and it["comment"]["thread_id"] == "t-list", it
    assert it["comment"]["body"].startswith("Offers ") and "http://p" in it["comment"]["body"], it
    assert it["author"] == author, it
    assert it["client"]["ip"] == "10.1.1.1", it
    assert it["decision"] == "hold" and it["learned"] is None and it["decided_by"] is None, it
    assert it["held_at"] and it["state_since"], it
    assert "ix" not in it, it
    assert body["next_cursor"] is None, body
    # one filter, no score range: the exact number matching
    assert body["matching"] == 4 and body["looked_at"] == 4, body
    # newest first
    assert queue_ids(thread="t-list", order="newest") == ids[::-1]
    # limits: 0 and negative clamp to 1, a page of 2 goes on with a cursor
    for lim in ("0", "-5", "1"):
        st, body = queue(thread="t-list", limit=lim)
        assert st == 200 and [i["id"] for i in body["items"]] == ["ls-0"], (lim, body)
        assert body["next_cursor"], body
    st, body = queue(thread="t-list", limit=2)
    assert [i["id"] for i in body["items"]] == ids[:2] and body["next_cursor"], body
    # counts: every state's total and the held comments per reason
    st, after = queue(limit=1)
    assert after["counts"]["held"] == before["counts"]["held"] + 4, (before["counts"], after["counts"])
    for s in ("approved", "rejected", "spam"):
        assert after["counts"][s] == before["counts"][s], (before["counts"], after["counts"])
    for code in ("links", "too_many_links", "link_density"):
        assert after["reason_counts"][code] == before["reason_counts"].get(code, 0) + 4, (before, after)
    # no filter: matching is the state's total
    assert after["matching"] == after["counts"]["held"], after
    # counts=0 leaves them out
    st, body = queue(thread="t-list", counts="0")
    assert st == 200 and "counts" not in body and "reason_counts" not in body, body
    assert [i["id"] for i in body["items"]] == ids
    # bad parameters
    for params in ({"limit": "ten"}, {"limit": "5x"}, {"state": "pending"}, {"order": "sideways"},
                   {"score_min": "2"}, {"score_max": "abc"}, {"ip": "10.1.1.300"}, {"reason": "Too-Many"}):
        st, body = queue(**params)
        assert st == 400 and err_code(body) == "bad_parameter", (params, st, body)


def test_limit_is_clamped_to_100():
    ids = [held("lc-%03d" % i, thread="t-clamp", ip="10.2.%d.1" % (i % 200)) for i in range(103)]
    st, body = queue(thread="t-clamp", limit=1000)
    assert st == 200, body
    assert [i["id"] for i in body["items"]] == ids[:100], len(body["items"])
    assert body["next_cursor"], body
    st, body = queue(thread="t-clamp", limit=1000, cursor=body["next_cursor"])
    assert [i["id"] for i in body["items"]] == ids[100:], body["items"]
    assert body["next_cursor"] is None, body
    # the default page is 50
    st, body = queue(thread="t-clamp")
    assert len(body["items"]) == 50 and body["matching"] == 103, (len(body["items"]), body["matching"])


def test_listing_other_states_and_matching():
    a = held("ms-a", thread="t-match", ip="10.3.1.1")
    b = held("ms-b", thread="t-match", ip="10.3.1.2")
    c = held("ms-c", thread="t-match", ip="10.3.1.3")
    acted(a, "approve")
    acted(c, "approve")
    acted(b, "reject")
    assert queue_ids(thread="t-match") == []
    assert queue_ids(thread="t-match", state="approved") == [a, c]
    assert queue_ids(thread="t-match", state="approved", order="newest") == [c, a]
    assert queue_ids(thread="t-match", state="rejected") == [b]
    st, body = queue(thread="t-match", state="approved")
    assert body["state"] == "approved" and body["matching"] == 2, body
    assert all(i["state"] == "approved" and i["decided_by"] == "t-mod" for i in body["items"]), body
    # two filters: matching is not known without looking
    st, body = queue(thread="t-match", state="approved", reason="too_many_links")
    assert st == 200 and body["matching"] is None and [i["id"] for i in body["items"]] == [a, c], body
    # reason_counts are the listed state's
    st, body = queue(state="rejected", limit=1)
    assert body["reason_counts"]["too_many_links"] >= 1, body


def test_keyset_pages_survive_adds_and_decisions():
    first = [held("pg-%02d" % i, thread="t-page", ip="10.4.1.%d" % (i + 1)) for i in range(10)]
    seen, pages, cursor = [], 0, None
    added, decided, unseen = [], set(), set()  # unseen: decided before any page listed it
    k = 0
    while True:
        p = {"thread": "t-page", "limit": 2}
        if cursor:
            p["cursor"] = cursor
        st, body = queue(**p)
        assert st == 200, body
        got_ids = [i["id"] for i in body["items"]]
        assert all(i["state"] == "held" for i in body["items"]), body
        assert len(got_ids) <= 2
        seen += got_ids
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
        assert pages < 50, seen
        # between pages: a new held comment, and two others decided: one
        # not listed yet, one listed already
        if k < 4:
            added.append(held("pg-new-%d" % k, thread="t-page", ip="10.4.2.%d" % (k + 1)))
            later = [x for x in first + added if x not in seen and x not in decided]
            if later:
                x = later[-1] if k % 2 else later[0]
                acted(x, "approve")
                decided.add(x)
                unseen.add(x)
            earlier = [x for x in seen if x not in decided]
            if earlier:
                acted(earlier[0], "approve")
                decided.add(earlier[0])
            k += 1
    assert len(seen) == len(set(seen)), "a page repeated a comment: %s" % seen
    stayed = [x for x in first + added if x not in decided]
    for x in stayed:
        assert seen.count(x) == 1, (x, seen)
    # a comment decided before its page came never shows up
    assert unseen and not unseen & set(seen), (unseen, seen)
    # oldest first: the order they were held in
    order = first + added
    assert [x for x in seen if x in stayed] == [x for x in order if x in stayed], seen
    # newest first, with the same churn: still no repeats, every stayer once
    first2 = [held("pn-%02d" % i, thread="t-page2", ip="10.4.3.%d" % (i + 1)) for i in range(8)]
    seen, cursor, decided2, added2, k = [], None, set(), [], 0
    while True:
        p = {"thread": "t-page2", "limit": 2, "order": "newest"}
        if cursor:
            p["cursor"] = cursor
        st, body = queue(**p)
        assert st == 200, body
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
        assert len(seen) < 100, seen
        if k < 3:
            added2.append(held("pn-new-%d" % k, thread="t-page2", ip="10.4.4.%d" % (k + 1)))
            later = [x for x in first2 if x not in seen and x not in decided2]
            if later:
                acted(later[0], "reject")
                decided2.add(later[0])
            k += 1
    assert len(seen) == len(set(seen)), seen
    for x in first2:
        if x not in decided2:
            assert seen.count(x) == 1, (x, seen)
    assert [x for x in seen if x in first2] == [x for x in first2[::-1] if x in seen], seen
    # the added ones came after the walk started: newest first never shows them
    assert not [x for x in seen if x in added2], seen


def test_score_range_pages_look_at_most_1000():
    """A score range is tested per comment, at most 1,000 a page: a page
    can come back empty with a cursor to go on."""
    low = [held("lb-%04d" % i, thread="t-budget", ip="10.25.%d.%d" % (i // 200, i % 200 + 1))
           for i in range(1003)]
    high = [held("lb-h%d" % i, thread="t-budget", ip="10.25.9.%d" % (i + 1), kind="four") for i in range(3)]
    st, body = queue(thread="t-budget", score_min="0.9", limit=10)
    assert st == 200, body
    assert body["items"] == [] and body["looked_at"] == 1000 and body["next_cursor"], \
        (len(body["items"]), body["looked_at"], body["next_cursor"])
    assert body["matching"] is None, body
    st, body = queue(thread="t-budget", score_min="0.9", limit=10, cursor=body["next_cursor"])
    assert st == 200 and [i["id"] for i in body["items"]] == high, body["items"]
    assert body["looked_at"] == 6 and body["next_cursor"] is None, body
    # without a score range, one filter: a page looks at no more than it returns
    st, body = queue(thread="t-budget", limit=5)
    assert [i["id"] for i in body["items"]] == low[:5] and body["looked_at"] == 5, body
    assert body["matching"] == 1006, body


def test_bad_cursor_is_400():
    held("bc-1", thread="t-badcur", ip="10.5.1.1")
    bad = ["not a cursor", "!!!", cursor_of("abc", "bc-1"), cursor_of("", "bc-1"),
           base64.urlsafe_b64encode(b"12345").decode().rstrip("="), "A" * 300]
    for c in bad:
        st, body = queue(thread="t-badcur", cursor=c)
        assert st == 400 and err_code(body) == "bad_parameter", (c, st, body)
    # a well-formed cursor past everything: an empty page, the end
    st, body = queue(thread="t-badcur", cursor=cursor_of("99999999999999", "zz"))
    assert st == 200 and body["items"] == [] and body["next_cursor"] is None, body


def test_filters_and_combinations():
    f1 = held("fl-1", thread="t-filt", ip="10.6.1.10", author={"id": "u-filt-1"})
    f2 = held("fl-2", thread="t-filt", ip="10.6.1.200", author={"email": "Filt2@Example.org"}, kind="four")
    f3 = held("fl-3", thread="t-filt", ip="10.6.2.5", author={"id": "u-filt-1"}, kind="sparse")
    f4 = held("fl-4", thread="t-filt-b", ip="10.6.2.77", author={"email": "filt2@example.org"})
    f5 = held("fl-5", thread="t-filt-b", ip="2001:db8:6:1::5", author={"id": "u-filt-5"}, kind="sparse")
    assert queue_ids(thread="t-filt") == [f1, f2, f3]
    assert queue_ids(thread="t-filt-b") == [f4, f5]
    assert queue_ids(author_id="u-filt-1") == [f1, f3]
    # e-mail addresses compare in lower case
    assert queue_ids(author_email="filt2@example.org") == [f2, f4]
    assert queue_ids(author_email="FILT2@EXAMPLE.ORG") == [f2, f4]
    # an address selects its /24 (or /64), and a prefix works too
    assert queue_ids(ip="10.6.1.99") == [f1, f2]
    assert queue_ids(ip="10.6.1.0/24") == [f1, f2]
    assert queue_ids(ip="10.6.2.1") == [f3, f4]
    assert queue_ids(ip="2001:db8:6:1::ffff") == [f5]
    assert queue_ids(ip="10.6.9.1") == []
    # reason
    assert queue_ids(thread="t-filt", reason="link_density") == [f1, f2]
    assert queue_ids(thread="t-filt", reason="too_many_links") == [f1, f2, f3]
    assert queue_ids(thread="t-filt", reason="blocked_word") == []
    # score range, both ends included
    assert queue_ids(thread="t-filt", score_min="0.85") == [f1, f2]
    assert queue_ids(thread="t-filt", score_max="0.86") == [f1, f3]
    assert queue_ids(thread="t-filt", score_min="0.8585", score_max="0.8585") == [f1]
    assert queue_ids(thread="t-filt", score_min="0.95") == []
    st, body = queue(thread="t-filt", score_min="0.85")
    assert body["matching"] is None, body
    # combinations
    assert queue_ids(author_id="u-filt-1", ip="10.6.1.1") == [f1]
    assert queue_ids(author_id="u-filt-1", reason="link_density") == [f1]
    assert queue_ids(author_email="filt2@example.org", thread="t-filt-b") == [f4]
    assert queue_ids(author_email="filt2@example.org", ip="10.6.1.1", score_min="0.9") == [f2]
    assert queue_ids(thread="t-filt-b", ip="10.6.1.1") == []
    assert queue_ids(thread="t-filt", author_id="u-filt-1", order="newest") == [f3, f1]
    # filtered pages go on with a cursor too
    st, body = queue(author_id="u-filt-1", reason="too_many_links", limit=1)
    assert [i["id"] for i in body["items"]] == [f1] and body["next_cursor"], body
    st, body = queue(author_id="u-filt-1", reason="too_many_links", limit=1, cursor=body["next_cursor"])
    assert [i["id"] for i in body["items"]] == [f3], body
    # a decided comment leaves every index of held
    acted(f2, "spam")
    assert queue_ids(author_email="filt2@example.org") == [f4]
    assert queue_ids(ip="10.6.1.1") == [f1]
    assert queue_ids(thread="t-filt", reason="link_density") == [f1]
    assert queue_ids(author_email="filt2@example.org", state="spam") == [f2]
    assert queue_ids(ip="10.6.1.1", state="spam") == [f2]


# ---------------------------------------------------------------- one comment

def test_comment_with_history_and_unknown_comment():
    cid = held("hs-1", thread="t-hist", ip="10.7.1.1", author={"name": "Histo"})
    st, body = show(cid)
    assert st == 200, body
    assert body["id"] == cid and body["state"] == "held" and body["version"] == 1 and body["history"] == [], body
    assert body["comment"]["id"] == cid and body["score"] == 0.8585, body
    acted(cid, "spam", note="obvious link farm")
    acted(cid, "ham", **{"from": "spam", "note": "", "reason": "false_alarm"})
    st, body = show(cid)
    assert st == 200, body
    assert body["id"] == cid and body["state"] == "approved" and body["version"] == 3, body
    assert body["learned"] == "ham" and body["decided_by"] == "t-mod", body
    assert body["comment"]["thread_id"] == "t-hist" and body["author"] == {"name": "Histo"}, body
    h = body["history"]
    assert len(h) == 2, h
    assert {k: h[0][k] for k in ("action", "from", "to", "by", "note", "reason", "filter")} == {
        "action": "spam", "from": "held", "to": "spam", "by": "t-mod", "note": "obvious link farm", "reason": "",
        "filter": "learned spam"}, h[0]
    assert {k: h[1][k] for k in ("action", "from", "to", "by", "note", "reason", "filter")} == {
        "action": "ham", "from": "spam", "to": "approved", "by": "t-mod", "note": "", "reason": "false_alarm",
        "filter": "moved to ham"}, h[1]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", h[0]["at"]), h[0]
    assert h[0]["at"] <= h[1]["at"], h
    # a second moderator acts: decided_by follows
    acted(cid, "hold", key=MOD2_KEY, **{"from": "approved"})
    st, body = show(cid)
    assert body["decided_by"] == "t-mod2" and body["state"] == "held" and len(body["history"]) == 3, body
    # no such comment
    for path_id in ("no-such-comment", "hs-1x"):
        st, body = show(path_id)
        assert st == 404 and err_code(body) == "unknown_comment", (path_id, st, body)
    st, body = act("no-such-comment", "approve")
    assert st == 404 and err_code(body) == "unknown_comment", body
    # a comment of another site is not this site's
    held("hs-quiet", site="quiet", key=QUIET_CMS_KEY, ip="10.7.2.1")
    st, body = show("hs-quiet")
    assert st == 404 and err_code(body) == "unknown_comment", body
    st, body = show("hs-quiet", site="quiet", key=QUIET_MOD_KEY)
    assert st == 200 and body["id"] == "hs-quiet", body


# ---------------------------------------------------------------- single actions

def test_single_actions_answers_and_learning():
    ids = [held("sa-%d" % i, thread="t-single", ip="10.8.1.%d" % (i + 1)) for i in range(5)]
    s0, h0 = meta()
    # approve teaches ham (learn_on_approve is true by default)
    r = acted(ids[0], "approve", note="fine")
    assert r["id"] == ids[0] and r["action"] == "approve" and r["from"] == "held", r
    assert r["state"] == "approved" and r["version"] == 2 and r["filter"] == "learned ham", r
    assert STREAM_ID.match(r["audit_id"]) and STREAM_ID.match(r["event_id"]), r
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", r["at"]), r
    assert meta() == (s0, h0 + 1), (meta(), s0, h0)
    audit = redis().cmd("XRANGE", "mg:{news}:audit", r["audit_id"], r["audit_id"])
    assert len(audit) == 1 and "approve" in audit[0][1] and ids[0] in audit[0][1], audit
    events = redis().cmd("XRANGE", "mg:{news}:events", r["event_id"], r["event_id"])
    assert len(events) == 1 and "approved" in events[0][1], events
    # spam teaches spam
    r = acted(ids[1], "spam")
    assert r["state"] == "spam" and r["from"] == "held" and r["filter"] == "learned spam" and r["version"] == 2, r
    assert meta() == (s0 + 1, h0 + 1)
    # ham after spam moves it: nspam -1, nham +1
    r = acted(ids[1], "ham", **{"from": "spam"})
    assert r["state"] == "approved" and r["from"] == "spam" and r["filter"] == "moved to ham", r
    assert r["version"] == 3, r
    assert meta() == (s0, h0 + 2)
    # hold after approve unlearns ham
    r = acted(ids[0], "hold", **{"from": "approved"})
    assert r["state"] == "held" and r["from"] == "approved" and r["filter"] == "unlearned ham", r
    assert r["version"] == 3, r
    assert meta() == (s0, h0 + 1)
    assert ids[0] in queue_ids(thread="t-single")
    # reject teaches nothing (learn_on_reject is false by default)
    r = acted(ids[2], "reject", reason="off_topic")
    assert r["state"] == "rejected" and r["filter"] == "nothing", r
    assert meta() == (s0, h0 + 1)
    # reject of an approved comment unlearns its ham
    acted(ids[3], "approve")
    assert meta() == (s0, h0 + 2)
    r = acted(ids[3], "reject", **{"from": "approved"})
    assert r["state"] == "rejected" and r["filter"] == "unlearned ham", r
    assert meta() == (s0, h0 + 1)
    # spam of a rejected comment learns spam; hold of it unlearns that
    r = acted(ids[3], "spam", **{"from": "rejected"})
    assert r["filter"] == "learned spam" and meta() == (s0 + 1, h0 + 1), (r, meta())
    r = acted(ids[3], "hold", **{"from": "spam"})
    assert r["filter"] == "unlearned spam" and r["state"] == "held" and meta() == (s0, h0 + 1), (r, meta())
    # a hold of a held comment changes nothing
    st, body = act(ids[4], "hold")
    assert st == 409 and err_code(body) == "illegal_transition", body
    # the service's model agrees with Redis
    assert model_agrees(meta()), (model_counts(), meta())
    # the comment's record says what it taught
    st, body = show(ids[1])
    assert body["learned"] == "ham", body
    st, body = show(ids[0])
    assert body["learned"] is None, body


def test_learn_on_approve_false_and_learn_on_reject_true():
    q = lambda cid: held(cid, site="quiet", key=QUIET_CMS_KEY, ip="10.9.1.1", thread="t-quiet")  # noqa: E731
    a, b = q("qt-1"), q("qt-2")
    s0, h0 = meta("quiet")
    r = acted(a, "approve", site="quiet", key=QUIET_MOD_KEY)
    assert r["filter"] == "nothing" and meta("quiet") == (s0, h0), (r, meta("quiet"))
    # ham of an approved comment that taught nothing: it only teaches
    r = acted(a, "ham", site="quiet", key=QUIET_MOD_KEY, **{"from": "approved"})
    assert r["state"] == "approved" and r["filter"] == "learned ham", r
    assert meta("quiet") == (s0, h0 + 1)
    # and once taught, ham again is illegal
    st, body = act(a, "ham", site="quiet", key=QUIET_MOD_KEY, **{"from": "approved"})
    assert st == 409 and err_code(body) == "illegal_transition", body
    r = acted(b, "reject", site="quiet", key=QUIET_MOD_KEY)
    assert r["filter"] == "learned spam" and meta("quiet") == (s0 + 1, h0 + 1), (r, meta("quiet"))
    # the news model did not move
    assert model_agrees(meta("quiet"), site="quiet", key=QUIET_MOD_KEY)


def test_two_moderators_race_one_wins():
    pairs = [("spam", "approve"), ("approve", "approve"), ("spam", "spam"), ("reject", "spam")] * 3
    for n, (x, y) in enumerate(pairs):
        cid = held("rc-%02d" % n, thread="t-race", ip="10.10.%d.1" % n)
        before = meta()
        barrier = threading.Barrier(2)
        out = [None, None]

        def go(i, action, key):
            barrier.wait()
            out[i] = act(cid, action, key=key)

        ts = [threading.Thread(target=go, args=(0, x, MOD_KEY)), threading.Thread(target=go, args=(1, y, MOD2_KEY))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        sts = sorted(o[0] for o in out)
        assert sts == [200, 409], (cid, out)
        win = [o[1] for o in out if o[0] == 200][0]
        lose = [o[1] for o in out if o[0] == 409][0]
        assert err_code(lose) == "state_conflict", lose
        assert lose["state"] == win["state"] and lose["version"] == win["version"] == 2, (win, lose)
        won_action = x if out[0][0] == 200 else y
        st, body = show(cid)
        assert body["state"] == win["state"] and body["version"] == 2 and len(body["history"]) == 1, body
        after = meta()
        want = {"spam": (before[0] + 1, before[1]), "approve": (before[0], before[1] + 1),
                "reject": before}[won_action]
        assert after == want, (cid, won_action, before, after)
    assert model_agrees(meta()), (model_counts(), meta())


def test_illegal_transition_and_stale_from():
    cid = held("il-1", thread="t-illegal", ip="10.11.1.1")
    acted(cid, "approve")
    before = meta()
    st, body = act(cid, "approve", **{"from": "approved"})
    assert st == 409 and err_code(body) == "illegal_transition", body
    st, body = act(cid, "ham", **{"from": "approved"})  # it taught ham already
    assert st == 409 and err_code(body) == "illegal_transition", body
    # stale from: the moderator saw it held
    for action in ("approve", "reject", "spam"):
        st, body = act(cid, action)
        assert st == 409 and err_code(body) == "state_conflict", (action, body)
        assert body["state"] == "approved" and body["version"] == 2, body
    st, body = act(cid, "reject", **{"from": "spam"})
    assert st == 409 and err_code(body) == "state_conflict" and body["state"] == "approved", body
    # nothing changed
    assert meta() == before
    st, body = show(cid)
    assert body["state"] == "approved" and body["version"] == 2 and len(body["history"]) == 1, body


def test_action_request_validation():
    cid = held("av-1", thread="t-valid", ip="10.12.1.1")
    cases = [
        ({"action": "delete"}, "invalid_field"),
        ({"action": "Approve"}, "invalid_field"),
        ({"note": "x"}, "missing_field"),
        ({"action": "approve", "from": "pending"}, "invalid_field"),
        ({"action": "approve", "note": "n" * 501}, "invalid_field"),
        ({"action": "approve", "note": 5}, "wrong_type"),
        ({"action": "reject", "reason": "Off Topic"}, "invalid_field"),
        ({"action": "reject", "reason": "r" * 49}, "invalid_field"),
        ({"action": "approve", "by": "someone"}, "unknown_field"),
        ({"action": "approve", "note": "\u00e9" * 251}, "invalid_field"),  # 502 bytes
        ({"action": "approve", "from": 3}, "invalid_field"),
    ]
    for doc, code in cases:
        st, body, _ = svc().request("POST", "/v1/sites/news/comments/%s/action" % cid, doc, key=MOD_KEY)
        assert st == 400 and err_code(body) == code, (doc, st, body)
    st, body = act(cid, "approve", note="a\u0000b")  # a NUL: refused (as JSON or as a field)
    assert st == 400 and err_code(body) in ("invalid_json", "invalid_field"), body
    st, body, _ = svc().request("POST", "/v1/sites/news/comments/%s/action" % cid, "{not json", key=MOD_KEY,
                                headers={"Content-Type": "application/json"})
    assert st == 400 and err_code(body) == "invalid_json", body
    # nothing happened to the comment
    st, body = show(cid)
    assert body["state"] == "held" and body["version"] == 1 and body["history"] == [], body
    # a 500-byte note is fine
    r = acted(cid, "reject", note="n" * 500, reason="r" * 48)
    st, body = show(cid)
    assert body["history"][0]["note"] == "n" * 500 and body["history"][0]["reason"] == "r" * 48, body
    # 250 two-byte characters are 500 bytes: allowed, and kept as sent
    r = acted(cid, "hold", note="\u00e9" * 250, **{"from": "rejected"})
    st, body = show(cid)
    assert body["history"][1]["note"] == "\u00e9" * 250, body


def test_ids_in_paths_and_generated_ids():
    # an id with a space, a plus and non-ASCII letters, percent-encoded in the path
    odd = held("c \u00fc+1", thread="t-odd", ip="10.26.1.1")
    st, body = show(odd)
    assert st == 200 and body["id"] == odd and body["comment"]["id"] == odd, (st, body)
    r = acted(odd, "approve")
    assert r["id"] == odd and r["state"] == "approved", r
    # a held comment sent without an id gets mg- and 16 hex digits, and is in the queue
    c = comment("Unnamed offers at http://u1.example.com and http://u2.example.com and http://u3.example.com ok",
                ip="10.26.1.2")
    c["comment"]["thread_id"] = "t-odd"
    st, res, _ = svc().check(c)
    assert st == 200 and res["decision"] == "hold" and res["stored"] is True, res
    gen = res["comment_id"]
    assert re.match(r"^mg-[0-9a-f]{16}$", gen), res
    assert queue_ids(thread="t-odd") == [gen]
    st, body = show(gen)
    assert st == 200 and body["id"] == gen and body["state"] == "held", body
    acted(gen, "reject")
    assert queue_ids(thread="t-odd", state="rejected") == [gen]


# ---------------------------------------------------------------- bulk actions

def test_bulk_by_ids_mixed_results():
    a = held("bk-a", thread="t-bulk", ip="10.13.1.1")
    b = held("bk-b", thread="t-bulk", ip="10.13.1.2")
    c = held("bk-c", thread="t-bulk", ip="10.13.1.3")
    acted(b, "approve")
    st, body = bulk({"action": "reject", "reason": "off_topic", "note": "bulk", "ids": [a, b, "bk-missing", c]})
    assert st == 200, body
    assert body["action"] == "reject" and body["from"] == "held", body
    assert body["ok"] == 2 and body["failed"] == 2, body
    res = body["results"]
    assert [x["id"] for x in res] == [a, b, "bk-missing", c], res
    assert [x["status"] for x in res] == ["ok", "conflict", "missing", "ok"], res
    assert res[0]["state"] == "rejected" and res[0]["from"] == "held" and res[0]["version"] == 2, res[0]
    assert res[0]["filter"] == "nothing" and STREAM_ID.match(res[0]["audit_id"]), res[0]
    assert res[1]["state"] == "approved" and res[1]["version"] == 2, res[1]
    for cid in (a, c):
        st, x = show(cid)
        assert x["state"] == "rejected" and x["history"][-1]["reason"] == "off_topic", x
        assert x["history"][-1]["note"] == "bulk", x
    assert state_of(b) == "approved"
    # an action to the state they are in already: "same"
    st, body = bulk({"action": "approve", "from": "approved", "ids": [b]})
    assert st == 200 and body["ok"] == 0 and body["failed"] == 1 and body["results"][0]["status"] == "same", body
    # bulk spam of ids teaches each once
    d = held("bk-d", thread="t-bulk", ip="10.13.1.4")
    e = held("bk-e", thread="t-bulk", ip="10.13.1.5")
    before = meta()
    st, body = bulk({"action": "spam", "ids": [d, e]})
    assert st == 200 and body["ok"] == 2 and body["failed"] == 0, body
    assert all(x["filter"] == "learned spam" for x in body["results"]), body
    assert meta() == (before[0] + 2, before[1])
    # ids with '/' are acted on here
    f = held("bk/f", thread="t-bulk", ip="10.13.1.6")
    st, body = bulk({"action": "approve", "ids": [f]})
    assert st == 200 and body["ok"] == 1 and body["results"][0]["id"] == "bk/f", body
    st, body = bulk({"action": "hold", "from": "approved", "ids": [f]})
    assert st == 200 and body["ok"] == 1 and body["results"][0]["state"] == "held", body


def test_bulk_by_author_ip_and_thread():
    # by author_email (compared in lower case)
    e1 = held("ba-e1", thread="t-ba-1", ip="10.14.1.1", author={"email": "bulk-bot@example.net"})
    e2 = held("ba-e2", thread="t-ba-2", ip="10.14.2.1", author={"email": "Bulk-Bot@Example.NET"})
    e3 = held("ba-e3", thread="t-ba-3", ip="10.14.3.1", author={"email": "bulk-bot@example.net"})
    other = held("ba-o", thread="t-ba-1", ip="10.14.1.2", author={"email": "someone@example.net"})
    before = meta()
    st, body = bulk({"action": "spam", "author_email": "bulk-bot@example.net", "note": "one bot"})
    assert st == 200 and body["ok"] == 3 and body["failed"] == 0, body
    assert [x["id"] for x in body["results"]] == [e1, e2, e3], body  # oldest first
    assert all(x["status"] == "ok" and x["state"] == "spam" for x in body["results"]), body
    assert meta() == (before[0] + 3, before[1])
    assert state_of(other) == "held"
    # nothing left to select: an empty answer
    st, body = bulk({"action": "spam", "author_email": "bulk-bot@example.net"})
    assert st == 200 and body["ok"] == 0 and body["failed"] == 0 and body["results"] == [], body
    # the same author's comments in another state, with from
    st, body = bulk({"action": "ham", "from": "spam", "author_email": "BULK-BOT@example.net", "limit": 2})
    assert st == 200 and body["ok"] == 2 and [x["id"] for x in body["results"]] == [e1, e2], body
    assert all(x["filter"] == "moved to ham" for x in body["results"]), body
    assert state_of(e3) == "spam"
    # by author_id
    i1 = held("ba-i1", thread="t-ba-4", ip="10.14.4.1", author={"id": "u-bulk-9"})
    i2 = held("ba-i2", thread="t-ba-4", ip="10.14.4.2", author={"id": "u-bulk-9", "email": "x@example.net"})
    st, body = bulk({"action": "reject", "author_id": "u-bulk-9"})
    assert st == 200 and body["ok"] == 2 and [x["id"] for x in body["results"]] == [i1, i2], body
    # by ip: the address's /24
    p1 = held("ba-p1", thread="t-ba-5", ip="10.14.5.1")
    p2 = held("ba-p2", thread="t-ba-6", ip="10.14.5.250")
    p3 = held("ba-p3", thread="t-ba-5", ip="10.14.6.1")
    st, body = bulk({"action": "approve", "ip": "10.14.5.77"})
    assert st == 200 and body["ok"] == 2 and [x["id"] for x in body["results"]] == [p1, p2], body
    assert state_of(p3) == "held"
    # by thread, up to limit: the oldest ones
    t1 = held("ba-t1", thread="t-ba-7", ip="10.14.7.1")
    t2 = held("ba-t2", thread="t-ba-7", ip="10.14.7.2")
    t3 = held("ba-t3", thread="t-ba-7", ip="10.14.7.3")
    st, body = bulk({"action": "reject", "thread": "t-ba-7", "limit": 2, "reason": "abuse"})
    assert st == 200 and body["ok"] == 2 and [x["id"] for x in body["results"]] == [t1, t2], body
    assert state_of(t3) == "held"
    assert queue_ids(thread="t-ba-7") == [t3]
    assert queue_ids(thread="t-ba-7", state="rejected") == [t1, t2]


def test_bulk_malformed_requests_are_refused_whole():
    ok1 = held("bm-1", thread="t-bm", ip="10.15.1.1")
    ok2 = held("bm-2", thread="t-bm", ip="10.15.1.2")

    def refused(doc, code, names=None):
        st, body = bulk(doc)
        assert st == 400 and err_code(body) == code, (doc, st, body)
        if names:
            assert names in body["error"]["message"], (names, body)
        return body

    refused({"action": "spam", "ids": [ok1, ok2, ""]}, "invalid_field", "ids[2]")
    refused({"action": "spam", "ids": [ok1, ok2, "x" * 129]}, "invalid_field", "ids[2]")
    refused({"action": "spam", "ids": [ok1, ok2, "bad\nid"]}, "invalid_field", "ids[2]")
    refused({"action": "spam", "ids": [ok1, 5]}, "wrong_type", "ids[1]")
    refused({"action": "spam", "ids": [ok1, None]}, "wrong_type", "ids[1]")
    refused({"action": "spam", "ids": [ok1, ok2, ok1]}, "invalid_field", "ids[2]")
    refused({"action": "spam", "ids": []}, "invalid_field", "ids")
    refused({"action": "spam", "ids": ["bm-x%d" % i for i in range(501)]}, "invalid_field", "ids")
    refused({"action": "spam", "ids": ok1}, "wrong_type", "ids")
    refused({"action": "spam", "ids": [ok1], "thread": "t-bm"}, "invalid_field")
    refused({"action": "spam", "author_id": "a", "author_email": "b@example.net"}, "invalid_field")
    refused({"action": "spam"}, "missing_field")
    refused({"action": "spam", "ids": [ok1], "idz": [ok2]}, "unknown_field", "idz")
    refused({"action": "spam", "author_email": 5}, "wrong_type", "author_email")
    refused({"action": "spam", "author_email": ""}, "invalid_field", "author_email")
    refused({"action": "spam", "thread": ["t-bm"]}, "wrong_type", "thread")
    refused({"action": "spam", "thread": "t-bm", "limit": "2"}, "wrong_type", "limit")
    refused({"action": "spam", "ip": "10.15.1.300"}, "invalid_field", "ip")
    refused({"action": "obliterate", "ids": [ok1]}, "invalid_field", "action")
    refused({"ids": [ok1]}, "missing_field", "action")
    refused({"action": "spam", "from": "limbo", "ids": [ok1]}, "invalid_field", "from")
    refused({"action": "spam", "note": "n" * 501, "ids": [ok1]}, "invalid_field", "note")
    refused({"action": "spam", "reason": "No Way", "ids": [ok1]}, "invalid_field", "reason")
    st, body, _ = svc().request("POST", "/v1/sites/news/actions", "[1,2", key=MOD_KEY,
                                headers={"Content-Type": "application/json"})
    assert st == 400 and err_code(body) == "invalid_json", body
    # 500 ids are allowed (all missing here but the two)
    st, body = bulk({"action": "reject", "ids": [ok1, ok2] + ["bm-y%d" % i for i in range(498)]})
    assert st == 200 and body["ok"] == 2 and body["failed"] == 498, (st, body.get("ok"), body.get("failed"))
    assert sum(1 for x in body["results"] if x["status"] == "missing") == 498


def test_bulk_refused_as_a_whole_touches_nothing():
    a = held("bw-1", thread="t-bw", ip="10.16.1.1")
    b = held("bw-2", thread="t-bw", ip="10.16.1.2")
    before = meta()
    st, body = bulk({"action": "spam", "ids": [a, b, 7]})
    assert st == 400 and "ids[2]" in body["error"]["message"], body
    assert state_of(a) == "held" and state_of(b) == "held"
    assert meta() == before
    st, body = show(a)
    assert body["version"] == 1 and body["history"] == [], body


# ---------------------------------------------------------------- the audit log

def test_audit_log_newest_first_with_paging():
    a = held("au-1", thread="t-audit", ip="10.17.1.1")
    b = held("au-2", thread="t-audit", ip="10.17.1.2")
    ra = acted(a, "reject", note="off topic rant", reason="off_topic")
    rb = acted(b, "spam", key=MOD2_KEY, note="link farm")
    st, body = get("/v1/sites/news/audit", limit=2)
    assert st == 200 and body["site"] == "news", body
    e = body["entries"]
    assert len(e) == 2, body
    assert e[0]["cursor"] == rb["audit_id"] and e[1]["cursor"] == ra["audit_id"], (e, ra, rb)
    assert {k: e[0][k] for k in ("id", "action", "from", "to", "by", "note", "reason", "filter")} == {
        "id": b, "action": "spam", "from": "held", "to": "spam", "by": "t-mod2", "note": "link farm", "reason": "",
        "filter": "learned spam"}, e[0]
    assert {k: e[1][k] for k in ("id", "action", "from", "to", "by", "note", "reason", "filter")} == {
        "id": a, "action": "reject", "from": "held", "to": "rejected", "by": "t-mod", "note": "off topic rant",
        "reason": "off_topic", "filter": "nothing"}, e[1]
    assert e[0]["at"] >= e[1]["at"], e
    assert body["next_cursor"] == e[1]["cursor"], body
    # paging one at a time gives the same entries, then the older ones
    st, p1 = get("/v1/sites/news/audit", limit=1)
    assert [x["cursor"] for x in p1["entries"]] == [rb["audit_id"]] and p1["next_cursor"] == rb["audit_id"], p1
    st, p2 = get("/v1/sites/news/audit", limit=1, cursor=p1["next_cursor"])
    assert [x["cursor"] for x in p2["entries"]] == [ra["audit_id"]], p2
    st, p3 = get("/v1/sites/news/audit", limit=1, cursor=p2["next_cursor"])
    sid = lambda c: tuple(int(x) for x in c.split("-"))  # noqa: E731
    assert st == 200 and len(p3["entries"]) == 1 and sid(p3["entries"][0]["cursor"]) < sid(ra["audit_id"]), p3
    # the whole log, oldest first, in pages: every entry once, in order
    total = redis().cmd("XLEN", "mg:{news}:audit")
    seen, cursor = [], None
    while True:
        p = {"order": "oldest", "limit": 7}
        if cursor:
            p["cursor"] = cursor
        st, page = get("/v1/sites/news/audit", **p)
        assert st == 200, page
        seen += [x["cursor"] for x in page["entries"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
        assert len(seen) <= total, (len(seen), total)
    assert len(seen) == total == len(set(seen)), (len(seen), total)
    assert seen == sorted(seen, key=sid), seen
    assert seen[-2:] == [ra["audit_id"], rb["audit_id"]], seen[-3:]
    # ?comment=ID: that comment with its history
    st, body = get("/v1/sites/news/audit", comment=a)
    assert st == 200 and body["id"] == a and body["state"] == "rejected", body
    assert len(body["history"]) == 1 and body["history"][0]["note"] == "off topic rant", body
    st, body = get("/v1/sites/news/audit", comment="au-none")
    assert st == 404 and err_code(body) == "unknown_comment", body
    # bad parameters
    for params in ({"cursor": "yesterday"}, {"limit": "many"}, {"order": "random"}):
        st, body = get("/v1/sites/news/audit", **params)
        assert st == 400 and err_code(body) == "bad_parameter", (params, body)
    # a cms key may not read the audit log
    st, body = get("/v1/sites/news/audit", key=CMS_KEY)
    assert st == 403 and err_code(body) == "wrong_role", body


# ---------------------------------------------------------------- the CMS's changes feed

def events(key=CMS_KEY, **params):
    return get("/v1/sites/news/events", key=key, **params)


def feed_end():
    """The cursor after the newest event, read the way a CMS does."""
    cursor = None
    for _ in range(1000):
        p = {"limit": 1000}
        if cursor:
            p["after"] = cursor
        st, body = events(**p)
        assert st == 200, body
        if not body["events"]:
            return body["next_cursor"]
        cursor = body["next_cursor"]
    raise AssertionError("the feed never ended")


def test_events_feed_resumes_after_cursor():
    e1 = held("ev-1", thread="t-events", ip="10.18.1.1")
    e2 = held("ev-2", thread="t-events", ip="10.18.1.2")
    acted(held("ev-0", thread="t-events", ip="10.18.1.3"), "approve")  # the feed is not empty
    c0 = feed_end()
    assert c0 and STREAM_ID.match(c0), c0
    st, body = events(after=c0)
    assert st == 200 and body["site"] == "news" and body["events"] == [] and body["next_cursor"] == c0, body
    r1 = acted(e1, "approve")
    r2 = acted(e2, "reject", key=MOD2_KEY)
    r3 = acted(e1, "hold", **{"from": "approved"})
    st, body = events(after=c0)
    assert st == 200, body
    ev = body["events"]
    assert [x["cursor"] for x in ev] == [r1["event_id"], r2["event_id"], r3["event_id"]], (ev, r1, r2, r3)
    assert [(x["id"], x["state"], x["previous"], x["action"], x["by"]) for x in ev] == [
        (e1, "approved", "held", "approve", "t-mod"), (e2, "rejected", "held", "reject", "t-mod2"),
        (e1, "held", "approved", "hold", "t-mod")], ev
    assert all(x["at"] for x in ev), ev
    assert body["next_cursor"] == r3["event_id"], body
    # nothing new: empty, and the cursor stays
    st, body = events(after=r3["event_id"])
    assert st == 200 and body["events"] == [] and body["next_cursor"] == r3["event_id"], body
    # resumption one at a time
    st, body = events(after=c0, limit=1)
    assert [x["cursor"] for x in body["events"]] == [r1["event_id"]] and body["next_cursor"] == r1["event_id"], body
    st, body = events(after=body["next_cursor"], limit=1)
    assert [x["cursor"] for x in body["events"]] == [r2["event_id"]] and body["next_cursor"] == r2["event_id"], body
    st, body = events(after=body["next_cursor"], limit=5)
    assert [x["cursor"] for x in body["events"]] == [r3["event_id"]] and body["next_cursor"] == r3["event_id"], body
    # a new event after the stored cursor, and only it
    r4 = acted(e2, "approve", **{"from": "rejected"})
    st, body = events(after=r3["event_id"])
    assert [(x["id"], x["state"], x["previous"]) for x in body["events"]] == [(e2, "approved", "rejected")], body
    assert body["next_cursor"] == r4["event_id"], body
    # the news admin key and a top-level admin key may read it too
    for key in (ADMIN_KEY, GLOBAL_ADMIN_KEY):
        st, body = events(key=key, after=r3["event_id"])
        assert st == 200 and [x["cursor"] for x in body["events"]] == [r4["event_id"]], (key, body)


def test_feed_and_queue_roles_and_bad_after():
    st, body = events(key=MOD_KEY)
    assert st == 403 and err_code(body) == "wrong_role", body
    st, body = events(key=MOD2_KEY, after="1-0")
    assert st == 403 and err_code(body) == "wrong_role", body
    st, body = queue(key=CMS_KEY)
    assert st == 403 and err_code(body) == "wrong_role", body
    cid = held("rl-1", thread="t-roles", ip="10.19.1.1")
    st, body = show(cid, key=CMS_KEY)
    assert st == 403 and err_code(body) == "wrong_role", body
    st, body = bulk({"action": "approve", "ids": [cid]}, key=CMS_KEY)
    assert st == 403 and err_code(body) == "wrong_role", body
    assert state_of(cid) == "held"
    for bad in ("yesterday", "12", "-1", "1-", "1-x", "abc-0", "1-0-0", "9" * 30 + "-0"):
        st, body = events(after=bad)
        assert st == 400 and err_code(body) == "bad_parameter", (bad, st, body)
    st, body = events(limit="lots")
    assert st == 400 and err_code(body) == "bad_parameter", body
    # no key at all
    st, body, hdrs = svc().request("GET", "/v1/sites/news/queue")
    assert st == 401 and err_code(body) == "unauthorized", body


def test_a_cms_key_reports_its_own_moderators_decisions_on_one_comment():
    """A CMS whose moderator trashes, spams or restores a comment modgate
    holds reports it on the single-comment action endpoint with its cms
    key: recorded by the key's id in the history, the audit log and the
    feed, as any action. A cms key of another site reaches nothing, and
    listing, reading and bulk actions stay moderators'."""
    cid = held("cms-act-1", thread="t-cms-act", ip="10.19.2.1")
    c0, m0 = feed_end(), meta()
    r = acted(cid, "reject", key=CMS_KEY)
    assert r["from"] == "held" and r["state"] == "rejected" and r["filter"] == "nothing", r
    assert meta() == m0  # learn_on_reject is off: a rejected comment teaches nothing
    st, body = show(cid)
    assert st == 200 and body["state"] == "rejected" and body["decided_by"] == "t-cms", body
    assert (body["history"][-1]["action"], body["history"][-1]["by"]) == ("reject", "t-cms"), body["history"]
    st, body = get("/v1/sites/news/audit", limit=1)
    assert st == 200 and body["entries"][0]["cursor"] == r["audit_id"] and body["entries"][0]["by"] == "t-cms", body
    # restored in the CMS: an undo back to held, then spam, each from the state it is in
    r2 = acted(cid, "hold", key=CMS_KEY, **{"from": "rejected"})
    assert r2["state"] == "held" and r2["version"] == r["version"] + 1, r2
    r3 = acted(cid, "spam", key=CMS_KEY)
    assert r3["state"] == "spam" and r3["filter"] == "learned spam", r3
    st, body = events(**({"after": c0} if c0 else {}))
    assert st == 200 and [(e["id"], e["state"], e["action"], e["by"]) for e in body["events"]] == [
        (cid, "rejected", "reject", "t-cms"), (cid, "held", "hold", "t-cms"), (cid, "spam", "spam", "t-cms")], body
    # a stale 'from' is refused with the state the comment is in, and changes nothing
    st, body = act(cid, "approve", key=CMS_KEY)
    assert st == 409 and err_code(body) == "state_conflict" and body["state"] == "spam", body
    assert body["version"] == r3["version"], body
    # another site's cms key: not through this site's path, nor through its own
    st, body = act(cid, "ham", key=OTHER_CMS_KEY, **{"from": "spam"})
    assert st == 403 and err_code(body) == "wrong_site", body
    st, body = act(cid, "ham", site="other", key=OTHER_CMS_KEY, **{"from": "spam"})
    assert st == 404 and err_code(body) == "unknown_comment", body
    assert state_of(cid) == "spam"
    # listing, reading and bulk actions are still refused to a cms key
    other = held("cms-act-2", thread="t-cms-act", ip="10.19.2.2")
    st, body = queue(key=CMS_KEY)
    assert st == 403 and err_code(body) == "wrong_role", body
    st, body = show(other, key=CMS_KEY)
    assert st == 403 and err_code(body) == "wrong_role", body
    st, body = bulk({"action": "approve", "ids": [other]}, key=CMS_KEY)
    assert st == 403 and err_code(body) == "wrong_role", body
    st, body = get("/v1/sites/news/audit", key=CMS_KEY)
    assert st == 403 and err_code(body) == "wrong_role", body
    assert state_of(other) == "held"


def test_events_cursor_expired_after_trim():
    """Events older than moderation.events_days (7) are trimmed by the
    actions' own XADD MINID ~; a CMS whose cursor is older than what was
    trimmed must get 410 cursor_expired, not the later events with a gap.
    The old events are written into the feed site's stream with ids of 9
    days ago, as the service would have written them then: 150 of them,
    more than one stream node, so that the approximate trim removes some."""
    t = redis().cmd("TIME")
    now_ms = int(t[0]) * 1000 + int(t[1]) // 1000
    key = "mg:{feed}:events"
    old = []
    for i in range(150):
        old.append(redis().cmd("XADD", key, "%d-0" % (now_ms - 9 * DAY_MS + i), "id", "fe-old-%d" % i,
                               "state", "approved", "previous", "held", "action", "approve", "by", "t-x"))
    cid = held("fe-1", site="feed", key=FEED_CMS_KEY, ip="10.27.1.1", thread="t-expire")
    r = acted(cid, "approve", site="feed", key=FEED_MOD_KEY)
    left = redis().cmd("XRANGE", key, "-", "+")
    kept = [e[0] for e in left]
    assert r["event_id"] in kept and len(kept) < 151, "the action's XADD trimmed nothing: %d" % len(kept)
    assert old[0] not in kept, kept[:3]
    # the CMS read up to the first old event: everything after it up to the
    # oldest kept one is gone
    st, body = get("/v1/sites/feed/events", key=FEED_CMS_KEY, after=old[0])
    assert st == 410 and err_code(body) == "cursor_expired", (st, body if st != 200 else {
        "events": len(body["events"]), "first": body["events"][:1], "trimmed": 151 - len(kept)})
    # a CMS that had read up to the newest old event lost nothing
    st, body = get("/v1/sites/feed/events", key=FEED_CMS_KEY, after=old[-1])
    assert st == 200 and [x["cursor"] for x in body["events"]] == [r["event_id"]], body
    # starting again without a cursor reads from the oldest event kept
    st, body = get("/v1/sites/feed/events", key=FEED_CMS_KEY, limit=1)
    assert st == 200 and body["events"][0]["cursor"] == kept[0], (body, kept[:1])


def test_actions_cost_a_token_of_the_keys_api_bucket():
    ids = [held("ap-%d" % i, site="apilimit", key=API_KEY, ip="10.28.%d.1" % i, thread="t-api") for i in range(3)]
    for cid in ids:
        r = acted(cid, "reject", site="apilimit", key=API_MOD_KEY)
    st, body, hdrs = svc().request("POST", "/v1/sites/apilimit/comments/%s/action" % ids[0],
                                   {"action": "hold", "from": "rejected"}, key=API_MOD_KEY)
    assert st == 429 and err_code(body) == "rate_limited", (st, body)
    assert int(hdrs["retry-after"]) >= 1, hdrs
    st, body = show(ids[0], site="apilimit", key=API_MOD_KEY)
    assert st == 200 and body["state"] == "rejected" and body["version"] == 2, body
    st, body = bulk({"action": "hold", "from": "rejected", "ids": ids}, site="apilimit", key=API_MOD_KEY)
    assert st == 429 and err_code(body) == "rate_limited", (st, body)
    assert [state_of_site(x, "apilimit", API_MOD_KEY) for x in ids] == ["rejected"] * 3


def state_of_site(cid, site, key):
    st, body = show(cid, site=site, key=key)
    assert st == 200, body
    return body["state"]


# ---------------------------------------------------------------- sites and keys

def test_cross_site_keys_and_top_level_admin():
    cid = held("cs-1", thread="t-cross", ip="10.20.1.1")
    st, body = queue(key=OTHER_MOD_KEY)
    assert st == 403 and err_code(body) == "wrong_site", body
    st, body = show(cid, key=OTHER_MOD_KEY)
    assert st == 403 and err_code(body) == "wrong_site", body
    st, body = act(cid, "spam", key=OTHER_MOD_KEY)
    assert st == 403 and err_code(body) == "wrong_site", body
    st, body = bulk({"action": "spam", "ids": [cid]}, key=OTHER_MOD_KEY)
    assert st == 403 and err_code(body) == "wrong_site", body
    st, body = get("/v1/sites/news/audit", key=OTHER_MOD_KEY)
    assert st == 403 and err_code(body) == "wrong_site", body
    st, body = events(key=OTHER_CMS_KEY)
    assert st == 403 and err_code(body) == "wrong_site", body
    # a site's own admin key never reaches another site
    st, body = queue(site="other", key=ADMIN_KEY)
    assert st == 403 and err_code(body) == "wrong_site", body
    assert state_of(cid) == "held"
    # the other site's moderator reads its own queue
    st, body = queue(site="other", key=OTHER_MOD_KEY)
    assert st == 200 and body["site"] == "other", body
    # unknown site
    for key in (MOD_KEY, GLOBAL_ADMIN_KEY):
        st, body = queue(site="nosuchsite", key=key)
        assert st == 404 and err_code(body) == "unknown_site", (key, body)
        st, body = act(cid, "approve", site="nosuchsite", key=key)
        assert st == 404 and err_code(body) == "unknown_site", (key, body)
    # a top-level admin key reads and acts on every site
    st, body = queue(key=GLOBAL_ADMIN_KEY, thread="t-cross")
    assert st == 200 and [i["id"] for i in body["items"]] == [cid], body
    st, body = queue(site="other", key=GLOBAL_ADMIN_KEY)
    assert st == 200 and body["site"] == "other", body
    qid = held("cs-q", site="quiet", key=QUIET_CMS_KEY, ip="10.20.2.1", thread="t-cross")
    st, body = queue(site="quiet", key=GLOBAL_ADMIN_KEY, thread="t-cross")
    assert st == 200 and [i["id"] for i in body["items"]] == [qid], body
    r = acted(cid, "spam", key=GLOBAL_ADMIN_KEY)
    st, body = show(cid, key=GLOBAL_ADMIN_KEY)
    assert st == 200 and body["state"] == "spam" and body["decided_by"] == "g-admin", body
    assert body["history"][-1]["by"] == "g-admin", body
    st, body = get("/v1/sites/news/audit", key=GLOBAL_ADMIN_KEY, limit=1)
    assert st == 200 and body["entries"][0]["cursor"] == r["audit_id"] and body["entries"][0]["by"] == "g-admin"
    st, body = act(qid, "reject", site="quiet", key=GLOBAL_ADMIN_KEY)
    assert st == 200 and body["state"] == "rejected", body
    # whoami
    st, body = get("/v1/whoami", key=MOD_KEY)
    assert st == 200 and body == {"key_id": "t-mod", "role": "moderator", "site": "news", "sites": ["news"]}, body
    st, body = get("/v1/whoami", key=OTHER_MOD_KEY)
    assert st == 200 and body == {"key_id": "o-mod", "role": "moderator", "site": "other", "sites": ["other"]}, body
    st, body = get("/v1/whoami", key=CMS_KEY)
    assert st == 200 and body["key_id"] == "t-cms" and body["role"] == "cms" and body["sites"] == ["news"], body
    st, body = get("/v1/whoami", key=GLOBAL_ADMIN_KEY)
    assert st == 200 and body["key_id"] == "g-admin" and body["role"] == "admin" and body["site"] is None, body
    assert sorted(body["sites"]) == sorted(svc().config["sites"]), body
    st, body = get("/v1/whoami", key="it-no-such-key-0123456789abcdef")
    assert st == 401 and err_code(body) == "unauthorized", body


# ---------------------------------------------------------------- an edited comment

def test_edited_comment_is_held_again():
    cid = held("ed-1", thread="t-edit", ip="10.21.1.1")
    acted(cid, "approve")
    assert queue_ids(thread="t-edit") == []
    # the same id with another body, held again: back in held
    c = comment("Edited %d: see http://e1.example.com and http://e2.example.com and http://e3.example.com now" %
                os.getpid(), ip="10.21.1.1", cid=cid)
    c["comment"]["thread_id"] = "t-edit"
    st, r, _ = svc().check(c)
    assert st == 200 and r["decision"] == "hold" and r["stored"] is True, r
    st, body = show(cid)
    assert body["state"] == "held" and body["comment"]["body"].startswith("Edited"), body
    assert queue_ids(thread="t-edit") == [cid]
    assert queue_ids(thread="t-edit", state="approved") == []
    r = acted(cid, "reject")
    assert r["state"] == "rejected", r


# ---------------------------------------------------------------- retention

def test_retention_deletes_old_decided_comments():
    old = held("rt-old", thread="t-ret", ip="10.22.1.1")
    young = held("rt-young", thread="t-ret", ip="10.22.1.2")
    newer = held("rt-new", thread="t-ret", ip="10.22.1.3")
    old_held = held("rt-held", thread="t-ret-h", ip="10.22.1.4")
    acted(old, "approve")
    acted(young, "approve")
    now_ms = int(time.time() * 1000)
    # decided 40 days ago (retention_days is 30), and 20 days ago; a held one from 40 days ago
    redis().cmd("ZADD", "mg:{news}:q:approved", now_ms - 40 * DAY_MS, old)
    redis().cmd("ZADD", "mg:{news}:q:approved", now_ms - 20 * DAY_MS, young)
    redis().cmd("ZADD", "mg:{news}:q:held", now_ms - 40 * DAY_MS, old_held)
    assert show(old)[0] == 200
    acted(newer, "approve")
    st, body = show(old)
    assert st == 404 and err_code(body) == "unknown_comment", body
    assert redis().cmd("ZSCORE", "mg:{news}:q:approved", old) is None
    assert redis().cmd("EXISTS", "mg:{news}:c:" + old) == 0
    assert redis().cmd("EXISTS", "mg:{news}:h:" + old) == 0
    assert old not in queue_ids(thread="t-ret", state="approved")
    assert queue_ids(thread="t-ret", state="approved") == [young, newer]
    st, body = act(old, "hold", **{"from": "approved"})
    assert st == 404 and err_code(body) == "unknown_comment", body
    # younger than the retention, and held ones: kept
    assert state_of(young) == "approved"
    assert state_of(old_held) == "held"
    assert old_held in queue_ids(thread="t-ret-h")


def test_retention_applies_whatever_action_follows():
    """api.md: a decided comment is deleted retention_days after its
    decision 'by the actions that follow' - any action, not only one that
    decides another comment the same way."""
    old_a = held("ru-a", thread="t-ret2", ip="10.23.1.1")
    old_r = held("ru-r", thread="t-ret2", ip="10.23.1.2")
    old_s = held("ru-s", thread="t-ret2", ip="10.23.1.3")
    nxt = held("ru-n", thread="t-ret2", ip="10.23.1.4")
    acted(old_a, "approve")
    acted(old_r, "reject")
    acted(old_s, "spam")
    now_ms = int(time.time() * 1000)
    for state, cid in (("approved", old_a), ("rejected", old_r), ("spam", old_s)):
        redis().cmd("ZADD", "mg:{news}:q:" + state, now_ms - 40 * DAY_MS, cid)
    acted(nxt, "reject")
    acted(nxt, "hold", **{"from": "rejected"})
    acted(nxt, "approve")
    gone = [cid for cid in (old_a, old_r, old_s) if show(cid)[0] == 404]
    assert gone == [old_a, old_r, old_s], "still there after 3 later actions: %s" % [
        (cid, show(cid)[1].get("state")) for cid in (old_a, old_r, old_s) if cid not in gone]


# ---------------------------------------------------------------- Redis going away (last: it restarts Redis)

def test_redis_down_is_503_and_the_service_recovers():
    cid = held("rd-1", thread="t-redis", ip="10.24.1.1")
    r = redis()
    r.stop()
    try:
        st, body = act(cid, "approve")
        assert st == 503 and err_code(body) == "redis_unavailable", (st, body)
        st, body = bulk({"action": "approve", "ids": [cid]})
        assert st == 503 and err_code(body) == "redis_unavailable", (st, body)
        st, body = queue(thread="t-redis")
        assert st == 503 and err_code(body) == "redis_unavailable", (st, body)
        st, body = show(cid)
        assert st == 503 and err_code(body) == "redis_unavailable", (st, body)
        st, body = events()
        assert st == 503 and err_code(body) == "redis_unavailable", (st, body)
        st, body = get("/v1/sites/news/audit")
        assert st == 503 and err_code(body) == "redis_unavailable", (st, body)
        assert svc().request("GET", "/healthz")[0] == 200
        assert svc().proc.poll() is None, svc().logtext()[-2000:]
    finally:
        r.start()
    ok = wait_until(lambda: queue(thread="t-redis")[0] == 200, 15)
    assert ok, svc().logtext()[-2000:]
    assert queue_ids(thread="t-redis") == [cid]
    assert state_of(cid) == "held"
    r = acted(cid, "approve")
    assert r["state"] == "approved" and r["version"] == 2, r
    st, body = show(cid)
    assert body["state"] == "approved" and len(body["history"]) == 1, body


# ---------------------------------------------------------------- review fixes


def test_an_edit_the_filters_accept_leaves_the_queue():
    held("edq-1", thread="t-edq")
    assert "edq-1" in queue_ids(thread="t-edq")
    edit = comment("An edited, perfectly ordinary comment about the budget vote", cid="edq-1", ip="192.0.2.1")
    st, r, _ = svc().check(edit)
    assert st == 200 and r["decision"] == "accept", r
    # the held version is gone: nobody can approve text the CMS no longer shows
    assert queue_ids(thread="t-edq") == []
    st, body = show("edq-1")
    assert st == 404 and err_code(body) == "unknown_comment", (st, body)
    st, body = act("edq-1", "approve")
    assert st == 404, (st, body)


def test_a_retry_keeps_the_stored_comment_and_an_edit_replaces_it():
    held("edq-2", thread="t-edq2")
    st, c = show("edq-2")
    body0, ver0 = c["comment"]["body"], c["version"]
    # the same comment again after its replay record expired: a retry, left as it is
    redis().cmd("DEL", "mg:{news}:dec:edq-2")
    again = comment(body0, cid="edq-2", ip="192.0.2.1")
    again["comment"]["thread_id"] = "t-edq2"
    st, r, _ = svc().check(again)
    assert st == 200 and r["decision"] == "hold", r
    st, c = show("edq-2")
    assert c["comment"]["body"] == body0 and c["version"] == ver0, c
    # another body under that id once its record expired: stored, not lost
    redis().cmd("DEL", "mg:{news}:dec:edq-2")
    other = comment("New text at http://x1.example.com and http://x2.example.com and http://x3.example.com now",
                    cid="edq-2", ip="192.0.2.1")
    st, r, _ = svc().check(other)
    assert st == 200 and r["decision"] == "hold", r
    st, c = show("edq-2")
    assert c["comment"]["body"].startswith("New text") and c["version"] == ver0 + 1, c


def test_a_version_the_moderator_did_not_see_is_refused():
    held("ver-1")
    st, c = show("ver-1")
    v = c["version"]
    st, body = act("ver-1", "approve", version=v + 1)
    assert st == 409 and err_code(body) == "state_conflict" and body["state"] == "held", (st, body)
    assert body["version"] == v and "changed since" in body["error"]["message"], body
    assert state_of("ver-1") == "held"
    assert acted("ver-1", "approve", version=v)["version"] == v + 1
    st, body = act("ver-1", "reject", version=0)
    assert st == 400 and err_code(body) == "invalid_field", (st, body)
    st, body = act("ver-1", "reject", version="2")
    assert st == 400 and err_code(body) == "wrong_type", (st, body)


def test_same_text_comments_share_the_filter_and_undo_is_exact():
    text = "Identical words at http://tw1.example.com and http://tw2.example.com and http://tw3.example.com here"
    for cid, ip in (("tw-1", "192.0.2.71"), ("tw-2", "192.0.2.72")):
        st, r, _ = svc().check(comment(text, cid=cid, ip=ip, site="twin"), key=TWIN_CMS_KEY)
        assert st == 200 and r["decision"] == "hold", r
    s0 = meta("twin")

    def twin(cid, action, **f):
        st, body, _ = svc().request("POST", "/v1/sites/twin/comments/%s/action" % cid, dict(action=action, **f),
                                    key=TWIN_MOD_KEY)
        assert st == 200 and body["status"] == "ok", (cid, action, st, body)
        return body["filter"]
    assert twin("tw-1", "spam") == "learned spam"
    assert meta("twin") == (s0[0] + 1, s0[1])
    # the second comment's text is the same document: ham moves it, counted once
    assert twin("tw-2", "ham") == "moved to ham"
    assert meta("twin") == (s0[0], s0[1] + 1)
    # undoing the first keeps what the second still teaches
    assert twin("tw-1", "hold", **{"from": "spam"}) == "kept spam (other comments with the same text)"
    assert meta("twin") == (s0[0], s0[1] + 1)
    assert twin("tw-2", "hold", **{"from": "approved"}) == "unlearned ham"
    assert meta("twin") == s0
    # the same label twice: the filter already knows it
    assert twin("tw-1", "spam") == "learned spam"
    assert twin("tw-2", "spam") == "already spam"
    assert meta("twin") == (s0[0] + 1, s0[1])


def test_a_same_state_action_only_teaches_with_spam_or_ham():
    held("ss-1", thread="t-ss")
    acted("ss-1", "approve")  # learns ham
    # an edit held again keeps what the old text taught
    edit = comment("Changed at http://ss1.example.com and http://ss2.example.com and http://ss3.example.com here",
                   cid="ss-1", ip="192.0.2.1")
    st, r, _ = svc().check(edit)
    assert st == 200 and r["decision"] == "hold", r
    st, c = show("ss-1")
    assert c["state"] == "held" and c["learned"] == "ham" and c["decided_by"] is None, c
    st, body = act("ss-1", "hold")
    assert st == 409 and err_code(body) == "illegal_transition", (st, body)
    # spam on it teaches spam about the new text and takes the old text's ham away
    b = acted("ss-1", "spam")
    assert b["filter"] == "unlearned ham, learned spam", b


def test_networks_other_than_24_and_64_are_refused():
    for ip in ("10.0.0.0/8", "192.0.2.0/25", "2001:db8::/48", "192.0.2.1/", "/24"):
        st, body = queue(ip=ip)
        assert st == 400 and err_code(body) == "bad_parameter", (ip, st, body)
        st, body = bulk({"action": "reject", "ip": ip})
        assert st == 400 and err_code(body) == "invalid_field", (ip, st, body)
    st, body = queue(ip="192.0.2.77/24")  # host bits of a /24 are the same network
    assert st == 200, body


def test_stream_cursors_out_of_range_are_400():
    for c in ("99999999999999999999-0", "0-99999999999999999999", "1-", "-1", "1-2-3", "abc"):
        st, body = get("/v1/sites/news/audit", cursor=c)
        assert st == 400 and err_code(body) == "bad_parameter", (c, st, body)
        st, body = get("/v1/sites/news/events", key=CMS_KEY, after=c)
        assert st == 400 and err_code(body) == "bad_parameter", (c, st, body)

OLD_ITEM = ('{"site":"news","comment":{"body":"An old held comment at http://o1.example.com","thread_id":"t-old",'
            '"id":"old-1"},"client":{"ip":"192.0.2.9"},"state":"held","decision":"hold","score":0.8585,'
            '"reasons":[{"filter":"links","code":"too_many_links","contribution":1.5,"detail":"3 links"}],'
            '"request_id":"x-1","held_at":"2026-11-27T13:06:01.418Z","id":"old-1"}')


def seed_first_format(r):
    """A comment held by a modgate from before the moderation API (a string
    per comment), which the service moves into the queue when it starts."""
    r.cmd("SET", "mg:{news}:held:old-1", OLD_ITEM)
    r.cmd("ZADD", "mg:{news}:q:held", "1796000000000", "old-1")


def test_comments_held_in_the_first_format_are_moved_at_start():
    assert wait_until(lambda: redis().cmd("EXISTS", "mg:{news}:c:old-1") == 1, 10)
    assert redis().cmd("EXISTS", "mg:{news}:held:old-1") == 0
    raw = svc().request("GET", "/v1/sites/news/comments/old-1", key=MOD_KEY, raw=True)[1].decode()
    assert raw.count('"state":') == 1, raw  # its old "state" field is not shown twice
    st, c = show("old-1")
    assert st == 200 and c["state"] == "held" and c["comment"]["body"].startswith("An old held"), (st, c)
    assert "old-1" in queue_ids(reason="too_many_links", limit=100)
    assert acted("old-1", "reject")["state"] == "rejected"

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "modgate"))
    ap.add_argument("-k", default="", help="run only the tests whose name holds this")
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    tmp = make_tmp()
    r = Redis(tmp)
    r.start()
    ctx["redis"] = r
    seed_first_format(r)
    s = Service(binary, tmp, config(r.port))
    s.start()
    ctx["svc"] = s
    return run_tests(globals(), s, r, a.k)


if __name__ == "__main__":
    sys.exit(main())
