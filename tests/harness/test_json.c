/* The result texts' reader and writer (util/json.h: hx_json_parse and
 * hx_json_text, yyjson under jansson's values): what they write, jansson
 * reads as the same value, and what they read is what json_loadb reads
 * with no flags, refusals included. */
#include "testutil.h"
#include "util/json.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* A result as the runner builds one: strings with escapes and non-ASCII
 * text, integers at the ends of json_int_t, reals, nulls, booleans, an
 * empty object and array, nesting, keys in an order that is not sorted. */
static json_t *sample(void)
{
    json_t *r = json_pack(
        "{s:s, s:s, s:I, s:I, s:I, s:f, s:f, s:n, s:b, s:b, s:{}, s:[], s:{s:[i, {s:s}], s:s}}",
        "id", "suite/case[corrupt=truncate:5]", "message",
        "a \"quoted\" \\ name\n\twith \xc3\xa9, \xe2\x82\xac, \xf0\x9f\x98\x80 and \x01",
        "big", (json_int_t)9223372036854775807LL, "small", (json_int_t)(-9223372036854775807LL - 1),
        "zero", (json_int_t)0, "duration_s", 3.48210014635697e-05, "third", 1.0 / 3,
        "reason", "pass", 1, "fail", 0, "params", "tags", "actual", "trace", 1, "op", "copy_",
        "z_last_before_a", "x");
    ck_assert_ptr_nonnull(r);
    json_object_set_new(r, "a_after", json_real(-0.0));
    return r;
}

START_TEST(written_as_jansson_reads_it)
{
    json_t *r = sample();
    size_t len = 0;
    char *text = hx_json_text(r, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(len, strlen(text));
    ck_assert_ptr_null(strchr(text, '\n')); /* compact: one line */
    json_error_t e;
    json_t *back = json_loadb(text, len, 0, &e);
    ck_assert_msg(back, "%s: %s", e.text, text);
    ck_assert(json_equal(r, back));
    /* the keys in their order, as JSON_COMPACT writes them */
    char *ref = json_dumps(r, JSON_COMPACT);
    json_t *ref_back = json_loads(ref, 0, NULL);
    const char *k1, *k2;
    json_t *v1, *v2;
    void *i1 = json_object_iter(back), *i2 = json_object_iter(ref_back);
    while (i1 && i2) {
        k1 = json_object_iter_key(i1), k2 = json_object_iter_key(i2);
        v1 = json_object_iter_value(i1), v2 = json_object_iter_value(i2);
        ck_assert_str_eq(k1, k2);
        ck_assert(json_equal(v1, v2));
        i1 = json_object_iter_next(back, i1), i2 = json_object_iter_next(ref_back, i2);
    }
    ck_assert(!i1 && !i2);
    /* and read back by its own reader, the same value again */
    json_t *own = hx_json_parse(text, len, 1);
    ck_assert_ptr_nonnull(own);
    ck_assert(json_equal(r, own));
    ck_assert(json_is_real(json_object_get(own, "duration_s")));
    ck_assert(json_is_integer(json_object_get(own, "zero")));
    json_decref(own);
    json_decref(ref_back);
    free(ref);
    json_decref(back);
    free(text);
    json_decref(r);
}
END_TEST

/* What json_loadb reads with no flags, hx_json_parse reads to the same
 * value; what it refuses, hx_json_parse refuses. */
START_TEST(reads_what_json_loadb_reads)
{
    static const char *const texts[] = {
        "{}", "[]", "[1, -2, 3.5, 1e3, -0, 0.0, true, false, null]",
        "{\"a\": {\"b\": [\"\\u00e9\\ud83d\\ude00\", \"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]}}",
        " \n\t{\"k\" : 1 }\n ", "[9223372036854775807, -9223372036854775808]",
        "{\"a\": 1, \"a\": 2}", /* the last one, without reject_duplicates */
        /* refused by both */
        "", "1", "\"text\"", "null", "{", "[1,]", "{\"a\":1,}", "[1] [2]", "[01]", "[1.]",
        "[.5]", "[+1]", "[NaN]", "[Infinity]", "[1e400]", "[\"\\u0000\"]", "{\"\\u0000\": 1}",
        "[9223372036854775808]", "[-9223372036854775809]", "[\"\xff\"]", "[\"\xc3\"]",
        "[\"\\ud800\"]", "// comment\n[]", "['single']", "[\"tab\there\"]", "{1: 2}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        const char *t = texts[i];
        json_t *want = json_loadb(t, strlen(t), 0, NULL);
        json_t *got = hx_json_parse(t, strlen(t), 0);
        ck_assert_msg(!want == !got, "%s: json_loadb %s, hx_json_parse %s", t,
                      want ? "reads it" : "refuses it", got ? "reads it" : "refuses it");
        ck_assert_msg(!want || json_equal(want, got), "%s: different values", t);
        json_decref(want);
        json_decref(got);
    }
    ck_assert_int_eq(hx_json_lost(), 0); /* refusals are not out of memory */
}
END_TEST

START_TEST(refusals_of_its_own)
{
    /* a key given twice, when asked */
    const char *dup = "{\"fired\": 1, \"status\": \"pass\", \"fired\": 2}";
    json_t *j = hx_json_parse(dup, strlen(dup), 1);
    ck_assert_ptr_null(j);
    ck_assert_ptr_null(json_loadb(dup, strlen(dup), JSON_REJECT_DUPLICATES, NULL));
    j = hx_json_parse(dup, strlen(dup), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "fired")), 2);
    json_decref(j);
    /* nesting: jansson's depth (2048) and no deeper */
    size_t depth = 2048;
    char *deep = malloc(2 * depth + 3);
    for (int extra = 0; extra < 2; extra++) {
        size_t d = depth + (size_t)extra;
        memset(deep, '[', d);
        memset(deep + d, ']', d);
        json_t *want = json_loadb(deep, 2 * d, 0, NULL);
        j = hx_json_parse(deep, 2 * d, 0);
        ck_assert_msg(!want == !j, "depth %zu", d);
        ck_assert_msg(extra ? !j : j != NULL, "depth %zu", d);
        json_decref(want);
        json_decref(j);
    }
    free(deep);
    /* jansson counts a scalar as a level too: one at depth 2049 is refused */
    for (int extra = 0; extra < 2; extra++) {
        size_t d = depth - 1 + (size_t)extra; /* arrays around the scalar */
        char *t = malloc(2 * d + 2);
        memset(t, '[', d);
        t[d] = '1';
        memset(t + d + 1, ']', d);
        json_t *want = json_loadb(t, 2 * d + 1, 0, NULL);
        j = hx_json_parse(t, 2 * d + 1, 0);
        ck_assert_msg(!want == !j && (j == NULL) == (extra == 1), "a scalar under %zu arrays", d);
        json_decref(want);
        json_decref(j);
        free(t);
    }
    /* a number of more than 768 digits, halfway between two doubles:
     * rounded to even, as strtod does (yyjson 0.10.0 rounds it up); at
     * every offset from the text's start over 700 bytes (the long run is
     * looked for every 700 bytes) */
    char num[2048];
    for (int pad = 0; pad <= 700; pad++) {
        memset(num, ' ', (size_t)pad);
        int at = pad + snprintf(num + pad, sizeof num - (size_t)pad,
                                "[6.6924147853274475317081900271875392492841405048178996935177273344");
        memset(num + at, '0', 735);
        snprintf(num + at + 735, sizeof num - (size_t)at - 735, "e+64]");
        json_t *want = json_loadb(num, strlen(num), 0, NULL);
        j = hx_json_parse(num, strlen(num), 0);
        ck_assert_msg(want && j, "offset %d", pad);
        ck_assert_msg(json_real_value(json_array_get(want, 0)) ==
                      json_real_value(json_array_get(j, 0)), "offset %d", pad);
        json_decref(want);
        json_decref(j);
    }
    /* a value that holds itself: no text, as json_dumps gives none */
    json_t *a = json_array(), *o = json_object();
    json_array_append(a, o);
    json_object_set(o, "a", a);
    ck_assert_ptr_null(json_dumps(a, JSON_COMPACT));
    ck_assert_ptr_null(hx_json_text(a, NULL));
    json_object_del(o, "a"); /* the loop undone, so that both can be freed */
    json_decref(o);
    json_decref(a);
    /* NULL text, and a length that cuts the text */
    ck_assert_ptr_null(hx_json_parse(NULL, 0, 0));
    ck_assert_ptr_null(hx_json_parse("{\"a\": 1}", 5, 0));
    /* a value that is not a document: none written */
    ck_assert_ptr_null(hx_json_text(NULL, NULL));
}
END_TEST

/* hx_json_str: valid UTF-8 as it is, each invalid byte as U+FFFD. */
START_TEST(strings_made_valid)
{
    static const char *const same[] = {"", "ascii \x01\t\"", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"};
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        json_t *j = hx_json_str(same[i]);
        ck_assert_str_eq(json_string_value(j), same[i]);
        json_decref(j);
    }
    static const char *const bad[][2] = {
        {"a\xff" "b", "a\xef\xbf\xbd" "b"},
        {"\xc3", "\xef\xbf\xbd"},                      /* cut at the end */
        {"\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd"},  /* cut, two bytes */
        {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},  /* overlong */
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* a surrogate */
        {"ok \xc3\xa9 \xf5", "ok \xc3\xa9 \xef\xbf\xbd"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *j = hx_json_str(bad[i][0]);
        ck_assert_ptr_nonnull(j);
        ck_assert_str_eq(json_string_value(j), bad[i][1]);
        json_decref(j);
    }
    ck_assert(json_is_null(hx_json_str(NULL)));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json");
    TCase *t = tcase_create("json");
    tcase_add_test(t, written_as_jansson_reads_it);
    tcase_add_test(t, reads_what_json_loadb_reads);
    tcase_add_test(t, refusals_of_its_own);
    tcase_add_test(t, strings_made_valid);
    suite_add_tcase(s, t);
    return tu_run_suite(s) ? 1 : 0;
}
