#!/usr/bin/env python3
"""The HTTP face under hostile clients, on raw sockets: request framing
(smuggling with Content-Length and Transfer-Encoding, unknown codings,
missing Host, odd versions, oversized heads) is answered with a JSON error
and the connection closed; slow clients (thousands of connections from one
address, hundreds from many, headers or bodies trickled) are cut off by the
per-address cap and the request deadline while other clients are served.
Each slow-client test starts its own redis-server and modgate.
Prints "N passed, N failed"."""
import argparse
import json
import os
import resource
import select
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CMS_KEY, MOD_KEY, ROOT, Redis, Service, base_config, comment, err_code,  # noqa: E402
                     make_tmp, recv_all, run_tests, sha256, wait_until)

BIN = None
ctx = {}
TOP_ADMIN = "it-top-admin-key-0123456789abcdef"


def svc():
    return ctx["svc"]


# ---------------------------------------------------------------- raw HTTP

def parse_responses(data):
    """Split what the server sent into (status, headers, body) triples,
    using Content-Length (modgate always sends it)."""
    out = []
    while data.startswith(b"HTTP/"):
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            hdrs[k.strip().lower().decode()] = v.strip().decode()
        n = int(hdrs.get("content-length", "0"))
        body, data = rest[:n], rest[n:]
        out.append((status, hdrs, body))
    return out, data


def raw(data, port=None, timeout=10, src=None):
    """Send 'data' on a fresh connection and read until the server closes
    it (or 'timeout' passes). Returns (responses, leftover bytes, closed)."""
    s = socket.socket()
    if src:
        s.bind((src, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port or svc().port))
    got, closed = b"", False
    try:
        s.sendall(data)
    except OSError:
        pass
    try:
        while True:
            d = s.recv(65536)
            if not d:
                closed = True
                break
            got += d
    except socket.timeout:
        pass
    except OSError:
        closed = True
    s.close()
    resps, rest = parse_responses(got)
    return resps, rest, closed


def json_error(resp):
    status, hdrs, body = resp
    assert hdrs.get("content-type", "").startswith("application/json"), (status, hdrs, body)
    doc = json.loads(body)
    assert doc["error"]["message"], doc
    return status, doc["error"]["code"]


def check_body():
    return json.dumps(comment()).encode()


def head(extra=b"", path=b"/v1/check", version=b"HTTP/1.1", host=True):
    return (b"POST " + path + b" " + version + b"\r\n" + (b"Host: x\r\n" if host else b"") +
            b"Authorization: Bearer " + CMS_KEY.encode() + b"\r\nContent-Type: application/json\r\n" + extra)


HIDDEN = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


# ---------------------------------------------------------------- framing

def test_content_length_with_chunked_is_refused_and_the_hidden_request_never_served():
    """CL.TE smuggling (RFC 9112 6.1): one 400, then the connection is
    closed; the request hidden in the body is never answered."""
    body = b"0\r\n\r\n" + HIDDEN
    resps, rest, closed = raw(head(b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(body)) + body)
    assert len(resps) == 1 and not rest, (resps, rest)
    assert json_error(resps[0]) == (400, "invalid_framing"), resps
    assert resps[0][1].get("connection", "").lower() == "close", resps[0][1]
    assert closed


def test_two_content_lengths_are_refused():
    b = check_body()
    for second in (len(b) + 5, len(b)):
        resps, rest, closed = raw(head(b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(b), second)) + b +
                                  HIDDEN)
        assert len(resps) == 1 and json_error(resps[0]) == (400, "invalid_framing"), resps
        assert closed and not rest


def test_unknown_transfer_coding_is_501_at_once():
    for te in (b"gzip", b"gzip, chunked", b"chunked, identity", b"identity"):
        resps, rest, closed = raw(head(b"Transfer-Encoding: " + te + b"\r\n\r\n") + b"5\r\nhello\r\n0\r\n\r\n",
                                  timeout=10)
        assert len(resps) == 1 and json_error(resps[0]) == (501, "unsupported_transfer_coding"), (te, resps)
        assert closed, te


def test_two_transfer_encoding_headers_are_refused():
    resps, _, closed = raw(head(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n") +
                           b"0\r\n\r\n" + HIDDEN)
    assert len(resps) == 1 and json_error(resps[0]) == (400, "invalid_framing"), resps
    assert closed


def test_chunked_on_http_1_0_is_refused():
    resps, _, closed = raw(head(b"Transfer-Encoding: chunked\r\n\r\n", version=b"HTTP/1.0") + b"0\r\n\r\n")
    assert len(resps) == 1 and json_error(resps[0]) == (400, "invalid_framing"), resps
    assert closed


def test_whitespace_before_a_header_colon_is_refused():
    """'Transfer-Encoding : chunked' is ignored by some parsers and obeyed
    by others: a classic desync. Refused (RFC 9112 5.1)."""
    b = check_body()
    resps, _, closed = raw(head(b"Content-Length: %d\r\nTransfer-Encoding : chunked\r\n\r\n" % len(b)) + b)
    assert len(resps) == 1 and json_error(resps[0]) == (400, "invalid_header"), resps
    assert closed


def test_http_1_1_without_host_is_400():
    b = check_body()
    resps, _, closed = raw(head(b"Content-Length: %d\r\n\r\n" % len(b), host=False) + b)
    assert len(resps) == 1 and json_error(resps[0]) == (400, "missing_host"), resps
    assert closed
    resps, _, _ = raw(head(b"Host: y\r\nContent-Length: %d\r\n\r\n" % len(b)) + b)
    assert len(resps) == 1 and json_error(resps[0]) == (400, "invalid_framing"), resps
    # HTTP/1.0 needs no Host
    resps, _, _ = raw(b"GET /healthz HTTP/1.0\r\n\r\n")
    assert len(resps) == 1 and resps[0][0] == 200, resps


def test_unsupported_http_versions_are_505_json():
    for v in (b"HTTP/1.7", b"HTTP/1.2", b"HTTP/1.9"):
        resps, _, closed = raw(b"GET /healthz " + v + b"\r\nHost: x\r\n\r\n")
        assert len(resps) == 1 and json_error(resps[0]) == (505, "http_version_not_supported"), (v, resps)
        assert closed


def test_a_framing_error_never_lets_the_next_request_through():
    """A good request, then a smuggling attempt, then a hidden request, all
    pipelined on one connection: two answers (200, 400), then close."""
    b = check_body()
    bad = b"0\r\n\r\n" + HIDDEN
    data = (head(b"Content-Length: %d\r\n\r\n" % len(b)) + b +
            head(b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(bad)) + bad)
    resps, rest, closed = raw(data)
    assert [r[0] for r in resps] == [200, 400], resps
    assert closed and not rest


def test_headers_above_the_limit_get_431_json():
    """http.max_header_bytes (8 KiB by default): 7 KiB of cookies are
    served, 10 KiB get a JSON 431 and the connection closes."""
    b = check_body()
    resps, _, _ = raw(head(b"Cookie: c=" + b"x" * 7000 + b"\r\nContent-Length: %d\r\n\r\n" % len(b)) + b)
    assert len(resps) == 1 and resps[0][0] == 200, resps
    resps, _, closed = raw(head(b"Cookie: c=" + b"x" * 10000 + b"\r\nContent-Length: %d\r\n\r\n" % len(b)) + b)
    assert len(resps) == 1 and json_error(resps[0]) == (431, "headers_too_large"), resps
    assert closed


def test_a_long_url_gets_414_json():
    resps, _, closed = raw(b"GET /healthz?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert len(resps) == 1 and json_error(resps[0]) == (414, "uri_too_long"), resps
    assert closed


def test_a_malformed_content_length_is_400_and_closes():
    """libmicrohttpd refuses this one itself, before modgate sees the
    request (api.md: its short HTML page); the connection still closes
    and the request behind it is not served."""
    for cl in (b"abc", b"5, 5", b"-1"):
        resps, rest, closed = raw(head(b"Content-Length: " + cl + b"\r\n\r\n") + b"hello" + HIDDEN)
        assert resps and resps[0][0] == 400, (cl, resps)
        assert closed, cl
        # (libmicrohttpd 0.9.75 sends its status line and headers twice
        # here; whatever it sends, the hidden request is not answered)
        assert b'{"status"' not in resps[0][2] + rest, (cl, resps, rest)
    assert svc().request("GET", "/healthz")[0] == 200


def test_a_nul_character_is_refused_in_every_string_the_body_included():
    for doc in (b'{"site":"news","comment":{"body":"hello\\u0000world"},"client":{"ip":"1.2.3.4"}}',
                b'{"site":"news","comment":{"body":"hello","thread_id":"a\\u0000b"},"client":{"ip":"1.2.3.4"}}'):
        st, body, _ = svc().request("POST", "/v1/check", doc, headers={"Content-Type": "application/json"},
                                    key=CMS_KEY)
        assert st == 400 and body["error"]["code"] == "invalid_json", body
        assert "NUL character" in body["error"]["message"], body


def test_a_nul_byte_in_the_path_is_refused():
    """%00 in the path would end the id it is in (/threads/a%00b would name
    thread "a"): 400 invalid_path before any handler runs; other escapes
    decode as before (a%20b is "a b")."""
    for path in (b"/v1/sites/news/threads/a%00b", b"/v1/sites/news/comments/x%00y", b"/healthz%00"):
        resps, _, closed = raw(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                               MOD_KEY.encode() + b"\r\n\r\n")
        assert resps and json_error(resps[0]) == (400, "invalid_path") and closed, (path, resps)
    st, b, _ = svc().request("GET", "/v1/sites/news/threads/a%20b", key=MOD_KEY)
    assert st == 404 and err_code(b) == "unknown_thread" and '"a b"' in b["error"]["message"], (st, b)
    st, b, _ = svc().request("GET", "/healthz?x=a%00b")  # the query is not the path: left as it is
    assert st == 200, (st, b)


def test_bulk_action_limit_outside_1_to_500_is_refused():
    for lim in (0, -3, 501):
        st, body, _ = svc().request("POST", "/v1/sites/news/actions", {"action": "spam", "ip": "192.0.2.9",
                                                                       "limit": lim}, key=MOD_KEY)
        assert st == 400 and body["error"]["code"] == "invalid_field" and "limit" in body["error"]["message"], body
    st, body, _ = svc().request("POST", "/v1/sites/news/actions", {"action": "spam", "ip": "192.0.2.9", "limit": 500},
                                key=MOD_KEY)
    assert st == 200, body


def test_made_up_methods_do_not_grow_the_metrics():
    for i in range(30):
        raw(b"FOO%d /nope HTTP/1.1\r\nHost: x\r\n\r\n" % i)
    st, text, _ = svc().request("GET", "/metrics", key=ctx["admin"])
    assert st == 200, text
    assert "FOO" not in text and 'method="other"' in text, text[:500]


# ---------------------------------------------------------------- slow clients

class Env:
    """A fresh redis-server + modgate with 'http' settings for one test."""

    def __init__(self, http):
        self.tmp = make_tmp()
        self.redis = Redis(self.tmp)
        self.redis.start()
        cfg = base_config(self.redis.port)
        cfg["http"].update(http)
        self.svc = Service(BIN, self.tmp, cfg)
        try:
            self.svc.start()
        except Exception:
            self.redis.stop()  # no redis-server outlives a failed start
            raise

    def close(self):
        rc = self.svc.stop()
        self.redis.stop()
        if rc != 0:
            print("service exit status %s; log tail:\n%s" % (rc, self.svc.logtext()[-3000:]))
        return rc


class Trickler:
    """Slow clients in one thread: each connection sends a request head
    one header line every 'every' seconds and never finishes it (or, with
    'body', a complete head and then the body a byte at a time)."""

    def __init__(self, port, sources, per_source, every=1.0, body=False):
        self.port, self.every, self.body = port, every, body
        self.socks = []
        for src in sources:
            for _ in range(per_source):
                s = socket.socket()
                s.setblocking(False)
                s.bind((src, 0))
                try:
                    s.connect(("127.0.0.1", port))
                except BlockingIOError:
                    pass
                self.socks.append(s)
        self.open = set(self.socks)
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def first(self):
        if self.body:
            return head(b"Content-Length: 100000\r\n\r\n")
        return b"POST /v1/check HTTP/1.1\r\nHost: x\r\n"

    def send(self, s, data):
        try:
            s.send(data)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.open.discard(s)

    def run(self):
        time.sleep(0.2)  # let the connects finish
        for s in list(self.open):
            self.send(s, self.first())
        n = 0
        while not self.stop_ev.wait(self.every):
            n += 1
            self.reap()
            for s in list(self.open):
                self.send(s, b"a" if self.body else b"X-Slow-%d: %d\r\n" % (n, n))

    def reap(self):
        """Forget the connections the server closed."""
        for s in list(self.open):
            try:
                d = s.recv(4096)
                if d == b"":
                    self.open.discard(s)
                else:
                    # an answer (e.g. 408): the server is done with it
                    self.open.discard(s)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                self.open.discard(s)

    def start(self):
        self.t.start()

    def close(self):
        self.stop_ev.set()
        self.t.join(10)
        for s in self.socks:
            s.close()


def served(port, src, n=20, timeout=10):
    """'n' ordinary checks and health probes from address 'src'; returns
    their latencies (s) and the failures. Each has a generous timeout: a
    bound on waiting, not a timing test."""
    lat, fails = [], []
    for i in range(n):
        t0 = time.monotonic()
        try:
            path = "/healthz" if i % 2 else "/v1/check"
            s = socket.socket()
            s.bind((src, 0))
            s.settimeout(timeout)
            s.connect(("127.0.0.1", port))
            b = json.dumps(comment(ip="198.51.100.%d" % (i % 250))).encode()
            req = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" if path == "/healthz"
                   else head(b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(b)) + b)
            s.sendall(req)
            got = recv_all(s)
            s.close()
            resps, _ = parse_responses(got)
            if len(resps) != 1 or resps[0][0] != 200:
                fails.append((path, got[:200]))
        except OSError as e:
            fails.append((path, repr(e)))
        lat.append(time.monotonic() - t0)
    return lat, fails


def more_files(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(n, soft), hard), hard))


def test_thousands_of_slow_connections_from_one_address_do_not_starve_others():
    """2,500 connections from 127.0.0.1 trickling header lines, and 300
    more from 100 addresses of 127.0.0.0/8, against a service with room for
    1,000 connections (without a cap, the slow ones take every slot: 0 of
    10 other requests were answered in 50 s before the cap and deadline):
    the per-address cap turns most away at once, the request deadline
    closes the rest, and a client at another address gets every check and
    health probe answered throughout."""
    more_files(10000)
    env = Env({"max_connections": 1000, "max_connections_per_ip": 32, "request_timeout_s": 3})
    s = env.svc
    slow = many = None
    try:
        slow = Trickler(s.port, ["127.0.0.1"], 2500, every=1.0)
        many = Trickler(s.port, ["127.0.%d.%d" % (3, i) for i in range(1, 101)], 3, every=1.0)
        slow.start()
        many.start()
        time.sleep(1.0)
        lat, fails = served(s.port, "127.0.9.9", n=40)
        assert not fails, fails[:5]
        print("  served during the attack: %d requests, median %.1f ms, max %.1f ms" %
              (len(lat), sorted(lat)[len(lat) // 2] * 1000, max(lat) * 1000))
        # Every slow connection is gone once its deadline passed, though
        # each kept sending a line a second.
        gone = wait_until(lambda: len(slow.open) + len(many.open) == 0, 20, 0.2)
        assert gone, (len(slow.open), len(many.open))
        assert "did not arrive within 3 s" in s.logtext(), s.logtext()[-2000:]
        lat, fails = served(s.port, "127.0.9.9", n=10)
        assert not fails, fails[:5]
    finally:
        for t in (slow, many):
            if t:
                t.close()
        rc = env.close()
    assert rc == 0, rc


def test_a_trickled_body_is_cut_off_at_the_deadline():
    """A complete head, then a 100 KB body a byte a second: closed at
    the request deadline, not kept alive by each byte."""
    env = Env({"request_timeout_s": 2, "connection_timeout_s": 30})
    s = env.svc
    t = None
    try:
        t = Trickler(s.port, ["127.0.0.1"], 5, every=0.5, body=True)
        t.start()
        gone = wait_until(lambda: len(t.open) == 0, 15, 0.2)
        assert gone, len(t.open)
        assert s.request("GET", "/healthz")[0] == 200
    finally:
        if t:
            t.close()
        rc = env.close()
    assert rc == 0, rc


def test_a_slow_request_line_on_a_kept_alive_connection_is_cut_off():
    """After one good request, the next request line trickled a byte at a
    time: bounded by the idle timeout plus the request deadline."""
    env = Env({"request_timeout_s": 2, "connection_timeout_s": 2})
    s = env.svc
    try:
        c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)
        resps, _ = parse_responses(c.recv(65536))
        assert resps and resps[0][0] == 200, resps
        closed = False
        for ch in b"GET /healthz HTTP/1.1\r\nX-A: " + b"a" * 200:
            try:
                c.send(bytes([ch]))
            except OSError:
                closed = True
                break
            r, _, _ = select.select([c], [], [], 0.25)
            if r and c.recv(100) == b"":
                closed = True
                break
        assert closed, "still open after trickling the whole line"
        c.close()
    finally:
        rc = env.close()
    assert rc == 0, rc


def test_a_slow_reader_is_cut_off_at_the_deadline():
    """An answer read a little at a time (a page of the moderation queue,
    some MB, through a tiny receive window) must be sent within the
    request deadline too: each read is progress, so the idle timeout alone
    would keep the slot for as long as the reader likes."""
    env = Env({"request_timeout_s": 2, "connection_timeout_s": 30})
    s = env.svc
    try:
        big = "crypto " + "x" * 50000  # a suspect word: held, 50 KB each
        for i in range(100):
            st, body, _ = s.check(comment(big + str(i), cid="big-%d" % i, ip="192.0.2.%d" % i))
            assert st == 200 and body["decision"] == "hold", body
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.settimeout(5)
        c.connect(("127.0.0.1", s.port))
        c.sendall(b"GET /v1/sites/news/queue?limit=100 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                  MOD_KEY.encode() + b"\r\n\r\n")
        got, closed = 0, False
        for _ in range(60):  # 30 s at most, 4 KB every half second: far from the 5 MB
            try:
                d = c.recv(4096)
            except OSError:
                closed = True
                break
            if not d:
                closed = True
                break
            got += len(d)
            time.sleep(0.5)
        c.close()
        assert closed and got < 4000000, (closed, got)
    finally:
        rc = env.close()
    assert rc == 0, rc


def test_connections_over_the_per_address_cap_are_closed_at_once():
    # (a long deadline: the four kept-alive connections must outlive the test)
    env = Env({"max_connections_per_ip": 4, "request_timeout_s": 120, "connection_timeout_s": 120})
    s = env.svc
    held = []
    try:
        def answered():
            c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            # answered, so libmicrohttpd has surely accepted and counted it
            # (a connection in the kernel's accept queue is not counted yet)
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                if c.recv(4096).startswith(b"HTTP/1.1 200"):
                    return c
            except OSError:
                pass
            c.close()  # the harness's own start-up connection was still counted: again
            return None
        for _ in range(4):
            c = wait_until(answered, 10, 0.1)
            assert c, "no connection answered"
            held.append(c)
        extra = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            d = extra.recv(100)
        except OSError:
            d = b""
        assert d == b"", d
        extra.close()
        # another address is not affected
        lat, fails = served(s.port, "127.0.0.2", n=4)
        assert not fails, fails
        # the same address again once one of its connections closes
        held.pop().close()
        ok = wait_until(lambda: served(s.port, "127.0.0.1", n=1)[1] == [], 5)
        assert ok
    finally:
        for c in held:
            c.close()
        rc = env.close()
    assert rc == 0, rc


def main():
    global BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "modgate"))
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    BIN = os.path.abspath(a.bin)
    tmp = make_tmp()
    r = Redis(tmp)
    r.start()
    cfg = base_config(r.port)
    cfg["admin_keys"] = [{"id": "it-top-admin", "role": "admin", "sha256": sha256(TOP_ADMIN)}]
    s = Service(BIN, tmp, cfg)
    s.start()
    ctx["svc"] = s
    ctx["admin"] = TOP_ADMIN
    return run_tests(globals(), s, r, a.only, own={
        "test_thousands_of_slow_connections_from_one_address_do_not_starve_others",
        "test_a_trickled_body_is_cut_off_at_the_deadline",
        "test_a_slow_request_line_on_a_kept_alive_connection_is_cut_off",
        "test_connections_over_the_per_address_cap_are_closed_at_once",
        "test_a_slow_reader_is_cut_off_at_the_deadline"})


if __name__ == "__main__":
    sys.exit(main())
