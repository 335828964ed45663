/* scall.c - a Redis script's reply as strings (scall.h). */
#include "scall.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "util.h"

static const char *str_of(const struct store_reply *r)
{
    return r && (r->type == STORE_REPLY_STRING || r->type == STORE_REPLY_STATUS) ? r->str : "";
}

void scall_parse(const struct store_reply *r, const char *err, void *out)
{
    struct scall *s = out;
    s->rc = -1;
    if (!r || r->type != STORE_REPLY_ARRAY) { /* r NULL: unreachable ('err'); else an error reply */
        if (r)
            LOG_ERROR(NULL, "a script failed: %.200s", r->type == STORE_REPLY_ERROR ? r->str : "bad reply");
        (void)err;
        return;
    }
    s->v = xcalloc(r->elements + 1, sizeof *s->v);
    for (size_t i = 0; i < r->elements; i++) {
        const struct store_reply *e = r->element[i];
        if (e->type == STORE_REPLY_INTEGER) {
            char t[24];
            snprintf(t, sizeof t, "%lld", e->integer);
            s->v[i] = xstrdup(t);
        } else {
            s->v[i] = xstrndup(str_of(e), e->type == STORE_REPLY_STRING ? e->len : 0);
        }
    }
    s->n = r->elements;
    s->rc = 0;
}

static void run_done(void *arg)
{
    struct scall *s = arg;
    pthread_mutex_lock(&s->m);
    s->done = 1;
    pthread_cond_signal(&s->c);
    pthread_mutex_unlock(&s->m);
}

void scall_async(struct store_script *script, const char *lane, int nkeys, int argc, const char *const *argv,
                 struct scall *s, store_done_fn done, void *arg)
{
    size_t *lens = xcalloc((size_t)argc + 1, sizeof *lens);
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    store_script_async(script, lane, nkeys, argc, argv, lens, scall_parse, s, done, arg);
    free(lens);
}

void scall_run(struct store_script *script, const char *lane, int nkeys, int argc, const char *const *argv,
               struct scall *s)
{
    memset(s, 0, sizeof *s);
    s->waited = 1;
    pthread_mutex_init(&s->m, NULL);
    pthread_cond_init(&s->c, NULL);
    scall_async(script, lane, nkeys, argc, argv, s, run_done, s);
    pthread_mutex_lock(&s->m);
    while (!s->done)
        pthread_cond_wait(&s->c, &s->m);
    pthread_mutex_unlock(&s->m);
}

void scall_sites(struct store_script *script, const struct cfg *c, const char *suffix, struct scall *s)
{
    size_t n = c->nsites;
    char **keys = xcalloc(n, sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        struct buf b;
        buf_init(&b);
        buf_printf(&b, "mg:{%s}:%s", c->sites[i].name, suffix);
        keys[i] = b.p;
    }
    scall_run(script, c->sites[0].name, (int)n, (int)n, (const char *const *)keys, s);
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

long long scall_num(const struct scall *s, size_t i)
{
    return i < s->n ? strtoll(s->v[i], NULL, 10) : 0;
}

void scall_free(struct scall *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
    if (s->waited) {
        pthread_mutex_destroy(&s->m);
        pthread_cond_destroy(&s->c);
        s->waited = 0;
    }
}
