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

void pow_derive(const unsigned char nonce[16], const unsigned char salt[16], uint32_t cost, uint32_t counter,
                unsigned char out[32])
{
    unsigned char pw[HEX_LEN + 4];
    memcpy(pw, nonce, HEX_LEN);
    pw[HEX_LEN] = (unsigned char)(counter >> 24);
    pw[HEX_LEN + 1] = (unsigned char)(counter >> 16);
    pw[HEX_LEN + 2] = (unsigned char)(counter >> 8);
    pw[HEX_LEN + 3] = (unsigned char)counter;
    hmac_pbkdf2(pw, sizeof pw, salt, HEX_LEN, cost ? cost : 1, out, KEY_LEN);
    sodium_memzero(pw, sizeof pw); /* holds the secret counter */
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

static void subkey(const unsigned char *secret, size_t len, const char *label, struct hmac_key *out)
{
    struct hmac_key k;
    unsigned char sub[KEY_LEN];
    hmac_key_init(&k, secret, len);
    hmac_sha256(&k, label, strlen(label), sub);
    hmac_key_init(out, sub, sizeof sub);
    hmac_key_wipe(&k);
    sodium_memzero(sub, sizeof sub);
}

int pow_key_init(struct pow_key *k, const char *id, const unsigned char *secret, size_t len,
                 int64_t verify_until_s)
{
    memset(k, 0, sizeof *k);
    if (!printable_ascii(id, POW_KEY_ID_MAX, 0))
        return -1;
    memcpy(k->id, id, strlen(id) + 1);
    k->verify_until_s = verify_until_s;
    hmac_key_init(&k->sign, secret, len);
    subkey(secret, len, "modgate captcha key signature", &k->keysig);
    subkey(secret, len, "modgate form token", &k->form);
    return 0;
}

void pow_key_wipe(struct pow_key *k)
{
    sodium_memzero(k, sizeof *k);
}

/* HMAC of the canonical JSON of 'params'. Returns 0, or -1 when it cannot
 * be written. */
static int sign_params(const struct pow_key *k, const json_t *params, unsigned char out[KEY_LEN])
{
    char *canon = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
    if (!canon)
        return -1;
    hmac_sha256(&k->sign, canon, strlen(canon), out);
    free(canon);
    return 0;
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
    unsigned char nonce[HEX_LEN], salt[HEX_LEN], dk[KEY_LEN], sig[KEY_LEN];
    randombytes_buf(nonce, sizeof nonce);
    randombytes_buf(salt, sizeof salt);
    pow_derive(nonce, salt, in->cost, in->counter, dk);
    hmac_sha256(&k->keysig, dk, sizeof dk, sig);
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
    return out;
}

/* ---------- verification ---------- */

/* Base64 decoding by four tables, one per position in a quad: each entry
 * is the character's six bits already shifted into place, plus a marker
 * bit of its position (24-27), so that the OR of a quad's four entries is
 * its three bytes and the markers, which are all there only when every
 * character was one of base64's 64. */
#define B64_CHARS(X) \
    X('A', 0) X('B', 1) X('C', 2) X('D', 3) X('E', 4) X('F', 5) X('G', 6) X('H', 7) X('I', 8) X('J', 9) \
    X('K', 10) X('L', 11) X('M', 12) X('N', 13) X('O', 14) X('P', 15) X('Q', 16) X('R', 17) X('S', 18) \
    X('T', 19) X('U', 20) X('V', 21) X('W', 22) X('X', 23) X('Y', 24) X('Z', 25) X('a', 26) X('b', 27) \
    X('c', 28) X('d', 29) X('e', 30) X('f', 31) X('g', 32) X('h', 33) X('i', 34) X('j', 35) X('k', 36) \
    X('l', 37) X('m', 38) X('n', 39) X('o', 40) X('p', 41) X('q', 42) X('r', 43) X('s', 44) X('t', 45) \
    X('u', 46) X('v', 47) X('w', 48) X('x', 49) X('y', 50) X('z', 51) X('0', 52) X('1', 53) X('2', 54) \
    X('3', 55) X('4', 56) X('5', 57) X('6', 58) X('7', 59) X('8', 60) X('9', 61) X('+', 62) X('/', 63)
#define B64_Q0(c, v) [c] = (uint32_t)(v) << 18 | 1u << 24,
#define B64_Q1(c, v) [c] = (uint32_t)(v) << 12 | 1u << 25,
#define B64_Q2(c, v) [c] = (uint32_t)(v) << 6 | 1u << 26,
#define B64_Q3(c, v) [c] = (uint32_t)(v) | 1u << 27,
#define B64_ALL (15u << 24)
static const uint32_t B64[4][256] = { { B64_CHARS(B64_Q0) }, { B64_CHARS(B64_Q1) }, { B64_CHARS(B64_Q2) },
                                      { B64_CHARS(B64_Q3) } };

/* Standard base64 with padding (what btoa writes) into out[cap]. Not
 * libsodium's decoder: that one is constant-time, and at 77 instructions
 * a character it was a fifth of a verification; a payload is public data.
 * Returns the length, or -1 when 'in' is not that. */
static long b64_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
    if (n == 0 || n % 4)
        return -1;
    size_t pad = in[n - 1] == '=' ? (in[n - 2] == '=' ? 2 : 1) : 0;
    size_t len = n / 4 * 3 - pad, whole = pad ? n - 4 : n;
    if (len > cap)
        return -1;
    const unsigned char *s = (const unsigned char *)in;
    unsigned char *w = out;
    uint32_t ok = B64_ALL;
    for (size_t i = 0; i < whole; i += 4, w += 3) {
        uint32_t v = B64[0][s[i]] | B64[1][s[i + 1]] | B64[2][s[i + 2]] | B64[3][s[i + 3]];
        ok &= v;
        w[0] = (unsigned char)(v >> 16);
        w[1] = (unsigned char)(v >> 8);
        w[2] = (unsigned char)v;
    }
    if (pad) { /* "xx==" or "xxx=": the '=' stand in for valid characters */
        uint32_t v = B64[0][s[n - 4]] | B64[1][s[n - 3]] | (pad == 2 ? 1u << 26 : B64[2][s[n - 2]]) | 1u << 27;
        ok &= v;
        w[0] = (unsigned char)(v >> 16);
        if (pad == 1)
            w[1] = (unsigned char)(v >> 8);
    }
    return (ok & B64_ALL) == B64_ALL ? (long)len : -1;
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

/* ---- the widget's own layout, read in place ---- */

/* Lowercase hex digits as the high and the low half of a byte, with a
 * marker bit (8 or 9) that any other character lacks. */
#define HEX_DIGITS(X) \
    X('0', 0) X('1', 1) X('2', 2) X('3', 3) X('4', 4) X('5', 5) X('6', 6) X('7', 7) X('8', 8) X('9', 9) \
    X('a', 10) X('b', 11) X('c', 12) X('d', 13) X('e', 14) X('f', 15)
#define HEX_HI(c, v) [c] = (uint16_t)((v) << 4 | 1u << 8),
#define HEX_LO(c, v) [c] = (uint16_t)((v) | 1u << 9),
static const uint16_t HEXHI[256] = { HEX_DIGITS(HEX_HI) }, HEXLO[256] = { HEX_DIGITS(HEX_LO) };

/* A cursor over the decoded payload: each reader consumes what it
 * expects and returns 0, or -1 (and the layout is not the widget's). */
struct cur {
    const char *p, *end;
};

static int lit(struct cur *c, const char *s, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
        return -1;
    c->p += n;
    return 0;
}
#define LIT(c, s) lit(c, s, sizeof s - 1)

/* A string of printable ASCII without '"' or '\\' (so written as it is),
 * 1 to max-1 characters (0 allowed when empty_ok), up to its closing
 * quote, which is consumed; copied to out[max]. */
static int plain(struct cur *c, char *out, size_t max, int empty_ok)
{
    size_t n = 0;
    while (c->p + n < c->end && c->p[n] != '"') {
        unsigned char ch = (unsigned char)c->p[n];
        if (ch < 0x20 || ch > 0x7e || ch == '\\' || ++n >= max)
            return -1;
    }
    if (c->p + n >= c->end || (n == 0 && !empty_ok))
        return -1;
    memcpy(out, c->p, n);
    out[n] = '\0';
    c->p += n + 1;
    return 0;
}

/* Exactly 2n lowercase hex digits and the closing quote; into b[n]. */
static int hexq(struct cur *c, unsigned char *b, size_t n)
{
    if ((size_t)(c->end - c->p) < 2 * n + 1 || c->p[2 * n] != '"')
        return -1;
    const unsigned char *h = (const unsigned char *)c->p;
    unsigned ok = 3u << 8;
    for (size_t i = 0; i < n; i++) {
        unsigned v = HEXHI[h[2 * i]] | HEXLO[h[2 * i + 1]];
        ok &= v;
        b[i] = (unsigned char)v;
    }
    c->p += 2 * n + 1;
    return ok == 3u << 8 ? 0 : -1;
}

/* A JSON integer in [0, max] written as we write it: no sign, no leading
 * zero. */
static int uint_(struct cur *c, uint64_t max, uint64_t *v)
{
    const char *s = c->p;
    uint64_t x = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        unsigned d = (unsigned)(*c->p++ - '0');
        if (x > (max - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    if (c->p == s || (*s == '0' && c->p - s > 1))
        return -1;
    *v = x;
    return 0;
}

/* solution.time: what the widget writes (milliseconds, one decimal), as
 * JSON allows it and short enough for jansson: 1-15 digits, no leading
 * zero, and an optional fraction of 1-15 digits. Its value is not used. */
static int ms(struct cur *c)
{
    size_t n = 0;
    while (c->p + n < c->end && c->p[n] >= '0' && c->p[n] <= '9')
        n++;
    if (n == 0 || n > 15 || (c->p[0] == '0' && n > 1))
        return -1;
    c->p += n;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        for (n = 0; c->p + n < c->end && c->p[n] >= '0' && c->p[n] <= '9';)
            n++;
        if (n == 0 || n > 15)
            return -1;
        c->p += n;
    }
    return 0;
}

/* What the scanner reads. */
struct layout {
    const char *params;
    size_t params_len;
    uint64_t cost, expires, klen, counter;
    char host[POW_HOST_MAX], kid[POW_KEY_ID_MAX], site[POW_SITE_MAX], nonce[2 * HEX_LEN + 1];
    unsigned char prefix[KEY_LEN / 2], ksig[KEY_LEN], sig[KEY_LEN], dk[KEY_LEN], b[HEX_LEN];
};

/* The payload exactly as the widget writes it for our challenges: its
 * parameters are then byte for byte the canonical JSON we signed (keys in
 * our order, nothing escaped, integers as we print them), so their bytes
 * can be signed where they lie. Returns 0, or -1 for any other layout. */
static int scan(const char *raw, size_t n, struct layout *l)
{
    struct cur c = { raw, raw + n };
    if (LIT(&c, "{\"challenge\":{\"parameters\":"))
        return -1;
    l->params = c.p;
    if (LIT(&c, "{\"algorithm\":\"" ALGORITHM "\",\"cost\":") || uint_(&c, COST_MAX, &l->cost) ||
        LIT(&c, ",\"data\":{\"host\":\"") || plain(&c, l->host, POW_HOST_MAX, 1) ||
        LIT(&c, ",\"kid\":\"") || plain(&c, l->kid, POW_KEY_ID_MAX, 0) ||
        LIT(&c, ",\"site\":\"") || plain(&c, l->site, POW_SITE_MAX, 0) ||
        LIT(&c, "},\"expiresAt\":") || uint_(&c, INT64_MAX, &l->expires) ||
        LIT(&c, ",\"keyLength\":") || uint_(&c, KEY_LEN, &l->klen) ||
        LIT(&c, ",\"keyPrefix\":\"") || hexq(&c, l->prefix, KEY_LEN / 2) ||
        LIT(&c, ",\"keySignature\":\"") || hexq(&c, l->ksig, KEY_LEN) || LIT(&c, ",\"nonce\":\""))
        return -1;
    const char *nonce = c.p;
    if (hexq(&c, l->b, HEX_LEN) || LIT(&c, ",\"salt\":\"") || hexq(&c, l->b, HEX_LEN) || LIT(&c, "}"))
        return -1;
    memcpy(l->nonce, nonce, 2 * HEX_LEN);
    l->nonce[2 * HEX_LEN] = '\0';
    l->params_len = (size_t)(c.p - l->params);
    if (LIT(&c, ",\"signature\":\"") || hexq(&c, l->sig, KEY_LEN) ||
        LIT(&c, "},\"solution\":{\"counter\":") || uint_(&c, UINT32_MAX, &l->counter) ||
        LIT(&c, ",\"derivedKey\":\"") || hexq(&c, l->dk, KEY_LEN) || LIT(&c, ",\"time\":") || ms(&c) ||
        LIT(&c, "}}"))
        return -1;
    return c.p == c.end ? 0 : -1;
}

static void copy_str(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(s);
    memcpy(dst, s, n < cap ? n + 1 : cap);
    dst[cap - 1] = '\0';
}


static const struct pow_key *find_key(const struct pow_key *keys, int nkeys, const char *kid)
{
    const struct pow_key *k = NULL;
    for (int i = 0; i < nkeys; i++)
        if (strcmp(keys[i].id, kid) == 0)
            k = &keys[i];
    return k;
}

/* The checks after parsing, in pow_verify's order, on what either path
 * read; 'params' is the canonical JSON of the parameters. */
static enum pow_status judge(const struct layout *l, const char *params, size_t params_len,
                             const struct pow_key *keys, int nkeys, const char *site, int64_t now_s,
                             struct pow_result *out)
{
    unsigned char want[KEY_LEN];
    const struct pow_key *k = find_key(keys, nkeys, l->kid);
    if (!k || (k->verify_until_s && now_s > k->verify_until_s))
        return POW_UNKNOWN_KEY;
    hmac_sha256(&k->sign, params, params_len, want);
    if (sodium_memcmp(want, l->sig, KEY_LEN) != 0)
        return POW_BAD_SIGNATURE;
    /* Signed by us: from here on the parameters are the ones we wrote. */
    if ((int64_t)l->expires < now_s)
        return POW_EXPIRED;
    if (strcmp(l->site, site) != 0)
        return POW_WRONG_SITE;
    /* The solution: exactly keyLength bytes, starting with keyPrefix, and
     * the key we derived (its HMAC is keySignature). The prefix check is
     * the one the reference verifier lacks; the key signature alone would
     * also catch a zero-work key, but both are cheap. */
    if (l->klen != KEY_LEN || sodium_memcmp(l->dk, l->prefix, KEY_LEN / 2) != 0)
        return POW_NOT_SOLVED;
    hmac_sha256(&k->keysig, l->dk, KEY_LEN, want);
    if (sodium_memcmp(want, l->ksig, KEY_LEN) != 0)
        return POW_NOT_SOLVED;
    copy_str(out->nonce, sizeof out->nonce, l->nonce);
    out->expires_s = (int64_t)l->expires;
    out->cost = (uint32_t)l->cost;
    out->counter = (uint32_t)l->counter;
    copy_str(out->key_id, sizeof out->key_id, l->kid);
    copy_str(out->host, sizeof out->host, l->host);
    return POW_OK;
}

/* ---- any other layout: parsed, and its canonical JSON rebuilt ---- */


static enum pow_status general(const unsigned char *raw, size_t rawlen, struct layout *l, const struct pow_key *keys,
                               int nkeys, const char *site, int64_t now_s, struct pow_result *out)
{
    if (!text_utf8_valid((const char *)raw, rawlen))
        return POW_MALFORMED;
    json_t *root = jfast_load((const char *)raw, rawlen);
    if (!root) { /* what jfast leaves to jansson: errors, reals, ... */
        json_error_t je;
        root = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, &je);
    }
    enum pow_status st = POW_MALFORMED;
    const json_t *ch = json_object_get(root, "challenge"), *sol = json_object_get(root, "solution");
    if (json_is_true(json_object_get(root, "test"))) {
        st = POW_TEST_MODE;
        goto done;
    }
    const json_t *p = json_object_get(ch, "parameters");
    if (!json_is_object(root) || !our_shape(p) || unhex(json_string_value(json_object_get(ch, "signature")), l->sig, KEY_LEN) ||
        get_uint(sol, "counter", UINT32_MAX, &l->counter) || get_uint(p, "cost", COST_MAX, &l->cost) ||
        get_uint(p, "expiresAt", INT64_MAX, &l->expires) || get_uint(p, "keyLength", KEY_LEN, &l->klen))
        goto done;
    const json_t *d = json_object_get(p, "data");
    copy_str(l->kid, sizeof l->kid, json_string_value(json_object_get(d, "kid")));
    copy_str(l->site, sizeof l->site, json_string_value(json_object_get(d, "site")));
    copy_str(l->host, sizeof l->host, json_string_value(json_object_get(d, "host")));
    copy_str(l->nonce, sizeof l->nonce, json_string_value(json_object_get(p, "nonce")));
    /* a solution that is not even hex can only fail, after the checks
     * before it: an all-zero key never matches keySignature's */
    if (unhex(json_string_value(json_object_get(sol, "derivedKey")), l->dk, KEY_LEN) ||
        unhex(json_string_value(json_object_get(p, "keyPrefix")), l->prefix, KEY_LEN / 2) ||
        unhex(json_string_value(json_object_get(p, "keySignature")), l->ksig, KEY_LEN))
        l->klen = 0;
    char canon[CANON_MAX];
    size_t cn = canonical(p, canon);
    st = judge(l, canon, cn, keys, nkeys, site, now_s, out);
done:
    json_decref(root);
    return st;
}

static enum pow_status verify(const char *payload, size_t len, const struct pow_key *keys, int nkeys,
                              const char *site, int64_t now_s, struct pow_result *out, int fast)
{
    memset(out, 0, sizeof *out);
    unsigned char raw[PAYLOAD_MAX];
    long rawlen = len > 4 * PAYLOAD_MAX / 3 + 4 ? -1 : b64_decode(payload, len, raw, sizeof raw);
    if (rawlen < 0)
        return POW_MALFORMED;
    struct layout l; /* each path fills what it reads before judge() */
    enum pow_status st;
    if (fast && scan((const char *)raw, (size_t)rawlen, &l) == 0)
        st = judge(&l, l.params, l.params_len, keys, nkeys, site, now_s, out);
    else
        st = general(raw, (size_t)rawlen, &l, keys, nkeys, site, now_s, out);
    if (st != POW_OK)
        memset(out, 0, sizeof *out);
    return st;
}

enum pow_status pow_verify(const char *payload, size_t len, const struct pow_key *keys, int nkeys,
                           const char *site, int64_t now_s, struct pow_result *out)
{
    return verify(payload, len, keys, nkeys, site, now_s, out, 1);
}

enum pow_status pow_verify_general(const char *payload, size_t len, const struct pow_key *keys, int nkeys,
                                   const char *site, int64_t now_s, struct pow_result *out)
{
    return verify(payload, len, keys, nkeys, site, now_s, out, 0);
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
