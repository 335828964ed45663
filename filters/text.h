/* text.h - UTF-8 validation and the normalised form used for matching.
 *
 * Matching (word lists, duplicate detection) works on a normalised copy of
 * the text so that disguises map to the same thing: NFKC compatibility
 * folding (full-width letters, ligatures), Unicode case folding, marks
 * stripped (diacritics used as disguise), default-ignorable code points
 * removed (zero-width space/joiners, U+FEFF, soft hyphen), and every run of
 * non-word characters turned into one ASCII space. Word characters are
 * Unicode letters, marks and numbers. The result is a space-separated list
 * of words with no leading or trailing space. Pure ASCII input takes a fast
 * path that gives the same result as the general one. */
#ifndef MODGATE_TEXT_H
#define MODGATE_TEXT_H

#include <stddef.h>

/* Returns 1 if s[0..n) is well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF), 0 otherwise. NUL bytes are valid. */
int text_utf8_valid(const char *s, size_t n);

/* Normalise s[0..n) (which must be valid UTF-8) as described above.
 * Returns a new NUL-terminated string (caller frees with free()) and sets
 * *out_len to its length. Never returns NULL: aborts on out-of-memory. */
char *text_normalize(const char *s, size_t n, size_t *out_len);

/* Count the words of a normalised string (spaces + 1, 0 if empty). */
size_t text_word_count(const char *norm, size_t len);

#endif
