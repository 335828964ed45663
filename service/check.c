/* check.c - the /v1/check pipeline.
 *
 *   check_handle: validate -> filters (pure, no I/O) -> send one Redis
 *                 script (API bucket, replay, rate limits, duplicates,
 *                 and the decision record and held comment when the
 *                 outcome is the filters' own, which it mostly is)
 *   check_finish: decision -> answer, with a record the script could not
 *                 write sent without waiting; or, for a held comment the
 *                 script did not store,
 *   hold_begin / hold_stored: the hold script, then the answer.
 * Each stage runs on the request's HTTP thread; between stages the
 * connection is suspended (see http_async_done), so no thread waits for
 * Redis. A replayed record whose body fingerprint differs is an edit: the
 * script runs again without replay.
 *
 * The request is validated completely before any work (request.c): each
 * problem gets its own error code and names the field. */
#include "check.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authors.h"
#include "bayesdb.h"
#include "captcha.h"
#include "counters.h"
#include "formtoken.h"
#include "heuristics.h"
#include "jsonmem.h"
#include "log.h"
#include "queue.h"
#include "request.h"
#include "spool.h"
#include "store.h"
#include "text.h"
#include "threads.h"
#include "tokenize.h"
#include "util.h"
#include "verdict.h"

/* ---------- the request, validated ---------- */

/* The /v1/check body (api.md 2.1) into 'in'; 'in->root' is new and the
 * caller's to free, also after an error. Returns 0, or -1 with the error
 * in 'resp'. */
static int parse_request(const struct http_request *req, struct req_comment *in, int client_required,
                         struct http_response *resp)
{
    static const char *const top[] = { "site", "comment", "author", "client", "captcha", "form_token", "honeypot",
                                       NULL };
    if (req_load(req, &in->root, resp))
        return -1;
    const char *k = req_unknown_field(in->root, top);
    if (k) {
        reply_error(resp, 400, "unknown_field", "%.64s is not a known field", k);
        return -1;
    }
    if (req_string(in->root, "site", 1, &in->site, resp))
        return -1;
    return req_comment(in, client_required, resp);
}

/* ---------- the Bayes filter ---------- */


/* What each HTTP thread keeps from one check to the next, freed when the
 * thread ends: its token list (about 300 KiB: too much to allocate per
 * request) and one spare check_state. The state is large (the verdict's
 * reasons), and glibc's malloc consolidates its small-block bins before
 * every allocation of that size: about 4,000 instructions a check. */
struct check_state;
static void state_free(struct check_state *st);
struct thread_cache {
    tok_list *tl;
    struct check_state *spare;
};
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_free_cb(void *p)
{
    struct thread_cache *tc = p;
    tok_list_free(tc->tl);
    state_free(tc->spare);
    free(tc);
}

static void cache_key_init(void)
{
    if (pthread_key_create(&cache_key, cache_free_cb) != 0)
        abort();
}

static struct thread_cache *thread_cache(void)
{
    pthread_once(&cache_once, cache_key_init);
    struct thread_cache *tc = pthread_getspecific(cache_key);
    if (!tc) {
        tc = xcalloc(1, sizeof *tc);
        tc->tl = tok_list_new();
        if (pthread_setspecific(cache_key, tc) != 0)
            abort();
    }
    return tc;
}

/* Append the descriptions of up to 'max' tokens of 'top', never the same
 * description twice ("i ll" the pair and the n-gram). */
static void name_tokens(struct buf *d, const tok_list *tl, const struct bayes_top *top, int n, int max)
{
    char seen[BAYES_TOP][TOK_DESCRIBE_MAX];
    int k = 0;
    for (int i = 0; i < n && k < max; i++) {
        tok_describe(tl, top[i].index, seen[k], sizeof seen[k]);
        int dup = 0;
        for (int j = 0; j < k && !dup; j++)
            dup = strcmp(seen[j], seen[k]) == 0;
        if (dup)
            continue;
        if (k)
            buf_puts(d, ", ");
        buf_puts(d, seen[k++]);
    }
}

/* The editorial settings (api.md 3.1): the thread's own where it has
 * them (threads.h), else the site's. Closed rejects every new comment;
 * premod holds every one, or those with links, or (returned: the check
 * script knows who is new) those of new commenters, and then also any
 * without an author. Floors, no score: a moderator reads them first
 * whatever the filters say. */
static enum premod editorial_reason(const struct site_cfg *site, const char *thread_id, int nlinks,
                                    int has_author, struct verdict *v)
{
    enum premod pm = site->premod;
    int closed = site->closed;
    const char *pm_of = "site", *closed_of = "site";
    struct thread_setting ts;
    if (thread_id && threads_lookup(site->name, thread_id, wall_ms(), &ts)) {
        if (ts.has_premod)
            pm = ts.premod, pm_of = "thread";
        if (ts.has_closed)
            closed = ts.closed, closed_of = "thread";
    }
    if (closed)
        verdict_add(v, "editorial", "thread_closed", 0, DEC_REJECT, "comments are closed on this %s", closed_of);
    else if (pm == PREMOD_ALL)
        verdict_add(v, "editorial", "premod", 0, DEC_HOLD,
                    "every comment on this %s is moderated before it is published", pm_of);
    else if (pm == PREMOD_LINKS && nlinks > 0)
        verdict_add(v, "editorial", "premod_links", 0, DEC_HOLD,
                    "comments with links on this %s are moderated before they are published (%d link%s)", pm_of,
                    nlinks, nlinks == 1 ? "" : "s");
    else if (pm == PREMOD_NEW && !has_author)
        verdict_add(v, "editorial", "premod_new", 0, DEC_HOLD,
                    "this %s moderates new commenters, and the comment names no author id or e-mail", pm_of);
    return closed ? PREMOD_NONE : pm;
}

/* Score the comment with the site's Bayes model (in memory, no I/O) and
 * add its reason to 'v': "bayes_spam" or "bayes_ham", with the tokens
 * that moved it most. Nothing when the model has no opinion. */
static void bayes_reason(const struct site_cfg *site, const struct req_comment *in, struct verdict *v)
{
    if (!site->bayes.enabled)
        return;
    tok_list *tl = thread_cache()->tl;
    struct tok_input ti = { in->body, in->body_len, in->author_url };
    tok_run(tl, &ti);
    struct bayes_result r;
    const char *used = NULL;
    if (bayesdb_classify(site, tl, &r, &used) != 0 || !r.opinion)
        return;
    double lo = bayes_logit(r.p);
    int spam = r.p >= 0.5;
    struct buf d;
    buf_init(&d);
    buf_puts(&d, "P(spam) ");
    char p3[8] = "0.000"; /* %.3f by hand: it runs for every check */
    long milli = lround(r.p * 1000);
    if (milli >= 1000)
        memcpy(p3, "1.000", 6);
    else
        for (int k = 4; k >= 2; k--, milli /= 10)
            p3[k] = (char)('0' + milli % 10);
    buf_puts(&d, p3);
    buf_puts(&d, " from ");
    buf_put_int(&d, r.used);
    buf_puts(&d, " clues");
    if (used && strcmp(used, site->bayes.model) != 0) {
        buf_puts(&d, " (shared model ");
        buf_puts(&d, used);
        buf_puts(&d, ")");
    }
    const struct bayes_top *top = spam ? r.spam_top : r.ham_top;
    int ntop = spam ? r.nspam_top : r.nham_top;
    if (ntop) {
        buf_puts(&d, spam ? "; spammy: " : "; hammy: ");
        name_tokens(&d, tl, top, ntop, 3);
    }
    verdict_add(v, "bayes", spam ? "bayes_spam" : "bayes_ham", site->bayes.weight * lo, DEC_ACCEPT,
                "%s", d.p ? d.p : "");
    buf_free(&d);
}

/* ---------- the response ---------- */

/* The reasons as a JSON array, rendered by hand: this runs for every
 * check (and for every held comment's stored item). 'mark' puts a byte 1
 * before the closing bracket, where the check script puts a reputation
 * rule's reason (check.lua's fill): JSON text has no raw control byte
 * anywhere else. */
static void render_reasons(struct buf *b, const struct verdict *v, int mark)
{
    buf_append(b, "[", 1);
    for (int i = 0; i < v->nreasons; i++) {
        const struct reason *r = &v->reasons[i];
        /* filter and code are identifiers (verdict.c keeps them so) */
        buf_puts(b, i ? ",{\"filter\":\"" : "{\"filter\":\"");
        buf_puts(b, r->filter);
        buf_puts(b, "\",\"code\":\"");
        buf_puts(b, r->code);
        buf_puts(b, "\",\"contribution\":");
        buf_put_num(b, r->contribution, 3);
        buf_puts(b, ",\"detail\":");
        json_put_str(b, r->detail);
        buf_append(b, "}", 1);
    }
    if (mark)
        buf_append(b, "\1", 1);
    buf_append(b, "]", 1);
}

static void short_note(struct http_request *req, enum decision d, double score, int degraded, int replayed)
{
    if (atomic_load_explicit(&log_level, memory_order_relaxed) > LOG_LVL_INFO)
        return; /* only the info-level access log shows it */
    snprintf(req->note, sizeof req->note, "decision=%s score=%.4f%s%s", decision_name(d), score,
             degraded ? " degraded" : "", replayed ? " replayed" : "");
}

/* A stored decision record, replayed for a comment id decided before.
 * Returns 0 with the response filled, or 1 without touching 'resp' when
 * the record was made for another body (an edited comment). */
static int replay(struct http_request *req, const char *stored, const char *body_fp,
                  struct http_response *resp)
{
    json_error_t je;
    json_t *o = json_loads(stored, 0, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        reply_error(resp, 500, "internal", "the stored decision for this comment is unreadable");
        return 0;
    }
    const char *fp = json_string_value(json_object_get(o, "body_fp"));
    if (fp && strcmp(fp, body_fp) != 0) {
        json_decref(o);
        return 1;
    }
    json_object_del(o, "body_fp");
    json_object_del(o, "ix");
    json_object_del(o, "counted");
    json_object_set_new(o, "replayed", json_true());
    json_object_set(o, "original_request_id", json_object_get(o, "request_id"));
    json_object_set_new(o, "request_id", json_string(req->id));
    enum decision d = DEC_ACCEPT;
    const char *dn = json_string_value(json_object_get(o, "decision"));
    decision_parse(dn ? dn : "", &d);
    short_note(req, d, json_number_value(json_object_get(o, "score")), 0, 1);
    metrics_decision(req->site ? req->site : "-", d, NULL, 0, 1);
    reply_json(resp, 200, o);
    return 0;
}

/* The decision record kept for replays: the response JSON with the body's
 * fingerprint and the comment's "THREAD|AUTHOR|NET" (queue.h's index
 * line, for a reader's report: reports.c) added as last fields (new;
 * free()). Neither goes back in a replayed answer. */
static char *record_of(const char *response, const char *body_fp, const char *rix)
{
    size_t n = strlen(response);
    struct buf b;
    buf_init(&b);
    buf_append(&b, response, n - 1); /* without the closing brace */
    buf_puts(&b, ",\"body_fp\":\"");
    buf_puts(&b, body_fp);
    buf_puts(&b, "\",\"ix\":\"");
    buf_puts(&b, rix);
    buf_puts(&b, "\"}");
    return b.p;
}

/* The rate_limit object of an answer into rl (a bucket name is at most
 * 9 bytes, so 160 always hold it): {"limited":true,"bucket":..,
 * "retry_after_ms":n} or {"limited":false,"bucket":..,"remaining":n}.
 * By hand, not snprintf: it runs for every check. */
static void rate_limit_json(char rl[static 160], int limited, const char *bucket, long long n)
{
    const char *part[] = { limited ? "{\"limited\":true,\"bucket\":\"" : "{\"limited\":false,\"bucket\":\"",
                           bucket, limited ? "\",\"retry_after_ms\":" : "\",\"remaining\":" };
    size_t len = 0;
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(part[i]);
        memcpy(rl + len, part[i], l);
        len += l;
    }
    len += fmt_int(rl + len, n);
    rl[len++] = '}';
    rl[len] = '\0';
}

/* Everything a /v1/check answer says. */
enum hold_state { HOLD_NONE, HOLD_STORED, HOLD_PENDING, HOLD_LOST };
struct answer {
    const char *request_id, *site, *comment_id;
    enum decision decision;
    double score;
    const struct verdict *v;
    const char *rate_limit;  /* JSON text: an object or null */
    int degraded;
    enum hold_state hold;
    const char *challenge;   /* decision challenge: the challenge JSON to solve */
    int shadow;              /* the site's shadow mode: answer accept, say what it would be */
    int mark;                /* render_reasons' mark (a held comment's text for the check script) */
};

/* Write the answer as JSON (see api.md), in two halves around the
 * rate-limit object, so that the check script can put a decision record
 * together from them (see check_handle). Written by hand, not through a
 * jansson tree: this runs on every check. */
static void render_head(struct buf *b, const struct answer *a)
{
    buf_puts(b, "{\"request_id\":");
    json_put_str(b, a->request_id);
    buf_puts(b, ",\"site\":");
    json_put_str(b, a->site);
    buf_puts(b, ",\"comment_id\":");
    json_put_str(b, a->comment_id);
    buf_puts(b, ",\"decision\":\"");
    buf_puts(b, decision_name(a->shadow ? DEC_ACCEPT : a->decision));
    if (a->shadow) {
        buf_puts(b, "\",\"shadow\":{\"decision\":\"");
        buf_puts(b, decision_name(a->decision));
        buf_puts(b, "\"}");
    } else {
        buf_puts(b, "\"");
    }
    buf_puts(b, ",\"score\":");
    buf_put_num(b, a->score, 4);
    buf_puts(b, ",\"reasons\":");
    render_reasons(b, a->v, a->mark);
    buf_puts(b, ",\"rate_limit\":");
}

static void render_tail(struct buf *b, const struct answer *a)
{
    buf_puts(b, a->degraded ? ",\"degraded\":true,\"replayed\":false" : ",\"degraded\":false,\"replayed\":false");
    if (a->hold == HOLD_STORED)
        buf_puts(b, ",\"stored\":true");
    else if (a->hold != HOLD_NONE)
        buf_puts(b, a->hold == HOLD_PENDING ? ",\"stored\":false,\"pending\":true" : ",\"stored\":false,\"pending\":false");
    if (a->challenge && !a->shadow) {
        buf_puts(b, ",\"challenge\":");
        buf_puts(b, a->challenge);
    }
    buf_append(b, "}", 1);
}

static void render(struct buf *b, const struct answer *a)
{
    render_head(b, a);
    buf_puts(b, a->rate_limit);
    render_tail(b, a);
}

/* What a check carries from before its Redis round trip to after it. */
struct check_state {
    jarena *ja;               /* kept with a recycled state */
    unsigned flags;           /* CHECK_* (check.h) */
    int in_arena;             /* in.root is in 'ja' (not json_decref'd) */
    struct req_comment in;
    const struct site_cfg *site;
    struct verdict v;
    struct store_check_req q;
    struct store_check_res res;
    char fp[33];
    int count_dups;
    enum decision d0;         /* the filters' decision, before Redis */
    struct buf head;          /* render_head of that decision (p NULL: none) */
    char *rec_tail;           /* the record's tail after the rate limit (new) */
    /* what the script writes when a reputation rule holds a comment the
     * filters accept or challenge: record head, tail, held item (new) */
    struct buf hhead;
    char *htail, *hitem;
    /* after the check script */
    struct answer a;
    char rl[160];             /* a.rate_limit */
    char gen_id[40];          /* a.comment_id of a held comment sent without one */
    /* a held comment, while the hold script runs */
    char *rec, *ijson;        /* decision record, held item (new) */
    char body_fp[33];         /* of the body as sent, when there is a comment id */
    char rix[128];            /* "THREAD|AUTHOR|NET" for the record (record_of) */
    int edit;                 /* the id was decided before for another body */
    /* the captcha: a payload sent with the comment, and a challenge made */
    int cap_credited;         /* a valid solution took the site's credit off */
    struct pow_result cap;
    struct store_get_res cap_redeem;
    char *chal;               /* the challenge of a "challenge" answer (new) */
    int risk_asked;           /* the network's captcha risk was read (or tried) */
    struct store_risk_res risk;
    int64_t held_ms;
    struct store_hold_res hres;
    int refused;              /* the held queue is at its cap and the site refuses */
    enum premod premod;       /* the editorial premod in force (PREMOD_NEW: see rep_reason) */
    int trusted;              /* the author's reputation publishes it (decide) */
};

static void state_free(struct check_state *st)
{
    if (st)
        jarena_free(st->ja);
    free(st);
}

static void check_cleanup(struct http_request *req)
{
    struct check_state *st = req->state;
    if (st->in_arena)
        jarena_reset(st->ja); /* the tree goes with it: never json_decref'd */
    else
        json_decref(st->in.root);
    free(st->res.replay);
    free(st->head.p);
    free(st->rec_tail);
    free(st->hhead.p);
    free(st->htail);
    free(st->hitem);
    free(st->rec);
    free(st->ijson);
    free(st->chal);
    struct thread_cache *tc = thread_cache();
    if (!tc->spare)
        tc->spare = st;
    else
        state_free(st);
    req->state = NULL;
}

static void check_redis_done(void *arg)
{
    http_async_done(arg);
}

static void check_finish(struct http_request *req, struct http_response *resp);
static char *held_item(struct http_request *req, struct check_state *st, const struct answer *a);

static void send_check(struct http_request *req, struct check_state *st);

/* The decision for the verdict as it stands: the thresholds' band and the
 * floors, then the site's challenge band. A score in the band is answered
 * "challenge" (with a fresh challenge) unless a solved captcha came with
 * the comment, or a floor asks for more: a captcha never overrides a
 * blocked word, a suspect word or a rate limit. */
static int in_band(const struct check_state *st, enum decision d)
{
    const struct captcha_cfg *cc = &st->site->captcha;
    if (!cc->enabled || st->cap_credited || d > DEC_HOLD || st->v.floor > DEC_CHALLENGE)
        return 0;
    double s = verdict_score(&st->v);
    return s >= cc->band_from && s < cc->band_to;
}

static int has_reason(const struct verdict *v, const char *code)
{
    for (int i = 0; i < v->nreasons; i++)
        if (!strcmp(v->reasons[i].code, code))
            return 1;
    return 0;
}

/* Would the author's trust publish this comment? Only one that the score
 * alone sends to a moderator or a captcha, at most trusted_max_score:
 * never one a floor holds (a suspect word, a pre-moderated story, a
 * honeypot, a blocked word). */
static int trust_lifts(const struct check_state *st)
{
    const struct site_cfg *site = st->site;
    if (st->v.floor != DEC_ACCEPT || verdict_score(&st->v) > site->trust.trusted_max_score)
        return 0;
    enum decision d = verdict_decide(&st->v, &site->th);
    return d == DEC_HOLD || in_band(st, d);
}

/* Could a reputation rule hold this comment (check.lua's rules 3-6)? On
 * a site that holds by the rejection rate, one with an author or a
 * network; one with an author on a site that holds new commenters (this
 * story may: st->q.new_hold) or has authors its moderators pre-moderate.
 * Only then does it carry the texts of that hold: a site with no such
 * rule pays nothing for them. */
static int rule_may_hold(const struct check_state *st)
{
    const struct req_comment *in = &st->in;
    if (st->site->trust.max_rejection_rate > 0 && (in->author_key[0] || in->prefix[0]))
        return 1;
    return in->author_key[0] && (st->q.new_hold > 0 || authors_premod_any(st->site->name));
}

static enum decision decide(struct check_state *st)
{
    const struct site_cfg *site = st->site;
    if (st->trusted && trust_lifts(st))
        return DEC_ACCEPT;
    enum decision d = verdict_decide(&st->v, &site->th);
    if (!in_band(st, d))
        return d;
    if (st->flags & CHECK_NO_CHALLENGE)
        return DEC_HOLD; /* doubtful, and no captcha to ask: a moderator's */
    /* made once: a retry of the answer gets the same challenge. One that
     * cannot be made (a bug) holds the comment: never a free pass. */
    if (!st->chal)
        st->chal = captcha_issue(site, "", captcha_work(&site->captcha, st->risk.rate, st->risk.spam));
    return st->chal ? DEC_CHALLENGE : DEC_HOLD;
}

static void risk_read(struct http_request *req, struct http_response *resp)
{
    (void)resp;
    send_check(req, req->state);
}

/* The form token's reason (the site has captcha keys): none for a form
 * shown between min_seconds and max_seconds ago. */
static void form_reason(const struct site_cfg *site, const char *tok, struct verdict *v)
{
    const struct form_cfg *f = &site->form;
    if (!tok) {
        if (f->required)
            verdict_add(v, "form", "form_token_missing", f->missing, DEC_ACCEPT,
                        "the comment came without the form's token");
        return;
    }
    int64_t now = wall_ms(), issued = 0;
    enum form_status fs = form_token_check(tok, site->captcha.keys, site->captcha.nkeys, site->name, now, &issued);
    if (fs != FORM_OK) {
        verdict_add(v, "form", "form_token_invalid", f->invalid, DEC_ACCEPT, "%s",
                    fs == FORM_BAD_SIGNATURE ? "the form token was altered or made for another site"
                    : fs == FORM_UNKNOWN_KEY ? "the form token's key is unknown or retired"
                                             : "the form token is malformed");
    } else if (now - issued < f->min_ms) {
        verdict_add(v, "form", "form_too_fast", f->too_fast, DEC_ACCEPT,
                    "posted %.1f s after the form was shown (a person takes at least %.0f s)",
                    (double)(now - issued > 0 ? now - issued : 0) / 1000, (double)f->min_ms / 1000);
    } else if ((now - issued) / 1000 > f->max_s) {
        verdict_add(v, "form", "form_too_old", f->too_old, DEC_ACCEPT,
                    "the form was shown %.1f hours ago (more than %.1f)", (double)(now - issued) / 3600000,
                    (double)f->max_s / 3600);
    }
}

/* The reason a captcha payload gives, once verified and redeemed. */
static void captcha_reason(struct check_state *st, enum pow_status ps, int redeemed)
{
    const struct captcha_cfg *cc = &st->site->captcha;
    struct verdict *v = &st->v;
    metrics_captcha(st->site->name, ps != POW_OK ? pow_status_code(ps) + strlen("captcha_")
                                    : redeemed == 1 ? "solved" : redeemed == 0 ? "replayed" : "unchecked");
    if (ps == POW_OK && redeemed == 1) {
        st->cap_credited = 1;
        verdict_add(v, "captcha", "captcha_solved", -cc->credit, DEC_ACCEPT,
                    "proof of work solved (%u PBKDF2 iterations per counter tried)", st->cap.cost);
    } else if (ps == POW_OK && redeemed == 0) {
        verdict_add(v, "captcha", "captcha_replayed", 0, DEC_ACCEPT, "this captcha solution was used before");
    } else if (ps == POW_OK) {
        verdict_add(v, "captcha", "captcha_unchecked", 0, DEC_ACCEPT,
                    "Redis is unavailable, so the captcha solution could not be redeemed; no credit");
    } else if (ps == POW_TEST_MODE && cc->test_mode) {
        st->cap_credited = 1;
        verdict_add(v, "captcha", "captcha_test_mode", -cc->credit, DEC_ACCEPT,
                    "the widget's test mode, accepted as solved (sites.S.captcha.test_mode)");
    } else {
        verdict_add(v, "captcha", pow_status_code(ps), 0, DEC_ACCEPT, "%s",
                    ps == POW_EXPIRED ? "the captcha challenge expired before it was sent"
                    : ps == POW_TEST_MODE ? "test-mode captcha payloads are refused on this site"
                    : "the captcha solution is not valid");
    }
}

static void captcha_redeemed(struct http_request *req, struct http_response *resp)
{
    (void)resp;
    struct check_state *st = req->state;
    captcha_reason(st, POW_OK, st->cap_redeem.rc);
    send_check(req, st);
}

/* A comment sent with a captcha payload: judged again even when its id
 * was decided before (that answer may have been the challenge). Returns 1
 * when the solution is valid and being redeemed (captcha_redeemed goes
 * on), 0 when its reason is added and the check goes on at once. */
static int captcha_begin(struct http_request *req, struct check_state *st, const char *payload)
{
    const struct site_cfg *site = st->site;
    int64_t now = (int64_t)time(NULL);
    enum pow_status ps = pow_verify(payload, strlen(payload), site->captcha.keys, site->captcha.nkeys, site->name,
                                    now, &st->cap);
    st->q.no_replay = 1;
    if (ps != POW_OK) {
        captcha_reason(st, ps, 0);
        return 0;
    }
    req->resume = captcha_redeemed;
    store_captcha_redeem_async(site->name, st->cap.nonce, (long)(st->cap.expires_s - now + REDEEM_MARGIN_S),
                               &st->cap_redeem,
                               check_redis_done, req);
    return 1;
}

void check_handle(struct http_request *req, struct http_response *resp)
{
    check_run(req, resp, 0);
}

/* First half of /v1/check: validate, run the filters, send the Redis
 * script. The second half (check_finish) runs when Redis answered. */
void check_run(struct http_request *req, struct http_response *resp, unsigned flags)
{
    /* Not calloc: the verdict's reason array is large and verdict_init
     * sets what is read; the rest is cleared field by field. */
    struct thread_cache *tc = thread_cache();
    struct check_state *st = tc->spare;
    tc->spare = NULL;
    if (!st) {
        st = xmalloc(sizeof *st);
        st->ja = jarena_new();
    }
    memset(&st->in, 0, sizeof st->in);
    memset(&st->q, 0, sizeof st->q);
    st->res.replay = NULL;
    st->rec = st->ijson = NULL;
    st->body_fp[0] = 0;
    st->rix[0] = 0;
    st->site = NULL;
    st->count_dups = 0;
    st->head.p = NULL;
    st->rec_tail = NULL;
    st->hhead.p = NULL;
    st->htail = st->hitem = NULL;
    st->cap_credited = 0;
    st->chal = NULL;
    st->risk_asked = 0;
    st->refused = 0;
    st->trusted = 0;
    st->flags = flags;
    memset(&st->risk, 0, sizeof st->risk);
    struct req_comment *in = &st->in;
    req->state = st;
    req->cleanup = check_cleanup;
    /* The request's tree lives in the state's arena (jsonmem.h): it is
     * made while parsing and dropped whole in check_cleanup. */
    st->in_arena = jarena_enter(st->ja);
    int bad = parse_request(req, in, !(flags & CHECK_NO_CLIENT), resp);
    jarena_leave();
    if (bad) {
        check_cleanup(req);
        return;
    }
    const struct site_cfg *site = req_site(req, in->site, resp);
    if (!site) {
        check_cleanup(req);
        return;
    }
    st->site = site;

    /* Filters: pure and local. */
    size_t norm_len;
    char *norm = text_normalize(in->body, in->body_len, &norm_len);
    verdict_init(&st->v, site->prior);
    struct heur_input hi = { in->body, in->body_len, norm, norm_len, in->author_url, in->honeypot };
    int nlinks = 0;
    heur_run(&site->heur, &hi, &st->v, &nlinks);
    bayes_reason(site, in, &st->v);
    st->premod = editorial_reason(site, in->thread_id, nlinks, in->author_key[0] != 0, &st->v);
    st->count_dups = site->dup_enabled && norm_len >= site->dup_min_chars;
    if (st->count_dups)
        heur_fingerprint(norm, norm_len, st->fp);
    free(norm);
    if (site->captcha.enabled) {
        form_reason(site, in->form_token, &st->v);
        if (in->captcha && !(flags & CHECK_DRY) && captcha_begin(req, st, in->captcha))
            return; /* redeeming it first: send_check runs when Redis answered */
    }
    send_check(req, st);
}

/* The second step of a check: the check script, without blocking this
 * thread. */
static void send_check(struct http_request *req, struct check_state *st)
{
    const struct site_cfg *site = st->site;
    struct req_comment *in = &st->in;
    if (st->flags & CHECK_DRY) { /* as if Redis found nothing to add, but the API token */
        st->d0 = decide(st);
        st->res = (struct store_check_res){ .status = ST_OK, .bucket = -1 };
        req->resume = check_finish;
        if (site->api.enabled)
            store_api_token_async(site, req->ident.key_id, &st->res, check_redis_done, req);
        else
            http_async_done(req);
        return;
    }
    /* A challenge's work scales with its network's risk: read (and
     * counted) first, one more round trip for challenged comments only. */
    if (site->captcha.enabled && !st->risk_asked && in->prefix[0] && !(st->flags & CHECK_NO_CHALLENGE) &&
        in_band(st, verdict_decide(&st->v, &site->th))) {
        st->risk_asked = 1;
        req->resume = risk_read;
        store_captcha_risk_async(site->name, in->prefix, (long long)time(NULL), &st->risk, check_redis_done, req);
        return;
    }
    struct store_check_req *q = &st->q;
    q->site = site->name;
    q->comment_id = in->comment_id;
    q->api_key_id = req->ident.key_id;
    q->api = &site->api;
    q->epoch_s = site->bucket_epoch_s;
    q->buckets = site->buckets;
    q->dup_epoch_s = site->dup_window_s;
    /* an empty ip or prefix: a request without client (CHECK_NO_CLIENT) */
    const char *ids[BK_COUNT] = { in->ip[0] ? in->ip : NULL, in->prefix[0] ? in->prefix : NULL,
                                  in->author_key[0] ? in->author_key : NULL, in->thread_id, "all" };
    for (int k = 0; k < BK_COUNT; k++) {
        if (!site->buckets[k].enabled || !ids[k])
            continue;
        q->kind[q->nbuckets] = (enum bucket_kind)k;
        q->bucket_id[q->nbuckets] = ids[k];
        q->nbuckets++;
    }
    q->dup_window_ms = st->count_dups ? site->dup_window_s * 1000 : 0;
    q->dup_fp = st->count_dups ? st->fp : NULL;
    q->src_ip = in->ip;
    q->src_author = in->author_key[0] ? in->author_key : NULL;
    q->mod = &site->mod;
    st->d0 = decide(st);
    const struct trust_cfg *tc = &site->trust;
    q->trust = tc;
    q->net = in->prefix;
    q->new_hold = tc->new_commenter_hold;
    if (st->premod == PREMOD_NEW && q->new_hold < 1)
        q->new_hold = 1;
    q->d0 = "achr"[st->d0];
    q->premod_new = st->premod == PREMOD_NEW;
    /* Trust lifts only an author the CMS identifies by id, unless the
     * site says otherwise (trust.email_authors): anyone can type a
     * trusted commenter's e-mail address */
    q->trust_publishes = trust_lifts(st) && (in->author_by_id || tc->trust_email);
    /* What modgate decides counts where the site says so: not a shadow
     * site's (nothing was enforced), not a closed thread's reject (the
     * story's, not the author's) */
    if (tc->count_automatic && !site->shadow)
        q->count_as = st->d0 == DEC_REJECT && !has_reason(&st->v, "thread_closed")                  ? 'r'
                      : st->d0 == DEC_ACCEPT && verdict_score(&st->v) <= tc->automatic_max_score ? 'a'
                                                                                                    : 0;
    if (in->comment_id) {
        /* Tells a retry (same body: replay the decision) from an edit
         * (another body under the same id: judge it again). */
        unsigned char h[16];
        crypto_generichash(h, sizeof h, (const unsigned char *)in->body, in->body_len, NULL, 0);
        sodium_bin2hex(st->body_fp, sizeof st->body_fp, h, sizeof h);
        char thread[17] = "";
        if (in->thread_id)
            req_key("th:", in->thread_id, thread);
        snprintf(st->rix, sizeof st->rix, "%s|%s|%s", thread, in->author_key, in->prefix);
        /* Most checks end as the filters say now: tokens left, no
         * duplicate. The script then writes their decision record itself
         * (head + its rate-limit object + tail), so that a check is one
         * Redis command, not two. A held comment's record is written with
         * the comment (hold_begin); any other outcome is recorded after. */
        if (!st->count_dups || site->dup_min_sources > 0) {
            int hold = st->d0 == DEC_HOLD;
            /* a held comment's texts leave room for a rule's reason
             * (none when the reasons are full: verdict_add drops it) */
            int ruled = rule_may_hold(st), room = st->v.nreasons < VERDICT_MAX_REASONS;
            struct answer a0 = { req->id, site->name, in->comment_id, st->d0, verdict_score(&st->v), &st->v,
                                 NULL, 0, hold ? HOLD_STORED : HOLD_NONE,
                                 st->d0 == DEC_CHALLENGE ? st->chal : NULL, site->shadow, hold && ruled && room };
            buf_init(&st->head);
            render_head(&st->head, &a0);
            struct buf tail;
            buf_init(&tail);
            render_tail(&tail, &a0);
            st->rec_tail = record_of(tail.p, st->body_fp, st->rix);
            buf_free(&tail);
            q->rec_head = st->head.p;
            q->rec_tail = st->rec_tail;
            q->rec_ttl_s = site->decision_ttl_s;
            q->rec_max_dups = site->dup_min_sources;
            /* A comment the filters hold is stored by the same script,
             * so holding it costs no second round trip either; nor does
             * one a reputation rule holds: the script stores the hold
             * below instead of the filters' record when a rule says so. */
            if (hold || (ruled && st->d0 != DEC_REJECT))
                st->held_ms = wall_ms();
            if (hold) {
                st->ijson = held_item(req, st, &a0);
                q->held_item = st->ijson;
                q->held_ms = st->held_ms;
                if (!st->ijson)
                    q->rec_head = NULL;
            } else if (ruled && st->d0 != DEC_REJECT) {
                struct answer a1 = { req->id, site->name, in->comment_id, DEC_HOLD, a0.score, &st->v, NULL, 0,
                                     HOLD_STORED, NULL, site->shadow, room };
                buf_init(&st->hhead);
                render_head(&st->hhead, &a1);
                buf_init(&tail);
                render_tail(&tail, &a1);
                st->htail = record_of(tail.p, st->body_fp, st->rix);
                buf_free(&tail);
                st->hitem = held_item(req, st, &a1);
                if (st->hitem) {
                    q->hold_head = st->hhead.p;
                    q->hold_tail = st->htail;
                    q->hold_item = st->hitem;
                    q->held_ms = st->held_ms;
                }
            }
        }
    }
    st->edit = 0;
    req->resume = check_finish;
    store_check_async(q, &st->res, check_redis_done, req);
}

/* A held comment the site's full queue refused (moderation.on_full
 * "refuse"): the answer stays hold but says "stored":false,
 * "pending":false, so the CMS keeps the comment in its own moderation
 * queue (api.md), with the reason queue_full (no weight: the score and
 * decision are the filters'). */
static void queue_full(struct check_state *st)
{
    st->refused = 1;
    verdict_add(&st->v, "queue", "queue_full", 0, DEC_ACCEPT,
                "the site's moderation queue holds its maximum of %ld comments; modgate did not store this one: "
                "keep it in the CMS's moderation queue", st->site->mod.max_held);
    metrics_overflow(st->site->name, "refused", 1);
}

/* With Sentinel or Cluster, a held comment answered stored is remembered
 * for a while: a failover sends it to the new master again (spool.h). */
static void remember_stored(const struct check_state *st, const char *rec, const char *item)
{
    if (spool_recent_kept() && rec && item)
        spool_recent(st->site->name, st->a.comment_id, rec, item, st->site->decision_ttl_s, st->held_ms);
}

/* Last stage of a held comment: the answer, once the hold script ran (or
 * could not). A comment Redis did not take goes to the spool, and the
 * answer says which happened. */
static void hold_finish(struct http_request *req, struct check_state *st, const char *err,
                        struct http_response *resp)
{
    struct answer *a = &st->a;
    const struct site_cfg *site = st->site;
    if (!st->ijson) {
        a->hold = HOLD_LOST;
        LOG_ERROR(req->id, "held comment could not be encoded; the CMS was told");
    } else if (st->refused) {
        a->hold = HOLD_LOST; /* the CMS keeps it: see queue_full */
    } else if (!err) {
        a->hold = HOLD_STORED;
        remember_stored(st, st->rec, st->ijson);
    } else {
        int kept = spool_add(site->name, a->comment_id, st->rec, st->ijson, site->decision_ttl_s,
                             st->held_ms, req->cfg->spool_max) == 0;
        a->hold = kept ? HOLD_PENDING : HOLD_LOST;
        if (!a->degraded)
            LOG_WARN(req->id, "held comment not stored: %s", err);
        if (!kept)
            LOG_ERROR(req->id, "held comment neither stored nor spooled (spool full); the CMS was told");
    }
    struct buf out;
    buf_init(&out);
    render(&out, a);
    if (st->refused && a->comment_id) { /* replayed as answered, like any answer not stored */
        char *rec = record_of(out.p, st->body_fp, st->rix);
        store_remember(site->name, a->comment_id, rec, site->decision_ttl_s);
        free(rec);
    }
    short_note(req, a->decision, a->score, a->degraded, 0);
    metrics_decision(st->site->name, a->decision, a->v, a->degraded, 0);
    check_cleanup(req);
    resp->status = 200;
    resp->body = out.p;
}

static void hold_stored(struct http_request *req, struct http_response *resp)
{
    struct check_state *st = req->state;
    if (st->hres.evicted > 0)
        metrics_overflow(st->site->name, "evicted", st->hres.evicted);
    if (st->hres.rc == 2) {
        queue_full(st);
        if (st->a.comment_id == st->gen_id)
            st->a.comment_id = NULL; /* the id modgate made up names nothing stored */
    }
    hold_finish(req, st, st->hres.rc >= 0 ? NULL : st->hres.error, resp);
}

/* The stored form of a held comment: the validated request plus decision,
 * score, reasons and times (new; free()), or NULL if it cannot be encoded.
 * Adds those fields to the request tree. */
static char *held_item(struct http_request *req, struct check_state *st, const struct answer *a)
{
    /* The request as validated (jansson), then the fields modgate adds,
     * appended by hand: none of them can be in the request, whose
     * top-level fields are checked. */
    char *rq = json_dumps(st->in.root, JSON_COMPACT | JSON_REAL_PRECISION(6));
    size_t n = rq ? strlen(rq) : 0;
    if (n < 2 || rq[n - 1] != '}') {
        free(rq);
        return NULL;
    }
    char held_at[40];
    fmt_rfc3339(st->held_ms, held_at, sizeof held_at);
    struct buf b;
    buf_init(&b);
    buf_reserve(&b, n + 512);
    buf_append(&b, rq, n - 1);
    free(rq);
    /* no "state": the queue keeps it (queue.h), and adds it when it shows the item */
    buf_puts(&b, n > 2 ? ",\"decision\":\"" : "\"decision\":\"");
    buf_puts(&b, decision_name(a->decision));
    buf_puts(&b, "\",\"score\":");
    buf_put_num(&b, a->score, 4);
    buf_puts(&b, ",\"reasons\":");
    render_reasons(&b, a->v, a->mark);
    /* what the Bayes contribution was weighed with: tuning.c re-weighs it */
    buf_puts(&b, ",\"bayes_weight\":");
    buf_put_num(&b, st->site->bayes.weight, 4);
    buf_puts(&b, ",\"request_id\":");
    json_put_str(&b, req->id);
    buf_puts(&b, ",\"held_at\":");
    json_put_str(&b, held_at);
    buf_puts(&b, ",\"id\":");
    json_put_str(&b, a->comment_id);
    /* last, for the queue's scripts (queue.h) */
    const char *codes[VERDICT_MAX_REASONS];
    for (int i = 0; i < a->v->nreasons; i++)
        codes[i] = a->v->reasons[i].code;
    char thread[17] = "", ix[QUEUE_IX_MAX];
    if (st->in.thread_id)
        req_key("th:", st->in.thread_id, thread);
    queue_index_line(ix, a->score, st->body_fp, thread, st->in.author_key, st->in.prefix, codes, a->v->nreasons);
    buf_puts(&b, ",\"ix\":\"");
    buf_puts(&b, ix);
    buf_append(&b, "\"}", 2);
    return b.p;
}

/* A held comment the check script did not store (the filters did not
 * hold it, but a duplicate or Redis being down did; or it has no comment
 * id) is stored by the hold script, a second Redis command sent without
 * blocking this thread: the whole validated request plus score, reasons
 * and times, with a decision record for replays that says "stored": true
 * (which is what a replay means). */
static void hold_begin(struct http_request *req, struct check_state *st, struct http_response *resp)
{
    struct answer *a = &st->a;
    st->held_ms = wall_ms();
    struct buf rec;
    buf_init(&rec);
    a->hold = HOLD_STORED;
    render(&rec, a);
    free(st->rec);
    st->rec = record_of(rec.p, st->body_fp, st->rix);
    buf_free(&rec);
    free(st->ijson);
    st->ijson = held_item(req, st, a);
    if (!st->ijson || a->degraded) {
        hold_finish(req, st, "redis unavailable", resp);
        return;
    }
    req->resume = hold_stored;
    store_hold_async(st->site->name, a->comment_id, st->rec, st->ijson, st->site->decision_ttl_s, st->held_ms,
                     st->edit, &st->site->mod, 1, &st->hres, check_redis_done, req);
}

/* The reason of the reputation rule the check script found (api.md 3.1),
 * with its detail (the counts it read), as the script wrote it into a
 * hold it stored: a hold or reject floor, or trust, which decide() turns
 * into a publication when trust_lifts. */
static void rep_reason(struct check_state *st, const struct store_check_res *r)
{
    static const char *const code[] = { [REP_TRUSTED] = "trusted_author", [REP_TRUSTED_SET] = "trusted_author",
                                        [REP_NEW] = "new_commenter", [REP_RECENT] = "recent_history",
                                        [REP_RECENT_NET] = "recent_history", [REP_PREMOD] = "author_premod",
                                        [REP_BANNED] = "author_banned" };
    enum decision floor = r->rep == REP_BANNED ? DEC_REJECT : r->rep >= REP_NEW ? DEC_HOLD : DEC_ACCEPT;
    if (r->rep == REP_NONE)
        return;
    if (r->rep == REP_TRUSTED || r->rep == REP_TRUSTED_SET) {
        if (!trust_lifts(st))
            return;
        st->trusted = 1;
    }
    verdict_add(&st->v, "reputation", code[r->rep], 0, floor, "%s", r->rep_why);
}

/* Second half of /v1/check: turn the script's answer into a decision. */
static void check_finish(struct http_request *req, struct http_response *resp)
{
    struct check_state *st = req->state;
    struct req_comment *in = &st->in;
    const struct site_cfg *site = st->site;
    struct store_check_res *r = &st->res;
    if (r->status == ST_API_LIMITED) {
        reply_api_limited(resp, r->retry_after_ms);
        check_cleanup(req);
        return;
    }
    if (r->status == ST_REPLAY) {
        if (replay(req, r->replay, st->body_fp, resp) == 0) {
            check_cleanup(req);
            return;
        }
        /* An edit: run the script again, taking tokens this time. */
        free(r->replay);
        r->replay = NULL;
        st->edit = 1;
        st->q.no_replay = 1;
        req->resume = check_finish;
        store_check_async(&st->q, r, check_redis_done, req);
        return;
    }

    char *rl = st->rl;
    memcpy(rl, "null", 5);
    int degraded = 0;
    enum decision d;
    if (r->status == ST_LIMITED) {
        enum bucket_kind bk = st->q.kind[r->bucket];
        verdict_add(&st->v, "ratelimit", "rate_limited", 0, DEC_REJECT,
                    "too many comments from this %s; retry in %.1f s",
                    bk == BK_IP ? "IP address" : bk == BK_PREFIX ? "network" : bk == BK_AUTHOR ? "author"
                    : bk == BK_THREAD ? "article" : "site", (double)r->retry_after_ms / 1000);
        rate_limit_json(rl, 1, bucket_name(bk), r->retry_after_ms);
        d = DEC_REJECT;
    } else if (r->status == ST_OK) {
        long sources = r->dup_ips > r->dup_authors ? r->dup_ips : r->dup_authors;
        if (st->count_dups && sources >= site->dup_min_sources)
            verdict_add(&st->v, "duplicate", "duplicate", site->heur.w.duplicate, DEC_ACCEPT,
                        "the same text came from %ld IP addresses and %ld authors in the last %ld s",
                        r->dup_ips, r->dup_authors, site->dup_window_s);
        if (r->bucket >= 0) /* as the check script writes it into the record */
            rate_limit_json(rl, 0, bucket_name(st->q.kind[r->bucket]), r->remaining);
        rep_reason(st, r);
        d = decide(st);
        if (r->evicted > 0)
            metrics_overflow(site->name, "evicted", r->evicted);
        if (r->refused && d == DEC_HOLD)
            queue_full(st);
    } else { /* ST_DOWN */
        degraded = 1;
        LOG_WARN(req->id, "check degraded: %s", r->error);
        verdict_add(&st->v, "service", "redis_unavailable", 0, site->redis_down,
                    "rate limits and duplicates could not be checked; the site's fallback applies");
        d = decide(st);
    }
    st->a = (struct answer){ req->id, site->name, in->comment_id, d, verdict_score(&st->v), &st->v, rl,
                             degraded, HOLD_NONE, d == DEC_CHALLENGE ? st->chal : NULL, site->shadow, 0 };
    struct answer *a = &st->a;
    /* The check script stored head + rl + tail (and a held comment): the
     * answer is the same text. */
    int recorded = r->status == ST_OK &&
                   ((r->recorded == 1 && d == st->d0) || (r->recorded == 2 && d == DEC_HOLD));
    if (recorded && d == DEC_HOLD)
        a->hold = HOLD_STORED;
    if (st->refused)
        a->hold = HOLD_LOST; /* recorded below as answered */
    int dry = (st->flags & CHECK_DRY) != 0;
    if (d == DEC_HOLD && !recorded && !st->refused && !dry) {
        /* A held comment must be stored somewhere even without a CMS id;
         * the id is random, never derived from anything the client sent. */
        if (!a->comment_id) {
            unsigned char rnd[8];
            randombytes_buf(rnd, sizeof rnd);
            memcpy(st->gen_id, "mg-", 3);
            sodium_bin2hex(st->gen_id + 3, sizeof st->gen_id - 3, rnd, sizeof rnd);
            a->comment_id = st->gen_id;
        }
        hold_begin(req, st, resp);
        return;
    }
    struct buf out;
    if (recorded && r->recorded == 1) {
        out = st->head;
        st->head.p = NULL;
        char *m = memchr(out.p, 1, out.len); /* a held comment's mark (render_reasons) */
        if (m) {
            memmove(m, m + 1, out.len - (size_t)(m - out.p));
            out.len--;
        }
        buf_puts(&out, rl);
        render_tail(&out, a);
    } else { /* a rule's hold the script wrote with its reason is this text too */
        buf_init(&out);
        render(&out, a);
    }
    if (recorded && a->hold == HOLD_STORED && spool_recent_kept()) { /* the texts the script stored, made again */
        char *rec = record_of(out.p, st->body_fp, st->rix), *item = held_item(req, st, a);
        remember_stored(st, rec, item);
        free(rec);
        free(item);
    }
    if (d == DEC_REJECT && site->captcha.enabled && in->prefix[0] && !degraded && !dry)
        store_captcha_spam(site->name, in->prefix, (long long)time(NULL)); /* raises its captchas' work */
    if (in->comment_id && r->status == ST_OK && !recorded && !dry) {
        char *rec = record_of(out.p, st->body_fp, st->rix);
        store_remember(site->name, in->comment_id, rec, site->decision_ttl_s);
        free(rec);
    }
    short_note(req, d, a->score, degraded, 0);
    if (!dry)
        metrics_decision(site->name, d, a->v, degraded, 0);
    check_cleanup(req);
    resp->status = 200;
    resp->body = out.p; /* handed over: http.c frees it */
}
