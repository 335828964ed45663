/* formtoken.h - signed comment-form tokens: when was this form shown?
 *
 * A token is issued when the comment form renders (GET /v1/form-token)
 * and sent back with the comment (/v1/check's "form_token"). It carries
 * the time it was issued, signed, so modgate can tell a bot that posts a
 * second after the page loaded, or a form scraped days ago, from a person
 * who typed for a while:
 *   ft1.<key id>.<issued, Unix ms>.<nonce, 16 hex>.<HMAC-SHA-256, 64 hex>
 * over "ft1|site|key id|issued|nonce", keyed by a key derived from the
 * site's captcha key (so rotation works the same way). Pure code: no I/O,
 * no clock. */
#ifndef MODGATE_FORMTOKEN_H
#define MODGATE_FORMTOKEN_H

#include <stdint.h>

#include "pow.h"

#define FORM_TOKEN_MAX 160

/* A token for 'site' issued at 'now_ms', signed with 'k', into
 * out[FORM_TOKEN_MAX]. Returns 0, or -1 when the key id or site is unfit. */
int form_token_make(const struct pow_key *k, const char *site, int64_t now_ms, char out[FORM_TOKEN_MAX]);

enum form_status {
    FORM_OK,
    FORM_MALFORMED,      /* not a token of that shape */
    FORM_UNKNOWN_KEY,    /* a key we do not have (or no longer accept) */
    FORM_BAD_SIGNATURE,  /* forged, altered, or made for another site */
};

/* Check 'tok' for 'site' at 'now_ms' (the MAC in constant time). Returns
 * FORM_OK with the issue time in *issued_ms, or why not. */
enum form_status form_token_check(const char *tok, const struct pow_key *keys, int nkeys, const char *site,
                                  int64_t now_ms, int64_t *issued_ms);

#endif
