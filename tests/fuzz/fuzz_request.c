/* fuzz_request.c - fuzz target for the /v1/check request parser.
 *
 * Includes service/check.c to reach its static parse_request (as unit
 * tests may). Any byte string is either accepted, with the validated
 * fields holding their promises, or refused with a 400 whose body is a
 * JSON error envelope naming a code from api.md. Never a crash or a leak. */
#include "../../service/check.c"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const codes[] = { "invalid_json", "invalid_utf8", "duplicate_key", "wrong_type",
                                     "missing_field", "unknown_field", "invalid_field", NULL };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (sodium_init() < 0)
            abort();
        log_level = LOG_LVL_ERROR;
        ready = 1;
    }
    char *body = malloc(size + 1);
    memcpy(body, data, size);
    body[size] = 0;
    struct http_request req;
    memset(&req, 0, sizeof req);
    req.body = body;
    req.body_len = size;
    struct req_comment in;
    memset(&in, 0, sizeof in);
    struct http_response resp = { 0 };
    if (parse_request(&req, &in, 1, &resp) == 0) {
        if (resp.body || !in.site || !in.body || !in.ip[0] || !in.prefix[0])
            abort();
        if (!text_utf8_valid(in.body, in.body_len) || in.body_len == 0)
            abort();
        if (in.comment_id && (!*in.comment_id || strlen(in.comment_id) > 128))
            abort();
    } else {
        json_error_t je;
        json_t *e = resp.body ? json_loads(resp.body, 0, &je) : NULL;
        const char *code = json_string_value(json_object_get(json_object_get(e, "error"), "code"));
        int known = 0;
        for (const char *const *c = codes; code && *c; c++)
            known |= strcmp(*c, code) == 0;
        if (resp.status != 400 || !known)
            abort();
        json_decref(e);
    }
    json_decref(in.root);
    free(resp.body);
    free(body);
    return 0;
}
