/* spool.c - held comments waiting for Redis: a queue in memory, and a
 * journal file that every comment is written to (and synced) before the
 * client is told it is pending, so that not even a crash loses one. */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "reply.h"
#include "store.h"
#include "util.h"

struct item {
    struct item *next;
    char *site, *id, *response, *body;
    long ttl_s;
    int64_t created_ms;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct item *head, *tail;
static size_t depth;
static int running, quit;
static pthread_t thr;
static char dir[512];
static int retry;
/* The journal, under mu: every comment added since the spool was last
 * empty, one JSONL line each (the dump format). Emptied whenever the
 * queue is, so it never holds much more than is waiting. */
static FILE *journal;
static char jpath[700];
static int journal_failed;   /* a line may be missing: write all leftovers again at stop */

static void dump_item(FILE *f, const struct item *it);

/* Append one comment to the journal and sync it (caller holds mu). */
static void journal_add(const struct item *it)
{
    if (!journal) {
        snprintf(jpath, sizeof jpath, "%s/modgate-spool-%ld.jsonl", dir, (long)getpid());
        journal = fopen(jpath, "a");
        if (!journal) {
            LOG_ERROR(NULL, "spool: cannot write %s: %s; held comments are kept in memory only", jpath,
                      strerror(errno));
            journal_failed = 1;
            return;
        }
    }
    dump_item(journal, it);
    if (fflush(journal) != 0 || fdatasync(fileno(journal)) != 0) {
        if (!journal_failed)
            LOG_ERROR(NULL, "spool: writing %s failed: %s; held comments are kept in memory only", jpath,
                      strerror(errno));
        journal_failed = 1;
    }
}

/* The queue ran empty: so can the journal (caller holds mu). */
static void journal_clear(void)
{
    if (journal && ftruncate(fileno(journal), 0) == 0)
        journal_failed = 0;
}

static void item_free(struct item *it)
{
    free(it->site);
    free(it->id);
    free(it->response);
    free(it->body);
    free(it);
}

int spool_add(const char *site, const char *comment_id, const char *response_json,
              const char *item_json, long ttl_s, int64_t created_ms, size_t max)
{
    pthread_mutex_lock(&mu);
    for (struct item *q = head; q; q = q->next) {
        if (strcmp(q->site, site) == 0 && strcmp(q->id, comment_id) == 0) {
            pthread_mutex_unlock(&mu); /* a CMS retry of a comment already waiting */
            return 0;
        }
    }
    if (depth >= max) {
        pthread_mutex_unlock(&mu);
        return -1;
    }
    struct item *it = xcalloc(1, sizeof *it);
    it->site = xstrdup(site);
    it->id = xstrdup(comment_id);
    it->response = xstrdup(response_json);
    it->body = xstrdup(item_json);
    it->ttl_s = ttl_s;
    it->created_ms = created_ms;
    journal_add(it);
    if (tail)
        tail->next = it;
    else
        head = it;
    tail = it;
    depth++;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    return 0;
}

size_t spool_depth(void)
{
    pthread_mutex_lock(&mu);
    size_t d = depth;
    pthread_mutex_unlock(&mu);
    return d;
}

/* One spooled comment as a line of the dump file: everything needed to
 * store it later (modgate's own key names, see api.md). */
static void dump_item(FILE *f, const struct item *it)
{
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "{\"site\":");
    json_put_str(&b, it->site);
    buf_puts(&b, ",\"id\":");
    json_put_str(&b, it->id);
    buf_printf(&b, ",\"decision_ttl_s\":%ld,\"held_ms\":%lld,\"response\":%s,\"item\":%s}\n", it->ttl_s,
               (long long)it->created_ms, it->response, it->body);
    fputs(b.p, f);
    buf_free(&b);
}

/* Append items to the dump file; returns how many were written. */
static size_t dump(struct item *list, const char *kind, const char *why)
{
    char path[700];
    snprintf(path, sizeof path, "%s/modgate-%s-%ld.jsonl", dir, kind, (long)getpid());
    FILE *f = fopen(path, "a");
    if (!f) { /* the configured place is gone or read-only: /tmp is the last resort */
        LOG_ERROR(NULL, "spool: cannot write %s: %s; trying /tmp", path, strerror(errno));
        snprintf(path, sizeof path, "/tmp/modgate-%s-%ld.jsonl", kind, (long)getpid());
        f = fopen(path, "a");
    }
    size_t n = 0;
    for (struct item *it = list; it && f; it = it->next, n++)
        dump_item(f, it);
    if (f && fclose(f) == 0)
        LOG_ERROR(NULL, "spool: %s; %zu held comments written to %s", why, n, path);
    else
        LOG_ERROR(NULL, "spool: %s, and %s is not writable: %s", why, path, strerror(errno));
    return n;
}

/* store_hold under the site's cap as the config in force has it. The
 * CMS was told this comment is kept, so a full queue evicts even where
 * the site refuses new ones (store.h); evictions are counted. */
static int hold(const char *site, const char *id, const char *response, const char *body, long ttl_s,
                int64_t created_ms, char *err, size_t errlen)
{
    struct cfg *c = cfg_acquire(); /* NULL in `modgate spool import` before a config is current */
    const struct site_cfg *s = c ? cfg_site(c, site, NULL) : NULL;
    int evicted = 0;
    int rc = store_hold(site, id, response, body, ttl_s, created_ms, s ? &s->mod : NULL, &evicted, err, errlen);
    if (evicted > 0)
        metrics_overflow(site, "evicted", evicted);
    cfg_release(c);
    return rc;
}

/* Store items in order until Redis is unreachable; the rest wait for the
 * next round. An item is unlinked only after Redis confirmed it, so a
 * broken connection never loses it. One that Redis refuses outright (an
 * error reply: retrying cannot help) goes to the dump file instead of
 * blocking every comment behind it. */
static int flush_some(void)
{
    int stored = 0;
    for (;;) {
        pthread_mutex_lock(&mu);
        struct item *it = head;
        pthread_mutex_unlock(&mu);
        if (!it)
            return stored;
        char err[160];
        int rc = hold(it->site, it->id, it->response, it->body, it->ttl_s, it->created_ms, err, sizeof err);
        if (rc == -1) {
            LOG_DEBUG(NULL, "spool: %zu held comments still waiting: %s", spool_depth(), err);
            return stored;
        }
        pthread_mutex_lock(&mu);
        head = it->next;
        if (!head) {
            tail = NULL;
            journal_clear();
        }
        depth--;
        pthread_mutex_unlock(&mu);
        if (rc == -2) {
            it->next = NULL;
            dump(it, "refused", err);
        } else {
            stored++;
        }
        item_free(it);
    }
}

static void *flusher(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    while (!quit) {
        if (!head) {
            pthread_cond_wait(&cv, &mu);
            continue;
        }
        pthread_mutex_unlock(&mu);
        int n = flush_some();
        if (n > 0)
            LOG_INFO(NULL, "spool: stored %d held comments that waited for Redis", n);
        pthread_mutex_lock(&mu);
        if (head && !quit) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += retry / 1000;
            ts.tv_nsec += (long)(retry % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&cv, &mu, &ts);
        }
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

/* Spool files left by an earlier process (a crash, or Redis down at its
 * stop) hold held comments no moderator sees yet: say so at start. */
static void warn_leftovers(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[1024];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (strncmp(e->d_name, "modgate-spool-", 14) != 0 || !strstr(e->d_name, ".jsonl") ||
            stat(path, &st) != 0 || st.st_size == 0)
            continue;
        LOG_WARN(NULL, "spool: %s/%s holds held comments of an earlier run; once Redis is up, "
                 "store them with: modgate spool import %s/%s", dir, e->d_name, dir, e->d_name);
    }
    closedir(d);
}

int spool_start(const char *spool_dir, int retry_ms)
{
    snprintf(dir, sizeof dir, "%s", spool_dir && *spool_dir ? spool_dir : ".");
    warn_leftovers();
    retry = retry_ms > 0 ? retry_ms : 500;
    quit = 0;
    if (pthread_create(&thr, NULL, flusher, NULL) != 0)
        return -1;
    running = 1;
    return 0;
}

void spool_stop(void)
{
    if (!running)
        return;
    pthread_mutex_lock(&mu);
    quit = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(thr, NULL);
    running = 0;
    flush_some();
    /* What is left is in the journal already, unless a write failed. */
    if (journal) {
        fclose(journal);
        journal = NULL;
        if (!head)
            unlink(jpath);
    }
    if (!head)
        return;
    if (journal_failed)
        dump(head, "spool", "Redis still down at exit");
    else
        LOG_ERROR(NULL, "spool: Redis still down at exit; %zu held comments are in %s", depth, jpath);
    while (head) {
        struct item *it = head;
        head = it->next;
        item_free(it);
    }
    tail = NULL;
    depth = 0;
}

/* ---------- import ---------- */

int spool_import(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "spool import: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    long stored = 0, present = 0, refused = 0, bad = 0, lineno = 0;
    int unreachable = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (!unreachable && (n = getline(&line, &cap, f)) > 0) {
        lineno++;
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, &je);
        const char *site = json_string_value(json_object_get(o, "site"));
        const char *id = json_string_value(json_object_get(o, "id"));
        json_t *ttl = json_object_get(o, "decision_ttl_s"), *ms = json_object_get(o, "held_ms");
        json_t *resp = json_object_get(o, "response"), *item = json_object_get(o, "item");
        if (!site || !id || !json_is_integer(ttl) || !json_is_integer(ms) || !json_is_object(resp) ||
            !json_is_object(item)) {
            fprintf(stderr, "spool import: %s:%ld: not a spooled comment (%s)\n", path, lineno,
                    o ? "missing or wrong fields" : je.text);
            bad++;
            json_decref(o);
            continue;
        }
        char *rj = json_dumps(resp, JSON_COMPACT | JSON_REAL_PRECISION(6));
        char *ij = json_dumps(item, JSON_COMPACT | JSON_REAL_PRECISION(6));
        char err[160] = "";
        int rc = rj && ij ? hold(site, id, rj, ij, (long)json_integer_value(ttl), (int64_t)json_integer_value(ms),
                                 err, sizeof err)
                          : -2;
        if (rc == 1)
            stored++;
        else if (rc == 0)
            present++;
        else if (rc == -2) {
            fprintf(stderr, "spool import: %s:%ld: %s\n", path, lineno, err[0] ? err : "cannot encode it");
            refused++;
        } else {
            fprintf(stderr, "spool import: stopped at %s:%ld: %s\n", path, lineno, err);
            unreachable = 1;
        }
        free(rj);
        free(ij);
        json_decref(o);
    }
    free(line);
    fclose(f);
    printf("%s: %ld stored, %ld already stored, %ld refused by Redis, %ld unreadable%s\n", path, stored,
           present, refused, bad, unreachable ? "; Redis unreachable, the rest was not tried" : "");
    return unreachable || refused || bad ? -1 : 0;
}
