#!/usr/bin/env python3
"""Signed webhooks (api.md 2.17) against a local receiver in this process:
every event (held, decided, reported, author_changed) is delivered, in order
per comment, signed with every secret (verified here with Python's own hmac:
an implementation independent of modgate's); a receiver that fails, times
out and recovers gets every event, and other comments' events are not held
up meanwhile; an instance killed mid-delivery loses nothing (another one
delivers it after the lease); checks do not wait for a receiver that hangs;
the delivery log shows each attempt; a policy changes the URL; bad webhook
settings get their own 400. Real redis-server, real binaries, real HTTP.
Prints "N passed, N failed"."""
import base64
import copy
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ADMIN_KEY, CMS_KEY, MOD_KEY, ROOT, Service, base_config, comment, err_code,  # noqa: E402
                     free_port, no_starter, run_tests, start, wait_until)

ctx = {}
_n = [0]
SECRET1 = "whsec-one-0123456789abcdef0123456789abcdef"
SECRET2 = "whsec-two-fedcba9876543210fedcba9876543210"


class Receiver:
    """An HTTP server that records every delivery and answers as told:
    fail[comment id] lists how the next attempts for that comment's events
    go ("500"; "slow": past the webhook's timeout_ms), and the events of
    comment 'hang' wait for 'gate' (past the timeout too); then 200."""

    def __init__(self):
        self.got, self.fail, self.hang, self.lock = [], {}, None, threading.Lock()
        self.gate = threading.Event()
        rcv = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ev = json.loads(body)
                cid = ev["data"].get("comment_id")
                with rcv.lock:
                    todo = rcv.fail.get(cid)
                    how = todo.pop(0) if todo else "hang" if cid and cid == rcv.hang else "200"
                    rcv.got.append({"headers": dict(self.headers), "raw": body, "event": ev, "answer": how})
                if how == "slow":
                    time.sleep(1.5)
                elif how == "hang":
                    rcv.gate.wait(30)
                try:
                    self.send_response(500 if how == "500" else 200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass

        self.port = free_port()
        self.srv = ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/hooks" % self.port

    def delivered(self, pred=lambda e: True):
        """Events answered 200, in arrival order."""
        with self.lock:
            return [g["event"] for g in self.got if g["answer"] == "200" and pred(g["event"])]

    def attempts(self, cid):
        """How each attempt for comment cid's events was answered."""
        with self.lock:
            return [g["answer"] for g in self.got if g["event"]["data"].get("comment_id") == cid]


def svc():
    return ctx["svc"]


def config(url, **hook):
    cfg = no_starter(base_config(ctx["redis"].port))
    s1 = os.path.join(ctx["tmp"], "hook1.secret")
    with open(s1, "w") as f:
        f.write(SECRET1 + "\n")
    h = {"id": "cms", "url": url, "events": ["held", "decided", "reported", "author_changed"],
         "secrets": [{"id": "s1", "secret_file": s1}, {"id": "s2", "secret_env": "MG_TEST_HOOK_SECRET"}],
         "timeout_ms": 500}
    h.update(hook)
    cfg["sites"]["news"]["webhooks"] = [h]
    cfg["sites"]["news"]["reports"] = {"threshold": 1}
    return cfg


ENV = {"MG_TEST_HOOK_SECRET": SECRET2}


def verify(g, secrets=(SECRET1, SECRET2)):
    """The signature header checked as a receiver would: t within 5
    minutes, and a v1 for each secret equal to HMAC-SHA256(secret,
    t + "." + body)."""
    sig = g["headers"]["X-Modgate-Signature"]
    parts = [p.split("=", 1) for p in sig.split(",")]
    t = int(dict(parts)["t"])
    assert abs(time.time() - t) < 300, sig
    v1 = [v for k, v in parts if k == "v1"]
    want = [hmac.new(s.encode(), str(t).encode() + b"." + g["raw"], hashlib.sha256).hexdigest() for s in secrets]
    assert v1 == want, (sig, want)
    assert g["headers"]["X-Modgate-Event"] == g["event"]["type"]
    assert g["headers"]["X-Modgate-Delivery"] == g["event"]["id"]


def held(cid, author=None):
    c = comment("Is crypto the answer to the council's deficit, item %s?" % cid, cid=cid)
    if author:
        c["author"] = {"id": author}
    st, r, _ = svc().check(c)
    assert st == 200 and r["decision"] == "hold" and r["stored"] is True, r
    return r


def act(cid, action, frm):
    st, b, _ = svc().request("POST", "/v1/sites/news/comments/%s/action" % cid, {"action": action, "from": frm},
                             key=MOD_KEY)
    assert st == 200 and b["status"] == "ok", (st, b)


def of(cid):
    return lambda e: e["data"].get("comment_id") == cid


def test_every_event_is_delivered_signed_and_in_order_per_comment():
    rcv = ctx["rcv"]
    _n[0] += 1
    cid = "wh-%d" % _n[0]
    held(cid, author="hook-author")
    act(cid, "approve", "held")
    act(cid, "hold", "approved")  # the undo
    act(cid, "reject", "held")
    ok = wait_until(lambda: len(rcv.delivered(of(cid))) == 4, 20)
    evs = rcv.delivered(of(cid))
    assert ok, evs
    assert [(e["type"], e["data"]["state"]) for e in evs] == \
        [("held", "held"), ("decided", "approved"), ("held", "held"), ("decided", "rejected")], evs
    assert evs[0]["data"]["score"] > 0 and "suspect_word" in evs[0]["data"]["reasons"], evs[0]
    assert evs[1]["data"]["by"] == "t-mod" and evs[1]["data"]["previous"] == "held", evs[1]
    assert len({e["id"] for e in evs}) == 4 and all(e["site"] == "news" for e in evs)
    # a published comment reported, and an author banned
    pub = "whp-%d" % _n[0]
    body = "Thanks for the piece on the bridge repairs, number %d." % _n[0]
    st, r, _ = svc().check(comment(body, cid=pub))
    assert r["decision"] == "accept", r
    st, b, _ = svc().request("POST", "/v1/sites/news/comments/%s/reports" % pub,
                             {"reader_id": "rd1", "reason": "abusive", "body": body}, key=CMS_KEY)
    assert st == 200 and b["queued"] is True, b
    st, b, _ = svc().request("PUT", "/v1/sites/news/authors/hook-author", {"status": "banned", "note": "x"},
                             key=MOD_KEY)
    assert st == 200, b
    assert wait_until(lambda: rcv.delivered(of(pub)) and rcv.delivered(lambda e: e["type"] == "author_changed"), 20)
    rep = rcv.delivered(of(pub))[0]
    assert rep["type"] == "reported" and rep["data"]["reports"] == 1 and rep["data"]["hide"] is False, rep
    au = rcv.delivered(lambda e: e["type"] == "author_changed")[-1]
    assert au["data"]["status"] == "banned" and au["data"]["previous"] == "normal" and au["data"]["by"] == "t-mod", au
    for g in list(rcv.got):
        verify(g)


def test_the_documented_verifiers_accept_a_real_delivery_and_refuse_a_forged_one():
    """api.md's two ten-line verifiers, as printed there, run on a real
    delivery: Python's in this process, Node.js's under node."""
    rcv = ctx["rcv"]
    _n[0] += 1
    cid = "wv-%d" % _n[0]
    held(cid)
    assert wait_until(lambda: rcv.delivered(of(cid)), 20)
    g = next(x for x in rcv.got if of(cid)(x["event"]))
    header = g["headers"]["X-Modgate-Signature"]
    doc = open(os.path.join(ROOT, "api.md")).read()
    sec = doc[doc.index("### 2.17 Webhooks"):]
    py = sec[sec.index("```python\n") + 10:]
    py = py[:py.index("```")]
    js = sec[sec.index("```js\n") + 6:]
    js = js[:js.index("```")]
    ns = {}
    exec(py, ns)  # noqa: S102 - our own documentation's example
    assert ns["verified"](SECRET1.encode(), header, g["raw"]) and ns["verified"](SECRET2.encode(), header, g["raw"])
    assert not ns["verified"](b"not-the-secret-0123456789", header, g["raw"])
    assert not ns["verified"](SECRET1.encode(), header, g["raw"].replace(b"held", b"hELD", 1))
    js += """
const [h, b, s] = [process.argv[2], Buffer.from(process.argv[3], "base64"), process.argv[4]];
console.log(JSON.stringify([verified(s, h, b), verified("not-the-secret-0123456789", h, b),
  verified(s, h, Buffer.concat([b, Buffer.from(" ")]))]));
"""
    path = os.path.join(ctx["tmp"], "verify.js")
    with open(path, "w") as f:
        f.write(js)
    out = subprocess.run(["node", path, header, base64.b64encode(g["raw"]).decode(), SECRET2],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and json.loads(out.stdout) == [True, False, False], (out.stdout, out.stderr)


def test_failures_and_timeouts_are_retried_and_other_comments_go_on():
    """b's first event fails twice and times out once before it is taken;
    b's second event waits behind it; c's events go out meanwhile."""
    rcv = ctx["rcv"]
    _n[0] += 1
    b, c = "wb-%d" % _n[0], "wc-%d" % _n[0]
    rcv.fail[b] = ["500", "500", "slow"]
    held(b)
    act(b, "approve", "held")
    held(c)
    assert wait_until(lambda: len(rcv.delivered(of(b))) == 2, 40), rcv.attempts(b)
    assert rcv.attempts(b) == ["500", "500", "slow", "200", "200"], rcv.attempts(b)
    assert [e["type"] for e in rcv.delivered(of(b))] == ["held", "decided"]
    with rcv.lock:
        order = [(g["event"]["data"].get("comment_id"), g["answer"]) for g in rcv.got]
    # c was delivered while b still waited for its retries
    assert order.index((c, "200")) < order.index((b, "200")), order
    st, d, _ = svc().request("GET", "/v1/sites/news/webhooks/deliveries?limit=500", key=ADMIN_KEY)
    assert st == 200, d
    mine = [x for x in reversed(d["deliveries"]) if x["subject"] == "c:" + b]
    assert [(x["outcome"], x["status"], x["attempt"]) for x in mine] == \
        [("retry", 500, 1), ("retry", 500, 2), ("retry", 0, 3), ("ok", 200, 4), ("ok", 200, 1)], mine
    assert "imed out" in mine[2]["error"] and mine[0]["webhook"] == "cms" and mine[0]["type"] == "held", mine
    # paging: before= the last id of a page gives the next, older one
    st, p1, _ = svc().request("GET", "/v1/sites/news/webhooks/deliveries?limit=2", key=ADMIN_KEY)
    st, p2, _ = svc().request("GET", "/v1/sites/news/webhooks/deliveries?limit=2&before=" + p1["next_before"],
                              key=ADMIN_KEY)
    assert st == 200 and p2["deliveries"][0]["id"] < p1["deliveries"][-1]["id"], (p1, p2)


def test_a_hanging_receiver_does_not_hold_up_checks():
    rcv = ctx["rcv"]
    _n[0] += 1
    rcv.gate.clear()
    rcv.hang = "wh-hang-%d" % _n[0]
    held(rcv.hang)
    assert wait_until(lambda: rcv.attempts(rcv.hang), 10)
    # a delivery is waiting on the receiver now: checks are answered meanwhile
    for i in range(20):
        st, r, _ = svc().check(comment(cid="wh-during-%d-%d" % (_n[0], i)))
        assert st == 200 and r["decision"] in ("accept", "hold"), r
    cid = rcv.hang

    def timed_out():
        d = svc().request("GET", "/v1/sites/news/webhooks/deliveries?limit=100", key=ADMIN_KEY)[1]
        return [x for x in d["deliveries"] if x["subject"] == "c:" + cid and x["outcome"] == "retry"]
    assert wait_until(timed_out, 10)  # the receiver kept it past timeout_ms: to be sent again
    rcv.hang = None
    rcv.gate.set()
    assert wait_until(lambda: rcv.delivered(of(cid)), 20), rcv.attempts(cid)
    assert rcv.attempts(cid)[:2] == ["hang", "200"], rcv.attempts(cid)
    assert "a script failed" not in svc().logtext(), svc().logtext()[-2000:]


def test_an_instance_killed_mid_delivery_loses_nothing():
    """The only instance is killed while the receiver holds its delivery;
    the next one started delivers it once the claim's lease ends."""
    rcv = ctx["rcv"]
    main_svc = svc()
    assert main_svc.stop() == 0
    cfg = copy.deepcopy(main_svc.config)
    cfg["listen"] = "127.0.0.1:%d" % free_port()
    k = Service(ctx["bin"], ctx["tmp"], cfg, name="modgate-killed")
    k.start(env=ENV)
    ctx["svc"] = k
    _n[0] += 1
    cid = "wk-%d" % _n[0]
    rcv.gate.clear()
    rcv.hang = cid
    try:
        held(cid)
        assert wait_until(lambda: rcv.attempts(cid), 10)
        k.proc.send_signal(signal.SIGKILL)  # mid-delivery
        k.proc.wait()
    finally:
        rcv.hang = None
        rcv.gate.set()
        main_svc.start(env=ENV)
        ctx["svc"] = main_svc
    assert wait_until(lambda: rcv.delivered(of(cid)), 30), rcv.attempts(cid)
    assert rcv.attempts(cid)[0] == "hang", rcv.attempts(cid)


def test_a_policy_moves_the_url_and_bad_settings_get_400():
    rcv2 = Receiver()
    st, b, _ = svc().request("PUT", "/v1/sites/news/policy", {"policy": {"webhooks": {"cms": {"url": rcv2.url}}}},
                             key=ADMIN_KEY)
    assert st == 200 and b["policy"]["webhooks"]["cms"]["url"] == rcv2.url, b
    _n[0] += 1
    cid = "wm-%d" % _n[0]
    held(cid)
    assert wait_until(lambda: rcv2.delivered(of(cid)), 20)
    verify(rcv2.got[0])
    for pol, words in (({"cms": {"url": "ftp://example.org/x"}}, "http"),
                       ({"cms": {"url": "https://user:pw@example.org/x"}}, "user:password"),
                       ({"cms": {"events": ["held", "everything"]}}, "events"),
                       ({"cms": {"events": []}}, "events"),
                       ({"cms": {"secrets": []}}, "config file"),
                       ({"nope": {"url": "https://example.org/"}}, "no webhook"),
                       ({"cms": "https://example.org/"}, "url")):
        st, b, _ = svc().request("PUT", "/v1/sites/news/policy", {"policy": {"webhooks": pol}}, key=ADMIN_KEY)
        assert st == 400 and words in b["error"]["message"], (pol, st, b)
    st, b, _ = svc().request("PUT", "/v1/sites/news/policy", {"policy": {"webhooks": {"cms": {"url": ctx["rcv"].url}}}},
                             key=ADMIN_KEY)
    assert st == 200, b
    st, b, _ = svc().request("GET", "/v1/sites/news/webhooks/deliveries", key=MOD_KEY)
    assert st == 403, b
    st, b, _ = svc().request("GET", "/v1/sites/news/webhooks/deliveries?limit=0", key=ADMIN_KEY)
    assert st == 400 and err_code(b) == "bad_parameter", b
    rcv2.srv.shutdown()


def main():
    only = start(ctx)
    ctx["rcv"] = Receiver()
    s = Service(ctx["bin"], ctx["tmp"], config(ctx["rcv"].url))
    s.start(env=ENV)
    ctx["svc"] = s
    return run_tests(globals(), s, ctx["redis"], only)


if __name__ == "__main__":
    sys.exit(main())
