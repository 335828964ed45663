/* pow.c - ALTCHA PoW v2 challenges and verification; see pow.h.
 *
 * The wire format is ALTCHA's (its altcha-lib 2.x and widget 3.x):
 *   challenge: {"parameters":{"algorithm":"PBKDF2/SHA-256","cost":C,
 *     "data":{"host":..,"kid":..,"site":..},"expiresAt":T,"keyLength":32,
 *     "keyPrefix":<32 hex>,"keySignature":<64 hex>,"nonce":<32 hex>,
 *     "salt":<32 hex>},"signature":<64 hex>}
 *   payload: base64 of {"challenge":{"parameters":{..as received..},
 *     "signature":..},"solution":{"counter":N,"derivedKey":<64 hex>,..}}
 * signature = HMAC-SHA-256(secret, canonical JSON of parameters). Every
 * value we sign is an integer or an ASCII string, so jansson's sorted
 * compact JSON is byte for byte JavaScript's JSON.stringify of the same
 * object (not so for reals: jansson writes 0.1 as 0.10000000000000001). */
#include "pow.h"

#include <jansson.h>
#include <sodium.h>
#include <string.h>

#include "jfast.h"
#include "text.h"
#include "util.h"

#define KEY_LEN 32
#define HEX_LEN 16                    /* nonce and salt: 16 random bytes */
#define PAYLOAD_MAX 4096              /* a real payload is about 600 bytes */
#define COST_MAX 1000000u
#define COUNTER_MAX 100000000u
#define TTL_MIN 10
#define TTL_MAX 86400
#define ALGORITHM "PBKDF2/SHA-256"
#define CANON_MAX 4096

void pow_pbkdf2_sha256(const unsigned char *pw, size_t pwlen, const unsigned char *salt, size_t saltlen,
                       uint32_t iterations, unsigned char *out, size_t outlen)
{
    /* One block is enough for outlen <= 32. The keyed state is made once
     * and copied for every iteration: each then costs two compressions. */
    crypto_auth_hmacsha256_state keyed, st;
    unsigned char u[KEY_LEN], t[KEY_LEN];
    static const unsigned char block1[4] = { 0, 0, 0, 1 };
    crypto_auth_hmacsha256_init(&keyed, pw, pwlen);
    st = keyed;
    crypto_auth_hmacsha256_update(&st, salt, saltlen);
    crypto_auth_hmacsha256_update(&st, block1, 4);
    crypto_auth_hmacsha256_final(&st, u);
    memcpy(t, u, KEY_LEN);
    for (uint32_t i = 1; i < iterations; i++) {
        st = keyed;
        crypto_auth_hmacsha256_update(&st, u, KEY_LEN);
        crypto_auth_hmacsha256_final(&st, u);
        for (int k = 0; k < KEY_LEN; k++)
            t[k] ^= u[k];
    }
    memcpy(out, t, outlen < KEY_LEN ? outlen : KEY_LEN);
    sodium_memzero(&keyed, sizeof keyed);
    sodium_memzero(&st, sizeof st);
}

void pow_derive(const unsigned char nonce[16], const unsigned char salt[16], uint32_t cost, uint32_t counter,
                unsigned char out[32])
{
    unsigned char pw[HEX_LEN + 4];
    memcpy(pw, nonce, HEX_LEN);
    pw[HEX_LEN] = (unsigned char)(counter >> 24);
    pw[HEX_LEN + 1] = (unsigned char)(counter >> 16);
    pw[HEX_LEN + 2] = (unsigned char)(counter >> 8);
    pw[HEX_LEN + 3] = (unsigned char)counter;
    pow_pbkdf2_sha256(pw, sizeof pw, salt, HEX_LEN, cost ? cost : 1, out, KEY_LEN);
}

void pow_subkey(const struct pow_key *k, const char *label, unsigned char out[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, k->secret, k->secret_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)label, strlen(label));
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

/* The key secret that signs derived keys: a second key made from the
 * signing secret, so one configured secret serves both. */
static void key_secret(const struct pow_key *k, unsigned char out[KEY_LEN])
{
    pow_subkey(k, "modgate captcha key signature", out);
}

static void hmac(const unsigned char *key, size_t klen, const void *msg, size_t mlen, unsigned char out[KEY_LEN])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, klen);
    crypto_auth_hmacsha256_update(&st, msg, mlen);
    crypto_auth_hmacsha256_final(&st, out);
}

/* HMAC of the canonical JSON of 'params'. Returns 0, or -1 when it cannot
 * be written. */
static int sign_params(const struct pow_key *k, const json_t *params, unsigned char out[KEY_LEN])
{
    char *canon = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
    if (!canon)
        return -1;
    hmac(k->secret, k->secret_len, canon, strlen(canon), out);
    free(canon);
    return 0;
}

/* 1-(max-1) printable ASCII characters (0 allowed when empty_ok). */
static int printable_ascii(const char *s, size_t max, int empty_ok)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e)
            return 0;
    return (n > 0 || empty_ok) && n < max;
}

static json_t *hex_string(const unsigned char *b, size_t n)
{
    char hex[2 * KEY_LEN + 1];
    sodium_bin2hex(hex, sizeof hex, b, n);
    return json_string(hex);
}

char *pow_challenge(const struct pow_key *k, const struct pow_issue *in)
{
    if (!printable_ascii(k->id, POW_KEY_ID_MAX, 0) || !printable_ascii(in->site, POW_SITE_MAX, 0) ||
        !printable_ascii(in->host, POW_HOST_MAX, 1) || in->cost < 1 ||
        in->cost > COST_MAX || in->counter > COUNTER_MAX || in->ttl_s < TTL_MIN || in->ttl_s > TTL_MAX)
        return NULL;
    unsigned char nonce[HEX_LEN], salt[HEX_LEN], dk[KEY_LEN], ks[KEY_LEN], sig[KEY_LEN];
    randombytes_buf(nonce, sizeof nonce);
    randombytes_buf(salt, sizeof salt);
    pow_derive(nonce, salt, in->cost, in->counter, dk);
    key_secret(k, ks);
    hmac(ks, sizeof ks, dk, sizeof dk, sig);
    json_t *p = json_pack("{s:s, s:I, s:{s:s, s:s, s:s}, s:I, s:i, s:o, s:o, s:o, s:o}", "algorithm", ALGORITHM,
                          "cost", (json_int_t)in->cost, "data", "host", in->host, "kid", k->id, "site", in->site,
                          "expiresAt",
                          (json_int_t)(in->now_s + in->ttl_s), "keyLength", KEY_LEN, "keyPrefix",
                          hex_string(dk, KEY_LEN / 2), "keySignature", hex_string(sig, KEY_LEN), "nonce",
                          hex_string(nonce, HEX_LEN), "salt", hex_string(salt, HEX_LEN));
    char *out = NULL;
    if (p && sign_params(k, p, sig) == 0) {
        json_t *c = json_pack("{s:O, s:o}", "parameters", p, "signature", hex_string(sig, KEY_LEN));
        out = c ? json_dumps(c, JSON_COMPACT) : NULL;
        json_decref(c);
    }
    json_decref(p);
    sodium_memzero(dk, sizeof dk);
    sodium_memzero(ks, sizeof ks);
    return out;
}

/* ---------- verification ---------- */

/* Standard base64 with padding (what btoa writes) into out[cap]. Not
 * libsodium's decoder: that one is constant-time, and at 77 instructions
 * a character it was a fifth of a verification; a payload is public data.
 * Returns the length, or -1 when 'in' is not that. */
static long b64_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
    /* the value of each byte, -1 when it is not A-Z a-z 0-9 + / */
    static const signed char val[256] = {
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
        52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
        -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
        15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
        -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
        41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    };
    if (n == 0 || n % 4)
        return -1;
    size_t pad = in[n - 1] == '=' ? (in[n - 2] == '=' ? 2 : 1) : 0;
    size_t len = n / 4 * 3 - pad;
    if (len > cap)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int last = i + 4 == n;
        int a = val[(unsigned char)in[i]], b = val[(unsigned char)in[i + 1]];
        int c = last && pad == 2 ? 0 : val[(unsigned char)in[i + 2]];
        int d = last && pad ? 0 : val[(unsigned char)in[i + 3]];
        if ((a | b | c | d) < 0)
            return -1;
        unsigned v = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)c << 6 | (unsigned)d;
        out[o++] = (unsigned char)(v >> 16);
        if (o < len)
            out[o++] = (unsigned char)(v >> 8);
        if (o < len)
            out[o++] = (unsigned char)v;
    }
    return (long)len;
}

/* Append s as a JSON string as JSON.stringify writes it; s is printable
 * ASCII (our_shape checked), so only '"' and '\\' are escaped. */
static void put_str(char **w, const char *s)
{
    *(*w)++ = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            *(*w)++ = '\\';
        *(*w)++ = *s;
    }
    *(*w)++ = '"';
}

static void put_lit(char **w, const char *s)
{
    size_t n = strlen(s);
    memcpy(*w, s, n);
    *w += n;
}

static void put_int(char **w, json_int_t v)
{
    *w += fmt_int(*w, (long long)v);
}

/* The canonical JSON of parameters of our shape, keys sorted, into
 * out[CANON_MAX]: our_shape bounds every string (under 256 bytes, and kid
 * and site shorter), so even all escaped it is under 3,500 bytes. The same bytes
 * as json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS), which the unit tests
 * check, at a tenth of the cost. Returns the length. */
static size_t canonical(const json_t *p, char *out)
{
    /* the keys in sorted order, each with what comes before it */
    static const struct { const char *before, *key; int in_data, is_int; } f[] = {
        { "{\"algorithm\":", "algorithm", 0, 0 }, { ",\"cost\":", "cost", 0, 1 },
        { ",\"data\":{\"host\":", "host", 1, 0 }, { ",\"kid\":", "kid", 1, 0 },
        { ",\"site\":", "site", 1, 0 }, { "},\"expiresAt\":", "expiresAt", 0, 1 },
        { ",\"keyLength\":", "keyLength", 0, 1 }, { ",\"keyPrefix\":", "keyPrefix", 0, 0 },
        { ",\"keySignature\":", "keySignature", 0, 0 }, { ",\"nonce\":", "nonce", 0, 0 },
        { ",\"salt\":", "salt", 0, 0 },
    };
    const json_t *d = json_object_get(p, "data");
    char *w = out;
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        const json_t *v = json_object_get(f[i].in_data ? d : p, f[i].key);
        put_lit(&w, f[i].before);
        if (f[i].is_int)
            put_int(&w, json_integer_value(v));
        else
            put_str(&w, json_string_value(v));
    }
    *w++ = '}';
    *w = '\0';
    return (size_t)(w - out);
}

/* s is exactly 2 * n lowercase hex digits; decoded into b[n]. */
static int unhex(const char *s, unsigned char *b, size_t n)
{
    if (!s || strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < 2 * n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return -1;
    size_t got = 0;
    return sodium_hex2bin(b, n, s, 2 * n, NULL, &got, NULL) == 0 && got == n ? 0 : -1;
}

/* A whole number in [0, max] (a JSON integer, not a real). */
static int get_uint(const json_t *o, const char *key, uint64_t max, uint64_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* The parameters hold exactly what pow_challenge writes, with the types it
 * writes: anything else was not issued by us, and a real or a non-ASCII
 * string could make our canonical JSON differ from the signer's. */
static int our_shape(const json_t *p)
{
    static const char *const keys[] = { "algorithm", "cost", "data", "expiresAt", "keyLength", "keyPrefix",
                                        "keySignature", "nonce", "salt" };
    if (!json_is_object(p) || json_object_size(p) != sizeof keys / sizeof *keys)
        return 0;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const json_t *v = json_object_get(p, keys[i]);
        if (!v || (json_is_string(v) && !printable_ascii(json_string_value(v), 256, 1)))
            return 0;
    }
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (i != 2 && !json_is_string(json_object_get(p, keys[i])) && !json_is_integer(json_object_get(p, keys[i])))
            return 0;
    unsigned char b[KEY_LEN];
    const char *alg = json_string_value(json_object_get(p, "algorithm"));
    if (!alg || strcmp(alg, ALGORITHM) != 0 || unhex(json_string_value(json_object_get(p, "nonce")), b, HEX_LEN) ||
        unhex(json_string_value(json_object_get(p, "salt")), b, HEX_LEN) ||
        !json_is_string(json_object_get(p, "keyPrefix")) || !json_is_string(json_object_get(p, "keySignature")))
        return 0;
    const json_t *d = json_object_get(p, "data");
    const char *kid = json_string_value(json_object_get(d, "kid"));
    const char *site = json_string_value(json_object_get(d, "site"));
    const char *host = json_string_value(json_object_get(d, "host"));
    return json_is_object(d) && json_object_size(d) == 3 && kid && site && host &&
           printable_ascii(kid, POW_KEY_ID_MAX, 0) && printable_ascii(site, POW_SITE_MAX, 0) &&
           printable_ascii(host, POW_HOST_MAX, 1);
}

enum pow_status pow_verify(const char *payload, size_t len, const struct pow_key *keys, int nkeys,
                           const char *site, int64_t now_s, struct pow_result *out)
{
    memset(out, 0, sizeof *out);
    uint64_t counter, cost, expires, klen;
    unsigned char sig[KEY_LEN], want[KEY_LEN], ks[KEY_LEN], dk[KEY_LEN], ksig[KEY_LEN], prefix[KEY_LEN / 2];
    unsigned char raw[PAYLOAD_MAX];
    long rawlen = len > 4 * PAYLOAD_MAX / 3 + 4 ? -1 : b64_decode(payload, len, raw, sizeof raw);
    if (rawlen < 0 || !text_utf8_valid((const char *)raw, (size_t)rawlen))
        return POW_MALFORMED;
    json_t *root = jfast_load((const char *)raw, (size_t)rawlen);
    if (!root) { /* what jfast leaves to jansson: errors, reals, ... */
        json_error_t je;
        root = json_loadb((const char *)raw, (size_t)rawlen, JSON_REJECT_DUPLICATES, &je);
    }
    enum pow_status st = POW_MALFORMED;
    const json_t *ch = json_object_get(root, "challenge"), *sol = json_object_get(root, "solution");
    if (json_is_true(json_object_get(root, "test"))) {
        st = POW_TEST_MODE;
        goto done;
    }
    const json_t *p = json_object_get(ch, "parameters");
    const char *sig_hex = json_string_value(json_object_get(ch, "signature"));
    const char *dk_hex = json_string_value(json_object_get(sol, "derivedKey"));
    if (!json_is_object(root) || !our_shape(p) || unhex(sig_hex, sig, KEY_LEN) ||
        get_uint(sol, "counter", UINT32_MAX, &counter) || get_uint(p, "cost", COST_MAX, &cost) ||
        get_uint(p, "expiresAt", INT64_MAX, &expires) || get_uint(p, "keyLength", KEY_LEN, &klen))
        goto done;
    const json_t *d = json_object_get(p, "data");
    const char *kid = json_string_value(json_object_get(d, "kid"));
    const struct pow_key *k = NULL;
    for (int i = 0; i < nkeys; i++)
        if (strcmp(keys[i].id, kid) == 0)
            k = &keys[i];
    if (!k || (k->verify_until_s && now_s > k->verify_until_s)) {
        st = POW_UNKNOWN_KEY;
        goto done;
    }
    char canon[CANON_MAX];
    size_t cn = canonical(p, canon);
    hmac(k->secret, k->secret_len, canon, cn, want);
    if (sodium_memcmp(want, sig, KEY_LEN) != 0) {
        st = POW_BAD_SIGNATURE;
        goto done;
    }
    /* Signed by us: from here on the parameters are the ones we wrote. */
    if ((int64_t)expires < now_s) {
        st = POW_EXPIRED;
        goto done;
    }
    if (strcmp(json_string_value(json_object_get(d, "site")), site) != 0) {
        st = POW_WRONG_SITE;
        goto done;
    }
    /* The solution: exactly keyLength bytes, starting with keyPrefix, and
     * the key we derived (its HMAC is keySignature). The prefix check is
     * the one the reference verifier lacks; the key signature alone would
     * also catch a zero-work key, but both are cheap. */
    st = POW_NOT_SOLVED;
    if (klen != KEY_LEN || unhex(dk_hex, dk, KEY_LEN) ||
        unhex(json_string_value(json_object_get(p, "keyPrefix")), prefix, KEY_LEN / 2) ||
        unhex(json_string_value(json_object_get(p, "keySignature")), ksig, KEY_LEN) ||
        sodium_memcmp(dk, prefix, KEY_LEN / 2) != 0)
        goto done;
    key_secret(k, ks);
    hmac(ks, KEY_LEN, dk, KEY_LEN, want);
    if (sodium_memcmp(want, ksig, KEY_LEN) != 0)
        goto done;
    st = POW_OK;
    memcpy(out->nonce, json_string_value(json_object_get(p, "nonce")), 32);
    out->nonce[32] = '\0';
    out->expires_s = (int64_t)expires;
    out->cost = (uint32_t)cost;
    out->counter = (uint32_t)counter;
    memcpy(out->key_id, kid, strlen(kid) + 1);
    const char *host = json_string_value(json_object_get(d, "host"));
    memcpy(out->host, host, strlen(host) + 1);
done:
    json_decref(root);
    sodium_memzero(ks, sizeof ks);
    return st;
}

const char *pow_status_code(enum pow_status s)
{
    switch (s) {
    case POW_OK: return "captcha_solved";
    case POW_MALFORMED: return "captcha_malformed";
    case POW_TEST_MODE: return "captcha_test_mode";
    case POW_UNKNOWN_KEY: return "captcha_unknown_key";
    case POW_BAD_SIGNATURE: return "captcha_invalid";
    case POW_EXPIRED: return "captcha_expired";
    case POW_WRONG_SITE: return "captcha_wrong_site";
    case POW_NOT_SOLVED: return "captcha_not_solved";
    }
    return "captcha_invalid";
}
