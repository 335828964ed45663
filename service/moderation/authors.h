/* authors.h - commenters' reputation as moderators see and set it
 * (api.md 2.15): counts of what moderators decided about an author's and
 * a network's comments, and a status a moderator sets on an author. The
 * counts live in Redis (service/redis/lua/lib/rep.lua), where the check
 * script reads them in its one round trip and check.c turns them into
 * reasons. */
#ifndef MODGATE_AUTHORS_H
#define MODGATE_AUTHORS_H

#include <stddef.h>

struct http_request;
struct http_response;
struct store_reply;
struct json_t;
struct cfg;

/* Register the scripts (call before store_start). */
void authors_init(void);

/* Does 'site' have authors its moderators pre-moderate? Then a check of
 * any author there may be held by that rule, and check.c sends the hold
 * along (one round trip). Known from a poll of every site (authors_poll,
 * with the policies' every 200 ms), and at once after a PUT on this
 * instance. Safe from any thread. */
int authors_premod_any(const char *site);

/* One look at how many authors each site of 'c' pre-moderates. Called by
 * the policy poller's thread (policy_also_poll). Returns 0, or -1 when
 * Redis did not answer. */
int authors_poll(const struct cfg *c);

/* The JSON view of lib/rep.lua's rep_view list, which starts at element
 * 'from' of 'r' (new), for author key 'key' and network 'net' ("" or
 * NULL: none), its recent counts over 'days'; NULL when 'r' has too few
 * elements. */
struct json_t *authors_view(const struct store_reply *r, size_t from, const char *key, const char *net, long days);

/* GET and PUT /v1/sites/{site}/authors/{author}; {author} is the CMS's
 * author id, "email:" + the author key of an e-mail address or "key:" +
 * any author key (request.h's req_author_key). */
void authors_get_handle(struct http_request *req, struct http_response *resp);
void authors_put_handle(struct http_request *req, struct http_response *resp);

#endif
