#!/usr/bin/env python3
"""Coral's external moderation phase (issue 18, point 4): POST
/v1/integrations/coral/{site}, with requests built, signed and sent as
Coral 9.11.8 builds them, and the answers read through Coral's own Joi
schema (tests/interop/coral.mjs, which cites the Coral files it follows:
phases/external.ts, services/fetch/fetch.ts, signingSecret/helpers.ts).
Real redis-server, real binary, real HTTP. The endpoint is new: every test
here fails on the code before it (404 not_found). Prints "N passed, N
failed"."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MOD_KEY, Redis, Service, base_config, err_code, no_starter, interop_missing, interop_node,  # noqa: E402
                     run_tests, secret_file, sha256, start)

# Coral's secrets: "empsec_" + hex (generateSigningSecret). Two for the
# news site (a rotation), one for "other", one Coral modgate does not know.
OLD = "empsec_" + "1f" * 33
NEW = "empsec_" + "a7" * 32
OTHER = "empsec_" + "5c" * 35
STRANGER = "empsec_" + "99" * 32
OPS_KEY = "it-coral-ops-key-0123456789abcdef"  # a top-level admin key, for /metrics
ctx = {}
_serial = [0]


def url(site="news"):
    return "http://127.0.0.1:%d/v1/integrations/coral/%s" % (ctx["svc"].port, site)


def case(body=None, site="news", secrets=(NEW,), role="COMMENTER", author=None, story="story-1", **kw):
    """One Coral request: a fresh ordinary comment unless 'body' is given
    (so that no test trips the duplicate detector by accident), from a
    fresh author unless 'author' is given."""
    _serial[0] += 1
    n = _serial[0]
    c = {"url": url(site), "secrets": list(secrets),
         "comment": {"body": body if body is not None else
                     "Thanks for the article, the figures in paragraph %d were new to me." % n,
                     "parentID": kw.pop("parent", None)},
         "author": {"id": author or "coral-user-%d" % n, "role": role},
         "story": {"id": story, "url": "https://news.example.org/2026/12/%s" % story}}
    c.update(kw)
    return c


def send(*cases):
    """Send the cases with coral.mjs; one result each: status, text,
    outcome (Coral's reading: skipped, no_opinion, decided, invalid), value
    (the answer after Coral's Joi validation) and sent (the exact body)."""
    return json.loads(interop_node("coral.mjs", "send", stdin=json.dumps(list(cases)), timeout=120))


def one(c):
    return send(c)[0]


def raw(r):
    return json.loads(r["text"])


WITHHELD = {"status": "SYSTEM_WITHHELD", "actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_SPAM"}]}


def decisions(site="news"):
    """modgate_decisions_total of 'site' from /metrics, by decision."""
    st, text, _ = ctx["svc"].request("GET", "/metrics", key=OPS_KEY)
    assert st == 200, text
    out = {}
    for m in re.finditer(r'^modgate_decisions_total\{([^}]*)\} (\S+)$', text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("site") == site:
            out[labels["decision"]] = out.get(labels["decision"], 0) + float(m.group(2))
    return out


# ---------- decisions ----------

def test_a_clean_comment_gets_no_opinion_204_without_a_body():
    r = one(case())
    assert r["status"] == 204 and r["text"] == "" and r["outcome"] == "no_opinion", r
    # what Coral sent: its JSON.stringify(request, null, 2), every field of ExternalModerationRequest
    sent = json.loads(r["sent"])
    assert r["sent"].startswith('{\n  "action": "NEW",\n  "comment": {'), r["sent"][:60]
    assert set(sent) == {"action", "comment", "author", "story", "site", "tenantID", "tenantDomain"}, sent


def test_a_suspect_word_is_withheld_with_a_spam_flag_and_held_in_modgates_queue():
    c = case("Has anyone here made money with crypto since the bridge opened?", story="story-held",
             author="coral-held-author", parent="coral-parent-7")
    r = one(c)
    assert r["status"] == 200 and r["outcome"] == "decided", r
    assert r["value"] == WITHHELD, r["value"]  # what survives Coral's schema: exactly this
    mg = raw(r)["modgate"]  # stripped by Coral (stripUnknown), there for people reading the answer
    assert mg["decision"] == "hold" and mg["comment_id"].startswith("mg-") and "suspect_word" in mg["reasons"], mg
    st, item, _ = ctx["svc"].request("GET", "/v1/sites/news/comments/%s" % mg["comment_id"], key=MOD_KEY)
    assert st == 200, item
    assert item["author"]["id"] == "coral-held-author", item
    assert item["comment"]["thread_id"] == "story-held" and item["comment"]["parent_id"] == "coral-parent-7", item
    assert item["comment"]["permalink"] == "https://news.example.org/2026/12/story-held", item
    assert item["comment"]["body"] == c["comment"]["body"] and "client" not in item, item


def test_too_many_links_are_withheld_and_the_html_format_counts_them_as_the_plain_one():
    links = ["https://a%d.example.com/offer" % i for i in range(3)]
    plain = "Great deals here " + " ".join(links)
    # Coral's linkify + HTML format: each link as <a href=URL ...>URL</a> in a <p>
    html = "<p>Great deals here " + " ".join(
        '<a href="%s" target="_blank" rel="noopener noreferrer ugc">%s</a>' % (u, u) for u in links) + "</p>"
    rp, rh = send(case(plain), case(html))
    for r in (rp, rh):
        assert r["outcome"] == "decided" and r["value"] == WITHHELD, r
        assert "too_many_links" in raw(r)["modgate"]["reasons"], raw(r)
    print("     plain: score %s %s; html: score %s %s" % (raw(rp)["modgate"]["score"], raw(rp)["modgate"]["reasons"],
                                                         raw(rh)["modgate"]["score"], raw(rh)["modgate"]["reasons"]))


def test_a_blocked_word_is_rejected_with_reason_spam():
    r = one(case("Best casino bonus in town, come and play"))
    assert r["outcome"] == "decided", r
    v = r["value"]
    assert v["status"] == "REJECTED" and v["actions"] == WITHHELD["actions"], v
    assert v["moderationAction"]["status"] == "REJECTED", v
    reason = v["moderationAction"]["rejectionReason"]
    assert reason["code"] == "SPAM" and "blocked_word" in reason["detailedExplanation"], reason
    assert "casino" not in reason["detailedExplanation"], reason  # codes, never the text


def test_an_edit_is_judged_again():
    first = one(case("A fair point about the council budget, thank you for writing it up.", author="coral-editor"))
    assert first["outcome"] == "no_opinion", first
    edit = one(case("A fair point. Visit our casino for more", author="coral-editor", action="EDIT"))
    assert edit["outcome"] == "decided" and edit["value"]["status"] == "REJECTED", edit


def test_staff_roles_get_no_opinion_and_nothing_is_checked():
    before = decisions()
    rs = send(*[case("Best casino bonus in town", role=role) for role in ("STAFF", "MODERATOR", "ADMIN")])
    assert all(r["status"] == 204 and r["outcome"] == "no_opinion" for r in rs), rs
    assert decisions() == before, (before, decisions())  # not decided, not counted
    member = one(case("Best casino bonus in town", role="MEMBER"))  # members are checked
    assert member["outcome"] == "decided" and member["value"]["status"] == "REJECTED", member
    assert decisions().get("reject", 0) == before.get("reject", 0) + 1, decisions()


def test_a_premod_site_answers_premod_for_a_hold():
    r = one(case("Has anyone tried crypto for this?", site="other", secrets=[OTHER]))
    assert r["outcome"] == "decided" and r["value"]["status"] == "PREMOD", r


def captcha_issued(site):
    st, text, _ = ctx["svc"].request("GET", "/metrics", key=OPS_KEY)
    m = re.search(r'^modgate_captcha_events_total\{[^}]*site="%s"[^}]*event="issued"[^}]*\} (\S+)$' % site, text, re.M)
    return float(m.group(1)) if m else 0.0


def test_a_score_in_the_challenge_band_is_held_coral_has_no_captcha_to_show():
    issued = captcha_issued("coralcap")
    r = one(case("see http://a.example.com http://b.example.com", site="coralcap"))  # score 0.8579: in the band
    assert r["outcome"] == "decided" and r["value"] == WITHHELD, r
    mg = raw(r)["modgate"]
    # held for modgate's moderators too, and no challenge made that nobody could see
    assert mg["decision"] == "hold" and mg["comment_id"].startswith("mg-"), mg
    st, item, _ = ctx["svc"].request("GET", "/v1/sites/coralcap/comments/%s" % mg["comment_id"], key=OPS_KEY)
    assert st == 200 and item["state"] == "held", item
    assert captcha_issued("coralcap") == issued


def test_unknown_fields_are_ignored():
    r = one(case(extraFields={"futureField": {"x": 1}, "comment_revision": 2}))
    assert r["status"] == 204 and r["outcome"] == "no_opinion", r


# ---------- the signature ----------

def test_rotation_either_secret_or_both_open_the_site():
    rs = send(case(secrets=[OLD]), case(secrets=[NEW]), case(secrets=[OLD, NEW]), case(secrets=[STRANGER, NEW]))
    for r in rs:
        assert r["status"] == 204, r
    assert "," in rs[2]["signature"] and rs[2]["signature"].count("sha256=") == 2, rs[2]["signature"]


def test_a_wrong_secret_a_tampered_body_or_a_missing_header_is_401():
    wrong, tampered, missing, empty, malformed, other_site = send(
        case(secrets=[STRANGER]),
        case("A calm and reasonable comment about the ferry timetable.", tamper=["ferry", "casino"]),
        case(signature=None),
        case(signature=""),
        case(signature="sha256=zz"),
        case(secrets=[OTHER]))  # the other site's secret does not open this one
    for r, code in ((wrong, "signature_mismatch"), (tampered, "signature_mismatch"), (missing, "signature_missing"),
                    (empty, "signature_missing"), (malformed, "signature_malformed"),
                    (other_site, "signature_mismatch")):
        assert r["status"] == 401 and r["outcome"] == "skipped", r
        assert err_code(raw(r)) == code, (code, r["text"])
    ok = one(case(site="other", secrets=[OTHER]))  # where it belongs it works
    assert ok["status"] == 204, ok


def test_unknown_and_unconfigured_sites_look_like_a_wrong_secret():
    # the endpoint needs no key: it must not tell which site names exist
    nosite, nocoral, wrong = send(case(site="nope"), case(site="tight"), case(secrets=[STRANGER]))
    for r in (nosite, nocoral):
        assert r["status"] == 401 and raw(r) == raw(wrong), (r, wrong)


# ---------- bad requests ----------

def test_malformed_json_and_a_missing_body_are_400():
    bad, nobody, wrongtype = send(
        case(rawBody='{"action": "NEW", "comment": {"body": "unfinished'),
        case(rawBody=json.dumps({"action": "NEW", "comment": {"parentID": None}, "author": {"id": "u"}})),
        case(rawBody=json.dumps({"action": "NEW", "comment": {"body": 5}})))
    assert bad["status"] == 400 and err_code(raw(bad)) == "invalid_json", bad
    assert nobody["status"] == 400 and err_code(raw(nobody)) == "missing_field", nobody
    assert "comment.body" in raw(nobody)["error"]["message"], nobody
    assert wrongtype["status"] == 400 and err_code(raw(wrongtype)) == "wrong_type", wrongtype


# ---------- limits ----------

def test_the_author_rate_limit_applies_without_an_ip():
    rs = send(*[case(site="coraltight", author="coral-flooder", story="flood") for _ in range(4)])
    assert [r["outcome"] for r in rs[:3]] == ["no_opinion"] * 3, rs
    assert rs[3]["outcome"] == "decided" and rs[3]["value"]["status"] == "REJECTED", rs[3]
    assert "rate_limited" in raw(rs[3])["modgate"]["reasons"], raw(rs[3])
    other = one(case(site="coraltight", author="coral-calm", story="flood"))  # another author is not limited
    assert other["outcome"] == "no_opinion", other


def test_the_api_bucket_is_the_sites_coral_identity():
    rs = send(*[case(site="apilimit") for _ in range(4)])
    assert [r["status"] for r in rs] == [204, 204, 204, 429], [(r["status"], r["text"]) for r in rs]
    assert rs[3]["outcome"] == "skipped", rs[3]  # Coral skips the phase: the comment is not lost
    r = ctx["redis"]
    fields = [f for k in r.cmd("KEYS", "mg:{apilimit}:rl:*") for f in r.cmd("HKEYS", k)]
    assert any(f.startswith("api:coral") for f in fields), fields
    assert one(case())["status"] == 204  # the news site's Coral is not starved


def test_latency_of_500_sequential_requests():
    out = json.loads(interop_node("coral.mjs", "bench", url("bench"), NEW, "500", timeout=300))
    assert out["outcomes"] == {"no_opinion": 500}, out
    print("     500 sequential signed requests (node fetch, keep-alive): p50 %.2f ms, p99 %.2f ms, max %.2f ms "
          "(Coral's default timeout: 200 ms)" % (out["p50_ms"], out["p99_ms"], out["max_ms"]))


# ---------- Redis down (its own service) ----------

def test_redis_down_the_sites_redis_down_decides():
    tmp = ctx["tmp"]
    red = Redis(tmp, name="redis-down")
    red.start()
    c = config(red.port)
    c["sites"]["news"]["redis_down"] = "hold"
    c["sites"]["other"]["redis_down"] = "accept"
    svc = Service(ctx["bin"], tmp, c, name="modgate-down")
    svc.start()
    try:
        red.stop()
        port = svc.port
        rs = send(dict(case(), url="http://127.0.0.1:%d/v1/integrations/coral/news" % port),
                  dict(case(site="other", secrets=[OTHER]), url="http://127.0.0.1:%d/v1/integrations/coral/other" % port))
        assert rs[0]["outcome"] == "decided" and rs[0]["value"] == WITHHELD, rs[0]
        assert raw(rs[0])["modgate"]["decision"] == "hold", rs[0]
        assert rs[1]["outcome"] == "no_opinion", rs[1]
    finally:
        rc = svc.stop()
    assert rc == 0, svc.logtext()[-3000:]  # a clean exit: no sanitizer report either


def config(redis_port):
    tmp = ctx["tmp"]
    c = base_config(redis_port)
    c["admin_keys"] = [{"id": "coral-ops", "role": "admin", "sha256": sha256(OPS_KEY)}]
    s = c["sites"]
    s["news"]["coral"] = {"secrets": [{"id": "2026-11", "secret_file": secret_file(tmp, OLD, "coral-old.key")},
                                      {"id": "2026-12", "secret_env": "MG_TEST_CORAL_NEW"}]}
    s["other"]["coral"] = {"secrets": [{"id": "only", "secret_file": secret_file(tmp, OTHER + "\n", "coral-other.key")}],
                           "held": "premod"}
    s["other"]["words"] = {"suspect": ["crypto"]}
    s["coraltight"] = {"coral": {"secrets": [{"id": "t", "secret_env": "MG_TEST_CORAL_NEW"}]},
                       "rate_limits": {"author": {"capacity": 3, "per_minute": 0.001}}}
    s["coralcap"] = {"coral": {"secrets": [{"id": "t", "secret_env": "MG_TEST_CORAL_NEW"}]},
                     "captcha": {"keys": [{"id": "k", "secret_file": secret_file(tmp, "ab" * 32)}],
                                 "challenge_from": 0.3, "challenge_to": 0.9}}
    s["apilimit"]["coral"] = {"secrets": [{"id": "t", "secret_env": "MG_TEST_CORAL_NEW"}]}
    s["bench"] = {"coral": {"secrets": [{"id": "t", "secret_env": "MG_TEST_CORAL_NEW"}]},
                  "rate_limits": {b: None for b in ("author", "thread", "site")},
                  "api_rate_limit": None, "duplicates": {"enabled": False}}
    return no_starter(c)  # the withheld/rejected outcomes come from the rules


def main():
    only = start(ctx)
    if interop_missing("joi"):
        return 1
    os.environ["MG_TEST_CORAL_NEW"] = NEW
    svc = Service(ctx["bin"], ctx["tmp"], config(ctx["redis"].port))
    svc.start()
    ctx["svc"] = svc
    return run_tests(globals(), svc, ctx["redis"], only, own=("test_redis_down_the_sites_redis_down_decides",))


if __name__ == "__main__":
    sys.exit(main())
