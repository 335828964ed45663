/* util.h - allocation that never returns NULL, time, and small parsers.
 *
 * OOM policy: every allocation in modgate goes through the wrappers of
 * filters/xalloc.h (included here), which abort() on failure, so there are
 * no untested NULL branches elsewhere. */
#ifndef MODGATE_UTIL_H
#define MODGATE_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* xmalloc, xcalloc, xrealloc, xstrdup, xstrndup: filters/xalloc.h. */
#include "xalloc.h"

/* Milliseconds on the monotonic clock (for timeouts and durations). */
int64_t mono_ms(void);
/* Microseconds on the monotonic clock. */
int64_t mono_us(void);
/* Milliseconds since the Unix epoch (for timestamps shown to users). */
int64_t wall_ms(void);

/* The wall-clock time 'ms' from now, for pthread_cond_timedwait and
 * pthread_timedjoin_np. */
struct timespec deadline_ms(long ms);

/* Stop a thread that naps on 'cv' (under 'mu') and checks '*quit':
 * set it, wake it, join it. */
void thread_stop(pthread_t thr, _Atomic int *quit, pthread_mutex_t *mu, pthread_cond_t *cv);

/* Format a Unix time in ms as RFC 3339 UTC ("2026-11-27T10:00:00.123Z")
 * into buf (at least 32 bytes). */
void fmt_rfc3339(int64_t ms, char *buf, size_t len);

/* Parse a whole decimal integer in [min, max]. Returns 0 or -1. */
int parse_long(const char *s, long min, long max, long *out);

/* "YYYY-MM-DDTHH:MM:SSZ" as Unix seconds; -1 when it is not exactly
 * that, a real time after 1970. */
long long parse_utc_s(const char *t);

/* A growable byte buffer for building strings. */
struct buf {
    char *p;     /* NUL-terminated while len < cap */
    size_t len;
    size_t cap;
};
void buf_init(struct buf *b);
/* Room for 'extra' more bytes (and the NUL) without another allocation. */
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* v in decimal, as printf's %lld writes it, into out (no NUL); returns
 * the length. No printf: for hot paths. */
size_t fmt_int(char out[static 21], long long v);
/* Append v in decimal, as fmt_int writes it. */
void buf_put_int(struct buf *b, long long v);
/* Append 'v' rounded to 'decimals' (0-6) places, without trailing zeros
 * ("4", "0.889", "-1.5"): what printf's %.6g writes for such a number,
 * at a fraction of its cost (it runs for every reason of every check). */
void buf_put_num(struct buf *b, double v, int decimals);
void buf_free(struct buf *b);

#endif
