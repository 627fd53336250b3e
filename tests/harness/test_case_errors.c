/* The case language refusing what is wrong, one rule broken at a time:
 * each value of each case key, the corruption lists, the matrix with
 * exclude and include, fixtures and generate specs, nulls and the
 * comparisons of values. Each bad file must fail to load with its error at
 * file:line:col naming the key and the problem; each edge that is valid
 * must load into the cases it says. (test_case.c holds the main paths;
 * test_case_errors2.c the file, the folder, limits and out of memory.) */
#include "case/case.h"
#include "cmd/cmd.h"
#include "testutil.h"
#include "util/error.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dir;
static char fixtures[1024];
static char errs[65536];

static void setup(void)
{
    dir = tu_tmpdir();
    ck_assert_ptr_nonnull(dir);
    snprintf(fixtures, sizeof fixtures, "%s", tu_path(dir, "fixtures"));
}

static void teardown(void)
{
    tu_rmtree(dir);
}

/* Writes yaml to DIR/suite.yaml and loads it; the error lines land in
 * errs, one a line. The first error is hx_errmsg(). */
static int load(const char *yaml, hx_suite *s)
{
    const char *p = tu_path(dir, "suite.yaml");
    hx_case_errors el;
    ck_assert_int_eq(tu_write(p, yaml, strlen(yaml)), 0);
    memset(errs, 0, sizeof errs);
    lg_status st = hx_suite_load(p, fixtures, s, &el);
    size_t used = 0;
    for (size_t i = 0; i < el.n && used < sizeof errs; i++)
        used += (size_t)snprintf(errs + used, sizeof errs - used, "%s\n", el.line[i]);
    ck_assert(st == LG_OK ? el.n == 0 : el.n > 0 && !strcmp(hx_errmsg(), el.line[0]));
    ck_assert(st == LG_OK || st == LG_E_FORMAT);
    hx_case_errors_free(&el);
    return st == LG_OK ? 0 : -1;
}

static void load_ok(const char *yaml, hx_suite *s)
{
    ck_assert_msg(load(yaml, s) == 0, "load failed:\n%s", errs);
}

/* Three fixtures; a case's lines start on line 6 after HEAD. */
#define HEAD                                                                           \
    "suite: s\nfixtures:\n"                                                            \
    "  small: {generate: {format: safetensors, tensors: 1, shape: [2], seed: 1}}\n"    \
    "  mixed: {generate: {format: safetensors, dtypes: [f32, u8], shape: [2], seed: 2}}\n"
/* Case a, its keys from line 8 on (column 5). */
#define CASE HEAD "cases:\n  - name: a\n    file: small\n"

typedef struct {
    const char *yaml, *want; /* want: "L:C: message" */
} bad_t;

/* Each yaml must fail with want among its errors, and no case. The misses
 * are gathered so that one run names them all. */
static void check_bad(const bad_t *t, size_t n, const char *prefix)
{
    char y[8192], missed[16384] = "";
    for (size_t i = 0; i < n; i++) {
        hx_suite s;
        char needle[1024];
        snprintf(y, sizeof y, "%s%s", prefix, t[i].yaml);
        int rc = load(y, &s);
        snprintf(needle, sizeof needle, "suite.yaml:%s", t[i].want);
        if (rc != -1 || !strstr(errs, needle) || s.ncases != 0)
            snprintf(missed + strlen(missed), sizeof missed - strlen(missed),
                     "[%zu] want \"%s\" (rc %d) in:\n%s", i, needle, rc, errs);
        if (rc == 0)
            hx_suite_free(&s);
    }
    ck_assert_msg(!missed[0], "%.3000s", missed);
}

#define CHECK_BAD(t, prefix) check_bad(t, sizeof t / sizeof t[0], prefix)

/* ------------------------------------------------------- the case keys */

START_TEST(test_key_values)
{
    static const bad_t t[] = {
        {"    store: [{name: w, dtype: f32}]\n",
         "8:13: store: missing key 'shape' (a variable has name, dtype and shape)"},
        {"    store: [3]\n", "8:13: store: expected a mapping, got a scalar"},
        {"    store: [{name: [1], dtype: f32, shape: [1]}]\n",
         "8:20: store: expected a scalar, got a list"},
        {"    store: [{name: w, dtype: f32, shape: 3}]\n",
         "8:42: store: expected a list of dimensions, got a scalar"},
        {"    store: [{name: w, dtype: f32, shape: [1, 1, 1, 1, 1, 1, 1, 1, 1]}]\n",
         "8:42: store: 9 dimensions; at most 8"},
        {"    store: {add: 3}\n",
         "8:18: store.add: expected a list of {name, dtype, shape}, got a scalar"},
        {"    store: {reshape: 3}\n",
         "8:22: store.reshape: expected a mapping of variable names to shapes, got a scalar"},
        {"    store: {retype: [f32]}\n",
         "8:21: store.retype: expected a mapping of variable names to dtypes, got a list"},
        {"    store: {retype: {w: f99}}\n", "8:25: store.retype: unknown dtype 'f99' (f64, f32,"},
        {"    store: 3\n", "8:12: store: expected mirror, a mapping {mirror, drop, add, reshape, "
                           "retype} or a list of {name, dtype, shape}, got a scalar"},
        {"    store: {mirror: false}\n",
         "8:21: store.mirror: false; give the variables as a list instead"},
        {"    store: {mirror: perhaps}\n", "8:21: store.mirror: expected true or false"},
        {"    store: {drop: [[1]]}\n", "8:20: store.drop: expected a scalar, got a list"},
        {"    fault: {point: io.read, nth: 1, errno: EWHAT}\n",
         "8:44: fault.errno: unknown 'EWHAT' (ENOENT, EACCES, EMFILE, EIO, EINTR, ENOMEM, "
         "ENODEV, short)"},
        {"    fault: {point: [x], nth: 1}\n", "8:20: fault.point: expected a scalar, got a list"},
        {"    fault: {point: io.read, nth: 1, errno: [1]}\n",
         "8:44: fault.errno: expected a scalar, got a list"},
        {"    fault: {point: io.read, prob: 2}\n",
         "8:35: fault.prob: expected a number from 0 to 1, got '2'"},
        {"    fault: {point: io.read, sweep: sideways}\n",
         "8:36: fault.sweep: bad value 'sideways' (transient, persistent)"},
        {"    fault: {point: io.read, nth: 1, seed: 3}\n", "8:37: fault.seed: only with prob"},
        {"    fault: {nth: 1}\n", "8:12: fault: missing key 'point'"},
        {"    fault: 3\n",
         "8:12: fault: expected a mapping {point, ...} or a list of them, got a scalar"},
        {"    fault: [3]\n", "8:13: fault: expected a mapping, got a scalar"},
        {"    fault: {point: io.read, nth: 1, action: explode}\n",
         "8:45: fault.action: bad value 'explode' (fail, crash, hang)"},
        {"    fault: {point: io.read, nth: ~}\n",
         "8:34: fault.nth: expected a scalar, got nothing (null)"},
        {"    fault: {point: io.read, prob: 0.5, seed: [1]}\n",
         "8:46: fault.seed: expected a scalar, got a list"},
        {"    sim: {mps: {direct_deserialize: maybe, available: perhaps}}\n",
         "8:55: available: bad value 'perhaps' (yes, no, true, false)"},
        {"    sim: {mps: {readback: right}}\n", "8:27: readback: bad value 'right' (ok, wrong)"},
        {"    sim: 3\n", "8:10: sim: expected a mapping of devices to profiles, got a scalar"},
        {"    sim: {gpu: {}}\n", "8:11: sim: bad device 'gpu' (cpu, cuda, cuda:N, mps)"},
        {"    sim: {mps: 3}\n", "8:16: sim profile: expected a mapping, got a scalar"},
        {"    expect: {error: [1]}\n", "8:21: expect.error: expected a scalar, got a list"},
        {"    expect: {error: LG_OK}\n", "8:21: expect.error: unknown error 'LG_OK' "
                                         "(LG_E_INVALID, LG_E_IO,"},
        {"    expect: {invariants: {a: 1}}\n",
         "8:26: expect.invariants: expected a list of names, got a mapping"},
        {"    expect: {invariants: [[1]]}\n",
         "8:27: expect.invariants: expected a scalar, got a list"},
        {"    expect: {outcome: ok, message: boom}\n",
         "8:27: expect.message: only with outcome: error or any"},
        {"    expect: 3\n", "8:13: expect: expected a mapping, got a scalar"},
        {"    reader: \"a b\"\n", "8:13: reader: 'a b' is not a reader name"},
        {"    reader: [x]\n", "8:13: reader: expected a scalar, got a list"},
        {"    policy: [1]\n", "8:13: policy: expected a scalar, got a list"},
        {"    requires: {a: 1}\n", "8:15: requires: expected a list, got a mapping"},
        {"    tags: {a: 1}\n", "8:11: tags: expected a list, got a mapping"},
        {"    tags: [[1]]\n", "8:12: tags: expected a scalar, got a list"},
        {"    probe: [1]\n", "8:12: probe: expected a scalar, got a list"},
        {"    probe: maybe\n", "8:12: probe: expected true or false, got 'maybe'"},
        {"    backend: [1]\n", "8:14: backend: expected a scalar, got a list"},
        {"    device: [1]\n", "8:13: device: expected a scalar, got a list"},
        {"    key: ~\n", "8:10: key: expected a scalar, got nothing (null)"},
        {"    crc: sometimes\n", "8:10: crc: bad value 'sometimes' (error, warn, off)"},
        {"    matrix: {bogus: [1]}\n", "8:14: unknown key 'bogus' in matrix (allowed: backend, "
                                       "device, policy, dtype_rule, reader, file, store, sim, "
                                       "corrupt, fault, staging_budget, probe, key, crc, "
                                       "requires, skip, xfail, timeout, tags, expect, "
                                       "description)"},
    };
    CHECK_BAD(t, CASE);
}
END_TEST

/* Two errors on one line come out in column order, whatever order they
 * were found in; every error of a value is reported, not just the first. */
START_TEST(test_key_error_order)
{
    hx_suite s;
    ck_assert_int_eq(load(CASE "    expect: {message: [1], error: LG_E_NOPE}\n", &s), -1);
    const char *a = strstr(errs, "suite.yaml:8:23: expect.message: expected a scalar, got a list");
    const char *b = strstr(errs, "suite.yaml:8:35: expect.error: unknown error 'LG_E_NOPE'");
    ck_assert_msg(a && b && a < b, "%.2000s", errs);
    ck_assert_int_eq(load(CASE "    sim: {mps: {readback: wrong, alloc: refuse, available: "
                               "false, float64: nope}}\n", &s), -1);
    ck_assert_msg(strstr(errs, "suite.yaml:8:76: float64: bad value 'nope' (ok, refuse)\n"),
                  "%.2000s", errs);
    ck_assert_msg(!strstr(errs, "readback") && !strstr(errs, "alloc:"), "%.2000s", errs);
    /* a file without suite and cases: two errors at the root, in the
     * order they were found */
    ck_assert_int_eq(load("description: x\n", &s), -1);
    a = strstr(errs, "suite.yaml:1:1: missing key 'suite'");
    b = strstr(errs, "suite.yaml:1:1: missing key 'cases'");
    ck_assert_msg(a && b && a < b, "%.2000s", errs);
}
END_TEST

/* The valid edges of the keys: what they load into. */
START_TEST(test_key_edges_ok)
{
    hx_suite s;
    load_ok(CASE "    expect: {message: boom}\n    reader: auto\n    staging_budget: 3MiB\n"
                 "    sim: {mps: {readback: wrong, alloc: refuse, available: false}}\n"
                 "    fault: {point: io.read, prob: 0.5, seed: 0x10}\n"
                 "  - name: b\n    file: small\n    expect: {error: LG_E_IO, message: m}\n"
                 "  - name: c\n    file: small\n    expect: {outcome: any, message: m}\n"
                 "    sim: {cuda:1: {available: no}}\n",
            &s);
    ck_assert_uint_eq(s.ncases, 3);
    const hx_case *a = &s.cases[0], *b = &s.cases[1], *c = &s.cases[2];
    /* a message alone means an error is expected */
    ck_assert_int_eq(a->expect.outcome, HX_EXPECT_ERROR);
    ck_assert_str_eq(a->expect.message, "boom");
    ck_assert_ptr_null(a->reader); /* auto: the library picks */
    ck_assert_uint_eq(a->staging_budget, 3u << 20);
    ck_assert_uint_eq(a->nsim, 3);
    ck_assert_str_eq(a->sim[0].key, "available"); /* in the profile's key order */
    ck_assert_str_eq(a->sim[0].value, "no");
    ck_assert_str_eq(a->sim[1].key, "alloc");
    ck_assert_str_eq(a->sim[1].value, "refuse");
    ck_assert_str_eq(a->sim[2].value, "wrong");
    ck_assert_uint_eq(a->faults[0].s.seed, 16);
    ck_assert_int_eq(b->expect.outcome, HX_EXPECT_ERROR);
    ck_assert_int_eq(b->expect.error, LG_E_IO);
    ck_assert_int_eq(c->expect.outcome, HX_EXPECT_ANY);
    ck_assert_int_eq(c->sim[0].device.index, 1);
    hx_suite_free(&s);
}
END_TEST

/* ------------------------------------------------------------- scalars */

START_TEST(test_scalar_values)
{
    static const bad_t t[] = {
        {"    timeout: ~\n", "8:14: timeout: expected a scalar, got nothing (null)"},
        {"    timeout: Null\n", "8:14: timeout: expected a scalar, got nothing (null)"},
        {"    timeout: NULL\n", "8:14: timeout: expected a scalar, got nothing (null)"},
        {"    timeout: null\n", "8:14: timeout: expected a scalar, got nothing (null)"},
        {"    timeout:\n", "8:13: timeout: expected a scalar, got nothing (null)"},
        {"    timeout: {a: 1}\n", "8:14: timeout: expected a scalar, got a mapping"},
        {"    timeout: 1e999\n", "8:14: timeout: expected a number from 0.001 to 1e+06, got "
                                 "'1e999'"},
        {"    timeout: inf\n", "8:14: timeout: expected a number from 0.001 to 1e+06, got 'inf'"},
        {"    timeout: nan\n", "8:14: timeout: expected a number from 0.001 to 1e+06, got 'nan'"},
        {"    timeout: 5x\n", "8:14: timeout: expected a number from 0.001 to 1e+06, got '5x'"},
        {"    staging_budget: x\n", "8:21: staging_budget: expected bytes, optionally with KiB, "
                                    "MiB or GiB, got 'x'"},
        {"    staging_budget: 99999999999999999999999\n",
         "8:21: staging_budget: expected bytes, optionally with KiB, MiB or GiB, got "
         "'99999999999999999999999'"},
        {"    staging_budget: 99999999999999GiB\n", "8:21: staging_budget: expected bytes"},
        {"    staging_budget: 5TiB\n", "8:21: staging_budget: expected bytes"},
        {"    staging_budget: [1]\n", "8:21: staging_budget: expected a scalar, got a list"},
        {"    corrupt: {truncate: -x}\n", "8:25: truncate: expected an integer (negative counts "
                                          "from the end) or half, got '-x'"},
        {"    corrupt: {truncate: 99999999999999999999}\n",
         "8:25: truncate: expected an integer (negative counts from the end) or half, got "
         "'99999999999999999999'"},
        {"    corrupt: {truncate: 12ab}\n", "8:25: truncate: expected an integer"},
        {"    corrupt: {flip: {random: 1, seed: x}}\n",
         "8:39: flip.seed: expected an unsigned 64-bit integer, got 'x'"},
        {"    corrupt: {flip: {random: 1, seed: 99999999999999999999999}}\n",
         "8:39: flip.seed: expected an unsigned 64-bit integer, got '99999999999999999999999'"},
        {"    corrupt: {flip: {random: 1, seed: 12z}}\n",
         "8:39: flip.seed: expected an unsigned 64-bit integer, got '12z'"},
        {"    corrupt: {flip: {random: 1, seed: -1}}\n",
         "8:39: flip.seed: expected an unsigned 64-bit integer, got '-1'"},
    };
    CHECK_BAD(t, CASE);
    /* names: letters, digits and a few marks; each other character (on
     * either side of each range) is refused */
    static const char *names[] = {"\"\"", "a/b", "a:b@", "a{", "a`", "a[", "\"a b\""};
    char y[1024], want[256];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        hx_suite s;
        snprintf(y, sizeof y, "suite: %s\ncases: []\n", names[i]);
        ck_assert_int_eq(load(y, &s), -1);
        snprintf(want, sizeof want, "suite.yaml:1:8: suite: '");
        ck_assert_msg(strstr(errs, want) && strstr(errs, "' is not a name (letters, digits, "
                                                         "'_', '.', '-')"),
                      "%s: %s", names[i], errs);
    }
}
END_TEST

START_TEST(test_scalar_edges_ok)
{
    hx_suite s;
    load_ok(CASE "    corrupt: [{truncate: +3}, {truncate: 0x10}, {truncate: 0X11}, "
                 "{flip: {random: 1, seed: 0x1f}}, {flip: {random: 1, seed: 0X20}}, "
                 "{flip: {offset: 1, bit: all}}]\n"
                 "  - name: Az09_.-+:x\n    file: small\n",
            &s);
    ck_assert_uint_eq(s.ncases, 7);
    ck_assert_int_eq(s.cases[0].corrupt.a, 3);
    ck_assert_int_eq(s.cases[1].corrupt.a, 16);
    ck_assert_int_eq(s.cases[2].corrupt.a, 17);
    ck_assert_uint_eq(s.cases[3].corrupt.seed, 31);
    ck_assert_uint_eq(s.cases[4].corrupt.seed, 32);
    ck_assert_int_eq(s.cases[5].corrupt.bit, -1);
    ck_assert_str_eq(s.cases[6].name, "Az09_.-+:x");
    hx_suite_free(&s);
}
END_TEST

/* ----------------------------------------------------------- corrupt */

START_TEST(test_corrupt_values)
{
    static const bad_t t[] = {
        {"    corrupt: {truncate: {a: 1}}\n",
         "8:25: truncate: expected a length, a list of lengths or every, got a mapping"},
        {"    corrupt: {truncate: [1, x, 2]}\n", "8:29: truncate: expected an integer"},
        {"    corrupt: {flip: {every_bit: false}}\n",
         "8:33: flip: every_bit: false flips nothing; leave it out"},
        {"    corrupt: {flip: {every_byte: no}}\n",
         "8:34: flip: every_byte: false flips nothing; leave it out"},
        {"    corrupt: {flip: {every_byte: maybe}}\n",
         "8:34: flip.every_byte: expected true or false, got 'maybe'"},
        {"    corrupt: {flip: {random: 1, count: 0}}\n",
         "8:40: flip.count: expected an integer from 1 to 1000000, got '0'"},
        {"    corrupt: {flip: {offset: x}}\n", "8:30: flip.offset: expected an integer"},
        {"    corrupt: {flip: 3}\n", "8:21: flip: expected a mapping, got a scalar"},
        {"    corrupt: {flip: [{offset: 1}, 3]}\n", "8:35: flip: expected a mapping, got a scalar"},
        {"    corrupt: {flip: {offset: 1, random: 2}}\n",
         "8:21: flip: give exactly one of offset, every_byte, every_bit, random"},
        {"    corrupt: {flip: {every_byte: true, bit: 2}}\n", "8:40: flip.bit: only with offset"},
        {"    corrupt: {flip: {offset: 2, seed: 2}}\n", "8:33: flip.seed: only with random"},
        {"    corrupt: {flip: {offset: 2, count: 2}}\n", "8:33: flip.count: only with random"},
        {"    corrupt: {flip: {offset: 1, bit: [1]}}\n",
         "8:38: flip.bit (or all): expected a scalar, got a list"},
        {"    corrupt: {zero: 3}\n", "8:21: zero: expected [begin, end], got a scalar"},
        {"    corrupt: {zero: []}\n", "8:21: zero: expected [begin, end], got a list"},
        {"    corrupt: {zero: [1, 2, 3]}\n", "8:21: zero: expected [begin, end], got a list"},
        {"    corrupt: {zero: [1, x]}\n", "8:25: zero: expected an integer"},
        {"    corrupt: {zero: [x, 1]}\n", "8:22: zero: expected an integer"},
        {"    corrupt: {zero: [[1, 2], [3]]}\n", "8:30: zero: expected [begin, end], got a list"},
        {"    corrupt: {splice: 3}\n", "8:23: splice: expected a mapping, got a scalar"},
        {"    corrupt: {splice: [{from: small, range: [0, 1]}, 3]}\n",
         "8:54: splice: expected a mapping, got a scalar"},
        {"    corrupt: {splice: {from: small, range: [0, 1], at: x}}\n",
         "8:56: splice.at: expected an integer"},
        {"    corrupt: {splice: {from: small}}\n",
         "8:23: splice: needs from and range (at and insert are optional)"},
        {"    corrupt: {splice: {range: [0, 1]}}\n", "8:23: splice: needs from and range"},
        {"    corrupt: {splice: {from: [1], range: [0, 1]}}\n",
         "8:30: splice.from: expected a scalar, got a list"},
        {"    corrupt: {splice: {from: ~, range: [0, 1]}}\n",
         "8:30: splice.from: expected a scalar, got nothing (null)"},
        {"    corrupt: {splice: {from: small, range: 3}}\n",
         "8:44: splice.range: expected [begin, end], got a scalar"},
        {"    corrupt: {splice: {from: small, range: [x, 1]}}\n",
         "8:45: splice.range: expected an integer"},
        {"    corrupt: {splice: {from: {path: x.bin, generate: {}}, range: [0, 1]}}\n",
         "8:30: splice.from: give exactly one of generate, path"},
        {"    corrupt: [3]\n", "8:15: corrupt: expected a mapping, got a scalar"},
        {"    corrupt: 3\n", "8:14: corrupt: expected a mapping, got a scalar"},
        {"    corrupt: {safetensors: {a: 1}}\n",
         "8:28: safetensors: expected a mutation's name, a list of names or all, got a mapping"},
        {"    corrupt: {torch_zip: {a: 1}}\n",
         "8:26: torch_zip: expected a mutation's name, a list of names or all, got a mapping"},
        {"    corrupt: {safetensors: [[1]]}\n", "8:29: safetensors: expected a scalar, got a list"},
    };
    CHECK_BAD(t, CASE);
}
END_TEST

/* A list of corruptions is cut at CF_MAX_CASES: an error at the entry that
 * passes it, never a suite that silently loses the case. */
START_TEST(test_corrupt_list_limit)
{
    hx_suite s;
    ck_assert_int_eq(load(CASE "    corrupt: [{flip: {random: 1, count: 1000000}}, "
                               "{truncate: 0}]\n", &s), -1);
    ck_assert_msg(strstr(errs, "suite.yaml:8:63: corrupt: more than 1000000 cases\n"), "%s",
                  errs);
    ck_assert_uint_eq(s.ncases, 0);
}
END_TEST

/* Enumerating every byte or bit of a file over the limit is refused
 * before anything is expanded. */
START_TEST(test_corrupt_enum_limit)
{
    const char *big = tu_path(dir, "big.bin");
    char *zeros = calloc(200000, 1);
    ck_assert_ptr_nonnull(zeros);
    ck_assert_int_eq(tu_write(big, zeros, 200000), 0);
    free(zeros);
    static const bad_t t[] = {
        {"    corrupt: {flip: {every_bit: true}}\n",
         "8:21: corrupt: 1600000 cases; at most 1000000"},
        {"    corrupt: {flip: [{every_byte: on}, {every_bit: yes}]}\n",
         "8:40: corrupt: 1600000 cases; at most 1000000"},
    };
    CHECK_BAD(t, HEAD "cases:\n  - name: a\n    file: {path: big.bin}\n");
}
END_TEST

/* ------------------------------------------------------------- matrix */

START_TEST(test_matrix_values)
{
    static const bad_t t[] = {
        {"    matrix: 3\n", "8:13: matrix: expected a mapping of case keys to lists, got a scalar"},
        {"    matrix: {device: cpu}\n",
         "8:22: matrix.device: expected a non-empty list of values, got a scalar"},
        {"    include: [3]\n", "8:15: include: each entry is a mapping of case keys, got a scalar"},
        {"    include: [{bogus: 1}]\n", "8:16: unknown key 'bogus' in include (allowed: "},
        {"    include: [3]\n", "6:5: case 'a' expands into no cases"},
        {"    include: 3\n", "8:14: include: expected a list of mappings, got a scalar"},
        {"    exclude: [{device: cpu}]\n", "8:5: exclude: the case has no matrix"},
        {"    matrix: {device: [cpu]}\n    exclude: [3]\n",
         "9:15: exclude: each entry is a mapping of case keys, got a scalar"},
        {"    matrix: {device: [cpu]}\n    exclude: [{bogus: 1}]\n",
         "9:16: unknown key 'bogus' in exclude"},
        {"    matrix: {device: [cpu]}\n    exclude: 3\n",
         "9:14: exclude: expected a list of mappings, got a scalar"},
        {"    matrix: {device: [cpu]}\n    exclude: [{device: cpu}]\n",
         "6:5: case 'a' expands into no cases"},
        /* 100^10 combinations: the count saturates, nothing is expanded */
        {"    matrix: {device: &l [" "1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, "
         "1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, "
         "1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, "
         "1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], policy: *l, "
         "dtype_rule: *l, reader: *l, key: *l, crc: *l, timeout: *l, skip: *l, xfail: *l, "
         "tags: *l}\n",
         "8:13: matrix: more than 18446744073709551615 combinations; at most 1000000"},
    };
    CHECK_BAD(t, CASE);
}
END_TEST

/* exclude compares values as YAML: a node with itself, nulls of any
 * spelling, lists item by item, mappings key by key. */
START_TEST(test_matrix_compare)
{
    hx_suite s;
    load_ok(CASE "    matrix:\n      description: [~, x]\n      device: [&d cpu, mps]\n"
                 "      tags: [[a, b], [a, c], [a]]\n"
                 "      fault: [{point: io.read, nth: 1}, {point: io.open, nth: 1}, "
                 "{point: io.read, from: 1}]\n"
                 "      timeout: [1, [2]]\n"
                 "    exclude:\n      - {description: null}\n      - {device: *d}\n"
                 "      - {tags: [a, c]}\n      - {fault: {point: io.open, nth: 1}}\n"
                 "      - {timeout: [2]}\n",
            &s);
    /* left: description x, device mps, tags [a, b] or [a], two faults,
     * timeout 1: 4 cases (the timeout [2] would not have loaded) */
    ck_assert_uint_eq(s.ncases, 4);
    for (size_t i = 0; i < s.ncases; i++) {
        ck_assert_str_eq(s.cases[i].description, "x");
        ck_assert_int_eq(s.cases[i].device.type, LG_DEV_MPS);
        ck_assert(s.cases[i].timeout == 1);
    }
    ck_assert_str_eq(s.cases[0].id, "s/a[device=mps,fault={point:io.read,nth:1},timeout=1,"
                                    "tags=[a,b],description=x]");
    ck_assert_str_eq(s.cases[3].id, "s/a[device=mps,fault={point:io.read,from:1},timeout=1,"
                                    "tags=[a],description=x]");
    hx_suite_free(&s);
    /* a mapping of another size, or with other keys, matches nothing */
    static const bad_t t[] = {
        {"    matrix: {fault: [{point: io.read, nth: 1}]}\n"
         "    exclude: [{fault: {point: io.read}}]\n",
         "9:15: exclude: this entry matches no combination of the matrix"},
        {"    matrix: {fault: [{point: io.read, nth: 1}]}\n"
         "    exclude: [{fault: {point: io.read, from: 1}}]\n",
         "9:15: exclude: this entry matches no combination of the matrix"},
    };
    CHECK_BAD(t, CASE);
}
END_TEST

/* The corruption as a matrix key: each value in the id. */
START_TEST(test_matrix_corrupt)
{
    hx_suite s;
    load_ok(CASE "    matrix: {corrupt: [{truncate: 1}, {zero: [0, 1]}]}\n", &s);
    ck_assert_uint_eq(s.ncases, 2);
    ck_assert_str_eq(s.cases[0].id, "s/a[corrupt=truncate:1]");
    ck_assert_int_eq(s.cases[1].corrupt.kind, HX_CORRUPT_ZERO);
    hx_suite_free(&s);
}
END_TEST

/* --------------------------------------------------- files and fixtures */

START_TEST(test_file_values)
{
    static const bad_t t[] = {
        {"  g: {generate: {dtypes: f32}}\n",
         "5:26: generate.dtypes: expected a list of dtypes, got a scalar"},
        {"  g: {generate: {dtypes: []}}\n", "5:26: generate.dtypes: expected 1 to 10 dtypes, "
                                            "got 0"},
        {"  g: {generate: {dtypes: [f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32]}}\n",
         "5:26: generate.dtypes: expected 1 to 10 dtypes, got 11"},
        {"  g: {generate: {dtypes: [f99]}}\n", "5:27: generate.dtypes: unknown dtype 'f99'"},
        {"  g: {generate: {dtype: f99}}\n", "5:25: generate.dtype: unknown dtype 'f99'"},
        {"  g: {generate: {dtype: [f32]}}\n", "5:25: generate.dtype: expected a scalar"},
        {"  g: {generate: {dtypes: [f32], dtype: f32}}\n",
         "5:18: generate: dtypes gives one tensor per entry; drop dtype"},
        {"  g: {generate: {dtypes: [f32], tensors: 2}}\n",
         "5:18: generate: dtypes gives one tensor per entry; drop tensors"},
        {"  g: {generate: 3}\n", "5:17: generate: expected a mapping, got a scalar"},
        {"  g: {generate: {format: gguf}}\n",
         "5:26: generate.format: bad value 'gguf' (safetensors, torch-archive, torch-zip)"},
        {"  g: {generate: {seed: x}}\n", "5:24: generate.seed: expected an unsigned"},
        {"  g: {generate: {shape: 3}}\n", "5:25: generate.shape: expected a list of dimensions"},
        {"  g: 3\n", "5:6: fixture: expected a mapping, got a scalar"},
        {"  g: {}\n", "5:6: fixture: give exactly one of generate, path"},
        {"  g: {path: [x]}\n", "5:13: path: expected a scalar, got a list"},
    };
    CHECK_BAD(t, HEAD);
    static const bad_t u[] = {
        {"    file: [1]\n", "4:11: file: expected a scalar, got a list"},
        {"    file: {path: a, generate: {}}\n", "4:11: file: give exactly one of generate, path"},
        {"    file: {bogus: 1}\n", "4:12: unknown key 'bogus' in file (allowed: generate, path)"},
    };
    CHECK_BAD(u, "suite: s\ncases:\n  - name: a\n");
    static const bad_t v[] = {
        {"    file: nope\n", "4:11: file: no fixture named 'nope' (no fixtures defined)"},
    };
    CHECK_BAD(v, "suite: s\ncases:\n  - name: a\n");
}
END_TEST

/* The message naming the defined fixtures stops at its buffer. */
START_TEST(test_file_many_fixtures)
{
    char y[8192] = "suite: s\nfixtures:\n";
    for (int i = 0; i < 40; i++)
        snprintf(y + strlen(y), sizeof y - strlen(y),
                 "  fixture_with_a_rather_long_name_%02d: {path: x%d.bin}\n", i, i);
    snprintf(y + strlen(y), sizeof y - strlen(y), "cases:\n  - name: a\n    file: nope\n");
    hx_suite s;
    ck_assert_int_eq(load(y, &s), -1);
    ck_assert_msg(strstr(errs, "suite.yaml:45:11: file: no fixture named 'nope' (defined: "
                               "fixture_with_a_rather_long_name_00, "),
                  "%.2000s", errs);
    ck_assert_msg(!strstr(errs, "name_39"), "%.2000s", errs);
}
END_TEST

/* ---------------------------------------------------------- the suite */

START_TEST(test_suite_values)
{
    static const bad_t t[] = {
        {"suite: [1]\ncases: []\n", "1:8: suite: expected a scalar, got a list"},
        {"suite: s\ndescription: [1]\ncases: []\n", "2:14: description: expected a scalar"},
        {"suite: s\nfixtures: 3\ncases: []\n",
         "2:11: fixtures: expected a mapping of names to {generate: ...} or {path: ...}, got "
         "a scalar"},
        {"suite: s\ndefaults: 3\ncases: []\n", "2:11: defaults: expected a mapping, got a scalar"},
        {"suite: s\n", "1:1: missing key 'cases' (a list of cases)"},
        {"suite: s\ncases: [3]\n", "2:9: cases: each case is a mapping, got a scalar"},
        {"suite: s\ncases: [{name: [1]}]\n", "2:16: name: expected a scalar, got a list"},
        {"suite: s\ncases: [{name: a, {b: 1}: 2}]\n",
         "2:19: mapping keys must be scalars, not a mapping"},
        {"suite: s\ncases:\n  - name: a\n    <<: {file: x}\n    <<: {device: cpu}\n",
         "5:5: duplicate key '<<'; merge several mappings with <<: [*a, *b]"},
        {"suite: s\ncases: []\n---\n[\n", "5:1: YAML syntax error: did not find expected node "
                                          "content (while parsing a flow node, line 5 column 1)"},
    };
    CHECK_BAD(t, "");
    /* no case at all is a valid suite */
    hx_suite s;
    load_ok("suite: s\ncases: []\n", &s);
    ck_assert_uint_eq(s.ncases, 0);
    ck_assert_str_eq(s.suite, "s");
    hx_suite_free(&s);
}
END_TEST

/* validate and list answer a broken file with exit 2. */
START_TEST(test_cmds_exit_2)
{
    const char *p = tu_path(dir, "bad.yaml");
    const char *y = CASE "    corrupt: {flip: {every_bit: false}}\n";
    ck_assert_int_eq(tu_write(p, y, strlen(y)), 0);
    char *out = NULL;
    char *v[] = {"validate", (char *)p, NULL};
    ck_assert_int_eq(tu_run_cmd(hx_cmd_validate, v, dir, &out), 2);
    free(out);
    char *l[] = {"list", (char *)p, NULL};
    ck_assert_int_eq(tu_run_cmd(hx_cmd_list, l, dir, &out), 2);
    ck_assert_msg(out == NULL || !strstr(out, "s/a"), "%s", out ? out : "");
    free(out);
}
END_TEST

static Suite *case_errors_suite(void)
{
    Suite *s = suite_create("case_errors");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_key_values);
    tcase_add_test(tc, test_key_error_order);
    tcase_add_test(tc, test_key_edges_ok);
    tcase_add_test(tc, test_scalar_values);
    tcase_add_test(tc, test_scalar_edges_ok);
    tcase_add_test(tc, test_corrupt_values);
    tcase_add_test(tc, test_corrupt_list_limit);
    tcase_add_test(tc, test_corrupt_enum_limit);
    tcase_add_test(tc, test_matrix_values);
    tcase_add_test(tc, test_matrix_compare);
    tcase_add_test(tc, test_matrix_corrupt);
    tcase_add_test(tc, test_file_values);
    tcase_add_test(tc, test_file_many_fixtures);
    tcase_add_test(tc, test_suite_values);
    tcase_add_test(tc, test_cmds_exit_2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = tu_run_suite(case_errors_suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
