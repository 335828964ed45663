/* http.c - libmicrohttpd glue: one request context per request, the MHD
 * state machine followed exactly (allocate on the first call, append body
 * chunks, answer on the last call, free in the completion callback), and
 * every refusal that needs no body made before the body is read. */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "counters.h"
#include "log.h"
#include "util.h"

struct http_server {
    struct MHD_Daemon *d;
};

/* ---------- connections and the request deadline ----------
 *
 * libmicrohttpd's connection timeout is an idle timeout: a client that
 * sends a header line every few seconds keeps a connection forever, and a
 * few thousand of them fill every slot. So every connection is tracked
 * here from accept to close, with the time by which its current request
 * must have arrived whole (head and body), and a reaper thread shuts down
 * the ones past it:
 *
 *   accepted              the first request must arrive within
 *                         http.request_timeout_s of the accept
 *   request line read     (a later request on a kept-alive connection)
 *                         within request_timeout_s of that
 *   body complete         no deadline while modgate works (Redis)
 *   answer queued         sent within request_timeout_s
 *   answered, kept alive  the next request line must come within the idle
 *                         timeout plus request_timeout_s: libmicrohttpd
 *                         closes a silent connection at the idle timeout,
 *                         and this bounds one that trickles its request
 *                         line a byte at a time (nothing tells us when
 *                         the first byte of a request arrives)
 *
 * shutdown(2) on the socket makes libmicrohttpd's next read see the end,
 * so it closes the connection on its own thread as if the client had
 * gone. The socket is shut only under 'conns_mu', and libmicrohttpd calls
 * on_connection(CLOSED), which takes the connection off the list under
 * the same lock, before it closes the descriptor: a number the kernel has
 * already given to another socket is never shut down. */
struct conn {
    struct conn *prev, *next;
    int fd;
    int requests;                 /* requests begun on it (its own thread only) */
    _Atomic int64_t deadline_ms;  /* mono_ms(); 0: none (modgate is answering) */
    char ip[INET6_ADDRSTRLEN];
};

static struct http_wiring wiring; /* set by http_start, read only after */
static pthread_mutex_t conns_mu = PTHREAD_MUTEX_INITIALIZER;
static struct conn *conns;
static int64_t request_timeout_ms, idle_timeout_ms;
static pthread_t reaper_thr;
static int reaper_running;
static pthread_mutex_t reaper_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reaper_cv;  /* on CLOCK_MONOTONIC: see http_start */
static int reaper_quit;

static struct conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn *c = xcalloc(1, sizeof *c);
        const union MHD_ConnectionInfo *fi = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ai = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        c->fd = fi ? fi->connect_fd : -1;
        const struct sockaddr *sa = ai ? ai->client_addr : NULL;
        if (sa && sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, c->ip, sizeof c->ip);
        else if (sa && sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, c->ip, sizeof c->ip);
        atomic_store(&c->deadline_ms, mono_ms() + request_timeout_ms);
        pthread_mutex_lock(&conns_mu);
        c->next = conns;
        if (conns)
            conns->prev = c;
        conns = c;
        pthread_mutex_unlock(&conns_mu);
        *socket_context = c;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        struct conn *c = *socket_context;
        pthread_mutex_lock(&conns_mu);
        if (c->prev)
            c->prev->next = c->next;
        else
            conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        pthread_mutex_unlock(&conns_mu);
        *socket_context = NULL;
        free(c);
    }
}

/* libmicrohttpd has read a request line: a request has begun. Returns
 * the request's initial context, which must stay NULL (on_request
 * allocates it on its first call). */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *mc)
{
    (void)cls;
    (void)uri;
    struct conn *c = conn_of(mc);
    if (c && c->requests++ > 0) /* the first one keeps the deadline set at accept */
        atomic_store(&c->deadline_ms, mono_ms() + request_timeout_ms);
    return NULL;
}

/* The request has arrived whole (or is being refused): no deadline. */
static void conn_busy(struct MHD_Connection *mc)
{
    struct conn *c = conn_of(mc);
    if (c)
        atomic_store(&c->deadline_ms, 0);
}

/* The answer is queued: it must be sent within the request deadline too,
 * or a client reading a byte now and then would keep the slot forever
 * (libmicrohttpd's idle timeout counts any progress). */
static void conn_sending(struct MHD_Connection *mc)
{
    struct conn *c = conn_of(mc);
    if (c)
        atomic_store(&c->deadline_ms, mono_ms() + request_timeout_ms);
}

/* Answered and kept alive: see the table above. */
static void conn_idle(struct MHD_Connection *mc)
{
    struct conn *c = conn_of(mc);
    if (c)
        atomic_store(&c->deadline_ms, mono_ms() + idle_timeout_ms + request_timeout_ms);
}

/* Shut down every connection past its deadline; returns how many. */
static int reap(int64_t now)
{
    int n = 0;
    pthread_mutex_lock(&conns_mu);
    for (struct conn *c = conns; c; c = c->next) {
        int64_t d = atomic_load(&c->deadline_ms);
        if (d == 0 || now < d || c->fd < 0)
            continue;
        atomic_store(&c->deadline_ms, 0);
        /* Reset, not a polite close: what the kernel still buffers for a
         * slow reader (megabytes) is dropped instead of trickled out. */
        struct linger lg = { 1, 0 };
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        shutdown(c->fd, SHUT_RDWR);
        LOG_DEBUG(NULL, "closed a connection from %s: its request did not arrive within %lld s", c->ip,
                  (long long)(request_timeout_ms / 1000));
        n++;
    }
    pthread_mutex_unlock(&conns_mu);
    return n;
}

/* Every quarter second, so a deadline is kept to within that. One line a
 * sweep, not one per connection: a flood of slow clients must not flood
 * the log too. */
static void *reaper(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&reaper_mu);
    while (!reaper_quit) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts); /* a wall clock set back must not stop the sweeps */
        ts.tv_nsec += 250 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&reaper_cv, &reaper_mu, &ts);
        if (reaper_quit)
            break;
        pthread_mutex_unlock(&reaper_mu);
        int n = reap(mono_ms());
        if (n > 0) {
            metrics_http_closed("request_timeout", n);
            LOG_INFO(NULL, "closed %d connection%s whose request did not arrive within %lld s "
                     "(http.request_timeout_s)", n, n == 1 ? "" : "s", (long long)(request_timeout_ms / 1000));
        }
        pthread_mutex_lock(&reaper_mu);
    }
    pthread_mutex_unlock(&reaper_mu);
    return NULL;
}

enum { ASYNC_PENDING = 0, ASYNC_SUSPENDED, ASYNC_DONE };

static atomic_long inflight;
static atomic_int stopping;       /* once set, responses say Connection: close */
/* Connections suspended waiting for Redis. MHD must never be stopped
 * while one is: it would panic (and the spool would never be written). */
static atomic_long suspended;
static atomic_ullong next_id;
static char id_prefix[9];         /* random per process: ids unique across instances */

struct reqctx {
    struct http_request r;
    const struct route *route;
    struct buf body;
    int have_body;
    unsigned status;              /* for the access log */
    int early;                    /* a response was queued before the body was read */
    size_t too_big;               /* bytes dropped past the body limit */
    int phase;                    /* 0: handler not run yet; 1: ran (maybe suspended) */
    int suspended;                /* counted in 'suspended' until resumed */
    char method[8];
};

long http_inflight(void)
{
    return atomic_load(&inflight);
}

/* "PREFIX-N": the generated request id, without printf (every request). */
static void make_id(char out[40], unsigned long long n)
{
    char d[24], *w = d + sizeof d;
    do {
        *--w = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    memcpy(out, id_prefix, 8);
    out[8] = '-';
    memcpy(out + 9, w, (size_t)(d + sizeof d - w));
    out[9 + (d + sizeof d - w)] = 0;
}

/* A client's X-Request-Id is kept when it is short and plain, so a CMS can
 * follow one comment through its logs and ours. */
static int sane_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof(((struct http_request *)0)->id))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return 0;
    return 1;
}

static enum MHD_Result send_response(struct MHD_Connection *conn, struct reqctx *x,
                                     struct http_response *resp)
{
    if (!resp->body)
        reply_error(resp, 500, "internal", "the handler produced no response");
    size_t len = strlen(resp->body);
    struct MHD_Response *mr;
    if (strcmp(x->r.method, "HEAD") == 0) {
        free(resp->body);
        mr = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        mr = MHD_create_response_from_buffer(len, resp->body, MHD_RESPMEM_MUST_FREE);
        if (!mr)
            free(resp->body);
    }
    resp->body = NULL;
    if (!mr)
        return MHD_NO;
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type ? resp->content_type : "application/json");
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, resp->page ? "no-cache" : "no-store");
    MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
    if (resp->page) {
        /* The page shows comments written by anyone: no inline script, no
         * other origin, no framing, whatever a comment holds. */
        MHD_add_response_header(mr, "Content-Security-Policy",
                                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                                "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
        MHD_add_response_header(mr, "X-Frame-Options", "DENY");
        MHD_add_response_header(mr, "Referrer-Policy", "no-referrer");
    }
    MHD_add_response_header(mr, "X-Request-Id", x->r.id);
    if (resp->retry_after_s > 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%ld", resp->retry_after_s);
        MHD_add_response_header(mr, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (resp->allow)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_ALLOW, resp->allow);
    for (int i = 0; i < REPLY_HEADERS && resp->extra_header[i]; i++)
        MHD_add_response_header(mr, resp->extra_header[i], resp->extra_value[i]);
    if (resp->cors_origin) {
        MHD_add_response_header(mr, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, resp->cors_origin);
        MHD_add_response_header(mr, MHD_HTTP_HEADER_VARY, "Origin");
        if (resp->cors_preflight) {
            MHD_add_response_header(mr, "Access-Control-Allow-Methods", "GET");
            MHD_add_response_header(mr, "Access-Control-Max-Age", "600");
        }
    }
    if (resp->status == 401)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    /* An answer before the body is read ends the connection (libmicrohttpd
     * will not read what follows): say so. */
    if (x->early || atomic_load(&stopping))
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
    x->status = resp->status;
    enum MHD_Result ret = MHD_queue_response(conn, resp->status, mr);
    MHD_destroy_response(mr);
    conn_sending(conn);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, struct reqctx *x, unsigned status,
                                  const char *code, const char *msg, const char *allow)
{
    struct http_response resp = { 0 };
    reply_error(&resp, status, code, "%s", msg);
    resp.allow = allow;
    x->early = 1;
    return send_response(conn, x, &resp); /* which starts the answer's deadline */
}

/* Is 'ct' the media type 'type' (parameters such as charset allowed)? */
static int is_type(const char *ct, const char *type)
{
    if (!ct)
        return 0;
    size_t n = strlen(type);
    if (strncasecmp(ct, type, n) != 0)
        return 0;
    return ct[n] == 0 || ct[n] == ';' || ct[n] == ' ';
}

int http_is_form(const struct http_request *req)
{
    return is_type(http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE), "application/x-www-form-urlencoded");
}

/* ---------- framing ----------
 *
 * libmicrohttpd 0.9.75 frames a body by Transfer-Encoding when there is
 * one, whatever Content-Length says, takes the first of two
 * Content-Lengths, waits for the end of the connection under a coding it
 * does not know, and serves HTTP/1.2-1.9 and HTTP/1.1 without Host. A
 * proxy in front may frame the same bytes differently, and the
 * difference is a request smuggled past it. So the head is checked here,
 * before anything else, and any doubt is answered with an error and the
 * end of the connection (RFC 9112 6.1, 6.3): an answer given before the
 * body is read makes libmicrohttpd close the connection after it. */
struct head_scan {
    int cl, te, host;             /* how many of each header */
    const char *te_value;
    const char *bad_name;         /* a header name that is not an RFC 9110 token */
    size_t bytes;                 /* the head's size: names, values, ": ", CRLF */
};

/* RFC 9110 5.6.2 tchar, so "Transfer-Encoding :" (a space before the
 * colon, which libmicrohttpd keeps in the name) is refused, not ignored. */
static int is_token(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return 0;
    return 1;
}

/* Query arguments count toward the URL's length ("k=v&"). */
static enum MHD_Result scan_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 2;
    return MHD_YES;
}

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    struct head_scan *h = cls;
    h->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
    if (!h->bad_name && !is_token(key))
        h->bad_name = key;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        h->cl++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        h->te++;
        h->te_value = value;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
        h->host++;
    return MHD_YES;
}

/* Is the coding exactly "chunked" (any case, surrounding blanks allowed)?
 * Lists ("gzip, chunked") are codings modgate does not decode. */
static int is_chunked(const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    if (strncasecmp(v, "chunked", 7) != 0)
        return 0;
    for (v += 7; *v == ' ' || *v == '\t'; v++)
        ;
    return *v == 0;
}

/* The longest URL (path and query) a request may have: modgate's paths are
 * short, and a query carries a site name at most. */
#define MAX_URL 4096

/* libmicrohttpd's decoding of %HH in the path and the query arguments,
 * except "%00", which stays as it is: decoded, the NUL would end the
 * string, and /comments/a%00b would name comment "a". check_head refuses
 * a path that holds it. */
static size_t unescape(void *cls, struct MHD_Connection *mc, char *s)
{
    (void)cls;
    (void)mc;
    char *w = s;
    for (const char *r = s; *r;) {
        if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2]) &&
            !(r[1] == '0' && r[2] == '0')) {
            char hex[3] = { r[1], r[2], 0 };
            *w++ = (char)strtol(hex, NULL, 16);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
    return (size_t)(w - s);
}

/* Check the request head; on a problem, queue the error (which closes the
 * connection) and return its result with *refused set. */
static enum MHD_Result check_head(struct MHD_Connection *conn, struct reqctx *x, const char *url,
                                  const char *version, int *refused)
{
    *refused = 1;
    int v11 = strcmp(version, MHD_HTTP_VERSION_1_1) == 0;
    if (!v11 && strcmp(version, MHD_HTTP_VERSION_1_0) != 0)
        return send_error(conn, x, 505, "http_version_not_supported", "use HTTP/1.1 or HTTP/1.0", NULL);
    if (strstr(url, "%00"))
        return send_error(conn, x, 400, "invalid_path", "the path holds %00 (a NUL byte)", NULL);
    struct head_scan h = { 0 };
    MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_header, &h);
    size_t url_len = strlen(url);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, scan_arg, &url_len);
    if (url_len > MAX_URL) {
        char msg[96];
        snprintf(msg, sizeof msg, "the URL is longer than %d bytes", MAX_URL);
        return send_error(conn, x, 414, "uri_too_long", msg, NULL);
    }
    h.bytes += url_len + strlen(x->method) + strlen(version) + 4;
    if (h.bytes > x->r.cfg->max_header_bytes) {
        char msg[128];
        snprintf(msg, sizeof msg, "the request line and headers are %zu bytes; the limit is %zu (http.max_header_bytes)",
                 h.bytes, x->r.cfg->max_header_bytes);
        return send_error(conn, x, 431, "headers_too_large", msg, NULL);
    }
    if (h.bad_name)
        return send_error(conn, x, 400, "invalid_header",
                          "a header name holds a character that is not allowed (a space before the colon?)", NULL);
    if (v11 && h.host == 0)
        return send_error(conn, x, 400, "missing_host", "an HTTP/1.1 request needs a Host header", NULL);
    if (h.host > 1)
        return send_error(conn, x, 400, "invalid_framing", "more than one Host header", NULL);
    if (h.cl > 1)
        return send_error(conn, x, 400, "invalid_framing", "more than one Content-Length header", NULL);
    if (h.te) {
        if (h.cl)
            return send_error(conn, x, 400, "invalid_framing",
                              "Content-Length and Transfer-Encoding together (RFC 9112 6.1)", NULL);
        if (!v11)
            return send_error(conn, x, 400, "invalid_framing", "Transfer-Encoding in an HTTP/1.0 request", NULL);
        if (h.te > 1)
            return send_error(conn, x, 400, "invalid_framing", "more than one Transfer-Encoding header", NULL);
        if (!is_chunked(h.te_value))
            return send_error(conn, x, 501, "unsupported_transfer_coding",
                              "the only transfer coding accepted is chunked", NULL);
    }
    *refused = 0;
    return MHD_YES;
}

/* First call for a request: everything that can be refused without the
 * body is refused here, so a bad request costs no body bytes. */
static enum MHD_Result first_call(struct MHD_Connection *conn, struct reqctx *x, const char *url)
{
    char allow[64];
    x->route = wiring.match(x->r.method, url, allow, sizeof allow);
    if (!x->route) {
        if (allow[0]) {
            char msg[128];
            snprintf(msg, sizeof msg, "%s is not allowed here; use %s", x->r.method, allow);
            return send_error(conn, x, 405, "method_not_allowed", msg, allow);
        }
        return send_error(conn, x, 404, "not_found", "no such endpoint; see api.md", NULL);
    }
    if (x->route->roles) {
        const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        if (!h)
            return send_error(conn, x, 401, "unauthorized",
                              "missing Authorization: Bearer KEY header", NULL);
        if (auth_lookup(x->r.cfg, h, &x->r.ident) != 0)
            return send_error(conn, x, 401, "unauthorized", "the API key is not valid", NULL);
        x->r.authed = 1;
        if (!(x->route->roles & ROLE_BIT(x->r.ident.role))) {
            char msg[128];
            snprintf(msg, sizeof msg, "a %s key cannot call %s %s", role_name(x->r.ident.role),
                     x->r.method, x->route->path);
            return send_error(conn, x, 403, "wrong_role", msg, NULL);
        }
    }
    if (x->route->json_body) {
        const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (x->route->json_body != 3 && !is_type(ct, "application/json") &&
            !(x->route->json_body == 2 && is_type(ct, "application/x-www-form-urlencoded")))
            return send_error(conn, x, 415, "unsupported_media_type",
                              x->route->json_body == 2
                                  ? "send the body as Content-Type: application/json or application/x-www-form-urlencoded"
                                  : "send the body as Content-Type: application/json",
                              NULL);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        long n;
        if (cl && parse_long(cl, 0, 1L << 40, &n) == 0 && (size_t)n > x->r.cfg->max_body) {
            char msg[128];
            snprintf(msg, sizeof msg, "the body is %ld bytes; the limit is %zu", n, x->r.cfg->max_body);
            return send_error(conn, x, 413, "body_too_large", msg, NULL);
        }
        buf_init(&x->body);
        x->have_body = 1;
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)cls;
    struct reqctx *x = *con_cls;
    if (!x) {
        x = xcalloc(1, sizeof *x);
        *con_cls = x;
        atomic_fetch_add(&inflight, 1);
        x->r.start_us = mono_us();
        size_t ml = strnlen(method, sizeof x->method - 1);
        memcpy(x->method, method, ml);
        x->method[ml] = 0;
        x->r.method = x->method;
        x->r.path = url;
        x->r.cfg = cfg_acquire();
        const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
        if (rid && sane_id(rid))
            snprintf(x->r.id, sizeof x->r.id, "%s", rid);
        else
            make_id(x->r.id, atomic_fetch_add(&next_id, 1));
        int refused;
        enum MHD_Result hr = check_head(conn, x, url, version, &refused);
        return refused ? hr : first_call(conn, x, url);
    }
    if (x->early) { /* already answered: drop whatever body still comes */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!x->have_body) {
            *upload_data_size = 0; /* a body where none is expected is ignored */
            return MHD_YES;
        }
        if (x->too_big || x->body.len + *upload_data_size > x->r.cfg->max_body) {
            /* Chunked uploads have no Content-Length to refuse early, and
             * MHD cannot answer before the body is read: drop what comes,
             * answer 413 at the end, and cut off clients that keep going. */
            x->too_big += *upload_data_size;
            *upload_data_size = 0;
            return x->too_big > 16 * x->r.cfg->max_body ? MHD_NO : MHD_YES;
        }
        buf_append(&x->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (x->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "the body is larger than the limit of %zu bytes", x->r.cfg->max_body);
        return send_error(conn, x, 413, "body_too_large", msg, NULL);
    }
    if (x->have_body) {
        x->r.body = x->body.p;
        x->r.body_len = x->body.len;
    } else {
        x->r.body = "";
    }
    struct http_response resp = { 0 };
    if (x->phase == 0) {
        x->phase = 1;
        conn_busy(conn);
        x->r.conn = conn;
        x->route->fn(&x->r, &resp);
    } else if (x->suspended) { /* called again after MHD_resume_connection */
        x->suspended = 0;
        atomic_fetch_sub(&suspended, 1);
    }
    /* Run each stage whose asynchronous work is done; suspend at the first
     * that is still waiting. A stage that starts more work sets
     * req->resume to the next stage first. */
    while (!resp.body ? x->r.resume != NULL : x->r.finish != NULL) {
        if (resp.body) { /* an adapter's turn (http.h) */
            void (*fin)(struct http_request *, struct http_response *) = x->r.finish;
            x->r.finish = NULL;
            fin(&x->r, &resp);
            continue;
        }
        if (atomic_load(&x->r.async) != ASYNC_DONE) {
            /* Suspend first, then publish that we did: the completing
             * thread resumes only a connection it saw suspended. */
            MHD_suspend_connection(conn);
            int expected = ASYNC_PENDING;
            if (atomic_compare_exchange_strong(&x->r.async, &expected, ASYNC_SUSPENDED)) {
                x->suspended = 1;
                atomic_fetch_add(&suspended, 1);
            } else {
                MHD_resume_connection(conn); /* it finished meanwhile */
            }
            return MHD_YES;
        }
        void (*stage)(struct http_request *, struct http_response *) = x->r.resume;
        x->r.resume = NULL;
        atomic_store(&x->r.async, ASYNC_PENDING);
        stage(&x->r, &resp);
    }
    return send_response(conn, x, &resp);
}

const char *http_arg(const struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(const struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

int http_peer_ip(const struct http_request *req, char *out, size_t outlen)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (!sa)
        return -1;
    const void *a = sa->sa_family == AF_INET ? (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr
                    : sa->sa_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr
                    : NULL;
    return a && inet_ntop(sa->sa_family, a, out, (socklen_t)outlen) ? 0 : -1;
}

void http_async_done(struct http_request *req)
{
    struct MHD_Connection *conn = req->conn;
    int expected = ASYNC_PENDING;
    if (atomic_compare_exchange_strong(&req->async, &expected, ASYNC_DONE))
        return; /* the handler has not suspended: it will see DONE (and may
                 * already be freeing req, so nothing here touches it) */
    atomic_store(&req->async, ASYNC_DONE);
    MHD_resume_connection(conn);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    struct reqctx *x = *con_cls;
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        conn_idle(conn);
    if (!x)
        return;
    *con_cls = NULL;
    /* A client that hung up while its request waited for Redis: MHD ends
     * the resumed connection without calling on_request again. */
    if (x->suspended) {
        x->suspended = 0;
        atomic_fetch_sub(&suspended, 1);
    }
    int64_t us = mono_us() - x->r.start_us;
    if (x->status)
        metrics_request(x->route ? x->route->path : NULL, x->r.method, x->status, us);
    /* No key, no body, no comment text: ids, sizes and outcome only, as
     * fields (log.h), so that a path holding "\n" or " site=x" stays
     * inside its own quoted value. */
    if (LOG_ON(LOG_LVL_INFO)) {
        const struct log_field f[] = {
            { .key = "method", .bare = 1, .str = x->r.method },
            { .key = "path", .bare = 1, .str = x->r.path },
            { .key = "status", .type = LOG_F_INT, .bare = 1, .num = x->status },
            { .key = "ms", .type = LOG_F_MS, .num = us },
            { .key = "site", .str = x->r.site },
            { .key = "key", .str = x->r.authed ? x->r.ident.key_id : NULL },
            { .key = "bytes", .type = LOG_F_INT, .num = (long long)x->body.len },
            { .key = "note", .str = x->r.note[0] ? x->r.note : NULL },
            { .key = "ended_early", .type = LOG_F_FLAG, .num = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK },
        };
        log_fields(LOG_LVL_INFO, x->r.id, NULL, f, sizeof f / sizeof f[0]);
    }
    if (x->have_body)
        buf_free(&x->body);
    if (x->r.state && x->r.cleanup)
        x->r.cleanup(&x->r);
    if (x->r.xstate && x->r.xcleanup)
        x->r.xcleanup(x->r.xstate);
    cfg_release(x->r.cfg);
    free(x);
    atomic_fetch_sub(&inflight, 1);
}

/* Accept policy: every new connection while stopping is closed at once. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)cls;
    (void)addr;
    (void)addrlen;
    return atomic_load(&stopping) ? MHD_NO : MHD_YES;
}

/* libmicrohttpd found its own state broken: log and stop hard. */
static void on_panic(void *cls, const char *file, unsigned int line, const char *reason)
{
    (void)cls;
    LOG_ERROR(NULL, "libmicrohttpd panic at %s:%u: %s", file ? file : "?", line, reason ? reason : "?");
    abort();
}

/* libmicrohttpd's own messages (a request it refused itself, a broken
 * connection) as lines of our log, escaped like any other: it would print
 * them raw to stderr, outside the log's format and with bytes from the
 * client. Info, not warn: most are about a client's malformed request. */
__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (LOG_ON(LOG_LVL_INFO))
        log_vwrite(LOG_LVL_INFO, NULL, fmt, ap);
}

struct http_server *http_start(const struct cfg *c, const struct http_wiring *w, char *err, size_t errlen)
{
    wiring = *w;
    if (!id_prefix[0]) {
        uint32_t r = randombytes_random();
        snprintf(id_prefix, sizeof id_prefix, "%08x", r);
    }
    MHD_set_panic_func(on_panic, NULL);
    struct addrinfo hints = { 0 }, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port[8];
    snprintf(port, sizeof port, "%d", c->listen_port);
    int gai = getaddrinfo(c->listen_host[0] ? c->listen_host : NULL, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "listen: cannot resolve \"%s\": %s", c->listen_host, gai_strerror(gai));
        return NULL;
    }
    /* poll(2) by default: every check suspends its connection while Redis
     * works, and with epoll libmicrohttpd pays two epoll_ctl calls for each
     * suspend and resume plus a recv that finds nothing; with poll none of
     * them (strace: 6.9 -> 5.1 system calls per check, api.md). poll
     * costs in proportion to a thread's open connections, so epoll is
     * there for thousands of them. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | (c->use_epoll ? MHD_USE_EPOLL : MHD_USE_POLL) |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem pool[] = {
        { c->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t)c->threads, NULL },
        { MHD_OPTION_END, 0, NULL },
    };
    request_timeout_ms = (int64_t)c->request_timeout_s * 1000;
    idle_timeout_ms = (int64_t)c->connection_timeout_s * 1000;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)c->listen_port, on_accept, NULL, on_request, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, /* first, or MHD says so on stderr */
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
        MHD_OPTION_URI_LOG_CALLBACK, on_request_line, NULL,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->max_connections,
        /* Connections beyond this from one address are closed as soon as
         * they are accepted (0: no cap). */
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)c->max_connections_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->connection_timeout_s,
        /* The request line and headers must fit here (the body is
         * buffered by us, capped). libmicrohttpd clears the whole of it
         * after every request: 32 KiB, its default, was 6% of the
         * service's CPU at full load. 24 KiB holds a 12 KiB head, so
         * that one over http.max_header_bytes (8 KiB) still reaches
         * check_head and gets a JSON 431 instead of libmicrohttpd's HTML
         * (api.md, http.header_buffer_bytes). */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, c->header_buffer,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
        MHD_OPTION_ARRAY, pool,
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d) {
        snprintf(err, errlen, "cannot listen on %s:%d (in use, or not an address of this host)",
                 c->listen_host, c->listen_port);
        return NULL;
    }
    reaper_quit = 0;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&reaper_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&reaper_thr, NULL, reaper, NULL) != 0) {
        MHD_stop_daemon(d);
        snprintf(err, errlen, "cannot start the connection reaper thread");
        return NULL;
    }
    reaper_running = 1;
    struct http_server *s = xcalloc(1, sizeof *s);
    s->d = d;
    return s;
}

void http_stop(struct http_server *s, int grace_s)
{
    if (!s)
        return;
    /* No new connections from here on: on_accept closes each at once, so
     * a client is turned away, never left hanging. (Not
     * MHD_quiesce_daemon: in libmicrohttpd 0.9.75 it races the worker
     * threads removing the listening socket from their epoll sets and
     * panics when it loses.) */
    atomic_store(&stopping, 1);
    int64_t until = mono_ms() + (int64_t)grace_s * 1000;
    while (atomic_load(&inflight) > 0 && mono_ms() < until) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    /* Checks still waiting for Redis are answered now (degraded) rather
     * than waited for (wiring.overdue: main.c makes Redis fail fast). Fail-fast stays on until exit: a Redis that made
     * us wait past the grace is not waited for again: the spool is left
     * in its journal file untried. */
    if (atomic_load(&inflight) > 0) {
        LOG_WARN(NULL, "stopping with %ld requests still in flight after %d s; not waiting for Redis any longer",
                 atomic_load(&inflight), grace_s);
        if (wiring.overdue)
            wiring.overdue();
    }
    /* A request may still sit unread on a connection whose thread was
     * busy sending a batch to a stalled Redis: it is read as soon as that
     * thread is free, and now fails fast. Wait until nothing has been in
     * flight for 100 ms (1 s at most), then for the last suspended ones:
     * MHD must never be stopped with a connection suspended. */
    int64_t settle_until = mono_ms() + 1000;
    for (int quiet = 0; quiet < 5 && mono_ms() < settle_until;) {
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        quiet = atomic_load(&inflight) == 0 ? quiet + 1 : 0;
    }
    while (atomic_load(&suspended) > 0) {
        struct timespec ts = { 0, 5 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(s->d);
    if (reaper_running) {
        pthread_mutex_lock(&reaper_mu);
        reaper_quit = 1;
        pthread_cond_signal(&reaper_cv);
        pthread_mutex_unlock(&reaper_mu);
        pthread_join(reaper_thr, NULL);
        pthread_cond_destroy(&reaper_cv);
        reaper_running = 0;
    }
    free(s);
}
