/* formtoken.c - signed comment-form tokens; see formtoken.h. */
#include "formtoken.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define MAC_LEN 32

/* HMAC(form key, "ft1|site|kid|issued|nonce"): the form key is k's own
 * (pow_key_init), so a token never passes for anything the captcha signs. */
static int mac(const struct pow_key *k, const char *site, const char *issued, const char *nonce,
               unsigned char out[MAC_LEN])
{
    char msg[FORM_TOKEN_MAX + 128];
    int n = snprintf(msg, sizeof msg, "ft1|%s|%s|%s|%s", site, k->id, issued, nonce);
    if (n < 0 || (size_t)n >= sizeof msg)
        return -1;
    hmac_sha256(&k->form, msg, (size_t)n, out);
    return 0;
}

/* 1-31 characters of [A-Za-z0-9_-]: no '.', which separates the parts. */
static int plain_id(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
    return n > 0 && n < 32 && s[n] == '\0';
}

int form_token_make(const struct pow_key *k, const char *site, int64_t now_ms, char out[FORM_TOKEN_MAX])
{
    if (!plain_id(k->id) || now_ms < 0)
        return -1;
    unsigned char nb[8], m[MAC_LEN];
    char nonce[17], issued[24], mh[2 * MAC_LEN + 1];
    randombytes_buf(nb, sizeof nb);
    sodium_bin2hex(nonce, sizeof nonce, nb, sizeof nb);
    snprintf(issued, sizeof issued, "%lld", (long long)now_ms);
    if (mac(k, site, issued, nonce, m) != 0)
        return -1;
    sodium_bin2hex(mh, sizeof mh, m, sizeof m);
    int n = snprintf(out, FORM_TOKEN_MAX, "ft1.%s.%s.%s.%s", k->id, issued, nonce, mh);
    return n > 0 && n < FORM_TOKEN_MAX ? 0 : -1;
}

enum form_status form_token_check(const char *tok, const struct pow_key *keys, int nkeys, const char *site,
                                  int64_t now_ms, int64_t *issued_ms)
{
    char buf[FORM_TOKEN_MAX], *part[5];
    size_t len = strlen(tok);
    if (len >= sizeof buf || strncmp(tok, "ft1.", 4) != 0)
        return FORM_MALFORMED;
    memcpy(buf, tok, len + 1);
    int np = 0;
    for (char *p = buf, *dot;; p = dot + 1) {
        part[np++] = p;
        if (np == 5 || !(dot = strchr(p, '.')))
            break;
        *dot = '\0';
    }
    if (np != 5 || strchr(part[4], '.') || strlen(part[3]) != 16 || strlen(part[4]) != 2 * MAC_LEN ||
        !plain_id(part[1]))
        return FORM_MALFORMED;
    /* issued: 1-15 decimal digits, a time in ms up to the year 33658 */
    size_t nd = strspn(part[2], "0123456789");
    if (nd == 0 || nd > 15 || part[2][nd] || strspn(part[3], "0123456789abcdef") != 16)
        return FORM_MALFORMED;
    unsigned char got[MAC_LEN], want[MAC_LEN];
    size_t gl = 0;
    if (sodium_hex2bin(got, sizeof got, part[4], 2 * MAC_LEN, NULL, &gl, NULL) != 0 || gl != MAC_LEN)
        return FORM_MALFORMED;
    const struct pow_key *k = NULL;
    for (int i = 0; i < nkeys; i++)
        if (strcmp(keys[i].id, part[1]) == 0)
            k = &keys[i];
    if (!k || (k->verify_until_s && now_ms / 1000 > k->verify_until_s))
        return FORM_UNKNOWN_KEY;
    if (mac(k, site, part[2], part[3], want) != 0 || sodium_memcmp(got, want, MAC_LEN) != 0)
        return FORM_BAD_SIGNATURE;
    long long v = 0;
    for (size_t i = 0; i < nd; i++)
        v = v * 10 + (part[2][i] - '0');
    *issued_ms = (int64_t)v;
    return FORM_OK;
}
