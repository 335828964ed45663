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

#include <stddef.h>
#include <stdint.h>

#include "bayesdb.h"
#include "http.h"
#include "store.h"

/* POST /v1/learn (roles cms and moderator of the site). One Redis script
 * (the learn script of bayesdb.c), two when learning a held comment by
 * id; answers once this instance's model copy shows the change (at most
 * about a second later) so that a check right after it sees it. */
void learn_handle(struct http_request *req, struct http_response *resp);

/* A held comment learned by comment_id also leaves the moderation queue
 * (spam: state spam; ham: approved), in the same Redis script as the
 * lesson, with an audit entry and an event by the key. The queue is the
 * moderation room's, above this one: main.c hands its mover in here, as
 * it hands http.c the routes. Without one (unit tests), held comments
 * are learned and stay held. */
struct learn_move {
    const struct site_cfg *site;
    const char *id, *label, *by;  /* label "spam" or "ham"; by: the key's id */
    const char *fp;               /* the comment's fingerprint, */
    const char *z;                /* its raw score before the lesson (bayesdb_learn_z), */
    const uint64_t *toks;
    size_t ntoks;
};
struct learn_move_res {
    int moved;                    /* 1: it was held and is now in 'state' */
    char state[12];
    struct bayesdb_learn_res learn; /* rc as bayesdb's; with 'moved', what the
                                       model did ("" in changed: nothing new) */
};
typedef void (*learn_move_fn)(const struct learn_move *m, struct learn_move_res *res, store_done_fn done,
                              void *arg);
void learn_wire(learn_move_fn move);

/* POST /v1/unlearn: the same bodies; "label" is ignored. */
void unlearn_handle(struct http_request *req, struct http_response *resp);

/* GET /v1/sites/{site}/model (roles moderator and admin of the site). From
 * memory only: no Redis. */
void model_handle(struct http_request *req, struct http_response *resp);

#endif
