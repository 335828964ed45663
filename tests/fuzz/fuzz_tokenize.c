/* fuzz_tokenize.c - fuzz target for the Bayes tokenizer and classifier.
 *
 * Any byte string is a comment body (invalid UTF-8 included: the service
 * refuses it, but `modgate eval` and learning read files). Invariants:
 * at most TOK_MAX tokens, no hash twice, every hash is tok_hash of its
 * text, texts are valid UTF-8 (unless cut at the text limit), groups are
 * in range, the fingerprint is stable, and classifying the tokens against
 * a model learned from them gives a probability in [0, 1] that leans spam
 * when learned as spam. Built two ways, as fuzz_filters is. */
#include <math.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bayes.h"
#include "model.h"
#include "text.h"
#include "tokenize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tok_list *tl, *tl2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tl) {
        if (sodium_init() < 0)
            abort();
        tl = tok_list_new();
        tl2 = tok_list_new();
    }
    /* The first byte, when there is one, says whether the body carries an
     * author URL (the rest of the input up to a NUL) too. */
    const char *body = (const char *)data;
    size_t n = size;
    char url[300] = "";
    if (n && data[0] == 'U') {
        size_t k = 1;
        while (k < n && data[k] && k < sizeof url)
            k++;
        memcpy(url, data + 1, k - 1);
        url[k - 1] = 0;
        body += k;
        n -= k;
        if (strlen(url) != k - 1)
            abort();
    }
    struct tok_input in = { body, n, url[0] ? url : NULL };
    tok_run(tl, &in);
    size_t nt = tok_count(tl);
    const uint64_t *h = tok_hashes(tl);
    if (nt > TOK_MAX)
        abort();
    for (size_t i = 0; i < nt; i++) {
        char t[300];
        size_t len = tok_text(tl, i, t, sizeof t);
        if (len == 0 || len > 255)
            abort();
        if (tok_hash(t, len) != h[i])
            abort(); /* what a token is called and what it counts as agree */
        if (len < 255 && !text_utf8_valid(t, len))
            abort();
        for (size_t j = 0; j < i; j++)
            if (h[j] == h[i])
                abort();
    }
    /* Deterministic, and a reused list equals a fresh one. */
    char fp1[33], fp2[33];
    tok_fingerprint(tl, fp1);
    tok_run(tl2, &in);
    tok_fingerprint(tl2, fp2);
    if (strcmp(fp1, fp2) != 0 || tok_count(tl2) != nt)
        abort();

    /* Learned as spam 30 times against 30 other comments learned as ham,
     * the same comment's evidence must lean spam (its raw score; what the
     * calibration makes of a comment of one or two tokens is another
     * matter). */
    model *m = model_new();
    for (int k = 0; k < 30; k++)
        model_add(m, h, nt, MODEL_SPAM, 1);
    uint64_t other = tok_hash("zz-other-token", 14);
    for (int k = 0; k < 30; k++)
        model_add(m, &other, 1, MODEL_HAM, 1);
    double sp[TOK_MAX], hm[TOK_MAX];
    model_get_blend(m, NULL, 0, 0, h, nt, sp, hm);
    struct bayes_params bp;
    bayes_defaults(&bp);
    struct bayes_result r;
    bayes_classify(&bp, NULL, sp, hm, nt, tok_lead(tl), 30, 30, &r);
    if (!(r.p >= 0 && r.p <= 1) || isnan(r.p) || !isfinite(r.logit))
        abort();
    if (nt && (!r.opinion || !(r.logit > 0)))
        abort();
    for (int k = 0; k < 30; k++)
        model_add(m, h, nt, MODEL_SPAM, -1);
    uint64_t ns, nh;
    model_totals(m, &ns, &nh);
    if (ns != 0 || nh != 30 || model_tokens(m) != 1)
        abort(); /* unlearning restores the model exactly */
    model_free(m);
    return 0;
}
