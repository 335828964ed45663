/* fuzz_captcha.c - the captcha's parsers on hostile input.
 *
 * Every input is tried as a widget payload twice (as sent, and base64 of
 * it, so that the JSON parsing and every check behind it are reached)
 * and as a form token. Nothing may crash or read out of bounds (the ASan
 * build replays the corpus), and only a payload really made for this key,
 * site and time may pass: the corpus holds such payloads, so a mutation
 * that still passes must be one the signature covers. pow_verify's fast
 * path (the widget's layout) and its general one (a JSON parser) must
 * give the same answer and result for every input. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formtoken.h"
#include "pow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_S 1800000000LL

static const unsigned char SECRET[] = "the fuzz target's captcha secret";

static enum pow_status verify_both(const char *s, size_t n, const struct pow_key *keys, struct pow_result *r)
{
    struct pow_result g;
    enum pow_status st = pow_verify(s, n, keys, 2, "news", NOW_S, r);
    if (pow_verify_general(s, n, keys, 2, "news", NOW_S, &g) != st || memcmp(r, &g, sizeof g) != 0)
        abort(); /* the two paths disagree */
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    static struct pow_key keys[2];
    if (!ready) {
        if (sodium_init() < 0 || pow_key_init(&keys[0], "f1", SECRET, sizeof SECRET - 1, 0) ||
            pow_key_init(&keys[1], "old", SECRET, 8, NOW_S - 1))
            abort();
        ready = 1;
    }
    struct pow_result r;
    const char *s = (const char *)data;
    enum pow_status st = verify_both(s, size, keys, &r);
    if (st == POW_OK && (strlen(r.nonce) != 32 || r.expires_s < NOW_S))
        abort(); /* a pass must describe a live challenge */
    if (size < 3000) {
        size_t cap = sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(cap);
        sodium_bin2base64(b64, cap, data, size, sodium_base64_VARIANT_ORIGINAL);
        st = verify_both(b64, strlen(b64), keys, &r);
        if (st == POW_OK && (strlen(r.nonce) != 32 || r.expires_s < NOW_S || strcmp(r.key_id, "f1") != 0))
            abort();
        free(b64);
    }
    char *tok = malloc(size + 1);
    memcpy(tok, data, size);
    tok[size] = '\0';
    int64_t issued = 0;
    form_token_check(tok, keys, 2, "news", NOW_S * 1000, &issued);
    free(tok);
    return 0;
}
