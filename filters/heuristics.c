/* heuristics.c - the cheap, local spam rules.
 *
 * Each rule looks at one comment and, when it fires, adds a reason with a
 * log-odds weight from the site's config: honeypot, blocked and suspect
 * words, links (how many, whether the comment is little else, how dense),
 * shouting and long runs of one character. A rule that does not fire adds
 * nothing, so the reasons list explains exactly what counted. Everything
 * that needs shared state (duplicates, rates) is the service's job. */
#include "heuristics.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

#include "links.h"
#include "text.h"

/* "Little but links": fewer than this many words besides the links. A
 * real reply says at least a short sentence ("Thanks, great post"); link
 * drops say "nice" or nothing at all. */
#define LINK_ONLY_WORDS 3

/* Link density fires above one link per five words of text. A person
 * citing sources writes a sentence or more around each link, while link
 * lists pad each URL with a keyword or two ("cheap pills http://...").
 * Needs at least two links, so one link in a short reply is left to the
 * link_only rule. */
#define DENSITY_MIN_LINKS 2
#define DENSITY_MAX 0.2

/* The repeated-character detail shows at most this many copies of the
 * character: enough to see what it was without quoting the whole run. */
#define REPEAT_SHOW 10

/* BLAKE2b output size for fingerprints: 128 bits make accidental
 * collisions negligible for any number of comments a site will see. */
#define FP_BYTES 16

void heur_defaults(struct heur_config *c)
{
    memset(c, 0, sizeof *c);
    /* Weights are log-odds: +0.7 roughly doubles the odds of spam. Links
     * are the main payload of comment spam, but legitimate comments have
     * them too, so each link is weak and they are capped. Blocked words
     * and honeypots are near-certain (and force their floors anyway). */
    c->w.link = 0.5;
    c->w.link_cap = 2.0;
    c->w.link_only = 2.0;
    c->w.link_density = 1.0;
    c->w.too_many_links = 1.5;
    c->w.blocked_word = 6.0;
    c->w.suspect_word = 1.5;
    c->w.honeypot = 8.0;
    c->w.shouting = 1.0;
    c->w.repeated_chars = 0.5;
    c->w.duplicate = 2.5;
    /* More than max_links links forces hold: with 2, a comment with 3 or
     * more links is held. WordPress's "comment_max_links" (also 2) holds at
     * 2 or more; a site that wants exactly WordPress's behaviour sets 1. */
    c->max_links = 2;
    c->blocked = NULL;
    c->suspect = NULL;
    /* 20 letters is a short sentence: below that, "OK!" or "LOL" or an
     * acronym-heavy line is not shouting. 70% upper case leaves room for
     * the odd lowercase URL or unit in a comment typed in caps. */
    c->shout_min_letters = 20;
    c->shout_ratio = 0.7;
    /* Six in a row: "!!!" and "sooo" are ordinary emphasis, "!!!!!!" and
     * "soooooo" are the filler that spam bots and flooders use. */
    c->repeat_min_run = 6;
}

/* Add a reason unless the rule amounts to nothing (zero weight and no
 * floor), so the reasons list only shows what actually counted. */
#define ADD_REASON(v, filter, code, contrib, fl, ...)                      \
    do {                                                                  \
        if ((contrib) != 0.0 || (fl) != DEC_ACCEPT)                       \
            verdict_add((v), (filter), (code), (contrib), (fl), __VA_ARGS__); \
    } while (0)

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Decode one code point at s[0..n); returns its length (at least 1 so the
 * caller always advances, and the code point -1 for malformed input). */
static size_t next_cp(const char *s, size_t n, utf8proc_int32_t *cp)
{
    utf8proc_ssize_t len;

    if ((unsigned char)s[0] < 0x80) {
        *cp = (unsigned char)s[0];
        return 1;
    }
    len = utf8proc_iterate((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, cp);
    if (len <= 0) {
        *cp = -1;
        return 1;
    }
    return (size_t)len;
}

/* Words in s[0..n), as runs of letters, marks and numbers. Format
 * characters (zero-width space and friends) are skipped rather than
 * splitting a word, so "c\u200Bh\u200Be\u200Ba\u200Bp" cannot pose as five
 * words of real text. */
static size_t count_words(const char *s, size_t n)
{
    size_t i = 0, words = 0;
    int in_word = 0;

    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        int word;

        if (c < 0x80) {
            word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            i++;
        } else {
            utf8proc_int32_t cp;
            utf8proc_category_t cat;
            i += next_cp(s + i, n - i, &cp);
            cat = cp < 0 ? UTF8PROC_CATEGORY_CN : utf8proc_category(cp);
            if (cat == UTF8PROC_CATEGORY_CF)
                continue;
            word = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO;
        }
        if (word && !in_word)
            words++;
        in_word = word;
    }
    return words;
}

/* Words of the body that are not part of a link or of HTML markup: what is
 * left for a reader besides the links. The body is split at whitespace and
 * tags; a piece that links_scan finds a link in counts as no words. Only
 * pieces with a '.' or ':' can hold a link, which skips the scan for
 * almost every word. */
static size_t words_outside_links(const char *b, size_t n)
{
    size_t i = 0, words = 0;

    while (i < n) {
        unsigned char c = (unsigned char)b[i];
        size_t j;

        if (c == '<' && i + 1 < n) {
            unsigned char d = (unsigned char)b[i + 1];
            const char *gt = memchr(b + i, '>', n - i);
            if (gt && ((d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z') || d == '/' || d == '!')) {
                i = (size_t)(gt - b) + 1;
                continue;
            }
        }
        if (is_space(c)) {
            i++;
            continue;
        }
        j = i + 1;
        while (j < n && !is_space((unsigned char)b[j]) && b[j] != '<')
            j++;
        if (memchr(b + i, '.', j - i) || memchr(b + i, ':', j - i)) {
            struct links_info li;
            links_scan(b + i, j - i, &li);
            if (li.count == 0)
                words += count_words(b + i, j - i);
        } else {
            words += count_words(b + i, j - i);
        }
        i = j;
    }
    return words;
}

/* The link rules: per-link weight (capped), more than the site allows,
 * little but links, and many links for few words. Returns the count. */
static int link_rules(const struct heur_config *c, const struct heur_input *in,
                      struct verdict *v)
{
    struct links_info li;
    char hosts[REASON_DETAIL_MAX];
    size_t hl = 0, words;
    int i, n;
    double contrib;

    links_scan(in->body, in->body_len, &li);
    n = li.count;
    if (n == 0)
        return 0;

    hosts[0] = '\0';
    for (i = 0; i < li.nhosts && hl < sizeof hosts; i++) {
        int w = snprintf(hosts + hl, sizeof hosts - hl, "%s%s", i ? ", " : "", li.hosts[i]);
        if (w < 0)
            break;
        hl += (size_t)w;
    }
    contrib = fmin(n * c->w.link, c->w.link_cap);
    if (li.nhosts > 0)
        ADD_REASON(v, "links", "links", contrib, DEC_ACCEPT, "%d link%s: %s", n,
                   n == 1 ? "" : "s", hosts);
    else
        ADD_REASON(v, "links", "links", contrib, DEC_ACCEPT, "%d link%s", n, n == 1 ? "" : "s");

    if (c->max_links >= 0 && n > c->max_links)
        ADD_REASON(v, "links", "too_many_links", c->w.too_many_links, DEC_HOLD,
                   "%d links, more than the site's limit of %d", n, c->max_links);

    words = words_outside_links(in->body, in->body_len);
    if (words < LINK_ONLY_WORDS)
        ADD_REASON(v, "links", "link_only", c->w.link_only, DEC_ACCEPT,
                   "little but links: %zu other word%s", words, words == 1 ? "" : "s");
    if (n >= DENSITY_MIN_LINKS && (words == 0 || (double)n / (double)words > DENSITY_MAX))
        ADD_REASON(v, "links", "link_density", c->w.link_density, DEC_ACCEPT,
                   "%d links in %zu words of text", n, words);
    return n;
}

/* Shouting: enough cased letters, mostly upper case. Only letters that
 * have case count, so Chinese or Arabic text is never "shouting" and a
 * few capitals in it do not look like a high ratio. */
static void shouting_rule(const struct heur_config *c, const struct heur_input *in,
                          struct verdict *v)
{
    const char *s = in->body;
    size_t n = in->body_len, i = 0;
    long upper = 0, cased = 0;

    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x80) {
            if (ch >= 'A' && ch <= 'Z') {
                upper++;
                cased++;
            } else if (ch >= 'a' && ch <= 'z') {
                cased++;
            }
            i++;
        } else {
            utf8proc_int32_t cp;
            i += next_cp(s + i, n - i, &cp);
            if (cp < 0)
                continue;
            if (utf8proc_tolower(cp) != cp) {
                upper++;
                cased++;
            } else if (utf8proc_toupper(cp) != cp) {
                cased++;
            }
        }
    }
    if (cased >= c->shout_min_letters && cased > 0 &&
        (double)upper >= c->shout_ratio * (double)cased)
        ADD_REASON(v, "style", "shouting", c->w.shouting, DEC_ACCEPT,
                   "%ld of %ld letters are upper case", upper, cased);
}

/* Characters whose runs are layout, not emphasis: whitespace and controls
 * (indentation, blank lines), digits ("1000000") and the ASCII characters
 * people draw lines with ("-----", "=====", "_____"). */
static int run_exempt(utf8proc_int32_t cp)
{
    utf8proc_category_t cat;

    if (cp < 0x80)
        return cp <= ' ' || cp == 0x7F || (cp >= '0' && cp <= '9') || cp == '-' ||
               cp == '=' || cp == '_';
    cat = utf8proc_category(cp);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
           cat == UTF8PROC_CATEGORY_ZP || cat == UTF8PROC_CATEGORY_CC ||
           cat == UTF8PROC_CATEGORY_ND;
}

/* The longest run of one code point; the detail quotes a few copies of it
 * and the run's length. The "..." marking a cut goes outside the quotes so
 * a run of dots stays readable. */
static void repeat_rule(const struct heur_config *c, const struct heur_input *in,
                        struct verdict *v)
{
    const char *s = in->body;
    size_t n = in->body_len, i = 0;
    size_t best_at = 0, best_len = 0, run_at = 0, run_len = 0;
    long best = 0, run = 0;
    utf8proc_int32_t prev = -1;
    char shown[REPEAT_SHOW * 4 + 1]; /* up to 4 bytes per copy, plus NUL */
    size_t sl = 0;
    long k;

    while (i < n) {
        utf8proc_int32_t cp;
        size_t len = next_cp(s + i, n - i, &cp);

        if (cp >= 0 && cp == prev) {
            run++;
        } else {
            prev = cp;
            run = 1;
            run_at = i;
            run_len = len;
        }
        if (cp >= 0 && !run_exempt(cp) && run > best) {
            best = run;
            best_at = run_at;
            best_len = run_len;
        }
        i += len;
    }
    if (best < c->repeat_min_run || best_len == 0)
        return;
    for (k = 0; k < best && k < REPEAT_SHOW && sl + best_len < sizeof shown; k++) {
        memcpy(shown + sl, s + best_at, best_len);
        sl += best_len;
    }
    shown[sl] = '\0';
    ADD_REASON(v, "style", "repeated_chars", c->w.repeated_chars, DEC_ACCEPT,
               "\"%s\"%s (%ld in a row)", shown, best > REPEAT_SHOW ? "..." : "", best);
}

/* Rules run in a fixed order so the reasons list reads the same way for
 * every comment: honeypot, words, links, style. The author URL is not
 * looked at: it is the commenter's own site, which WordPress shows as the
 * link on their name, and counting it would penalise every commenter who
 * fills it in. */
void heur_run(const struct heur_config *c, const struct heur_input *in,
              struct verdict *v, int *nlinks)
{
    char match[256]; /* a phrase is at most 200 bytes plus '*' */
    int n;

    if (in->honeypot && in->honeypot[0])
        ADD_REASON(v, "honeypot", "honeypot", c->w.honeypot, DEC_REJECT,
                   "the hidden honeypot field was filled in");

    if (c->blocked && in->norm &&
        wordlist_find(c->blocked, in->norm, in->norm_len, match, sizeof match))
        ADD_REASON(v, "words", "blocked_word", c->w.blocked_word, DEC_REJECT,
                   "blocked word \"%s\"", match);
    if (c->suspect && in->norm &&
        wordlist_find(c->suspect, in->norm, in->norm_len, match, sizeof match))
        ADD_REASON(v, "words", "suspect_word", c->w.suspect_word, DEC_HOLD,
                   "suspect word \"%s\"", match);

    n = in->body ? link_rules(c, in, v) : 0;
    if (in->body) {
        shouting_rule(c, in, v);
        repeat_rule(c, in, v);
    }
    if (nlinks)
        *nlinks = n;
}

void heur_fingerprint(const char *norm, size_t len, char hex[33])
{
    unsigned char fp[FP_BYTES];

    crypto_generichash(fp, sizeof fp, (const unsigned char *)norm, len, NULL, 0);
    sodium_bin2hex(hex, 2 * FP_BYTES + 1, fp, sizeof fp);
}
