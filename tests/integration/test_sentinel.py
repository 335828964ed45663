#!/usr/bin/env python3
"""Redis Sentinel (api.md 5, redis.sentinel; issue 21): a real master, a
replica and three redis-sentinel processes on loopback ports, and modgate
configured with the sentinels only (its redis.url names a closed port).
modgate finds the master through the sentinels, stores held comments
there, follows a planned switch (SENTINEL FAILOVER) and the master's
death (SIGKILL) by itself, and every held comment it answered as stored
is on the master of the moment. Real processes, real HTTP. Prints "N
passed, N failed"."""
import copy
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MOD_KEY, Redis, Sentinel, Service, base_config, comment, no_starter, run_tests,  # noqa: E402
                     start, wait_until)

ctx = {}
_n = [0]


def svc():
    return ctx["svc"]


def by_port(port):
    return next(r for r in ctx["servers"] if r.port == port)


def master_now():
    """The server all three sentinels name as master (None while they
    disagree, during a failover)."""
    names = {s.master() for s in ctx["sentinels"]}
    return by_port(names.pop()[1]) if len(names) == 1 else None


def held(body_word="crypto"):
    """A fresh comment the suspect word holds: (answer, id)."""
    _n[0] += 1
    cid = "sen-%d" % _n[0]
    st, r, _ = svc().check(comment("Is %s the answer, asks comment %d?" % (body_word, _n[0]), cid=cid))
    assert st == 200, (st, r)
    return r, cid


def stored_on(server, cids):
    return all(server.cmd("EXISTS", "mg:{news}:c:" + c) == 1 for c in cids)


def until_stored(what, since):
    """Checks every 0.1 s until one is answered stored (not degraded):
    its id. Prints how long after 'since' (time.monotonic()) that was, and
    how many were answered "pending" (spooled) before."""
    ok, pending = [], ctx["pending"]
    before = len(pending)

    def one():
        r, cid = held()
        if r.get("stored") is True and not r["degraded"]:
            ok.append(cid)
            return True
        assert r["decision"] == "hold" and r["stored"] is False and r["pending"] is True, r  # spooled, not lost
        pending.append(cid)
        return False
    assert wait_until(one, 30, 0.1), "modgate did not store a held comment again"
    print("     %s: stored again %.1f s after, %d checks answered pending before" % (
        what, time.monotonic() - since, len(pending) - before))
    return ok


def test_the_master_comes_from_the_sentinels():
    r, cid = held()
    assert r["decision"] == "hold" and r["stored"] is True and not r["degraded"], r
    m = master_now()
    assert m is ctx["master"] and stored_on(m, [cid])
    ctx["stored"].append(cid)
    assert "the sentinels name 127.0.0.1:%d as master mymaster" % m.port in svc().logtext()


def test_a_planned_switch_is_followed():
    old = master_now()
    assert old is not None
    other = ctx["replica"] if old is ctx["master"] else ctx["master"]
    t0 = time.monotonic()
    assert ctx["sentinels"][0].cmd("SENTINEL", "FAILOVER", "mymaster") == "OK"
    assert wait_until(lambda: master_now() is other, 30), "no failover"
    ctx["stored"] += until_stored("SENTINEL FAILOVER", t0)
    assert wait_until(lambda: stored_on(other, ctx["stored"]), 10)
    assert wait_until(lambda: old.cmd("ROLE")[0] == "slave", 30)
    st, b = svc().request("GET", "/v1/sites/news/queue?limit=100", key=MOD_KEY)[:2]
    assert st == 200 and set(ctx["stored"]) <= {c["id"] for c in b["items"]}, b


def test_the_masters_death_is_followed():
    assert wait_until(master_now, 30)
    old = master_now()
    other = ctx["replica"] if old is ctx["master"] else ctx["master"]
    assert wait_until(lambda: other.cmd("INFO", "replication").find("master_link_status:up") >= 0, 30)
    r, cid = held()
    assert r["stored"] is True, r
    ctx["stored"].append(cid)
    # What modgate answered stored has reached the replica: the test waits
    # for it here (redis.min_replicas_acked, which makes modgate wait, is
    # not built yet)
    assert old.cmd("WAIT", 1, 2000) == 1
    t0 = time.monotonic()
    old.proc.send_signal(signal.SIGKILL)
    old.proc.wait(10)
    ctx["stored"] += until_stored("the master killed (down-after 1 s)", t0)
    assert master_now() is other
    assert stored_on(other, ctx["stored"]), "a comment answered stored is not on the new master"
    # the ones answered "pending" were spooled: the spool stores them there
    assert wait_until(lambda: stored_on(other, ctx["pending"]), 30), "a spooled comment never reached the master"


def test_bad_sentinel_settings_are_named():
    """config check names the field (or the variable) of every bad setting,
    and never prints the sentinels' password."""
    tmp = ctx["tmp"]
    bad = [({"master": "", "nodes": ["127.0.0.1:26379"]}, "redis.sentinel.master"),
           ({"master": "my master", "nodes": ["127.0.0.1:26379"]}, "redis.sentinel.master"),
           ({"master": "m", "nodes": []}, "redis.sentinel.nodes"),
           ({"master": "m", "nodes": ["127.0.0.1"]}, "redis.sentinel.nodes"),
           ({"master": "m", "nodes": ["127.0.0.1:0"]}, "redis.sentinel.nodes"),
           ({"master": "m", "nodes": ["[::1:26379"]}, "redis.sentinel.nodes"),
           ({"master": "m", "nodes": ["h:1"] * 9}, "redis.sentinel.nodes"),
           ({"master": "m", "nodes": ["h:1"], "pasword": "x"}, "redis.sentinel"),
           ({"master": "m", "nodes": ["h:1"], "password": 7}, "redis.sentinel.password")]
    for sn, want in bad:
        cfg = base_config(1)
        cfg["redis"]["sentinel"] = dict(sn)
        if "password" not in sn:
            cfg["redis"]["sentinel"]["password"] = "sentinel-secret-pw"
        p = os.path.join(tmp, "bad-sentinel.json")
        with open(p, "w") as f:
            json.dump(cfg, f)
        out = subprocess.run([ctx["bin"], "config", "check", p], capture_output=True, text=True)
        text = out.stdout + out.stderr
        assert out.returncode != 0 and want in text and "sentinel-secret-pw" not in text, (sn, text)
    cfg = base_config(1)
    p = os.path.join(tmp, "env-sentinel.json")
    with open(p, "w") as f:
        json.dump(cfg, f)
    for env, ok in (("mymaster@127.0.0.1:26379,[::1]:26380", True), ("mymaster", False), ("@h:1", False),
                    ("m@h:1,", False), ("m@h:x", False)):
        out = subprocess.run([ctx["bin"], "config", "check", p], capture_output=True, text=True,
                             env=dict(os.environ, MODGATE_REDIS_SENTINELS=env))
        assert (out.returncode == 0) == ok, (env, out.stdout, out.stderr)
        assert ok or "MODGATE_REDIS_SENTINELS" in out.stdout + out.stderr, (env, out.stderr)


def main():
    only = start(ctx)
    ctx["redis"].stop()  # this test runs its own servers
    tmp = ctx["tmp"]
    master = Redis(tmp, name="master")
    master.start()
    replica = Redis(tmp, name="replica", args=("--replicaof", "127.0.0.1", str(master.port)))
    replica.start()
    assert wait_until(lambda: "master_link_status:up" in replica.cmd("INFO", "replication"), 20)
    sentinels = [Sentinel(tmp, master.port, "sentinel%d" % i) for i in range(3)]
    for s in sentinels:
        s.start()
    assert wait_until(lambda: all(int(dict(zip(*[iter(s.cmd("SENTINEL", "master", "mymaster"))] * 2))
                                          ["num-other-sentinels"]) == 2 for s in sentinels), 30)
    ctx.update(master=master, replica=replica, sentinels=sentinels, servers=[master, replica], stored=[], pending=[])
    cfg = no_starter(base_config(1))  # a closed port: the master must come from the sentinels
    cfg["redis"]["sentinel"] = {"master": "mymaster", "nodes": ["127.0.0.1:%d" % s.port for s in sentinels]}
    s = Service(ctx["bin"], tmp, copy.deepcopy(cfg))
    s.start()
    ctx["svc"] = s
    try:
        return run_tests(globals(), s, master, only)
    finally:
        for x in sentinels + [replica, master]:
            x.stop()


if __name__ == "__main__":
    sys.exit(main())
