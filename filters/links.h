/* links.h - finds links in a comment body.
 *
 * Counts what a reader would follow or copy: http(s)/ftp URLs, "www."
 * hosts, <a href> anchors, and bare domains with a well-known top-level
 * domain ("cheap-pills.com", "bit.ly/x"). The same URL inside an anchor's
 * href and its text counts once. Pure code over the raw UTF-8 body. */
#ifndef MODGATE_LINKS_H
#define MODGATE_LINKS_H

#include <stddef.h>

#define LINKS_MAX_HOSTS 8
#define LINKS_HOST_MAX 64

struct links_info {
    int count;            /* links found (capped at 1000) */
    int nhosts;           /* distinct hosts kept in hosts[] */
    char hosts[LINKS_MAX_HOSTS][LINKS_HOST_MAX]; /* lowercased, first seen first */
    size_t link_bytes;    /* bytes of the body taken by links */
};

/* Scan body[0..n) (valid UTF-8) and fill 'out'. */
void links_scan(const char *body, size_t n, struct links_info *out);

/* Called for every link found, in text order: it covers body[start..end)
 * (for an anchor, the whole "<a ...>" tag) and 'host' is its lowercased
 * host, "" when it has none (a relative href). A link inside an anchor's
 * text to the anchor's own host is reported although it is not counted. */
typedef void (*links_span_fn)(void *arg, size_t start, size_t end, const char *host);

/* links_scan that also calls 'fn' (with 'arg') for each link. */
void links_scan_spans(const char *body, size_t n, struct links_info *out, links_span_fn fn, void *arg);

#endif
