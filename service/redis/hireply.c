/* hireply.c - a hiredis reply as modgate's struct store_reply (see hireply.h). */
#include "hireply.h"

#include <hiredis/hiredis.h>
#include <string.h>

#include "store.h"
#include "util.h"

/* store.h promises callers hiredis's own type values, so a type is copied
 * as it is. */
_Static_assert(STORE_REPLY_STRING == REDIS_REPLY_STRING, "reply type values");
_Static_assert(STORE_REPLY_ARRAY == REDIS_REPLY_ARRAY, "reply type values");
_Static_assert(STORE_REPLY_INTEGER == REDIS_REPLY_INTEGER, "reply type values");
_Static_assert(STORE_REPLY_NIL == REDIS_REPLY_NIL, "reply type values");
_Static_assert(STORE_REPLY_STATUS == REDIS_REPLY_STATUS, "reply type values");
_Static_assert(STORE_REPLY_ERROR == REDIS_REPLY_ERROR, "reply type values");

/* What the tree of 'r' needs: nodes, element pointers, and string bytes
 * (each with its NUL) for a copy. hiredis bounds the nesting (its reader
 * refuses deeper replies), so the recursion is shallow. */
static void measure(const redisReply *r, size_t *nodes, size_t *ptrs, size_t *bytes)
{
    (*nodes)++;
    if (r->str)
        *bytes += r->len + 1;
    if (r->type == REDIS_REPLY_ARRAY && r->element) {
        *ptrs += r->elements;
        for (size_t i = 0; i < r->elements; i++)
            measure(r->element[i], nodes, ptrs, bytes);
    }
}

/* Fill the next node of '*node' from 'r', taking element pointers from
 * '*ptr' and, with 'copy', string bytes from '*chars'. Returns the node. */
static struct store_reply *fill(const redisReply *r, struct store_reply **node, struct store_reply ***ptr,
                                char **chars, int copy)
{
    struct store_reply *o = (*node)++;
    o->type = r->type;
    o->integer = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    o->len = r->str ? r->len : 0;
    o->str = r->str;
    if (r->str && copy) {
        memcpy(*chars, r->str, r->len);
        (*chars)[r->len] = '\0';
        o->str = *chars;
        *chars += r->len + 1;
    }
    o->elements = 0;
    o->element = NULL;
    if (r->type == REDIS_REPLY_ARRAY && r->element) {
        o->elements = r->elements;
        o->element = *ptr;
        *ptr += r->elements;
        for (size_t i = 0; i < r->elements; i++)
            o->element[i] = fill(r->element[i], node, ptr, chars, copy);
    }
    return o;
}

struct store_reply *hireply_new(const struct redisReply *r, int copy)
{
    if (!r)
        return NULL;
    size_t nodes = 0, ptrs = 0, bytes = 0;
    measure(r, &nodes, &ptrs, &bytes);
    if (!copy)
        bytes = 0;
    /* Nodes first, then the pointer arrays, then the bytes: each part
     * starts aligned for what it holds (the nodes' size is a multiple of a
     * node's alignment, at least a pointer's as a node holds pointers).
     * No overflow: 'r' itself takes more memory than its copy. */
    size_t size = nodes * sizeof(struct store_reply) + ptrs * sizeof(struct store_reply *) + bytes;
    char *block = xmalloc(size);
    struct store_reply *node = (struct store_reply *)(void *)block;
    struct store_reply **ptr = (struct store_reply **)(void *)(block + nodes * sizeof(struct store_reply));
    char *chars = (char *)(ptr + ptrs);
    return fill(r, &node, &ptr, &chars, copy);
}
