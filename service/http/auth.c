/* auth.c - API key lookup and generation. */
#include "auth.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Longest key accepted in a header: generated keys are 46 bytes; 256
 * leaves room for keys made elsewhere and bounds the hashing work. */
#define AUTH_MAX_KEY 256

int auth_lookup(const struct cfg *c, const char *header, struct ident *out)
{
    if (!header || strncasecmp(header, "Bearer ", 7) != 0)
        return -1;
    const char *key = header + 7;
    while (*key == ' ')
        key++;
    size_t n = strlen(key);
    while (n > 0 && (key[n - 1] == ' ' || key[n - 1] == '\t'))
        n--;
    return auth_lookup_key(c, key, n, out);
}

int auth_lookup_key(const struct cfg *c, const char *key, size_t n, struct ident *out)
{
    if (n == 0 || n > AUTH_MAX_KEY)
        return -1;
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)key, n);
    long found = -1;
    for (size_t i = 0; i < c->nkeys; i++) {
        /* Branch-free select: no early exit, no data-dependent branch. */
        long eq = sodium_memcmp(c->keys[i].hash, h, sizeof h) == 0;
        found = eq * (long)i + (1 - eq) * found;
    }
    sodium_memzero(h, sizeof h);
    if (found < 0)
        return -1;
    const struct api_key *k = &c->keys[found];
    out->site = k->site;
    out->role = k->role;
    out->key_id = k->id;
    out->key_index = (int)found;
    return 0;
}

int auth_keygen(const char *site, const char *role)
{
    size_t sl = strlen(site);
    for (size_t i = 0; i < sl; i++)
        if (!((site[i] >= 'a' && site[i] <= 'z') || (site[i] >= '0' && site[i] <= '9') || site[i] == '-' ||
              site[i] == '_'))
            sl = 0;
    if (sl == 0 || sl > 64) {
        fprintf(stderr, "keygen: --site must be 1-64 characters of a-z, 0-9, '-' and '_'\n");
        return -1;
    }
    int ok = 0;
    for (int r = 0; r < ROLE_COUNT; r++)
        if (strcmp(role, role_name((enum role)r)) == 0)
            ok = 1;
    if (!ok) {
        fprintf(stderr, "keygen: --role must be cms, moderator or admin\n");
        return -1;
    }
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char key[64];
    snprintf(key, sizeof key, "mg_%s", b64);
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)key, strlen(key));
    char hex[2 * sizeof h + 1];
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    printf("key (give it to the %s client; it is not stored anywhere):\n  %s\n"
           "config entry for sites.%s.keys:\n"
           "  {\"id\": \"%s-%s-%.6s\", \"role\": \"%s\", \"sha256\": \"%s\"}\n",
           role, key, site, site, role, hex, role, hex);
    sodium_memzero(raw, sizeof raw);
    sodium_memzero(key, sizeof key);
    return 0;
}

int auth_may(const struct ident *id, int site)
{
    return id->site == site || (id->site < 0 && id->role == ROLE_ADMIN);
}
