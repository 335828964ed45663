/* jsonmem.c - jansson's allocator: arena inside jarena_enter, malloc outside.
 *
 * free() must tell arena memory from malloc's without a header on every
 * block (which would change every jansson allocation in the process): it
 * asks the thread's entered arena whether it owns the pointer, a range
 * check over its one or few blocks. That is why arena trees are never
 * json_decref'd outside their arena: there the check cannot be made. */
#include "jsonmem.h"

#include <jansson.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The arena's own block: a comment request of a few KiB (the tree is
 * about three times the body) never needs another. */
#define FIRST_BYTES 16384
/* The first block after the arena's own; each next one is twice the
 * last (or the allocation's size, if larger), so a tree of any size
 * spans a few blocks and owns() stays a short walk: with blocks of one
 * size, freeing a 1 MiB body's tree took seconds. */
#define CHUNK_BYTES 65536
#define ALIGN 16 /* what malloc guarantees */

struct chunk {
    struct chunk *next;
    size_t cap;
    alignas(ALIGN) unsigned char mem[];
};

struct jarena {
    struct chunk *extra;       /* blocks beyond the first, newest first */
    unsigned char *cur, *end;  /* the free part of the newest block */
    alignas(ALIGN) unsigned char first[FIRST_BYTES];
};

static _Thread_local jarena *current;
static _Thread_local int paused;
static int installed;

static int owns(const jarena *a, const void *p)
{
    uintptr_t u = (uintptr_t)p;
    if (u >= (uintptr_t)a->first && u < (uintptr_t)a->first + sizeof a->first)
        return 1;
    for (const struct chunk *c = a->extra; c; c = c->next)
        if (u >= (uintptr_t)c->mem && u < (uintptr_t)c->mem + c->cap)
            return 1;
    return 0;
}

static void *ja_malloc(size_t n)
{
    jarena *a = current;
    if (!a || paused)
        return malloc(n);
    if (n > SIZE_MAX / 2)
        return NULL; /* jansson reports it as out of memory */
    size_t need = n ? (n + ALIGN - 1) & ~(size_t)(ALIGN - 1) : ALIGN;
    if ((size_t)(a->end - a->cur) < need) {
        size_t cap = a->extra ? 2 * a->extra->cap : CHUNK_BYTES;
        if (cap < need)
            cap = need;
        struct chunk *c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = a->extra;
        c->cap = cap;
        a->extra = c;
        a->cur = c->mem;
        a->end = c->mem + cap;
    }
    void *p = a->cur;
    a->cur += need;
    return p;
}

static void ja_free(void *p)
{
    jarena *a = current;
    if (p && a && owns(a, p))
        return; /* released with the arena */
    free(p);
}

void jsonmem_install(void)
{
    json_set_alloc_funcs(ja_malloc, ja_free);
    installed = 1;
}

jarena *jarena_new(void)
{
    jarena *a = xmalloc(sizeof *a);
    a->extra = NULL;
    a->cur = a->first;
    a->end = a->first + sizeof a->first;
    return a;
}

int jarena_enter(jarena *a)
{
    if (!installed)
        return 0;
    current = a;
    paused = 0;
    return 1;
}

void jarena_leave(void)
{
    current = NULL;
    paused = 0;
}

int jarena_pause(void)
{
    int was = paused;
    paused = 1;
    return was;
}

void jarena_resume(int was_paused)
{
    paused = was_paused;
}

void jarena_reset(jarena *a)
{
    for (struct chunk *c = a->extra, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->extra = NULL;
    a->cur = a->first;
    a->end = a->first + sizeof a->first;
}

void jarena_free(jarena *a)
{
    if (!a)
        return;
    jarena_reset(a);
    free(a);
}
