/* util.c - clocks, checked parsing, growable buffer. */
#include <ctype.h>
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec deadline_ms(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    return ts;
}

void thread_stop(pthread_t thr, _Atomic int *quit, pthread_mutex_t *mu, pthread_cond_t *cv)
{
    atomic_store(quit, 1);
    pthread_mutex_lock(mu);
    pthread_cond_broadcast(cv);
    pthread_mutex_unlock(mu);
    pthread_join(thr, NULL);
}

void fmt_rfc3339(int64_t ms, char *buf, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char tmp[24];
    strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", tmp, (int)(ms % 1000));
}

int parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

void buf_init(struct buf *b)
{
    b->cap = 256;
    b->len = 0;
    b->p = xmalloc(b->cap);
    b->p[0] = 0;
}

void buf_reserve(struct buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

void buf_append(struct buf *b, const void *data, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
}

void buf_puts(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= b->cap - b->len) {
        buf_reserve(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

size_t fmt_int(char out[static 21], long long v)
{
    char tmp[21], *w = tmp + sizeof tmp;
    unsigned long long a = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--w = (char)('0' + a % 10);
        a /= 10;
    } while (a);
    if (v < 0)
        *--w = '-';
    size_t n = (size_t)(tmp + sizeof tmp - w);
    memcpy(out, w, n);
    return n;
}

void buf_put_int(struct buf *b, long long v)
{
    char tmp[21];
    buf_append(b, tmp, fmt_int(tmp, v));
}

void buf_put_num(struct buf *b, double v, int decimals)
{
    static const long long scale[] = { 1, 10, 100, 1000, 10000, 100000, 1000000 };
    if (decimals < 0 || decimals > 6 || !(fabs(v) < 1e9)) {
        buf_printf(b, "%.6g", v); /* out of the fast path's range (or not finite) */
        return;
    }
    long long m = llround(v * (double)scale[decimals]);
    char tmp[48], *w = tmp + sizeof tmp;
    unsigned long long a = m < 0 ? (unsigned long long)-m : (unsigned long long)m;
    unsigned long long ip = a / (unsigned long long)scale[decimals], fp = a % (unsigned long long)scale[decimals];
    int d = decimals;
    while (d > 0 && fp % 10 == 0) { /* trailing zeros are not written */
        fp /= 10;
        d--;
    }
    if (d > 0) {
        for (int k = 0; k < d; k++) {
            *--w = (char)('0' + fp % 10);
            fp /= 10;
        }
        *--w = '.';
    }
    do {
        *--w = (char)('0' + ip % 10);
        ip /= 10;
    } while (ip);
    if (m < 0)
        *--w = '-';
    buf_append(b, w, (size_t)(tmp + sizeof tmp - w));
}

void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* The n decimal digits at s (checked by the caller). */
static int atoi2(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* "YYYY-MM-DDTHH:MM:SSZ" as Unix seconds; -1 when it is not exactly
 * that, a real time after 1970 (no signs or spaces, no 31 February). */
long long parse_utc_s(const char *t)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (strlen(t) != sizeof shape - 1)
        return -1;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? !isdigit((unsigned char)t[i]) : t[i] != shape[i])
            return -1;
    struct tm tm = { 0 };
    tm.tm_year = atoi2(t, 4) - 1900;
    tm.tm_mon = atoi2(t + 5, 2) - 1;
    tm.tm_mday = atoi2(t + 8, 2);
    tm.tm_hour = atoi2(t + 11, 2);
    tm.tm_min = atoi2(t + 14, 2);
    tm.tm_sec = atoi2(t + 17, 2);
    struct tm want = tm, back;
    time_t v = timegm(&tm);
    if (v <= 0 || !gmtime_r(&v, &back) || back.tm_year != want.tm_year || back.tm_mon != want.tm_mon ||
        back.tm_mday != want.tm_mday || back.tm_hour != want.tm_hour || back.tm_min != want.tm_min ||
        back.tm_sec != want.tm_sec)
        return -1;
    return (long long)v;
}
