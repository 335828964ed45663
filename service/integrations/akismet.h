/* akismet.h - the Akismet protocol over modgate's check and learn.
 *
 *   POST /1.1/verify-key     "valid" or "invalid"
 *   POST /1.1/comment-check  "true" (spam), "false", or "invalid" and the
 *                            like, with Akismet's X-akismet-* headers
 *   POST /1.1/submit-spam    "Thanks for making the web a better place."
 *   POST /1.1/submit-ham
 *   GET  /1.1/test           "connected"
 *   POST /1.1/get-subscription  the key's account, JSON ({"status":"active"})
 *   POST /1.1/get-stats      "invalid": modgate keeps no Akismet statistics
 *
 * Form bodies of any content type; the key is a modgate cms key, sent as
 * "api_key" or "key" or as the first label of Host; its site is the one
 * checked. api.md 2.12 documents the fields, answers and headers. */
#ifndef MODGATE_AKISMET_H
#define MODGATE_AKISMET_H

#include "http.h"

/* Routes with no role (the handler authenticates) and json_body 3. */
void akismet_verify_handle(struct http_request *req, struct http_response *resp);
void akismet_check_handle(struct http_request *req, struct http_response *resp);
void akismet_spam_handle(struct http_request *req, struct http_response *resp);
void akismet_ham_handle(struct http_request *req, struct http_response *resp);
void akismet_test_handle(struct http_request *req, struct http_response *resp);
void akismet_subscription_handle(struct http_request *req, struct http_response *resp);
void akismet_stats_handle(struct http_request *req, struct http_response *resp);

#endif
