/* The case language: parsing, expansion (matrix, exclude, include,
 * corruption lists), ids, errors with file:line:col, aliases and merge
 * keys, selection and sharding, and the corruption generators. */
#include "case/case.h"
#include "case/require.h"
#include "cmd/cmd.h"
#include "corrupt/corrupt.h"
#include "testutil.h"
#include "util/error.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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

/* Loads the file at p; its error lines land in errs, one a line. */
static int load_path(const char *p, hx_suite *s)
{
    hx_case_errors el;
    memset(errs, 0, sizeof errs);
    FILE *e = fmemopen(errs, sizeof errs - 1, "w");
    ck_assert_ptr_nonnull(e);
    lg_status st = hx_suite_load(p, fixtures, s, &el);
    for (size_t i = 0; i < el.n; i++)
        fprintf(e, "%s\n", el.line[i]);
    fclose(e);
    ck_assert(st == LG_OK ? el.n == 0 : el.n > 0 && !strcmp(hx_errmsg(), el.line[0]));
    hx_case_errors_free(&el);
    return st == LG_OK ? 0 : -1;
}

/* Writes yaml to DIR/suite.yaml and loads it; errors land in errs. */
static int load(const char *yaml, hx_suite *s)
{
    const char *p = tu_path(dir, "suite.yaml");
    ck_assert_int_eq(tu_write(p, yaml, strlen(yaml)), 0);
    return load_path(p, s);
}

static void load_ok(const char *yaml, hx_suite *s)
{
    int rc = load(yaml, s);
    ck_assert_msg(rc == 0, "load failed:\n%s", errs);
}

/* The file must be invalid, with want ("L:C: message") among the errors. */
static void load_err(const char *yaml, const char *want)
{
    hx_suite s;
    char needle[512];
    ck_assert_int_eq(load(yaml, &s), -1);
    snprintf(needle, sizeof needle, "suite.yaml:%s", want);
    ck_assert_msg(strstr(errs, needle), "want \"%s\" in:\n%s", needle, errs);
    ck_assert_uint_eq(s.ncases, 0);
}

static const hx_case *find(const hx_suite *s, const char *id)
{
    for (size_t i = 0; i < s->ncases; i++)
        if (!strcmp(s->cases[i].id, id))
            return &s->cases[i];
    ck_abort_msg("no case %s", id);
    return NULL;
}

/* Three lines: a suite's cases start on line 5 after "suite: s\n" FIX. */
#define FIX                                                                            \
    "fixtures:\n"                                                                      \
    "  small: {generate: {format: safetensors, tensors: 1, shape: [2], seed: 1}}\n"    \
    "  mixed: {generate: {format: safetensors, dtypes: [f32, u8], shape: [2], seed: 2}}\n"

/* ------------------------------------------------------------ defaults */

START_TEST(test_defaults)
{
    hx_suite s;
    load_ok("suite: s\n" FIX "cases:\n  - name: a\n    file: small\n", &s);
    ck_assert_uint_eq(s.ncases, 1);
    const hx_case *c = &s.cases[0];
    ck_assert_str_eq(c->id, "s/a");
    ck_assert_str_eq(c->suite, "s");
    ck_assert_str_eq(c->name, "a");
    ck_assert_str_eq(c->backend, "sim");
    ck_assert_int_eq(c->device.type, LG_DEV_CPU);
    ck_assert_int_eq(c->policy, LG_POLICY_VIA_CPU);
    ck_assert_int_eq(c->dtype_rule, LG_DTYPE_CONVERT);
    ck_assert(c->timeout == 10);
    ck_assert_int_eq(c->expect.outcome, HX_EXPECT_OK);
    ck_assert_int_eq(c->expect.has_invariants, 0);
    ck_assert_int_eq(c->store.mirror, 1);
    ck_assert_int_eq(c->corrupt.kind, HX_CORRUPT_NONE);
    ck_assert_int_eq(c->file.kind, HX_FILE_GENERATE);
    ck_assert_str_eq(c->file.name, "small");
    ck_assert_ptr_null(c->file.path);
    ck_assert_int_eq(c->file.gen.tensors, 1);
    ck_assert_int_eq(c->file.gen.ndim, 1);
    ck_assert_ptr_null(c->reader);
    ck_assert_uint_eq(c->nparams, 0);
    ck_assert_int_eq(c->line, 6);
    ck_assert_int_eq(c->col, 5);
    ck_assert_ptr_eq(c->src, s.path);
    hx_suite_free(&s);
}
END_TEST

START_TEST(test_defaults_block)
{
    hx_suite s;
    load_ok("suite: s\ndescription: d\n" FIX
            "defaults:\n  device: mps\n  policy: staged\n  timeout: 2.5\n  file: small\n"
            "  tags: [x]\n"
            "cases:\n  - name: a\n    policy: auto\n  - name: b\n    file: mixed\n"
            "    reader: safetensors\n    description: hello\n", &s);
    ck_assert_str_eq(s.suite, "s");
    ck_assert_str_eq(s.description, "d");
    ck_assert_uint_eq(s.ncases, 2);
    const hx_case *a = &s.cases[0], *b = &s.cases[1];
    ck_assert_int_eq(a->device.type, LG_DEV_MPS);
    ck_assert_int_eq(a->policy, LG_POLICY_AUTO);
    ck_assert_int_eq(b->policy, LG_POLICY_STAGED);
    ck_assert(a->timeout == 2.5);
    ck_assert_str_eq(a->file.name, "small");
    ck_assert_str_eq(b->file.name, "mixed");
    ck_assert_int_eq(b->file.gen.ndtypes, 2);
    ck_assert_str_eq(b->reader, "safetensors");
    ck_assert_str_eq(b->description, "hello");
    ck_assert_uint_eq(a->ntags, 1);
    ck_assert_str_eq(a->tags[0], "x");
    hx_suite_free(&s);
}
END_TEST

START_TEST(test_path_fixture_relative)
{
    hx_suite s;
    load_ok("suite: s\nfixtures:\n  f: {path: data/x.safetensors}\n  g: {path: /abs/y.pt}\n"
            "cases:\n  - name: a\n    file: f\n  - name: b\n    file: g\n"
            "  - name: c\n    file: {path: z.bin}\n", &s);
    char want[1024];
    snprintf(want, sizeof want, "%s/data/x.safetensors", dir);
    ck_assert_int_eq(s.cases[0].file.kind, HX_FILE_PATH);
    ck_assert_str_eq(s.cases[0].file.path, want);
    ck_assert_str_eq(s.cases[1].file.path, "/abs/y.pt");
    ck_assert_str_eq(s.cases[2].file.name, "inline");
    hx_suite_free(&s);
}
END_TEST

/* -------------------------------------------------------------- matrix */

START_TEST(test_matrix_cross)
{
    hx_suite s;
    /* iteration follows the matrix's order (first key slowest); the id's
     * keys follow the fixed order (device before file) */
    load_ok("suite: s\n" FIX "cases:\n  - name: m\n    matrix:\n      file: [small, mixed]\n"
            "      device: [cpu, mps, cuda:1]\n", &s);
    ck_assert_uint_eq(s.ncases, 6);
    ck_assert_str_eq(s.cases[0].id, "s/m[device=cpu,file=small]");
    ck_assert_str_eq(s.cases[1].id, "s/m[device=mps,file=small]");
    ck_assert_str_eq(s.cases[2].id, "s/m[device=cuda:1,file=small]");
    ck_assert_str_eq(s.cases[3].id, "s/m[device=cpu,file=mixed]");
    ck_assert_int_eq(s.cases[2].device.index, 1);
    ck_assert_uint_eq(s.cases[5].nparams, 2);
    ck_assert_str_eq(s.cases[5].params[0].key, "device");
    ck_assert_str_eq(s.cases[5].params[1].value, "mixed");
    hx_suite_free(&s);
}
END_TEST

/* The example of CASES.md. */
START_TEST(test_exclude_include)
{
    hx_suite s;
    load_ok("suite: mps\n" FIX "cases:\n"
            "  - name: load\n"
            "    matrix:\n      device: [cpu, mps]\n      policy: [via-cpu, staged]\n"
            "      file: [small, mixed]\n"
            "    exclude:\n      - {device: cpu, policy: staged}\n"
            "    include:\n"
            "      - {device: mps, policy: direct, file: small, expect: {outcome: error, error: "
            "LG_E_DEVICE}}\n"
            "    expect: {outcome: ok}\n", &s);
    ck_assert_uint_eq(s.ncases, 7);
    ck_assert_str_eq(s.cases[0].id, "mps/load[device=cpu,policy=via-cpu,file=small]");
    ck_assert_str_eq(s.cases[2].id, "mps/load[device=mps,policy=via-cpu,file=small]");
    const hx_case *c = &s.cases[6];
    ck_assert_str_eq(c->id, "mps/load[device=mps,policy=direct,file=small]");
    ck_assert_int_eq(c->expect.outcome, HX_EXPECT_ERROR);
    ck_assert_int_eq(c->expect.error, LG_E_DEVICE);
    for (size_t i = 0; i < 6; i++) {
        ck_assert_int_eq(s.cases[i].expect.outcome, HX_EXPECT_OK);
        ck_assert(!(s.cases[i].device.type == LG_DEV_CPU &&
                    s.cases[i].policy == LG_POLICY_STAGED));
    }
    hx_suite_free(&s);
}
END_TEST

/* GitHub's documented example: fruit = policy, animal = device, color =
 * reader, shape = xfail. */
START_TEST(test_include_github_semantics)
{
    hx_suite s;
    load_ok("suite: s\n" FIX "cases:\n  - name: g\n    file: small\n"
            "    matrix:\n      policy: [via-cpu, staged]\n      device: [mps, cpu]\n"
            "    include:\n"
            "      - reader: green\n"
            "      - {reader: pink, device: mps}\n"
            "      - {policy: via-cpu, xfail: circle}\n"
            "      - {policy: direct}\n"
            "      - {policy: direct, device: mps}\n", &s);
    ck_assert_uint_eq(s.ncases, 6);
    const char *ids[] = {"s/g[device=mps,policy=via-cpu]", "s/g[device=cpu,policy=via-cpu]",
                         "s/g[device=mps,policy=staged]", "s/g[device=cpu,policy=staged]",
                         "s/g[policy=direct]", "s/g[device=mps,policy=direct]"};
    const char *readers[] = {"pink", "green", "pink", "green", NULL, NULL};
    const char *xfails[] = {"circle", "circle", NULL, NULL, NULL, NULL};
    for (int i = 0; i < 6; i++) {
        const hx_case *c = &s.cases[i];
        ck_assert_str_eq(c->id, ids[i]);
        if (readers[i])
            ck_assert_str_eq(c->reader, readers[i]);
        else
            ck_assert_ptr_null(c->reader);
        if (xfails[i])
            ck_assert_str_eq(c->xfail, xfails[i]);
        else
            ck_assert_ptr_null(c->xfail);
    }
    hx_suite_free(&s);
}
END_TEST

START_TEST(test_include_without_matrix)
{
    hx_suite s;
    load_ok("suite: s\n" FIX "cases:\n  - name: i\n    file: small\n    include:\n"
            "      - {device: mps, expect: {outcome: any}}\n"
            "      - {device: cpu, policy: direct}\n",
            &s);
    ck_assert_uint_eq(s.ncases, 2);
    ck_assert_str_eq(s.cases[0].id, "s/i[device=mps]");
    ck_assert_int_eq(s.cases[0].expect.outcome, HX_EXPECT_ANY);
    ck_assert_str_eq(s.cases[1].id, "s/i[device=cpu,policy=direct]");
    hx_suite_free(&s);
}
END_TEST

START_TEST(test_matrix_map_values)
{
    hx_suite s;
    load_ok("suite: s\n" FIX "cases:\n  - name: f\n    file: small\n    matrix:\n"
            "      fault: [{point: device.copy, nth: 2}, [{point: io.read, nth: 1, errno: EIO},"
            " {point: mem.alloc, from: 3}]]\n"
            "      file: [small, {generate: {tensors: 2}}]\n", &s);
    ck_assert_uint_eq(s.ncases, 4);
    ck_assert_str_eq(s.cases[0].id, "s/f[file=small,fault={point:device.copy,nth:2}]");
    ck_assert_str_eq(s.cases[1].id, "s/f[file={generate:{tensors:2}},fault={point:device.copy,"
                                    "nth:2}]");
    ck_assert_uint_eq(s.cases[2].nfaults, 2);
    ck_assert_str_eq(s.cases[1].file.name, "inline");
    ck_assert_int_eq(s.cases[1].file.gen.tensors, 2);
    hx_suite_free(&s);
}
END_TEST

/* include and exclude find a matrix value by hash, then compare: values
 * that are equal but written otherwise (a mapping's keys in another order
 * or merged with <<; a plain null against a plain ~, both null, or against
 * a quoted "null", the same text) must still match, and values that only
 * hash alike (a quoted "~" and a quoted "null") must not. */
START_TEST(test_entries_match_values_written_otherwise)
{
    hx_suite s;
    load_ok("suite: s\n" FIX "cases:\n  - name: f\n    file: small\n    matrix:\n"
            "      fault: [{point: device.copy, nth: 2}, [{point: io.read, nth: 1, errno: EIO},"
            " {point: mem.alloc, from: 3}], {point: device.copy, nth: 3}]\n"
            "      description: [\"~\", ~, \"null\", x]\n"
            "    exclude:\n"
            "      - {fault: {<<: {point: device.copy}, nth: 2}}\n"
            "      - {description: null}\n"
            "    include:\n"
            "      - {fault: [{errno: EIO, nth: 1, point: io.read}, {from: 3, point: mem.alloc}],"
            " timeout: 7}\n"
            "      - {fault: {nth: 3, point: device.copy}, description: x, timeout: 9}\n"
            "      - {tags: [all]}\n",
            &s);
    /* 3 x 4, less the first fault's 4 and ~ and "null" of the other two;
     * the last include names no matrix value: it matches the 12, of which
     * it walks the 4 kept */
    ck_assert_uint_eq(s.ncases, 4);
    const char *descr[] = {"~", "x", "~", "x"};
    const double timeout[] = {7, 7, 10, 9}; /* 10: the default */
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(s.cases[i].description, descr[i]);
        ck_assert_uint_eq(s.cases[i].nfaults, i < 2 ? 2 : 1);
        ck_assert_double_eq(s.cases[i].timeout, timeout[i]);
        ck_assert_uint_eq(s.cases[i].ntags, 1);
        ck_assert_str_eq(s.cases[i].tags[0], "all");
    }
    hx_suite_free(&s);
    /* an include that matches more than exclude kept walks the kept ones
     * (4 of 8 combinations match policy: staged; 2 are kept) */
    load_ok("suite: s\n" FIX "cases:\n  - name: k\n    file: small\n    matrix:\n"
            "      staging_budget: [1, 2, 3, 4]\n      policy: [via-cpu, staged]\n"
            "    exclude: [{staging_budget: 1}, {staging_budget: 2}, {staging_budget: 3}]\n"
            "    include: [{policy: staged, timeout: 3}]\n",
            &s);
    ck_assert_uint_eq(s.ncases, 2);
    ck_assert_int_eq(s.cases[0].policy, LG_POLICY_VIA_CPU);
    ck_assert_double_eq(s.cases[0].timeout, 10);
    ck_assert_int_eq(s.cases[1].policy, LG_POLICY_STAGED);
    ck_assert_double_eq(s.cases[1].timeout, 3);
    hx_suite_free(&s);
    /* a quoted "null" is not a quoted "~", though both hash as null */
    load_err("suite: s\n" FIX "cases:\n  - name: f\n    file: small\n    matrix:\n"
             "      description: [\"~\", x]\n    exclude:\n      - {description: \"null\"}\n",
             "11:9: exclude: this entry matches no combination");
}
END_TEST

START_TEST(test_duplicate_ids)
{
    load_err("suite: s\n" FIX "cases:\n  - name: a\n    file: small\n    include:\n"
             "      - {timeout: 1}\n      - {timeout: 2}\n",
             "6:5: case id 's/a' is generated twice");
}
END_TEST

/* -------------------------------------------------------------- errors */

START_TEST(test_error_unknown_key)
{
    load_err("suite: s\n" FIX "cases:\n  - name: a\n    file: small\n    devise: cpu\n",
             "8:5: unknown key 'devise' in a case (allowed: backend, device,");
    load_err("suite: s\n" FIX "bogus: 1\ncases: []\n", "5:1: unknown key 'bogus' in the suite");
    load_err("suite: s\n" FIX "cases:\n  - name: a\n    file: small\n    expect: {outcom: ok}\n",
             "8:14: unknown key 'outcom' in expect (allowed: outcome, error, message, "
             "invariants)");
}
END_TEST

START_TEST(test_error_types_and_values)
{
    const char *base = "suite: s\n" FIX "cases:\n  - name: a\n    file: small\n";
    char y[2048];
    struct {
        const char *line, *want;
    } t[] = {
        {"    timeout: [1]\n", "8:14: timeout: expected a scalar, got a list"},
        {"    timeout: soon\n", "8:14: timeout: expected a number"},
        {"    device: gpu\n", "8:13: device: bad device 'gpu'"},
        {"    policy: fast\n", "8:13: policy: bad value 'fast' (via-cpu, staged, direct, auto, tch)"},
        {"    backend: gpu\n", "8:14: backend: bad value 'gpu' (sim, torch)"},
        {"    dtype_rule: loose\n", "8:17: dtype_rule: bad value 'loose'"},
        {"    store: [{name: w, dtype: f33, shape: [2]}]\n", "8:30: store: unknown dtype 'f33'"},
        {"    expect: {error: LG_E_NOPE}\n", "8:21: expect.error: unknown error 'LG_E_NOPE'"},
        {"    fault: {point: disk.spin, nth: 1}\n",
         "8:20: fault.point: unknown fault point 'disk.spin' (io.open"},
        {"    fault: {point: io.read, nth: 0}\n", "8:34: fault.nth: expected an integer from 1"},
        {"    fault: {point: io.open, nth: 1, errno: short}\n",
         "8:44: fault.errno: 'short' (a short read) applies to io.read only"},
        {"    fault: {point: io.open}\n",
         "8:12: fault: give exactly one of nth, from, prob, sweep"},
        {"    sim: {mps: {capacity: lots}}\n", "8:27: capacity: expected bytes"},
        {"    sim: {mps: {speed: 3}}\n", "8:17: unknown key 'speed' in sim profile"},
        {"    requires: [mps, quantum]\n", "8:21: requires: unknown requirement 'quantum'"},
        {"    corrupt: {truncate: 3, zero: [0, 1]}\n", "8:14: corrupt: give exactly one of"},
        {"    corrupt: {flip: {offset: 1, bit: 9}}\n", "8:38: flip.bit (or all): expected an "
                                                     "integer from 0 to 7"},
        {"    expect: {outcome: ok, error: LG_E_IO}\n", "8:27: expect.error: only with outcome"},
        {"    expect: {invariants: [restored, tidy]}\n", "8:37: expect.invariants: unknown "
                                                         "invariant 'tidy'"},
        {"    tags: [a b]\n", "8:12: tags: 'a b' is not a word"},
        {"    matrix: {device: []}\n",
         "8:22: matrix.device: expected a non-empty list of values, got an empty list"},
        {"    matrix: {name: [x]}\n", "8:14: matrix: 'name' cannot be set here"},
        {"    matrix: {device: [cpu]}\n    exclude: [{policy: staged}]\n",
         "9:16: exclude: 'policy' is not a key of the matrix"},
        {"    matrix: {device: [cpu]}\n    exclude: [{device: mps}]\n",
         "9:15: exclude: this entry matches no combination"},
        {"    store: {mirror: true, reshape: {w: [-1]}}\n", "8:41: store.reshape: expected an "
                                                            "integer from 0"},
    };
    char missed[8192] = "";
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        hx_suite s;
        char needle[512];
        snprintf(y, sizeof y, "%s%s", base, t[i].line);
        ck_assert_int_eq(load(y, &s), -1);
        snprintf(needle, sizeof needle, "suite.yaml:%s", t[i].want);
        if (!strstr(errs, needle))
            snprintf(missed + strlen(missed), sizeof missed - strlen(missed),
                     "want \"%s\" in:\n%s", needle, errs);
    }
    ck_assert_msg(!missed[0], "%s", missed);
}
END_TEST

START_TEST(test_error_duplicates_and_fixtures)
{
    load_err("suite: s\n" FIX "cases:\n  - name: a\n    file: small\n    file: mixed\n",
             "8:5: duplicate key 'file' (first at line 7)");
    load_err("suite: s\n" FIX "cases:\n  - name: a\n    file: big\n",
             "7:11: file: no fixture named 'big' (defined: small, mixed)");
    load_err("suite: s\n" FIX
             "cases:\n  - name: a\n    file: small\n  - name: a\n    file: small\n",
             "8:11: duplicate case name 'a' (first at line 6)");
    load_err("suite: s\ncases:\n  - name: a\n", "3:5: case 'a' has no file");
    load_err("suite: s\ncases:\n  - file: x\n", "3:5: a case needs a name");
    load_err("cases: []\n", "1:1: missing key 'suite'");
    load_err("suite: s\n" FIX "defaults: {name: x}\ncases: []\n",
             "5:12: defaults: 'name' cannot be set here");
}
END_TEST

START_TEST(test_error_syntax)
{
    load_err("suite: s\ncases: [\n  {name: a,\n", "4:1: YAML syntax error: did not find "
                                                 "expected node content");
    load_err("suite: s\ncases:\n  - name: a\n    file: *nope\n", "4:11: YAML syntax error: "
                                                              "found undefined alias");
    load_err("suite: s\ncases: []\n---\nsuite: t\n", "4:1: a second YAML document");
    load_err("", "1:1: empty file");
    load_err("- 1\n", "1:1: expected a mapping, got a list");
}
END_TEST

START_TEST(test_all_errors_reported)
{
    hx_suite s;
    ck_assert_int_eq(load("suite: s\n" FIX "cases:\n  - name: a\n    file: small\n"
                          "    device: gpu\n    policy: fast\n  - name: b\n    file: nope\n",
                          &s),
                     -1);
    ck_assert_ptr_nonnull(strstr(errs, ":8:13: device"));
    ck_assert_ptr_nonnull(strstr(errs, ":9:13: policy"));
    ck_assert_ptr_nonnull(strstr(errs, ":11:11: file"));
    int lines = 0;
    for (const char *p = errs; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, 3); /* each error once, though checked twice */
}
END_TEST

/* ----------------------------------------------------- aliases, merges */

START_TEST(test_aliases)
{
    hx_suite s;
    load_ok("suite: s\n"
            "fixtures:\n  small: &gen {generate: {format: safetensors, tensors: 1, shape: [2]}}\n"
            "  again: *gen\n"
            "cases:\n  - name: a\n    matrix:\n      file: &files [small, again]\n"
            "  - name: b\n    matrix: {file: *files}\n    expect: &err {error: LG_E_IO}\n"
            "  - name: c\n    file: again\n    expect: *err\n",
            &s);
    ck_assert_uint_eq(s.ncases, 5);
    ck_assert_str_eq(s.cases[3].id, "s/b[file=again]");
    ck_assert_int_eq(s.cases[3].file.gen.tensors, 1);
    ck_assert_int_eq(s.cases[4].expect.error, LG_E_IO);
    hx_suite_free(&s);
}
END_TEST

START_TEST(test_merge_semantics)
{
    hx_suite s;
    load_ok("suite: s\n" FIX
            "defaults: &base {device: mps, policy: staged, timeout: 3}\n"
            "cases:\n"
            "  - name: a\n    file: small\n    <<: *base\n    policy: auto\n"
            "  - name: b\n    <<: [{file: mixed, timeout: 1}, *base]\n"
            "  - name: c\n    file: small\n    tags: &t [p, q]\n"
            "  - {name: d, file: small, tags: *t}\n",
            &s);
    ck_assert_uint_eq(s.ncases, 4);
    const hx_case *a = find(&s, "s/a"), *b = find(&s, "s/b"), *d = find(&s, "s/d");
    ck_assert_int_eq(a->policy, LG_POLICY_AUTO); /* explicit key wins */
    ck_assert_int_eq(a->device.type, LG_DEV_MPS);
    ck_assert(a->timeout == 3);
    ck_assert(b->timeout == 1); /* the earlier mapping of the list wins */
    ck_assert_str_eq(b->file.name, "mixed");
    ck_assert_int_eq(b->policy, LG_POLICY_STAGED);
    ck_assert_uint_eq(d->ntags, 2);
    ck_assert_str_eq(d->tags[1], "q");
    hx_suite_free(&s);
    load_err("suite: s\ncases:\n  - name: a\n    <<: 3\n", "4:9: '<<' merges a mapping or a list");
    /* a quoted "<<" is an ordinary (here unknown) key */
    load_err("suite: s\ncases:\n  - name: a\n    \"<<\": {}\n", "4:5: unknown key '<<'");
}
END_TEST

START_TEST(test_alias_bomb)
{
    char y[4096];
    size_t n = (size_t)snprintf(y, sizeof y, "suite: s\nx:\n  - &a0 [lol, lol, lol, lol, lol, lol, "
                                             "lol, lol, lol, lol]\n");
    for (int i = 1; i < 10; i++)
        n += (size_t)snprintf(y + n, sizeof y - n,
                              "  - &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, "
                              "*a%d]\n",
                              i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
                              i - 1);
    snprintf(y + n, sizeof y - n, "cases:\n  - name: a\n    tags: *a9\n");
    hx_suite s;
    clock_t t0 = clock();
    ck_assert_int_eq(load(y, &s), -1);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    ck_assert_msg(secs < 5, "took %.1f s", secs);
    ck_assert_ptr_nonnull(strstr(errs, "more than 1000000 nodes"));
    load_err("suite: s\ncases:\n  - name: a\n    tags: &r [*r]\n", "4:11: nesting deeper than");
}
END_TEST

/* ---------------------------------------------------------- corruption */

START_TEST(test_corrupt_lists)
{
    hx_suite s;
    load_ok("suite: s\n" FIX "cases:\n"
            "  - name: t\n    file: small\n    corrupt: {truncate: [0, 7, half, -1]}\n"
            "  - name: one\n    file: small\n    corrupt: {truncate: 9}\n"
            "  - name: f\n    file: small\n    corrupt: {flip: [{offset: 3, bit: 2}, "
            "{offset: -1, bit: all}]}\n"
            "  - name: r\n    file: small\n    corrupt: {flip: {random: 4, seed: 7, count: 3}}\n"
            "  - name: z\n    file: small\n    corrupt: {zero: [[0, 8], [half, -1]]}\n"
            "  - name: mix\n    file: small\n    corrupt: [{truncate: 1}, {zero: [1, 2]}]\n",
            &s);
    ck_assert_uint_eq(s.ncases, 4 + 1 + 2 + 3 + 2 + 2);
    const hx_case *c = find(&s, "s/t[corrupt=truncate:half]");
    ck_assert_int_eq(c->corrupt.kind, HX_CORRUPT_TRUNCATE);
    ck_assert_int_eq(c->corrupt.a_half, 1);
    c = find(&s, "s/t[corrupt=truncate:-1]");
    ck_assert_int_eq(c->corrupt.a, -1);
    c = find(&s, "s/one");
    ck_assert_int_eq(c->corrupt.a, 9);
    c = find(&s, "s/f[corrupt=flip:3:2]");
    ck_assert_int_eq(c->corrupt.bit, 2);
    c = find(&s, "s/f[corrupt=flip:-1:all]");
    ck_assert_int_eq(c->corrupt.bit, -1);
    c = find(&s, "s/r[corrupt=flip:random4:seed9]");
    ck_assert_int_eq(c->corrupt.random, 1);
    ck_assert_int_eq(c->corrupt.a, 4);
    c = find(&s, "s/z[corrupt=zero:half:-1]");
    ck_assert_int_eq(c->corrupt.kind, HX_CORRUPT_ZERO);
    find(&s, "s/mix[corrupt=zero:1:2]");
    find(&s, "s/mix[corrupt=truncate:1]");
    hx_suite_free(&s);
}
END_TEST

START_TEST(test_corrupt_every)
{
    hx_suite s;
    load_ok("suite: s\n" FIX "cases:\n"
            "  - name: t\n    file: small\n    corrupt: {truncate: every}\n"
            "  - name: b\n    file: small\n    corrupt: {flip: {every_byte: true}}\n"
            "  - name: bits\n    file: small\n    corrupt: {flip: {every_bit: true}}\n", &s);
    struct stat st;
    const hx_case *c = &s.cases[0];
    ck_assert_ptr_nonnull(c->file.path);
    ck_assert_int_eq(stat(c->file.path, &st), 0);
    size_t size = (size_t)st.st_size;
    ck_assert_uint_gt(size, 8);
    ck_assert_uint_eq(s.ncases, size * 10);
    char last[64];
    snprintf(last, sizeof last, "s/t[corrupt=truncate:%zu]", size - 1);
    ck_assert_str_eq(s.cases[size - 1].id, last);
    ck_assert_str_eq(s.cases[size].id, "s/b[corrupt=flip:0:all]");
    ck_assert_str_eq(s.cases[2 * size + 9].id, "s/bits[corrupt=flip:1:1]");
    ck_assert_str_eq(s.cases[2 * size + 9].file.path, c->file.path);
    hx_suite_free(&s);
}
END_TEST

START_TEST(test_corrupt_apply)
{
    unsigned char data[16];
    for (int i = 0; i < 16; i++)
        data[i] = (unsigned char)i;
    const char *in = tu_path(dir, "in.bin"), *out = tu_path(dir, "out.bin");
    ck_assert_int_eq(tu_write(in, data, sizeof data), 0);
    size_t n;
    unsigned char *got;

    hx_corrupt t = {.kind = HX_CORRUPT_TRUNCATE, .a = -3};
    ck_assert_int_eq(hx_corrupt_apply(&t, in, out), 0);
    got = tu_read(out, &n);
    ck_assert_uint_eq(n, 13);
    free(got);

    hx_corrupt h = {.kind = HX_CORRUPT_TRUNCATE, .a_half = 1};
    ck_assert_int_eq(hx_corrupt_apply(&h, in, out), 0);
    got = tu_read(out, &n);
    ck_assert_uint_eq(n, 8);
    free(got);

    hx_corrupt f = {.kind = HX_CORRUPT_FLIP, .a = 2, .bit = 7};
    ck_assert_int_eq(hx_corrupt_apply(&f, in, out), 0);
    got = tu_read(out, &n);
    ck_assert_uint_eq(got[2], 0x82);
    ck_assert_uint_eq(got[3], 3);
    free(got);

    hx_corrupt all = {.kind = HX_CORRUPT_FLIP, .a = -1, .bit = -1};
    ck_assert_int_eq(hx_corrupt_apply(&all, in, out), 0);
    got = tu_read(out, &n);
    ck_assert_uint_eq(got[15], 0xF0);
    free(got);

    hx_corrupt z = {.kind = HX_CORRUPT_ZERO, .a = 4, .b = -4};
    ck_assert_int_eq(hx_corrupt_apply(&z, in, out), 0);
    got = tu_read(out, &n);
    ck_assert_uint_eq(n, 16);
    ck_assert_uint_eq(got[3], 3);
    ck_assert_uint_eq(got[4] | got[11], 0);
    ck_assert_uint_eq(got[12], 12);
    free(got);

    /* random flips: deterministic, and a documented splitmix64 stream */
    hx_corrupt r = {.kind = HX_CORRUPT_FLIP, .random = 1, .a = 5, .seed = 42};
    unsigned char b1[16], b2[16];
    size_t l1 = 16, l2 = 16;
    memcpy(b1, data, 16);
    memcpy(b2, data, 16);
    ck_assert_int_eq(hx_corrupt_apply_buf(&r, b1, &l1), 0);
    ck_assert_int_eq(hx_corrupt_apply_buf(&r, b2, &l2), 0);
    ck_assert_mem_eq(b1, b2, 16);
    ck_assert(memcmp(b1, data, 16) != 0);
    uint64_t st = 0;
    ck_assert_uint_eq(hx_splitmix64(&st), 0xE220A8397B1DCDAFull);

    /* out of range is an error, not clamped */
    hx_corrupt bad = {.kind = HX_CORRUPT_TRUNCATE, .a = 17};
    hx_corrupt_label(&bad);
    ck_assert_int_ne(hx_corrupt_apply(&bad, in, out), LG_OK);
    ck_assert_ptr_nonnull(strstr(hx_errmsg(), "truncate:17"));
    hx_corrupt badf = {.kind = HX_CORRUPT_FLIP, .a = 16};
    ck_assert_int_ne(hx_corrupt_apply(&badf, in, out), LG_OK);
    hx_corrupt badz = {.kind = HX_CORRUPT_ZERO, .a = 8, .b = 4};
    ck_assert_int_ne(hx_corrupt_apply(&badz, in, out), LG_OK);
    hx_corrupt neg = {.kind = HX_CORRUPT_TRUNCATE, .a = -17};
    ck_assert_int_ne(hx_corrupt_apply(&neg, in, out), LG_OK);
    ck_assert_int_ne(hx_corrupt_apply(&t, tu_path(dir, "missing"), out), LG_OK);
}
END_TEST

/* ----------------------------------------------- store, faults, others */

START_TEST(test_store_edits)
{
    hx_suite s;
    load_ok("suite: s\n" FIX "cases:\n"
            "  - name: e\n    file: small\n    store:\n      mirror: true\n      drop: [t1, t2]\n"
            "      add: [{name: extra, dtype: f16, shape: [2, 3]}]\n"
            "      reshape: {t0: [1, 2]}\n      retype: {t3: bf16}\n"
            "  - name: x\n    file: small\n    store:\n"
            "      - {name: w, dtype: float32, shape: []}\n"
            "      - {name: v, dtype: i64, shape: [4]}\n"
            "  - name: m\n    file: small\n    store: mirror\n",
            &s);
    const hx_store_spec *e = &find(&s, "s/e")->store;
    ck_assert_int_eq(e->mirror, 1);
    ck_assert_uint_eq(e->ndrop, 2);
    ck_assert_str_eq(e->drop[1], "t2");
    ck_assert_uint_eq(e->nadd, 1);
    ck_assert_str_eq(e->add[0].name, "extra");
    ck_assert_int_eq(e->add[0].dtype, LG_F16);
    ck_assert_int_eq(e->add[0].ndim, 2);
    ck_assert_int_eq(e->add[0].shape[1], 3);
    ck_assert_uint_eq(e->nreshape, 1);
    ck_assert_int_eq(e->reshape[0].shape[1], 2);
    ck_assert_uint_eq(e->nretype, 1);
    ck_assert_int_eq(e->retype[0].dtype, LG_BF16);
    const hx_store_spec *x = &find(&s, "s/x")->store;
    ck_assert_int_eq(x->mirror, 0);
    ck_assert_uint_eq(x->nvars, 2);
    ck_assert_int_eq(x->vars[0].dtype, LG_F32);
    ck_assert_int_eq(x->vars[0].ndim, 0);
    ck_assert_int_eq(find(&s, "s/m")->store.mirror, 1);
    hx_suite_free(&s);
}
END_TEST

START_TEST(test_faults)
{
    hx_suite s;
    load_ok("suite: s\n" FIX "defaults: {file: small}\ncases:\n"
            "  - name: nth\n    fault: {point: device.copy, nth: 3}\n"
            "  - name: from\n    fault: {point: store.move, from: 2, action: crash}\n"
            "  - name: prob\n    fault: {point: mem.alloc, prob: 0.25, seed: 9}\n"
            "  - name: sweep\n    fault: {point: format.parse, sweep: transient}\n"
            "  - name: psweep\n    fault: {point: device.alloc, sweep: persistent}\n"
            "  - name: many\n    fault:\n      - {point: io.read, nth: 1, errno: short}\n"
            "      - {point: io.open, nth: 1, errno: EMFILE, action: hang}\n",
            &s);
    const hx_fault *f = find(&s, "s/nth")->faults;
    ck_assert_str_eq(f->point, "device.copy");
    ck_assert_int_eq(f->s.when, LG_FAULT_NTH);
    ck_assert_uint_eq(f->s.k, 3);
    ck_assert_int_eq(f->sweep, HX_SWEEP_NONE);
    f = find(&s, "s/from")->faults;
    ck_assert_int_eq(f->s.when, LG_FAULT_FROM);
    ck_assert_int_eq(f->s.action, LG_FAULT_CRASH);
    f = find(&s, "s/prob")->faults;
    ck_assert_int_eq(f->s.when, LG_FAULT_PROB);
    ck_assert(f->s.p == 0.25);
    ck_assert_uint_eq(f->s.seed, 9);
    ck_assert_int_eq(find(&s, "s/sweep")->faults->sweep, HX_SWEEP_TRANSIENT);
    ck_assert_int_eq(find(&s, "s/psweep")->faults->sweep, HX_SWEEP_PERSISTENT);
    const hx_case *m = find(&s, "s/many");
    ck_assert_uint_eq(m->nfaults, 2);
    ck_assert_int_eq(m->faults[0].s.err, -1);
    ck_assert_int_eq(m->faults[1].s.err, EMFILE);
    ck_assert_int_eq(m->faults[1].s.action, LG_FAULT_HANG);
    hx_suite_free(&s);
    load_err("suite: s\n" FIX "cases:\n  - name: a\n    file: small\n    fault:\n"
             "      - {point: io.read, sweep: transient}\n"
             "      - {point: io.open, sweep: persistent}\n",
             "10:9: fault: at most one sweep per case");
    load_err("suite: s\n" FIX "cases:\n  - name: a\n    file: small\n    fault:\n"
             "      - {point: io.read, nth: 1}\n      - {point: io.read, nth: 2}\n",
             "10:9: fault: point io.read is armed twice");
    load_err("suite: s\n" FIX "cases:\n  - name: a\n    file: small\n"
             "    fault: {point: device.copy, nth: 1, errno: EIO}\n",
             "8:48: fault.errno: only io.* points");
}
END_TEST

/* ------------------------------------------------------------ requires */

START_TEST(test_require_grammar)
{
    static const char *const good[] = {"torch", "cpu", "cuda", "cuda:3", "mps", "no-mps",
                                        "no-torch", "no-cuda:1", "libtorch>=2.1", "libtorch < 2",
                                        " libtorch == 1.13.1 ", "libtorch=2.", NULL};
    static const char *const bad[] = {"quantum", "no-libtorch>=2", "libtorch", "libtorch>=",
                                       "libtorch>=1.2.3.4", "libtorch>=2.1a", "libtorch~2",
                                       "no-no-cuda", "", NULL};
    hx_require r;
    for (int i = 0; good[i]; i++)
        ck_assert_msg(hx_require_parse(good[i], &r) == LG_OK, "%s: %s", good[i], hx_errmsg());
    for (int i = 0; bad[i]; i++) {
        ck_assert_msg(hx_require_parse(bad[i], &r) == LG_E_INVALID, "%s", bad[i]);
        ck_assert_ptr_nonnull(strstr(hx_errmsg(), "unknown requirement '"));
    }
    ck_assert_int_eq(hx_require_parse("libtorch >= 2.10.1", &r), LG_OK);
    ck_assert_int_eq(r.kind, HX_REQ_LIBTORCH);
    ck_assert_int_eq(r.cmp, HX_REQ_GE);
    ck_assert_uint_eq(r.version[0], 2);
    ck_assert_uint_eq(r.version[1], 10);
    ck_assert_uint_eq(r.version[2], 1);
    ck_assert_uint_eq(r.version[3], 0);
    ck_assert_int_eq(hx_require_needs_backend(&r), 0);
    ck_assert_int_eq(hx_require_parse("no-cuda:1", &r), LG_OK);
    ck_assert_int_eq(r.kind, HX_REQ_DEVICE);
    ck_assert_int_eq(r.negated, 1);
    ck_assert_int_eq(r.device.type, LG_DEV_CUDA);
    ck_assert_int_eq(r.device.index, 1);
    ck_assert_int_eq(hx_require_needs_backend(&r), 1);
}
END_TEST

/* The reasons are the runner's skip reasons, word for word. */
START_TEST(test_require_eval)
{
    char why[256], want[256];
    lg_backend *b;
    ck_assert_int_eq(lg_backend_open("sim", &b), LG_OK);
    ck_assert_int_eq(lg_sim_profile_set(b, (lg_device){LG_DEV_CUDA, 0}, "available", "no"),
                     LG_OK);
    ck_assert_int_eq(hx_require_check("cpu", b, why, sizeof why), 0);
    ck_assert_int_eq(hx_require_check("cuda", b, why, sizeof why), 1);
    ck_assert_str_eq(why, "requires cuda: not available in this build or machine");
    ck_assert_int_eq(hx_require_check("no-cuda", b, why, sizeof why), 0);
    ck_assert_str_eq(why, "");
    ck_assert_int_eq(hx_require_check("no-cpu", b, why, sizeof why), 1);
    ck_assert_str_eq(why, "requires no-cpu: cpu is there");
    ck_assert_int_eq(hx_require_check("cpu", NULL, why, sizeof why), 1);
    ck_assert_int_eq(hx_require_check("quantum", b, why, sizeof why), -1);
    ck_assert_str_eq(why, "unknown requirement \"quantum\"");
    if (!hx_torch_built()) {
        ck_assert_int_eq(hx_require_check("torch", b, why, sizeof why), 1);
        ck_assert_str_eq(why, "requires torch: not in this build");
        ck_assert_int_eq(hx_require_check("no-torch", b, why, sizeof why), 0);
        ck_assert_int_eq(hx_require_check("libtorch>=1.0", b, why, sizeof why), 1);
        ck_assert_str_eq(why, "requires libtorch>=1.0: libtorch is not in this build");
    } else {
        ck_assert_int_eq(hx_require_check("torch", b, why, sizeof why), 0);
        ck_assert_int_eq(hx_require_check("no-torch", b, why, sizeof why), 1);
        ck_assert_str_eq(why, "requires no-torch: torch is there");
        ck_assert_int_eq(hx_require_check("libtorch>=1.0", b, why, sizeof why), 0);
        ck_assert_int_eq(hx_require_check("libtorch<1", b, why, sizeof why), 1);
        snprintf(want, sizeof want, "requires libtorch<1: libtorch is %s", lg_libtorch_version());
        ck_assert_str_eq(why, want);
    }
    lg_backend_close(b);
}
END_TEST

START_TEST(test_sim_requires_expect)
{
    hx_suite s;
    load_ok("suite: s\n" FIX "cases:\n  - name: a\n    file: small\n"
            "    sim: {mps: {direct_deserialize: ok, capacity: 1MiB, available: no}, "
            "cuda:1: {float64: refuse}}\n"
            "    requires: [mps, \"libtorch >= 2.1\", no-cuda, torch]\n"
            "    staging_budget: 64KiB\n    probe: true\n    skip: not today\n"
            "    xfail: known bug\n"
            "    expect: {error: LG_E_FORMAT, message: header, invariants: [restored, "
            "no-leak]}\n",
            &s);
    const hx_case *c = &s.cases[0];
    ck_assert_uint_eq(c->nsim, 4);
    ck_assert_int_eq(c->sim[0].device.type, LG_DEV_MPS);
    ck_assert_str_eq(c->sim[0].key, "direct_deserialize");
    /* in the profile's key order */
    ck_assert_str_eq(c->sim[1].key, "available");
    ck_assert_str_eq(c->sim[1].value, "no");
    ck_assert_str_eq(c->sim[2].value, "1048576");
    ck_assert_int_eq(c->sim[3].device.index, 1);
    ck_assert_uint_eq(c->nrequires, 4);
    ck_assert_str_eq(c->requires[1], "libtorch>=2.1");
    ck_assert_uint_eq(c->staging_budget, 65536);
    ck_assert_int_eq(c->probe, 1);
    ck_assert_str_eq(c->skip, "not today");
    ck_assert_str_eq(c->xfail, "known bug");
    ck_assert_int_eq(c->expect.outcome, HX_EXPECT_ERROR);
    ck_assert_int_eq(c->expect.has_error, 1);
    ck_assert_int_eq(c->expect.error, LG_E_FORMAT);
    ck_assert_str_eq(c->expect.message, "header");
    ck_assert_int_eq(c->expect.has_invariants, 1);
    ck_assert_int_eq(c->expect.invariants[HX_INV_RESTORED], 1);
    ck_assert_int_eq(c->expect.invariants[HX_INV_NO_LEAK], 1);
    ck_assert_int_eq(c->expect.invariants[HX_INV_ATOMIC], 0);
    hx_suite_free(&s);
}
END_TEST

START_TEST(test_case_copy)
{
    hx_suite s;
    load_ok("suite: s\n" FIX "cases:\n  - name: a\n    file: small\n    tags: [t]\n"
            "    store: {drop: [x], add: [{name: y, dtype: u8, shape: [1]}]}\n"
            "    sim: {mps: {capacity: 1KiB}}\n    fault: {point: io.read, nth: 2}\n"
            "    matrix: {device: [mps]}\n",
            &s);
    hx_case c;
    ck_assert_int_eq(hx_case_copy(&c, &s.cases[0]), 0);
    hx_suite_free(&s);
    ck_assert_str_eq(c.id, "s/a[device=mps]");
    ck_assert_str_eq(c.tags[0], "t");
    ck_assert_str_eq(c.store.add[0].name, "y");
    ck_assert_str_eq(c.sim[0].value, "1024");
    ck_assert_str_eq(c.faults[0].point, "io.read");
    ck_assert_str_eq(c.params[0].value, "mps");
    hx_case_free(&c);
}
END_TEST

/* ---------------------------------------------------- selection, shards */

START_TEST(test_shards)
{
    hx_suite s;
    load_ok("suite: s\n" FIX "cases:\n  - name: a\n    file: small\n"
            "    matrix: {device: [cpu, mps], policy: [via-cpu, staged, direct, auto], "
            "timeout: [1, 2]}\n  - name: b\n    file: small\n",
            &s);
    ck_assert_uint_eq(s.ncases, 17);
    for (int n = 1; n <= 5; n++) {
        for (size_t i = 0; i < s.ncases; i++) {
            int hits = 0;
            for (int k = 1; k <= n; k++)
                hits += hx_case_selected(&s.cases[i], i, NULL, k, n);
            ck_assert_int_eq(hits, 1); /* disjoint and covering */
        }
    }
    int i, n;
    ck_assert_int_eq(hx_shard_parse("2/3", &i, &n), 0);
    ck_assert_int_eq(i, 2);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(hx_shard_parse("0/3", &i, &n), LG_E_INVALID);
    ck_assert_int_eq(hx_shard_parse("4/3", &i, &n), LG_E_INVALID);
    ck_assert_int_eq(hx_shard_parse("3", &i, &n), LG_E_INVALID);
    ck_assert_int_eq(hx_shard_parse("a/b", &i, &n), LG_E_INVALID);
    hx_suite_free(&s);
}
END_TEST

/* A value with control characters (a newline, an escape) is written into
 * the id as \xNN: an id is one line of `harness list`, and prints as it
 * is (the newline split an id over two lines before). */
START_TEST(test_id_control_characters)
{
    hx_suite s;
    load_ok("suite: s\n" FIX "cases:\n  - name: m\n    file: small\n"
            "    matrix: {description: [\"a\\nb\", \"c\\x1b[31m\"]}\n",
            &s);
    ck_assert_uint_eq(s.ncases, 2);
    ck_assert_str_eq(s.cases[0].id, "s/m[description=a\\x0ab]");
    ck_assert_str_eq(s.cases[1].id, "s/m[description=c\\x1b[31m]");
    hx_suite_free(&s);
}
END_TEST

START_TEST(test_select_pattern)
{
    hx_suite s;
    load_ok("suite: s\n" FIX "cases:\n  - name: load\n    file: small\n    tags: [policy]\n"
            "    matrix: {device: [cpu, mps]}\n  - name: other\n    file: small\n",
            &s);
    const hx_case *cpu = &s.cases[0], *mps = &s.cases[1], *other = &s.cases[2];
    ck_assert(hx_case_selected(cpu, 0, "", 1, 1));
    ck_assert(hx_case_selected(cpu, 0, "device=cpu", 0, 0));
    ck_assert(!hx_case_selected(mps, 1, "device=cpu", 0, 0));
    ck_assert(hx_case_selected(mps, 1, "s/load*mps*", 0, 0));
    ck_assert(!hx_case_selected(other, 2, "s/load*", 0, 0));
    ck_assert(hx_case_selected(mps, 1, "load*mps", 0, 0)); /* a glob matches anywhere */
    ck_assert(!hx_case_selected(cpu, 1, "load*mps", 0, 0));
    ck_assert(hx_case_selected(mps, 1, "pol", 0, 0)); /* a tag */
    ck_assert(hx_case_selected(mps, 1, "pol*", 0, 0));
    ck_assert(!hx_case_selected(other, 2, "policy", 0, 0));
    ck_assert(!hx_case_selected(other, 2, "p?licy", 0, 0));
    ck_assert(hx_case_selected(mps, 1, "p?licy", 0, 0));
    ck_assert(hx_case_selected(mps, 1, "s/load[device=mps]", 0, 0)); /* an id as given */
    ck_assert(hx_case_selected(other, 2, "s/other", 0, 0));
    /* an id's brackets are not a glob's class: as one, "[device=mps]"
     * matched any of its letters ("s/load[device=mps]" selected cpu's
     * case through the "c" of "device") */
    ck_assert(!hx_case_selected(cpu, 0, "s/load[device=mps]", 0, 0));
    ck_assert(!hx_case_selected(cpu, 0, "load[device=mps", 0, 0));
    ck_assert(hx_case_selected(cpu, 0, "load[cd]", 0, 0) == 0); /* a glob class: no match */
    ck_assert(hx_case_selected(cpu, 0, "s/load[[]device=c*", 0, 0)); /* [[] globs a [ */
    hx_suite_free(&s);
}
END_TEST

/* ------------------------------------------- generated fixture sizes */

/* Every size computed from a generate spec is checked for overflow and
 * bounded (1 GiB of tensor data); a spec past that is a validation error
 * at its shape, naming the key and the value. */
START_TEST(test_generate_size_limit)
{
    const char *head = "suite: s\nfixtures:\n  big: {generate: ";
    const char *tail = "}\ncases:\n  - name: a\n    file: big\n";
    static const struct {
        const char *spec, *want;
    } bad[] = {
        /* 2^31 * 2^31 * 4 bytes wraps to 0 in 64 bits */
        {"{tensors: 1, shape: [2147483648, 2147483648], dtype: f32}",
         "3:39: generate.shape: [2147483648, 2147483648] of f32, 1 tensor, needs more than "
         "1073741824 bytes (1 GiB)"},
        /* the element count alone overflows */
        {"{shape: [281474976710656, 281474976710656, 281474976710656]}",
         "3:27: generate.shape: [281474976710656, 281474976710656, 281474976710656]: the "
         "dimensions other than 0 multiply past 2^63 - 1"},
        /* empty, but its strides would overflow */
        {"{shape: [0, 281474976710656, 281474976710656]}",
         "3:27: generate.shape: [0, 281474976710656, 281474976710656]: the dimensions other "
         "than 0"},
        /* times the tensor count: 4 KiB * 1,000,000 */
        {"{tensors: 1000000, shape: [1024]}",
         "3:45: generate.shape: [1024] of f32, 1000000 tensors, needs more than 1073741824"},
        /* times the dtype size: 2^28 elements of f64 are 2 GiB */
        {"{tensors: 1, shape: [268435456], dtype: f64}",
         "3:39: generate.shape: [268435456] of f64, 1 tensor, needs more"},
        {"{dtypes: [f32, u8], shape: [268435456]}",
         "3:46: generate.shape: [268435456] with dtypes [f32, u8] needs more than 1073741824"},
        /* no shape key: reported at the tensor count */
        {"{tensors: 1000000, dtype: f64}",
         "3:29: generate.shape: [16, 16] of f64, 1000000 tensors, needs more"},
    };
    char y[1024];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(y, sizeof y, "%s%s%s", head, bad[i].spec, tail);
        load_err(y, bad[i].want);
        DIR *d = opendir(fixtures);
        ck_assert_msg(d == NULL, "a fixture folder was made for %s", bad[i].spec);
    }
    /* an inline splice source is checked too, and never generated */
    load_err("suite: s\n" FIX "cases:\n  - name: a\n    file: small\n"
             "    corrupt: {splice: {from: {generate: {shape: [2147483648, 2147483648]}}, "
             "range: [0, 8], at: 0}}\n",
             "8:49: generate.shape: [2147483648, 2147483648] of f32, 4 tensors, needs more");
    /* exactly 1 GiB, and empty tensors with large dims, are accepted */
    hx_suite s;
    load_ok("suite: s\nfixtures:\n"
            "  gib: {generate: {tensors: 4, shape: [16384, 4096], dtype: f32}}\n"
            "  empty: {generate: {tensors: 1000, shape: [0, 281474976710656], dtype: f64}}\n"
            "  dt: {generate: {dtypes: [f64, f32, f16, bf16, i64, u8], shape: [0, 7]}}\n"
            "cases:\n  - name: a\n    file: gib\n  - name: b\n    file: empty\n"
            "  - name: c\n    file: dt\n", &s);
    ck_assert_uint_eq(s.ncases, 3);
    hx_suite_free(&s);
}
END_TEST

/* The same through the commands, on a hostile case file: validate and list
 * refuse it with exit 2 rather than generate a fixture. */
START_TEST(test_generate_size_limit_cmds)
{
    char p[2048];
    snprintf(p, sizeof p, "%s/tests/data/hostile/generate-overflow.yaml", tu_source_dir());
    char *v[] = {"validate", "-q", p, NULL};
    ck_assert_int_eq(hx_cmd_validate(3, v), 2);
    char *l[] = {"list", p, NULL};
    ck_assert_int_eq(hx_cmd_list(2, l), 2);
    hx_suite s;
    ck_assert_int_eq(load_path(p, &s), -1);
    ck_assert_msg(strstr(errs, "generate-overflow.yaml:6:61: generate.shape: [2147483648, "
                               "2147483648] of f32, 1 tensor, needs more than 1073741824 "
                               "bytes (1 GiB)"), "%s", errs);
    ck_assert_msg(strstr(errs, "generate-overflow.yaml:13:49: generate.shape: [2147483648, "
                               "2147483648]"), "%s", errs);
}
END_TEST

/* ------------------------------------------------------------ commands */

START_TEST(test_cmd_exit_codes)
{
    const char *good = tu_path(dir, "good.yaml"), *bad = tu_path(dir, "bad.yaml");
    const char *g = "suite: s\n" FIX "cases:\n  - name: a\n    file: small\n";
    ck_assert_int_eq(tu_write(good, g, strlen(g)), 0);
    ck_assert_int_eq(tu_write(bad, "suite: s\ncases: 3\n", 18), 0);
    char *v1[] = {"validate", "-q", (char *)good, NULL};
    ck_assert_int_eq(hx_cmd_validate(3, v1), 0);
    char *v2[] = {"validate", "-q", (char *)good, (char *)bad, NULL};
    ck_assert_int_eq(hx_cmd_validate(4, v2), 2);
    char *v3[] = {"validate", NULL};
    ck_assert_int_eq(hx_cmd_validate(1, v3), 2);
    char *l1[] = {"list", "--shard", "2/1", (char *)good, NULL};
    ck_assert_int_eq(hx_cmd_list(4, l1), 2);
    char *l2[] = {"list", "-k", "zzz", (char *)good, NULL};
    ck_assert_int_eq(hx_cmd_list(4, l2), 5); /* selects no case (docs/cli.md) */
    char *l3[] = {"list", "--bogus", (char *)good, NULL};
    ck_assert_int_eq(hx_cmd_list(3, l3), 2);
    char *l4[] = {"list", "-k", "zzz", (char *)bad, NULL};
    ck_assert_int_eq(hx_cmd_list(4, l4), 2);
}
END_TEST

/* ------------------------------------------------- the shipped suites */

START_TEST(test_repo_suites_validate)
{
    char cases[1024];
    snprintf(cases, sizeof cases, "%s/cases", tu_source_dir());
    DIR *d = opendir(cases);
    if (!d)
        return; /* no suites yet */
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".yaml"))
            continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", cases, e->d_name);
        hx_suite s;
        int rc = load_path(p, &s);
        ck_assert_msg(rc == 0, "%s does not validate:\n%s", p, errs);
        ck_assert_uint_gt(s.ncases, 0);
        hx_suite_free(&s);
    }
    closedir(d);
}
END_TEST

static Suite *case_suite(void)
{
    Suite *s = suite_create("case");
    TCase *tc = tcase_create("case");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_defaults_block);
    tcase_add_test(tc, test_path_fixture_relative);
    tcase_add_test(tc, test_matrix_cross);
    tcase_add_test(tc, test_exclude_include);
    tcase_add_test(tc, test_include_github_semantics);
    tcase_add_test(tc, test_include_without_matrix);
    tcase_add_test(tc, test_entries_match_values_written_otherwise);
    tcase_add_test(tc, test_matrix_map_values);
    tcase_add_test(tc, test_duplicate_ids);
    tcase_add_test(tc, test_error_unknown_key);
    tcase_add_test(tc, test_error_types_and_values);
    tcase_add_test(tc, test_error_duplicates_and_fixtures);
    tcase_add_test(tc, test_error_syntax);
    tcase_add_test(tc, test_all_errors_reported);
    tcase_add_test(tc, test_aliases);
    tcase_add_test(tc, test_merge_semantics);
    tcase_add_test(tc, test_alias_bomb);
    tcase_add_test(tc, test_corrupt_lists);
    tcase_add_test(tc, test_corrupt_every);
    tcase_add_test(tc, test_corrupt_apply);
    tcase_add_test(tc, test_store_edits);
    tcase_add_test(tc, test_faults);
    tcase_add_test(tc, test_require_grammar);
    tcase_add_test(tc, test_require_eval);
    tcase_add_test(tc, test_sim_requires_expect);
    tcase_add_test(tc, test_case_copy);
    tcase_add_test(tc, test_shards);
    tcase_add_test(tc, test_select_pattern);
    tcase_add_test(tc, test_id_control_characters);
    tcase_add_test(tc, test_generate_size_limit);
    tcase_add_test(tc, test_generate_size_limit_cmds);
    tcase_add_test(tc, test_cmd_exit_codes);
    tcase_add_test(tc, test_repo_suites_validate);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = tu_run_suite(case_suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
