/* jfast.h - the common case of jansson's json_loadb, fast.
 *
 * jansson reads its input a byte at a time through a stream with UTF-8
 * checks of its own: for a comment request that was about a quarter of a
 * check's instructions. jfast_load reads the plain, common JSON of API
 * requests in one tight pass and builds the same jansson tree. Anything
 * it is not sure of (an error, a real number, an integer of 19 digits or
 * more, \u0000, a lone surrogate, a duplicate key, deep nesting, a
 * top-level value that is not an object or array) makes it give up, and
 * the caller asks jansson, which also words the error. So whenever it
 * returns a tree, json_loadb(s, n, JSON_REJECT_DUPLICATES) would return
 * an equal one (tests/unit/test_jfast.c, and a fuzz target that compares
 * the two on every input). */
#ifndef MODGATE_JFAST_H
#define MODGATE_JFAST_H

#include <jansson.h>
#include <stddef.h>

/* The tree of s[0..n), which must be valid UTF-8 (new; json_decref), or
 * NULL: ask json_loadb. */
json_t *jfast_load(const char *s, size_t n);

#endif
