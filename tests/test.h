/* test.h - a tiny unit-test harness (after Redis testhelp.h).
 *
 * TEST("name") { ... CHECK(cond); CHECK_EQ_INT(a, b); ... }
 * Each file defines main() with TEST_MAIN(run_all) and prints the line
 * "N passed, N failed" that CI reads. A failed check reports the file,
 * line and expression, and the test goes on to the next check. */
#ifndef MODGATE_TEST_H
#define MODGATE_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int test_passed, test_failed, test_cur_failed;
static const char *test_cur_name;

#define TEST_BEGIN(name) do { test_cur_name = (name); test_cur_failed = 0; } while (0)
#define TEST_END() do { if (test_cur_failed) test_failed++; else test_passed++; } while (0)

#define CHECK(cond) do { \
    if (!(cond)) { \
        fprintf(stderr, "FAIL %s (%s:%d): %s\n", test_cur_name, __FILE__, __LINE__, #cond); \
        test_cur_failed = 1; \
    } } while (0)

#define CHECK_EQ_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ != b_) { \
        fprintf(stderr, "FAIL %s (%s:%d): %s == %lld, expected %lld\n", \
                test_cur_name, __FILE__, __LINE__, #a, a_, b_); \
        test_cur_failed = 1; \
    } } while (0)

#define CHECK_EQ_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) { \
        fprintf(stderr, "FAIL %s (%s:%d): %s == \"%s\", expected \"%s\"\n", \
                test_cur_name, __FILE__, __LINE__, #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
        test_cur_failed = 1; \
    } } while (0)

#define CHECK_NEAR(a, b, eps) do { double a_ = (a), b_ = (b); \
    if (!(fabs(a_ - b_) <= (eps))) { \
        fprintf(stderr, "FAIL %s (%s:%d): %s == %g, expected %g\n", \
                test_cur_name, __FILE__, __LINE__, #a, a_, b_); \
        test_cur_failed = 1; \
    } } while (0)

/* TEST(fn) declares a test function; RUN(fn) runs it with its name. */
#define TEST(fn) static void fn(void)
#define RUN(fn) do { TEST_BEGIN(#fn); fn(); TEST_END(); } while (0)

#define TEST_REPORT() (printf("%s: %d passed, %d failed\n", __FILE__, test_passed, test_failed), \
                       test_failed ? 1 : 0)

#endif
