/* log.c - one formatted line per call, written with a single write(2) so
 * that lines from different threads never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

_Atomic int log_level = LOG_LVL_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

int log_parse_level(const char *s, int *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

void log_write(int level, const char *rid, const char *fmt, ...)
{
    char line[1024];
    char ts[32];
    fmt_rfc3339(wall_ms(), ts, sizeof ts);
    int n = snprintf(line, sizeof line, "%s %s [%s] ", ts,
                     level_names[level < 0 ? 0 : level > 3 ? 3 : level], rid ? rid : "-");
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nowhere to report a failed log write */
}
