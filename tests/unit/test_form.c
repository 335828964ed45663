/* test_form.c - form bodies: the strict reader refuses what is malformed
 * or repeated, the lenient one (other systems' clients) takes what it can
 * and says which values it could not decode. */
#include <jansson.h>
#include <string.h>

#include "form.h"
#include "test.h"

static const char *get(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_t *form(const char *s, enum form_mode m)
{
    return form_object(s, strlen(s), m);
}

TEST(escapes_and_plus_are_decoded)
{
    json_t *o = form("a=1+2%2B3&b=caf%C3%A9&c=&d=%26%3D", FORM_STRICT);
    CHECK(o != NULL);
    CHECK_EQ_STR(get(o, "a"), "1 2+3");
    CHECK_EQ_STR(get(o, "b"), "caf\xc3\xa9");
    CHECK_EQ_STR(get(o, "c"), "");
    CHECK_EQ_STR(get(o, "d"), "&=");
    CHECK_EQ_INT(json_object_size(o), 4);
    json_decref(o);
    o = form("", FORM_STRICT);
    CHECK(o && json_object_size(o) == 0);
    json_decref(o);
}

TEST(strict_refuses_every_malformed_pair)
{
    const char *bad[] = { "a=1&a=2", "a", "=1", "a=1&&b=2", "a=%2", "a=%G1", "a=%00", "a=%C3", "a=%FF%FE",
                          "%ZZ=1" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *o = form(bad[i], FORM_STRICT);
        if (o)
            fprintf(stderr, "strict accepted %s\n", bad[i]);
        CHECK(o == NULL);
        json_decref(o);
    }
}

TEST(lenient_keeps_what_it_can)
{
    /* repeated keys keep the first (WordPress's comment_context[]), a key
     * alone is empty, empty pairs go, bad values are null, bad keys go */
    json_t *o = form("k[]=one&k[]=two&&flag&v=%C3&w=%00x&%ZZ=1&=x&ok=yes&", FORM_LENIENT);
    CHECK(o != NULL);
    CHECK_EQ_STR(get(o, "k[]"), "one");
    CHECK_EQ_STR(get(o, "flag"), "");
    CHECK(json_is_null(json_object_get(o, "v")));
    CHECK(json_is_null(json_object_get(o, "w")));
    CHECK_EQ_STR(get(o, "ok"), "yes");
    CHECK_EQ_INT(json_object_size(o), 5);
    json_decref(o);
}

int main(void)
{
    RUN(escapes_and_plus_are_decoded);
    RUN(strict_refuses_every_malformed_pair);
    RUN(lenient_keeps_what_it_can);
    return TEST_REPORT();
}
