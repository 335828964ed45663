#!/usr/bin/env python3
"""The Redis scripts of service/redis/lua, each run alone against a real
redis-server with `redis-cli --eval`, assembled as the build assembles them
(harness.lua_scripts: the Makefile's LUA_SCRIPTS, helpers of lib/ first):
the main path of each, with the reply and the keys it wrote checked, the
arguments built as the C that calls it builds them. Also: luacheck passes
over the scripts, and the binary under test loads exactly these texts at
connect (SCRIPT EXISTS of their SHA1s). Prints "N passed, N failed"."""
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, Service, base_config, lua_scripts, run_each, start, wait_until  # noqa: E402

CTX = {}
DAY_MS = 86400000


def run(name, keys=(), args=()):
    """Run script NAME with redis-cli --eval; its reply, decoded from
    redis-cli's JSON (RESP2: nil is None). A Redis error fails the test."""
    path = os.path.join(CTX["tmp"], name + ".lua")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(CTX["scripts"][name])
    args = [str(a) for a in args]
    assert "," not in list(keys) + args, "redis-cli --eval cannot pass a lone ','"
    p = subprocess.run(["redis-cli", "-p", str(CTX["redis"].port), "-2", "--json", "--eval", path] + list(keys) +
                       [","] + args, capture_output=True, text=True, timeout=60)
    out = p.stdout.strip()
    assert p.returncode == 0 and out and not out.startswith("error"), (name, p.returncode, out[:2000], p.stderr)
    return json.loads(out)


def r(*a):
    return CTX["redis"].cmd(*a)


def now_ms():
    s, us = r("TIME")
    return int(s) * 1000 + int(us) // 1000


def item_json(body_fp, thread, author, net, codes, score=0.7):
    """A held comment's stored item as check.c writes it: the index line
    last (queue_index_line)."""
    ix = "%.4f|%s|%s|%s|%s|%s" % (score, body_fp, thread, author, net, ",".join(codes))
    return json.dumps({"request": {"body": "buy cheap pills"}, "score": score,
                       "reasons": [{"code": c} for c in codes]}, separators=(",", ":"))[:-1] + ',"ix":"%s"}' % ix


def hold(site, cid, ms, body_fp="00ff", cap=0, refuse="0", late="0", replace="0", score=0.7):
    """The hold script with the arguments store.c's push_hold sends."""
    p = "mg:{%s}:" % site
    rec = '{"decision":"hold","id":"%s","body_fp":"%s"}' % (cid, body_fp)
    item = item_json(body_fp, "th1", "au1", "203.0.113.0/24", ["link_many", "caps"], score)
    return run("HOLD_LUA", [p + "dec:" + cid, p + "c:" + cid, p + "q:held"],
               [rec, 3600000, item, ms, cid, replace, cap, refuse, DAY_MS, DAY_MS, DAY_MS, late]), rec, item


def held_in(site, cid):
    """The sets held comment cid of hold() is in."""
    p = "mg:{%s}:q:held" % site
    return {k: r("ZSCORE", k, cid) is not None for k in
            (p, p + ":byscore", p + ":t:th1", p + ":a:au1", p + ":n:203.0.113.0/24", p + ":r:link_many", p + ":r:caps")}


# ---------- store.c ----------

def test_check_takes_a_token_from_each_bucket_and_holds():
    """One check with its 6 buckets (the API key's and the five kinds)
    and a held comment: a token from each, the decision record, the
    duplicate entry and the held comment with its indexes; the same check
    again replays the record."""
    site, cid, ms = "chk", "c1", now_ms()
    p = "mg:{%s}:" % site
    t = now_ms() // 1000
    e, w = t // 3600, t // 600
    keys = [p + "rl:3600:%d" % (e - 2 + i) for i in range(4)] + [p + "dups:600:%d" % (w - 2 + i) for i in range(4)]
    keys += [p + "rep", p + "dec:" + cid, p + "c:" + cid, p + "q:held"]
    fields = ["api:t-cms", "ip:203.0.113.7", "ip_prefix:203.0.113.0/24", "author:au1", "thread:th1", "site:chk"]
    item = item_json("00ff", "th1", "au1", "203.0.113.0/24", ["link_many", "caps"])
    head, tail = '{"decision":"hold","rate_limit":', ',"id":"c1","body_fp":"00ff"}'
    args = [3600, e] + [10, 1] * 6 + [600, w, 0, "0", DAY_MS, DAY_MS, DAY_MS, 3, "0", 7, 3, 1]
    args += ["1", 600000, "203.0.113.7", "au1", head, tail, 3600, 0, item, ms, "0", cid, "fp1", "012345",
             "203.0.113.0/24", "0-h-", 0, "", "", ""] + fields
    assert run("CHECK_LUA", keys, args) == [["ok", 1, 9, 1, 1, 1, 0, 0, 0, ""]]
    cur = next(k for k in keys[2:4] if r("EXISTS", k))  # epoch e, or e+1 if one began meanwhile
    for f in fields:
        tok, at = struct.unpack("<dd", CTX["redis"].cmd_raw("HGET", cur, f))
        assert tok == 9 and at >= ms, (f, tok, at)
    rec = head + '{"limited":false,"bucket":"ip","remaining":9}' + tail
    assert r("GET", p + "dec:" + cid) == rec
    assert 0 < r("TTL", p + "dec:" + cid) <= 3600
    dcur = next(k for k in keys[6:8] if r("EXISTS", k))
    assert not r("EXISTS", p + "rep")  # no reputation rule, nothing counted
    assert re.fullmatch(r"i203\.0\.113\.7 \d+;aau1 \d+;", r("HGET", dcur, "fp1")), r("HGET", dcur, "fp1")
    h = dict(zip(*[iter(r("HGETALL", p + "c:" + cid))] * 2))
    assert (h["state"], h["score"], h["at"], h["since"], h["ver"], h["bfp"], h["item"]) == \
        ("held", "0.7000", str(ms), str(ms), "1", "00ff", item), h
    assert h["ix"] == "th1|au1|203.0.113.0/24|link_many,caps", h
    assert all(held_in(site, cid).values()), held_in(site, cid)
    assert sorted(r("SMEMBERS", p + "codes")) == ["caps", "link_many"]
    # the same check again: a token from the API key's bucket, then the record
    assert run("CHECK_LUA", keys, args) == [["replay", rec]]
    assert 8 <= struct.unpack("<dd", CTX["redis"].cmd_raw("HGET", cur, "api:t-cms"))[0] < 9  # refilled since
    assert struct.unpack("<dd", CTX["redis"].cmd_raw("HGET", cur, "ip:203.0.113.7"))[0] == 9


def test_hold_stores_item_queue_entry_and_record():
    """hold: the item, its queue entries and the decision record; a retry
    changes nothing; at a cap of one a second comment evicts the first to
    spam (history, audit and event written)."""
    site, ms = "hold", now_ms()
    p = "mg:{%s}:" % site
    rc, rec, item = hold(site, "h1", ms)
    assert rc == 1
    assert r("GET", p + "dec:h1") == rec and 0 < r("PTTL", p + "dec:h1") <= 3600000
    assert r("HMGET", p + "c:h1", "state", "item", "at", "ver") == ["held", item, str(ms), "1"]
    assert r("ZSCORE", p + "q:held", "h1") == str(ms)
    assert all(held_in(site, "h1").values())
    assert hold(site, "h1", ms)[0] == 0                 # the same body again: a retry
    assert hold(site, "h1", ms - 1000, late="1")[0] == 0  # an older late copy
    assert r("HGET", p + "c:h1", "ver") == "1"
    # the cap: h2 evicts h1, the only held comment
    assert hold(site, "h2", ms + 1, body_fp="0a0a", cap=1)[0] == 2
    assert r("HMGET", p + "c:h1", "state", "by", "ver") == ["spam", "modgate", "2"]
    assert not any(held_in(site, "h1").values()) and r("ZSCORE", p + "q:spam", "h1") is not None
    assert json.loads(r("LRANGE", p + "h:h1", 0, -1)[0])["action"] == "overflow"
    assert r("XLEN", p + "audit") == 1 and r("XLEN", p + "events") == 1
    # refused at the cap: nothing written
    assert hold(site, "h3", ms + 2, body_fp="0b0b", cap=1, refuse="1")[0] == -1
    assert r("EXISTS", p + "c:h3", p + "dec:h3") == 0


def test_risk_counts_a_challenge():
    """risk: counts a challenge of a network this minute, adds the last
    minute's, and sums the spam of this and the last hour."""
    p = "mg:{risk}:"
    keys = [p + "ch:2", p + "ch:1", p + "sp:b", p + "sp:a"]
    r("HSET", keys[1], "198.51.100.0/24", 4)
    r("HSET", keys[2], "198.51.100.0/24", 2)
    r("HSET", keys[3], "198.51.100.0/24", 3)
    assert run("RISK_LUA", keys, ["198.51.100.0/24"]) == [5, 5]
    assert run("RISK_LUA", keys, ["198.51.100.0/24"]) == [6, 5]
    assert r("HGET", keys[0], "198.51.100.0/24") == "2" and 0 < r("TTL", keys[0]) <= 130
    assert run("RISK_LUA", keys, ["192.0.2.0/24"]) == [1, 0]


# ---------- bayesdb.c ----------

def test_learn_and_snapshot():
    """learn: a spam comment's tokens counted once, its document and an
    event written; the same again is unchanged, as ham it moves; the
    snapshot gives the stream's last id and the model's seq."""
    m = "mg:{lm}:bayes:"
    keys = [m + "spam", m + "ham", m + "meta", m + "doc:fp1", m + "events", m + "calib", m + "calib:order"]
    toks = ["%016x" % (0x1111 * i) for i in range(1, 4)]
    assert run("LEARN_LUA", keys, ["learn", "spam", 3, 5000, "", 2000] + toks) == ["learned", 1, 0, 1, "spam"]
    assert r("HGETALL", m + "spam") == sum(([t, "1"] for t in toks), [])
    assert r("GET", m + "doc:fp1") == "spam:" + "".join(toks)
    assert r("HMGET", m + "meta", "nspam", "nham", "seq", "tok_version") == ["1", "0", "1", "3"]
    assert run("LEARN_LUA", keys, ["learn", "spam", 3, 5000, "", 2000] + toks) == ["unchanged", 1, 0, 1, "spam"]
    assert run("LEARN_LUA", keys, ["learn", "ham", 3, 5000, "", 2000] + toks) == ["moved", 0, 1, 2, "ham"]
    assert r("EXISTS", m + "spam") == 0 and r("HLEN", m + "ham") == 3
    assert run("LEARN_LUA", keys, ["learn", "ham", 4, 5000, "", 2000] + toks) == ["version", 3]
    assert r("EXISTS", m + "calib") == 0  # no score given: no calibration entry
    last = r("XREVRANGE", m + "events", "+", "-", "COUNT", 1)[0][0]
    assert run("LEARN_SNAPSHOT_LUA", [m + "events", m + "meta"]) == [last, "2"]
    assert run("LEARN_SNAPSHOT_LUA", ["mg:{none}:bayes:events", "mg:{none}:bayes:meta"]) == ["0-0", "0"]


def test_learn_records_calibration_entries_bounded():
    """learn with a score records fingerprint -> "z label" and counts it
    in meta (and the event); a class move relabels the entry keeping its
    z, an unlearn removes it; past the bound the oldest entries go first,
    their labels' counts with them."""
    m = "mg:{cm}:bayes:"

    def keys(fp):
        return [m + "spam", m + "ham", m + "meta", m + "doc:" + fp, m + "events", m + "calib", m + "calib:order"]

    def learn(fp, label, z, op="learn", cmax=3):
        return run("LEARN_LUA", keys(fp), [op, label, 3, 5000, z, cmax] + ["%016x" % (len(fp) + 1), fp.rjust(16, "0")])

    def counts():
        return r("HMGET", m + "meta", "calib_spam", "calib_ham", "calib_n")
    assert learn("f1", "spam", "2.5")[0] == "learned"
    assert learn("f2", "ham", "-1.5")[0] == "learned"
    assert r("HGETALL", m + "calib") == ["f1", "2.5 spam", "f2", "-1.5 ham"]
    assert counts() == ["1", "1", "2"]
    ev = r("XREVRANGE", m + "events", "+", "-", "COUNT", 1)[0][1]
    assert dict(zip(ev[::2], ev[1::2]))["calib_ham"] == "1", ev
    assert learn("f2", "spam", "9")[0] == "moved"          # relabelled; the z before any learn stays
    assert r("HGET", m + "calib", "f2") == "-1.5 spam" and counts() == ["2", "0", "3"]
    assert learn("f2", "", "", op="unlearn")[0] == "unlearned"
    assert r("HEXISTS", m + "calib", "f2") == 0 and counts() == ["1", "0", "4"]
    for i, fp in enumerate(["f3", "f4", "f5"]):              # bound 3: f1 (the oldest) goes
        assert learn(fp, "ham", str(-i))[0] == "learned"
    assert sorted(r("HKEYS", m + "calib")) == ["f3", "f4", "f5"], r("HGETALL", m + "calib")
    assert r("ZRANGE", m + "calib:order", 0, -1) == ["f3", "f4", "f5"]
    assert counts() == ["0", "3", "8"]
    assert learn("f6", "spam", "")[0] == "learned"          # no score: nothing recorded
    assert r("HEXISTS", m + "calib", "f6") == 0 and counts() == ["0", "3", "8"]


# ---------- queue.c ----------

def test_queue_action_moves_a_held_comment():
    """fetch, then act: a held comment approved leaves the held sets for
    the approved ones (history, audit entry and event written); marked spam
    with teach it is learned once; get, list and stream show it."""
    site, ms = "act", now_ms()
    p = "mg:{%s}:" % site
    assert hold(site, "a1", ms)[0] == 1
    assert run("QUEUE_FETCH_LUA", [], [p, "ids", "a1", "nope"])[0][:3] == ["a1", "held", "1"]
    assert run("QUEUE_FETCH_LUA", [], [p, "ids", "nope"]) == [["nope"]]
    assert run("QUEUE_FETCH_LUA", [], [p, "index", "held", "a", "au1", 10])[0][:2] == ["a1", "held"]
    m = "mg:{am}:bayes:"
    keys = [p + "c:a1", m + "spam", m + "ham", m + "meta", m + "doc:fpa", m + "events", m + "doc:fpa",
            m + "calib", m + "calib:order"]

    def act(action, to, frm, ver, teach, toks=()):
        return run("QUEUE_ACT_LUA", keys, [p, "a1", action, to, frm, ver, "t-mod", "looks fine", "", teach, 3, 5000,
                                           DAY_MS, DAY_MS, DAY_MS, "fpa", "1.25", 2000] + list(toks))
    out = act("approve", "approved", "held", "1", "")
    assert out[:5] == ["ok", "held", "approved", 2, out[4]] and out[7] == "nothing", out
    assert not any(held_in(site, "a1").values())
    pa = p + "q:approved"
    for k in (pa, pa + ":t:th1", pa + ":a:au1", pa + ":n:203.0.113.0/24", pa + ":r:link_many", pa + ":r:caps"):
        assert r("ZSCORE", k, "a1") == str(out[4]), k
    assert r("HMGET", p + "c:a1", "state", "ver", "by") == ["approved", "2", "t-mod"]
    assert json.loads(r("LRANGE", p + "h:a1", 0, -1)[0])["to"] == "approved"
    assert r("XRANGE", p + "audit", out[5], out[5])[0][1][:4] == ["id", "a1", "action", "approve"]
    assert r("XRANGE", p + "events", out[6], out[6])[0][1][:4] == ["id", "a1", "state", "approved"]
    assert act("approve", "approved", "held", "1", "") == ["conflict", "approved", "2"]
    # spam, teaching the filter: learned under the comment's fingerprint
    toks = ["%016x" % (0xabc * i) for i in range(1, 3)]
    out = act("spam", "spam", "approved", "2", "spam", toks)
    assert out[:4] == ["ok", "approved", "spam", 3] and out[7] == "learned spam", out
    assert r("HMGET", m + "meta", "nspam", "seq") == ["1", "1"] and r("HLEN", m + "spam") == 2
    assert r("SMEMBERS", m + "qref:fpa") == [p + "a1"]
    assert r("HGET", m + "calib", "fpa") == "1.25 spam"  # its score before the lesson, recorded with it
    assert r("HMGET", m + "meta", "calib_spam", "calib_ham", "calib_n") == ["1", "0", "1"]
    assert r("HMGET", p + "c:a1", "learned", "lfp") == ["spam", "fpa"]
    # get and list see it; the events stream has both changes
    h, hist, rep = run("QUEUE_GET_LUA", [], [p, "a1", 7])
    assert dict(zip(h[::2], h[1::2]))["state"] == "spam" and len(hist) == 2
    # its author's and network's reputation: approved, then moved to spam
    day = now_ms() // 86400000
    assert r("HGET", p + "rep", "a:au1") == "n 0 0 1 %d:0:0:1" % day, r("HGETALL", p + "rep")
    assert r("HGET", p + "rep", "n:203.0.113.0/24") == "n 0 0 1 %d:0:0:1" % day
    assert rep[:14] == ["n", "0", "0", "1", "0", "0", "1", "", "0", "0", "1", "0", "0", "1"], rep
    assert rep[14:16] == ["a1", "spam"], rep
    assert run("QUEUE_GET_LUA", [], [p, "none", 7]) == [[], [], []]
    items, page, counts, rc = run("QUEUE_LIST_LUA", [], [p, "spam", "0", 10, "", "", "", "", 100, "1", "a", "au1"])
    assert [i[:2] for i in items] == [["a1", "spam"]] and page[2:] == [1, 1, 1], (items, page)
    assert counts == [0, 0, 0, 1, 0] and dict(zip(rc[::2], rc[1::2])) == {"caps": 1, "link_many": 1}, (counts, rc)
    lost, entries = run("QUEUE_STREAM_LUA", [], [p + "events", "", "0", 10])
    assert lost == 0 and [e[1][3] for e in entries] == ["approved", "spam"]
    assert run("QUEUE_STREAM_LUA", [], [p + "events", "1-1", "1", 10])[0] == 1  # a trimmed cursor


def test_queue_migrate_moves_the_first_format():
    """migrate: a held comment of the first format (a string and its
    q:held entry) becomes a comment hash with its index, once."""
    p = "mg:{mig}:"
    old = '{"request":{"body":"x"},"state":"held","decision":"hold","score":0.9100,"reasons":[{"code":"caps"}]}'
    r("SET", p + "held:o1", old)
    r("ZADD", p + "q:held", 1700000000000, "o1")
    assert run("QUEUE_MIGRATE_LUA", [], [p, 0]) == [1, 0, -1]
    h = dict(zip(*[iter(r("HGETALL", p + "c:o1"))] * 2))
    assert (h["state"], h["score"], h["at"], h["ix"]) == ("held", "0.9100", "1700000000000", "|||caps"), h
    assert h["item"].endswith(',"ix":"0.9100|||||caps"}') and '"state":"held"' not in h["item"], h["item"]
    assert r("EXISTS", p + "held:o1") == 0 and r("GET", p + "migrated") == "1"
    assert r("ZSCORE", p + "q:held:byscore", "o1") is not None and r("ZSCORE", p + "q:held:r:caps", "o1")
    # a held comment missing from the eviction index is added
    r("ZREM", p + "q:held:byscore", "o1")
    assert run("QUEUE_MIGRATE_LUA", [], [p, 0]) == [0, 1, -1]


# ---------- policy.c, tuning.c, metrics.c ----------

def test_policy_scripts():
    """put (versions from 1, a stale base refused), poll, fetch and list."""
    keys = ["mg:{pa}:policy", "mg:{pa}:policy:log"]
    assert run("POLICY_PUT_LUA", keys, ["", '{"threshold":0.8}', "t-admin", 1000, '{"n":1}']) == [1, 1]
    assert run("POLICY_PUT_LUA", keys, ["1", '{"threshold":0.7}', "t-admin", 2000, '{"n":2}']) == [1, 2]
    assert run("POLICY_PUT_LUA", keys, ["1", '{"threshold":0.6}', "t-admin", 3000, '{"n":3}']) == [0, 2]
    assert run("POLICY_POLL_LUA", [keys[0], "mg:{pb}:policy"]) == ["2", "0"]
    assert run("POLICY_FETCH_LUA", [keys[0], "mg:{pb}:policy"]) == ["2", '{"threshold":0.7}', "t-admin", "2000",
                                                                    "", "", "", ""]
    assert run("POLICY_LIST_LUA", keys, [0, 10]) == [2, 2, '{"n":2}', 1, '{"n":1}']
    assert run("POLICY_LIST_LUA", keys, [2, 10]) == [2, 1, '{"n":1}']


def test_webhooks_script_keeps_each_subjects_order_across_leases():
    """webhooks.lua: route marks the site and queues each subject's events
    in order; a claim's lease can be taken over when it runs out, and the
    late holder's outcome is then "stale" and changes nothing; only the
    holder's "ok" makes the next event due; hk_add writes nothing for a
    site without the mark."""
    p = "mg:{whs}:"
    e1 = r("XADD", p + "hooks", "*", "t", "held", "comment_id", "c1", "state", "held")
    e2 = r("XADD", p + "hooks", "*", "t", "decided", "comment_id", "c1", "state", "approved")
    e3 = r("XADD", p + "hooks", "*", "t", "author_changed", "author_key", "k1", "status", "banned")
    assert run("WEBHOOKS_LUA", [], [p, "route", 2, "w1", "held,decided", "w2", "author_changed"]) == [3]
    assert r("GET", p + "hooks:on") == "1" and r("GET", p + "hooks:routed") == e3
    assert r("LRANGE", p + "wh:w1:q:c:c1", 0, -1) == [e1, e2] and r("LRANGE", p + "wh:w2:q:a:k1", 0, -1) == [e3]
    assert run("WEBHOOKS_LUA", [], [p, "route", 2, "w1", "held,decided", "w2", "author_changed"]) == [0]
    a = run("WEBHOOKS_LUA", [], [p, "claim", "w1", 1, 10])  # a lease of 1 ms: it runs out at once
    assert a[:3] == ["c:c1", e1, "0"] and a[4:] == [6, "t", "held", "comment_id", "c1", "state", "held"], a
    time.sleep(0.01)
    b = run("WEBHOOKS_LUA", [], [p, "claim", "w1", 60000, 10])  # taken over, with a new token
    assert b[:3] == ["c:c1", e1, "0"] and b[3] != a[3], (a, b)
    assert run("WEBHOOKS_LUA", [], [p, "claim", "w1", 60000, 10]) == []  # held by b now
    done = [p, "done", "w1", "c:c1", e1]
    log = ["held", 1, 200, 5, ""]
    assert run("WEBHOOKS_LUA", [], done + [a[3], "ok", 0] + log) == ["stale"]
    assert r("LRANGE", p + "wh:w1:q:c:c1", 0, -1) == [e1, e2]  # the late "ok" moved nothing
    assert run("WEBHOOKS_LUA", [], [p, "claim", "w1", 60000, 10]) == []
    assert run("WEBHOOKS_LUA", [], done + [b[3], "retry", 60000] + log) == ["ok"]
    assert r("HGET", p + "wh:w1:tries", e1) == "1" and run("WEBHOOKS_LUA", [], [p, "claim", "w1", 60000, 10]) == []
    r("ZADD", p + "wh:w1:ready", 0, "c:c1")  # its retry is due
    c = run("WEBHOOKS_LUA", [], [p, "claim", "w1", 60000, 10])
    assert c[:3] == ["c:c1", e1, "1"], c
    assert run("WEBHOOKS_LUA", [], done + [c[3], "ok", 0] + log) == ["ok"]
    d = run("WEBHOOKS_LUA", [], [p, "claim", "w1", 60000, 10])
    assert d[:2] == ["c:c1", e2] and d[5:] == ["t", "decided", "comment_id", "c1", "state", "approved"], d
    assert run("WEBHOOKS_LUA", [], [p, "claim", "w2", 60000, 10])[:2] == ["a:k1", e3]
    outcomes = [e[1][e[1].index("outcome") + 1] for e in r("XRANGE", p + "hooks:log", "-", "+")]
    assert outcomes == ["stale", "retry", "ok"], outcomes
    # a site without the mark gets nothing in its outbox
    q = "mg:{nohooks}:"
    run("AUTHORS_LUA", [], [q, "k9", 7, "put", "b", '{"status":"banned"}', DAY_MS, "t-mod", ""])
    assert r("EXISTS", q + "hooks") == 0
    r("SET", q + "hooks:on", "1")
    run("AUTHORS_LUA", [], [q, "k9", 7, "put", "n", '{"status":"normal"}', DAY_MS, "t-mod", ""])
    assert r("XLEN", q + "hooks") == 1


def test_threads_scripts():
    """put (a new thread refused at the cap, a known one replaced; an ended
    one pruned first; delete), poll and fetch."""
    keys = ["mg:{th}:threads", "mg:{th}:threads:ends", "mg:{th}:threads:ver"]
    later = now_ms() + 3600000
    assert run("THREADS_PUT_LUA", keys, ["s1", '{"premod":"all"}', later, 2]) == [1, 1, 0]
    assert run("THREADS_PUT_LUA", keys, ["s2", '{"closed":true}', 0, 2]) == [1, 2, 0]
    assert run("THREADS_PUT_LUA", keys, ["s3", '{"closed":true}', 0, 2]) == [0, 2]  # the cap: nothing written
    assert run("THREADS_PUT_LUA", keys, ["s1", '{"premod":"links"}', 0, 2]) == [1, 3, 1]  # known: replaced
    assert r("ZCARD", keys[1]) == 0  # no end any more
    r("HSET", keys[0], "old", '{"closed":true}')
    r("ZADD", keys[1], 1000, "old")  # ended long ago
    assert run("THREADS_PUT_LUA", keys, ["s2", "", 0, 2]) == [1, 4, 1]  # deleted, "old" pruned first: one change
    assert r("HKEYS", keys[0]) == ["s1"] and r("ZCARD", keys[1]) == 0
    assert run("THREADS_POLL_LUA", [keys[2], "mg:{none}:threads:ver"]) == ["4", "0"]
    assert run("THREADS_FETCH_LUA", keys[0:1] + keys[2:3]) == ["4", "s1", '{"premod":"links"}']
    assert run("THREADS_FETCH_LUA", ["mg:{none}:threads", "mg:{none}:threads:ver"]) == ["0"]


def test_tuning_labelled_and_metrics_depth():
    """labelled: a state's decided comments in a window, newest first,
    skipping one no longer in that state; depth: four counts per site."""
    p = "mg:{tun}:"
    for cid, since, state in (("d1", 1000, "approved"), ("d2", 2000, "approved"), ("d3", 3000, "spam")):
        r("HSET", p + "c:" + cid, "item", '{"i":"%s"}' % cid, "since", since, "state", state)
        r("ZADD", p + "q:approved", since, cid)
    r("ZADD", p + "q:held", 1, "h9")
    assert run("TUNING_LABELLED_LUA", [], [p, 0, 5000, "approved", 0, 10]) == [
        3, "d2", '{"i":"d2"}', "2000", "d1", '{"i":"d1"}', "1000"]
    assert run("TUNING_LABELLED_LUA", [], [p, 2500, 5000, "approved", 0, 10]) == [1]  # d3: spam now
    assert run("METRICS_DEPTH_LUA", [p, "mg:{none}:"], []) == [1, 3, 0, 0, 0, 0, 0, 0, 0, 0]


# ---------- the build and lint agree ----------

def test_binary_loads_these_scripts():
    """The binary under test loads at connect exactly the texts assembled
    here (the same SHA1s), so what the tests above ran is what it runs."""
    redis = CTX["redis"]
    redis.cmd("SCRIPT", "FLUSH")  # forget what the tests above ran (EVAL caches too)
    svc = Service(CTX["bin"], CTX["tmp"], base_config(redis.port))
    svc.start()
    try:
        # loaded at connect, or run at start (the snapshot at a model's
        # load, the migration, the policy poll every 200 ms); the policy
        # API's, tuning's and /metrics' scripts are loaded once first used
        at_start = ["CHECK_LUA", "HOLD_LUA", "RISK_LUA", "LEARN_LUA", "LEARN_SNAPSHOT_LUA", "QUEUE_LIST_LUA",
                    "QUEUE_GET_LUA", "QUEUE_FETCH_LUA", "QUEUE_ACT_LUA", "QUEUE_STREAM_LUA", "QUEUE_MIGRATE_LUA",
                    "POLICY_POLL_LUA", "THREADS_POLL_LUA"]
        shas = [hashlib.sha1(CTX["scripts"][n].encode()).hexdigest() for n in at_start]
        ok = wait_until(lambda: all(redis.cmd("SCRIPT", "EXISTS", *shas)), 15)
        assert ok, dict(zip(at_start, redis.cmd("SCRIPT", "EXISTS", *shas)))
    finally:
        assert svc.stop() == 0


def test_luacheck_passes():
    """luacheck (make lint's settings, .luacheckrc) over the scripts."""
    exe = shutil.which("luacheck")
    assert exe, "luacheck missing: `make deps-test` installs it (Debian's lua-check)"
    p = subprocess.run([exe, "-qq", "--no-color", os.path.join("service", "redis", "lua")], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]


if __name__ == "__main__":
    only = start(CTX)
    CTX["scripts"] = lua_scripts()
    rc = run_each(globals(), only)
    CTX["redis"].stop()
    sys.exit(rc)
