/* routes.h - the route table: method, path, handler, who may call it
 * (struct route: http.h). main.c hands routes_match to http_start.
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

/* The route for 'method' and 'path', or NULL. When NULL and the path
 * exists with other methods, 'allow' receives them ("GET, HEAD"), else "". */
const struct route *routes_match(const char *method, const char *path, char *allow,
                                size_t allowlen);

#endif
