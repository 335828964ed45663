/* text.c - strict UTF-8 validation and the normalised matching form.
 *
 * Spammers disguise words with full-width letters, accents, zero-width
 * characters and odd punctuation; normalising both the word lists and the
 * comment to one canonical form makes those disguises match. It runs on
 * every comment, so most text never reaches utf8proc's normaliser: ASCII
 * goes through a lookup table, and non-ASCII code points that
 * normalisation leaves alone (most lowercase letters, CJK, emoji) are
 * copied after one property lookup. Only the rest (capitals, accented or
 * full-width letters, marks, ignorables, Hangul) go through utf8proc. All
 * paths give byte-identical output to one utf8proc call over the whole
 * text; the unit tests check this for every code point.
 *
 * Apostrophes and all other punctuation are separators: "don't" becomes
 * "don t". That is what the Unicode categories give (U+0027 and U+2019 are
 * punctuation), it keeps the ASCII and general paths identical, and word
 * lists are normalised the same way, so the entry "don't" still matches. */
#include "text.h"

#include "xalloc.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* NFKC + case folding + mark stripping + removal of default-ignorable code
 * points, as the header promises. UTF8PROC_STRIPCC is deliberately not
 * used: it deletes LF and other controls outright, which would glue the
 * words on either side of a line break together; instead controls become
 * separators like every other non-word character. */
#define NORM_OPTIONS (UTF8PROC_COMPAT | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD | \
                      UTF8PROC_IGNORE | UTF8PROC_STRIPMARK)

/* Code points decomposed on the stack before falling back to the heap: a
 * 1 KiB buffer covers a run of a few hundred characters that need
 * utf8proc, more than a typical comment has in one go (a run ends at the
 * first ASCII or unchanged character). */
#define STACK_CPS 256

int text_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < n) {
        unsigned char c;

        /* Eight bytes at a time while they are all ASCII: the common case. */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, sizeof w);
            if (w & UINT64_C(0x8080808080808080))
                break;
            i += 8;
        }
        if (i >= n)
            break;
        c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        /* The ranges below are Table 3-7 of the Unicode standard, "Well-Formed
         * UTF-8 Byte Sequences": they exclude overlongs (C0, C1, E0 80-9F,
         * F0 80-8F), surrogates (ED A0-BF) and code points above U+10FFFF
         * (F4 90-BF, F5-FF). */
        if (c < 0xC2) {
            return 0; /* stray continuation byte or overlong C0/C1 */
        } else if (c < 0xE0) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80)
                return 0;
            i += 2;
        } else if (c < 0xF0) {
            unsigned char lo = 0x80, hi = 0xBF;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
            if (i + 2 >= n || s[i + 1] < lo || s[i + 1] > hi ||
                (s[i + 2] & 0xC0) != 0x80)
                return 0;
            i += 3;
        } else if (c < 0xF5) {
            unsigned char lo = 0x80, hi = 0xBF;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
            if (i + 3 >= n || s[i + 1] < lo || s[i + 1] > hi ||
                (s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80)
                return 0;
            i += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

/* The output being built: a growable buffer plus the separator state. A
 * separator is only written when the next word character arrives, which
 * both collapses runs and avoids leading or trailing spaces. */
struct out {
    char *buf;
    size_t len;
    size_t cap;
    int sep; /* a separator was seen since the last word character */
};

/* Make room for 'more' bytes plus the final NUL. */
static void out_reserve(struct out *o, size_t more)
{
    if (o->len + more + 1 > o->cap) {
        size_t cap = o->cap * 2;
        if (cap < o->len + more + 1)
            cap = o->len + more + 1;
        o->buf = xrealloc(o->buf, cap);
        o->cap = cap;
    }
}

/* For each ASCII byte: its lowercase form if it is a letter or digit (the
 * ASCII members of Unicode categories L and N), or 0 for a separator. */
static const char ascii_word[128] = {
    ['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4',
    ['5'] = '5', ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9',
    ['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd', ['E'] = 'e',
    ['F'] = 'f', ['G'] = 'g', ['H'] = 'h', ['I'] = 'i', ['J'] = 'j',
    ['K'] = 'k', ['L'] = 'l', ['M'] = 'm', ['N'] = 'n', ['O'] = 'o',
    ['P'] = 'p', ['Q'] = 'q', ['R'] = 'r', ['S'] = 's', ['T'] = 't',
    ['U'] = 'u', ['V'] = 'v', ['W'] = 'w', ['X'] = 'x', ['Y'] = 'y',
    ['Z'] = 'z',
    ['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd', ['e'] = 'e',
    ['f'] = 'f', ['g'] = 'g', ['h'] = 'h', ['i'] = 'i', ['j'] = 'j',
    ['k'] = 'k', ['l'] = 'l', ['m'] = 'm', ['n'] = 'n', ['o'] = 'o',
    ['p'] = 'p', ['q'] = 'q', ['r'] = 'r', ['s'] = 's', ['t'] = 't',
    ['u'] = 'u', ['v'] = 'v', ['w'] = 'w', ['x'] = 'x', ['y'] = 'y',
    ['z'] = 'z',
};

/* The fast path for s[0..n), all bytes < 0x80. Each input byte yields at
 * most one output byte, plus one space if a separator is pending from
 * before this run, so n + 1 bytes of room is enough. */
static void ascii_run(struct out *o, const unsigned char *s, size_t n)
{
    char *dst;
    size_t len;
    int sep = o->sep;
    size_t i;

    out_reserve(o, n + 1);
    dst = o->buf;
    len = o->len;
    for (i = 0; i < n; i++) {
        char c = ascii_word[s[i]];
        if (c) {
            if (sep && len > 0)
                dst[len++] = ' ';
            sep = 0;
            dst[len++] = c;
        } else {
            sep = 1;
        }
    }
    o->len = len;
    o->sep = sep;
}

/* Word characters are letters, marks and numbers: utf8proc numbers the
 * categories Lu Ll Lt Lm Lo Mn Mc Me Nd Nl No as 1..11. */
static int is_word_category(int cat)
{
    return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO;
}

/* Append one word or separator code point. 'utf8' is its encoding; valid
 * UTF-8 is the unique encoding of its code point, so input bytes can be
 * copied as they are. */
static void emit(struct out *o, int word, const unsigned char *utf8, size_t len)
{
    if (!word) {
        o->sep = 1;
        return;
    }
    out_reserve(o, len + 1);
    if (o->sep && o->len > 0)
        o->buf[o->len++] = ' ';
    o->sep = 0;
    memcpy(o->buf + o->len, utf8, len);
    o->len += len;
}

/* Append the code points cps[0..n) that utf8proc produced. ASCII uses the
 * same table as ascii_run so the paths cannot drift. */
static void emit_cps(struct out *o, const utf8proc_int32_t *cps, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        utf8proc_int32_t cp = cps[i];
        unsigned char enc[4];

        if (cp < 0x80) {
            enc[0] = (unsigned char)ascii_word[cp];
            emit(o, enc[0] != 0, enc, 1);
        } else {
            utf8proc_ssize_t len = utf8proc_encode_char(cp, enc);
            emit(o, is_word_category(utf8proc_category(cp)), enc, (size_t)len);
        }
    }
}

/* The general path for s[0..n): NFKC + casefold + strip marks and
 * ignorables through utf8proc, then segment. The decomposition goes into a
 * stack buffer when it fits; utf8proc reports the size it needs when it
 * does not, and we retry on the heap. Invalid input (a caller bug) is
 * treated as a separator rather than crashing. */
static void general_run(struct out *o, const unsigned char *s, size_t n)
{
    utf8proc_int32_t stack[STACK_CPS];
    utf8proc_int32_t *cps = stack;
    utf8proc_ssize_t got;

    if (n == 0)
        return;
    got = utf8proc_decompose_custom(s, (utf8proc_ssize_t)n, cps, STACK_CPS,
                                    NORM_OPTIONS, NULL, NULL);
    if (got > STACK_CPS) {
        cps = xrealloc(NULL, (size_t)got * sizeof *cps);
        got = utf8proc_decompose_custom(s, (utf8proc_ssize_t)n, cps, got,
                                        NORM_OPTIONS, NULL, NULL);
    }
    if (got >= 0)
        got = utf8proc_normalize_utf32(cps, got, NORM_OPTIONS);
    if (got < 0)
        o->sep = 1;
    else
        emit_cps(o, cps, (size_t)got);
    if (cps != stack)
        free(cps);
}

/* Decode the non-ASCII sequence at s[0..n). Returns its length, or 0 if it
 * is malformed (possible only if the caller skipped validation). Overlong
 * forms, surrogates and values above U+10FFFF are malformed too, so even
 * unvalidated input cannot be copied through as invalid UTF-8. */
static size_t decode(const unsigned char *s, size_t n, utf8proc_int32_t *cp)
{
    size_t len, i;
    utf8proc_int32_t v;

    if (s[0] >= 0xC2 && s[0] < 0xE0) {
        len = 2;
        v = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] < 0xF0) {
        len = 3;
        v = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] < 0xF5) {
        len = 4;
        v = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) ||
        (len == 4 && (v < 0x10000 || v > 0x10FFFF)))
        return 0;
    *cp = v;
    return len;
}

/* Hangul syllables and jamo: the one place where composition joins
 * characters that are not marks (L + V + T jamo -> syllable), and syllables
 * decompose algorithmically rather than through decomp_seqindex. */
static int is_hangul(utf8proc_int32_t cp)
{
    return (cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0x3130 && cp <= 0x318F) ||
           (cp >= 0xA960 && cp <= 0xA97F) || (cp >= 0xAC00 && cp <= 0xD7FF) ||
           (cp >= 0xFFA0 && cp <= 0xFFDC);
}

/* A code point that NORM_OPTIONS leave unchanged and that cannot combine
 * with its neighbours, so it can be copied without calling utf8proc: no
 * decomposition, no case folding, not ignorable, not a mark, not Hangul.
 * Marks are stripped before composition, so after stripping the only
 * compositions left are Hangul ones; the unit tests check this against
 * every primary composite in utf8proc's tables. */
static int is_stable(utf8proc_int32_t cp, const utf8proc_property_t *p)
{
    return p->decomp_seqindex == UINT16_MAX && p->casefold_seqindex == UINT16_MAX &&
           !p->ignorable && p->combining_class == 0 &&
           (p->category < UTF8PROC_CATEGORY_MN || p->category > UTF8PROC_CATEGORY_ME) &&
           !is_hangul(cp);
}

/* Walk the text: ASCII runs go through the table, stable non-ASCII code
 * points are copied, and each maximal run of other code points goes
 * through utf8proc in one call. Splitting there gives exactly what one
 * utf8proc call over the whole text would, because nothing outside such a
 * run can compose with or reorder against anything inside it: ASCII and
 * stable code points have combining class 0, so marks never reorder past
 * them; they are never the second half of a composition (those are marks
 * or Hangul); and the marks that could follow them as a second half are
 * stripped before composition happens (see is_stable). */
char *text_normalize(const char *str, size_t n, size_t *out_len)
{
    const unsigned char *s = (const unsigned char *)str;
    struct out o;
    size_t i = 0;
    size_t run = 0; /* start of the pending utf8proc run */
    int in_run = 0;

    o.cap = n + 1;
    o.buf = xrealloc(NULL, o.cap);
    o.len = 0;
    o.sep = 0;

    while (i < n) {
        utf8proc_int32_t cp;
        const utf8proc_property_t *p;
        size_t len;

        if (s[i] < 0x80) {
            size_t j = i + 1;
            while (j < n && s[j] < 0x80)
                j++;
            if (in_run) {
                general_run(&o, s + run, i - run);
                in_run = 0;
            }
            ascii_run(&o, s + i, j - i);
            i = j;
            continue;
        }
        len = decode(s + i, n - i, &cp);
        if (len == 0) {
            /* Malformed: end any run and treat the byte as a separator. */
            if (in_run) {
                general_run(&o, s + run, i - run);
                in_run = 0;
            }
            o.sep = 1;
            i++;
            continue;
        }
        p = utf8proc_get_property(cp);
        if (is_stable(cp, p)) {
            if (in_run) {
                general_run(&o, s + run, i - run);
                in_run = 0;
            }
            emit(&o, is_word_category(p->category), s + i, len);
        } else if (!in_run) {
            run = i;
            in_run = 1;
        }
        i += len;
    }
    if (in_run)
        general_run(&o, s + run, n - run);
    o.buf[o.len] = '\0';
    if (out_len)
        *out_len = o.len;
    return o.buf;
}

size_t text_word_count(const char *norm, size_t len)
{
    size_t words = 0;
    const char *p = norm, *end = norm + len;

    if (len == 0)
        return 0;
    /* Normalised text has single spaces between words, so words are
     * spaces + 1. */
    while ((p = memchr(p, ' ', (size_t)(end - p))) != NULL) {
        words++;
        p++;
    }
    return words + 1;
}
