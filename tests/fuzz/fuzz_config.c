/* fuzz_config.c - fuzz target for the config loader.
 *
 * Includes service/config.c to reach its static parse_root (as unit tests
 * may), so no file is written per input. Any byte string is either a
 * config whose validated fields hold their promises, or refused with a
 * one-line reason; never a crash, a hang or a leak. An operator's typo
 * must not be able to take the service down. */
#include "../../service/config.c"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        log_level = LOG_LVL_ERROR;
        ready = 1;
    }
    char err[512] = "";
    struct ctx x = { err, sizeof err, 0 };
    json_error_t je;
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return 0;
    struct cfg *c = xcalloc(1, sizeof *c);
    int rc = parse_root(&x, root, c);
    json_decref(root);
    if (rc == 0 && parse_url(c->redis_url, &c->redis) != 0)
        rc = fail(&x, "redis.url", "bad url");
    if (rc == 0) {
        if (err[0] || c->nsites == 0 || !c->sites)
            abort();
        for (size_t i = 0; i < c->nsites; i++) {
            const struct site_cfg *s = &c->sites[i];
            if (!s->name[0] || s->bucket_epoch_s < 1 || !(s->th.hold > 0 && s->th.hold <= s->th.reject) ||
                s->th.reject > 1)
                abort();
            /* A Bayes model name goes into Redis key names; a site never
             * learns into another site's model. */
            const struct bayes_site_cfg *bc = &s->bayes;
            if (!bc->model[0] || strpbrk(bc->model, "{}:*? \n") || strpbrk(bc->fallback, "{}:*? \n") ||
                strcmp(bc->model, bc->fallback) == 0 || bc->params.min_learns < 1 || bc->params.min_tokens < 1 ||
                bc->params.min_tokens > BAYES_MAX_TOKENS || !(bc->params.alpha >= 0.01 && bc->params.alpha <= 1000) ||
                !(bc->weight >= 0))
                abort();
            const struct site_cfg *owner = cfg_site(c, bc->model, NULL);
            if (owner && owner != s)
                abort();
            for (int k = 0; k <= BK_COUNT; k++) {
                const struct bucket_cfg *b = k < BK_COUNT ? &s->buckets[k] : &s->api;
                if (!b->capacity_s[0] || !b->per_second_s[0] || (b->enabled && !(b->per_second > 0)))
                    abort();
            }
        }
        for (size_t i = 0; i < c->nkeys; i++)
            if (c->keys[i].site < 0 || (size_t)c->keys[i].site >= c->nsites)
                abort();
    } else if (!err[0] || strchr(err, '\n')) {
        fprintf(stderr, "refusal without a one-line reason: \"%s\"\n", err);
        abort(); /* a refusal always says why, on one line */
    }
    cfg_free(c);
    return 0;
}
