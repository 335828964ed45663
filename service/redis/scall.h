/* scall.h - a Redis script's reply as strings, for the modules above the
 * Redis room (policy.c, threads.c, webhooks.c): asked for by a handler that waits asynchronously
 * (scall_parse as store_script_async's parser), or run and waited for by a
 * background thread (scall_run). */
#ifndef MODGATE_SCALL_H
#define MODGATE_SCALL_H

#include <pthread.h>
#include <stddef.h>

#include "store.h"

struct scall {
    int rc;              /* 0, or -1: Redis failed or the script did */
    size_t n;
    char **v;            /* n strings (new): an array reply's elements, integers as text */
    /* scall_run's wait */
    int waited;
    pthread_mutex_t m;
    pthread_cond_t c;
    int done;
};

/* store_parse_fn: an array reply of strings or integers into 'out' (a
 * struct scall); anything else is rc -1 (a script's error is logged). */
void scall_parse(const struct store_reply *r, const char *err, void *out);

/* Ask for 'script' with 'argc' NUL-terminated arguments of which the
 * first 'nkeys' are KEYS (lane: the store lane's key), 's' filled as
 * scall_parse fills it, then done(arg) on a store thread. */
void scall_async(struct store_script *script, const char *lane, int nkeys, int argc, const char *const *argv,
                 struct scall *s, store_done_fn done, void *arg);

/* Run 'script' with 'argc' arguments of which the first 'nkeys' are KEYS
 * (lane: the store lane's key) and wait for it, bounded by the store's
 * timeouts. 's' is filled as scall_parse fills it. */
void scall_run(struct store_script *script, const char *lane, int nkeys, int argc, const char *const *argv,
               struct scall *s);

/* scall_run with one key a site of 'c', "mg:{SITE}:" + 'suffix', in the
 * order of c->sites, and no other argument (the pollers' reads). */
struct cfg;
void scall_sites(struct store_script *script, const struct cfg *c, const char *suffix, struct scall *s);

/* Element i as a number (0 when it is not one or there is none). */
long long scall_num(const struct scall *s, size_t i);

/* Free what 's' holds (zeroed or filled). */
void scall_free(struct scall *s);

#endif
