/* The reliability table of summary.md (report/reliability.c): the
 * corruption classes (corrupt/class.c), and the counts per class and per
 * fault point. */
#include "corrupt/corrupt.h"
#include "report/reliability.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_classes)
{
    hx_corrupt c = {0};
    ck_assert_int_eq(hx_corrupt_class_of(&c), HX_CLASS_NONE);
    c.kind = HX_CORRUPT_TRUNCATE;
    ck_assert_str_eq(hx_corrupt_class_name(hx_corrupt_class_of(&c)), "truncate");
    c.kind = HX_CORRUPT_FLIP;
    c.bit = -1;
    ck_assert_str_eq(hx_corrupt_class_name(hx_corrupt_class_of(&c)), "flip every byte");
    c.bit = 3;
    ck_assert_str_eq(hx_corrupt_class_name(hx_corrupt_class_of(&c)), "flip bit");
    c.random = 1;
    ck_assert_str_eq(hx_corrupt_class_name(hx_corrupt_class_of(&c)), "flip random");
    c.random = 0;
    c.kind = HX_CORRUPT_ZERO;
    ck_assert_str_eq(hx_corrupt_class_name(hx_corrupt_class_of(&c)), "zero");
    c.kind = HX_CORRUPT_SPLICE;
    ck_assert_str_eq(hx_corrupt_class_name(hx_corrupt_class_of(&c)), "splice");
    c.kind = HX_CORRUPT_SAFETENSORS;
    ck_assert_str_eq(hx_corrupt_class_name(hx_corrupt_class_of(&c)), "safetensors");
    c.kind = HX_CORRUPT_TORCH_ZIP;
    ck_assert_str_eq(hx_corrupt_class_name(hx_corrupt_class_of(&c)), "torch_zip");
    ck_assert_str_eq(hx_corrupt_class_name(HX_CLASS_COUNT), "other");
}
END_TEST

/* Reports written before cases recorded their class: the label decides. */
START_TEST(test_label_fallback)
{
    static const struct {
        const char *label, *name;
    } t[] = {{"truncate:7", "truncate"},
             {"truncate:half", "truncate"},
             {"flip:3:all", "flip every byte"},
             {"flip:-1:7", "flip bit"},
             {"flip:random4:seed9", "flip random"},
             {"zero:0:half", "zero"},
             {"splice:mlp:0:8@0:insert", "splice"},
             {"safetensors:offsets-gap", "safetensors"},
             {"torch_zip:crc-mismatch", "torch_zip"},
             {"zip:eocd-missing", "other"},
             {"truncated:1", "other"}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        ck_assert_str_eq(hx_corrupt_class_name(hx_corrupt_class_of_label(t[i].label)), t[i].name);
    ck_assert_int_eq(hx_corrupt_class_of_label("none"), HX_CLASS_NONE);
    ck_assert_int_eq(hx_corrupt_class_of_label(NULL), HX_CLASS_NONE);
}
END_TEST

static json_t *result_class(const char *status, const char *corrupt_param,
                            const char *corrupt_member, const char *class_member, json_t *faults)
{
    json_t *c = json_pack("{s:s, s:{}}", "status", status, "params");
    if (corrupt_param)
        json_object_set_new(json_object_get(c, "params"), "corrupt", json_string(corrupt_param));
    if (corrupt_member)
        json_object_set_new(c, "corrupt", json_string(corrupt_member));
    if (class_member)
        json_object_set_new(c, "corrupt_class", json_string(class_member));
    json_object_set_new(c, "faults", faults ? faults : json_array());
    return c;
}

static json_t *result(const char *status, const char *corrupt_param, const char *corrupt_member,
                      json_t *faults)
{
    return result_class(status, corrupt_param, corrupt_member, NULL, faults);
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
    ck_assert_int_eq(hx_reliability_md(f, cases), LG_OK);
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
    /* the recorded class wins over any label; a class this build does not
     * know still gets its row */
    json_array_append_new(cases, result_class("pass", "truncate:9", "truncate:9", "zero", NULL));
    json_array_append_new(cases, result_class("pass", NULL, "x:1", "new kind", NULL));
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
    ck_assert_ptr_nonnull(strstr(t, "| zero | 1 | 1 |\n"));
    ck_assert_ptr_nonnull(strstr(t, "| new kind | 1 | 1 |\n"));
    ck_assert(strstr(t, "| zero |") < strstr(t, "| new kind |"));
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
    tcase_add_test(tc, test_label_fallback);
    tcase_add_test(tc, test_counts);
    tcase_add_test(tc, test_nothing_to_say);
    suite_add_tcase(s, tc);
    int failed = tu_run_suite(s);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
