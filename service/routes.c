/* routes.c - the route table and the small public handlers. */
#include "routes.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "akismet.h"
#include "captcha.h"
#include "check.h"
#include "coral.h"
#include "learn.h"
#include "metrics.h"
#include "moderate.h"
#include "policy.h"
#include "threads.h"
#include "authors.h"
#include "reports.h"
#include "webhooks.h"
#include "spool.h"
#include "store.h"
#include "tuning.h"
#include "ui.h"

/* GET /healthz: the process is alive and serving. No Redis involved, so a
 * load balancer does not kill instances because Redis hiccupped. */
static void h_healthz(struct http_request *req, struct http_response *resp)
{
    (void)req;
    reply_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

/* GET /readyz: can this instance do real work? Pings Redis. */
static void h_readyz(struct http_request *req, struct http_response *resp)
{
    (void)req;
    char err[160] = "";
    int up = store_ping(err, sizeof err) == 0;
    json_t *o = json_pack("{s:s,s:s,s:I}", "status", up ? "ready" : "not_ready", "redis",
                          up ? "up" : "down", "spooled_held_comments", (json_int_t)spool_depth());
    if (!up)
        json_object_set_new(o, "error", json_string(err));
    reply_json(resp, up ? 200 : 503, o);
}

static const struct route routes[] = {
    { "POST", "/v1/check", check_handle, ROLE_BIT(ROLE_CMS), 1 },
    { "POST", "/v1/learn", learn_handle, ROLE_BIT(ROLE_CMS) | ROLE_BIT(ROLE_MODERATOR), 1 },
    { "POST", "/v1/unlearn", unlearn_handle, ROLE_BIT(ROLE_CMS) | ROLE_BIT(ROLE_MODERATOR), 1 },
    { "GET", "/v1/sites/{site}/model", model_handle, ROLE_BIT(ROLE_MODERATOR) | ROLE_BIT(ROLE_ADMIN), 0 },
    { "GET", "/v1/sites/{site}/queue", queue_handle, ROLE_BIT(ROLE_MODERATOR) | ROLE_BIT(ROLE_ADMIN), 0 },
    { "GET", "/v1/sites/{site}/comments/{id}", comment_handle, ROLE_BIT(ROLE_MODERATOR) | ROLE_BIT(ROLE_ADMIN), 0 },
    /* cms too: a CMS reports its own moderators' decisions on a comment
     * modgate holds (api.md 2.8); listing and bulk actions stay moderators' */
    { "POST", "/v1/sites/{site}/comments/{id}/action", action_handle,
      ROLE_BIT(ROLE_CMS) | ROLE_BIT(ROLE_MODERATOR) | ROLE_BIT(ROLE_ADMIN), 1 },
    { "POST", "/v1/sites/{site}/comments/{id}/reports", reports_handle, ROLE_BIT(ROLE_CMS), 1 },
    { "POST", "/v1/sites/{site}/actions", actions_handle, ROLE_BIT(ROLE_MODERATOR) | ROLE_BIT(ROLE_ADMIN), 1 },
    { "GET", "/v1/sites/{site}/audit", audit_handle, ROLE_BIT(ROLE_MODERATOR) | ROLE_BIT(ROLE_ADMIN), 0 },
    { "GET", "/v1/sites/{site}/events", events_handle, ROLE_BIT(ROLE_CMS) | ROLE_BIT(ROLE_ADMIN), 0 },
    { "GET", "/v1/sites/{site}/policy", policy_get_handle, ROLE_BIT(ROLE_ADMIN), 0 },
    { "PUT", "/v1/sites/{site}/policy", policy_put_handle, ROLE_BIT(ROLE_ADMIN), 1 },
    { "POST", "/v1/sites/{site}/policy/validate", policy_validate_handle, ROLE_BIT(ROLE_ADMIN), 1 },
    { "GET", "/v1/sites/{site}/policy/versions", policy_versions_handle, ROLE_BIT(ROLE_ADMIN), 0 },
    { "POST", "/v1/sites/{site}/policy/revert", policy_revert_handle, ROLE_BIT(ROLE_ADMIN), 1 },
    /* a thread's pre-moderation and closing: the CMS sets them as it
     * publishes or closes a story, an admin by hand (api.md 2.14) */
    { "PUT", "/v1/sites/{site}/threads/{thread_id}", threads_put_handle, ROLE_BIT(ROLE_CMS) | ROLE_BIT(ROLE_ADMIN), 1 },
    { "DELETE", "/v1/sites/{site}/threads/{thread_id}", threads_delete_handle,
      ROLE_BIT(ROLE_CMS) | ROLE_BIT(ROLE_ADMIN), 0 },
    { "GET", "/v1/sites/{site}/threads/{thread_id}", threads_get_handle,
      ROLE_BIT(ROLE_CMS) | ROLE_BIT(ROLE_MODERATOR) | ROLE_BIT(ROLE_ADMIN), 0 },
    { "GET", "/v1/sites/{site}/threads", threads_list_handle,
      ROLE_BIT(ROLE_CMS) | ROLE_BIT(ROLE_MODERATOR) | ROLE_BIT(ROLE_ADMIN), 0 },
    { "GET", "/v1/sites/{site}/authors/{author}", authors_get_handle,
      ROLE_BIT(ROLE_CMS) | ROLE_BIT(ROLE_MODERATOR) | ROLE_BIT(ROLE_ADMIN), 0 },
    { "PUT", "/v1/sites/{site}/authors/{author}", authors_put_handle, ROLE_BIT(ROLE_MODERATOR) | ROLE_BIT(ROLE_ADMIN), 1 },
    { "GET", "/v1/sites/{site}/webhooks/deliveries", webhooks_deliveries_handle, ROLE_BIT(ROLE_ADMIN), 0 },
    { "GET", "/v1/sites/{site}/tuning", tuning_handle, ROLE_BIT(ROLE_ADMIN), 0 },
    { "POST", "/v1/sites/{site}/tuning/dry-run", dry_run_handle, ROLE_BIT(ROLE_ADMIN), 1 },
    { "GET", "/v1/whoami", whoami_handle, ROLE_BIT(ROLE_CMS) | ROLE_BIT(ROLE_MODERATOR) | ROLE_BIT(ROLE_ADMIN), 0 },
    { "GET", "/v1/captcha/challenge", captcha_challenge_handle, 0, 0 },
    { "OPTIONS", "/v1/captcha/challenge", captcha_preflight_handle, 0, 0 },
    { "POST", "/v1/captcha/verify", captcha_verify_handle, 0, 2 },
    { "GET", "/v1/form-token", form_token_handle, 0, 0 },
    { "OPTIONS", "/v1/form-token", captcha_preflight_handle, 0, 0 },
    { "GET", "/ui", ui_handle, 0, 0 },
    { "GET", "/ui/", ui_handle, 0, 0 },
    { "GET", "/ui/app.js", ui_handle, 0, 0 },
    { "GET", "/ui/app.css", ui_handle, 0, 0 },
    { "GET", "/metrics", metrics_handle, ROLE_BIT(ROLE_ADMIN), 0 },
    { "POST", "/v1/integrations/coral/{site}", coral_handle, 0, 3 },
    /* the Akismet protocol (api.md 2.12): the handlers take the key from the form or Host */
    { "POST", "/1.1/verify-key", akismet_verify_handle, 0, 3 },
    { "POST", "/1.1/comment-check", akismet_check_handle, 0, 3 },
    { "POST", "/1.1/submit-spam", akismet_spam_handle, 0, 3 },
    { "POST", "/1.1/submit-ham", akismet_ham_handle, 0, 3 },
    { "GET", "/1.1/test", akismet_test_handle, 0, 0 },
    { "POST", "/1.1/get-subscription", akismet_subscription_handle, 0, 3 },
    { "POST", "/1.1/get-stats", akismet_stats_handle, 0, 3 },
    { "GET", "/healthz", h_healthz, 0, 0 },
    { "HEAD", "/healthz", h_healthz, 0, 0 },
    { "GET", "/readyz", h_readyz, 0, 0 },
    { "HEAD", "/readyz", h_readyz, 0, 0 },
};

/* Does 'path' match 'pat'? Exact, except that a "{name}" segment of the
 * pattern matches one non-empty path segment (the handler reads it from
 * the path). */
static int path_match(const char *pat, const char *path)
{
    while (*pat) {
        if (*pat == '{') {
            const char *close = strchr(pat, '}');
            const char *q = path;
            while (*q && *q != '/')
                q++;
            if (!close || q == path)
                return 0;
            pat = close + 1;
            path = q;
        } else if (*pat++ != *path++) {
            return 0;
        }
    }
    return *path == 0;
}

const struct route *routes_match(const char *method, const char *path, char *allow,
                                size_t allowlen)
{
    allow[0] = 0;
    size_t used = 0;
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        if (!path_match(routes[i].path, path))
            continue;
        if (strcmp(routes[i].method, method) == 0)
            return &routes[i];
        int n = snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "", routes[i].method);
        if (n > 0 && (size_t)n < allowlen - used)
            used += (size_t)n;
    }
    return NULL;
}
