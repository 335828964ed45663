/* coral.h - Coral's external moderation phase: POST
 * /v1/integrations/coral/{site} (api.md 2.12).
 *
 * Coral (coralproject/talk, 9.11.8) posts each new or edited comment to
 * the phase's callback URL, signed with the phase's secret, and waits for
 * a decision in its own schema. The adapter checks the signature against
 * sites.S.coral.secrets, turns Coral's request into a /v1/check body
 * without client (Coral sends no IP), runs the check, and answers in
 * Coral's schema. */
#ifndef MODGATE_CORAL_H
#define MODGATE_CORAL_H

#include "http.h"

/* The route's handler (public: the signature authenticates Coral). */
void coral_handle(struct http_request *req, struct http_response *resp);

#endif
