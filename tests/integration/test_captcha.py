#!/usr/bin/env python3
"""Integration tests of the captcha endpoints: GET /v1/captcha/challenge
(ALTCHA PoW v2, CORS) and POST /v1/captcha/verify (siteverify). The
solver and the signature checks here are this file's own, written from
ALTCHA's protocol with Python's hashlib and hmac: they do not share code
with modgate. Real redis-server, real binary, real HTTP. Prints
"N passed, N failed"."""
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
from harness import (CMS_KEY, MOD_KEY, OTHER_CMS_KEY, TIGHT_KEY, Service, base_config,  # noqa: E402
                     comment, err_code, run_tests, sha256, start)

ORIGIN = "https://news.example.org"
SECRET = bytes(range(32))           # the signing key "k2"
OLD_SECRET = bytes(range(100, 132))  # the previous key "k1"
TEST_CMS_KEY = "it-testmode-cms-key-0123456789abcdef"
BARE_CMS_KEY = "it-bare-cms-key-0123456789abcdef"
RISKY_KEY = "it-risky-cms-key-0123456789abcdef"

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
    # starter_weight 0: the scores these tests place in the challenge band
    # come from links, words and form tokens alone (the shipped starter
    # would add a Bayes opinion; tests/integration/test_starter.py)
    c = base_config(redis_port, bayes={"starter_weight": 0})
    keys = [{"id": "k2", "secret_file": key_file("k2.key", SECRET)},
            {"id": "k1", "secret_file": key_file("k1.key", OLD_SECRET), "verify_until": old_until}]
    c["sites"]["news"]["captcha"] = {"keys": keys, "origins": [ORIGIN, "http://127.0.0.1:8080"],
                                     "cost": 50, "counter_min": 20, "counter_max": 2000,
                                     "challenge_from": 0.3, "challenge_to": 0.9}
    c["sites"]["tight"]["captcha"] = {"keys": [{"id": "t2", "secret_file": key_file("t2.key", SECRET)}],
                                      "cost": 10, "counter_min": 5, "challenge_from": 0.3, "challenge_to": 0.9}
    # the same key id and secret as "news": only the signed site tells them apart
    c["sites"]["other"]["captcha"] = {"keys": [{"id": "k2", "secret_file": key_file("o1.key", SECRET)}]}
    c["sites"]["testmode"] = {"keys": [{"id": "tm-cms", "role": "cms", "sha256": sha256(TEST_CMS_KEY)}],
                              "captcha": {"keys": [{"id": "t1", "secret_file": key_file("t1.key", SECRET)}],
                                          "test_mode": True}}
    c["sites"]["bare"] = {"keys": [{"id": "bare-cms", "role": "cms", "sha256": sha256(BARE_CMS_KEY)}]}
    # behind a proxy that names the visitor in X-Real-IP; small work, so the formula shows exactly
    c["sites"]["risky"] = {"keys": [{"id": "risky-cms", "role": "cms", "sha256": sha256(RISKY_KEY)}],
                           "words": {"blocked": ["casino"]},
                           "captcha": {"keys": [{"id": "r1", "secret_file": key_file("r1.key", SECRET)}],
                                       "client_ip_header": "X-Real-IP", "cost": 10, "counter_min": 10,
                                       "max_challenges": 30,
                                       "counter_max": 1000, "challenge_from": 0.3, "challenge_to": 0.9},
                           "form_token": {"required": True, "min_seconds": 2.5},
                           "bayes": {"starter_weight": 0}}
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
    st, ch, h = challenge()
    counter, dk = solve(ch["parameters"])
    # the secret counter is drawn from [0, 2 x the work]
    assert int(h["x-captcha-work"]) >= 20 and 0 <= counter <= 2 * int(h["x-captcha-work"]), (counter, h)
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


def test_verify_takes_a_form_as_plugins_post_it():
    """Turnstile's and reCAPTCHA's plugins post siteverify as a form."""
    import urllib.parse
    st, ch, _ = challenge()
    counter, dk = solve(ch["parameters"])
    form = urllib.parse.urlencode({"secret": CMS_KEY, "response": payload(ch, counter, dk),
                                   "remoteip": "203.0.113.5"})
    ctype = {"Content-Type": "application/x-www-form-urlencoded"}
    st, body, _ = svc().request("POST", "/v1/captcha/verify", form, headers=ctype)
    assert st == 200 and body["success"] is True, body
    st, body, _ = svc().request("POST", "/v1/captcha/verify", form, headers=ctype)
    assert body["success"] is False and body["reason"] == "captcha_replayed", body
    for bad in ("secret=%ZZ", "secret=a&secret=b", "noequals", "secret=%00", "secret=a\x00b"):
        st, body, _ = svc().request("POST", "/v1/captcha/verify", bad, headers=ctype)
        assert st == 400 and body["error-codes"] == ["bad-request"] and err_code(body) == "invalid_form", (bad, body)
    st, body, _ = svc().request("POST", "/v1/captcha/verify", form, headers={"Content-Type": "text/plain"})
    assert st == 415 and err_code(body) == "unsupported_media_type", body


def test_zero_work_and_prefix_only_payloads_are_refused():
    ch = unsolved_at_zero()
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
        (svc().request("POST", "/v1/captcha/verify", {"secret": "x" * 400, "response": resp}, key=CMS_KEY), 401,
         "invalid-input-secret"),
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


# ---------------------------------------------------------------- the check flow

DOUBTFUL = "see http://a.example.com http://b.example.com"  # two links, one word: score 0.8579


def doubtful(cid, n=0, **kw):
    return comment("%s #%d" % (DOUBTFUL, n) if n else DOUBTFUL, cid=cid, **kw)


def codes(body):
    return [r["code"] for r in body["reasons"]]


def solved_payload(ch):
    counter, dk = solve(ch["parameters"])
    return payload(ch, counter, dk)


def test_doubtful_comment_is_challenged_then_accepted_once_solved():
    st, body, _ = svc().check(doubtful("cap-1", ip="198.51.100.1"))
    assert st == 200 and body["decision"] == "challenge", body
    assert 0.3 <= body["score"] < 0.9 and not any(c.startswith("captcha") for c in codes(body)), body
    ch = body["challenge"]
    assert ch["signature"] == hmac.new(SECRET, canonical(ch["parameters"]), hashlib.sha256).hexdigest(), ch
    assert ch["parameters"]["data"]["site"] == "news", ch
    # the same comment again, unsolved: the same answer (a replay)
    st, again, _ = svc().check(doubtful("cap-1", ip="198.51.100.1"))
    assert again["replayed"] is True and again["challenge"] == ch, again
    # solved: judged again, with the credit
    resp = solved_payload(ch)
    st, body, _ = svc().check(doubtful("cap-1", ip="198.51.100.1", captcha=resp))
    assert st == 200 and body["decision"] == "accept" and body["replayed"] is False, body
    r = [x for x in body["reasons"] if x["code"] == "captcha_solved"]
    assert r and r[0]["filter"] == "captcha" and r[0]["contribution"] == -3.0, body
    assert body["score"] < 0.3 and "challenge" not in body, body
    # the accepted answer is what a retry gets now
    st, again, _ = svc().check(doubtful("cap-1", ip="198.51.100.1"))
    assert again["replayed"] is True and again["decision"] == "accept", again
    # the solution is spent: another comment cannot use it
    st, body, _ = svc().check(doubtful("cap-2", 2, ip="198.51.100.2", captcha=resp))
    assert body["decision"] == "challenge" and "captcha_replayed" in codes(body), body
    assert body["challenge"]["parameters"]["nonce"] != ch["parameters"]["nonce"], body
    # and /v1/captcha/verify sees it spent too
    assert verify(resp)[1]["reason"] == "captcha_replayed"


def unsolved_at_zero():
    """A challenge whose secret counter is not 0 (it is 1 time in 41 with
    counter_min 20), so that the key of counter 0 is no solution."""
    while True:
        st, ch, _ = challenge()
        if solve(ch["parameters"])[0] != 0:
            return ch


def test_bad_captcha_payloads_earn_no_credit():
    ch = unsolved_at_zero()
    p = ch["parameters"]
    zero = payload(ch, 0, derive(p, 0).hex())
    expired, c, dk = forge(dict(p, expiresAt=int(time.time()) - 1), SECRET)
    test = base64.b64encode(b'{"challenge":null,"solution":null,"test":true}').decode()
    for n, (resp, code) in enumerate([(zero, "captcha_not_solved"), (payload(expired, c, dk), "captcha_expired"),
                                      (test, "captcha_test_mode"), ("junk", "captcha_malformed")]):
        st, body, _ = svc().check(doubtful("cap-bad-%d" % n, 10 + n, ip="198.51.100.%d" % (10 + n), captcha=resp))
        assert st == 200 and body["decision"] == "challenge", body
        r = [x for x in body["reasons"] if x["filter"] == "captcha"]
        assert [x["code"] for x in r] == [code] and r[0]["contribution"] == 0, body


def test_a_captcha_never_overrides_words_or_rate_limits():
    # a suspect word forces hold: no challenge, and a solved captcha does not lift the floor
    st, body, _ = svc().check(comment("the crypto column today was good", cid="cap-w1", ip="198.51.100.30"))
    assert body["decision"] == "hold" and 0.3 <= body["score"] < 0.9 and "challenge" not in body, body
    st, ch, _ = challenge()
    st, body, _ = svc().check(comment("the crypto column today was fine", cid="cap-w2", ip="198.51.100.31",
                                      captcha=solved_payload(ch)))
    assert body["decision"] == "hold" and "captcha_solved" in codes(body), body
    st, ch, _ = challenge()
    st, body, _ = svc().check(comment(DOUBTFUL + " casino", cid="cap-w3", ip="198.51.100.32",
                                      captcha=solved_payload(ch)))
    assert body["decision"] == "reject" and "blocked_word" in codes(body), body
    # a rate limit: the tight site allows 3 comments per IP, a 4th is refused, solved or not
    for i in range(3):
        st, body, _ = svc().check(comment("plain comment %d on the tight site" % i, site="tight",
                                          ip="198.51.100.40"), key=TIGHT_KEY)
        assert body["decision"] == "accept", body
    st, ch, _ = challenge(site="tight", origin=None)
    st, body, _ = svc().check(comment("one more plain comment", site="tight", ip="198.51.100.40",
                                      captcha=solved_payload(ch)), key=TIGHT_KEY)
    assert body["decision"] == "reject" and "rate_limited" in codes(body), body
    assert "captcha_solved" in codes(body), body


def work(ip, site="risky"):
    st, ch, h = svc().request("GET", "/v1/captcha/challenge?site=%s" % site, headers={"X-Real-IP": ip})
    assert st == 200, ch
    return int(h["x-captcha-work"])


def test_work_grows_with_a_networks_challenges_and_spam():
    # counter_min 10: the first challenge of a quiet network is 10 x (1 + 1/10)
    assert work("192.0.2.10") == 11
    # each challenge of the same /24 adds a tenth of counter_min, another /24 is quiet
    w = [work("192.0.2.%d" % (11 + i)) for i in range(20)]
    assert w == [int(10 * (1 + (2 + i) / 10)) for i in range(20)], w
    assert work("192.0.3.1") == 11
    # each comment of the network rejected in the last hours doubles it
    for i in range(3):
        st, body, _ = svc().check(comment("casino night %d" % i, site="risky", ip="198.18.7.%d" % i), key=RISKY_KEY)
        assert body["decision"] == "reject", body
    time.sleep(0.2)  # the counts are written without waiting
    assert work("198.18.7.200") == int(10 * 1.1 * 8), "3 spam decisions"
    # and never more than counter_max
    for i in range(8):
        svc().check(comment("casino table %d" % i, site="risky", ip="198.18.7.%d" % (10 + i)), key=RISKY_KEY)
    time.sleep(0.2)
    assert work("198.18.7.201") == 1000
    # a challenged comment counts as a challenge of its network, as a fetched one does
    before = work("198.18.9.1")
    ft = form_token(int(time.time() * 1000) - 60000, site="risky", kid="r1")  # the site requires one
    st, body, _ = svc().check(comment(DOUBTFUL, site="risky", ip="198.18.9.2", form_token=ft), key=RISKY_KEY)
    assert body["decision"] == "challenge", body
    assert work("198.18.9.3") == before + 2, "a challenge answered, then one fetched"


def test_a_network_asking_for_too_many_challenges_gets_429():
    for i in range(30):  # max_challenges 30 in this and the previous minute
        assert work("192.0.5.%d" % i) > 0
    st, body, h = svc().request("GET", "/v1/captcha/challenge?site=risky", headers={"X-Real-IP": "192.0.5.99"})
    assert st == 429 and err_code(body) == "rate_limited" and h["retry-after"] == "60", (st, body, h)
    assert work("192.0.6.1") == 11  # another network is not affected


def test_without_the_proxy_header_the_peer_network_counts():
    """A request that did not come through the proxy (no X-Real-IP, or one
    that is not an address) is counted as the peer's network, so neither
    the work nor the limit can be dodged by leaving the header out."""
    ws = []
    for hdr in ({}, {"X-Real-IP": "not an address"}, {}):
        st, ch, h = svc().request("GET", "/v1/captcha/challenge?site=risky", headers=hdr)
        assert st == 200, ch
        ws.append(int(h["x-captcha-work"]))
    assert ws[1] == ws[0] + 1 and ws[2] == ws[0] + 2, ws


# ---------------------------------------------------------------- form tokens

def form_token(issued_ms, site="news", kid="k2", secret=SECRET, nonce="0123456789abcdef"):
    """A token as modgate signs one (formtoken.h), made here from the key."""
    key = hmac.new(secret, b"modgate form token", hashlib.sha256).digest()
    msg = "|".join(["ft1", site, kid, str(issued_ms), nonce]).encode()
    return "ft1.%s.%d.%s.%s" % (kid, issued_ms, nonce, hmac.new(key, msg, hashlib.sha256).hexdigest())


def form_codes(body):
    return [(r["code"], r["contribution"]) for r in body["reasons"] if r["filter"] == "form"]


def test_form_tokens_tell_bots_and_stale_forms():
    st, body, h = svc().request("GET", "/v1/form-token?site=news", headers={"Origin": ORIGIN})
    assert st == 200 and h["access-control-allow-origin"] == ORIGIN, (st, body, h)
    assert body["token"].startswith("ft1.k2.") and body["min_seconds"] == 3 and body["max_seconds"] == 86400, body
    # posted at once: too fast for a person
    st, res, _ = svc().check(comment(form_token=body["token"], ip="198.51.100.70"))
    assert form_codes(res) == [("form_too_fast", 2.0)], res
    assert "0.0 s after" in res["reasons"][0]["detail"] or "s after" in res["reasons"][0]["detail"], res
    now = int(time.time() * 1000)
    # this file's own signer agrees with modgate's: a form shown a minute ago passes unremarked
    st, res, _ = svc().check(comment(form_token=form_token(now - 60000), ip="198.51.100.71"))
    assert form_codes(res) == [] and res["decision"] == "accept", res
    st, res, _ = svc().check(comment(form_token=form_token(now - 2 * 86400 * 1000), ip="198.51.100.72"))
    assert form_codes(res) == [("form_too_old", 1.0)], res
    # altered, another site's, another key's, or not a token at all
    for tok in (form_token(now - 60000).replace(".%d." % (now - 60000), ".%d." % (now - 30000)),
                form_token(now - 60000, site="other"), form_token(now - 60000, secret=OLD_SECRET),
                form_token(now - 60000, kid="nope"), "hello"):
        st, res, _ = svc().check(comment(form_token=tok, ip="198.51.100.73"))
        assert st == 200 and form_codes(res) == [("form_token_invalid", 2.5)], (tok, res)
    # no token: nothing, unless the site requires one
    st, res, _ = svc().check(comment(ip="198.51.100.74"))
    assert form_codes(res) == [], res
    st, res, _ = svc().check(comment(site="risky", ip="198.51.100.75"), key=RISKY_KEY)
    assert form_codes(res) == [("form_token_missing", 1.0)], res
    st, tk, _ = svc().request("GET", "/v1/form-token?site=risky")
    assert tk["min_seconds"] == 2.5, tk
    st, res, _ = svc().check(comment(form_token=5, ip="198.51.100.76"))
    assert st == 400 and err_code(res) == "wrong_type" and "form_token" in res["error"]["message"], res
    st, res, _ = svc().request("GET", "/v1/form-token?site=bare")
    assert st == 404 and err_code(res) == "captcha_not_configured", res


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
        ({"keys": [{"id": "x", "secret_file": os.path.join(tmp, "k2.key")}], "challenge_from": 0.8,
          "challenge_to": 0.5}, "challenge_to"),
        ({"keys": [{"id": "x", "secret_file": os.path.join(tmp, "k2.key")}], "client_ip_header": "X Real"},
         "client_ip_header"),
        ({"keys": [{"id": "x", "secret_file": os.path.join(tmp, "k2.key")}], "counter_min": 0}, "counter_min"),
        ({"keys": [{"id": "x", "secret_file": os.path.join(tmp, "k2.key")}], "counter_max": 60000000}, "counter_max"),
    ]
    c = config(r.port, tmp)
    c["sites"]["bare"]["form_token"] = {"required": True}
    p = os.path.join(tmp, "bad.json")
    with open(p, "w") as f:
        json.dump(c, f)
    out = subprocess.run([ctx["bin"], "config", "check", p], capture_output=True, text=True)
    assert out.returncode != 0 and "sites.bare.form_token" in out.stderr + out.stdout, out
    with open(os.path.join(tmp, "short.key"), "w") as f:
        f.write("abcd\n")
    for until in ("2026-12-31T-1:00:00Z", "1970-01-01T00:00:00Z", "2026-02-31T00:00:00Z", "2026-12-31 00:00:00Z",
                  "2026-12-31T00:00:00+01:00"):
        bad.append(({"keys": [{"id": "x", "secret_file": os.path.join(tmp, "k2.key")},
                              {"id": "y", "secret_file": os.path.join(tmp, "k1.key"), "verify_until": until}]},
                    "verify_until"))
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
    only = start(ctx)
    s = Service(ctx["bin"], ctx["tmp"], config(ctx["redis"].port, ctx["tmp"]))
    s.start()
    ctx["svc"] = s
    return run_tests(globals(), s, ctx["redis"], only)

if __name__ == "__main__":
    sys.exit(main())
