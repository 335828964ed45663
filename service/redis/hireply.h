/* hireply.h - a hiredis reply as modgate's struct store_reply (store.h).
 *
 * Inside the Redis room only: store.c hands the other modules' parse
 * callbacks a store_reply built from the hiredis reply, and conn.c returns
 * one for every command of its blocking connections. */
#ifndef MODGATE_HIREPLY_H
#define MODGATE_HIREPLY_H

struct redisReply;
struct store_reply;

/* A store_reply tree with the shape and values of 'r' (NULL for NULL),
 * in one allocation: new, free() it (the root) once. With 'copy' the
 * strings are copied into it too, and it owns everything it points to;
 * without, its strings point into 'r', which must then outlive it (store.c
 * frees both right after the parse callback). */
struct store_reply *hireply_new(const struct redisReply *r, int copy);

#endif
