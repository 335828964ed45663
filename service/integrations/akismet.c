/* akismet.c - the Akismet protocol over modgate's check and learn; see
 * akismet.h and api.md 2.12.
 *
 *   ak_begin:       the form (any content type, decoded leniently: the
 *                   WordPress plugin sends dozens of fields and repeats
 *                   some), the key (api_key, key, or the first label of
 *                   Host), which must be a cms key of a site
 *   comment-check:  user_role administrator: "false", no check at all;
 *                   recheck_reason: the comment's state in the queue if it
 *                   is there (rechecked); else the form as a /v1/check body
 *                   -> check_run (is_test=1: CHECK_DRY) -> checked: the
 *                   answer in Akismet's words
 *   test, get-subscription, get-stats: what WordPress's Akismet settings
 *                   page asks before it shows a key as valid
 *   submit-*:       POST /v1/learn by the comment's ids in turn (the guid
 *                   sent, the id comment-check gave it, comment_ID) until
 *                   one names a comment modgate stored, else by its text
 *                   -> learned
 * The adapter's state is req->xstate; check.c and learn.c run on the body
 * it made, and req->finish turns their JSON into Akismet's text. */
#include "akismet.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"
#include "form.h"
#include "learn.h"
#include "queue.h"
#include "util.h"

#define TEXT_PLAIN "text/plain; charset=utf-8"
#define ID_MAX 128 /* request.c's limit of an id */

struct ak_state {
    json_t *form;               /* the request's form (new) */
    const char *raw;            /* the form as sent (borrowed: req->body is replaced) */
    size_t raw_len;
    json_t *txt;                /* the text fields read from it, as UTF-8 (new) */
    char *body;                 /* the /v1/check or /v1/learn body made (new) */
    const struct site_cfg *site;
    int latin1;                 /* blog_charset is ISO-8859-1 or windows-1252 */
    int retry;                  /* recheck_reason "retry": WordPress's cron recheck */
    char id[28];                /* the comment's id: "ak-" + 24 hex digits */
    const char *label;          /* submit: "spam" or "ham" */
    const char *tries[3];       /* submit: ids to learn by, in turn (borrowed) */
    int ntries, tried;
    struct queue_res q;         /* recheck: the comment in the queue */
};

static void ak_free(void *p)
{
    struct ak_state *st = p;
    json_decref(st->form);
    json_decref(st->txt);
    free(st->body);
    json_decref(st->q.json);
    free(st->q.text);
    free(st);
}

/* The answer 'text' (static) with 'status', replacing what a handler
 * made: Akismet answers in plain text. */
static void ak_text(struct http_response *resp, unsigned status, const char *text)
{
    free(resp->body);
    resp->body = xstrdup(text);
    resp->status = status;
    resp->content_type = TEXT_PLAIN;
}

/* "invalid" with the reason in X-akismet-debug-help, as Akismet answers
 * a call it cannot serve; status 200 unless modgate's own (a 429 or 5xx
 * of the check) says more. */
static void ak_invalid(struct http_response *resp, unsigned status, const char *why)
{
    ak_text(resp, status, "invalid");
    reply_header(resp, "X-akismet-debug-help", "%s", why);
}

static const char *field(const struct ak_state *st, const char *name)
{
    return json_string_value(json_object_get(st->form, name));
}

/* ---------- text fields and their charset ---------- */

/* windows-1252's 0x80-0x9F (WHATWG's decoder, which ISO-8859-1 also
 * names): the bytes it leaves undefined stay C1 code points. */
static const unsigned short cp1252[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D,
    0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A,
    0x0153, 0x009D, 0x017E, 0x0178,
};

/* s[0..n) of windows-1252 as UTF-8 (new; free()): at most 3 bytes each. */
static char *from_cp1252(const unsigned char *s, size_t n)
{
    char *out = xmalloc(3 * n + 1), *w = out;
    for (size_t i = 0; i < n; i++) {
        unsigned c = s[i] >= 0x80 && s[i] < 0xA0 ? cp1252[s[i] - 0x80] : s[i];
        if (c < 0x80) {
            *w++ = (char)c;
        } else if (c < 0x800) {
            *w++ = (char)(0xC0 | c >> 6);
            *w++ = (char)(0x80 | (c & 0x3F));
        } else {
            *w++ = (char)(0xE0 | c >> 12);
            *w++ = (char)(0x80 | (c >> 6 & 0x3F));
            *w++ = (char)(0x80 | (c & 0x3F));
        }
    }
    *w = '\0';
    return out;
}

/* Text field 'name' as UTF-8 (borrowed from the state), or NULL when it
 * is absent or not text in the form's charset. A blog_charset of the
 * ISO-8859-1 family (what WordPress sites that are not UTF-8 use) is
 * decoded; any other is taken as UTF-8, and a value that is not UTF-8 is
 * then NULL (form.h's lenient reader). */
static const char *text(struct ak_state *st, const char *name)
{
    json_t *have = json_object_get(st->txt, name);
    if (have)
        return json_string_value(have);
    if (!st->latin1)
        return field(st, name);
    size_t n;
    char *raw = form_raw(st->raw, st->raw_len, name, &n);
    if (!raw)
        return NULL;
    char *u = from_cp1252((const unsigned char *)raw, n);
    free(raw);
    json_object_set_new(st->txt, name, json_string(u));
    free(u);
    return json_string_value(json_object_get(st->txt, name));
}

/* ---------- the request ---------- */

/* The comment's id, the same for comment-check and for submit-spam/ham of
 * the same comment: BLAKE2b of the site and of the fields the WordPress
 * plugin sends back unchanged in submit-* (its akismet_as_submitted, plus
 * the post id of the comment's row), each with its length. "ak-" and 24
 * hex digits (96 bits: no two comments of a site meet by chance). */
static void comment_id(struct ak_state *st)
{
    static const char *const same[] = { "comment_post_ID", "user_ip", "user_agent", "comment_author",
                                        "comment_author_email", "comment_content" };
    unsigned char d[16];
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, sizeof d);
    crypto_generichash_update(&h, (const unsigned char *)st->site->name, strlen(st->site->name) + 1);
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        const char *v = text(st, same[i]);
        unsigned char len[8];
        size_t n = v ? strlen(v) : 0;
        for (int b = 0; b < 8; b++)
            len[b] = (unsigned char)(n >> (8 * b));
        crypto_generichash_update(&h, len, sizeof len);
        crypto_generichash_update(&h, (const unsigned char *)(v ? v : ""), n);
    }
    crypto_generichash_final(&h, d, sizeof d);
    memcpy(st->id, "ak-", 3);
    sodium_bin2hex(st->id + 3, sizeof st->id - 3, d, 12);
}

/* Is Host 'h' an address ("127.0.0.1:8080", "[::1]:80"), which holds no
 * key? Its first label would be a number. */
static int ip_literal(const char *h)
{
    if (h[0] == '[')
        return 1;
    char a[64];
    size_t n = strcspn(h, ":");
    unsigned char bin[16];
    if (n >= sizeof a)
        return 0;
    memcpy(a, h, n);
    a[n] = '\0';
    return inet_pton(AF_INET, a, bin) == 1;
}

/* The form, the key and its site into a new state (req->xstate). Returns
 * it, or NULL with Akismet's "invalid" answer in 'resp'. 'keyname' is the
 * field the docs name for this call ("key" for verify-key). */
static struct ak_state *ak_begin(struct http_request *req, struct http_response *resp, const char *keyname)
{
    struct ak_state *st = xcalloc(1, sizeof *st);
    req->xstate = st;
    req->xcleanup = ak_free;
    st->raw = req->body;
    st->raw_len = req->body_len;
    st->form = form_object(req->body, req->body_len, FORM_LENIENT);
    st->txt = json_object();
    const char *key = field(st, "api_key");
    key = key && *key ? key : field(st, "key");
    size_t n = key ? strlen(key) : 0;
    const char *host = http_header(req, "Host"), *dot = host ? strchr(host, '.') : NULL;
    if (!n && dot && !ip_literal(host)) { /* KEY.host[:port]: the form that needs wildcard DNS */
        key = host;
        n = (size_t)(dot - host);
    }
    struct ident id;
    char why[120];
    if (!n) {
        snprintf(why, sizeof why, "Empty \"%s\" value", keyname);
        ak_invalid(resp, 200, why);
        return NULL;
    }
    if (auth_lookup_key(req->cfg, key, n, &id) != 0) {
        ak_invalid(resp, 200, "Invalid key");
        return NULL;
    }
    if (id.role != ROLE_CMS || id.site < 0) {
        snprintf(why, sizeof why, "Invalid key: modgate takes a cms key here, this is a %s key", role_name(id.role));
        ak_invalid(resp, 200, why);
        return NULL;
    }
    req->ident = id;
    req->authed = 1;
    st->site = &req->cfg->sites[id.site];
    req->site = st->site->name;
    const char *cs = field(st, "blog_charset");
    st->latin1 = cs && (strcasecmp(cs, "ISO-8859-1") == 0 || strcasecmp(cs, "ISO8859-1") == 0 ||
                        strcasecmp(cs, "latin1") == 0 || strcasecmp(cs, "windows-1252") == 0 ||
                        strcasecmp(cs, "cp1252") == 0);
    return st;
}

/* Put string 'v' under 'key' of 'o', cut to at most 'max' bytes on a
 * character boundary (request.c's limits: Akismet has none, and a long
 * user agent must not cost a comment its check). Nothing when empty. */
static void put_str(json_t *o, const char *key, const char *v, size_t max)
{
    if (!v || !*v)
        return;
    size_t n = strlen(v);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)v[n] & 0xC0) == 0x80)
            n--;
    }
    json_object_set_new(o, key, json_stringn(v, n));
}

/* Put id 'v' under 'key' when it is one (request.c: 1-128 bytes without
 * control characters) and not WordPress's "0" for none. */
static void put_id(json_t *o, const char *key, const char *v)
{
    if (!v || !*v || strcmp(v, "0") == 0 || strlen(v) > ID_MAX)
        return;
    for (const char *c = v; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return;
    json_object_set_new(o, key, json_string(v));
}

/* comment_date_gmt as RFC 3339: WordPress sends MySQL's "2026-11-27
 * 10:00:00" (UTC, no zone: "Z" is added), the spec ISO 8601 with a
 * zone; anything else is left out rather than cost the comment its
 * check (request.c refuses what is not RFC 3339). */
static void put_time(json_t *o, const char *v)
{
    static const char shape[] = "dddd-dd-dd dd:dd:dd";
    if (!v || strlen(v) > 40)
        return;
    for (int i = 0; i < 19; i++)
        if (shape[i] == 'd' ? v[i] < '0' || v[i] > '9' : i == 10 ? v[i] != ' ' && v[i] != 'T' : v[i] != shape[i])
            return;
    const char *r = v + 19;
    if (*r == '.' && r[1] >= '0' && r[1] <= '9')
        for (r++; *r >= '0' && *r <= '9'; r++)
            ;
    int zone = *r == 'Z' || *r == 'z' ? r[1] == '\0' :
               (*r == '+' || *r == '-') && strlen(r) == 6 && r[3] == ':' && strspn(r + 1, "0123456789:") == 5;
    if ((*r && !zone) || strncmp(v, "0000", 4) == 0)
        return;
    char t[48];
    snprintf(t, sizeof t, "%.10sT%s%s", v, v + 11, *r ? "" : "Z");
    json_object_set_new(o, "created_at", json_string(t));
}

/* The form as a /v1/check body (new), api.md 2.12's mapping. */
static json_t *check_body(struct ak_state *st, const char *content)
{
    json_t *c = json_object(), *a = json_object(), *cl = json_object();
    json_object_set_new(c, "id", json_string(st->id));
    json_object_set_new(c, "body", json_string(content));
    const char *post = field(st, "comment_post_ID");
    put_id(c, "thread_id", post && *post ? post : field(st, "POST_comment_post_ID"));
    put_id(c, "parent_id", field(st, "comment_parent"));
    put_str(c, "permalink", text(st, "permalink"), 2048);
    put_str(c, "lang", field(st, "blog_lang"), 35);
    put_time(c, field(st, "comment_date_gmt"));
    put_str(c, "type", field(st, "comment_type"), 32);
    put_str(a, "name", text(st, "comment_author"), 256);
    put_str(a, "email", text(st, "comment_author_email"), 320);
    put_str(a, "url", text(st, "comment_author_url"), 2048);
    const char *uid = field(st, "user_ID");
    put_id(a, "id", uid && *uid ? uid : field(st, "user_id"));
    json_object_set_new(cl, "ip", json_string(field(st, "user_ip")));
    put_str(cl, "user_agent", text(st, "user_agent"), 1024);
    put_str(cl, "referrer", text(st, "referrer"), 2048);
    json_t *o = json_pack("{s:s, s:o, s:o, s:o}", "site", st->site->name, "comment", c, "author", a, "client", cl);
    /* honeypot_field_name names the field; WordPress forms' fields come as
     * POST_<name>. WordPress's Akismet (5.0.2) names none: its own field,
     * ak_hp_textarea, hidden in every comment form, comes as
     * POST_ak_hp_textarea (Contact Form 7's too, renamed so by Akismet). */
    const char *hp = field(st, "honeypot_field_name");
    if (hp && *hp) {
        const char *v = text(st, hp);
        char pk[300];
        snprintf(pk, sizeof pk, "POST_%.250s", hp);
        json_object_set_new(o, "honeypot", json_string(v ? v : text(st, pk) ? text(st, pk) : ""));
    } else if (text(st, "POST_ak_hp_textarea")) {
        json_object_set_new(o, "honeypot", json_string(text(st, "POST_ak_hp_textarea")));
    }
    return o;
}

/* Hand 'req' to a handler with 'body' (stolen) as its body, 'fin' to
 * read the answer. */
static void hand_over(struct http_request *req, struct ak_state *st, json_t *body,
                      void (*fin)(struct http_request *, struct http_response *))
{
    free(st->body);
    st->body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    req->body = st->body;
    req->body_len = strlen(st->body);
    req->finish = fin;
}

/* A 4xx of the check or learn: 200 "invalid", as Akismet answers a call
 * it cannot serve; a 429 or 5xx keeps its status (and Retry-After). Both
 * are neither "true" nor "false": WordPress keeps the comment pending and
 * checks it again later. The debug help has modgate's code and message,
 * which name fields, never their content. */
static void answer_error(struct http_response *resp, json_t *o)
{
    json_t *e = json_object_get(o, "error");
    char why[160];
    const char *code = json_string_value(json_object_get(e, "code")), *msg = json_string_value(json_object_get(e, "message"));
    snprintf(why, sizeof why, "modgate %s: %s", code ? code : "error", msg ? msg : "");
    ak_invalid(resp, resp->status == 429 || resp->status >= 500 ? resp->status : 200, why);
}

/* ---------- verify-key ---------- */

void akismet_verify_handle(struct http_request *req, struct http_response *resp)
{
    if (ak_begin(req, resp, "key"))
        ak_text(resp, 200, "valid");
}

/* ---------- comment-check ---------- */

/* Akismet's answer for modgate's 'decision' of a comment. A held one is
 * "true" where the site says so, and always to WordPress's cron recheck
 * ('retry'): that recheck reads no header and publishes a "false" when
 * core's own rules allow it (Akismet::cron_recheck), so "false" with
 * X-akismet-error would publish a comment modgate holds. */
static void answer_decision(struct http_response *resp, const struct ak_state *st, const char *decision,
                            double score, json_t *reasons, const char *id)
{
    const struct site_cfg *site = st->site;
    int held = strcmp(decision, "hold") == 0 || strcmp(decision, "challenge") == 0;
    int held_spam = site->akismet.held_spam || st->retry;
    int spam = strcmp(decision, "reject") == 0 || (held && held_spam);
    ak_text(resp, 200, spam ? "true" : "false");
    if (id)
        reply_header(resp, "X-akismet-guid", "%s", id);
    if (held && !held_spam)
        reply_header(resp, "X-akismet-error", "held for a moderator by modgate (%s)", decision);
    if (strcmp(decision, "reject") != 0)
        return;
    int blatant = score >= site->akismet.discard_score;
    size_t i;
    json_t *r;
    json_array_foreach(reasons, i, r) {
        const char *code = json_string_value(json_object_get(r, "code"));
        blatant |= code && (strcmp(code, "honeypot") == 0 || strcmp(code, "blocked_word") == 0 ||
                            strcmp(code, "rate_limited") == 0);
    }
    if (blatant)
        reply_header(resp, "X-akismet-pro-tip", "discard");
}

/* The check answered (req->finish): its JSON into Akismet's text. */
static void checked(struct http_request *req, struct http_response *resp)
{
    struct ak_state *st = req->xstate;
    json_error_t je;
    json_t *o = json_loads(resp->body, 0, &je);
    const char *d = json_string_value(json_object_get(o, "decision"));
    if (resp->status != 200 || !d)
        answer_error(resp, o);
    else
        answer_decision(resp, st, d, json_number_value(json_object_get(o, "score")),
                        json_object_get(o, "reasons"), json_string_value(json_object_get(o, "comment_id")));
    json_decref(o);
}

static void run_check(struct http_request *req, struct ak_state *st, const char *content, struct http_response *resp)
{
    const char *test = field(st, "is_test");
    int dry = test && (strcmp(test, "1") == 0 || strcasecmp(test, "true") == 0);
    hand_over(req, st, check_body(st, content), checked);
    check_run(req, resp, dry ? CHECK_DRY : 0);
}

/* A recheck found the comment in the queue, or not: a comment modgate
 * holds or moderators decided is answered by its state now (the
 * decision made then may be stale), anything else is checked, which
 * replays a decision recorded for its id (no rate-limit tokens) or, when
 * modgate never answered, makes the first. */
static void rechecked(struct http_request *req, struct http_response *resp)
{
    struct ak_state *st = req->xstate;
    json_t *e = st->q.rc == 0 ? json_array_get(st->q.json, 0) : NULL;
    const char *state = json_string_value(json_object_get(e, "state"));
    if (state) {
        snprintf(req->note, sizeof req->note, "recheck %s", state);
        answer_decision(resp, st,
                        strcmp(state, "held") == 0 ? "hold" : strcmp(state, "approved") == 0 ? "accept" : "reject",
                        0, NULL, st->id);
        return;
    }
    run_check(req, st, text(st, "comment_content"), resp);
}

static void redis_done(void *arg)
{
    http_async_done(arg);
}

static int has_role(const char *roles, const char *role)
{
    size_t n = strlen(role);
    for (const char *p = roles; p && *p;) { /* WordPress joins a user's roles with ',' */
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, role, n) == 0)
            return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

void akismet_check_handle(struct http_request *req, struct http_response *resp)
{
    struct ak_state *st = ak_begin(req, resp, "api_key");
    if (!st)
        return;
    if (has_role(field(st, "user_role"), "administrator")) { /* Akismet's rule: never spam */
        snprintf(req->note, sizeof req->note, "administrator");
        ak_text(resp, 200, "false");
        return;
    }
    const char *ip = field(st, "user_ip"), *content = text(st, "comment_content");
    if (!ip || !*ip) {
        ak_text(resp, 200, "Missing required field: user_ip.");
        reply_header(resp, "X-akismet-debug-help", "Empty \"user_ip\" value");
        return;
    }
    if (!content) {
        const char *cs = field(st, "blog_charset");
        char why[160] = "Empty \"comment_content\" value";
        if (json_object_get(st->form, "comment_content"))
            snprintf(why, sizeof why, "comment_content is not text in its blog_charset (%.40s)", cs ? cs : "UTF-8");
        ak_invalid(resp, 200, why);
        return;
    }
    comment_id(st);
    const char *recheck = field(st, "recheck_reason");
    if (recheck && *recheck) {
        const char *ids[1] = { st->id };
        st->retry = strcmp(recheck, "retry") == 0;
        req->resume = rechecked;
        queue_fetch_async(st->site->name, ids, 1, NULL, &st->q, redis_done, req);
        return;
    }
    run_check(req, st, content, resp);
}

/* ---------- submit-spam and submit-ham ---------- */

static void learned(struct http_request *req, struct http_response *resp);

/* The next way to find the comment: by an id, then by its text. Returns
 * 0 with the learn handed over, or -1 when none is left. */
static int learn_next(struct http_request *req, struct ak_state *st, struct http_response *resp)
{
    json_t *b;
    if (st->tried < st->ntries) {
        b = json_pack("{s:s, s:s, s:s}", "site", st->site->name, "comment_id", st->tries[st->tried++], "label",
                      st->label);
    } else if (st->tried == st->ntries && text(st, "comment_content")) {
        st->tried++;
        /* author.url is among the tokens (learn.c): the same lesson as the check's comment */
        json_t *a = json_object();
        put_str(a, "url", text(st, "comment_author_url"), 2048);
        b = json_pack("{s:s, s:{s:s}, s:o, s:s}", "site", st->site->name, "comment", "body",
                      text(st, "comment_content"), "author", a, "label", st->label);
    } else {
        return -1;
    }
    hand_over(req, st, b, learned);
    free(resp->body);
    memset(resp, 0, sizeof *resp);
    learn_handle(req, resp);
    return 0;
}

/* A learn answered (req->finish): an id that names no stored comment
 * goes on to the next way; a lesson is thanked for as Akismet does. */
static void learned(struct http_request *req, struct http_response *resp)
{
    struct ak_state *st = req->xstate;
    json_error_t je;
    json_t *o = json_loads(resp->body, 0, &je);
    const char *code = json_string_value(json_object_get(json_object_get(o, "error"), "code"));
    if (resp->status == 404 && code && strcmp(code, "unknown_comment") == 0 && learn_next(req, st, resp) == 0) {
        json_decref(o);
        return;
    }
    if (resp->status == 200)
        ak_text(resp, 200, "Thanks for making the web a better place.");
    else
        answer_error(resp, o);
    json_decref(o);
}

static void submit(struct http_request *req, struct http_response *resp, const char *label)
{
    struct ak_state *st = ak_begin(req, resp, "api_key");
    if (!st)
        return;
    st->label = label;
    comment_id(st);
    /* ids that cannot be one (empty, too long) are skipped, not refused */
    const char *cand[3] = { field(st, "guid"), st->id, field(st, "comment_ID") };
    for (int i = 0; i < 3; i++) {
        json_t *probe = json_object();
        put_id(probe, "id", cand[i]);
        int dup = 0;
        for (int j = 0; j < st->ntries; j++)
            dup |= cand[i] && strcmp(cand[i], st->tries[j]) == 0;
        if (json_object_get(probe, "id") && !dup)
            st->tries[st->ntries++] = cand[i];
        json_decref(probe);
    }
    if (learn_next(req, st, resp) != 0)
        ak_invalid(resp, 200, "Empty \"comment_content\" value");
}

void akismet_spam_handle(struct http_request *req, struct http_response *resp)
{
    submit(req, resp, "spam");
}

void akismet_ham_handle(struct http_request *req, struct http_response *resp)
{
    submit(req, resp, "ham");
}

/* ---------- what Akismet's settings page asks ---------- */

/* GET /1.1/test: "connected", the answer WordPress's Akismet settings page
 * waits for before it shows anything but "can't connect to the Akismet
 * servers" (Akismet_Admin::check_server_connectivity). No key. */
void akismet_test_handle(struct http_request *req, struct http_response *resp)
{
    (void)req;
    ak_text(resp, 200, "connected");
}

/* POST /1.1/get-subscription: the account of a valid key, as JSON. The
 * settings page saves a key that verify-key calls valid only when this
 * says "active", and shows its account_name; the other fields are the
 * ones it reads (Akismet_Admin::save_key, views/config.php). */
void akismet_subscription_handle(struct http_request *req, struct http_response *resp)
{
    struct ak_state *st = ak_begin(req, resp, "key");
    if (!st)
        return;
    char name[160];
    snprintf(name, sizeof name, "modgate, site %s", st->site->name);
    reply_json(resp, 200, json_pack("{s:s, s:s, s:s, s:n, s:b}", "status", "active", "account_type", "modgate",
                                    "account_name", name, "next_billing_date", "limit_reached", 0));
}

/* POST /1.1/get-stats: modgate keeps no Akismet statistics (its figures
 * are in /metrics), and says so as Akismet says it cannot serve a call. */
void akismet_stats_handle(struct http_request *req, struct http_response *resp)
{
    if (ak_begin(req, resp, "key"))
        ak_invalid(resp, 200, "modgate keeps no Akismet statistics: see its /metrics");
}
