#!/usr/bin/env python3
"""The WordPress plugin (integrations/wordpress/modgate) end to end: a real
WordPress from Debian's package on a real MariaDB (tests/integration/
wordpress.py), the plugin installed from build/modgate-wordpress.zip as
"Upload Plugin" does, the real modgate binary and a real redis-server.
Comments go through WordPress's own /wp-comments-post.php, the REST API
and wp-admin's links; a reader and an admin in headless Chromium solve a
challenge and look at the comment list. One WordPress, one MariaDB, one
modgate and one Redis serve every test of the file; each test uses its own
post. Prints "N passed, N failed"."""
import html
import http.server
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CMS_KEY, MOD_KEY, Service, base_config, interop_missing, no_starter, interop_node,  # noqa: E402
                     keep_screenshot, run_tests, secret_file, sha256, start)
import wordpress  # noqa: E402
from wordpress import ADMIN, AUTHOR, EDITOR, WordPress, php_str  # noqa: E402
from test_captcha import solved_payload  # noqa: E402

TOP_ADMIN = "it-wp-top-admin-key-0123456789abcdef"
CONST_KEY = "it-wp-const-cms-key-0123456789abcdef"
CONST_MOD = "it-wp-const-mod-key-0123456789abcdef"
SECRET = "modgate-wp-secret-0123456789abcdef0123"

CLEAN = "Thanks for the piece on the budget vote, the table on page %d was new to me."
HELD = ("Three sources for the budget figures: http://a.example.com/x, http://b.example.com/y "
        "and http://c.example.com/z, all worth a read (%d).")
BLOCKED = "Best casino bonus in town, come and see number %d"
# in the challenge band (0.575: a link, little else); one link, so that
# WordPress's own rule (hold at 2 links) leaves it alone
DOUBTFUL = "see http://a.example.com/%d"
ctx = {}
_n = [0]


def n():
    _n[0] += 1
    return _n[0]


def svc():
    return ctx["svc"]


def wp():
    return ctx["wp"]


def post(title):
    return wp().new_post(title)


def metric(route):
    return wordpress.metric(svc(), route, TOP_ADMIN)


def model():
    return wordpress.model(svc(), "news", MOD_KEY)


def held_ids(site="news", key=MOD_KEY):
    return wordpress.held_ids(svc(), site, key)


def modgate_item(mid):
    return wordpress.modgate_item(svc(), "news", mid, MOD_KEY)


def cron(hook="modgate_cron", user=None):
    """Run a WP-Cron hook by CLI, as 'user' when given (WP-Cron may run
    inside a moderator's own request, e.g. with ALTERNATE_WP_CRON)."""
    login = "wp_set_current_user( get_user_by( 'login', %s )->ID );" % php_str(user) if user else ""
    return wp().php("%s do_action( %s ); return true;" % (login, php_str(hook)))


def reasons(c):
    return [r["code"] for r in json.loads(c["meta"]["modgate_reasons"])]


# ---- comments from the form -----------------------------------------------

def test_comments_land_approved_pending_or_spam_as_modgate_decided():
    pid = post("Decisions")
    b = wp().session()
    page = b.get("/?p=%d" % pid)[1]
    fields = b.form_fields(page)
    assert fields.get("modgate_hp") == "" and fields.get("modgate_ft", "").startswith("ft1."), fields
    got = {}
    for name, text in (("clean", CLEAN % n()), ("held", HELD % n()), ("blocked", BLOCKED % n())):
        st, _, h, cid = b.post_comment(pid, text, author="Ana " + name)
        assert st == 302 and cid, (st, h)
        got[name] = wp().comment(cid)
    assert got["clean"]["status"] == "approved", got["clean"]
    assert got["held"]["status"] == "unapproved", got["held"]
    assert got["blocked"]["status"] == "spam", got["blocked"]
    for name, decision in (("clean", "accept"), ("held", "hold"), ("blocked", "reject")):
        m = got[name]["meta"]
        assert m["modgate_decision"] == decision, (name, m)
        assert re.fullmatch(r"[0-9a-f-]{36}", m["modgate_id"]), m
        assert 0 <= float(m["modgate_score"]) <= 1, m
    assert reasons(got["clean"]) == [], got["clean"]
    assert "too_many_links" in reasons(got["held"]), got["held"]
    assert reasons(got["blocked"]) == ["blocked_word"], got["blocked"]
    assert float(got["blocked"]["meta"]["modgate_score"]) > 0.95
    # the held one is in modgate's queue, with what the plugin sent
    mid = got["held"]["meta"]["modgate_id"]
    assert mid in held_ids()
    item = modgate_item(mid)
    assert item["comment"]["thread_id"] == str(pid) and item["author"]["name"] == "Ana held", item
    assert item["client"]["ip"] == "127.0.0.1" and item["client"]["user_agent"].startswith("Python-urllib"), item
    assert item["comment"]["permalink"].endswith("?p=%d" % pid), item
    assert got["clean"]["meta"]["modgate_id"] not in held_ids()


def test_a_filled_honeypot_is_spam_and_discard_drops_blatant_spam_unsaved():
    pid = post("Honeypot")
    b = wp().session()
    text = CLEAN % n()
    st, _, _, cid = b.post_comment(pid, text, extra={"modgate_hp": "I am a bot"})
    c = wp().comment(cid)
    assert c["status"] == "spam" and reasons(c)[0] == "honeypot", c
    wp().set_settings(discard=1)
    try:
        text = CLEAN % n()
        st, body, _, cid = b.post_comment(pid, text, extra={"modgate_hp": "I am a bot"})
        assert st == 403 and "not accepted" in body, (st, body[-500:])
        assert cid is None, cid  # never stored
        # a reject that is not blatant (links only: no honeypot, word or rate limit) is still filed as spam
        st, _, _, cid = b.post_comment(pid, "http://x.example.com/%d http://y.example.com http://z.example.com" % n())
        c = wp().comment(cid)
        assert c["status"] == "spam" and c["meta"]["modgate_decision"] == "reject", c
        assert "too_many_links" in reasons(c) and "honeypot" not in reasons(c), c
    finally:
        wp().set_settings(discard=0)


def test_rest_api_comments_are_checked_before_they_are_saved():
    pid = post("REST")
    b = wp().session()
    out = {}
    for name, text in (("clean", CLEAN % n()), ("blocked", BLOCKED % n()), ("doubtful", DOUBTFUL % n())):
        st, body, _ = b.post("/?rest_route=/wp/v2/comments", {"post": pid, "author_name": "Rest " + name,
                                                               "author_email": "rest@example.org", "content": text})
        assert st == 201, (st, body[-500:])
        out[name] = wp().comment(json.loads(body)["id"])
    assert out["clean"]["status"] == "approved" and out["clean"]["meta"]["modgate_decision"] == "accept", out
    assert out["blocked"]["status"] == "spam" and out["blocked"]["meta"]["modgate_decision"] == "reject", out
    # an API client cannot show the widget: a challenge waits for a moderator
    assert out["doubtful"]["status"] == "unapproved" and out["doubtful"]["meta"]["modgate_decision"] == "challenge"


def test_a_reader_in_chromium_solves_the_challenge_and_the_comment_is_published():
    pid = post("Challenge")
    shot = os.path.join(ctx["tmp"], "wp-challenge.png")
    text = DOUBTFUL % n()
    out = json.loads(interop_node("wordpress.mjs", "challenge", wp().url + "/?p=%d" % pid, text, "Cleo",
                                  "cleo@example.org", shot, timeout=180))
    assert out["first_status"] == 403, out
    assert out["final_status"] == 200 and "#comment-" in out["final_url"], out
    cid = int(re.search(r"#comment-(\d+)", out["final_url"]).group(1))
    c = wp().comment(cid)
    assert c["status"] == "approved" and c["content"] == text, c
    assert c["meta"]["modgate_decision"] == "accept" and "captcha_solved" in reasons(c), c
    assert os.path.getsize(shot) > 5000
    print("     widget solved in %d ms" % out["widget_ms"])


def test_the_challenge_repost_cannot_borrow_another_comments_id():
    """The re-post's comment id is signed for its post and text: another
    text with a held comment's id is checked as a new comment, and the
    held one in modgate stays as it was."""
    pid = post("Borrow")
    b = wp().session()
    st, _, _, cid = b.post_comment(pid, HELD % n())
    victim = wp().comment(cid)["meta"]["modgate_id"]
    text = CLEAN % n()
    st, _, _, cid = b.post_comment(pid, text, extra={"modgate_id": victim, "modgate_sig": "0" * 64})
    c = wp().comment(cid)
    assert c["meta"]["modgate_id"] != victim, c
    assert modgate_item(victim)["comment"]["body"] != text


def challenge_form(b, body):
    """The challenge page in 'body': its form's fields as a browser sends
    them (without the widget's 'altcha') and the widget's challenge."""
    fields = b.form_fields(body, "modgate-challenge")
    m = re.search(r'<altcha-widget name="altcha" challenge="([^"]*)"', body)
    assert m, body[-1500:]
    return fields, json.loads(html.unescape(m.group(1)))


def replayed_answers():
    """modgate's checks answered from a stored decision (all sites)."""
    st, text, _ = svc().request("GET", "/metrics", key=TOP_ADMIN, raw=True)
    assert st == 200, st
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.decode().splitlines()
               if line.startswith("modgate_replayed_answers_total"))


def comments_of(pid):
    """Every comment of a post: WordPress id, status, author, modgate id and decision."""
    return wp().php("""$out = array();
        foreach ( get_comments( array( 'post_id' => %d, 'status' => 'all', 'orderby' => 'comment_ID', 'order' => 'ASC' ) ) as $c ) {
            $out[] = array( 'id' => (int) $c->comment_ID, 'status' => wp_get_comment_status( $c ), 'author' => $c->comment_author,
                'mid' => get_comment_meta( $c->comment_ID, 'modgate_id', true ),
                'decision' => get_comment_meta( $c->comment_ID, 'modgate_decision', true ) );
        }
        return $out;""" % pid)


def test_one_solved_challenge_publishes_one_comment_and_copies_of_its_repost_are_checked_anew():
    """Issue 18's review (a1, a1b): the challenge page's re-post, solved
    once, sent again with the solution, with another author, e-mail and
    URL, or with the honeypot filled: each copy is checked as a new
    comment under a new id (or refused by WordPress as a duplicate), none
    is approved by modgate replaying the first decision."""
    pid = post("Replay")
    b = wp().session()
    text = DOUBTFUL % n()
    st, body, _, _ = b.post_comment(pid, text, author="Innocent", email="innocent@example.org")
    assert st == 403 and 'id="modgate-challenge"' in body, (st, body[-800:])
    fields, ch = challenge_form(b, body)
    solved = dict(fields, altcha=solved_payload(ch))
    st, _, h = b.post("/wp-comments-post.php", solved)
    assert st == 302 and "#comment-" in h["location"], (st, h)
    first_id = int(re.search(r"#comment-(\d+)", h["location"]).group(1))
    first = wp().comment(first_id)
    assert first["status"] == "approved" and "captcha_solved" in reasons(first), first
    mid = first["meta"]["modgate_id"]
    replays0 = replayed_answers()
    spam = {"author": "Casino Bot", "email": "bot@spam.example", "url": "http://casino-bonus.example/"}
    # a1's and a1b's copies first (on the old plugin modgate replayed the stored accept to them)
    copies = (("another author, without the solution", dict(fields, **spam)),
              ("honeypot filled, another author", dict(fields, modgate_hp="I am a bot", author="Best casino bonus",
                                                       email="x@spam.example")),
              ("another author, with the solution", dict(solved, **spam)),
              ("the solved re-post again", solved))
    reused = []  # copies challenged again under the first comment's id
    for name, f in copies:
        st, body, h = wp().session().post("/wp-comments-post.php", f, headers={"User-Agent": "curl/8"})
        print("     %-36s -> %d %s" % (name, st, "challenge page" if 'id="modgate-challenge"' in body
                                       else h.get("location", body[-120:].strip())))
        if 'id="modgate-challenge"' in body and challenge_form(b, body)[0]["modgate_id"] == mid:
            reused.append(name)
    got = comments_of(pid)
    assert [c["id"] for c in got if c["status"] == "approved"] == [first_id], got  # exactly one published
    assert sum(c["mid"] == mid for c in got) == 1, got  # one WordPress comment per modgate id
    assert all(c["decision"] in ("reject", "hold") for c in got if c["id"] != first_id), got
    assert replayed_answers() == replays0  # no copy was answered from the first decision
    assert reused == [], reused


def resign(fields, issued):
    """The challenge form's fields signed again by the plugin itself for
    another issue time 'issued' (what a page made then would carry)."""
    req = {"comment": {"thread_id": fields["comment_post_ID"], "body": fields["comment"]},
           "author": {"name": fields["author"], "email": fields["email"]}}
    sig = wp().php("""$m = new ReflectionMethod( 'Modgate_Form', 'signature' ); $m->setAccessible( true );
        return $m->invoke( null, %s, json_decode( %s, true ), %d );""" % (php_str(fields["modgate_id"]),
                                                                          php_str(json.dumps(req)), issued))
    return dict(fields, modgate_t=str(issued), modgate_sig=sig)


def test_a_challenge_page_older_than_30_minutes_is_no_pass():
    """The re-post's signature covers the page's time: 31 minutes old, the
    solved re-post is checked as a new comment (a new id, no captcha:
    challenged again); 29 minutes old, it is published."""
    pid = post("Old page")
    b = wp().session()
    for age, published in ((31 * 60, False), (29 * 60, True)):
        st, body, _, _ = b.post_comment(pid, DOUBTFUL % n(), author="Slow", email="slow@example.org")
        assert st == 403, st
        fields, ch = challenge_form(b, body)
        f = resign(fields, int(fields["modgate_t"]) - age)
        st, body, h = b.post("/wp-comments-post.php", dict(f, altcha=solved_payload(ch)))
        if published:
            assert st == 302 and "#comment-" in h["location"], (age, st, body[-500:])
        else:
            assert st == 403 and challenge_form(b, body)[0]["modgate_id"] != fields["modgate_id"], (age, st)


# quotes, a backslash, & and a link in HTML: what WordPress slashes and kses
# changes; one link in the challenge band, three sure to be held
TYPED = 'see "\'" \\ & <a href="http://a.example.com/%d">x</a>'
TYPED_HELD = ('O\'Neil said "no" & left \\ see <a href="http://a.example.com/x">a</a> http://b.example.com/y '
              'http://c.example.com/z (%d)')


def test_a_comment_reaches_modgate_as_typed():
    """Issue 18's review (a2): modgate stores the text and name as the
    reader typed them, quotes and backslashes without WordPress's slashes."""
    pid = post("Typed")
    text = TYPED_HELD % n()
    st, _, _, cid = wp().session().post_comment(pid, text, author="O'Brien \\ \"Bob\"")
    c = wp().comment(cid)
    assert c["meta"]["modgate_decision"] == "hold", c
    item = modgate_item(c["meta"]["modgate_id"])
    assert item["comment"]["body"] == text and item["author"]["name"] == "O'Brien \\ \"Bob\"", item


def test_a_challenged_comment_with_html_is_published_once_solved_in_chromium():
    """Issue 18's review (a2): a challenged comment with quotes, a
    backslash, & and a link in HTML, solved in Chromium, is published: the
    challenge page signs the text in the form the re-post is checked in
    (not after kses, which turns & into &amp; and adds rel="nofollow ugc"),
    so the re-post keeps its id and does not get another challenge."""
    pid = post("Typed challenge")
    text = TYPED % n()
    out = json.loads(interop_node("wordpress.mjs", "challenge", wp().url + "/?p=%d" % pid, text, "O'Brien",
                                  "obrien@example.org", "", timeout=180))
    assert out["first_status"] == 403, out
    assert out["final_status"] == 200 and "#comment-" in out["final_url"], out
    c = wp().comment(int(re.search(r"#comment-(\d+)", out["final_url"]).group(1)))
    assert c["status"] == "approved" and "captcha_solved" in reasons(c), c


# A test mu-plugin (scaffolding): while the option modgate_test_comment_type
# is set, comments from the form get that type, as WooCommerce gives its
# product reviews 'review' (at preprocess_comment).
COMMENT_TYPE = r"""<?php
/* Plugin Name: modgate test: a custom comment type (test_wordpress.py) */
add_filter( 'preprocess_comment', function ( $c ) {
	$type = get_option( 'modgate_test_comment_type' );
	if ( is_string( $type ) && '' !== $type ) {
		$c['comment_type'] = $type;
	}
	return $c;
}, 0 );
"""


def test_a_review_or_other_custom_comment_type_is_checked():
    path = os.path.join(wp().content, "mu-plugins", "modgate-test-comment-type.php")
    with open(path, "w") as f:
        f.write(COMMENT_TYPE)
    wp().php("update_option( 'modgate_test_comment_type', 'review' ); return true;")
    try:
        pid = post("Reviews")
        st, _, _, cid = wp().session().post_comment(pid, HELD % n())
    finally:
        wp().php("delete_option( 'modgate_test_comment_type' ); return true;")
        os.unlink(path)
    c = wp().comment(cid)
    assert wp().php("return get_comment( %d )->comment_type;" % cid) == "review"
    assert c["meta"] and c["meta"].get("modgate_decision") == "hold", c  # [] when unchecked
    assert c["status"] == "unapproved", c
    assert c["meta"]["modgate_id"] in held_ids()


def test_the_widget_file_is_in_the_installed_plugin():
    """The plugin as installed from the zip (README's way) serves the
    ALTCHA widget it puts on the challenge page."""
    st, body, h = wp().get("/wp-content/plugins/modgate/assets/altcha.min.js")
    assert st == 200 and "altcha-widget" in body and len(body) > 50000, (st, len(body))
    assert os.path.exists(os.path.join(wp().content, "plugins", "modgate", "assets", "altcha-LICENSE.txt"))


# ---- moderators -----------------------------------------------------------

def test_spam_and_not_spam_in_wp_admin_teach_modgate():
    pid = post("Teach")
    reader = wp().session()
    text = CLEAN % n() + " Also the second chart was good."
    st, _, _, cid = reader.post_comment(pid, text)
    assert wp().comment(cid)["status"] == "approved"
    ed = wp().session().login(EDITOR)
    spam0, ham0 = model()
    ed.click(ed.admin_link(ed.admin_list(), "spamcomment", cid))
    c = wp().comment(cid)
    assert c["status"] == "spam" and c["meta"]["modgate_learned"] == "spam", c
    assert model() == (spam0 + 1, ham0), (model(), spam0, ham0)
    ed.click(ed.admin_link(ed.admin_list("spam"), "unspamcomment", cid))
    c = wp().comment(cid)
    assert c["status"] == "approved" and c["meta"]["modgate_learned"] == "ham", c
    assert model() == (spam0, ham0 + 1), (model(), spam0, ham0)


ACTION = "/v1/sites/{site}/comments/{id}/action"


def test_approving_a_comment_modgate_held_approves_it_in_modgate_which_teaches_ham():
    pid = post("Approve held")
    st, _, _, cid = wp().session().post_comment(pid, HELD % n())
    c = wp().comment(cid)
    assert c["status"] == "unapproved" and c["meta"]["modgate_decision"] == "hold", c
    learns, acts = metric("/v1/learn"), metric(ACTION)
    spam0, ham0 = model()
    ed = wp().session().login(EDITOR)
    ed.click(ed.admin_link(ed.admin_list("moderated"), "approvecomment", cid))
    c = wp().comment(cid)
    assert c["status"] == "approved" and c["meta"]["modgate_learned"] == "ham", c
    assert c["meta"]["modgate_state"] == "approved", c
    assert model() == (spam0, ham0 + 1), model()
    assert (metric("/v1/learn"), metric(ACTION)) == (learns, acts + 1)
    item = modgate_item(c["meta"]["modgate_id"])
    assert item["state"] == "approved" and item["decided_by"] == "t-cms", item
    # approving a pending comment modgate did not hold teaches nothing
    st, _, _, cid2 = wp().session().post_comment(pid, CLEAN % n(), extra={})
    wp().php("wp_set_comment_status( %d, 'hold' ); return true;" % cid2)
    ed.click(ed.admin_link(ed.admin_list("moderated"), "approvecomment", cid2))
    assert wp().comment(cid2)["status"] == "approved"
    assert (metric("/v1/learn"), metric(ACTION)) == (learns, acts + 1)


def test_an_author_approving_a_held_comment_on_their_own_post_reaches_modgates_queue():
    """Authors moderate comments on their own posts (edit_comment, not
    moderate_comments): their Approve is reported like an editor's."""
    uid = wp().php("return get_user_by( 'login', %s )->ID;" % php_str(AUTHOR[0]))
    pid = wp().php("""return wp_insert_post( array( 'post_title' => 'Own post', 'post_content' => 'Story.',
        'post_status' => 'publish', 'post_author' => %d ) );""" % uid)
    st, _, _, cid = wp().session().post_comment(pid, HELD % n())
    mid = wp().comment(cid)["meta"]["modgate_id"]
    assert mid in held_ids()
    au = wp().session().login(AUTHOR)
    au.click(au.admin_link(au.admin_list("moderated"), "approvecomment", cid))
    c = wp().comment(cid)
    assert c["status"] == "approved" and c["meta"]["modgate_state"] == "approved", c
    item = modgate_item(mid)
    assert item["state"] == "approved" and mid not in held_ids(), item


def test_spam_or_approve_in_wp_admin_takes_a_held_comment_out_of_modgates_queue():
    """A comment modgate holds, decided in wp-admin, leaves modgate's held
    queue (its moderators need not decide it again); the feed's event
    about it comes back to WordPress and changes nothing, teaching nothing
    twice."""
    pid = post("Held decided in WordPress")
    b = wp().session()
    cids = [b.post_comment(pid, HELD % n())[3] for _ in range(2)]
    mids = [wp().comment(c)["meta"]["modgate_id"] for c in cids]
    assert all(m in held_ids() for m in mids)
    cron()  # the feed up to now
    ed = wp().session().login(EDITOR)
    learns, acts = metric("/v1/learn"), metric(ACTION)
    ed.click(ed.admin_link(ed.admin_list("moderated"), "spamcomment", cids[0]))
    ed.click(ed.admin_link(ed.admin_list("moderated"), "approvecomment", cids[1]))
    assert [wp().comment(c)["status"] for c in cids] == ["spam", "approved"]
    assert (metric("/v1/learn"), metric(ACTION)) == (learns, acts + 2)
    held = held_ids()
    assert mids[0] not in held and mids[1] not in held, held
    assert [modgate_item(m)["state"] for m in mids] == ["spam", "approved"]
    cron()  # modgate's events about them come back: no change, no second lesson
    assert [wp().comment(c)["status"] for c in cids] == ["spam", "approved"]
    assert (metric("/v1/learn"), metric(ACTION)) == (learns, acts + 2)


def test_trash_and_restore_of_a_held_comment_in_wp_admin_reach_modgates_queue():
    """Trash in wp-admin of a comment modgate holds rejects it in modgate's
    queue (by the cms key; the filter learns nothing: learn_on_reject is
    off), so modgate's moderators never approve what WordPress threw away;
    Restore puts it back to held. The feed's events about both come back
    and change nothing."""
    pid = post("Trash held")
    st, _, _, cid = wp().session().post_comment(pid, HELD % n())
    mid = wp().comment(cid)["meta"]["modgate_id"]
    assert mid in held_ids()
    cron()  # the feed up to now
    ed = wp().session().login(EDITOR)
    learns, acts, m0 = metric("/v1/learn"), metric(ACTION), model()
    ed.click(ed.admin_link(ed.admin_list("moderated"), "trashcomment", cid))
    c = wp().comment(cid)
    assert c["status"] == "trash" and c["meta"]["modgate_state"] == "rejected", c
    item = modgate_item(mid)
    assert item["state"] == "rejected" and item["decided_by"] == "t-cms", item
    assert (item["history"][-1]["action"], item["history"][-1]["from"]) == ("reject", "held"), item["history"]
    assert mid not in held_ids() and model() == m0 and "modgate_learned" not in c["meta"], (model(), m0, c)
    ed.click(ed.admin_link(ed.admin_list("trash"), "untrashcomment", cid))
    c = wp().comment(cid)
    assert c["status"] == "unapproved" and c["meta"]["modgate_state"] == "held", c
    assert modgate_item(mid)["state"] == "held" and mid in held_ids()
    assert (metric("/v1/learn"), metric(ACTION), model()) == (learns, acts + 2, m0)
    cron()  # the events of the reject and the undo come back: nothing moves
    assert wp().comment(cid)["status"] == "unapproved"
    assert (metric("/v1/learn"), metric(ACTION), model()) == (learns, acts + 2, m0)
    assert modgate_item(mid)["state"] == "held"


def test_deleting_a_held_comment_for_good_rejects_it_in_modgate():
    """Where the trash is off (EMPTY_TRASH_DAYS 0) wp-admin's Trash link is
    Delete Permanently: the comment modgate holds is rejected there too."""
    pid = post("Delete held")
    st, _, _, cid = wp().session().post_comment(pid, HELD % n())
    mid = wp().comment(cid)["meta"]["modgate_id"]
    with open(wp().extra, "w") as f:
        f.write("<?php\ndefine( 'EMPTY_TRASH_DAYS', 0 );\n")
    try:
        ed = wp().session().login(EDITOR)
        ed.click(ed.admin_link(ed.admin_list("moderated"), "deletecomment", cid))
    finally:
        os.unlink(wp().extra)
    assert wp().comment(cid) is None
    item = modgate_item(mid)
    assert item["state"] == "rejected" and item["decided_by"] == "t-cms", item


def test_spam_then_not_spam_of_a_held_comment_is_not_undone_by_the_feed():
    """Two reports in a row: the feed's event about the first (spam) is
    older than what WordPress shows and must not flip the comment back."""
    pid = post("Spam then not spam")
    st, _, _, cid = wp().session().post_comment(pid, HELD % n())
    mid = wp().comment(cid)["meta"]["modgate_id"]
    cron()
    ed = wp().session().login(EDITOR)
    spam0, ham0 = model()
    ed.click(ed.admin_link(ed.admin_list("moderated"), "spamcomment", cid))
    assert modgate_item(mid)["state"] == "spam" and model() == (spam0 + 1, ham0)
    ed.click(ed.admin_link(ed.admin_list("spam"), "unspamcomment", cid))
    c = wp().comment(cid)
    assert c["status"] == "unapproved" and c["meta"]["modgate_learned"] == "ham", c  # back where it was
    assert modgate_item(mid)["state"] == "approved" and model() == (spam0, ham0 + 1)  # Not spam: ham
    cron()
    assert wp().comment(cid)["status"] == "unapproved"
    assert [e["state"] for e in feed_about(mid)] == ["spam", "approved"]


def feed_about(mid):
    """Every event of the feed about modgate's comment 'mid'."""
    out, after = [], None
    for _ in range(100):
        st, body, _ = svc().request("GET", "/v1/sites/news/events?limit=1000" + ("&after=" + after if after else ""),
                                    key=CMS_KEY)
        assert st == 200, body
        out += [e for e in body["events"] if e["id"] == mid]
        if not body["events"]:
            return out
        after = body["next_cursor"]
    raise AssertionError("the feed never ended")


def test_a_report_that_conflicts_with_modgates_moderator_stops_and_the_feed_decides():
    """modgate's moderator approves a held comment; before the feed brings
    it, WordPress's moderator trashes it: modgate answers 409 with the
    state it has, the plugin keeps it and stops (one call, no retry), and
    the feed then brings the first decision to WordPress."""
    pid = post("Conflict")
    st, _, _, cid = wp().session().post_comment(pid, HELD % n())
    mid = wp().comment(cid)["meta"]["modgate_id"]
    cron()
    st, body, _ = svc().request("POST", "/v1/sites/news/comments/%s/action" % mid, {"action": "approve"}, key=MOD_KEY)
    assert st == 200, body
    ed = wp().session().login(EDITOR)
    acts = metric(ACTION)
    ed.click(ed.admin_link(ed.admin_list("moderated"), "trashcomment", cid))
    c = wp().comment(cid)
    assert c["status"] == "trash" and c["meta"]["modgate_state"] == "approved", c
    assert metric(ACTION) == acts + 1 and modgate_item(mid)["state"] == "approved"
    cron()
    c = wp().comment(cid)
    assert c["status"] == "approved" and "modgate_report_pending" not in c["meta"], c
    cron()
    assert wp().comment(cid)["status"] == "approved" and metric(ACTION) == acts + 1


def test_decisions_in_modgate_reach_wordpress_through_the_feed_without_a_loop():
    pid = post("Feed")
    b = wp().session()
    ids = []
    for _ in range(3):
        st, _, _, cid = b.post_comment(pid, HELD % n())
        ids.append(cid)
    mids = [wp().comment(i)["meta"]["modgate_id"] for i in ids]
    cron()  # the feed up to now
    # a moderator decides them in modgate's own page, by keyboard
    out = json.loads(interop_node("ui-act.mjs", "http://127.0.0.1:%d" % svc().port, MOD_KEY,
                                  *["%s=%s" % (m, k) for m, k in zip(mids, "asr")]))
    assert "error" not in out and not out["page_errors"], out
    assert [modgate_item(m)["state"] for m in mids] == ["approved", "spam", "rejected"], out
    learns, model_after = metric("/v1/learn"), model()
    assert [wp().comment(i)["status"] for i in ids] == ["unapproved"] * 3  # not before the cron job runs
    cron(user=EDITOR[0])  # in a moderator's request: the plugin's own changes are still not taught
    got = [wp().comment(i) for i in ids]
    assert [c["status"] for c in got] == ["approved", "spam", "trash"], got
    assert [c["meta"]["modgate_state"] for c in got] == ["approved", "spam", "rejected"], got
    # nothing went back to modgate: no learn call, the model as modgate's moderators left it
    assert metric("/v1/learn") == learns and model() == model_after
    assert all("modgate_learned" not in c["meta"] for c in got), got
    cursor = wp().php("return get_option( 'modgate_events_cursor' );")
    assert cursor, cursor
    cron()  # again: nothing new, nothing changes
    assert [wp().comment(i)["status"] for i in ids] == ["approved", "spam", "trash"]
    assert metric("/v1/learn") == learns


def test_a_comment_readers_reported_goes_pending_where_the_site_hides_them():
    """Readers report a published comment (modgate's reports API, as the
    CMS passes them on); with reports.hide the feed's "reported" event
    makes it pending in WordPress, and a moderator's approval in modgate
    publishes it again. Without hide, the event leaves it published."""
    pid = post("Reported")
    b = wp().session()
    body = CLEAN % n()
    st, _, _, cid = b.post_comment(pid, body)
    c = wp().comment(cid)
    assert c["status"] == "approved", c
    mid = c["meta"]["modgate_id"]
    cron()
    st, pol, _ = svc().request("PUT", "/v1/sites/news/policy", {"policy": {"reports": {"threshold": 1, "hide": True}}},
                               key=TOP_ADMIN)
    assert st == 200, pol
    try:
        st, r, _ = svc().request("POST", "/v1/sites/news/comments/%s/reports" % mid,
                                 {"reader_id": "wp-reader-9", "reason": "abusive", "body": body}, key=CMS_KEY)
        assert st == 200 and r["queued"] is True, r
        cron()
        c = wp().comment(cid)
        assert c["status"] == "unapproved" and c["meta"]["modgate_state"] == "reported", c
        st, a, _ = svc().request("POST", "/v1/sites/news/comments/%s/action" % mid,
                                 {"action": "approve", "from": "reported"}, key=MOD_KEY)
        assert st == 200 and a["status"] == "ok", a
        cron()
        assert wp().comment(cid)["status"] == "approved"
        # a site that does not hide them: the event changes nothing in WordPress
        st, pol, _ = svc().request("PUT", "/v1/sites/news/policy", {"policy": {"reports": {"hide": False}}},
                                   key=TOP_ADMIN)
        st, r, _ = svc().request("POST", "/v1/sites/news/comments/%s/reports" % mid,
                                 {"reader_id": "wp-reader-10", "reason": "spam"}, key=CMS_KEY)
        assert st == 200 and r["queued"] is True, r
        cron()
        assert wp().comment(cid)["status"] == "approved"
    finally:
        svc().request("PUT", "/v1/sites/news/policy", {"policy": {"reports": {"threshold": 3, "hide": False}}},
                      key=TOP_ADMIN)


def story(pid, premod, for_s, user=EDITOR[0]):
    """Save post pid as its edit screen does with the modgate box set to
    premod for for_s seconds: the nonce, the fields, the save_post hook."""
    return wp().php(
        "wp_set_current_user( get_user_by( 'login', %s )->ID );"
        " $_POST = array( 'modgate_story_nonce' => wp_create_nonce( 'modgate_story_%d' ),"
        " 'modgate_story_premod' => %s, 'modgate_story_for' => '%d' );"
        " require_once ABSPATH . 'wp-admin/includes/post.php';"
        " if ( ! class_exists( 'Modgate_Story' ) ) { require_once WP_PLUGIN_DIR . '/modgate/includes/class-modgate-story.php';"
        " Modgate_Story::init(); }"
        " wp_update_post( array( 'ID' => %d, 'post_title' => 'Story %d' ) );"
        " return get_post_meta( %d, 'modgate_story', true );"
        % (php_str(user), pid, php_str(premod), for_s, pid, pid, pid))


def test_an_editor_pre_moderates_a_story_from_its_edit_screen():
    """The post's modgate box: "pre-moderate every comment for a day"
    sets the story in modgate (comments on it wait, others do not);
    "as the site" takes it back."""
    pid, other = post("Sensitive"), post("Ordinary")
    saved = story(pid, "all", 86400)
    assert json.loads(saved)["premod"] == "all", saved
    st, t, _ = svc().request("GET", "/v1/sites/news/threads/%d" % pid, key=MOD_KEY)
    assert st == 200 and t["premod"] == "all" and t["until"] and "editor" in t["note"], (st, t)
    b = wp().session()
    st, _, _, cid = b.post_comment(pid, CLEAN % n())
    c = wp().comment(cid)
    assert c["status"] == "unapproved" and "premod" in reasons(c), c
    st, _, _, cid = b.post_comment(other, CLEAN % n())
    assert wp().comment(cid)["status"] == "approved"
    assert story(pid, "site", 86400) == ""
    assert svc().request("GET", "/v1/sites/news/threads/%d" % pid, key=MOD_KEY)[0] == 404
    st, _, _, cid = b.post_comment(pid, CLEAN % n())
    assert wp().comment(cid)["status"] == "approved"
    # an author may not edit another's post: the box's choice is not sent
    story(pid, "all", 0, user=AUTHOR[0])
    assert svc().request("GET", "/v1/sites/news/threads/%d" % pid, key=MOD_KEY)[0] == 404


def test_an_expired_feed_cursor_starts_the_feed_again():
    pid = post("Expired cursor")
    st, _, _, cid = wp().session().post_comment(pid, HELD % n())
    mid = wp().comment(cid)["meta"]["modgate_id"]
    st, body, _ = svc().request("POST", "/v1/sites/news/comments/%s/action" % mid, {"action": "approve"},
                                key=MOD_KEY)
    assert st == 200, body
    # a cursor older than anything modgate keeps: 410 cursor_expired
    wp().php("update_option( 'modgate_events_cursor', '1-0' ); return true;")
    st, body, _ = svc().request("GET", "/v1/sites/news/events?after=1-0", key=CMS_KEY)
    assert st == 410, (st, body)
    cron()
    assert wp().comment(cid)["status"] == "approved"
    assert wp().php("return get_option( 'modgate_events_cursor' );") != "1-0"


def test_modgate_unreachable_keeps_comments_pending_and_the_recheck_decides_them():
    pid = post("Down")
    b = wp().session()
    def moderation_mails():
        return [m for m in wp().mails() if "Please moderate" in m["subject"]]
    mails0 = len(moderation_mails())
    svc().stop()
    try:
        t0 = time.monotonic()
        st, _, _, clean = b.post_comment(pid, CLEAN % n())
        took = time.monotonic() - t0
        st, _, _, held = b.post_comment(pid, HELD % n())
    finally:
        svc().start()
    print("     a comment with modgate stopped took %.3f s" % took)
    for cid in (clean, held):
        c = wp().comment(cid)
        assert c["status"] == "unapproved", c
        assert c["meta"]["modgate_error"] and c["meta"]["modgate_delayed_email"] == "1", c
        assert "modgate_decision" not in c["meta"], c
    assert len(moderation_mails()) == mails0, moderation_mails()[mails0:]  # the moderator e-mail waits
    assert wp().php("return (bool) wp_next_scheduled( 'modgate_recheck' );") is True
    cron("modgate_recheck")
    c, h = wp().comment(clean), wp().comment(held)
    assert c["status"] == "approved" and c["meta"]["modgate_decision"] == "accept", c
    assert h["status"] == "unapproved" and h["meta"]["modgate_decision"] == "hold", h
    for x in (c, h):
        assert "modgate_error" not in x["meta"] and "modgate_delayed_email" not in x["meta"], x
    assert h["meta"]["modgate_id"] in held_ids()  # the recheck stored it for modgate's moderators
    mails = moderation_mails()[mails0:]  # only the held one waits for a moderator
    assert len(mails) == 1 and h["content"] in mails[0]["message"], mails
    # a second run finds nothing left to do
    cron("modgate_recheck")
    assert len(moderation_mails()) == mails0 + 1


def test_a_moderator_action_while_modgate_is_down_is_taught_later():
    pid = post("Lesson later")
    st, _, _, cid = wp().session().post_comment(pid, CLEAN % n() + " Lesson later.")
    ed = wp().session().login(EDITOR)
    href = ed.admin_link(ed.admin_list(), "spamcomment", cid)
    spam0, ham0 = model()
    svc().stop()
    try:
        ed.click(href)
    finally:
        svc().start()
    c = wp().comment(cid)
    assert c["status"] == "spam" and c["meta"]["modgate_learn_pending"] == "spam", c
    assert model() == (spam0, ham0)
    cron()
    c = wp().comment(cid)
    assert c["meta"]["modgate_learned"] == "spam" and "modgate_learn_pending" not in c["meta"], c
    assert model() == (spam0 + 1, ham0)


def test_trashing_a_held_comment_while_modgate_is_down_reaches_its_queue_later():
    pid = post("Report later")
    st, _, _, cid = wp().session().post_comment(pid, HELD % n())
    mid = wp().comment(cid)["meta"]["modgate_id"]
    cron()
    ed = wp().session().login(EDITOR)
    href = ed.admin_link(ed.admin_list("moderated"), "trashcomment", cid)
    svc().stop()
    try:
        ed.click(href)
    finally:
        svc().start()
    c = wp().comment(cid)
    assert c["status"] == "trash" and c["meta"]["modgate_report_pending"] == "unapproved", c
    assert modgate_item(mid)["state"] == "held"
    cron()
    c = wp().comment(cid)
    assert c["status"] == "trash" and "modgate_report_pending" not in c["meta"], c
    assert c["meta"]["modgate_state"] == "rejected" and modgate_item(mid)["state"] == "rejected"


# A test mu-plugin (scaffolding, not the plugin): while the option
# modgate_test_fake_check is set, WordPress's HTTP API answers the plugin's
# /v1/check with that body as a 200, or throws ('throw'), as a broken proxy
# in front of modgate or another plugin's faulty HTTP filter would.
FAKE_CHECK = r"""<?php
/* Plugin Name: modgate test: broken answers to /v1/check (test_wordpress.py) */
add_filter( 'pre_http_request', function ( $pre, $args, $url ) {
	$fake = get_option( 'modgate_test_fake_check' );
	if ( ! is_string( $fake ) || '' === $fake || false === strpos( $url, '/v1/check' ) ) {
		return $pre;
	}
	if ( 'throw' === $fake ) {
		throw new RuntimeException( 'a faulty HTTP filter' );
	}
	return array( 'headers' => array( 'content-type' => 'application/json' ), 'body' => $fake,
		'response' => array( 'code' => 200, 'message' => 'OK' ), 'cookies' => array(), 'filename' => null );
}, 10, 3 );
"""

BROKEN_ANSWERS = (
    "<html><body>Service temporarily unavailable</body></html>",
    '{"decision":"acc',
    "[]",
    '"accept"',
    '{"decision":"ACCEPT","score":0}',
    '{"decision":"challenge","score":0.6,"reasons":[]}',  # a challenge without its challenge
    "throw",
)


def fake_check(body):
    wp().php("update_option( 'modgate_test_fake_check', %s ); return true;" % php_str(body or ""))


def test_an_answer_the_plugin_cannot_use_keeps_the_comment_pending_for_the_recheck():
    """The plugin's failure path: whatever comes back (not JSON, no known
    decision, a challenge without its challenge, an exception in the HTTP
    layer), the comment is saved pending with modgate_error, never
    published, never lost, and without a PHP warning; the recheck, also
    while the answers are still broken, neither fails nor publishes, and
    decides them all once modgate's real answers come back."""
    path = os.path.join(wp().content, "mu-plugins", "modgate-test-fake-check.php")
    with open(path, "w") as f:
        f.write(FAKE_CHECK)
    warnings0 = len(wp().debug_lines("plugins/modgate/"))
    pid = post("Broken answers")
    b = wp().session()
    ids = {}
    try:
        for body in BROKEN_ANSWERS:
            fake_check(body)
            st, page, h, cid = b.post_comment(pid, CLEAN % n())
            assert st == 302 and cid, (body, st, page[-500:])
            ids[body] = cid
        st, page, _ = b.post("/?rest_route=/wp/v2/comments", {"post": pid, "author_name": "Rest", "author_email":
                                                               "rest@example.org", "content": CLEAN % n()})
        assert st == 201, (st, page[-500:])
        ids["throw (REST)"] = json.loads(page)["id"]
        for body, cid in ids.items():
            c = wp().comment(cid)
            assert c["status"] == "unapproved" and c["meta"].get("modgate_error"), (body, c)
            assert c["meta"]["modgate_delayed_email"] == "1" and "modgate_decision" not in c["meta"], (body, c)
            print("     %-40.40s -> %s" % (body, c["meta"]["modgate_error_text"]))
        cron("modgate_recheck")  # still broken: nothing decided, nothing published, no PHP error
        assert [wp().comment(c)["status"] for c in ids.values()] == ["unapproved"] * len(ids)
    finally:
        fake_check(None)
        os.unlink(path)
    cron("modgate_recheck")
    got = {body: wp().comment(cid) for body, cid in ids.items()}
    assert all(c["status"] == "approved" and c["meta"]["modgate_decision"] == "accept" and
               "modgate_error" not in c["meta"] for c in got.values()), got
    assert len(wp().debug_lines("plugins/modgate/")) == warnings0, wp().debug_lines("plugins/modgate/")[-3:]


def test_reasons_of_another_shape_are_dropped_not_shown_or_obeyed():
    """A decision whose reasons are not all {code: string, ...}: the
    plugin keeps the well-formed ones only (a code that is an array is not
    'honeypot' to the discard rule), and wp-admin shows them without a PHP
    warning."""
    path = os.path.join(wp().content, "mu-plugins", "modgate-test-fake-check.php")
    with open(path, "w") as f:
        f.write(FAKE_CHECK)
    warnings0 = len(wp().debug_lines("plugins/modgate/"))
    pid = post("Odd reasons")
    wp().set_settings(discard=1)
    try:
        fake_check(json.dumps({"decision": "reject", "score": "high", "reasons": [
            {"code": ["honeypot"], "detail": "x"}, "junk", {"code": "links", "contribution": 0.2, "detail": ["y"]}]}))
        st, _, _, cid = wp().session().post_comment(pid, CLEAN % n())
    finally:
        fake_check(None)
        os.unlink(path)
        wp().set_settings(discard=0)
    c = wp().comment(cid)
    assert c["status"] == "spam" and c["meta"]["modgate_decision"] == "reject", c
    assert json.loads(c["meta"]["modgate_reasons"]) == [{"code": "links", "contribution": 0.2}], c
    assert c["meta"]["modgate_score"] == "0", c
    ed = wp().session().login(EDITOR)
    assert "— links" in ed.admin_list("spam")
    st, page, _ = ed.get("/wp-admin/comment.php?action=editcomment&c=%d" % cid)
    assert st == 200 and "<code>links</code>" in page
    assert len(wp().debug_lines("plugins/modgate/")) == warnings0, wp().debug_lines("plugins/modgate/")[-3:]


def test_a_comment_modgate_refuses_is_left_to_the_moderator_and_blocks_no_recheck():
    """A comment WordPress takes (up to 65525 bytes) but modgate refuses
    (413: over http.max_body_bytes) is not retried for 15 days: it is
    pending for WordPress's moderator at once, with the e-mail, and the
    recheck of comments saved while modgate was down goes past it."""
    pid = post("Refused")
    b = wp().session()

    def mails_about(text):
        return [m for m in wp().mails() if "Please moderate" in m["subject"] and text[:60] in m["message"]]
    svc().stop()
    try:
        # 65500 bytes: WordPress's limit is 65525, modgate's whole request 65536
        long = (("A long letter to the editor, part %d. " % n()) + "The council should publish its minutes. " * 1700)[:65500]
        st, _, _, refused = b.post_comment(pid, long)
        st, _, _, clean = b.post_comment(pid, CLEAN % n())
    finally:
        svc().start()
    for cid in (refused, clean):
        assert wp().comment(cid)["meta"].get("modgate_error"), wp().comment(cid)["meta"]
    cron("modgate_recheck")
    r, c = wp().comment(refused), wp().comment(clean)
    assert c["status"] == "approved" and c["meta"]["modgate_decision"] == "accept", c["meta"]
    assert r["status"] == "unapproved" and "HTTP 413" in r["meta"]["modgate_refused"], r["meta"]
    assert "modgate_error" not in r["meta"] and "modgate_delayed_email" not in r["meta"], r["meta"]
    assert len(mails_about(long)) == 1, len(mails_about(long))
    # posted while modgate is up: refused at once, the e-mail goes out now
    long2 = long.replace("part", "section", 1)
    st, _, _, cid = b.post_comment(pid, long2)
    m = wp().comment(cid)["meta"]
    assert wp().comment(cid)["status"] == "unapproved" and "HTTP 413" in m["modgate_refused"], m
    assert "modgate_error" not in m and len(mails_about(long2)) == 1, m
    ed = wp().session().login(EDITOR)
    assert "refused by modgate: left to a moderator" in ed.admin_list("moderated")


DEFAULT_DISCUSSION = {"comment_previously_approved": "1", "comment_moderation": "0", "comment_max_links": "2",
                      "moderation_keys": "", "disallowed_keys": ""}


def discussion(**opts):
    wp().php("".join("update_option( %s, %s );" % (php_str(k), php_str(v)) for k, v in opts.items()) + "return true;")


def test_accept_publishes_a_first_comment_on_a_default_wordpress_unless_modgate_is_set_not_to_decide():
    """WordPress's default Discussion settings (a commenter needs a
    previously approved comment, two links hold) would hold every first
    comment modgate accepts. With "modgate decides which comments are
    published" (the default) it is published; untick it and the stricter
    of the two wins. Manual approval and the moderation words still hold,
    the disallowed keys still trash."""
    discussion(**DEFAULT_DISCUSSION)
    pid = post("Default WordPress")
    b = wp().session()

    def first(text, **kw):
        who = "first%d" % n()
        st, _, _, cid = b.post_comment(pid, text, author=who.title(), email=who + "@example.net", **kw)
        return wp().comment(cid)
    try:
        c = first(CLEAN % n())
        assert c["status"] == "approved" and c["meta"]["modgate_decision"] == "accept", c
        st, body, _ = b.post("/?rest_route=/wp/v2/comments", {"post": pid, "author_name": "Rest First",
                                                               "author_email": "rest-first%d@example.net" % n(),
                                                               "content": CLEAN % n()})
        assert st == 201 and json.loads(body)["status"] == "approved", (st, body[-300:])
        wp().set_settings(decides=0)
        try:
            c = first(CLEAN % n())
            assert c["status"] == "unapproved" and c["meta"]["modgate_decision"] == "accept", c
        finally:
            wp().set_settings(decides=1)
        discussion(comment_moderation="1")
        c = first(CLEAN % n())
        assert c["status"] == "unapproved" and c["meta"]["modgate_decision"] == "accept", c
        discussion(comment_moderation="0", moderation_keys="council budget")
        c = first("The council budget again, table %d." % n())
        assert c["status"] == "unapproved" and c["meta"]["modgate_decision"] == "accept", c
        discussion(moderation_keys="", disallowed_keys="pineapple")
        c = first("Pineapple on pizza, point %d, is a fine topic." % n())
        assert c["status"] == "trash", c
        # a hold is still a hold
        c = first(HELD % n())
        assert c["status"] == "unapproved" and c["meta"]["modgate_decision"] == "hold", c
    finally:
        discussion(comment_previously_approved="0", moderation_keys="", disallowed_keys="", comment_moderation="0")


def test_without_the_widget_file_a_challenge_waits_for_a_moderator():
    """A plugin folder copied by hand lacks assets/altcha.min.js: wp-admin
    says so, and a comment modgate challenges is kept pending instead of
    getting a captcha page nobody could solve."""
    js = os.path.join(wp().content, "plugins", "modgate", "assets", "altcha.min.js")
    os.rename(js, js + ".away")
    try:
        pid = post("No widget")
        st, body, _, cid = wp().session().post_comment(pid, DOUBTFUL % n())
        assert st == 302 and cid, (st, body[-500:])
        c = wp().comment(cid)
        assert c["status"] == "unapproved" and c["meta"]["modgate_decision"] == "challenge", c
        st, page, _ = wp().session().login(ADMIN).get("/wp-admin/")
        m = re.search(r'<div id="modgate-no-widget"[^>]*><p>(.*?)</p>', page)
        assert m and "make wordpress-plugin" in m.group(1) and "Pending" in m.group(1), page[-2000:]
        print("     notice: " + m.group(1))
    finally:
        os.rename(js + ".away", js)
    st, page, _ = wp().session().login(ADMIN).get("/wp-admin/")
    assert 'id="modgate-no-widget"' not in page


def test_editors_are_not_checked():
    pid = post("Editors")
    # an earlier test stopped modgate: forms then skip the token for a minute
    wp().php("delete_transient( 'modgate_token_down' ); return true;")
    ed = wp().session().login(EDITOR)
    checks, tokens = metric("/v1/check"), metric("/v1/form-token")
    text = HELD % n()
    st, _, h, cid = ed.post_comment(pid, text)
    assert metric("/v1/form-token") == tokens  # the editor's form asked for no token
    assert st == 302 and cid, (st, h)
    c = wp().comment(cid)
    assert c["status"] == "approved" and not any(k.startswith("modgate") for k in c["meta"]), c
    assert metric("/v1/check") == checks
    # a logged-in reader who cannot moderate is checked
    reader = wp().session().login(wordpress.AUTHOR)
    st, _, _, cid = reader.post_comment(pid, HELD % n())
    assert metric("/v1/form-token") == tokens + 1
    c = wp().comment(cid)
    assert c["meta"]["modgate_decision"] == "hold", c
    assert metric("/v1/check") == checks + 1
    uid = wp().php("return get_user_by( 'login', 'author' )->ID;")
    assert modgate_item(c["meta"]["modgate_id"])["author"]["id"] == str(uid)


# ---- settings ---------------------------------------------------------------

def settings_page(b):
    st, page, _ = b.get("/wp-admin/options-general.php?page=modgate")
    assert st == 200, st
    return page


def run_connection_test(b):
    page = settings_page(b)
    fields = b.form_fields(page, "modgate-test")
    st, body, h = b.post("/wp-admin/admin-post.php", fields)
    assert st == 302 and "page=modgate" in h["location"], (st, body[-500:])
    page = settings_page(b)
    m = re.search(r'<div id="modgate-test-result" class="notice ([a-z-]+)"><p>(.*?)</p>', page)
    assert m, page[-2000:]
    return m.group(1), m.group(2)


def test_settings_page_test_connection_and_a_bad_key():
    b = wp().session().login(ADMIN)
    page = settings_page(b)
    assert CMS_KEY not in page and CMS_KEY[-4:] in page  # the key is never shown in full
    cls, text = run_connection_test(b)
    assert cls == "notice-success" and text == "Connected: site news, role cms.", (cls, text)
    good = wp().settings["key"]
    wp().set_settings(key="not-a-key-of-modgate")
    try:
        cls, text = run_connection_test(b)
        assert cls == "notice-error" and "HTTP 401" in text and "unauthorized" in text, (cls, text)
    finally:
        wp().set_settings(key=good)
    # the test is an admin action: an editor may not run it
    ed = wp().session().login(EDITOR)
    fields = b.form_fields(settings_page(b), "modgate-test")  # with a valid nonce of the admin's
    st, _, _ = ed.post("/wp-admin/admin-post.php", fields)
    assert st == 403, st
    # nor without the nonce
    st, body, _ = b.post("/wp-admin/admin-post.php", {"action": "modgate_test"})
    assert st == 403, st


def test_constants_in_wp_config_override_the_settings_page():
    with open(wp().extra, "w") as f:
        f.write("<?php\ndefine( 'MODGATE_URL', %s );\ndefine( 'MODGATE_SITE', 'wpconst' );\n"
                "define( 'MODGATE_KEY', %s );\n" % (php_str(wp().settings["url"]), php_str(CONST_KEY)))
    try:
        b = wp().session().login(ADMIN)
        page = settings_page(b)
        assert re.search(r'id="modgate_site" value="wpconst" readonly', page), page[-3000:]
        assert "Set by MODGATE_SITE in wp-config.php." in page and "Set by MODGATE_KEY in wp-config.php." in page
        assert CONST_KEY not in page
        assert 'name="modgate_settings[ip_header]"' in page  # not overridden: editable
        assert 'id="modgate-cleartext"' not in page  # http:// to loopback: no warning
        cls, text = run_connection_test(b)
        assert text == "Connected: site wpconst, role cms.", text
        pid = post("Constants")
        st, _, _, cid = wp().session().post_comment(pid, HELD % n())
        mid = wp().comment(cid)["meta"]["modgate_id"]
        assert mid in held_ids("wpconst", CONST_MOD) and mid not in held_ids()
    finally:
        os.unlink(wp().extra)


class Recorder:
    """A listener on a free loopback port that records the path and
    Authorization header of every request and answers 401 (where an
    admin might point the URL: another service, someone else's host)."""

    def __init__(self):
        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append((self.path, self.headers.get("Authorization")))
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"error":{"code":"unauthorized","message":"who are you"}}')
            do_POST = do_GET

            def log_message(self, *a):
                pass
        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def save_settings(b, **values):
    """Settings > modgate as an admin fills it in: the page's own form
    with 'values' changed (url, key, ...), sent to options.php."""
    page = settings_page(b)
    m = re.search(r'<form method="post" action="options.php">.*?</form>', page, re.S)
    assert m, page[-2000:]
    fields = {}
    for tag in re.findall(r"<input\b[^>]*>", m.group(0)):
        name, value = re.search(r"""\bname=(["'])(.*?)\1""", tag), re.search(r"""\bvalue=(["'])(.*?)\1""", tag)
        if name and not re.search(r"""type=["']submit""", tag) and ("checkbox" not in tag or "checked" in tag):
            fields[html.unescape(name.group(2))] = html.unescape(value.group(2)) if value else ""
    fields.update({"modgate_settings[%s]" % k: v for k, v in values.items()})
    st, body, h = b.post("/wp-admin/options.php", fields)
    assert st == 302 and "settings-updated" in h.get("location", ""), (st, body[-800:])


def stored_key():
    return wp().php("return Modgate_Settings::stored()['key'];")


def test_a_changed_url_never_receives_the_key():
    """Issue 18's review (a7): an admin who points the URL at another host
    or port and presses Test connection sends no key there. A key stored
    on the page is dropped when the URL's origin changes (kept for the
    same origin); a key from MODGATE_KEY goes only to MODGATE_URL (the
    page's URL is ignored). A plain http:// URL to another machine gets a
    warning."""
    rec = Recorder()
    b = wp().session().login(ADMIN)
    try:
        save_settings(b, url=wp().settings["url"] + "/")  # the same origin: the key stays
        assert stored_key() == CMS_KEY
        save_settings(b, url=rec.url)
        assert stored_key() == "", stored_key()
        cls, text = run_connection_test(b)
        assert cls == "notice-error" and "first" in text, (cls, text)
        assert 'id="modgate-cleartext"' not in settings_page(b)  # loopback
        save_settings(b, url="http://192.0.2.10:8080")
        assert 'id="modgate-cleartext"' in settings_page(b)
        # the key in wp-config.php, the URL on the page (saved before, or by another admin)
        wp().set_settings(url=rec.url, key="")
        with open(wp().extra, "w") as f:
            f.write("<?php\ndefine( 'MODGATE_KEY', %s );\n" % php_str(CMS_KEY))
        try:
            page = settings_page(b)
            assert 'id="modgate-url-ignored"' in page and 'name="modgate_settings[url]"' not in page, page[-3000:]
            cls, text = run_connection_test(b)
            assert cls == "notice-error" and "first" in text, (cls, text)
            st, _, _, cid = wp().session().post_comment(post("Key to another host"), CLEAN % n())
            assert st == 302 and "modgate_decision" not in wp().comment(cid)["meta"]  # unchecked: not configured
        finally:
            os.unlink(wp().extra)
    finally:
        rec.close()
        wp().set_settings(url="http://127.0.0.1:%d" % svc().port, key=CMS_KEY)
    print("     requests that reached the listener: %s" % [p for p, _ in rec.seen])
    assert all(CMS_KEY not in (auth or "") for _, auth in rec.seen), rec.seen
    cls, text = run_connection_test(b)
    assert text == "Connected: site news, role cms.", text


# ---- what people see --------------------------------------------------------

def test_the_comment_list_shows_modgate_and_a_screenshot_is_taken():
    pid = post("Screenshot")
    b = wp().session()
    b.post_comment(pid, "Great reporting on the council meeting, thank you.", author="Dana")
    b.post_comment(pid, "Our guide has it all: http://a.example.com/guide http://b.example.com/more "
                        "http://c.example.com/deals", author="Promo")
    b.post_comment(pid, "Good points. I trade crypto myself and the figures look right.", author="Sam")
    ed = wp().session().login(EDITOR)
    page = ed.admin_list()
    assert re.search(r'<span class="modgate-summary">hold 0\.\d+ — [a-z_, ]*too_many_links', page), page[-3000:]
    # the edit screen's box lists every reason with its detail
    st, _, _, cid = b.post_comment(pid, HELD % n())
    st, page, _ = ed.get("/wp-admin/comment.php?action=editcomment&c=%d" % cid)
    assert st == 200 and 'id="modgate"' in page and "<code>too_many_links</code>" in page, page[-2000:]
    assert "more than the site&#039;s limit of 2" in page or "more than the site's limit of 2" in page
    shot = os.path.join(ctx["tmp"], "wordpress-comments.png")
    out = json.loads(interop_node("wordpress.mjs", "screenshot", wp().url, ADMIN[0], ADMIN[1],
                                  "/wp-admin/edit-comments.php?comment_status=all&p=%d" % pid, shot, timeout=120))
    assert any(s.startswith("hold ") for s in out["summaries"]), out
    assert any(s.startswith("accept ") for s in out["summaries"]), out
    assert os.path.getsize(shot) > 20000
    keep_screenshot(shot, "wordpress-comments.png", "MODGATE_WP_SCREENSHOT")


def test_a_trusted_proxy_header_gives_the_readers_address():
    pid = post("Proxy")
    b = wp().session()
    hdr = {"X-Forwarded-For": "198.51.100.7, 203.0.113.50"}
    st, _, _, cid = b.post_comment(pid, HELD % n(), headers=hdr)
    assert modgate_item(wp().comment(cid)["meta"]["modgate_id"])["client"]["ip"] == "127.0.0.1"  # not trusted yet
    wp().set_settings(ip_header="X-Forwarded-For")
    try:
        st, _, _, cid = b.post_comment(pid, HELD % n(), headers=hdr)
        # the last entry, the one the nearest proxy added
        assert modgate_item(wp().comment(cid)["meta"]["modgate_id"])["client"]["ip"] == "203.0.113.50"
    finally:
        wp().set_settings(ip_header="")


def test_uninstall_removes_the_plugins_options_jobs_and_meta():
    """Second to last: it takes the plugin's settings away."""
    assert wp().php("return (bool) wp_next_scheduled( 'modgate_cron' );") is True  # scheduled at activation
    got = wp().php("""uninstall_plugin( 'modgate/modgate.php' );
        global $wpdb;
        return array( get_option( 'modgate_settings', 'gone' ), get_option( 'modgate_events_cursor', 'gone' ),
            (bool) wp_next_scheduled( 'modgate_cron' ),
            (int) $wpdb->get_var( "SELECT COUNT(*) FROM $wpdb->commentmeta WHERE meta_key LIKE 'modgate\\_%'" ) );""")
    assert got == ["gone", "gone", False, 0], got


def test_the_plugin_wrote_no_php_notice():
    """Runs last: WP_DEBUG_LOG holds no line from the plugin's files."""
    lines = wp().debug_lines("plugins/modgate/")
    assert lines == [], lines[:5]


def main():
    lack = wordpress.missing()
    if lack:
        print("FAIL missing %s: `make test` installs them (Debian's %s)" % (lack, " ".join(wordpress.DEB_PACKAGES)))
        print("0 passed, 1 failed")
        return 1
    if interop_missing("playwright-core"):
        return 1
    t0 = time.monotonic()
    only = start(ctx)
    tmp, r = ctx["tmp"], ctx["redis"]
    c = base_config(r.port)
    c["admin_keys"] = [{"id": "wp-top-admin", "role": "admin", "sha256": sha256(TOP_ADMIN)}]
    key = secret_file(tmp, SECRET.encode().hex())
    c["sites"]["news"]["captcha"] = {"keys": [{"id": "wp", "secret_file": key}], "cost": 100, "counter_min": 50,
                                     "counter_max": 2000, "challenge_from": 0.3, "challenge_to": 0.9}
    # the tests post forms at once: no form_too_fast reason
    c["sites"]["news"]["form_token"] = {"min_seconds": 0}
    c["sites"]["wpconst"] = {"keys": [{"id": "wc-cms", "role": "cms", "sha256": sha256(CONST_KEY)},
                                      {"id": "wc-mod", "role": "moderator", "sha256": sha256(CONST_MOD)}]}
    no_starter(c)  # where each comment lands comes from the rules alone
    s = Service(ctx["bin"], tmp, c)
    s.start()
    ctx["svc"] = s
    w = WordPress(tmp, {"url": "http://127.0.0.1:%d" % s.port, "site": "news", "key": CMS_KEY})
    ctx["wp"] = w
    try:
        w.start()
        print("     setup: MariaDB %.2f s, WordPress install %.2f s, plugin %.2f s, php -S %.2f s; total %.2f s"
              % (w.timings["mariadb"], w.timings["install"], w.timings["plugin"], w.timings["serve"],
                 time.monotonic() - t0))
        rc = run_tests(globals(), s, r, only)
    finally:
        w.stop()
        s.stop()
        r.stop()
    print("     test file total %.1f s" % (time.monotonic() - t0))
    return rc


if __name__ == "__main__":
    sys.exit(main())
