/* wordlist.h - whole-word, Unicode-aware phrase lists (blocked / suspect).
 *
 * A phrase is one or more words ("casino", "buy followers"). It is stored in
 * normalised form (see text.h), so "CASINO", "ｃａｓｉｎｏ" and "casino" with a
 * zero-width space inside all match the entry "casino". A phrase matches
 * only on whole words: "ass" does not match "class". A phrase ending in '*'
 * matches any word starting with its last word ("viagr*" matches "viagra"). */
#ifndef MODGATE_WORDLIST_H
#define MODGATE_WORDLIST_H

#include <stddef.h>

typedef struct wordlist wordlist; /* opaque */

/* A new empty list. Never NULL (aborts on OOM). Free with wordlist_free. */
wordlist *wordlist_new(void);

/* Free a list; NULL is fine. */
void wordlist_free(wordlist *wl);

/* Add a phrase (UTF-8). Returns 0, or -1 with a message in 'err' (size
 * 'errlen') when the phrase is invalid UTF-8, empty after normalisation,
 * longer than 8 words or 200 bytes, or has '*' anywhere but at the end. */
int wordlist_add(wordlist *wl, const char *phrase, char *err, size_t errlen);

/* Number of phrases in the list. */
size_t wordlist_size(const wordlist *wl);

/* Find the first phrase (in text order) that occurs in the normalised text
 * 'norm' (from text_normalize). Returns 1 and copies the matched phrase (as
 * stored, normalised, with any '*') into 'match' (size 'matchlen',
 * truncated) or returns 0 when nothing matches. Thread-safe: the list is
 * read-only after it is built. */
int wordlist_find(const wordlist *wl, const char *norm, size_t len,
                  char *match, size_t matchlen);

#endif
