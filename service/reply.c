/* reply.c - JSON bodies and the error envelope. */
#include "reply.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonmem.h"
#include "util.h"

void reply_error(struct http_response *resp, unsigned status, const char *code,
                 const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
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

void reply_json(struct http_response *resp, unsigned status, json_t *obj)
{
    free(resp->body);
    /* JSON_ENSURE_ASCII is off: UTF-8 passes through as it came. */
    jarena_pause(); /* the text outlives a request's arena (jsonmem.h) */
    char *s = obj ? json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    jarena_resume();
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
