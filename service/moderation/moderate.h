/* moderate.h - the moderators' API and the CMS's changes feed (api.md
 * §2.8): the queue of held comments, one comment with its history,
 * actions on one comment or many, the audit log and the events feed.
 * Every handler answers for the site in its path, which the key must
 * belong to (admin keys configured at the top level: any site). */
#ifndef MODGATE_MODERATE_H
#define MODGATE_MODERATE_H

#include "http.h"

void queue_handle(struct http_request *req, struct http_response *resp);    /* GET .../queue */
void comment_handle(struct http_request *req, struct http_response *resp);  /* GET .../comments/{id} */
void action_handle(struct http_request *req, struct http_response *resp);   /* POST .../comments/{id}/action */
void actions_handle(struct http_request *req, struct http_response *resp);  /* POST .../actions */
void audit_handle(struct http_request *req, struct http_response *resp);    /* GET .../audit */
void events_handle(struct http_request *req, struct http_response *resp);   /* GET .../events */
void whoami_handle(struct http_request *req, struct http_response *resp);   /* GET /v1/whoami */

#endif
