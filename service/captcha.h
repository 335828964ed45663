/* captcha.h - the captcha endpoints (api.md §2.6).
 *
 * GET /v1/captcha/challenge?site=S: a signed ALTCHA PoW v2 challenge for
 * the unmodified `altcha` widget; public, CORS limited to the site's
 * origins (OPTIONS answers the browser's preflight).
 * POST /v1/captcha/verify: the siteverify shape of Turnstile, hCaptcha
 * and reCAPTCHA ({secret, response, remoteip} -> {success, challenge_ts,
 * hostname, error-codes}), so CMS plugins written for them can use
 * modgate; 'secret' is one of the site's cms keys. A solved challenge is
 * redeemed once (Redis), until it expires. */
#ifndef MODGATE_CAPTCHA_H
#define MODGATE_CAPTCHA_H

#include "http.h"

void captcha_challenge_handle(struct http_request *req, struct http_response *resp);
void captcha_preflight_handle(struct http_request *req, struct http_response *resp);
void captcha_verify_handle(struct http_request *req, struct http_response *resp);

#endif
