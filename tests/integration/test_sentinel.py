#!/usr/bin/env python3
"""Redis Sentinel and redis.min_replicas_acked (api.md 5; issue 21): a real master, two
replicas and three redis-sentinel processes on loopback ports, and
modgate configured with the sentinels only (its redis.url names a closed
port) and redis.min_replicas_acked 1. modgate finds the master through
the sentinels, stores held comments there, follows a planned switch
(SENTINEL FAILOVER) and the master's death (SIGKILL) by itself, and every
held comment it answered as stored is on the master of the moment, as is
every one it answered "pending" once the spool stored it. Then, on a
master and a replica of their own, what min_replicas_acked does when the
replica stops acknowledging. Real processes, real HTTP. Prints "N
passed, N failed"."""
import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HeldLoad, ADMIN_KEY, CMS_KEY, MOD_KEY, ROOT, Redis, Sentinel, Service, base_config, comment,  # noqa: E402
                     no_starter, run_tests, sha256, start, wait_until)

ctx = {}
_n = [0]
OPS_KEY = "it-sentinel-ops-key-0123456789abcdef"


def redis_events():
    """modgate_redis_events_total by event, from /metrics."""
    st, text, _ = svc().request("GET", "/metrics", key=OPS_KEY, raw=True)
    assert st == 200, st
    text = text.decode() if isinstance(text, bytes) else text
    return {m[0]: int(float(m[1])) for m in re.findall(r'^modgate_redis_events_total\{event="(\w+)"\} (\S+)$', text,
                                                       re.M)}


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


def Load():
    return HeldLoad(svc().port, CMS_KEY)


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
    pending_before = len(ctx["pending"])
    with Load() as load:
        time.sleep(1)
        t0 = time.monotonic()
        assert ctx["sentinels"][0].cmd("SENTINEL", "FAILOVER", "mymaster") == "OK"
        assert wait_until(lambda: master_now() not in (None, old), 30), "no failover"
        other = master_now()
        ctx["stored"] += until_stored("SENTINEL FAILOVER", t0)
        time.sleep(1)
    load.report("SENTINEL FAILOVER")
    again = re.findall(r"redis: (\d+) held comments stored in the last", svc().logtext())
    print("     held comments sent to the new master again after the switch: %s" % (", ".join(again) or "none"))
    ev = redis_events()
    assert ev.get("master_moved", 0) >= 1 and ev.get("held_sent_again", 0) >= 1, ev
    assert not load.ids["other"], load.odd[:3]
    # +promoted-slave moves modgate to the new master as soon as it is one, and the replicas (repl-diskless-
    # sync-delay 0) resync at once: no check waited past the command timeout
    assert "redis: sentinel promoted 127.0.0.1:%d to replace master mymaster" % other.port in svc().logtext()
    assert not load.ids["pending"] and len(ctx["pending"]) == pending_before, \
        "%d checks answered pending in a planned switch" % (len(load.ids["pending"]) + len(ctx["pending"]) -
                                                            pending_before)
    ctx["stored"] += load.ids["stored"]
    ctx["pending"] += load.ids["pending"]
    assert wait_until(lambda: stored_on(other, ctx["stored"]), 10), "%d comments answered stored are not on the " \
        "master" % sum(other.cmd("EXISTS", "mg:{news}:c:" + c) == 0 for c in ctx["stored"])
    assert wait_until(lambda: stored_on(other, ctx["pending"]), 30), "a spooled comment never reached the master"
    assert wait_until(lambda: old.role() == "slave", 30)
    st, b = svc().request("GET", "/v1/sites/news/queue?order=newest&limit=100", key=MOD_KEY)[:2]
    assert st == 200 and b["counts"]["held"] >= len(set(ctx["stored"])), b["counts"]


def test_the_masters_death_is_followed():
    assert wait_until(master_now, 30)
    old = master_now()
    rest = [x for x in ctx["servers"] if x is not old]
    assert wait_until(lambda: all("master_link_status:up" in x.cmd("INFO", "replication") for x in rest), 30)
    r, cid = held()
    assert r["stored"] is True, r  # on a replica too: redis.min_replicas_acked 1
    ctx["stored"].append(cid)
    with Load() as load:
        time.sleep(1)
        t0 = time.monotonic()
        old.proc.send_signal(signal.SIGKILL)
        old.proc.wait(10)
        ctx["stored"] += until_stored("the master killed (down-after 1 s)", t0)
        time.sleep(1)
    load.report("the master killed")
    assert not load.ids["other"], load.odd[:3]
    ctx["stored"] += load.ids["stored"]
    ctx["pending"] += load.ids["pending"]
    other = master_now()
    assert other in rest
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
    for env, ok in (("1", True), ("16", True), ("17", False), ("-1", False), ("x", False)):
        out = subprocess.run([ctx["bin"], "config", "check", p], capture_output=True, text=True,
                             env=dict(os.environ, MODGATE_REDIS_MIN_REPLICAS_ACKED=env))
        assert (out.returncode == 0) == ok, (env, out.stdout, out.stderr)
        assert ok or "MODGATE_REDIS_MIN_REPLICAS_ACKED" in out.stdout + out.stderr, (env, out.stderr)
    cfg["redis"]["min_replicas_acked"] = 17
    with open(p, "w") as f:
        json.dump(cfg, f)
    out = subprocess.run([ctx["bin"], "config", "check", p], capture_output=True, text=True)
    assert out.returncode != 0 and "redis.min_replicas_acked" in out.stdout + out.stderr, out
    # the compose example's environment, with the example config
    with open(os.path.join(ROOT, "docker", "compose.sentinel.yaml")) as f:
        env = dict(re.findall(r'^\s+(MODGATE_REDIS_\w+): "?([^"\s#]+)"?', f.read(), re.M))
    assert set(env) == {"MODGATE_REDIS_URL", "MODGATE_REDIS_SENTINELS", "MODGATE_REDIS_MIN_REPLICAS_ACKED"}, env
    out = subprocess.run([ctx["bin"], "config", "check", os.path.join(ROOT, "docker", "modgate.example.json")],
                         capture_output=True, text=True, env=dict(os.environ, **env))
    assert out.returncode == 0, (env, out.stdout, out.stderr)


# ---------- redis.min_replicas_acked without Sentinel ----------

def pair():
    """A master and a replica of their own, and a modgate on the master
    with redis.min_replicas_acked 1 (made once; ctx["svc"] is it from
    then on)."""
    if "pair" not in ctx:
        tmp = ctx["tmp"]
        master = Redis(tmp, name="pair-master")
        master.start()
        replica = Redis(tmp, name="pair-replica", args=("--replicaof", "127.0.0.1", str(master.port)))
        replica.start()
        assert wait_until(lambda: "master_link_status:up" in replica.cmd("INFO", "replication"), 20)
        cfg = no_starter(base_config(master.port))
        cfg["admin_keys"] = [{"id": "ops", "role": "admin", "sha256": sha256(OPS_KEY)}]
        cfg["redis"]["min_replicas_acked"] = 1
        s = Service(ctx["bin"], tmp, copy.deepcopy(cfg), name="modgate-pair")
        s.start()
        ctx["pair"] = (master, replica, s)
        ctx["svc"] = s
    return ctx["pair"]


def on(server, cid):
    return server.cmd("HGET", "mg:{news}:c:" + cid, "state") == "held"


def spooled():
    return svc().request("GET", "/readyz")[1]["spooled_held_comments"]


def act(cid, action="approve"):
    return svc().request("POST", "/v1/sites/news/comments/%s/action" % urllib.parse.quote(cid, safe=""),
                         {"action": action}, key=MOD_KEY)[:2]


def test_replicas_stored_means_on_a_replica():
    """redis.min_replicas_acked 1: a held comment answered stored is on the
    replica, and an action is answered once the replica has it."""
    master, replica, _ = pair()
    r, cid = held()
    assert r["stored"] is True and not r["degraded"], r
    assert on(replica, cid)
    st, b = act(cid)
    assert st == 200, (st, b)


def test_replicas_that_do_not_acknowledge_make_it_not_stored():
    """The replica paused (SIGSTOP): a held comment is answered "stored":
    false, "pending": true and kept in the spool, an action and a policy
    version 503 ("may have been applied"); once the replica goes on, the
    spool stores the comment and new ones are stored again."""
    master, replica, _ = pair()
    keep = held()
    replica.proc.send_signal(signal.SIGSTOP)
    try:
        r, cid = held()
        # written on the master, but not acknowledged: not "stored", kept in the spool
        assert r["decision"] == "hold" and r["stored"] is False and r["pending"] is True, r
        assert on(master, cid)
        assert spooled() >= 1
        # an action, a policy version: written on the master, not confirmed
        st, b = act(keep[1])
        assert st == 503 and "may have been applied" in b["error"]["message"], (st, b)
        st, b = svc().request("PUT", "/v1/sites/news/policy", {"policy": {"prior": 0.11}}, key=ADMIN_KEY)[:2]
        assert st == 503, (st, b)
        assert "replicas acknowledged" in svc().logtext()
        assert redis_events().get("unacked_writes", 0) >= 1
    finally:
        replica.proc.send_signal(signal.SIGCONT)
    assert wait_until(lambda: spooled() == 0, 20), "the spool did not store it once the replica acknowledged"
    assert wait_until(lambda: on(replica, cid), 5)
    r, cid2 = held()
    assert r["stored"] is True and not r["degraded"], r
    # the action had been applied: shown again, it is approved
    st, b = act(keep[1])
    assert st == 409 and b["state"] == "approved", (st, b)
    st, b = act(cid2)
    assert st == 200, (st, b)


def main():
    only = start(ctx)
    ctx["redis"].stop()  # this test runs its own servers
    tmp = ctx["tmp"]
    # a replica resynced in full after a failover starts at once, not after diskless sync's default 5 s
    fast = ("--repl-diskless-sync-delay", "0")
    master = Redis(tmp, name="master", args=fast)
    master.start()
    replicas = [Redis(tmp, name="replica%d" % i, args=("--replicaof", "127.0.0.1", str(master.port)) + fast)
                for i in range(2)]
    for replica in replicas:
        replica.start()
    assert wait_until(lambda: all("master_link_status:up" in x.cmd("INFO", "replication") for x in replicas), 20)
    sentinels = [Sentinel(tmp, master.port, "sentinel%d" % i) for i in range(3)]
    for s in sentinels:
        s.start()
    assert wait_until(lambda: all(int(dict(zip(*[iter(s.cmd("SENTINEL", "master", "mymaster"))] * 2))
                                          ["num-other-sentinels"]) == 2 for s in sentinels), 30)
    ctx.update(master=master, sentinels=sentinels, servers=[master] + replicas, stored=[], pending=[])
    cfg = no_starter(base_config(1))  # a closed port: the master must come from the sentinels
    cfg["redis"]["sentinel"] = {"master": "mymaster", "nodes": ["127.0.0.1:%d" % s.port for s in sentinels]}
    cfg["admin_keys"] = [{"id": "ops", "role": "admin", "sha256": sha256(OPS_KEY)}]
    cfg["redis"]["min_replicas_acked"] = 1
    cfg["redis"]["command_timeout_ms"] = 1000
    s = Service(ctx["bin"], tmp, copy.deepcopy(cfg))
    s.start()
    ctx["svc"] = s
    rc = 1
    try:
        rc = run_tests(globals(), s, master, only, own=("test_replicas_stored_means_on_a_replica",
                                                        "test_replicas_that_do_not_acknowledge_make_it_not_stored"))
    finally:
        for x in sentinels + replicas + [master]:
            x.stop()
        if "pair" in ctx:
            m, r, p = ctx["pair"]
            r.proc.send_signal(signal.SIGCONT)
            if p.stop() != 0:
                print("FAIL the pair's modgate did not exit cleanly at SIGTERM\n" + p.logtext()[-3000:])
                rc = 1
            for x in (m, r):
                x.stop()
    return rc


if __name__ == "__main__":
    sys.exit(main())
