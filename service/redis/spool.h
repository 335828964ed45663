/* spool.h - held comments that Redis could not take yet.
 *
 * While Redis is down a held comment is kept here (bounded by spool_max)
 * and a background thread stores it, in batches, as soon as Redis answers
 * again. Each is also appended to a journal file (JSONL, synced) before
 * spool_add returns, so that neither a stop nor a crash drops one; the
 * journal is emptied whenever the spool is, and removed at a stop with
 * nothing left. The journal, $MODGATE_SPOOL_DIR/modgate-spool-PID-HEX.jsonl
 * (HEX: 64 random bits, so that a PID used again names a new file), is
 * locked (flock) while its instance runs: journals whose lock is free are
 * taken over (at start and every 10 s), so several instances can share a
 * spool directory. Every file is created 0600, never through a symlink. */
#ifndef MODGATE_SPOOL_H
#define MODGATE_SPOOL_H

#include <stddef.h>
#include <stdint.h>

/* Start the flusher thread. 'spool_dir' is where the journal is kept
 * ("" or NULL: the working directory). Journals there that no live
 * instance holds (an earlier run's, a dead sibling's) are taken over
 * before it returns, and every 10 s after by the thread. Call once, after
 * sodium_init (the file names' random part). */
int spool_start(const char *spool_dir, int retry_ms);

/* Copy one held comment into the spool (once: a comment already waiting
 * under the same site and id is not added again). Returns 0, or -1 when
 * the spool already holds 'max' items (the caller must tell the client). */
int spool_add(const char *site, const char *comment_id, const char *response_json,
              const char *item_json, long ttl_s, int64_t created_ms, size_t max);

/* Items waiting. */
size_t spool_depth(void);

/* With Sentinel: remember the last 'cap' held comments answered stored
 * (0: none, the default), so that a failover cannot lose one. A planned
 * switch promotes a replica while the old master still takes writes
 * until the sentinels turn it into a replica too; what it took meanwhile
 * (and a replica that is not promoted acknowledged) is gone when it
 * resyncs. sentinel.c (and cluster.c, when a master fails over)
 * therefore hands the ones stored in the last
 * 'window_ms' to the spool when the master moves
 * (spool_recent_replay), which stores each on the new master unless it
 * is there already. */
void spool_recent_keep(size_t cap);
void spool_recent(const char *site, const char *comment_id, const char *response_json, const char *item_json,
                  long ttl_s, int64_t created_ms);
/* Returns how many were handed to the spool. */
size_t spool_recent_replay(int64_t window_ms);
/* Is the ring kept (Sentinel or Cluster)? Cheap: callers skip making its
 * texts when not. */
int spool_recent_kept(void);

/* Try a last flush and stop the thread; leftovers stay in the journal. */
void spool_stop(void);

/* Store every comment of a journal or dump file (modgate-spool-*.jsonl) in Redis,
 * as if it had just been held: the store must be configured and started.
 * Comments already stored are left alone, so running it twice is safe.
 * Prints a summary to stdout, problems to stderr. Returns 0 when every
 * line is stored (now or before), -1 otherwise. */
int spool_import(const char *path);

#endif
