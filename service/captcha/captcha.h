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
#include "pow.h"

/* A redeemed solution is remembered this long past its expiry, so that
 * an instance whose clock is behind cannot take it a second time. */
#define REDEEM_MARGIN_S 120

void captcha_challenge_handle(struct http_request *req, struct http_response *resp);
void captcha_preflight_handle(struct http_request *req, struct http_response *resp);
void captcha_verify_handle(struct http_request *req, struct http_response *resp);
/* GET /v1/form-token?site=S: a signed form token (formtoken.h), public
 * and CORS-limited like challenges (the same OPTIONS answer). */
void form_token_handle(struct http_request *req, struct http_response *resp);

/* The mean work (counters to try) of a challenge for a network that was
 * given 'rate' challenges in the last 1-2 minutes (this one included) and
 * had 'spam' comments rejected in the last 1-2 hours:
 *   counter_min x (1 + rate / 10) x 2^min(spam, 10), at most counter_max. */
long captcha_work(const struct captcha_cfg *cc, long rate, long spam);

/* A fresh challenge of 'site' for a page on 'host' ("" unknown) with mean
 * work 'work', as the challenge endpoint answers it (new; free()), or NULL. */
char *captcha_issue(const struct site_cfg *site, const char *host, long work);

#endif
