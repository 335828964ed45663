/* check.h - POST /v1/check: validate a comment, score it, decide. */
#ifndef MODGATE_CHECK_H
#define MODGATE_CHECK_H

#include "http.h"

/* The /v1/check handler (role cms). See api.md for the request and
 * response. One Redis round trip for accept/reject, two for hold. */
void check_handle(struct http_request *req, struct http_response *resp);

/* How an adapter (integrations/) asks for a check other than /v1/check's. */
enum {
    CHECK_NO_CLIENT = 1, /* "client" may be left out (Coral sends no IP):
                            the IP and network buckets are then skipped */
    CHECK_DRY = 2,       /* decide and answer, record nothing: no rate-limit
                            tokens, no duplicates, no replay, no held
                            comment, no captcha redeemed, not counted in
                            /metrics (Akismet's is_test). It still costs
                            the key a token of its API bucket */
    CHECK_NO_CHALLENGE = 4, /* the caller cannot show a captcha (Akismet,
                            Coral): a score in the site's challenge band
                            is held, and no challenge is made */
};

/* check_handle on req->body, which an adapter has set to a /v1/check
 * body it made, with CHECK_* 'flags'. req->ident must be a key of the
 * request's site (the adapter authenticated the caller). The answer is
 * /v1/check's: the adapter's req->finish turns it into its own. */
void check_run(struct http_request *req, struct http_response *resp, unsigned flags);

#endif
