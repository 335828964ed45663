/* ui.c - the moderator page's files; see ui.h. */
#include "ui.h"

#include <string.h>

#include "reply.h"
#include "util.h"

void ui_handle(struct http_request *req, struct http_response *resp)
{
    if (strcmp(req->path, "/ui") == 0) {
        resp->status = 308;
        resp->body = xstrdup("");
        resp->content_type = "text/plain; charset=utf-8";
        reply_header(resp, "Location", "/ui/");
        return;
    }
    for (const struct ui_file *f = ui_files; f->path; f++)
        if (strcmp(f->path, req->path) == 0) {
            resp->status = 200;
            resp->body = xstrdup(f->data);
            resp->content_type = f->type;
            resp->page = 1;
            return;
        }
    reply_error(resp, 404, "not_found", "no such path");
}
