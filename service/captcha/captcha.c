/* captcha.c - the captcha endpoints; see captcha.h and pow.h. */
#include "captcha.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "counters.h"
#include "form.h"
#include "formtoken.h"
#include "pow.h"
#include "request.h"
#include "store.h"
#include "util.h"

/* The site named by ?site=, with its captcha configured, and the CORS
 * origin to answer with. Returns NULL with the error in 'resp'. */
static const struct site_cfg *challenge_site(struct http_request *req, struct http_response *resp, char *host,
                                             size_t hostlen)
{
    const char *name = http_arg(req, "site");
    if (!name || !*name) {
        reply_error(resp, 400, "missing_field", "the site query parameter is required (?site=NAME)");
        return NULL;
    }
    const struct site_cfg *site = cfg_site(req->cfg, name, NULL);
    if (!site) {
        reply_error(resp, 404, "unknown_site", "no site named \"%.64s\" is configured", name);
        return NULL;
    }
    req->site = site->name;
    const struct captcha_cfg *cc = &site->captcha;
    host[0] = '\0';
    /* Browsers send Origin on cross-origin fetches (the widget's); a page
     * served from modgate's own origin, or a server, sends none. */
    const char *origin = http_header(req, "Origin");
    if (origin) {
        int i = 0;
        while (i < cc->norigins && strcmp(cc->origins[i], origin) != 0)
            i++;
        if (i == cc->norigins) {
            reply_error(resp, 403, "origin_not_allowed",
                        "this origin is not in sites.%s.captcha.origins", site->name);
            return NULL;
        }
        resp->cors_origin = cc->origins[i];
        const char *h = strstr(cc->origins[i], "://") + 3;
        size_t n = strcspn(h, ":");
        if (n >= hostlen)
            n = hostlen - 1;
        memcpy(host, h, n);
        host[n] = '\0';
    }
    if (!cc->enabled) {
        reply_error(resp, 404, "captcha_not_configured", "site \"%s\" has no captcha keys (sites.%s.captcha)",
                    site->name, site->name);
        return NULL;
    }
    return site;
}

long captcha_work(const struct captcha_cfg *cc, long rate, long spam)
{
    /* A quiet network pays counter_min; ten challenges a minute add as
     * much again; each recent spam decision doubles it (a flood from one
     * network pays most). */
    double w = (double)cc->counter_min * (1.0 + (double)(rate > 0 ? rate : 0) / 10.0);
    for (long i = 0; i < spam && i < 10; i++)
        w *= 2;
    return w > (double)cc->counter_max ? cc->counter_max : (long)w;
}

char *captcha_issue(const struct site_cfg *site, const char *host, long w)
{
    const struct captcha_cfg *cc = &site->captcha;
    /* The counter is drawn from [0, 2W] for a mean work of W counters: a
     * solver that knew a lower bound could skip straight to it. */
    if (w < 0)
        w = 0;
    if (w > 50000000) /* the counter, up to 2W, must stay within pow.c's 1e8 */
        w = 50000000;
    uint32_t counter = randombytes_uniform((uint32_t)(2 * w + 1));
    struct pow_issue in = { site->name, host, (int64_t)time(NULL), (int)cc->ttl_s, (uint32_t)cc->cost, counter };
    char *ch = pow_challenge(&cc->keys[0], &in);
    if (ch)
        metrics_captcha(site->name, "issued");
    return ch;
}

/* A challenge request while its network's risk is read. */
struct challenge_state {
    const struct site_cfg *site;
    const char *origin;           /* the CORS answer (borrowed from the config) */
    char host[POW_HOST_MAX];
    struct store_risk_res risk;
};

static void challenge_cleanup(struct http_request *req)
{
    free(req->state);
    req->state = NULL;
}

static void issue(struct http_request *req, struct http_response *resp)
{
    struct challenge_state *st = req->state;
    resp->cors_origin = st->origin;
    long most = st->site->captcha.max_challenges;
    if (most > 0 && st->risk.rate > most) {
        /* refused before the key derivation, which is what it costs */
        resp->retry_after_s = 60;
        reply_error(resp, 429, "rate_limited", "this network asked for more than %ld challenges in two minutes",
                    most);
        challenge_cleanup(req);
        return;
    }
    long work = captcha_work(&st->site->captcha, st->risk.rate, st->risk.spam);
    char *js = captcha_issue(st->site, st->host, work);
    challenge_cleanup(req);
    if (!js) {
        reply_error(resp, 500, "internal", "the challenge could not be made");
        return;
    }
    reply_header(resp, "X-Captcha-Work", "%ld", work);
    resp->status = 200;
    resp->body = js;
}

static void risk_done(void *arg)
{
    http_async_done(arg);
}

void captcha_challenge_handle(struct http_request *req, struct http_response *resp)
{
    struct challenge_state *st = xcalloc(1, sizeof *st);
    st->site = challenge_site(req, resp, st->host, sizeof st->host);
    if (!st->site) {
        free(st);
        return;
    }
    st->origin = resp->cors_origin;
    req->state = st;
    req->cleanup = challenge_cleanup;
    /* The visitor's network: the connection's peer, or the header a
     * reverse proxy in front of modgate sets. Without one, the
     * challenge has the least work. */
    const struct captcha_cfg *cc = &st->site->captcha;
    char peer[64], ip[64], prefix[64];
    const char *from = cc->client_ip_header[0] ? http_header(req, cc->client_ip_header) : NULL;
    /* without the proxy's header (a request that did not come through
     * it), or with one that is not an address: the peer's network, so
     * the rate limit never fails open */
    if ((!from || canon_ip(from, ip, sizeof ip, prefix, sizeof prefix) != 0) &&
        http_peer_ip(req, peer, sizeof peer) == 0)
        from = peer;
    if (!from || canon_ip(from, ip, sizeof ip, prefix, sizeof prefix) != 0) {
        issue(req, resp);
        return;
    }
    req->resume = issue;
    store_captcha_risk_async(st->site->name, prefix, (long long)time(NULL), &st->risk, risk_done, req);
}

void form_token_handle(struct http_request *req, struct http_response *resp)
{
    char host[POW_HOST_MAX], tok[FORM_TOKEN_MAX], at[40];
    const struct site_cfg *site = challenge_site(req, resp, host, sizeof host);
    if (!site)
        return;
    int64_t now = wall_ms();
    if (form_token_make(&site->captcha.keys[0], site->name, now, tok) != 0) {
        reply_error(resp, 500, "internal", "the form token could not be made (key id: letters, digits, - and _)");
        return;
    }
    fmt_rfc3339(now, at, sizeof at);
    reply_json(resp, 200, json_pack("{s:s, s:s, s:f, s:I}", "token", tok, "issued_at", at, "min_seconds",
                                    (double)site->form.min_ms / 1000, "max_seconds", (json_int_t)site->form.max_s));
}

void captcha_preflight_handle(struct http_request *req, struct http_response *resp)
{
    char host[POW_HOST_MAX];
    if (!challenge_site(req, resp, host, sizeof host))
        return;
    resp->cors_preflight = 1;
    reply_json(resp, 200, json_object());
}

/* ---------- siteverify ---------- */

struct verify_state {
    const struct site_cfg *site;
    struct pow_result pr;
    struct store_get_res redeem;
};

static void verify_cleanup(struct http_request *req)
{
    free(req->state);
    req->state = NULL;
}

/* A refusal in both shapes at once: siteverify's (success, error-codes)
 * for plugins, and modgate's error envelope. 'reason' is our code. */
static void verify_refuse(struct http_response *resp, unsigned status, const char *error_code,
                          const char *reason, const char *message)
{
    reply_json(resp, status,
               json_pack("{s:b, s:[s], s:s, s:{s:s, s:s}}", "success", 0, "error-codes", error_code, "reason", reason,
                         "error", "code", reason, "message", message));
}

/* siteverify's error code for a payload pow_verify refused. */
static const char *siteverify_code(enum pow_status s)
{
    return s == POW_EXPIRED ? "timeout-or-duplicate" : "invalid-input-response";
}

static void success(struct http_response *resp, const struct site_cfg *site, const struct pow_result *pr, int test)
{
    char ts[40];
    fmt_rfc3339((pr->expires_s - site->captcha.ttl_s) * 1000, ts, sizeof ts);
    json_t *o = json_pack("{s:b, s:s, s:s, s:[], s:s}", "success", 1, "challenge_ts", test ? "" : ts, "hostname",
                          pr->host, "error-codes", "reason", test ? "captcha_test_mode" : "captcha_solved");
    if (test)
        json_object_set_new(o, "test", json_true());
    reply_json(resp, 200, o);
}

static void redeemed(struct http_request *req, struct http_response *resp)
{
    struct verify_state *st = req->state;
    metrics_captcha(st->site->name, st->redeem.rc == 1 ? "solved" : st->redeem.rc == 0 ? "replayed" : "unchecked");
    if (st->redeem.rc == 1)
        success(resp, st->site, &st->pr, 0);
    else if (st->redeem.rc == 0)
        verify_refuse(resp, 200, "timeout-or-duplicate", "captcha_replayed", "this solution was redeemed before");
    else /* no replay protection without Redis: refuse rather than let replays through */
        verify_refuse(resp, 503, "internal-error", "redis_unavailable",
                      "the solution cannot be redeemed while Redis is unavailable; try again");
    verify_cleanup(req);
}

static void redeem_done(void *arg)
{
    http_async_done(arg);
}

/* The siteverify body, a form or JSON (new), or NULL with the refusal in
 * 'resp': req_load's error, with siteverify's fields added. */
static json_t *verify_body(struct http_request *req, struct http_response *resp)
{
    json_t *root = NULL;
    if (http_is_form(req)) {
        if (!(root = form_object(req->body, req->body_len, FORM_STRICT)))
            verify_refuse(resp, 400, "bad-request", "invalid_form",
                          "the form must be key=value pairs, each key once, %-escaped UTF-8");
        return root;
    }
    if (req_load(req, &root, resp) == 0)
        return root;
    json_decref(root);
    json_t *e = json_loads(resp->body, 0, NULL);
    free(resp->body);
    resp->body = NULL;
    json_t *code = json_object_get(json_object_get(e, "error"), "code");
    json_object_set_new(e, "success", json_false());
    json_object_set_new(e, "error-codes", json_pack("[s]", "bad-request"));
    json_object_set(e, "reason", code);
    reply_json(resp, resp->status, e);
    return NULL;
}

void captcha_verify_handle(struct http_request *req, struct http_response *resp)
{
    json_t *root = verify_body(req, resp);
    if (!root)
        return;
    static const char *const known[] = { "secret", "response", "remoteip", "sitekey", "idempotency_key", NULL };
    const char *k = req_unknown_field(root, known), *name;
    json_t *v;
    int all_strings = 1;
    json_object_foreach(root, name, v)
        all_strings &= json_is_string(v);
    if (k || !all_strings) {
        json_decref(root);
        verify_refuse(resp, 400, "bad-request", k ? "unknown_field" : "wrong_type",
                      "the body takes the strings secret, response, remoteip, sitekey and idempotency_key");
        return;
    }
    /* The secret is one of the site's cms keys, in the body as plugins
     * send it, or as the usual bearer header. */
    const char *secret = json_string_value(json_object_get(root, "secret"));
    const char *header = http_header(req, "Authorization");
    char bearer[300];
    if (secret && strlen(secret) < sizeof bearer - 8) {
        memcpy(bearer, "Bearer ", 7);
        memcpy(bearer + 7, secret, strlen(secret) + 1);
        header = bearer;
    } else if (secret) {
        header = "Bearer -"; /* longer than any key: not a key */
    }
    if (!header) {
        json_decref(root);
        verify_refuse(resp, 401, "missing-input-secret", "unauthorized", "secret is required (a cms key of the site)");
        return;
    }
    int bad = auth_lookup(req->cfg, header, &req->ident) != 0;
    sodium_memzero(bearer, sizeof bearer);
    if (bad || req->ident.role != ROLE_CMS) {
        json_decref(root);
        verify_refuse(resp, 401, "invalid-input-secret", "unauthorized", "secret is not a cms key of any site");
        return;
    }
    req->authed = 1;
    const struct site_cfg *site = &req->cfg->sites[req->ident.site];
    req->site = site->name;
    const char *payload = json_string_value(json_object_get(root, "response"));
    if (!site->captcha.enabled) {
        json_decref(root);
        verify_refuse(resp, 404, "invalid-input-secret", "captcha_not_configured",
                      "the key's site has no captcha keys (sites.<site>.captcha)");
        return;
    }
    if (!payload || !*payload) {
        json_decref(root);
        verify_refuse(resp, 400, "missing-input-response", "missing_field",
                      "response is required (the altcha form field)");
        return;
    }
    struct verify_state *st = xcalloc(1, sizeof *st);
    st->site = site;
    int64_t now = (int64_t)time(NULL);
    enum pow_status ps = pow_verify(payload, strlen(payload), site->captcha.keys, site->captcha.nkeys, site->name,
                                    now, &st->pr);
    json_decref(root);
    if (ps == POW_TEST_MODE && site->captcha.test_mode) {
        success(resp, site, &st->pr, 1);
        free(st);
        return;
    }
    if (ps != POW_OK) {
        free(st);
        metrics_captcha(site->name, pow_status_code(ps) + strlen("captcha_"));
        verify_refuse(resp, 200, siteverify_code(ps), pow_status_code(ps), "the captcha solution is not valid");
        return;
    }
    req->state = st;
    req->cleanup = verify_cleanup;
    req->resume = redeemed;
    store_captcha_redeem_async(site->name, st->pr.nonce, (long)(st->pr.expires_s - now + REDEEM_MARGIN_S),
                               &st->redeem,
                               redeem_done, req);
}
