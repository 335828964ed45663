#!/usr/bin/env python3
"""Spool tests: held comments kept while Redis is down are stored in
batches once it is back (a backlog of thousands under a check load, with
the drain rate printed), taken over from the journal of a crashed or
killed instance without `spool import` (also when several live instances
share the spool directory, and when a PID is used again), and kept in
private files (0600, and no symlink followed in /tmp). Each test starts
its own redis-server and modgate. Prints "N passed, N failed".

`--drain N` sets the backlog of the drain test (default 4000) and
`--drain-wait S` how long it may take (default 60 s): a bound on waiting,
set far above what the batched spool needs; the rate is printed, never
asserted."""
import argparse
import glob
import http.client
import json
import multiprocessing
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CMS_KEY, MOD_KEY, ROOT, Redis, Service, base_config, comment, make_tmp, run_each,  # noqa: E402
                     wait_until)

BIN = None
DRAIN_N = 4000
DRAIN_WAIT = 60.0


class Env:
    """A fresh redis-server + modgate for one test (modgate not started
    when start=False, so that a test can start it its own way)."""

    def __init__(self, start=True, name="modgate", tmp=None, redis=None, **cfg):
        self.tmp = tmp or make_tmp()
        self.redis = redis or Redis(self.tmp)
        if not redis:
            self.redis.start()
        config = base_config(self.redis.port)
        config.update(cfg)
        self.svc = Service(BIN, self.tmp, config, name=name)
        if start:
            self.svc.start()

    def close(self):
        rc = self.svc.stop()
        self.redis.stop()
        if rc not in (0, None):  # None: the test stopped it itself
            print("service exit status %s; log tail:\n%s" % (rc, self.svc.logtext()[-3000:]))
        return rc


def journals(tmp):
    return sorted(glob.glob(os.path.join(tmp, "modgate-spool-*.jsonl")))


def journal_ids(path):
    with open(path) as f:
        return [json.loads(x)["id"] for x in f if x.strip()]


def hold(s, cid, text=None):
    """A comment held while Redis is down: acknowledged as pending."""
    text = text or "Nothing special in comment %s, just a few words about it" % cid
    st, body, _ = s.check(comment(text, cid=cid))
    assert st == 200 and body["decision"] == "hold" and body["degraded"] is True, body
    assert body["stored"] is False and body["pending"] is True, body
    return body


def not_held(r, ids, site="news"):
    """The ids whose comment is not in Redis as a held comment (the item
    and its place in the held queue)."""
    states = r.pipeline([("HGET", "mg:{%s}:c:%s" % (site, i), "state") for i in ids])
    scores = r.pipeline([("ZSCORE", "mg:{%s}:q:held" % site, i) for i in ids])
    return [i for i, st, sc in zip(ids, states, scores) if st != "held" or sc is None]


def spooled(s):
    st, body, _ = s.request("GET", "/readyz")
    return body["spooled_held_comments"]


def load_process(port, k, stop, counts):
    """One client process of the check load (several, so that the load is
    not bounded by one Python interpreter): 8 threads, each sending
    ordinary comments on its own keep-alive connection until 'stop' is
    set; adds its (checks answered by Redis, failures, seconds spent on
    them) to 'counts'."""
    ok, bad, spent = [0], [0], [0.0]
    lock = threading.Lock()

    def client(t):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        hdr = {"Authorization": "Bearer " + CMS_KEY, "Content-Type": "application/json"}
        i = 0
        while not stop.is_set():
            i += 1
            body = json.dumps(comment("Load comment %d-%d-%d, thanks for the article on page %d" % (k, t, i, i),
                                      ip="198.18.%d.%d" % (k * 8 + t, i % 250)))
            t0 = time.monotonic()
            try:
                conn.request("POST", "/v1/check", body=body, headers=hdr)
                r = conn.getresponse()
                answer = json.loads(r.read())
                good = r.status == 200 and answer["degraded"] is False
            except Exception:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                good = None
            with lock:
                if good:
                    ok[0] += 1
                    spent[0] += time.monotonic() - t0
                elif good is None:
                    bad[0] += 1
    threads = [threading.Thread(target=client, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with counts.get_lock():
        counts[0] += ok[0]
        counts[1] += bad[0]
        counts[2] += spent[0]


def test_a_backlog_is_stored_under_check_load():
    """Thousands of held comments spooled while Redis is down are all
    stored once it is back, while 24 clients keep sending checks; the
    journal is emptied. Prints the drain rate (asserting only that all
    are stored within the generous --drain-wait bound)."""
    n = DRAIN_N
    env = Env(start=False, spool_max=n + 1000)
    s, r = env.svc, env.redis
    s.start()
    stop = multiprocessing.Event()
    try:
        assert s.check(comment())[1]["degraded"] is False  # connected once
        r.stop()
        ids = ["drain-%d" % i for i in range(n)]
        t0 = time.monotonic()
        retries = fill(s, ids)
        print("     spooled %d held comments in %.1f s%s" % (n, time.monotonic() - t0, " (%d sent again after a "
              "dropped connection: %s)" % (len(retries), retries[0]) if retries else ""))
        assert spooled(s) == n

        # The check load: 3 processes of 8 clients, started while Redis
        # is still down, running until the spool is empty.
        counts = multiprocessing.Array("d", 3)
        procs = [multiprocessing.Process(target=load_process, args=(s.port, k, stop, counts)) for k in range(3)]
        for p in procs:
            p.start()
        time.sleep(0.5)
        r.start()
        t0 = time.monotonic()
        ok = wait_until(lambda: spooled(s) == 0, DRAIN_WAIT, step=0.02)
        took = time.monotonic() - t0
        stop.set()
        for p in procs:
            p.join(60)
        left = spooled(s)
        answered, failed, spent = counts[:]
        print("     drained %d comments in %.2f s: %.0f comments/s, while %d checks were answered by Redis "
              "(%.0f/s, mean %.1f ms)%s" % (
                  n - left, took, (n - left) / took, answered, answered / took, 1000 * spent / max(answered, 1),
                  "" if ok else "; %d still waiting" % left))
        assert ok, "%d of %d still in the spool after %.0f s" % (left, n, DRAIN_WAIT)
        assert failed == 0, "%d checks of the load failed" % failed
        assert answered > 0, "no check ran against Redis during the drain: no check load"
        missing = not_held(r, ids)
        assert not missing, (len(missing), missing[:5])
        assert all(os.path.getsize(j) == 0 for j in journals(env.tmp)), journals(env.tmp)
    finally:
        stop.set()
        rc = env.close()
    assert rc == 0, rc


def test_a_late_copy_never_undoes_what_happened_since():
    """Comments that come back from a journal late (a taken-over or
    imported copy) are stored only if they are newer than what Redis has:
    an edit accepted since, a moderator's decision and a copy already
    stored stay as they are, while a comment edited while Redis was down
    replaces the older decision it was edited after."""
    env = Env()
    s, r = env.svc, env.redis
    copy = os.path.join(env.tmp, "late", "copy.jsonl")
    try:
        # 'late-c' was accepted before the outage; its edit comes during it
        st, body, _ = s.check(comment("A plain remark about the bridge works, nothing more to it", cid="late-c"))
        assert st == 200 and body["decision"] == "accept", body
        r.stop()
        for cid in ("late-a", "late-b", "late-c"):
            hold(s, cid)
        os.makedirs(os.path.dirname(copy))
        shutil.copy(journals(env.tmp)[0], copy)
        r.start()
        assert wait_until(lambda: spooled(s) == 0 and not not_held(r, ["late-a", "late-b", "late-c"]), 20)
        # since: 'late-a' is edited and accepted, 'late-b' approved
        st, body, _ = s.check(comment("An edited, friendlier version of what I wrote above", cid="late-a"))
        assert st == 200 and body["decision"] == "accept" and body["degraded"] is False, body
        ver = r.cmd("HGET", "mg:{news}:c:late-b", "ver")
        st, body, _ = s.request("POST", "/v1/sites/news/comments/late-b/action",
                                {"action": "approve", "version": int(ver)}, key=MOD_KEY)
        assert st == 200, body
        def fields(k):
            kv = r.cmd_raw("HGETALL", "mg:{news}:c:" + k)
            return dict(zip(kv[::2], kv[1::2]))
        before = {k: fields(k) for k in ("late-a", "late-b", "late-c")}
        dec_a = r.cmd("GET", "mg:{news}:dec:late-a")
        p = subprocess.run([BIN, "spool", "import", "--config", s.path, copy], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0 and "0 stored, 3 already stored" in p.stdout, (p.stdout, p.stderr)
        after = {k: fields(k) for k in ("late-a", "late-b", "late-c")}
        assert after == before, (before, after)
        assert r.cmd("HGET", "mg:{news}:c:late-b", "state") == "approved"
        assert r.cmd("HGET", "mg:{news}:c:late-a", "state") in (None, "approved", "rejected", "spam")
        assert r.cmd("ZSCORE", "mg:{news}:q:held", "late-a") is None
        assert r.cmd("GET", "mg:{news}:dec:late-a") == dec_a
        # the edit of 'late-c' made during the outage is held, over the
        # older "accept"
        item = json.loads(r.cmd("HGET", "mg:{news}:c:late-c", "item"))
        assert item["comment"]["body"].startswith("Nothing special"), item
        assert json.loads(r.cmd("GET", "mg:{news}:dec:late-c"))["decision"] == "hold"
    finally:
        env.close()


def test_a_full_redis_makes_the_spool_wait_not_give_up():
    """Redis back but refusing writes for a while (full under noeviction:
    OOM) is not a refusal for good: the spooled comments wait, nothing
    goes to the refused file, and all are stored once Redis has room."""
    env = Env()
    s, r = env.svc, env.redis
    try:
        r.stop()
        ids = ["oom-%d" % i for i in range(3)]
        for cid in ids:
            hold(s, cid)
        r.args = ["--maxmemory", "1", "--maxmemory-policy", "noeviction"]
        r.start()
        # the flusher meets OOM again and again (Redis counts its refusals)
        def ooms():
            m = re.search(r"errorstat_OOM:count=(\d+)", r.cmd("INFO", "errorstats"))
            return int(m.group(1)) if m else 0
        assert wait_until(lambda: ooms() >= 3 or spooled(s) < 3, 20), ooms()
        assert spooled(s) == 3, spooled(s)
        assert not glob.glob(os.path.join(env.tmp, "modgate-refused-*")), os.listdir(env.tmp)
        r.cmd("CONFIG", "SET", "maxmemory", "0")
        assert wait_until(lambda: spooled(s) == 0, 20)
        assert not not_held(r, ids), not_held(r, ids)
    finally:
        env.close()


def fill(s, ids, threads=8):
    """Hold every id while Redis is down, from 'threads' clients; a
    dropped connection is answered by sending the same comment again, as
    a CMS would (it waits once in the spool). Returns the resends."""
    errors, retries = [], []

    def filler(k):
        for i in ids[k::threads]:
            for _ in range(5):
                try:
                    hold(s, i)
                    break
                except (ConnectionError, http.client.HTTPException) as e:
                    retries.append(repr(e))
                except Exception as e:  # an answer that is not "pending"
                    errors.append(repr(e))
                    break
            else:
                errors.append("no answer for %s" % i)
    ts = [threading.Thread(target=filler, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(600)
    assert not errors, errors[:3]
    return retries


def test_a_backlog_goes_to_redis_in_batches():
    """1000 spooled comments reach Redis in a few writes, not one round
    trip each: Redis's read events from its start until all are stored
    (its INFO counter, which the restart zeroes; connects, pings and this
    test's own polling included) stay far below one per comment."""
    n = 1000
    env = Env()
    s, r = env.svc, env.redis
    try:
        r.stop()
        ids = ["batch-%d" % i for i in range(n)]
        fill(s, ids)
        assert spooled(s) == n
        r.start()
        assert wait_until(lambda: r.cmd("ZCARD", "mg:{news}:q:held") == n, 60, step=0.2), s.logtext()[-2000:]
        info = r.cmd("INFO", "stats")
        reads = int(re.search(r"total_reads_processed:(\d+)", info).group(1))
        print("     %d comments stored with %d Redis read events in all" % (n, reads))
        assert reads < n // 3, reads
        assert not not_held(r, ids)
        assert wait_until(lambda: spooled(s) == 0, 10)
    finally:
        rc = env.close()
    assert rc == 0, rc


def spool_and_kill(env, ids):
    """Redis stopped, 'ids' held and acknowledged as pending, modgate
    killed -9 (no shutdown code runs). Returns its journal, which holds
    exactly them."""
    env.redis.stop()
    for i in ids:
        hold(env.svc, i)
    env.svc.stop(signal.SIGKILL)
    [old] = journals(env.tmp)
    assert journal_ids(old) == ids
    return old


def test_a_restart_after_kill_stores_the_spool_without_import():
    """Redis down, comments acknowledged as pending, modgate killed -9. A
    new modgate on the same spool directory stores them once Redis is
    back: no `spool import`. Lines of its journal that are no comment (a
    torn last line) are kept in the refused file, not dropped."""
    env = Env()
    s, r = env.svc, env.redis
    try:
        ids = ["kill-%d" % i for i in range(5)]
        old = spool_and_kill(env, ids)
        junk = ["not json\n", '{"site":"news","id":"torn-off","decision_ttl_s":8']
        with open(old, "a") as f:
            f.write("".join(junk))
        s.start()
        assert not os.path.exists(old), "the dead instance's journal was not taken over"
        assert "took over 5 held comments from %s" % old in s.logtext(), s.logtext()[-2000:]
        [refused] = glob.glob(os.path.join(env.tmp, "modgate-refused-*.jsonl"))
        assert open(refused).read() == junk[0] + junk[1] + "\n"
        assert stat.S_IMODE(os.stat(refused).st_mode) == 0o600
        r.start()
        assert wait_until(lambda: not not_held(r, ids), 20), (not_held(r, ids), s.logtext()[-2000:])
        assert wait_until(lambda: spooled(s) == 0, 10)
    finally:
        rc = env.close()
    assert rc == 0, rc
    assert not journals(env.tmp)  # a clean stop with nothing waiting removes the journal


FAILING_SYNC = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
/* fdatasync fails as on a failing disk: for the spool's sync calls */
int fdatasync(int fd) { (void)fd; errno = EIO; return -1; }
"""


def test_a_disk_that_fails_to_sync_costs_no_crash_at_start():
    """A dead journal with an unreadable line, taken over while the disk
    fails every sync (fdatasync made to fail by a preloaded shim): the
    refused file cannot be made durable, so the journal stays for later,
    and the service starts and serves (it used to close that file twice
    and abort, at every start)."""
    env = Env()
    s, r = env.svc, env.redis
    try:
        old = spool_and_kill(env, ["sync-0"])
        with open(old, "a") as f:
            f.write("not json\n")
        shim = os.path.join(env.tmp, "failsync.so")
        src = shim[:-3] + ".c"
        with open(src, "w") as f:
            f.write(FAILING_SYNC)
        subprocess.run(["cc", "-shared", "-fPIC", "-o", shim, src], check=True)
        s.start(env={"LD_PRELOAD": shim, "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
                     ":verify_asan_link_order=0"})
        assert s.request("GET", "/healthz")[0] == 200
        assert os.path.exists(old), "the journal went though its bad line was not kept"
        assert "cannot keep the unreadable lines" in s.logtext(), s.logtext()[-2000:]
    finally:
        rc = env.close()
    assert rc == 0, rc


def test_live_instances_share_a_spool_dir_and_the_survivor_takes_over():
    """Two live instances (and a third started later) on one spool
    directory: none takes another's live journal. One is killed -9: the
    survivor takes its journal over and stores its comments, each once."""
    a = Env(name="a")
    r, tmp = a.redis, a.tmp
    b = Env(name="b", tmp=tmp, redis=r)
    c = None
    try:
        r.stop()
        a_ids = ["a-%d" % i for i in range(4)]
        b_ids = ["b-%d" % i for i in range(4)]
        for i in range(4):
            hold(a.svc, a_ids[i])
            hold(b.svc, b_ids[i])
        assert len(journals(tmp)) == 2
        # A third instance starts: it looks at both journals and takes neither.
        c = Env(name="c", tmp=tmp, redis=r)
        assert "took over" not in c.svc.logtext(), c.svc.logtext()[-2000:]
        assert sorted(journal_ids(j)[0][0] for j in journals(tmp)) == ["a", "b"]
        assert spooled(a.svc) == 4 and spooled(b.svc) == 4 and spooled(c.svc) == 0
        c.svc.stop()
        bpid = b.svc.proc.pid
        [bj] = [j for j in journals(tmp) if re.match(r"modgate-spool-%d[-.]" % bpid, os.path.basename(j))]
        b.svc.stop(signal.SIGKILL)
        r.start()
        # The survivor's periodic look (every 10 s) finds the dead one's journal.
        ok = wait_until(lambda: not not_held(r, a_ids + b_ids), 40)
        assert ok, (not_held(r, a_ids + b_ids), a.svc.logtext()[-2000:])
        assert not os.path.exists(bj)
        assert a.svc.logtext().count("took over 4 held comments from %s" % bj) == 1, a.svc.logtext()[-2000:]
        # Stored once each: a second store would be a new version of the item.
        vers = r.pipeline([("HGET", "mg:{news}:c:" + i, "ver") for i in a_ids + b_ids])
        assert vers == ["1"] * 8, vers
        assert wait_until(lambda: spooled(a.svc) == 0, 10)
    finally:
        if c:
            c.svc.stop()
        rc = a.close()
    assert rc == 0, rc


def test_a_journal_under_a_reused_pid_is_not_lost():
    """A dead instance's journal under the name a new one of the same PID
    would use (modgate-spool-PID.jsonl; PID 1 in every container): the
    new instance stores its comments and does not truncate them away."""
    env = Env()
    s, r = env.svc, env.redis
    try:
        old_ids = ["reuse-%d" % i for i in range(3)]
        old = spool_and_kill(env, old_ids)
        lines = open(old).read()
        os.unlink(old)
        tmp = env.tmp

        def plant():  # in the child, after fork: its PID is the one modgate will have
            path = os.path.join(tmp, "modgate-spool-%d.jsonl" % os.getpid())
            with open(path, "w") as f:
                f.write(lines)
            # left by a run that died two minutes ago (an old-style name is
            # taken only once nobody has written it for a minute)
            os.utime(path, (time.time() - 120, time.time() - 120))
        s.start(preexec_fn=plant)
        hold(s, "reuse-new")  # the new instance spools one of its own
        r.start()
        ids = old_ids + ["reuse-new"]
        assert wait_until(lambda: not not_held(r, ids), 20), (not_held(r, ids), s.logtext()[-2000:])
    finally:
        rc = env.close()
    assert rc == 0, rc


def test_journal_and_dump_files_are_private():
    """With umask 022 the journal and the refused file are still 0600:
    they hold comment bodies, author ids and IPs."""
    env = Env(start=False)
    s, r = env.svc, env.redis
    try:
        s.start(preexec_fn=lambda: os.umask(0o022))
        # A key of the wrong type makes Redis refuse this comment's hold script.
        r.cmd("SET", "mg:{news}:c:refuse-me", "not a hash")
        r.stop()
        hold(s, "private-1")
        hold(s, "refuse-me")
        [j] = journals(env.tmp)
        assert stat.S_IMODE(os.stat(j).st_mode) == 0o600, oct(os.stat(j).st_mode)
        r.start()
        assert wait_until(lambda: glob.glob(os.path.join(env.tmp, "modgate-refused-*.jsonl")), 15), \
            s.logtext()[-2000:]
        [refused] = glob.glob(os.path.join(env.tmp, "modgate-refused-*.jsonl"))
        assert stat.S_IMODE(os.stat(refused).st_mode) == 0o600, oct(os.stat(refused).st_mode)
        assert wait_until(lambda: os.path.getsize(refused) > 0 and journal_ids(refused) == ["refuse-me"], 10)
        assert wait_until(lambda: not not_held(r, ["private-1"]), 15)
    finally:
        rc = env.close()
    assert rc == 0, rc


def test_the_tmp_fallback_follows_no_planted_symlink():
    """The spool directory is unusable (a regular file), Redis is down at
    the stop: the comments go to /tmp. A symlink planted at the old
    predictable name /tmp/modgate-spool-PID.jsonl is not followed: the
    file it points at stays as it was, and the comments are in a private
    directory the log names."""
    env = Env(start=False)
    s, r = env.svc, env.redis
    notadir = os.path.join(env.tmp, "not-a-directory")
    victim = os.path.join(env.tmp, "victim.txt")
    with open(notadir, "w") as f:
        f.write("x")
    with open(victim, "w") as f:
        f.write("the test's own file\n")
    link = None
    try:
        s.start(env={"MODGATE_SPOOL_DIR": notadir})
        r.stop()
        hold(s, "fallback-1")
        link = "/tmp/modgate-spool-%d.jsonl" % s.proc.pid
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(victim, link)
        assert s.stop() == 0
        assert open(victim).read() == "the test's own file\n", "the planted symlink was followed"
        assert os.path.islink(link)
        log = s.logtext()
        written = [w.split(" written to ", 1)[1].strip() for w in log.splitlines() if " written to /tmp/" in w]
        assert written, log[-2000:]
        path = written[-1]
        assert journal_ids(path) == ["fallback-1"], path
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
        os.unlink(path)
        os.rmdir(os.path.dirname(path))
    finally:
        if link and os.path.lexists(link):
            os.unlink(link)
        env.close()


def main():
    global BIN, DRAIN_N, DRAIN_WAIT
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "modgate"))
    ap.add_argument("-k", default="", help="run only the tests whose name holds this")
    ap.add_argument("--drain", type=int, default=DRAIN_N, help="backlog of the drain test")
    ap.add_argument("--drain-wait", type=float, default=DRAIN_WAIT, help="bound on the drain, s")
    a = ap.parse_args()
    BIN = os.path.abspath(a.bin)
    DRAIN_N, DRAIN_WAIT = a.drain, a.drain_wait
    return run_each(globals(), a.k)


if __name__ == "__main__":
    sys.exit(main())
