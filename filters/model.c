/* model.c - the in-memory Bayes model: an open-addressing hash table.
 *
 * Slots are {hash, spam, ham}: 16 bytes, four to a cache line. Linear
 * probing with the table at most half full keeps a lookup to about 1.5
 * probes; removal shifts the following entries back (no tombstones), so
 * a model that learns and unlearns for months never degrades. Token
 * hashes are already well mixed (tok_hash), so their low bits index the
 * table directly. Hash 0 marks an empty slot; a real token hashing to 0
 * is stored as 1 (one collision in 2^64). */
#include "model.h"

#include "xalloc.h"
#include <stdlib.h>
#include <string.h>

struct slot {
    uint64_t h;       /* 0: empty */
    uint32_t spam;
    uint32_t ham;
};

struct model {
    struct slot *t;
    size_t mask;      /* table size - 1 (a power of two) */
    size_t used;      /* occupied slots */
    uint64_t nspam, nham;
};

/* A new model's table: 4096 slots (64 KiB), room for 2048 tokens before
 * the first resize; a site's model grows to tens of thousands. */
#define INITIAL_SLOTS 4096

static uint64_t key_of(uint64_t h)
{
    return h ? h : 1;
}

model *model_new(void)
{
    model *m = xcalloc(1, sizeof *m);
    m->t = xcalloc(INITIAL_SLOTS, sizeof *m->t);
    m->mask = INITIAL_SLOTS - 1;
    return m;
}

void model_free(model *m)
{
    if (!m)
        return;
    free(m->t);
    free(m);
}

void model_clear(model *m)
{
    memset(m->t, 0, (m->mask + 1) * sizeof *m->t);
    m->used = 0;
    m->nspam = m->nham = 0;
}

/* The slot holding 'k', or the empty slot where it would go. */
static struct slot *find(const model *m, uint64_t k)
{
    size_t i = (size_t)k & m->mask;
    for (;;) {
        struct slot *s = &m->t[i];
        if (s->h == k || s->h == 0)
            return s;
        i = (i + 1) & m->mask;
    }
}

static void grow(model *m)
{
    size_t old_n = m->mask + 1;
    struct slot *old = m->t;
    m->t = xcalloc(old_n * 2, sizeof *m->t);
    m->mask = old_n * 2 - 1;
    for (size_t i = 0; i < old_n; i++)
        if (old[i].h)
            *find(m, old[i].h) = old[i];
    free(old);
}

/* The slot for 'k', inserted empty if it was not there. */
static struct slot *upsert(model *m, uint64_t k)
{
    struct slot *s = find(m, k);
    if (s->h)
        return s;
    if ((m->used + 1) * 2 > m->mask + 1) {
        grow(m);
        s = find(m, k);
    }
    s->h = k;
    s->spam = s->ham = 0;
    m->used++;
    return s;
}

/* Remove the entry in slot 's' and shift back the run after it, so every
 * remaining entry stays reachable from its home slot without tombstones. */
static void remove_slot(model *m, struct slot *s)
{
    size_t i = (size_t)(s - m->t);
    size_t j = i;
    for (;;) {
        j = (j + 1) & m->mask;
        if (m->t[j].h == 0)
            break;
        size_t home = (size_t)m->t[j].h & m->mask;
        /* Entry j may move to hole i when its home is not in (i, j]. */
        int in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_range) {
            m->t[i] = m->t[j];
            i = j;
        }
    }
    memset(&m->t[i], 0, sizeof m->t[i]); /* an empty slot reads as 0/0 */
    m->used--;
}

/* A large model does not fit the cache, and a comment's few hundred
 * tokens land in as many random cache lines: each lookup asks for the
 * home slot of the token PREFETCH_AHEAD places on, so that that many
 * misses are in flight while this one is read (asking for all of them at
 * once overflows the CPU's miss buffers: measured slower). */
#define PREFETCH_AHEAD 12

static inline void ahead(const model *m, const uint64_t *h, size_t i, size_t n, int rw)
{
    if (i + PREFETCH_AHEAD < n) {
        if (rw)
            __builtin_prefetch(&m->t[(size_t)key_of(h[i + PREFETCH_AHEAD]) & m->mask], 1);
        else
            __builtin_prefetch(&m->t[(size_t)key_of(h[i + PREFETCH_AHEAD]) & m->mask]);
    }
}

static inline void start(const model *m, const uint64_t *h, size_t n, int rw)
{
    for (size_t i = 0; i < n && i < PREFETCH_AHEAD; i++) {
        if (rw)
            __builtin_prefetch(&m->t[(size_t)key_of(h[i]) & m->mask], 1);
        else
            __builtin_prefetch(&m->t[(size_t)key_of(h[i]) & m->mask]);
    }
}

void model_get(const model *m, const uint64_t *h, size_t n, uint32_t *spam, uint32_t *ham)
{
    start(m, h, n, 0);
    for (size_t i = 0; i < n; i++) {
        ahead(m, h, i, n, 0);
        const struct slot *s = find(m, key_of(h[i]));
        spam[i] = s->spam; /* an empty slot holds zeros */
        ham[i] = s->ham;
    }
}

/* Add 'f_spam' times and 'f_ham' times m's counts of the 'n' tokens to
 * spam_out[i] and ham_out[i]. */
static void add_scaled(const model *m, double f_spam, double f_ham, const uint64_t *h, size_t n,
                       double *spam_out, double *ham_out)
{
    start(m, h, n, 0);
    for (size_t i = 0; i < n; i++) {
        ahead(m, h, i, n, 0);
        const struct slot *s = find(m, key_of(h[i]));
        spam_out[i] += f_spam * s->spam;
        ham_out[i] += f_ham * s->ham;
    }
}

void model_get_blend(const model *site, const model *starter, double scale_spam, double scale_ham,
                     const uint64_t *h, size_t n, double *spam_out, double *ham_out)
{
    start(site, h, n, 0);
    for (size_t i = 0; i < n; i++) {
        ahead(site, h, i, n, 0);
        const struct slot *s = find(site, key_of(h[i]));
        spam_out[i] = s->spam;
        ham_out[i] = s->ham;
    }
    if (!starter || (scale_spam == 0 && scale_ham == 0))
        return;
    add_scaled(starter, scale_spam, scale_ham, h, n, spam_out, ham_out);
}

void model_get_sum(const model *const *ms, const double *f_spam, const double *f_ham, size_t nm,
                   const uint64_t *h, size_t n, double *spam_out, double *ham_out)
{
    for (size_t i = 0; i < n; i++)
        spam_out[i] = ham_out[i] = 0;
    for (size_t j = 0; j < nm; j++)
        if (ms[j] && ms[j]->used && (f_spam[j] != 0 || f_ham[j] != 0))
            add_scaled(ms[j], f_spam[j], f_ham[j], h, n, spam_out, ham_out);
}

void model_balance(const uint64_t *total, size_t n, uint64_t need, double *factor)
{
    uint64_t ref = 0;
    if (n && total[0] >= need && total[0] > 0)
        ref = total[0]; /* the site's own total, once it has 'need' */
    else
        for (size_t j = 1; j < n; j++)
            if (total[j] >= need && total[j] > 0 && (!ref || total[j] < ref))
                ref = total[j];
    for (size_t j = 0; j < n; j++)
        factor[j] = ref && total[j] > ref ? (double)ref / (double)total[j] : 1.0;
}

void model_totals_blend(const model *site, const model *starter, double scale_spam,
                        double scale_ham, double *nspam, double *nham)
{
    *nspam = (double)site->nspam;
    *nham = (double)site->nham;
    if (starter) {
        *nspam += scale_spam * (double)starter->nspam;
        *nham += scale_ham * (double)starter->nham;
    }
}

double model_blend_scale(uint64_t total, double k)
{
    if (!(k > 0) || total == 0)
        return 0;
    return k < (double)total ? k / (double)total : 1.0;
}

static void set_count(model *m, uint64_t k, enum model_class cls, uint32_t v)
{
    struct slot *s = v ? upsert(m, k) : find(m, k);
    if (!s->h)
        return; /* setting an unknown token to 0: nothing to do */
    if (cls == MODEL_SPAM)
        s->spam = v;
    else
        s->ham = v;
    if (!s->spam && !s->ham)
        remove_slot(m, s);
}

void model_add(model *m, const uint64_t *h, size_t n, enum model_class cls, int delta)
{
    /* As in model_get: the home slots' misses overlap. A grow during the
     * loop only makes the later hints stale, never wrong. */
    start(m, h, n, 1);
    for (size_t i = 0; i < n; i++) {
        ahead(m, h, i, n, 1);
        uint64_t k = key_of(h[i]);
        struct slot *s = delta > 0 ? upsert(m, k) : find(m, k);
        if (!s->h)
            continue; /* unlearning a token the model does not have */
        uint32_t *c = cls == MODEL_SPAM ? &s->spam : &s->ham;
        int64_t v = (int64_t)*c + delta;
        *c = v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
        if (!s->spam && !s->ham)
            remove_slot(m, s);
    }
    uint64_t *tot = cls == MODEL_SPAM ? &m->nspam : &m->nham;
    if (delta < 0 && *tot < (uint64_t)-delta)
        *tot = 0;
    else
        *tot += (uint64_t)(int64_t)delta;
}

void model_set(model *m, uint64_t h, enum model_class cls, uint32_t v)
{
    set_count(m, key_of(h), cls, v);
}

void model_totals(const model *m, uint64_t *nspam, uint64_t *nham)
{
    *nspam = m->nspam;
    *nham = m->nham;
}

void model_set_totals(model *m, uint64_t nspam, uint64_t nham)
{
    m->nspam = nspam;
    m->nham = nham;
}

size_t model_tokens(const model *m)
{
    return m->used;
}

size_t model_bytes(const model *m)
{
    return sizeof *m + (m->mask + 1) * sizeof *m->t;
}

int model_next(const model *m, size_t *iter, uint64_t *h, uint32_t *spam, uint32_t *ham)
{
    while (*iter <= m->mask) {
        const struct slot *s = &m->t[(*iter)++];
        if (s->h) {
            *h = s->h;
            *spam = s->spam;
            *ham = s->ham;
            return 1;
        }
    }
    return 0;
}
