#!/usr/bin/env python3
"""Integration tests of the captcha endpoints: GET /v1/captcha/challenge
(ALTCHA PoW v2, CORS) and POST /v1/captcha/verify (siteverify). The
solver and the signature checks here are this file's own, written from
ALTCHA's protocol with Python's hashlib and hmac: they do not share code
with modgate. Real redis-server, real binary, real HTTP. Prints
"N passed, N failed"."""
import argparse
import base64
import hashlib
import hmac
import json
import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CMS_KEY, MOD_KEY, OTHER_CMS_KEY, ROOT, Redis, Service, base_config,  # noqa: E402
                     err_code, make_tmp, run_tests, sha256)

ORIGIN = "https://news.example.org"
SECRET = bytes(range(32))           # the signing key "k2"
OLD_SECRET = bytes(range(100, 132))  # the previous key "k1"
TEST_CMS_KEY = "it-testmode-cms-key-0123456789abcdef"
BARE_CMS_KEY = "it-bare-cms-key-0123456789abcdef"

ctx = {}


def svc():
    return ctx["svc"]


def config(redis_port, tmp, old_until="2099-01-01T00:00:00Z"):
    def key_file(name, secret):
        p = os.path.join(tmp, name)
        with open(p, "w") as f:
            f.write(secret.hex() + "\n")
        os.chmod(p, 0o600)
        return p
    c = base_config(redis_port)
    keys = [{"id": "k2", "secret_file": key_file("k2.key", SECRET)},
            {"id": "k1", "secret_file": key_file("k1.key", OLD_SECRET), "verify_until": old_until}]
    c["sites"]["news"]["captcha"] = {"keys": keys, "origins": [ORIGIN, "http://127.0.0.1:8080"],
                                     "cost": 50, "counter_min": 20, "counter_max": 2000}
    # the same key id and secret as "news": only the signed site tells them apart
    c["sites"]["other"]["captcha"] = {"keys": [{"id": "k2", "secret_file": key_file("o1.key", SECRET)}]}
    c["sites"]["testmode"] = {"keys": [{"id": "tm-cms", "role": "cms", "sha256": sha256(TEST_CMS_KEY)}],
                              "captcha": {"keys": [{"id": "t1", "secret_file": key_file("t1.key", SECRET)}],
                                          "test_mode": True}}
    c["sites"]["bare"] = {"keys": [{"id": "bare-cms", "role": "cms", "sha256": sha256(BARE_CMS_KEY)}]}
    return c


# ---------------------------------------------------------------- ALTCHA, independently

def canonical(params):
    """JavaScript's JSON.stringify of the parameters with keys sorted, as
    ALTCHA signs them (integers and ASCII strings only)."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def derive(params, counter):
    pw = bytes.fromhex(params["nonce"]) + struct.pack(">I", counter)
    return hashlib.pbkdf2_hmac("sha256", pw, bytes.fromhex(params["salt"]), params["cost"], params["keyLength"])


def solve(params, limit=100000):
    """What the widget does: counters from 0 until the key has the prefix."""
    for c in range(limit):
        dk = derive(params, c)
        if dk.hex().startswith(params["keyPrefix"]):
            return c, dk.hex()
    raise AssertionError("not solved within %d counters" % limit)


def payload(challenge, counter, dk_hex):
    p = {"challenge": challenge, "solution": {"counter": counter, "derivedKey": dk_hex, "time": 12}}
    return base64.b64encode(json.dumps(p, separators=(",", ":")).encode()).decode()


def key_signature_secret(secret):
    return hmac.new(secret, b"modgate captcha key signature", hashlib.sha256).digest()


def forge(params, secret):
    """A challenge signed with 'secret' as modgate signs: what an operator
    holding the key could make. Used to reach states a live challenge
    cannot (one already expired)."""
    counter = 3
    dk = derive(params, counter)
    params["keyPrefix"] = dk[:16].hex()
    params["keySignature"] = hmac.new(key_signature_secret(secret), dk, hashlib.sha256).hexdigest()
    sig = hmac.new(secret, canonical(params), hashlib.sha256).hexdigest()
    return {"parameters": params, "signature": sig}, counter, dk.hex()


def challenge(site="news", origin=ORIGIN, s=None):
    h = {"Origin": origin} if origin else {}
    return (s or svc()).request("GET", "/v1/captcha/challenge?site=%s" % site, headers=h)


def verify(resp, secret=CMS_KEY, s=None, **extra):
    body = {"secret": secret, "response": resp}
    body.update(extra)
    return (s or svc()).request("POST", "/v1/captcha/verify", body)


# ---------------------------------------------------------------- tests

def test_challenge_is_altcha_v2_signed_and_cors_limited():
    st, ch, h = challenge()
    assert st == 200, ch
    assert h["access-control-allow-origin"] == ORIGIN and "Origin" in h.get("vary", ""), h
    assert h["cache-control"] == "no-store" and h["content-type"].startswith("application/json"), h
    p = ch["parameters"]
    assert p["algorithm"] == "PBKDF2/SHA-256" and p["keyLength"] == 32 and p["cost"] == 50, p
    assert set(p) == {"algorithm", "cost", "data", "expiresAt", "keyLength", "keyPrefix", "keySignature",
                      "nonce", "salt"}, p
    assert p["data"] == {"host": "news.example.org", "kid": "k2", "site": "news"}, p
    assert abs(p["expiresAt"] - (time.time() + 300)) < 30, p
    assert len(p["nonce"]) == 32 and len(p["salt"]) == 32 and len(p["keyPrefix"]) == 32, p
    # the signature is HMAC-SHA-256 over JavaScript's canonical JSON
    assert ch["signature"] == hmac.new(SECRET, canonical(p), hashlib.sha256).hexdigest(), ch
    # another origin of the site is answered with its own name; others are refused
    st, ch2, h = challenge(origin="http://127.0.0.1:8080")
    assert st == 200 and h["access-control-allow-origin"] == "http://127.0.0.1:8080", h
    assert ch2["parameters"]["data"]["host"] == "127.0.0.1" and ch2["parameters"]["nonce"] != p["nonce"]
    st, body, h = challenge(origin="https://evil.example")
    assert st == 403 and err_code(body) == "origin_not_allowed", body
    assert "access-control-allow-origin" not in h, h
    # a server (no Origin) may fetch one too
    st, ch3, h = challenge(origin=None)
    assert st == 200 and ch3["parameters"]["data"]["host"] == "" and "access-control-allow-origin" not in h


def test_preflight_answers_allowed_origins_only():
    st, body, h = svc().request("OPTIONS", "/v1/captcha/challenge?site=news",
                                headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"})
    assert st == 200 and h["access-control-allow-origin"] == ORIGIN, (st, h)
    assert h["access-control-allow-methods"] == "GET", h
    st, body, h = svc().request("OPTIONS", "/v1/captcha/challenge?site=news", headers={"Origin": "https://x.test"})
    assert st == 403 and err_code(body) == "origin_not_allowed", body


def test_challenge_errors_name_the_problem():
    st, body, _ = svc().request("GET", "/v1/captcha/challenge")
    assert st == 400 and err_code(body) == "missing_field" and "site" in body["error"]["message"], body
    st, body, _ = challenge(site="nowhere", origin=None)
    assert st == 404 and err_code(body) == "unknown_site", body
    st, body, _ = challenge(site="bare", origin=None)
    assert st == 404 and err_code(body) == "captcha_not_configured", body
    st, body, _ = svc().request("POST", "/v1/captcha/challenge?site=news")
    assert st == 405 and err_code(body) == "method_not_allowed", body


def test_solved_challenge_verifies_once():
    st, ch, _ = challenge()
    counter, dk = solve(ch["parameters"])
    # the work is drawn from [0, 2 x counter_min]
    assert 0 <= counter <= 40, counter
    resp = payload(ch, counter, dk)
    st, body, _ = verify(resp)
    assert st == 200 and body["success"] is True and body["error-codes"] == [], body
    assert body["hostname"] == "news.example.org" and body["reason"] == "captcha_solved", body
    ts = time.mktime(time.strptime(body["challenge_ts"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert abs(ts - time.time()) < 60, body
    st, body, _ = verify(resp)
    assert st == 200 and body["success"] is False, body
    assert body["error-codes"] == ["timeout-or-duplicate"] and body["reason"] == "captcha_replayed", body
    # the bearer header works as well as the body's secret
    st, ch, _ = challenge()
    counter, dk = solve(ch["parameters"])
    st, body, _ = svc().request("POST", "/v1/captcha/verify", {"response": payload(ch, counter, dk)}, key=CMS_KEY)
    assert st == 200 and body["success"] is True, body


def test_zero_work_and_prefix_only_payloads_are_refused():
    st, ch, _ = challenge()
    p = ch["parameters"]
    counter, dk = solve(p)
    if counter == 0:  # one in 41: the real solution; draw again
        st, ch, _ = challenge()
        p = ch["parameters"]
        counter, dk = solve(p)
    # what the reference verifier accepts: the real key of counter 0, no search
    st, body, _ = verify(payload(ch, 0, derive(p, 0).hex()))
    assert st == 200 and body["success"] is False and body["reason"] == "captcha_not_solved", body
    assert body["error-codes"] == ["invalid-input-response"], body
    st, body, _ = verify(payload(ch, counter, p["keyPrefix"] + "0" * 32))
    assert body["success"] is False and body["reason"] == "captcha_not_solved", body
    st, body, _ = verify(payload(ch, counter, dk[:62]))
    assert body["success"] is False and body["reason"] == "captcha_not_solved", body
    # and the refusals did not use it up
    st, body, _ = verify(payload(ch, counter, dk))
    assert body["success"] is True, body


def test_tampered_wrong_site_expired_and_test_mode_payloads_are_refused():
    st, ch, _ = challenge()
    counter, dk = solve(ch["parameters"])
    t = json.loads(json.dumps(ch))
    t["parameters"]["cost"] = 1  # cheaper work, same signature
    st, body, _ = verify(payload(t, counter, dk))
    assert body["success"] is False and body["reason"] == "captcha_invalid", body
    # issued for "news", redeemed with the key of "other" (same secret, other site)
    st, body, _ = verify(payload(ch, counter, dk), secret=OTHER_CMS_KEY)
    assert body["success"] is False and body["reason"] == "captcha_wrong_site", body
    # validly signed, but expired
    params = dict(ch["parameters"], expiresAt=int(time.time()) - 5)
    fch, c, fdk = forge(params, SECRET)
    st, body, _ = verify(payload(fch, c, fdk))
    assert body["success"] is False and body["reason"] == "captcha_expired", body
    assert body["error-codes"] == ["timeout-or-duplicate"], body
    # the same forged challenge, not expired: our signing scheme, reproduced here, verifies
    params = dict(ch["parameters"], expiresAt=int(time.time()) + 60)
    fch, c, fdk = forge(params, SECRET)
    st, body, _ = verify(payload(fch, c, fdk))
    assert body["success"] is True, body
    test = base64.b64encode(b'{"challenge":null,"solution":null,"test":true}').decode()
    st, body, _ = verify(test)
    assert body["success"] is False and body["reason"] == "captcha_test_mode", body
    st, body, _ = verify(test, secret=TEST_CMS_KEY)
    assert body["success"] is True and body["test"] is True, body


def test_previous_key_verifies_until_its_grace_ends():
    st, ch, _ = challenge()
    params = dict(ch["parameters"], data={"host": "news.example.org", "kid": "k1", "site": "news"})
    fch, c, fdk = forge(params, OLD_SECRET)
    st, body, _ = verify(payload(fch, c, fdk))
    assert body["success"] is True, body
    params["nonce"] = "ab" * 16
    fch, c, fdk = forge(params, OLD_SECRET)
    s, r, tmp = svc(), ctx["redis"], ctx["tmp"]
    s.stop()
    s.write_config(config(r.port, tmp, old_until="2020-01-01T00:00:00Z"))
    s.start()
    st, body, _ = verify(payload(fch, c, fdk))
    assert body["success"] is False and body["reason"] == "captcha_unknown_key", body
    s.stop()
    s.write_config(config(r.port, tmp))
    s.start()


def test_verify_errors_have_both_shapes():
    st, ch, _ = challenge()
    counter, dk = solve(ch["parameters"])
    resp = payload(ch, counter, dk)
    cases = [
        (verify(resp, secret="not-a-key"), 401, "invalid-input-secret"),
        (verify(resp, secret=MOD_KEY), 401, "invalid-input-secret"),
        (svc().request("POST", "/v1/captcha/verify", {"response": resp}), 401, "missing-input-secret"),
        (verify(""), 400, "missing-input-response"),
        (verify(resp, remoteip=5), 400, "bad-request"),
        (verify(resp, colour="red"), 400, "bad-request"),
        (svc().request("POST", "/v1/captcha/verify", "{not json", headers={"Content-Type": "application/json"}),
         400, "bad-request"),
        (verify(resp, secret=BARE_CMS_KEY), 404, "invalid-input-secret"),
    ]
    for (st, body, _), want_st, want_code in cases:
        assert st == want_st and body["success"] is False and body["error-codes"] == [want_code], (st, body)
        err_code(body)
    st, body, _ = verify("%%% not base64")
    assert st == 200 and body["success"] is False and body["reason"] == "captcha_malformed", body
    # none of this used the good payload up
    st, body, _ = verify(resp, remoteip="203.0.113.9")
    assert body["success"] is True, body


def test_secrets_stay_out_of_the_log():
    log = svc().logtext()
    assert "/v1/captcha/verify 200" in log and "/v1/captcha/challenge 200" in log, log[-2000:]
    for secret in (CMS_KEY, SECRET.hex(), OLD_SECRET.hex()):
        assert secret not in log, secret


def test_config_refuses_bad_captcha_settings():
    tmp, r = ctx["tmp"], ctx["redis"]
    bad = [
        ({"keys": []}, "sites.news.captcha.keys"),
        ({"keys": [{"id": "x", "secret_env": "MODGATE_NO_SUCH_VAR_42"}]}, "secret_env"),
        ({"keys": [{"id": "x", "secret_file": os.path.join(tmp, "k2.key")}], "origins": ["news.example.org"]},
         "origins"),
        ({"keys": [{"id": "x", "secret_file": os.path.join(tmp, "k2.key"), "verify_until": "2030-01-01T00:00:00Z"}]},
         "signing key"),
        ({"keys": [{"id": "x", "secret_file": os.path.join(tmp, "short.key")}]}, "64-128 hex digits"),
        ({"keys": [{"id": "x", "secret_file": os.path.join(tmp, "k2.key")}], "counter_min": 10, "counter_max": 5},
         "counter_max"),
    ]
    with open(os.path.join(tmp, "short.key"), "w") as f:
        f.write("abcd\n")
    for cap, want in bad:
        c = config(r.port, tmp)
        c["sites"]["news"]["captcha"] = cap
        p = os.path.join(tmp, "bad.json")
        with open(p, "w") as f:
            json.dump(c, f)
        out = subprocess.run([ctx["bin"], "config", "check", p], capture_output=True, text=True)
        assert out.returncode != 0 and want in (out.stderr + out.stdout), (cap, out.stderr, out.stdout)
        assert SECRET.hex() not in out.stderr + out.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "modgate"))
    ap.add_argument("-k", default="", help="run only the tests whose name holds this")
    a = ap.parse_args()
    ctx["bin"] = os.path.abspath(a.bin)
    tmp = make_tmp()
    ctx["tmp"] = tmp
    r = Redis(tmp)
    r.start()
    ctx["redis"] = r
    s = Service(ctx["bin"], tmp, config(r.port, tmp))
    s.start()
    ctx["svc"] = s
    return run_tests(globals(), s, r, a.k)

if __name__ == "__main__":
    sys.exit(main())
