/* request.c - the comment request schema: validation shared by /v1/check
 * and /v1/learn.
 *
 * One table per object (comment, author, client) gives each field's type,
 * byte limit and whether it is required; validate_fields checks an object
 * against its table. Each problem gets its own error code and names the
 * field, and the messages are the ones api.md lists. */
#include "request.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "jfast.h"
#include "reply.h"
#include "text.h"

/* ---------- the field tables ---------- */

enum ftype {
    F_STR,   /* string or null */
    F_ID,    /* string or non-negative integer (turned into a string), or null */
    F_IP,    /* an IPv4 or IPv6 address */
    F_TIME,  /* RFC 3339 date-time string, or null */
};

struct field {
    const char *name;
    enum ftype type;
    size_t maxlen;   /* bytes; 0 = only the body limit */
    int required;
};

static const struct field comment_fields[] = {
    { "id", F_ID, 128, 0 },
    { "thread_id", F_ID, 128, 0 },
    { "parent_id", F_ID, 128, 0 },
    { "body", F_STR, 0, 1 },
    { "permalink", F_STR, 2048, 0 },
    { "lang", F_STR, 35, 0 },
    { "created_at", F_TIME, 64, 0 },
    { "type", F_STR, 32, 0 },
    { NULL, F_STR, 0, 0 },
};

static const struct field author_fields[] = {
    { "name", F_STR, 256, 0 },
    { "email", F_STR, 320, 0 },
    { "url", F_STR, 2048, 0 },
    { "id", F_ID, 128, 0 },
    { NULL, F_STR, 0, 0 },
};

static const struct field client_fields[] = {
    { "ip", F_IP, 64, 1 },
    { "user_agent", F_STR, 1024, 0 },
    { "referrer", F_STR, 2048, 0 },
    { NULL, F_STR, 0, 0 },
};

/* The limit of a top-level id (learn's comment_id): that of comment.id. */
#define ID_MAXLEN 128

/* ---------- values ---------- */

/* RFC 3339: 2026-11-27T10:00:00Z, optional fraction, Z or +hh:mm. */
static int valid_time(const char *s)
{
    const char *shape = "dddd-dd-ddTdd:dd:dd";
    for (size_t i = 0; shape[i]; i++) {
        char c = s[i];
        if (shape[i] == 'd' ? !isdigit((unsigned char)c)
                            : (shape[i] == 'T' ? (c != 'T' && c != 't' && c != ' ') : c != shape[i]))
            return 0;
    }
    s += 19;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return 0;
        while (isdigit((unsigned char)*s))
            s++;
    }
    if ((*s == 'Z' || *s == 'z') && s[1] == 0)
        return 1;
    return (*s == '+' || *s == '-') && isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2]) &&
           s[3] == ':' && isdigit((unsigned char)s[4]) && isdigit((unsigned char)s[5]) && s[6] == 0;
}

static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

/* "a.b.c.d" into ip and "a.b.c.0/24" into prefix, both of at least 20
 * bytes (every check has an address: no printf). Returns 0. */
static int ipv4_text(const unsigned char *a, char *ip, char *prefix)
{
    char *w = ip;
    for (int i = 0; i < 4; i++) {
        if (a[i] >= 100)
            *w++ = (char)('0' + a[i] / 100);
        if (a[i] >= 10)
            *w++ = (char)('0' + a[i] / 10 % 10);
        *w++ = (char)('0' + a[i] % 10);
        *w++ = '.';
        if (i == 2) { /* the prefix is the first three octets */
            memcpy(prefix, ip, (size_t)(w - ip));
            memcpy(prefix + (w - ip), "0/24", 5);
        }
    }
    w[-1] = 0;
    return 0;
}

int canon_ip(const char *s, char *ip, size_t iplen, char *prefix, size_t plen)
{
    unsigned char a[16];
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (inet_pton(AF_INET, s, a) == 1)
        return ipv4_text(a, ip, prefix);
    if (inet_pton(AF_INET6, s, a) != 1)
        return -1;
    if (memcmp(a, mapped, 12) == 0)
        return ipv4_text(a + 12, ip, prefix);
    char t[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, a, t, sizeof t);
    snprintf(ip, iplen, "%s", t);
    memset(a + 8, 0, 8);
    inet_ntop(AF_INET6, a, t, sizeof t);
    snprintf(prefix, plen, "%s/64", t);
    return 0;
}

static const char *type_name(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static const char *opt_str(json_t *obj, const char *name)
{
    return json_string_value(json_object_get(obj, name)); /* NULL when absent or null */
}

/* "prefix.key" ("key" when 'prefix' is NULL) into buf[64], for error
 * messages only: formatting names for every field was a tenth of a
 * check's work. */
static const char *full_name(char *buf, const char *prefix, const char *key)
{
    snprintf(buf, 64, "%s%s%s", prefix ? prefix : "", prefix ? "." : "", key);
    return buf;
}

/* Id 'v' (not null), stored in 'obj' under 'key' and named "prefix.key"
 * ("key" when 'prefix' is NULL) in errors: an integer >= 0 is rewritten
 * as a string. 'hint' ends the empty-id message: a field of an object may
 * be null instead, learn's top-level comment_id may not (null there means
 * the other form). */
static int check_id(json_t *obj, const char *prefix, const char *key, json_t *v, size_t maxlen,
                    const char *hint, struct http_response *resp)
{
    char name[64];
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        json_object_set_new(obj, key, json_string(num));
        return 0;
    }
    if (!json_is_string(v)) {
        reply_error(resp, 400, "wrong_type", "%s must be a string or a non-negative integer, not %s", full_name(name, prefix, key),
                    type_name(v));
        return -1;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n > maxlen) {
        reply_error(resp, 400, "invalid_field", "%s is %zu bytes; at most %zu are allowed", full_name(name, prefix, key), n, maxlen);
        return -1;
    }
    if (strlen(s) != n || has_control(s)) {
        reply_error(resp, 400, "invalid_field", "%s contains control characters", full_name(name, prefix, key));
        return -1;
    }
    if (n == 0) {
        reply_error(resp, 400, "invalid_field", "%s must not be empty%s", full_name(name, prefix, key), hint);
        return -1;
    }
    return 0;
}

/* Check 'obj' against 'fields', naming problems as "prefix.field".
 * Integer ids are rewritten as strings, so later code sees one type.
 * client.ip is only checked for the length and control characters here:
 * whether it is an address comes last (req_comment). */
static int validate_fields(json_t *obj, const char *prefix, const struct field *fields,
                           struct http_response *resp)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        int known = 0;
        for (const struct field *f = fields; f->name; f++)
            if (strcmp(f->name, k) == 0)
                known = 1;
        if (!known) {
            reply_error(resp, 400, "unknown_field", "%s.%.64s is not a known field", prefix, k);
            return -1;
        }
    }
    for (const struct field *f = fields; f->name; f++) {
        char name[64];
        v = json_object_get(obj, f->name);
        if (!v || json_is_null(v)) {
            if (f->required) {
                reply_error(resp, 400, "missing_field", "%s is required", full_name(name, prefix, f->name));
                return -1;
            }
            continue;
        }
        if (f->type == F_ID) {
            if (check_id(obj, prefix, f->name, v, f->maxlen, " (use null)", resp))
                return -1;
            continue;
        }
        if (!json_is_string(v)) {
            reply_error(resp, 400, "wrong_type", "%s must be a string, not %s", full_name(name, prefix, f->name), type_name(v));
            return -1;
        }
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (f->maxlen && n > f->maxlen) {
            reply_error(resp, 400, "invalid_field", "%s is %zu bytes; at most %zu are allowed", full_name(name, prefix, f->name), n,
                        f->maxlen);
            return -1;
        }
        /* req_load refuses U+0000 anywhere; control characters are
         * refused in ids, IPs and times, allowed in text (see api.md). */
        if (strcmp(f->name, "body") != 0 && (strlen(s) != n || (f->type != F_STR && has_control(s)))) {
            reply_error(resp, 400, "invalid_field", "%s contains control characters", full_name(name, prefix, f->name));
            return -1;
        }
        if (f->type == F_TIME && !valid_time(s)) {
            reply_error(resp, 400, "invalid_field",
                        "%s must be an RFC 3339 time such as 2026-11-27T10:00:00Z", full_name(name, prefix, f->name));
            return -1;
        }
    }
    return 0;
}

/* Object 'name' of 'root' (borrowed), or NULL: absent or null (an error
 * when 'required'), or not an object. Tell those apart by resp->body. */
static json_t *sub_object(json_t *root, const char *name, int required, struct http_response *resp)
{
    json_t *v = json_object_get(root, name);
    if (!v || json_is_null(v)) {
        if (required)
            reply_error(resp, 400, "missing_field", "%s is required", name);
        return NULL;
    }
    if (!json_is_object(v)) {
        reply_error(resp, 400, "wrong_type", "%s must be an object, not %s", name, type_name(v));
        return NULL;
    }
    return v;
}

void req_key(const char *kind, const char *s, char key[17])
{
    crypto_generichash_state st;
    unsigned char h[8];
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const unsigned char *)kind, strlen(kind));
    crypto_generichash_update(&st, (const unsigned char *)s, strlen(s));
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(key, 17, h, sizeof h);
}

void req_author_key(const char *id, const char *email, char key[17])
{
    key[0] = 0;
    if (id) {
        req_key("id:", id, key);
    } else if (email && *email) {
        char low[400];
        size_t n = 0;
        for (const char *p = email; *p && n < sizeof low - 1; p++)
            low[n++] = (char)tolower((unsigned char)*p);
        low[n] = 0;
        req_key("em:", low, key);
    }
}

/* Who the author is for rate limits and duplicates: the CMS's own user id,
 * else the e-mail, hashed (e-mail addresses do not belong in Redis key
 * names); "" for neither. A bare name is not an identity ("Anonymous"). */
static void author_key(json_t *author, char *key)
{
    req_author_key(author ? opt_str(author, "id") : NULL, author ? opt_str(author, "email") : NULL, key);
}

/* ---------- the interface ---------- */

int req_load(const struct http_request *req, json_t **root, struct http_response *resp)
{
    *root = NULL;
    if (req->body_len == 0) {
        reply_error(resp, 400, "invalid_json", "the request body is empty");
        return -1;
    }
    if (!text_utf8_valid(req->body, req->body_len)) {
        reply_error(resp, 400, "invalid_utf8", "the request body is not valid UTF-8");
        return -1;
    }
    /* jfast reads the usual request in a fraction of jansson's time;
     * anything else, errors included, is jansson's to read and word. */
    *root = jfast_load(req->body, req->body_len);
    if (*root)
        goto loaded;
    json_error_t je;
    *root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!*root) {
        int dup = json_error_code(&je) == json_error_duplicate_key;
        /* No string may hold U+0000, the body included: C strings would end
         * there, and no comment form sends one (api.md). Said plainly
         * rather than in jansson's words. */
        if (json_error_code(&je) == json_error_null_character)
            reply_error(resp, 400, "invalid_json", "line %d, column %d: a NUL character (\\u0000) is not allowed "
                        "in any string", je.line, je.column);
        else
            reply_error(resp, 400, dup ? "duplicate_key" : "invalid_json", "line %d, column %d: %s",
                        je.line, je.column, je.text);
        return -1;
    }
loaded:
    if (!json_is_object(*root)) {
        reply_error(resp, 400, "wrong_type", "the body must be a JSON object, not %s", type_name(*root));
        return -1;
    }
    return 0;
}

const char *req_unknown_field(json_t *obj, const char *const *known)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        int found = 0;
        for (const char *const *t = known; *t; t++)
            if (strcmp(*t, k) == 0)
                found = 1;
        if (!found)
            return k;
    }
    return NULL;
}

int req_string(json_t *obj, const char *name, int required, const char **out, struct http_response *resp)
{
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (!required)
            return 0;
        reply_error(resp, 400, "missing_field", "%s is required", name);
        return -1;
    }
    if (!json_is_string(v)) {
        reply_error(resp, 400, "wrong_type", "%s must be a string, not %s", name, type_name(v));
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

int req_id(json_t *obj, const char *name, const char **out, struct http_response *resp)
{
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (check_id(obj, NULL, name, v, ID_MAXLEN, "", resp))
        return -1;
    *out = opt_str(obj, name);
    return 0;
}

int req_comment(struct req_comment *rc, int client_required, struct http_response *resp)
{
    json_t *root = rc->root, *comment, *client, *author, *v;
    if (!(comment = sub_object(root, "comment", 1, resp)) ||
        validate_fields(comment, "comment", comment_fields, resp))
        return -1;
    client = sub_object(root, "client", client_required, resp);
    if (resp->body || (client && validate_fields(client, "client", client_fields, resp)))
        return -1;
    author = sub_object(root, "author", 0, resp);
    if (resp->body || (author && validate_fields(author, "author", author_fields, resp)))
        return -1;
    if (req_string(root, "honeypot", 0, &rc->honeypot, resp))
        return -1;
    if (req_string(root, "form_token", 0, &rc->form_token, resp))
        return -1;
    v = json_object_get(root, "captcha");
    if (v && !json_is_null(v) && !json_is_string(v) && !json_is_object(v)) {
        reply_error(resp, 400, "wrong_type", "captcha must be a string, an object or null, not %s",
                    type_name(v));
        return -1;
    }
    rc->captcha = json_string_value(v);
    json_t *b = json_object_get(comment, "body");
    rc->body = json_string_value(b);
    rc->body_len = json_string_length(b);
    size_t i = 0;
    while (i < rc->body_len && isspace((unsigned char)rc->body[i]))
        i++;
    if (i == rc->body_len) {
        reply_error(resp, 400, "invalid_field", "comment.body is empty");
        return -1;
    }
    rc->ip[0] = rc->prefix[0] = 0;
    if (client && canon_ip(opt_str(client, "ip"), rc->ip, sizeof rc->ip, rc->prefix, sizeof rc->prefix)) {
        reply_error(resp, 400, "invalid_field", "client.ip is not an IPv4 or IPv6 address");
        return -1;
    }
    rc->comment_id = opt_str(comment, "id");
    rc->thread_id = opt_str(comment, "thread_id");
    rc->author_url = author ? opt_str(author, "url") : NULL;
    rc->author_key[0] = 0;
    author_key(author, rc->author_key);
    rc->author_by_id = author && opt_str(author, "id") != NULL;
    return 0;
}

const struct site_cfg *req_site(struct http_request *req, const char *name, struct http_response *resp)
{
    int idx;
    const struct site_cfg *site = cfg_site(req->cfg, name, &idx);
    if (!site) {
        reply_error(resp, 404, "unknown_site", "no site named \"%.64s\" is configured", name);
        return NULL;
    }
    if (!auth_may(&req->ident, idx)) {
        reply_error(resp, 403, "wrong_site", "this key belongs to another site");
        return NULL;
    }
    req->site = site->name;
    return site;
}

const struct site_cfg *req_path_site(struct http_request *req, struct http_response *resp)
{
    const char *name = req->path + strlen("/v1/sites/"), *end = strchr(name, '/');
    size_t n = end ? (size_t)(end - name) : strlen(name);
    char sname[65];
    /* a longer name is no site's: req_site answers 404 for its first 64 bytes */
    snprintf(sname, sizeof sname, "%.*s", (int)(n < sizeof sname - 1 ? n : sizeof sname - 1), name);
    return req_site(req, sname, resp);
}

int req_id_ok(const char *s, size_t n)
{
    if (n == 0 || n > 128 || !text_utf8_valid(s, n))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}
