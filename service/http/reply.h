/* reply.h - the response a handler fills in, and the JSON error envelope.
 *
 * Handlers never see libmicrohttpd: they fill a struct http_response and
 * http.c turns it into bytes. Every error body has the same shape:
 *   {"error":{"code":"missing_field","message":"comment.body is required"}} */
#ifndef MODGATE_REPLY_H
#define MODGATE_REPLY_H

#include <stddef.h>

struct json_t;

#define REPLY_HEADERS 4

struct http_response {
    unsigned status;
    char *body;             /* new JSON text (or another text: content_type), freed by http.c */
    long retry_after_s;     /* > 0 adds a Retry-After header */
    const char *allow;      /* for 405: the methods allowed (static) */
    const char *cors_origin; /* Access-Control-Allow-Origin (borrowed), or NULL */
    int cors_preflight;     /* 1: an OPTIONS answer, with the allowed methods */
    /* up to REPLY_HEADERS more headers: name (static) and value, added
     * with reply_header */
    const char *extra_header[REPLY_HEADERS];
    char extra_value[REPLY_HEADERS][160];
    const char *content_type; /* NULL: application/json (static) */
    int page;               /* 1: a page of the UI, sent with its security headers */
};

/* Fill 'resp' with an error envelope. 'code' is a stable machine code from
 * api.md; the message is for people and must not contain secrets. */
void reply_error(struct http_response *resp, unsigned status, const char *code,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Add header 'name' (static) with a printf value, cut at 159 bytes, to
 * 'resp'; a fifth header is dropped (a bug: four is what any handler
 * needs). */
void reply_header(struct http_response *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 429 rate_limited for an API key over its bucket, with Retry-After. */
void reply_api_limited(struct http_response *resp, long retry_after_ms);

struct buf;

/* Append 's' to 'b' as a JSON string literal (quoted, escaped), or null
 * when 's' is NULL. 's' must be valid UTF-8: it is copied as is apart from
 * the escapes JSON requires. For the hot path, where building a jansson
 * tree only to serialise it would cost more than the rest of a check. */
void json_put_str(struct buf *b, const char *s);

/* Unix time 'ms' as an RFC 3339 UTC string ("2026-11-27T10:00:00.123Z"),
 * the API's one time format (new reference). */
struct json_t *reply_time(long long ms);

/* Serialise 'obj' (stolen: this function drops the reference) as the
 * response body with 'status'. */
void reply_json(struct http_response *resp, unsigned status, struct json_t *obj);

/* reply_json with 15 significant digits instead of 6: for documents a
 * client edits and sends back (policies), which must not drift. */
void reply_json_exact(struct http_response *resp, unsigned status, struct json_t *obj);

#endif
