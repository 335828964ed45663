/* test_links.c - link counting on the shapes real comment spam uses, and
 * on ordinary text that must not look like links. */
#include <stdlib.h>
#include <string.h>

#include "links.h"
#include "test.h"

static struct links_info scan(const char *s)
{
    struct links_info li;
    links_scan(s, strlen(s), &li);
    return li;
}

static int count(const char *s)
{
    return scan(s).count;
}

/* The hosts as one comma-separated string, for compact checks. */
static const char *hosts(const char *s)
{
    static char buf[LINKS_MAX_HOSTS * (LINKS_HOST_MAX + 1)];
    struct links_info li = scan(s);
    size_t n = 0;
    int i;

    buf[0] = '\0';
    for (i = 0; i < li.nhosts; i++) {
        size_t l = strlen(li.hosts[i]);
        if (i)
            buf[n++] = ',';
        memcpy(buf + n, li.hosts[i], l + 1);
        n += l;
    }
    return buf;
}

TEST(test_spam_shapes)
{
    CHECK_EQ_INT(count("check out my channel www.youtube.com/user/x"), 1);
    CHECK_EQ_STR(hosts("check out my channel www.youtube.com/user/x"), "www.youtube.com");
    CHECK_EQ_INT(count("http://bit.ly/abc and <a href=\"http://x.ru\">http://x.ru</a>"), 2);
    CHECK_EQ_STR(hosts("http://bit.ly/abc and <a href=\"http://x.ru\">http://x.ru</a>"), "bit.ly,x.ru");
    CHECK_EQ_INT(count("Great article! Visit cheap-pills.com for discounts"), 1);
    CHECK_EQ_STR(hosts("BUY NOW AT CHEAP-PILLS.COM"), "cheap-pills.com");
    CHECK_EQ_INT(count("goo.gl/abc t.co/xyz bit.ly/q tinyurl.com/y"), 4);
    CHECK_EQ_STR(hosts("HTTPS://Example.COM/Path"), "example.com");
    CHECK_EQ_INT(count("ftp://files.example.org/pub"), 1);
    CHECK_EQ_INT(count("Click here...cheap-pills.com."), 1);
    CHECK_EQ_INT(count("(see https://en.wikipedia.org/wiki/Foo_(bar)) ok"), 1);
    CHECK_EQ_INT(count("hxxp://bad.ru/x"), 1); /* defanged scheme: still a domain */
    CHECK_EQ_INT(count("www.example.zzz"), 1); /* www. counts whatever the TLD */
    /* Word-like ccTLDs need a path, a third label, www. or a scheme. */
    CHECK_EQ_INT(count("watch youtu.be/dQw4w9WgXcQ now"), 1);
    CHECK_EQ_INT(count("shop at example.co.in today"), 1);
    CHECK_EQ_INT(count("www.example.it"), 1);
    CHECK_EQ_INT(count("http://example.it"), 1);
    CHECK_EQ_INT(count("I like example.com's prices"), 1);
    CHECK_EQ_STR(hosts("http://user:pw@Host.example.net:8080/p"), "host.example.net");
    CHECK_EQ_STR(hosts("http://\xD0\xBF\xD1\x80\xD0\xB8\xD0\xBC\xD0\xB5\xD1\x80.\xD1\x80\xD1\x84/"),
                 "\xD0\xBF\xD1\x80\xD0\xB8\xD0\xBC\xD0\xB5\xD1\x80.\xD1\x80\xD1\x84");
    CHECK_EQ_INT(count("\xE8\xA6\x8B\xE3\x81\xA6" "bit.ly/x"), 1); /* 見てbit.ly/x */
}

TEST(test_not_links)
{
    CHECK_EQ_INT(count("mail jane@example.org"), 0);
    CHECK_EQ_INT(count("write to john.info@gmail.com please"), 0);
    CHECK_EQ_INT(count("pi is 3.14"), 0);
    CHECK_EQ_INT(count("version 1.2.3 released"), 0);
    CHECK_EQ_INT(count("kidsmediausa . com"), 0);
    CHECK_EQ_INT(count("e.g. this, i.e. that, etc."), 0);
    CHECK_EQ_INT(count("Mr.Smith and Dr.Who"), 0);
    CHECK_EQ_INT(count("I loved it.It was great"), 0); /* capitalised TLD: a typo */
    CHECK_EQ_INT(count("the U.S. and the U.K."), 0);
    /* Missing spaces in SMS-style text (from the SMS Spam Collection). */
    CHECK_EQ_INT(count("Howz pain.it will come down today"), 0);
    CHECK_EQ_INT(count("Sorry da thangam.it's my mistake."), 0);
    CHECK_EQ_INT(count("Dear,Me at cherthala.in case u r coming"), 0);
    CHECK_EQ_INT(count("what a life.it\xE2\x80\x99s over"), 0);
    CHECK_EQ_INT(count("http:// is a scheme"), 0);
    CHECK_EQ_INT(count("my_var.com_x"), 0);
    CHECK_EQ_INT(count("self.my_site.com = 1"), 0);
    CHECK_EQ_INT(count("file.txt and main.c"), 0);
    CHECK_EQ_INT(count(""), 0);
    CHECK_EQ_INT(count("no links at all, just words."), 0);
}

TEST(test_anchors)
{
    /* The anchor text repeating the href's host counts once. */
    CHECK_EQ_INT(count("<a href=\"http://x.ru/page\">x.ru</a>"), 1);
    CHECK_EQ_INT(count("<a href='http://www.x.ru'>x.ru</a>"), 1);
    CHECK_EQ_INT(count("<A HREF=http://x.ru>http://x.ru</A>"), 1);
    /* Different text and target: two things a reader could follow. */
    CHECK_EQ_INT(count("<a href=\"http://a.com\">b.com</a>"), 2);
    /* Plain anchor text is not a link by itself. */
    CHECK_EQ_INT(count("<a href=\"http://x.ru\">cheap pills</a>"), 1);
    /* After the anchor closes, the same host is a new link. */
    CHECK_EQ_INT(count("<a href=\"http://x.ru\">here</a> and again http://x.ru"), 2);
    /* Relative hrefs still count as anchors, with no host. */
    CHECK_EQ_INT(count("<a href=\"/wp-login.php\">login</a>"), 1);
    CHECK_EQ_INT(scan("<a href=\"/wp-login.php\">login</a>").nhosts, 0);
    /* '>' inside a quoted attribute does not end the tag. */
    CHECK_EQ_INT(count("<a title=\"a > b\" href=\"http://x.ru\">x</a>"), 1);
    /* No href: not an anchor, but its text is scanned like any other. */
    CHECK_EQ_INT(count("<a name=\"top\">top</a>"), 0);
    CHECK_EQ_INT(count("<a x http://spam.ru >"), 1);
    /* Not a tag at all. */
    CHECK_EQ_INT(count("if a <abc and b>c"), 0);
    CHECK_EQ_INT(count("<a href=\"http://x.ru\""), 1); /* unfinished tag: URL still seen */
}

TEST(test_hosts_dedupe_and_cap)
{
    struct links_info li;
    char body[4096];
    size_t n = 0;
    int i;

    li = scan("http://x.ru/a http://X.RU/b x.ru/c");
    CHECK_EQ_INT(li.count, 3);
    CHECK_EQ_INT(li.nhosts, 1);
    CHECK_EQ_STR(li.hosts[0], "x.ru");

    for (i = 0; i < 12; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "http://site%d.com ", i);
    li = scan(body);
    CHECK_EQ_INT(li.count, 12);
    CHECK_EQ_INT(li.nhosts, LINKS_MAX_HOSTS);
    CHECK_EQ_STR(li.hosts[0], "site0.com");
    CHECK_EQ_STR(li.hosts[LINKS_MAX_HOSTS - 1], "site7.com");
}

TEST(test_long_host_truncated)
{
    char body[400];
    struct links_info li;
    size_t n;

    /* A long label of 2-byte letters: the host is cut on a character. */
    memcpy(body, "http://", 7);
    n = 7;
    while (n < 7 + 2 * 50) {
        memcpy(body + n, "\xC3\xA9", 2);
        n += 2;
    }
    memcpy(body + n, ".com/x", 7);
    li = scan(body);
    CHECK_EQ_INT(li.count, 1);
    CHECK(strlen(li.hosts[0]) <= LINKS_HOST_MAX - 1);
    CHECK_EQ_INT(strlen(li.hosts[0]) % 2, 0);
}

TEST(test_count_cap)
{
    size_t n = 3000 * 6, i;
    char *body = malloc(n + 1);
    struct links_info li;

    for (i = 0; i < 3000; i++)
        memcpy(body + i * 6, "a.com ", 6);
    body[n] = '\0';
    links_scan(body, n, &li);
    CHECK_EQ_INT(li.count, 1000);
    CHECK_EQ_INT(li.nhosts, 1);
    free(body);
}

TEST(test_link_bytes)
{
    CHECK_EQ_INT(scan("no links").link_bytes, 0);
    CHECK_EQ_INT(scan("see http://x.ru/abc.").link_bytes, strlen("http://x.ru/abc"));
    CHECK_EQ_INT(scan("bit.ly/x, then").link_bytes, strlen("bit.ly/x"));
    CHECK_EQ_INT(scan("http://a.com http://b.com").link_bytes, 2 * strlen("http://a.com"));
    /* An anchor covers its opening tag, plus a repeated URL in its text. */
    CHECK_EQ_INT(scan("<a href=\"http://x.ru\">http://x.ru</a>").link_bytes,
                 strlen("<a href=\"http://x.ru\">") + strlen("http://x.ru"));
}

TEST(test_trailing_punctuation)
{
    CHECK_EQ_STR(hosts("go to example.com."), "example.com");
    CHECK_EQ_STR(hosts("go to example.com, now"), "example.com");
    CHECK_EQ_STR(hosts("\"http://example.com\""), "example.com");
    CHECK_EQ_STR(hosts("(http://example.com)"), "example.com");
    CHECK_EQ_STR(hosts("http://example.com."), "example.com");
    /* Non-ASCII spaces, BOMs, curly quotes and CJK punctuation end a URL. */
    CHECK_EQ_STR(hosts("http://x.ru\xC2\xA0is great"), "x.ru");
    CHECK_EQ_STR(hosts("http://youtu.be/abc\xEF\xBB\xBF"), "youtu.be");
    CHECK_EQ_INT(scan("http://youtu.be/abc\xEF\xBB\xBF").link_bytes, strlen("http://youtu.be/abc"));
    CHECK_EQ_STR(hosts("\xE2\x80\x9Chttp://x.ru\xE2\x80\x9D"), "x.ru");
    CHECK_EQ_STR(hosts("http://x.ru\xE3\x80\x82\xE6\x9B\xB4\xE5\xA4\x9A"), "x.ru");
}

int main(void)
{
    RUN(test_spam_shapes);
    RUN(test_not_links);
    RUN(test_anchors);
    RUN(test_hosts_dedupe_and_cap);
    RUN(test_long_host_truncated);
    RUN(test_count_cap);
    RUN(test_link_bytes);
    RUN(test_trailing_punctuation);
    return TEST_REPORT();
}
