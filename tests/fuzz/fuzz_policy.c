/* fuzz_policy.c - fuzz target for run-time policies (policy.h).
 *
 * Each input is a policy document for site "s" of a fixed config. It is
 * refused with a one-line reason naming a field, or it gives a config
 * whose site keeps the promises the config loader makes; and then what
 * GET /policy shows (cfg_policy_json) is itself a policy that gives the
 * very same document back: an admin can always PUT what they read. Never
 * a crash, a hang or a leak. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cfg *base(void)
{
    static struct cfg *c;
    if (c)
        return c;
    log_level = LOG_LVL_ERROR;
    char path[] = "/tmp/modgate-fuzz-policy-XXXXXX";
    int fd = mkstemp(path);
    static const char conf[] =
        "{\"sites\":{\"s\":{\"words\":{\"blocked\":[\"casino\"]},\"thresholds\":{\"hold\":0.4,\"reject\":0.9}},"
        "\"t\":{\"prior\":0.2}}}";
    if (fd < 0 || write(fd, conf, sizeof conf - 1) != (ssize_t)(sizeof conf - 1))
        abort();
    close(fd);
    char err[512];
    c = cfg_load(path, err, sizeof err);
    unlink(path);
    if (!c)
        abort();
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg *b = base();
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!doc)
        return 0;
    char err[512] = "";
    struct cfg_policy p = { "s", doc, 1, "fuzz", 0 };
    int checked = cfg_policy_check(doc, err, sizeof err);
    struct cfg *c = checked ? NULL : cfg_with_policies(b, 1, &p, err, sizeof err);
    if (!c) {
        if (!err[0] || strchr(err, '\n') || (!checked && strncmp(err, "sites.s", 7) != 0))
            abort();
        json_decref(doc);
        return 0;
    }
    const struct site_cfg *s = cfg_site(c, "s", NULL);
    const struct site_cfg *t = cfg_site(c, "t", NULL);
    if (!s || !t || !(s->th.hold > 0 && s->th.hold <= s->th.reject && s->th.reject <= 1) || s->policy_version != 1 ||
        !s->policy_stored || t->policy_version != 0 || t->prior != 0.2 || s->bucket_epoch_s < 1)
        abort();
    /* what GET shows round-trips exactly */
    json_t *shown = cfg_policy_json(s);
    struct cfg_policy p2 = { "s", shown, 2, "fuzz", 0 };
    struct cfg *c2 = cfg_with_policies(b, 1, &p2, err, sizeof err);
    if (!c2)
        abort();
    json_t *again = cfg_policy_json(cfg_site(c2, "s", NULL));
    if (!json_equal(shown, again))
        abort();
    json_decref(again);
    json_decref(shown);
    cfg_release(c2);
    cfg_release(c);
    json_decref(doc);
    return 0;
}
