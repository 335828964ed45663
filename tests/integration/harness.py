"""harness.py - real redis-server and real modgate on free loopback ports.

Everything here talks to real processes: a throwaway redis-server in a temp
dir and the modgate binary under test, both stopped (and the dir removed) at
exit. HTTP goes over real sockets with http.client; Redis is read with a
tiny RESP client so the tests need nothing beyond Python's standard library.
"""
import argparse
import atexit
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CMS_KEY = "it-cms-key-0123456789abcdef"
MOD_KEY = "it-moderator-key-0123456789abcdef"
ADMIN_KEY = "it-admin-key-0123456789abcdef"
OTHER_CMS_KEY = "it-other-cms-key-0123456789abcdef"
TIGHT_KEY = "it-tight-cms-key-0123456789abcdef"
API_KEY = "it-api-cms-key-0123456789abcdef"
EPOCH_KEY = "it-epoch-cms-key-0123456789abcdef"


def sha256(s):
    return hashlib.sha256(s.encode()).hexdigest()


def lua_scripts():
    """The Redis scripts as the build makes them (the Makefile's
    LUA_SCRIPTS, service/tools/lua2c.c): {NAME: text}, each the files of
    service/redis/lua/ named there concatenated, without blank lines and
    whole-line "--" comments."""
    with open(os.path.join(ROOT, "Makefile")) as f:
        mk = f.read()
    lua_dir = re.search(r"^LUA_DIR\s*:=\s*(\S+)", mk, re.M).group(1)
    spec = re.search(r"^LUA_SCRIPTS\s*:=((?:.*\\\n)*.*)$", mk, re.M).group(1).replace("\\\n", " ")
    out = {}
    for item in spec.split():
        name, files = item.split("=", 1)
        text = []
        for f in files.split("+"):
            with open(os.path.join(ROOT, lua_dir, f), "rb") as fh:
                for line in fh.read().decode().splitlines():
                    if line.strip() and not line.lstrip().startswith("--"):
                        text.append(line + "\n")
        out[name] = "".join(text)
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_queues(port):
    """(accept queue of the listening socket, number of established server
    side connections) for a loopback port, from /proc/net/tcp: lets a test
    know every client it started was accepted, not just connected."""
    backlog, established = 0, 0
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        f = line.split()
        local, state, queues = f[1], f[3], f[4]
        if int(local.split(":")[1], 16) != port:
            continue
        if state == "0A":      # LISTEN: rx_queue is the accept backlog
            backlog = int(queues.split(":")[1], 16)
        elif state == "01":    # ESTABLISHED
            established += 1
    return backlog, established


def recv_all(sock):
    """Everything the peer sends until it closes the connection."""
    got = b""
    while True:
        d = sock.recv(65536)
        if not d:
            return got
        got += d


def wait_until(pred, timeout=10.0, step=0.02):
    """Poll pred() until it is truthy. A bound on waiting, not a timing test."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


class Redis:
    """A throwaway redis-server; RESP client for the few reads tests need."""

    def __init__(self, tmp, aof=True, args=(), name="redis"):
        """args: more redis-server options, e.g. ("--maxmemory-policy", "allkeys-lru")."""
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.aof = aof
        self.args = list(args)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", self.dir,
             "--appendonly", "yes" if self.aof else "no", "--save", "", "--daemonize", "no",
             "--logfile", os.path.join(self.dir, "redis.log")] + self.args,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until(lambda: self._ping(), 10):
            raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def _ping(self):
        try:
            return self.cmd("PING") == "PONG"
        except (OSError, RuntimeError):  # not listening yet, or -LOADING the AOF
            return False

    def cmd(self, *args):
        return self._cmd(args, False)

    def role(self):
        """"master", "slave" or None while the server cannot answer: a
        sentinel reconfiguring it kills its clients, and a loaded machine
        may keep a reply past the socket's timeout."""
        try:
            return self.cmd("ROLE")[0]
        except (OSError, RuntimeError):
            return None

    def cmd_raw(self, *args):
        """Like cmd, but bulk strings come back as bytes."""
        return self._cmd(args, True)

    @staticmethod
    def _encode(args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        return out

    def _cmd(self, args, raw):
        self.raw = raw
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(self._encode(args))
            f = s.makefile("rb")
            return self._read(f)

    def pipeline(self, cmds, chunk=500):
        """The replies to many commands, sent 'chunk' at a time on one connection."""
        out = []
        self.raw = False
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            f = sock.makefile("rb")
            for i in range(0, len(cmds), chunk):
                sock.sendall(b"".join(self._encode(c) for c in cmds[i:i + chunk]))
                out += [self._read(f) for _ in cmds[i:i + chunk]]
        return out

    def _read(self, f):
        line = f.readline()
        if not line:
            raise OSError("redis closed the connection")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = f.read(n + 2)[:-2]
            return data if self.raw else data.decode("utf-8", "replace")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read(f) for _ in range(n)]
        raise RuntimeError("bad RESP: %r" % line)


class Sentinel(Redis):
    """A throwaway redis-sentinel (redis-server --sentinel) watching the
    master at 127.0.0.1:master_port as "mymaster", quorum 2, declaring it
    down after down_ms. It rewrites its own config file, as sentinels do."""

    def __init__(self, tmp, master_port, name, down_ms=1000):
        super().__init__(tmp, aof=False, name=name)
        self.conf = os.path.join(self.dir, "sentinel.conf")
        with open(self.conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"
                    "sentinel monitor mymaster 127.0.0.1 %d 2\n"
                    "sentinel down-after-milliseconds mymaster %d\n"
                    "sentinel failover-timeout mymaster 5000\n"
                    "sentinel parallel-syncs mymaster 1\n" % (
                        self.port, self.dir, os.path.join(self.dir, "sentinel.log"), master_port, down_ms))

    def start(self):
        self.proc = subprocess.Popen(["redis-server", self.conf, "--sentinel"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until(lambda: self._ping(), 10):
            raise RuntimeError("redis-sentinel did not start")

    def master(self):
        """(host, port) this sentinel names as the master."""
        h, p = self.cmd("SENTINEL", "get-master-addr-by-name", "mymaster")
        return h, int(p)


class Cluster:
    """A throwaway Redis Cluster: 'masters' redis-servers in cluster mode,
    each with 'replicas' replicas, slots split evenly, on loopback ports.
    Made with CLUSTER ADDSLOTSRANGE, MEET and REPLICATE (no redis-cli)."""

    def __init__(self, tmp, masters=3, replicas=1, node_timeout_ms=1000, name="cluster", aof=True):
        """aof: each node's appendonly (False for the bench: no persistence)."""
        self.nodes = []
        self.bus = []
        for i in range((replicas + 1) * masters):
            # the bus port given: port + 10000, its default, may be taken or past 65535
            self.bus.append(free_port())
            self.nodes.append(Redis(tmp, aof=aof, args=("--cluster-enabled", "yes", "--cluster-port", str(self.bus[-1]),
                                               "--cluster-config-file", "nodes-%d.conf" % i, "--cluster-node-timeout",
                                               str(node_timeout_ms), "--appendfsync", "everysec"),
                                    name="%s-%d" % (name, i)))
        self.nmasters = masters

    def start(self):
        try:
            self._start()
        except BaseException:
            self.stop()  # no server outlives a cluster that did not come up
            raise

    def _start(self):
        for n in self.nodes:
            n.start()
        m = self.nodes[:self.nmasters]
        per = 16384 // self.nmasters
        for i, n in enumerate(m):
            hi = 16383 if i == self.nmasters - 1 else (i + 1) * per - 1
            n.cmd("CLUSTER", "ADDSLOTSRANGE", i * per, hi)
        for n in self.nodes[1:]:
            n.cmd("CLUSTER", "MEET", "127.0.0.1", self.nodes[0].port, self.bus[0])
        if not wait_until(lambda: all(len(self.known(n)) == len(self.nodes) for n in self.nodes), 20):
            raise RuntimeError("the cluster nodes did not meet")
        for i, r in enumerate(self.nodes[self.nmasters:]):
            master = m[i % self.nmasters]
            r.cmd("CLUSTER", "REPLICATE", master.cmd("CLUSTER", "MYID"))
        if not wait_until(lambda: all(n.cmd("CLUSTER", "INFO").find("cluster_state:ok") >= 0
                                      for n in self.nodes), 20):
            raise RuntimeError("the cluster did not come up")
        if not wait_until(lambda: all(r.cmd("ROLE")[0] == "slave" and r.cmd("ROLE")[3] == "connected"
                                      for r in self.nodes[self.nmasters:]), 20):
            raise RuntimeError("the cluster replicas did not sync")

    @staticmethod
    def known(n):
        return [l for l in n.cmd("CLUSTER", "NODES").splitlines() if l.strip()]

    def stop(self):
        for n in self.nodes:
            n.stop()

    def seeds(self):
        return ["127.0.0.1:%d" % n.port for n in self.nodes[:self.nmasters]]

    @staticmethod
    def slot(key):
        """Redis's key slot: CRC16 (XMODEM) of the hash tag, mod 16384."""
        k = key.encode() if isinstance(key, str) else key
        a = k.find(b"{")
        if a >= 0:
            b = k.find(b"}", a + 1)
            if b > a + 1:
                k = k[a + 1:b]
        crc = 0
        for ch in k:
            crc ^= ch << 8
            for _ in range(8):
                crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
                crc &= 0xFFFF
        return crc % 16384

    def master_of(self, slot):
        """The node (a Redis) serving 'slot' as master, by CLUSTER SLOTS."""
        for n in self.nodes:
            if n.proc is None:
                continue
            try:
                for lo, hi, m, *_ in n.cmd("CLUSTER", "SLOTS"):
                    if lo <= slot <= hi:
                        return next(x for x in self.nodes if x.port == int(m[1]))
                return None
            except (OSError, RuntimeError):
                continue
        return None

    def node_id(self, n):
        return n.cmd("CLUSTER", "MYID")

    def migrate_slot(self, slot, dst, batch=10, between=None):
        """Move 'slot' to node 'dst' as redis-cli --cluster reshard does:
        IMPORTING / MIGRATING, MIGRATE its keys 'batch' at a time (calling
        between() after each batch), then SETSLOT NODE everywhere."""
        src = self.master_of(slot)
        sid, did = self.node_id(src), self.node_id(dst)
        dst.cmd("CLUSTER", "SETSLOT", slot, "IMPORTING", sid)
        src.cmd("CLUSTER", "SETSLOT", slot, "MIGRATING", did)
        moved = 0
        while True:
            keys = src.cmd("CLUSTER", "GETKEYSINSLOT", slot, batch)
            if not keys:
                break
            src.cmd("MIGRATE", "127.0.0.1", dst.port, "", 0, 5000, "KEYS", *keys)
            moved += len(keys)
            if between:
                between()
        for n in (dst, src):
            n.cmd("CLUSTER", "SETSLOT", slot, "NODE", did)
        for n in self.nodes:
            if n.proc is not None and n not in (src, dst) and n.role() == "master":
                n.cmd("CLUSTER", "SETSLOT", slot, "NODE", did)
        return moved


class HeldLoad:
    """Background load while a test runs (use 'with'): 'threads' keep-alive
    connections to the service on 'port', each sending a held comment (the
    suspect word) of 'site' with 'key' every 'gap' s from addresses of its
    own, each answer sorted: stored, pending (spooled) or anything else
    (a failure, kept in .odd). Ids by outcome in .ids; .slowest is the
    longest answer in s."""

    def __init__(self, port, key, site="news", threads=4, gap=0.01):
        self.port, self.key, self.site, self.gap = port, key, site, gap
        self.odd = []
        self.slowest = 0.0
        self.ids = {"stored": [], "pending": [], "other": []}
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.ts = [threading.Thread(target=self.run, args=(k,)) for k in range(threads)]

    def run(self, k):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        i = 0
        while not self.stop_flag.is_set():
            i += 1
            cid = "load-%d-%d-%d-%d" % (os.getpid(), id(self) % 100000, k, i)
            ip = "198.51.%d.%d" % (k, i % 250 + 1)
            c.request("POST", "/v1/check",
                      json.dumps(comment("Is crypto the answer, load %d/%d?" % (k, i), ip=ip, cid=cid,
                                         site=self.site)),
                      {"Authorization": "Bearer " + self.key, "Content-Type": "application/json"})
            t0 = time.monotonic()
            resp = c.getresponse()
            r = json.loads(resp.read())
            took = time.monotonic() - t0
            kind = "other"
            if resp.status == 200 and r.get("decision") == "hold":
                kind = "stored" if r.get("stored") is True else "pending" if r.get("pending") is True else "other"
            with self.lock:
                self.slowest = max(self.slowest, took)
                self.ids[kind].append(cid)
                if kind == "other":
                    self.odd.append((resp.status, r))
            time.sleep(self.gap)

    def __enter__(self):
        self.t0 = time.monotonic()
        for t in self.ts:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.ts:
            t.join()
        self.secs = time.monotonic() - self.t0

    def report(self, what):
        n = sum(len(v) for v in self.ids.values())
        print("     %s, under load: %d checks in %.1f s (%.0f/s): %d stored, %d pending, %d other; slowest "
              "answer %.0f ms" % (what, n, self.secs, n / self.secs, len(self.ids["stored"]),
                                  len(self.ids["pending"]), len(self.ids["other"]), 1000 * self.slowest))


def base_config(redis_port, **site_overrides):
    site = {
        "keys": [
            {"id": "t-cms", "role": "cms", "sha256": sha256(CMS_KEY)},
            {"id": "t-mod", "role": "moderator", "sha256": sha256(MOD_KEY)},
            {"id": "t-admin", "role": "admin", "sha256": sha256(ADMIN_KEY)},
        ],
        "words": {"blocked": ["casino", "buy followers", "viagr*"], "suspect": ["crypto"]},
        "rate_limits": {
            "ip": {"capacity": 1000, "per_second": 1000},
            "ip_prefix": {"capacity": 1000, "per_second": 1000},
            "author": {"capacity": 1000, "per_second": 1000},
            "thread": {"capacity": 1000, "per_second": 1000},
            "site": {"capacity": 100000, "per_second": 100000},
        },
        "api_rate_limit": {"capacity": 100000, "per_second": 100000},
    }
    site.update(site_overrides)
    return {
        "listen": "127.0.0.1:%d" % free_port(),
        "log_level": "info",
        "redis": {"url": "redis://127.0.0.1:%d/0" % redis_port, "connect_timeout_ms": 200,
                  "command_timeout_ms": 300, "retry_interval_ms": 100},
        "http": {"threads": 4, "shutdown_grace_s": 10},
        "sites": {
            "news": site,
            "other": {"keys": [{"id": "o-cms", "role": "cms", "sha256": sha256(OTHER_CMS_KEY)}]},
            # Small buckets; the ones a test does not exhaust barely refill, so
            # a token taken or not taken shows in Redis exactly.
            "tight": {
                "keys": [{"id": "tight-cms", "role": "cms", "sha256": sha256(TIGHT_KEY)}],
                "rate_limits": {
                    "ip": {"capacity": 3, "per_second": 1},
                    "ip_prefix": {"capacity": 6, "per_minute": 0.001},
                    "author": {"capacity": 100, "per_minute": 0.001},
                    "thread": {"capacity": 100, "per_minute": 0.001},
                    "site": {"capacity": 100, "per_minute": 0.001},
                },
            },
            "epoch": {
                "keys": [{"id": "epoch-cms", "role": "cms", "sha256": sha256(EPOCH_KEY)}],
                "rate_limits": {"ip": {"capacity": 1, "per_second": 1}, "ip_prefix": None, "author": None,
                                "thread": None, "site": None},
                "api_rate_limit": None,
                # Only buckets here: the epoch test counts the HMGETs of bucket hashes.
                "duplicates": {"enabled": False},
            },
            "apilimit": {
                "keys": [{"id": "api-cms", "role": "cms", "sha256": sha256(API_KEY)}],
                "api_rate_limit": {"capacity": 3, "per_minute": 0.001},
            },
        },
    }


def no_starter(config):
    """Set bayes.starter_weight 0 on every site of 'config' (returned): for
    the tests whose scores come from the rules alone (links, words, form
    tokens), written before the shipped starter model gave every site a
    Bayes opinion from its first comment (tests/integration/test_starter.py
    tests that)."""
    for site in config["sites"].values():
        site.setdefault("bayes", {})["starter_weight"] = 0
    return config


class Service:
    """The modgate binary under test, serving a config written to tmp."""

    def __init__(self, binary, tmp, config, name="modgate"):
        self.binary = binary
        self.tmp = tmp
        self.config = config
        self.path = os.path.join(tmp, name + ".json")
        self.logpath = os.path.join(tmp, name + ".log")
        self.proc = None
        self.write_config(config)

    @property
    def port(self):
        return int(self.config["listen"].rsplit(":", 1)[1])

    def write_config(self, config):
        self.config = config
        with open(self.path, "w") as f:
            json.dump(config, f)

    def start(self, env=None, preexec_fn=None):
        """Start it and wait until /healthz answers. 'preexec_fn' runs in
        the child before exec (a umask, a file named after its PID)."""
        e = dict(os.environ)
        e.pop("MODGATE_REDIS_URL", None)
        e.pop("MODGATE_LISTEN", None)
        e["MODGATE_SPOOL_DIR"] = self.tmp
        if env:
            e.update(env)
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen([self.binary, "serve", "--config", self.path],
                                     stdout=self.log, stderr=self.log, env=e, preexec_fn=preexec_fn)
        ok = wait_until(lambda: self.proc.poll() is not None or self._healthy(), 15)
        if self.proc.poll() is not None or not ok:
            raise RuntimeError("modgate did not start:\n" + self.logtext())

    def _healthy(self):
        try:
            return self.request("GET", "/healthz")[0] == 200
        except OSError:
            return False

    def stop(self, sig=signal.SIGTERM):
        """Stop the service; returns its exit status."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        self.log.close()
        return rc

    def logtext(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def request(self, method, path, body=None, headers=None, key=None, raw=False, timeout=15):
        """One HTTP request on a fresh connection. Returns (status, json-or-text, headers)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        if key is not None:
            h["Authorization"] = "Bearer " + key
        data = body
        if body is not None and not isinstance(body, (bytes, str)):
            data = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        if isinstance(data, str):
            data = data.encode()
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        text = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        conn.close()
        if raw:
            return r.status, text, hdrs
        try:
            return r.status, json.loads(text) if text else None, hdrs
        except ValueError:
            return r.status, text.decode("utf-8", "replace"), hdrs

    def check(self, body, key=CMS_KEY, **kw):
        return self.request("POST", "/v1/check", body, key=key, **kw)


_serial = [0]


def comment(body=None, ip="203.0.113.7", site="news", cid=None, **extra):
    """A /v1/check body. Without 'body', a fresh ordinary comment each call,
    so that tests do not trip the duplicate detector by accident."""
    if body is None:
        _serial[0] += 1
        body = "Thanks for the article, the numbers on page %d were new to me." % _serial[0]
    c = {"site": site, "comment": {"body": body, "thread_id": "a42"}, "client": {"ip": ip}}
    if cid is not None:
        c["comment"]["id"] = cid
    for k, v in extra.items():
        c[k] = v
    return c


def err_code(body):
    """The code of a JSON error envelope, which must also say why."""
    assert isinstance(body, dict) and "error" in body, body
    assert body["error"]["message"], body
    return body["error"]["code"]


class Runner:
    """Runs test functions, prints one line per failure and the summary."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, fn, *args):
        name = fn.__name__
        try:
            fn(*args)
            self.passed += 1
            print("ok   %s" % name, flush=True)
        except Exception:  # a failed assert or a crash: both fail the test
            self.failed += 1
            print("FAIL %s\n%s" % (name, traceback.format_exc()), flush=True)

    def summary(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 1 if self.failed else 0


def run_each(globs, only=""):
    """Run every test_* function of a test module whose name holds
    'only', each setting up what it needs itself; prints the summary and
    returns the exit status."""
    run = Runner()
    for name, fn in list(globs.items()):
        if name.startswith("test_") and callable(fn) and only in name:
            run.run(fn)
    return run.summary()


def run_tests(globs, svc, redis, only="", own=()):
    """Run every test_* function of a test module (whose name holds
    'only') against one running service, then stop it and Redis; a
    service that does not exit cleanly at SIGTERM fails the run too. The
    tests named in 'own' start services of their own: they run after the
    shared one has stopped. Returns the exit status."""
    run = Runner()
    tests = [(k, v) for k, v in list(globs.items()) if k.startswith("test_") and callable(v) and only in k]
    rc = None
    try:
        for k, t in tests:
            if k not in own:
                run.run(t)
    finally:
        rc = svc.stop()
        redis.stop()
    if rc != 0:
        print("FAIL service exit status %s at SIGTERM\n%s" % (rc, svc.logtext()[-4000:]))
        run.failed += 1
    for k, t in tests:
        if k in own:
            run.run(t)
    return run.summary()


INTEROP = os.path.join(ROOT, "tests", "interop")


class StepBrowser:
    """A step-by-step browser script of tests/interop (moderator-authors.mjs,
    moderator-reports.mjs, operator-stories.mjs): each step's JSON line,
    and "go" on its stdin to let it go on once the test has looked. Its
    stderr goes to a file in 'tmp'."""

    def __init__(self, tmp, script, *args):
        self.script = script
        self.err = open(os.path.join(tmp, script.replace(".mjs", ".err")), "w+")
        self.p = subprocess.Popen(["node", os.path.join(INTEROP, script)] + list(args),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True,
                                  cwd=INTEROP)
        self.watchdog = threading.Timer(180, self.p.kill)
        self.watchdog.start()

    def step(self, name):
        line = self.p.stdout.readline()
        if not line:
            self.err.seek(0)
            raise AssertionError("%s ended before %r (status %s): %s"
                                 % (self.script, name, self.p.wait(), self.err.read()[-3000:]))
        out = json.loads(line)
        assert out["step"] == name and not out["page_errors"], out
        return out

    def go(self):
        self.p.stdin.write("go\n")
        self.p.stdin.flush()

    def close(self):
        """The script's exit status. Its stdin is closed first, so that a
        script still waiting for "go" (a failed step) ends too; killed if
        it has not ended within 30 s."""
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            rc = self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self.watchdog.cancel()
        self.err.close()
        return rc


def interop_node(script, *args, stdin="", timeout=180):
    """Run a node script of tests/interop (in that folder); its stdout,
    stripped. A failing script fails the test with its stderr."""
    p = subprocess.run(["node", os.path.join(INTEROP, script)] + list(args), input=stdin, capture_output=True,
                       text=True, timeout=timeout, cwd=INTEROP)
    assert p.returncode == 0, (script, p.returncode, p.stderr[-3000:])
    return p.stdout.strip()


def keep_screenshot(shot, name, env):
    """Copy a browser test's screenshot to build/artifacts/NAME, and to the
    path in $ENV when it is set (where a person wants the picture)."""
    os.makedirs(os.path.join(ROOT, "build", "artifacts"), exist_ok=True)
    shutil.copy(shot, os.path.join(ROOT, "build", "artifacts", name))
    if os.environ.get(env):
        shutil.copy(shot, os.environ[env])


def interop_missing(package):
    """What the browser and npm tests need and this machine lacks (the
    npm package in tests/interop, Debian's chromium or $CHROMIUM), printed
    as one failure with the summary line; True when something is."""
    need = (os.path.join(ROOT, "tests", "interop", "node_modules", package),
            os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    missing = [p for p in need if not os.path.exists(p)]
    if missing:
        print("FAIL missing %s: `make test` installs them (tests/interop/install.sh, Debian's chromium)" % missing)
        print("0 passed, 1 failed")
    return bool(missing)


def promtool_missing():
    """The tests that run promtool (Debian's prometheus package) print one
    failure with the summary line when it is missing; True then."""
    if shutil.which("promtool"):
        return False
    print("FAIL missing promtool: `make test` installs it (Debian's prometheus package)")
    print("0 passed, 1 failed")
    return True


def secret_file(tmp, hex_secret, name="captcha.key"):
    """A captcha key file (sites.S.captcha.keys[].secret_file) in tmp."""
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(hex_secret)
    return path


def make_tmp():
    tmp = tempfile.mkdtemp(prefix="modgate-it-")
    atexit.register(shutil.rmtree, tmp, True)
    return tmp


def start(ctx):
    """The usual start of a test file: --bin (default build/modgate) and -k
    (run only the tests whose name holds it) from the command line, a temp
    dir and a running Redis, as ctx["bin"], ctx["tmp"], ctx["redis"].
    Returns the -k filter."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "modgate"))
    ap.add_argument("-k", default="", help="run only the tests whose name holds this")
    a = ap.parse_args()
    ctx["bin"] = os.path.abspath(a.bin)
    ctx["tmp"] = make_tmp()
    ctx["redis"] = Redis(ctx["tmp"])
    ctx["redis"].start()
    return a.k
