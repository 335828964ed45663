/* coral.c - Coral's external moderation phase over /v1/check.
 *
 * What Coral sends and expects, from coralproject/talk 9.11.8 (commit
 * 8bf2ad7), which this file follows:
 * - server/src/core/server/services/comments/pipeline/phases/external.ts:
 *   the request (ExternalModerationRequest: action, comment.body,
 *   comment.parentID, author.id, author.role, story.id, story.url, site.id,
 *   tenantID, tenantDomain; no comment id, IP, name or e-mail), the
 *   answer's Joi schema (ExternalModerationResponseSchema, unknown keys
 *   stripped) and what counts as no opinion (204, "" or "{}"; any non-2xx
 *   answer or a timeout skips the phase);
 * - server/src/core/server/services/fetch/fetch.ts and
 *   models/settings/signingSecret/helpers.ts: the body is
 *   JSON.stringify(request, null, 2), and X-Coral-Signature holds
 *   "sha256=" + hex HMAC-SHA-256 of that body under each active secret
 *   (the whole "empsec_..." string as the key), comma-joined;
 * - pipeline/helpers.ts and stacks/createComment.ts: a "status" ends the
 *   pipeline and is the comment's status; a "moderationAction" is applied
 *   as a moderator's decision and always notifies the author that the
 *   comment was rejected, so only a rejection carries one;
 * - graph/schema/schema.graphql: USER_ROLE, COMMENT_STATUS,
 *   REJECTION_REASON_CODE.
 *
 * The request is checked as /v1/check would check it without "client":
 * the IP and network buckets are skipped (CHECK_NO_CLIENT), author.id is
 * the author's identity (author bucket, duplicates), story.id the thread.
 * The API-key bucket is charged to the key id "coral" of the site. */
#include "coral.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hmac.h"
#include "request.h"
#include "util.h"

/* Coral signs with each active secret: one, or two while a rotated one
 * expires. Eight entries is far above that and bounds the comparisons. */
#define MAX_SIGNATURES 8

/* The ids /v1/check takes (request.c: comment.id, thread_id, parent_id,
 * author.id); Coral's are UUIDs, 36 bytes. */
#define ID_MAX 128

/* /v1/check's limit on comment.permalink; a longer story URL is left out
 * (it is only shown to moderators), rather than the comment going
 * unchecked. */
#define URL_MAX 2048

/* What the adapter keeps while the check runs (req->xstate). */
struct coral_state {
    char *body;      /* the /v1/check body handed to check_run */
    int premod;      /* a hold answers PREMOD (sites.S.coral.held) */
};

static void coral_free(void *p)
{
    struct coral_state *st = p;
    if (!st)
        return;
    free(st->body);
    free(st);
}

/* ---------- the signature ---------- */

/* Does X-Coral-Signature 'hdr' hold the HMAC of the raw body under one
 * of the site's secrets? Every configured secret is compared with every
 * signature given, with sodium_memcmp and no early exit, so the time does
 * not tell which (if any) matched. Entries of another scheme than
 * "sha256=" are ignored, as Coral's own verifier (docs/docs/webhooks.md)
 * does. Returns 0, or -1 with a 401 naming the problem in 'resp'. */
static int verify_signature(const struct http_request *req, const struct coral_cfg *cc, const char *hdr,
                            struct http_response *resp)
{
    if (!hdr || !*hdr) {
        reply_error(resp, 401, "signature_missing", "no X-Coral-Signature header: set the phase's signing secret "
                    "in sites.S.coral.secrets and let Coral sign its requests");
        return -1;
    }
    unsigned char sig[MAX_SIGNATURES][HMAC_LEN];
    int nsig = 0;
    for (const char *p = hdr; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n > 7 && memcmp(p, "sha256=", 7) == 0) {
            size_t got = 0;
            if (nsig == MAX_SIGNATURES || n != 7 + 2 * HMAC_LEN ||
                sodium_hex2bin(sig[nsig], HMAC_LEN, p + 7, n - 7, NULL, &got, NULL) != 0 || got != HMAC_LEN) {
                reply_error(resp, 401, "signature_malformed", nsig == MAX_SIGNATURES
                            ? "X-Coral-Signature holds more than %d signatures"
                            : "X-Coral-Signature: each entry must be sha256= and 64 hex digits (at most %d)",
                            MAX_SIGNATURES);
                return -1;
            }
            nsig++;
        }
        p = end ? end + 1 : p + n;
    }
    if (nsig == 0) {
        reply_error(resp, 401, "signature_malformed", "X-Coral-Signature holds no sha256= signature");
        return -1;
    }
    int match = 0;
    for (int k = 0; cc && k < cc->nsecrets; k++) {
        unsigned char mac[HMAC_LEN];
        hmac_sha256(&cc->secrets[k].key, req->body, req->body_len, mac);
        for (int i = 0; i < nsig; i++)
            match |= sodium_memcmp(mac, sig[i], HMAC_LEN) == 0;
        sodium_memzero(mac, sizeof mac);
    }
    if (!match) {
        reply_error(resp, 401, "signature_mismatch", "X-Coral-Signature matches none of the site's Coral secrets "
                    "(another secret, or the body was changed on the way)");
        return -1;
    }
    return 0;
}

/* ---------- Coral's request ---------- */

/* Field 'name' of object 'obj' (Coral's field 'what'), an object or a
 * string as 'object' says, into '*out' (borrowed): NULL when 'obj' is
 * NULL, or the field absent or null. Returns 0, or -1 with 400 wrong_type
 * in 'resp'. */
static int coral_field(json_t *obj, const char *name, const char *what, int object, json_t **out,
                       struct http_response *resp)
{
    json_t *v = obj ? json_object_get(obj, name) : NULL;
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (object ? !json_is_object(v) : !json_is_string(v)) {
        reply_error(resp, 400, "wrong_type", "%s must be %s", what, object ? "an object" : "a string");
        return -1;
    }
    *out = v;
    return 0;
}

/* coral_field for a string, as C text (borrowed) or NULL. */
static int coral_string(json_t *obj, const char *name, const char *what, const char **out,
                        struct http_response *resp)
{
    json_t *v;
    int r = coral_field(obj, name, what, 0, &v, resp);
    *out = json_string_value(v);
    return r;
}

/* Set id 'key' of 'dst' to Coral's 'val' (field 'what'), if any; an id
 * longer than /v1/check takes is 400 invalid_field, named as Coral names
 * it. */
static int put_id(json_t *dst, const char *key, const char *val, const char *what, struct http_response *resp)
{
    if (!val)
        return 0;
    if (strlen(val) > ID_MAX) {
        reply_error(resp, 400, "invalid_field", "%s is %zu bytes; at most %d are allowed", what, strlen(val), ID_MAX);
        return -1;
    }
    json_object_set_new(dst, key, json_string(val));
    return 0;
}

/* Is Coral's author role one whose comments are not checked? Coral's own
 * pipeline approves STAFF, MODERATOR and ADMIN (tagStaff, approveStaff:
 * its STAFF_TAGS) before external phases; COMMENTER and MEMBER are
 * checked (schema.graphql USER_ROLE). */
static int staff_role(const char *role)
{
    return role && (strcmp(role, "STAFF") == 0 || strcmp(role, "MODERATOR") == 0 || strcmp(role, "ADMIN") == 0);
}

/* Coral's request 'root' as a /v1/check body for site 'site' (new text,
 * the caller frees it), or NULL with a 400 in 'resp'. Sets '*staff' when
 * the author has a staff role (then nothing is built). Unknown fields are
 * ignored: Coral may add some. */
static char *check_body(json_t *root, const char *site, int *staff, struct http_response *resp)
{
    json_t *comment, *author, *story;
    const char *body, *parent, *author_id, *role, *story_id, *url, *action;
    *staff = 0;
    if (coral_field(root, "comment", "comment", 1, &comment, resp) ||
        coral_field(root, "author", "author", 1, &author, resp) || coral_field(root, "story", "story", 1, &story, resp) ||
        coral_string(root, "action", "action", &action, resp) ||
        coral_string(comment, "body", "comment.body", &body, resp) ||
        coral_string(comment, "parentID", "comment.parentID", &parent, resp) ||
        coral_string(author, "id", "author.id", &author_id, resp) ||
        coral_string(author, "role", "author.role", &role, resp) ||
        coral_string(story, "id", "story.id", &story_id, resp) || coral_string(story, "url", "story.url", &url, resp))
        return NULL;
    if (!body) {
        reply_error(resp, 400, "missing_field", "comment.body is required");
        return NULL;
    }
    if (staff_role(role)) {
        *staff = 1;
        return NULL;
    }
    /* NEW and EDIT are judged alike: an edit is a new text to judge, and
     * without a comment id there is no earlier decision to replay. */
    json_t *c = json_object(), *a = json_object();
    json_object_set_new(c, "body", json_stringn(body, json_string_length(json_object_get(comment, "body"))));
    json_t *out = json_pack("{s:s,s:o,s:o}", "site", site, "comment", c, "author", a);
    if (put_id(c, "thread_id", story_id, "story.id", resp) || put_id(c, "parent_id", parent, "comment.parentID", resp) ||
        put_id(a, "id", author_id, "author.id", resp)) {
        json_decref(out);
        return NULL;
    }
    if (url && strlen(url) <= URL_MAX)
        json_object_set_new(c, "permalink", json_string(url));
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    if (!text)
        reply_error(resp, 500, "internal", "the check could not be encoded"); /* OOM in jansson: a bug */
    return text;
}

/* ---------- the answer ---------- */

/* modgate's side of the decision, for whoever reads the answer (Coral
 * strips it: its schema has no place for it) and for the rejection's
 * explanation: decision, score, comment id (held ones have one) and the
 * reason codes. New. */
static json_t *modgate_part(json_t *check, struct buf *codes)
{
    json_t *rs = json_object_get(check, "reasons"), *r, *list = json_array();
    size_t i;
    json_array_foreach(rs, i, r) {
        const char *code = json_string_value(json_object_get(r, "code"));
        if (!code)
            continue;
        json_array_append_new(list, json_string(code));
        buf_puts(codes, codes->len ? ", " : "");
        buf_puts(codes, code);
    }
    return json_pack("{s:O*,s:O*,s:O*,s:o}", "decision", json_object_get(check, "decision"), "comment_id",
                     json_object_get(check, "comment_id"), "score", json_object_get(check, "score"), "reasons", list);
}

/* req->finish: /v1/check's answer in 'resp' into Coral's. accept (also
 * in shadow mode, whose answer is accept) is 204 without a body: no
 * opinion, Coral's next phases decide. hold and challenge (Coral has no
 * captcha to show) withhold the comment for Coral's moderators with a
 * spam flag, so the queue says why; reject rejects it with reason SPAM.
 * An error stays as it is: Coral skips the phase on any non-2xx answer. */
static void coral_finish(struct http_request *req, struct http_response *resp)
{
    struct coral_state *st = req->xstate;
    if (resp->status != 200)
        return;
    json_t *check = json_loads(resp->body, 0, NULL);
    const char *d = json_string_value(json_object_get(check, "decision"));
    if (!d) {
        json_decref(check);
        reply_error(resp, 500, "internal", "the check's answer could not be read"); /* a bug */
        return;
    }
    if (strcmp(d, "accept") == 0) {
        json_decref(check);
        free(resp->body);
        resp->body = xstrdup("");
        resp->status = 204;
        resp->content_type = "text/plain";
        return;
    }
    int reject = strcmp(d, "reject") == 0;
    struct buf codes;
    buf_init(&codes);
    json_t *mg = modgate_part(check, &codes);
    json_t *out = json_pack("{s:s,s:[{s:s,s:s}],s:o}", "status",
                            reject ? "REJECTED" : st->premod ? "PREMOD" : "SYSTEM_WITHHELD", "actions", "actionType",
                            "FLAG", "reason", "COMMENT_DETECTED_SPAM", "modgate", mg);
    if (reject) {
        /* Coral's own banned-word phase answers the same way
         * (phases/wordList/phase.ts); the explanation is what a DSA
         * statement of reasons shows: codes, never the text. */
        char why[200];
        snprintf(why, sizeof why, "modgate: spam score %.2f (%s)",
                 json_number_value(json_object_get(check, "score")), codes.len ? codes.p : "no reasons");
        json_object_set_new(out, "moderationAction",
                            json_pack("{s:s,s:{s:s,s:s}}", "status", "REJECTED", "rejectionReason", "code", "SPAM",
                                      "detailedExplanation", why));
    }
    buf_free(&codes);
    json_decref(check);
    reply_json(resp, 200, out);
}

/* ---------- the handler ---------- */

void coral_handle(struct http_request *req, struct http_response *resp)
{
    const char *name = req->path + strlen("/v1/integrations/coral/");
    int idx;
    const struct site_cfg *site = strlen(name) < sizeof site->name ? cfg_site(req->cfg, name, &idx) : NULL;
    /* A site that does not exist or has no coral section is answered as
     * a signature that matches no secret: the endpoint needs no key, and
     * must not tell strangers which site names exist. The access log's
     * note tells the operator which it was. */
    const struct coral_cfg *cc = site && site->coral.enabled ? &site->coral : NULL;
    if (site)
        req->site = site->name;
    if (verify_signature(req, cc, http_header(req, "X-Coral-Signature"), resp)) {
        if (!cc)
            snprintf(req->note, sizeof req->note, "%s", site ? "the site has no coral section" : "no such site");
        return;
    }
    json_t *root;
    if (req_load(req, &root, resp)) {
        json_decref(root);
        return;
    }
    int staff;
    char *body = check_body(root, site->name, &staff, resp);
    json_decref(root);
    if (staff) { /* no opinion, nothing checked or counted */
        snprintf(req->note, sizeof req->note, "coral staff: not checked");
        resp->status = 204;
        resp->body = xstrdup("");
        resp->content_type = "text/plain";
        return;
    }
    if (!body)
        return;
    struct coral_state *st = xmalloc(sizeof *st);
    st->body = body;
    st->premod = site->coral.held_premod;
    req->xstate = st;
    req->xcleanup = coral_free;
    req->body = st->body;
    req->body_len = strlen(st->body);
    /* As a cms key of the site would be: req_site checks it, the API-key
     * bucket is charged to "coral" (one site's Coral cannot drain
     * another's: the bucket is per site). */
    req->ident = (struct ident){ .site = idx, .role = ROLE_CMS, .key_id = "coral", .key_index = -1 };
    req->authed = 1;
    req->finish = coral_finish;
    check_run(req, resp, CHECK_NO_CLIENT | CHECK_NO_CHALLENGE);
}
