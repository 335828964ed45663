/* jsonmem.h - where jansson's memory comes from: a request's parse tree
 * from an arena, everything else from malloc.
 *
 * Parsing a comment request makes about fifty small allocations (objects,
 * strings, hash buckets) that all die together when the check ends; with
 * malloc they cost more than the parsing does on this path. While an
 * arena is entered on a thread, jansson allocates from it and its frees
 * of arena memory do nothing; the tree is released by resetting the
 * arena, never by json_decref. Outside an arena, jansson uses malloc and
 * free as usual, so the rest of the code is unchanged. */
#ifndef MODGATE_JSONMEM_H
#define MODGATE_JSONMEM_H

typedef struct jarena jarena; /* opaque */

/* Route jansson's allocations through this module. Call once at startup,
 * before any thread uses jansson. Until then arenas are never used:
 * jarena_enter returns 0. */
void jsonmem_install(void);

/* A new empty arena (aborts on OOM). Free with jarena_free. */
jarena *jarena_new(void);

/* Make 'a' this thread's arena for jansson until jarena_leave. Returns 1,
 * or 0 (nothing changed) when jsonmem_install was not called: the caller
 * then owns its trees the usual way (json_decref). No nesting. */
int jarena_enter(jarena *a);
void jarena_leave(void);

/* Between these two, inside an arena, jansson allocates from malloc again
 * (frees of arena memory still do nothing): for what must outlive the
 * arena, such as an error reply made while parsing. Harmless outside.
 * jarena_pause returns the state to hand to jarena_resume, so that pauses
 * nest. */
int jarena_pause(void);
void jarena_resume(int was_paused);

/* Forget everything allocated from 'a' (its trees must not be used or
 * json_decref'd after this), keeping its first block for reuse. */
void jarena_reset(jarena *a);

/* Reset and free 'a'; NULL is fine. */
void jarena_free(jarena *a);

#endif
