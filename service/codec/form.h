/* form.h - application/x-www-form-urlencoded bodies (k=v&k=v, %XX and '+').
 *
 * Two readers: a strict one for endpoints that define their form (each
 * key once, every pair well formed), and a lenient one for clients built
 * elsewhere that post whatever they have (the Akismet protocol's
 * WordPress plugin repeats "comment_context[]" and sends dozens of fields
 * modgate never reads). Pure code, no I/O. */
#ifndef MODGATE_FORM_H
#define MODGATE_FORM_H

#include <jansson.h>
#include <stddef.h>

enum form_mode {
    FORM_STRICT,  /* any malformed pair or repeated key: NULL */
    FORM_LENIENT, /* empty pairs skipped; "k" alone is "k="; a repeated key
                     keeps its first value; a value that is not %-escaped
                     UTF-8 without NUL becomes JSON null (the caller names
                     it if it needs it); a key that is not is dropped */
};

/* The body as a JSON object of strings (new), or NULL when FORM_STRICT
 * finds it malformed. FORM_LENIENT never fails. */
json_t *form_object(const char *body, size_t len, enum form_mode mode);

/* The first value of 'key' as the bytes it encodes, whatever their
 * charset (new; free(); NUL-terminated, *outlen bytes), or NULL when the
 * key is absent or its value's % escapes are broken or give NUL. For a
 * client that says its text is not UTF-8 (Akismet's blog_charset). */
char *form_raw(const char *body, size_t len, const char *key, size_t *outlen);

#endif
