/* xalloc.h - allocation that never returns NULL, for filters/ and service/.
 *
 * OOM policy: every allocation in modgate goes through these wrappers, which
 * abort() on failure, so there are no untested NULL branches elsewhere.
 * They live in filters/ because filters/ depends on nothing of service/;
 * service/ gets them through util.h. */
#ifndef MODGATE_XALLOC_H
#define MODGATE_XALLOC_H

#include <stddef.h>

/* malloc/calloc/realloc/strdup that abort on out-of-memory. New memory;
 * the caller frees it with free(). A size of 0 allocates 1 byte, so the
 * result is never NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* The first 'n' bytes of 's' (no NUL needed within them) and a NUL. */
char *xstrndup(const char *s, size_t n);

#endif
