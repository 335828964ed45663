/* hmac.h - HMAC-SHA-256 with the key's pads hashed once.
 *
 * Every captcha check is HMACs under a handful of long-lived keys, over
 * messages of a few hundred bytes. libsodium's HMAC hashes the key's two
 * pad blocks again each time, and its SHA-256 is portable C. Here a key
 * is prepared once (its inner and outer states after the pads), and the
 * compression uses the CPU's SHA instructions where it has them (x86
 * SHA-NI), portable C elsewhere: the same bytes as
 * crypto_auth_hmacsha256, which the unit tests check on both paths.
 *
 * Pure code: no allocation, no I/O. */
#ifndef MODGATE_HMAC_H
#define MODGATE_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define HMAC_LEN 32

/* A prepared key. Secret: wipe it with hmac_key_wipe. */
struct hmac_key {
    uint32_t inner[8], outer[8];
};

/* Prepare 'key' (any length; longer than 64 bytes is hashed first, as
 * RFC 2104 says). */
void hmac_key_init(struct hmac_key *k, const unsigned char *key, size_t len);
void hmac_key_wipe(struct hmac_key *k);

/* out = HMAC-SHA-256(k, msg) */
void hmac_sha256(const struct hmac_key *k, const void *msg, size_t len, unsigned char out[HMAC_LEN]);

/* out = HMAC-SHA-256(k, a || b): two parts without copying them together. */
void hmac_sha256_2(const struct hmac_key *k, const void *a, size_t alen, const void *b, size_t blen,
                   unsigned char out[HMAC_LEN]);

/* PBKDF2-HMAC-SHA-256 (RFC 8018) of 'pw', one output block:
 * out[outlen <= 32]. */
void hmac_pbkdf2(const unsigned char *pw, size_t pwlen, const unsigned char *salt, size_t saltlen,
                 uint32_t iterations, unsigned char *out, size_t outlen);

/* 1 when the SHA instructions are in use. hmac_force_portable(1) turns
 * them off (tests and benchmarks compare both paths); not thread-safe. */
int hmac_accelerated(void);
void hmac_force_portable(int on);

#endif
