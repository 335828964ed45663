/* fuzz_jfast.c - jfast_load against jansson on every input.
 *
 * For valid UTF-8 (what req_load hands it), jfast_load may give up, but a
 * tree it returns must equal json_loadb's (JSON_REJECT_DUPLICATES), and
 * where jansson refuses the input, jfast must give up too. The inputs are
 * also run inside a request arena (jsonmem.h), as the service runs them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jfast.h"
#include "jsonmem.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static jarena *arena;
    if (!arena) {
        jsonmem_install();
        arena = jarena_new();
    }
    const char *s = (const char *)data;
    if (!text_utf8_valid(s, size))
        return 0;
    json_error_t je;
    json_t *ref = json_loadb(s, size, JSON_REJECT_DUPLICATES, &je);
    json_t *got = jfast_load(s, size);
    if (got && (!ref || !json_equal(got, ref)))
        abort();
    json_decref(got);
    json_decref(ref);
    /* in an arena: the same answer, and nothing freed that was not its */
    if (!jarena_enter(arena))
        abort();
    json_t *in_arena = jfast_load(s, size);
    json_t *ref2 = in_arena ? NULL : json_loadb(s, size, JSON_REJECT_DUPLICATES, &je);
    jarena_leave();
    if ((in_arena != NULL) != (got != NULL))
        abort();
    (void)ref2; /* arena trees are dropped with the arena, never decref'd */
    jarena_reset(arena);
    return 0;
}
