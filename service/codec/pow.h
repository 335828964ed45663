/* pow.h - ALTCHA "PoW v2" challenges and their verification.
 *
 * modgate issues deterministic PBKDF2/SHA-256 challenges, the mode ALTCHA
 * recommends: it derives the key at a random counter N that it keeps to
 * itself, publishes the first half of that key as keyPrefix and
 * HMAC(key secret, key) as keySignature, and signs the parameters with
 * HMAC-SHA-256 over their canonical JSON (keys sorted, compact), exactly
 * as the widget's own server library does, so the unmodified `altcha`
 * widget solves them. Only counter N gives the prefix, so the client must
 * try counters 0..N: N sets the work. Verifying costs two HMACs and no
 * key derivation, and checks what the reference library skips: that the
 * derived key really has the required prefix and length.
 *
 * Pure code: no I/O and no clock (the caller passes the time). Single use
 * is the caller's: pow_verify returns the nonce to redeem once in Redis. */
#ifndef MODGATE_POW_H
#define MODGATE_POW_H

#include <stddef.h>
#include <stdint.h>

#include "hmac.h"

#define POW_KEY_ID_MAX 32
#define POW_SITE_MAX 64

/* A signing secret, prepared: the secret itself is not kept, only the
 * HMAC states of it and of the two keys made from it (see pow_key_init).
 * The newest key signs; older ones still verify until 'verify_until_s'
 * (0: no limit), so keys can be rotated. Secret: wipe with pow_key_wipe. */
struct pow_key {
    char id[POW_KEY_ID_MAX];      /* printable ASCII */
    int64_t verify_until_s;
    struct hmac_key sign;         /* the secret: signs challenge parameters */
    struct hmac_key keysig;       /* signs derived keys (keySignature) */
    struct hmac_key form;         /* signs form tokens (formtoken.h) */
};

/* Prepare 'k' from 'secret' (any length; 32 random bytes advised). The
 * key signature and form token keys are HMAC-SHA-256(secret, label), so
 * one configured secret serves all three without a MAC made for one use
 * ever passing for another. Returns 0, or -1 when 'id' is not 1-31
 * printable ASCII characters. */
int pow_key_init(struct pow_key *k, const char *id, const unsigned char *secret, size_t len,
                 int64_t verify_until_s);
void pow_key_wipe(struct pow_key *k);

#define POW_HOST_MAX 256

struct pow_issue {
    const char *site;             /* printable ASCII, < POW_SITE_MAX */
    const char *host;             /* the page's host name (from Origin), "" unknown */
    int64_t now_s;
    int ttl_s;                    /* the challenge expires at now + ttl */
    uint32_t cost;                /* PBKDF2 iterations per counter tried */
    uint32_t counter;             /* N: the client tries about N + 1 counters */
};

/* The challenge JSON the widget fetches, signed with 'k' (new; free()),
 * or NULL when 'in' is out of range (see pow.c) or memory ran out. */
char *pow_challenge(const struct pow_key *k, const struct pow_issue *in);

enum pow_status {
    POW_OK,
    POW_MALFORMED,      /* not base64 of a JSON payload of the v2 shape */
    POW_TEST_MODE,      /* the widget's test-mode payload: no work at all */
    POW_UNKNOWN_KEY,    /* signed with a key we do not have (or no longer accept) */
    POW_BAD_SIGNATURE,  /* parameters changed since we signed them */
    POW_EXPIRED,
    POW_WRONG_SITE,     /* issued for another site */
    POW_NOT_SOLVED,     /* the derived key is not the one that solves it */
};

/* What a valid payload was. */
struct pow_result {
    char nonce[33];               /* hex: redeem it once */
    char host[POW_HOST_MAX];      /* pow_issue.host */
    int64_t expires_s;
    uint32_t cost, counter;
    char key_id[POW_KEY_ID_MAX];
};

/* Verify the widget's payload (base64 of its JSON, as posted in the form
 * field) for 'site' at 'now_s' against 'keys'. Signature, key signature
 * and the derived key are compared in constant time. Returns POW_OK and
 * fills 'out', or the first reason it is not valid, in the order of the
 * enum above after POW_TEST_MODE: key, signature, expiry, site, solution.
 *
 * The payload the widget writes (parameters exactly as we sent them) is
 * read by a scanner of that one layout, which signs the parameters' bytes
 * as they stand; anything else goes through a JSON parser and has its
 * canonical JSON rebuilt. Both give the same answer for every input. */
enum pow_status pow_verify(const char *payload, size_t len, const struct pow_key *keys, int nkeys,
                           const char *site, int64_t now_s, struct pow_result *out);

/* pow_verify with the JSON parser only: for the tests that prove the two
 * paths agree. */
enum pow_status pow_verify_general(const char *payload, size_t len, const struct pow_key *keys, int nkeys,
                                   const char *site, int64_t now_s, struct pow_result *out);

/* The stable reason code of a status ("captcha_solved", "captcha_expired", ...). */
const char *pow_status_code(enum pow_status s);

/* The key ALTCHA derives for 'counter':
 * PBKDF2-HMAC-SHA-256(nonce || uint32_be(counter), salt, cost, 32). */
void pow_derive(const unsigned char nonce[16], const unsigned char salt[16], uint32_t cost, uint32_t counter,
                unsigned char out[32]);

#endif
