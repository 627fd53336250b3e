/* The case language around its rules (test_case_errors.c has the rules):
 * a case file that is not a regular file, is cut short or is large; the
 * scan for flow nesting before libyaml; too many errors; a folder of case
 * files; a fixture that cannot be generated, or that this build cannot
 * make; selection, shards and requirements; and a load with its Nth
 * allocation failing, for every N. */
#include "case/case.h"
#include "case/dir.h"
#include "case/require.h"
#include "cmd/cmd.h"
#include "testutil.h"
#include "util/error.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "failalloc.h"

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
static lg_status load_path(const char *p, hx_suite *s)
{
    hx_case_errors el;
    lg_status st = hx_suite_load(p, fixtures, s, &el);
    size_t used = 0;
    errs[0] = 0;
    for (size_t i = 0; i < el.n && used < sizeof errs; i++)
        used += (size_t)snprintf(errs + used, sizeof errs - used, "%s\n", el.line[i]);
    ck_assert(st == LG_OK ? el.n == 0 : el.n > 0 && !strcmp(hx_errmsg(), el.line[0]));
    hx_case_errors_free(&el);
    return st;
}

static lg_status load(const char *yaml, hx_suite *s)
{
    const char *p = tu_path(dir, "suite.yaml");
    ck_assert_int_eq(tu_write(p, yaml, strlen(yaml)), 0);
    return load_path(p, s);
}

/* The file must fail with want ("L:C: message", or ": message" for one
 * without a place) among its errors. */
static void load_err(const char *yaml, const char *want)
{
    hx_suite s;
    char needle[1024];
    ck_assert_int_eq(load(yaml, &s), LG_E_FORMAT);
    snprintf(needle, sizeof needle, "suite.yaml%s%s", want[0] == ':' ? "" : ":", want);
    ck_assert_msg(strstr(errs, needle), "want \"%s\" in:\n%.2000s", needle, errs);
    ck_assert_uint_eq(s.ncases, 0);
}

#define SMALL "  small: {generate: {format: safetensors, tensors: 1, shape: [2], seed: 1}}\n"

/* ------------------------------------------------------- the file itself */

START_TEST(test_source_not_regular)
{
    hx_suite s;
    ck_assert_int_eq(load_path(dir, &s), LG_E_FORMAT);
    ck_assert_msg(strstr(errs, ":1:1: cannot read: not a regular file (a directory)"), "%s", errs);
    ck_assert_int_eq(load_path("/dev/null", &s), LG_E_FORMAT);
    ck_assert_msg(strstr(errs, "/dev/null:1:1: cannot read: not a regular file (a character "
                               "device)"), "%s", errs);
    /* a file in / (its folder is /) that is not there */
    ck_assert_int_eq(load_path("/loadgate-no-such-case-file.yaml", &s), LG_E_FORMAT);
    ck_assert_msg(strstr(errs, "/loadgate-no-such-case-file.yaml:1:1: cannot open: No such file "
                               "or directory"), "%s", errs);
    ck_assert_uint_eq(s.ncases, 0);
}
END_TEST

/* A file shorter than its size says (sysfs gives 4096 and a few bytes):
 * what is there is parsed. */
START_TEST(test_source_short_read)
{
    static const char *const cands[] = {"/sys/devices/system/cpu/online", "/sys/kernel/uevent_seqnum",
                                        "/sys/kernel/warn_count"};
    struct stat st;
    const char *p = NULL;
    for (size_t i = 0; !p && i < sizeof cands / sizeof cands[0]; i++)
        if (stat(cands[i], &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 4096 &&
            access(cands[i], R_OK) == 0)
            p = cands[i];
    if (!p) {
        fprintf(stderr, "test_source_short_read: skipped: no sysfs file of size 4096 here\n");
        return;
    }
    hx_suite s;
    char want[512];
    ck_assert_int_eq(load_path(p, &s), LG_E_FORMAT);
    snprintf(want, sizeof want, "%s:1:1: expected a mapping, got a scalar", p);
    ck_assert_msg(strstr(errs, want), "%s", errs);
}
END_TEST

/* A file past 6 MiB gets the whole visit budget, not 8 per byte. */
START_TEST(test_source_large)
{
    size_t n = 7u << 20;
    char *b = malloc(n);
    ck_assert_ptr_nonnull(b);
    memset(b, 'x', n);
    memcpy(b, "# ", 2);
    const char *tail = "\nsuite: s\nfixtures:\n" SMALL "cases:\n  - name: a\n    file: small\n";
    memcpy(b + n - strlen(tail), tail, strlen(tail));
    const char *p = tu_path(dir, "big.yaml");
    ck_assert_int_eq(tu_write(p, b, n), 0);
    free(b);
    hx_suite s;
    ck_assert_int_eq(load_path(p, &s), LG_OK);
    ck_assert_uint_eq(s.ncases, 1);
    ck_assert_int_eq(s.cases[0].line, 6);
    hx_suite_free(&s);
}
END_TEST

/* The scan for flow nesting skips quoted text (over lines, with '' and \"
 * inside, or left open), comments and a stray closing bracket. */
START_TEST(test_flow_scan)
{
    hx_suite s;
    ck_assert_int_eq(load("# a comment first\nsuite: s\nfixtures:\n" SMALL
                          "cases:\n  - name: a\n    file: small\n"
                          "    description: 'it''s [[[ {{{\n      two lines'\n"
                          "    key: \"\\\" [[[\"\n    xfail: it's [\n"
                          "    skip:\t'tab [['\n# the end, no newline",
                          &s),
                     LG_OK);
    ck_assert_str_eq(s.cases[0].description, "it's [[[ {{{ two lines");
    ck_assert_str_eq(s.cases[0].key, "\" [[[");
    ck_assert_str_eq(s.cases[0].xfail, "it's [");
    ck_assert_str_eq(s.cases[0].skip, "tab [[");
    hx_suite_free(&s);
    /* past 64 levels outside quotes; a ] at depth 0 is libyaml's to refuse */
    char y[512] = "suite: s\ncases: 'x'\nk: ";
    for (int i = 0; i < 65; i++)
        strcat(y, "[");
    load_err(y, "3:68: flow collections nest deeper than 64 levels");
    load_err("suite: s\ncases: ]\n", "2:8: YAML syntax error");
    load_err("suite: s\ncases: 'open\n", "3:1: YAML syntax error: found unexpected end of stream "
                                        "(while scanning a quoted scalar, line 2 column 8)");
}
END_TEST

/* -------------------------------------------------- too many errors */

/* Past 100 errors the load stops looking, and says so; each list that is
 * walked stops there. */
START_TEST(test_too_many_errors)
{
    static const struct {
        const char *open, *item, *close;
    } lists[] = {
        {"    corrupt: [", "{truncate: x}", "]"},
        {"    corrupt: {truncate: [", "x", "]}"},
        {"    corrupt: {flip: [", "3", "]}"},
        {"    corrupt: {zero: [", "[x, 1]", "]}"},
        {"    corrupt: {splice: [", "3", "]}"},
        {"    corrupt: {safetensors: [", "nope", "]}"},
        {"    fault: [", "3", "]"},
        {"    tags: [", "\"a b\"", "]"},
        {"    store: [", "3", "]"},
        {"    expect: {invariants: [", "tidy", "]}"},
        {"    store: {retype: {", "w%d: f99", "}}"},
        {"    matrix: {device: [cpu]}\n    exclude: [", "{device: mps}", "]"},
        {"    include: [", "3", "]"},
    };
    char y[16384], item[64];
    hx_suite s;
    for (size_t k = 0; k < sizeof lists / sizeof lists[0]; k++) {
        snprintf(y, sizeof y, "suite: s\nfixtures:\n" SMALL "cases:\n  - name: a\n    file: small\n%s",
                 lists[k].open);
        for (int i = 0; i < 110; i++) {
            if (strstr(lists[k].item, "%d"))
                snprintf(item, sizeof item, "w%d: f99", i);
            else
                snprintf(item, sizeof item, "%s", lists[k].item);
            snprintf(y + strlen(y), sizeof y - strlen(y), "%s%s", i ? ", " : "", item);
        }
        snprintf(y + strlen(y), sizeof y - strlen(y), "%s\n", lists[k].close);
        ck_assert_int_eq(load(y, &s), LG_E_FORMAT);
        ck_assert_msg(strstr(errs, "suite.yaml: too many errors; stopped after 100\n"),
                      "%s: %.2000s", lists[k].open, errs);
        size_t lines = 0;
        for (const char *p = errs; (p = strchr(p, '\n')); p++)
            lines++;
        ck_assert_msg(lines == 101, "%s: %zu lines", lists[k].open, lines);
    }
    /* many cases, each in error; many fixtures, each in error */
    snprintf(y, sizeof y, "suite: s\ncases:\n");
    for (int i = 0; i < 120; i++)
        snprintf(y + strlen(y), sizeof y - strlen(y), "  - {name: c%d, device: gpu}\n", i);
    load_err(y, ": too many errors; stopped after 100");
    load_err(y, "3:24: device: bad device 'gpu'");
    snprintf(y, sizeof y, "suite: s\nfixtures:\n");
    for (int i = 0; i < 120; i++)
        snprintf(y + strlen(y), sizeof y - strlen(y), "  f%d: 3\n", i);
    snprintf(y + strlen(y), sizeof y - strlen(y), "cases: []\n");
    load_err(y, ": too many errors; stopped after 100");
}
END_TEST

/* ------------------------------------------------------------- fixtures */

/* A fixture folder that cannot be made: an enumeration, or a splice from
 * a generated file, is an error at its key naming the folder. */
START_TEST(test_fixture_dir_unusable)
{
    ck_assert_int_eq(tu_write(fixtures, "x", 1), 0); /* a file where the folder goes */
    load_err("suite: s\nfixtures:\n" SMALL "cases:\n  - name: a\n    file: small\n"
             "    corrupt: {truncate: every}\n",
             "7:25: cannot create ");
    ck_assert_msg(strstr(errs, "/fixtures/.tmp-") && strstr(errs, ": Not a directory"), "%s",
                  errs);
    load_err("suite: s\nfixtures:\n" SMALL "cases:\n  - name: a\n    file: small\n"
             "    corrupt: {splice: {from: {generate: {tensors: 2}}, range: [0, 4]}}\n",
             "7:30: cannot create ");
}
END_TEST

/* A torch-archive fixture needs the torch backend to be generated: in a
 * build without it, an enumeration over it is one case, skipped (a skip
 * of the case's own stays); with it, the file is measured. */
START_TEST(test_torch_archive_enumeration)
{
    hx_suite s;
    ck_assert_int_eq(load("suite: s\nfixtures:\n  ta: {generate: {format: torch-archive, "
                          "tensors: 1, shape: [2]}}\n"
                          "cases:\n  - name: a\n    file: ta\n    corrupt: {truncate: every}\n"
                          "  - name: b\n    file: ta\n    skip: mine\n"
                          "    corrupt: {flip: {every_byte: true}}\n"
                          "  - name: c\n    file: {generate: {tensors: 1, shape: [2]}}\n"
                          "    corrupt: {splice: {from: ta, range: [0, 1]}}\n",
                          &s),
                     LG_OK);
    if (!hx_torch_built()) {
        ck_assert_uint_eq(s.ncases, 3);
        ck_assert_str_eq(s.cases[0].id, "s/a[corrupt=truncate:every]");
        ck_assert_str_eq(s.cases[0].skip, "the torch-archive fixture needs the torch backend "
                                          "to be generated and measured");
        ck_assert_int_eq(s.cases[0].corrupt.kind, HX_CORRUPT_NONE);
        ck_assert_str_eq(s.cases[1].id, "s/b[corrupt=flip:every_byte]");
        ck_assert_str_eq(s.cases[1].skip, "mine");
        ck_assert_str_eq(s.cases[2].skip, "the torch-archive fixture needs the torch backend "
                                          "to be generated and measured");
        ck_assert_ptr_null(s.cases[2].corrupt.from);
    } else {
        ck_assert_uint_gt(s.ncases, 3);
        ck_assert_ptr_null(s.cases[0].skip);
        ck_assert_ptr_nonnull(s.cases[s.ncases - 1].corrupt.from);
    }
    hx_suite_free(&s);
}
END_TEST

/* -------------------------------------------------------------- folders */

START_TEST(test_dir_list)
{
    hx_case_dir d;
    ck_assert_int_eq(hx_case_dir_list(tu_path(dir, "none"), &d), LG_E_IO);
    ck_assert_msg(strstr(hx_errmsg(), "/none: cannot read the folder: No such file or directory"),
                  "%s", hx_errmsg());
    ck_assert_uint_eq(d.n, 0);
    char name[64];
    for (int i = 19; i >= 0; i--) {
        snprintf(name, sizeof name, "c%02d.yaml", i);
        ck_assert_int_eq(tu_write(tu_path(dir, name), "x", 1), 0);
    }
    ck_assert_int_eq(tu_write(tu_path(dir, ".hidden.yaml"), "x", 1), 0);
    ck_assert_int_eq(tu_write(tu_path(dir, "a.yml"), "x", 1), 0);
    ck_assert_int_eq(tu_write(tu_path(dir, ".yaml"), "x", 1), 0);
    ck_assert_int_eq(tu_write(tu_path(dir, "yaml"), "x", 1), 0);
    ck_assert_int_eq(mkdir(tu_path(dir, "sub.yaml"), 0700), 0);
    ck_assert_int_eq(symlink("nowhere", tu_path(dir, "dangling.yaml")), 0);
    ck_assert_int_eq(symlink("c00.yaml", tu_path(dir, "link.yaml")), 0);
    ck_assert_int_eq(hx_case_dir_list(dir, &d), LG_OK);
    ck_assert_uint_eq(d.n, 21);
    ck_assert_str_eq(d.path[0], tu_path(dir, "c00.yaml"));
    ck_assert_str_eq(d.path[19], tu_path(dir, "c19.yaml"));
    ck_assert_str_eq(d.path[20], tu_path(dir, "link.yaml"));
    hx_case_dir_free(&d);
}
END_TEST

/* ------------------------------------------------- selection and shards */

START_TEST(test_select_and_shard)
{
    hx_case c;
    memset(&c, 0, sizeof c);
    char *tags[] = {"slow"};
    c.id = "s/a[device=mps]";
    char pat[1100];
    memset(pat, '?', sizeof pat - 1);
    pat[sizeof pat - 1] = 0;
    /* a pattern too long to wrap in *...*: matched as it is */
    ck_assert_int_eq(hx_case_selected(&c, 0, pat, 1, 1), 0);
    memcpy(pat, "s/a*", 5);
    ck_assert_int_eq(hx_case_selected(&c, 0, pat, 1, 1), 1);
    c.id = NULL;
    c.tags = tags;
    c.ntags = 1;
    ck_assert_int_eq(hx_case_selected(&c, 0, "slo", 1, 1), 1);
    ck_assert_int_eq(hx_case_selected(&c, 0, "fast", 1, 1), 0);
    int i, n;
    ck_assert_int_eq(hx_shard_parse("2/3", &i, &n), LG_OK);
    ck_assert_int_eq(i * 10 + n, 23);
    static const char *const bad[] = {"a/2", "1/b", "0/2", "3/2", "1/0", "1/2000000", "12",
                                      "0x1/0x3", "+1/2", "1/+2", " 1/2", "1/2 ", "/2", "1/",
                                      "1e0/2", "1_0/20",
                                      "1111111111111111111111111111111111111111111111111111111111"
                                      "11111111/2"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_int_eq(hx_shard_parse(bad[k], &i, &n), LG_E_INVALID);
        ck_assert_msg(strstr(hx_errmsg(), "bad --shard '") &&
                          strstr(hx_errmsg(), "' (I/N, 1 <= I <= N)"), "%s", hx_errmsg());
    }
}
END_TEST

/* --------------------------------------------------------- requirements */

START_TEST(test_require)
{
    hx_require r;
    char why[512], long_req[300];
    memset(long_req, 'x', sizeof long_req - 1);
    long_req[sizeof long_req - 1] = 0;
    ck_assert_int_eq(hx_require_parse(long_req, &r), LG_E_INVALID);
    ck_assert_int_eq(hx_require_parse("libtorch>=1.2.3.4", &r), LG_E_INVALID);
    ck_assert_int_eq(hx_require_parse("libtorch>=99999999999999999999999", &r), LG_E_INVALID);
    ck_assert_int_eq(hx_require_parse("libtorch>=1.", &r), LG_OK); /* a trailing dot */
    ck_assert_int_eq(hx_require_parse("libtorch ~ 1", &r), LG_E_INVALID);
    ck_assert_msg(strstr(hx_errmsg(), "unknown requirement 'libtorch ~ 1' (torch, mps,"), "%s",
                  hx_errmsg());
    /* a no- the entry's text does not start with (spaces): met, as no-mps */
    ck_assert_int_eq(hx_require_check(" no-mps", NULL, why, sizeof why), 0);
    ck_assert_int_eq(hx_require_check("quantum", NULL, why, sizeof why), -1);
    ck_assert_str_eq(why, "unknown requirement \"quantum\"");
    const char *have = lg_libtorch_version();
    static const char *const cmp[] = {">", "<", "==", "<=", ">=", "="};
    for (size_t k = 0; k < sizeof cmp / sizeof cmp[0]; k++) {
        char req[64];
        snprintf(req, sizeof req, "libtorch%s1.0", cmp[k]);
        int rc = hx_require_check(req, NULL, why, sizeof why);
        if (!strcmp(have, "none")) {
            ck_assert_int_eq(rc, 1);
            ck_assert_msg(strstr(why, "libtorch is not in this build"), "%s", why);
        } else {
            int met = k == 0 || k == 4; /* any libtorch here is past 1.0 */
            ck_assert_int_eq(rc, !met);
        }
    }
    if (strcmp(have, "none")) {
        char req[128];
        snprintf(req, sizeof req, "libtorch==%.*s", (int)strspn(have, "0123456789."), have);
        ck_assert_int_eq(hx_require_check(req, NULL, why, sizeof why), 0);
    }
    int torch = hx_torch_built();
    ck_assert_int_eq(hx_require_check("torch", NULL, why, sizeof why), !torch);
    if (!torch)
        ck_assert_msg(strstr(why, "requires torch: "), "%s", why);
    ck_assert_int_eq(hx_require_check("no-torch", NULL, why, sizeof why), torch);
    /* what a case says before its backend opens */
    hx_case c;
    memset(&c, 0, sizeof c);
    c.skip = "not today";
    ck_assert_int_eq(hx_case_skips_early(&c, "sim", why, sizeof why), 1);
    ck_assert_str_eq(why, "not today");
    c.skip = NULL;
    ck_assert_int_eq(hx_case_skips_early(&c, "sim", why, sizeof why), 0);
    char *reqs[] = {"mps"};
    c.requires = reqs;
    c.nrequires = 1;
    ck_assert_int_eq(hx_case_skips_early(&c, "torch", why, sizeof why), 0);
    c.nrequires = 0;
    int early = hx_case_skips_early(&c, "torch", why, sizeof why);
    if (!torch && !lg_torch_modules(NULL, 0)) {
        ck_assert_int_eq(early, 1);
        ck_assert_str_eq(why, "backend torch: not in this build");
    } else {
        ck_assert_int_eq(early, 0);
    }
}
END_TEST

/* ------------------------------------------------------- out of memory */

#define RICH                                                                                \
    "suite: s\ndescription: d\nfixtures:\n" SMALL "  p: {path: data.bin}\n"                   \
    "defaults: &d\n  timeout: 5\n  tags: [x, y]\n"                                          \
    "cases:\n  - name: a\n    <<: *d\n    file: small\n    reader: safetensors\n"           \
    "    key: k\n    xfail: x\n    description: hi\n    requires: [cpu, no-cuda]\n"         \
    "    store: {mirror: true, drop: [t0], add: [{name: w, dtype: f32, shape: [2]}], "        \
    "reshape: {t0: [1, 2]}, retype: {t0: f16}}\n"                                            \
    "    fault: [{point: io.read, nth: 1, errno: EIO}, {point: io.open, prob: 0.5, seed: 1}]\n" \
    "    sim: {mps: {capacity: 1MiB, alloc: refuse}}\n"                                      \
    "    expect: {outcome: error, error: LG_E_IO, message: m, invariants: [restored]}\n"     \
    "    matrix: {device: [cpu, mps], policy: [via-cpu, staged], tags: [[b, c]]}\n"      \
    "    exclude: [{device: cpu, policy: staged}]\n"                                         \
    "    include: [{device: mps, crc: warn}, {device: cuda, policy: direct}]\n"              \
    "    corrupt: [{truncate: [1, half]}, {flip: {offset: 1, bit: 2}}, "                     \
    "{zero: [[0, 1], [2, 3]]}, {splice: {from: p, range: [0, 1]}}, "                         \
    "{splice: {from: {generate: {tensors: 2}}, range: [0, 1]}}, {flip: {random: 2}}]\n"      \
    "  - name: b\n    file: {path: data.bin}\n    store: [{name: w, dtype: f32, shape: [2]}]\n" \
    "    corrupt: {truncate: every}\n"                                                     \
    "  - name: c\n    file: p\n    corrupt: {flip: {every_bit: true}}\n"                      \
    "  - name: d\n    <<: [*d]\n    file: small\n    include: [{timeout: 17}]\n"           \
    "    matrix: {timeout: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], "      \
    "sim: [{mps: {alloc: refuse}}]}\n"

#define BROKEN                                                                              \
    "suite: s\nfixtures:\n" SMALL "cases:\n  - name: a\n    file: small\n    device: gpu\n"   \
    "    tags: [\"a b\"]\n  - name: b\n    file: nope\n  - name: a\n    file: small\n"

#if FAILALLOC_RUNS
/* Loads p with allocation n failing (0: none); the number made. */
static long long load_failing(const char *p, long long n, lg_status *st, size_t *ncases,
                              char *first, size_t len)
{
    hx_suite s;
    hx_case_errors el;
    countdown = n ? n : (1LL << 62);
    calls = 0;
    fired = 0;
    *st = hx_suite_load(p, fixtures, &s, &el);
    countdown = 0;
    *ncases = s.ncases;
    snprintf(first, len, "%s", el.n ? el.line[el.n - 1] : "");
    if (*st == LG_OK)
        hx_suite_free(&s);
    hx_case_errors_free(&el);
    return calls;
}

/* Every allocation of a load fails once in turn: each such load ends in
 * LG_E_NOMEM with "out of memory" as its last line, or in the file's own
 * result when the failure was absorbed, never in a crash or another
 * outcome. */
static void sweep(const char *yaml, lg_status want, size_t want_cases)
{
    const char *p = tu_path(dir, "oom.yaml");
    char last[1024];
    lg_status st;
    size_t n;
    ck_assert_int_eq(tu_write(p, yaml, strlen(yaml)), 0);
    long long total = load_failing(p, 0, &st, &n, last, sizeof last);
    ck_assert_int_eq(st, want);
    if (want == LG_OK && !want_cases)
        want_cases = n; /* as many as the load without a failure gives */
    ck_assert_uint_eq(n, want_cases);
    ck_assert_int_gt(total, 10);
    for (long long k = 1; k <= total; k++) {
        load_failing(p, k, &st, &n, last, sizeof last);
        if (!fired || st == want) {
            ck_assert_msg(st == want && (st != LG_OK || n == want_cases),
                          "allocation %lld: status %d, %zu cases", k, st, n);
            continue;
        }
        ck_assert_msg(st == LG_E_NOMEM, "allocation %lld: status %d: %s", k, st, last);
        ck_assert_msg(!last[0] || strstr(last, "out of memory"), "allocation %lld: %s", k, last);
    }
}
#endif

#if FAILALLOC_RUNS
/* A folder's listing and a case's copy, each allocation failing in turn:
 * LG_E_NOMEM, and nothing left behind to free. */
static void sweep_dir_and_copy(void)
{
    hx_case_dir d;
    hx_suite s;
    hx_case c;
    lg_status st;
    char name[64];
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "c%02d.yaml", i);
        ck_assert_int_eq(tu_write(tu_path(dir, name), "x", 1), 0);
    }
    for (long long k = 1;; k++) {
        countdown = k;
        fired = 0;
        st = hx_case_dir_list(dir, &d);
        countdown = 0;
        if (!fired)
            break;
        /* opendir's own allocation fails with ENOMEM */
        ck_assert_msg((st == LG_E_NOMEM && strstr(hx_errmsg(), ": out of memory")) ||
                          (st == LG_E_IO && strstr(hx_errmsg(), ": cannot read the folder: "
                                                                "Cannot allocate memory")),
                      "allocation %lld: %d %s", k, st, hx_errmsg());
        ck_assert(d.n == 0 && d.path == NULL);
    }
    ck_assert_int_eq(st, LG_OK);
    ck_assert_uint_eq(d.n, 21); /* and oom.yaml */
    hx_case_dir_free(&d);
    ck_assert_int_eq(load_path(tu_path(dir, "oom.yaml"), &s), LG_OK);
    const hx_case *src = &s.cases[0];
    ck_assert(src->nparams && src->nsim && src->nfaults && src->ntags && src->nrequires &&
              src->store.ndrop && src->store.nadd && src->store.nreshape && src->store.nretype);
    for (long long k = 1;; k++) {
        countdown = k;
        fired = 0;
        st = hx_case_copy(&c, src);
        countdown = 0;
        if (!fired)
            break;
        ck_assert_int_eq(st, LG_E_NOMEM);
        ck_assert_msg(strstr(hx_errmsg(), "out of memory copying case s/a["), "%s", hx_errmsg());
        ck_assert_ptr_null(c.id);
    }
    ck_assert_int_eq(st, LG_OK);
    ck_assert_str_eq(c.id, src->id);
    hx_case_free(&c);
    hx_suite_free(&s);
}
#endif

START_TEST(test_oom_sweep)
{
#if FAILALLOC_RUNS
    ck_assert_int_eq(tu_write(tu_path(dir, "data.bin"), "abcd", 4), 0);
    sweep(BROKEN, LG_E_FORMAT, 0);
    if (!hx_torch_built()) /* an enumeration over what this build cannot make */
        sweep("suite: s\ncases:\n  - name: a\n    file: {generate: {format: torch-archive}}\n"
              "    corrupt: [{truncate: every}, {splice: {from: {generate: {format: "
              "torch-archive}}, range: [0, 1]}}]\n",
              LG_OK, 2);
    sweep(RICH, LG_OK, 0);
    sweep_dir_and_copy();
#else
    fprintf(stderr, "test_oom_sweep: skipped: a sanitizer's allocator cannot be made to fail\n");
#endif
}
END_TEST

static Suite *case_errors2_suite(void)
{
    Suite *s = suite_create("case_errors2");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_source_not_regular);
    tcase_add_test(tc, test_source_short_read);
    tcase_add_test(tc, test_source_large);
    tcase_add_test(tc, test_flow_scan);
    tcase_add_test(tc, test_too_many_errors);
    tcase_add_test(tc, test_fixture_dir_unusable);
    tcase_add_test(tc, test_torch_archive_enumeration);
    tcase_add_test(tc, test_dir_list);
    tcase_add_test(tc, test_select_and_shard);
    tcase_add_test(tc, test_require);
    tcase_add_test(tc, test_oom_sweep);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = tu_run_suite(case_errors2_suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
