/* test_logline.c - log lines cannot be forged: every byte from outside is
 * escaped, text values are quoted, JSON lines parse, long lines are cut
 * and stay well-formed. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logline.h"
#include "text.h"
#include "test.h"

/* Escape cases: input (with its length, NULs allowed), how, expected. */
struct esc_case {
    const char *in;
    size_t len;
    enum logline_esc how;
    const char *want;
};
#define C(lit, how, want) { lit, sizeof lit - 1, how, want }
#define P LOGLINE_PROSE
#define Q LOGLINE_QUOTED
#define J LOGLINE_JSON
static const struct esc_case esc_cases[] = {
    /* plain text and valid UTF-8 are copied */
    C("GET /v1/check 200", P, "GET /v1/check 200"),
    C("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", J, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
    C("", Q, ""),
    C("\xc2\xa0", P, "\xc2\xa0"), /* a no-break space is shown */
    /* controls */
    C("a\nb\rc\td", P, "a\\nb\\rc\\td"),
    C("a\nb\rc\td", J, "a\\nb\\rc\\td"),
    C("\x1b[31m\x7f", P, "\\x1b[31m\\x7f"),
    C("\x1b[31m\x7f", J, "\\u001b[31m\\u007f"),
    C("a\0b", Q, "a\\x00b"),
    C("a\0b", J, "a\\u0000b"),
    /* quotes and backslashes */
    C("say \"hi\" \\n", P, "say \"hi\" \\\\n"),
    C("say \"hi\" \\n", Q, "say \\\"hi\\\" \\\\n"),
    C("say \"hi\" \\n", J, "say \\\"hi\\\" \\\\n"),
    /* invalid UTF-8, byte by byte */
    C("/\xff/", Q, "/\\xff/"),
    C("/\xff/", J, "/\\ufffd/"),
    C("\xc0\xaf", P, "\\xc0\\xaf"),               /* overlong '/' */
    C("\xed\xa0\x80", P, "\\xed\\xa0\\x80"),      /* a surrogate */
    C("x\xe2\x82", P, "x\\xe2\\x82"),             /* cut short */
    C("\x80" "a", J, "\\ufffda"),                  /* a stray continuation byte */
    C("\xf5\x80\x80\x80", P, "\\xf5\\x80\\x80\\x80"), /* above U+10FFFF */
    /* C1 controls, line separators, bidi controls */
    C("a\xc2\x85" "b", P, "a\\u0085b"),           /* NEL */
    C("\xc2\x9b" "31m", J, "\\u009b31m"),         /* CSI */
    C("a\xe2\x80\xa8" "b", J, "a\\u2028b"),
    C("\xe2\x80\xae" "gnp.exe", Q, "\\u202egnp.exe"),
    C("\xe2\x81\xa6" "x", P, "\\u2066x"),
};

TEST(escape_cases)
{
    for (size_t i = 0; i < sizeof esc_cases / sizeof esc_cases[0]; i++) {
        const struct esc_case *c = &esc_cases[i];
        char out[128];
        size_t used, n = logline_escape(out, sizeof out - 1, c->in, c->len, c->how, &used);
        out[n] = 0;
        if (used != c->len || strcmp(out, c->want) != 0) {
            fprintf(stderr, "  case %zu: got \"%s\", used %zu of %zu\n", i, out, used, c->len);
            CHECK(!"escape case");
        }
    }
}

/* A short output stops before an escape or a character that does not
 * fit whole, and says how much it consumed. */
TEST(escape_never_splits)
{
    char out[8];
    size_t used;
    CHECK_EQ_INT(logline_escape(out, 3, "ab\ncd", 5, LOGLINE_PROSE, &used), 2);
    CHECK_EQ_INT(used, 2);
    CHECK_EQ_INT(logline_escape(out, 5, "\x1b\x1b", 2, LOGLINE_PROSE, &used), 4);
    CHECK_EQ_INT(used, 1);
    CHECK_EQ_INT(logline_escape(out, 1, "\xc3\xa9", 2, LOGLINE_PROSE, &used), 0);
    CHECK_EQ_INT(used, 0);
    CHECK_EQ_INT(logline_escape(out, 5, "\xff", 1, LOGLINE_JSON, &used), 0);
    CHECK_EQ_INT(used, 0);
}

TEST(bare_values)
{
    CHECK(logline_bare("/v1/check", 9));
    CHECK(logline_bare("t-cms", 5));
    CHECK(!logline_bare("", 0));
    CHECK(!logline_bare("a b", 3));
    CHECK(!logline_bare("a=b", 3));
    CHECK(!logline_bare("a\"", 2));
    CHECK(!logline_bare("a\\", 2));
    CHECK(!logline_bare("caf\xc3\xa9", 5));
    CHECK(!logline_bare("a\n", 2));
}

/* The access log's fields, as http.c gives them. */
static size_t access_line(struct logline *l, int json, const char *path, const char *note)
{
    const struct log_field f[] = {
        { .key = "method", .bare = 1, .str = "GET" },
        { .key = "path", .bare = 1, .str = path },
        { .key = "status", .type = LOG_F_INT, .bare = 1, .num = 404 },
        { .key = "ms", .type = LOG_F_MS, .num = 1234 },
        { .key = "site", .str = NULL },
        { .key = "key", .str = "t-cms" },
        { .key = "bytes", .type = LOG_F_INT, .num = 0 },
        { .key = "note", .str = note },
        { .key = "ended_early", .type = LOG_F_FLAG, .num = 1 },
    };
    logline_begin(l, json, 0, "info", "abc-1");
    logline_fields(l, NULL, 0, f, sizeof f / sizeof f[0]);
    return logline_end(l);
}

TEST(text_access_line_quotes_what_could_forge)
{
    struct logline l;
    size_t n = access_line(&l, 0, "/x site=other key=admin\n1970-01-01T00:00:00.000Z info [x] forged", "queue held");
    l.b[n] = 0; /* a short line: the buffer has room */
    CHECK_EQ_STR(l.b, "1970-01-01T00:00:00.000Z info [abc-1] GET \"/x site=other key=admin\\n1970-01-01T00:00:00.000Z "
                      "info [x] forged\" 404 ms=1.234 site=- key=t-cms bytes=0 note=\"queue held\" ended_early\n");
    n = access_line(&l, 0, "/v1/check", NULL);
    l.b[n] = 0;
    CHECK_EQ_STR(l.b, "1970-01-01T00:00:00.000Z info [abc-1] GET /v1/check 404 ms=1.234 site=- key=t-cms bytes=0 "
                      "note=- ended_early\n");
}

TEST(json_access_line_has_typed_fields)
{
    struct logline l;
    const char *path = "/x\"\n\x1b\xe2\x80\xae \\ site=other";
    size_t n = access_line(&l, 1, path, "decision=allow score=0.1");
    l.b[n] = 0;
    CHECK(n > 0 && l.b[n - 1] == '\n');
    json_error_t je;
    json_t *o = json_loads(l.b, JSON_REJECT_DUPLICATES, &je);
    CHECK(o != NULL);
    if (!o)
        return;
    CHECK_EQ_STR(json_string_value(json_object_get(o, "ts")), "1970-01-01T00:00:00.000Z");
    CHECK_EQ_STR(json_string_value(json_object_get(o, "level")), "info");
    CHECK_EQ_STR(json_string_value(json_object_get(o, "rid")), "abc-1");
    CHECK_EQ_STR(json_string_value(json_object_get(o, "path")), path); /* exact round trip */
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "status")), 404);
    CHECK(json_is_real(json_object_get(o, "ms")) && json_real_value(json_object_get(o, "ms")) == 1.234);
    CHECK(json_is_null(json_object_get(o, "site")));
    CHECK_EQ_STR(json_string_value(json_object_get(o, "note")), "decision=allow score=0.1");
    CHECK(json_is_true(json_object_get(o, "ended_early")));
    char msg[128];
    snprintf(msg, sizeof msg, "GET %s 404", path);
    CHECK_EQ_STR(json_string_value(json_object_get(o, "msg")), msg);
    json_decref(o);
}

TEST(null_rid_and_free_message)
{
    struct logline l;
    logline_begin(&l, 1, 0, "warn", NULL);
    logline_fields(&l, "spool: \"x\"\n", 11, NULL, 0);
    size_t n = logline_end(&l);
    l.b[n] = 0;
    CHECK_EQ_STR(l.b, "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"level\":\"warn\",\"rid\":null,\"msg\":\"spool: \\\"x\\\"\\n\"}\n");
    logline_begin(&l, 0, 0, "warn", NULL);
    logline_fields(&l, "spool: \"x\"\n", 11, NULL, 0);
    n = logline_end(&l);
    l.b[n] = 0;
    CHECK_EQ_STR(l.b, "1970-01-01T00:00:00.000Z warn [-] spool: \"x\"\\n\n");
}

/* A line is one line: '\n' last and nowhere else, no other control byte,
 * valid UTF-8, at most LOGLINE_MAX bytes; a JSON one parses. */
static void check_line(const struct logline *l, size_t n, int json)
{
    CHECK(n <= LOGLINE_MAX);
    CHECK(n > 0 && l->b[n - 1] == '\n');
    int bad = 0;
    for (size_t i = 0; i + 1 < n; i++)
        bad |= (unsigned char)l->b[i] < 0x20 || l->b[i] == 0x7f;
    CHECK(!bad);
    CHECK(text_utf8_valid(l->b, n));
    if (json) {
        json_error_t je;
        json_t *o = json_loadb(l->b, n, 0, &je);
        CHECK(o != NULL && json_is_object(o) && json_object_get(o, "status"));
        if (!o)
            fprintf(stderr, "  %s: %.*s\n", je.text, (int)(n > 300 ? 300 : n), l->b);
        json_decref(o);
    }
}

TEST(long_values_are_cut_and_lines_stay_whole)
{
    static char big[20000];
    static const char fills[] = { 'a', '\n', '\x1b', '"', '\xff', ' ' };
    struct logline l;
    for (size_t k = 0; k < sizeof fills; k++) {
        memset(big, fills[k], sizeof big - 1);
        for (int json = 0; json <= 1; json++) {
            size_t n = access_line(&l, json, big, big + sizeof big - 129);
            check_line(&l, n, json);
            CHECK(memmem(l.b, n, "...", 3) != NULL);
            CHECK(memmem(l.b, n, "404", 3) != NULL); /* the fields after a long path are there */
            /* a free message far longer than a line */
            logline_begin(&l, json, 0, "info", big + sizeof big - 30);
            logline_fields(&l, big, sizeof big - 1, NULL, 0);
            n = logline_end(&l);
            CHECK(n <= LOGLINE_MAX && l.b[n - 1] == '\n');
        }
    }
}

/* Random bytes in every value, every length: every line is one
 * well-formed line (a replay of many small fuzz cases). */
TEST(random_values_make_well_formed_lines)
{
    srand(1337);
    char path[3000], note[200];
    struct logline l;
    for (int it = 0; it < 20000; it++) {
        size_t pl = (size_t)rand() % (it % 10 == 0 ? sizeof path : 40), nl = (size_t)rand() % sizeof note;
        for (size_t i = 0; i < pl; i++)
            path[i] = (char)(rand() % 255 + 1); /* the C strings of the access log hold no NUL */
        path[pl] = 0;
        for (size_t i = 0; i < nl; i++)
            note[i] = (char)(rand() % 255 + 1);
        note[nl] = 0;
        int json = it & 1;
        size_t n = access_line(&l, json, path, note);
        check_line(&l, n, json);
        if (json && pl < 200 && text_utf8_valid(path, pl)) {
            json_t *o = json_loadb(l.b, n, 0, NULL);
            CHECK(o && strcmp(json_string_value(json_object_get(o, "path")), path) == 0);
            json_decref(o);
        }
    }
}

int main(void)
{
    RUN(escape_cases);
    RUN(escape_never_splits);
    RUN(bare_values);
    RUN(text_access_line_quotes_what_could_forge);
    RUN(json_access_line_has_typed_fields);
    RUN(null_rid_and_free_message);
    RUN(long_values_are_cut_and_lines_stay_whole);
    RUN(random_values_make_well_formed_lines);
    return TEST_REPORT();
}
