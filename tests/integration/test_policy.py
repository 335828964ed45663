#!/usr/bin/env python3
"""Per-site policies (api.md 2.10): GET/PUT /v1/sites/{site}/policy,
validate, versions and revert. Invalid policies are refused naming the
field and the old policy stays; a change is seen by a second running
instance without a restart; SIGHUP keeps the stored policy laid over the
new file; only admin keys of the site (or top-level ones) may use it.
Real redis-server, two real binaries, real HTTP. Prints "N passed, N
failed"."""
import argparse
import copy
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ADMIN_KEY, CMS_KEY, MOD_KEY, ROOT, Redis, Service, base_config, comment,  # noqa: E402
                     err_code, free_port, make_tmp, run_tests, sha256, wait_until)

GLOBAL_ADMIN = "it-global-admin-key-0123456789abcdef"
OTHER_ADMIN = "it-other-admin-key-0123456789abcdef"
ctx = {}
PATH = "/v1/sites/news/policy"


def svc():
    return ctx["svc"]


def get(s=None, key=ADMIN_KEY):
    st, b, _ = (s or svc()).request("GET", PATH, key=key)
    assert st == 200, (st, b)
    return b


def put(policy, key=ADMIN_KEY, s=None, **extra):
    body = dict(extra, policy=policy)
    return (s or svc()).request("PUT", PATH, body, key=key)[:2]


def versions(**q):
    qs = "&".join("%s=%s" % kv for kv in q.items())
    st, b, _ = svc().request("GET", PATH + "/versions" + ("?" + qs if qs else ""), key=ADMIN_KEY)
    assert st == 200, (st, b)
    return b


def decision(cid, s=None, body=None):
    st, r, _ = (s or svc()).check(comment(body, cid=cid, ip="192.0.2.%d" % (hash(cid) % 200 + 1)))
    assert st == 200, (st, r)
    return r["decision"]


def back_to_file():
    st, b = svc().request("POST", PATH + "/revert", {"version": 0}, key=ADMIN_KEY)[:2]
    assert st == 200, (st, b)


def test_get_shows_the_file_policy_with_defaults():
    b = get()
    assert b["site"] == "news" and b["version"] == 0 and b["source"] == "file", b
    p = b["policy"]
    assert p["thresholds"] == {"hold": 0.5, "reject": 0.95}, p["thresholds"]
    assert p["words"]["blocked"] == ["casino", "buy followers", "viagr*"], p["words"]
    assert p["rate_limits"]["ip"] == {"capacity": 1000, "per_minute": 60000}, p["rate_limits"]
    assert p["links"]["max"] == 2 and p["prior"] == 0.1 and p["redis_down"] == "hold"
    assert p["moderation"]["max_held"] == 100000 and p["moderation"]["on_full"] == "evict", p["moderation"]
    assert "keys" not in p and "model" not in p["bayes"], p
    # the file's policy, unchanged, is a valid PUT body
    st, v = svc().request("POST", PATH + "/validate", {"policy": p}, key=ADMIN_KEY)[:2]
    assert st == 200 and v["valid"] is True and v["policy"] == p, (st, v)


def test_put_changes_decisions_at_once_and_keeps_other_fields():
    assert decision("pol-a1") == "accept"
    st, b = put({"thresholds": {"hold": 0.05}}, note="stricter for the election")
    assert st == 200, (st, b)
    assert b["version"] >= 1 and b["source"] == "stored" and b["by"] == "t-admin", b
    # the section is merged field by field: reject stays what it was
    assert b["policy"]["thresholds"] == {"hold": 0.05, "reject": 0.95}, b["policy"]["thresholds"]
    assert b["policy"]["words"]["blocked"] == ["casino", "buy followers", "viagr*"]
    # a plain comment (score 0.1) is now above the hold threshold, on the same instance right away
    assert decision("pol-a2") == "hold"
    g = get()
    assert g["version"] == b["version"] and g["policy"] == b["policy"], (g, b)
    back_to_file()
    assert decision("pol-a3") == "accept"


def test_invalid_policies_are_refused_naming_the_field_and_the_old_one_stays():
    st, b = put({"thresholds": {"hold": 0.7}}, note="base")
    assert st == 200, b
    before = get()
    nver = versions()["current_version"]
    cases = [
        ({"thresholds": {"hold": 0.9, "reject": 0.5}}, "thresholds", "must not be above"),
        ({"thresholds": {"hold": -0.2}}, "thresholds.hold", "between"),
        ({"thresholds": {"hodl": 0.3}}, "thresholds.hodl", "unknown field"),
        ({"rate_limits": {"ip": {"capacity": 10, "per_minute": -5}}}, "rate_limits.ip.per_minute", "between"),
        ({"rate_limits": {"ip": {"capacity": -1, "per_minute": 5}}}, "rate_limits.ip.capacity", "between"),
        ({"rate_limits": {"ip": {"capacity": 10}}}, "rate_limits.ip", "per_minute"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"keys": []}, "keys", "config file"),
        ({"bayes": {"model": "other"}}, "bayes.model", "config file"),
        ({"prior": "high"}, "prior", "must be a number"),
        ({"words": {"blocked": ["ok", ""]}}, "words.blocked[1]", ""),
        ({"weights": {"link": 99}}, "weights.link", "between"),
        ({"redis_down": "challenge"}, "redis_down", "accept"),
        ({"captcha": {"cost": 10}}, "captcha", "no captcha keys"),
        ({"links": {"max": "two"}}, "links.max", "whole number"),
        ({"rate_limits": None}, "rate_limits", "cannot be null"),
        ({"moderation": {"on_full": "drop"}}, "moderation.on_full", "evict"),
        ({"moderation": {"max_held": -1}}, "moderation.max_held", "between"),
    ]
    for pol, field, words in cases:
        st, b = put(pol)
        assert st == 400 and err_code(b) == "invalid_policy", (pol, st, b)
        assert b["error"]["field"] == field, (pol, b)
        assert words in b["error"]["message"], (pol, b)
        st, v = svc().request("POST", PATH + "/validate", {"policy": pol}, key=ADMIN_KEY)[:2]
        assert st == 400 and v["error"]["field"] == field, (pol, v)
    # malformed envelopes
    st, b, _ = svc().request("PUT", PATH, {"thresholds": {"hold": 0.3}}, key=ADMIN_KEY)
    assert st == 400 and err_code(b) == "unknown_field" and 'inside "policy"' in b["error"]["message"], b
    for body, code in [({"note": "no policy"}, "missing_field"), ({"policy": [1]}, "wrong_type"),
                       ({"policy": {}, "base_version": "x"}, "wrong_type"), ({"policy": {}, "extra": 1},
                                                                             "unknown_field"),
                       ({"policy": {}, "note": "n" * 501}, "wrong_type")]:
        st, b, _ = svc().request("PUT", PATH, body, key=ADMIN_KEY)
        assert st == 400 and err_code(b) == code, (body, st, b)
    st, b, _ = svc().request("PUT", PATH, "{not json", key=ADMIN_KEY, headers={"Content-Type": "application/json"})
    assert st == 400, (st, b)
    # a long non-ASCII field name: the message is cut short on a character boundary, still a 400
    st, b = put({"é" * 300: 1})
    assert st == 400 and err_code(b) == "invalid_policy" and b["error"]["field"].startswith("éé"), (st, b)
    after = get()
    assert after == before, (before, after)
    assert versions()["current_version"] == nver
    assert after["policy"]["thresholds"]["hold"] == 0.7
    back_to_file()


def checked(cid, body=None):
    st, r, _ = svc().check(comment(body, cid=cid, ip="192.0.2.%d" % (hash(cid) % 200 + 1)))
    assert st == 200, (st, r)
    return r["decision"], {x["code"]: x for x in r["reasons"]}


def test_premod_and_closed_hold_or_reject_whatever_the_score():
    """premod "all" holds a plain comment (reason premod, filter editorial),
    "links" holds only a comment with a link (premod_links), closed rejects
    (thread_closed, over premod); a blocked word still rejects under
    premod. Bad values are refused naming the field and the values."""
    assert checked("ed-0")[0] == "accept"
    st, b = put({"premod": "all"})
    assert st == 200 and b["policy"]["premod"] == "all" and b["policy"]["closed"] is False, (st, b)
    d, rs = checked("ed-1")
    assert d == "hold" and rs["premod"]["filter"] == "editorial", rs
    d, rs = checked("ed-2", "A casino offer for everyone reading this")
    assert d == "reject" and "blocked_word" in rs and "premod" in rs, rs
    st, b = put({"premod": "links"})
    assert st == 200, b
    d, rs = checked("ed-3")
    assert d == "accept" and "premod" not in rs and "premod_links" not in rs, rs
    d, rs = checked("ed-4", "The council minutes are at https://example.org/minutes if anyone wants them")
    assert d == "hold" and "1 link" in rs["premod_links"]["detail"], rs
    st, b = put({"closed": True})
    assert st == 200, b
    d, rs = checked("ed-5")
    assert d == "reject" and rs["thread_closed"]["filter"] == "editorial", rs
    for pol, words in (({"premod": "newcomers"}, "\"new\""), ({"premod": "some"}, "\"links\""),
                       ({"premod": 1}, "\"all\""), ({"closed": "yes"}, "")):
        st, b = put(pol)
        assert st == 400 and b["error"]["field"] == list(pol)[0] and words in b["error"]["message"], (pol, b)
    back_to_file()
    assert checked("ed-6")[0] == "accept"


def test_values_round_trip_exactly():
    """What GET shows is what was PUT, to the digit: the page sends it back whole."""
    st, b = put({"prior": 0.1234567, "rate_limits": {"ip": {"capacity": 1234567, "per_minute": 12.3456789}}})
    assert st == 200, b
    p = get()["policy"]
    assert p["prior"] == 0.1234567 and p["rate_limits"]["ip"] == {"capacity": 1234567, "per_minute": 12.3456789}, p
    back_to_file()


def test_base_version_detects_a_concurrent_edit():
    cur = get()["version"]
    st, b = put({"prior": 0.2}, base_version=cur + 1)  # a version this instance has not seen
    assert st == 409 and "not seen" in b["error"]["message"], b
    st, b = put({"prior": 0.2}, base_version=cur)
    assert st == 200 and b["version"] == cur + 1, b
    st, b = put({"prior": 0.3}, base_version=cur)  # edited the old version
    assert st == 409 and err_code(b) == "version_conflict" and b["error"]["current_version"] == cur + 1, b
    assert get()["policy"]["prior"] == 0.2
    back_to_file()


def test_versions_are_listed_and_any_can_be_made_current_again():
    st, one = put({"thresholds": {"hold": 0.3}}, note="v-one")
    st2, two = put({"thresholds": {"hold": 0.05}, "words": {"blocked": ["lottery"]}}, note="v-two")
    assert st == 200 and st2 == 200, (one, two)
    lst = versions(limit=2)
    vs = lst["versions"]
    assert lst["current_version"] == two["version"] and [v["version"] for v in vs] == [two["version"],
                                                                                      one["version"]], lst
    assert vs[0]["note"] == "v-two" and vs[0]["by"] == "t-admin" and vs[0]["at"].endswith("Z"), vs[0]
    assert vs[0]["policy"]["words"]["blocked"] == ["lottery"] and vs[1]["policy"]["thresholds"]["hold"] == 0.3
    # paging down to version 0, the config file
    seen, before = [], None
    while True:
        page = versions(limit=3, **({"before": before} if before else {}))
        seen += [v["version"] for v in page["versions"]]
        if "next_before" not in page:
            break
        before = page["next_before"]
    assert seen == list(range(two["version"], -1, -1)), seen
    assert decision("pol-v1", body="Best lottery tips in town, read them all") == "reject"
    st, r = svc().request("POST", PATH + "/revert", {"version": one["version"], "note": "too strict"},
                          key=ADMIN_KEY)[:2]
    assert st == 200 and r["reverted_from"] == one["version"] and r["version"] == two["version"] + 1, r
    assert r["policy"] == one["policy"], (r["policy"], one["policy"])
    assert versions(limit=1)["versions"][0]["reverted_from"] == one["version"]
    assert decision("pol-v2", body="Best lottery tips in town, read them all") == "accept"
    st, r = svc().request("POST", PATH + "/revert", {"version": 10 ** 6}, key=ADMIN_KEY)[:2]
    assert st == 404 and err_code(r) == "no_such_version", r
    # malformed reverts and version pages are refused with the problem named
    before = versions()["current_version"]
    for body, code in [({}, "missing_field"), ({"version": "1"}, "wrong_type"), ({"version": -1}, "wrong_type"),
                       ({"version": 1, "extra": True}, "unknown_field"), ({"version": 1, "base_version": "x"},
                                                                         "wrong_type")]:
        st, r = svc().request("POST", PATH + "/revert", body, key=ADMIN_KEY)[:2]
        assert st == 400 and err_code(r) == code, (body, st, r)
    for q in ("limit=0", "limit=x", "before=-1", "limit=101"):
        st, r, _ = svc().request("GET", PATH + "/versions?" + q, key=ADMIN_KEY)
        assert st == 400 and err_code(r) == "bad_parameter", (q, st, r)
    assert versions()["current_version"] == before  # nothing was stored
    back_to_file()
    g = get()
    assert g["source"] == "file" and g["policy"]["thresholds"]["hold"] == 0.5, g


def test_a_second_instance_sees_the_change_without_a_restart():
    c2 = copy.deepcopy(svc().config)
    c2["listen"] = "127.0.0.1:%d" % free_port()
    b2 = Service(svc().binary, ctx["tmp"], c2, name="second")
    b2.start()
    try:
        assert decision("pol-2a", s=b2) == "accept"
        t0 = time.monotonic()
        st, b = put({"thresholds": {"hold": 0.05}}, note="from instance one")
        assert st == 200, b
        assert wait_until(lambda: get(s=b2)["version"] == b["version"], 10), get(s=b2)
        seen_ms = (time.monotonic() - t0) * 1000
        print("  (second instance had the new version %.0f ms after the PUT was sent)" % seen_ms)
        assert get(s=b2)["policy"] == b["policy"]
        assert decision("pol-2b", s=b2) == "hold"
        # both instances say in /metrics which version they apply: an operator sees them agree
        for s in (svc(), b2):
            st, text, _ = s.request("GET", "/metrics", key=GLOBAL_ADMIN, raw=True)
            assert st == 200 and ('modgate_policy_version{site="news"} %d\n' % b["version"]) in text.decode(), text
        # and back, the other way round: a revert on the second instance reaches the first
        st, r = b2.request("POST", PATH + "/revert", {"version": 0}, key=ADMIN_KEY)[:2]
        assert st == 200, r
        assert wait_until(lambda: get()["version"] == r["version"], 10)
        assert decision("pol-2c") == "accept"
    finally:
        assert b2.stop() == 0, b2.logtext()[-2000:]


def test_reload_keeps_the_stored_policy_over_the_new_file():
    st, b = put({"thresholds": {"hold": 0.05}})
    assert st == 200, b
    c = copy.deepcopy(svc().config)
    c["sites"]["news"]["prior"] = 0.2               # a policy field: the stored policy wins
    c["sites"]["news"]["decision_ttl_s"] = 3600     # also a policy field
    svc().write_config(c)
    import signal
    svc().proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "config reloaded" in svc().logtext(), 10)
    g = get()
    assert g["version"] == b["version"] and g["policy"]["thresholds"]["hold"] == 0.05, g
    assert g["policy"]["prior"] == 0.1, g  # from the stored version, not the new file
    back_to_file()
    g = get()
    assert g["policy"]["prior"] == 0.2 and g["policy"]["decision_ttl_s"] == 3600, g  # the file applies again


def test_only_admin_keys_of_the_site_may_read_or_change_it():
    for key in (CMS_KEY, MOD_KEY):
        st, b, _ = svc().request("GET", PATH, key=key)
        assert st == 403 and err_code(b) == "wrong_role", (key, st, b)
        st, b, _ = svc().request("PUT", PATH, {"policy": {"prior": 0.5}}, key=key)
        assert st == 403, (key, st, b)
    st, b, _ = svc().request("GET", PATH, key=OTHER_ADMIN)  # another site's admin
    assert st == 403 and err_code(b) == "wrong_site", (st, b)
    st, b, _ = svc().request("PUT", PATH, {"policy": {"prior": 0.5}}, key=OTHER_ADMIN)
    assert st == 403, (st, b)
    st, b, _ = svc().request("GET", PATH)
    assert st == 401, (st, b)
    st, b, _ = svc().request("GET", "/v1/sites/nosuch/policy", key=GLOBAL_ADMIN)
    assert st == 404 and err_code(b) == "unknown_site", (st, b)
    # a top-level admin key may change any site; the change says who
    st, b = put({"prior": 0.15}, key=GLOBAL_ADMIN)
    assert st == 200 and b["by"] == "g-admin", b
    st, b, _ = svc().request("GET", "/v1/sites/other/policy", key=OTHER_ADMIN)
    assert st == 200 and b["policy"]["prior"] == 0.1, b  # the other site is untouched
    back_to_file()


def test_redis_stored_keys_and_redis_down():
    st, b = put({"prior": 0.12}, note="k")
    assert st == 200, b
    r = ctx["redis"]
    assert r.cmd("HGET", "mg:{news}:policy", "ver") == str(b["version"])
    assert r.cmd("HEXISTS", "mg:{news}:policy:log", str(b["version"])) == 1
    assert r.cmd("EXISTS", "mg:{other}:policy") == 0
    r.stop()
    try:
        st, e = put({"prior": 0.3})
        assert st == 503 and err_code(e) == "redis_unavailable", (st, e)
        assert get()["policy"]["prior"] == 0.12  # kept while Redis is away
        st, e, _ = svc().request("GET", PATH + "/versions", key=ADMIN_KEY)
        assert st == 503, (st, e)
    finally:
        r.start()
    assert wait_until(lambda: put({"prior": 0.1})[0] == 200, 10)
    back_to_file()


def test_an_instance_started_while_redis_is_down_gets_the_policy_later():
    st, b = put({"thresholds": {"hold": 0.05}}, note="while you were away")
    assert st == 200, b
    r = ctx["redis"]
    r.stop()
    c3 = copy.deepcopy(svc().config)
    c3["listen"] = "127.0.0.1:%d" % free_port()
    late = Service(svc().binary, ctx["tmp"], c3, name="late")
    try:
        late.start()  # serves with the file's policy meanwhile
        assert get(s=late)["version"] == 0
        assert "cannot read the stored policies" in late.logtext(), late.logtext()[-2000:]
    finally:
        r.start()
    try:
        assert wait_until(lambda: get(s=late)["version"] == b["version"], 15), get(s=late)
        assert get(s=late)["policy"]["thresholds"]["hold"] == 0.05
    finally:
        assert late.stop() == 0, late.logtext()[-2000:]
    back_to_file()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "modgate"))
    ap.add_argument("-k", default="", help="run only the tests whose name holds this")
    a = ap.parse_args()
    tmp = make_tmp()
    ctx["tmp"] = tmp
    r = Redis(tmp)
    r.start()
    ctx["redis"] = r
    c = base_config(r.port)
    c["admin_keys"] = [{"id": "g-admin", "role": "admin", "sha256": sha256(GLOBAL_ADMIN)}]
    c["sites"]["other"]["keys"].append({"id": "o-admin", "role": "admin", "sha256": sha256(OTHER_ADMIN)})
    s = Service(os.path.abspath(a.bin), tmp, c)
    s.start()
    ctx["svc"] = s
    return run_tests(globals(), s, r, a.k)


if __name__ == "__main__":
    sys.exit(main())
