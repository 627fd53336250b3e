/* The runner's error paths: --keep-failed's copy of an input that cannot
 * be read or written, a case whose corruption, expectation, fixture or
 * backend cannot be met (hx_run_case in this process), children that die
 * of a signal no table names or report a sanitizer's catch, and the
 * --trust-code sandbox when the kernel refuses to confine the child (a
 * seccomp filter of the test's own refusing capset, prctl or seccomp). */
#include "case/case.h"
#include "cmd/cmd.h"
#include "corrupt/corrupt.h"
#include "mirror.h"
#include "probe/internal.h"
#include "probe/probe.h"
#include "run/cache.h"
#include "run/child.h"
#include "run/keep.h"
#include "run/runner.h"
#include "run/sandbox.h"
#include "run/sched.h"
#include "run/worker.h"
#include "testutil.h"
#include "util/error.h"
#include "util/json.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/vfs.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

static char dir[1024];

static void setup(void) { snprintf(dir, sizeof dir, "%s", tu_tmpdir()); }
static void teardown(void) { tu_rmtree(dir); }

/* dir/name in a buffer of its own. */
static const char *path_of(const char *name)
{
    static char ring[16][2048];
    static int k;
    char *p = ring[k++ % 16];
    snprintf(p, sizeof ring[0], "%s/%s", dir, name);
    return p;
}

static void has(const char *s, const char *sub)
{
    ck_assert_msg(s && strstr(s, sub), "want \"%s\" in: %s", sub, s ? s : "(null)");
}
#define HAS has

/* ------------------------------------------------------------ --keep-failed */

START_TEST(test_keep_input)
{
    char out[4096];
    const char *src = path_of("in.st"), *kept = path_of("kept");
    ck_assert_int_eq(tu_write_safetensors(src, 2, 2, 3), 0);
    hx_case c;
    memset(&c, 0, sizeof c);
    c.file.kind = HX_FILE_PATH;
    c.file.path = (char *)src;
    hx_run_opts o = {.cache_dir = dir, .seed = 5};
    /* no corruption: the file itself, byte for byte */
    ck_assert_int_eq(hx_keep_input(&c, &o, kept, "s/a[x=1]", out, sizeof out), LG_OK);
    size_t n0, n1;
    unsigned char *a = tu_read(src, &n0), *b = tu_read(out, &n1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(n0, n1);
    ck_assert_mem_eq(a, b, n0);
    free(b);
    HAS(out, "/kept/s_a_x=1_-");
    /* random flips: the run's seed added, as the run did */
    c.corrupt = (hx_corrupt){.kind = HX_CORRUPT_FLIP, .random = 1, .a = 4, .seed = 2};
    hx_corrupt_label(&c.corrupt);
    ck_assert_int_eq(hx_keep_input(&c, &o, kept, "s/flip", out, sizeof out), LG_OK);
    hx_corrupt same = c.corrupt;
    same.seed = 7;
    const char *want = path_of("want.st");
    ck_assert_int_eq(hx_corrupt_apply(&same, src, want), LG_OK);
    unsigned char *w = tu_read(want, &n0);
    b = tu_read(out, &n1);
    ck_assert_uint_eq(n0, n1);
    ck_assert_mem_eq(w, b, n0);
    ck_assert_msg(memcmp(a, b, n0), "the kept input is not flipped");
    free(a);
    free(b);
    free(w);
    c.corrupt.kind = HX_CORRUPT_NONE;
    /* the folder under a regular file */
    const char *plain = path_of("plain");
    ck_assert_int_eq(tu_write(plain, "x", 1), 0);
    const char *under = path_of("plain/kept");
    ck_assert_int_eq(hx_keep_input(&c, &o, under, "s/a", out, sizeof out), LG_E_IO);
    ck_assert_msg(strstr(hx_errmsg(), "cannot create ") == hx_errmsg(), "%s", hx_errmsg());
    HAS(hx_errmsg(), under);
    /* a path that does not fit */
    char small[16];
    ck_assert_int_eq(hx_keep_input(&c, &o, kept, "s/a", small, sizeof small), LG_E_IO);
    HAS(hx_errmsg(), ": path too long");
    /* the input gone, a folder, or no file at all */
    c.file.path = (char *)path_of("gone.st");
    ck_assert_int_eq(hx_keep_input(&c, &o, kept, "s/gone", out, sizeof out), LG_E_IO);
    HAS(hx_errmsg(), "gone.st: No such file or directory");
    c.file.path = dir;
    ck_assert_int_eq(hx_keep_input(&c, &o, kept, "s/dir", out, sizeof out), LG_E_IO);
    HAS(hx_errmsg(), ": read error");
    c.file.kind = HX_FILE_NONE;
    ck_assert_int_eq(hx_keep_input(&c, &o, kept, "s/none", out, sizeof out), LG_E_INVALID);
    ck_assert_str_eq(hx_errmsg(), "the case names no file");
    /* the kept name taken by a folder */
    c.file.kind = HX_FILE_PATH;
    c.file.path = (char *)src;
    char name[256];
    hx_keep_name("s/taken", name, sizeof name);
    char taken[4096];
    snprintf(taken, sizeof taken, "%s/%s", kept, name);
    ck_assert_int_eq(mkdir(taken, 0755), 0);
    ck_assert_int_ne(hx_keep_input(&c, &o, kept, "s/taken", out, sizeof out), LG_OK);
    HAS(hx_errmsg(), name);
}
END_TEST

/* A name of bytes outside ASCII and past 150 bytes: cut, with its hash. */
START_TEST(test_keep_name)
{
    char id[400], a[256], b[256];
    memset(id, 'x', sizeof id - 1);
    id[sizeof id - 1] = 0;
    id[0] = (char)0xc3;
    id[1] = (char)0xa9;
    hx_keep_name(id, a, sizeof a);
    ck_assert_uint_eq(strlen(a), 150 + 9);
    ck_assert(a[0] == '_' && a[1] == '_' && a[2] == 'x' && a[150] == '-');
    id[300] = 'y';
    hx_keep_name(id, b, sizeof b);
    ck_assert_mem_eq(a, b, 150);
    ck_assert_str_ne(a, b);
    hx_keep_name("abc", a, 3); /* a buffer too small for the name: cut */
    ck_assert_uint_eq(strlen(a), 2);
}
END_TEST

/* ------------------------------------------------------------ one case */

static hx_suite suite;

static json_t *run_one(const char *yaml, size_t i, const hx_run_opts *o)
{
    const char *p = path_of("s.yaml");
    hx_case_errors e = {0};
    uint64_t fired = 0;
    ck_assert_int_eq(tu_write(p, yaml, strlen(yaml)), 0);
    lg_status st = hx_suite_load(p, dir, &suite, &e);
    ck_assert_msg(st == LG_OK, "%s", e.n ? e.line[0] : hx_errmsg());
    hx_case_errors_free(&e);
    ck_assert_uint_gt(suite.ncases, i);
    json_t *res = hx_run_case(&suite.cases[i], i, o, &fired);
    ck_assert_ptr_nonnull(res);
    hx_suite_free(&suite);
    return res;
}

static void expect_status(json_t *res, const char *status, const char *reason)
{
    const char *st = json_string_value(json_object_get(res, "status"));
    const char *why = json_string_value(json_object_get(res, "reason"));
    ck_assert_msg(st && !strcmp(st, status), "status %s, want %s: %s", st, status,
                  why ? why : "");
    HAS(why, reason);
    json_decref(res);
}

#define FIXTURE "  f: {generate: {format: safetensors, tensors: 2, shape: [4, 4], seed: 1}}\n"

START_TEST(test_case_cannot_be_met)
{
    hx_run_opts o = {.cache_dir = dir};
    /* a corruption the file cannot take: fail, naming it once */
    json_t *res = run_one("suite: s\nfixtures:\n" FIXTURE "cases:\n"
                          "  - {name: a, file: f, corrupt: {truncate: 1000000}}\n", 0, &o);
    const char *why = json_string_value(json_object_get(res, "reason"));
    ck_assert_msg(why && strstr(why, "corrupt truncate:1000000: length outside the file") == why &&
                      !strstr(why + 1, "corrupt truncate"), "%s", why ? why : "(null)");
    expect_status(res, "fail", "length outside the file");
    /* a splice from a pipe: refused at once (its open does not wait for a
     * writer), the label once */
    const char *fifo = path_of("src.fifo");
    unlink(fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    char yaml[512];
    snprintf(yaml, sizeof yaml, "suite: s\nfixtures:\n" FIXTURE "cases:\n"
             "  - {name: a, file: f, corrupt: {splice: {from: {path: %s}, range: [0, 4]}}}\n",
             fifo);
    res = run_one(yaml, 0, &o);
    why = json_string_value(json_object_get(res, "reason"));
    ck_assert_msg(why && strstr(why, "corrupt splice:src.fifo:0:4@0: ") == why &&
                      strstr(why, "src.fifo: read error: Illegal seek") &&
                      !strstr(why + 1, "corrupt splice"), "%s", why ? why : "(null)");
    expect_status(res, "fail", "Illegal seek");
    /* another error than the one expected */
    expect_status(run_one("suite: s\nfixtures:\n" FIXTURE "cases:\n"
                          "  - {name: a, file: f, corrupt: {truncate: 4},"
                          " expect: {error: LG_E_NOTFOUND}}\n", 0, &o),
                  "fail", "expected LG_E_NOTFOUND, got LG_E_FORMAT: ");
    /* what this build cannot do is a skip */
    if (!strstr(lg_backends_built(), "torch")) {
        expect_status(run_one("suite: s\ncases:\n  - {name: a, file: {generate: {format: "
                              "torch-archive}}}\n", 0, &o),
                      "skip", "fixture format torch-archive needs the torch backend");
        expect_status(run_one("suite: s\nfixtures:\n" FIXTURE "cases:\n"
                              "  - {name: a, file: f, backend: torch}\n", 0, &o),
                      "skip", "backend torch: not in this build");
    }
}
END_TEST

/* The message of a failed load: where its corrupted copy was. */
static const char *load_message(json_t *res)
{
    return json_string_value(json_object_get(json_object_get(res, "actual"), "message"));
}

static void passed(json_t *res)
{
    const char *st = json_string_value(json_object_get(res, "status"));
    const char *why = json_string_value(json_object_get(res, "reason"));
    ck_assert_msg(st && !strcmp(st, "pass"), "status %s: %s", st, why ? why : "");
}

/* Nothing left in folder d. */
static void empty_folder(const char *d)
{
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", d);
    ck_assert_msg(system(cmd) == 0, "%s is not empty", d);
}

/* Small corrupted copies go to the scratch folder, are removed after the
 * case, and go to the cache folder when the scratch folder cannot take
 * them; larger ones go to the cache folder (run/cache.h). */
START_TEST(test_scratch_copies)
{
    char buf[1024], want[1100];
    const char *scratch = path_of("scratch");
    ck_assert_int_eq(mkdir(scratch, 0700), 0);
    hx_run_opts o = {.cache_dir = dir, .scratch_dir = scratch};
    const char *yaml = "suite: s\nfixtures:\n" FIXTURE "cases:\n"
                       "  - {name: a, file: f, corrupt: {truncate: 4}, "
                       "expect: {error: LG_E_FORMAT}}\n";
    json_t *res = run_one(yaml, 0, &o);
    passed(res);
    snprintf(want, sizeof want, "%s/safetensors-", scratch);
    HAS(load_message(res), want);
    json_decref(res);
    empty_folder(scratch);
    /* a scratch folder that is gone (or full): the cache folder */
    o.scratch_dir = path_of("no-scratch");
    res = run_one(yaml, 0, &o);
    passed(res);
    snprintf(want, sizeof want, "%s/safetensors-", dir);
    HAS(load_message(res), want);
    json_decref(res);
    /* a file over HX_SCRATCH_FILE_MAX: the cache folder */
    o.scratch_dir = scratch;
    const char *big = path_of("big.st");
    ck_assert_int_eq(tu_write_safetensors(big, 1, 512, 520), 0); /* 1,064,960 bytes of f32 */
    struct stat sb;
    ck_assert_int_eq(stat(big, &sb), 0);
    ck_assert_int_gt(sb.st_size, HX_SCRATCH_FILE_MAX);
    char yaml2[2400];
    snprintf(yaml2, sizeof yaml2, "suite: s\ncases:\n  - {name: a, file: {path: %s}, "
             "corrupt: {truncate: 4}, expect: {error: LG_E_FORMAT}}\n", big);
    res = run_one(yaml2, 0, &o);
    passed(res);
    snprintf(want, sizeof want, "%s/big.st.%ld-", dir, (long)getpid());
    HAS(load_message(res), want);
    json_decref(res);
    empty_folder(scratch);
    /* made on /dev/shm when it is a tmpfs and TMPDIR is not set */
    const char *env = getenv("TMPDIR");
    char *saved = env ? strdup(env) : NULL;
    setenv("TMPDIR", dir, 1);
    hx_scratch_make(buf, sizeof buf);
    ck_assert_str_eq(buf, "");
    unsetenv("TMPDIR");
    hx_scratch_make(buf, sizeof buf);
    int tmpfs = 0;
#ifdef __linux__
    struct statfs fs;
    tmpfs = statfs("/dev/shm", &fs) == 0 && fs.f_type == 0x01021994 &&
            access("/dev/shm", W_OK) == 0;
#endif
    if (tmpfs) {
        ck_assert_msg(strncmp(buf, "/dev/shm/loadgate-scratch-", 26) == 0, "%s", buf);
        ck_assert_int_eq(stat(buf, &sb), 0);
        ck_assert(S_ISDIR(sb.st_mode));
        hx_cache_remove(buf);
        ck_assert_int_ne(stat(buf, &sb), 0);
    } else {
        ck_assert_str_eq(buf, "");
    }
    if (saved)
        setenv("TMPDIR", saved, 1);
    free(saved);
}
END_TEST

/* The one file in folder d (its path in out), and its size; -1 when there
 * is not exactly one. */
static off_t only_file(const char *d, char *out, size_t n)
{
    DIR *dd = opendir(d);
    struct dirent *e;
    int count = 0;
    ck_assert_ptr_nonnull(dd);
    while ((e = readdir(dd)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && count++ == 0)
            snprintf(out, n, "%s/%s", d, e->d_name);
    closedir(dd);
    struct stat sb;
    return count == 1 && stat(out, &sb) == 0 ? sb.st_size : -1;
}

/* A worker's (or `--isolation none`'s) copy is one file kept from case to
 * case (reuse_copy): each case's bytes written over the last's, at their
 * own length, longer or shorter; removed by hx_run_copy_end, and only by
 * the process that made it. */
START_TEST(test_kept_copy)
{
    char path[1200], first[1200], want[1200], fixture[1200];
    const char *scratch = path_of("scratch");
    ck_assert_int_eq(mkdir(scratch, 0700), 0);
    hx_run_opts o = {.cache_dir = dir, .scratch_dir = scratch, .reuse_copy = 1};
    const char *yaml = "suite: s\nfixtures:\n" FIXTURE "cases:\n"
                       "  - {name: a, file: f, corrupt: {truncate: 4}, expect: {error: LG_E_FORMAT}}\n"
                       "  - {name: b, file: f, corrupt: {truncate: 100}, "
                       "expect: {error: LG_E_FORMAT}}\n"
                       "  - {name: c, file: f, corrupt: {flip: {offset: 200, bit: 0}}}\n"
                       "  - {name: d, file: f, corrupt: {truncate: 4}, expect: {error: LG_E_FORMAT}}\n";
    static const off_t sizes[] = {4, 100, -2, 4}; /* -2: the fixture's */
    json_t *res = NULL;
    for (size_t i = 0; i < 4; i++) {
        res = run_one(yaml, i, &o);
        passed(res);
        off_t size = only_file(scratch, path, sizeof path);
        if (i == 0) {
            snprintf(first, sizeof first, "%s", path);
            snprintf(want, sizeof want, ".%ld-0", (long)getpid());
            ck_assert_msg(strlen(path) > strlen(want) &&
                              !strcmp(path + strlen(path) - strlen(want), want), "%s", path);
            HAS(load_message(res), path);
        }
        ck_assert_str_eq(path, first); /* the same file each time */
        if (sizes[i] >= 0) {
            ck_assert_int_eq(size, sizes[i]);
        } else { /* the fixture's bytes, bit 0 of byte 200 flipped */
            struct stat sb;
            snprintf(fixture, sizeof fixture, "%s", first);
            *strrchr(fixture, '.') = 0;
            snprintf(want, sizeof want, "%s/%s", dir, strrchr(fixture, '/') + 1);
            ck_assert_int_eq(stat(want, &sb), 0);
            ck_assert_int_eq(size, sb.st_size);
            size_t n;
            unsigned char *a = (unsigned char *)tu_read(want, &n);
            unsigned char *b = (unsigned char *)tu_read(path, &n);
            ck_assert_ptr_nonnull(a);
            ck_assert_ptr_nonnull(b);
            ck_assert_int_eq(a[200] ^ b[200], 1);
            b[200] = a[200];
            ck_assert_mem_eq(a, b, n);
            free(a);
            free(b);
        }
        json_decref(res);
    }
    /* a forked child that inherits it leaves it alone */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        hx_run_copy_end();
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(only_file(scratch, path, sizeof path), 4);
    hx_run_copy_end();
    empty_folder(scratch);
    /* without reuse_copy, a copy per case, removed after it */
    o.reuse_copy = 0;
    res = run_one(yaml, 0, &o);
    passed(res);
    snprintf(want, sizeof want, "%s/safetensors-", scratch);
    HAS(load_message(res), want);
    snprintf(want, sizeof want, ".%ld-", (long)getpid());
    HAS(load_message(res), want);
    snprintf(want, sizeof want, ".%ld-0: ", (long)getpid());
    ck_assert_ptr_null(strstr(load_message(res), want)); /* not the kept one's name */
    json_decref(res);
    empty_folder(scratch);
}
END_TEST

/* ------------------------------------------------------------ the scheduler */

static int nprogress, nfinal;

static void on_progress(void *ctx, const hx_progress *p)
{
    (void)ctx;
    nprogress++;
    nfinal += p->final;
    ck_assert_uint_le(p->done, p->total);
}

static const char sched_yaml[] =
    "suite: sc\n"
    "fixtures:\n" FIXTURE
    "defaults: {backend: sim, device: mps, policy: staged, file: f}\n"
    "cases:\n"
    "  - {name: sweep, fault: {point: device.copy, sweep: transient},"
    " expect: {outcome: error, error: LG_E_DEVICE}}\n"
    "  - {name: wrong, expect: {error: LG_E_FORMAT}}\n";

/* The cases of sched_yaml run with o; the report's cases. */
static json_t *sched_run(hx_sched_opts *o)
{
    const char *p = path_of("sc.yaml");
    hx_suite s;
    hx_report rep;
    hx_sched *S;
    size_t not_run = 9;
    ck_assert_int_eq(tu_write(p, sched_yaml, strlen(sched_yaml)), 0);
    ck_assert_int_eq(hx_suite_load(p, dir, &s, NULL), LG_OK);
    nprogress = nfinal = 0;
    ck_assert_int_eq(hx_sched_new(o, &s, 1, &S), LG_OK);
    ck_assert_int_eq(hx_sched_run(S), LG_OK);
    ck_assert_int_eq(hx_report_init(&rep), LG_OK);
    ck_assert_int_eq(hx_sched_collect(S, &rep, &not_run), LG_OK);
    ck_assert_uint_eq(not_run, 0);
    json_t *cases = json_incref(rep.cases);
    hx_report_free(&rep);
    hx_sched_free(S);
    hx_suite_free(&s);
    return cases;
}

static json_t *case_named(json_t *cases, const char *id)
{
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
        if (!strcmp(json_string_value(json_object_get(c, "id")), id))
            return c;
    ck_abort_msg("no case %s", id);
    return NULL;
}

/* Spawned runs get the --backend, --seed, --sweep and --paranoid of the
 * run; an input that cannot be kept says why in the result; the progress
 * callback hears of every run, the last call once. */
START_TEST(test_sched_spawn)
{
    char exe[1024];
    snprintf(exe, sizeof exe, "%s/harness", LG_BINARY_DIR);
    ck_assert_msg(access(exe, X_OK) == 0, "%s is not built", exe);
    setenv("LOADGATE_HARNESS", exe, 1);
    const char *plain = path_of("plain");
    ck_assert_int_eq(tu_write(plain, "x", 1), 0);
    hx_sched_opts o = {.run = {.backend = "sim", .seed = 1, .cache_dir = dir, .paranoid = 1},
                       .jobs = 1, .isolation = HX_ISO_SPAWN, .keep_dir = path_of("plain/kept"),
                       .progress = on_progress};
    json_t *cases = sched_run(&o);
    ck_assert_uint_ge(json_array_size(cases), 3);
    json_t *w = case_named(cases, "sc/wrong");
    ck_assert_str_eq(json_string_value(json_object_get(w, "status")), "fail");
    HAS(json_string_value(json_object_get(w, "kept_file_error")), "cannot create ");
    json_t *k2 = case_named(cases, "sc/sweep[k=2]");
    ck_assert_str_eq(json_string_value(json_object_get(k2, "status")), "pass");
    ck_assert_int_eq(nprogress, (int)json_array_size(cases) + 1);
    ck_assert_int_eq(nfinal, 1);
    json_decref(cases);
    /* a harness that is not there: every run a crash that says so */
    setenv("LOADGATE_HARNESS", path_of("no-harness"), 1);
    o.keep_dir = NULL;
    cases = sched_run(&o);
    w = case_named(cases, "sc/wrong");
    ck_assert_str_eq(json_string_value(json_object_get(w, "status")), "crash");
    HAS(json_string_value(json_object_get(w, "reason")), "exited with status 127");
    HAS(json_string_value(json_object_get(w, "stderr")), "harness: cannot run ");
    HAS(json_string_value(json_object_get(w, "stderr")), "no-harness: No such file or directory");
    json_decref(cases);
    unsetenv("LOADGATE_HARNESS");
}
END_TEST

/* A child whose line has a good head and a result that is not one JSON
 * object (hx_result_parse_head reads only the head): its run is a crash
 * in the report, under the id of its run, whatever the head said. */
START_TEST(test_sched_unreadable_result)
{
    const char *fake = path_of("fake-harness");
    static const char script[] =
        "#!/bin/sh\n"
        "printf '+{\"fired\":0,\"status\":\"pass\",\"result\":{\"id\":\"x\"},\"y\":{}}\\n'\n";
    ck_assert_int_eq(tu_write(fake, script, strlen(script)), 0);
    ck_assert_int_eq(chmod(fake, 0700), 0);
    setenv("LOADGATE_HARNESS", fake, 1);
    hx_sched_opts o = {.run = {.backend = "sim", .cache_dir = dir}, .jobs = 1,
                       .isolation = HX_ISO_SPAWN};
    json_t *cases = sched_run(&o);
    unsetenv("LOADGATE_HARNESS");
    ck_assert_uint_eq(json_array_size(cases), 2);
    static const char *const ids[] = {"sc/sweep[k=1]", "sc/wrong"};
    for (size_t i = 0; i < 2; i++) {
        json_t *c = case_named(cases, ids[i]);
        ck_assert_str_eq(json_string_value(json_object_get(c, "status")), "crash");
        HAS(json_string_value(json_object_get(c, "reason")),
            "the child's result line could not be read: not a result object");
    }
    json_decref(cases);
    /* `harness run` exits as its report says (1: crashes), not as the heads
     * said (pass) */
    char *out = NULL;
    char *argv[] = {"run", (char *)path_of("sc.yaml"), "-o", (char *)path_of("unread-out"),
                    "--isolation", "spawn", "-j", "1", "--format", "json", NULL};
    setenv("LOADGATE_HARNESS", fake, 1);
    ck_assert_int_eq(tu_run_cmd(hx_cmd_run, argv, dir, &out), 1);
    unsetenv("LOADGATE_HARNESS");
    free(out);
}
END_TEST

/* A case that crashes or hangs after its corrupted copy was written
 * leaves the copy to the parent, which removes it with the run's other
 * copies of that process (hx_cache_remove_copies), under fork as under
 * worker: the scratch folder is empty after the run, before the run's
 * end removes it. */
/* The cases of suite file p run under isolation iso, one at a time, with
 * corrupted copies in scratch: the report's cases, once the run has left
 * nothing in scratch. */
static json_t *mode_run(const char *p, const char *scratch, int iso)
{
    hx_suite s;
    hx_report rep;
    hx_sched *S;
    size_t not_run;
    hx_sched_opts o = {.run = {.cache_dir = dir, .scratch_dir = scratch}, .jobs = 1,
                       .isolation = iso};
    ck_assert_int_eq(hx_suite_load(p, dir, &s, NULL), LG_OK);
    ck_assert_int_eq(hx_sched_new(&o, &s, 1, &S), LG_OK);
    ck_assert_int_eq(hx_sched_run(S), LG_OK);
    empty_folder(scratch);
    ck_assert_int_eq(hx_report_init(&rep), LG_OK);
    ck_assert_int_eq(hx_sched_collect(S, &rep, &not_run), LG_OK);
    json_t *cases = json_incref(rep.cases);
    hx_report_free(&rep);
    hx_sched_free(S);
    hx_suite_free(&s);
    return cases;
}

START_TEST(test_dead_child_copies_removed)
{
    static const char yaml[] =
        "suite: dc\n"
        "fixtures:\n" FIXTURE
        "defaults: {backend: sim, device: mps, file: f, corrupt: {flip: {offset: 150, bit: 1}}}\n"
        "cases:\n"
        "  - {name: boom, fault: {point: io.open, nth: 1, action: crash}}\n"
        "  - {name: stuck, timeout: 0.5, fault: {point: io.open, nth: 1, action: hang}}\n"
        "  - {name: fine}\n";
    const char *p = path_of("dc.yaml"), *scratch = path_of("dc-scratch");
    ck_assert_int_eq(mkdir(scratch, 0700), 0);
    ck_assert_int_eq(tu_write(p, yaml, strlen(yaml)), 0);
    static const int isos[] = {HX_ISO_FORK, HX_ISO_WORKER};
    static const char *const want[] = {"crash", "timeout", "pass"};
    for (size_t i = 0; i < 2; i++) {
        json_t *cases = mode_run(p, scratch, isos[i]);
        ck_assert_uint_eq(json_array_size(cases), 3);
        for (size_t c = 0; c < 3; c++) {
            json_t *r = json_array_get(cases, c);
            const char *st = json_string_value(json_object_get(r, "status"));
            ck_assert_msg(!strcmp(st, want[c]), "%s: %s, want %s (%s)",
                          hx_json_get_str(r, "id"), st, want[c], hx_json_get_str(r, "reason"));
        }
        json_decref(cases);
    }
    /* only the copies of the process named: ORIGINAL.PID-N (a worker's
     * kept one is N = 0) */
    static const char *const names[] = {"a.st.123-0", "a.st.123-17", "a.st.1234-0",
                                        "a.st.123-x", "a.st.123", ".tmp-123", "a.st.123-"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        ck_assert_int_eq(tu_write(path_of(names[i]), "x", 1), 0);
    hx_cache_remove_copies(dir, 123);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        ck_assert_msg((access(path_of(names[i]), F_OK) == 0) == (i >= 2), "%s", names[i]);
    hx_cache_remove_copies(NULL, 123);
    hx_cache_remove_copies(path_of("none"), 123);
}
END_TEST

/* Which copy each mode's cases load: a worker's runs, and a run under
 * `--isolation none`, share one kept copy (ORIGINAL.PID-0, the same for
 * every case of one process); a forked case has its own (PID-N, N from
 * 1). Nothing is left in the scratch folder after any of them. */
START_TEST(test_copies_per_mode)
{
    static const char yaml[] =
        "suite: cm\n"
        "fixtures:\n" FIXTURE
        "defaults: {backend: sim, device: mps, file: f, expect: {error: LG_E_FORMAT}}\n"
        "cases:\n"
        "  - {name: cut, corrupt: {truncate: [4, 8, 12, 16]}}\n";
    const char *p = path_of("cm.yaml"), *scratch = path_of("cm-scratch");
    ck_assert_int_eq(mkdir(scratch, 0700), 0);
    ck_assert_int_eq(tu_write(p, yaml, strlen(yaml)), 0);
    static const int isos[] = {HX_ISO_FORK, HX_ISO_WORKER, HX_ISO_NONE};
    for (size_t i = 0; i < 3; i++) {
        char first[1200] = "";
        json_t *cases = mode_run(p, scratch, isos[i]);
        ck_assert_uint_eq(json_array_size(cases), 4);
        for (size_t c = 0; c < 4; c++) {
            json_t *r = json_array_get(cases, c);
            passed(r);
            const char *msg = load_message(r), *colon = msg ? strstr(msg, ": ") : NULL;
            ck_assert_ptr_nonnull(colon);
            char path[1200];
            snprintf(path, sizeof path, "%.*s", (int)(colon - msg), msg);
            int kept = strlen(path) > 2 && !strcmp(path + strlen(path) - 2, "-0");
            ck_assert_msg(kept == (isos[i] != HX_ISO_FORK), "mode %zu: %s", i, path);
            if (c == 0)
                snprintf(first, sizeof first, "%s", path);
            if (kept) /* one process, one copy */
                ck_assert_str_eq(path, first);
            else
                ck_assert(c == 0 || strcmp(path, first));
        }
        json_decref(cases);
    }
}
END_TEST

/* ------------------------------------------------------------ probes, cache */

START_TEST(test_probe_and_cache)
{
    char buf[4096], big[400];
    /* a probe case on a file without tensors */
    hx_run_opts o = {.cache_dir = dir};
    json_t *res = run_one("suite: s\ncases:\n  - {name: p, probe: true, device: cpu,"
                          " file: {generate: {tensors: 0}}, expect: {outcome: any}}\n", 0, &o);
    const char *msg = json_string_value(json_object_get(json_object_get(res, "actual"), "message"));
    HAS(msg, ": no tensor to try");
    json_decref(res);
    /* --sim settings too long, not a setting, or refused by the profile */
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = 0;
    snprintf(buf, sizeof buf, "mps.direct_deserialize=%s", big);
    ck_assert_int_eq(hx_probe_sim_check(buf), LG_E_INVALID);
    HAS(hx_errmsg(), "': too long");
    lg_backend *b;
    ck_assert_int_eq(lg_backend_open("sim", &b), LG_OK);
    const char *bad[] = {"nonsense"}, *refused[] = {"mps.no_such_key=1"};
    hx_probe_opts po = {.backend = "sim", .sim = bad, .nsim = 1};
    ck_assert_int_eq(hx_probe_sim_apply(b, &po, 0), LG_E_INVALID);
    HAS(hx_errmsg(), "--sim 'nonsense': expected [READER:]DEVICE.KEY=VALUE");
    po.sim = refused;
    ck_assert_int_eq(hx_probe_sim_apply(b, &po, 0), LG_E_INVALID);
    HAS(hx_errmsg(), "--sim 'mps.no_such_key=1': ");
    lg_backend_close(b);
    /* the whole probe with a setting the profile refuses: a setup error */
    json_t *p = hx_probe_run(&po);
    ck_assert_ptr_nonnull(p);
    char *text = json_dumps(p, JSON_COMPACT);
    HAS(text, "setup: --sim 'mps.no_such_key=1'");
    free(text);
    json_decref(p);
    /* a run's cache folder where none can be made */
    const char *gone = path_of("gone");
    setenv("TMPDIR", gone, 1);
    ck_assert_int_eq(hx_cache_make(buf, sizeof buf), LG_E_IO);
    ck_assert_str_eq(buf, "");
    HAS(hx_errmsg(), "cannot create a folder in ");
    HAS(hx_errmsg(), "gone: No such file or directory");
    unsetenv("TMPDIR");
    hx_cache_remove(NULL);
    hx_cache_remove("");
}
END_TEST

/* ------------------------------------------------------------ the mirror */

/* A mirror built without the backend in the options (written whole, not
 * range by range in place) holds the same bytes as one built in place:
 * the pattern at both ends of a large variable, zeros between. */
START_TEST(test_mirror_not_in_place)
{
    const char *f = path_of("big.st");
    ck_assert_int_eq(tu_write_safetensors(f, 2, 64, 64), 0); /* 16 KiB each */
    ck_assert(hx_mirror_partial(64 * 64 * 4));
    lg_backend *b;
    lg_store *s[2];
    ck_assert_int_eq(lg_backend_open("sim", &b), LG_OK);
    lg_open_options opt = {.backend = b};
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(lg_store_new(b, lg_device_cpu(), &s[k]), LG_OK);
        ck_assert_int_eq(hx_mirror_build(s[k], NULL, f, k ? &opt : NULL, NULL), LG_OK);
        ck_assert_uint_eq(lg_store_count(s[k]), 2);
    }
    size_t n = 64 * 64 * 4;
    unsigned char *x = malloc(n), *y = malloc(n);
    for (size_t i = 0; i < 2; i++) {
        lg_device where;
        ck_assert_int_eq(lg_store_read(s[0], i, x, n, &where), LG_OK);
        ck_assert_int_eq(lg_store_read(s[1], i, y, n, &where), LG_OK);
        ck_assert_mem_eq(x, y, n);
        ck_assert_uint_eq(hx_mirror_digest(lg_store_var(s[0], i), i),
                          hx_mirror_digest(lg_store_var(s[1], i), i));
        unsigned char zero[64] = {0};
        ck_assert_mem_eq(x + HX_MIRROR_EDGE, zero, sizeof zero);
    }
    free(x);
    free(y);
    lg_store_free(s[0]);
    lg_store_free(s[1]);
    lg_backend_close(b);
}
END_TEST

/* ------------------------------------------------------------ workers */

static json_t *no_id(void *ctx, size_t job, uint64_t k, uint64_t *fired)
{
    (void)ctx, (void)job, (void)k, (void)fired;
    return json_pack("{s:s}", "status", "pass");
}

static json_t *no_result(void *ctx, size_t job, uint64_t k, uint64_t *fired)
{
    (void)ctx, (void)job, (void)k, (void)fired;
    return NULL;
}

static void dies_before_taking(void *ctx, size_t job)
{
    (void)ctx, (void)job;
    _exit(5);
}

/* Polls w until something happens. */
static hx_worker_event next_event(hx_worker *w, json_t **res)
{
    uint64_t fired;
    hx_worker_event ev;
    hx_child *c = &w->child;
    for (int i = 0; i < 200; i++) {
        hx_child_poll(&c, 1, 0.1);
        if ((ev = hx_worker_take(w, res, &fired)) != HX_WORKER_WAITING)
            return ev;
    }
    ck_abort_msg("the worker said nothing in 20 s");
    return HX_WORKER_WAITING;
}

START_TEST(test_worker_breaks)
{
    hx_worker w;
    json_t *res = NULL;
    char sig[32], why[256];
    /* a result that is not one: the worker is killed, its case a crash */
    ck_assert_int_eq(hx_worker_start(&w, no_id, NULL), LG_OK);
    ck_assert_int_eq(hx_worker_send(&w, 0, 0, 10), LG_OK);
    ck_assert_int_eq(next_event(&w, &res), HX_WORKER_DIED);
    ck_assert_str_eq(hx_child_signal(&w.child, sig, sizeof sig), "SIGKILL");
    hx_worker_free(&w);
    /* no result at all: it exits 1 during its case */
    ck_assert_int_eq(hx_worker_start(&w, no_result, NULL), LG_OK);
    ck_assert_int_eq(hx_worker_send(&w, 0, 0, 10), LG_OK);
    ck_assert_int_eq(next_event(&w, &res), HX_WORKER_DIED);
    hx_child_describe(&w.child, why, sizeof why);
    ck_assert_str_eq(why, "the child exited with status 1 without a result");
    hx_worker_free(&w);
    /* dead before it took the request: lost, to be run elsewhere */
    hx_worker_set_prepare(dies_before_taking);
    ck_assert_int_eq(hx_worker_start(&w, no_id, NULL), LG_OK);
    hx_worker_set_prepare(NULL);
    ck_assert_int_eq(hx_worker_send(&w, 0, 0, 10), LG_OK);
    ck_assert_int_eq(next_event(&w, &res), HX_WORKER_LOST);
    ck_assert_int_eq(hx_child_exit_code(&w.child), 5);
    hx_worker_free(&w);
    /* a malformed request: the idle worker ends (exit 2) */
    ck_assert_int_eq(hx_worker_start(&w, no_id, NULL), LG_OK);
    ck_assert_int_eq(hx_child_send(&w.child, "1 2 3\n", 6), LG_OK);
    ck_assert_int_eq(next_event(&w, &res), HX_WORKER_ENDED);
    /* results that cannot be parsed or written */
    uint64_t fired = 9;
    char retire[8] = "x";
    static const char *const bad[] = {"{\"result\":[]}", "{\"result\":{\"id\":\"a\"}}",
                                      "{\"result\":{\"status\":\"pass\"}}", "not json"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(hx_result_parse(bad[i], strlen(bad[i]), &res, &fired, retire, 8), -1);
    ck_assert_int_eq(hx_result_parse(NULL, 0, &res, &fired, retire, 0), -1);
    ck_assert_str_eq(retire, "");
    const char ok[] = "{\"result\":{\"id\":\"a\",\"status\":\"pass\"},\"fired\":2,"
                      "\"retire\":\"too many files\"}";
    ck_assert_int_eq(hx_result_parse(ok, strlen(ok), &res, &fired, retire, 0), 0);
    ck_assert_uint_eq(fired, 2);
    json_decref(res);
    int fd = open("/dev/full", O_WRONLY);
    ck_assert_int_ge(fd, 0);
    res = json_pack("{s:s,s:s}", "id", "a", "status", "pass");
    ck_assert_int_eq(hx_result_emit(fd, res, 0), LG_E_IO); /* takes res */
    ck_assert_str_eq(hx_errmsg(), "writing the result: No space left on device");
    close(fd);
}
END_TEST

/* The parent keeps a result's text as the child wrote it (the result
 * last, as hx_result_emit writes it): the same JSON as the result, with
 * no dump. Any other line gives no text, and the parent dumps. */
START_TEST(test_result_raw_text)
{
    int p[2];
    char line[4096];
    json_t *res, *raw;
    uint64_t fired;
    char retire[64];
    ck_assert_int_eq(pipe(p), 0);
    json_t *r = json_pack("{s:s,s:s,s:{s:s},s:[{s:s,s:i}],s:f}", "id", "s/c[k=1]", "status",
                          "fail", "actual", "message", "a \"result\": {x}", "faults", "point",
                          "io.read", "fired", 3, "duration_s", 0.25);
    char *want = json_dumps(r, JSON_COMPACT);
    ck_assert_int_eq(hx_result_emit(p[1], r, 7), LG_OK);
    ssize_t n = read(p[0], line, sizeof line - 1);
    ck_assert_int_gt(n, 0);
    close(p[0]);
    close(p[1]);
    ck_assert_int_eq(line[n - 1], '\n');
    ck_assert_int_eq(hx_result_parse_raw(line, (size_t)n, &res, &raw, &fired, retire, 64), 0);
    ck_assert_uint_eq(fired, 7);
    ck_assert_ptr_nonnull(raw);
    ck_assert_str_eq(json_string_value(raw), want);
    json_t *back = json_loads(json_string_value(raw), 0, NULL);
    ck_assert(json_equal(back, res));
    json_decref(back);
    json_decref(res);
    json_decref(raw);
    free(want);
    /* with a reason to retire that names a result, and spaces: the text
     * still, read whole and by its head */
    const char spaced[] = "{ \"fired\": 1, \"status\": \"crash\", \"retire\": \"\\\"result\\\": "
                          "no\" , \"result\": {\"id\":\"a\",\"status\":\"crash\"} }\n";
    const char *text = "{\"id\":\"a\",\"status\":\"crash\"}";
    ck_assert_int_eq(hx_result_parse_raw(spaced, strlen(spaced), &res, &raw, &fired, retire, 64),
                     0);
    ck_assert_str_eq(retire, "\"result\": no");
    ck_assert_ptr_nonnull(raw);
    ck_assert_str_eq(json_string_value(raw), text);
    json_decref(res);
    json_decref(raw);
    hx_status st;
    retire[0] = 0;
    ck_assert_int_eq(hx_result_parse_head(spaced, strlen(spaced), &raw, &st, &fired, retire, 64),
                     0);
    ck_assert_str_eq(retire, "\"result\": no");
    ck_assert_int_eq(st, HX_ST_CRASH);
    ck_assert_str_eq(json_string_value(raw), text);
    json_decref(raw);
    /* the result first, or another key: parsed, but no text */
    static const char *const other[] = {
        "{\"result\":{\"id\":\"a\",\"status\":\"pass\"},\"fired\":2}",
        "{\"x\":{\"result\":{}},\"result\":{\"id\":\"a\",\"status\":\"pass\"}}",
    };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        ck_assert_int_eq(hx_result_parse_raw(other[i], strlen(other[i]), &res, &raw, &fired,
                                             retire, 64), 0);
        ck_assert_ptr_null(raw);
        json_decref(res);
    }
}
END_TEST

/* The parent's fast read (hx_result_read): a line as hx_result_emit
 * writes it has only its head parsed, the result kept as text; a line of
 * any other form is read whole, as before. */
START_TEST(test_result_head)
{
    int p[2];
    char line[4096], retire[64];
    json_t *res, *raw;
    uint64_t fired;
    hx_status st;
    ck_assert_int_eq(pipe(p), 0);
    json_t *r = json_pack("{s:s,s:s,s:{s:s}}", "id", "s/c", "status", "xfail", "actual",
                          "message", "\"result\": {\"status\": \"pass\"}");
    char *want = json_dumps(r, JSON_COMPACT);
    ck_assert_int_eq(hx_result_emit(p[1], r, 3), LG_OK);
    ssize_t n = read(p[0], line, sizeof line - 1);
    close(p[0]);
    close(p[1]);
    ck_assert_int_gt(n, 0);
    line[n] = 0;
    HAS(line, "{\"fired\":3,\"status\":\"xfail\",\"result\":{");
    ck_assert_int_eq(hx_result_read(line, (size_t)n, &res, &raw, &st, &fired, retire, 64), 0);
    ck_assert_ptr_null(res); /* not parsed */
    ck_assert_str_eq(json_string_value(raw), want);
    ck_assert_int_eq(st, HX_ST_XFAIL);
    ck_assert_uint_eq(fired, 3);
    ck_assert_str_eq(retire, "");
    json_decref(raw);
    free(want);
    /* with a reason to retire and spaces: test_result_raw_text */
    /* heads the fast read refuses; hx_result_read reads them whole where
     * they are results */
    static const struct {
        const char *line;
        int whole; /* a result all the same */
    } other[] = {
        {"{\"fired\":2,\"result\":{\"id\":\"a\",\"status\":\"pass\"}}", 1}, /* no status */
        {"{\"result\":{\"id\":\"a\",\"status\":\"pass\"},\"fired\":2,\"status\":\"pass\"}", 1},
        {"{\"fired\":2,\"status\":\"pass\",\"x\":1,\"result\":{\"id\":\"a\",\"status\":\"pass\"}}",
         1},
        {"{\"fired\":2,\"status\":\"pass\",\"result\" :{\"id\":\"a\",\"status\":\"pass\"}}", 1},
        {"{\"fired\":-1,\"status\":\"pass\",\"result\":{\"id\":\"a\",\"status\":\"pass\"}}", 1},
        {"{\"fired\":2,\"status\":\"won\",\"result\":{\"id\":\"a\",\"status\":\"pass\"}}", 1},
        {"{\"fired\":2,\"status\":\"pass\",\"status\":\"fail\",\"result\":{\"id\":\"a\","
         "\"status\":\"pass\"}}", 1},
        {"{\"fired\":2,\"status\":\"pass\",\"result\":[1]}", 0},
        {"{\"fired\":2,\"status\":\"pass\",\"result\":", 0},
        {"\"result\":{}}", 0},
    };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        const char *l = other[i].line;
        ck_assert_msg(hx_result_parse_head(l, strlen(l), &raw, &st, &fired, retire, 64) == -1,
                      "%s", l);
        ck_assert_ptr_null(raw);
        int rc = hx_result_read(l, strlen(l), &res, &raw, &st, &fired, retire, 64);
        ck_assert_msg(rc == (other[i].whole ? 0 : -1), "%s", l);
        if (rc == 0) {
            ck_assert_ptr_nonnull(res);
            ck_assert_int_eq(st, HX_ST_PASS); /* the result's own status */
        }
        json_decref(res);
        json_decref(raw);
    }
    /* a head longer than the fast read takes: read whole */
    char longer[2400];
    snprintf(longer, sizeof longer, "{\"fired\":0,\"status\":\"pass\",\"retire\":\"%01500d\","
             "\"result\":{\"id\":\"a\",\"status\":\"pass\"}}", 0);
    ck_assert_int_eq(hx_result_parse_head(longer, strlen(longer), &raw, &st, &fired, retire, 0),
                     -1);
    ck_assert_int_eq(hx_result_read(longer, strlen(longer), &res, &raw, &st, &fired, retire, 0),
                     0);
    ck_assert_ptr_nonnull(res);
    json_decref(res);
    json_decref(raw);
    ck_assert_int_eq(hx_result_parse_head(NULL, 0, &raw, &st, &fired, retire, 0), -1);
}
END_TEST

/* ------------------------------------------------------------ children */

static int dies_of_40(void *arg, int out_fd)
{
    (void)arg;
    (void)out_fd;
    signal(SIGRTMIN + 6, SIG_DFL);
    raise(SIGRTMIN + 6);
    return 0;
}

static int sanitizer_says(void *arg, int out_fd)
{
    (void)out_fd;
    fprintf(stderr, "==1==ERROR: %s on unknown address 0x0\n", (const char *)arg);
    fflush(stderr);
    return 1;
}

START_TEST(test_child_signals)
{
    hx_child c;
    hx_child_opts o = {.timeout = 30, .capture = 1};
    char why[256], sig[32];
    int n = SIGRTMIN + 6;
    ck_assert_int_eq(hx_child_fork(&c, &o, dies_of_40, NULL), LG_OK);
    hx_child_wait(&c);
    char want[32];
    snprintf(want, sizeof want, "SIG%d", n);
    ck_assert_str_eq(hx_child_signal(&c, sig, sizeof sig), want);
    hx_child_describe(&c, why, sizeof why);
    HAS(why, want);
    /* more children than one poll watches: the rest wait for the next */
    static hx_child *many[HX_CHILD_POLL_MAX + 100];
    hx_child d;
    ck_assert_int_eq(hx_child_fork(&d, &o, sanitizer_says, "nothing"), LG_OK);
    many[0] = &d;
    for (int i = 0; i < 200 && !hx_child_done(&d); i++)
        hx_child_poll(many, HX_CHILD_POLL_MAX + 100, 0.1);
    ck_assert_int_eq(hx_child_exit_code(&d), 1);
    hx_child_free(&d);
    /* no input pipe to send to */
    ck_assert_int_eq(hx_child_send(&c, "x", 1), LG_E_IO);
    ck_assert_str_eq(hx_errmsg(), "the child's input is closed");
    hx_child_free(&c);
    /* a deadly signal a sanitizer caught, and a line that names none */
    ck_assert_int_eq(hx_child_fork(&c, &o, sanitizer_says, "AddressSanitizer: SEGV"), LG_OK);
    hx_child_wait(&c);
    ck_assert_int_eq(hx_child_exit_code(&c), 1);
    ck_assert_str_eq(hx_child_signal(&c, sig, sizeof sig), "SIGSEGV");
    hx_child_describe(&c, why, sizeof why);
    ck_assert_str_eq(why, "SIGSEGV, caught by the sanitizer (exit status 1)");
    hx_child_free(&c);
    ck_assert_int_eq(hx_child_fork(&c, &o, sanitizer_says, "UndefinedBehaviorSanitizer: NOPE"),
                     LG_OK);
    hx_child_wait(&c);
    ck_assert_ptr_null(hx_child_signal(&c, sig, sizeof sig));
    hx_child_describe(&c, why, sizeof why);
    ck_assert_str_eq(why, "the child exited with status 1 without a result");
    hx_child_free(&c);
}
END_TEST

/* ------------------------------------------------------------ the sandbox */

static int killed_in_sandbox(void *arg)
{
    (void)arg;
    raise(SIGKILL);
    return 0;
}

static int exits_3(void *arg)
{
    (void)arg;
    return 3;
}

#ifdef __linux__
/* In a forked child of the test: a seccomp filter that answers errno
 * `err` to system call nr when its first argument is arg0 (any first
 * argument when arg0 is -1), then check(); the child's exit code. */
static int with_refusal(int nr, long arg0, int err, int (*check)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct sock_filter f[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 3),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)arg0, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        if (arg0 < 0) /* any argument: refuse at once */
            f[3] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, 0, 0, 0);
        struct sock_fprog prog = {sizeof f / sizeof f[0], f};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
            _exit(90);
#if TU_ASAN
        /* LeakSanitizer's check at exit waits on a tracer that watches
         * getppid(), which one filter refuses: it never ends */
        _exit(check());
#else
        exit(check()); /* exit: the coverage counts are written */
#endif
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status), "the child died: status %d", status);
    return WEXITSTATUS(status);
}

static int exits_0(void) { return 0; }

/* hx_sandbox_enter with the filter itself refused: -1 and EPERM. */
static int enter_refused(void) { return hx_sandbox_enter() == -1 && errno == EPERM ? 0 : 1; }

/* hx_sandbox_call: the confined child says why it could not be confined. */
static int call_refused(void)
{
    int code = 0;
    lg_status st = hx_sandbox_call(exits_3, NULL, &code);
    if (st != LG_E_IO || code != 1)
        return 1;
    if (!strstr(hx_errmsg(), "cannot confine the child (seccomp): Operation not permitted; "
                             "not loading code-bearing files without it"))
        return 2;
    return 0;
}

/* capability bounding set refused with another errno than EINVAL/EPERM */
static int enter_capbset_refused(void) { return hx_sandbox_enter() == -1 && errno == EIO ? 0 : 1; }
#endif

START_TEST(test_sandbox)
{
    int code = 0;
    ck_assert_int_eq(hx_sandbox_call(killed_in_sandbox, NULL, &code), LG_E_IO);
    ck_assert_int_eq(code, 1);
    ck_assert_str_eq(hx_errmsg(), "the confined child: killed by SIGKILL (Killed)");
    ck_assert_int_eq(hx_sandbox_call(exits_3, NULL, &code), LG_OK);
    ck_assert_int_eq(code, 3);
#ifdef __linux__
    if (with_refusal(SYS_getppid, -1, EPERM, exits_0) == 90) {
        fprintf(stderr, "test_sandbox: refusals skipped: this kernel lets no process install "
                        "a seccomp filter\n");
        return;
    }
    /* the filter refused (a container that forbids seccomp) */
    ck_assert_int_eq(with_refusal(SYS_prctl, PR_SET_SECCOMP, EPERM, enter_refused), 0);
    /* capabilities that cannot be dropped */
    ck_assert_int_eq(with_refusal(SYS_capset, -1, EPERM, enter_refused), 0);
    ck_assert_int_eq(with_refusal(SYS_prctl, PR_CAPBSET_DROP, EIO, enter_capbset_refused), 0);
    /* and through hx_sandbox_call: told on the result pipe */
    ck_assert_int_eq(with_refusal(SYS_capset, -1, EPERM, call_refused), 0);
#endif
}
END_TEST

int main(int argc, char **argv)
{
    /* spawned cases must run the harness, never this test program */
    if (argc > 1 && !strcmp(argv[1], "__run-one"))
        return 2;
    Suite *s = suite_create("run_errors");
    TCase *tc = tcase_create("run_errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_keep_input);
    tcase_add_test(tc, test_keep_name);
    tcase_add_test(tc, test_case_cannot_be_met);
    tcase_add_test(tc, test_scratch_copies);
    tcase_add_test(tc, test_kept_copy);
    tcase_add_test(tc, test_sched_spawn);
    tcase_add_test(tc, test_dead_child_copies_removed);
    tcase_add_test(tc, test_copies_per_mode);
    tcase_add_test(tc, test_sched_unreadable_result);
    tcase_add_test(tc, test_probe_and_cache);
    tcase_add_test(tc, test_mirror_not_in_place);
    tcase_add_test(tc, test_worker_breaks);
    tcase_add_test(tc, test_result_raw_text);
    tcase_add_test(tc, test_result_head);
    tcase_add_test(tc, test_child_signals);
    tcase_add_test(tc, test_sandbox);
    suite_add_tcase(s, tc);
    return tu_run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
