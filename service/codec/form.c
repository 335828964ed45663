/* form.c - application/x-www-form-urlencoded bodies: see form.h. */
#include "form.h"

#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "util.h"

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* s[0..n) with %XX and '+' decoded (new; free(), NUL-terminated, its
 * length in *outlen), or NULL when a % escape is broken or gives NUL. */
static char *decode_bytes(const char *s, size_t n, size_t *outlen)
{
    char *out = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1, lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

/* decode_bytes, and NULL too when the result is not UTF-8 without NUL:
 * a raw NUL would cut the value short, and jansson refuses invalid UTF-8. */
static char *form_decode(const char *s, size_t n)
{
    size_t o;
    char *out = decode_bytes(s, n, &o);
    if (out && (memchr(out, 0, o) || !text_utf8_valid(out, o))) {
        free(out);
        return NULL;
    }
    return out;
}

char *form_raw(const char *body, size_t len, const char *key, size_t *outlen)
{
    size_t kn = strlen(key);
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && body[j] != '&')
            j++;
        const char *eq = memchr(body + i, '=', j - i);
        size_t klen;
        char *k = eq ? decode_bytes(body + i, (size_t)(eq - (body + i)), &klen) : NULL;
        int match = k && klen == kn && memcmp(k, key, kn) == 0;
        free(k);
        if (match) {
            char *v = decode_bytes(eq + 1, (size_t)(body + j - eq - 1), outlen);
            if (v && memchr(v, 0, *outlen)) {
                free(v);
                v = NULL;
            }
            return v;
        }
        i = j + 1;
    }
    return NULL;
}

json_t *form_object(const char *body, size_t len, enum form_mode mode)
{
    json_t *o = json_object();
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && body[j] != '&')
            j++;
        const char *eq = memchr(body + i, '=', j - i);
        if (mode == FORM_LENIENT && j == i) { /* "&&" */
            i = j + 1;
            continue;
        }
        size_t klen = eq ? (size_t)(eq - (body + i)) : j - i;
        char *k = (eq || mode == FORM_LENIENT) ? form_decode(body + i, klen) : NULL;
        char *v = eq ? form_decode(eq + 1, (size_t)(body + j - eq - 1)) : mode == FORM_LENIENT ? xstrdup("") : NULL;
        int bad;
        if (mode == FORM_STRICT)
            bad = !k || !v || !*k || json_object_get(o, k) || json_object_set_new(o, k, json_string(v)) != 0;
        else
            bad = k && *k && !json_object_get(o, k) && json_object_set_new(o, k, v ? json_string(v) : json_null()) != 0;
        free(k);
        free(v);
        if (bad) {
            json_decref(o);
            return NULL;
        }
        i = j + 1;
    }
    return o;
}
