/* logline.h - one log line built in a fixed buffer, as text or as JSON,
 * with every byte that may have come from outside escaped.
 *
 * No raw control byte, no invalid UTF-8 and no line or bidi separator can
 * reach the log through a line built here: a message or a value holding
 * "\n2026-... info [x] forged" shows as one line with a visible "\n".
 * In text, a field's value that is not a plain token is quoted the logfmt
 * way (key="a b"), so a value holding " site=other" cannot add a field.
 * A line longer than LOGLINE_MAX is cut inside a value, marked "...", and
 * stays well-formed (closed quotes, closed JSON object).
 *
 * Pure formatting, no I/O: log.c writes the line. Call sites use log.h. */
#ifndef MODGATE_LOGLINE_H
#define MODGATE_LOGLINE_H

#include <stddef.h>
#include <stdint.h>

/* The longest line, '\n' included: a line no longer than PIPE_BUF (4096
 * on Linux) is written by one write(2) even into a pipe to a log shipper,
 * so lines of different threads never interleave. */
#define LOGLINE_MAX 4096

/* How logline_escape writes a string. */
enum logline_esc {
    LOGLINE_PROSE,  /* a text message: controls escaped, '"' kept as is */
    LOGLINE_QUOTED, /* inside "..." in a text line: '"' escaped too */
    LOGLINE_JSON    /* inside a JSON string */
};

/* Escape s[0..len) into out[0..cap) (not NUL-terminated). Kept as they
 * are: printable ASCII and valid UTF-8 other than the characters below.
 * Escaped: '\\' and, but in LOGLINE_PROSE, '"'; \n \r \t; other C0 bytes
 * and DEL as \xNN in text, \u00NN in JSON; a byte that is not part of
 * valid UTF-8 as \xNN in text and \ufffd in JSON (JSON must be UTF-8);
 * C1 controls (U+0080-U+009F), U+2028/U+2029 (line separators to some
 * viewers) and the bidi controls (U+061C, U+200E/F, U+202A-U+202E,
 * U+2066-U+2069, which reorder what a terminal shows) as \uNNNN. Never
 * splits an escape or a UTF-8 sequence: it stops before the first one
 * that does not fit. Returns the bytes written; *used gets the input
 * bytes consumed (len unless out was too small). */
size_t logline_escape(char *out, size_t cap, const char *s, size_t len, enum logline_esc how, size_t *used);

/* 1 when s[0..len) may stand unquoted as a text value: not empty, and
 * only printable ASCII other than ' ', '"', '\\' and '='. */
int logline_bare(const char *s, size_t len);

/* A line being built. 'json' is fixed by logline_begin. */
struct logline {
    char b[LOGLINE_MAX];
    size_t len;
    int json;
    int cut;                /* something was cut or left out */
};

/* One named value of a structured line. */
enum log_ftype {
    LOG_F_STR,  /* 'str'; NULL: none ("-" in text, null in JSON) */
    LOG_F_INT,  /* 'num' */
    LOG_F_MS,   /* 'num' microseconds, shown as milliseconds ("1.234") */
    LOG_F_FLAG  /* 'num' != 0: the bare key in text, true in JSON (else false) */
};
struct log_field {
    const char *key;        /* a fixed name, never outside data */
    enum log_ftype type;
    int bare;               /* text: the value alone, in order (the message) */
    const char *str;
    long long num;
};

/* Start 'l': "TS LEVEL [RID]" in text, {"ts":..,"level":..,"rid":..
 * in JSON. 'rid' may be NULL ("-" in text, null in JSON). */
void logline_begin(struct logline *l, int json, int64_t wall_ms, const char *level, const char *rid);

/* The message and the fields of one line. A
 * NULL 'msg' makes the bare fields the message: in text they stand in
 * their place, in JSON "msg" is their values joined by spaces. */
void logline_fields(struct logline *l, const char *msg, size_t msglen, const struct log_field *f, size_t n);

/* Close the line ('\n' and, in JSON, '}'). Returns its length. */
size_t logline_end(struct logline *l);

#endif
