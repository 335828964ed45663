/* logline.c - one log line, text or JSON, built in a fixed buffer with
 * every byte from outside escaped (the contract is in logline.h). */
#include "logline.h"

#include <string.h>

#include "text.h"
#include "util.h"

/* Bytes kept free at the end of the buffer for what closes a line after a
 * value was cut: "..." and the value's '"', then the line's '}' and '\n'.
 * Only those may be written past LOGLINE_MAX - RESERVE. */
#define RESERVE 6

/* A field's value is cut at this much escaped text, so that one long value
 * (a path can be 16 KiB, http.header_buffer_bytes) leaves room for the
 * fields after it: a line holds three such values and its other fields. */
#define VALUE_MAX 1024

static const char hex[] = "0123456789abcdef";

/* Valid characters that are still shown escaped: C1 controls, the line and
 * paragraph separators and the bidi controls (logline.h). All are in the
 * Basic Multilingual Plane. */
static int hidden_cp(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x61c || cp == 0x200e || cp == 0x200f ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* A byte copied as it is, in a run of such bytes. */
static int plain(unsigned char c, enum logline_esc how)
{
    return c >= 0x20 && c < 0x7f && c != '\\' && (c != '"' || how == LOGLINE_PROSE);
}

/* The escape of the character that starts s[0..len) (not a plain byte)
 * into e, and in *in the input bytes it stands for. Returns the escape's
 * length, or 0 when the character is valid UTF-8 to copy as it is (*in
 * bytes of it). */
static size_t escape_one(const unsigned char *s, size_t len, enum logline_esc how, char e[8], size_t *in)
{
    unsigned char c = s[0];
    int json = how == LOGLINE_JSON;
    *in = 1;
    if (c < 0x80) {
        e[0] = '\\';
        switch (c) {
        case '\n': e[1] = 'n'; return 2;
        case '\r': e[1] = 'r'; return 2;
        case '\t': e[1] = 't'; return 2;
        case '\\': case '"': e[1] = (char)c; return 2;
        default: break;
        }
        if (json) {
            memcpy(e + 1, "u00", 3);
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            return 6;
        }
        e[1] = 'x';
        e[2] = hex[c >> 4];
        e[3] = hex[c & 15];
        return 4;
    }
    /* The sequence length its first byte claims; text_utf8_valid refuses
     * stray continuation bytes, overlongs, surrogates and > U+10FFFF. */
    size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    if (k > len || !text_utf8_valid((const char *)s, k)) {
        if (json) {
            memcpy(e, "\\ufffd", 6);
            return 6;
        }
        e[0] = '\\';
        e[1] = 'x';
        e[2] = hex[c >> 4];
        e[3] = hex[c & 15];
        return 4;
    }
    *in = k;
    if (k == 4)
        return 0; /* beyond the BMP: nothing there is escaped */
    uint32_t cp = k == 2 ? (uint32_t)(c & 0x1f) << 6 | (uint32_t)(s[1] & 0x3f)
                         : (uint32_t)(c & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (uint32_t)(s[2] & 0x3f);
    if (!hidden_cp(cp))
        return 0;
    e[0] = '\\';
    e[1] = 'u';
    e[2] = hex[cp >> 12];
    e[3] = hex[(cp >> 8) & 15];
    e[4] = hex[(cp >> 4) & 15];
    e[5] = hex[cp & 15];
    return 6;
}

size_t logline_escape(char *out, size_t cap, const char *str, size_t len, enum logline_esc how, size_t *used)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, o = 0;
    while (i < len && o < cap) {
        /* Runs of plain bytes (nearly every byte of a line) in one copy. */
        size_t run = 0;
        while (i + run < len && run < cap - o && plain(s[i + run], how))
            run++;
        if (run) {
            memcpy(out + o, s + i, run);
            o += run;
            i += run;
            continue;
        }
        char e[8];
        size_t in, n = escape_one(s + i, len - i, how, e, &in);
        const void *src = n ? (const void *)e : (const void *)(s + i);
        if (!n)
            n = in;
        if (n > cap - o)
            break;
        memcpy(out + o, src, n);
        o += n;
        i += in;
    }
    *used = i;
    return o;
}

int logline_bare(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '=')
            return 0;
    }
    return 1;
}

/* ---- the line --------------------------------------------------------- */

/* Bytes that may still be added, the reserve kept. */
static size_t room(const struct logline *l)
{
    return l->len < LOGLINE_MAX - RESERVE ? LOGLINE_MAX - RESERVE - l->len : 0;
}

/* Append s[0..n) whole, or nothing. Returns 0 or -1. */
static int put(struct logline *l, const char *s, size_t n)
{
    if (n > room(l)) {
        l->cut = 1;
        return -1;
    }
    memcpy(l->b + l->len, s, n);
    l->len += n;
    return 0;
}

/* Append s[0..len) escaped, at most 'cap' bytes of it (and what room
 * there is); a cut is marked "...", which may take 3 bytes of the
 * reserve. Returns 1 when cut, else 0. */
static int put_escaped(struct logline *l, const char *s, size_t len, enum logline_esc how, size_t cap)
{
    size_t r = room(l), used;
    l->len += logline_escape(l->b + l->len, r < cap ? r : cap, s, len, how, &used);
    if (used == len)
        return 0;
    memcpy(l->b + l->len, "...", 3);
    l->len += 3;
    l->cut = 1;
    return 1;
}

/* A number field's value as text into out (at least 32 bytes). */
static size_t fmt_number(char *out, const struct log_field *f)
{
    if (f->type != LOG_F_MS)
        return fmt_int(out, f->num);
    long long us = f->num < 0 ? 0 : f->num;
    size_t n = fmt_int(out, us / 1000);
    long long frac = us % 1000;
    out[n++] = '.';
    out[n++] = (char)('0' + frac / 100);
    out[n++] = (char)('0' + frac / 10 % 10);
    out[n++] = (char)('0' + frac % 10);
    return n;
}

/* A string value: in text bare when it is a plain token, else quoted;
 * in JSON a string. The opening is appended after 'pre' (the field's
 * separator and key, so that both fit or neither does); the closing quote
 * may take the reserve's last byte. Returns 0 or -1 (nothing appended). */
static int put_str(struct logline *l, char *pre, size_t np, const char *s)
{
    size_t len = strlen(s);
    int quoted = l->json || !logline_bare(s, len);
    if (quoted)
        pre[np++] = '"';
    if (put(l, pre, np))
        return -1;
    put_escaped(l, s, len, l->json ? LOGLINE_JSON : LOGLINE_QUOTED, VALUE_MAX);
    if (quoted)
        l->b[l->len++] = '"';
    return 0;
}

/* One field: ` key=value` or ` value` (bare) in text, `,"key":value` in
 * JSON. A field that does not fit is left out whole. */
static void put_field(struct logline *l, const struct log_field *f)
{
    char pre[96]; /* separator, key (a fixed short name) and the value's opening */
    size_t np = 0, klen = strnlen(f->key, 64);
    if (f->type == LOG_F_FLAG && !l->json && !f->num)
        return;
    if (l->json) {
        pre[np++] = ',';
        pre[np++] = '"';
        memcpy(pre + np, f->key, klen);
        np += klen;
        pre[np++] = '"';
        pre[np++] = ':';
    } else {
        pre[np++] = ' ';
        if (!f->bare || f->type == LOG_F_FLAG) {
            memcpy(pre + np, f->key, klen);
            np += klen;
            if (f->type != LOG_F_FLAG)
                pre[np++] = '=';
        }
    }
    switch (f->type) {
    case LOG_F_STR:
        if (f->str) {
            put_str(l, pre, np, f->str);
            return;
        }
        memcpy(pre + np, l->json ? "null" : "-", l->json ? 4 : 1);
        np += l->json ? 4 : 1;
        break;
    case LOG_F_FLAG:
        if (l->json) {
            memcpy(pre + np, f->num ? "true" : "false", f->num ? 4 : 5);
            np += f->num ? 4 : 5;
        }
        break;
    case LOG_F_INT:
    case LOG_F_MS:
        np += fmt_number(pre + np, f);
        break;
    }
    put(l, pre, np);
}

void logline_begin(struct logline *l, int json, int64_t wall, const char *level, const char *rid)
{
    char ts[32];
    fmt_rfc3339(wall, ts, sizeof ts);
    l->len = 0;
    l->json = json;
    l->cut = 0;
    put(l, json ? "{\"ts\":\"" : "", json ? 7 : 0);
    put(l, ts, strlen(ts));
    put(l, json ? "\",\"level\":\"" : " ", json ? 11 : 1);
    put(l, level, strlen(level));
    if (!json) {
        put(l, " [", 2);
        put_escaped(l, rid ? rid : "-", rid ? strlen(rid) : 1, LOGLINE_PROSE, VALUE_MAX);
        l->b[l->len++] = ']';
    } else if (!rid) {
        put(l, "\",\"rid\":null", 12);
    } else {
        put(l, "\",\"rid\":\"", 9);
        put_escaped(l, rid, strlen(rid), LOGLINE_JSON, VALUE_MAX);
        l->b[l->len++] = '"';
    }
}

/* JSON: "msg" as the bare fields' values joined by spaces. */
static void put_bare_msg(struct logline *l, const struct log_field *f, size_t n)
{
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (!f[i].bare || f[i].type == LOG_F_FLAG)
            continue;
        if (!first && put(l, " ", 1))
            return;
        first = 0;
        if (f[i].type == LOG_F_STR) {
            const char *s = f[i].str ? f[i].str : "-";
            if (put_escaped(l, s, strlen(s), LOGLINE_JSON, VALUE_MAX))
                return;
        } else {
            char num[32];
            if (put(l, num, fmt_number(num, &f[i])))
                return;
        }
    }
}

void logline_fields(struct logline *l, const char *msg, size_t msglen, const struct log_field *f, size_t n)
{
    if (l->json) {
        if (put(l, ",\"msg\":\"", 8) == 0) {
            if (msg)
                put_escaped(l, msg, msglen, LOGLINE_JSON, LOGLINE_MAX);
            else
                put_bare_msg(l, f, n);
            l->b[l->len++] = '"';
        }
    } else if (msg && put(l, " ", 1) == 0) {
        put_escaped(l, msg, msglen, LOGLINE_PROSE, LOGLINE_MAX);
    }
    for (size_t i = 0; i < n; i++)
        put_field(l, &f[i]);
}

size_t logline_end(struct logline *l)
{
    if (l->json)
        l->b[l->len++] = '}';
    l->b[l->len++] = '\n';
    return l->len;
}
