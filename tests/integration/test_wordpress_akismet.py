#!/usr/bin/env python3
"""WordPress's own Akismet plugin against modgate: Debian's WordPress 6.1
with the Akismet 5.0.2 it bundles, activated, and the must-use plugin
integrations/wordpress/akismet-to-modgate.php, which sends Akismet's
calls to modgate (api.md 2.12). A real WordPress on a real MariaDB
(tests/integration/wordpress.py), the real modgate binary and a real
redis-server. Comments go through WordPress's own /wp-comments-post.php,
moderators use wp-admin's links and Akismet's settings page, and
Akismet's WP-Cron recheck runs by CLI. Prints "N passed, N failed".

Without the must-use plugin Akismet reaches nothing (the test site is
offline: WP_HTTP_BLOCK_EXTERNAL), so every comment would end pending with
akismet_error: test_without_the_must_use_plugin_akismet_reaches_nothing
shows it, and every other test asserts what only modgate's answer gives."""
import hashlib
import html
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import MOD_KEY, ROOT, sha256  # noqa: E402
import wordpress  # noqa: E402
from wordpress import ADMIN, BLOCKED, CLEAN, EDITOR, HELD, WordPress, php_str  # noqa: E402
from wordpress import unique as n  # noqa: E402

MU_PLUGIN = os.path.join(ROOT, "integrations", "wordpress", "akismet-to-modgate.php")
# Akismet 5.0.2 takes only keys of 12 characters (Akismet::verify_key), and
# its settings page keeps only hex digits of what is typed: a modgate cms
# key for it has that shape.
AK_KEY = "5e1f0c2d9a7b"
HS_KEY = "a0b1c2d3e4f5"   # site "heldspam": held comments answer "true"
HS_MOD = "it-wpak-heldspam-mod-0123456789abcdef"
WRONG_KEY = "0123456789ab"
TOP_ADMIN = "it-wpak-top-admin-0123456789abcdef"

LINKS_ONLY = "http://x.example.com/%d http://y.example.com http://z.example.com"
ctx = {}


def svc():
    return ctx["svc"]


def wp():
    return ctx["wp"]


def metric(route):
    return wordpress.metric(svc(), route, TOP_ADMIN)


def model(site="news", key=MOD_KEY):
    return wordpress.model(svc(), site, key)


def held_ids(site="news", key=MOD_KEY):
    return wordpress.held_ids(svc(), site, key)


def item(mid, site="news", key=MOD_KEY):
    return wordpress.modgate_item(svc(), site, mid, key)


def guid(site, post_id, text, author="Reader", email="reader@example.org"):
    """The comment id modgate gives a comment-check (api.md 2.12): what
    WordPress sends for a comment posted by this file's Browser."""
    h = hashlib.blake2b(digest_size=16)
    h.update(site.encode() + b"\0")
    ua = "Python-urllib/%d.%d" % sys.version_info[:2]
    for v in (str(post_id), "127.0.0.1", ua, author, email, text):
        b = v.encode()
        h.update(len(b).to_bytes(8, "little") + b)
    return "ak-" + h.hexdigest()[:24]


def option(name, value):
    wp().php("update_option( %s, %s ); return true;" % (php_str(name), php_str(value)))


def cron(hook):
    return wp().php("do_action( %s ); return true;" % php_str(hook))


def post_comment(pid, text, **kw):
    t0 = time.monotonic()
    st, body, h, cid = wp().session().post_comment(pid, text, **kw)
    ctx.setdefault("post_s", []).append(time.monotonic() - t0)
    return st, h, cid


# ---- comments from the form -------------------------------------------------

def test_comments_land_approved_pending_or_spam_as_modgate_answers():
    pid = wp().new_post("Decisions")
    got, texts = {}, {}
    for name, text in (("clean", CLEAN % n()), ("held", HELD % n()), ("blocked", BLOCKED % n()),
                       ("honeypot", CLEAN % n())):
        texts[name] = text
        extra = {"ak_hp_textarea": "I am a bot"} if name == "honeypot" else None
        st, h, cid = post_comment(pid, text, extra=extra)
        assert st == 302 and cid, (name, st, h)
        got[name] = wp().comment(cid)
    assert got["clean"]["status"] == "approved" and got["clean"]["meta"]["akismet_result"] == "false", got["clean"]
    # "false" with X-akismet-error: Akismet keeps it pending (core alone would approve it: no link limit here)
    held = got["held"]
    assert held["status"] == "unapproved" and held["meta"]["akismet_result"] == "false", held
    assert "akismet_error" not in held["meta"], held
    mid = guid("news", pid, texts["held"])
    assert mid in held_ids(), (mid, held_ids())
    assert item(mid)["comment"]["body"] == texts["held"] and item(mid)["comment"]["thread_id"] == str(pid)
    # a blocked word, and Akismet's own honeypot field filled in: spam, with the discard pro-tip
    for name in ("blocked", "honeypot"):
        c = got[name]
        assert c["status"] == "spam" and c["meta"]["akismet_result"] == "true", (name, c)
        assert c["meta"]["akismet_pro_tip"] == "discard", (name, c)
    assert guid("news", pid, texts["clean"]) not in held_ids()


def test_discard_strictness_drops_blatant_spam_unsaved():
    pid = wp().new_post("Discard")
    option("akismet_strictness", "1")
    try:
        for text, extra in ((BLOCKED % n(), None), (CLEAN % n(), {"ak_hp_textarea": "bot"})):
            st, h, cid = post_comment(pid, text, extra=extra)
            # Akismet redirects back to the post and dies before WordPress saves anything
            assert st == 302 and "#comment-" not in h.get("location", ""), (text, st, h)
            assert cid is None, (text, cid)
        # a reject that is not blatant (links only) is still filed as spam
        text = LINKS_ONLY % n()
        st, h, cid = post_comment(pid, text)
        c = wp().comment(cid)
        assert c["status"] == "spam" and c["meta"]["akismet_result"] == "true", c
        assert "akismet_pro_tip" not in c["meta"], c
    finally:
        option("akismet_strictness", "0")


# ---- moderators -------------------------------------------------------------

def test_spam_and_not_spam_in_wp_admin_teach_modgate_once_each():
    pid = wp().new_post("Teach")
    text = CLEAN % n() + " Also the second chart was good."
    st, h, cid = post_comment(pid, text)
    assert wp().comment(cid)["status"] == "approved"
    ed = wp().session().login(EDITOR)
    spam0, ham0 = model()
    calls = metric("/1.1/submit-spam"), metric("/1.1/submit-ham")
    ed.click(ed.admin_link(ed.admin_list(), "spamcomment", cid))
    c = wp().comment(cid)
    assert c["status"] == "spam" and c["meta"]["akismet_user_result"] == "true", c
    assert model() == (spam0 + 1, ham0), (model(), spam0, ham0)
    ed.click(ed.admin_link(ed.admin_list("spam"), "unspamcomment", cid))
    c = wp().comment(cid)
    assert c["status"] == "approved" and c["meta"]["akismet_user_result"] == "false", c
    assert model() == (spam0, ham0 + 1), (model(), spam0, ham0)
    assert (metric("/1.1/submit-spam"), metric("/1.1/submit-ham")) == (calls[0] + 1, calls[1] + 1)


def test_spam_in_wp_admin_takes_a_held_comment_out_of_modgates_queue():
    """Spam on a comment modgate holds: modgate files it as spam and
    learns it once. Approve on one sends nothing (Akismet 5.0.2 reports
    only Spam and Not spam): it stays in modgate's queue."""
    pid = wp().new_post("Held decided in WordPress")
    texts = [HELD % n(), HELD % n()]
    cids = [post_comment(pid, t)[2] for t in texts]
    mids = [guid("news", pid, t) for t in texts]
    assert all(m in held_ids() for m in mids) and [wp().comment(c)["status"] for c in cids] == ["unapproved"] * 2
    ed = wp().session().login(EDITOR)
    spam0, ham0 = model()
    ed.click(ed.admin_link(ed.admin_list("moderated"), "spamcomment", cids[0]))
    assert wp().comment(cids[0])["status"] == "spam"
    assert mids[0] not in held_ids() and item(mids[0])["state"] == "spam", item(mids[0])
    assert model() == (spam0 + 1, ham0)
    submits = metric("/1.1/submit-ham") + metric("/1.1/submit-spam")
    ed.click(ed.admin_link(ed.admin_list("moderated"), "approvecomment", cids[1]))
    assert wp().comment(cids[1])["status"] == "approved"
    assert metric("/1.1/submit-ham") + metric("/1.1/submit-spam") == submits
    assert mids[1] in held_ids() and model() == (spam0 + 1, ham0)


def test_a_site_that_files_held_comments_as_spam_approves_them_with_not_spam():
    """sites.S.akismet.held "spam": a held comment goes to WordPress's
    spam folder, and Not spam there approves it in modgate's queue (and
    teaches ham once); WordPress puts it back to pending."""
    option("wordpress_api_key", HS_KEY)
    try:
        pid = wp().new_post("Held as spam")
        text = HELD % n()
        st, h, cid = post_comment(pid, text)
        c = wp().comment(cid)
        assert c["status"] == "spam" and c["meta"]["akismet_result"] == "true", c
        assert "akismet_pro_tip" not in c["meta"], c
        mid = guid("heldspam", pid, text)
        assert mid in held_ids("heldspam", HS_MOD)
        spam0, ham0 = model("heldspam", HS_MOD)
        ed = wp().session().login(EDITOR)
        ed.click(ed.admin_link(ed.admin_list("spam"), "unspamcomment", cid))
        # WordPress puts a comment that was never anything but spam back to pending
        assert wp().comment(cid)["status"] == "unapproved"
        assert item(mid, "heldspam", HS_MOD)["state"] == "approved" and mid not in held_ids("heldspam", HS_MOD)
        assert model("heldspam", HS_MOD) == (spam0, ham0 + 1)
    finally:
        option("wordpress_api_key", AK_KEY)


# ---- modgate down ------------------------------------------------------------

def test_modgate_down_keeps_comments_pending_and_akismets_cron_recheck_decides_them():
    """Akismet's own recheck (cron_recheck, 'retry'): "true" files as
    spam; "false" approves when core's check_comment() allows it (this
    site: no manual approval, no link limit, no "previously approved"
    rule), else it leaves the comment pending. A comment modgate holds is
    answered "true" to this recheck, so that it is never published."""
    pid = wp().new_post("Down")
    moderation = lambda: [m for m in wp().mails() if "Please moderate" in m["subject"]]  # noqa: E731
    mails0 = len(moderation())
    texts = {"clean": CLEAN % n(), "held": HELD % n(), "blocked": BLOCKED % n()}
    cids = {}
    svc().stop()
    try:
        t0 = time.monotonic()
        cids["clean"] = post_comment(pid, texts["clean"])[2]
        took = time.monotonic() - t0
        cids["held"] = post_comment(pid, texts["held"])[2]
        cids["blocked"] = post_comment(pid, texts["blocked"])[2]
    finally:
        svc().start()
    print("     a comment with modgate stopped took %.3f s" % took)
    for name, cid in cids.items():
        c = wp().comment(cid)
        assert c["status"] == "unapproved" and c["meta"]["akismet_error"], (name, c)
        assert c["meta"]["akismet_delayed_moderation_email"] == "1", (name, c)
    assert len(moderation()) == mails0  # Akismet holds the moderator's e-mail back
    assert wp().php("return (bool) wp_next_scheduled( 'akismet_schedule_cron_recheck' );") is True
    checks = metric("/1.1/comment-check")
    t0 = time.monotonic()
    cron("akismet_schedule_cron_recheck")
    print("     Akismet's cron recheck of 3 comments took %.3f s" % (time.monotonic() - t0))
    assert metric("/1.1/comment-check") == checks + 3
    got = {k: wp().comment(v) for k, v in cids.items()}
    assert got["clean"]["status"] == "approved" and got["clean"]["meta"]["akismet_result"] == "false", got
    assert got["held"]["status"] == "spam" and got["held"]["meta"]["akismet_result"] == "true", got
    assert got["blocked"]["status"] == "spam" and got["blocked"]["meta"]["akismet_result"] == "true", got
    assert all("akismet_error" not in c["meta"] for c in got.values()), got
    # the recheck stored the held one for modgate's moderators, under the id a Spam/Not spam finds
    assert guid("news", pid, texts["held"]) in held_ids()
    # a second run has nothing left to ask (it still verifies the key)
    cron("akismet_schedule_cron_recheck")
    assert metric("/1.1/comment-check") == checks + 3


def test_without_the_must_use_plugin_akismet_reaches_nothing():
    """The proof that the tests above need the must-use plugin: without
    it Akismet calls rest.akismet.com, which this offline site cannot
    reach, and the comment ends pending with akismet_error."""
    pid = wp().new_post("No redirect")
    mu = os.path.join(wp().content, "mu-plugins", os.path.basename(MU_PLUGIN))
    checks = metric("/1.1/comment-check")
    os.rename(mu, mu + ".off")
    try:
        st, h, cid = post_comment(pid, CLEAN % n())
    finally:
        os.rename(mu + ".off", mu)
    c = wp().comment(cid)
    assert c["status"] == "unapproved" and c["meta"].get("akismet_error"), c
    assert metric("/1.1/comment-check") == checks
    # with it back, Akismet's recheck decides it through modgate
    cron("akismet_schedule_cron_recheck")
    assert wp().comment(cid)["status"] == "approved"


def test_the_must_use_plugin_redirects_only_akismets_host():
    got = wp().php(r"""
        $seen = array();
        add_filter( 'pre_http_request', function ( $pre, $args, $url ) use ( &$seen ) {
            $seen[] = $url; return $pre; }, 5, 3 );
        $r = wp_remote_get( 'http://example.org/1.1/verify-key' );
        $a = wp_remote_post( 'https://rest.akismet.com/1.1/verify-key', array( 'body' => 'key=' . get_option( 'wordpress_api_key' ), 'headers' => array( 'Host' => 'rest.akismet.com' ) ) );
        $k = wp_remote_post( 'https://' . get_option( 'wordpress_api_key' ) . '.rest.akismet.com/1.1/verify-key', array( 'body' => array( 'blog' => home_url() ) ) );
        return array( is_wp_error( $r ) ? $r->get_error_code() : 'reached',
            wp_remote_retrieve_body( $a ), wp_remote_retrieve_body( $k ), $seen );""")
    # example.org is refused by WordPress's own block (not ours); Akismet's two forms reach modgate
    assert got[0] == "http_request_not_executed" and got[1] == "valid" and got[2] == "valid", got
    assert got[3][0] == "http://example.org/1.1/verify-key", got
    # without MODGATE_URL, Akismet's calls fail rather than reach rest.akismet.com
    with open(wp().extra) as f:
        extra = f.read()
    with open(wp().extra, "w") as f:
        f.write("<?php\n")
    try:
        got = wp().php("""$a = wp_remote_post( 'https://rest.akismet.com/1.1/comment-check', array( 'body' => 'x=1' ) );
            return is_wp_error( $a ) ? $a->get_error_code() : wp_remote_retrieve_body( $a );""")
    finally:
        with open(wp().extra, "w") as f:
            f.write(extra)
    assert got == "modgate_url_missing", got


# Requests for Akismet's host that are not Akismet's own calls: none may
# reach modgate (or anyone), each gets the must-use plugin's WP_Error.
NOT_AKISMETS_CALLS = (
    ("https://rest.akismet.com/../../admin", None),
    ("https://rest.akismet.com/1.1/../../v1/whoami", None),
    ("https://rest.akismet.com/1.1/comment-check/../../v1/sites/news/events", None),
    ("https://rest.akismet.com/v1/sites/news/events?limit=1", None),
    ("https://rest.akismet.com/1.1/", None),
    ("https://a.b.rest.akismet.com/1.1/comment-check", None),
    ("https://attacker.rest.akismet.com/1.1/x?q=1", None),
    ("https://REST.Akismet.com./1.1/verify-key", None),
    ("https://rest.akismet.com:8443/1.1/verify-key", None),
    ("https://evil.example/v1/whoami", "rest.akismet.com"),
    ("https://evil.example/1.1/verify-key", "rest.akismet.com:443"),
)


def test_the_must_use_plugin_forwards_only_akismets_own_calls():
    """Issue 18's review (a8): only rest.akismet.com or KEY.rest.akismet.com
    (one label), and only /1.1/ with one of Akismet's call names, reach
    MODGATE_URL; '..', other paths, deeper names, a port or a spoofed
    Host get a WP_Error and reach nobody."""
    got = wp().php(r"""
        $out = array();
        foreach ( json_decode( %s, true ) as $t ) {
            $seen = array();
            $rec  = function ( $pre, $args, $url ) use ( &$seen ) { $seen[] = $url; return $pre; };
            add_filter( 'pre_http_request', $rec, 5, 3 );
            $args = array( 'body' => 'key=' . get_option( 'wordpress_api_key' ) );
            if ( $t[1] ) { $args['headers'] = array( 'Host' => $t[1] ); }
            $r = wp_remote_post( $t[0], $args );
            remove_filter( 'pre_http_request', $rec, 5 );
            $out[] = array( $t[0], is_wp_error( $r ) ? $r->get_error_code() : wp_remote_retrieve_body( $r ), $seen );
        }
        return $out;""" % php_str(json.dumps(NOT_AKISMETS_CALLS + (("https://rest.akismet.com/1.1/verify-key", None),))))
    base = "http://127.0.0.1:%d" % svc().port
    for url, answer, seen in got[:-1]:
        assert answer == "modgate_refused" and not any(u.startswith(base) for u in seen), (url, answer, seen)
    url, answer, seen = got[-1]  # Akismet's own call still goes through
    assert answer == "valid" and seen[-1] == base + "/1.1/verify-key", got[-1]


def test_akismets_stats_frames_never_get_the_key():
    """Akismet's Detailed Stats view is a frame from tools.akismet.com with
    api_key= in its address, here modgate's key: the must-use plugin sends
    that view back to the settings page, whose frames may come from this
    site only (Content-Security-Policy)."""
    b = wp().session().login(ADMIN)
    st, page, h = b.get("/wp-admin/options-general.php?page=akismet-key-config&view=stats")
    assert st == 302 and "view=stats" not in h["location"], (st, h, re.findall(r"<iframe[^>]*>", page))
    st, page, h = b.get("/wp-admin/options-general.php?page=akismet-key-config")
    assert st == 200 and "frame-src 'self'" in h.get("content-security-policy", ""), h
    assert "api_key=" + AK_KEY not in page


# ---- the key ----------------------------------------------------------------

def enter_key(b, key):
    """Akismet's settings page: type 'key' into "Manually enter an API
    key" and send it; the page shown after."""
    st, page, _ = b.get("/wp-admin/options-general.php?page=akismet-key-config&view=start")
    assert st == 200, st
    m = re.search(r'<form action="([^"]*)" method="post">\s*<input type="hidden" id="_wpnonce" name="_wpnonce" '
                  r'value="([0-9a-f]+)"[^>]*>.*?value="enter-key"', page, re.S)
    assert m, page[-3000:]
    st, page, _ = b.post(html.unescape(m.group(1)), {"_wpnonce": m.group(2), "_wp_http_referer": "/",
                                                     "action": "enter-key", "key": key})
    assert st == 200, st
    return page


def test_akismets_settings_page_verifies_the_key_with_modgate():
    """Runs last (it reads the PHP notices of the whole file)."""
    b = wp().session().login(ADMIN)
    verifies = metric("/1.1/verify-key")
    wp().php("delete_option( 'wordpress_api_key' ); return true;")
    try:
        page = enter_key(b, WRONG_KEY)
        assert "The key you entered is invalid." in page, re.findall(r"akismet-(?:alert|key-status)[^>]*>[^<]*<[^>]*>[^<]*", page)
        assert wp().php("return get_option( 'wordpress_api_key' );") is False
        page = enter_key(b, AK_KEY)
        assert "Akismet is now protecting your site from spam." in page, page[-3000:]
        assert wp().php("return get_option( 'wordpress_api_key' );") == AK_KEY
        assert "connect to the Akismet servers" not in page
        st, page, _ = b.get("/wp-admin/options-general.php?page=akismet-key-config")
        assert re.search(r'<input id="key" name="key" type="text" size="15" value="%s" class="regular-text code '
                         r'active">' % AK_KEY, page), page[-3000:]
    finally:
        option("wordpress_api_key", AK_KEY)
    assert metric("/1.1/verify-key") == verifies + 2
    # nothing modgate answered surprised Akismet: no PHP notice from its files or the must-use plugin
    lines = wp().debug_lines("plugins/akismet/") + wp().debug_lines("akismet-to-modgate")
    assert lines == [], lines[:5]
    posts = sorted(ctx.get("post_s", []))
    print("     %d comments posted: median %.3f s, max %.3f s" % (len(posts), posts[len(posts) // 2], posts[-1]))


def configure(c, tmp):
    c["admin_keys"] = [{"id": "wpak-top-admin", "role": "admin", "sha256": sha256(TOP_ADMIN)}]
    c["sites"]["news"]["keys"].append({"id": "wpak-cms", "role": "cms", "sha256": sha256(AK_KEY)})
    c["sites"]["heldspam"] = {"keys": [{"id": "hs-cms", "role": "cms", "sha256": sha256(HS_KEY)},
                                       {"id": "hs-mod", "role": "moderator", "sha256": sha256(HS_MOD)}],
                              "akismet": {"held": "spam"}}


def make_wp(s):
    w = WordPress(ctx["tmp"], {"wordpress_api_key": AK_KEY, "akismet_strictness": "0",
                               # pending comes from modgate's answer alone: core's own link rule is off
                               "comment_max_links": "0"},
                  plugin="akismet", mu_plugins=[MU_PLUGIN])
    with open(w.extra, "w") as f:
        f.write("<?php\ndefine( 'MODGATE_URL', %s );\n" % php_str("http://127.0.0.1:%d" % s.port))
    return w


if __name__ == "__main__":
    sys.exit(wordpress.main(globals(), ctx, configure, make_wp, "Akismet"))
