/* conn.h - a blocking Redis connection, for what waits on Redis by design.
 *
 * bayesdb.c's model sync thread (XREAD BLOCK) and its command-line tools
 * (learn, export, import) talk to Redis one command at a time, or a window
 * of pipelined ones, on a connection of their own; the service's requests
 * use store.h's lanes instead. The handle is opaque and replies are
 * store_reply trees (store.h), so hiredis stays in service/redis/. */
#ifndef MODGATE_CONN_H
#define MODGATE_CONN_H

#include <stddef.h>

struct conn;
struct redis_target;
struct store_reply;

/* Connect to 't' (its unix socket, else host and port) within 'conn_ms',
 * with 'cmd_ms' as the timeout of every command after, and TCP keepalive.
 * No AUTH or SELECT yet (conn_login): a caller may publish it first (for
 * conn_cut).
 * Returns the connection (new; conn_close), or NULL with hiredis's reason
 * in 'err'. */
struct conn *conn_open(const struct redis_target *t, int conn_ms, int cmd_ms, char *err, size_t errlen);

/* AUTH (with the user when 't' has one) when 't' has a password, then
 * SELECT when its db is not 0. Returns 0, or -1 when either failed or was
 * refused (conn_error says which when it was the connection). */
int conn_login(struct conn *c, const struct redis_target *t);

/* Send argv[0..argc) (lens[i] bytes each; 'lens' NULL: strlen of each)
 * and wait for the answer. Returns it (new; conn_reply_free), or NULL
 * when the connection failed (I/O error, timeout: conn_error; it must be
 * closed). An error reply is a reply (STORE_REPLY_ERROR). */
struct store_reply *conn_command_argv(struct conn *c, int argc, const char *const *argv, const size_t *lens);

/* Pipelining: queue the command (as conn_command_argv) without sending
 * it; conn_get_reply sends what is queued and returns the oldest answer
 * not taken yet, as conn_command_argv does. conn_append_argv returns 0,
 * or -1 (out of memory inside hiredis: conn_error). */
int conn_append_argv(struct conn *c, int argc, const char *const *argv, const size_t *lens);
struct store_reply *conn_get_reply(struct conn *c);

/* Free a reply of this module. Accepts NULL. */
void conn_reply_free(struct store_reply *r);

/* Why the connection failed (borrowed, until conn_close), or NULL while
 * it works. */
const char *conn_error(const struct conn *c);

/* From another thread: shut down every socket of 'c' (a cluster conn has
 * one per master, and any it makes after fails at once), to cut a
 * blocking command short: it then fails. The owner still closes it. */
void conn_cut(struct conn *c);

/* Close and free. Accepts NULL. */
void conn_close(struct conn *c);

#endif
