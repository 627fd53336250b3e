/* The reliability table of summary.md (harness/reliability.c): classes of
 * corruption labels, and the counts per class and per fault point. */
#include "report/reliability.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_classes)
{
    ck_assert_str_eq(hx_corruption_class("truncate:7"), "truncate");
    ck_assert_str_eq(hx_corruption_class("truncate:half"), "truncate");
    ck_assert_str_eq(hx_corruption_class("flip:3:all"), "flip every byte");
    ck_assert_str_eq(hx_corruption_class("flip:-1:7"), "flip bit");
    ck_assert_str_eq(hx_corruption_class("flip:random4:seed9"), "flip random");
    ck_assert_str_eq(hx_corruption_class("zero:0:half"), "zero");
    ck_assert_str_eq(hx_corruption_class("splice:mlp:0:8@0:insert"), "splice");
    ck_assert_str_eq(hx_corruption_class("safetensors:offsets-gap"), "safetensors");
    ck_assert_str_eq(hx_corruption_class("zip:eocd-missing"), "other");
    ck_assert_str_eq(hx_corruption_class("truncated:1"), "other");
    ck_assert_ptr_null(hx_corruption_class("none"));
    ck_assert_ptr_null(hx_corruption_class(NULL));
}
END_TEST

static json_t *result(const char *status, const char *corrupt_param, const char *corrupt_member,
                      json_t *faults)
{
    json_t *c = json_pack("{s:s, s:{}}", "status", status, "params");
    if (corrupt_param)
        json_object_set_new(json_object_get(c, "params"), "corrupt", json_string(corrupt_param));
    if (corrupt_member)
        json_object_set_new(c, "corrupt", json_string(corrupt_member));
    json_object_set_new(c, "faults", faults ? faults : json_array());
    return c;
}

static json_t *fault(const char *point, int fired)
{
    return json_pack("{s:s, s:s, s:i, s:i}", "point", point, "schedule", "nth=1", "hits", 1,
                     "fired", fired);
}

static char *table(const json_t *cases)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(hx_reliability_md(f, cases), 0);
    fclose(f);
    return buf;
}

START_TEST(test_counts)
{
    json_t *cases = json_array();
    json_array_append_new(cases, result("pass", "truncate:0", NULL, NULL));
    json_array_append_new(cases, result("pass", "truncate:1", NULL, NULL));
    json_array_append_new(cases, result("fail", "truncate:2", NULL, NULL));
    json_array_append_new(cases, result("skip", "truncate:3", NULL, NULL));
    /* the runner's own member wins over params */
    json_array_append_new(cases, result("pass", "zero:0:1", "safetensors:offsets-gap", NULL));
    json_array_append_new(cases, result("crash", "flip:1:all", NULL, NULL));
    json_t *two = json_array();
    json_array_append_new(two, fault("device.copy", 1));
    json_array_append_new(two, fault("mem.alloc", 0));
    json_array_append_new(cases, result("pass", NULL, NULL, two));
    json_t *one = json_array();
    json_array_append_new(one, fault("mem.alloc", 2));
    json_array_append_new(cases, result("fail", NULL, NULL, one));
    json_t *never = json_array();
    json_array_append_new(never, fault("io.read", 0));
    json_array_append_new(cases, result("pass", NULL, NULL, never));

    char *t = table(cases);
    ck_assert_ptr_nonnull(strstr(t, "## Reliability\n"));
    ck_assert_ptr_nonnull(strstr(t, "| truncate | 3 | 2 |\n"));
    ck_assert_ptr_nonnull(strstr(t, "| flip every byte | 1 | 0 |\n"));
    ck_assert_ptr_nonnull(strstr(t, "| safetensors | 1 | 1 |\n"));
    ck_assert_ptr_null(strstr(t, "| zero |"));
    ck_assert_ptr_nonnull(strstr(t, "| mem.alloc | 2 | 1 | 1 |\n"));
    ck_assert_ptr_nonnull(strstr(t, "| device.copy | 1 | 1 | 1 |\n"));
    ck_assert_ptr_nonnull(strstr(t, "| io.read | 1 | 1 | 0 |\n"));
    /* rows in the documented order: classes, then points as lg_fault_points() lists them */
    ck_assert(strstr(t, "| truncate |") < strstr(t, "| flip every byte |"));
    ck_assert(strstr(t, "| flip every byte |") < strstr(t, "| safetensors |"));
    ck_assert(strstr(t, "| io.read |") < strstr(t, "| mem.alloc |"));
    ck_assert(strstr(t, "| mem.alloc |") < strstr(t, "| device.copy |"));
    free(t);
    json_decref(cases);
}
END_TEST

START_TEST(test_nothing_to_say)
{
    json_t *cases = json_array();
    json_array_append_new(cases, result("pass", NULL, NULL, NULL));
    char *t = table(cases);
    ck_assert_str_eq(t, "");
    free(t);
    json_decref(cases);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reliability");
    TCase *tc = tcase_create("reliability");
    tcase_add_test(tc, test_classes);
    tcase_add_test(tc, test_counts);
    tcase_add_test(tc, test_nothing_to_say);
    suite_add_tcase(s, tc);
    int failed = tu_run_suite(s);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
