/* main.c - command line, ordered startup, signals, orderly shutdown.
 *
 *   modgate serve [--config FILE]      serve (MODGATE_CONFIG if no --config)
 *   modgate config check FILE          validate a config file and exit
 *   modgate keygen --site S --role R   print a new API key and its entry
 *   modgate spool import FILE          store held comments a spool journal kept
 *   modgate eval --train A --test B    the Bayes filter's accuracy and speed, offline
 *   modgate learn --site S FILE        bulk-learn labelled comments into the site's model
 *   modgate model export|import        a site's Bayes model as JSON lines, and back
 *   modgate model build --balanced     the shipped starter model from corpora (make does it)
 *
 * Startup order: config -> validate -> Redis settings -> spool -> Bayes
 * model sync -> HTTP; stopping goes the other way round.
 * Signals are handled by sigwait in the main thread only: SIGHUP reloads
 * the config, SIGTERM/SIGINT stop gracefully. */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "bayesdb.h"
#include "config.h"
#include "eval.h"
#include "http.h"
#include "jsonmem.h"
#include "learn.h"
#include "log.h"
#include "policy.h"
#include "cluster.h"
#include "sentinel.h"
#include "spool.h"
#include "queue.h"
#include "authors.h"
#include "reports.h"
#include "webhooks.h"
#include "routes.h"
#include "store.h"

#define MODGATE_VERSION "0.1.0"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: modgate serve [--config FILE]\n"
            "       modgate config check FILE\n"
            "       modgate keygen --site SITE --role cms|moderator|admin\n"
            "       modgate spool import [--config FILE] FILE.jsonl\n"
            "       modgate eval --train A.jsonl[,B.jsonl] --test C.jsonl [--scores OUT.jsonl]\n"
            "       modgate learn [--config FILE] --site SITE [--label spam|ham] [--rate N] [--source NAME] FILE.jsonl\n"
            "       modgate model export [--config FILE] --site SITE > MODEL.jsonl\n"
            "       modgate model import [--config FILE] --site SITE [--rate N] [--source NAME] MODEL.jsonl\n"
            "       modgate model build [--balanced] [--name NAME] CORPUS.jsonl... > MODEL.jsonl\n"
            "       modgate version\n"
            "environment: MODGATE_CONFIG (config file), MODGATE_LISTEN (HOST:PORT),\n"
            "             MODGATE_REDIS_URL (redis://[user:pass@]host:port/db or unix:///path),\n"
            "             MODGATE_SPOOL_DIR (the journal of held comments waiting for Redis;\n"
            "             default: the working directory)\n");
}

static void announce(const struct cfg *c)
{
    log_set(c->log_level, c->log_format);
    if (c->test_keys)
        LOG_WARN(NULL, "%d public test key(s) (demo-*-key) are loaded from %s: anyone can use them; "
                 "replace them with `modgate keygen` keys before going live", c->test_keys, c->path);
}

/* Load and validate 'path', or say why on stderr. A new config, or NULL. */
static struct cfg *load_config(const char *path)
{
    char err[512];
    struct cfg *c = cfg_load(path, err, sizeof err);
    if (!c)
        fprintf(stderr, "modgate: config: %s\n", err);
    return c;
}

/* http_stop's hook for requests still in flight after the grace: checks
 * still waiting for Redis are answered now (degraded) rather than waited
 * for. Fail-fast stays on until exit: a Redis that made us wait past the
 * grace is not waited for again (the spool is left in its journal). */
static void redis_overdue(void)
{
    store_failfast(1);
}

static int cmd_serve(const char *path)
{
    if (!path)
        path = getenv("MODGATE_CONFIG");
    if (!path || !*path) {
        fprintf(stderr, "modgate: no config: pass --config FILE or set MODGATE_CONFIG\n");
        return 2;
    }
    struct cfg *c = load_config(path);
    if (!c)
        return 2;
    announce(c);
    char err[512];
    cfg_swap(c);

    /* Block the signals before any thread starts, so every thread
     * inherits the mask and only sigwait below sees them. A shell starts
     * background jobs with SIGINT ignored: undo that first, or sigwait
     * would never see Ctrl-C. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGINT);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &ss, NULL);
    signal(SIGPIPE, SIG_IGN);

    store_configure(c);
    if (sentinel_start(c, 1) != 0) { /* with redis.sentinel: the master, and the watcher that follows it */
        LOG_ERROR(NULL, "cannot start the sentinel watcher");
        return 1;
    }
    if (cluster_start(c, 1) != 0) { /* with redis.cluster: the slot map, and the thread that refreshes it */
        LOG_ERROR(NULL, "cannot start the redis cluster refresher");
        return 1;
    }
    queue_init(); /* its scripts are loaded at connect with the store's */
    authors_init();
    policy_also_poll(authors_poll); /* which sites pre-moderate authors (check.c) */
    policy_also_poll(queue_lessons_drain); /* Redis Cluster: lessons for shared models left in an outbox */
    reports_init();
    learn_wire(queue_learn_move_async); /* /v1/learn moves held comments (learn.h) */
    if (store_start() != 0) {
        LOG_ERROR(NULL, "cannot start the store thread");
        return 1;
    }
    for (size_t i = 0; i < c->nsites; i++)
        queue_migrate(c->sites[i].name);
    const char *spool_dir = getenv("MODGATE_SPOOL_DIR");
    if (spool_start(spool_dir, c->redis_retry_ms) != 0) {
        LOG_ERROR(NULL, "cannot start the spool thread");
        return 1;
    }
    if (bayesdb_start(c) != 0) {
        LOG_ERROR(NULL, "cannot start the model sync thread");
        spool_stop();
        return 1;
    }
    /* the stored policies before the first request (bounded when Redis is down) */
    if (policy_start() != 0) {
        LOG_ERROR(NULL, "cannot start the policy thread");
        bayesdb_stop();
        spool_stop();
        return 1;
    }
    if (webhooks_start() != 0) {
        LOG_ERROR(NULL, "cannot start the webhooks thread");
        policy_stop();
        bayesdb_stop();
        spool_stop();
        return 1;
    }
    /* a Redis that loses what modgate acknowledges is said before serving */
    struct store_redis_info ri;
    store_redis_info(&ri);
    if (ri.rc != 0)
        LOG_WARN(NULL, "redis: unavailable at start: its persistence and maxmemory-policy are checked once it answers");
    store_redis_info_log(&ri);
    c = cfg_acquire(); /* the policy thread may have swapped in another */
    static const struct http_wiring wiring = { routes_match, redis_overdue };
    struct http_server *srv = http_start(c, &wiring, err, sizeof err);
    if (!srv) {
        LOG_ERROR(NULL, "%s", err);
        cfg_release(c);
        webhooks_stop();
        policy_stop();
        bayesdb_stop();
        spool_stop();
        return 1;
    }
    int grace = c->shutdown_grace_s;
    LOG_INFO(NULL, "modgate %s serving on %s:%d with %d threads, %zu site(s)", MODGATE_VERSION,
             c->listen_host, c->listen_port, c->threads, c->nsites);
    cfg_release(c);
    for (;;) {
        int sig = 0;
        if (sigwait(&ss, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            struct cfg *n = cfg_load(path, err, sizeof err);
            if (!n) {
                LOG_ERROR(NULL, "reload failed, keeping the running config: %s", err);
                continue;
            }
            struct cfg *old = cfg_acquire();
            if (strcmp(old->listen_host, n->listen_host) || old->listen_port != n->listen_port ||
                old->threads != n->threads || old->max_connections != n->max_connections ||
                old->connection_timeout_s != n->connection_timeout_s || old->use_epoll != n->use_epoll ||
                old->redis_connections != n->redis_connections || old->max_body != n->max_body ||
                old->header_buffer != n->header_buffer ||
                old->max_connections_per_ip != n->max_connections_per_ip ||
                old->request_timeout_s != n->request_timeout_s || old->max_header_bytes != n->max_header_bytes)
                LOG_WARN(NULL, "reload: listen, http.threads, http.max_connections, http.max_connections_per_ip, "
                         "http.connection_timeout_s, http.request_timeout_s, http.event_loop, "
                         "http.header_buffer_bytes and redis.connections change only on restart "
                         "(http.max_body_bytes and http.max_header_bytes apply now)");
            cfg_release(old);
            announce(n);
            grace = n->shutdown_grace_s;
            store_configure(n);
            bayesdb_configure(n);
            policy_swap_file(n); /* the stored policies stay laid over the new file */
            LOG_INFO(NULL, "config reloaded from %s", path);
            continue;
        }
        LOG_INFO(NULL, "%s: finishing requests in flight, then stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
        break;
    }
    http_stop(srv, grace);
    /* The policy poller asks Redis every few hundred ms: a call that a
     * hung Redis holds past a second is cut short, not waited out for the
     * command timeout (bayesdb_stop cuts its own threads' calls). */
    int late = policy_stop_within(1000);
    late |= webhooks_stop_within(1000); /* a delivery in flight is left to its lease */
    if (late) {
        store_failfast(1);
        policy_stop();
    }
    webhooks_stop();
    bayesdb_stop(); /* after HTTP: a learn waiting for the model sync is answered first */
    spool_stop();
    store_stop();
    sentinel_stop();
    cluster_stop();
    cfg_swap(NULL);
    LOG_INFO(NULL, "stopped");
    return 0;
}

/* modgate learn / model export / model import: argv[first..] are
 * [--config FILE] --site S [--label L] [FILE]. */
static int cmd_model(int argc, char **argv, int first, const char *what)
{
    const char *path = getenv("MODGATE_CONFIG"), *site = NULL, *label = NULL, *file = NULL, *source = NULL;
    int is_learn = strcmp(what, "learn") == 0, is_import = strcmp(what, "import") == 0;
    double rate = 0;
    for (int i = first; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "--site") == 0 && i + 1 < argc)
            site = argv[++i];
        else if (is_learn && strcmp(argv[i], "--label") == 0 && i + 1 < argc)
            label = argv[++i];
        else if ((is_learn || is_import) && strcmp(argv[i], "--source") == 0 && i + 1 < argc)
            source = argv[++i];
        else if ((is_learn || is_import) && strcmp(argv[i], "--rate") == 0 && i + 1 < argc) {
            char *end;
            rate = strtod(argv[++i], &end);
            if (*end || !(rate > 0 && rate <= 1e7)) {
                fprintf(stderr, "modgate: --rate must be a number of comments per second above 0\n");
                return 2;
            }
        }
        else if ((is_learn || is_import) && !file && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0))
            file = argv[i];
        else {
            usage(stderr);
            return 2;
        }
    }
    if (!path || !*path || !site || ((is_learn || is_import) && !file)) {
        usage(stderr);
        return 2;
    }
    if (label && strcmp(label, "spam") != 0 && strcmp(label, "ham") != 0) {
        fprintf(stderr, "modgate: --label must be spam or ham\n");
        return 2;
    }
    if (source && !bayesdb_source_valid(source)) {
        fprintf(stderr, "modgate: --source must be 1-%d characters of a-z 0-9 - _\n", BAYESDB_SOURCE_MAX);
        return 2;
    }
    struct cfg *c = load_config(path);
    if (!c)
        return 2;
    log_set(c->log_level, c->log_format);
    sentinel_start(c, 0); /* with redis.sentinel: the master, asked once */
    cluster_start(c, 0);  /* with redis.cluster: the slot map, learnt once */
    const struct site_cfg *s = cfg_site(c, site, NULL);
    int rc;
    if (!s) {
        fprintf(stderr, "modgate: no site named \"%s\" in %s\n", site, path);
        rc = 2;
    } else if (is_learn) {
        rc = bayesdb_cli_learn(c, s, label, file, rate, source);
    } else if (is_import) {
        rc = bayesdb_cli_import(c, s, file, rate, source);
    } else {
        rc = bayesdb_cli_export(c, s);
    }
    cfg_swap(c);
    cfg_swap(NULL);
    return rc;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "modgate: libsodium failed to initialise\n");
        return 1;
    }
    jsonmem_install(); /* before any thread uses jansson */
    const char *cmd = argc > 1 ? argv[1] : "serve";
    if (strcmp(cmd, "serve") == 0 || strcmp(cmd, "--config") == 0) {
        const char *path = NULL;
        int i = strcmp(cmd, "serve") == 0 ? 2 : 1;
        for (; i < argc; i++) {
            if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
                path = argv[++i];
            else {
                usage(stderr);
                return 2;
            }
        }
        return cmd_serve(path);
    }
    if (strcmp(cmd, "config") == 0 && argc == 4 && strcmp(argv[2], "check") == 0) {
        struct cfg *c = load_config(argv[3]);
        if (!c)
            return 1;
        printf("%s: ok (%zu site(s), %zu key(s)%s)\n", argv[3], c->nsites, c->nkeys,
               c->test_keys ? ", public test keys loaded" : "");
        cfg_swap(c);
        cfg_swap(NULL);
        return 0;
    }
    if (strcmp(cmd, "spool") == 0 && argc >= 4 && strcmp(argv[2], "import") == 0) {
        const char *path = getenv("MODGATE_CONFIG"), *file = NULL;
        for (int i = 3; i < argc; i++) {
            if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
                path = argv[++i];
            else if (!file)
                file = argv[i];
            else {
                usage(stderr);
                return 2;
            }
        }
        if (!path || !file) {
            usage(stderr);
            return 2;
        }
        struct cfg *c = load_config(path);
        if (!c)
            return 2;
        log_set(c->log_level, c->log_format);
        store_configure(c);
        sentinel_start(c, 0);
        cluster_start(c, 0);
        cfg_swap(c); /* current: the import reads each site's held-queue cap */
        if (store_start() != 0)
            return 1;
        int rc = spool_import(file);
        store_stop();
        cfg_swap(NULL);
        return rc == 0 ? 0 : 1;
    }
    if (strcmp(cmd, "keygen") == 0) {
        const char *site = NULL, *role = NULL;
        for (int i = 2; i + 1 < argc; i += 2) {
            if (strcmp(argv[i], "--site") == 0)
                site = argv[i + 1];
            else if (strcmp(argv[i], "--role") == 0)
                role = argv[i + 1];
        }
        if (!site || !role || argc != 6) {
            usage(stderr);
            return 2;
        }
        return auth_keygen(site, role) == 0 ? 0 : 2;
    }
    if (strcmp(cmd, "learn") == 0)
        return cmd_model(argc, argv, 2, "learn");
    if (strcmp(cmd, "model") == 0 && argc >= 3 && (strcmp(argv[2], "export") == 0 || strcmp(argv[2], "import") == 0))
        return cmd_model(argc, argv, 3, argv[2]);
    if (strcmp(cmd, "model") == 0 && argc >= 3 && strcmp(argv[2], "build") == 0)
        return eval_model_build(argc - 2, argv + 2);
    if (strcmp(cmd, "eval") == 0)
        return eval_main(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("modgate %s\n", MODGATE_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 2;
}
