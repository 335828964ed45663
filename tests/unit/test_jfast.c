/* test_jfast.c - the fast request reader and the request arena.
 *
 * jfast_load must read real comment requests itself (or it saves nothing)
 * and give the tree jansson gives; whatever it is not sure of it must
 * leave to jansson. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jfast.h"
#include "jsonmem.h"
#include "test.h"

static json_t *ref_load(const char *s, size_t n)
{
    json_error_t je;
    return json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
}

/* jfast reads 's' itself, to jansson's tree. */
static int same_as_jansson(const char *s)
{
    json_t *a = jfast_load(s, strlen(s)), *b = ref_load(s, strlen(s));
    int ok = a && b && json_equal(a, b);
    json_decref(a);
    json_decref(b);
    return ok;
}

static int gives_up(const char *s)
{
    json_t *a = jfast_load(s, strlen(s));
    json_decref(a);
    return a == NULL;
}

/* Every comment of both corpora, as the bench and a CMS send it: read by
 * jfast, equal to jansson's tree. */
TEST(corpus_requests)
{
    const char *files[] = { "tests/data/sms.jsonl", "tests/data/youtube-dev.jsonl" };
    int lines = 0, fast = 0;
    for (int f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "r");
        CHECK(fp != NULL);
        if (!fp)
            continue;
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, fp)) > 0) {
            json_t *c = ref_load(line, (size_t)n);
            if (!c)
                continue;
            json_t *req = json_pack("{s:s, s:{s:s, s:s, s:O}, s:{s:s, s:s}, s:{s:s}}", "site", "news",
                                    "comment", "id", "c-1", "thread_id", "a-9", "body", json_object_get(c, "body"),
                                    "author", "name", "Reader \"Q\" \u00e9", "email", "r@example.org", "client",
                                    "ip", "203.0.113.7");
            char *text = json_dumps(req, JSON_COMPACT);
            lines++;
            fast += same_as_jansson(text) && same_as_jansson(line);
            free(text);
            json_decref(req);
            json_decref(c);
        }
        free(line);
        fclose(fp);
    }
    CHECK(lines > 6000);
    CHECK_EQ_INT(fast, lines);
}

TEST(escapes_decode_as_jansson)
{
    const char *s = "{\"a\":\"\\u00e9\\ud83d\\ude00\\n\\t\\\"\\\\\\/\\b\\f\\r\", \"k\\u0041\": [ -0, -12, "
                    "123456789012345678, true, false, null, {}, [] ]}";
    CHECK(same_as_jansson(s));
    json_t *v = jfast_load(s, strlen(s));
    CHECK_EQ_STR(json_string_value(json_object_get(v, "a")), "\xc3\xa9\xf0\x9f\x98\x80\n\t\"\\/\b\f\r");
    CHECK_EQ_INT(json_array_size(json_object_get(v, "kA")), 8);
    CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(v, "kA"), 2)), 123456789012345678LL);
    json_decref(v);
    /* a long escaped string (past the stack buffer) */
    size_t n = 5000;
    char *big = malloc(n * 2 + 16), *w = big;
    *w++ = '[';
    *w++ = '"';
    for (size_t i = 0; i < n; i++) {
        *w++ = '\\';
        *w++ = 'n';
    }
    strcpy(w, "\"]");
    CHECK(same_as_jansson(big));
    free(big);
}

TEST(leaves_the_rest_to_jansson)
{
    /* errors */
    CHECK(gives_up("{\"a\":1,}"));
    CHECK(gives_up("{\"a\":1}x"));
    CHECK(gives_up("{\"a\" 1}"));
    CHECK(gives_up("{\"a\":01}"));
    CHECK(gives_up("{\"a\":-}"));
    CHECK(gives_up("{\"a\":tru}"));
    CHECK(gives_up("{\"a\":\"\x01\"}"));
    CHECK(gives_up("{\"a\":\"\\x\"}"));
    CHECK(gives_up("{\"a\":\"\\u12\"}"));
    CHECK(gives_up("{\"a\":\"open"));
    CHECK(gives_up("[1 2]"));
    CHECK(gives_up(""));
    /* valid JSON jansson refuses here */
    CHECK(gives_up("{\"a\":1,\"a\":2}"));
    CHECK(gives_up("{\"a\":1,\"\\u0061\":2}"));
    CHECK(gives_up("{\"a\":\"\\u0000\"}"));
    CHECK(gives_up("{\"a\":\"\\ud800\"}"));
    CHECK(gives_up("{\"a\":\"\\udc00\"}"));
    CHECK(gives_up("\"top\""));
    CHECK(gives_up("3"));
    /* valid JSON jansson reads better: reals and big integers */
    CHECK(gives_up("{\"a\":1.5}"));
    CHECK(gives_up("{\"a\":2e3}"));
    CHECK(gives_up("{\"a\":1234567890123456789}"));
    json_t *r = ref_load("{\"a\":1.5}", 9);
    CHECK(r != NULL); /* and jansson does read it */
    json_decref(r);
    /* nesting deeper than any request */
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    json_t *d = jfast_load(deep, sizeof deep);
    CHECK(d == NULL);
    d = ref_load(deep, sizeof deep);
    CHECK(d != NULL);
    json_decref(d);
}

/* A tree made inside an arena is whole until the arena is reset, also one
 * larger than the arena's first block, and what is made outside it is
 * the usual malloc'd kind. */
TEST(arena_trees)
{
    jsonmem_install();
    jarena *a = jarena_new();
    size_t n = 200000;
    char *big = malloc(n + 32);
    memcpy(big, "{\"body\":\"", 9);
    memset(big + 9, 'x', n);
    memcpy(big + 9 + n, "\",\"n\":[1,2,3]}", 15);
    for (int round = 0; round < 3; round++) {
        CHECK(jarena_enter(a));
        json_t *t = jfast_load(big, strlen(big));
        json_t *small = jfast_load("{\"k\":\"v\"}", 9);
        int was = jarena_pause();
        CHECK_EQ_INT(was, 0);
        CHECK_EQ_INT(jarena_pause(), 1); /* pauses nest */
        jarena_resume(1);
        json_t *outside = json_pack("{s:s}", "kept", "yes");
        jarena_resume(was);
        jarena_leave();
        CHECK(t != NULL && small != NULL);
        CHECK_EQ_INT(json_string_length(json_object_get(t, "body")), n);
        CHECK_EQ_INT(json_array_size(json_object_get(t, "n")), 3);
        CHECK_EQ_STR(json_string_value(json_object_get(small, "k")), "v");
        jarena_reset(a);
        /* made while paused: still there after the reset, freed as usual */
        CHECK_EQ_STR(json_string_value(json_object_get(outside, "kept")), "yes");
        json_decref(outside);
    }
    jarena_free(a);
    free(big);
}

int main(void)
{
    RUN(corpus_requests);
    RUN(escapes_decode_as_jansson);
    RUN(leaves_the_rest_to_jansson);
    RUN(arena_trees);
    return TEST_REPORT();
}
