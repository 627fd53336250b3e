/* case/require.c's memo: what a run's children found of torch's devices,
 * so that a case known to skip starts no process (docs/runner.md, Skips).
 * The reasons are the runner's skip reasons, word for word. */
#include "case/require.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#define NO_CUDA "requires cuda: not available in this build or machine"
#define NO_MPS "requires mps: not available in this build or machine"

/* A case with only its requirements, each a string literal. */
static hx_case with(const char **req, size_t n)
{
    hx_case c;
    memset(&c, 0, sizeof c);
    c.requires = (char **)req;
    c.nrequires = n;
    return c;
}

START_TEST(test_unknown_until_answered)
{
    hx_require_memo m = {0};
    char why[256] = "";
    const char *r[] = {"cuda"};
    hx_case c = with(r, 1);
    ck_assert_int_eq(hx_require_memo_skips(&m, &c, why, sizeof why), 0);
    hx_require_memo_learn(&m, &c, NO_CUDA);
    ck_assert_int_eq(hx_require_memo_skips(&m, &c, why, sizeof why), 1);
    ck_assert_str_eq(why, NO_CUDA);
    /* another case with the same entry, and one with none */
    const char *r2[] = {"cuda"};
    hx_case d = with(r2, 1), e = with(NULL, 0);
    ck_assert_int_eq(hx_require_memo_skips(&m, &d, why, sizeof why), 1);
    ck_assert_int_eq(hx_require_memo_skips(&m, &e, why, sizeof why), 0);
    hx_require_memo_free(&m);
    ck_assert_uint_eq(m.n, 0);
}
END_TEST

/* The entries before the one that gave the skip were met; those after it
 * stay unknown. */
START_TEST(test_order)
{
    hx_require_memo m = {0};
    char why[256];
    const char *r[] = {"cpu", "mps", "cuda"};
    hx_case c = with(r, 3);
    hx_require_memo_learn(&m, &c, NO_MPS);
    ck_assert_int_eq(hx_require_memo_skips(&m, &c, why, sizeof why), 1);
    ck_assert_str_eq(why, NO_MPS);
    const char *r_mps_first[] = {"mps", "cpu"}, *r_cpu[] = {"cpu"}, *r_cuda[] = {"cpu", "cuda"};
    hx_case a = with(r_mps_first, 2), b = with(r_cpu, 1), d = with(r_cuda, 2);
    ck_assert_int_eq(hx_require_memo_skips(&m, &a, why, sizeof why), 1);
    ck_assert_str_eq(why, NO_MPS);
    ck_assert_int_eq(hx_require_memo_skips(&m, &b, why, sizeof why), 0); /* met: it runs */
    ck_assert_int_eq(hx_require_memo_skips(&m, &d, why, sizeof why), 0); /* cuda: unknown */
    hx_require_memo_free(&m);
}
END_TEST

/* A case that ran met every entry; the first answer for an entry stays. */
START_TEST(test_ran_and_first_answer)
{
    hx_require_memo m = {0};
    char why[256];
    const char *r[] = {"no-cuda:1", "cpu"};
    hx_case c = with(r, 2);
    hx_require_memo_learn(&m, &c, NULL);
    ck_assert_int_eq(hx_require_memo_skips(&m, &c, why, sizeof why), 0);
    hx_require_memo_learn(&m, &c, "requires cpu: not available in this build or machine");
    ck_assert_int_eq(hx_require_memo_skips(&m, &c, why, sizeof why), 0);
    const char *r2[] = {"no-cuda:1", "cuda"};
    hx_case d = with(r2, 2);
    hx_require_memo_learn(&m, &d, NO_CUDA);
    ck_assert_int_eq(hx_require_memo_skips(&m, &d, why, sizeof why), 1);
    ck_assert_str_eq(why, NO_CUDA);
    hx_require_memo_free(&m);
}
END_TEST

/* A skip no requirement gave teaches nothing; nor does a reason that only
 * begins like one ("requires cudax", "requires cuda" without its colon). */
START_TEST(test_other_skips)
{
    hx_require_memo m = {0};
    char why[256];
    const char *r[] = {"cuda"};
    hx_case c = with(r, 1);
    hx_require_memo_learn(&m, &c, "backend torch: not in this build");
    hx_require_memo_learn(&m, &c, "requires cudax: not available");
    hx_require_memo_learn(&m, &c, "requires cuda");
    ck_assert_uint_eq(m.n, 0);
    ck_assert_int_eq(hx_require_memo_skips(&m, &c, why, sizeof why), 0);
    hx_require_memo_free(&m);
}
END_TEST

/* An entry that needs no backend is answered here, in its place. */
START_TEST(test_no_backend_entry)
{
    hx_require_memo m = {0};
    char why[256];
    const char *r[] = {"libtorch>=99", "cuda"};
    hx_case c = with(r, 2);
    ck_assert_int_eq(hx_require_memo_skips(&m, &c, why, sizeof why), 1);
    ck_assert_msg(!strncmp(why, "requires libtorch>=99: libtorch is ", 35), "%s", why);
}
END_TEST

/* Past HX_REQUIRE_MEMO_MAX entries, the rest stay unknown. */
START_TEST(test_bounded)
{
    hx_require_memo m = {0};
    char text[HX_REQUIRE_MEMO_MAX + 8][16], why[256];
    for (int i = 0; i < HX_REQUIRE_MEMO_MAX + 8; i++) {
        snprintf(text[i], sizeof text[i], "cuda:%d", i);
        const char *r[] = {text[i]};
        hx_case c = with(r, 1);
        snprintf(why, sizeof why, "requires %s: not available in this build or machine",
                 text[i]);
        hx_require_memo_learn(&m, &c, why);
    }
    ck_assert_uint_eq(m.n, HX_REQUIRE_MEMO_MAX);
    const char *first[] = {text[0]}, *last[] = {text[HX_REQUIRE_MEMO_MAX]};
    hx_case a = with(first, 1), b = with(last, 1);
    ck_assert_int_eq(hx_require_memo_skips(&m, &a, why, sizeof why), 1);
    ck_assert_int_eq(hx_require_memo_skips(&m, &b, why, sizeof why), 0);
    hx_require_memo_free(&m);
}
END_TEST

static Suite *memo_suite(void)
{
    Suite *s = suite_create("require_memo");
    TCase *tc = tcase_create("memo");
    tcase_add_test(tc, test_unknown_until_answered);
    tcase_add_test(tc, test_order);
    tcase_add_test(tc, test_ran_and_first_answer);
    tcase_add_test(tc, test_other_skips);
    tcase_add_test(tc, test_no_backend_entry);
    tcase_add_test(tc, test_bounded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(memo_suite()) ? 1 : 0; }
