/* log.c - one line per call, built by logline.c (escaped, text or JSON)
 * and written with a single write(2) so that lines from different threads
 * never interleave. */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "logline.h"
#include "util.h"

_Atomic int log_level = LOG_LVL_INFO;
_Atomic int log_format = LOG_FMT_TEXT;

static const char *const level_names[] = { "debug", "info", "warn", "error" };
static const char *const format_names[] = { "text", "json" };

static int parse_name(const char *s, const char *const *names, int n, int *out)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

int log_parse_level(const char *s, int *out)
{
    return parse_name(s, level_names, 4, out);
}

int log_parse_format(const char *s, int *out)
{
    return parse_name(s, format_names, 2, out);
}

void log_set(int level, int format)
{
    atomic_store(&log_level, level);
    atomic_store(&log_format, format);
}

/* Start a line of 'level' for 'rid' in the current format. */
static void begin(struct logline *l, int level, const char *rid)
{
    logline_begin(l, atomic_load_explicit(&log_format, memory_order_relaxed) == LOG_FMT_JSON, wall_ms(),
                  level_names[level < 0 ? 0 : level > 3 ? 3 : level], rid);
}

static void emit(struct logline *l)
{
    size_t len = logline_end(l);
    ssize_t w = write(STDERR_FILENO, l->b, len);
    (void)w; /* nowhere to report a failed log write */
}

void log_vwrite(int level, const char *rid, const char *fmt, va_list ap)
{
    /* A message longer than a line could never be shown whole anyway. */
    char msg[LOGLINE_MAX];
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    if (m < 0)
        return;
    size_t len = (size_t)m < sizeof msg ? (size_t)m : sizeof msg - 1;
    while (len && msg[len - 1] == '\n')
        len--;
    struct logline l;
    begin(&l, level, rid);
    logline_fields(&l, msg, len, NULL, 0);
    emit(&l);
}

void log_write(int level, const char *rid, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, rid, fmt, ap);
    va_end(ap);
}

void log_fields(int level, const char *rid, const char *msg, const struct log_field *f, size_t n)
{
    struct logline l;
    begin(&l, level, rid);
    logline_fields(&l, msg, msg ? strlen(msg) : 0, f, n);
    emit(&l);
}
