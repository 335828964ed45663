/* learn.h - teaching the Bayes filter over HTTP, and looking at a model.
 *
 *   POST /v1/learn               a comment (as sent to /v1/check, or a held
 *                                one by comment_id) is spam or ham
 *   POST /v1/unlearn             take such a lesson back
 *   GET  /v1/sites/{site}/model  what this instance holds of the site's model
 *
 * api.md section 2 documents the bodies, answers and error codes. */
#ifndef MODGATE_LEARN_H
#define MODGATE_LEARN_H

#include "http.h"

/* POST /v1/learn (roles cms and moderator of the site). One Redis script
 * (the learn script of bayesdb.c), two when learning a held comment by
 * id; answers once this instance's model copy shows the change (at most
 * about a second later) so that a check right after it sees it. */
void learn_handle(struct http_request *req, struct http_response *resp);

/* POST /v1/unlearn: the same bodies; "label" is ignored. */
void unlearn_handle(struct http_request *req, struct http_response *resp);

/* GET /v1/sites/{site}/model (roles moderator and admin of the site). From
 * memory only: no Redis. */
void model_handle(struct http_request *req, struct http_response *resp);

#endif
