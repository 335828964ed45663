/* test_pow.c - ALTCHA PoW v2 challenges: key derivation against published
 * vectors, and every way a payload can fail verification.
 *
 * The vectors were computed independently with Python's
 * hashlib.pbkdf2_hmac; the ALTCHA one is the widget repository's own
 * (tests/algorithms), whose ends ALTCHA.md quotes. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmac.h"
#include "pow.h"
#include "test.h"

static void hex(const unsigned char *b, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, b, n);
}

TEST(pbkdf2_vectors)
{
    unsigned char out[32], nonce[16], salt[16];
    char h[65];
    hmac_pbkdf2((const unsigned char *)"password", 8, (const unsigned char *)"salt", 4, 4096, out, 32);
    hex(out, 32, h);
    CHECK_EQ_STR(h, "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
    sodium_hex2bin(nonce, 16, "39baf91a19d671f8231217f9e28342a6", 32, NULL, NULL, NULL);
    sodium_hex2bin(salt, 16, "5e00d5d152e1a5db7d44fb6404a40a5e", 32, NULL, NULL, NULL);
    pow_derive(nonce, salt, 1, 123, out);
    hex(out, 32, h);
    CHECK_EQ_STR(h, "722ede188d41e7a7c9fd5447dca6cbb84e09c15724dbaadfb5bfb37d2cd4effa");
    pow_derive(nonce, salt, 5000, 123, out);
    hex(out, 32, h);
    CHECK_EQ_STR(h, "a231443cfbabe55e609a5fe16b597ba4ea3e8823f0e6ebe70b52638418ce3a01");
}

static const unsigned char SECRET_A[] = "secret of key a, 32 bytes long!";
static const unsigned char SECRET_B[] = "secret of key b, 32 bytes long!";
static struct pow_key KEY_A; /* "a", SECRET_A: made in main */

static struct pow_key mk(const char *id, const unsigned char *secret, size_t len, int64_t until)
{
    struct pow_key k;
    CHECK(pow_key_init(&k, id, secret, len, until) == 0);
    return k;
}
#define NOW 1800000000

static char *issue(const struct pow_key *k, const char *site, uint32_t counter)
{
    struct pow_issue in = { site, "news.example.org", NOW, 300, 10, counter };
    return pow_challenge(k, &in);
}

/* The widget's work: counters from 0 until the key starts with keyPrefix. */
static long solve(json_t *params, unsigned char dk[32], long limit)
{
    unsigned char nonce[16], salt[16], prefix[16];
    sodium_hex2bin(nonce, 16, json_string_value(json_object_get(params, "nonce")), 32, NULL, NULL, NULL);
    sodium_hex2bin(salt, 16, json_string_value(json_object_get(params, "salt")), 32, NULL, NULL, NULL);
    sodium_hex2bin(prefix, 16, json_string_value(json_object_get(params, "keyPrefix")), 32, NULL, NULL, NULL);
    uint32_t cost = (uint32_t)json_integer_value(json_object_get(params, "cost"));
    for (long c = 0; c <= limit; c++) {
        pow_derive(nonce, salt, cost, (uint32_t)c, dk);
        if (memcmp(dk, prefix, 16) == 0)
            return c;
    }
    return -1;
}

/* base64 of {"challenge":<ch>,"solution":{"counter":c,"derivedKey":dk,"time":7}} (new; free()). */
static char *payload(json_t *ch, long counter, const char *dk_hex)
{
    json_t *p = json_pack("{s:O, s:{s:I, s:s, s:i}}", "challenge", ch, "solution", "counter", (json_int_t)counter,
                          "derivedKey", dk_hex, "time", 7);
    char *js = json_dumps(p, JSON_COMPACT);
    size_t n = strlen(js), cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(cap);
    sodium_bin2base64(b64, cap, (const unsigned char *)js, n, sodium_base64_VARIANT_ORIGINAL);
    free(js);
    json_decref(p);
    return b64;
}

/* pow_verify's answer, after checking that its general path (the JSON
 * parser) gives the same one and the same result. */
static enum pow_status verify_as(const char *b64, const char *site, long long now, const struct pow_key *keys, int n)
{
    struct pow_result r, g;
    enum pow_status st = pow_verify(b64, strlen(b64), keys, n, site, now, &r);
    CHECK_EQ_INT(pow_verify_general(b64, strlen(b64), keys, n, site, now, &g), st);
    CHECK(memcmp(&r, &g, sizeof r) == 0);
    return st;
}

TEST(issued_challenge_is_solved_at_its_counter_and_verifies)
{
    char *js = issue(&KEY_A, "news", 37);
    CHECK(js != NULL);
    json_t *ch = json_loads(js, 0, NULL), *p = json_object_get(ch, "parameters");
    CHECK_EQ_STR(json_string_value(json_object_get(p, "algorithm")), "PBKDF2/SHA-256");
    CHECK_EQ_INT(json_integer_value(json_object_get(p, "keyLength")), 32);
    CHECK_EQ_INT(json_integer_value(json_object_get(p, "expiresAt")), NOW + 300);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(p, "data"), "site")), "news");
    CHECK_EQ_INT(strlen(json_string_value(json_object_get(p, "keyPrefix"))), 32);
    /* signature = HMAC-SHA-256(secret, sorted compact JSON of the parameters) */
    char *canon = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned char mac[32];
    char mh[65];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, SECRET_A, 31);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)canon, strlen(canon));
    crypto_auth_hmacsha256_final(&st, mac);
    hex(mac, 32, mh);
    CHECK_EQ_STR(json_string_value(json_object_get(ch, "signature")), mh);
    const char *want = "{\"algorithm\":\"PBKDF2/SHA-256\",\"cost\":10,\"data\":{\"host\":\"news.example.org\","
                       "\"kid\":\"a\",\"site\":\"news\"},\"expiresAt\":";
    CHECK(strncmp(canon, want, strlen(want)) == 0);

    unsigned char dk[32];
    char dkh[65];
    CHECK_EQ_INT(solve(p, dk, 1000), 37);
    hex(dk, 32, dkh);
    char *b64 = payload(ch, 37, dkh);
    struct pow_result r;
    CHECK_EQ_INT(pow_verify(b64, strlen(b64), &KEY_A, 1, "news", NOW + 10, &r), POW_OK);
    CHECK_EQ_STR(r.nonce, json_string_value(json_object_get(p, "nonce")));
    CHECK_EQ_INT(r.counter, 37);
    CHECK_EQ_INT(r.expires_s, NOW + 300);
    CHECK_EQ_STR(r.key_id, "a");
    CHECK_EQ_STR(r.host, "news.example.org");
    CHECK_EQ_STR(pow_status_code(POW_OK), "captcha_solved");
    /* two challenges never share a nonce */
    char *js2 = issue(&KEY_A, "news", 37);
    json_t *ch2 = json_loads(js2, 0, NULL);
    CHECK(strcmp(json_string_value(json_object_get(json_object_get(ch2, "parameters"), "nonce")),
                 json_string_value(json_object_get(p, "nonce"))) != 0);
    json_decref(ch2);
    free(js2);
    free(b64);
    free(canon);
    json_decref(ch);
    free(js);
}

/* What the reference verifier lets through: the real key of counter 0
 * (no search at all), and a key that only copies the prefix. */
TEST(zero_work_and_prefix_only_keys_are_refused)
{
    char *js = issue(&KEY_A, "news", 500);
    json_t *ch = json_loads(js, 0, NULL), *p = json_object_get(ch, "parameters");
    unsigned char nonce[16], salt[16], dk[32];
    char dkh[65];
    sodium_hex2bin(nonce, 16, json_string_value(json_object_get(p, "nonce")), 32, NULL, NULL, NULL);
    sodium_hex2bin(salt, 16, json_string_value(json_object_get(p, "salt")), 32, NULL, NULL, NULL);
    pow_derive(nonce, salt, 10, 0, dk);
    hex(dk, 32, dkh);
    char *b64 = payload(ch, 0, dkh);
    CHECK_EQ_INT(verify_as(b64, "news", NOW, &KEY_A, 1), POW_NOT_SOLVED);
    free(b64);
    char forged[65];
    snprintf(forged, sizeof forged, "%s%s", json_string_value(json_object_get(p, "keyPrefix")),
             "00000000000000000000000000000000");
    b64 = payload(ch, 500, forged);
    CHECK_EQ_INT(verify_as(b64, "news", NOW, &KEY_A, 1), POW_NOT_SOLVED);
    free(b64);
    /* the right key, cut short: the length is checked too */
    CHECK_EQ_INT(solve(p, dk, 1000), 500);
    hex(dk, 32, dkh);
    dkh[62] = '\0';
    b64 = payload(ch, 500, dkh);
    CHECK_EQ_INT(verify_as(b64, "news", NOW, &KEY_A, 1), POW_NOT_SOLVED);
    free(b64);
    json_decref(ch);
    free(js);
}

/* A solved payload for KEY_A, site "news", counter 3 (new; free()), and
 * its challenge in *chp (caller decrefs). */
static char *solved(const struct pow_key *k, const char *site, json_t **chp)
{
    char *js = issue(k, site, 3);
    json_t *ch = json_loads(js, 0, NULL);
    unsigned char dk[32];
    char dkh[65];
    solve(json_object_get(ch, "parameters"), dk, 100);
    hex(dk, 32, dkh);
    char *b64 = payload(ch, 3, dkh);
    free(js);
    *chp = ch;
    return b64;
}

TEST(tampered_expired_and_wrong_site_payloads_are_refused)
{
    json_t *ch;
    char *b64 = solved(&KEY_A, "news", &ch);
    CHECK_EQ_INT(verify_as(b64, "news", NOW + 300, &KEY_A, 1), POW_OK);
    CHECK_EQ_INT(verify_as(b64, "news", NOW + 301, &KEY_A, 1), POW_EXPIRED);
    CHECK_EQ_INT(verify_as(b64, "sport", NOW, &KEY_A, 1), POW_WRONG_SITE);
    free(b64);

    /* cheaper parameters, or a later expiry: the signature no longer fits */
    json_t *p = json_object_get(ch, "parameters");
    unsigned char dk[32];
    char dkh[65];
    solve(p, dk, 100);
    hex(dk, 32, dkh);
    json_object_set_new(p, "cost", json_integer(1));
    b64 = payload(ch, 3, dkh);
    CHECK_EQ_INT(verify_as(b64, "news", NOW, &KEY_A, 1), POW_BAD_SIGNATURE);
    free(b64);
    json_object_set_new(p, "cost", json_integer(10));
    json_object_set_new(p, "expiresAt", json_integer(NOW + 99999));
    b64 = payload(ch, 3, dkh);
    CHECK_EQ_INT(verify_as(b64, "news", NOW + 1000, &KEY_A, 1), POW_BAD_SIGNATURE);
    free(b64);
    json_object_set_new(p, "expiresAt", json_integer(NOW + 300));
    json_object_set_new(json_object_get(p, "data"), "site", json_string("sport"));
    b64 = payload(ch, 3, dkh);
    CHECK_EQ_INT(verify_as(b64, "sport", NOW, &KEY_A, 1), POW_BAD_SIGNATURE);
    free(b64);
    json_object_set_new(json_object_get(p, "data"), "site", json_string("news"));
    b64 = payload(ch, 3, dkh);
    CHECK_EQ_INT(verify_as(b64, "news", NOW, &KEY_A, 1), POW_OK); /* restored: valid again */
    free(b64);
    /* the signature itself changed */
    char sig[65];
    snprintf(sig, sizeof sig, "%s", json_string_value(json_object_get(ch, "signature")));
    sig[0] = sig[0] == '0' ? '1' : '0';
    json_object_set_new(ch, "signature", json_string(sig));
    b64 = payload(ch, 3, dkh);
    CHECK_EQ_INT(verify_as(b64, "news", NOW, &KEY_A, 1), POW_BAD_SIGNATURE);
    free(b64);
    json_decref(ch);
}

TEST(rotated_keys_verify_until_their_grace_ends)
{
    struct pow_key keys[2] = { mk("b", SECRET_B, 31, 0), mk("a", SECRET_A, 31, NOW + 100) };
    json_t *ch;
    char *b64 = solved(&KEY_A, "news", &ch);
    CHECK_EQ_INT(verify_as(b64, "news", NOW + 100, keys, 2), POW_OK);
    CHECK_EQ_INT(verify_as(b64, "news", NOW + 101, keys, 2), POW_UNKNOWN_KEY);
    CHECK_EQ_INT(verify_as(b64, "news", NOW, keys, 1), POW_UNKNOWN_KEY); /* only "b" */
    /* the same id with another secret is a bad signature, not a pass */
    struct pow_key impostor = mk("a", SECRET_B, 31, 0);
    CHECK_EQ_INT(verify_as(b64, "news", NOW, &impostor, 1), POW_BAD_SIGNATURE);
    free(b64);
    json_decref(ch);
}

static char *b64_of(const char *s)
{
    size_t n = strlen(s), cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *b = malloc(cap);
    sodium_bin2base64(b, cap, (const unsigned char *)s, n, sodium_base64_VARIANT_ORIGINAL);
    return b;
}

TEST(test_mode_and_malformed_payloads)
{
    char *b = b64_of("{\"challenge\":null,\"solution\":null,\"test\":true}");
    CHECK_EQ_INT(verify_as(b, "news", NOW, &KEY_A, 1), POW_TEST_MODE);
    free(b);
    CHECK_EQ_INT(verify_as("not base64!", "news", NOW, &KEY_A, 1), POW_MALFORMED);
    CHECK_EQ_INT(verify_as("", "news", NOW, &KEY_A, 1), POW_MALFORMED);
    b = b64_of("{\"challenge\":");
    CHECK_EQ_INT(verify_as(b, "news", NOW, &KEY_A, 1), POW_MALFORMED);
    free(b);
    b = b64_of("[1,2]");
    CHECK_EQ_INT(verify_as(b, "news", NOW, &KEY_A, 1), POW_MALFORMED);
    free(b);

    json_t *ch;
    char *good = solved(&KEY_A, "news", &ch);
    free(good);
    json_t *p = json_object_get(ch, "parameters");
    /* a real where we signed an integer: refused before any signing */
    json_object_set_new(p, "cost", json_real(10.0));
    b = payload(ch, 3, "00");
    CHECK_EQ_INT(verify_as(b, "news", NOW, &KEY_A, 1), POW_MALFORMED);
    free(b);
    json_object_set_new(p, "cost", json_integer(10));
    /* a parameter we never write */
    json_object_set_new(p, "memoryCost", json_integer(1));
    b = payload(ch, 3, "00");
    CHECK_EQ_INT(verify_as(b, "news", NOW, &KEY_A, 1), POW_MALFORMED);
    free(b);
    json_object_del(p, "memoryCost");
    /* a negative counter */
    b = payload(ch, -1, "00");
    CHECK_EQ_INT(verify_as(b, "news", NOW, &KEY_A, 1), POW_MALFORMED);
    free(b);
    json_decref(ch);
    /* duplicate keys: which one would count? */
    b = b64_of("{\"test\":false,\"test\":true}");
    CHECK_EQ_INT(verify_as(b, "news", NOW, &KEY_A, 1), POW_MALFORMED);
    free(b);
}

/* Quotes and backslashes are escaped alike by the signer (jansson) and
 * the verifier's own canonical writer: a challenge made with them verifies. */
TEST(escaped_strings_sign_and_verify_alike)
{
    static const unsigned char sec[] = "secret of key q, 32 bytes long!";
    struct pow_key k = mk("q\"1\\", sec, 31, 0);
    struct pow_issue in = { "s\"t\\e", "h\"o\\st", NOW, 300, 10, 2 };
    char *js = pow_challenge(&k, &in);
    CHECK(js != NULL);
    json_t *ch = json_loads(js, 0, NULL);
    unsigned char dk[32];
    char dkh[65];
    CHECK_EQ_INT(solve(json_object_get(ch, "parameters"), dk, 100), 2);
    hex(dk, 32, dkh);
    char *b64 = payload(ch, 2, dkh);
    struct pow_result r;
    CHECK_EQ_INT(verify_as(b64, "s\"t\\e", NOW, &k, 1), POW_OK);
    CHECK_EQ_INT(pow_verify(b64, strlen(b64), &k, 1, "s\"t\\e", NOW, &r), POW_OK);
    CHECK_EQ_STR(r.host, "h\"o\\st");
    free(b64);
    json_decref(ch);
    free(js);
}

/* Parameters at their size limits, all characters that need escaping:
 * refused, without overrunning anything (the ASan build runs this too). */
TEST(largest_parameters_are_refused_safely)
{
    json_t *ch;
    char *good = solved(&KEY_A, "news", &ch);
    free(good);
    char big[256];
    memset(big, '"', 255);
    big[255] = '\0';
    json_t *p = json_object_get(ch, "parameters");
    /* algorithm, nonce and salt must be exactly what we write; the other
     * strings are bounded only in length until the signature is checked */
    json_object_set_new(p, "keyPrefix", json_string(big));
    json_object_set_new(p, "keySignature", json_string(big));
    json_object_set_new(json_object_get(p, "data"), "host", json_string(big));
    char *b = payload(ch, 3, "00");
    CHECK_EQ_INT(verify_as(b, "news", NOW, &KEY_A, 1), POW_BAD_SIGNATURE);
    free(b);
    char bigger[257]; /* 256 characters: over the limit */
    memcpy(bigger, big, 255);
    bigger[255] = 'x';
    bigger[256] = '\0';
    json_object_set_new(p, "keyPrefix", json_string(bigger));
    b = payload(ch, 3, "00");
    CHECK_EQ_INT(verify_as(b, "news", NOW, &KEY_A, 1), POW_MALFORMED);
    free(b);
    json_object_set_new(p, "keyPrefix", json_string(big));
    json_object_set_new(p, "nonce", json_string("0011223344556677")); /* 8 bytes, not 16 */
    b = payload(ch, 3, "00");
    CHECK_EQ_INT(verify_as(b, "news", NOW, &KEY_A, 1), POW_MALFORMED);
    free(b);
    json_object_set_new(p, "nonce", json_string("00112233445566778899aabbccddeeff"));
    json_object_set_new(p, "algorithm", json_string("SHA-256"));
    b = payload(ch, 3, "00");
    CHECK_EQ_INT(verify_as(b, "news", NOW, &KEY_A, 1), POW_MALFORMED);
    free(b);
    json_decref(ch);
}

TEST(base64_edges)
{
    json_t *ch;
    char *good = solved(&KEY_A, "news", &ch);
    CHECK_EQ_INT(verify_as(good, "news", NOW, &KEY_A, 1), POW_OK);
    size_t n = strlen(good);
    char *cut = strdup(good);
    while (n && cut[n - 1] == '=')
        cut[--n] = '\0'; /* padding left out */
    CHECK(n % 4 == 0 || verify_as(cut, "news", NOW, &KEY_A, 1) == POW_MALFORMED);
    free(cut);
    const char *bad[] = { "====", "A===", "AB=C", "AB C", "ABC", "\xff\xff\xff\xff" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_EQ_INT(verify_as(bad[i], "news", NOW, &KEY_A, 1), POW_MALFORMED);
    /* valid base64 of bytes that are not UTF-8 */
    CHECK_EQ_INT(verify_as("/w==", "news", NOW, &KEY_A, 1), POW_MALFORMED);
    free(good);
    json_decref(ch);
}

/* The widget writes its payload in one layout, which pow_verify reads in
 * place; any other way of writing the same JSON (other key order, spaces,
 * escapes, a real counter, extra fields) goes through the JSON parser and
 * gets the same answer. verify_as checks both paths agree on each. */
TEST(other_layouts_of_the_same_payload)
{
    json_t *ch;
    char *good = solved(&KEY_A, "news", &ch);
    CHECK_EQ_INT(verify_as(good, "news", NOW, &KEY_A, 1), POW_OK);
    unsigned char raw[2048];
    size_t rl = 0;
    CHECK(sodium_base642bin(raw, sizeof raw, good, strlen(good), NULL, &rl, NULL, sodium_base64_VARIANT_ORIGINAL) == 0);
    json_t *pl = json_loadb((const char *)raw, rl, 0, NULL);
    CHECK(pl != NULL);
    /* sorted solution keys, spaces, and the algorithm written "PBKDF2\\/SHA-256" */
    static const size_t flags[] = { JSON_COMPACT | JSON_SORT_KEYS, JSON_INDENT(2), JSON_COMPACT | JSON_ESCAPE_SLASH };
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
        char *js = json_dumps(pl, flags[i]);
        char *b = b64_of(js);
        CHECK_EQ_INT(verify_as(b, "news", NOW, &KEY_A, 1), POW_OK);
        free(b);
        free(js);
    }
    /* a "/" written as "\/" in the host: the same string once parsed */
    json_t *sol = json_object_get(pl, "solution");
    json_object_set_new(sol, "time", json_real(12.5));
    json_object_set_new(pl, "extra", json_string("ignored"));
    char *js = json_dumps(pl, JSON_COMPACT);
    char *b = b64_of(js);
    CHECK_EQ_INT(verify_as(b, "news", NOW, &KEY_A, 1), POW_OK);
    free(b);
    free(js);
    /* the widget's own layout with "time" in each form it writes, and
     * forms JSON does not allow, refused by both paths */
    json_object_del(pl, "extra");
    json_object_set_new(sol, "time", json_integer(999));
    static const struct { const char *t; enum pow_status st; } times[] = {
        { "0", POW_OK }, { "7", POW_OK }, { "83.4", POW_OK }, { "1234.5", POW_OK }, { "01", POW_MALFORMED },
        { "1.", POW_MALFORMED }, { ".5", POW_MALFORMED }, { "-", POW_MALFORMED }, { "1e", POW_MALFORMED },
        { "\"", POW_MALFORMED },
    };
    char *w = json_dumps(pl, JSON_COMPACT);
    char *at = strstr(w, "\"time\":999}");
    CHECK(at != NULL);
    for (size_t i = 0; at && i < sizeof times / sizeof *times; i++) {
        char buf[2048];
        snprintf(buf, sizeof buf, "%.*s\"time\":%s}}", (int)(at - w), w, times[i].t);
        char *bb = b64_of(buf);
        CHECK_EQ_INT(verify_as(bb, "news", NOW, &KEY_A, 1), times[i].st);
        free(bb);
    }
    free(w);
    json_decref(pl);
    free(good);
    json_decref(ch);
}

TEST(issue_refuses_out_of_range_settings)
{
    struct pow_issue in = { "news", "", NOW, 300, 0, 5 };
    CHECK(pow_challenge(&KEY_A, &in) == NULL); /* cost 0 */
    in.cost = 10;
    in.ttl_s = 1;
    CHECK(pow_challenge(&KEY_A, &in) == NULL);
    in.ttl_s = 300;
    in.site = "caf\xc3\xa9"; /* not ASCII: btoa in the widget would throw */
    CHECK(pow_challenge(&KEY_A, &in) == NULL);
    in.site = "news";
    char *ok = pow_challenge(&KEY_A, &in);
    CHECK(ok != NULL);
    free(ok);
}

int main(void)
{
    if (sodium_init() < 0 || pow_key_init(&KEY_A, "a", SECRET_A, 31, 0) != 0)
        return 1;
    RUN(pbkdf2_vectors);
    RUN(issued_challenge_is_solved_at_its_counter_and_verifies);
    RUN(zero_work_and_prefix_only_keys_are_refused);
    RUN(tampered_expired_and_wrong_site_payloads_are_refused);
    RUN(rotated_keys_verify_until_their_grace_ends);
    RUN(test_mode_and_malformed_payloads);
    RUN(escaped_strings_sign_and_verify_alike);
    RUN(largest_parameters_are_refused_safely);
    RUN(base64_edges);
    RUN(other_layouts_of_the_same_payload);
    RUN(issue_refuses_out_of_range_settings);
    return TEST_REPORT();
}
