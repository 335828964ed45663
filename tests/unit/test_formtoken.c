/* test_formtoken.c - signed comment-form tokens: made, checked, refused. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "formtoken.h"
#include "test.h"

static const unsigned char SECRET[] = "a form token secret of 32 bytes";
static struct pow_key KEY; /* "k1", SECRET: made in main */

static struct pow_key mk(const char *id, const unsigned char *secret, size_t len, int64_t until)
{
    struct pow_key k;
    memset(&k, 0, sizeof k);
    int rc = pow_key_init(&k, id, secret, len, until);
    CHECK(rc == 0);
    return k;
}
#define NOW 1800000000000LL

static enum form_status check(const char *tok, const struct pow_key *keys, int n, const char *site, long long now,
                              long long *issued)
{
    int64_t i = -1;
    enum form_status s = form_token_check(tok, keys, n, site, now, &i);
    if (issued)
        *issued = i;
    return s;
}

TEST(made_tokens_check_with_their_time)
{
    char tok[FORM_TOKEN_MAX], tok2[FORM_TOKEN_MAX];
    CHECK_EQ_INT(form_token_make(&KEY, "news", NOW, tok), 0);
    CHECK(strncmp(tok, "ft1.k1.1800000000000.", 21) == 0);
    long long issued;
    CHECK_EQ_INT(check(tok, &KEY, 1, "news", NOW + 5000, &issued), FORM_OK);
    CHECK_EQ_INT(issued, NOW);
    CHECK_EQ_INT(form_token_make(&KEY, "news", NOW, tok2), 0);
    CHECK(strcmp(tok, tok2) != 0); /* a nonce of its own */
}

/* The MAC is HMAC-SHA-256(HMAC-SHA-256(secret, "modgate form token"),
 * "ft1|site|kid|issued|nonce"), as formtoken.h says: recomputed here with
 * libsodium's HMAC, not the code under test. */
TEST(token_mac_is_the_documented_construction)
{
    char tok[FORM_TOKEN_MAX], msg[128], want[65];
    CHECK_EQ_INT(form_token_make(&KEY, "news", NOW, tok), 0);
    const char *nonce = tok + strlen("ft1.k1.1800000000000."), *mac = nonce + 17;
    snprintf(msg, sizeof msg, "ft1|news|k1|1800000000000|%.16s", nonce);
    unsigned char sub[32], m[32];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, SECRET, 31);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)"modgate form token", 18);
    crypto_auth_hmacsha256_final(&st, sub);
    crypto_auth_hmacsha256_init(&st, sub, 32);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, strlen(msg));
    crypto_auth_hmacsha256_final(&st, m);
    sodium_bin2hex(want, sizeof want, m, 32);
    CHECK_EQ_STR(mac, want);
}

TEST(altered_or_foreign_tokens_are_refused)
{
    char tok[FORM_TOKEN_MAX];
    form_token_make(&KEY, "news", NOW, tok);
    CHECK_EQ_INT(check(tok, &KEY, 1, "sport", NOW, NULL), FORM_BAD_SIGNATURE);
    char t[FORM_TOKEN_MAX];
    memcpy(t, tok, sizeof t);
    t[8] = t[8] == '9' ? '8' : '9'; /* an older issue time */
    CHECK_EQ_INT(check(t, &KEY, 1, "news", NOW, NULL), FORM_BAD_SIGNATURE);
    memcpy(t, tok, sizeof t);
    size_t n = strlen(t);
    t[n - 1] = t[n - 1] == 'a' ? 'b' : 'a';
    CHECK_EQ_INT(check(t, &KEY, 1, "news", NOW, NULL), FORM_BAD_SIGNATURE);
    static const unsigned char other[] = "another secret, also 32 bytes..";
    struct pow_key impostor = mk("k1", other, 31, 0);
    CHECK_EQ_INT(check(tok, &impostor, 1, "news", NOW, NULL), FORM_BAD_SIGNATURE);
}

TEST(unknown_and_retired_keys)
{
    char tok[FORM_TOKEN_MAX];
    form_token_make(&KEY, "news", NOW, tok);
    struct pow_key k2 = mk("k2", SECRET, 31, 0);
    CHECK_EQ_INT(check(tok, &k2, 1, "news", NOW, NULL), FORM_UNKNOWN_KEY);
    struct pow_key retired = mk("k1", SECRET, 31, NOW / 1000 + 10);
    CHECK_EQ_INT(check(tok, &retired, 1, "news", NOW + 10000, NULL), FORM_OK);
    CHECK_EQ_INT(check(tok, &retired, 1, "news", NOW + 11000, NULL), FORM_UNKNOWN_KEY);
}

TEST(malformed_tokens)
{
    const char *bad[] = { "", "ft1.", "ft1.k1", "ft1.k1.123.0011223344556677", "ft2.k1.1.0011223344556677.00",
                          "ft1.k1.12x.0011223344556677.0000000000000000000000000000000000000000000000000000000000000000",
                          "ft1.k1.1.00112233445566GG.0000000000000000000000000000000000000000000000000000000000000000",
                          "ft1.k1.1.0011223344556677.000000000000000000000000000000000000000000000000000000000000000",
                          "ft1.k1.1.0011223344556677.0000000000000000000000000000000000000000000000000000000000000000.x",
                          "ft1.k1.1234567890123456.0011223344556677.0000000000000000000000000000000000000000000000000000000000000000" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_EQ_INT(check(bad[i], &KEY, 1, "news", NOW, NULL), FORM_MALFORMED);
    char big[400];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "ft1.", 4);
    CHECK_EQ_INT(check(big, &KEY, 1, "news", NOW, NULL), FORM_MALFORMED);
    /* a key id that cannot be one part of the token */
    struct pow_key dotted = mk("k.1", SECRET, 31, 0);
    char tok[FORM_TOKEN_MAX];
    CHECK_EQ_INT(form_token_make(&dotted, "news", NOW, tok), -1);
}

int main(void)
{
    if (sodium_init() < 0 || pow_key_init(&KEY, "k1", SECRET, 31, 0) != 0)
        return 1;
    RUN(made_tokens_check_with_their_time);
    RUN(token_mac_is_the_documented_construction);
    RUN(altered_or_foreign_tokens_are_refused);
    RUN(unknown_and_retired_keys);
    RUN(malformed_tokens);
    return TEST_REPORT();
}
