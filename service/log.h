/* log.h - leveled logging with a request id and no content.
 *
 * LOG_INFO(rid, fmt, ...) checks the level before formatting, so disabled
 * levels cost one comparison. Lines go to stderr as
 *   2026-11-27T10:00:00.123Z info [rid] message
 * Never pass API keys, comment text or tokens above debug level. */
#ifndef MODGATE_LOG_H
#define MODGATE_LOG_H

#include <stdatomic.h>

enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* Lines below this level are skipped. Atomic because SIGHUP may change it
 * while other threads log; a relaxed read is all a log line needs. */
extern _Atomic int log_level;

/* Parse "debug"/"info"/"warn"/"error". Returns 0 or -1. */
int log_parse_level(const char *s, int *out);

void log_write(int level, const char *rid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_AT(lvl, rid, ...) do { \
        if ((lvl) >= atomic_load_explicit(&log_level, memory_order_relaxed)) \
            log_write((lvl), (rid), __VA_ARGS__); \
    } while (0)
#define LOG_DEBUG(rid, ...) LOG_AT(LOG_LVL_DEBUG, rid, __VA_ARGS__)
#define LOG_INFO(rid, ...) LOG_AT(LOG_LVL_INFO, rid, __VA_ARGS__)
#define LOG_WARN(rid, ...) LOG_AT(LOG_LVL_WARN, rid, __VA_ARGS__)
#define LOG_ERROR(rid, ...) LOG_AT(LOG_LVL_ERROR, rid, __VA_ARGS__)

#endif
