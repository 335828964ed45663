/* spool.c - held comments waiting for Redis: a queue in memory, and a
 * journal file that every comment is written to (and synced) before the
 * client is told it is pending, so that not even a crash loses one.
 *
 * Several instances may share the spool directory. Each holds an
 * exclusive flock on its journal for as long as it runs, so a journal
 * whose lock can be taken belongs to no live instance: at start, and
 * every SCAN_INTERVAL_MS after, an instance takes such journals over
 * (see takeover). Every file here holds comment bodies, author ids and
 * IPs: all are created 0600, never through a symlink. */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "counters.h"
#include "log.h"
#include "reply.h"
#include "store.h"
#include "util.h"

/* Comments stored per round: all are sent in one write and answered in
 * one round trip (store_hold_many). A hold script runs for about 50-70 us
 * in Redis, so a batch costs Redis some 6-9 ms, which is also what a
 * check queued behind it on the same lane may wait; the check script
 * caps itself at 64 checks a call for the same reason. At this size a
 * backlog of 10,000 is some 80 round trips. */
#define SPOOL_BATCH 128

/* How often the flusher looks for journals of instances that died. A
 * dead instance's comments are safe on disk meanwhile; this only bounds
 * how long they wait to be stored (the directory is small: one journal
 * per instance). */
#define SCAN_INTERVAL_MS 10000

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
/* This instance's part of its file names: the PID and 64 random bits,
 * so that a PID used again (PID 1 in every container) never names the
 * file of an instance that ran before. Set once by spool_start. */
static char tag[40];
/* The journal, under mu: every comment added since the spool was last
 * empty, one JSONL line each (the dump format). Emptied whenever the
 * queue is, so it never holds much more than is waiting. Locked
 * (flock LOCK_EX) from its creation to its close. */
static FILE *journal;
static char jpath[700];
static int journal_failed;   /* a line may be missing: write all leftovers again at stop */
/* The private directory in /tmp the dump files fall back to, made
 * (mkdtemp, 0700) the first time one is needed; "" until then. Used by
 * the flusher, and by spool_start and spool_stop while it is not
 * running: one thread at a time. */
static char tmpdir[64];

static void dump_item(FILE *f, const struct item *it);

/* ---------- files ---------- */

/* Open 'path' for appending, created 0600 whatever the umask, never
 * through a symlink, and with 'excl' only if it does not exist yet.
 * Returns a new FILE, or NULL with errno set. */
static FILE *open_private(const char *path, int excl)
{
    int fd = open(path, O_CREAT | O_APPEND | O_WRONLY | O_CLOEXEC | O_NOFOLLOW | (excl ? O_EXCL : 0), 0600);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "a");
    if (!f || fchmod(fd, 0600) != 0) { /* fchmod: a umask such as 0277 must not leave it 0400 */
        int e = errno;
        if (f)
            fclose(f);
        else
            close(fd);
        errno = e;
        return NULL;
    }
    return f;
}

/* Flush, sync and close 'f'. Returns 0 when everything is on disk. */
static int close_synced(FILE *f)
{
    int ok = fflush(f) == 0 && fdatasync(fileno(f)) == 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Open this instance's file of 'kind' ("refused", "spool") in the
 * private /tmp directory, when the spool directory failed: /tmp is
 * everybody's, and a predictable name there could be a link someone
 * planted. Fills 'path'. Returns a new FILE or NULL. */
static FILE *open_fallback(const char *kind, char *path, size_t len)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/modgate-XXXXXX");
        if (!mkdtemp(tmpdir)) {
            snprintf(path, len, "/tmp/modgate-XXXXXX");
            tmpdir[0] = '\0';
            return NULL;
        }
    }
    snprintf(path, len, "%s/modgate-%s-%s.jsonl", tmpdir, kind, tag);
    return open_private(path, 0);
}

/* Write up to 'n' items of 'list' to 'f'; returns how many. */
static size_t write_items(FILE *f, const struct item *list, size_t n)
{
    size_t k = 0;
    for (const struct item *it = list; it && k < n; it = it->next, k++)
        dump_item(f, it);
    return k;
}

/* Append up to 'n' items of 'list' to this instance's 'kind' file in the
 * spool directory, or in the private /tmp directory if that fails, synced,
 * and log where they went and 'why'. Returns 0 when they are on disk. */
static int dump(const struct item *list, size_t n, const char *kind, const char *why)
{
    char path[700];
    snprintf(path, sizeof path, "%s/modgate-%s-%s.jsonl", dir, kind, tag);
    FILE *f = open_private(path, 0);
    if (!f) { /* the configured place is gone or read-only: /tmp is the last resort */
        LOG_ERROR(NULL, "spool: cannot write %s: %s; trying a private directory in /tmp", path, strerror(errno));
        f = open_fallback(kind, path, sizeof path);
    }
    size_t k = f ? write_items(f, list, n) : 0;
    if (f && close_synced(f) == 0) {
        LOG_ERROR(NULL, "spool: %s; %zu held comments written to %s", why, k, path);
        return 0;
    }
    LOG_ERROR(NULL, "spool: %s, and %s is not writable: %s", why, path, strerror(errno));
    return -1;
}

/* ---------- the journal ---------- */

/* Create and lock this instance's journal (caller holds mu). It is made
 * under a name no instance looks at and renamed into place once locked:
 * otherwise another instance could lock the new, empty file first, take
 * it for a dead one's and unlink it under us. Returns 0 or -1. */
static int journal_open(void)
{
    char tmp[720];
    snprintf(jpath, sizeof jpath, "%s/modgate-spool-%s.jsonl", dir, tag);
    snprintf(tmp, sizeof tmp, "%s/.modgate-spool-%s.jsonl.new", dir, tag);
    FILE *f = open_private(tmp, 1);
    if (f && flock(fileno(f), LOCK_EX | LOCK_NB) == 0 && rename(tmp, jpath) == 0) {
        journal = f;
        return 0;
    }
    int e = errno;
    if (f) {
        unlink(tmp);
        fclose(f);
    }
    if (!journal_failed)
        LOG_ERROR(NULL, "spool: cannot write %s: %s; held comments are kept in memory only", jpath, strerror(e));
    journal_failed = 1;
    return -1;
}

/* Sync what was written to the journal (caller holds mu). Returns 0 or
 * -1 (then a line may be missing: journal_failed). */
static int journal_sync(void)
{
    if (fflush(journal) == 0 && fdatasync(fileno(journal)) == 0)
        return 0;
    if (!journal_failed)
        LOG_ERROR(NULL, "spool: writing %s failed: %s; held comments are kept in memory only", jpath,
                  strerror(errno));
    journal_failed = 1;
    return -1;
}

/* Append one comment to the journal and sync it (caller holds mu). */
static void journal_add(const struct item *it)
{
    if (!journal && journal_open() != 0)
        return;
    dump_item(journal, it);
    journal_sync();
}

/* The queue ran empty: so can the journal (caller holds mu). */
static void journal_clear(void)
{
    if (journal && ftruncate(fileno(journal), 0) == 0)
        journal_failed = 0;
}

/* At a stop with comments left that the journal may lack (a write
 * failed): write them all to a new file and rename it over the journal,
 * while the journal's lock is still held, so that another instance takes
 * over either the old journal or the whole new one, never half of it.
 * Failing that, they go to the private /tmp directory. */
static void journal_rewrite(void)
{
    char tmp[720];
    snprintf(jpath, sizeof jpath, "%s/modgate-spool-%s.jsonl", dir, tag);
    snprintf(tmp, sizeof tmp, "%s/.modgate-spool-%s.jsonl.new", dir, tag);
    FILE *f = open_private(tmp, 1);
    size_t k = f ? write_items(f, head, SIZE_MAX) : 0;
    if (f && close_synced(f) == 0 && rename(tmp, jpath) == 0) {
        LOG_ERROR(NULL, "spool: Redis still down at exit; %zu held comments written to %s", k, jpath);
        return;
    }
    LOG_ERROR(NULL, "spool: cannot write %s: %s; trying a private directory in /tmp", jpath, strerror(errno));
    if (f)
        unlink(tmp);
    char path[700];
    f = open_fallback("spool", path, sizeof path);
    k = f ? write_items(f, head, SIZE_MAX) : 0;
    if (f && close_synced(f) == 0)
        LOG_ERROR(NULL, "spool: Redis still down at exit; %zu held comments written to %s", k, path);
    else
        LOG_ERROR(NULL, "spool: Redis still down at exit, and %s is not writable: %s; %zu held comments lost",
                  path, strerror(errno), depth);
}

/* ---------- the queue ---------- */

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

/* ---------- recently stored (Sentinel: spool.h) ---------- */

struct recent {
    struct item it;
    int64_t at_ms;         /* mono_ms when it was answered stored */
};

static pthread_mutex_t rmu = PTHREAD_MUTEX_INITIALIZER;
static struct recent *ring;
static size_t rcap, rnext, rcount;

static _Atomic int recent_on;

void spool_recent_keep(size_t cap)
{
    pthread_mutex_lock(&rmu);
    if (!ring && cap) {
        ring = xcalloc(cap, sizeof *ring);
        rcap = cap;
        atomic_store(&recent_on, 1);
    }
    pthread_mutex_unlock(&rmu);
}

int spool_recent_kept(void)
{
    return atomic_load(&recent_on);
}

static void recent_clear(struct recent *r)
{
    free(r->it.site);
    free(r->it.id);
    free(r->it.response);
    free(r->it.body);
    memset(r, 0, sizeof *r);
}

void spool_recent(const char *site, const char *comment_id, const char *response_json, const char *item_json,
                  long ttl_s, int64_t created_ms)
{
    pthread_mutex_lock(&rmu);
    if (ring) {
        struct recent *r = &ring[rnext];
        recent_clear(r);
        r->it.site = xstrdup(site);
        r->it.id = xstrdup(comment_id);
        r->it.response = xstrdup(response_json);
        r->it.body = xstrdup(item_json);
        r->it.ttl_s = ttl_s;
        r->it.created_ms = created_ms;
        r->at_ms = mono_ms();
        rnext = (rnext + 1) % rcap;
        if (rcount < rcap)
            rcount++;
    }
    pthread_mutex_unlock(&rmu);
}

size_t spool_recent_replay(int64_t window_ms)
{
    size_t n = 0;
    int64_t from = mono_ms() - window_ms;
    pthread_mutex_lock(&rmu);
    for (size_t k = 0; k < rcount; k++) {
        struct recent *r = &ring[(rnext + rcap - rcount + k) % rcap];
        /* past spool_max if need be, as at a takeover: these were acknowledged */
        if (r->at_ms >= from && spool_add(r->it.site, r->it.id, r->it.response, r->it.body, r->it.ttl_s,
                                          r->it.created_ms, (size_t)-1) == 0)
            n++;
    }
    pthread_mutex_unlock(&rmu);
    return n;
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

/* A line of a journal or dump file as an item (new), or NULL with the
 * reason in 'why'. */
static struct item *parse_line(const char *line, size_t n, char *why, size_t whylen)
{
    json_error_t je;
    json_t *o = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
    const char *site = json_string_value(json_object_get(o, "site"));
    const char *id = json_string_value(json_object_get(o, "id"));
    json_t *ttl = json_object_get(o, "decision_ttl_s"), *ms = json_object_get(o, "held_ms");
    json_t *resp = json_object_get(o, "response"), *body = json_object_get(o, "item");
    if (!site || !id || !json_is_integer(ttl) || !json_is_integer(ms) || !json_is_object(resp) ||
        !json_is_object(body)) {
        snprintf(why, whylen, "not a spooled comment (%s)", o ? "missing or wrong fields" : je.text);
        json_decref(o);
        return NULL;
    }
    char *rj = json_dumps(resp, JSON_COMPACT | JSON_REAL_PRECISION(6));
    char *ij = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(6));
    struct item *it = NULL;
    if (rj && ij) {
        it = xcalloc(1, sizeof *it);
        it->site = xstrdup(site);
        it->id = xstrdup(id);
        it->response = rj;
        it->body = ij;
        it->ttl_s = (long)json_integer_value(ttl);
        it->created_ms = (int64_t)json_integer_value(ms);
    } else {
        snprintf(why, whylen, "cannot encode it");
        free(rj);
        free(ij);
    }
    json_decref(o);
    return it;
}

/* ---------- storing ---------- */

/* The site's cap as the config in force has it, for storing a spooled
 * comment ('c' may be NULL in `modgate spool import` before a config is
 * current). The CMS was told such a comment is kept, so a full queue
 * evicts even where the site refuses new ones (store.h). */
static const struct moderation_cfg *cap_of(const struct cfg *c, const char *site)
{
    const struct site_cfg *s = c ? cfg_site(c, site, NULL) : NULL;
    return s ? &s->mod : NULL;
}

/* store_hold under the site's cap; evictions are counted. */
static int hold(const char *site, const char *id, const char *response, const char *body, long ttl_s,
                int64_t created_ms, char *err, size_t errlen)
{
    struct cfg *c = cfg_acquire();
    int evicted = 0;
    int rc = store_hold(site, id, response, body, ttl_s, created_ms, cap_of(c, site), &evicted, err, errlen);
    if (evicted > 0)
        metrics_overflow(site, "evicted", evicted);
    cfg_release(c);
    return rc;
}

/* Store items in order, SPOOL_BATCH at a time, until the spool is empty
 * or Redis is unreachable; the rest wait for the next round. Items are
 * unlinked only after Redis confirmed them, the answered ones before the
 * first it could not be asked for: a broken connection never loses one
 * (one stored after that point is stored again next round, and Redis
 * answers "already there"). One that Redis refuses outright (an error
 * reply: retrying cannot help) goes to the refused file instead of
 * blocking every comment behind it, synced before it leaves the
 * journal. Returns how many were stored. */
static int flush_some(void)
{
    int stored = 0;
    struct item *batch[SPOOL_BATCH];
    struct store_hold_req req[SPOOL_BATCH];
    struct store_hold_res res[SPOOL_BATCH];
    for (;;) {
        int n = 0;
        pthread_mutex_lock(&mu); /* only this thread unlinks: the items stay valid unlocked */
        for (struct item *it = head; it && n < SPOOL_BATCH; it = it->next)
            batch[n++] = it;
        pthread_mutex_unlock(&mu);
        if (n == 0)
            return stored;
        struct cfg *c = cfg_acquire();
        for (int i = 0; i < n; i++)
            req[i] = (struct store_hold_req){ batch[i]->site, batch[i]->id, batch[i]->response, batch[i]->body,
                                              batch[i]->ttl_s, batch[i]->created_ms, cap_of(c, batch[i]->site) };
        store_hold_many(req, n, res);
        /* The answered ones before the first that Redis could not be
         * asked for, or that was refused and cannot be kept in the
         * refused file either (it stays, in the spool and the journal). */
        int done = 0;
        for (; done < n && res[done].rc != -1; done++) {
            if (res[done].rc == -2 && dump(batch[done], 1, "refused", res[done].error) != 0)
                break;
            if (res[done].rc != -2)
                stored++;
            if (res[done].rc == 1 && res[done].evicted > 0)
                metrics_overflow(batch[done]->site, "evicted", res[done].evicted);
        }
        cfg_release(c);
        if (done > 0) {
            pthread_mutex_lock(&mu);
            head = batch[done - 1]->next;
            depth -= (size_t)done;
            if (!head) {
                tail = NULL;
                journal_clear();
            }
            pthread_mutex_unlock(&mu);
            for (int i = 0; i < done; i++)
                item_free(batch[i]);
        }
        if (done < n) {
            LOG_DEBUG(NULL, "spool: %zu held comments still waiting: %s", spool_depth(), res[done].error);
            return stored;
        }
    }
}

/* ---------- taking over the journals of dead instances ---------- */

/* The most a takeover reads into memory from one journal. */
#define TAKEOVER_MAX (256L << 20)

/* Is 'path' named modgate-spool-PID.jsonl (the name before journals were
 * locked, without the random part)? */
static int old_style_name(const char *path)
{
    const char *name = strrchr(path, '/');
    name = name ? name + 1 : path;
    size_t len = strlen(name);
    return len > 14 + 6 && strspn(name + 14, "0123456789") == len - 14 - 6;
}

/* Could file 'name' be a journal of an instance that is gone? Any
 * modgate-spool-*.jsonl but this instance's own. Before journals were
 * locked they were named modgate-spool-PID.jsonl: such a file is taken
 * only when no process of that PID runs here, or when it is ours (a
 * container's PID 1 of an earlier run). */
static int is_journal_name(const char *name)
{
    size_t len = strlen(name);
    if (strncmp(name, "modgate-spool-", 14) != 0 || len < 14 + 6 || strcmp(name + len - 6, ".jsonl") != 0 ||
        strstr(name, tag))
        return 0;
    char digits[24];
    size_t nd = len - 14 - 6;
    if (nd >= sizeof digits || strspn(name + 14, "0123456789") != nd)
        return 1;
    memcpy(digits, name + 14, nd);
    digits[nd] = '\0';
    long pid;
    if (parse_long(digits, 1, 4194304 /* PID_MAX_LIMIT */, &pid) != 0)
        return 1;
    return pid == (long)getpid() || (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
}

/* Read every line of 'f': the comments into a new list at *first (their
 * count returned), the lines that are none into 'bad' (newline-ended),
 * counted in *nbad. Blank lines carry nothing and are skipped. */
static size_t read_journal(FILE *f, const char *path, struct item **first, struct buf *bad, size_t *nbad)
{
    struct item *h = NULL, *t = NULL;
    size_t count = 0, lineno = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == (size_t)n)
            continue;
        char why[200];
        struct item *it = parse_line(line, (size_t)n, why, sizeof why);
        if (!it) {
            if (*nbad < 3) /* the first few say what is wrong; a file of junk needs no line each */
                LOG_WARN(NULL, "spool: %s:%zu: %s; kept in the refused file", path, lineno, why);
            buf_append(bad, line, (size_t)n);
            if (line[n - 1] != '\n')
                buf_puts(bad, "\n");
            (*nbad)++;
            continue;
        }
        if (t)
            t->next = it;
        else
            h = it;
        t = it;
        count++;
    }
    free(line);
    *first = h;
    return count;
}

/* Keep the unreadable lines of a journal in this instance's refused file
 * (the spool directory, or the private /tmp one), synced. 0 or -1. */
static int keep_bad_lines(const struct buf *bad, size_t nbad, const char *from)
{
    char path[700];
    snprintf(path, sizeof path, "%s/modgate-refused-%s.jsonl", dir, tag);
    FILE *f = open_private(path, 0);
    if (!f)
        f = open_fallback("refused", path, sizeof path);
    if (f) {
        int written = fwrite(bad->p, 1, bad->len, f) == bad->len;
        if (close_synced(f) == 0 && written) { /* closes f whatever it returns */
            LOG_ERROR(NULL, "spool: %zu unreadable lines of %s kept in %s", nbad, from, path);
            return 0;
        }
    }
    LOG_ERROR(NULL, "spool: cannot keep the unreadable lines of %s: %s; it stays", from, strerror(errno));
    return -1;
}

/* Take over the journal at 'path' if no live instance holds its lock:
 * append its comments to this instance's journal (synced) and queue
 * them, keep unreadable lines in the refused file, then unlink it. The
 * lock is held until after the unlink, and taken only while 'path' still
 * names the very file opened, so two instances never both take one. A
 * crash in between leaves the comments in both journals: they are stored
 * twice, which Redis answers "already there" the second time. 'loud':
 * say so when it must stay (at start). */
static void takeover(const char *path, int loud)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return;
    struct stat st, now;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        stat(path, &now) != 0 || now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
        close(fd); /* a live instance's, not a file, or taken over meanwhile */
        return;
    }
    /* Only what an instance of ours could have written: its file, by this
     * user, writable by nobody else. Whoever else can put files in the
     * directory must not be able to inject held comments and decisions
     * for any site. Nor a file too large to take in memory at once:
     * `spool import` reads any size, a line at a time. */
    const char *untrusted = st.st_uid != geteuid() ? "another user owns it"
                            : (st.st_mode & (S_IWGRP | S_IWOTH)) ? "others may write it"
                            : st.st_size > TAKEOVER_MAX ? "it is larger than 256 MiB" : NULL;
    if (untrusted) {
        if (loud)
            LOG_WARN(NULL, "spool: not taking over %s: %s; check it, then store it with: modgate spool import %s",
                     path, untrusted, path);
        close(fd);
        return;
    }
    /* A name of the days before journals were locked (modgate-spool-PID)
     * may belong to an older modgate that is still running in another
     * PID namespace (a container sharing the volume): its PID says
     * nothing here. Such a file is taken only once nobody wrote it for a
     * minute; a live instance empties its journal as soon as Redis
     * answers, so one left full that long is an orphan. */
    if (old_style_name(path) && st.st_mtime > time(NULL) - 60) {
        close(fd);
        return;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return;
    }
    struct item *list;
    struct buf bad;
    buf_init(&bad);
    size_t nbad = 0, count = read_journal(f, path, &list, &bad, &nbad);
    /* This instance's journal first: without one the file must stay, and
     * its bad lines must not be kept again at every look. */
    int ok = !ferror(f);
    if (ok && count > 0) {
        pthread_mutex_lock(&mu);
        ok = journal || journal_open() == 0;
        pthread_mutex_unlock(&mu);
    }
    ok = ok && (nbad == 0 || keep_bad_lines(&bad, nbad, path) == 0);
    if (ok && count > 0) {
        /* Past spool_max if need be: these were acknowledged already. */
        pthread_mutex_lock(&mu);
        ok = write_items(journal, list, SIZE_MAX) == count && journal_sync() == 0;
        if (ok) {
            struct item *last = list;
            while (last->next)
                last = last->next;
            if (tail)
                tail->next = list;
            else
                head = list;
            tail = last;
            depth += count;
            list = NULL;
            pthread_cond_signal(&cv);
        }
        pthread_mutex_unlock(&mu);
    }
    if (ok) {
        unlink(path); /* before the lock goes with the close */
        if (count > 0 || nbad > 0)
            LOG_INFO(NULL, "spool: took over %zu held comments from %s%s", count, path,
                     nbad ? " (and kept its unreadable lines)" : "");
    } else if (loud) {
        LOG_WARN(NULL, "spool: cannot take over %s (this instance's journal is not writable); once Redis is "
                 "up, store its comments with: modgate spool import %s", path, path);
    }
    while (list) {
        struct item *it = list;
        list = it->next;
        item_free(it);
    }
    buf_free(&bad);
    fclose(f);
}

/* Take over every journal in the spool directory that no live instance
 * holds (see takeover). */
static void takeover_all(int loud)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_journal_name(e->d_name))
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        takeover(path, loud);
    }
    closedir(d);
}

/* ---------- the flusher ---------- */

/* Wait on cv for at most 'ms' (caller holds mu). */
static void wait_ms(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&cv, &mu, &ts);
}

static void *flusher(void *arg)
{
    (void)arg;
    int64_t next_scan = mono_ms() + SCAN_INTERVAL_MS;
    pthread_mutex_lock(&mu);
    while (!quit) {
        int64_t now = mono_ms();
        if (now >= next_scan) {
            pthread_mutex_unlock(&mu);
            takeover_all(0);
            next_scan = mono_ms() + SCAN_INTERVAL_MS;
            pthread_mutex_lock(&mu);
            continue;
        }
        if (!head) {
            wait_ms((long)(next_scan - now));
            continue;
        }
        pthread_mutex_unlock(&mu);
        int n = flush_some();
        if (n > 0)
            LOG_INFO(NULL, "spool: stored %d held comments that waited for Redis", n);
        pthread_mutex_lock(&mu);
        if (head && !quit)
            wait_ms(retry);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

int spool_start(const char *spool_dir, int retry_ms)
{
    snprintf(dir, sizeof dir, "%s", spool_dir && *spool_dir ? spool_dir : ".");
    unsigned char rnd[8];
    randombytes_buf(rnd, sizeof rnd);
    char hex[2 * sizeof rnd + 1];
    sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
    snprintf(tag, sizeof tag, "%ld-%s", (long)getpid(), hex);
    struct stat ds;
    if (stat(dir, &ds) == 0 && (ds.st_mode & (S_IWGRP | S_IWOTH)))
        LOG_WARN(NULL, "spool: others may write to %s (mode %03o); journals there hold comments, and only this "
                 "user's private files are taken over: give modgate a directory of its own",
                 dir, (unsigned)(ds.st_mode & 0777));
    takeover_all(1); /* before the first request: an earlier run's comments go first */
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
    /* What is left is in the journal already, unless a write failed.
     * The journal's lock goes with its close: from then on another
     * instance may take it over. */
    if (head && journal_failed)
        journal_rewrite();
    else if (head)
        LOG_ERROR(NULL, "spool: Redis still down at exit; %zu held comments are in %s", depth, jpath);
    if (journal) {
        if (!head)
            unlink(jpath);
        fclose(journal);
        journal = NULL;
    }
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
        char err[200] = "";
        struct item *it = parse_line(line, (size_t)n, err, sizeof err);
        if (!it) {
            fprintf(stderr, "spool import: %s:%ld: %s\n", path, lineno, err);
            bad++;
            continue;
        }
        int rc = hold(it->site, it->id, it->response, it->body, it->ttl_s, it->created_ms, err, sizeof err);
        if (rc == 1)
            stored++;
        else if (rc == 0)
            present++;
        else if (rc == -2) {
            fprintf(stderr, "spool import: %s:%ld: %s\n", path, lineno, err);
            refused++;
        } else {
            fprintf(stderr, "spool import: stopped at %s:%ld: %s\n", path, lineno, err);
            unreachable = 1;
        }
        item_free(it);
    }
    free(line);
    fclose(f);
    printf("%s: %ld stored, %ld already stored, %ld refused by Redis, %ld unreadable%s\n", path, stored,
           present, refused, bad, unreachable ? "; Redis unreachable, the rest was not tried" : "");
    return unreachable || refused || bad ? -1 : 0;
}
