/* tokenize.h - a comment into the tokens the Bayes filter counts.
 *
 * One pass turns a raw comment body (any bytes: invalid UTF-8 is a token
 * of its own, never a crash) into a set of distinct tokens, each a 64-bit
 * hash plus its text (kept for the reasons of a check):
 *
 *   words        "free", "txt"        normalised (text.h: NFKC, case fold,
 *                                      marks and invisible characters gone),
 *                                      runs of 3+ equal letters squashed to 2
 *   word pairs   "b:call_now"
 *   char n-grams "c:e_fr", "c:_fre"   2- to 4-grams of the whole normalised
 *                                      text, '_' for the spaces between words
 *                                      and at its ends: they catch obfuscated
 *                                      and misspelt words, digits and link
 *                                      fragments, and carry across kinds of
 *                                      text where whole words do not
 *   links        "u:host:bit.ly", "u:dom:bit.ly", "u:path:abc", "u:short",
 *                "u:scheme:https"
 *   e-mail       "e:dom:gmail.com", "e:addr"
 *   numbers      "n:d5" (shape of a 5-digit number), "p:d11" (a phone
 *                number of 11 digits, however it is punctuated)
 *   symbols      "s:£", "s:😂" (currency, emoji and other symbols)
 *   markup       "h:br", "h:a"         HTML tags (their text is dropped,
 *                                      entities are decoded)
 *   metadata     "m:links:b", "m:words:e" (counts as log2 buckets: a = 0,
 *                b = 1, c = 2, d = 3-4, e = 5-8, ...), "m:caps:3" (capitals
 *                in fifths of the letters), "m:badutf8",
 *                "a:dom:example.com" (the author's URL)
 *
 * The work is bounded: at most TOK_MAX_INPUT bytes of a body are read
 * ("m:truncated" says more was there) and at most TOK_MAX tokens kept.
 * Pure code: no I/O; the list's memory is reused from one call to the next. */
#ifndef MODGATE_TOKENIZE_H
#define MODGATE_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

/* Bumped whenever the same text would give other tokens: a model learned
 * with another version does not match (see api.md, model export). */
#define TOK_VERSION 3

/* Distinct tokens kept per comment. A long comment reaches it with its
 * first few hundred words, which carry its character; beyond that the
 * filter's work and a learn's Redis write would grow without adding much. */
#define TOK_MAX 512

/* Bytes of a body that are tokenized: 16 KiB is several screens of text,
 * far more than any real comment, and bounds the work on a huge one. */
#define TOK_MAX_INPUT 16384

typedef struct tok_list tok_list; /* opaque */

struct tok_input {
    const char *body;       /* any bytes, not NUL-terminated */
    size_t body_len;
    const char *author_url; /* NUL-terminated, or NULL */
};

/* A new empty list. Never NULL (aborts on OOM). Free with tok_list_free. */
tok_list *tok_list_new(void);

/* Free a list; NULL is fine. */
void tok_list_free(tok_list *tl);

/* Replace the contents of 'tl' with the tokens of 'in'. */
void tok_run(tok_list *tl, const struct tok_input *in);

/* Number of distinct tokens, at most TOK_MAX. */
size_t tok_count(const tok_list *tl);

/* The number of leading tokens that are not character n-grams: the
 * tokenizer emits the n-grams last, so tokens [0, tok_lead) are words,
 * pairs, links and the other kinds a moderator reads easily. */
size_t tok_lead(const tok_list *tl);

/* The token hashes, tok_count() of them, in the order first seen.
 * Borrowed: valid until the next tok_run or tok_list_free. */
const uint64_t *tok_hashes(const tok_list *tl);

/* Copy the text of token 'i' ("c:e_fr", "free") into buf (size 'buflen',
 * NUL-terminated, cut to fit, possibly in the middle of a character) and
 * return its full length. Texts are not kept whole for every token, only
 * put together when asked: a check names at most a few. */
size_t tok_text(const tok_list *tl, size_t i, char *buf, size_t buflen);

/* Room tok_describe needs: the longest text plus the longest words. */
#define TOK_DESCRIBE_MAX 300

/* Token 'i' as a moderator reads it, into out (size 'outlen', at least
 * TOK_DESCRIBE_MAX for it never to be cut): a word or word pair in quotes
 * ("free", "call now"), an n-gram as "e fr" (part of the text), the other
 * kinds in words ("a link to bit.ly", "a phone number", "£"). Returns the
 * length written. */
size_t tok_describe(const tok_list *tl, size_t i, char *out, size_t outlen);

/* The hash of a token text: what tok_hashes holds for it. */
uint64_t tok_hash(const char *s, size_t n);

/* A 16-byte fingerprint (BLAKE2b) of the token list, as 32 lowercase hex
 * digits and a NUL in hex[33]: two comments with the same tokens are the
 * same comment to the model, so learning both counts once. */
void tok_fingerprint(const tok_list *tl, char hex[33]);

/* The same 16 bytes, not in hex. */
void tok_fingerprint_raw(const tok_list *tl, unsigned char out[16]);

#endif
