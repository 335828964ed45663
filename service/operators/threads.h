/* threads.h - editorial settings per thread (a story, an article):
 * pre-moderation and closing, set by the CMS or an admin for a while or
 * for good (api.md 2.14).
 *
 * Redis holds them (threads_put.lua); every instance keeps a copy in
 * memory, fetched again when the site's threads version moves (polled
 * with the policies, every 200 ms), so a check reads them with no Redis
 * work at all. */
#ifndef MODGATE_THREADS_H
#define MODGATE_THREADS_H

#include "config.h"
#include "http.h"

/* The most thread settings a site may have at once (ended ones go). */
#define THREADS_MAX 10000

/* A thread's settings: each field the thread sets overrides the site's. */
struct thread_setting {
    int has_premod;
    enum premod premod;
    int has_closed;
    int closed;
    long long until_ms;   /* its end (wall clock, ms); 0: none */
};

/* The settings of 'thread_id' on 'site' at 'now_ms', unless they ended.
 * Returns 1 and fills 'out', or 0. Safe from any thread. */
int threads_lookup(const char *site, const char *thread_id, long long now_ms, struct thread_setting *out);

/* Register the scripts (before the store connects). */
void threads_init(void);

/* One look at every site's threads version; fetches the sites whose
 * version moved. Called by the policy poller's thread. Returns 0, or -1
 * when Redis did not answer. */
int threads_poll(const struct cfg *c);

/* Free the copies (at stop, after the poller). */
void threads_free(void);

/* PUT, GET and DELETE /v1/sites/{site}/threads/{thread_id}, GET
 * /v1/sites/{site}/threads. */
void threads_put_handle(struct http_request *req, struct http_response *resp);
void threads_get_handle(struct http_request *req, struct http_response *resp);
void threads_delete_handle(struct http_request *req, struct http_response *resp);
void threads_list_handle(struct http_request *req, struct http_response *resp);

#endif
