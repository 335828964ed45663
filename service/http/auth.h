/* auth.h - API keys: bearer parsing, constant-time lookup, key generation.
 *
 * Keys are random secrets; the config holds only their SHA-256. A fast
 * hash is right here (unlike passwords): a 256-bit random key cannot be
 * guessed, so slowing each request down with a password hash buys nothing. */
#ifndef MODGATE_AUTH_H
#define MODGATE_AUTH_H

#include <stddef.h>

#include "config.h"

struct ident {
    int site;            /* index into cfg->sites */
    enum role role;
    const char *key_id;  /* borrowed from the cfg; safe to log */
    int key_index;       /* index into cfg->keys */
};

/* Find the key in an "Authorization: Bearer KEY" header value. Every
 * configured key hash is compared with sodium_memcmp and the loop never
 * exits early, so the time taken does not depend on which key (if any)
 * matched. Returns 0 and fills 'out', or -1 when the header is missing,
 * malformed or the key unknown. */
int auth_lookup(const struct cfg *c, const char *header, struct ident *out);

/* The same for a bare key of 'n' bytes (not NUL-terminated), as clients
 * of other protocols send it (Akismet's "api_key" field or the first
 * label of Host): the same constant-time comparison over every key.
 * Returns 0 and fills 'out', or -1 when it is empty, over 256 bytes or
 * unknown. */
int auth_lookup_key(const struct cfg *c, const char *key, size_t n, struct ident *out);

/* May a key of 'id' read and change site 'site' (an index into
 * cfg->sites)? Its own site's, or any for an admin key of no site
 * (the config's top-level admin_keys). */
int auth_may(const struct ident *id, int site);

/* Print a fresh key for 'site' and 'role' with the config entry holding its
 * hash to stdout. Returns 0, or -1 with a message on stderr. */
int auth_keygen(const char *site, const char *role);

#endif
