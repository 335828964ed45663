/* tuning.h - what thresholds and policies would have done to comments
 * that moderators labelled, online (the queue in Redis) and offline
 * (`modgate eval --sweep`).
 *
 * A labelled comment is one a moderator decided: approved (ham) or
 * rejected / marked spam (spam). It is scored again under a policy from
 * what was kept of it: its text (links, words, style and honeypot rules
 * run again), and the context recorded when it arrived (Bayes evidence,
 * duplicates, form timing, a solved captcha, Redis being down), which
 * the policy's weights scale. filters/sweep.h turns the scores into
 * decisions and figures. */
#ifndef MODGATE_TUNING_H
#define MODGATE_TUNING_H

#include <stddef.h>

#include "config.h"
#include "http.h"
#include "sweep.h"

struct json_t;

/* The score, floor and captcha of a comment under site 's': 'body' (n
 * bytes, valid UTF-8), its author URL and honeypot (may be NULL), and
 * 'reasons' (the stored reasons array, may be NULL) of which the context
 * ones are kept; their Bayes contribution is scaled by s's weight over
 * 'weight_then' (the weight it was recorded with, which check.c stores
 * with a held comment as "bayes_weight"; 0: kept as is). Without
 * stored reasons, 'bayes_p' (P(spam), or a negative number: none) is the
 * Bayes opinion. out->spam is left alone. */
void tuning_score(const struct site_cfg *s, const char *body, size_t n, const char *author_url,
                  const char *honeypot, struct json_t *reasons, double weight_then, double bayes_p,
                  struct sweep_item *out);

/* The bands of site 's' (thresholds and challenge band). */
void tuning_bands(const struct site_cfg *s, struct sweep_bands *b);

/* A sweep row as JSON (new). */
struct json_t *tuning_row_json(const struct sweep_row *r);

/* GET /v1/sites/{site}/tuning and POST /v1/sites/{site}/tuning/dry-run
 * (role admin), api.md 2.11. */
void tuning_handle(struct http_request *req, struct http_response *resp);
void dry_run_handle(struct http_request *req, struct http_response *resp);

#endif
