/* bayesdb.c - the Bayes models in Redis, and each instance's copy of them.
 *
 * Key schema. M is a model name (a site's own model is named like the
 * site; a shared fallback model is just another name). Every key carries
 * the hash tag {M}, so the learn script touches one Redis Cluster slot.
 *
 *   mg:{M}:bayes:spam    hash    field: a token hash, 16 lowercase hex
 *   mg:{M}:bayes:ham     hash    digits; value: how many learned comments
 *                                of that class held the token. A field
 *                                that reaches 0 is deleted (HDEL).
 *   mg:{M}:bayes:meta    hash    nspam, nham (learned comments per class),
 *                                seq (+1 for every change), tok_version
 *                                (TOK_VERSION of the tokens in the hashes);
 *                                the calibration (see "calibration" below):
 *                                calib_a, calib_b (shipped with the model:
 *                                the starter's header, an import), fit_a,
 *                                fit_b, fit_n (fitted on its entries when
 *                                calib_n was fit_n; "" a, b: the fit
 *                                failed), calib_spam, calib_ham (entries
 *                                per label), calib_n (changes to them).
 *   mg:{M}:bayes:doc:FP  string  one learned comment. FP: tok_fingerprint
 *                                of its tokens (32 hex digits). Value:
 *                                "spam:" or "ham:" and its token hashes,
 *                                16 hex digits each, no separator, so an
 *                                unlearn takes away exactly what the learn
 *                                added even after the tokenizer changed.
 *   mg:{M}:bayes:events  stream  every change, trimmed to about
 *                                STREAM_MAXLEN entries (XADD MAXLEN ~):
 *                                seq, nspam, nham (the new values),
 *                                tok_version, calib_spam, calib_ham,
 *                                calib_n, then
 *                                per token touched a field "s" or "h" +
 *                                its hex hash whose value is the token's
 *                                NEW count in that class (0: deleted).
 *                                A calibration stored (calib_put.lua) is
 *                                an event of its meta fields alone, no seq.
 *   mg:{M}:bayes:calib   hash    field: a learned comment's FP; value:
 *                                "Z LABEL", the raw score the site's read
 *                                gave it before it was learned, and its
 *                                label now. At most CALIB_MAX fields.
 *   mg:{M}:bayes:calib:order zset  the same FPs, scored by the seq that
 *                                recorded them: the oldest go first.
 *   mg:{M}:bayes:storing string  the shipped starter only (M = modgate-
 *                                starter): held (SET NX PX) by the instance
 *                                storing it, so that one instance does.
 * meta of the shipped starter also holds starter_id: the BLAKE2b of the
 * compiled-in file it was stored from (32 hex digits).
 *
 * Sources (api.md 3.4). The fields above are source "site"'s. Source X
 * (bayesdb_source_valid) keeps its counts in the same two hashes under
 * the fields "X:" + token hash, its class totals in meta's nspam:X and
 * nham:X (these two fields record that the model has the source), and a
 * learned comment of it reads "spam@X:..." or "ham@X:..." in its doc key;
 * its event fields are "s"/"h" + "X:" + hash and nspam:X, nham:X. So a
 * model's keys stay the five above whatever its sources: the learn script
 * finds the source a comment was learned under in its doc key and moves it
 * with no key its caller could not name in KEYS. An older modgate reads
 * the site's fields alone (it skips the others).
 * No TTLs: a model lives until someone deletes it (the lock: STORE_LOCK_MS).
 *
 * Why absolute counts in the events: applying an event twice, or applying
 * one whose effect a scan already saw, sets the same values again. So an
 * instance loads a model by (1) reading the stream's last id and the
 * model's seq at that moment (one script, atomic), (2) HSCAN-ing both
 * hashes and reading meta, (3) applying every event after that id in
 * order: whatever the scan saw of later changes is overwritten by the
 * last event that touched it, and a token no event touched since (1) had
 * the same count during the whole scan. Events carry seq, so an instance
 * that sees seq jump (the stream was trimmed past it, Redis was flushed)
 * loads the model again.
 *
 * Calibration. A comment's raw score z (bayes.h) becomes a probability
 * through a calibration {a, b}. Every learn of a new comment with a
 * score records the z the site's read gave it just before, in the same
 * script as the learn: honest held-out scores of the site's own traffic,
 * labelled by its moderators. Once a model has CALIB_MIN_LABELS entries
 * of each label, the sync thread fits a calibration to them (and again
 * after every CALIB_REFIT changes) and writes it to meta with an event
 * (calib_put.lua). One instance's fit is everyone's: instances that
 * fitted for themselves would fit at different moments (at their load,
 * after their events), on different entries, and disagree on a score;
 * the fit_n guard lets the first of two racing instances win, and both
 * fitted the same entries anyway. A check reads, in this order: the read
 * model's own fit, the calibration stored with it (an import), its
 * starter's (fit or stored), bayes_calib_default.
 *
 * Threads: one sync thread with its own blocking connection loads the
 * models in use and then waits in XREAD BLOCK on all their streams at
 * once; it reconnects by itself. Learns run on the store's pipelined
 * lanes (store_command_async), so no HTTP thread waits for Redis. Each
 * model copy sits behind a rwlock; classifying takes the read side for a
 * few microseconds and never waits for Redis. */
#include "bayesdb.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "log.h"
#include "luascripts.h"
#include "sentinel.h"
#include "util.h"

/* About this many events are kept per model. An instance that was away
 * for longer (down, disconnected) than it takes to learn that many
 * comments loads the model again instead of catching up (162 ms for the
 * SMS corpus's model of 76,000 tokens); meanwhile the stream costs Redis
 * memory in proportion: an event is about 3.4 KB (the SMS corpus's
 * comments, measured), so 5,000 events are about 17 MB per model. A busy
 * site's moderators teach a few thousand comments a day; a bulk load
 * passes the limit, and the other instances reload once. */
#define STREAM_MAXLEN BAYESDB_STREAM_MAXLEN

/* The sync thread's XREAD BLOCK: an event wakes it at once; the timeout
 * only bounds how late it notices a stop, a reload's new models and a
 * learn request's deadline. */
#define BLOCK_MS 250

/* How often the sync thread compares each model's seq with Redis's, for
 * a flush or a rollback that sends no event (a new event finds it at once). */
#define VERIFY_MS 5000

/* Events asked for per XREAD / XRANGE: bounds the reply's size. */
#define READ_COUNT 200

/* A model copy counts as synced while the sync thread confirmed it within
 * this long (a few of its XREAD rounds). */
#define SYNCED_MS 2000

/* Calibration entries kept per model (bayes.h, BAYES_CALIB_KEEP): weeks
 * of a busy site's moderation, plenty for a fit of two parameters, and
 * recent enough to follow the site's scores as its own counts outgrow
 * the starter's. Redis holds about 0.5 MB for them per model (measured:
 * the hash 225 KB, the order 276 KB at 2,000). */
#define CALIB_MAX BAYESDB_CALIB_MAX

/* A model's own fit is used once its entries hold this many of each
 * label: with fewer, the two parameters of a Platt fit swing by tens of
 * percent from one comment to the next (about 1/sqrt(n)), and the
 * starter's calibration, fitted on thousands, is the better guess. */
#define CALIB_MIN_LABELS BAYES_CALIB_MIN

/* The sync thread fits again after this many changes to the entries
 * (calib_n): a fit costs one read of up to CALIB_MAX entries (about
 * 140 KB of reply) and a millisecond of arithmetic, and 20 new labels
 * move a fit of a few hundred by a few percent at most. */
#define CALIB_REFIT BAYES_CALIB_EVERY

/* ---------- the scripts ---------- */

/* The learn script (LEARN_LUA, service/redis/lua/learn.lua with
 * lib/bayes_change.lua in front) learns, unlearns or adds raw counts;
 * the snapshot (LEARN_SNAPSHOT_LUA, learn_snapshot.lua) reads a model's
 * last event id and seq together. Their KEYS, ARGV and replies are in
 * the files' headers. */

/* ---------- small helpers ---------- */

static void key_of(char *out, size_t len, const char *mname, const char *what)
{
    snprintf(out, len, "mg:{%s}:bayes:%s", mname, what);
}

static const char hexd[] = "0123456789abcdef";

/* h as 16 lowercase hex digits and a NUL. */
static void hex16(uint64_t h, char out[17])
{
    for (int i = 15; i >= 0; i--) {
        out[i] = hexd[h & 15];
        h >>= 4;
    }
    out[16] = 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Parse exactly 16 lowercase hex digits. Returns 0 or -1. */
static int parse_hex16(const char *s, size_t n, uint64_t *out)
{
    if (n != 16)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < 16; i++) {
        int d = hexval(s[i]);
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

static int valid_fp(const char *s)
{
    size_t n = strlen(s);
    if (n != 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (hexval(s[i]) < 0)
            return 0;
    return 1;
}

/* A count from Redis (a string or an integer reply), clamped to 0..max. */
static long long reply_ll(const struct store_reply *r, long long max)
{
    long long v = 0;
    if (!r)
        return 0;
    if (r->type == STORE_REPLY_INTEGER)
        v = r->integer;
    else if (r->type == STORE_REPLY_STRING)
        v = strtoll(r->str, NULL, 10);
    return v < 0 ? 0 : v > max ? max : v;
}

/* A stream id "MS-SEQ" as two numbers, for comparing. */
static void id_parts(const char *id, unsigned long long *ms, unsigned long long *sq)
{
    char *end;
    *ms = strtoull(id, &end, 10);
    *sq = *end == '-' ? strtoull(end + 1, NULL, 10) : 0;
}

static int id_cmp(const char *a, const char *b)
{
    unsigned long long am, as, bm, bs;
    id_parts(a, &am, &as);
    id_parts(b, &bm, &bs);
    return am < bm ? -1 : am > bm ? 1 : as < bs ? -1 : as > bs ? 1 : 0;
}

/* ---------- a learn command ----------
 *
 * Built once for both ways of sending it: the API's (store lanes, RESP
 * written by store.c) and the command line's (its own pipelined
 * connection, conn.h). Arguments point into the struct itself. */

/* EVALSHA, sha, 7, seven keys, op, label, version, maxlen, z, the
 * calibration bound, and for raw the two total deltas: 20, and a spare. */
#define CMD_FIXED 22

struct learn_cmd {
    int argc;
    const char *argv[CMD_FIXED + 3 * TOK_MAX];
    size_t lens[CMD_FIXED + 3 * TOK_MAX];
    char keys[7][160];
    char sha[41];
    char ver[16], maxlen[16], cmax[16], z[BAYESDB_Z_LEN], dspam[24], dham[24];
    char label[8 + BAYESDB_SOURCE_MAX]; /* "spam@X" */
    char hex[TOK_MAX][17];
    char num[2 * TOK_MAX][24];
};

static void lc_arg(struct learn_cmd *lc, const char *s, size_t n)
{
    lc->argv[lc->argc] = s;
    lc->lens[lc->argc++] = n;
}

/* The part every learn, unlearn and raw call shares. 'sha' "" sends the
 * script itself (EVAL). 'src' NULL or "site": the site's own counts. 'z':
 * the comment's raw score before the learn (bayesdb_learn_z), "" or NULL
 * for none. */
static void lc_begin(struct learn_cmd *lc, const char *mname, const char *fp, const char *op,
                     const char *label, const char *src, const char *z, const char *sha)
{
    lc->argc = 0;
    snprintf(lc->sha, sizeof lc->sha, "%s", sha);
    if (lc->sha[0]) {
        lc_arg(lc, "EVALSHA", 7);
        lc_arg(lc, lc->sha, strlen(lc->sha));
    } else {
        lc_arg(lc, "EVAL", 4);
        lc_arg(lc, LEARN_LUA, strlen(LEARN_LUA));
    }
    lc_arg(lc, "7", 1);
    key_of(lc->keys[0], sizeof lc->keys[0], mname, "spam");
    key_of(lc->keys[1], sizeof lc->keys[1], mname, "ham");
    key_of(lc->keys[2], sizeof lc->keys[2], mname, "meta");
    snprintf(lc->keys[3], sizeof lc->keys[3], "mg:{%s}:bayes:doc:%s", mname, fp);
    key_of(lc->keys[4], sizeof lc->keys[4], mname, "events");
    key_of(lc->keys[5], sizeof lc->keys[5], mname, "calib");
    key_of(lc->keys[6], sizeof lc->keys[6], mname, "calib:order");
    for (int i = 0; i < 7; i++)
        lc_arg(lc, lc->keys[i], strlen(lc->keys[i]));
    snprintf(lc->ver, sizeof lc->ver, "%d", TOK_VERSION);
    snprintf(lc->maxlen, sizeof lc->maxlen, "%d", STREAM_MAXLEN);
    snprintf(lc->cmax, sizeof lc->cmax, "%d", CALIB_MAX);
    snprintf(lc->z, sizeof lc->z, "%s", z ? z : "");
    lc_arg(lc, op, strlen(op));
    int site = !src || strcmp(src, BAYESDB_SITE_SOURCE) == 0;
    snprintf(lc->label, sizeof lc->label, "%s%s%s", label, site ? "" : "@", site ? "" : src);
    lc_arg(lc, lc->label, strlen(lc->label));
    lc_arg(lc, lc->ver, strlen(lc->ver));
    lc_arg(lc, lc->maxlen, strlen(lc->maxlen));
    lc_arg(lc, lc->z, strlen(lc->z));
    lc_arg(lc, lc->cmax, strlen(lc->cmax));
}

/* A learn or unlearn of 'n' distinct token hashes 'h' (n <= TOK_MAX) as
 * source 'src' (NULL: "site"; an unlearn finds the source in the doc);
 * 'z' as for lc_begin. */
static void lc_learn(struct learn_cmd *lc, const char *mname, const uint64_t *h, size_t n, const char *fp,
                     enum bayesdb_op op, enum model_class label, const char *src, const char *z, const char *sha)
{
    lc_begin(lc, mname, fp, op == BAYESDB_LEARN ? "learn" : "unlearn", label == MODEL_SPAM ? "spam" : "ham",
             op == BAYESDB_LEARN ? src : NULL, op == BAYESDB_LEARN ? z : NULL, sha);
    if (op != BAYESDB_LEARN)
        return;
    for (size_t i = 0; i < n && i < TOK_MAX; i++) {
        hex16(h[i], lc->hex[i]);
        lc_arg(lc, lc->hex[i], 16);
    }
}

/* Raw counts: 'n' (<= TOK_MAX) tokens with what to add to each class of
 * source 'src' (NULL: "site"). */
static void lc_raw(struct learn_cmd *lc, const char *mname, const uint64_t *h, const uint32_t *s,
                   const uint32_t *hm, size_t n, long long dspam, long long dham, const char *src, const char *sha)
{
    lc_begin(lc, mname, "raw", "raw", "", src, NULL, sha);
    snprintf(lc->dspam, sizeof lc->dspam, "%lld", dspam);
    snprintf(lc->dham, sizeof lc->dham, "%lld", dham);
    lc_arg(lc, lc->dspam, strlen(lc->dspam));
    lc_arg(lc, lc->dham, strlen(lc->dham));
    for (size_t i = 0; i < n && i < TOK_MAX; i++) {
        hex16(h[i], lc->hex[i]);
        lc_arg(lc, lc->hex[i], 16);
        snprintf(lc->num[2 * i], sizeof lc->num[0], "%u", (unsigned)s[i]);
        snprintf(lc->num[2 * i + 1], sizeof lc->num[0], "%u", (unsigned)hm[i]);
        lc_arg(lc, lc->num[2 * i], strlen(lc->num[2 * i]));
        lc_arg(lc, lc->num[2 * i + 1], strlen(lc->num[2 * i + 1]));
    }
}

/* The learn script's reply into 'res'. */
static void parse_learn(const struct store_reply *r, const char *err, void *out)
{
    struct bayesdb_learn_res *res = out;
    if (!r) {
        res->rc = -1;
        snprintf(res->error, sizeof res->error, "%s", err);
        return;
    }
    if (r->type == STORE_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == STORE_REPLY_STRING &&
        strcmp(r->element[0]->str, "version") == 0) {
        res->rc = -2;
        res->tok_version = (int)reply_ll(r->element[1], 1000000);
        snprintf(res->error, sizeof res->error, "the model holds tokens of tokenizer version %d, this is %d",
                 res->tok_version, TOK_VERSION);
        return;
    }
    if (r->type == STORE_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == STORE_REPLY_STRING &&
        strcmp(r->element[0]->str, "sources") == 0) {
        res->rc = -3;
        snprintf(res->error, sizeof res->error, "the model has %d sources already, the most it may have",
                 BAYESDB_MAX_SOURCES);
        return;
    }
    if (r->type != STORE_REPLY_ARRAY || r->elements != 5 || r->element[0]->type != STORE_REPLY_STRING ||
        r->element[4]->type != STORE_REPLY_STRING) {
        res->rc = -1;
        snprintf(res->error, sizeof res->error, "redis: unexpected learn reply: %.100s",
                 r->type == STORE_REPLY_ERROR ? r->str : "wrong type");
        return;
    }
    res->rc = 0;
    snprintf(res->changed, sizeof res->changed, "%s", r->element[0]->str);
    /* "spam" or "spam@X": the label, and the source it is of */
    const char *lab = r->element[4]->str, *at = strchr(lab, '@');
    snprintf(res->label, sizeof res->label, "%.*s", at ? (int)(at - lab) : 7, lab);
    snprintf(res->source, sizeof res->source, "%s", at ? at + 1 : lab[0] ? BAYESDB_SITE_SOURCE : "");
    res->nspam = reply_ll(r->element[1], INT64_MAX);
    res->nham = reply_ll(r->element[2], INT64_MAX);
    res->seq = reply_ll(r->element[3], INT64_MAX);
}

/* ---------- calibration ---------- */

/* What a model copy knows of its calibration: meta's fields, kept
 * current by the events (the top of this file). Guarded by its entry's
 * lock. Parameters are NAN when absent. */
struct calib_state {
    double stored_a, stored_b;   /* calib_a, calib_b: shipped with the model */
    double fit_a, fit_b;         /* fit_a, fit_b: fitted on its own entries */
    long long fit_n;             /* calib_n when they were fitted (0: never) */
    long long n;                 /* calib_n: changes to the entries so far */
    long long nspam, nham;       /* entries per label */
};

static void calib_clear(struct calib_state *c)
{
    memset(c, 0, sizeof *c);
    c->stored_a = c->stored_b = c->fit_a = c->fit_b = NAN;
}

/* A usable calibration: finite, and a slope > 0 (a higher score means
 * spam more likely); anything else came from a hand-edited file or meta. */
static int calib_ok(double a, double b)
{
    return isfinite(a) && a > 0 && isfinite(b);
}

/* A reply's text: a string's, an integer's in 'tmp', "" otherwise. */
static const char *reply_text(const struct store_reply *r, char *tmp, size_t len)
{
    if (r && r->type == STORE_REPLY_STRING)
        return r->str;
    if (r && r->type == STORE_REPLY_INTEGER) {
        snprintf(tmp, len, "%lld", r->integer);
        return tmp;
    }
    return "";
}

/* A number of meta or an event: NAN when "" or not a number. */
static double parse_num(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    return end == s || *end ? NAN : v;
}

/* Take meta's or an event's field 'k' = 'v' into 'c' when it is one of
 * the calibration's. Returns 1 when it was. */
static int calib_field(struct calib_state *c, const char *k, const struct store_reply *v)
{
    static const char *const names[] = { "calib_a", "calib_b", "fit_a", "fit_b", "fit_n", "calib_n",
                                         "calib_spam", "calib_ham" };
    size_t i = 0;
    while (i < sizeof names / sizeof *names && strcmp(k, names[i]) != 0)
        i++;
    if (i == sizeof names / sizeof *names)
        return 0;
    char tmp[32];
    const char *t = reply_text(v, tmp, sizeof tmp);
    double *d[] = { &c->stored_a, &c->stored_b, &c->fit_a, &c->fit_b };
    long long *n[] = { &c->fit_n, &c->n, &c->nspam, &c->nham };
    if (i < 4)
        *d[i] = parse_num(t);
    else
        *n[i - 4] = reply_ll(v, INT64_MAX);
    return 1;
}

/* The calibration model 'c' has of its own: its fit while its entries
 * hold CALIB_MIN_LABELS of each label ("site"), else the one stored with
 * it ("import"). NULL when it has neither. */
static const char *calib_own(const struct calib_state *c, struct bayes_calib *out)
{
    if (calib_ok(c->fit_a, c->fit_b) && c->nspam >= CALIB_MIN_LABELS && c->nham >= CALIB_MIN_LABELS) {
        *out = (struct bayes_calib){ c->fit_a, c->fit_b };
        return "site";
    }
    if (calib_ok(c->stored_a, c->stored_b)) {
        *out = (struct bayes_calib){ c->stored_a, c->stored_b };
        return "import";
    }
    return NULL;
}

/* ---------- the sources of a model ----------
 *
 * Source "site" is a model's plain table (entry.m); every other source has
 * a table of its own here, filled from its "X:"-prefixed fields and meta's
 * nspam:X, nham:X, so that a check reads each source at its own factor
 * (model_balance) with one lookup per token per source table. */

struct msource {
    char name[BAYESDB_SOURCE_MAX + 1];
    model *m;                    /* its counts and class totals */
};

struct srcset {
    struct msource v[BAYESDB_MAX_SOURCES - 1]; /* "site" is not in here */
    size_t n;
};

int bayesdb_source_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > BAYESDB_SOURCE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return 0;
    return 1;
}

/* The table of source 'name' ('len' bytes) in 'ss', made empty when it is
 * new; NULL when 'ss' is full (the learn script never lets a model have
 * more sources; a hand-written key might: it is left out). */
static model *srcset_get(struct srcset *ss, const char *name, size_t len)
{
    for (size_t i = 0; i < ss->n; i++)
        if (strlen(ss->v[i].name) == len && memcmp(ss->v[i].name, name, len) == 0)
            return ss->v[i].m;
    if (ss->n == sizeof ss->v / sizeof ss->v[0] || len < 1 || len > BAYESDB_SOURCE_MAX)
        return NULL;
    struct msource *x = &ss->v[ss->n++];
    snprintf(x->name, sizeof x->name, "%.*s", (int)len, name);
    x->m = model_new();
    return x->m;
}

static void srcset_free(struct srcset *ss)
{
    for (size_t i = 0; i < ss->n; i++)
        model_free(ss->v[i].m);
    ss->n = 0;
}

/* A field "X:" + 16 hex digits ('s', 'len' bytes) of source X: X's table
 * in 'ss' and the token's hash. Returns NULL when it is not one. */
static model *source_field(struct srcset *ss, const char *s, size_t len, uint64_t *h)
{
    if (len < 18 || s[len - 17] != ':' || parse_hex16(s + len - 16, 16, h))
        return NULL;
    return srcset_get(ss, s, len - 17);
}

/* A meta or event field "nspam:X" / "nham:X" ('k'), value 'v': X's class
 * total set in 'ss'. Returns 0, or -1 when 'k' is not one. */
static int source_total(struct srcset *ss, const char *k, long long v)
{
    int spam = strncmp(k, "nspam:", 6) == 0;
    if (!spam && strncmp(k, "nham:", 5) != 0)
        return -1;
    const char *name = k + (spam ? 6 : 5);
    model *m = srcset_get(ss, name, strlen(name));
    if (m) {
        uint64_t ns, nh;
        model_totals(m, &ns, &nh);
        model_set_totals(m, spam ? (uint64_t)v : ns, spam ? nh : (uint64_t)v);
    }
    return 0;
}

/* ---------- the models this instance holds ---------- */

struct entry {
    char name[65];
    char events_key[160], meta_key[160], spam_key[160], ham_key[160];
    pthread_rwlock_t lock;       /* guards m, src, tok_version and cal */
    model *m;                    /* NULL until loaded; source "site" */
    struct srcset src;           /* its other sources (loaded with m) */
    int tok_version;
    struct calib_state cal;
    _Atomic long long seq;       /* the change applied last */
    _Atomic int64_t synced_ms;   /* mono ms the sync thread last knew it current; 0 never */
    /* The sync thread's own: */
    char last_id[48];            /* the stream entry applied last */
    int need_load;
    long long fit_tried_n;       /* calib_n of the entries fitted last here (refit) */
};

/* The table of entries. Only the sync thread adds or removes entries (under
 * the write lock), so it reads the table without locking; every other
 * thread reads it under the read lock. */
static pthread_rwlock_t tab_lock;
static struct entry **tab;
static size_t ntab;

/* What the sync thread should hold and where Redis is: set by
 * bayesdb_configure, taken by the sync thread. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static char (*wanted)[65];
static size_t nwanted;
static int wanted_changed;
static struct redis_target target;
static int connect_ms = 200, command_ms = 250, retry_ms = 500;
static unsigned target_gen;
static struct conn *live_conn;    /* the sync connection, under mu (bayesdb_stop cuts it) */
static struct conn *starter_conn; /* the starter thread's, the same way */

static pthread_t sync_thr;
static int running;
static _Atomic int quit;
static _Atomic int connected;

/* The learn script's SHA1, learnt by SCRIPT LOAD at connect; "" before. */
static pthread_mutex_t sha_mu = PTHREAD_MUTEX_INITIALIZER;
static char learn_sha[41];

/* Learn requests waiting for their change to arrive here. */
struct waiter {
    struct waiter *next;
    char model[65];
    long long seq;
    int64_t deadline_ms;
    store_done_fn done;
    void *arg;
};
static pthread_mutex_t wait_mu = PTHREAD_MUTEX_INITIALIZER;
static struct waiter *waiters;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* Writers first (as cfg_lock): a steady stream of checks must not keep
 * the sync thread from applying an event. */
static void rwlock_init_writer_first(pthread_rwlock_t *l)
{
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(l, &a);
    pthread_rwlockattr_destroy(&a);
}

/* Read in place of a site's own model not loaded yet, so that the starter
 * alone can answer meanwhile. Never changes. */
static model *empty_model;

static void init_locks(void)
{
    rwlock_init_writer_first(&tab_lock);
    empty_model = model_new();
}

/* Under tab_lock (read side), or from the sync thread. */
static struct entry *find(const char *name)
{
    if (!name || !name[0])
        return NULL;
    for (size_t i = 0; i < ntab; i++)
        if (strcmp(tab[i]->name, name) == 0)
            return tab[i];
    return NULL;
}

static struct entry *entry_new(const char *name)
{
    struct entry *e = xcalloc(1, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    key_of(e->events_key, sizeof e->events_key, name, "events");
    key_of(e->meta_key, sizeof e->meta_key, name, "meta");
    key_of(e->spam_key, sizeof e->spam_key, name, "spam");
    key_of(e->ham_key, sizeof e->ham_key, name, "ham");
    rwlock_init_writer_first(&e->lock);
    calib_clear(&e->cal);
    snprintf(e->last_id, sizeof e->last_id, "0-0");
    e->need_load = 1;
    return e;
}

static void entry_free(struct entry *e)
{
    if (!e)
        return;
    model_free(e->m);
    srcset_free(&e->src);
    pthread_rwlock_destroy(&e->lock);
    free(e);
}

/* Call back every waiter that is satisfied, past its deadline, or whose
 * model is not held ('all': every one). The callbacks run after wait_mu
 * is released: they resume HTTP connections. */
static void fire_waiters(int all)
{
    int64_t now = mono_ms();
    struct waiter *ready = NULL;
    pthread_mutex_lock(&wait_mu);
    for (struct waiter **pp = &waiters; *pp;) {
        struct waiter *w = *pp;
        struct entry *e = all ? NULL : find(w->model);
        if (all || !e || atomic_load(&e->seq) >= w->seq || now >= w->deadline_ms) {
            *pp = w->next;
            w->next = ready;
            ready = w;
        } else {
            pp = &w->next;
        }
    }
    pthread_mutex_unlock(&wait_mu);
    while (ready) {
        struct waiter *w = ready;
        ready = w->next;
        w->done(w->arg);
        free(w);
    }
}

/* The sync thread: make the table match the wanted names. */
static void apply_wanted(void)
{
    pthread_mutex_lock(&mu);
    if (!wanted_changed) {
        pthread_mutex_unlock(&mu);
        return;
    }
    wanted_changed = 0;
    size_t nw = nwanted;
    char (*w)[65] = xmalloc((nw ? nw : 1) * sizeof *w);
    memcpy(w, wanted, nw * sizeof *w);
    pthread_mutex_unlock(&mu);

    struct entry **nt = xcalloc(nw ? nw : 1, sizeof *nt);
    for (size_t i = 0; i < nw; i++) {
        struct entry *e = find(w[i]);
        nt[i] = e ? e : entry_new(w[i]);
        LOG_DEBUG(NULL, "bayes: holding model %s", w[i]);
    }
    pthread_rwlock_wrlock(&tab_lock);
    struct entry **old = tab;
    size_t nold = ntab;
    tab = nt;
    ntab = nw;
    pthread_rwlock_unlock(&tab_lock);
    for (size_t i = 0; i < nold; i++) {
        int kept = 0;
        for (size_t j = 0; j < nw; j++)
            kept |= old[i] == nt[j];
        if (!kept)
            entry_free(old[i]);
    }
    free(old);
    free(w);
}

/* ---------- the sync connection ---------- */

static struct store_reply *rcmd(struct conn *c, int argc, const char **argv)
{
    return conn_command_argv(c, argc, argv, NULL);
}

static int load_learn_script(struct conn *c)
{
    const char *argv[] = { "SCRIPT", "LOAD", LEARN_LUA };
    struct store_reply *r = rcmd(c, 3, argv);
    int ok = r && r->type == STORE_REPLY_STRING && r->len == 40;
    if (ok) {
        pthread_mutex_lock(&sha_mu);
        memcpy(learn_sha, r->str, 41);
        pthread_mutex_unlock(&sha_mu);
    }
    conn_reply_free(r);
    return ok ? 0 : -1;
}

/* A blocking connection to 't' (AUTH, SELECT, the learn script loaded),
 * with 'cmd_ms' as the timeout of every command. NULL with a reason. */
static struct conn *connect_blocking(const struct redis_target *t, int conn_ms, int cmd_ms, struct conn **slot,
                                     char *err, size_t errlen)
{
    char why[160];
    struct conn *c = conn_open(t, conn_ms, cmd_ms, why, sizeof why);
    int ok = c != NULL;
    if (ok && slot) { /* published before the first command: a stop can cut it short */
        pthread_mutex_lock(&mu);
        *slot = c;
        pthread_mutex_unlock(&mu);
        ok = !atomic_load(&quit);
    }
    ok = ok && conn_login(c, t) == 0 && load_learn_script(c) == 0;
    if (!ok) {
        snprintf(err, errlen, "redis connect failed: %s",
                 !c ? why : conn_error(c) ? conn_error(c) : "authentication, SELECT or SCRIPT LOAD refused");
        if (slot) {
            pthread_mutex_lock(&mu);
            *slot = NULL;
            pthread_mutex_unlock(&mu);
        }
        conn_close(c);
        return NULL;
    }
    return c;
}

/* Close a connection a stop may cut ('*slot'): the slot is cleared
 * first, so that a stop never cuts a closed one. */
static void drop_published(struct conn **c, struct conn **slot)
{
    pthread_mutex_lock(&mu);
    *slot = NULL;
    pthread_mutex_unlock(&mu);
    conn_close(*c);
    *c = NULL;
}

static void drop_sync_conn(struct conn **c)
{
    drop_published(c, &live_conn);
    atomic_store(&connected, 0);
}

/* Take a reply and say whether the connection still works: -1 when the
 * reply is missing (I/O error, timeout: the connection must go). */
static int conn_ok(struct conn *c, const struct store_reply *r)
{
    return r && !conn_error(c) ? 0 : -1;
}

/* The seq field of a stream entry [id, [field, value, ...]], -1 if it has
 * none or is malformed. The script writes seq first. */
static long long event_seq(const struct store_reply *ent)
{
    if (ent->type != STORE_REPLY_ARRAY || ent->elements != 2 || ent->element[0]->type != STORE_REPLY_STRING ||
        ent->element[1]->type != STORE_REPLY_ARRAY)
        return -1;
    const struct store_reply *f = ent->element[1];
    for (size_t i = 0; i + 1 < f->elements; i += 2)
        if (f->element[i]->type == STORE_REPLY_STRING && strcmp(f->element[i]->str, "seq") == 0)
            return reply_ll(f->element[i + 1], INT64_MAX);
    return -1;
}

/* A calibration event (calib_put.lua: no seq, absolute values, so
 * applying it again or after a load that saw it sets the same) into
 * 'cal'. */
static void apply_calib_event(const struct store_reply *ent, struct calib_state *cal)
{
    if (ent->type != STORE_REPLY_ARRAY || ent->elements != 2 || ent->element[1]->type != STORE_REPLY_ARRAY)
        return;
    const struct store_reply *f = ent->element[1];
    for (size_t i = 0; i + 1 < f->elements; i += 2)
        if (f->element[i]->type == STORE_REPLY_STRING)
            calib_field(cal, f->element[i]->str, f->element[i + 1]);
}

/* An event field of a source other than "site" ('k', value 'v') into
 * 'ss'; other fields are skipped. */
static void apply_source_field(struct srcset *ss, const struct store_reply *k, const struct store_reply *v)
{
    uint64_t h;
    model *sm;
    if (k->len > 17 && (k->str[0] == 's' || k->str[0] == 'h') &&
        (sm = source_field(ss, k->str + 1, k->len - 1, &h)))
        model_set(sm, h, k->str[0] == 's' ? MODEL_SPAM : MODEL_HAM, (uint32_t)reply_ll(v, UINT32_MAX));
    else
        source_total(ss, k->str, reply_ll(v, INT64_MAX));
}

/* Set what one event says in 'm' (source "site") and 'ss' (the others):
 * their totals and every token's new count; the tokenizer version it was
 * made with goes to *ver, its calibration fields to 'cal'. */
static void apply_event(model *m, struct srcset *ss, const struct store_reply *ent, int *ver,
                        struct calib_state *cal)
{
    const struct store_reply *f = ent->element[1];
    uint64_t ns, nh;
    model_totals(m, &ns, &nh);
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const struct store_reply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != STORE_REPLY_STRING)
            continue;
        uint64_t h;
        if (k->len == 17 && (k->str[0] == 's' || k->str[0] == 'h') && parse_hex16(k->str + 1, 16, &h) == 0)
            model_set(m, h, k->str[0] == 's' ? MODEL_SPAM : MODEL_HAM, (uint32_t)reply_ll(v, UINT32_MAX));
        else if (strcmp(k->str, "nspam") == 0)
            ns = (uint64_t)reply_ll(v, INT64_MAX);
        else if (strcmp(k->str, "nham") == 0)
            nh = (uint64_t)reply_ll(v, INT64_MAX);
        else if (strcmp(k->str, "tok_version") == 0)
            *ver = (int)reply_ll(v, 1000000);
        else if (!calib_field(cal, k->str, v))
            apply_source_field(ss, k, v);
    }
    model_set_totals(m, ns, nh);
}

/* HSCAN a class hash into 'm' (source "site") and 'ss' (the others; NULL:
 * they are skipped). Returns 0 or -1 (connection failed). */
static int scan_class(struct conn *c, const char *key, model *m, struct srcset *ss, enum model_class cls)
{
    char cursor[32] = "0";
    do {
        const char *argv[] = { "HSCAN", key, cursor, "COUNT", "1000" };
        struct store_reply *r = rcmd(c, 5, argv);
        if (conn_ok(c, r)) {
            conn_reply_free(r);
            return -1;
        }
        if (r->type != STORE_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != STORE_REPLY_STRING ||
            r->element[1]->type != STORE_REPLY_ARRAY) {
            LOG_WARN(NULL, "bayes: %s: unexpected HSCAN reply", key);
            conn_reply_free(r);
            return 0; /* a key of the wrong type: nothing to load */
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const struct store_reply *a = r->element[1];
        for (size_t i = 0; i + 1 < a->elements; i += 2) {
            uint64_t h;
            const struct store_reply *k = a->element[i];
            model *sm;
            if (k->type != STORE_REPLY_STRING)
                continue;
            if (parse_hex16(k->str, k->len, &h) == 0)
                model_set(m, h, cls, (uint32_t)reply_ll(a->element[i + 1], UINT32_MAX));
            else if (ss && (sm = source_field(ss, k->str, k->len, &h)))
                model_set(sm, h, cls, (uint32_t)reply_ll(a->element[i + 1], UINT32_MAX));
        }
        conn_reply_free(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* {last id, seq} of a model in one step (LEARN_SNAPSHOT_LUA). Returns 0, or -1
 * when the connection failed. */
static int snapshot(struct conn *c, const struct entry *e, char *id, size_t idlen, long long *seq)
{
    const char *argv[] = { "EVAL", LEARN_SNAPSHOT_LUA, "2", e->events_key, e->meta_key };
    struct store_reply *r = rcmd(c, 5, argv);
    if (conn_ok(c, r)) {
        conn_reply_free(r);
        return -1;
    }
    int ok = r->type == STORE_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == STORE_REPLY_STRING;
    snprintf(id, idlen, "%s", ok ? r->element[0]->str : "0-0");
    *seq = ok ? reply_ll(r->element[1], INT64_MAX) : 0;
    if (!ok)
        LOG_WARN(NULL, "bayes: model %s: unexpected snapshot reply: %.100s", e->name,
                 r->type == STORE_REPLY_ERROR ? r->str : "wrong type");
    conn_reply_free(r);
    return 0;
}

/* The class totals of the model's sources other than "site" (meta's
 * nspam:X, nham:X) into 'ss'. Returns 0 or -1 (connection failed). */
static int load_source_totals(struct conn *c, const struct entry *e, struct srcset *ss)
{
    const char *argv[] = { "HGETALL", e->meta_key };
    struct store_reply *r = rcmd(c, 2, argv);
    if (conn_ok(c, r)) {
        conn_reply_free(r);
        return -1;
    }
    for (size_t i = 0; r->type == STORE_REPLY_ARRAY && i + 1 < r->elements; i += 2)
        if (r->element[i]->type == STORE_REPLY_STRING)
            source_total(ss, r->element[i]->str, reply_ll(r->element[i + 1], INT64_MAX));
    conn_reply_free(r);
    return 0;
}

/* Load model 'e' from Redis (see the top of this file) and swap it in.
 * Returns 0 (loaded, or to be tried again: need_load stays set), or -1
 * when the connection failed. */
static int load(struct conn *c, struct entry *e)
{
    int64_t t0 = mono_ms();
    char id[48];
    long long seq;
    if (snapshot(c, e, id, sizeof id, &seq))
        return -1;
    model *m = model_new();
    struct srcset ss = { .n = 0 };
    if (scan_class(c, e->spam_key, m, &ss, MODEL_SPAM) || scan_class(c, e->ham_key, m, &ss, MODEL_HAM) ||
        load_source_totals(c, e, &ss)) {
        model_free(m);
        srcset_free(&ss);
        return -1;
    }
    const char *argv[] = { "HMGET", e->meta_key, "nspam", "nham", "tok_version", "starter_id",
                           "calib_a", "calib_b", "fit_a", "fit_b", "fit_n", "calib_n", "calib_spam", "calib_ham" };
    size_t nf = sizeof argv / sizeof *argv - 2;
    struct store_reply *r = rcmd(c, (int)(nf + 2), argv);
    if (conn_ok(c, r)) {
        conn_reply_free(r);
        model_free(m);
        srcset_free(&ss);
        return -1;
    }
    /* The shipped starter is read only once it is whole: an instance is
     * storing it until starter_id is set (starter_ensure); meanwhile the
     * copy held, if any, stays, and the load is tried again. */
    if (strcmp(e->name, CFG_BAYES_STARTER) == 0 &&
        (r->type != STORE_REPLY_ARRAY || r->elements != nf || r->element[3]->type != STORE_REPLY_STRING)) {
        conn_reply_free(r);
        model_free(m);
        srcset_free(&ss);
        return 0;
    }
    int ver = 0;
    struct calib_state cal;
    calib_clear(&cal);
    if (r->type == STORE_REPLY_ARRAY && r->elements == nf) {
        model_set_totals(m, (uint64_t)reply_ll(r->element[0], INT64_MAX), (uint64_t)reply_ll(r->element[1], INT64_MAX));
        ver = (int)reply_ll(r->element[2], 1000000);
        for (size_t i = 4; i < nf; i++)
            calib_field(&cal, argv[i + 2], r->element[i]);
    }
    conn_reply_free(r);
    /* Replay what happened since the snapshot. */
    int gap = 0;
    for (;;) {
        char from[56];
        snprintf(from, sizeof from, "(%s", id);
        const char *xa[] = { "XRANGE", e->events_key, from, "+", "COUNT", "200" };
        r = rcmd(c, 6, xa);
        if (conn_ok(c, r)) {
            conn_reply_free(r);
            model_free(m);
            srcset_free(&ss);
            return -1;
        }
        size_t n = r->type == STORE_REPLY_ARRAY ? r->elements : 0;
        for (size_t i = 0; i < n && !gap; i++) {
            const struct store_reply *ent = r->element[i];
            long long s = event_seq(ent);
            if (s < 0) {
                apply_calib_event(ent, &cal);
                snprintf(id, sizeof id, "%s", ent->element[0]->str);
                continue;
            }
            if (s != seq + 1) {
                gap = 1; /* trimmed under our feet: start over */
                break;
            }
            apply_event(m, &ss, ent, &ver, &cal);
            seq = s;
            snprintf(id, sizeof id, "%s", ent->element[0]->str);
        }
        conn_reply_free(r);
        if (gap || n < READ_COUNT)
            break;
    }
    if (gap) {
        model_free(m);
        srcset_free(&ss);
        LOG_WARN(NULL, "bayes: model %s changed faster than it loaded; loading again", e->name);
        return 0;
    }
    if (!ver)
        ver = model_tokens(m) ? TOK_VERSION : 0;
    pthread_rwlock_wrlock(&e->lock);
    model *old = e->m;
    struct srcset olds = e->src;
    e->m = m;
    e->src = ss;
    e->tok_version = ver;
    e->cal = cal;
    pthread_rwlock_unlock(&e->lock);
    model_free(old);
    srcset_free(&olds);
    snprintf(e->last_id, sizeof e->last_id, "%s", id);
    atomic_store(&e->seq, seq);
    atomic_store(&e->synced_ms, mono_ms());
    e->need_load = 0;
    uint64_t ns, nh;
    model_totals(m, &ns, &nh);
    LOG_INFO(NULL, "bayes: model %s loaded: %llu spam, %llu ham, %zu tokens, %zu other sources, seq %lld, %lld ms",
             e->name, (unsigned long long)ns, (unsigned long long)nh, model_tokens(m), ss.n, seq,
             (long long)(mono_ms() - t0));
    return 0;
}

/* ---------- storing and fitting a calibration ---------- */

/* Store a calibration of model 'e' (calib_put.lua): 'kind' "fit", with
 * 'n' the calib_n its entries were read at ('cal' NULL: the fit failed,
 * so that it is not tried again before CALIB_REFIT more changes), or
 * "stored" (shipped with a model file). Returns 1 written, 0 not (a
 * fit of the same or newer entries is there), -1 when Redis failed or
 * refused (conn_error says whether the connection is gone). */
static int calib_put(struct conn *c, const struct entry *e, const char *kind, const struct bayes_calib *cal,
                     long long n)
{
    char a[32] = "", b[32] = "", ns[24], maxlen[16];
    if (cal) {
        snprintf(a, sizeof a, "%.17g", cal->a);
        snprintf(b, sizeof b, "%.17g", cal->b);
    }
    snprintf(ns, sizeof ns, "%lld", n);
    snprintf(maxlen, sizeof maxlen, "%d", STREAM_MAXLEN);
    const char *argv[] = { "EVAL", CALIB_PUT_LUA, "2", e->meta_key, e->events_key, kind, a, b, ns, maxlen };
    struct store_reply *r = rcmd(c, 10, argv);
    int rc = -1;
    if (!conn_ok(c, r) && r->type == STORE_REPLY_INTEGER)
        rc = r->integer == 1;
    else if (r && r->type == STORE_REPLY_ERROR)
        LOG_WARN(NULL, "bayes: model %s: storing its calibration: %.200s", e->name, r->str);
    conn_reply_free(r);
    return rc;
}

/* A calibration entry read for fitting. */
struct fit_row {
    const char *fp;              /* borrowed from the reply */
    double z;
    unsigned char spam;
};

static int by_fp(const void *a, const void *b)
{
    return strcmp(((const struct fit_row *)a)->fp, ((const struct fit_row *)b)->fp);
}

/* Fit model 'e''s calibration to its entries (calib_read.lua) and store
 * it (calib_put). The entries are sorted by fingerprint first, so that
 * the same entries give the same bits whoever fits them. An entry that
 * does not parse (hand-edited) is left out. Returns 0, or -1 when the
 * connection failed. */
static int fit_one(struct conn *c, struct entry *e)
{
    char key[160];
    key_of(key, sizeof key, e->name, "calib");
    const char *argv[] = { "EVAL", CALIB_READ_LUA, "2", e->meta_key, key };
    struct store_reply *r = rcmd(c, 5, argv);
    if (conn_ok(c, r)) {
        conn_reply_free(r);
        return -1;
    }
    if (r->type != STORE_REPLY_ARRAY || r->elements != 2 || r->element[1]->type != STORE_REPLY_ARRAY) {
        LOG_WARN(NULL, "bayes: model %s: unexpected calibration entries reply", e->name);
        conn_reply_free(r);
        return 0;
    }
    long long n = reply_ll(r->element[0], INT64_MAX);
    const struct store_reply *h = r->element[1];
    size_t cap = h->elements / 2, k = 0, nspam = 0;
    struct fit_row *rows = xmalloc((cap ? cap : 1) * sizeof *rows);
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const struct store_reply *f = h->element[i], *v = h->element[i + 1];
        if (f->type != STORE_REPLY_STRING || v->type != STORE_REPLY_STRING)
            continue;
        char *end;
        double z = strtod(v->str, &end);
        if (end == v->str || *end != ' ' || !isfinite(z) || (strcmp(end + 1, "spam") && strcmp(end + 1, "ham")))
            continue;
        rows[k] = (struct fit_row){ f->str, z, (unsigned char)(strcmp(end + 1, "spam") == 0) };
        nspam += rows[k++].spam;
    }
    qsort(rows, k, sizeof *rows, by_fp);
    double *z = xmalloc((k ? k : 1) * sizeof *z);
    unsigned char *y = xmalloc(k ? k : 1);
    for (size_t i = 0; i < k; i++) {
        z[i] = rows[i].z;
        y[i] = rows[i].spam;
    }
    struct bayes_calib cal;
    int fitted = bayes_fit_calib(z, y, NULL, k, &cal) == 0;
    free(z);
    free(y);
    free(rows);
    conn_reply_free(r);
    e->fit_tried_n = n;
    int put = calib_put(c, e, "fit", fitted ? &cal : NULL, n);
    if (put < 0 && conn_error(c))
        return -1;
    if (put == 1 && fitted)
        LOG_INFO(NULL, "bayes: model %s: calibration fitted on %zu spam and %zu ham scores: a %.4f, b %.4f",
                 e->name, nspam, k - nspam, cal.a, cal.b);
    else if (put == 1)
        LOG_INFO(NULL, "bayes: model %s: its %zu scores do not rank spam higher: no calibration of its own",
                 e->name, k);
    return 0;
}

/* Fit every loaded model whose calibration entries hold CALIB_MIN_LABELS
 * of each label and changed CALIB_REFIT times or more since its fit (at
 * its load too, when the fit stored is older). The fit comes back here as
 * every instance gets it, by its event. Returns 0, or -1 when the
 * connection failed. */
static int refit(struct conn *c)
{
    for (size_t i = 0; i < ntab; i++) {
        struct entry *e = tab[i];
        if (e->need_load)
            continue;
        pthread_rwlock_rdlock(&e->lock);
        struct calib_state cs = e->cal;
        pthread_rwlock_unlock(&e->lock);
        if (cs.n - cs.fit_n >= CALIB_REFIT && cs.n != e->fit_tried_n && cs.nspam >= CALIB_MIN_LABELS &&
            cs.nham >= CALIB_MIN_LABELS && fit_one(c, e))
            return -1;
    }
    return 0;
}

/* ---------- storing the shipped starter ---------- */

/* The lock an instance holds while it stores the starter: long enough
 * for a slow Redis (storing takes about a second, see api.md section 7),
 * short enough that a crash midway is repaired by the next start soon. */
#define STORE_LOCK_MS 60000

/* Raw calls in flight while storing: each carries TOK_MAX tokens, so a
 * window of 16 keeps a few MB queued, and each reply within the sync
 * connection's command timeout. */
#define STORE_WINDOW 16

/* The "calibration" {"a","b",...} of a model file's header 'head' into
 * 'out'. Returns 1, 0 when it has none (absent or null), or -1 when it
 * is not a usable calibration. */
static int header_calib(json_t *head, struct bayes_calib *out)
{
    json_t *c = json_object_get(head, "calibration");
    if (!c || json_is_null(c))
        return 0;
    json_t *a = json_object_get(c, "a"), *b = json_object_get(c, "b");
    if (!json_is_number(a) || !json_is_number(b) || !calib_ok(json_number_value(a), json_number_value(b)))
        return -1;
    *out = (struct bayes_calib){ json_number_value(a), json_number_value(b) };
    return 1;
}

/* The compiled-in starter's calibration (its header's, the first line)
 * into 'cal': NAN both when it has none. */
static void starter_calib(const char *p, size_t len, struct bayes_calib *cal)
{
    const char *nl = memchr(p, '\n', len);
    json_error_t je;
    json_t *o = json_loadb(p, nl ? (size_t)(nl - p) : len, 0, &je);
    *cal = (struct bayes_calib){ NAN, NAN };
    if (header_calib(o, cal) < 0) {
        LOG_WARN(NULL, "bayes: the compiled-in starter's calibration is not usable; checks use the default");
        *cal = (struct bayes_calib){ NAN, NAN };
    }
    json_decref(o);
}

/* Parse the compiled-in starter (a header, then {"t","s","h"} lines) into
 * a new model; NULL, with the reason logged, when it is malformed or of
 * another tokenizer version (neither happens with the Makefile's build). */
static model *starter_parse(const char *p, size_t len)
{
    model *m = model_new();
    long long ns = -1, nh = -1;
    size_t lineno = 0;
    for (const char *end = p + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        lineno++;
        json_error_t je;
        json_t *o = n ? json_loadb(p, n, 0, &je) : NULL;
        p += n + 1;
        if (!n)
            continue;
        json_t *t = json_object_get(o, "t"), *v = json_object_get(o, "tok_version");
        uint64_t h;
        if (lineno == 1 && json_is_integer(v) && json_integer_value(v) == TOK_VERSION) {
            ns = json_integer_value(json_object_get(o, "nspam"));
            nh = json_integer_value(json_object_get(o, "nham"));
        } else if (lineno > 1 && json_is_string(t) &&
                   parse_hex16(json_string_value(t), json_string_length(t), &h) == 0) {
            model_set(m, h, MODEL_SPAM, (uint32_t)json_integer_value(json_object_get(o, "s")));
            model_set(m, h, MODEL_HAM, (uint32_t)json_integer_value(json_object_get(o, "h")));
        } else {
            LOG_ERROR(NULL, "bayes: the compiled-in starter model is not usable (line %zu): "
                      "rebuild modgate", lineno);
            json_decref(o);
            model_free(m);
            return NULL;
        }
        json_decref(o);
    }
    if (ns < 0 || nh < 0) {
        model_free(m);
        return NULL;
    }
    model_set_totals(m, (uint64_t)ns, (uint64_t)nh);
    return m;
}

/* Read a reply; 0 when it is not an error (nor missing). */
static int reply_ok(struct conn *c)
{
    struct store_reply *r = conn_get_reply(c);
    int ok = r && !conn_error(c) && r->type != STORE_REPLY_ERROR &&
             !(r->type == STORE_REPLY_ARRAY && r->elements == 2); /* {"version", v} */
    if (r && r->type == STORE_REPLY_ERROR)
        LOG_WARN(NULL, "bayes: storing the starter: %.200s", r->str);
    conn_reply_free(r);
    return ok ? 0 : -1;
}

/* Write model 'm' as model 'name' with the learn script's raw calls
 * (which also send the events every instance follows), the totals with
 * the first. Returns 0 or -1. */
static int store_raw(struct conn *c, const char *name, const model *m)
{
    struct learn_cmd *lc = xmalloc(sizeof *lc);
    char sha[41];
    pthread_mutex_lock(&sha_mu);
    memcpy(sha, learn_sha, sizeof sha);
    pthread_mutex_unlock(&sha_mu);
    uint64_t ns, nh, h[TOK_MAX];
    uint32_t sp[TOK_MAX], hm[TOK_MAX];
    model_totals(m, &ns, &nh);
    size_t it = 0, k = 0;
    int more = 1, inflight = 0, rc = 0, first = 1;
    while (more && rc == 0) {
        more = model_next(m, &it, &h[k], &sp[k], &hm[k]);
        k += more;
        if (k == TOK_MAX || (!more && (k || first))) {
            lc_raw(lc, name, h, sp, hm, k, first ? (long long)ns : 0, first ? (long long)nh : 0, NULL, sha);
            first = 0;
            k = 0;
            if (inflight == STORE_WINDOW) {
                rc = reply_ok(c);
                inflight--;
            }
            conn_append_argv(c, lc->argc, lc->argv, lc->lens);
            inflight++;
        }
    }
    while (inflight-- > 0)
        rc |= reply_ok(c);
    free(lc);
    return rc;
}

/* Make Redis hold the compiled-in starter as model 'e' (its name is
 * CFG_BAYES_STARTER), unless it holds this very one already (meta's
 * starter_id): one instance, the one that takes the lock, deletes what is
 * there (another build's, another tokenizer version's, a half-stored one)
 * and stores it; the others go on and load what is there, then follow
 * its events. Called by the starter thread. Returns 0, or -1 when the
 * connection failed. */
static int starter_ensure(struct conn *c, const struct entry *e)
{
    size_t len = (size_t)(bayesdb_starter_end - bayesdb_starter_begin);
    if (!len)
        return 0; /* the build tool that makes the starter */
    unsigned char dg[16];
    char id[33];
    crypto_generichash(dg, sizeof dg, (const unsigned char *)bayesdb_starter_begin, len, NULL, 0);
    for (size_t i = 0; i < sizeof dg; i++) {
        id[2 * i] = hexd[dg[i] >> 4];
        id[2 * i + 1] = hexd[dg[i] & 15];
    }
    id[32] = 0;
    struct bayes_calib cal;
    starter_calib(bayesdb_starter_begin, len, &cal);
    const char *get[] = { "HMGET", e->meta_key, "starter_id", "calib_a" };
    struct store_reply *r = rcmd(c, 4, get);
    if (conn_ok(c, r)) {
        conn_reply_free(r);
        return -1;
    }
    int ok = r->type == STORE_REPLY_ARRAY && r->elements == 2;
    int have = ok && r->element[0]->type == STORE_REPLY_STRING && strcmp(r->element[0]->str, id) == 0;
    int have_cal = ok && r->element[1]->type == STORE_REPLY_STRING;
    conn_reply_free(r);
    /* Stored by a build before the calibration was kept: added, with an
     * event for the instances that hold it already. */
    if (have && !have_cal && calib_ok(cal.a, cal.b))
        return calib_put(c, e, "stored", &cal, 0) < 0 && conn_error(c) ? -1 : 0;
    if (have)
        return 0;
    char lock[160], ms[16];
    key_of(lock, sizeof lock, e->name, "storing");
    snprintf(ms, sizeof ms, "%d", STORE_LOCK_MS);
    const char *set[] = { "SET", lock, id, "NX", "PX", ms };
    r = rcmd(c, 6, set);
    if (conn_ok(c, r)) {
        conn_reply_free(r);
        return -1;
    }
    int mine = r->type == STORE_REPLY_STATUS;
    conn_reply_free(r);
    if (!mine) {
        LOG_INFO(NULL, "bayes: another instance is storing the starter model %s", e->name);
        return 0;
    }
    int64_t t0 = mono_ms();
    model *m = starter_parse(bayesdb_starter_begin, len);
    if (!m)
        return 0;
    const char *del[] = { "DEL", e->spam_key, e->ham_key, e->meta_key, e->events_key };
    r = rcmd(c, 5, del);
    int rc = conn_ok(c, r);
    conn_reply_free(r);
    if (rc == 0 && store_raw(c, e->name, m) == 0) {
        /* The stream's events hold every token once more: kept short, it
         * costs Redis a few entries, not a second copy of the model. An
         * instance that was following it loads the model again. */
        /* Its calibration with the mark: whoever loads it (only once
         * marked, load) reads both. */
        char ca[32], cb[32];
        snprintf(ca, sizeof ca, "%.17g", cal.a);
        snprintf(cb, sizeof cb, "%.17g", cal.b);
        const char *mark[] = { "HSET", e->meta_key, "starter_id", id, "calib_a", ca, "calib_b", cb };
        const char *trim[] = { "XTRIM", e->events_key, "MAXLEN", "1" };
        const char *unlock[] = { "DEL", lock };
        conn_append_argv(c, calib_ok(cal.a, cal.b) ? 8 : 4, mark, NULL);
        conn_append_argv(c, 4, trim, NULL);
        conn_append_argv(c, 2, unlock, NULL);
        rc = reply_ok(c) | reply_ok(c) | reply_ok(c);
        if (rc == 0)
            LOG_INFO(NULL, "bayes: stored the starter model %s: %zu tokens, %lld ms", e->name, model_tokens(m),
                     (long long)(mono_ms() - t0));
    }
    model_free(m);
    return rc == 0 || !conn_error(c) ? 0 : -1;
}

/* The starter thread: while some site reads the shipped starter, make
 * sure Redis holds it (starter_ensure) at start and every VERIFY_MS after
 * (one HGET: a flushed Redis gets it back), on a connection of its own,
 * so that storing it never holds up the sync thread's following of the
 * sites' own models. */
static pthread_t starter_thr;
static int starter_running;

static int starter_wanted(void)
{
    int w = 0;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < nwanted && !w; i++)
        w = strcmp(wanted[i], CFG_BAYES_STARTER) == 0;
    pthread_mutex_unlock(&mu);
    return w;
}

static void *starter_main(void *arg)
{
    (void)arg;
    struct entry *e = entry_new(CFG_BAYES_STARTER);
    struct conn *c = NULL;
    unsigned gen = 0;
    while (!atomic_load(&quit)) {
        pthread_mutex_lock(&mu);
        struct redis_target t = target;
        int cms = connect_ms, kms = command_ms, rms = retry_ms;
        unsigned g = target_gen + sentinel_gen(); /* the config's target, or the master, moved */
        pthread_mutex_unlock(&mu);
        if (c && g != gen)
            drop_published(&c, &starter_conn);
        int wait_ms = VERIFY_MS;
        if (starter_wanted()) {
            char err[200];
            if (!c) {
                /* Storing queues STORE_WINDOW raw calls: a reply may wait
                 * for the ones before it, so the timeout is generous. A
                 * stop shuts its socket down: a Redis that hangs does not
                 * hold the stop for that long. */
                c = connect_blocking(&t, cms, kms > 5000 ? kms : 5000, &starter_conn, err, sizeof err);
                gen = g;
            }
            if (c && starter_ensure(c, e))
                drop_published(&c, &starter_conn);
            if (!c)
                wait_ms = rms; /* the sync thread logs why Redis is away */
        }
        sodium_memzero(&t, sizeof t);
        for (int slept = 0; slept < wait_ms && !atomic_load(&quit); slept += 50) {
            struct timespec ts = { 0, 50 * 1000000L };
            nanosleep(&ts, NULL);
        }
    }
    if (c)
        drop_published(&c, &starter_conn);
    entry_free(e);
    return NULL;
}

/* Compare each model's seq with Redis's: a flush or rollback sends no
 * event, so it is found here. Returns 0 or -1 (connection failed). */
static int verify(struct conn *c)
{
    for (size_t i = 0; i < ntab; i++) {
        struct entry *e = tab[i];
        if (e->need_load)
            continue;
        char id[48];
        long long seq;
        if (snapshot(c, e, id, sizeof id, &seq))
            return -1;
        long long mine = atomic_load(&e->seq);
        /* Redis behind us, or ahead with a stream that did not move on
         * (deleted, or ids gone backwards): what we hold is not Redis's. */
        if (seq < mine || (seq > mine && id_cmp(id, e->last_id) <= 0)) {
            LOG_WARN(NULL, "bayes: model %s in Redis is at seq %lld, this copy at %lld; loading again", e->name,
                     seq, mine);
            e->need_load = 1;
        }
    }
    return 0;
}

/* One XREAD BLOCK on every loaded model's stream; apply what comes.
 * Returns 0 or -1 (connection failed). */
static int follow(struct conn *c)
{
    size_t n = 0;
    for (size_t i = 0; i < ntab; i++)
        n += !tab[i]->need_load;
    if (n == 0) {
        pthread_mutex_lock(&mu);
        if (!atomic_load(&quit) && !wanted_changed) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += BLOCK_MS * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&wake, &mu, &ts);
        }
        pthread_mutex_unlock(&mu);
        return 0;
    }
    int argc = 6 + 2 * (int)n;
    const char **argv = xmalloc((size_t)argc * sizeof *argv);
    size_t *lens = xmalloc((size_t)argc * sizeof *lens);
    struct entry **who = xmalloc(n * sizeof *who);
    char block[16];
    snprintf(block, sizeof block, "%d", BLOCK_MS);
    argv[0] = "XREAD";
    argv[1] = "COUNT";
    argv[2] = "200";
    argv[3] = "BLOCK";
    argv[4] = block;
    argv[5] = "STREAMS";
    size_t k = 0;
    for (size_t i = 0; i < ntab; i++)
        if (!tab[i]->need_load)
            who[k++] = tab[i];
    for (size_t i = 0; i < n; i++) {
        argv[6 + i] = who[i]->events_key;
        argv[6 + n + i] = who[i]->last_id;
    }
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    struct store_reply *r = conn_command_argv(c, argc, argv, lens);
    free(argv);
    free(lens);
    if (conn_ok(c, r)) {
        conn_reply_free(r);
        free(who);
        return -1;
    }
    int64_t now = mono_ms();
    if (r->type == STORE_REPLY_ARRAY) {
        for (size_t s = 0; s < r->elements; s++) {
            const struct store_reply *st = r->element[s];
            if (st->type != STORE_REPLY_ARRAY || st->elements != 2 || st->element[0]->type != STORE_REPLY_STRING ||
                st->element[1]->type != STORE_REPLY_ARRAY)
                continue;
            struct entry *e = NULL;
            for (size_t i = 0; i < n; i++)
                if (strcmp(who[i]->events_key, st->element[0]->str) == 0)
                    e = who[i];
            if (!e)
                continue;
            const struct store_reply *ents = st->element[1];
            pthread_rwlock_wrlock(&e->lock);
            for (size_t i = 0; i < ents->elements; i++) {
                const struct store_reply *ent = ents->element[i];
                long long sq = event_seq(ent), mine = atomic_load(&e->seq);
                if (sq < 0) { /* a calibration stored */
                    apply_calib_event(ent, &e->cal);
                    snprintf(e->last_id, sizeof e->last_id, "%s", ent->element[0]->str);
                    continue;
                }
                if (sq != mine + 1) {
                    if (sq > mine + 1 || sq == 1) { /* trimmed past us, or Redis started afresh */
                        LOG_WARN(NULL, "bayes: model %s: event seq %lld after %lld; loading again", e->name, sq,
                                 mine);
                        e->need_load = 1;
                        break;
                    }
                    /* seq <= mine: already applied */
                } else {
                    apply_event(e->m, &e->src, ent, &e->tok_version, &e->cal);
                    atomic_store(&e->seq, sq);
                }
                snprintf(e->last_id, sizeof e->last_id, "%s", ent->element[0]->str);
            }
            pthread_rwlock_unlock(&e->lock);
        }
    }
    conn_reply_free(r);
    for (size_t i = 0; i < n; i++)
        if (!who[i]->need_load)
            atomic_store(&who[i]->synced_ms, now);
    free(who);
    return 0;
}

static void *sync_main(void *arg)
{
    (void)arg;
    struct conn *c = NULL;
    unsigned gen = 0;
    int64_t next_verify = 0;
    int64_t down_logged = 0;
    while (!atomic_load(&quit)) {
        apply_wanted();
        pthread_mutex_lock(&mu);
        struct redis_target t = target;
        int cms = connect_ms, kms = command_ms, rms = retry_ms;
        unsigned g = target_gen + sentinel_gen(); /* the config's target, or the master, moved */
        pthread_mutex_unlock(&mu);
        if (c && g != gen)
            drop_sync_conn(&c);
        if (!c) {
            char err[200];
            /* XREAD BLOCK holds its answer for up to BLOCK_MS. */
            c = connect_blocking(&t, cms, kms + BLOCK_MS, &live_conn, err, sizeof err);
            sodium_memzero(&t, sizeof t);
            if (!c) {
                if (!down_logged)
                    LOG_WARN(NULL, "bayes: model sync: %s; retrying every %d ms", err, rms);
                down_logged = 1;
                fire_waiters(1); /* nothing will arrive: answer them now */
                pthread_mutex_lock(&mu);
                if (!atomic_load(&quit)) {
                    struct timespec ts;
                    clock_gettime(CLOCK_REALTIME, &ts);
                    ts.tv_nsec += (long)rms * 1000000L;
                    ts.tv_sec += ts.tv_nsec / 1000000000L;
                    ts.tv_nsec %= 1000000000L;
                    pthread_cond_timedwait(&wake, &mu, &ts);
                }
                pthread_mutex_unlock(&mu);
                continue;
            }
            if (down_logged)
                LOG_INFO(NULL, "bayes: model sync connected to redis again");
            down_logged = 0;
            gen = g;
            atomic_store(&connected, 1);
            next_verify = 0; /* after a reconnect: did Redis lose anything? */
        }
        sodium_memzero(&t, sizeof t);
        int rc = 0;
        for (size_t i = 0; i < ntab && rc == 0 && !atomic_load(&quit); i++)
            if (tab[i]->need_load)
                rc = load(c, tab[i]);
        if (rc == 0 && mono_ms() >= next_verify) {
            rc = verify(c);
            next_verify = mono_ms() + VERIFY_MS;
        }
        if (rc == 0 && !atomic_load(&quit))
            rc = follow(c);
        if (rc == 0 && !atomic_load(&quit))
            rc = refit(c);
        if (rc) {
            if (!atomic_load(&quit))
                LOG_WARN(NULL, "bayes: model sync lost redis: %s", conn_error(c) ? conn_error(c) : "bad reply");
            down_logged = 1;
            drop_sync_conn(&c);
            fire_waiters(1);
            continue;
        }
        fire_waiters(0);
    }
    if (c)
        drop_sync_conn(&c);
    return NULL;
}

/* ---------- serving ---------- */

void bayesdb_configure(const struct cfg *c)
{
    pthread_once(&init_once, init_locks);
    char (*w)[65] = xcalloc(3 * c->nsites + 1, sizeof *w);
    size_t n = 0;
    for (size_t i = 0; i < c->nsites; i++) {
        const struct bayes_site_cfg *b = &c->sites[i].bayes;
        const char *names[3] = { b->model, b->fallback, b->starter_weight > 0 ? b->starter : "" };
        for (int j = 0; j < 3; j++) {
            if (!names[j][0])
                continue;
            int seen = 0;
            for (size_t k = 0; k < n; k++)
                seen |= strcmp(w[k], names[j]) == 0;
            if (!seen)
                snprintf(w[n++], sizeof w[0], "%s", names[j]);
        }
    }
    pthread_mutex_lock(&mu);
    free(wanted);
    wanted = w;
    nwanted = n;
    wanted_changed = 1;
    if (memcmp(&target, &c->redis, sizeof target) != 0 || connect_ms != c->redis_connect_timeout_ms ||
        command_ms != c->redis_command_timeout_ms)
        target_gen++;
    target = c->redis;
    connect_ms = c->redis_connect_timeout_ms;
    command_ms = c->redis_command_timeout_ms;
    retry_ms = c->redis_retry_ms;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&mu);
}

int bayesdb_start(const struct cfg *c)
{
    bayesdb_configure(c);
    atomic_store(&quit, 0);
    if (pthread_create(&sync_thr, NULL, sync_main, NULL) != 0)
        return -1;
    running = 1;
    starter_running = pthread_create(&starter_thr, NULL, starter_main, NULL) == 0;
    return starter_running ? 0 : -1;
}

void bayesdb_stop(void)
{
    if (running) {
        atomic_store(&quit, 1);
        pthread_mutex_lock(&mu);
        if (live_conn) /* cut short a blocking XREAD or a load */
            conn_cut(live_conn);
        pthread_cond_signal(&wake);
        pthread_mutex_unlock(&mu);
        pthread_join(sync_thr, NULL);
        running = 0;
    }
    if (starter_running) { /* quit is set: it stops within 50 ms, its Redis call cut short */
        atomic_store(&quit, 1);
        pthread_mutex_lock(&mu);
        if (starter_conn)
            conn_cut(starter_conn);
        pthread_mutex_unlock(&mu);
        pthread_join(starter_thr, NULL);
        starter_running = 0;
    }
    fire_waiters(1);
    pthread_once(&init_once, init_locks);
    pthread_rwlock_wrlock(&tab_lock);
    for (size_t i = 0; i < ntab; i++)
        entry_free(tab[i]);
    free(tab);
    tab = NULL;
    ntab = 0;
    pthread_rwlock_unlock(&tab_lock);
    pthread_mutex_lock(&mu);
    free(wanted);
    wanted = NULL;
    nwanted = 0;
    wanted_changed = 1;
    sodium_memzero(&target, sizeof target); /* holds the password */
    pthread_mutex_unlock(&mu);
}

/* Add the class totals of the sources in 'ss' to *ns and *nh. */
static void srcset_totals(const struct srcset *ss, uint64_t *ns, uint64_t *nh)
{
    for (size_t i = 0; i < ss->n; i++) {
        uint64_t s, h;
        model_totals(ss->v[i].m, &s, &h);
        *ns += s;
        *nh += h;
    }
}

/* The class totals of entry 'e' (0 when not held or not loaded), every
 * source's. */
static void entry_totals(struct entry *e, uint64_t *ns, uint64_t *nh)
{
    *ns = *nh = 0;
    if (!e)
        return;
    pthread_rwlock_rdlock(&e->lock);
    if (e->m)
        model_totals(e->m, ns, nh);
    srcset_totals(&e->src, ns, nh);
    pthread_rwlock_unlock(&e->lock);
}

/* Which model a check of 'site' reads, under tab_lock (read side): its
 * own once that has 'need' learned comments per class of its own; before
 * that its fallback if that has them; else its own anyway (the starter
 * may make up the difference). *starter: the starter entry, NULL when the
 * site reads none (starter_weight 0, or not held yet). */
static const char *pick(const struct site_cfg *site, uint64_t need, struct entry **primary,
                        struct entry **starter)
{
    const struct bayes_site_cfg *b = &site->bayes;
    uint64_t ns, nh;
    const char *name = b->model;
    entry_totals(find(b->model), &ns, &nh);
    if ((ns < need || nh < need) && b->fallback[0]) {
        entry_totals(find(b->fallback), &ns, &nh);
        if (ns >= need && nh >= need)
            name = b->fallback;
    }
    *primary = find(name);
    *starter = b->starter_weight > 0 ? find(b->starter) : NULL;
    return name;
}

/* The calibration a check reads with model entry 'pe' and starter entry
 * 'se' (either may be NULL; both read-locked): the read model's own, else
 * its starter's, else bayes_calib_default. Returns where it came from:
 * "site", "import", "starter" or "default". */
static const char *calib_pick(const struct entry *pe, const struct entry *se, struct bayes_calib *out)
{
    const char *from = pe ? calib_own(&pe->cal, out) : NULL;
    if (from)
        return from;
    if (se && calib_own(&se->cal, out))
        return "starter";
    *out = bayes_calib_default;
    return "default";
}

/* Lock 'e' for reading and return its model: the empty model when 'e' is
 * NULL, not loaded, or holds tokens of another tokenizer version (its
 * counts would not mean what these tokens mean: api.md 3.4). Unlock with
 * read_end(e). */
static const model *read_begin(struct entry *e)
{
    if (!e)
        return empty_model;
    pthread_rwlock_rdlock(&e->lock);
    return e->m && (!e->tok_version || e->tok_version == TOK_VERSION) ? e->m : empty_model;
}

static void read_end(struct entry *e)
{
    if (e)
        pthread_rwlock_unlock(&e->lock);
}

/* The blend a check of 'site' reads (the scales of the starter, the
 * totals of the blend); 'st' may be NULL (empty_model: no starter). */
static void blend_of(const struct site_cfg *site, const model *m, const model *st, double *sc_spam,
                     double *sc_ham, double *ns, double *nh)
{
    uint64_t ss = 0, sh = 0;
    if (st)
        model_totals(st, &ss, &sh);
    *sc_spam = model_blend_scale(ss, site->bayes.starter_weight);
    *sc_ham = model_blend_scale(sh, site->bayes.starter_weight);
    model_totals_blend(m, st, *sc_spam, *sc_ham, ns, nh);
}

/* What a check reads of a model with sources besides "site" (api.md
 * 3.4): the sources' tables, "site" first, at their factors per class
 * (model_balance over their class totals with 'need' the site's
 * min_learns), then the starter, if any, at its scales; and the totals of
 * that blend. A model with "site" alone is read by blend_of and
 * model_get_blend, exactly as before sources existed. */
struct srcread {
    const model *ms[BAYESDB_MAX_SOURCES + 1];
    double fs[BAYESDB_MAX_SOURCES + 1], fh[BAYESDB_MAX_SOURCES + 1];
    uint64_t ts[BAYESDB_MAX_SOURCES + 1], th[BAYESDB_MAX_SOURCES + 1]; /* class totals */
    size_t n;                    /* models read, the starter included */
    size_t nsrc;                 /* of which sources */
    double ns, nh;               /* the blend's class totals */
};

static void srcread_of(double starter_weight, uint64_t need, const model *m, const struct srcset *ss,
                       const model *st, struct srcread *rd, double *sc_spam, double *sc_ham)
{
    rd->ms[0] = m;
    model_totals(m, &rd->ts[0], &rd->th[0]);
    for (size_t i = 0; i < ss->n; i++) {
        rd->ms[i + 1] = ss->v[i].m;
        model_totals(ss->v[i].m, &rd->ts[i + 1], &rd->th[i + 1]);
    }
    size_t k = rd->nsrc = ss->n + 1;
    model_balance(rd->ts, k, need, rd->fs);
    model_balance(rd->th, k, need, rd->fh);
    rd->ns = rd->nh = 0;
    for (size_t j = 0; j < k; j++) {
        rd->ns += rd->fs[j] * (double)rd->ts[j];
        rd->nh += rd->fh[j] * (double)rd->th[j];
    }
    uint64_t ss_n = 0, sh_n = 0;
    if (st)
        model_totals(st, &ss_n, &sh_n);
    *sc_spam = model_blend_scale(ss_n, starter_weight);
    *sc_ham = model_blend_scale(sh_n, starter_weight);
    rd->n = k;
    if (st) {
        rd->ms[k] = st;
        rd->fs[k] = *sc_spam;
        rd->fh[k] = *sc_ham;
        rd->n = k + 1;
        rd->ns += *sc_spam * (double)ss_n;
        rd->nh += *sc_ham * (double)sh_n;
    }
}

/* The blend of 'site' as blend_of computes it, through srcread_of into
 * 'rd' when entry 'pe' (whose model 'm' is) has other sources than
 * "site". Returns 1 when it did, else 0. Under pe's read lock. */
static int read_blend(const struct site_cfg *site, uint64_t need, const struct entry *pe, const model *m,
                      const model *st, struct srcread *rd, double *sc_spam, double *sc_ham, double *ns,
                      double *nh)
{
    if (!pe || m == empty_model || !pe->src.n) {
        blend_of(site, m, st, sc_spam, sc_ham, ns, nh);
        return 0;
    }
    srcread_of(site->bayes.starter_weight, need, m, &pe->src, st, rd, sc_spam, sc_ham);
    *ns = rd->ns;
    *nh = rd->nh;
    return 1;
}

int bayesdb_classify(const struct site_cfg *site, const tok_list *tl, struct bayes_result *out,
                     const char **model_used)
{
    memset(out, 0, sizeof *out);
    out->p = 0.5;
    *model_used = NULL;
    if (!site->bayes.enabled)
        return -1;
    const struct bayes_params *bp = &site->bayes.params;
    size_t n = tok_count(tl);
    if (n > BAYES_MAX_TOKENS)
        n = BAYES_MAX_TOKENS;
    double spam[BAYES_MAX_TOKENS], ham[BAYES_MAX_TOKENS];
    uint64_t need = bp->min_learns > 0 ? (uint64_t)bp->min_learns : 1;
    pthread_once(&init_once, init_locks);
    pthread_rwlock_rdlock(&tab_lock);
    struct entry *pe, *se;
    const char *name = pick(site, need, &pe, &se);
    /* Two read locks at once: the sync thread write-locks one entry at a
     * time, so this cannot deadlock. */
    const model *m = read_begin(pe), *st = se ? read_begin(se) : NULL;
    double ss, sh, ns, nh;
    struct srcread sr;
    int sources = read_blend(site, need, pe, m, st, &sr, &ss, &sh, &ns, &nh);
    if (ns >= (double)need && nh >= (double)need) {
        struct bayes_calib cal;
        calib_pick(pe, se, &cal);
        if (sources)
            model_get_sum(sr.ms, sr.fs, sr.fh, sr.n, tok_hashes(tl), n, spam, ham);
        else
            model_get_blend(m, st, ss, sh, tok_hashes(tl), n, spam, ham);
        bayes_classify(bp, &cal, spam, ham, n, tok_lead(tl), ns, nh, out);
        *model_used = name;
    }
    if (se)
        read_end(se);
    read_end(pe);
    pthread_rwlock_unlock(&tab_lock);
    return 0;
}

void bayesdb_reading(const struct site_cfg *site, struct bayesdb_reading *out)
{
    memset(out, 0, sizeof *out);
    uint64_t need = site->bayes.params.min_learns > 0 ? (uint64_t)site->bayes.params.min_learns : 1;
    pthread_once(&init_once, init_locks);
    pthread_rwlock_rdlock(&tab_lock);
    struct entry *pe, *se;
    out->model = pick(site, need, &pe, &se);
    const model *m = read_begin(pe), *st = se ? read_begin(se) : NULL;
    struct srcread sr;
    read_blend(site, need, pe, m, st, &sr, &out->scale_spam, &out->scale_ham, &out->nspam, &out->nham);
    out->opinion = site->bayes.enabled && out->nspam >= (double)need && out->nham >= (double)need;
    out->starter_read = st && st != empty_model;
    out->calib_from = calib_pick(pe, se, &out->calib);
    out->labels_spam = pe ? pe->cal.nspam : 0;
    out->labels_ham = pe ? pe->cal.nham : 0;
    if (se)
        read_end(se);
    read_end(pe);
    pthread_rwlock_unlock(&tab_lock);
}

void bayesdb_info(const char *name, struct bayesdb_info *out)
{
    memset(out, 0, sizeof *out);
    out->sync_age_ms = -1;
    pthread_once(&init_once, init_locks);
    pthread_rwlock_rdlock(&tab_lock);
    struct entry *e = find(name);
    if (e) {
        out->held = 1;
        pthread_rwlock_rdlock(&e->lock);
        if (e->m) {
            out->loaded = 1;
            model_totals(e->m, &out->nspam, &out->nham);
            out->tokens = model_tokens(e->m);
            out->bytes = model_bytes(e->m);
            out->tok_version = e->tok_version;
            srcset_totals(&e->src, &out->nspam, &out->nham);
            for (size_t i = 0; i < e->src.n; i++) {
                out->tokens += model_tokens(e->src.v[i].m);
                out->bytes += model_bytes(e->src.v[i].m);
            }
        }
        pthread_rwlock_unlock(&e->lock);
        out->seq = atomic_load(&e->seq);
        int64_t at = atomic_load(&e->synced_ms);
        if (at) {
            out->sync_age_ms = mono_ms() - at;
            out->synced = out->loaded && atomic_load(&connected) && out->sync_age_ms <= SYNCED_MS;
        }
    }
    pthread_rwlock_unlock(&tab_lock);
}

size_t bayesdb_sources(const char *name, long min_learns, struct bayesdb_source *out, size_t max)
{
    uint64_t need = min_learns > 0 ? (uint64_t)min_learns : 1;
    size_t k = 0;
    pthread_once(&init_once, init_locks);
    pthread_rwlock_rdlock(&tab_lock);
    struct entry *e = find(name);
    if (e) {
        pthread_rwlock_rdlock(&e->lock);
        if (e->m) {
            struct srcread rd;
            double sc_spam, sc_ham;
            srcread_of(0, need, e->m, &e->src, NULL, &rd, &sc_spam, &sc_ham);
            for (size_t j = 0; j < rd.nsrc && k < max; j++, k++) {
                snprintf(out[k].name, sizeof out[k].name, "%s", j ? e->src.v[j - 1].name : BAYESDB_SITE_SOURCE);
                out[k].nspam = rd.ts[j];
                out[k].nham = rd.th[j];
                out[k].tokens = model_tokens(rd.ms[j]);
                out[k].factor_spam = rd.fs[j];
                out[k].factor_ham = rd.fh[j];
            }
        }
        pthread_rwlock_unlock(&e->lock);
    }
    pthread_rwlock_unlock(&tab_lock);
    return k;
}

int bayesdb_wait_async(const char *name, long long seq, int timeout_ms, store_done_fn done, void *arg)
{
    if (!running || !atomic_load(&connected))
        return 1;
    pthread_rwlock_rdlock(&tab_lock);
    pthread_mutex_lock(&wait_mu);
    struct entry *e = find(name);
    int now = !e || atomic_load(&e->seq) >= seq;
    if (!now) {
        /* Checked and queued under wait_mu: the sync thread stores the new
         * seq before it looks at the waiters (fire_waiters takes wait_mu),
         * so this waiter cannot be missed. */
        struct waiter *w = xcalloc(1, sizeof *w);
        snprintf(w->model, sizeof w->model, "%s", name);
        w->seq = seq;
        w->deadline_ms = mono_ms() + timeout_ms;
        w->done = done;
        w->arg = arg;
        w->next = waiters;
        waiters = w;
    }
    pthread_mutex_unlock(&wait_mu);
    pthread_rwlock_unlock(&tab_lock);
    return now;
}

void bayesdb_learn_z(const struct site_cfg *site, const tok_list *tl, char *z)
{
    struct bayes_result r;
    const char *used;
    z[0] = 0;
    if (bayesdb_classify(site, tl, &r, &used) == 0 && r.opinion)
        snprintf(z, BAYESDB_Z_LEN, "%.17g", r.logit);
}

void bayesdb_learn_async(const char *name, const char *source, const tok_list *tl, const char *fp,
                         enum bayesdb_op op, enum model_class label, const char *z,
                         struct bayesdb_learn_res *res, store_done_fn done, void *arg)
{
    memset(res, 0, sizeof *res);
    char sha[41];
    pthread_mutex_lock(&sha_mu);
    memcpy(sha, learn_sha, sizeof sha);
    pthread_mutex_unlock(&sha_mu);
    struct learn_cmd *lc = xmalloc(sizeof *lc);
    lc_learn(lc, name, tok_hashes(tl), tok_count(tl), fp, op, label, source, z, sha);
    store_command_async(name, lc->argc, lc->argv, lc->lens, LEARN_LUA, 1, parse_learn, res, done, arg);
    free(lc);
}

/* ---------- the command line ---------- */

/* How many learn calls the command line keeps in flight: enough that
 * Redis never waits for the next one (a call is 0.1-0.5 ms of script). */
#define CLI_WINDOW 256

struct cli {
    struct conn *rc;
    const char *model;
    char sha[41];
    long learned, moved, unchanged, unlearned, raw, errors;
    long ring[CLI_WINDOW];   /* line numbers of the calls in flight */
    int head, inflight;
    const char *path;
    FILE *f;                 /* the input (learn, import); NULL for export */
    char *line;              /* its current line (getline's buffer) */
    size_t cap;
    long lineno;             /* of 'line' */
    json_error_t je;         /* why 'line' is not JSON */
    int64_t t0;              /* mono_us() at the start */
    double rate;             /* --rate: calls per second at most; 0: as fast as Redis answers */
    const char *source;      /* --source: every comment's source; NULL: "site" (import: the lines' own) */
    long sent;               /* calls sent so far */
};

static int cli_connect(struct cli *x, const struct cfg *c, const struct site_cfg *site)
{
    char err[200];
    /* A bulk load queues hundreds of calls: a reply may wait for all
     * before it, so the command timeout is generous here. */
    int cmd_ms = c->redis_command_timeout_ms > 10000 ? c->redis_command_timeout_ms : 10000;
    x->rc = connect_blocking(&c->redis, c->redis_connect_timeout_ms, cmd_ms, NULL, err, sizeof err);
    if (!x->rc) {
        fprintf(stderr, "modgate: %s\n", err);
        return -1;
    }
    pthread_mutex_lock(&sha_mu);
    memcpy(x->sha, learn_sha, sizeof x->sha);
    pthread_mutex_unlock(&sha_mu);
    x->model = site->bayes.model;
    return 0;
}

/* Clear 'x', open 'path' ("-": stdin) and connect to Redis.
 * Returns 0, or -1 having said why on stderr. */
static int cli_open(struct cli *x, const struct cfg *c, const struct site_cfg *site, const char *path)
{
    memset(x, 0, sizeof *x);
    x->f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!x->f) {
        fprintf(stderr, "modgate: %s: %s\n", path, strerror(errno));
        return -1;
    }
    x->path = path;
    x->t0 = mono_us();
    if (cli_connect(x, c, site)) {
        if (x->f != stdin)
            fclose(x->f);
        return -1;
    }
    return 0;
}

/* The next non-blank line of the input, parsed: *o is new (NULL when the
 * line is no JSON) and *why says why it is no JSON object, or is NULL.
 * Returns 1, or 0 at the end of the input. */
static int cli_next(struct cli *x, json_t **o, const char **why)
{
    ssize_t n;
    while ((n = getline(&x->line, &x->cap, x->f)) >= 0) {
        x->lineno++;
        size_t len = (size_t)n;
        while (len && (x->line[len - 1] == '\n' || x->line[len - 1] == '\r' || x->line[len - 1] == ' '))
            len--;
        if (len == 0)
            continue;
        *o = json_loadb(x->line, len, JSON_REJECT_DUPLICATES, &x->je);
        *why = !*o ? x->je.text : !json_is_object(*o) ? "not a JSON object" : NULL;
        return 1;
    }
    return 0;
}

/* Undo cli_open. */
static void cli_close(struct cli *x)
{
    free(x->line);
    if (x->f != stdin)
        fclose(x->f);
    conn_close(x->rc);
}

/* Read the oldest reply in flight and count it. Returns 0, or -1 when
 * Redis is gone (the run stops). */
static int cli_take(struct cli *x)
{
    long line = x->ring[(x->head - x->inflight + CLI_WINDOW) % CLI_WINDOW];
    x->inflight--;
    struct store_reply *r = conn_get_reply(x->rc);
    if (!r) {
        fprintf(stderr, "modgate: redis: %s\n", conn_error(x->rc) ? conn_error(x->rc) : "no reply");
        return -1;
    }
    struct bayesdb_learn_res res;
    memset(&res, 0, sizeof res);
    parse_learn(r, "", &res);
    conn_reply_free(r);
    if (res.rc) {
        x->errors++;
        fprintf(stderr, "%s:%ld: %s\n", x->path, line, res.error);
        return 0;
    }
    if (strcmp(res.changed, "learned") == 0)
        x->learned++;
    else if (strcmp(res.changed, "moved") == 0)
        x->moved++;
    else if (strcmp(res.changed, "unlearned") == 0)
        x->unlearned++;
    else if (strcmp(res.changed, "raw") == 0)
        x->raw++;
    else
        x->unchanged++;
    return 0;
}

static int cli_drain(struct cli *x);

/* Queue one built command; read a reply first when the window is full.
 * With a rate, a call early for its slot waits, after everything queued
 * has been sent and answered, so that a bulk load never takes more of a
 * production Redis than it was given. */
static int cli_send(struct cli *x, struct learn_cmd *lc, long line)
{
    if (x->rate > 0) {
        int64_t due = x->t0 + (int64_t)((double)x->sent * 1e6 / x->rate), now = mono_us();
        if (due > now) {
            if (cli_drain(x))
                return -1;
            now = mono_us();
            if (due > now) {
                struct timespec ts = { (time_t)((due - now) / 1000000), (long)((due - now) % 1000000) * 1000 };
                nanosleep(&ts, NULL);
            }
        }
    }
    x->sent++;
    if (x->inflight == CLI_WINDOW && cli_take(x))
        return -1;
    conn_append_argv(x->rc, lc->argc, lc->argv, lc->lens);
    x->ring[x->head] = line;
    x->head = (x->head + 1) % CLI_WINDOW;
    x->inflight++;
    return 0;
}

static int cli_drain(struct cli *x)
{
    while (x->inflight > 0)
        if (cli_take(x))
            return -1;
    return 0;
}

static int parse_label(const char *s, enum model_class *out)
{
    if (s && strcmp(s, "spam") == 0)
        *out = MODEL_SPAM;
    else if (s && strcmp(s, "ham") == 0)
        *out = MODEL_HAM;
    else
        return -1;
    return 0;
}

int bayesdb_cli_learn(const struct cfg *c, const struct site_cfg *site, const char *label, const char *path,
                      double rate, const char *source)
{
    enum model_class fixed = MODEL_HAM;
    if (label && parse_label(label, &fixed)) {
        fprintf(stderr, "modgate: --label must be spam or ham\n");
        return 2;
    }
    struct cli x;
    if (cli_open(&x, c, site, path))
        return 1;
    x.rate = rate;
    x.source = source;
    tok_list *tl = tok_list_new();
    struct learn_cmd *lc = xmalloc(sizeof *lc);
    json_t *o;
    const char *why;
    int failed = 0;
    while (!failed && cli_next(&x, &o, &why)) {
        json_t *body = json_object_get(o, "body"); /* NULL for no object */
        enum model_class cls = fixed;
        if (!why && (!json_is_string(body) || json_string_length(body) == 0))
            why = "\"body\" must be a non-empty string";
        else if (!why && !label && parse_label(json_string_value(json_object_get(o, "label")), &cls))
            why = "\"label\" must be \"spam\" or \"ham\" (or pass --label)";
        if (why) {
            fprintf(stderr, "%s:%ld: %s\n", path, x.lineno, why);
            x.errors++;
            json_decref(o);
            continue;
        }
        json_t *author = json_object_get(o, "author");
        struct tok_input in = { json_string_value(body), json_string_length(body),
                                json_is_object(author) ? json_string_value(json_object_get(author, "url")) : NULL };
        tok_run(tl, &in);
        char fp[33];
        tok_fingerprint(tl, fp);
        lc_learn(lc, x.model, tok_hashes(tl), tok_count(tl), fp, BAYESDB_LEARN, cls, x.source, NULL, x.sha);
        json_decref(o);
        failed = cli_send(&x, lc, x.lineno) != 0;
    }
    if (!failed)
        failed = cli_drain(&x) != 0;
    free(lc);
    tok_list_free(tl);
    cli_close(&x);
    if (failed)
        return 1;
    double secs = (double)(mono_us() - x.t0) / 1e6;
    printf("{\"learned\":%ld,\"moved\":%ld,\"unchanged\":%ld,\"errors\":%ld,\"seconds\":%.3f}\n", x.learned,
           x.moved, x.unchanged, x.errors, secs);
    return x.errors ? 1 : 0;
}

/* SCAN for a model's doc keys and append each learned comment to 'out'.
 * Returns 0 or -1. */
static int export_docs(struct conn *rc, const char *mname, long *ndocs, struct buf *out)
{
    char prefix[160], pattern[sizeof prefix + 1];
    snprintf(prefix, sizeof prefix, "mg:{%s}:bayes:doc:", mname);
    snprintf(pattern, sizeof pattern, "%s*", prefix);
    char cursor[32] = "0";
    do {
        const char *argv[] = { "SCAN", cursor, "MATCH", pattern, "COUNT", "1000" };
        struct store_reply *r = rcmd(rc, 6, argv);
        if (conn_ok(rc, r) || r->type != STORE_REPLY_ARRAY || r->elements != 2) {
            conn_reply_free(r);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str ? r->element[0]->str : "0");
        const struct store_reply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++)
            conn_append_argv(rc, 2, (const char *[]){ "GET", keys->element[i]->str },
                             (const size_t[]){ 3, keys->element[i]->len });
        for (size_t i = 0; i < keys->elements; i++) {
            struct store_reply *v = conn_get_reply(rc);
            if (!v) {
                conn_reply_free(r);
                return -1;
            }
            const char *k = keys->element[i]->str + strlen(prefix);
            const char *colon = v->type == STORE_REPLY_STRING ? memchr(v->str, ':', v->len) : NULL;
            if (colon && valid_fp(k)) {
                size_t ll = (size_t)(colon - v->str), nt = (v->len - ll - 1) / 16;
                /* "spam@X": label spam, source X (bayesdb_source_valid: no JSON escaping needed) */
                const char *at = memchr(v->str, '@', ll);
                size_t lab = at ? (size_t)(at - v->str) : ll;
                buf_printf(out, "{\"d\":\"%s\",\"l\":\"%.*s\",", k, (int)(lab < 8 ? lab : 8), v->str);
                if (at)
                    buf_printf(out, "\"src\":\"%.*s\",", (int)(ll - lab - 1 < BAYESDB_SOURCE_MAX ? ll - lab - 1
                               : BAYESDB_SOURCE_MAX), at + 1);
                buf_puts(out, "\"t\":[");
                for (size_t t = 0; t < nt; t++) {
                    if (t)
                        buf_append(out, ",", 1);
                    buf_append(out, "\"", 1);
                    buf_append(out, colon + 1 + 16 * t, 16);
                    buf_append(out, "\"", 1);
                }
                buf_puts(out, "]}\n");
                (*ndocs)++;
            }
            conn_reply_free(v);
        }
        conn_reply_free(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* The model's seq (0 when it has none), or -1 when Redis failed. */
static long long model_seq(struct conn *rc, const struct entry *e)
{
    const char *argv[] = { "HGET", e->meta_key, "seq" };
    struct store_reply *r = rcmd(rc, 3, argv);
    long long seq = -1;
    if (!conn_ok(rc, r))
        seq = r->type == STORE_REPLY_NIL ? 0 : reply_ll(r, INT64_MAX);
    conn_reply_free(r);
    return seq;
}

/* One export of model 'e' into 'out'. Returns 0 or -1 (Redis failed). */
static int export_once(struct cli *x, struct entry *e, struct buf *out, size_t *ntokens, long *ndocs)
{
    model *m = model_new();
    struct srcset ss = { .n = 0 };
    int rc = -1;
    const char *argv[] = { "HMGET", e->meta_key, "nspam", "nham", "seq", "tok_version",
                           "calib_a", "calib_b", "fit_a", "fit_b", "calib_spam", "calib_ham" };
    const size_t nf = sizeof argv / sizeof *argv - 2;
    struct store_reply *r = NULL;
    if (scan_class(x->rc, e->spam_key, m, &ss, MODEL_SPAM) || scan_class(x->rc, e->ham_key, m, &ss, MODEL_HAM) ||
        load_source_totals(x->rc, e, &ss) || !(r = rcmd(x->rc, (int)nf + 2, argv)) ||
        r->type != STORE_REPLY_ARRAY || r->elements != nf)
        goto out;
    long long ver = reply_ll(r->element[3], 1000000);
    buf_printf(out, "{\"model\":\"%s\",\"tok_version\":%lld,\"nspam\":%lld,\"nham\":%lld,\"seq\":%lld,"
               "\"tokens\":%zu", x->model, ver ? ver : TOK_VERSION, reply_ll(r->element[0], INT64_MAX),
               reply_ll(r->element[1], INT64_MAX), reply_ll(r->element[2], INT64_MAX), model_tokens(m));
    /* Its calibration, as a check reading it would use it (calib_own): an
     * import stores it with the model it seeds. */
    struct calib_state cs;
    struct bayes_calib cal;
    calib_clear(&cs);
    for (size_t i = 4; i < nf; i++)
        calib_field(&cs, argv[i + 2], r->element[i]);
    const char *from = calib_own(&cs, &cal);
    if (from)
        buf_printf(out, ",\"calibration\":{\"a\":%.17g,\"b\":%.17g,\"from\":\"%s\"", cal.a, cal.b, from);
    if (from && strcmp(from, "site") == 0)
        buf_printf(out, ",\"comments\":%lld", cs.nspam + cs.nham);
    if (from)
        buf_puts(out, "}");
    /* The other sources' class totals; their token lines follow the
     * site's, each with "ts" and its "src" (a source's raw counts go
     * along). */
    for (size_t i = 0; i < ss.n; i++) {
        uint64_t ns, nh;
        model_totals(ss.v[i].m, &ns, &nh);
        buf_printf(out, "%s\"%s\":{\"nspam\":%llu,\"nham\":%llu,\"tokens\":%zu}",
                   i ? "," : ",\"source_totals\":{", ss.v[i].name, (unsigned long long)ns,
                   (unsigned long long)nh, model_tokens(ss.v[i].m));
    }
    buf_puts(out, ss.n ? "}}\n" : "}\n");
    *ntokens = 0;
    for (size_t j = 0; j <= ss.n; j++) {
        const model *sm = j ? ss.v[j - 1].m : m;
        size_t it = 0;
        uint64_t h;
        uint32_t s, hm;
        while (model_next(sm, &it, &h, &s, &hm)) {
            char hx[17];
            hex16(h, hx);
            /* another source's line under "ts", which an older modgate
             * refuses rather than reads as the site's */
            if (j)
                buf_printf(out, "{\"ts\":\"%s\",\"src\":\"%s\",\"s\":%u,\"h\":%u}\n", hx, ss.v[j - 1].name,
                           (unsigned)s, (unsigned)hm);
            else
                buf_printf(out, "{\"t\":\"%s\",\"s\":%u,\"h\":%u}\n", hx, (unsigned)s, (unsigned)hm);
        }
        *ntokens += model_tokens(sm);
    }
    rc = export_docs(x->rc, x->model, ndocs, out);
out:
    conn_reply_free(r);
    model_free(m);
    srcset_free(&ss);
    return rc;
}

/* Counts and comments are read with HSCAN and SCAN, so a learn meanwhile
 * would give a file of two moments: the export is kept only when the
 * model's seq (every change bumps it) is the same after as before. */
#define EXPORT_TRIES 5

int bayesdb_cli_export(const struct cfg *c, const struct site_cfg *site)
{
    struct cli x;
    memset(&x, 0, sizeof x);
    if (cli_connect(&x, c, site))
        return 1;
    struct entry *e = entry_new(x.model);
    struct buf out;
    buf_init(&out);
    int rc = 1;
    for (int i = 0; i < EXPORT_TRIES; i++) {
        size_t ntokens = 0;
        long ndocs = 0;
        out.len = 0;
        long long before = model_seq(x.rc, e), after = -1;
        if (before < 0 || export_once(&x, e, &out, &ntokens, &ndocs) || (after = model_seq(x.rc, e)) < 0) {
            fprintf(stderr, "modgate: redis: %s\n", conn_error(x.rc) ? conn_error(x.rc) : "unexpected reply");
            goto done;
        }
        if (after == before) {
            fwrite(out.p, 1, out.len, stdout);
            fflush(stdout);
            fprintf(stderr, "model %s: %zu tokens, %ld learned comments exported at seq %lld\n", x.model,
                    ntokens, ndocs, before);
            rc = 0;
            goto done;
        }
        fprintf(stderr, "model %s changed during the export (seq %lld -> %lld); exporting again\n", x.model,
                before, after);
    }
    fprintf(stderr, "modgate: model %s changed during each of %d exports; nothing was written: "
            "export while learning pauses\n", x.model, EXPORT_TRIES);
done:
    buf_free(&out);
    entry_free(e);
    conn_close(x.rc);
    return rc;
}

/* What an import file's token lines of one of its sources say beyond its
 * learned comments of that source: what is left was never a comment here
 * (a model from elsewhere, a corpus imported as raw counts) and goes in as
 * raw counts. */
struct import_rest {
    char name[BAYESDB_SOURCE_MAX + 1]; /* the source in the file */
    model *m;                          /* its token lines, less its comments */
    long long head_ns, head_nh;        /* its class totals in the header */
    long long doc_ns, doc_nh;          /* its learned comments in the file */
};

struct import_rests {
    struct import_rest v[BAYESDB_MAX_SOURCES];
    size_t n;
    int merge; /* --source: the file's sources are one, whatever their names */
};

/* The rest of source 'name' (NULL: "site"; merging: the one rest), new
 * when it is not there; NULL when the file has more sources than a model
 * may. */
static struct import_rest *rest_of(struct import_rests *rs, const char *name)
{
    if (rs->merge && rs->n)
        return &rs->v[0];
    if (!name || rs->merge)
        name = BAYESDB_SITE_SOURCE;
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->v[i].name, name) == 0)
            return &rs->v[i];
    if (rs->n == BAYESDB_MAX_SOURCES)
        return NULL;
    struct import_rest *r = &rs->v[rs->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->m = model_new();
    return r;
}

/* A "src" of an import line: NULL ("site") when absent, else valid
 * (when merging, anything: it is not used). */
static int line_source(const struct import_rests *rs, json_t *o, const char **src)
{
    json_t *js = json_object_get(o, "src");
    *src = js ? json_string_value(js) : NULL;
    return !rs->merge && js && (!*src || !bayesdb_source_valid(*src)) ? -1 : 0;
}

/* A token line's counts of one class: set (a hash listed twice keeps the
 * last), or added when merging (the sources' lines of a hash add up). */
static void rest_put(const struct import_rests *rs, struct import_rest *r, uint64_t h, enum model_class cls,
                     uint32_t v)
{
    if (rs->merge) {
        uint32_t sp, hm;
        model_get(r->m, &h, 1, &sp, &hm);
        uint64_t sum = (uint64_t)(cls == MODEL_SPAM ? sp : hm) + v;
        v = sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
    }
    model_set(r->m, h, cls, v);
}

/* One learned comment of an export file into 'lc' (its label in
 * *label), as x->source, else its "src", else "site"; its hashes are also
 * taken off the rest of its source in the file (its "src"), whose
 * comments are counted there. Returns NULL, or why the line is refused. */
static const char *import_doc(json_t *o, struct cli *x, struct learn_cmd *lc, struct import_rests *rs,
                              enum model_class *label)
{
    const char *file_src;
    if (line_source(rs, o, &file_src))
        return "\"src\" must be 1-32 characters of a-z 0-9 - _";
    const char *src = x->source ? x->source : file_src;
    struct import_rest *rest = rest_of(rs, file_src);
    if (!rest)
        return "the file has more sources than a model may have (16)";
    const char *fp = json_string_value(json_object_get(o, "d"));
    enum model_class cls;
    json_t *t = json_object_get(o, "t");
    if (!fp || !valid_fp(fp))
        return "\"d\" must be 32 lowercase hex digits";
    if (parse_label(json_string_value(json_object_get(o, "l")), &cls))
        return "\"l\" must be \"spam\" or \"ham\"";
    if (!json_is_array(t) || json_array_size(t) > TOK_MAX)
        return "\"t\" must be an array of at most 512 token hashes";
    uint64_t h[TOK_MAX];
    size_t n = json_array_size(t);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(t, i);
        if (!json_is_string(v) || parse_hex16(json_string_value(v), json_string_length(v), &h[i]))
            return "\"t\" must hold 16-hex-digit token hashes";
    }
    lc_learn(lc, x->model, h, n, fp, BAYESDB_LEARN, cls, src, NULL, x->sha);
    model_add(rest->m, h, n, cls, -1);
    *(cls == MODEL_SPAM ? &rest->doc_ns : &rest->doc_nh) += 1;
    *label = cls;
    return NULL;
}

/* The class totals "nspam", "nham" of JSON object 'o' into 'r' (added
 * when merging). Returns 0, or -1 when one is not an integer >= 0 (the
 * header's own may be missing: 0). */
static int header_totals(const struct import_rests *rs, json_t *o, struct import_rest *r, int need)
{
    json_t *ns = json_object_get(o, "nspam"), *nh = json_object_get(o, "nham");
    if ((need || ns) && (!json_is_integer(ns) || json_integer_value(ns) < 0))
        return -1;
    if ((need || nh) && (!json_is_integer(nh) || json_integer_value(nh) < 0))
        return -1;
    long long a = ns ? (long long)json_integer_value(ns) : 0, b = nh ? (long long)json_integer_value(nh) : 0;
    r->head_ns = rs->merge ? r->head_ns + a : a;
    r->head_nh = rs->merge ? r->head_nh + b : b;
    return 0;
}

/* A token line: {"t":HASH,"s":N,"h":N} of source "site", or
 * {"ts":HASH,"src":X,"s":N,"h":N} of source X (a key older modgates
 * refuse, so that they never read another source's counts as the site's).
 * Returns NULL, or why the line is refused. */
static const char *import_token(json_t *o, struct import_rests *rs)
{
    json_t *t = json_object_get(o, "t"), *ts = json_object_get(o, "ts");
    json_t *s = json_object_get(o, "s"), *hm = json_object_get(o, "h");
    json_t *k = t ? t : ts;
    const char *src = NULL;
    uint64_t h;
    if (!json_is_string(k) || parse_hex16(json_string_value(k), json_string_length(k), &h) ||
        (s && (!json_is_integer(s) || json_integer_value(s) < 0 || json_integer_value(s) > UINT32_MAX)) ||
        (hm && (!json_is_integer(hm) || json_integer_value(hm) < 0 || json_integer_value(hm) > UINT32_MAX)))
        return "a token line is {\"t\":16 hex digits,\"s\":count,\"h\":count}, or \"ts\" and \"src\" for "
               "another source";
    if (t && json_object_get(o, "src") && !rs->merge)
        return "a token line of another source is {\"ts\":HASH,\"src\":SOURCE,...}";
    if (ts && (!json_object_get(o, "src") || line_source(rs, o, &src)))
        return "\"ts\" needs \"src\": 1-32 characters of a-z 0-9 - _";
    struct import_rest *r = rest_of(rs, src);
    if (!r)
        return "the file has more sources than a model may have (16)";
    rest_put(rs, r, h, MODEL_SPAM, (uint32_t)json_integer_value(s));
    rest_put(rs, r, h, MODEL_HAM, (uint32_t)json_integer_value(hm));
    return NULL;
}

int bayesdb_cli_import(const struct cfg *c, const struct site_cfg *site, const char *path, double rate,
                       const char *source)
{
    struct cli x;
    if (cli_open(&x, c, site, path))
        return 1;
    x.rate = rate;
    x.source = source;
    /* What each source's token lines say, less its learned comments in
     * the file (struct import_rest). */
    struct import_rests *rs = xcalloc(1, sizeof *rs);
    rs->merge = source != NULL;
    int have_header = 0, have_cal = 0;
    struct bayes_calib cal;
    struct learn_cmd *lc = xmalloc(sizeof *lc);
    json_t *o;
    const char *why;
    int failed = 0;
    while (!failed && cli_next(&x, &o, &why)) {
        if (!why && !have_header && !json_object_get(o, "tok_version")) {
            fprintf(stderr, "%s:%ld: the header line (with \"tok_version\") must come first\n", path, x.lineno);
            failed = 1;
        } else if (!why && json_object_get(o, "d")) {
            enum model_class cls = MODEL_HAM;
            why = import_doc(o, &x, lc, rs, &cls);
            if (!why)
                failed = cli_send(&x, lc, x.lineno) != 0;
        } else if (!why && (json_object_get(o, "t") || json_object_get(o, "ts"))) {
            why = import_token(o, rs);
        } else if (!why && json_object_get(o, "tok_version")) {
            json_t *v = json_object_get(o, "tok_version");
            if (!json_is_integer(v) || json_integer_value(v) != TOK_VERSION) {
                fprintf(stderr, "%s:%ld: the file's tokens are of tokenizer version %lld, this modgate's are %d: "
                        "learn the comments again instead\n", path, x.lineno,
                        json_is_integer(v) ? (long long)json_integer_value(v) : -1LL, TOK_VERSION);
                failed = 1;
            } else {
                if (header_totals(rs, o, rest_of(rs, NULL), 0))
                    why = "\"nspam\" and \"nham\" must be counts";
                json_t *st = json_object_get(o, "source_totals"), *sv;
                const char *sn;
                if (st && !json_is_object(st))
                    why = "\"source_totals\" must be {SOURCE: {\"nspam\": n, \"nham\": n}}";
                json_object_foreach(st, sn, sv) {
                    /* "site"'s totals are the header's own */
                    int ok = (rs->merge || bayesdb_source_valid(sn)) && strcmp(sn, BAYESDB_SITE_SOURCE) != 0;
                    struct import_rest *r = ok ? rest_of(rs, sn) : NULL;
                    if (!r)
                        why = "\"source_totals\" names \"site\", a source that is not 1-32 characters of "
                              "a-z 0-9 - _, or more sources than a model may have (16)";
                    else if (!json_is_object(sv) || header_totals(rs, sv, r, 1))
                        why = "\"source_totals\" must be {SOURCE: {\"nspam\": n, \"nham\": n}}";
                }
                have_header = 1;
                have_cal = header_calib(o, &cal);
                if (have_cal < 0)
                    why = "\"calibration\" must be {\"a\": a number > 0, \"b\": a number}; it is left out";
            }
        } else if (!why) {
            why = "neither a header, a token nor a learned comment";
        }
        if (why) {
            fprintf(stderr, "%s:%ld: %s\n", path, x.lineno, why);
            x.errors++;
        }
        json_decref(o);
    }
    failed = failed || cli_drain(&x) != 0;
    /* Each source's raw rest into that source (all into --source NAME
     * when given), a call per TOK_MAX tokens; its totals with the first. */
    size_t raw_tokens = 0;
    uint64_t h[TOK_MAX];
    uint32_t s[TOK_MAX], hm[TOK_MAX];
    for (size_t j = 0; j < rs->n && !failed; j++) {
        const struct import_rest *r = &rs->v[j];
        const char *into = x.source ? x.source : strcmp(r->name, BAYESDB_SITE_SOURCE) ? r->name : NULL;
        long long ts = r->head_ns > r->doc_ns ? r->head_ns - r->doc_ns : 0;
        long long th = r->head_nh > r->doc_nh ? r->head_nh - r->doc_nh : 0;
        size_t it = 0, k = 0;
        int more = 1;
        while (more) {
            more = model_next(r->m, &it, &h[k], &s[k], &hm[k]);
            if (more && (s[k] || hm[k]))
                k++;
            if (k == TOK_MAX || (!more && (k || ts || th))) {
                lc_raw(lc, x.model, h, s, hm, k, ts, th, into, x.sha);
                raw_tokens += k;
                ts = th = 0;
                k = 0;
                if (cli_send(&x, lc, x.lineno)) {
                    failed = 1;
                    break;
                }
            }
        }
    }
    failed = failed || cli_drain(&x) != 0;
    /* The file's calibration, stored with the model once its counts are
     * (a check reads it with them: calib_pick). */
    if (!failed && have_cal > 0) {
        struct entry *e = entry_new(x.model);
        if (calib_put(x.rc, e, "stored", &cal, 0) < 0) {
            fprintf(stderr, "modgate: redis: storing the calibration: %s\n",
                    conn_error(x.rc) ? conn_error(x.rc) : "refused");
            failed = 1;
        }
        entry_free(e);
    }
    free(lc);
    for (size_t j = 0; j < rs->n; j++)
        model_free(rs->v[j].m);
    free(rs);
    cli_close(&x);
    if (failed)
        return 1;
    double secs = (double)(mono_us() - x.t0) / 1e6;
    printf("{\"learned\":%ld,\"moved\":%ld,\"unchanged\":%ld,\"raw_tokens\":%zu,\"errors\":%ld,\"seconds\":%.3f}\n",
           x.learned, x.moved, x.unchanged, raw_tokens, x.errors, secs);
    return x.errors ? 1 : 0;
}
