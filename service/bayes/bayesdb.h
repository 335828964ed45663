/* bayesdb.h - the Bayes models: kept in Redis, shared by every instance,
 * and held in memory by each instance for /v1/check.
 *
 * A model has a name: a site learns into its own (named like the site
 * unless sites.S.bayes.model says otherwise) and may read a shared
 * fallback. Every change is one Lua script (learn, unlearn, raw counts)
 * that also appends the new absolute counts to the model's event stream;
 * a sync thread with its own Redis connection loads each model in use and
 * follows the streams, so every instance's copy stays current within one
 * stream wake-up. Classifying never touches Redis. The key schema is
 * documented at the top of bayesdb.c and in api.md section 6. */
#ifndef MODGATE_BAYESDB_H
#define MODGATE_BAYESDB_H

#include <stddef.h>
#include <stdint.h>

#include "bayes.h"
#include "config.h"
#include "model.h"
#include "store.h"
#include "tokenize.h"

/* ---------- serving ---------- */

/* Start the sync thread for the models the sites of 'c' use (their own
 * and their fallbacks) and load them in the background: a check never
 * waits for it (a model not loaded yet has no opinion). Call after
 * store_configure. Returns 0, or -1 if the thread cannot start. */
int bayesdb_start(const struct cfg *c);

/* After a reload: the models 'c' uses (new ones are loaded, unused ones
 * dropped) and its Redis settings (the sync thread reconnects when they
 * changed). 'c' is only read during the call. */
void bayesdb_configure(const struct cfg *c);

/* Stop the sync thread and free every model. Call after http_stop: a
 * learn request waiting for its change to arrive is answered first. */
void bayesdb_stop(void);

/* Classify the tokens 'tl' for 'site'. The model read is its own once
 * both classes have site->bayes.params.min_learns learned comments of its
 * own; before that its fallback if that has enough, else its own anyway.
 * Its starter (bayes.starter) is blended under the model read at
 * bayes.starter_weight pseudo-comments per class (model_blend_scale), and
 * the blend must have min_learns per class, else no opinion
 * (out->opinion 0). *model_used is the model read (borrowed from 'site')
 * or NULL when there is no opinion. No I/O,
 * thread-safe, a few microseconds: it runs on every check. Returns 0, or
 * -1 (no opinion) when Bayes is disabled for the site. */
int bayesdb_classify(const struct site_cfg *site, const tok_list *tl, struct bayes_result *out,
                     const char **model_used);

/* What a check of 'site' reads now (GET /v1/sites/S/model). */
struct bayesdb_reading {
    const char *model;       /* the model read (borrowed from the site) */
    int starter_read;        /* 1: its starter is loaded and blended in */
    double scale_spam, scale_ham; /* the starter's counts are read times these */
    double nspam, nham;      /* the blend's class totals */
    int opinion;             /* 1: a check gets a Bayes opinion */
    struct bayes_calib calib; /* the calibration a check uses */
    const char *calib_from;  /* whose: "site" (the read model's fit), "import"
                                (stored with it), "starter", "default" (static) */
    long long labels_spam, labels_ham; /* the read model's calibration entries */
};

/* Fill 'out' for 'site' as bayesdb_classify would read. Memory only. */
void bayesdb_reading(const struct site_cfg *site, struct bayesdb_reading *out);

/* ---------- sources (api.md 3.4) ---------- */

/* Every learned comment has a source: "site" (the site's own moderators,
 * the queue, Akismet, Coral) or a name given to a learn or an import,
 * 1 to BAYESDB_SOURCE_MAX characters of a-z 0-9 - _. Within each class
 * no source weighs more than the site's own labels once the site has
 * bayes.min_learns of them (model_balance). A model has at most
 * BAYESDB_MAX_SOURCES sources, "site" included: each costs every check one
 * table lookup per token (the learn script refuses one more; its
 * MAX_SOURCES is the same number). */
#define BAYESDB_SOURCE_MAX 32
#define BAYESDB_MAX_SOURCES 16
#define BAYESDB_SITE_SOURCE "site"

/* 1 when 's' is a valid source name, else 0. */
int bayesdb_source_valid(const char *s);

/* One source of a model, as a check reads it. */
struct bayesdb_source {
    char name[BAYESDB_SOURCE_MAX + 1];
    uint64_t nspam, nham;    /* its learned comments per class */
    size_t tokens;           /* tokens with a count in its table */
    double factor_spam, factor_ham; /* its counts are read times these */
};

/* The sources this instance holds of 'model' ("site" first, then the
 * others in the order they were loaded), with the factors a reader with
 * 'min_learns' applies, into out[0..max-1]. Returns how many there are (0
 * when the model is not held or not loaded). Memory only. */
size_t bayesdb_sources(const char *model, long min_learns, struct bayesdb_source *out, size_t max);

/* ---------- learning ---------- */

enum bayesdb_op { BAYESDB_LEARN = 0, BAYESDB_UNLEARN };

struct bayesdb_learn_res {
    int rc;                  /* 0 done; -1 Redis unavailable or failing (error says
                                why; nothing may be assumed learned); -2 the model
                                was learned with another tokenizer (tok_version);
                                -3 a new source would be one more than
                                BAYESDB_MAX_SOURCES (nothing changed) */
    char changed[12];        /* "learned", "moved", "unchanged", "unlearned" */
    char label[8];           /* learn: the label now; unlearn: the label it had
                                ("" when it was not learned) */
    char source[BAYESDB_SOURCE_MAX + 1]; /* the source of that label ("" with no label) */
    long long nspam, nham;   /* the model's totals after the change */
    long long seq;           /* the model's change counter after it */
    int tok_version;         /* rc -2: the model's tokenizer version */
    char error[160];
};

/* Calibration entries (fingerprint -> raw score before the learn, label)
 * kept per model: the newest this many (bayes.h; bayesdb.c,
 * "calibration"). */
#define BAYESDB_CALIB_MAX BAYES_CALIB_KEEP

/* Room for a raw score as the learn scripts take it ("%.17g" and NUL). */
#define BAYESDB_Z_LEN 32

/* The raw score z the read of 'site' gives the comment 'tl' now, as text
 * for a learn script, into 'z' (BAYESDB_Z_LEN bytes): "" when it has no
 * opinion (then no calibration entry is recorded). Call it before the
 * learn is sent: a score of a comment the model has not learned. */
void bayesdb_learn_z(const struct site_cfg *site, const tok_list *tl, char *z);

/* Learn the comment whose tokens are 'tl' as 'label' into model 'model'
 * (op BAYESDB_LEARN), or take it back out (BAYESDB_UNLEARN; 'label' is
 * ignored), without waiting: 'res' is filled, then 'done(arg)' is called
 * (see store_check_async for where and when). One script on the store's
 * pipelined lanes, bounded by redis.command_timeout_ms. Learning the same
 * token set twice counts once; with the other label it moves. 'source'
 * (NULL or "site": the site's own) is the source it is learned as:
 * learning it under another source than it was learned under moves it
 * there exactly; an unlearn takes it out of the source it is in, whatever
 * 'source' says. 'fp' is tok_fingerprint(tl). 'z' (bayesdb_learn_z, "" or
 * NULL: none): a new comment's calibration entry, recorded in the same
 * script. 'tl' is only read during the call. */
void bayesdb_learn_async(const char *model, const char *source, const tok_list *tl, const char *fp,
                         enum bayesdb_op op, enum model_class label, const char *z,
                         struct bayesdb_learn_res *res, store_done_fn done, void *arg);

/* Read-your-writes: wait until this instance's copy of 'model' has applied
 * change 'seq'. Returns 1 when it has (or will not: the model is not held
 * here or the sync thread is not connected), without calling 'done'.
 * Otherwise returns 0 and calls 'done(arg)' once, from the sync thread,
 * when it has, after 'timeout_ms', or at bayesdb_stop. */
int bayesdb_wait_async(const char *model, long long seq, int timeout_ms, store_done_fn done, void *arg);

/* ---------- inspection ---------- */

struct bayesdb_info {
    int held;                /* 1: this instance keeps the model (it is in use) */
    int loaded;              /* 1: loaded from Redis at least once */
    uint64_t nspam, nham;    /* learned comments per class */
    size_t tokens;           /* tokens with a count */
    size_t bytes;            /* memory the in-memory table takes */
    long long seq;           /* the change applied last */
    int tok_version;         /* of the stored model; 0 when it has none yet */
    int synced;              /* 1: the sync thread is connected and was current
                                within the last 2 s */
    long long sync_age_ms;   /* since it last knew the model current; -1 never */
};

/* What this instance holds of 'model'. Memory only, thread-safe. */
void bayesdb_info(const char *model, struct bayesdb_info *out);

/* ---------- the command line ---------- */

/* modgate learn: learn every line of the JSONL file 'path' (objects with
 * "body", optional "label" and "author": {"url"}) into site 'site's model
 * with the same script as the API, many calls in flight at once. 'label'
 * "spam"/"ham" overrides the lines' own; NULL uses them. 'rate' > 0: at
 * most that many comments per second (0: as fast as Redis answers).
 * 'source' (--source) is the comments' source; NULL: "site". Prints one JSON summary line to stdout, problems to stderr. Returns 0
 * when every line was learned or unchanged, 1 otherwise, 2 on bad usage. */
int bayesdb_cli_learn(const struct cfg *c, const struct site_cfg *site, const char *label, const char *path,
                      double rate, const char *source);

/* modgate model export: the site's model as JSON lines to stdout (header,
 * tokens, learned comments; api.md section 7). The token lines and the
 * header's totals are the source "site"'s; learned comments of another
 * source carry it in "src". Returns 0 or 1. */
int bayesdb_cli_export(const struct cfg *c, const struct site_cfg *site);

/* modgate model import: replay an export's learned comments through the
 * learn script (exact and idempotent), and add token counts the file has
 * beyond them as raw counts; 'rate' as for bayesdb_cli_learn. 'source'
 * (--source) imports the whole file as that source; NULL: each comment
 * as its "src" ("site" without one), the token lines as "site". Returns 0
 * or 1. */
int bayesdb_cli_import(const struct cfg *c, const struct site_cfg *site, const char *path, double rate,
                       const char *source);

/* ---------- the shipped starter model ---------- */

/* Its name in Redis, and what sites.S.bayes.starter names by default. */
#define BAYESDB_STARTER "modgate-starter"

/* The shipped starter, compiled in by the Makefile: `modgate model build
 * --balanced` over tests/data/ (export format, api.md section 7), bytes
 * begin..end (empty in the build tool that makes it). */
extern const char bayesdb_starter_begin[], bayesdb_starter_end[];

/* Each model's event stream is trimmed to about this many entries. */
#define BAYESDB_STREAM_MAXLEN 5000

#endif
