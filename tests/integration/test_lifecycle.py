#!/usr/bin/env python3
"""Lifecycle tests: Redis stopped, paused and restarted under a running
service; SIGHUP reloads; SIGTERM with a request in flight; the command line
(config check, keygen); the shipped example config. Each test starts its own
redis-server and modgate. Prints "N passed, N failed"."""
import argparse
import glob
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CMS_KEY, ROOT, Redis, Service, base_config, comment, free_port,  # noqa: E402
                     make_tmp, run_each, sha256, tcp_queues, wait_until)

BIN = None


def reason_codes(body):
    return [r["code"] for r in body["reasons"]]


class Env:
    """A fresh redis-server + modgate for one test."""

    def __init__(self, **site):
        self.tmp = make_tmp()
        self.redis = Redis(self.tmp)
        self.redis.start()
        self.svc = Service(BIN, self.tmp, base_config(self.redis.port, **site))
        self.svc.start()

    def close(self):
        rc = self.svc.stop()
        self.redis.stop()
        if rc != 0:  # show why in the test output; the temp dir goes at exit
            print("service exit status %s; log tail:\n%s" % (rc, self.svc.logtext()[-3000:]))
        return rc


def restart_with(s, redis=None, http=None):
    """Restart service 's' with these redis.* and http.* settings changed."""
    cfg = json.loads(json.dumps(s.config))
    cfg["redis"].update(redis or {})
    cfg["http"].update(http or {})
    s.stop()
    s.write_config(cfg)
    s.start()


def frozen(redis=None, http=None):
    """A fresh Env restarted with these settings, connected, then its
    Redis frozen (SIGSTOP; the caller sends SIGCONT in its finally)."""
    env = Env()
    restart_with(env.svc, redis, http)
    assert env.svc.check(comment())[1]["degraded"] is False  # connected
    env.redis.proc.send_signal(signal.SIGSTOP)
    return env, env.svc, env.redis


def test_redis_down_degrades_spools_and_recovers():
    env = Env()
    s, r = env.svc, env.redis
    try:
        r.stop()
        # Held while Redis is down: the site's fallback (hold), marked degraded,
        # and the CMS is told plainly that the comment is not stored yet.
        st, body, _ = s.check(comment("Nothing special to see in this comment at all", cid="down-1"))
        assert st == 200 and body["decision"] == "hold" and body["degraded"] is True, body
        assert "redis_unavailable" in reason_codes(body), body
        assert body["stored"] is False and body["pending"] is True, body
        # The CMS retries the same comment: it waits in the spool once.
        st, body, _ = s.check(comment("Nothing special to see in this comment at all", cid="down-1"))
        assert body["decision"] == "hold" and body["pending"] is True, body
        # Local filters still apply: a blocked word is still rejected.
        st, body, _ = s.check(comment("best casino online", cid="down-2"))
        assert body["decision"] == "reject" and body["degraded"] is True, body
        st, body, _ = s.request("GET", "/readyz")
        assert st == 503 and body["redis"] == "down" and body["spooled_held_comments"] == 1, body
        st, _, _ = s.request("GET", "/healthz")
        assert st == 200
        # Written to the journal before the CMS was told "pending": once.
        # Named after the PID and a random part (modgate-spool-PID-HEX.jsonl).
        [journal] = glob.glob(os.path.join(env.tmp, "modgate-spool-%d-*.jsonl" % s.proc.pid))
        assert [json.loads(x)["id"] for x in open(journal)] == ["down-1"]
        # Redis comes back on the same port: the spooled comment is stored by
        # itself and checks are normal again, with no restart of modgate.
        r.start()
        assert wait_until(lambda: r.cmd("EXISTS", "mg:{news}:c:down-1") == 1, 15), s.logtext()[-2000:]
        item = json.loads(r.cmd("HGET", "mg:{news}:c:down-1", "item"))
        assert r.cmd("HGET", "mg:{news}:c:down-1", "state") == "held"
        assert item["decision"] == "hold" and item["comment"]["body"].startswith("Nothing special")
        assert r.cmd("ZSCORE", "mg:{news}:q:held", "down-1") is not None
        ok = wait_until(lambda: s.check(comment())[1].get("degraded") is False, 10)
        assert ok, s.logtext()[-2000:]
        st, body, _ = s.request("GET", "/readyz")
        assert st == 200 and body["spooled_held_comments"] == 0, body
        assert os.path.getsize(journal) == 0  # emptied with the spool
    finally:
        rc = env.close()
    assert rc == 0, rc
    assert not os.path.exists(journal)  # a clean stop with nothing waiting removes it


def test_a_crash_while_redis_is_down_loses_no_held_comment():
    """Redis down, three comments held and spooled, then modgate is killed
    (SIGKILL: no shutdown code runs). The journal still has all three; the
    next start takes it over and stores them, and `spool import` of a
    copy finds them stored."""
    env = Env()
    s, r = env.svc, env.redis
    try:
        r.stop()
        for n in range(3):
            st, body, _ = s.check(comment("Nothing special about comment number %d here" % n, cid="kill-%d" % n))
            assert body["decision"] == "hold" and body["pending"] is True, body
        pid = s.proc.pid
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait(10)
        [journal] = glob.glob(os.path.join(env.tmp, "modgate-spool-%d-*.jsonl" % pid))
        lines = [json.loads(x) for x in open(journal)]
        assert [x["id"] for x in lines] == ["kill-0", "kill-1", "kill-2"], lines
        assert all(x["site"] == "news" and x["response"]["decision"] == "hold" for x in lines)
        copy = os.path.join(env.tmp, "copy.jsonl")
        with open(copy, "w") as f:
            f.write(open(journal).read())
        r.start()
        s.start()
        assert "took over 3 held comments from %s" % journal in s.logtext(), s.logtext()[-2000:]
        assert not os.path.exists(journal)
        ok = wait_until(lambda: all(r.cmd("ZSCORE", "mg:{news}:q:held", "kill-%d" % n) for n in range(3)), 15)
        assert ok, s.logtext()[-2000:]
        rc, out, err = run_cli("spool", "import", "--config", s.path, copy)
        assert rc == 0 and "0 stored, 3 already stored" in out, (rc, out, err)
    finally:
        rc = env.close()
    assert rc == 0, rc


def test_concurrent_checks_while_redis_flaps():
    """16 clients at once while Redis stops and comes back twice: every
    request gets an answer (normal, or degraded while Redis is away), no
    held comment is lost, and the service stays up and exits cleanly. This
    drives the pipeline's hand-offs between threads under failure; the
    ASan build of this test catches memory errors in them."""
    flapping_redis("poll")


def test_concurrent_checks_while_redis_flaps_with_the_epoll_loop():
    """The same with http.event_loop "epoll" (suspend and resume take other
    paths inside libmicrohttpd there) and three Redis connections (lanes
    that fail and reconnect on their own)."""
    flapping_redis("epoll")


def flapping_redis(loop):
    env = Env()
    s, r = env.svc, env.redis
    if loop != "poll":
        cfg = json.loads(json.dumps(s.config))
        cfg.setdefault("http", {})["event_loop"] = loop
        cfg["redis"]["connections"] = 3
        s.stop()
        s.write_config(cfg)
        s.start()
    stop = threading.Event()
    answers, errors, held = [], [], []

    def client(n):
        i = 0
        while not stop.is_set():
            i += 1
            hold = i % 5 == 0
            body = ("See http://a.example.com http://b.example.com and http://c.example.com %d-%d" % (n, i)
                    if hold else None)
            try:
                st, b, _ = s.check(comment(body, ip="198.18.%d.%d" % (n, i % 250), cid="flap-%d-%d" % (n, i)))
                answers.append((st, b.get("decision"), b.get("degraded")))
                if st == 200 and b.get("decision") == "hold":
                    held.append((b["comment_id"], b.get("stored"), b.get("pending")))
            except Exception as e:  # a dropped connection is a failure
                errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    try:
        for t in threads:
            t.start()
        for _ in range(2):
            time.sleep(0.7)
            r.stop()
            time.sleep(0.7)
            r.start()
        time.sleep(0.7)
        stop.set()
        for t in threads:
            t.join(30)
        assert not errors, errors[:5]
        assert answers and all(st == 200 for st, _, _ in answers), [a for a in answers if a[0] != 200][:5]
        assert any(d for _, _, d in answers) and any(d is False for _, _, d in answers)
        # every held comment ends up in Redis, stored at once or from the spool
        assert held and all(st is True or p is True for _, st, p in held), held[:5]
        missing = lambda: [c for c, _, _ in held if r.cmd("EXISTS", "mg:{news}:c:" + c) != 1]  # noqa: E731
        assert wait_until(lambda: not missing(), 15), missing()[:5]
        assert s.request("GET", "/healthz")[0] == 200
    finally:
        stop.set()
        rc = env.close()
    assert rc == 0, rc


def test_checks_sent_together_count_as_one_by_one():
    """Checks that reach a Redis lane together run as one script call
    (store.c). They must count exactly as if they ran one after another:
    twelve comments from twelve IPs of one /24 whose bucket holds six
    tokens, six of them copies of one text from different IPs, queued up
    while Redis is paused. Exactly six are accepted, the other six are
    refused by the /24 bucket and take nothing from it; the copies that
    got through are counted as duplicates in order; and the script ran
    fewer times than there were checks, so the joined path is what was
    tested."""
    env = Env(rate_limits={"ip": {"capacity": 5, "per_minute": 0.001},
                           "ip_prefix": {"capacity": 6, "per_minute": 0.001},
                           "author": None, "thread": None, "site": None},
              duplicates={"min_sources": 2})
    s, r = env.svc, env.redis
    try:
        cfg = json.loads(json.dumps(s.config))
        cfg["http"]["threads"] = 24  # threads free to queue checks while others wait on Redis
        cfg["redis"]["command_timeout_ms"] = 10000
        s.stop()
        s.write_config(cfg)
        s.start()
        st, body, _ = s.check(comment("warm up the connections", ip="192.0.2.200", cid="batch-warm"))
        assert st == 200 and body["decision"] == "accept", body
        r.cmd("CONFIG", "RESETSTAT")
        copy = "The same sentence posted again and again from many places"
        answers = {}

        def client(n):
            text = copy if n % 2 else "A comment of its own, number %d, nothing more to it" % n
            answers[n] = s.check(comment(text, ip="198.51.100.%d" % (10 + n), cid="batch-%d" % n))
        r.cmd("CLIENT", "PAUSE", "600", "ALL")
        threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(answers) == 12, answers
        decisions = [answers[n][1] for n in range(12)]
        assert all(answers[n][0] == 200 for n in range(12)), decisions
        assert not any(b["degraded"] for b in decisions), decisions
        limited = [b for b in decisions if b["rate_limit"] and b["rate_limit"].get("limited")]
        assert len(limited) == 6 and all(b["rate_limit"]["bucket"] == "ip_prefix" for b in limited), decisions
        let_through = [n for n in range(12) if not decisions[n]["rate_limit"] or
                       not decisions[n]["rate_limit"].get("limited")]
        assert len(let_through) == 6, decisions
        # The /24 bucket is empty, and not below empty: nothing was taken twice.
        key, raw = None, None
        for k in r.cmd("KEYS", "mg:{news}:rl:*"):
            v = r.cmd_raw("HGET", k, "ip_prefix:198.51.100.0/24")
            if v:
                key, raw = k, v
        tokens = struct.unpack("<dd", raw)[0]
        assert -0.01 < tokens < 0.01, (key, tokens)
        # Copies that got through: whichever ran first is new, every later
        # one a duplicate (two sources make one here).
        copies = [n for n in let_through if n % 2]
        dup = ["duplicate" in [x["code"] for x in decisions[n]["reasons"]] for n in copies]
        assert len(copies) >= 2 and dup.count(False) == 1, (copies, decisions)
        stats = r.cmd("INFO", "commandstats")
        stats = stats.decode() if isinstance(stats, bytes) else stats
        calls = int(re.search(r"cmdstat_evalsha:calls=(\d+)", stats).group(1))
        assert calls < 12, calls
    finally:
        env.close()


def test_duplicates_carry_over_into_the_next_window():
    """Duplicate lists live in one hash per site and window (mg:{S}:dups:W:E).
    A copy posted just before a window ends still counts just after it:
    the list is read from the previous window's hash until the current
    one has its own. Three IPs make a duplicate here."""
    env = Env(duplicates={"window_s": 10, "min_sources": 3})
    s, r = env.svc, env.redis
    try:
        def redis_now():
            sec, usec = r.cmd("TIME")
            return int(sec) + int(usec) / 1e6
        text = "Visit my page for the very best deals on everything today"

        def post(n):
            st, body, _ = s.check(comment(text, ip="203.0.113.%d" % n, cid="carry-%d" % n))
            assert st == 200, body
            return "duplicate" in [x["code"] for x in body["reasons"]]
        assert wait_until(lambda: 8.5 <= redis_now() % 10 < 9.0, 15, step=0.01)
        window = int(redis_now() // 10)
        assert not post(1)
        assert r.cmd("EXISTS", "mg:{news}:dups:10:%d" % window) == 1
        assert wait_until(lambda: int(redis_now() // 10) > window, 15, step=0.01)
        assert not post(2)  # two sources: not yet
        assert post(3)      # the first one's entry came from the previous window
        assert r.cmd("EXISTS", "mg:{news}:dups:10:%d" % (window + 1)) == 1
    finally:
        env.close()


def test_sigterm_while_redis_hangs_still_exits_cleanly_and_keeps_held_comments():
    """Redis frozen (SIGSTOP), checks waiting for it, SIGTERM with a grace
    shorter than the Redis timeout: every client still gets an answer (also
    those whose request sat unread behind a thread busy with Redis), the
    process exits 0, and the held comments it could not store are in the
    spool file, which `spool import` then stores."""
    # a grace far shorter than Redis's timeout: the hard case
    env, s, r = frozen(redis={"command_timeout_ms": 60000}, http={"shutdown_grace_s": 1})
    answers = []
    try:

        def client(n):
            text = "See http://a.example.com http://b.example.com and http://c.example.com now %d" % n
            try:
                answers.append(s.check(comment(text, cid="frozen-%d" % n, ip="198.19.0.%d" % n), timeout=30))
            except Exception as e:
                answers.append(repr(e))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        # Every client accepted by the service (a connection still in the
        # kernel's backlog at SIGTERM is refused, as by any server), and
        # the checks sent: Redis is frozen, so they are all waiting.
        assert wait_until(lambda: tcp_queues(s.port) == (0, 6), 20), tcp_queues(s.port)
        time.sleep(0.5)
        s.proc.send_signal(signal.SIGTERM)
        # Stopping cuts the wait for Redis short: with a 60 s command
        # timeout, a service that waited it out would fail this wait.
        s.proc.wait(30)
        for t in threads:
            t.join(30)
        assert s.proc.returncode == 0, s.logtext()[-3000:]
        assert len(answers) == 6 and all(isinstance(a, tuple) and a[0] == 200 for a in answers), answers
        spooled = [json.loads(line) for f in os.listdir(env.tmp) if f.startswith("modgate-spool-")
                   for line in open(os.path.join(env.tmp, f))]
        ids = {x["id"] for x in spooled}
        for st, body, _ in answers:
            assert body["decision"] == "hold", body
            if body.get("stored") is not True:
                assert body["comment_id"] in ids, (body, ids)
        for x in spooled:
            assert x["site"] == "news" and x["item"]["decision"] == "hold" and x["response"]["decision"] == "hold"
        assert spooled, "nothing was spooled: the test did not test the spool"
        # The operator brings Redis back and imports the dump: every comment
        # lands where moderators look, and a second import changes nothing.
        r.proc.send_signal(signal.SIGCONT)
        dumpfile = [os.path.join(env.tmp, f) for f in os.listdir(env.tmp) if f.startswith("modgate-spool-")][0]
        rc, out, err = run_cli("spool", "import", "--config", s.path, dumpfile)
        # A check script that reached the frozen Redis runs when it wakes
        # up, and stores its held comment itself: such a comment counts as
        # "already stored". Either way each is stored once.
        m = re.search(r"(\d+) stored, (\d+) already stored, 0 refused", out)
        assert rc == 0 and m and int(m.group(1)) + int(m.group(2)) == len(spooled), (rc, out, err)
        for x in spooled:
            item = json.loads(r.cmd("HGET", "mg:{news}:c:" + x["id"], "item"))
            assert item["id"] == x["id"] and r.cmd("ZSCORE", "mg:{news}:q:held", x["id"]) is not None
        rc, out, err = run_cli("spool", "import", "--config", s.path, dumpfile)
        assert rc == 0 and "0 stored, %d already stored" % len(spooled) in out, (rc, out, err)
        with open(dumpfile, "a") as f:
            f.write("not json\n")
        rc, out, err = run_cli("spool", "import", "--config", s.path, dumpfile)
        assert rc == 1 and "1 unreadable" in out and ":%d:" % (len(spooled) + 1) in err, (rc, out, err)
    finally:
        r.proc.send_signal(signal.SIGCONT)
        env.close()


def test_sigterm_while_redis_hangs_does_not_wait_out_the_command_timeout():
    """Redis frozen (SIGSTOP) for longer than the starter keeper's period
    (it checks every 5 s that Redis still holds the shipped starter), with
    a 60 s command timeout and no request in flight: modgate's background
    threads (the model sync, the starter's keeper, the policy poller) then
    wait in a command. SIGTERM cuts those waits short: the process exits 0
    well before the timeout (before the fix it waited out the keeper's and
    the poller's whole minute)."""
    env, s, r = frozen(redis={"command_timeout_ms": 60000})
    try:
        time.sleep(6)  # the keeper's next check has started, and waits
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        try:
            s.proc.wait(20)
        except subprocess.TimeoutExpired:
            raise AssertionError("still running 20 s after SIGTERM: a Redis wait was not cut short")
        print("     exited %.1f s after SIGTERM" % (time.monotonic() - t0))
        assert s.proc.returncode == 0, s.logtext()[-3000:]
    finally:
        r.proc.send_signal(signal.SIGCONT)
        env.close()


def test_redis_closing_idle_connections_costs_no_degraded_answer():
    env = Env()
    s, r = env.svc, env.redis
    try:
        r.cmd("CONFIG", "SET", "timeout", "1")  # Redis drops clients idle for 1 s
        assert s.check(comment())[1]["degraded"] is False
        time.sleep(2.5)
        st, body, _ = s.check(comment())
        assert st == 200 and body["degraded"] is False, body
    finally:
        rc = env.close()
    assert rc == 0, rc


def test_a_larger_header_buffer_serves_larger_headers():
    """http.header_buffer_bytes is libmicrohttpd's memory per connection:
    16 KiB (the default) refuses 12 KiB of cookies, 64 KiB serves them."""
    env = Env()
    s = env.svc
    big = {"Cookie": "c=" + "x" * 12000}
    try:
        try:
            st = s.check(comment(ip="192.0.2.180"), headers=big)[0]
        except (ConnectionError, OSError):
            st = "closed"
        assert st in (431, "closed"), st
        cfg = json.loads(json.dumps(s.config))
        cfg.setdefault("http", {})["header_buffer_bytes"] = 65536
        s.stop()
        s.write_config(cfg)
        s.start()
        st, body, _ = s.check(comment(ip="192.0.2.181"), headers=big)
        assert st == 200 and body["decision"] == "accept", body
    finally:
        rc = env.close()
    assert rc == 0, rc


def test_slow_redis_answers_degraded_not_hanging():
    env = Env()
    s, r = env.svc, env.redis
    try:
        assert s.check(comment())[1]["degraded"] is False
        # Pause every Redis client for longer than command_timeout_ms (300).
        t = threading.Thread(target=lambda: r.cmd("CLIENT", "PAUSE", "2000", "ALL"))
        t.start()
        t.join()
        st, body, _ = s.check(comment(), timeout=30)
        assert st == 200 and body["degraded"] is True, body
        # Readiness asks every Redis connection (lane), in parallel: a
        # paused Redis makes it say down, not hang.
        st, body, _ = s.request("GET", "/readyz", timeout=30)
        assert st == 503 and body["redis"] == "down", body
        # Once Redis answers again, the service reconnects by itself.
        assert wait_until(lambda: s.check(comment())[1].get("degraded") is False, 15)
        assert wait_until(lambda: s.request("GET", "/readyz")[0] == 200, 15)
    finally:
        rc = env.close()
    assert rc == 0, rc


def test_redis_restart_loses_script_cache_not_requests():
    env = Env()
    s, r = env.svc, env.redis
    try:
        assert s.check(comment())[1]["degraded"] is False
        r.cmd("SCRIPT", "FLUSH")  # as after a restart or failover: NOSCRIPT
        st, body, _ = s.check(comment())
        assert st == 200 and body["degraded"] is False, body
    finally:
        rc = env.close()
    assert rc == 0, rc


def test_sighup_reloads_and_a_bad_reload_keeps_the_old_config():
    env = Env()
    s = env.svc
    try:
        text = "Is crypto a sensible thing to hold for a pension fund these days?"
        assert s.check(comment(text))[1]["decision"] == "hold"
        cfg = json.loads(json.dumps(s.config))
        cfg["sites"]["news"]["words"]["suspect"] = []
        s.write_config(cfg)
        s.proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: s.check(comment(text))[1]["decision"] == "accept", 10), s.logtext()[-2000:]
        # A broken file: the running config stays, and the log says why.
        with open(s.path, "w") as f:
            f.write('{"sites": {"news": {"thresholds": {"hold": 7}}}}')
        s.proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "reload failed" in s.logtext(), 10)
        assert "sites.news.thresholds.hold" in s.logtext()
        st, body, _ = s.check(comment(text))
        assert st == 200 and body["decision"] == "accept", body
    finally:
        rc = env.close()
    assert rc == 0, rc


def test_reloads_under_load_drop_no_request():
    """8 clients keep checking while the config is reloaded 10 times,
    alternating two valid versions: every request is answered 200, and the
    new version is in force afterwards."""
    env = Env()
    s = env.svc
    stop = threading.Event()
    statuses, errors = [], []

    def client(n):
        i = 0
        while not stop.is_set():
            i += 1
            try:
                statuses.append(s.check(comment(ip="198.51.100.%d" % (n * 20 + i % 20)))[0])
            except Exception as e:
                errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    base = json.loads(json.dumps(s.config))
    try:
        for t in threads:
            t.start()
        for k in range(10):
            cfg = json.loads(json.dumps(base))
            cfg["sites"]["news"]["words"]["suspect"] = ["crypto"] if k % 2 else []
            s.write_config(cfg)
            s.proc.send_signal(signal.SIGHUP)
            time.sleep(0.15)
        stop.set()
        for t in threads:
            t.join(30)
        assert not errors, errors[:5]
        assert statuses and set(statuses) == {200}, set(statuses)
        # the last version (k = 9: "crypto" suspect) is the one in force
        assert wait_until(lambda: s.check(comment("is crypto safe for savings?"))[1]["decision"] == "hold", 10)
        assert s.logtext().count("config reloaded") >= 5, s.logtext()[-2000:]  # signals may merge
    finally:
        stop.set()
        rc = env.close()
    assert rc == 0, rc


def test_clients_hanging_up_while_redis_is_slow_do_not_block_a_stop():
    """CMS clients give up (close the connection) while their checks wait
    for a frozen Redis. Once Redis answers, those requests end quietly; the
    service keeps serving and a later SIGTERM stops it at once, exit 0."""
    env, s, r = frozen(redis={"command_timeout_ms": 20000})
    try:
        socks = []
        for n in range(6):
            body = json.dumps(comment(ip="198.18.0.%d" % n)).encode()
            c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            c.sendall(b"POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + CMS_KEY.encode() +
                      b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            socks.append(c)
        assert wait_until(lambda: tcp_queues(s.port) == (0, 6), 20), tcp_queues(s.port)
        time.sleep(0.5)            # read, and waiting for Redis
        for c in socks:            # the clients give up
            c.close()
        time.sleep(0.3)
        r.proc.send_signal(signal.SIGCONT)
        assert wait_until(lambda: s.check(comment())[1]["degraded"] is False, 15)
        s.proc.send_signal(signal.SIGTERM)
        s.proc.wait(30)            # before the fix: waited forever for the hung-up six
        assert s.proc.returncode == 0, s.logtext()[-3000:]
    finally:
        r.proc.send_signal(signal.SIGCONT)
        env.close()


def test_sigterm_lets_the_request_in_flight_finish():
    env = Env()
    s = env.svc
    try:
        data = json.dumps(comment(cid="inflight-1")).encode()
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=20)
        sock.sendall(b"POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + CMS_KEY.encode() +
                     b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(data))
        sock.sendall(data[:10])
        time.sleep(0.3)  # let the server start on the request
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert s.proc.poll() is None, "exited with a request in flight"
        # While it finishes, new clients are refused, not left hanging.
        try:
            probe = socket.create_connection(("127.0.0.1", s.port), timeout=2)
            probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answered = probe.recv(100)
            probe.close()
        except OSError:
            answered = b""
        assert answered == b"", answered
        sock.sendall(data[10:])
        resp = b""
        while b"\r\n\r\n" not in resp or not resp.rstrip().endswith(b"}"):
            d = sock.recv(65536)
            if not d:
                break
            resp += d
        sock.close()
        assert resp.startswith(b"HTTP/1.1 200"), resp[:300]
        assert b'"decision":"accept"' in resp, resp
        s.proc.wait(20)
        assert s.proc.returncode == 0, s.logtext()[-2000:]
        # new connections are refused once it stopped
        try:
            socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
            refused = False
        except OSError:
            refused = True
        assert refused
    finally:
        env.close()


def run_cli(*args, env=None):
    e = dict(os.environ)
    e.pop("MODGATE_REDIS_URL", None)
    e.pop("MODGATE_LISTEN", None)
    if env:
        e.update(env)
    p = subprocess.run([BIN] + list(args), capture_output=True, text=True, env=e, timeout=30)
    return p.returncode, p.stdout, p.stderr


def test_config_check_cli():
    tmp = make_tmp()
    rc, out, err = run_cli("config", "check", os.path.join(ROOT, "docker", "modgate.example.json"))
    assert rc == 0 and "ok" in out and "test keys" in out, (rc, out, err)
    bad = os.path.join(tmp, "bad.json")
    for doc, field in [
        ({"sites": {"a": {"thresholds": {"reject": "high"}}}}, "sites.a.thresholds.reject"),
        ({"sites": {"a": {"rate_limits": {"ip": {"capacity": 0, "per_minute": 5}}}}}, "sites.a.rate_limits.ip.capacity"),
        ({"sites": {"a": {}}, "redis": {"connect_timeout_ms": 0}}, "redis.connect_timeout_ms"),
        ({"sites": {"a": {"links": {"max": "two"}}}}, "sites.a.links.max"),
        ({"sites": {"a": {}}, "http": {"event_loop": "select"}}, "http.event_loop"),
        ({"sites": {"a": {}}, "redis": {"connections": 9}}, "redis.connections"),
        ({"sites": {"a": {"words": {"blocked": [""]}}}}, "sites.a.words.blocked[0]"),
    ]:
        with open(bad, "w") as f:
            json.dump(doc, f)
        rc, out, err = run_cli("config", "check", bad)
        assert rc == 1 and field in err, (doc, rc, err)
    rc, out, err = run_cli("config", "check", os.path.join(tmp, "missing.json"))
    assert rc == 1 and "missing.json" in err, err
    # serve refuses to start on a bad config, naming the field
    rc, out, err = run_cli("serve", "--config", bad)
    assert rc == 2 and "sites.a.words.blocked[0]" in err, (rc, err)


def test_keygen_key_works_and_only_its_hash_is_stored():
    rc, out, err = run_cli("keygen", "--site", "news", "--role", "cms")
    assert rc == 0, err
    key = re.search(r"^\s+(mg_[A-Za-z0-9_-]{43})$", out, re.M).group(1)
    entry = json.loads(re.search(r"^\s+(\{.*\})$", out, re.M).group(1))
    assert entry["role"] == "cms" and entry["sha256"] == sha256(key) and key not in json.dumps(entry)
    rc2, out2, _ = run_cli("keygen", "--site", "news", "--role", "cms")
    assert out2 != out  # fresh randomness each time
    rc, out, err = run_cli("keygen", "--site", "news", "--role", "root")
    assert rc == 2 and "role" in err
    tmp = make_tmp()
    r = Redis(tmp)
    r.start()
    cfg = base_config(r.port)
    cfg["sites"]["news"]["keys"] = [entry]
    s = Service(BIN, tmp, cfg)
    s.start()
    try:
        st, body, _ = s.check(comment(), key=key)
        assert st == 200 and body["decision"] == "accept", body
        st, body, _ = s.check(comment(), key=CMS_KEY)
        assert st == 401, body
    finally:
        rc = s.stop()
        r.stop()
    assert rc == 0
    assert key not in s.logtext()


class ExampleService:
    """A fresh redis-server and modgate serving docker/modgate.example.json
    as `make run` does; only the ports differ. Use it in a with block."""

    def __enter__(self):
        tmp = make_tmp()
        self.redis = Redis(tmp)
        self.redis.start()
        self.port = free_port()
        self.svc = Service(BIN, tmp, json.load(open(os.path.join(ROOT, "docker", "modgate.example.json"))))
        self.svc.config = dict(self.svc.config, listen="127.0.0.1:%d" % self.port)
        self.svc.start(env={"MODGATE_LISTEN": "127.0.0.1:%d" % self.port,
                            "MODGATE_REDIS_URL": "redis://127.0.0.1:%d/0" % self.redis.port})
        # As a reader of the docs would find it seconds after `make run`:
        # the shipped starter stored and loaded (under ASan it takes longer).
        assert wait_until(self._starter_loaded, 60), self.svc.logtext()[-2000:]
        return self

    def _starter_loaded(self):
        st, m, _ = self.svc.request("GET", "/v1/sites/demo/model", key="demo-moderator-key")
        return st == 200 and m["blend"]["starter_read"]

    def __exit__(self, *exc):
        rc = self.svc.stop()
        self.redis.stop()
        if exc[0] is None:  # else the test's own failure says more
            assert rc == 0, (rc, self.svc.logtext()[-3000:])


def test_example_config_warns_about_test_keys_and_serves_them():
    with ExampleService() as e:
        s = e.svc
        # the demo site's three keys and the top-level demo-ops-key, each a documented public test key
        assert "4 public test key(s)" in s.logtext(), s.logtext()
        st, body, _ = s.check({"site": "demo", "comment": {"body": "Nice piece."}, "client": {"ip": "203.0.113.7"}},
                              key="demo-cms-key")
        assert st == 200 and body["decision"] == "accept", body
        assert e.redis.cmd("KEYS", "mg:{demo}:rl:*")  # it really used our Redis
        st, text, _ = s.request("GET", "/metrics", key="demo-ops-key")
        assert st == 200 and 'modgate_decisions_total{site="demo",decision="accept"} 1' in text, (st, text)
        st, body, _ = s.request("GET", "/metrics", key="demo-admin-key")  # a site's admin: not every site's
        assert st == 403 and body["error"]["code"] == "wrong_site", (st, body)
        st, body, _ = s.request("GET", "/v1/sites/demo/queue", key="demo-ops-key")
        assert st == 200 and body["site"] == "demo", (st, body)


def doc_examples(path, marker=None):
    """(command, expected output) pairs: each ```sh block that starts with
    curl, and the fenced block right after it. With 'marker', only the sh
    blocks right after the HTML comment <!-- marker --> (README.md's tour)."""
    text = open(path, encoding="utf-8").read()
    blocks = re.findall(r"(?:<!-- ([\w-]+) -->\s*)?```(\w*)\n(.*?)```", text, re.S)
    out = []
    for i, (mark, lang, body) in enumerate(blocks):
        if (lang == "sh" and body.lstrip().startswith("curl") and i + 1 < len(blocks)
                and (marker is None or mark == marker)):
            out.append((body.strip(), blocks[i + 1][2].strip()))
    return out


def essentials(text):
    """What an example's output promises: status line and the fields a
    client acts on (request ids, times and scores may differ from run to
    run). Output that is not JSON is Prometheus text: its lines, in any
    order (the tour greps /metrics)."""
    status = None
    if text.startswith("HTTP/"):
        status = text.split("\n", 1)[0].split()[1]
        text = text.split("\n\n", 1)[1] if "\n\n" in text else text.split("\r\n\r\n", 1)[-1]
    if not text.startswith("{"):
        return {"status": status, "lines": sorted(text.splitlines())}
    doc = json.loads(text)
    cid = doc.get("comment_id")
    return {
        "status": status,
        "error": (doc.get("error") or {}).get("code"),
        "decision": doc.get("decision"),
        "comment_id": "mg-*" if cid and cid.startswith("mg-") else cid,
        "reasons": [r["code"] for r in doc.get("reasons", [])],
        "replayed": doc.get("replayed"),
        "stored": doc.get("stored"),
        "bucket": (doc.get("rate_limit") or {}).get("bucket"),
        "ready": doc.get("status"),
        "state": doc.get("state"),
        "filter": doc.get("filter"),
        "items": [item.get("id") for item in doc.get("items", [])],
        "counts": doc.get("counts"),
        "events": [(ev.get("id"), ev.get("state"), ev.get("previous")) for ev in doc.get("events", [])],
    }


def run_examples(examples, port):
    """Run each (command, expected) pair in order with bash against 'port'
    instead of make run's 8080; each must give what its document shows."""
    for cmd, expected in examples:
        run = cmd.replace("127.0.0.1:8080", "127.0.0.1:%d" % port).replace("localhost:8080", "127.0.0.1:%d" % port)
        p = subprocess.run(["bash", "-c", run], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, (cmd, p.stderr)
        got = p.stdout.replace("\r\n", "\n").strip()
        assert essentials(got) == essentials(expected), (cmd, got, expected)


def test_api_md_curl_examples_run_as_written():
    """Every curl example in api.md, run against the example config (only
    the port differs from make run), gives the documented answer."""
    examples = doc_examples(os.path.join(ROOT, "api.md"))
    assert len(examples) >= 7, examples
    with ExampleService() as e:
        run_examples(examples, e.port)


def test_readme_tour_runs_as_written():
    """README.md's five-minute tour, every <!-- tour --> curl block in
    order against a fresh make run (check, hold, queue, spam, the CMS feed,
    /metrics with the public test key demo-ops-key), gives what it shows."""
    readme = os.path.join(ROOT, "README.md")
    examples = doc_examples(readme, marker="tour")
    assert len(examples) >= 6 and len(examples) == open(readme).read().count("<!-- tour -->"), examples
    assert any("/metrics" in cmd and "demo-ops-key" in cmd for cmd, _ in examples), examples
    with ExampleService() as e:
        run_examples(examples, e.port)


def main():
    global BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "modgate"))
    ap.add_argument("-k", default="", help="run only the tests whose name holds this")
    a = ap.parse_args()
    BIN = os.path.abspath(a.bin)
    return run_each(globals(), a.k)


if __name__ == "__main__":
    sys.exit(main())
