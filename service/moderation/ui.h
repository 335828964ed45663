/* ui.h - the moderator page (service/ui/), served at /ui/.
 *
 * The files are compiled into the binary (service/tools/embed.c writes
 * them into a C source at build time), so an installed modgate serves
 * the page with nothing beside it. */
#ifndef MODGATE_UI_H
#define MODGATE_UI_H

#include <stddef.h>

#include "http.h"

struct ui_file {
    const char *path;   /* "/ui/app.js" */
    const char *type;   /* its Content-Type */
    const char *data;   /* NUL-terminated text */
    size_t len;
};

/* The files, ending with an entry whose path is NULL. */
extern const struct ui_file ui_files[];

/* GET /ui/, /ui/app.js, ...: a file, with a strict Content-Security-Policy.
 * GET /ui: a redirect to /ui/. */
void ui_handle(struct http_request *req, struct http_response *resp);

#endif
