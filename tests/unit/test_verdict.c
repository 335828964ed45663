/* test_verdict.c - score arithmetic, floors, decisions and reason details. */
#include <math.h>
#include <string.h>

#include "test.h"
#include "text.h"
#include "verdict.h"

static double logistic(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

TEST(test_prior_alone)
{
    struct verdict v;

    verdict_init(&v, 0.1);
    CHECK_NEAR(v.logit, log(0.1 / 0.9), 1e-12);
    CHECK_NEAR(verdict_score(&v), 0.1, 1e-12);
    CHECK_EQ_INT(v.nreasons, 0);
    CHECK_EQ_INT(v.dropped, 0);
    CHECK_EQ_INT(v.floor, DEC_ACCEPT);

    verdict_init(&v, 0.5);
    CHECK_NEAR(v.logit, 0.0, 1e-12);
    CHECK_NEAR(verdict_score(&v), 0.5, 1e-12);
}

TEST(test_prior_clamped)
{
    struct verdict v;

    /* 0 and 1 would give infinite logits; they are clamped to 1e-6. */
    verdict_init(&v, 0.0);
    CHECK(isfinite(v.logit));
    CHECK_NEAR(v.logit, log(1e-6 / (1 - 1e-6)), 1e-9);
    CHECK_NEAR(verdict_score(&v), 0.0, 1e-12);
    verdict_init(&v, 1.0);
    CHECK(isfinite(v.logit));
    CHECK_NEAR(verdict_score(&v), 1.0, 1e-12);
    verdict_init(&v, -3.0);
    CHECK(isfinite(v.logit));
    verdict_init(&v, NAN);
    CHECK(isfinite(v.logit));
}

TEST(test_score_math)
{
    struct verdict v;

    /* The brief's example: prior 0.1 plus +1.0 is logistic(logit(0.1)+1),
     * 0.231969..., reported as 0.232. */
    verdict_init(&v, 0.1);
    verdict_add(&v, "t", "one", 1.0, DEC_ACCEPT, "x");
    CHECK_NEAR(v.logit, log(0.1 / 0.9) + 1.0, 1e-12);
    CHECK_NEAR(verdict_score(&v), 0.232, 1e-12);
    CHECK_NEAR(verdict_score(&v), round(logistic(log(0.1 / 0.9) + 1.0) * 1e4) / 1e4, 1e-12);

    /* Contributions add; a negative one lowers the score. */
    verdict_add(&v, "t", "two", 0.5, DEC_ACCEPT, "x");
    verdict_add(&v, "t", "three", -2.0, DEC_ACCEPT, "x");
    CHECK_NEAR(v.logit, log(0.1 / 0.9) - 0.5, 1e-12);
    CHECK_NEAR(verdict_score(&v), round(logistic(log(0.1 / 0.9) - 0.5) * 1e4) / 1e4, 1e-12);
    CHECK_EQ_INT(v.nreasons, 3);
}

TEST(test_score_extremes)
{
    struct verdict v;

    verdict_init(&v, 0.5);
    verdict_add(&v, "t", "big", 1e6, DEC_ACCEPT, "x");
    CHECK_NEAR(verdict_score(&v), 1.0, 0.0);
    verdict_init(&v, 0.5);
    verdict_add(&v, "t", "small", -1e6, DEC_ACCEPT, "x");
    CHECK_NEAR(verdict_score(&v), 0.0, 0.0);
    verdict_init(&v, 0.5);
    verdict_add(&v, "t", "inf", INFINITY, DEC_ACCEPT, "x");
    CHECK_NEAR(verdict_score(&v), 1.0, 0.0);
    verdict_init(&v, 0.5);
    verdict_add(&v, "t", "-inf", -INFINITY, DEC_ACCEPT, "x");
    CHECK_NEAR(verdict_score(&v), 0.0, 0.0);
    /* A NaN weight is treated as no evidence, never as a NaN score. */
    verdict_init(&v, 0.5);
    verdict_add(&v, "t", "nan", NAN, DEC_ACCEPT, "x");
    CHECK(!isnan(verdict_score(&v)));
    /* Rounding: logit 0.0001 gives 0.500025 -> 0.5 at 4 decimals. */
    verdict_init(&v, 0.5);
    verdict_add(&v, "t", "tiny", 0.0001, DEC_ACCEPT, "x");
    CHECK_NEAR(verdict_score(&v), 0.5, 0.0);
}

TEST(test_floor_is_max)
{
    struct verdict v;

    verdict_init(&v, 0.1);
    verdict_add(&v, "a", "a", 0, DEC_HOLD, "x");
    CHECK_EQ_INT(v.floor, DEC_HOLD);
    verdict_add(&v, "b", "b", 0, DEC_ACCEPT, "x");
    CHECK_EQ_INT(v.floor, DEC_HOLD);
    verdict_add(&v, "c", "c", 0, DEC_REJECT, "x");
    CHECK_EQ_INT(v.floor, DEC_REJECT);
    verdict_add(&v, "d", "d", 0, DEC_HOLD, "x");
    CHECK_EQ_INT(v.floor, DEC_REJECT);
    CHECK_EQ_INT(v.reasons[0].floor, DEC_HOLD);
    CHECK_EQ_INT(v.reasons[1].floor, DEC_ACCEPT);
}

TEST(test_decide_bands)
{
    struct thresholds t = {0.5, 0.9};
    struct verdict v;

    verdict_init(&v, 0.49);
    CHECK_EQ_INT(verdict_decide(&v, &t), DEC_ACCEPT);
    verdict_init(&v, 0.5); /* exactly on the hold threshold: hold */
    CHECK_EQ_INT(verdict_decide(&v, &t), DEC_HOLD);
    verdict_init(&v, 0.8999);
    CHECK_EQ_INT(verdict_decide(&v, &t), DEC_HOLD);
    verdict_init(&v, 0.9); /* exactly on the reject threshold: reject */
    CHECK_EQ_INT(verdict_decide(&v, &t), DEC_REJECT);
    verdict_init(&v, 0.99);
    CHECK_EQ_INT(verdict_decide(&v, &t), DEC_REJECT);
}

TEST(test_decide_floor_only_stricter)
{
    struct thresholds t = {0.5, 0.9};
    struct verdict v;

    /* A low score with a reject floor is rejected... */
    verdict_init(&v, 0.01);
    verdict_add(&v, "words", "blocked_word", 0, DEC_REJECT, "x");
    CHECK_EQ_INT(verdict_decide(&v, &t), DEC_REJECT);
    /* ... a hold floor holds a low score ... */
    verdict_init(&v, 0.01);
    verdict_add(&v, "links", "too_many_links", 0, DEC_HOLD, "x");
    CHECK_EQ_INT(verdict_decide(&v, &t), DEC_HOLD);
    /* ... but a hold floor never softens a reject score. */
    verdict_init(&v, 0.95);
    verdict_add(&v, "links", "too_many_links", 0, DEC_HOLD, "x");
    CHECK_EQ_INT(verdict_decide(&v, &t), DEC_REJECT);
}

TEST(test_full_array_still_counts)
{
    struct verdict v;
    int i;

    verdict_init(&v, 0.5);
    for (i = 0; i < VERDICT_MAX_REASONS + 5; i++)
        verdict_add(&v, "t", "r", 0.1, DEC_ACCEPT, "reason %d", i);
    CHECK_EQ_INT(v.nreasons, VERDICT_MAX_REASONS);
    CHECK_EQ_INT(v.dropped, 5);
    CHECK_NEAR(v.logit, 0.1 * (VERDICT_MAX_REASONS + 5), 1e-9);
    verdict_add(&v, "t", "late", 0.0, DEC_REJECT, "dropped but decisive");
    CHECK_EQ_INT(v.floor, DEC_REJECT);
    CHECK_EQ_INT(v.dropped, 6);
    CHECK_EQ_STR(v.reasons[VERDICT_MAX_REASONS - 1].detail, "reason 23");
}

TEST(test_detail_format_and_copy)
{
    struct verdict v;

    verdict_init(&v, 0.5);
    verdict_add(&v, "links", "too_many_links", 1.5, DEC_HOLD,
                "%d links, more than the site's limit of %d", 3, 2);
    CHECK_EQ_STR(v.reasons[0].filter, "links");
    CHECK_EQ_STR(v.reasons[0].code, "too_many_links");
    CHECK_NEAR(v.reasons[0].contribution, 1.5, 0);
    CHECK_EQ_STR(v.reasons[0].detail, "3 links, more than the site's limit of 2");

    /* Over-long identifiers are cut to fit, NUL-terminated. */
    verdict_add(&v, "a-filter-name-that-is-too-long", "a_code_that_is_longer_than_24_bytes",
                0, DEC_ACCEPT, "x");
    CHECK_EQ_INT(strlen(v.reasons[1].filter), REASON_FILTER_MAX - 1);
    CHECK_EQ_INT(strlen(v.reasons[1].code), REASON_CODE_MAX - 1);
    CHECK(strncmp(v.reasons[1].filter, "a-filter-name-that", REASON_FILTER_MAX - 1) == 0);
}

/* Quote a long run of a multi-byte character and check the detail is cut
 * before a character, never in the middle of one. */
static void check_cut(const char *ch, size_t chlen)
{
    char quote[1024];
    struct verdict v;
    size_t i, len;

    for (i = 0; i + chlen < sizeof quote && i < 400; i += chlen)
        memcpy(quote + i, ch, chlen);
    quote[i] = '\0';
    verdict_init(&v, 0.5);
    /* One ASCII byte first so the cut falls at every offset in turn. */
    for (i = 0; i < chlen; i++) {
        char prefix[8];
        memset(prefix, 'x', i);
        prefix[i] = '\0';
        verdict_init(&v, 0.5);
        verdict_add(&v, "words", "blocked_word", 1, DEC_ACCEPT, "%s%s", prefix, quote);
        len = strlen(v.reasons[0].detail);
        CHECK(len <= REASON_DETAIL_MAX - 1);
        CHECK(len > REASON_DETAIL_MAX - 1 - chlen);
        CHECK(text_utf8_valid(v.reasons[0].detail, len));
        CHECK_EQ_INT((len - i) % chlen, 0);
    }
}

TEST(test_detail_truncated_on_utf8_boundary)
{
    struct verdict v;

    check_cut("\xC3\xA9", 2);         /* é */
    check_cut("\xE2\x82\xAC", 3);     /* € */
    check_cut("\xF0\x9F\x98\x80", 4); /* 😀 */

    /* A detail that just fits is kept whole. */
    {
        char s[REASON_DETAIL_MAX];
        memset(s, 'a', sizeof s - 1);
        s[sizeof s - 1] = '\0';
        verdict_init(&v, 0.5);
        verdict_add(&v, "t", "t", 0, DEC_ACCEPT, "%s", s);
        CHECK_EQ_INT(strlen(v.reasons[0].detail), REASON_DETAIL_MAX - 1);
    }
}

TEST(test_decision_names)
{
    enum decision d;

    CHECK_EQ_STR(decision_name(DEC_ACCEPT), "accept");
    CHECK_EQ_STR(decision_name(DEC_CHALLENGE), "challenge");
    CHECK_EQ_STR(decision_name(DEC_HOLD), "hold");
    CHECK_EQ_STR(decision_name(DEC_REJECT), "reject");
    CHECK(decision_name((enum decision)42) != NULL);
    CHECK(decision_name((enum decision)-1) != NULL);

    CHECK_EQ_INT(decision_parse("accept", &d), 0);
    CHECK_EQ_INT(d, DEC_ACCEPT);
    CHECK_EQ_INT(decision_parse("challenge", &d), 0);
    CHECK_EQ_INT(d, DEC_CHALLENGE);
    CHECK_EQ_INT(decision_parse("hold", &d), 0);
    CHECK_EQ_INT(d, DEC_HOLD);
    CHECK_EQ_INT(decision_parse("reject", &d), 0);
    CHECK_EQ_INT(d, DEC_REJECT);
    d = DEC_HOLD;
    CHECK_EQ_INT(decision_parse("spam", &d), -1);
    CHECK_EQ_INT(decision_parse("", &d), -1);
    CHECK_EQ_INT(decision_parse("rejected", &d), -1);
    CHECK_EQ_INT(decision_parse(NULL, &d), -1);
    CHECK_EQ_INT(d, DEC_HOLD); /* untouched on failure */
}

int main(void)
{
    RUN(test_prior_alone);
    RUN(test_prior_clamped);
    RUN(test_score_math);
    RUN(test_score_extremes);
    RUN(test_floor_is_max);
    RUN(test_decide_bands);
    RUN(test_decide_floor_only_stricter);
    RUN(test_full_array_still_counts);
    RUN(test_detail_format_and_copy);
    RUN(test_detail_truncated_on_utf8_boundary);
    RUN(test_decision_names);
    return TEST_REPORT();
}
