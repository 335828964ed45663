/* fuzz_reply.c - fuzz target for what modgate reads back from Redis.
 *
 * Includes service/redis/store.c to reach its static reply parsers. The first
 * byte is the request's bucket count (0-7); the rest is fed to hiredis's
 * RESP reader, and every complete reply goes through the check, hold and
 * ping parsers. Whatever a broken proxy or a wrong server sends, the
 * parsed result must be one the service can use without indexing out of
 * its arrays: a bucket within the request's, waits that are not negative,
 * a replay that is a string. The rest of the input is also taken as a
 * command for the EVALSHA -> EVAL rewrite after NOSCRIPT. */
#include "../../service/redis/store.c"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reply_or_error(redisReply *r, const char *err, int nb)
{
    struct store_check_res res;
    memset(&res, 0, sizeof res);
    res.bucket = -1;
    res.nbuckets = nb;
    parse_check(r, err, &res);
    if (res.status == ST_DOWN && !res.error[0])
        abort();
    if ((res.status == ST_OK && (res.bucket < -1 || res.bucket >= nb)) ||
        (res.status == ST_LIMITED && (res.bucket < 0 || res.bucket >= nb)))
        abort();
    free(res.replay);
}

static void check_reply(redisReply *r, int nb)
{
    struct store_check_res res;
    memset(&res, 0, sizeof res);
    res.bucket = -1;
    res.nbuckets = nb;
    parse_check(r, "redis: test", &res);
    switch (res.status) {
    case ST_OK:
        if (res.bucket < -1 || res.bucket >= nb)
            abort();
        break;
    case ST_LIMITED:
        if (res.bucket < 0 || res.bucket >= nb || res.retry_after_ms < 0)
            abort();
        break;
    case ST_API_LIMITED:
        if (res.retry_after_ms < 0)
            abort();
        break;
    case ST_REPLAY:
        if (!res.replay)
            abort();
        break;
    case ST_DOWN:
        if (!res.error[0])
            abort();
        break;
    default:
        abort();
    }
    free(res.replay);
    struct store_hold_res h;
    memset(&h, 0, sizeof h);
    parse_hold(r, "redis: test", &h);
    if (h.rc < -2 || h.rc > 1 || (h.rc < 0 && !h.error[0]))
        abort();
    struct ping_res p = { 0, "" };
    parse_ping(r, "redis: test", &p);
    if (p.rc != 0 && !p.error[0])
        abort();
}

/* The same reply as the answer of a script call joining n checks: each
 * check gets one element, or the call's error; every piece is freed
 * exactly once (ASan and the leak checker watch). Takes r. */
static void split_and_check(redisReply *r, int nb, int n)
{
    struct pending m[4];
    memset(m, 0, sizeof m);
    for (int i = 0; i < n; i++)
        m[i].next = i + 1 < n ? &m[i + 1] : NULL;
    split_reply(r, m, n);
    for (int i = 0; i < n; i++) {
        if (!m[i].reply && !m[i].err[0])
            abort();
        check_reply_or_error(m[i].reply, m[i].err, nb);
        if (m[i].reply)
            freeReplyObject(m[i].reply);
    }
}

/* hiredis 0.14 allocates an array reply's element table from the length
 * Redis announces, before any element arrives: "*655555555" asks for 5 GB.
 * That is hiredis trusting its server, not modgate's parsing, so such
 * inputs are skipped (modgate only talks to the Redis it is configured
 * with). */
static int huge_length(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (d[i] != '*' && d[i] != '$')
            continue;
        long long v = 0;
        for (size_t j = i + 1; j < n && d[j] >= '0' && d[j] <= '9' && v <= 100000; j++)
            v = v * 10 + (d[j] - '0');
        if (v > 100000)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || huge_length(data + 1, size - 1))
        return 0;
    int nb = data[0] & 7;
    redisReader *rd = redisReaderCreate();
    if (!rd)
        return 0;
    if (redisReaderFeed(rd, (const char *)data + 1, size - 1) == REDIS_OK) {
        for (int i = 0; i < 64; i++) {
            void *r = NULL;
            if (redisReaderGetReply(rd, &r) != REDIS_OK || !r)
                break;
            check_reply(r, nb);
            split_and_check(r, nb, 1 + (data[0] >> 3) % 4);
        }
    }
    redisReaderFree(rd);
    if (size - 1 <= INT_MAX) {
        int outlen = 0;
        char *eval = evalsha_to_eval((const char *)data + 1, (int)(size - 1), "return 1", &outlen);
        if (eval && (outlen <= 0 || memcmp(eval, data + 1, 1) != 0))
            abort();
        free(eval);
    }
    return 0;
}
