/* check.h - POST /v1/check: validate a comment, score it, decide. */
#ifndef MODGATE_CHECK_H
#define MODGATE_CHECK_H

#include "http.h"

/* The /v1/check handler (role cms). See api.md for the request and
 * response. One Redis round trip for accept/reject, two for hold. */
void check_handle(struct http_request *req, struct http_response *resp);

#endif
