/* test_hmac.c - HMAC-SHA-256 with prepared keys, on both compression
 * paths (the CPU's SHA instructions when it has them, and portable C):
 * RFC 4231's vectors, PBKDF2 vectors, and libsodium's HMAC on thousands
 * of random keys and messages of every length around the block edges.
 * The vectors were computed independently with Python's hmac/hashlib. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmac.h"
#include "test.h"

static void hex(const unsigned char *b, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, b, n);
}

static const char *mac_hex(const unsigned char *key, size_t klen, const void *msg, size_t mlen)
{
    static char h[65];
    struct hmac_key k;
    unsigned char out[32];
    hmac_key_init(&k, key, klen);
    hmac_sha256(&k, msg, mlen, out);
    hex(out, 32, h);
    return h;
}

/* The two paths, each in turn: 'paths' is 2 when the CPU has the SHA
 * instructions (the first run uses them), else 1. */
static int paths(void)
{
    hmac_force_portable(0);
    return hmac_accelerated() ? 2 : 1;
}

TEST(rfc4231_vectors)
{
    unsigned char k1[20], k3[20], m3[50], k4[25], m4[50], k6[131];
    memset(k1, 0x0b, sizeof k1);
    memset(k3, 0xaa, sizeof k3);
    memset(m3, 0xdd, sizeof m3);
    for (int i = 0; i < 25; i++)
        k4[i] = (unsigned char)(i + 1);
    memset(m4, 0xcd, sizeof m4);
    memset(k6, 0xaa, sizeof k6);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    const char *m7 = "This is a test using a larger than block-size key and a larger than block-size data. The key "
                     "needs to be hashed before being used by the HMAC algorithm.";
    for (int p = 0, n = paths(); p < n; p++) {
        hmac_force_portable(p);
        CHECK_EQ_STR(mac_hex(k1, 20, "Hi There", 8),
                     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
        CHECK_EQ_STR(mac_hex((const unsigned char *)"Jefe", 4, "what do ya want for nothing?", 28),
                     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        CHECK_EQ_STR(mac_hex(k3, 20, m3, 50), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
        CHECK_EQ_STR(mac_hex(k4, 25, m4, 50), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
        CHECK_EQ_STR(mac_hex(k6, 131, m6, strlen(m6)),
                     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
        CHECK_EQ_STR(mac_hex(k6, 131, m7, strlen(m7)),
                     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
    }
    hmac_force_portable(0);
}

TEST(pbkdf2_vectors)
{
    static const struct { const char *pw; uint32_t c; const char *want; } v[] = {
        { "password", 1, "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b" },
        { "password", 2, "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43" },
        { "password", 4096, "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a" },
        { "passwd", 1, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc" },
    };
    for (int p = 0, n = paths(); p < n; p++) {
        hmac_force_portable(p);
        for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
            unsigned char out[32];
            char h[65];
            hmac_pbkdf2((const unsigned char *)v[i].pw, strlen(v[i].pw), (const unsigned char *)"salt", 4, v[i].c,
                        out, 32);
            hex(out, 32, h);
            CHECK_EQ_STR(h, v[i].want);
        }
    }
    hmac_force_portable(0);
}

/* libsodium's HMAC is the reference: keys of 0-150 bytes, messages of
 * 0-700 (every length, so every padding case), split anywhere for the
 * two-part form. */
TEST(same_as_libsodium_on_random_input)
{
    unsigned char key[150], msg[700], a[32], b[32], c[32];
    int bad = 0, bad_split = 0, tried = 0;
    for (int p = 0, n = paths(); p < n; p++) {
        hmac_force_portable(p);
        /* short keys, the block size and its neighbours, and long keys (hashed first) */
        static const size_t klens[] = { 0, 1, 13, 31, 32, 33, 55, 63, 64, 65, 100, 128, 150 };
        for (size_t ki = 0; ki < sizeof klens / sizeof *klens; ki++) {
            size_t kl = klens[ki];
            struct hmac_key k;
            randombytes_buf(key, kl);
            hmac_key_init(&k, key, kl);
            for (size_t ml = 0; ml <= sizeof msg; ml++, tried++) {
                randombytes_buf(msg, ml);
                hmac_sha256(&k, msg, ml, a);
                crypto_auth_hmacsha256_state st;
                crypto_auth_hmacsha256_init(&st, key, kl);
                crypto_auth_hmacsha256_update(&st, msg, ml);
                crypto_auth_hmacsha256_final(&st, b);
                bad += memcmp(a, b, 32) != 0;
                size_t cut = ml ? randombytes_uniform((uint32_t)ml + 1) : 0;
                hmac_sha256_2(&k, msg, cut, msg + cut, ml - cut, c);
                bad_split += memcmp(c, b, 32) != 0;
            }
        }
    }
    hmac_force_portable(0);
    CHECK(tried > 8000);
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(bad_split, 0);
}

/* A prepared key is a value: the same MAC from a copy, none after a wipe. */
TEST(prepared_keys_copy_and_wipe)
{
    struct hmac_key k, copy, zero;
    unsigned char a[32], b[32];
    hmac_key_init(&k, (const unsigned char *)"key", 3);
    copy = k;
    hmac_sha256(&k, "msg", 3, a);
    hmac_sha256(&copy, "msg", 3, b);
    CHECK(memcmp(a, b, 32) == 0);
    /* an empty part may be NULL, as C allows for zero bytes */
    hmac_sha256_2(&k, "msg", 3, NULL, 0, b);
    CHECK(memcmp(a, b, 32) == 0);
    hmac_sha256_2(&k, NULL, 0, "msg", 3, b);
    CHECK(memcmp(a, b, 32) == 0);
    hmac_key_wipe(&copy);
    memset(&zero, 0, sizeof zero);
    CHECK(memcmp(&copy, &zero, sizeof zero) == 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    printf("test_hmac: SHA instructions %s\n", hmac_accelerated() ? "present: both paths tested" :
                                                                   "absent: portable path only");
    RUN(rfc4231_vectors);
    RUN(pbkdf2_vectors);
    RUN(same_as_libsodium_on_random_input);
    RUN(prepared_keys_copy_and_wipe);
    return TEST_REPORT();
}
