/* config.h - the service configuration: loaded from one JSON file,
 * validated completely, then read-only and shared by reference.
 *
 * A struct cfg is immutable once cfg_load() returns it. SIGHUP builds a new
 * one and swaps it in (cfg_swap); requests that started with the old one
 * keep it until they call cfg_release(), so a reload never drops or mixes
 * a request. */
#ifndef MODGATE_CONFIG_H
#define MODGATE_CONFIG_H

#include <stddef.h>

#include "bayes.h"
#include "pow.h"
#include "heuristics.h"
#include "verdict.h"

struct json_t;

enum role { ROLE_CMS = 0, ROLE_MODERATOR, ROLE_ADMIN, ROLE_COUNT };

/* The rate-limit buckets of one check, in the order the script sees them. */
enum bucket_kind { BK_IP = 0, BK_PREFIX, BK_AUTHOR, BK_THREAD, BK_SITE, BK_COUNT };

struct bucket_cfg {
    int enabled;
    double capacity;   /* tokens the bucket holds when full (burst) */
    double per_second; /* refill rate */
    char capacity_s[32], per_second_s[32]; /* the same, formatted once for the script */
};

struct api_key {
    unsigned char hash[32]; /* SHA-256 of the key; the key itself is never kept */
    enum role role;
    int site;               /* index into cfg->sites */
    char id[64];            /* a name for logs ("demo-cms"), not secret */
};

/* sites.<name>.bayes: which models the site learns into and reads. */
struct bayes_site_cfg {
    struct bayes_params params;   /* classifier constants; min_learns per class */
    double weight;                /* how much the Bayes log-odds counts in the score */
    int enabled;                  /* 0: /v1/check asks no model (learning still works) */
    char model[65];               /* the model the site learns into (default: its name) */
    char fallback[65];            /* read when 'model' has too few learns; "" = none */
    char starter[65];             /* blended under the model read; "" = none */
    double starter_weight;        /* the starter's strength: pseudo-comments per class; 0 = none */
};

/* The shipped starter model's name in Redis (bayesdb.h), the default of
 * sites.S.bayes.starter. */
#define CFG_BAYES_STARTER "modgate-starter"

/* The default of sites.S.bayes.starter_weight: chosen by cross-validation
 * on the training halves (docs/benchmarks.md, 2025 starter diary). */
#define CFG_STARTER_WEIGHT 50.0

/* sites.<name>.captcha: ALTCHA proof-of-work challenges (see pow.h). */
#define CAPTCHA_MAX_KEYS 4
#define CAPTCHA_MAX_ORIGINS 8
struct captcha_cfg {
    int enabled;                  /* a signing key is configured */
    int nkeys;                    /* keys[0] signs; the others only verify */
    struct pow_key keys[CAPTCHA_MAX_KEYS]; /* secret: zeroed on free */
    int norigins;                 /* CORS: pages allowed to fetch challenges */
    char origins[CAPTCHA_MAX_ORIGINS][256];
    long cost;                    /* PBKDF2 iterations per counter tried */
    long counter_min, counter_max; /* the work: counters the client tries */
    long ttl_s;                   /* a challenge expires this long after issue */
    double band_from, band_to;    /* /v1/check: scores in [from, to) get "challenge" */
    double credit;                /* log-odds a solved challenge takes off the score */
    char client_ip_header[64];    /* challenges: the visitor's IP from this header ("" peer) */
    long max_challenges;          /* per network in this and the previous minute (0: no limit) */
    int test_mode;                /* accept the widget's test-mode payload */
};

/* sites.<name>.form_token: how old a comment form may be (formtoken.h). */
struct form_cfg {
    int required;                 /* a comment without a token gets "form_token_missing" */
    long min_ms, max_s;           /* posted sooner: too fast; later: too old */
    double too_fast, too_old, invalid, missing; /* the reasons' contributions */
};

/* sites.<name>.moderation: the queue (queue.h) and what actions teach. */
struct moderation_cfg {
    long retention_days;          /* decided comments are deleted this long after */
    long audit_days;              /* audit log entries kept this long */
    long events_days;             /* the CMS's changes feed keeps this long */
    int learn_on_approve;         /* approve teaches ham (ham always does) */
    int learn_on_reject;          /* reject teaches spam (spam always does) */
    long max_held;                /* held comments the queue keeps at most (0: no cap) */
    int on_full_refuse;           /* at max_held: 1 refuse the new comment ("refuse"),
                                     0 move the held one with the highest score to
                                     spam ("evict"); see queue.h */
};

/* sites.<name>.coral: Coral's external moderation phase (coral.h). A
 * secret is Coral's whole signing secret ("empsec_<hex>"): Coral keys its
 * HMAC with the string as it is, not with bytes decoded from the hex. */
#define CORAL_MAX_SECRETS 4
/* A named HMAC secret (Coral's, a webhook's): several during a rotation. */
struct hmac_secret {
    char id[32];                  /* a name for logs, not secret */
    struct hmac_key key;          /* the secret, prepared: zeroed on free */
};
struct coral_cfg {
    int enabled;                  /* secrets are configured */
    int nsecrets;                 /* any of them may sign (rotation) */
    struct hmac_secret secrets[CORAL_MAX_SECRETS];
    int held_premod;              /* hold answers PREMOD, not SYSTEM_WITHHELD */
};

/* sites.<name>.akismet: how the Akismet-compatible API (integrations/
 * akismet.c) words modgate's decisions. */
struct akismet_cfg {
    int held_spam;                /* hold and challenge answer "true" (1) or
                                     "false" with X-akismet-error (0, "pending") */
    double discard_score;         /* a reject at or above it adds "discard" */
};

/* sites.<name>.trust: commenter reputation (api.md 3.1, "Reputation").
 * 0 turns a rule off. */
struct trust_cfg {
    long approved_to_trust;       /* approved comments that make an author trusted */
    double trusted_max_score;     /* trust publishes a hold or challenge up to this score */
    long new_commenter_hold;      /* hold an author's comments until this many were approved */
    double max_rejection_rate;    /* hold an author or network rejected more than this ... */
    long window_days;             /* ... over this many days (also: "recent" spam) */
    long min_decisions;           /* ... once it has this many decisions in the window */
    int count_automatic;          /* modgate's own accepts and rejects count too */
    double automatic_max_score;   /* an accept counts as approved at or below this score */
    int trust_email;              /* trust lifts authors known by e-mail address too */
    char max_rate_s[32];          /* max_rejection_rate as the check script gets it */
};

/* sites.<name>.webhooks (api.md 2.17): where modgate tells the CMS, signed. */
#define WEBHOOKS_MAX 4
#define WEBHOOK_SECRETS_MAX 4
enum { HOOK_HELD = 1, HOOK_DECIDED = 2, HOOK_REPORTED = 4, HOOK_AUTHOR = 8 };
struct webhook_cfg {
    char id[32];
    char url[512];                /* http:// or https:// (policy may change it) */
    unsigned events;              /* HOOK_* (policy may change them) */
    long timeout_ms;
    int nsecrets;                 /* each signs: "v1=" once per secret (rotation) */
    struct hmac_secret secrets[WEBHOOK_SECRETS_MAX];
};

/* The event names of a HOOK_* set, comma-separated, into out. */
void webhook_events_csv(unsigned events, char *out, size_t outlen);

/* Pre-moderation (api.md 3.1): none, new commenters, comments with links,
 * every comment. */
enum premod { PREMOD_NONE = 0, PREMOD_NEW, PREMOD_LINKS, PREMOD_ALL };

/* "none", "new", "links", "all". Never NULL. */
const char *premod_name(enum premod p);

/* Parse a premod name. Returns 0 and sets *out, or -1 if unknown. */
int premod_parse(const char *s, enum premod *out);

struct site_cfg {
    char name[65];
    struct thresholds th;
    double prior;                 /* score of a comment no rule fires on */
    enum decision redis_down;     /* decision while Redis is unreachable */
    long decision_ttl_s;          /* how long a comment id's decision is replayed */
    struct bucket_cfg buckets[BK_COUNT];
    struct bucket_cfg api;        /* per API key, guards the API itself */
    long bucket_epoch_s;          /* 4 x the longest refill of any enabled
                                     bucket, whole seconds (>= 4, <= 10 years):
                                     see store.c */
    struct heur_config heur;      /* word lists point at blocked/suspect below */
    wordlist *blocked;
    wordlist *suspect;
    int dup_enabled;
    long dup_window_s;            /* duplicates counted within this window */
    int dup_min_sources;          /* distinct IPs or authors that make a duplicate */
    size_t dup_min_chars;         /* shorter normalised bodies are never duplicates */
    struct bayes_site_cfg bayes;
    struct captcha_cfg captcha;
    struct form_cfg form;         /* needs captcha keys: its key is made from them */
    struct moderation_cfg mod;
    struct coral_cfg coral;
    struct akismet_cfg akismet;
    int shadow;                   /* answer accept whatever the decision (shadow mode) */
    enum premod premod;           /* hold these before anyone reads them */
    struct trust_cfg trust;
    int nwebhooks;
    struct webhook_cfg webhooks[WEBHOOKS_MAX];
    long report_threshold;        /* reports.threshold: distinct readers that queue a comment */
    int report_hide;              /* reports.hide: the event tells the CMS to hide it */
    int closed;                   /* reject every new comment (reason thread_closed) */
    /* The policy in force (policy.h): 0 = the config file's, else the
     * version stored in Redis, set by 'policy_by' at 'policy_at_ms'. */
    long policy_version;
    char policy_by[64];
    long long policy_at_ms;
    int policy_stored;            /* 1: a stored policy is laid over the file's */
    struct json_t *src;           /* this site's object in root (borrowed) */
};

/* Where Redis is, parsed from redis.url / MODGATE_REDIS_URL. */
struct redis_target {
    char host[256];
    int port;
    char sock[256];   /* unix socket path, or "" */
    char user[128];
    char pass[256];   /* secret: never logged */
    int db;
};

/* A server's "host:port" ("[v6]:port"), parsed. */
struct hostport {
    char host[256];
    int port;
};

/* Parse "host:port" or "[v6]:port" (the last ':' splits, so a bare IPv6
 * address with its port, as Redis writes it in MOVED, works too). Returns
 * 0, or -1 for no host, a port not in 1-65535 or a host of 256 bytes or
 * more or with a space. */
int cfg_hostport(const char *s, char host[256], int *port);

/* redis.sentinel / MODGATE_REDIS_SENTINELS: where the sentinels are that
 * name the master (service/redis/sentinel.h). master "" : none. */
#define SENTINEL_MAX_NODES 8
struct sentinel_cfg {
    char master[128];
    int nnodes;
    struct hostport node[SENTINEL_MAX_NODES];
    char pass[256];   /* the sentinels' own password (secret), or "" */
};

/* redis.cluster / MODGATE_REDIS_CLUSTER: nodes of a Redis Cluster to
 * learn the slot map from (service/redis/cluster.h). nnodes 0: none. */
#define CLUSTER_MAX_SEEDS 8
struct cluster_cfg {
    int nnodes;
    struct hostport node[CLUSTER_MAX_SEEDS];
};

struct cfg {
    _Atomic long refs;            /* see cfg_acquire */
    char listen_host[64];
    int listen_port;
    char redis_url[512];          /* secret-bearing: never logged whole */
    struct redis_target redis;    /* redis_url, parsed */
    struct sentinel_cfg sentinel; /* redis.sentinel: its master's address replaces redis's host and port */
    struct cluster_cfg cluster;   /* redis.cluster: the slot map's masters replace redis's host and port */
    int redis_connect_timeout_ms;
    int redis_command_timeout_ms;
    int redis_retry_ms;           /* after a failed connect, wait this long */
    int redis_connections;        /* pipelined connections (lanes), 1-8 */
    int redis_min_replicas_acked; /* WAIT for this many replicas before "stored" (0: no wait) */
    int threads;
    size_t max_body;
    size_t header_buffer;     /* libmicrohttpd's memory per connection */
    size_t max_header_bytes;      /* request line + headers; more gets 431 */
    int max_connections;
    int max_connections_per_ip;   /* 0: no cap */
    int connection_timeout_s;
    int request_timeout_s;        /* a whole request (head and body) must arrive within this */
    int shutdown_grace_s;
    int use_epoll;                /* http.event_loop: 1 epoll, 0 poll (the default) */
    int log_level;
    int log_format;               /* LOG_FMT_TEXT or LOG_FMT_JSON (log.h) */
    size_t spool_max;             /* held comments kept in memory while Redis is down */
    size_t nsites;
    struct site_cfg *sites;
    size_t nkeys;
    struct api_key *keys;
    int test_keys;                /* how many documented public test keys are loaded */
    char path[1024];              /* the file it came from */
    struct json_t *file_root;     /* the file as read: policies are laid over it */
    struct json_t *root;          /* what was parsed: file_root with the policies */
};

/* Load and validate 'path', then apply the MODGATE_LISTEN and
 * MODGATE_REDIS_URL environment overrides. Returns a new cfg with one
 * reference, or NULL with a one-line reason naming the field in 'err'. */
struct cfg *cfg_load(const char *path, char *err, size_t errlen);

/* Take a reference to the current config (never NULL once cfg_swap has
 * been called). Pair with cfg_release(). */
struct cfg *cfg_acquire(void);
void cfg_release(struct cfg *c);

/* Make 'c' current (steals the caller's reference); the old one is freed
 * when its last user releases it. */
void cfg_swap(struct cfg *c);

/* The site named 'name' or NULL. Borrowed from 'c'. */
const struct site_cfg *cfg_site(const struct cfg *c, const char *name, int *index);

/* A site's policy (api.md 2.10): the fields of its config object an
 * admin may change at run time, as a document of the same shape. */
struct cfg_policy {
    const char *site;
    struct json_t *doc;           /* borrowed; NULL: the config file's */
    long version;
    const char *by;
    long long at_ms;
};

/* Does 'doc' name only policy fields, each of the right JSON type at the
 * top? Returns 0, or -1 with "field: why" in 'err'. The values are checked
 * by cfg_with_policies. */
int cfg_policy_check(struct json_t *doc, char *err, size_t errlen);

/* 'base''s file with 'n' policies laid over its sites (each replaces the
 * sections it names; "captcha" and "bayes" field by field, since their
 * keys and model names stay the file's), validated as a whole. A new cfg
 * with one reference, or NULL with "sites.SITE.field: why" in 'err'. */
struct cfg *cfg_with_policies(const struct cfg *base, size_t n, const struct cfg_policy *p, char *err,
                              size_t errlen);

/* Every policy field of site 's' with its value in force, defaults
 * included (new reference). */
struct json_t *cfg_policy_json(const struct site_cfg *s);

const char *role_name(enum role r);
const char *bucket_name(enum bucket_kind k);

#endif
