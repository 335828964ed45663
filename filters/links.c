/* links.c - finds the links a reader of a comment would follow or copy.
 *
 * Link spam does not always say "http://": it writes "www.x.com",
 * "bit.ly/abc", "cheap-pills.ru" or hides the URL in an <a href>. One left-
 * to-right pass over the raw body recognises four shapes: anchors with an
 * href, scheme URLs (http, https, ftp), "www." hosts, and bare domains
 * whose last label is a well-known top-level domain. Bare domains are the
 * risky part; the rules below (a known TLD, all-lower or all-upper case,
 * not part of an e-mail address, followed by an end, path or punctuation,
 * and a path for TLDs that are English words) keep "3.14", "e.g.",
 * "jane@example.org", "Mr.Smith" and "pain.it will" from counting. */
#include "links.h"

#include <string.h>
#include <utf8proc.h>

/* links.h promises the count is capped at 1000: far above any limit a
 * site sets, and it keeps the int from ever overflowing on huge bodies. */
#define COUNT_CAP 1000

/* Longest TLD in the table below ("website"); longer labels are not TLDs. */
#define TLD_MAX 7

/* Top-level domains a bare "name.tld" must end in to count as a link.
 * A bare word with a dot is only a link if readers would take it for one,
 * so this is a short list rather than the ~1500 delegated TLDs:
 * - the legacy generic TLDs that most legitimate links use;
 * - ccTLDs sold as generic names and used by URL shorteners and link
 *   pages (io co me ly gl gd be to cc ws tv ai);
 * - the cheap new gTLDs that abuse reports (Spamhaus, Interisle) rank
 *   highest for spam and phishing, and the formerly free Freenom ccTLDs
 *   (tk ml ga cf gq) plus pw;
 * - the largest national ccTLDs, which is where comment spam links point.
 * Left out on purpose: TLDs that are common words or file extensions in
 * ordinary prose and code ("is", "so", "do", "id", "sh", "py", "js",
 * "name", "work", "log"), where false links would hurt real comments. */
static const char *const tlds[] = {
    "ai", "app", "at", "au", "be", "bid", "biz", "br", "buzz", "ca", "cc",
    "cf", "ch", "click", "club", "cn", "co", "com", "cz", "de", "dev", "dk",
    "edu", "es", "eu", "fi", "fr", "fun", "ga", "gd", "gl", "gov", "gq",
    "icu", "in", "info", "io", "it", "jp", "kz", "life", "link", "live",
    "loan", "ly", "me", "ml", "mobi", "net", "nl", "no", "online", "org",
    "pl", "pro", "pw", "ru", "se", "shop", "site", "space", "store", "su",
    "tech", "tk", "to", "top", "tv", "ua", "uk", "us", "vip", "website",
    "win", "ws", "xyz",
};

#define NTLDS (sizeof tlds / sizeof tlds[0])

/* ccTLDs that are also everyday English words. "pain.it will" or
 * "cherthala.in case" is a missing space far more often than a link, so a
 * bare domain ending in one of these needs more evidence: a path, port or
 * query after it ("youtu.be/x"), or a third label ("x.co.in"). */
static const char *const word_tlds[] = {"at", "be", "in", "it", "me", "no", "to", "us"};

#define NWORD_TLDS (sizeof word_tlds / sizeof word_tlds[0])

/* State of one scan: the result, and the anchor whose text we are in, so
 * that "<a href=http://x.ru>http://x.ru</a>" counts once. */
struct scan {
    const unsigned char *s;
    size_t n;
    struct links_info *out;
    size_t anchor_end; /* anchor text is s[..anchor_end); 0 = none */
    char anchor_host[LINKS_HOST_MAX];
    links_span_fn fn;  /* told of every link's place; may be NULL */
    void *arg;
};

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_alnum(unsigned char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9');
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The length of the character at s[i] if it can be part of a URL in
 * running text, or 0 if it ends one. ASCII whitespace and controls, and
 * the quotes and angle brackets that delimit URLs in markup, end it. So
 * does any non-ASCII character that is not a letter, mark or number:
 * no-break and ideographic spaces, U+FEFF, curly quotes, CJK punctuation
 * and emoji are what follows a pasted URL, while letters (internationalised
 * hosts and paths) belong to it. */
static size_t url_char(const struct scan *sc, size_t i)
{
    unsigned char c = sc->s[i];
    utf8proc_int32_t cp;
    utf8proc_ssize_t len;
    utf8proc_category_t cat;

    if (c < 0x80)
        return (c <= ' ' || c == 0x7F || c == '"' || c == '\'' || c == '<' ||
                c == '>' || c == '`') ? 0 : 1;
    len = utf8proc_iterate(sc->s + i, (utf8proc_ssize_t)(sc->n - i), &cp);
    if (len <= 0 || cp < 0)
        return 0;
    cat = utf8proc_category(cp);
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO) ? (size_t)len : 0;
}

/* Does s[0..n) start with the lowercase ASCII word w, ignoring case? */
static int starts_with_ci(const unsigned char *s, size_t n, const char *w)
{
    size_t i, len = strlen(w);

    if (len > n)
        return 0;
    for (i = 0; i < len; i++)
        if (lower(s[i]) != (unsigned char)w[i])
            return 0;
    return 1;
}

/* Host names compare without case and without a leading "www.", so
 * "www.x.ru" in the href and "x.ru" in the anchor text are one link. */
static const char *skip_www(const char *h)
{
    return strncmp(h, "www.", 4) == 0 ? h + 4 : h;
}

/* Copy host s[0..n) lowercased into dst[LINKS_HOST_MAX], dropping a
 * trailing dot ("x.com." is x.com) and cutting a long name on a UTF-8
 * boundary. Returns its length. */
static size_t host_copy(char *dst, const unsigned char *s, size_t n)
{
    size_t i;

    while (n > 0 && s[n - 1] == '.')
        n--;
    if (n > LINKS_HOST_MAX - 1) {
        n = LINKS_HOST_MAX - 1;
        while (n > 0 && (s[n] & 0xC0) == 0x80)
            n--;
    }
    for (i = 0; i < n; i++)
        dst[i] = (char)lower(s[i]);
    dst[n] = '\0';
    return n;
}

/* Remember a host, once, while there is room. */
static void add_host(struct links_info *out, const char *host)
{
    int i;

    if (!host[0])
        return;
    for (i = 0; i < out->nhosts; i++)
        if (strcmp(out->hosts[i], host) == 0)
            return;
    if (out->nhosts < LINKS_MAX_HOSTS) {
        memcpy(out->hosts[out->nhosts], host, strlen(host) + 1);
        out->nhosts++;
    }
}

/* Record a link covering s[start..end) with host 'host' ("" if unknown).
 * Inside an anchor's text, a link to the anchor's own host only adds its
 * bytes: the reader sees one link, not two. */
static void found(struct scan *sc, size_t start, size_t end, const char *host)
{
    struct links_info *out = sc->out;

    if (sc->fn)
        sc->fn(sc->arg, start, end, host);
    out->link_bytes += end - start;
    if (start < sc->anchor_end && host[0] &&
        strcmp(skip_www(host), skip_www(sc->anchor_host)) == 0)
        return;
    if (out->count < COUNT_CAP)
        out->count++;
    add_host(out, host);
}

/* Extend a URL from 'i' to where it ends in running text, then give back
 * trailing punctuation that belongs to the sentence ("see x.com/a."), and
 * closing brackets that the URL did not open ("(see x.com/a)") while
 * keeping balanced ones (Wikipedia's "/wiki/Foo_(bar)"). */
static size_t url_end(const struct scan *sc, size_t start, size_t i)
{
    const unsigned char *s = sc->s;
    long parens = 0, brackets = 0; /* opened minus closed inside the URL */
    size_t k;

    while (i < sc->n) {
        size_t len = url_char(sc, i);
        if (len == 0)
            break;
        i += len;
    }
    for (k = start; k < i; k++) {
        if (s[k] == '(')
            parens++;
        else if (s[k] == ')')
            parens--;
        else if (s[k] == '[')
            brackets++;
        else if (s[k] == ']')
            brackets--;
    }
    while (i > start) {
        unsigned char c = s[i - 1];
        if (c == ')' && parens < 0)
            parens++;
        else if (c == ']' && brackets < 0)
            brackets++;
        else if (!(c == '.' || c == ',' || c == ';' || c == ':' || c == '!' ||
                   c == '?' || c == '*'))
            break;
        i--;
    }
    return i;
}

/* Parse the authority after "scheme://" at s[a..): skip "user:pass@",
 * stop at the path, query, fragment or port. Writes the host into
 * host[LINKS_HOST_MAX] and returns its length (0 if there is none). */
static size_t authority_host(const struct scan *sc, size_t a, size_t lim, char *host)
{
    const unsigned char *s = sc->s;
    size_t b = a, at = a, h;

    while (b < lim && s[b] != '/' && s[b] != '?' && s[b] != '#') {
        size_t len = url_char(sc, b);
        if (len == 0)
            break;
        b += len;
    }
    if (b > lim)
        b = lim;
    for (h = a; h < b; h++)
        if (s[h] == '@')
            at = h + 1;
    /* An IPv6 literal keeps its colons; otherwise a colon starts the port. */
    if (at < b && s[at] == '[') {
        for (h = at; h < b && s[h] != ']'; h++)
            ;
        if (h < b)
            h++;
    } else {
        for (h = at; h < b && s[h] != ':'; h++)
            ;
    }
    return host_copy(host, s + at, h - at);
}

/* "http://", "https://" or "ftp://" at s[i], any case. */
static int try_scheme(struct scan *sc, size_t i, size_t *next)
{
    static const char *const schemes[] = {"http://", "https://", "ftp://"};
    const unsigned char *p = sc->s + i;
    size_t rest = sc->n - i, k, end;
    char host[LINKS_HOST_MAX];

    /* Every token start comes here; most are not 'h' or 'f'. */
    if (lower(p[0]) != 'h' && lower(p[0]) != 'f')
        return 0;
    for (k = 0; k < sizeof schemes / sizeof schemes[0]; k++) {
        size_t len = strlen(schemes[k]);
        if (!starts_with_ci(p, rest, schemes[k]))
            continue;
        /* The host is read within the URL as trimmed, so "(http://x.ru)"
         * does not make ")" part of the host. */
        end = url_end(sc, i, i + len);
        if (end <= i + len || authority_host(sc, i + len, end, host) == 0)
            return 0; /* "http://" alone is not something to follow */
        found(sc, i, end, host);
        *next = end;
        return 1;
    }
    return 0;
}

/* Is s[0..n) one of the TLDs? It must be all lower or all upper case:
 * "BIT.LY" and "bit.ly" are links, but "post.It" is a missing space after
 * a full stop. Returns 0 if not, 2 for a word TLD, 1 for any other. */
static int is_tld(const unsigned char *s, size_t n)
{
    char t[TLD_MAX + 1];
    size_t i, k;
    int up = 0, low = 0;

    if (n == 0 || n > TLD_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        if (!is_alpha(s[i]))
            return 0;
        if (s[i] >= 'a')
            low = 1;
        else
            up = 1;
        t[i] = (char)lower(s[i]);
    }
    if (up && low)
        return 0;
    t[n] = '\0';
    for (k = 0; k < NTLDS; k++) {
        if (strcmp(t, tlds[k]) == 0) {
            size_t w;
            for (w = 0; w < NWORD_TLDS; w++)
                if (strcmp(t, word_tlds[w]) == 0)
                    return 2;
            return 1;
        }
    }
    return 0;
}

static int is_domain_char(unsigned char c)
{
    return is_alnum(c) || c == '-' || c == '.';
}

/* A bare domain or "www." host in the run of letters, digits, '-' and '.'
 * starting at s[i]. The run may hold more than the domain ("here...x.com"),
 * so the domain is the longest dot-separated suffix of non-empty labels.
 * Always sets *next past the run so the scan does not restart inside it. */
static int try_domain(struct scan *sc, size_t i, size_t *next)
{
    const unsigned char *s = sc->s;
    size_t j = i, r, dot, ds, labels, e, end;
    int www, path;
    char host[LINKS_HOST_MAX];

    while (j < sc->n && is_domain_char(s[j]))
        j++;
    *next = j;
    /* Part of an e-mail address, either side of the '@', or of an
     * identifier ("my_site.com" in code). */
    if ((i > 0 && (s[i - 1] == '@' || s[i - 1] == '_')) || (j < sc->n && s[j] == '@'))
        return 0;
    /* A full stop after the domain is the sentence's, not the domain's. */
    r = j;
    while (r > i && s[r - 1] == '.')
        r--;
    /* Walk back over labels from the end; each is a run without '.', and
     * an empty one ("..") or the start of the run ends the domain. */
    ds = r;
    dot = r;
    labels = 0;
    e = r;
    for (;;) {
        size_t ls = e;
        while (ls > i && s[ls - 1] != '.')
            ls--;
        if (ls == e)
            break;
        if (++labels == 1)
            dot = ls; /* the TLD starts here */
        ds = ls;
        if (ls == i)
            break;
        e = ls - 1; /* step over the '.' */
    }
    if (labels < 2)
        return 0;
    www = starts_with_ci(s + ds, r - ds, "www.");
    path = r < sc->n && (s[r] == '/' || s[r] == ':' || s[r] == '?' || s[r] == '#');
    if (!www) {
        int tld = is_tld(s + dot, r - dot);
        if (tld == 0 || (tld == 2 && !path && labels < 3))
            return 0;
    }
    /* What follows must end the name: end of text, a path or port, space
     * or punctuation. '_' would make it an identifier ("x.com_y"). */
    if (r < sc->n && s[r] == '_')
        return 0;
    host_copy(host, s + ds, r - ds);
    end = r;
    if (path)
        end = url_end(sc, r, r);
    if (end < r)
        end = r;
    found(sc, ds, end, host);
    if (end > *next)
        *next = end;
    return 1;
}

/* The host of an href value v[0..n): a scheme URL, "//host", "www.host"
 * or "host.tld/..."; relative links and mailto: have none. */
static void href_host(const struct scan *sc, size_t v, size_t ve, char *host)
{
    static const char *const schemes[] = {"http://", "https://", "ftp://", "//"};
    const unsigned char *s = sc->s;
    size_t k, e;

    host[0] = '\0';
    for (k = 0; k < sizeof schemes / sizeof schemes[0]; k++) {
        size_t len = strlen(schemes[k]);
        if (starts_with_ci(s + v, ve - v, schemes[k])) {
            authority_host(sc, v + len, ve, host);
            return;
        }
    }
    /* Scheme-less: take it as a host if its first part has a dot. */
    for (e = v; e < ve && (is_domain_char(s[e]) || s[e] >= 0x80); e++)
        ;
    if (e > v && is_alnum(s[v]) && memchr(s + v, '.', e - v) &&
        (e == ve || s[e] == '/' || s[e] == ':' || s[e] == '?' || s[e] == '#'))
        host_copy(host, s + v, e - v);
}

/* An anchor "<a ... href=...>" at s[i]. Counts the href once and marks
 * the anchor's text so a repeat of the same host there is not counted
 * again. */
static int try_anchor(struct scan *sc, size_t i, size_t *next)
{
    const unsigned char *s = sc->s;
    size_t n = sc->n, gt, k, v = 0, ve = 0;
    unsigned char q = 0;
    int have_href = 0;

    if (i + 2 >= n || lower(s[i + 1]) != 'a' || !(is_space(s[i + 2]) || s[i + 2] == '/'))
        return 0;
    /* Find the end of the tag, skipping '>' inside quoted values. */
    for (gt = i + 2; gt < n; gt++) {
        if (q) {
            if (s[gt] == q)
                q = 0;
        } else if (s[gt] == '"' || s[gt] == '\'') {
            q = s[gt];
        } else if (s[gt] == '>') {
            break;
        }
    }
    if (gt >= n)
        return 0; /* not a finished tag: let the other rules see its text */

    for (k = i + 2; k + 4 <= gt && !have_href; k++) {
        size_t p;
        if (!(is_space(s[k - 1]) || s[k - 1] == '/' || s[k - 1] == '"' || s[k - 1] == '\''))
            continue;
        if (!starts_with_ci(s + k, gt - k, "href"))
            continue;
        p = k + 4;
        while (p < gt && is_space(s[p]))
            p++;
        if (p >= gt || s[p] != '=')
            continue;
        p++;
        while (p < gt && is_space(s[p]))
            p++;
        if (p < gt && (s[p] == '"' || s[p] == '\'')) {
            unsigned char quote = s[p++];
            v = p;
            while (p < gt && s[p] != quote)
                p++;
            ve = p;
        } else {
            v = p;
            while (p < gt && !is_space(s[p]))
                p++;
            ve = p;
        }
        /* Leading spaces inside quotes are ignored by browsers too. */
        while (v < ve && is_space(s[v]))
            v++;
        have_href = ve > v;
    }
    /* Without an href it is not a link; scan its text like any other so
     * that "<a x http://spam.ru >" in a plain-text comment still counts. */
    if (!have_href)
        return 0;
    *next = gt + 1;

    /* Close the previous anchor's region before opening this one. */
    sc->anchor_end = 0;
    href_host(sc, v, ve, sc->anchor_host);
    found(sc, i, gt + 1, sc->anchor_host);
    /* The anchor's text runs to "</a" or, unclosed, to the end. */
    sc->anchor_end = n;
    for (k = gt + 1; k + 3 <= n; k++) {
        if (s[k] == '<' && s[k + 1] == '/' && lower(s[k + 2]) == 'a') {
            sc->anchor_end = k;
            break;
        }
    }
    return 1;
}

void links_scan(const char *body, size_t n, struct links_info *out)
{
    links_scan_spans(body, n, out, NULL, NULL);
}

void links_scan_spans(const char *body, size_t n, struct links_info *out, links_span_fn fn, void *arg)
{
    struct scan sc;
    size_t i = 0;

    memset(out, 0, sizeof *out);
    sc.s = (const unsigned char *)body;
    sc.n = n;
    sc.out = out;
    sc.anchor_end = 0;
    sc.anchor_host[0] = '\0';
    sc.fn = fn;
    sc.arg = arg;

    while (i < n) {
        unsigned char c = sc.s[i];
        size_t next;

        if (c == '<') {
            if (try_anchor(&sc, i, &next)) {
                i = next;
                continue;
            }
            i++;
            continue;
        }
        /* Links start at the start of a token: a letter or digit that does
         * not continue a name ("xhttp", "a.b" inside a longer run). */
        if (is_alnum(c) && (i == 0 || !is_domain_char(sc.s[i - 1]))) {
            if (try_scheme(&sc, i, &next)) {
                i = next;
                continue;
            }
            try_domain(&sc, i, &next);
            i = next > i ? next : i + 1;
            continue;
        }
        i++;
    }
}
