/* jfast.c - a strict reader for the common subset of JSON (see jfast.h).
 *
 * Recursive descent over the bytes, no lexer stream: whitespace, the
 * three keywords, integers, strings (unescaped runs copied at once) and
 * nesting. Every branch that meets something outside the subset returns
 * NULL, and the whole tree built so far is dropped: being sure is the
 * point, speed only matters for requests that are fine. */
#include "jfast.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Deeper than any API request nests; jansson takes the rare deeper one. */
#define MAX_DEPTH 32
/* Decoded strings up to this size use the stack. */
#define STACK_STR 1024

struct rd {
    const char *p, *end;
};

static json_t *value(struct rd *r, int depth);

static void skip_ws(struct rd *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Decode the escaped string at s[0..n) (the part between the quotes)
 * into out (room for n bytes: decoding never grows it). Returns the
 * length, or -1 for anything jansson should judge. */
static long unescape(const char *s, size_t n, char *out)
{
    char *w = out;
    const char *e = s + n;
    while (s < e) {
        if (*s != '\\') {
            *w++ = *s++;
            continue;
        }
        if (e - s < 2)
            return -1;
        char c = s[1];
        s += 2;
        switch (c) {
        case '"': *w++ = '"'; continue;
        case '\\': *w++ = '\\'; continue;
        case '/': *w++ = '/'; continue;
        case 'b': *w++ = '\b'; continue;
        case 'f': *w++ = '\f'; continue;
        case 'n': *w++ = '\n'; continue;
        case 'r': *w++ = '\r'; continue;
        case 't': *w++ = '\t'; continue;
        case 'u': break;
        default: return -1;
        }
        unsigned cp;
        if (e - s < 4 || hex4(s, &cp))
            return -1;
        s += 4;
        if (cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
            return -1; /* NUL, or a lone low surrogate */
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned lo;
            if (e - s < 6 || s[0] != '\\' || s[1] != 'u' || hex4(s + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                return -1;
            s += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        /* \uXXXX is 6 bytes, a pair 12: the UTF-8 (at most 3 or 4) fits */
        if (cp < 0x80) {
            *w++ = (char)cp;
        } else if (cp < 0x800) {
            *w++ = (char)(0xC0 | cp >> 6);
            *w++ = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            *w++ = (char)(0xE0 | cp >> 12);
            *w++ = (char)(0x80 | (cp >> 6 & 0x3F));
            *w++ = (char)(0x80 | (cp & 0x3F));
        } else {
            *w++ = (char)(0xF0 | cp >> 18);
            *w++ = (char)(0x80 | (cp >> 12 & 0x3F));
            *w++ = (char)(0x80 | (cp >> 6 & 0x3F));
            *w++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    return w - out;
}

/* Find the end of the string at r->p (just past its opening quote):
 * its raw bytes are *start..*start+*n, and r->p moves past the closing
 * quote. *escaped says whether a backslash is in them. Returns 0, or -1. */
static int scan_string(struct rd *r, const char **start, size_t *n, int *escaped)
{
    const char *s = r->p;
    *escaped = 0;
    for (;;) {
        if (r->p >= r->end)
            return -1;
        unsigned char c = (unsigned char)*r->p;
        if (c == '"')
            break;
        if (c < 0x20)
            return -1; /* a raw control character: an error */
        if (c == '\\') {
            *escaped = 1;
            if (r->p + 1 >= r->end)
                return -1;
            r->p++; /* the escaped byte is never the closing quote */
        }
        r->p++;
    }
    *start = s;
    *n = (size_t)(r->p - s);
    r->p++;
    return 0;
}

/* A string's text, decoded into 'stack' (STACK_STR bytes) or, when
 * longer, into new memory (*heap, free()d by the caller). NULL: not sure. */
static const char *decode(const char *s, size_t n, char *stack, char **heap, size_t *len)
{
    *heap = NULL;
    char *buf = n <= STACK_STR ? stack : (*heap = malloc(n));
    if (!buf)
        return NULL;
    long l = unescape(s, n, buf);
    if (l < 0)
        return NULL;
    *len = (size_t)l;
    return buf;
}

static json_t *string(struct rd *r)
{
    const char *s;
    size_t n;
    int escaped;
    if (scan_string(r, &s, &n, &escaped))
        return NULL;
    if (!escaped)
        return json_stringn_nocheck(s, n); /* the input is valid UTF-8 (jfast.h) */
    char stack[STACK_STR], *heap;
    size_t len;
    const char *t = decode(s, n, stack, &heap, &len);
    json_t *v = t ? json_stringn_nocheck(t, len) : NULL;
    free(heap);
    return v;
}

/* -?(0|[1-9][0-9]*), at most 18 digits (always fits a json_int_t); a
 * fraction or exponent is left to jansson. */
static json_t *integer(struct rd *r)
{
    int neg = 0;
    if (*r->p == '-') {
        neg = 1;
        r->p++;
    }
    const char *d = r->p;
    long long v = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        if (r->p - d == 18)
            return NULL;
        v = v * 10 + (*r->p - '0');
        r->p++;
    }
    size_t nd = (size_t)(r->p - d);
    if (nd == 0 || (nd > 1 && *d == '0'))
        return NULL;
    if (r->p < r->end && (*r->p == '.' || *r->p == 'e' || *r->p == 'E'))
        return NULL;
    return json_integer(neg ? -v : v);
}

static json_t *keyword(struct rd *r, const char *word, size_t n, json_t *v)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return NULL;
    r->p += n;
    return v;
}

static json_t *object(struct rd *r, int depth)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    skip_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return o;
    }
    for (;;) {
        if (r->p >= r->end || *r->p != '"')
            break;
        r->p++;
        const char *key;
        size_t kn;
        int escaped;
        if (scan_string(r, &key, &kn, &escaped))
            break;
        char stack[STACK_STR], *heap = NULL;
        if (escaped && !(key = decode(key, kn, stack, &heap, &kn))) {
            free(heap);
            break;
        }
        /* A NUL in a key or a repeated key: jansson words the error. */
        int bad = memchr(key, 0, kn) || json_object_getn(o, key, kn);
        skip_ws(r);
        bad = bad || r->p >= r->end || *r->p != ':';
        json_t *v = NULL;
        if (!bad) {
            r->p++;
            v = value(r, depth);
        }
        /* setn copies the key and takes 'v' even when it fails */
        bad = bad || !v || json_object_setn_new_nocheck(o, key, kn, v);
        free(heap);
        if (bad)
            break;
        skip_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            skip_ws(r);
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            return o;
        }
        break;
    }
    json_decref(o);
    return NULL;
}

static json_t *array(struct rd *r, int depth)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    skip_ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return a;
    }
    for (;;) {
        json_t *v = value(r, depth);
        if (!v || json_array_append_new(a, v))
            break;
        skip_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            return a;
        }
        break;
    }
    json_decref(a);
    return NULL;
}

static json_t *value(struct rd *r, int depth)
{
    skip_ws(r);
    if (r->p >= r->end)
        return NULL;
    char c = *r->p;
    if (c == '"') {
        r->p++;
        return string(r);
    }
    if (c == '{' || c == '[') {
        if (depth >= MAX_DEPTH)
            return NULL;
        r->p++;
        return c == '{' ? object(r, depth + 1) : array(r, depth + 1);
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return integer(r);
    if (c == 't')
        return keyword(r, "true", 4, json_true());
    if (c == 'f')
        return keyword(r, "false", 5, json_false());
    if (c == 'n')
        return keyword(r, "null", 4, json_null());
    return NULL;
}

json_t *jfast_load(const char *s, size_t n)
{
    struct rd r = { s, s + n };
    skip_ws(&r);
    if (r.p >= r.end || (*r.p != '{' && *r.p != '['))
        return NULL; /* jansson decodes only an object or array at the top */
    json_t *v = value(&r, 0);
    if (!v)
        return NULL;
    skip_ws(&r);
    if (r.p != r.end) { /* something after the value */
        json_decref(v);
        return NULL;
    }
    return v;
}
