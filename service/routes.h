/* routes.h - the route table: method, path, handler, who may call it.
 *
 * Matching is exact on the path, except that a "{name}" segment of a
 * route's path matches any one non-empty segment ("/v1/sites/{site}/model"
 * matches "/v1/sites/demo/model", not "/v1/sites//model" nor
 * "/v1/sites/demo/model/"). A path that exists with another method gives
 * 405 with an Allow header, not 404. */
#ifndef MODGATE_ROUTES_H
#define MODGATE_ROUTES_H

#include <stddef.h>

#include "http.h"

typedef void (*route_fn)(struct http_request *req, struct http_response *resp);

#define ROLE_BIT(r) (1u << (r))

struct route {
    const char *method;
    const char *path;
    route_fn fn;
    unsigned roles;   /* ROLE_BITs allowed; 0 = public, no key needed */
    int json_body;    /* 1: needs an application/json body; 2: or a form
                         (application/x-www-form-urlencoded) */
};

/* The route for 'method' and 'path', or NULL. When NULL and the path
 * exists with other methods, 'allow' receives them ("GET, HEAD"), else "". */
const struct route *routes_match(const char *method, const char *path, char *allow,
                                size_t allowlen);

#endif
