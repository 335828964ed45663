/* test_config.c - config validation: every mistake is refused with the
 * field's path, and good configs load with their values. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "hmac.h"
#include "log.h"
#include "test.h"

static char path[64];

static struct cfg *load_str(const char *json, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    fputs(json, f);
    fclose(f);
    return cfg_load(path, err, errlen);
}

/* Expect 'json' to be refused with a message containing 'needle'. */
static int refused_with(const char *json, const char *needle)
{
    char err[512] = "";
    struct cfg *c = load_str(json, err, sizeof err);
    if (c) {
        cfg_swap(c);
        cfg_swap(NULL);
        fprintf(stderr, "  accepted: %s\n", json);
        return 0;
    }
    if (!strstr(err, needle)) {
        fprintf(stderr, "  error \"%s\" lacks \"%s\"\n", err, needle);
        return 0;
    }
    return 1;
}

TEST(example_config_loads)
{
    char err[512];
    struct cfg *c = cfg_load("docker/modgate.example.json", err, sizeof err);
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK_EQ_INT(c->nsites, 1);
    CHECK_EQ_INT(c->test_keys, 4); /* the demo site's three and the top-level demo-ops-key */
    CHECK_EQ_INT(c->listen_port, 8080);
    const struct site_cfg *s = cfg_site(c, "demo", NULL);
    CHECK(s != NULL);
    CHECK_NEAR(s->th.hold, 0.5, 1e-9);
    CHECK_NEAR(s->buckets[BK_IP].per_second, 10.0 / 60, 1e-9);
    CHECK_EQ_INT(s->redis_down, DEC_HOLD);
    struct ident id;
    cfg_swap(c);
    struct cfg *cur = cfg_acquire();
    CHECK_EQ_INT(auth_lookup(cur, "Bearer demo-cms-key", &id), 0);
    CHECK_EQ_INT(id.role, ROLE_CMS);
    CHECK_EQ_INT(auth_lookup(cur, "Bearer demo-admin-key", &id), 0);
    CHECK_EQ_INT(id.role, ROLE_ADMIN);
    CHECK_EQ_INT(auth_lookup(cur, "Bearer demo-ops-key", &id), 0);
    CHECK_EQ_INT(id.role, ROLE_ADMIN);
    CHECK_EQ_INT(id.site, -1); /* top level: every site, and /metrics */
    CHECK_EQ_INT(auth_lookup(cur, "Bearer demo-cms-ke", &id), -1);
    CHECK_EQ_INT(auth_lookup(cur, "Basic demo-cms-key", &id), -1);
    CHECK_EQ_INT(auth_lookup(cur, NULL, &id), -1);
    cfg_release(cur);
    cfg_swap(NULL);
}

TEST(errors_name_the_field)
{
    CHECK(refused_with("{\"sites\":{}}", "sites"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"thresholds\":{\"hold\":2}}}}", "sites.a.thresholds.hold"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"thresholds\":{\"hold\":0.9,\"reject\":0.5}}}}",
                       "sites.a.thresholds"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"tresholds\":{}}}}", "sites.a.tresholds: unknown field"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"rate_limits\":{\"ip\":{\"capacity\":-1,\"per_minute\":1}}}}}",
                       "sites.a.rate_limits.ip.capacity"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"rate_limits\":{\"ip\":{\"capacity\":5}}}}}",
                       "sites.a.rate_limits.ip"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"redis_down\":\"maybe\"}}}", "sites.a.redis_down"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"keys\":[{\"id\":\"k\",\"role\":\"root\",\"sha256\":\"00\"}]}}}",
                       "sites.a.keys[0]"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"keys\":[{\"id\":\"k\",\"role\":\"cms\",\"sha256\":\"xyz\"}]}}}",
                       "sha256"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"words\":{\"blocked\":[\"ok\", 5]}}}}", "sites.a.words.blocked[1]"));
    CHECK(refused_with("{\"sites\":{\"A B\":{}}}", "sites.A B"));
    CHECK(refused_with("{\"listen\":\"nowhere\",\"sites\":{\"a\":{}}}", "listen"));
    CHECK(refused_with("{\"redis\":{\"url\":\"http://x\"},\"sites\":{\"a\":{}}}", "redis.url"));
    CHECK(refused_with("{\"http\":{\"threads\":0},\"sites\":{\"a\":{}}}", "http.threads"));
    CHECK(refused_with("{\"http\":{\"header_buffer_bytes\":1024},\"sites\":{\"a\":{}}}", "http.header_buffer_bytes"));
    CHECK(refused_with("{\"sites\":{\"a\":{}},\"sites\":{}}", "duplicate"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"weights\":{\"link\":\"big\"}}}}", "sites.a.weights.link"));
    CHECK(refused_with("not json", "modgate-test-config"));
    CHECK(refused_with("{\"redis\":{\"url\":\"redis://x:abc\"},\"sites\":{\"a\":{}}}", "redis.url"));
    CHECK(refused_with("{\"sites\":{\"#\":\"only a comment\"}}", "sites"));
    CHECK(refused_with("{\"log_format\":\"xml\",\"sites\":{\"a\":{}}}", "log_format: must be \"text\" or \"json\""));
    CHECK(refused_with("{\"log_format\":1,\"sites\":{\"a\":{}}}", "log_format"));
}

TEST(log_format_loads)
{
    char err[512] = "";
    struct cfg *c = load_str("{\"log_format\":\"json\",\"sites\":{\"a\":{}}}", err, sizeof err);
    CHECK(c != NULL);
    if (c)
        CHECK_EQ_INT(c->log_format, LOG_FMT_JSON);
    cfg_swap(c);
    c = load_str("{\"sites\":{\"a\":{}}}", err, sizeof err);
    CHECK(c != NULL);
    if (c)
        CHECK_EQ_INT(c->log_format, LOG_FMT_TEXT);
    cfg_swap(c);
    cfg_swap(NULL);
}

TEST(same_key_twice_is_refused)
{
    const char *h = "68409254299916eb608969d7fa88321a90431a5a40bf039deff43a771ccdfe1c";
    char json[512];
    snprintf(json, sizeof json,
             "{\"sites\":{\"a\":{\"keys\":[{\"id\":\"k1\",\"role\":\"cms\",\"sha256\":\"%s\"}]},"
             "\"b\":{\"keys\":[{\"id\":\"k2\",\"role\":\"cms\",\"sha256\":\"%s\"}]}}}", h, h);
    CHECK(refused_with(json, "twice"));
}

TEST(env_overrides)
{
    setenv("MODGATE_LISTEN", "127.0.0.1:9999", 1);
    setenv("MODGATE_REDIS_URL", "redis://10.0.0.1:7000/2", 1);
    char err[512];
    struct cfg *c = load_str("{\"sites\":{\"a\":{}}}", err, sizeof err);
    CHECK(c != NULL);
    if (c) {
        CHECK_EQ_INT(c->listen_port, 9999);
        CHECK_EQ_STR(c->redis_url, "redis://10.0.0.1:7000/2");
        CHECK_EQ_STR(c->redis.host, "10.0.0.1");
        CHECK_EQ_INT(c->redis.port, 7000);
        CHECK_EQ_INT(c->redis.db, 2);
        cfg_swap(c);
        cfg_swap(NULL);
    }
    setenv("MODGATE_LISTEN", "bad", 1);
    CHECK(refused_with("{\"sites\":{\"a\":{}}}", "MODGATE_LISTEN"));
    unsetenv("MODGATE_LISTEN");
    unsetenv("MODGATE_REDIS_URL");
}

TEST(comment_keys_are_ignored)
{
    char err[512];
    struct cfg *c = load_str("{\"#\":\"hello\",\"sites\":{\"#\":\"the sites\",\"a\":{\"#x\":1}}}",
                             err, sizeof err);
    CHECK(c != NULL);
    if (c) {
        CHECK_EQ_INT(c->nsites, 1);
        cfg_swap(c);
        cfg_swap(NULL);
    }
}

TEST(bayes_settings)
{
    char err[512];
    struct cfg *c = load_str("{\"sites\":{\"a\":{},\"b\":{\"bayes\":{\"enabled\":false,\"model\":\"shared-b\","
                             "\"fallback\":\"global\",\"min_learns\":5,\"weight\":2.5,\"alpha\":0.25,"
                             "\"min_tokens\":2}}}}",
                             err, sizeof err);
    CHECK(c != NULL);
    if (c) {
        const struct site_cfg *a = cfg_site(c, "a", NULL), *b = cfg_site(c, "b", NULL);
        struct bayes_params d;
        bayes_defaults(&d);
        CHECK_EQ_INT(a->bayes.enabled, 1);
        CHECK_EQ_STR(a->bayes.model, "a");
        CHECK_EQ_STR(a->bayes.fallback, "");
        CHECK_NEAR(a->bayes.weight, 1.0, 1e-12);
        CHECK_EQ_INT(a->bayes.params.min_learns, d.min_learns);
        CHECK_NEAR(a->bayes.params.alpha, d.alpha, 1e-12);
        CHECK_EQ_INT(b->bayes.enabled, 0);
        CHECK_EQ_STR(b->bayes.model, "shared-b");
        CHECK_EQ_STR(b->bayes.fallback, "global");
        CHECK_EQ_INT(b->bayes.params.min_learns, 5);
        CHECK_NEAR(b->bayes.weight, 2.5, 1e-12);
        CHECK_NEAR(b->bayes.params.alpha, 0.25, 1e-12);
        CHECK_EQ_INT(b->bayes.params.min_tokens, 2);
        cfg_swap(c);
        cfg_swap(NULL);
    }
    CHECK(refused_with("{\"sites\":{\"a\":{\"bayes\":{\"min_learns\":0}}}}", "sites.a.bayes.min_learns"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"bayes\":{\"weight\":-1}}}}", "sites.a.bayes.weight"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"bayes\":{\"x\":1}}}}", "sites.a.bayes.x"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"bayes\":{\"alpha\":0}}}}", "sites.a.bayes.alpha"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"bayes\":{\"alpha\":1001}}}}", "sites.a.bayes.alpha"));
    /* Robinson's constants are gone, and the error says so. */
    CHECK(refused_with("{\"sites\":{\"a\":{\"bayes\":{\"min_dev\":0.2}}}}", "no longer exists"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"bayes\":{\"s\":1}}}}", "sites.a.bayes.s"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"bayes\":{\"min_tokens\":1.5}}}}", "sites.a.bayes.min_tokens"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"bayes\":{\"enabled\":1}}}}", "sites.a.bayes.enabled"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"bayes\":{\"model\":\"Bad Name\"}}}}", "sites.a.bayes.model"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"bayes\":{\"model\":null}}}}", "sites.a.bayes.model"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"bayes\":{\"fallback\":5}}}}", "sites.a.bayes.fallback"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"bayes\":{\"fallback\":\"a\"}}}}", "sites.a.bayes.fallback"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"bayes\":{\"colour\":1}}}}", "sites.a.bayes.colour"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"bayes\":[]}}}", "sites.a.bayes"));
    /* a site's key must not change another site's model */
    CHECK(refused_with("{\"sites\":{\"a\":{\"bayes\":{\"model\":\"b\"}},\"b\":{}}}",
                       "sites.a.bayes.model: \"b\" is another site's name"));
    /* ... but may read it, and two sites may share a model of another name */
    c = load_str("{\"sites\":{\"a\":{\"bayes\":{\"fallback\":\"b\"}},\"b\":{\"bayes\":{\"model\":\"s\"}},"
                 "\"c\":{\"bayes\":{\"model\":\"s\"}}}}", err, sizeof err);
    CHECK(c != NULL);
    if (c) {
        cfg_swap(c);
        cfg_swap(NULL);
    }
}

/* bayes.starter and starter_weight: the shipped starter by default at the
 * cross-validated weight, another model or none, and the refusals */
TEST(bayes_starter_settings)
{
    char err[512];
    struct cfg *c = load_str("{\"sites\":{\"a\":{},\"b\":{\"bayes\":{\"starter\":\"seed-news\","
                             "\"starter_weight\":200}},\"c\":{\"bayes\":{\"starter\":null}},"
                             "\"d\":{\"bayes\":{\"starter_weight\":0}},\"e\":{\"bayes\":{\"model\":\"m-e\","
                             "\"starter\":\"d\"}}}}", err, sizeof err);
    CHECK(c != NULL);
    if (c) {
        const struct site_cfg *a = cfg_site(c, "a", NULL), *b = cfg_site(c, "b", NULL);
        CHECK_EQ_STR(a->bayes.starter, "modgate-starter");
        CHECK_NEAR(a->bayes.starter_weight, 50, 1e-12);
        CHECK_EQ_STR(b->bayes.starter, "seed-news");
        CHECK_NEAR(b->bayes.starter_weight, 200, 1e-12);
        CHECK_EQ_STR(cfg_site(c, "c", NULL)->bayes.starter, "");
        CHECK_NEAR(cfg_site(c, "d", NULL)->bayes.starter_weight, 0, 1e-12);
        CHECK_EQ_STR(cfg_site(c, "e", NULL)->bayes.starter, "d"); /* another site's model: read only */
        cfg_swap(c);
        cfg_swap(NULL);
    }
    /* refused, naming the field; learning never goes into a starter: its
     * own, or the shipped one */
    static const char *const bad[][2] = {
        { "{\"starter_weight\":-1}", "sites.a.bayes.starter_weight" },
        { "{\"starter_weight\":\"50\"}", "sites.a.bayes.starter_weight" },
        { "{\"starter_weight\":2000000}", "sites.a.bayes.starter_weight" },
        { "{\"starter\":\"Bad Name\"}", "sites.a.bayes.starter" },
        { "{\"model\":\"m\",\"starter\":\"m\"}", "sites.a.bayes.starter" },
        { "{\"model\":\"modgate-starter\",\"starter\":null}",
          "sites.a.bayes.model: \"modgate-starter\" is the shipped starter" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char doc[256];
        snprintf(doc, sizeof doc, "{\"sites\":{\"a\":{\"bayes\":%s}}}", bad[i][0]);
        CHECK(refused_with(doc, bad[i][1]));
    }
    /* a policy may set the weight, not the model read */
    json_t *pol = json_loads("{\"bayes\":{\"starter_weight\":0}}", 0, NULL);
    CHECK_EQ_INT(cfg_policy_check(pol, err, sizeof err), 0);
    json_decref(pol);
    pol = json_loads("{\"bayes\":{\"starter\":\"x\"}}", 0, NULL);
    CHECK(cfg_policy_check(pol, err, sizeof err) != 0 && strstr(err, "config file"));
    json_decref(pol);
}

/* moderation.max_held and on_full: defaults, values, and refusals naming the field */
TEST(held_queue_cap)
{
    char err[512];
    struct cfg *c = load_str("{\"sites\":{\"a\":{},\"b\":{\"moderation\":{\"max_held\":0,\"on_full\":\"refuse\"}},"
                             "\"c\":{\"moderation\":{\"max_held\":7,\"on_full\":\"evict\"}}}}",
                             err, sizeof err);
    CHECK(c != NULL);
    if (c) {
        const struct site_cfg *a = cfg_site(c, "a", NULL), *b = cfg_site(c, "b", NULL), *d = cfg_site(c, "c", NULL);
        CHECK_EQ_INT(a->mod.max_held, 100000);
        CHECK_EQ_INT(a->mod.on_full_refuse, 0);
        CHECK_EQ_INT(b->mod.max_held, 0);
        CHECK_EQ_INT(b->mod.on_full_refuse, 1);
        CHECK_EQ_INT(d->mod.max_held, 7);
        CHECK_EQ_INT(d->mod.on_full_refuse, 0);
        cfg_swap(c);
        cfg_swap(NULL);
    }
    CHECK(refused_with("{\"sites\":{\"a\":{\"moderation\":{\"max_held\":-1}}}}", "sites.a.moderation.max_held"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"moderation\":{\"max_held\":10000001}}}}",
                       "sites.a.moderation.max_held"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"moderation\":{\"on_full\":\"drop\"}}}}",
                       "sites.a.moderation.on_full: must be \"evict\" or \"refuse\""));
    CHECK(refused_with("{\"sites\":{\"a\":{\"moderation\":{\"on_full\":true}}}}", "sites.a.moderation.on_full"));
}

/* sites.S.coral: Coral's signing secrets from a file or the environment,
 * keyed as Coral keys its HMAC (the whole "empsec_..." string), the held
 * setting, and refusals naming the field. */
TEST(coral_secrets)
{
    const char *sec_a = "empsec_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const char *sec_b = "empsec_fedcba9876543210fedcba9876543210fedcba9876543210fedcba98765432";
    char file[80], err[512] = "", json[1024];
    snprintf(file, sizeof file, "/tmp/modgate-test-coral-%d.key", (int)getpid());
    FILE *f = fopen(file, "w");
    fprintf(f, "%s\n", sec_a); /* a newline, as editors leave it */
    fclose(f);
    setenv("MG_UNIT_CORAL", sec_b, 1);
    snprintf(json, sizeof json, "{\"sites\":{\"a\":{},\"b\":{\"coral\":{\"secrets\":[{\"id\":\"old\",\"secret_file\":\"%s\"},"
             "{\"id\":\"new\",\"secret_env\":\"MG_UNIT_CORAL\"}]}},\"c\":{\"coral\":{\"secrets\":[{\"id\":\"x\","
             "\"secret_env\":\"MG_UNIT_CORAL\"}],\"held\":\"premod\"}}}}", file);
    struct cfg *c = load_str(json, err, sizeof err);
    CHECK(c != NULL);
    if (c) {
        const struct site_cfg *a = cfg_site(c, "a", NULL), *b = cfg_site(c, "b", NULL), *d = cfg_site(c, "c", NULL);
        CHECK_EQ_INT(a->coral.enabled, 0);
        CHECK_EQ_INT(b->coral.enabled, 1);
        CHECK_EQ_INT(b->coral.nsecrets, 2);
        CHECK_EQ_INT(b->coral.held_premod, 0);
        CHECK_EQ_STR(b->coral.secrets[0].id, "old");
        CHECK_EQ_INT(d->coral.held_premod, 1);
        /* the HMAC key is the secret string itself, newline dropped */
        const char *secs[2] = { sec_a, sec_b };
        for (int i = 0; i < 2; i++) {
            unsigned char got[HMAC_LEN], want[crypto_auth_hmacsha256_BYTES];
            crypto_auth_hmacsha256_state st;
            crypto_auth_hmacsha256_init(&st, (const unsigned char *)secs[i], strlen(secs[i]));
            crypto_auth_hmacsha256_update(&st, (const unsigned char *)"{}", 2);
            crypto_auth_hmacsha256_final(&st, want);
            hmac_sha256(&b->coral.secrets[i].key, "{}", 2, got);
            CHECK(memcmp(got, want, HMAC_LEN) == 0);
        }
        cfg_swap(c);
        cfg_swap(NULL);
    }
    CHECK(refused_with("{\"sites\":{\"a\":{\"coral\":{}}}}", "sites.a.coral.secrets: must be an array of 1-4"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"coral\":{\"secrets\":[]}}}}", "sites.a.coral.secrets"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"coral\":{\"secrets\":[{\"id\":\"k\",\"secret_env\":\"MG_UNIT_CORAL\"},"
                       "{\"id\":\"k\",\"secret_env\":\"MG_UNIT_CORAL\"}]}}}}",
                       "sites.a.coral.secrets[1]: the id \"k\" is used twice"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"coral\":{\"secrets\":[{\"id\":\"a b\",\"secret_env\":\"MG_UNIT_CORAL\"}]}}}}",
                       "sites.a.coral.secrets[0]: needs an \"id\""));
    CHECK(refused_with("{\"sites\":{\"a\":{\"coral\":{\"secrets\":[{\"id\":\"k\"}]}}}}",
                       "sites.a.coral.secrets[0]: needs exactly one of \"secret_file\" and \"secret_env\""));
    CHECK(refused_with("{\"sites\":{\"a\":{\"coral\":{\"secrets\":[{\"id\":\"k\",\"secret_env\":\"MG_UNIT_NOT_SET\"}]}}}}",
                       "MG_UNIT_NOT_SET named by secret_env is not set"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"coral\":{\"secrets\":[{\"id\":\"k\",\"secret_file\":\"/nonexistent/k\"}]}}}}",
                       "sites.a.coral.secrets[0]: cannot read secret_file"));
    setenv("MG_UNIT_CORAL_SHORT", "empsec_abc", 1);
    CHECK(refused_with("{\"sites\":{\"a\":{\"coral\":{\"secrets\":[{\"id\":\"k\",\"secret_env\":\"MG_UNIT_CORAL_SHORT\"}]}}}}",
                       "sites.a.coral.secrets[0]: the secret must be Coral's signing secret"));
    setenv("MG_UNIT_CORAL_SHORT", "empsec_0123 456789abcdef0123", 1); /* a space: pasted from two lines */
    CHECK(refused_with("{\"sites\":{\"a\":{\"coral\":{\"secrets\":[{\"id\":\"k\",\"secret_env\":\"MG_UNIT_CORAL_SHORT\"}]}}}}",
                       "sites.a.coral.secrets[0]: the secret must be"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"coral\":{\"secrets\":[{\"id\":\"k\",\"secret_env\":\"MG_UNIT_CORAL\"}],"
                       "\"held\":\"reject\"}}}}", "sites.a.coral.held: must be \"withheld\" or \"premod\""));
    CHECK(refused_with("{\"sites\":{\"a\":{\"coral\":{\"secrets\":[{\"id\":\"k\",\"secret_env\":\"MG_UNIT_CORAL\","
                       "\"kid\":1}]}}}}", "sites.a.coral.secrets[0].kid: unknown field"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"coral\":{\"secrets\":[1,2,3,4,5]}}}}", "sites.a.coral.secrets"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"coral\":{\"url\":\"x\"}}}}", "sites.a.coral.url: unknown field"));
    unlink(file);
}

/* akismet.held and discard_score: defaults, values, and refusals naming the field */
TEST(akismet_settings)
{
    char err[512];
    struct cfg *c = load_str("{\"sites\":{\"a\":{},\"b\":{\"akismet\":{\"held\":\"spam\",\"discard_score\":0.9}},"
                             "\"c\":{\"akismet\":{\"held\":\"pending\"}}}}",
                             err, sizeof err);
    CHECK(c != NULL);
    if (c) {
        const struct site_cfg *a = cfg_site(c, "a", NULL), *b = cfg_site(c, "b", NULL), *d = cfg_site(c, "c", NULL);
        CHECK_EQ_INT(a->akismet.held_spam, 0);
        CHECK(a->akismet.discard_score == 0.99);
        CHECK_EQ_INT(b->akismet.held_spam, 1);
        CHECK(b->akismet.discard_score == 0.9);
        CHECK_EQ_INT(d->akismet.held_spam, 0);
        cfg_swap(c);
        cfg_swap(NULL);
    }
    CHECK(refused_with("{\"sites\":{\"a\":{\"akismet\":{\"held\":\"trash\"}}}}",
                       "sites.a.akismet.held: must be \"pending\" or \"spam\""));
    CHECK(refused_with("{\"sites\":{\"a\":{\"akismet\":{\"held\":false}}}}", "sites.a.akismet.held"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"akismet\":{\"discard_score\":1.5}}}}",
                       "sites.a.akismet.discard_score"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"akismet\":{\"strictness\":1}}}}", "sites.a.akismet"));
    CHECK(refused_with("{\"sites\":{\"a\":{\"akismet\":\"on\"}}}", "sites.a.akismet"));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    snprintf(path, sizeof path, "/tmp/modgate-test-config-%d.json", (int)getpid());
    RUN(example_config_loads);
    RUN(errors_name_the_field);
    RUN(log_format_loads);
    RUN(same_key_twice_is_refused);
    RUN(env_overrides);
    RUN(akismet_settings);
    RUN(comment_keys_are_ignored);
    RUN(bayes_settings);
    RUN(bayes_starter_settings);
    RUN(held_queue_cap);
    RUN(coral_secrets);
    unlink(path);
    return TEST_REPORT();
}
