/* config.c - parse, validate and publish the JSON configuration.
 *
 * Validation is strict: unknown fields, wrong types and out-of-range values
 * are refused with the field's full path ("sites.demo.thresholds.hold"),
 * because a typo silently ignored in a spam filter's config is a policy
 * nobody chose. Defaults live in one place each: the *_defaults tables. */
#include "config.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* ---------- error reporting with a field path ---------- */

struct ctx {
    char *err;
    size_t errlen;
    int failed;
};

/* Drop a UTF-8 sequence that snprintf cut short at the end of 's'. */
static void utf8_cut(char *s)
{
    size_t len = strlen(s), start = len;
    while (start > 0 && len - start < 3 && ((unsigned char)s[start - 1] & 0xC0) == 0x80)
        start--;
    if (start == 0 || (unsigned char)s[start - 1] < 0xC0)
        return;
    unsigned char lead = (unsigned char)s[start - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    if (len - (start - 1) < need)
        s[start - 1] = 0;
}

static int fail(struct ctx *x, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct ctx *x, const char *path, const char *fmt, ...)
{
    if (x->failed)
        return -1;
    x->failed = 1;
    int n = snprintf(x->err, x->errlen, "%s: ", path);
    if (n < 0 || (size_t)n >= x->errlen) {
        utf8_cut(x->err);
        return -1;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    /* Key names and values come from the file: no control characters in
     * a one-line error that goes to a terminal or a log, and no UTF-8
     * sequence cut in half where the message was cut short (the policy API
     * sends it in JSON). */
    for (char *p = x->err; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    utf8_cut(x->err);
    return -1;
}

/* out = path.key, cut short when too long: it only names a field in an error. */
static void join(char *out, size_t len, const char *path, const char *key)
{
    int n = snprintf(out, len, "%s%s", path, *path ? "." : "");
    if (n >= 0 && (size_t)n < len)
        snprintf(out + n, len - (size_t)n, "%.*s", (int)(len - (size_t)n - 1), key);
    utf8_cut(out);
}

/* Refuse any key of 'obj' not in the NULL-terminated 'allowed'. */
static int only_keys(struct ctx *x, const char *path, json_t *obj, const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        int ok = k[0] == '#'; /* "#..." keys are comments, as in the example config */
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, k) == 0)
                ok = 1;
        if (!ok) {
            char p[256];
            join(p, sizeof p, path, k);
            return fail(x, p, "unknown field");
        }
    }
    return 0;
}

static json_t *get_obj(struct ctx *x, const char *path, json_t *parent, const char *key)
{
    json_t *v = json_object_get(parent, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_object(v)) {
        char p[256];
        join(p, sizeof p, path, key);
        fail(x, p, "must be an object");
        return NULL;
    }
    return v;
}

/* Read a number in [min, max]; absent keeps *out (the default). */
static int get_num(struct ctx *x, const char *path, json_t *obj, const char *key,
                   double min, double max, double *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    char p[256];
    join(p, sizeof p, path, key);
    if (!json_is_number(v))
        return fail(x, p, "must be a number");
    double d = json_number_value(v);
    if (!isfinite(d) || d < min || d > max)
        return fail(x, p, "must be between %g and %g (got %g)", min, max, d);
    *out = d;
    return 0;
}

static int get_int(struct ctx *x, const char *path, json_t *obj, const char *key,
                   long min, long max, long *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    char p[256];
    join(p, sizeof p, path, key);
    if (!json_is_integer(v))
        return fail(x, p, "must be a whole number");
    json_int_t i = json_integer_value(v);
    if (i < min || i > max)
        return fail(x, p, "must be between %ld and %ld (got %lld)", min, max, (long long)i);
    *out = (long)i;
    return 0;
}

static int get_str(struct ctx *x, const char *path, json_t *obj, const char *key,
                   char *out, size_t outlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    char p[256];
    join(p, sizeof p, path, key);
    if (!json_is_string(v))
        return fail(x, p, "must be a string");
    if (json_string_length(v) >= outlen)
        return fail(x, p, "is longer than %zu bytes", outlen - 1);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int get_bool(struct ctx *x, const char *path, json_t *obj, const char *key, int *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    char p[256];
    join(p, sizeof p, path, key);
    if (!json_is_boolean(v))
        return fail(x, p, "must be true or false");
    *out = json_is_true(v);
    return 0;
}

/* A string 'key' that must be 'a' or 'b': absent keeps *out, else *out
 * = 0 for 'a', 1 for 'b'. */
static int get_pick(struct ctx *x, const char *path, json_t *obj, const char *key, const char *a, const char *b,
                    int *out)
{
    char v[32] = "";
    char p[256];
    join(p, sizeof p, path, key);
    if (get_str(x, path, obj, key, v, sizeof v))
        return -1;
    if (!json_object_get(obj, key))
        return 0;
    if (strcmp(v, a) && strcmp(v, b))
        return fail(x, p, "must be \"%s\" or \"%s\" (got \"%s\")", a, b, v);
    *out = strcmp(v, b) == 0;
    return 0;
}

/* ---------- names ---------- */

static const char *const role_names[ROLE_COUNT] = { "cms", "moderator", "admin" };
static const char *const bucket_names[BK_COUNT] = { "ip", "ip_prefix", "author", "thread", "site" };

const char *role_name(enum role r)
{
    return (unsigned)r < ROLE_COUNT ? role_names[r] : "?";
}

const char *bucket_name(enum bucket_kind k)
{
    return (unsigned)k < BK_COUNT ? bucket_names[k] : "?";
}

/* The public test keys of docker/modgate.example.json, documented in
 * api.md and used by README.md's tour: the demo site's three and the
 * top-level admin key "demo-ops-key" (for /metrics). Loading one of them
 * is allowed (it is what `make run` does) but always logged; they are
 * hashed here, like any key the config names. */
static const char *const test_keys[] = { "demo-cms-key", "demo-moderator-key", "demo-admin-key",
                                         "demo-ops-key" };

/* ---------- defaults ---------- */

/* Buckets: a person rarely posts more than a few comments a minute; an
 * office or mobile carrier behind one /24 may post several; a busy article
 * gets a few a second at peak. capacity = burst, per_second = refill. */
static const struct bucket_cfg bucket_defaults[BK_COUNT] = {
    [BK_IP] = { 1, 10, 10.0 / 60, "", "" },
    [BK_PREFIX] = { 1, 40, 40.0 / 60, "", "" },
    [BK_AUTHOR] = { 1, 10, 10.0 / 60, "", "" },
    [BK_THREAD] = { 1, 300, 5, "", "" },
    [BK_SITE] = { 1, 3000, 50, "", "" },
};

const char *premod_name(enum premod p)
{
    return p == PREMOD_ALL ? "all" : p == PREMOD_LINKS ? "links" : p == PREMOD_NEW ? "new" : "none";
}

int premod_parse(const char *s, enum premod *out)
{
    for (int p = PREMOD_NONE; p <= PREMOD_ALL; p++)
        if (strcmp(s, premod_name((enum premod)p)) == 0) {
            *out = (enum premod)p;
            return 0;
        }
    return -1;
}

/* The premod of JSON value 'v' at 'path' into *out (a config error names
 * it). Returns 0 or -1. */
static int get_premod(struct ctx *x, const char *path, json_t *v, enum premod *out)
{
    if (json_is_string(v) && premod_parse(json_string_value(v), out) == 0)
        return 0;
    return fail(x, path, "must be \"none\", \"new\", \"links\" or \"all\"");
}

static void site_defaults(struct site_cfg *s)
{
    s->th.hold = 0.5;
    s->th.reject = 0.95;
    s->prior = 0.1; /* most comments on a news site are fine */
    s->redis_down = DEC_HOLD;
    /* Reputation: counted always, shown to moderators, and a moderator's
     * ban, premod or trust applies; the automatic rules are off until a
     * site turns them on, as in Coral (trust by approvals: a new
     * behaviour that lets comments through, which an upgrade must not
     * switch on by itself). */
    s->trust = (struct trust_cfg){ .approved_to_trust = 0, .trusted_max_score = 0.8, .window_days = 7,
                                   .min_decisions = 3, .automatic_max_score = 0.1 };
    s->report_threshold = 3;
    s->decision_ttl_s = 7 * 86400; /* a CMS retrying a week later still gets the same answer */
    memcpy(s->buckets, bucket_defaults, sizeof s->buckets);
    s->api = (struct bucket_cfg){ 1, 2000, 1000, "", "" };
    heur_defaults(&s->heur);
    s->dup_enabled = 1;
    s->dup_window_s = 3600;
    s->dup_min_sources = 3;
    s->dup_min_chars = 20; /* "thanks!" or "great article" from many readers is normal */
    bayes_defaults(&s->bayes.params);
    s->bayes.weight = 1.0;
    s->bayes.enabled = 1;
    snprintf(s->bayes.model, sizeof s->bayes.model, "%s", s->name);
    s->bayes.fallback[0] = 0;
    snprintf(s->bayes.starter, sizeof s->bayes.starter, "%s", CFG_BAYES_STARTER);
    s->bayes.starter_weight = CFG_STARTER_WEIGHT;
    /* Captcha work: cost x counter PBKDF2 iterations for the client, at
     * least 200 x 200 = 40,000 (tens of ms in a desktop browser, a few
     * hundred on a slow phone), at most 100 times that for a flood; the
     * server pays one derivation of 'cost' iterations per challenge. */
    s->captcha.cost = 200;
    s->captcha.counter_min = 200;
    s->captcha.counter_max = 20000;
    s->captcha.ttl_s = 300;
    /* No challenge band unless the site sets one; a solved challenge is
     * worth about as much as a suspect word and a link together. */
    s->captcha.credit = 3.0;
    /* Each challenge costs the server a key derivation: a network that
     * asks for more than 2 a second over two minutes gets 429. */
    s->captcha.max_challenges = 240;
    /* Nobody reads and answers an article in 3 s; a form shown a day ago
     * was more likely scraped than left open. Too fast weighs about as
     * much as a suspect word; a token that does not verify a little more. */
    s->mod.retention_days = 30;
    s->mod.audit_days = 365;
    s->mod.events_days = 7;
    s->mod.learn_on_approve = 1;
    s->mod.learn_on_reject = 0;
    /* A held comment costs Redis 1-2.5 KB (measured by test_growth.py and
     * api.md): 100,000 is 100-250 MB, more than any moderation team works
     * through. At the cap a flood of held spam is evicted to spam, which
     * keeps the queue usable; evicted comments are kept retention_days,
     * so only on_full "refuse" bounds Redis's memory strictly. */
    s->mod.max_held = 100000;
    s->mod.on_full_refuse = 0;
    s->form.min_ms = 3000;
    s->form.max_s = 86400;
    s->form.too_fast = 2.0;
    s->form.too_old = 1.0;
    s->form.invalid = 2.5;
    s->form.missing = 1.0;
    /* Akismet's "discard" means "never even keep it in the spam folder":
     * only for a reject the filters are all but certain of. */
    s->akismet.discard_score = 0.99;
}

/* ---------- sections ---------- */

static int parse_bucket(struct ctx *x, const char *path, json_t *parent, const char *key,
                        struct bucket_cfg *b)
{
    json_t *v = json_object_get(parent, key);
    if (!v)
        return 0;
    char p[256];
    join(p, sizeof p, path, key);
    if (json_is_null(v)) {
        b->enabled = 0;
        return 0;
    }
    if (!json_is_object(v))
        return fail(x, p, "must be an object {\"capacity\":N,\"per_minute\":N} or null to disable");
    static const char *const keys[] = { "capacity", "per_minute", "per_second", NULL };
    if (only_keys(x, p, v, keys))
        return -1;
    if (!json_object_get(v, "capacity"))
        return fail(x, p, "needs \"capacity\"");
    int pm = json_object_get(v, "per_minute") != NULL, ps = json_object_get(v, "per_second") != NULL;
    if (pm == ps)
        return fail(x, p, "needs exactly one of \"per_minute\" or \"per_second\"");
    double cap = 0, rate = 0;
    if (get_num(x, p, v, "capacity", 1, 1e9, &cap))
        return -1;
    if (pm && get_num(x, p, v, "per_minute", 0.001, 6e10, &rate))
        return -1;
    if (ps && get_num(x, p, v, "per_second", 0.00002, 1e9, &rate))
        return -1;
    b->enabled = 1;
    b->capacity = cap;
    b->per_second = pm ? rate / 60 : rate;
    return 0;
}

static int parse_words(struct ctx *x, const char *path, json_t *parent, const char *key,
                       wordlist *wl)
{
    json_t *v = json_object_get(parent, key);
    if (!v)
        return 0;
    char p[256];
    join(p, sizeof p, path, key);
    if (!json_is_array(v))
        return fail(x, p, "must be an array of strings");
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        char pi[300];
        snprintf(pi, sizeof pi, "%s[%zu]", p, i);
        if (!json_is_string(e))
            return fail(x, pi, "must be a string");
        char werr[160];
        if (wordlist_add(wl, json_string_value(e), werr, sizeof werr))
            return fail(x, pi, "%s", werr);
    }
    return 0;
}

/* The optional object 'key' of 'site' (NULL when absent or on error: see
 * x->failed), with its path in p[256]. */
static json_t *section(struct ctx *x, const char *path, json_t *site, const char *key, char p[static 256])
{
    json_t *o = get_obj(x, path, site, key);
    join(p, 256, path, key);
    return o;
}

/* sites.S.weights, in the order of WEIGHT_FIELDS. */
static const char *const weight_keys[] = { "link", "link_cap", "link_only", "link_density",
    "too_many_links", "blocked_word", "suspect_word", "honeypot", "shouting", "repeated_chars",
    "duplicate", NULL };
#define WEIGHT_FIELDS(w)                                                                              \
    &(w)->link, &(w)->link_cap, &(w)->link_only, &(w)->link_density, &(w)->too_many_links,           \
        &(w)->blocked_word, &(w)->suspect_word, &(w)->honeypot, &(w)->shouting, &(w)->repeated_chars, \
        &(w)->duplicate

static int parse_weights(struct ctx *x, const char *path, json_t *site, struct heur_weights *w)
{
    char p[256];
    json_t *o = section(x, path, site, "weights", p);
    if (!o)
        return x->failed ? -1 : 0;
    double *dst[] = { WEIGHT_FIELDS(w) };
    if (only_keys(x, p, o, weight_keys))
        return -1;
    /* +-20 log-odds is already certainty; more only hides mistakes. */
    for (size_t i = 0; weight_keys[i]; i++)
        if (get_num(x, p, o, weight_keys[i], -20, 20, dst[i]))
            return -1;
    return 0;
}

static int valid_site_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(islower(c) || isdigit(c) || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

/* The API keys of 'field' of object 'site': a site's "keys", or with
 * site_idx -1 the top level's "admin_keys" (admin keys of every site). */
static int parse_keys(struct ctx *x, const char *path, json_t *site, const char *field, int site_idx,
                      struct cfg *c)
{
    char p[256];
    join(p, sizeof p, path, field);
    json_t *arr = json_object_get(site, field);
    if (!arr)
        return 0; /* a site without keys can be configured, just not used */
    if (!json_is_array(arr))
        return fail(x, p, "must be an array of {\"id\",\"role\",\"sha256\"}");
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        char pi[300];
        snprintf(pi, sizeof pi, "%s[%zu]", p, i);
        if (!json_is_object(e))
            return fail(x, pi, "must be an object {\"id\",\"role\",\"sha256\"}");
        static const char *const keys[] = { "id", "role", "sha256", NULL };
        if (only_keys(x, pi, e, keys))
            return -1;
        struct api_key k;
        memset(&k, 0, sizeof k);
        char role[32] = "", hex[80] = "";
        if (get_str(x, pi, e, "id", k.id, sizeof k.id) || get_str(x, pi, e, "role", role, sizeof role) ||
            get_str(x, pi, e, "sha256", hex, sizeof hex))
            return -1;
        if (!k.id[0])
            return fail(x, pi, "needs \"id\" (a name for logs, not secret)");
        int r = -1;
        for (int j = 0; j < ROLE_COUNT; j++)
            if (strcmp(role, role_names[j]) == 0)
                r = j;
        if (r < 0)
            return fail(x, pi, "\"role\" must be \"cms\", \"moderator\" or \"admin\"");
        if (site_idx < 0 && r != ROLE_ADMIN)
            return fail(x, pi, "a key of every site must have \"role\": \"admin\" (give other keys to a site)");
        size_t binlen = 0;
        if (strlen(hex) != 64 ||
            sodium_hex2bin(k.hash, sizeof k.hash, hex, 64, NULL, &binlen, NULL) != 0 || binlen != 32)
            return fail(x, pi, "\"sha256\" must be 64 hex digits (see `modgate keygen`)");
        for (size_t j = 0; j < c->nkeys; j++)
            if (sodium_memcmp(c->keys[j].hash, k.hash, 32) == 0)
                return fail(x, pi, "the same key is configured twice (also \"%s\")", c->keys[j].id);
        k.role = (enum role)r;
        k.site = site_idx;
        c->keys = xrealloc(c->keys, (c->nkeys + 1) * sizeof *c->keys);
        c->keys[c->nkeys++] = k;
        for (size_t j = 0; j < sizeof test_keys / sizeof *test_keys; j++) {
            unsigned char h[32];
            crypto_hash_sha256(h, (const unsigned char *)test_keys[j], strlen(test_keys[j]));
            if (sodium_memcmp(h, k.hash, 32) == 0)
                c->test_keys++;
        }
    }
    return 0;
}

/* A model name ("model" or "fallback") is a site-like name: it goes into
 * Redis key names (mg:{M}:bayes:...), so the same characters are allowed. */
static int get_model_name(struct ctx *x, const char *path, json_t *obj, const char *key, int nullable,
                          char *out, size_t outlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    char p[256];
    join(p, sizeof p, path, key);
    if (json_is_null(v) && nullable) {
        out[0] = 0;
        return 0;
    }
    if (!json_is_string(v) || !valid_site_name(json_string_value(v)))
        return fail(x, p, "must be %s1-64 characters of a-z, 0-9, '-' and '_'", nullable ? "null or " : "");
    snprintf(out, outlen, "%s", json_string_value(v));
    return 0;
}

static int parse_bayes(struct ctx *x, const char *path, json_t *site, struct bayes_site_cfg *b)
{
    char p[256];
    json_t *o = section(x, path, site, "bayes", p);
    if (!o)
        return x->failed ? -1 : 0;
    static const char *const keys[] = { "enabled", "model", "fallback", "starter", "starter_weight", "min_learns",
        "weight", "alpha", "min_tokens", NULL };
    struct bayes_params *bp = &b->params;
    long ml = bp->min_learns, mt = bp->min_tokens;
    /* alpha is a count of comments added to each token's counts: above a
     * thousand no learned evidence could move a token, near 0 a token seen
     * once would be near certain. A weight above 10 lets Bayes alone outvote every other rule.
     * A starter_weight of a million comments per class is far above any
     * starter's size (the blend never inflates one: model_blend_scale). */
    /* Robinson's constants went with his method (issue 19): a config
     * written for it is told so, not merely "unknown field". */
    static const char *const gone[] = { "s", "x", "min_dev", "max_discriminators", NULL };
    for (const char *const *g = gone; *g; g++)
        if (json_object_get(o, *g)) {
            char pg[300];
            join(pg, sizeof pg, p, *g);
            return fail(x, pg, "no longer exists: the filter is a calibrated naive Bayes since tokens "
                               "version 3 (api.md 3.4); remove it (\"alpha\" is its one constant)");
        }
    if (only_keys(x, p, o, keys) || get_bool(x, p, o, "enabled", &b->enabled) ||
        get_model_name(x, p, o, "model", 0, b->model, sizeof b->model) ||
        get_model_name(x, p, o, "fallback", 1, b->fallback, sizeof b->fallback) ||
        get_model_name(x, p, o, "starter", 1, b->starter, sizeof b->starter) ||
        get_num(x, p, o, "starter_weight", 0, 1000000, &b->starter_weight) ||
        get_int(x, p, o, "min_learns", 1, 1000000000L, &ml) || get_num(x, p, o, "weight", 0, 10, &b->weight) ||
        get_num(x, p, o, "alpha", 0.01, 1000, &bp->alpha) ||
        get_int(x, p, o, "min_tokens", 1, BAYES_MAX_TOKENS, &mt))
        return -1;
    bp->min_learns = ml;
    bp->min_tokens = (int)mt;
    if (b->fallback[0] && strcmp(b->fallback, b->model) == 0) {
        char pf[300];
        join(pf, sizeof pf, p, "fallback");
        return fail(x, pf, "must differ from \"model\" (\"%s\")", b->model);
    }
    if (b->starter[0] && strcmp(b->starter, b->model) == 0) {
        char pf[300];
        join(pf, sizeof pf, p, "starter");
        return fail(x, pf, "must differ from \"model\" (\"%s\"): learning never goes into a starter", b->model);
    }
    return 0;
}

/* The text of a secret named by object 'k' at 'p': "secret_file" (read,
 * at most outlen - 1 bytes) or "secret_env", exactly one of them, so that
 * the config file itself holds no secret; a trailing newline, CR or space
 * is dropped (editors and `echo` add one). The caller wipes 'out'. */
static int read_secret(struct ctx *x, const char *p, json_t *k, char *out, size_t outlen)
{
    char file[512] = "", env[128] = "";
    if (get_str(x, p, k, "secret_file", file, sizeof file) || get_str(x, p, k, "secret_env", env, sizeof env))
        return -1;
    if (!file[0] == !env[0])
        return fail(x, p, "needs exactly one of \"secret_file\" and \"secret_env\"");
    if (file[0]) {
        FILE *f = fopen(file, "r");
        if (!f)
            return fail(x, p, "cannot read secret_file \"%s\"", file);
        size_t n = fread(out, 1, outlen - 1, f);
        int more = n == outlen - 1 && fgetc(f) != EOF;
        fclose(f);
        out[n] = 0;
        if (more) /* cut short, every signature would be wrong */
            return fail(x, p, "secret_file \"%s\" holds more than %zu bytes", file, outlen - 1);
    } else {
        const char *v = getenv(env);
        if (!v)
            return fail(x, p, "the environment variable %s named by secret_env is not set", env);
        snprintf(out, outlen, "%s", v);
    }
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
        out[--n] = 0;
    return 0;
}

/* Call 'fn' on each item of the array 'field' of section 'o' at 'p',
 * which must hold 1-'max' objects ('what' says what one is, for the
 * error) with only the 'allowed' fields; 'pi' is the item's path
 * ("p.field[i]"). Returns the number of items, or -1 at the first
 * failure. */
static int key_each(struct ctx *x, const char *p, json_t *o, const char *field, int max, const char *what,
                    const char *const *allowed, int (*fn)(struct ctx *x, const char *pi, json_t *k, size_t i, void *arg),
                    void *arg)
{
    json_t *ks = json_object_get(o, field), *k;
    char pk[300];
    join(pk, sizeof pk, p, field);
    if (!json_is_array(ks) || json_array_size(ks) < 1 || json_array_size(ks) > (size_t)max)
        return fail(x, pk, "must be an array of 1-%d %s", max, what);
    size_t i;
    json_array_foreach(ks, i, k) {
        char pi[320];
        snprintf(pi, sizeof pi, "%.300s[%d]", pk, (int)i);
        if (!json_is_object(k))
            return fail(x, pi, "must be an object");
        if (only_keys(x, pi, k, allowed) || fn(x, pi, k, i, arg))
            return -1;
    }
    return (int)json_array_size(ks);
}

/* The "id" of key object 'k' at 'p' into id[idlen]: 1 to idlen - 1
 * letters, digits, '-' and '_' (captcha key ids go into challenges and
 * form tokens, whose parts '.' separates), and not one of the 'n' ids
 * before it in 'seen' (stride 'stride' bytes). */
static int key_id(struct ctx *x, const char *p, json_t *k, char *id, size_t idlen, const char *seen, size_t stride,
                  size_t n)
{
    if (get_str(x, p, k, "id", id, idlen))
        return -1;
    int ok = id[0] != 0;
    for (const char *c = id; *c; c++)
        ok &= isalnum((unsigned char)*c) || *c == '-' || *c == '_';
    if (!ok)
        return fail(x, p, "needs an \"id\" of 1-%zu letters, digits, '-' and '_'", idlen - 1);
    for (size_t j = 0; j < n; j++)
        if (strcmp(seen + j * stride, id) == 0)
            return fail(x, p, "the id \"%s\" is used twice", id);
    return 0;
}

/* A captcha key's secret: 64-128 hex digits (32-64 bytes), read_secret. */
static int load_secret(struct ctx *x, const char *p, json_t *k, const char *id, long long until,
                       struct pow_key *out)
{
    unsigned char secret[64];
    char hex[260] = "";
    if (read_secret(x, p, k, hex, sizeof hex))
        return -1;
    size_t n = strlen(hex);
    size_t got = 0;
    int bad = n < 64 || n > 128 || n % 2 ||
              sodium_hex2bin(secret, sizeof secret, hex, n, NULL, &got, NULL) != 0 || got != n / 2 ||
              pow_key_init(out, id, secret, got, until) != 0;
    sodium_memzero(hex, sizeof hex);
    sodium_memzero(secret, sizeof secret);
    if (bad)
        return fail(x, p, "the secret must be 64-128 hex digits: 32-64 random bytes, as "
                          "`openssl rand -hex 32` prints them");
    return 0;
}

/* Key 'i' of sites.S.captcha.keys (key_each). */
static int captcha_key(struct ctx *x, const char *pi, json_t *k, size_t i, void *arg)
{
    struct captcha_cfg *cc = arg;
    char id[POW_KEY_ID_MAX] = "", until[32] = "";
    long long until_s = 0;
    if (key_id(x, pi, k, id, sizeof id, cc->keys[0].id, sizeof cc->keys[0], i) ||
        get_str(x, pi, k, "verify_until", until, sizeof until))
        return -1;
    if (until[0] && (i == 0 || (until_s = parse_utc_s(until)) < 0))
        return fail(x, pi, i == 0 ? "the signing key (the first) cannot have verify_until"
                                  : "verify_until must be a UTC time like 2026-12-31T00:00:00Z");
    return load_secret(x, pi, k, id, until_s, &cc->keys[i]);
}

static int parse_captcha(struct ctx *x, const char *path, json_t *site, struct captcha_cfg *cc)
{
    char p[256];
    json_t *o = section(x, path, site, "captcha", p);
    if (!o)
        return x->failed ? -1 : 0;
    static const char *const keys[] = { "keys", "origins", "cost", "counter_min", "counter_max", "ttl_s",
        "test_mode", "challenge_from", "challenge_to", "credit", "client_ip_header", "max_challenges", NULL };
    /* cost and counter bounds: pow.c's limits. A challenge lives at least
     * 10 s (time to solve on a slow phone) and at most a day. */
    if (only_keys(x, p, o, keys) || get_int(x, p, o, "cost", 1, 1000000, &cc->cost) ||
        get_int(x, p, o, "counter_min", 1, 50000000, &cc->counter_min) ||
        get_int(x, p, o, "counter_max", 1, 50000000, &cc->counter_max) ||
        get_int(x, p, o, "ttl_s", 10, 86400, &cc->ttl_s) || get_bool(x, p, o, "test_mode", &cc->test_mode) ||
        get_num(x, p, o, "challenge_from", 0, 1, &cc->band_from) ||
        get_num(x, p, o, "challenge_to", 0, 1, &cc->band_to) || get_num(x, p, o, "credit", 0, 20, &cc->credit) ||
        get_str(x, p, o, "client_ip_header", cc->client_ip_header, sizeof cc->client_ip_header) ||
        get_int(x, p, o, "max_challenges", 0, 1000000, &cc->max_challenges))
        return -1;
    if (cc->band_to < cc->band_from)
        return fail(x, p, "challenge_to (%g) must be at least challenge_from (%g)", cc->band_to, cc->band_from);
    for (const char *h = cc->client_ip_header; *h; h++)
        if (!isalnum((unsigned char)*h) && *h != '-' && *h != '_')
            return fail(x, p, "client_ip_header must be a header name like \"X-Real-IP\"");
    if (cc->counter_max < cc->counter_min)
        return fail(x, p, "counter_max (%ld) must be at least counter_min (%ld)", cc->counter_max, cc->counter_min);
    static const char *const kk[] = { "id", "secret_file", "secret_env", "verify_until", NULL };
    if ((cc->nkeys = key_each(x, p, o, "keys", CAPTCHA_MAX_KEYS, "keys, the signing key first", kk, captcha_key, cc)) < 0)
        return -1;
    json_t *os = json_object_get(o, "origins"), *v;
    size_t i;
    if (os) {
        char po[300];
        join(po, sizeof po, p, "origins");
        if (!json_is_array(os) || json_array_size(os) > CAPTCHA_MAX_ORIGINS)
            return fail(x, po, "must be an array of at most %d origins", CAPTCHA_MAX_ORIGINS);
        json_array_foreach(os, i, v) {
            const char *s = json_string_value(v);
            /* an origin as browsers send it: scheme://host[:port], nothing after */
            const char *h = s ? strstr(s, "://") : NULL;
            if (!s || json_string_length(v) >= sizeof cc->origins[0] || !h ||
                (strncmp(s, "https://", 8) && strncmp(s, "http://", 7)) || !h[3] || strchr(h + 3, '/') ||
                strpbrk(s, " \t\r\n,"))
                return fail(x, po, "item %zu must be an origin like \"https://news.example.org\"", i);
            snprintf(cc->origins[i], sizeof cc->origins[i], "%s", s);
        }
        cc->norigins = (int)json_array_size(os);
    }
    cc->enabled = 1;
    return 0;
}

/* ---------- webhooks ---------- */

static const char *const hook_names[] = { "held", "decided", "reported", "author_changed", NULL };

void webhook_events_csv(unsigned events, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; hook_names[i]; i++)
        if (events & (1u << i))
            n += (size_t)snprintf(out + n, n < outlen ? outlen - n : 0, "%s%s", n ? "," : "", hook_names[i]);
}

/* A webhook's "events" at p into *out: a non-empty array of hook_names. */
static int hook_events(struct ctx *x, const char *p, json_t *v, unsigned *out)
{
    *out = 0;
    size_t i;
    json_t *e;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return fail(x, p, "must be a non-empty array of \"held\", \"decided\", \"reported\", \"author_changed\"");
    json_array_foreach(v, i, e) {
        int k = 0;
        while (hook_names[k] && !(json_is_string(e) && !strcmp(json_string_value(e), hook_names[k])))
            k++;
        if (!hook_names[k])
            return fail(x, p, "must be a non-empty array of \"held\", \"decided\", \"reported\", \"author_changed\"");
        *out |= 1u << k;
    }
    return 0;
}

/* A webhook URL: http:// or https://, a host, at most 500 bytes of
 * printable ASCII (no spaces, no credentials: a secret in a URL would be
 * in logs and policies). */
static int hook_url(struct ctx *x, const char *p, json_t *v, char out[512])
{
    const char *u = json_string_value(v);
    size_t n = u ? strlen(u) : 0;
    const char *host = !u ? NULL : !strncmp(u, "https://", 8) ? u + 8 : !strncmp(u, "http://", 7) ? u + 7 : NULL;
    int ok = host && n <= 500 && *host && *host != '/' && !memchr(host, '@', strcspn(host, "/"));
    for (size_t i = 0; ok && i < n; i++)
        ok = u[i] > 0x20 && u[i] < 0x7f;
    if (!ok)
        return fail(x, p, "must be an http:// or https:// URL with a host, at most 500 characters, without spaces "
                          "or user:password@");
    memcpy(out, u, n + 1);
    return 0;
}

/* Secret 'i' of 'arr' (key_each's item k at pi): its id, then its text
 * (read_secret), 16 to 'max' printable characters without spaces, made an
 * HMAC key; 'why' is the error's wording of that rule. */
static int hmac_secret_at(struct ctx *x, const char *pi, json_t *k, size_t i, struct hmac_secret *arr, size_t max,
                          const char *why)
{
    struct hmac_secret *hs = &arr[i];
    char secret[260] = "";
    if (key_id(x, pi, k, hs->id, sizeof hs->id, arr[0].id, sizeof *hs, i) ||
        read_secret(x, pi, k, secret, sizeof secret))
        return -1;
    size_t n = strlen(secret);
    int ok = n >= 16 && n <= max;
    for (size_t j = 0; j < n; j++)
        ok &= secret[j] > 0x20 && secret[j] < 0x7f;
    if (ok)
        hmac_key_init(&hs->key, (const unsigned char *)secret, n);
    sodium_memzero(secret, sizeof secret);
    return ok ? 0 : fail(x, pi, "%s", why);
}

/* Secret 'i' of sites.S.coral.secrets (key_each). */
static int coral_secret(struct ctx *x, const char *pi, json_t *k, size_t i, void *arg)
{
    return hmac_secret_at(x, pi, k, i, ((struct coral_cfg *)arg)->secrets, 128,
                          "the secret must be Coral's signing secret as its admin shows it "
                          "(\"empsec_\" and hex digits): 16-128 printable characters, no spaces");
}

/* Secret 'i' of a webhook's secrets (key_each). */
static int hook_secret(struct ctx *x, const char *pi, json_t *k, size_t i, void *arg)
{
    return hmac_secret_at(x, pi, k, i, ((struct webhook_cfg *)arg)->secrets, 256,
                          "the secret must be 16-256 printable characters without spaces "
                          "(32 random bytes in hex is good)");
}

static int hook_one(struct ctx *x, const char *pi, json_t *k, size_t i, void *arg)
{
    struct site_cfg *s = arg;
    struct webhook_cfg *w = &s->webhooks[i];
    char p[360];
    w->timeout_ms = 5000;
    if (key_id(x, pi, k, w->id, sizeof w->id, s->webhooks[0].id, sizeof *w, i))
        return -1;
    json_t *u = json_object_get(k, "url"), *e = json_object_get(k, "events");
    join(p, sizeof p, pi, "url");
    if (!u)
        return fail(x, p, "is required");
    if (hook_url(x, p, u, w->url))
        return -1;
    join(p, sizeof p, pi, "events");
    if (!e)
        return fail(x, p, "is required");
    if (hook_events(x, p, e, &w->events) || get_int(x, pi, k, "timeout_ms", 100, 30000, &w->timeout_ms))
        return -1;
    static const char *const kk[] = { "id", "secret_file", "secret_env", NULL };
    w->nsecrets = key_each(x, pi, k, "secrets", WEBHOOK_SECRETS_MAX, "{\"id\", \"secret_file\" or \"secret_env\"}",
                           kk, hook_secret, w);
    return w->nsecrets < 0 ? -1 : 0;
}

/* sites.S.webhooks: up to WEBHOOKS_MAX {"id","url","events","secrets",
 * "timeout_ms"}. */
static int parse_webhooks(struct ctx *x, const char *path, json_t *site, struct site_cfg *s)
{
    json_t *v = json_object_get(site, "webhooks");
    if (!v)
        return 0;
    static const char *const keys[] = { "id", "url", "events", "secrets", "timeout_ms", NULL };
    s->nwebhooks = key_each(x, path, site, "webhooks", WEBHOOKS_MAX,
                            "{\"id\", \"url\", \"events\", \"secrets\"}", keys, hook_one, s);
    return s->nwebhooks < 0 ? -1 : 0;
}

/* sites.S.coral: the signing secrets of Coral's external moderation
 * phase (Configure > Moderation Phases shows one; during a rotation Coral
 * signs with the old and the new one), and what a hold answers. Coral
 * makes its secrets "empsec_" + 64-74 hex digits (generateSigningSecret in
 * coralproject/talk server/src/core/server/models/settings/signingSecret/
 * helpers.ts); anything of 16-128 printable characters is taken, so that
 * a secret pasted from another Coral version still works, but a short
 * one (a typo, a placeholder) is refused. */
static int parse_coral(struct ctx *x, const char *path, json_t *site, struct coral_cfg *cc)
{
    char p[256];
    json_t *o = section(x, path, site, "coral", p);
    if (!o)
        return x->failed ? -1 : 0;
    static const char *const keys[] = { "secrets", "held", NULL };
    if (only_keys(x, p, o, keys) || get_pick(x, p, o, "held", "withheld", "premod", &cc->held_premod))
        return -1;
    static const char *const kk[] = { "id", "secret_file", "secret_env", NULL };
    if ((cc->nsecrets = key_each(x, p, o, "secrets", CORAL_MAX_SECRETS, "{\"id\", \"secret_file\" or \"secret_env\"}",
                                 kk, coral_secret, cc)) < 0)
        return -1;
    cc->enabled = 1;
    return 0;
}

static int parse_form(struct ctx *x, const char *path, json_t *site, const struct captcha_cfg *cc,
                      struct form_cfg *f)
{
    char p[256];
    json_t *o = section(x, path, site, "form_token", p);
    if (!o)
        return x->failed ? -1 : 0;
    static const char *const keys[] = { "required", "min_seconds", "max_seconds", "too_fast", "too_old",
        "invalid", "missing", NULL };
    double min_s = (double)f->min_ms / 1000;
    if (only_keys(x, p, o, keys) || get_bool(x, p, o, "required", &f->required) ||
        get_num(x, p, o, "min_seconds", 0, 3600, &min_s) || get_int(x, p, o, "max_seconds", 1, 31536000, &f->max_s) ||
        get_num(x, p, o, "too_fast", -20, 20, &f->too_fast) || get_num(x, p, o, "too_old", -20, 20, &f->too_old) ||
        get_num(x, p, o, "invalid", -20, 20, &f->invalid) || get_num(x, p, o, "missing", -20, 20, &f->missing))
        return -1;
    f->min_ms = (long)(min_s * 1000);
    if (!cc->enabled)
        return fail(x, p, "form tokens are signed with the site's captcha key: set %.200s.captcha.keys too", path);
    if ((double)f->max_s * 1000 <= (double)f->min_ms)
        return fail(x, p, "max_seconds must be more than min_seconds");
    return 0;
}

static int parse_moderation(struct ctx *x, const char *path, json_t *site, struct moderation_cfg *m)
{
    char p[256];
    json_t *o = section(x, path, site, "moderation", p);
    if (!o)
        return x->failed ? -1 : 0;
    static const char *const keys[] = { "retention_days", "audit_days", "events_days", "learn_on_approve",
        "learn_on_reject", "max_held", "on_full", NULL };
    /* max_held: 0 is no cap; 10 million held comments (about 13 GB) is
     * past any Redis a site would give its queue */
    if (only_keys(x, p, o, keys) || get_int(x, p, o, "retention_days", 1, 3650, &m->retention_days) ||
        get_int(x, p, o, "audit_days", 1, 3650, &m->audit_days) ||
        get_int(x, p, o, "events_days", 1, 365, &m->events_days) ||
        get_bool(x, p, o, "learn_on_approve", &m->learn_on_approve) ||
        get_bool(x, p, o, "learn_on_reject", &m->learn_on_reject) ||
        get_int(x, p, o, "max_held", 0, 10000000, &m->max_held) ||
        get_pick(x, p, o, "on_full", "evict", "refuse", &m->on_full_refuse))
        return -1;
    return 0;
}

static int parse_akismet(struct ctx *x, const char *path, json_t *site, struct akismet_cfg *a)
{
    char p[256];
    json_t *o = section(x, path, site, "akismet", p);
    if (!o)
        return x->failed ? -1 : 0;
    static const char *const keys[] = { "held", "discard_score", NULL };
    if (only_keys(x, p, o, keys) || get_pick(x, p, o, "held", "pending", "spam", &a->held_spam) ||
        get_num(x, p, o, "discard_score", 0, 1, &a->discard_score))
        return -1;
    return 0;
}

/* sites.S.trust (api.md 3.1). */
static int parse_trust(struct ctx *x, const char *path, json_t *o, struct trust_cfg *t)
{
    char p[256];
    join(p, sizeof p, path, "trust");
    static const char *const keys[] = { "approved_to_trust", "trusted_max_score", "new_commenter_hold",
        "max_rejection_rate", "window_days", "min_decisions", "count_automatic", "automatic_max_score", "email_authors",
        NULL };
    if (only_keys(x, p, o, keys) || get_int(x, p, o, "approved_to_trust", 0, 1000000, &t->approved_to_trust) ||
        get_num(x, p, o, "trusted_max_score", 0, 1, &t->trusted_max_score) ||
        get_int(x, p, o, "new_commenter_hold", 0, 1000, &t->new_commenter_hold) ||
        get_num(x, p, o, "max_rejection_rate", 0, 1, &t->max_rejection_rate) ||
        get_int(x, p, o, "window_days", 1, 90, &t->window_days) ||
        get_int(x, p, o, "min_decisions", 1, 1000, &t->min_decisions) ||
        get_bool(x, p, o, "count_automatic", &t->count_automatic) ||
        get_num(x, p, o, "automatic_max_score", 0, 1, &t->automatic_max_score) ||
        get_bool(x, p, o, "email_authors", &t->trust_email))
        return -1;
    return 0;
}

static int parse_site(struct ctx *x, const char *name, json_t *o, int idx, struct cfg *c)
{
    struct site_cfg *s = &c->sites[idx];
    char path[128];
    snprintf(path, sizeof path, "sites.%s", name);
    if (!valid_site_name(name))
        return fail(x, path, "site names are 1-64 characters of a-z, 0-9, '-' and '_'");
    if (!json_is_object(o))
        return fail(x, path, "must be an object");
    static const char *const keys[] = { "keys", "thresholds", "prior", "redis_down",
        "decision_ttl_s", "rate_limits", "api_rate_limit", "links", "words", "duplicates",
        "style", "weights", "bayes", "captcha", "form_token", "moderation", "coral", "shadow", "akismet",
        "premod", "closed", "trust", "reports", "webhooks", NULL };
    if (only_keys(x, path, o, keys))
        return -1;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->src = o;
    site_defaults(s);
    s->blocked = wordlist_new();
    s->suspect = wordlist_new();
    s->heur.blocked = s->blocked;
    s->heur.suspect = s->suspect;
    char p[256];

    json_t *th = get_obj(x, path, o, "thresholds");
    if (th) {
        join(p, sizeof p, path, "thresholds");
        static const char *const tk[] = { "hold", "reject", NULL };
        if (only_keys(x, p, th, tk) || get_num(x, p, th, "hold", 0.01, 1, &s->th.hold) ||
            get_num(x, p, th, "reject", 0.01, 1, &s->th.reject))
            return -1;
        if (s->th.hold > s->th.reject)
            return fail(x, p, "\"hold\" (%g) must not be above \"reject\" (%g)", s->th.hold, s->th.reject);
    }
    /* A prior of 0 or 1 would make every score certain before any evidence. */
    if (get_num(x, path, o, "prior", 0.001, 0.999, &s->prior))
        return -1;
    json_t *rd = json_object_get(o, "redis_down");
    if (rd) {
        join(p, sizeof p, path, "redis_down");
        if (!json_is_string(rd) || decision_parse(json_string_value(rd), &s->redis_down) ||
            s->redis_down == DEC_CHALLENGE)
            return fail(x, p, "must be \"accept\", \"hold\" or \"reject\"");
    }
    if (get_bool(x, path, o, "shadow", &s->shadow) || get_bool(x, path, o, "closed", &s->closed))
        return -1;
    json_t *pm = json_object_get(o, "premod");
    if (pm) {
        join(p, sizeof p, path, "premod");
        if (get_premod(x, p, pm, &s->premod))
            return -1;
    }
    if (get_int(x, path, o, "decision_ttl_s", 60, 365L * 86400, &s->decision_ttl_s))
        return -1;
    json_t *tr = get_obj(x, path, o, "trust");
    if (tr && parse_trust(x, path, tr, &s->trust))
        return -1;
    json_t *rp = get_obj(x, path, o, "reports");
    if (rp) {
        join(p, sizeof p, path, "reports");
        static const char *const rk[] = { "threshold", "hide", NULL };
        if (only_keys(x, p, rp, rk) || get_int(x, p, rp, "threshold", 1, 1000, &s->report_threshold) ||
            get_bool(x, p, rp, "hide", &s->report_hide))
            return -1;
    }

    json_t *rl = get_obj(x, path, o, "rate_limits");
    if (rl) {
        join(p, sizeof p, path, "rate_limits");
        static const char *const rk[] = { "ip", "ip_prefix", "author", "thread", "site", NULL };
        if (only_keys(x, p, rl, rk))
            return -1;
        for (int k = 0; k < BK_COUNT; k++)
            if (parse_bucket(x, p, rl, bucket_names[k], &s->buckets[k]))
                return -1;
    }
    if (parse_bucket(x, path, o, "api_rate_limit", &s->api))
        return -1;

    json_t *ln = get_obj(x, path, o, "links");
    if (ln) {
        join(p, sizeof p, path, "links");
        static const char *const lk[] = { "max", NULL };
        long max = s->heur.max_links;
        if (only_keys(x, p, ln, lk) || get_int(x, p, ln, "max", -1, 1000, &max))
            return -1;
        s->heur.max_links = (int)max;
    }
    json_t *wd = get_obj(x, path, o, "words");
    if (wd) {
        join(p, sizeof p, path, "words");
        static const char *const wk[] = { "blocked", "suspect", NULL };
        if (only_keys(x, p, wd, wk) || parse_words(x, p, wd, "blocked", s->blocked) ||
            parse_words(x, p, wd, "suspect", s->suspect))
            return -1;
    }
    json_t *dp = get_obj(x, path, o, "duplicates");
    if (dp) {
        join(p, sizeof p, path, "duplicates");
        static const char *const dk[] = { "enabled", "window_s", "min_sources", "min_chars", NULL };
        long ms = s->dup_min_sources, mc = (long)s->dup_min_chars;
        if (only_keys(x, p, dp, dk) || get_bool(x, p, dp, "enabled", &s->dup_enabled) ||
            get_int(x, p, dp, "window_s", 10, 30L * 86400, &s->dup_window_s) ||
            get_int(x, p, dp, "min_sources", 2, 100, &ms) ||
            get_int(x, p, dp, "min_chars", 0, 10000, &mc))
            return -1;
        s->dup_min_sources = (int)ms;
        s->dup_min_chars = (size_t)mc;
    }
    json_t *st = get_obj(x, path, o, "style");
    if (st) {
        join(p, sizeof p, path, "style");
        static const char *const sk[] = { "shout_min_letters", "shout_ratio", "repeat_min_run", NULL };
        long sl = s->heur.shout_min_letters, rr = s->heur.repeat_min_run;
        if (only_keys(x, p, st, sk) || get_int(x, p, st, "shout_min_letters", 1, 100000, &sl) ||
            get_num(x, p, st, "shout_ratio", 0.01, 1, &s->heur.shout_ratio) ||
            get_int(x, p, st, "repeat_min_run", 2, 10000, &rr))
            return -1;
        s->heur.shout_min_letters = (int)sl;
        s->heur.repeat_min_run = (int)rr;
    }
    if (parse_weights(x, path, o, &s->heur.w) || parse_bayes(x, path, o, &s->bayes) ||
        parse_captcha(x, path, o, &s->captcha) || parse_form(x, path, o, &s->captcha, &s->form) ||
        parse_moderation(x, path, o, &s->mod) || parse_coral(x, path, o, &s->coral) ||
        parse_akismet(x, path, o, &s->akismet) || parse_webhooks(x, path, o, s))
        return -1;
    if (parse_keys(x, path, o, "keys", idx, c))
        return -1;
    snprintf(s->trust.max_rate_s, sizeof s->trust.max_rate_s, "%.6g", s->trust.max_rejection_rate);
    /* An epoch is four refills long (see the check script in store.c):
     * the previous epoch's hash is read only in its first quarter. */
    s->bucket_epoch_s = 1;
    for (int k = 0; k <= BK_COUNT; k++) {
        struct bucket_cfg *b = k < BK_COUNT ? &s->buckets[k] : &s->api;
        snprintf(b->capacity_s, sizeof b->capacity_s, "%.17g", b->enabled ? b->capacity : 0);
        snprintf(b->per_second_s, sizeof b->per_second_s, "%.17g", b->per_second);
        if (b->enabled && b->per_second > 0 && ceil(b->capacity / b->per_second) > (double)s->bucket_epoch_s)
            s->bucket_epoch_s = (long)ceil(b->capacity / b->per_second);
    }
    /* At most ten years: the script's epoch arithmetic stays in whole
     * numbers Lua prints exactly (it prints 14 digits); a bucket slower
     * than that counts as full again after 10 to 20 years. */
    s->bucket_epoch_s = s->bucket_epoch_s > 315360000L / 4 ? 315360000L : s->bucket_epoch_s * 4;
    return x->failed ? -1 : 0;
}

static int parse_listen(struct ctx *x, const char *path, const char *s, struct cfg *c)
{
    const char *colon = strrchr(s, ':');
    long port;
    if (!colon || colon == s || parse_long(colon + 1, 1, 65535, &port))
        return fail(x, path, "must be HOST:PORT, e.g. 127.0.0.1:8080 (got \"%s\")", s);
    size_t hl = (size_t)(colon - s);
    if (s[0] == '[' && hl > 2 && s[hl - 1] == ']') { /* [::1]:8080 */
        s++;
        hl -= 2;
    }
    if (hl >= sizeof c->listen_host)
        return fail(x, path, "host is too long");
    memcpy(c->listen_host, s, hl);
    c->listen_host[hl] = 0;
    c->listen_port = (int)port;
    return 0;
}

/* Parse redis://[[user]:pass@]host[:port][/db] or unix:///path[?db=N]. */
static int parse_url(const char *url, struct redis_target *e)
{
    memset(e, 0, sizeof *e);
    e->port = 6379;
    if (strncmp(url, "unix://", 7) == 0) {
        const char *p = url + 7, *q = strchr(p, '?');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n == 0 || n >= sizeof e->sock)
            return -1;
        memcpy(e->sock, p, n);
        long db = 0;
        if (q && (strncmp(q, "?db=", 4) != 0 || parse_long(q + 4, 0, 1000, &db)))
            return -1;
        e->db = (int)db;
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0)
        return -1;
    const char *p = url + 8;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon)
            return -1;
        size_t ul = (size_t)(colon - p), pl = (size_t)(at - colon - 1);
        if (ul >= sizeof e->user || pl >= sizeof e->pass)
            return -1;
        memcpy(e->user, p, ul);
        memcpy(e->pass, colon + 1, pl);
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    char hostport[300];
    if (hl == 0 || hl >= sizeof hostport)
        return -1;
    memcpy(hostport, p, hl);
    hostport[hl] = 0;
    char *colon = strrchr(hostport, ':');
    if (colon && !strchr(colon, ']')) {
        long port;
        if (parse_long(colon + 1, 1, 65535, &port))
            return -1;
        e->port = (int)port;
        *colon = 0;
    }
    char *h = hostport;
    size_t n = strlen(h);
    if (h[0] == '[' && n > 2 && h[n - 1] == ']') {
        h[n - 1] = 0;
        h++;
    }
    if (strlen(h) >= sizeof e->host)
        return -1;
    memcpy(e->host, h, strlen(h) + 1);
    if (slash && slash[1]) {
        long db;
        if (parse_long(slash + 1, 0, 1000, &db))
            return -1;
        e->db = (int)db;
    }
    return 0;
}

int cfg_hostport(const char *s, char host[256], int *port)
{
    const char *colon = strrchr(s, ':');
    long p;
    if (!colon || colon == s || parse_long(colon + 1, 1, 65535, &p))
        return -1;
    size_t n = (size_t)(colon - s);
    if (s[0] == '[') {
        if (n < 3 || s[n - 1] != ']')
            return -1;
        s++;
        n -= 2;
    }
    if (n >= 256 || memchr(s, ' ', n))
        return -1;
    memcpy(host, s, n);
    host[n] = 0;
    *port = (int)p;
    return 0;
}

static int master_name_ok(const char *m)
{
    size_t n = strlen(m);
    return n > 0 && n < 128 && strspn(m, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* "host:port,host:port,..." into at most 'max' nodes. Returns the count,
 * or -1. */
static int parse_node_list(const char *v, struct hostport *node, int max)
{
    int nn = 0;
    for (const char *p = v; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char one[300];
        if (n == 0 || n >= sizeof one || nn == max || (e && !e[1]))
            return -1;
        memcpy(one, p, n);
        one[n] = 0;
        if (cfg_hostport(one, node[nn].host, &node[nn].port))
            return -1;
        nn++;
        p = e ? e + 1 : p + n;
    }
    return nn ? nn : -1;
}

/* MODGATE_REDIS_SENTINELS: "MASTER@host:port,host:port,...". */
static int parse_sentinels_env(const char *v, struct sentinel_cfg *s)
{
    memset(s->master, 0, sizeof s->master);
    s->nnodes = 0;
    const char *at = strchr(v, '@');
    if (!at || (size_t)(at - v) >= sizeof s->master)
        return -1;
    memcpy(s->master, v, (size_t)(at - v));
    if (!master_name_ok(s->master))
        return -1;
    int n = parse_node_list(at + 1, s->node, SENTINEL_MAX_NODES);
    s->nnodes = n < 0 ? 0 : n;
    return n < 0 ? -1 : 0;
}

/* A JSON list of 1-'max' "host:port" strings at 'what' into 'node'.
 * Returns the count, or -1 (reported). */
static int get_nodes(struct ctx *x, const char *what, json_t *nodes, struct hostport *node, int max)
{
    size_t nn = json_is_array(nodes) ? json_array_size(nodes) : 0;
    if (nn == 0 || nn > (size_t)max)
        return fail(x, what, "must be a list of 1-%d \"host:port\" strings", max);
    for (size_t i = 0; i < nn; i++) {
        const char *v = json_string_value(json_array_get(nodes, i));
        if (!v || cfg_hostport(v, node[i].host, &node[i].port))
            return fail(x, what, "entry %zu must be \"host:port\" (\"[v6]:port\")", i);
    }
    return (int)nn;
}

static void cfg_free(struct cfg *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nsites; i++) {
        wordlist_free(c->sites[i].blocked);
        wordlist_free(c->sites[i].suspect);
        sodium_memzero(&c->sites[i].captcha, sizeof c->sites[i].captcha);
        sodium_memzero(&c->sites[i].coral, sizeof c->sites[i].coral);
        sodium_memzero(c->sites[i].webhooks, sizeof c->sites[i].webhooks);
    }
    free(c->sites);
    sodium_memzero(c->redis_url, sizeof c->redis_url); /* may hold a password */
    sodium_memzero(&c->sentinel, sizeof c->sentinel);
    sodium_memzero(&c->redis, sizeof c->redis);
    free(c->keys);
    json_decref(c->root);
    json_decref(c->file_root);
    free(c);
}

static int parse_root(struct ctx *x, json_t *root, struct cfg *c)
{
    if (!json_is_object(root))
        return fail(x, "(top level)", "must be a JSON object");
    static const char *const keys[] = { "listen", "log_level", "log_format", "redis", "http", "spool_max",
        "sites", "admin_keys", NULL };
    if (only_keys(x, "", root, keys))
        return -1;
    char listen[128] = "127.0.0.1:8080", level[16] = "info", format[16] = "text";
    if (get_str(x, "", root, "listen", listen, sizeof listen) || parse_listen(x, "listen", listen, c))
        return -1;
    if (get_str(x, "", root, "log_level", level, sizeof level))
        return -1;
    if (log_parse_level(level, &c->log_level))
        return fail(x, "log_level", "must be \"debug\", \"info\", \"warn\" or \"error\"");
    if (get_str(x, "", root, "log_format", format, sizeof format))
        return -1;
    if (log_parse_format(format, &c->log_format))
        return fail(x, "log_format", "must be \"text\" or \"json\"");

    snprintf(c->redis_url, sizeof c->redis_url, "redis://127.0.0.1:6379/0");
    long cto = 200, cmd = 250, retry = 500, conns = 1, acked = 0;
    json_t *r = get_obj(x, "", root, "redis");
    if (r) {
        static const char *const rk[] = { "url", "connect_timeout_ms", "command_timeout_ms",
            "retry_interval_ms", "connections", "sentinel", "cluster", "min_replicas_acked", NULL };
        if (only_keys(x, "redis", r, rk) || get_str(x, "redis", r, "url", c->redis_url, sizeof c->redis_url) ||
            get_int(x, "redis", r, "connect_timeout_ms", 10, 60000, &cto) ||
            get_int(x, "redis", r, "command_timeout_ms", 10, 60000, &cmd) ||
            get_int(x, "redis", r, "retry_interval_ms", 10, 60000, &retry) ||
            get_int(x, "redis", r, "connections", 1, 8, &conns) ||
            get_int(x, "redis", r, "min_replicas_acked", 0, 16, &acked))
            return -1;
        json_t *sn = get_obj(x, "redis", r, "sentinel");
        if (sn) {
            static const char *const sk[] = { "master", "nodes", "password", NULL };
            struct sentinel_cfg *s = &c->sentinel;
            if (only_keys(x, "redis.sentinel", sn, sk) ||
                get_str(x, "redis.sentinel", sn, "master", s->master, sizeof s->master) ||
                get_str(x, "redis.sentinel", sn, "password", s->pass, sizeof s->pass))
                return -1;
            if (!master_name_ok(s->master))
                return fail(x, "redis.sentinel.master", "is required: the name the sentinels monitor the master "
                            "by (letters, digits, '.', '_', '-')");
            int nn = get_nodes(x, "redis.sentinel.nodes", json_object_get(sn, "nodes"), s->node,
                               SENTINEL_MAX_NODES);
            if (nn < 0)
                return -1;
            s->nnodes = nn;
        }
        json_t *cl = get_obj(x, "redis", r, "cluster");
        if (cl) {
            static const char *const ck[] = { "nodes", NULL };
            if (only_keys(x, "redis.cluster", cl, ck))
                return -1;
            int nn = get_nodes(x, "redis.cluster.nodes", json_object_get(cl, "nodes"), c->cluster.node,
                               CLUSTER_MAX_SEEDS);
            if (nn < 0)
                return -1;
            c->cluster.nnodes = nn;
        }
    }
    if (x->failed)
        return -1;
    c->redis_connect_timeout_ms = (int)cto;
    c->redis_command_timeout_ms = (int)cmd;
    c->redis_retry_ms = (int)retry;
    c->redis_connections = (int)conns;
    c->redis_min_replicas_acked = (int)acked;

    long threads = 4, maxbody = 65536, maxconn = 4096, ctimeout = 30, grace = 10, hbuf = 24576;
    long perip = 128, rtimeout = 10, maxhead = -1;
    char loop[8] = "poll";
    json_t *h = get_obj(x, "", root, "http");
    if (h) {
        static const char *const hk[] = { "threads", "max_body_bytes", "max_connections",
            "connection_timeout_s", "shutdown_grace_s", "event_loop", "header_buffer_bytes",
            "max_connections_per_ip", "request_timeout_s", "max_header_bytes", NULL };
        /* 1 KiB is the smallest body that holds a useful comment request;
         * 1 MiB is far beyond any comment and bounds memory per connection. */
        if (only_keys(x, "http", h, hk) || get_int(x, "http", h, "threads", 1, 256, &threads) ||
            get_int(x, "http", h, "max_body_bytes", 1024, 1 << 20, &maxbody) ||
            get_int(x, "http", h, "max_connections", 16, 100000, &maxconn) ||
            get_int(x, "http", h, "connection_timeout_s", 1, 3600, &ctimeout) ||
            get_int(x, "http", h, "shutdown_grace_s", 0, 600, &grace) ||
            get_int(x, "http", h, "header_buffer_bytes", 4096, 1 << 20, &hbuf) ||
            get_int(x, "http", h, "max_connections_per_ip", 0, 100000, &perip) ||
            get_int(x, "http", h, "request_timeout_s", 1, 3600, &rtimeout) ||
            get_int(x, "http", h, "max_header_bytes", 1024, 1 << 19, &maxhead) ||
            get_str(x, "http", h, "event_loop", loop, sizeof loop))
            return -1;
        if (strcmp(loop, "poll") && strcmp(loop, "epoll"))
            return fail(x, "http.event_loop", "must be \"poll\" or \"epoll\" (got \"%s\")", loop);
        /* libmicrohttpd reads the head into about half of its
         * per-connection buffer (the rest holds the parsed headers and the
         * answer; measured: at 16 KiB a head of 8 KiB no longer fits, at
         * 24 KiB one of 12 KiB). A limit above that could never be
         * reached: libmicrohttpd's own HTML 431 would answer instead. */
        if (maxhead > hbuf / 2 - 1024)
            return fail(x, "http.max_header_bytes", "must be at most %ld with http.header_buffer_bytes %ld "
                        "(half of it, less 1024)", hbuf / 2 - 1024, hbuf);
    }
    if (x->failed)
        return -1;
    c->threads = (int)threads;
    c->max_body = (size_t)maxbody;
    c->max_connections = (int)maxconn;
    c->connection_timeout_s = (int)ctimeout;
    c->shutdown_grace_s = (int)grace;
    c->use_epoll = strcmp(loop, "epoll") == 0;
    c->header_buffer = (size_t)hbuf;
    /* A third of the buffer by default (8 KiB of 24): heads between the
     * limit and what libmicrohttpd can hold get modgate's JSON 431. */
    c->max_header_bytes = (size_t)(maxhead > 0 ? maxhead : hbuf / 3);
    c->max_connections_per_ip = (int)perip;
    c->request_timeout_s = (int)rtimeout;
    long spool = 10000;
    if (get_int(x, "", root, "spool_max", 0, 10000000, &spool))
        return -1;
    c->spool_max = (size_t)spool;

    json_t *sites = json_object_get(root, "sites");
    if (!sites || !json_is_object(sites) || json_object_size(sites) == 0)
        return fail(x, "sites", "must be an object with at least one site");
    const char *name;
    json_t *so;
    json_object_foreach(sites, name, so)
        if (name[0] != '#')
            c->nsites++;
    if (c->nsites == 0)
        return fail(x, "sites", "must be an object with at least one site");
    c->sites = xcalloc(c->nsites, sizeof *c->sites);
    int idx = 0;
    json_object_foreach(sites, name, so) {
        if (name[0] == '#')
            continue;
        if (parse_site(x, name, so, idx, c)) {
            c->nsites = (size_t)idx + 1; /* free what was built */
            return -1;
        }
        idx++;
    }
    if (parse_keys(x, "", root, "admin_keys", -1, c))
        return -1;
    /* A site's key may change its own model only: learning into a model
     * named like another site would change that site's filter. Reading
     * another site's model as a fallback is the operator's choice. */
    for (size_t i = 0; i < c->nsites; i++) {
        const struct site_cfg *s = &c->sites[i];
        const struct site_cfg *o = cfg_site(c, s->bayes.model, NULL);
        if (o && o != s) {
            char p[256];
            snprintf(p, sizeof p, "sites.%s.bayes.model", s->name);
            return fail(x, p, "\"%s\" is another site's name: a site learns only into its own model", o->name);
        }
        /* The shipped starter is rewritten by `modgate serve`: no site
         * learns into it. Reading another site's model as a starter (a
         * site seeded from another's export) is the operator's choice. */
        if (strcmp(s->bayes.model, CFG_BAYES_STARTER) == 0) {
            char p[256];
            snprintf(p, sizeof p, "sites.%s.bayes.model", s->name);
            return fail(x, p, "\"%s\" is the shipped starter model: learning never goes into it",
                        CFG_BAYES_STARTER);
        }
    }
    return 0;
}

/* Parse 'root' (new reference, taken) read from 'file_root' (new
 * reference, taken; the same object when no policy is laid over it), then
 * the environment's overrides. */
static struct cfg *cfg_build(json_t *file_root, json_t *root, const char *path, char *err, size_t errlen)
{
    struct ctx x = { err, errlen, 0 };
    struct cfg *c = xcalloc(1, sizeof *c);
    atomic_store(&c->refs, 1);
    snprintf(c->path, sizeof c->path, "%s", path);
    c->file_root = file_root;
    c->root = root;
    int rc = parse_root(&x, root, c);
    const char *env;
    if (rc == 0 && (env = getenv("MODGATE_LISTEN")) && *env)
        rc = parse_listen(&x, "MODGATE_LISTEN", env, c);
    if (rc == 0 && (env = getenv("MODGATE_REDIS_URL")) && *env) {
        if (strlen(env) >= sizeof c->redis_url)
            rc = fail(&x, "MODGATE_REDIS_URL", "is too long");
        else
            snprintf(c->redis_url, sizeof c->redis_url, "%s", env);
    }
    if (rc == 0 && (env = getenv("MODGATE_REDIS_SENTINELS")) && *env && parse_sentinels_env(env, &c->sentinel))
        rc = fail(&x, "MODGATE_REDIS_SENTINELS", "must be MASTER@host:port[,host:port...] (at most %d sentinels)",
                  SENTINEL_MAX_NODES);
    if (rc == 0 && (env = getenv("MODGATE_REDIS_CLUSTER")) && *env) {
        int n = parse_node_list(env, c->cluster.node, CLUSTER_MAX_SEEDS);
        c->cluster.nnodes = n < 0 ? 0 : n;
        if (n < 0)
            rc = fail(&x, "MODGATE_REDIS_CLUSTER", "must be host:port[,host:port...] (at most %d nodes)",
                      CLUSTER_MAX_SEEDS);
    }
    if (rc == 0 && c->cluster.nnodes && c->sentinel.master[0])
        rc = fail(&x, "redis.cluster", "and redis.sentinel exclude each other: a Redis Cluster fails over by "
                  "itself, without sentinels");
    if (rc == 0 && (env = getenv("MODGATE_REDIS_MIN_REPLICAS_ACKED")) && *env) {
        long n;
        if (parse_long(env, 0, 16, &n))
            rc = fail(&x, "MODGATE_REDIS_MIN_REPLICAS_ACKED", "must be 0-16");
        else
            c->redis_min_replicas_acked = (int)n;
    }
    if (rc == 0 && parse_url(c->redis_url, &c->redis) != 0)
        rc = fail(&x, getenv("MODGATE_REDIS_URL") && *getenv("MODGATE_REDIS_URL") ? "MODGATE_REDIS_URL" : "redis.url",
                  "must be redis://[[user]:password@]host[:port][/db] or unix:///path[?db=N]");
    if (rc == 0 && c->cluster.nnodes && c->redis.db)
        rc = fail(&x, "redis.url", "must name database 0 with redis.cluster: a Redis Cluster has no other");
    if (rc) {
        cfg_free(c);
        return NULL;
    }
    return c;
}

struct cfg *cfg_load(const char *path, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (je.line > 0)
            snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        else
            snprintf(err, errlen, "%s: %s", path, je.text);
        return NULL;
    }
    return cfg_build(root, json_incref(root), path, err, errlen);
}

/* ---------- policies ---------- */

/* The top-level fields of a site a policy may set, and within "captcha"
 * and "bayes" (whose other fields are keys, origins and model names: the
 * file's, so a policy can neither leak a secret nor make a site learn
 * into another's model) the ones it may. */
static const char *const policy_keys[] = { "thresholds", "prior", "redis_down", "shadow", "decision_ttl_s",
    "rate_limits", "api_rate_limit", "links", "words", "duplicates", "style", "weights", "bayes", "captcha",
    "form_token", "moderation", "premod", "closed", "trust", "reports", "webhooks", NULL };
static const char *const policy_captcha_keys[] = { "cost", "counter_min", "counter_max", "ttl_s",
    "challenge_from", "challenge_to", "credit", "max_challenges", NULL };
static const char *const policy_bayes_keys[] = { "enabled", "min_learns", "weight", "alpha", "min_tokens",
    "starter_weight", NULL };

static int listed(const char *const *list, const char *k)
{
    for (; *list; list++)
        if (strcmp(*list, k) == 0)
            return 1;
    return 0;
}

int cfg_policy_check(json_t *doc, char *err, size_t errlen)
{
    struct ctx x = { err, errlen, 0 };
    if (!json_is_object(doc))
        return fail(&x, "policy", "must be an object");
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v) {
        if (!listed(policy_keys, k))
            return fail(&x, k, listed((const char *const[]){ "keys", NULL }, k)
                                   ? "API keys are set in the config file, not by a policy"
                                   : "unknown field");
        /* null would mean "the built-in defaults", not the file's values:
         * leave the field out to keep what is in force */
        if (json_is_null(v) && strcmp(k, "api_rate_limit") != 0)
            return fail(&x, k, "cannot be null (leave it out to keep what is in force)");
        if (strcmp(k, "webhooks") == 0) {
            /* {"ID": {"url", "events"}}: where, and what; the secrets are the file's */
            const char *id;
            json_t *w;
            if (!json_is_object(v))
                return fail(&x, k, "must be an object of webhook ids, each {\"url\", \"events\"}");
            json_object_foreach(v, id, w) {
                char p[256];
                join(p, sizeof p, k, id);
                if (!json_is_object(w))
                    return fail(&x, p, "must be an object: {\"url\", \"events\"}");
                const char *f;
                json_t *fv;
                json_object_foreach(w, f, fv) {
                    if (strcmp(f, "url") != 0 && strcmp(f, "events") != 0) {
                        char pu[300];
                        join(pu, sizeof pu, p, f);
                        return fail(&x, pu, strcmp(f, "secrets") == 0 ? "is set in the config file, not by a policy"
                                                                    : "unknown field (a policy sets url and events)");
                    }
                    char pf[300];
                    join(pf, sizeof pf, p, f);
                    char url[512];
                    unsigned ev;
                    if (strcmp(f, "url") == 0 ? hook_url(&x, pf, fv, url) : hook_events(&x, pf, fv, &ev))
                        return -1;
                }
            }
            continue;
        }
        const char *const *sub = strcmp(k, "captcha") == 0 ? policy_captcha_keys
                                 : strcmp(k, "bayes") == 0 ? policy_bayes_keys
                                                           : NULL;
        if (!sub)
            continue;
        if (!json_is_object(v))
            return fail(&x, k, "must be an object");
        const char *f;
        json_t *fv;
        json_object_foreach(v, f, fv) {
            if (listed(sub, f))
                continue;
            char p[256];
            join(p, sizeof p, k, f);
            int file_only = strcmp(f, "keys") == 0 || strcmp(f, "origins") == 0 || strcmp(f, "model") == 0 ||
                            strcmp(f, "fallback") == 0 || strcmp(f, "starter") == 0 ||
                            strcmp(f, "client_ip_header") == 0 ||
                            strcmp(f, "test_mode") == 0;
            return fail(&x, p, file_only ? "is set in the config file, not by a policy" : "unknown field");
        }
    }
    return 0;
}

struct cfg *cfg_with_policies(const struct cfg *base, size_t n, const struct cfg_policy *pol, char *err,
                              size_t errlen)
{
    struct ctx x = { err, errlen, 0 };
    json_t *root = json_deep_copy(base->file_root);
    json_t *sites = json_object_get(root, "sites");
    for (size_t i = 0; i < n && !x.failed; i++) {
        char path[128], why[200];
        snprintf(path, sizeof path, "sites.%s", pol[i].site);
        json_t *site = json_object_get(sites, pol[i].site), *doc = pol[i].doc;
        if (!doc)
            continue;
        if (!json_is_object(site)) {
            fail(&x, path, "is not in the config file");
            break;
        }
        if (cfg_policy_check(doc, why, sizeof why)) {
            fail(&x, path, "%s", why);
            break;
        }
        const char *k;
        json_t *v, *copy = json_deep_copy(doc); /* the new config shares nothing with the caller's */
        json_object_foreach(copy, k, v) {
            json_t *file = json_object_get(site, k);
            if (strcmp(k, "captcha") == 0 && !json_is_object(file)) {
                char pc[160];
                join(pc, sizeof pc, path, k);
                fail(&x, pc, "the config file gives this site no captcha keys");
                break;
            }
            if (strcmp(k, "webhooks") == 0) {
                const char *id;
                json_t *w;
                json_object_foreach(v, id, w) {
                    json_t *hit = NULL, *h;
                    size_t j;
                    json_array_foreach(file, j, h)
                        if (!hit && json_is_string(json_object_get(h, "id")) &&
                            !strcmp(json_string_value(json_object_get(h, "id")), id))
                            hit = h;
                    if (!hit) {
                        char pc[300];
                        snprintf(pc, sizeof pc, "%s.webhooks.%.64s", path, id);
                        fail(&x, pc, "the config file has no webhook with this id (a policy changes the url and "
                                     "events of the file's webhooks)");
                        break;
                    }
                    json_object_update(hit, w);
                }
                if (x.failed)
                    break;
            } else if ((strcmp(k, "captcha") == 0 || strcmp(k, "bayes") == 0) && json_is_object(file)) {
                json_object_update(file, v);
            } else {
                json_object_set(site, k, v);
            }
        }
        json_decref(copy);
    }
    if (x.failed) {
        json_decref(root);
        return NULL;
    }
    struct cfg *c = cfg_build(json_incref(base->file_root), root, base->path, err, errlen);
    for (size_t i = 0; c && i < n; i++) {
        struct site_cfg *s = (struct site_cfg *)cfg_site(c, pol[i].site, NULL);
        if (!s)
            continue;
        s->policy_version = pol[i].version;
        snprintf(s->policy_by, sizeof s->policy_by, "%s", pol[i].by ? pol[i].by : "");
        s->policy_at_ms = pol[i].at_ms;
        s->policy_stored = pol[i].doc != NULL;
    }
    return c;
}

/* A rate as people write it: per minute, 12 significant digits (10/60 per
 * second prints as 10, not 9.9999999999999982). */
static json_t *bucket_json(const struct bucket_cfg *b)
{
    if (!b->enabled)
        return json_null();
    char pm[40];
    snprintf(pm, sizeof pm, "%.12g", b->per_second * 60);
    return json_pack("{s:f,s:f}", "capacity", b->capacity, "per_minute", strtod(pm, NULL));
}

/* A word list as the file (or policy) wrote it: the phrases normalised
 * would not read back as the same list. */
static json_t *words_json(const struct site_cfg *s, const char *which)
{
    json_t *w = json_object_get(json_object_get(s->src, "words"), which);
    return json_is_array(w) ? json_deep_copy(w) : json_array();
}

json_t *cfg_policy_json(const struct site_cfg *s)
{
    json_t *rl = json_object();
    for (int k = 0; k < BK_COUNT; k++)
        json_object_set_new(rl, bucket_names[k], bucket_json(&s->buckets[k]));
    json_t *w = json_object();
    double *wv[] = { WEIGHT_FIELDS((struct heur_weights *)&s->heur.w) };
    for (size_t i = 0; weight_keys[i]; i++)
        json_object_set_new(w, weight_keys[i], json_real(*wv[i]));
    const struct bayes_params *bp = &s->bayes.params;
    json_t *doc = json_pack(
        "{s:{s:f,s:f}, s:f, s:s, s:b, s:I, s:o, s:o, s:{s:i}, s:{s:o,s:o},"
        " s:{s:b,s:I,s:i,s:I}, s:{s:i,s:f,s:i}, s:o,"
        " s:{s:b,s:I,s:f,s:f,s:i,s:f}, s:{s:I,s:I,s:I,s:b,s:b,s:I,s:s}}",
        "thresholds", "hold", s->th.hold, "reject", s->th.reject, "prior", s->prior, "redis_down",
        decision_name(s->redis_down), "shadow", s->shadow, "decision_ttl_s", (json_int_t)s->decision_ttl_s,
        "rate_limits", rl, "api_rate_limit", bucket_json(&s->api), "links", "max", s->heur.max_links, "words",
        "blocked", words_json(s, "blocked"), "suspect", words_json(s, "suspect"), "duplicates", "enabled",
        s->dup_enabled, "window_s", (json_int_t)s->dup_window_s, "min_sources", s->dup_min_sources, "min_chars",
        (json_int_t)s->dup_min_chars, "style", "shout_min_letters", s->heur.shout_min_letters, "shout_ratio",
        s->heur.shout_ratio, "repeat_min_run", s->heur.repeat_min_run, "weights", w, "bayes", "enabled",
        s->bayes.enabled, "min_learns", (json_int_t)bp->min_learns, "weight", s->bayes.weight, "alpha", bp->alpha,
        "min_tokens", bp->min_tokens,
        "starter_weight", s->bayes.starter_weight,
        "moderation", "retention_days", (json_int_t)s->mod.retention_days, "audit_days",
        (json_int_t)s->mod.audit_days, "events_days", (json_int_t)s->mod.events_days, "learn_on_approve",
        s->mod.learn_on_approve, "learn_on_reject", s->mod.learn_on_reject, "max_held", (json_int_t)s->mod.max_held,
        "on_full", s->mod.on_full_refuse ? "refuse" : "evict");
    json_object_set_new(doc, "premod", json_string(premod_name(s->premod)));
    json_object_set_new(doc, "closed", json_boolean(s->closed));
    const struct trust_cfg *t = &s->trust;
    json_object_set_new(doc, "trust",
                        json_pack("{s:I,s:f,s:I,s:f,s:I,s:I,s:b,s:f,s:b}", "approved_to_trust",
                                  (json_int_t)t->approved_to_trust, "trusted_max_score", t->trusted_max_score,
                                  "new_commenter_hold", (json_int_t)t->new_commenter_hold, "max_rejection_rate",
                                  t->max_rejection_rate, "window_days", (json_int_t)t->window_days,
                                  "min_decisions", (json_int_t)t->min_decisions, "count_automatic",
                                  t->count_automatic, "automatic_max_score", t->automatic_max_score, "email_authors",
                                  t->trust_email));
    json_object_set_new(doc, "reports", json_pack("{s:I,s:b}", "threshold", (json_int_t)s->report_threshold, "hide",
                                                  s->report_hide));
    if (s->nwebhooks) {
        json_t *wh = json_object();
        for (int i = 0; i < s->nwebhooks; i++) {
            json_t *ev = json_array();
            for (int k = 0; hook_names[k]; k++)
                if (s->webhooks[i].events & (1u << k))
                    json_array_append_new(ev, json_string(hook_names[k]));
            json_object_set_new(wh, s->webhooks[i].id, json_pack("{s:s,s:o}", "url", s->webhooks[i].url, "events", ev));
        }
        json_object_set_new(doc, "webhooks", wh);
    }
    const struct captcha_cfg *cc = &s->captcha;
    if (cc->enabled) {
        json_object_set_new(doc, "captcha",
                            json_pack("{s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:I}", "cost", (json_int_t)cc->cost,
                                      "counter_min", (json_int_t)cc->counter_min, "counter_max",
                                      (json_int_t)cc->counter_max, "ttl_s", (json_int_t)cc->ttl_s,
                                      "challenge_from", cc->band_from, "challenge_to", cc->band_to, "credit",
                                      cc->credit, "max_challenges", (json_int_t)cc->max_challenges));
        const struct form_cfg *f = &s->form;
        json_object_set_new(doc, "form_token",
                            json_pack("{s:b,s:f,s:I,s:f,s:f,s:f,s:f}", "required", f->required, "min_seconds",
                                      (double)f->min_ms / 1000, "max_seconds", (json_int_t)f->max_s, "too_fast",
                                      f->too_fast, "too_old", f->too_old, "invalid", f->invalid, "missing",
                                      f->missing));
    }
    return doc;
}

const struct site_cfg *cfg_site(const struct cfg *c, const char *name, int *index)
{
    for (size_t i = 0; i < c->nsites; i++) {
        if (strcmp(c->sites[i].name, name) == 0) {
            if (index)
                *index = (int)i;
            return &c->sites[i];
        }
    }
    return NULL;
}

/* ---------- publication ---------- */

/* The current config. Readers take a reference under a read lock, which
 * costs no system call unless a reload is swapping at that very moment; the
 * lock only guarantees that the config cannot be freed between loading the
 * pointer and taking the reference. The last release frees it. */
static pthread_rwlock_t cfg_lock;
static pthread_once_t cfg_lock_once = PTHREAD_ONCE_INIT;
static struct cfg *cfg_current;

/* glibc's default rwlock lets a steady stream of readers starve a writer:
 * prefer the writer, so a reload always gets through. */
static void cfg_lock_init(void)
{
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&cfg_lock, &a);
    pthread_rwlockattr_destroy(&a);
}

struct cfg *cfg_acquire(void)
{
    pthread_once(&cfg_lock_once, cfg_lock_init);
    pthread_rwlock_rdlock(&cfg_lock);
    struct cfg *c = cfg_current;
    if (c)
        atomic_fetch_add(&c->refs, 1);
    pthread_rwlock_unlock(&cfg_lock);
    return c;
}

void cfg_release(struct cfg *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1)
        cfg_free(c);
}

void cfg_swap(struct cfg *c) /* NULL: drop the current config (at exit) */
{
    if (c)
        atomic_store(&c->refs, 1); /* the reference held by "current" */
    pthread_once(&cfg_lock_once, cfg_lock_init);
    pthread_rwlock_wrlock(&cfg_lock);
    struct cfg *old = cfg_current;
    cfg_current = c;
    pthread_rwlock_unlock(&cfg_lock);
    cfg_release(old);
}
