/* policy.h - per-site policies that admins change at run time.
 *
 * A site's policy is the part of its config object that says how strict
 * it is (thresholds, weights, rate limits, word lists, captcha work, ...:
 * config.h's cfg_policy_check lists it). The config file gives the first
 * one; a PUT stores a new version in Redis, and every instance polls the
 * versions every POLL_MS and swaps in a config with the stored policies
 * laid over the file's sites, so a change reaches all of them well within
 * a second, without a restart. Versions are kept and any can be made
 * current again (a revert is a new version with an old version's text).
 *
 * Redis keys (site S):
 *   mg:{S}:policy      hash {ver, doc, by, at}: the current version; doc ""
 *                      means the config file's (version 0 or a revert to it)
 *   mg:{S}:policy:log  hash version -> {"by","at","note","reverted_from","policy"}
 * While Redis is unreachable instances keep the policies they have. */
#ifndef MODGATE_POLICY_H
#define MODGATE_POLICY_H

#include "config.h"
#include "http.h"

/* Start the poller, then wait until it has read the stored policies once
 * (at most the connect and command timeouts, when Redis is down). Returns
 * 0, or -1 when the thread could not start. */
int policy_start(void);
void policy_stop(void);

/* Have the poller also call 'fn' after each good look at the policies
 * (at most 4; call before policy_start): another module's own poll of
 * what instances share (authors.h's authors_poll). It returns 0, or -1
 * when Redis did not answer. */
void policy_also_poll(int (*fn)(const struct cfg *c));

/* Stop the poller if it ends within 'ms' (its Redis call answered):
 * 0, stopped and freed as policy_stop does; -1, still waiting (then
 * cut Redis short, e.g. store_failfast, and call policy_stop). */
int policy_stop_within(int ms);

/* Make 'file' (a config just loaded from the file, reference stolen)
 * current with the stored policies this instance knows laid over it. A
 * policy the new file no longer allows is dropped (logged) and the site
 * gets the file's. */
void policy_swap_file(struct cfg *file);

/* The config req->cfg would be with 'patch' (a PUT's "policy") laid
 * over site 's''s policy in force (new reference; *merged_out, when not
 * NULL, gets the whole policy, new), or NULL with the 400 in 'resp'. */
struct cfg *policy_try(struct http_request *req, const struct site_cfg *s, struct json_t *patch,
                       struct json_t **merged_out, struct http_response *resp);

/* The handlers (role admin), api.md 2.10. */
void policy_get_handle(struct http_request *req, struct http_response *resp);
void policy_put_handle(struct http_request *req, struct http_response *resp);
void policy_validate_handle(struct http_request *req, struct http_response *resp);
void policy_versions_handle(struct http_request *req, struct http_response *resp);
void policy_revert_handle(struct http_request *req, struct http_response *resp);

#endif
