/* reports.h - readers' reports of published comments (api.md 2.16): the
 * CMS reports on a reader's behalf; distinct readers are counted once,
 * and the K-th (reports.threshold) puts the comment in the queue's
 * "reported" state, where a moderator's decision labels it like a held
 * comment's (the filter, tuning, reputation), and tells the CMS through
 * the events feed. The counting is service/redis/lua/report.lua. */
#ifndef MODGATE_REPORTS_H
#define MODGATE_REPORTS_H

struct http_request;
struct http_response;

/* Register the script (call before store_start). */
void reports_init(void);

/* POST /v1/sites/{site}/comments/{id}/reports */
void reports_handle(struct http_request *req, struct http_response *resp);

#endif
