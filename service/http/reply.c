/* reply.c - JSON bodies and the error envelope. */
#include "reply.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonmem.h"
#include "text.h"
#include "util.h"

/* Messages quote what the client sent, cut to a length ("%.64s") or by
 * the buffer: a cut inside a character would make the message invalid
 * UTF-8, which jansson refuses to encode (a 500 instead of the error).
 * Each byte that does not start a whole valid character becomes '?'. */
static void utf8_repair(char *s)
{
    size_t n = strlen(s);
    if (text_utf8_valid(s, n))
        return;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (k <= n - i && text_utf8_valid(s + i, k)) {
            i += k;
        } else {
            s[i] = '?';
            i++;
        }
    }
}

void reply_header(struct http_response *resp, const char *name, const char *fmt, ...)
{
    for (int i = 0; i < REPLY_HEADERS; i++) {
        if (resp->extra_header[i])
            continue;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(resp->extra_value[i], sizeof resp->extra_value[i], fmt, ap);
        va_end(ap);
        /* a value may quote what a client sent: no control byte ends the
         * header line (libmicrohttpd would drop the whole header) */
        for (char *c = resp->extra_value[i]; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
        resp->extra_header[i] = name;
        return;
    }
}

void reply_error(struct http_response *resp, unsigned status, const char *code,
                 const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    utf8_repair(msg);
    json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    reply_json(resp, status, o);
}

void json_put_str(struct buf *b, const char *s)
{
    if (!s) {
        buf_append(b, "null", 4);
        return;
    }
    buf_append(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_append(b, run, (size_t)(s - run));
        static const char hex[] = "0123456789abcdef";
        char esc[6] = { '\\', (char)c, 0 };
        size_t n = 2;
        if (c < 0x20) { /* \u00XX: bodies carry newlines, so no printf here */
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        buf_append(b, esc, n);
        run = s + 1;
    }
    buf_append(b, run, (size_t)(s - run));
    buf_append(b, "\"", 1);
}

static void reply_with(struct http_response *resp, unsigned status, json_t *obj, int precision)
{
    free(resp->body);
    /* JSON_ENSURE_ASCII is off: UTF-8 passes through as it came. */
    int paused = jarena_pause(); /* the text outlives a request's arena (jsonmem.h) */
    char *s = obj ? json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(precision)) : NULL;
    jarena_resume(paused);
    json_decref(obj);
    if (!s) {
        /* Only reachable on OOM inside jansson or a message that was not
         * valid UTF-8; both are our bugs, answer plainly. */
        s = xstrdup("{\"error\":{\"code\":\"internal\",\"message\":\"could not encode the response\"}}");
        status = 500;
    }
    resp->status = status;
    resp->body = s;
}

void reply_api_limited(struct http_response *resp, long retry_after_ms)
{
    resp->retry_after_s = (retry_after_ms + 999) / 1000;
    reply_error(resp, 429, "rate_limited", "this API key is over its request rate; retry in %ld ms", retry_after_ms);
}

void reply_json(struct http_response *resp, unsigned status, json_t *obj)
{
    reply_with(resp, status, obj, 6);
}

void reply_json_exact(struct http_response *resp, unsigned status, json_t *obj)
{
    reply_with(resp, status, obj, 15);
}

json_t *reply_time(long long ms)
{
    char t[40];
    fmt_rfc3339(ms, t, sizeof t);
    return json_string(t);
}
