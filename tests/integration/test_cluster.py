#!/usr/bin/env python3
"""Redis Cluster (api.md 5; issue 21): three real masters, each with two
replicas, made by the test harness on loopback ports, and modgate given
only their addresses (redis.cluster; its redis.url names a closed port)
and redis.min_replicas_acked 1. Sites spread over the masters: each
site's checks, held comments, moderator actions, lessons, model sync and
/metrics work on its own master. Then, under load: a site's slot
migrated to another master (MOVED / ASK / TRYAGAIN followed, no check
fails), a planned failover (CLUSTER FAILOVER) and a master's death
(SIGKILL): every held comment modgate answered as stored is on the
master of the moment. Real processes, real HTTP. Prints "N passed, N
failed"."""
import copy
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CMS_KEY, MOD_KEY, Cluster, HeldLoad, Service, base_config, comment, no_starter,  # noqa: E402
                     run_tests, sha256, start, wait_until)

ctx = {}
_n = [0]
OPS_KEY = "it-cluster-ops-key-0123456789abcdef"


def svc():
    return ctx["svc"]


def cl():
    return ctx["cluster"]


def keys_of(site):
    return ("cl-%s-cms-key-0123456789abcdef" % site, "cl-%s-mod-key-0123456789abcdef" % site)


def slot(site):
    return Cluster.slot("{%s}" % site)


def metrics():
    st, text, _ = svc().request("GET", "/metrics", key=OPS_KEY, raw=True)
    assert st == 200, st
    return text.decode() if isinstance(text, bytes) else text


def held(site="news", word="crypto"):
    """A fresh comment the suspect word holds: (answer, id)."""
    _n[0] += 1
    cid = "cl-%d" % _n[0]
    st, r, _ = svc().check(comment("Is %s the answer, asks comment %d?" % (word, _n[0]), site=site, cid=cid),
                           key=keys_of(site)[0] if site != "news" else CMS_KEY)
    assert st == 200, (st, r)
    return r, cid


def stored_on(server, site, cids):
    try:
        return all(server.cmd("EXISTS", "mg:{%s}:c:%s" % (site, c)) == 1 for c in cids)
    except RuntimeError:  # MOVED: not this server's slot
        return False


def Load(site="news"):
    return HeldLoad(svc().port, CMS_KEY if site == "news" else keys_of(site)[0], site)


def test_sites_spread_over_the_masters():
    masters = {}
    for site in ctx["sites"]:
        m = cl().master_of(slot(site))
        masters.setdefault(m.port, []).append(site)
        r, cid = held(site)
        assert r["decision"] == "hold" and r["stored"] is True and not r["degraded"], (site, r)
        others = [x for x in cl().nodes[:3] if x is not m]
        assert stored_on(m, site, [cid]) and not any(stored_on(o, site, [cid]) for o in others), site
        key = MOD_KEY if site == "news" else keys_of(site)[1]
        st, b, _ = svc().request("POST", "/v1/sites/%s/comments/%s/action" % (site, cid), {"action": "spam"},
                                 key=key)
        assert st == 200 and b["state"] == "spam" and b["filter"] == "learned spam", (site, st, b)
    print("     sites by master: %s" % "; ".join("%d: %s" % (p, ", ".join(s)) for p, s in sorted(masters.items())))
    assert len(masters) == 3, masters
    text = metrics()
    for site in ctx["sites"]:  # /metrics reads every site's queue, one call per site's slot
        assert re.search(r'^modgate_queue_comments\{site="%s",state="spam"\} [1-9]' % site, text, re.M), site
    assert "modgate_redis_up 1" in text
    # Redis's settings are every master's: one that evicts makes the whole unsafe
    assert "modgate_redis_config_ok 1" in text, re.findall(r"^modgate_redis_\w+.*$", text, re.M)
    m = cl().master_of(slot("site0"))
    assert m.cmd("CONFIG", "SET", "maxmemory-policy", "allkeys-lru") == "OK"
    try:
        text = metrics()
        assert "modgate_redis_config_ok 0" in text and 'policy="allkeys-lru"' in text, \
            re.findall(r"^modgate_redis_\w+.*$", text, re.M)
    finally:
        m.cmd("CONFIG", "SET", "maxmemory-policy", "noeviction")
    used = int(re.search(r"^modgate_redis_used_memory_bytes (\d+)$", metrics(), re.M).group(1))
    assert used > 3 * int(re.search(r"used_memory:(\d+)", m.cmd("INFO", "memory")).group(1)) // 2, used
    # the lessons reached each site's model on its master, and this instance's copy followed them
    for site in ctx["sites"]:
        key = MOD_KEY if site == "news" else keys_of(site)[1]

        def learned():
            st, b, _ = svc().request("GET", "/v1/sites/%s/model" % site, key=key)
            return st == 200 and b["nspam"] >= 1
        assert wait_until(learned, 10), site
    assert "a script failed" not in svc().logtext()


def model_of(site):
    key = keys_of(site)[1]
    st, b, _ = svc().request("GET", "/v1/sites/%s/model" % site, key=key)
    assert st == 200, (st, b)
    return b


def test_a_shared_model_learns_from_each_sites_moderators():
    # sites pool-a and pool-b read and learn model "pool", whose keys ({pool}) are on a slot of their own: a
    # moderator's action moves the comment on its site's slot and teaches the model on the model's slot
    a, b = "pool-a", "pool-b"
    assert len({slot(a), slot(b), slot("pool")}) == 3
    n0 = model_of(a)["nspam"]
    cids = {}
    for site in (a, b):
        r, cid = held(site)
        assert r["stored"] is True, r
        st, body, _ = svc().request("POST", "/v1/sites/%s/comments/%s/action" % (site, cid), {"action": "spam"},
                                    key=keys_of(site)[1])
        assert st == 200 and body["state"] == "spam" and body["filter"] == "learned spam", (site, st, body)
        cids[site] = cid
    assert wait_until(lambda: model_of(a)["nspam"] == n0 + 2 and model_of(b)["nspam"] == n0 + 2, 10), \
        (model_of(a)["nspam"], n0)
    m = cl().master_of(slot(a))
    assert m.cmd("HLEN", "mg:{%s}:lessons" % a) == 0, "a taught lesson stays in the outbox"
    # a change of mind moves the lesson, the same way
    st, body, _ = svc().request("POST", "/v1/sites/%s/comments/%s/action" % (a, cids[a]), {"action": "approve", "from": "spam"},
                                key=keys_of(a)[1])
    assert st == 200 and body["state"] == "approved" and body["filter"] == "moved to ham", body
    assert wait_until(lambda: model_of(b)["nspam"] == n0 + 1, 10)
    # a lesson left in the outbox (the instance died between the two steps) is taught by the drain
    entry = json.dumps({"me": "mg:{%s}:left-1" % a, "was": "", "lfp": "", "teach": "spam",
                        "fp": "0123456789abcdef0123456789abcdef", "z": "", "at": 0, "ver": 2,
                        "toks": ["00000000000000a1", "00000000000000a2", "00000000000000a3"]})
    assert m.cmd("HSET", "mg:{%s}:lessons" % a, "left-1", entry) == 1
    assert wait_until(lambda: model_of(b)["nspam"] == n0 + 2, 15), "the drain did not teach the lesson left"
    assert wait_until(lambda: m.cmd("HLEN", "mg:{%s}:lessons" % a) == 0, 5)
    assert "taught model pool the lesson of comment left-1 left in the outbox" in svc().logtext()
    # one drained late, after a later version's lesson, is not taught: the model keeps the later one
    nham = model_of(b)["nham"]
    stale = json.loads(entry)
    stale.update(ver=1, teach="ham", was="spam", lfp=stale["fp"])
    assert m.cmd("HSET", "mg:{%s}:lessons" % a, "left-1", json.dumps(stale)) == 1
    assert wait_until(lambda: m.cmd("HLEN", "mg:{%s}:lessons" % a) == 0, 15), "the drain left a stale lesson"
    assert model_of(b)["nspam"] == n0 + 2 and model_of(b)["nham"] == nham, "a stale lesson undid a later one"


def test_the_command_line_tools_route_by_slot():
    # modgate learn (pipelined lessons), model export (SCAN of the model's documents) and model import, each
    # on the model's master, through the same routing
    sms = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "sms.jsonl")
    lines = open(sms, encoding="utf-8").read().splitlines()[:400]
    part = os.path.join(ctx["tmp"], "sms-400.jsonl")
    with open(part, "w") as f:
        f.write("\n".join(lines) + "\n")

    def cli(*args):
        p = subprocess.run([ctx["bin"]] + list(args), capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr
    rc, out, err = cli("learn", "--config", svc().path, "--site", "site0", part)
    assert rc == 0, (out, err)
    got = json.loads(out)
    assert got["errors"] == 0 and got["learned"] + got["moved"] + got["unchanged"] == 400, got
    rc, out, err = cli("model", "export", "--config", svc().path, "--site", "site0")
    assert rc == 0, err
    rows = [json.loads(x) for x in out.splitlines()]
    docs = [r for r in rows if "d" in r]
    assert rows[0]["model"] == "site0" and len(docs) == rows[0]["nspam"] + rows[0]["nham"] >= 390, rows[0]
    path = os.path.join(ctx["tmp"], "site0-model.jsonl")
    with open(path, "w") as f:
        f.write(out)
    m0, m1 = cl().master_of(slot("site0")), cl().master_of(slot("site1"))
    assert m0 is not m1
    before = int(m1.cmd("HGET", "mg:{site1}:bayes:meta", "nspam") or 0)
    rc, out, err = cli("model", "import", "--config", svc().path, "--site", "site1", path)
    assert rc == 0, (out, err)
    assert json.loads(out)["learned"] == len(docs), out
    assert int(m1.cmd("HGET", "mg:{site1}:bayes:meta", "nspam")) == before + rows[0]["nspam"]


def redis_events():
    """modgate_redis_events_total by event, from /metrics."""
    return {m[0]: int(float(m[1])) for m in re.findall(r'^modgate_redis_events_total\{event="(\w+)"\} (\S+)$',
                                                       metrics(), re.M)}


def test_a_slot_migrated_under_load():
    site = "news"
    s = slot(site)
    ev0 = redis_events()
    src = cl().master_of(s)
    dst = next(m for m in cl().nodes[:3] if m is not src)
    with Load(site) as load:
        time.sleep(0.5)
        t0 = time.monotonic()
        moved = cl().migrate_slot(s, dst, batch=10)  # as redis-cli --cluster reshard: 10 keys a MIGRATE
        took = time.monotonic() - t0
        time.sleep(0.5)
    load.report("slot %d of site %s moved from :%d to :%d (%d keys in %.0f ms)" % (s, site, src.port, dst.port,
                                                                                  moved, 1000 * took))
    assert moved > 0
    assert cl().master_of(s) is dst
    ev = redis_events()
    seen = {k: ev.get(k, 0) - ev0.get(k, 0) for k in ("moved", "ask", "tryagain")}
    print("     redirections followed: %s" % ", ".join("%s %d" % kv for kv in seen.items()))
    assert sum(seen.values()) >= 1, "no redirection seen: the migration was not exercised"
    assert not load.ids["other"], load.odd[:3]
    assert not load.ids["pending"], "a check failed while the slot moved: %d answered pending\n%s" % (
        len(load.ids["pending"]), "\n".join(l for l in svc().logtext().splitlines() if " warn " in l)[-3000:])
    assert stored_on(dst, site, load.ids["stored"]), "a comment answered stored is not on the slot's new master"
    r, cid = held(site)
    assert r["stored"] is True and stored_on(dst, site, [cid])


def replica_of(master):
    mid = cl().node_id(master)
    for n in cl().nodes:
        if n.proc is not None and n is not master:
            try:
                role = n.cmd("ROLE")
            except (OSError, RuntimeError):
                continue
            if role[0] == "slave" and role[2] == master.port:
                return n
    return None


def master_and_replica(site):
    """The master of the site's slot and a replica in sync with it."""
    old = cl().master_of(slot(site))
    rep = replica_of(old)
    assert rep is not None
    assert wait_until(lambda: rep.cmd("ROLE")[3] == "connected", 20)
    return old, rep


def test_a_planned_failover_loses_nothing():
    site = "news"
    _, rep = master_and_replica(site)
    with Load(site) as load:
        time.sleep(0.5)
        t0 = time.monotonic()
        assert rep.cmd("CLUSTER", "FAILOVER") == "OK"
        assert wait_until(lambda: cl().master_of(slot(site)) is rep, 20), "no failover"
        print("     CLUSTER FAILOVER: the replica was master after %.1f s" % (time.monotonic() - t0))
        time.sleep(1)
    load.report("CLUSTER FAILOVER")
    assert not load.ids["other"], load.odd[:3]
    degraded = re.findall(r"check degraded: (.*)", svc().logtext())
    print("     checks answered pending: %d%s" % (len(load.ids["pending"]), "".join(
        "\n       %s" % d for d in sorted(set(degraded))[:5])))
    # a batch whose WAIT reaches the old master once it is a replica cannot know its replicas took it: it is
    # answered pending (seen: 0 or 1 of ~500 checks), and the spool stores it
    assert len(load.ids["pending"]) <= 5, load.ids["pending"]
    assert wait_until(lambda: stored_on(rep, site, load.ids["stored"]), 10), "a comment answered stored is lost"
    assert wait_until(lambda: stored_on(rep, site, load.ids["pending"]), 30), "a pending comment was not stored"


def test_a_masters_death_is_followed():
    site = "news"
    old, rep = master_and_replica(site)
    with Load(site) as load:
        time.sleep(0.5)
        t0 = time.monotonic()
        old.proc.send_signal(signal.SIGKILL)
        old.proc.wait(10)
        old.proc = None
        assert wait_until(lambda: cl().master_of(slot(site)) not in (None, old), 30), "no failover"
        rep = cl().master_of(slot(site))

        def stored_again():
            r, cid = held(site)
            if r.get("stored") is True and not r["degraded"]:
                return cid
            assert r["pending"] is True, r  # spooled, not lost
            return None
        cid = wait_until(stored_again, 30, 0.1)
        assert cid, "modgate did not store a held comment again\n" + svc().logtext()[-3000:]
        print("     the master killed (cluster-node-timeout 1 s): stored again %.1f s after" % (
            time.monotonic() - t0))
        time.sleep(0.5)
    load.report("the master killed")
    assert not load.ids["other"], load.odd[:3]
    assert wait_until(lambda: stored_on(rep, site, load.ids["stored"] + [cid]), 10), \
        "a comment answered stored is not on the new master"
    # the spool stores what was answered pending, once Redis takes it again
    assert wait_until(lambda: stored_on(rep, site, load.ids["pending"]), 30), "a pending comment was not stored"


def test_bad_cluster_settings_are_named():
    bad = [
        ({"cluster": {"nodes": []}}, "redis.cluster.nodes"),
        ({"cluster": {"nodes": ["nohost"]}}, "redis.cluster.nodes"),
        ({"cluster": {"nodes": ["127.0.0.1:1"], "extra": 1}}, "redis.cluster"),
        ({"cluster": {"nodes": ["127.0.0.1:1"]}, "sentinel": {"master": "m", "nodes": ["127.0.0.1:2"]}},
         "redis.cluster"),
        ({"cluster": {"nodes": ["127.0.0.1:1"]}, "url": "redis://127.0.0.1:1/2"}, "redis.url"),
    ]
    for extra, name in bad:
        cfg = no_starter(base_config(1))
        cfg["redis"].update(extra)
        path = os.path.join(ctx["tmp"], "bad-cluster.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        p = subprocess.run([ctx["bin"], "config", "check", path], capture_output=True, text=True,
                           timeout=30)
        assert p.returncode != 0 and name in p.stderr, (extra, p.returncode, p.stderr)
    env = dict(os.environ, MODGATE_REDIS_CLUSTER="127.0.0.1:1,")
    cfg = no_starter(base_config(1))
    path = os.path.join(ctx["tmp"], "bad-cluster.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    p = subprocess.run([ctx["bin"], "config", "check", path], capture_output=True, text=True, timeout=30,
                       env=env)
    assert p.returncode != 0 and "MODGATE_REDIS_CLUSTER" in p.stderr, p.stderr


def test_started_before_its_cluster_it_recovers_by_itself():
    # its own cluster (no replicas) and instance: modgate up first, the cluster's nodes not yet listening
    own = Cluster(ctx["tmp"], masters=3, replicas=0, name="late")
    cfg = no_starter(base_config(1))
    cfg["redis"]["cluster"] = {"nodes": ["127.0.0.1:%d" % own.nodes[0].port]}
    s = Service(ctx["bin"], ctx["tmp"], cfg, name="late")
    s.start()
    try:
        st, r, _ = s.check(comment("Is crypto the answer, asks the first comment?", cid="late-1"))
        assert st == 200 and r["decision"] == "hold" and r["stored"] is False and r["pending"] is True, r
        st, b, _ = s.request("GET", "/readyz")
        assert st == 503 and b["redis"] == "down" and "no master known yet" in b["error"], b
        own.start()
        t0 = time.monotonic()
        assert wait_until(lambda: s.request("GET", "/readyz")[0] == 200, 30), "not ready once the cluster is up"
        print("     ready %.1f s after the cluster said cluster_state:ok" % (time.monotonic() - t0))
        m = own.master_of(slot("news"))
        assert wait_until(lambda: m.cmd("EXISTS", "mg:{news}:c:late-1") == 1, 30), "the spooled comment was not stored"
        st, r, _ = s.check(comment("Is crypto the answer, asks the second comment?", cid="late-2"))
        assert r["stored"] is True and not r["degraded"], r
    finally:
        rc = s.stop()
        own.stop()
    assert rc == 0, s.logtext()[-2000:]


def pick_sites(cluster_masters):
    """news plus sites named so that every master serves at least two."""
    sites, per = ["news"], {}
    i = 0
    while min(per.get(k, 0) for k in range(cluster_masters)) < 2 and i < 1000:
        name = "site%d" % i
        i += 1
        k = slot(name) * cluster_masters // 16384
        if per.get(k, 0) < 2:
            per[k] = per.get(k, 0) + 1
            sites.append(name)
    return sites


def main():
    only = start(ctx)
    ctx["redis"].stop()  # this test runs its own servers
    tmp = ctx["tmp"]
    cluster = Cluster(tmp, masters=3, replicas=2, node_timeout_ms=1000)
    t0 = time.monotonic()
    cluster.start()
    print("     cluster of 3 masters and 6 replicas up in %.1f s" % (time.monotonic() - t0))
    ctx["cluster"] = cluster
    cfg = no_starter(base_config(1))  # a closed port: the masters come from the cluster
    cfg["redis"]["cluster"] = {"nodes": cluster.seeds()[:2]}
    cfg["redis"]["min_replicas_acked"] = 1
    cfg["redis"]["command_timeout_ms"] = 1000
    cfg["admin_keys"] = [{"id": "ops", "role": "admin", "sha256": sha256(OPS_KEY)}]
    ctx["sites"] = pick_sites(3)
    for site in ctx["sites"][1:] + ["pool-a", "pool-b"]:
        s = copy.deepcopy(cfg["sites"]["news"])
        cms, mod = keys_of(site)
        s["keys"] = [{"id": site + "-cms", "role": "cms", "sha256": sha256(cms)},
                     {"id": site + "-mod", "role": "moderator", "sha256": sha256(mod)}]
        cfg["sites"][site] = s
        if site.startswith("pool-"):
            s["bayes"] = {"model": "pool"}
    s = Service(ctx["bin"], tmp, copy.deepcopy(cfg))
    s.start()
    ctx["svc"] = s
    rc = 1
    try:
        rc = run_tests(globals(), s, cluster.nodes[0], only,
                       own=("test_started_before_its_cluster_it_recovers_by_itself",))
    finally:
        cluster.stop()
    return rc


if __name__ == "__main__":
    sys.exit(main())
