/* log.h - leveled logging with a request id and no content.
 *
 * LOG_INFO(rid, fmt, ...) checks the level before formatting, so disabled
 * levels cost one comparison. Lines go to stderr, as text
 *   2026-11-27T10:00:00.123Z info [rid] message
 * or, with log_format "json", as one JSON object a line
 *   {"ts":"2026-11-27T10:00:00.123Z","level":"info","rid":"rid","msg":"message"}
 * Every byte of a line is escaped on the way out (logline.h), so outside
 * data in a message cannot start a line of its own or send a terminal
 * escape; lines where outside data stands in fields (the access log) use
 * log_fields, which quotes each value. Never pass API keys, comment text
 * or tokens above debug level. */
#ifndef MODGATE_LOG_H
#define MODGATE_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>

#include "logline.h"

enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };
enum log_format { LOG_FMT_TEXT = 0, LOG_FMT_JSON };

/* Lines below this level are skipped. Atomic because SIGHUP may change it
 * while other threads log; a relaxed read is all a log line needs. The
 * format likewise. */
extern _Atomic int log_level;
extern _Atomic int log_format;

/* Parse "debug"/"info"/"warn"/"error". Returns 0 or -1. */
int log_parse_level(const char *s, int *out);
/* Parse "text"/"json". Returns 0 or -1. */
int log_parse_format(const char *s, int *out);
/* Use 'level' and 'format' (a config's) from the next line on. */
void log_set(int level, int format);

void log_write(int level, const char *rid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* log_write with a va_list; a trailing newline of the message is dropped
 * (libmicrohttpd's messages end with one). */
void log_vwrite(int level, const char *rid, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* struct log_field, one named value of a structured line: logline.h. */

/* A line of 'n' fields, each value escaped and, in text, quoted when it
 * is not a plain token: text "msg key=value key=\"a b\"", JSON
 * {"ts":..,"msg":..,"key":"value",...}. 'msg' NULL: the bare fields are
 * the message (logline.h). Check LOG_ON first: the caller builds 'f'. */
void log_fields(int level, const char *rid, const char *msg, const struct log_field *f, size_t n);

#define LOG_ON(lvl) ((lvl) >= atomic_load_explicit(&log_level, memory_order_relaxed))
#define LOG_AT(lvl, rid, ...) do { \
        if (LOG_ON(lvl)) \
            log_write((lvl), (rid), __VA_ARGS__); \
    } while (0)
#define LOG_DEBUG(rid, ...) LOG_AT(LOG_LVL_DEBUG, rid, __VA_ARGS__)
#define LOG_INFO(rid, ...) LOG_AT(LOG_LVL_INFO, rid, __VA_ARGS__)
#define LOG_WARN(rid, ...) LOG_AT(LOG_LVL_WARN, rid, __VA_ARGS__)
#define LOG_ERROR(rid, ...) LOG_AT(LOG_LVL_ERROR, rid, __VA_ARGS__)

#endif
