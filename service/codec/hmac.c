/* hmac.c - HMAC-SHA-256 with prepared keys; see hmac.h.
 *
 * SHA-256 is FIPS 180-4. The SHA-NI path keeps the state as the
 * instructions want it (ABEF and CDGH halves) and computes the message
 * schedule four words at a time with sha256msg1/msg2. */
#include "hmac.h"

#include <sodium.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHANI_CODE 1
#endif

#define BLOCK 64

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t IV[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static uint32_t load_be(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void store_be(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void compress_c(uint32_t s[8], const unsigned char *p, size_t nblocks)
{
    for (; nblocks--; p += BLOCK) {
        uint32_t w[64];
        for (int i = 0; i < 16; i++)
            w[i] = load_be(p + 4 * i);
        for (int i = 16; i < 64; i++) {
            uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
        for (int i = 0; i < 64; i++) {
            uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
            uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        s[0] += a;
        s[1] += b;
        s[2] += c;
        s[3] += d;
        s[4] += e;
        s[5] += f;
        s[6] += g;
        s[7] += h;
        sodium_memzero(w, sizeof w); /* key pads and derived keys pass through it */
    }
}

#ifdef HAVE_SHANI_CODE
__attribute__((target("sha,sse4.1"))) static void compress_ni(uint32_t s[8], const unsigned char *p,
                                                               size_t nblocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(const void *)&s[0]), 0xB1); /* CDAB */
    __m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(const void *)&s[4]), 0x1B); /* HGFE */
    __m128i s0 = _mm_alignr_epi8(t, s1, 8);   /* ABEF */
    s1 = _mm_blend_epi16(s1, t, 0xF0);        /* CDGH */
    for (; nblocks--; p += BLOCK) {
        __m128i abef = s0, cdgh = s1, m[4];
        for (int i = 0; i < 4; i++)
            m[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i)), bswap);
        /* 16 groups of four rounds; group g's words are m[g % 4], and
         * group g + 4's replace them once used. */
        for (int g = 0; g < 16; g++) {
            __m128i w = _mm_add_epi32(m[g & 3], _mm_loadu_si128((const __m128i *)(const void *)&K[4 * g]));
            s1 = _mm_sha256rnds2_epu32(s1, s0, w);
            s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(w, 0x0E));
            if (g < 12) {
                __m128i x = _mm_sha256msg1_epu32(m[g & 3], m[(g + 1) & 3]);
                x = _mm_add_epi32(x, _mm_alignr_epi8(m[(g + 3) & 3], m[(g + 2) & 3], 4));
                m[g & 3] = _mm_sha256msg2_epu32(x, m[(g + 3) & 3]);
            }
        }
        s0 = _mm_add_epi32(s0, abef);
        s1 = _mm_add_epi32(s1, cdgh);
    }
    t = _mm_shuffle_epi32(s0, 0x1B);          /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);         /* DCHG */
    _mm_storeu_si128((__m128i *)(void *)&s[0], _mm_blend_epi16(t, s1, 0xF0)); /* DCBA */
    _mm_storeu_si128((__m128i *)(void *)&s[4], _mm_alignr_epi8(s1, t, 8));    /* HGFE */
}

static int cpu_has_sha(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3))
        return 0;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29)); /* SHA */
}
#endif

typedef void compress_fn(uint32_t s[8], const unsigned char *p, size_t nblocks);
static compress_fn *compress = compress_c;
static int accelerated;

/* Chosen before main, so that no thread ever sees it change. */
__attribute__((constructor)) static void pick(void)
{
#ifdef HAVE_SHANI_CODE
    if (cpu_has_sha()) {
        compress = compress_ni;
        accelerated = 1;
    }
#endif
}

int hmac_accelerated(void)
{
    return compress != compress_c;
}

void hmac_force_portable(int on)
{
#ifdef HAVE_SHANI_CODE
    compress = !on && accelerated ? compress_ni : compress_c;
#else
    (void)on;
#endif
}

/* A SHA-256 in progress: 'total' bytes hashed, the last 'n' of them in buf. */
struct sha {
    uint32_t s[8];
    unsigned char buf[BLOCK];
    size_t n;
    uint64_t total;
};

static void sha_update(struct sha *c, const unsigned char *p, size_t len)
{
    if (len == 0) /* p may be NULL then */
        return;
    c->total += len;
    if (c->n) {
        size_t take = BLOCK - c->n < len ? BLOCK - c->n : len;
        memcpy(c->buf + c->n, p, take);
        c->n += take;
        p += take;
        len -= take;
        if (c->n < BLOCK)
            return;
        compress(c->s, c->buf, 1);
        c->n = 0;
    }
    if (len >= BLOCK) {
        compress(c->s, p, len / BLOCK);
        p += len / BLOCK * BLOCK;
        len %= BLOCK;
    }
    memcpy(c->buf, p, len);
    c->n = len;
}

static void sha_final(struct sha *c, unsigned char out[HMAC_LEN])
{
    uint64_t bits = c->total * 8;
    c->buf[c->n++] = 0x80;
    if (c->n > BLOCK - 8) {
        memset(c->buf + c->n, 0, BLOCK - c->n);
        compress(c->s, c->buf, 1);
        c->n = 0;
    }
    memset(c->buf + c->n, 0, BLOCK - 8 - c->n);
    store_be(c->buf + 56, (uint32_t)(bits >> 32));
    store_be(c->buf + 60, (uint32_t)bits);
    compress(c->s, c->buf, 1);
    for (int i = 0; i < 8; i++)
        store_be(out + 4 * i, c->s[i]);
}

void hmac_key_init(struct hmac_key *k, const unsigned char *key, size_t len)
{
    unsigned char pad[BLOCK] = { 0 };
    if (len > BLOCK) {
        struct sha c = { .n = 0, .total = 0 };
        memcpy(c.s, IV, sizeof IV);
        sha_update(&c, key, len);
        sha_final(&c, pad);
        sodium_memzero(&c, sizeof c);
    } else if (len) {
        memcpy(pad, key, len);
    }
    for (int i = 0; i < BLOCK; i++)
        pad[i] ^= 0x36;
    memcpy(k->inner, IV, sizeof IV);
    compress(k->inner, pad, 1);
    for (int i = 0; i < BLOCK; i++)
        pad[i] ^= 0x36 ^ 0x5c;
    memcpy(k->outer, IV, sizeof IV);
    compress(k->outer, pad, 1);
    sodium_memzero(pad, sizeof pad);
}

void hmac_key_wipe(struct hmac_key *k)
{
    sodium_memzero(k, sizeof *k);
}

void hmac_sha256_2(const struct hmac_key *k, const void *a, size_t alen, const void *b, size_t blen,
                   unsigned char out[HMAC_LEN])
{
    struct sha c;
    memcpy(c.s, k->inner, sizeof c.s);
    c.n = 0;
    c.total = BLOCK;
    sha_update(&c, a, alen);
    sha_update(&c, b, blen);
    unsigned char ih[HMAC_LEN];
    sha_final(&c, ih);
    memcpy(c.s, k->outer, sizeof c.s);
    c.n = 0;
    c.total = BLOCK;
    sha_update(&c, ih, sizeof ih);
    sha_final(&c, out);
    sodium_memzero(&c, sizeof c);
    sodium_memzero(ih, sizeof ih);
}

void hmac_sha256(const struct hmac_key *k, const void *msg, size_t len, unsigned char out[HMAC_LEN])
{
    hmac_sha256_2(k, msg, len, NULL, 0, out);
}

/* HMAC of exactly 32 bytes: one compression on each side, the padding
 * written once (PBKDF2's inner loop). 'blk' holds the message in its
 * first half and the padding for 64 + 32 bytes in the second. */
static void hmac_32(const struct hmac_key *k, unsigned char blk[BLOCK], unsigned char out[HMAC_LEN])
{
    uint32_t s[8];
    memcpy(s, k->inner, sizeof s);
    compress(s, blk, 1);
    for (int i = 0; i < 8; i++)
        store_be(blk + 4 * i, s[i]);
    memcpy(s, k->outer, sizeof s);
    compress(s, blk, 1);
    for (int i = 0; i < 8; i++)
        store_be(out + 4 * i, s[i]);
    sodium_memzero(s, sizeof s);
}

void hmac_pbkdf2(const unsigned char *pw, size_t pwlen, const unsigned char *salt, size_t saltlen,
                 uint32_t iterations, unsigned char *out, size_t outlen)
{
    static const unsigned char one[4] = { 0, 0, 0, 1 };
    struct hmac_key k;
    unsigned char u[BLOCK] = { 0 }, t[HMAC_LEN];
    hmac_key_init(&k, pw, pwlen);
    hmac_sha256_2(&k, salt, saltlen, one, sizeof one, u);
    memcpy(t, u, HMAC_LEN);
    u[HMAC_LEN] = 0x80;
    u[BLOCK - 2] = 0x03; /* (64 + 32) * 8 = 768 bits */
    for (uint32_t i = 1; i < iterations; i++) {
        hmac_32(&k, u, u);
        for (int j = 0; j < HMAC_LEN; j++)
            t[j] ^= u[j];
    }
    memcpy(out, t, outlen < HMAC_LEN ? outlen : HMAC_LEN);
    hmac_key_wipe(&k);
    sodium_memzero(u, sizeof u);
    sodium_memzero(t, sizeof t);
}
