/* A linear classifier over token hashes (linsvm.h). */
#include "linsvm.h"

#include <linear.h> /* liblinear */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* Open addressing on the token hash (never 0 in the table: 0 marks an
 * empty slot; a hash of 0 is kept apart in 'zero'). */
struct linear {
    uint64_t *key;
    float *w;
    size_t cap;   /* a power of two */
    size_t n;     /* weights held, 'zero' included */
    int has_zero;
    float zero;
    double bias;
};

static size_t slot_of(uint64_t h, size_t cap)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (size_t)h & (cap - 1);
}

static linear *table_new(size_t n)
{
    linear *m = xcalloc(1, sizeof *m);
    m->cap = 16;
    while (m->cap < 2 * n + 2)
        m->cap <<= 1;
    m->key = xcalloc(m->cap, sizeof *m->key);
    m->w = xcalloc(m->cap, sizeof *m->w);
    return m;
}

/* The slot of 'h' (its key 0 when absent). */
static size_t find(const linear *m, uint64_t h)
{
    size_t i = slot_of(h, m->cap);
    while (m->key[i] && m->key[i] != h)
        i = (i + 1) & (m->cap - 1);
    return i;
}

/* Set h's weight; 'm' has room (table_new sized it). Returns 1 if new. */
static int put(linear *m, uint64_t h, float w)
{
    if (!h) {
        int fresh = !m->has_zero;
        m->has_zero = 1;
        m->zero = w;
        m->n += (size_t)fresh;
        return fresh;
    }
    size_t i = find(m, h);
    int fresh = !m->key[i];
    m->key[i] = h;
    m->w[i] = w;
    m->n += (size_t)fresh;
    return fresh;
}

static double weight(const linear *m, uint64_t h)
{
    if (!h)
        return m->has_zero ? m->zero : 0;
    size_t i = find(m, h);
    return m->key[i] ? m->w[i] : 0;
}

void linear_free(linear *m)
{
    if (!m)
        return;
    free(m->key);
    free(m->w);
    free(m);
}

size_t linear_tokens(const linear *m)
{
    return m ? m->n : 0;
}

double linear_score(const linear *m, const uint64_t *h, size_t n)
{
    if (!m)
        return 0;
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += weight(m, h[i]);
    return m->bias + (n ? s / sqrt((double)n) : 0);
}

static void quiet(const char *s)
{
    (void)s;
}

/* liblinear 2.40 added regularize_bias, and a zeroed parameter means "do
 * not", which its dual solvers refuse: ask for what 2.3 always did. */
static void set_bias_rule(struct parameter *par)
{
#if defined(LIBLINEAR_VERSION) && LIBLINEAR_VERSION >= 240
    par->regularize_bias = 1;
#else
    (void)par;
#endif
}

linear *linear_train(const struct linear_example *ex, size_t n, double cost)
{
    size_t nspam = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        nspam += ex[i].spam != 0;
        total += ex[i].n;
    }
    /* liblinear counts in int; the scratch table holds indices as floats,
     * exact below 2^24 (2,000 comments of TOK_MAX tokens are far below) */
    if (!nspam || nspam == n || n > (size_t)INT32_MAX / 4 || total >= ((size_t)1 << 24))
        return NULL;
    /* Number the distinct hashes 1..U in a scratch table (index in w). */
    linear *ix = table_new(total);
    uint64_t *hash_of = xmalloc((total + 1) * sizeof *hash_of); /* index -> hash */
    size_t u = 0;
    struct feature_node *nodes = xmalloc((total + 2 * n) * sizeof *nodes);
    struct feature_node **rows = xmalloc(n * sizeof *rows);
    double *y = xmalloc(n * sizeof *y);
    struct feature_node *p = nodes;
    for (size_t i = 0; i < n; i++) {
        rows[i] = p;
        y[i] = ex[i].spam ? 1 : -1;
        double v = ex[i].n ? 1 / sqrt((double)ex[i].n) : 0;
        for (size_t j = 0; j < ex[i].n; j++) {
            uint64_t h = ex[i].h[j];
            double got = weight(ix, h); /* the index, stored as a float: exact below 2^24 */
            size_t k = (size_t)got;
            if (!k) {
                k = ++u;
                hash_of[k] = h;
                put(ix, h, (float)k);
            }
            p->index = (int)k;
            p->value = v;
            p++;
        }
        p++->index = 0; /* the bias node: its index is set below, once U is known */
        p++->index = -1;
    }
    for (size_t i = 0; i < n; i++) { /* liblinear wants rows sorted by index */
        struct feature_node *r = rows[i];
        size_t len = 0;
        while (r[len].index > 0)
            len++;
        for (size_t a = 1; a < len; a++) { /* insertion sort: rows are short */
            struct feature_node t = r[a];
            size_t b = a;
            while (b && r[b - 1].index > t.index) {
                r[b] = r[b - 1];
                b--;
            }
            r[b] = t;
        }
        r[len].index = (int)u + 1;
        r[len].value = 1;
    }
    linear_free(ix);
    struct problem prob = { .l = (int)n, .n = (int)u + 1, .y = y, .x = rows, .bias = 1 };
    struct parameter par;
    memset(&par, 0, sizeof par);
    par.solver_type = L2R_L2LOSS_SVC_DUAL;
    par.C = cost;
    par.eps = 0.1;
    set_bias_rule(&par);
    set_print_string_function(quiet);
    linear *m = NULL;
    if (!check_parameter(&prob, &par)) {
        struct model *lm = train(&prob, &par);
        double sign = lm->label[0] == 1 ? 1 : -1; /* w is for label[0] */
        m = table_new(u);
        for (size_t k = 1; k <= u; k++)
            if (lm->w[k - 1] != 0)
                put(m, hash_of[k], (float)(sign * lm->w[k - 1]));
        m->bias = sign * lm->w[u];
        free_and_destroy_model(&lm);
    }
    free(hash_of);
    free(nodes);
    free(rows);
    free(y);
    return m;
}

/* ---------- wire form ---------- */

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

#define HEAD 16 /* magic 4, count 4, bias 8 */
#define ENTRY 12

size_t linear_encode(const linear *m, unsigned char **out)
{
    size_t len = HEAD + m->n * ENTRY;
    unsigned char *b = xmalloc(len), *p = b + HEAD;
    memcpy(b, "MGL1", 4);
    put_le(b + 4, m->n, 4);
    uint64_t bits;
    memcpy(&bits, &m->bias, 8);
    put_le(b + 8, bits, 8);
    for (size_t i = 0; i <= m->cap; i++) {
        uint64_t h;
        float w;
        if (i == m->cap) {
            if (!m->has_zero)
                break;
            h = 0;
            w = m->zero;
        } else if (m->key[i]) {
            h = m->key[i];
            w = m->w[i];
        } else {
            continue;
        }
        uint32_t wb;
        memcpy(&wb, &w, 4);
        put_le(p, h, 8);
        put_le(p + 8, wb, 4);
        p += ENTRY;
    }
    *out = b;
    return len;
}

linear *linear_decode(const unsigned char *p, size_t len)
{
    if (len < HEAD || memcmp(p, "MGL1", 4))
        return NULL;
    size_t n = (size_t)get_le(p + 4, 4);
    if ((len - HEAD) % ENTRY || (len - HEAD) / ENTRY != n)
        return NULL;
    uint64_t bits = get_le(p + 8, 8);
    double bias;
    memcpy(&bias, &bits, 8);
    if (!isfinite(bias))
        return NULL;
    linear *m = table_new(n);
    m->bias = bias;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *e = p + HEAD + i * ENTRY;
        uint32_t wb = (uint32_t)get_le(e + 8, 4);
        float w;
        memcpy(&w, &wb, 4);
        if (!isfinite(w) || !put(m, get_le(e, 8), w)) { /* not finite, or a hash twice */
            linear_free(m);
            return NULL;
        }
    }
    return m;
}

/* ---------- the combination ---------- */

int linear_fit_stack(const double *z, const double *s, const unsigned char *is_spam, size_t n,
                     size_t need, struct linear_stack *out)
{
    size_t ns = 0, nh = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(z[i]) && isfinite(s[i]))
            *(is_spam[i] ? &ns : &nh) += 1;
    if (ns < need || nh < need || !ns || !nh)
        return -1;
    struct feature_node *nodes = xmalloc((ns + nh) * 4 * sizeof *nodes);
    struct feature_node **rows = xmalloc((ns + nh) * sizeof *rows);
    double *y = xmalloc((ns + nh) * sizeof *y);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(z[i]) || !isfinite(s[i]))
            continue;
        struct feature_node *r = rows[k] = nodes + 4 * k;
        r[0].index = 1;
        r[0].value = z[i];
        r[1].index = 2;
        r[1].value = s[i];
        r[2].index = 3;
        r[2].value = 1;
        r[3].index = -1;
        y[k++] = is_spam[i] ? 1 : -1;
    }
    /* Each class weighs the same in all: the combination is for equal
     * priors, as the Bayes calibration is. C = 10 per comment is a light
     * hold on three weights. */
    int labels[2] = { 1, -1 };
    double weights[2] = { 0.5 * (double)k / (double)ns, 0.5 * (double)k / (double)nh };
    struct problem prob = { .l = (int)k, .n = 3, .y = y, .x = rows, .bias = -1 };
    struct parameter par;
    memset(&par, 0, sizeof par);
    par.solver_type = L2R_LR;
    par.C = 10;
    par.eps = 0.001;
    set_bias_rule(&par);
    par.nr_weight = 2;
    par.weight_label = labels;
    par.weight = weights;
    set_print_string_function(quiet);
    int rc = -1;
    if (!check_parameter(&prob, &par)) {
        struct model *lm = train(&prob, &par);
        double sign = lm->label[0] == 1 ? 1 : -1;
        struct linear_stack st = { sign * lm->w[0], sign * lm->w[1], sign * lm->w[2] };
        free_and_destroy_model(&lm);
        if (st.u > 0 && st.v > 0 && isfinite(st.c)) {
            *out = st;
            rc = 0;
        }
    }
    free(nodes);
    free(rows);
    free(y);
    return rc;
}
