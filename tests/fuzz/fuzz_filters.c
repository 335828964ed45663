/* fuzz_filters.c - fuzz target for the comment filters (untrusted text).
 *
 * Any byte string: invalid UTF-8 must be refused by text_utf8_valid, and
 * valid UTF-8 must go through normalisation, word lists, link scanning and
 * every heuristic without a crash, a leak or undefined behaviour, with
 * results that hold their invariants. Built two ways:
 *   make fuzz         clang -fsanitize=fuzzer,address,undefined (libFuzzer)
 *   make test         gcc + standalone.c, replaying tests/fuzz/corpus/filters
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "heuristics.h"
#include "links.h"
#include "text.h"
#include "verdict.h"
#include "wordlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static wordlist *blocked, *suspect;

static void setup(void)
{
    if (blocked)
        return;
    if (sodium_init() < 0)
        abort();
    blocked = wordlist_new();
    suspect = wordlist_new();
    char err[160];
    const char *b[] = { "casino", "buy followers", "viagr*", "ｃａｓｉｎｏ", "Żółw" };
    const char *s[] = { "crypto", "whatsapp", "free money" };
    for (size_t i = 0; i < sizeof b / sizeof *b; i++)
        if (wordlist_add(blocked, b[i], err, sizeof err) != 0)
            abort();
    for (size_t i = 0; i < sizeof s / sizeof *s; i++)
        if (wordlist_add(suspect, s[i], err, sizeof err) != 0)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    const char *text = (const char *)data;
    if (!text_utf8_valid(text, size)) {
        /* A phrase that is not UTF-8 is refused, never stored. */
        char *phrase = malloc(size + 1);
        memcpy(phrase, data, size);
        phrase[size] = 0;
        char err[160];
        wordlist *wl = wordlist_new();
        if (strlen(phrase) == size && wordlist_add(wl, phrase, err, sizeof err) == 0)
            abort();
        wordlist_free(wl);
        free(phrase);
        return 0;
    }
    size_t nlen;
    char *norm = text_normalize(text, size, &nlen);
    /* Invariants: valid UTF-8, no leading/trailing/double spaces. */
    if (strlen(norm) != nlen || !text_utf8_valid(norm, nlen))
        abort();
    if (nlen && (norm[0] == ' ' || norm[nlen - 1] == ' ' || strstr(norm, "  ")))
        abort();
    /* Normalising twice changes nothing. */
    size_t n2;
    char *again = text_normalize(norm, nlen, &n2);
    if (n2 != nlen || memcmp(again, norm, nlen) != 0)
        abort();
    free(again);

    char match[128];
    wordlist_find(blocked, norm, nlen, match, sizeof match);
    struct links_info li;
    links_scan(text, size, &li);
    if (li.count < 0 || li.nhosts < 0 || li.nhosts > LINKS_MAX_HOSTS || li.link_bytes > size)
        abort();

    struct heur_config hc;
    heur_defaults(&hc);
    hc.blocked = blocked;
    hc.suspect = suspect;
    struct verdict v;
    verdict_init(&v, 0.1);
    struct heur_input in = { text, size, norm, nlen, NULL, size & 1 ? "x" : NULL };
    int nlinks = 0;
    heur_run(&hc, &in, &v, &nlinks);
    double score = verdict_score(&v);
    if (!(score >= 0 && score <= 1) || v.nreasons > VERDICT_MAX_REASONS)
        abort();
    for (int i = 0; i < v.nreasons; i++)
        if (!text_utf8_valid(v.reasons[i].detail, strlen(v.reasons[i].detail)))
            abort(); /* details go into JSON answers */
    char fp[33];
    heur_fingerprint(norm, nlen, fp);
    free(norm);
    return 0;
}
