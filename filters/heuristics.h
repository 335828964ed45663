/* heuristics.h - the cheap rules: links, word lists, honeypot, shouting,
 * repeated characters.
 *
 * heur_run() reads one comment and adds its reasons to a verdict. It needs
 * no network; facts that need Redis (duplicates, rate limits) are added by
 * the service with the helpers at the end. Weights are log-odds
 * contributions, configurable per site. */
#ifndef MODGATE_HEURISTICS_H
#define MODGATE_HEURISTICS_H

#include <stddef.h>

#include "verdict.h"
#include "wordlist.h"

struct heur_weights {
    double link;           /* per link, up to link_cap in total */
    double link_cap;       /* most that links add together */
    double link_only;      /* body is little but links */
    double link_density;   /* many links for few words */
    double too_many_links; /* more than max_links (also forces hold) */
    double blocked_word;   /* also forces reject */
    double suspect_word;   /* also forces hold */
    double honeypot;       /* also forces reject */
    double shouting;       /* mostly upper case */
    double repeated_chars; /* "!!!!!!!!", "sooooooo" */
    double duplicate;      /* same body from many sources (service adds) */
};

struct heur_config {
    struct heur_weights w;
    int max_links;           /* more than this forces hold; -1 = no limit */
    const wordlist *blocked; /* borrowed; may be NULL */
    const wordlist *suspect; /* borrowed; may be NULL */
    int shout_min_letters;   /* shouting needs at least this many letters */
    double shout_ratio;      /* ... and this share of them upper case */
    int repeat_min_run;      /* a run of this many identical chars counts */
};

/* The defaults documented in api.md. */
void heur_defaults(struct heur_config *c);

struct heur_input {
    const char *body;      /* raw UTF-8 body (validated), not NUL-terminated */
    size_t body_len;
    const char *norm;      /* text_normalize(body), NUL-terminated */
    size_t norm_len;
    const char *author_url; /* may be NULL */
    const char *honeypot;   /* may be NULL; non-empty means a bot filled it */
};

/* Run every rule on 'in' and add reasons to 'v'. Also returns the link
 * count in *nlinks when nlinks is not NULL. */
void heur_run(const struct heur_config *c, const struct heur_input *in,
              struct verdict *v, int *nlinks);

/* A 16-byte fingerprint of a normalised body for duplicate counting
 * (BLAKE2b, so it cannot be steered into colliding with someone else's
 * comment). Writes 32 lowercase hex digits and a NUL into hex[33]. */
void heur_fingerprint(const char *norm, size_t len, char hex[33]);

#endif
