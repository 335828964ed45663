/* http.h - the HTTP face: libmicrohttpd daemon, request state machine,
 * early refusal of bad requests, and graceful stop.
 *
 * Only http.c includes microhttpd.h. Handlers get a struct http_request
 * whose body is complete and whose route, auth and size checks passed. */
#ifndef MODGATE_HTTP_H
#define MODGATE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "config.h"
#include "reply.h"

struct http_request {
    char id[40];             /* request id: X-Request-Id if sane, else generated */
    const char *method;
    const char *path;
    const char *body;        /* NUL-terminated; body_len bytes */
    size_t body_len;
    struct cfg *cfg;         /* referenced for the request's whole life */
    int authed;              /* 1 when ident is valid */
    struct ident ident;
    int64_t start_us;
    const char *site;        /* for the access log, set by handlers (borrowed) */
    char note[128];          /* for the access log: outcome, never content */
    /* Asynchronous handlers: see http_async_done. */
    void (*resume)(struct http_request *req, struct http_response *resp);
    void (*cleanup)(struct http_request *req); /* frees 'state' if resume never ran */
    void *state;
    /* An adapter (integrations/) that hands the request to another
     * handler, with a body it made: 'finish' then turns that handler's
     * response into the adapter's own. It runs on the request's thread
     * once the response is filled, and may itself start asynchronous work
     * (set resume and return no body). 'xstate' is the adapter's, freed
     * by 'xcleanup' when the request ends, whatever happened. */
    void (*finish)(struct http_request *req, struct http_response *resp);
    void *xstate;
    void (*xcleanup)(void *xstate);
    _Atomic int async;       /* private to http.c */
    void *conn;              /* private to http.c: the MHD connection */
};

/* A handler that waits for Redis sets req->resume (the next stage),
 * req->state and req->cleanup, starts the work and returns without a
 * response. Whoever completes the work calls http_async_done(req), from
 * any thread, possibly before the handler has returned; the stage then
 * runs on the request's own thread. A stage either fills the response or
 * does the same again (sets req->resume, starts more work). The HTTP
 * thread never blocks meanwhile: the connection is suspended and other
 * connections are served. */
void http_async_done(struct http_request *req);

/* A query-string argument or a request header of 'req' (borrowed, valid
 * while the request lives), or NULL. Only from the request's own thread. */
const char *http_arg(const struct http_request *req, const char *name);
const char *http_header(const struct http_request *req, const char *name);

/* Is the request's body a form (application/x-www-form-urlencoded)? */
int http_is_form(const struct http_request *req);

/* The address of the client's end of the connection, as text, into
 * out[outlen] (at least 64). Returns 0, or -1 when it is unknown. */
int http_peer_ip(const struct http_request *req, char *out, size_t outlen);

/* ---------- routes and wiring ---------- */

/* A route's handler: fills 'resp', or starts asynchronous work (above). */
typedef void (*route_fn)(struct http_request *req, struct http_response *resp);

#define ROLE_BIT(r) (1u << (r))

struct route {
    const char *method;
    const char *path;
    route_fn fn;
    unsigned roles;   /* ROLE_BITs allowed; 0 = public, no key needed */
    int json_body;    /* 1: needs an application/json body; 2: or a form
                         (application/x-www-form-urlencoded); 3: a body
                         of any type, which the handler decodes */
};

/* What main.c wires the server to, so that http/ calls no room above it
 * (the route table calls every handler; the handlers use http/). */
struct http_wiring {
    /* The route for 'method' and 'path', or NULL; when NULL and the path
     * exists with other methods, 'allow' gets them (routes.h's
     * routes_match). */
    const struct route *(*match)(const char *method, const char *path, char *allow, size_t allowlen);
    /* Called by http_stop when requests are still in flight after the
     * grace: from then on what they wait for must answer at once (main.c:
     * Redis fails fast). NULL: nothing to call. */
    void (*overdue)(void);
};

struct http_server;

/* Start serving with the settings of 'c' (listen address, threads, limits)
 * and the routes and stop hook of 'w' (copied). Returns NULL with a
 * reason in err. */
struct http_server *http_start(const struct cfg *c, const struct http_wiring *w, char *err, size_t errlen);

/* Stop accepting, let requests in flight finish (at most grace_s
 * seconds), then stop. Frees the server. */
void http_stop(struct http_server *s, int grace_s);

/* Requests being processed right now. */
long http_inflight(void);

#endif
