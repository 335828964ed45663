/* pow_bench.c - what verifying one captcha solution costs, in process.
 *
 * Issues a challenge as /v1/captcha/challenge does, solves it, and times
 * pow_verify on the widget's payload (base64 of its JSON, as posted) over
 * many rounds, with the CPU's SHA instructions and without them. Prints
 * "verify_us", "verify_portable_us", "verify_general_us" (the JSON parser's
 * path, which other layouts take) and "challenge_us" (medians of 9
 * runs); bench.py divides verify_us by a check's CPU measured in the same
 * run. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hmac.h"
#include "pow.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One thing to time: 0 pow_verify, 1 pow_verify_general, 2 pow_challenge. */
struct job {
    const char *b64;
    size_t blen;
    const struct pow_key *key;
    int64_t now;
    const struct pow_issue *in;
    int what;
};

static int run_once(const struct job *j)
{
    struct pow_result r;
    if (j->what == 2) {
        char *c = pow_challenge(j->key, j->in);
        free(c);
        return c ? 0 : -1;
    }
    enum pow_status st = (j->what ? pow_verify_general : pow_verify)(j->b64, j->blen, j->key, 1, "cap", j->now, &r);
    return st == POW_OK ? 0 : -1;
}

/* The median over 9 runs of rounds/9 calls, in microseconds per call;
 * exits if a call fails (a benchmark of a refusal would be a wrong one). */
static double median_us(const struct job *j, long rounds)
{
    double runs[9];
    long n = rounds / 9 + 1;
    for (int k = 0; k < 9; k++) {
        double a = now_s();
        for (long i = 0; i < n; i++)
            if (run_once(j) != 0) {
                fprintf(stderr, "pow_bench: a call failed\n");
                exit(1);
            }
        runs[k] = (now_s() - a) / (double)n * 1e6;
    }
    qsort(runs, 9, sizeof *runs, cmp);
    return runs[4];
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 200000;
    if (sodium_init() < 0 || rounds < 1)
        return 1;
    static const unsigned char secret[] = "a bench secret of 32 bytes, ok!!";
    struct pow_key key;
    if (pow_key_init(&key, "b1", secret, 32, 0) != 0)
        return 1;
    int64_t t0 = (int64_t)time(NULL);
    /* the service's defaults: cost 200, a counter near counter_min */
    struct pow_issue in = { "cap", "news.example.org", t0, 300, 200, 150 };
    char *js = pow_challenge(&key, &in);
    json_t *ch = js ? json_loads(js, 0, NULL) : NULL;
    json_t *p = json_object_get(ch, "parameters");
    if (!p)
        return 1;
    unsigned char nonce[16], salt[16], dk[32];
    sodium_hex2bin(nonce, 16, json_string_value(json_object_get(p, "nonce")), 32, NULL, NULL, NULL);
    sodium_hex2bin(salt, 16, json_string_value(json_object_get(p, "salt")), 32, NULL, NULL, NULL);
    pow_derive(nonce, salt, 200, 150, dk);
    char dkh[65];
    sodium_bin2hex(dkh, sizeof dkh, dk, 32);
    /* the payload as the widget writes it: parameters exactly as received */
    json_t *pl = json_pack("{s:O, s:{s:i, s:s, s:i}}", "challenge", ch, "solution", "counter", 150,
                           "derivedKey", dkh, "time", 83);
    char *pj = json_dumps(pl, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t n = strlen(pj), cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(cap);
    sodium_bin2base64(b64, cap, (const unsigned char *)pj, n, sodium_base64_VARIANT_ORIGINAL);
    size_t blen = strlen(b64);
    struct pow_result r;
    if (pow_verify(b64, blen, &key, 1, "cap", t0, &r) != POW_OK) {
        fprintf(stderr, "pow_bench: the solved payload does not verify\n");
        return 1;
    }
    printf("payload_bytes %zu\nsha_instructions %d\n", blen, hmac_accelerated());
    struct job j = { b64, blen, &key, t0, &in, 0 };
    j.what = 0;
    printf("verify_us %.3f\n", median_us(&j, rounds));
    hmac_force_portable(1);
    printf("verify_portable_us %.3f\n", median_us(&j, rounds));
    hmac_force_portable(0);
    j.what = 1;
    printf("verify_general_us %.3f\n", median_us(&j, rounds / 10));
    j.what = 2;
    printf("challenge_us %.3f\n", median_us(&j, rounds / 100));
    free(b64);
    free(pj);
    json_decref(pl);
    json_decref(ch);
    free(js);
    return 0;
}
