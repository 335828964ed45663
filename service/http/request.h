/* request.h - the comment request schema: validation shared by /v1/check
 * and /v1/learn (api.md 2.1 and 2.4).
 *
 * A handler loads the body (req_load), refuses top-level fields it does
 * not take (req_unknown_field, with its own message), reads "site"
 * (req_string) and then the comment (req_comment), and at last finds the
 * site (req_site). Problems are reported in the order of these calls, the
 * first one wins, with the code and message api.md lists. */
#ifndef MODGATE_REQUEST_H
#define MODGATE_REQUEST_H

#include <stddef.h>

#include "http.h"

struct json_t;

/* A validated comment. Every string is borrowed from 'root'. */
struct req_comment {
    struct json_t *root;     /* the request (new, from req_load): the caller json_decref()s it */
    const char *site;        /* set by the caller (req_string) */
    const char *comment_id;  /* comment.id; NULL when the CMS sent none */
    const char *thread_id;   /* comment.thread_id, or NULL */
    const char *body;        /* comment.body: not blank; may hold NUL bytes */
    size_t body_len;
    const char *author_url;  /* author.url, or NULL */
    const char *honeypot;    /* or NULL */
    const char *form_token;  /* or NULL */
    const char *captcha;     /* the widget's payload when a string, else NULL */
    char ip[64], prefix[64]; /* client.ip made canonical, its /24 or /64; "" without client */
    char author_key[40];     /* hashed author.id, else e-mail; "" when neither was sent */
    int author_by_id;        /* author_key is author.id's */
};

/* Canonical text of an IP address (IPv4-mapped IPv6 becomes IPv4), and
 * its /24 or /64 prefix (buffers of at least 20 bytes). Returns 0, or -1
 * if 's' is not an address. */
int canon_ip(const char *s, char *ip, size_t iplen, char *prefix, size_t plen);

/* A short stable key for an identity in Redis key names: 16 hex digits
 * of BLAKE2b(kind || s). The author key is req_key("id:", author.id), or
 * req_key("em:", the lowercased e-mail) without an id; "" without
 * either. The queue names threads by req_key("th:", thread_id). */
void req_key(const char *kind, const char *s, char key[17]);
void req_author_key(const char *id, const char *email, char key[17]);

/* Parse the body of 'req' into '*root' (new; the caller json_decref()s it,
 * also when this fails): UTF-8 JSON without duplicate keys, an object.
 * Returns 0, or -1 with the error in 'resp'. */
int req_load(const struct http_request *req, struct json_t **root, struct http_response *resp);

/* The first key of object 'obj' that is not in the NULL-terminated
 * 'known' (borrowed from 'obj'), or NULL. The caller words the error. */
const char *req_unknown_field(struct json_t *obj, const char *const *known);

/* String 'name' of 'obj' into '*out' (borrowed; NULL when absent or null,
 * which is an error when 'required'). Returns 0, or -1 with the error in
 * 'resp'. */
int req_string(struct json_t *obj, const char *name, int required, const char **out,
               struct http_response *resp);

/* Id 'name' of 'obj' (a string or a non-negative integer, which is
 * rewritten in 'obj' as a string; 1-128 bytes, no control characters)
 * into '*out' (borrowed; NULL when absent or null). Returns 0, or -1 with
 * the error in 'resp'. */
int req_id(struct json_t *obj, const char *name, const char **out, struct http_response *resp);

/* Validate the comment of 'rc->root' (loaded by req_load) and fill the rest
 * of 'rc': "comment", "client" (required when 'client_required'; /v1/learn
 * may leave it out), "author", "honeypot", "captcha", in that order, then a
 * blank comment.body and a client.ip that is no address. Integer ids are
 * rewritten as strings in the tree. Returns 0, or -1 with the error in
 * 'resp'. */
int req_comment(struct req_comment *rc, int client_required, struct http_response *resp);

/* The configured site 'name' (the request's "site"), which must be the
 * site of the request's API key; it is also set as req->site for the
 * access log. Borrowed from req->cfg. NULL with 404 unknown_site or 403
 * wrong_site in 'resp'. Comes after all of the validation above. */
const struct site_cfg *req_site(struct http_request *req, const char *name, struct http_response *resp);

/* An id as the API takes it (comment.id, comment.thread_id, and the
 * same in a path): 1-128 bytes, valid UTF-8, no control characters. */
int req_id_ok(const char *s, size_t n);

/* req_site for the site the path names: /v1/sites/{site}/... (routes.c
 * matched that shape). */
const struct site_cfg *req_path_site(struct http_request *req, struct http_response *resp);

#endif
