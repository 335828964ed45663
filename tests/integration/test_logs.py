#!/usr/bin/env python3
"""Logs cannot be forged: hostile paths (%0a, %0d, %1b, %22, %00, %20site=,
%ff, 16 KiB), hostile X-Request-Id values and libmicrohttpd's own messages
leave every line of the log one well-formed line, in text (a timestamp, a
level, [rid], logfmt fields whose values parse back to what was sent) and
with log_format "json" (every line a JSON object with ts, level, rid, msg;
the access line's fields typed). The forged text appears only escaped,
inside the one access line of its request; no raw control byte or invalid
UTF-8 reaches the file. Real redis-server, real binary, raw HTTP over real
sockets. Prints "N passed, N failed"."""
import json
import os
import re
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CMS_KEY, MOD_KEY, Service, base_config, comment, recv_all, run_tests, start,  # noqa: E402
                     wait_until)

ctx = {}
FORGED = "2026-01-01T00:00:00.000Z info [forged-rid] GET /v1/admin 200 ms=0.1 site=news key=admin bytes=0"


def svc():
    return ctx["svc"]


def json_svc():
    """The service with log_format "json", started on first use (the
    baseline refuses the option: then every JSON test fails)."""
    if "json" not in ctx:
        cfg = base_config(ctx["redis"].port)
        cfg["log_format"] = "json"
        s = Service(ctx["bin"], ctx["tmp"], cfg, name="modgate-json")
        ctx["json"] = s
        s.start()
    return ctx["json"]


def raw(s, target, headers=b""):
    """Send 'target' (bytes, as it goes on the request line) on a fresh
    connection; (status, X-Request-Id or None). The ids are kept in
    ctx["sent"], the requests whose lines may show what they sent."""
    c = socket.create_connection(("127.0.0.1", s.port), timeout=15)
    c.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n" + headers + b"Connection: close\r\n\r\n")
    data = recv_all(c)
    c.close()
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    rid = [h.split(":", 1)[1].strip() for h in head[1:] if h.lower().startswith("x-request-id:")]
    if rid:
        ctx.setdefault("sent", set()).add(rid[0])
    return int(head[0].split()[1]), rid[0] if rid else None


def decoded(target):
    """The path as the service sees it: percent-decoded, but for %00, which
    stays as it is (and the request is refused: status_of)."""
    return re.sub(rb"%([0-9a-fA-F]{2})", lambda m: m.group(0) if m.group(1) == b"00" else
                  bytes([int(m.group(1), 16)]), target)


def status_of(target):
    """404 for these made-up paths; 400 invalid_path for one with a NUL."""
    return 400 if b"%00" in target else 404


# ---------------------------------------------------------------- reading the log

TEXT_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (debug|info|warn|error) \[([^\]\s]+)\] (.*)$")


def log_lines(s):
    """The log's lines, checked to be text: valid UTF-8 and, but for the
    line ends, no control byte at all."""
    data = open(s.logpath, "rb").read()
    bad = [b for b in set(data) if (b < 0x20 and b != 0x0a) or b == 0x7f]
    assert not bad, ("raw control bytes in the log", bad)
    text = data.decode("utf-8")  # strict: invalid UTF-8 fails here
    assert not re.search("[\u0080-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]", text), "C1/bidi in the log"
    return text.splitlines()


def unescape(s):
    """A text value's escapes (\\n \\r \\t \\\\ \\" \\xNN \\uNNNN) back to bytes."""
    out, i = bytearray(), 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        e = s[i + 1]
        if e in "nrt\\\"":
            out += {"n": b"\n", "r": b"\r", "t": b"\t", "\\": b"\\", "\"": b"\""}[e]
            i += 2
        elif e == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        elif e == "u":
            out += chr(int(s[i + 2:i + 6], 16)).encode()
            i += 6
        else:
            raise AssertionError("unknown escape in %r" % s)
    return bytes(out)


TOKEN = re.compile(r'(?:([a-z_]+)=)?(?:"((?:[^"\\]|\\.)*)"|([^\s"=\\]+))(?= |$)|([a-z_]+)(?= |$)')


def text_fields(rest):
    """A text access line after "[rid] ": logfmt tokens, each a whole
    match, or the line is not well-formed. Returns (bare values, {key:
    value}) as bytes; a key seen twice fails."""
    bare, keyed, pos = [], {}, 0
    while pos < len(rest):
        m = TOKEN.match(rest, pos)
        assert m, ("not a logfmt token", rest[pos:pos + 80], rest[:300])
        key, quoted, plain, flag = m.groups()
        if flag:
            key, value = flag, b"true"
        else:
            value = unescape(quoted) if quoted is not None else plain.encode()
        if key:
            assert key not in keyed, ("a field twice", key, rest[:300])
            keyed[key] = value
        else:
            bare.append(value)
        pos = m.end() + 1
    return bare, keyed


def parse_text(s):
    """Every line of a text log: (ts, level, rid, rest); each must match."""
    out = []
    for line in log_lines(s):
        m = TEXT_LINE.match(line)
        assert m, ("not a log line", line[:300])
        out.append(m.groups())
    return out


def text_access(s, rid):
    """The one text access line of request 'rid': (bare, keyed). Waits
    for it (it is written when the request completes)."""
    def find():
        return [r for (_, _, lr, r) in parse_text(s) if lr == rid]
    lines = wait_until(find, 10)
    assert len(lines) == 1, ("access lines of %s" % rid, lines)
    return text_fields(lines[0])


def parse_json(s):
    out = []
    for line in log_lines(s):
        o = json.loads(line)
        assert isinstance(o, dict), line
        for k in ("ts", "level", "rid", "msg"):
            assert k in o, (k, line[:300])
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", o["ts"]) and o["level"] in (
            "debug", "info", "warn", "error"), line[:300]
        out.append(o)
    return out


def json_access(s, rid):
    lines = wait_until(lambda: [o for o in parse_json(s) if o["rid"] == rid], 10)
    assert len(lines) == 1, ("access lines of %s" % rid, lines)
    o = lines[0]
    for k, t in (("method", str), ("path", str), ("status", int), ("ms", (int, float)), ("bytes", int)):
        assert isinstance(o.get(k), t), (k, o)
    for k in ("site", "key", "note"):
        assert k in o and (o[k] is None or isinstance(o[k], str)), (k, o)
    return o


HOSTILE = [
    b"/nope%0a" + FORGED.replace(" ", "%20").encode(),
    b"/nope%0d%0a" + FORGED.replace(" ", "%20").encode(),
    b"/esc%1b[31mred%1b[0m%1b]0;title%07",
    b"/q%22%20site=other%20key=admin%22",
    b"/x%20site=other%20key=admin",
    b"/bad%ff%fe%c0%af",
    b"/c1%c2%85%c2%9b31m%e2%80%ae",
    b"/back%5cx0a%5c%5c",
    b"/nul%00%0a" + FORGED.replace(" ", "%20").encode(),
]


def forged_only_inside(lines):
    """FORGED shows only inside the access lines of the requests that sent
    it (lines as (rid, text)): no line of its own starts with it."""
    for rid, text in lines:
        if "forged-rid" in text:
            assert rid in ctx["sent"], ("the forged text outside its request's line", rid, text[:300])


# ---------------------------------------------------------------- text

def test_text_hostile_paths_stay_inside_their_quoted_value():
    for target in HOSTILE:
        st, rid = raw(svc(), target)
        assert st == status_of(target) and rid, (target, st)
        bare, keyed = text_access(svc(), rid)
        assert [bare[0], bare[2]] == [b"GET", str(st).encode()] and len(bare) == 3, (target, bare)
        assert bare[1] == decoded(target), (target, bare[1])
        # the path's " site=other key=admin" is no field: the real ones are
        assert keyed["site"] == b"-" and keyed["key"] == b"-" and keyed["bytes"] == b"0", (target, keyed)
    lines = parse_text(svc())
    assert not any(r == "forged-rid" for (_, _, r, _) in lines)


def test_text_forged_line_is_not_a_line():
    st, rid = raw(svc(), HOSTILE[0])
    text_access(svc(), rid)
    forged_only_inside([(r, rest) for (_, _, r, rest) in parse_text(svc())])
    # the escaped newline is visible in that one line
    line = [rest for (_, _, r, rest) in parse_text(svc()) if r == rid][0]
    assert line.startswith('GET "/nope\\n2026-01-01T00:00:00.000Z info [forged-rid]'), line[:200]


def test_text_long_paths_are_cut_and_well_formed():
    # routed (a 404 from us: under the 4096-byte URL limit, over the log's
    # 1024-byte cut), then one over http.header_buffer_bytes (a 414 from
    # libmicrohttpd, which logs it itself, at info)
    long_path = b"/long" + b"%0aA%20key=admin" * 300
    st, rid = raw(svc(), long_path)
    assert st == 404, st
    bare, keyed = text_access(svc(), rid)
    assert decoded(long_path).startswith(bare[1][:-3]) and bare[1].endswith(b"..."), bare[1][:100]
    assert keyed["site"] == b"-" and keyed["key"] == b"-"
    line = [ln for ln in log_lines(svc()) if "[%s]" % rid in ln][0]
    assert len(line.encode()) < 4096, len(line)
    st, _ = raw(svc(), b"/huge%0a" + b"B" * 40000)
    assert st == 414, st
    assert wait_until(lambda: any("response code is 414" in rest for (_, lvl, _, rest) in parse_text(svc())
                                  if lvl == "info"), 10)
    parse_text(svc())  # every line, libmicrohttpd's included


def test_text_raw_control_bytes_in_the_request_line():
    # not percent-encoded: bytes libmicrohttpd passes as they are
    st, rid = raw(svc(), b"/raw\x01\x7f\xff\x1b[2J")
    bare, _ = text_access(svc(), rid)
    assert bare[1] == b"/raw\x01\x7f\xff\x1b[2J", bare


def test_text_check_line_has_its_fields_and_no_content():
    st, body, h = svc().check(comment("A sentence about zeppelins and marmalade", ip="203.0.113.201"))
    assert st == 200, body
    bare, keyed = text_access(svc(), h["x-request-id"])
    assert bare == [b"POST", b"/v1/check", b"200"], bare
    assert keyed["site"] == b"news" and keyed["key"] == b"t-cms" and int(keyed["bytes"]) > 0, keyed
    assert keyed["note"].startswith(b"decision="), keyed
    log = open(svc().logpath, "rb").read()
    for secret in (CMS_KEY.encode(), MOD_KEY.encode(), b"zeppelins", b"marmalade"):
        assert secret not in log, secret


# ---------------------------------------------------------------- json

def test_json_every_line_parses_and_paths_round_trip():
    s = json_svc()
    for target in HOSTILE:
        st, rid = raw(s, target)
        assert st == status_of(target) and rid, (target, st)
        o = json_access(s, rid)
        want = decoded(target)
        assert o["method"] == "GET" and o["status"] == st, o
        assert o["path"] == want.decode("utf-8", "replace"), (target, o["path"])
        assert o["site"] is None and o["key"] is None and o["bytes"] == 0, o
        assert o["msg"].startswith("GET ") and o["msg"].endswith(" %d" % st), o
    forged_only_inside([(o["rid"], json.dumps(o)) for o in parse_json(s)])


def test_json_hostile_request_ids_are_replaced():
    s = json_svc()
    kept = b"cms-42.a_b"
    st, rid = raw(s, b"/healthz", b"X-Request-Id: " + kept + b"\r\n")
    assert st == 200 and rid == kept.decode(), rid
    assert json_access(s, rid)["path"] == "/healthz"
    for bad in (b"abc\x1b[31m", b"a] forged=1", b"x" * 100, b"caf\xc3\xa9", b"a\tb", b"a\"b"):
        st, rid = raw(s, b"/healthz", b"X-Request-Id: " + bad + b"\r\n")
        assert st == 200 and rid and rid.encode() != bad, (bad, rid)
        assert re.match(r"^[0-9a-f]{8}-\d+$", rid), rid  # a generated one
        json_access(s, rid)
    assert not any(o["rid"] and ("forged" in o["rid"] or "\x1b" in o["rid"]) for o in parse_json(s))


def test_json_check_line_is_typed_and_holds_no_content():
    s = json_svc()
    st, body, h = s.check(comment("A sentence about zeppelins and marmalade", ip="203.0.113.202"))
    assert st == 200, body
    o = json_access(s, h["x-request-id"])
    assert (o["method"], o["path"], o["status"], o["site"], o["key"]) == ("POST", "/v1/check", 200, "news",
                                                                          "t-cms"), o
    assert o["bytes"] > 0 and o["ms"] >= 0 and o["note"].startswith("decision="), o
    assert o["level"] == "info" and o["ended_early"] is False, o
    log = open(s.logpath, "rb").read()
    for secret in (CMS_KEY.encode(), MOD_KEY.encode(), b"zeppelins", b"marmalade"):
        assert secret not in log, secret


def test_json_long_paths_and_libmicrohttpd_messages():
    s = json_svc()
    st, rid = raw(s, b"/long" + b"%0a%22%ff" * 1200)
    assert st == 404, st
    o = json_access(s, rid)
    assert o["path"].endswith("...") and o["status"] == 404, o["path"][:80]
    st, _ = raw(s, b"/huge" + b"C" * 40000)
    assert st == 414, st
    assert wait_until(lambda: any(o["level"] == "info" and "response code is 414" in o["msg"] for o in parse_json(s)),
                      10)


# ---------------------------------------------------------------- reload

def test_sighup_switches_the_format():
    cfg = base_config(ctx["redis"].port)
    s = Service(ctx["bin"], ctx["tmp"], cfg, name="modgate-reload")
    s.start()
    try:
        parse_text(s)
        cfg["log_format"] = "json"
        s.write_config(cfg)
        s.proc.send_signal(signal.SIGHUP)

        def reloaded_json():
            return any(ln.startswith("{") and "config reloaded" in ln for ln in s.logtext().splitlines())
        assert wait_until(reloaded_json, 10), s.logtext()[-1000:]
        st, rid = raw(s, b"/after%0areload")
        o = wait_until(lambda: [json.loads(ln) for ln in open(s.logpath).read().splitlines()
                                if ln.startswith("{") and rid in ln], 10)
        assert o and o[0]["path"] == "/after\nreload", o
        cfg["log_format"] = "xml"
        s.write_config(cfg)
        s.proc.send_signal(signal.SIGHUP)
        failed = wait_until(lambda: [ln for ln in s.logtext().splitlines() if "reload failed" in ln], 10)
        assert failed and failed[0].startswith("{") and "log_format" in json.loads(failed[0])["msg"], failed
    finally:
        rc = s.stop()
    assert rc == 0, rc
    # the text lines before, the JSON lines after: each well-formed
    for line in log_lines(s):
        if line.startswith("{"):
            json.loads(line)
        else:
            assert TEXT_LINE.match(line), line


class Services:
    """The services of this file, stopped together by run_tests (before
    Redis): the exit status is the first that is not 0."""

    def __init__(self, *names):
        self.names = names

    def stop(self):
        rcs = [ctx[n].stop() for n in self.names if n in ctx]
        return next((rc for rc in rcs if rc != 0), 0)

    def logtext(self):
        return "".join(ctx[n].logtext()[-2000:] for n in self.names if n in ctx)


def main():
    only = start(ctx)
    s = Service(ctx["bin"], ctx["tmp"], base_config(ctx["redis"].port))
    s.start()
    ctx["svc"] = s
    return run_tests(globals(), Services("svc", "json"), ctx["redis"], only)


if __name__ == "__main__":
    sys.exit(main())
