/* Replays the hostile inputs of tests/data/hostile/ (README.md there):
 * every entry of expect.tsv runs `harness ARGS` in a child, in a fresh
 * directory holding a copy of the input and the marker file
 * "hostile-marker" (16 zero bytes), and must give:
 *
 * - the exit code, and no signal (a crash, or the kill of a hang);
 * - the status (`--json`'s "status"), where the entry names one;
 * - the message: a substring of the JSON message, stdout or stderr;
 * - the sha256 of named tensors (differential entries: torch.load's);
 * - the marker untouched: 16 zeros, whatever the command;
 * - time: CPU time (user + system) <= 1 s per MiB of input + 1 s, and wall
 *   time <= 1 s per MiB + 5 s (the start allowance: a 2-core machine
 *   shared with builds); a child still running at twice its wall limit
 *   is killed as a hang;
 * - memory: the child's peak RSS (wait4's ru_maxrss) <= 4 x the input's
 *   size + 64 MiB over the peak RSS of `harness --version`.
 *
 * Under AddressSanitizer (__SANITIZE_ADDRESS__, which -DLOADGATE_SANITIZE
 * gives every file) ASan itself checks every access, so the rules are
 * scaled, not dropped: times x 4 (instrumented code runs 2 to 4 times
 * slower) and memory 2 x (4 x size + 64 MiB) + 256 MiB: ASan's redzones
 * about double a heap, and freed memory waits in its 256 MiB quarantine.
 * The coverage build (LOADGATE_COVERAGE: -O0, an atomic counter on every
 * branch) scales times x 4 too: the case file parser runs 5 to 8 times
 * slower there than in a release build.
 * A leak or out-of-bounds read kills the child (a crash here), and any
 * sanitizer report on the child's stderr fails the entry.
 *
 * An entry with a "known" reason is an open bug, named in expect.tsv: its
 * failure is printed, with the reason, and does not fail the test; when it
 * passes the test fails, so that the mark is removed.
 *
 * HOSTILE_ONLY=TEXT replays only the entries whose line holds TEXT. */
#include "testutil.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_hostile_big.h"

#define HOSTILE LG_SOURCE_DIR "/tests/data/hostile"
#define HARNESS LG_BINARY_DIR "/harness"
/* The child's exit when, dropped to the user nobody, it cannot run HARNESS. */
#define NOBODY_CANNOT_RUN 125
#define MARKER "hostile-marker"
#define MIB (1024.0 * 1024.0)

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif
#ifdef ASAN
#define TIME_SCALE 4.0
#define MEM_LIMIT(size) (2.0 * (4.0 * (size) + 64 * MIB) + 256 * MIB)
#define SCALED " (ASan: limits scaled)"
#elif defined(LOADGATE_COVERAGE)
/* gcov's build: -O0, and atomic counters on every branch */
#define TIME_SCALE 4.0
#define MEM_LIMIT(size) (4.0 * (size) + 64 * MIB)
#define SCALED " (coverage build: times scaled)"
#else
#define TIME_SCALE 1.0
#define MEM_LIMIT(size) (4.0 * (size) + 64 * MIB)
#define SCALED ""
#endif
#define CPU_LIMIT(size) (TIME_SCALE * ((size) / MIB + 1.0))
#define WALL_LIMIT(size) (TIME_SCALE * ((size) / MIB + 5.0))

enum { C_INPUT, C_ARGS, C_EXIT, C_STATUS, C_MESSAGE, C_CODE, C_SHA, C_KNOWN, NCOL };

typedef struct {
    char *col[NCOL];
    int line;
} entry;

static entry *g_entries;
static int g_count;
static double g_base_rss; /* bytes: harness --version */

typedef struct {
    int exited, code, signal;
    double wall, cpu, rss; /* s, s, bytes */
    char *out, *err;
} result;

/* ------------------------------------------------------------ manifest */

static void load_manifest(void)
{
    size_t n = 0;
    char *text = tu_read(HOSTILE "/expect.tsv", &n);
    if (!text) {
        fprintf(stderr, "test_hostile: cannot read %s\n", HOSTILE "/expect.tsv");
        exit(1);
    }
    text = realloc(text, n + 1);
    text[n] = '\0';
    int line = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        line++;
        if (l[0] == '#')
            continue;
        const char *only = getenv("HOSTILE_ONLY"); /* a substring of the input, to debug */
        if (only && *only && !strstr(l, only))
            continue;
        g_entries = realloc(g_entries, (size_t)(g_count + 1) * sizeof *g_entries);
        entry *e = &g_entries[g_count++];
        e->line = line;
        for (int c = 0; c < NCOL; c++) {
            e->col[c] = l;
            char *tab = strchr(l, '\t');
            if (!tab && c < NCOL - 1) {
                fprintf(stderr, "expect.tsv:%d: %d columns, %d expected\n", line, c + 1, NCOL);
                exit(1);
            }
            if (tab) {
                *tab = '\0';
                l = tab + 1;
            }
        }
    }
}

/* ------------------------------------------------------------- running */

static char *slurp(const char *path)
{
    char *b = tu_read_text(path);
    return b ? b : strdup("");
}

/* argv from the entry's args, {} replaced by path; at most 31 words. */
static int split_args(const char *args, const char *path, char **argv, char *buf, size_t cap)
{
    int argc = 0;
    snprintf(buf, cap, "%s", args);
    argv[argc++] = HARNESS;
    for (char *save = NULL, *w = strtok_r(buf, " ", &save); w && argc < 31;
         w = strtok_r(NULL, " ", &save))
        argv[argc++] = strcmp(w, "{}") ? w : (char *)path;
    argv[argc] = NULL;
    return argc;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* Runs harness with args in dir; as the user nobody when as_nobody. */
static result run_harness(const char *dir, const char *args, const char *path, double size,
                          int as_nobody)
{
    char buf[4096], *argv[32];
    result r = {0};
    split_args(args, path, argv, buf, sizeof buf);
    double t0 = now();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "test_hostile: fork: %s\n", strerror(errno));
        exit(1);
    }
    if (pid == 0) {
        setpgid(0, 0);
        if (chdir(dir) || !freopen("/dev/null", "r", stdin) || !freopen("stdout", "w", stdout)
            || !freopen("stderr", "w", stderr))
            _exit(126);
#ifndef ASAN
        struct rlimit as = {(rlim_t)8 << 30, (rlim_t)8 << 30}; /* a bomb dies, not the host */
        setrlimit(RLIMIT_AS, &as);
#endif
        if (as_nobody && geteuid() == 0 && (setgid(65534) || setuid(65534)))
            _exit(126);
        if (as_nobody && access(HARNESS, X_OK) != 0)
            _exit(NOBODY_CANNOT_RUN); /* a build under a home only root may enter */
        execv(HARNESS, argv);
        _exit(127);
    }
    double hang = 2.0 * WALL_LIMIT(size);
    struct rusage ru;
    int status = 0;
    pid_t w;
    while ((w = wait4(pid, &status, WNOHANG, &ru)) == 0) {
        if (now() - t0 > hang) {
            kill(-pid, SIGKILL);
            w = wait4(pid, &status, 0, &ru);
            r.signal = -1; /* killed as a hang */
            break;
        }
        usleep(2000);
    }
    if (w != pid) {
        fprintf(stderr, "test_hostile: wait4: %s\n", strerror(errno));
        exit(1);
    }
    r.wall = now() - t0;
    r.cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec
            + ru.ru_stime.tv_usec / 1e6;
    r.rss = ru.ru_maxrss * 1024.0;
    if (r.signal == 0 && WIFSIGNALED(status))
        r.signal = WTERMSIG(status);
    r.exited = WIFEXITED(status);
    r.code = r.exited ? WEXITSTATUS(status) : -1;
    r.out = slurp(tu_path(dir, "stdout"));
    r.err = slurp(tu_path(dir, "stderr"));
    return r;
}

/* ------------------------------------------------------------- inputs */

static int copy_file(const char *from, const char *to)
{
    size_t n = 0;
    void *b = tu_read(from, &n);
    if (!b)
        return -1;
    int rc = tu_write(to, b, n);
    free(b);
    return rc;
}

/* A file that is not regular, or a path to one, named by @name. */
static const char *make_special(const char *dir, const char *name, int *as_nobody)
{
    static char p[1024];
    if (name[0] == '/')
        return name; /* /dev/zero, /dev/urandom */
    snprintf(p, sizeof p, "%s/%s", dir, name + 1);
    if (!strcmp(name, "@fifo"))
        ck_assert_int_eq(mkfifo(p, 0600), 0);
    else if (!strcmp(name, "@dir"))
        ck_assert_int_eq(mkdir(p, 0700), 0);
    else if (!strcmp(name, "@loop"))
        ck_assert_int_eq(symlink(p, p), 0);
    else if (!strcmp(name, "@unreadable")) {
        ck_assert_int_eq(tu_write(p, "{}", 2), 0);
        ck_assert_int_eq(chmod(p, 0), 0);
        *as_nobody = 1; /* root reads any file: the child drops to nobody */
        chmod(dir, 0777);
        chmod(tu_path(dir, MARKER), 0666);
    } else
        ck_abort_msg("unknown special input %s", name);
    return p;
}

static const char *VALID_CASE = "suite: hostile\n"
                                "cases:\n"
                                "  - name: ok\n"
                                "    file: {generate: {shape: [2]}}\n";

/* The path the entry's {} stands for, made in dir; *size its bytes. */
static const char *prepare(const entry *e, const char *dir, double *size, int *as_nobody)
{
    static char p[1024];
    const char *in = e->col[C_INPUT];
    struct stat sb;
    *size = 0;
    if (!strncmp(in, "@case:", 6)) {
        const char *fx = make_special(dir, in + 6, as_nobody);
        char text[2048];
        snprintf(text, sizeof text,
                 "suite: hostile\nfixtures:\n  f: {path: %s}\ncases:\n  - name: c\n    file: f\n",
                 fx);
        snprintf(p, sizeof p, "%s/case.yaml", dir);
        ck_assert_int_eq(tu_write(p, text, strlen(text)), 0);
    } else if (!strcmp(in, "@valid-case")) {
        snprintf(p, sizeof p, "%s/case.yaml", dir);
        ck_assert_int_eq(tu_write(p, VALID_CASE, strlen(VALID_CASE)), 0);
    } else if (!strcmp(in, "@valid-st")) {
        snprintf(p, sizeof p, "%s/ok.safetensors", dir);
        ck_assert_int_eq(tu_write_safetensors(p, 1, 2, 2), 0);
    } else if (!strncmp(in, "@big-", 5)) {
        snprintf(p, sizeof p, "%s/%s", dir, in + 1);
        ck_assert_msg(hostile_big_write(in + 1, p) == 0, "%s: cannot write it: %s", in,
                      strerror(errno));
    } else if (in[0] == '@' || in[0] == '/') {
        return make_special(dir, in, as_nobody);
    } else {
        const char *base = strrchr(in, '/') ? strrchr(in, '/') + 1 : in;
        char from[1024];
        snprintf(from, sizeof from, "%s/%s", HOSTILE, in);
        snprintf(p, sizeof p, "%s/%s", dir, base);
        ck_assert_msg(copy_file(from, p) == 0, "%s: cannot copy %s", in, from);
    }
    if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode))
        *size = (double)sb.st_size;
    return p;
}

/* -------------------------------------------------------------- checks */

typedef struct {
    char text[4096];
    size_t len;
} problems;

static void problem(problems *pr, const char *fmt, ...)
{
    va_list ap;
    if (pr->len >= sizeof pr->text - 2)
        return;
    if (pr->len)
        pr->len += (size_t)snprintf(pr->text + pr->len, sizeof pr->text - pr->len, "; ");
    va_start(ap, fmt);
    int n = vsnprintf(pr->text + pr->len, sizeof pr->text - pr->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        pr->len += (size_t)n;
    if (pr->len > sizeof pr->text - 1)
        pr->len = sizeof pr->text - 1;
}

static int marker_untouched(const char *dir)
{
    size_t n = 0;
    unsigned char *m = tu_read(tu_path(dir, MARKER), &n);
    int ok = m && n == 16;
    for (size_t i = 0; ok && i < n; i++)
        ok = m[i] == 0;
    free(m);
    return ok;
}

/* name=sha;name=sha against --json's tensors. */
static void check_shas(const entry *e, json_t *doc, problems *pr)
{
    char buf[8192];
    snprintf(buf, sizeof buf, "%s", e->col[C_SHA]);
    json_t *ts = json_object_get(doc, "tensors");
    for (char *save = NULL, *kv = strtok_r(buf, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
        char *eq = strrchr(kv, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *got = NULL;
        size_t i;
        json_t *t;
        json_array_foreach(ts, i, t) {
            const char *name = json_string_value(json_object_get(t, "name"));
            if (name && !strcmp(name, kv))
                got = json_string_value(json_object_get(t, "sha256"));
        }
        if (!got)
            problem(pr, "tensor \"%s\" (torch.load has it) is not listed", kv);
        else if (strcmp(got, eq + 1))
            problem(pr, "tensor \"%s\": sha256 %.12s..., torch.load's %.12s...", kv, got,
                    eq + 1);
    }
}

static void check_output(const entry *e, const result *r, problems *pr)
{
    const char *want = e->col[C_STATUS], *msg = e->col[C_MESSAGE];
    json_error_t je;
    json_t *doc = json_loads(r->out, 0, &je);
    const char *jmsg = doc ? json_string_value(json_object_get(doc, "message")) : NULL;
    if (strcmp(want, "-")) {
        const char *got = doc ? json_string_value(json_object_get(doc, "status")) : NULL;
        if (!got && doc && !strncmp(e->col[C_ARGS], "inspect", 7))
            got = json_object_get(doc, "tensors") ? "LG_OK" : NULL;
        if (!got)
            problem(pr, "stdout is not a JSON document with a status (%s)", doc ? "no status"
                                                                                : je.text);
        else if (strcmp(got, want))
            problem(pr, "status %s, expected %s", got, want);
    }
    if (strcmp(msg, "-") && !(jmsg && strstr(jmsg, msg)) && !strstr(r->out, msg)
        && !strstr(r->err, msg))
        problem(pr, "the message lacks \"%s\"", msg);
    if (strcmp(e->col[C_SHA], "-") && doc)
        check_shas(e, doc, pr);
    if (doc)
        json_decref(doc);
}

static void check_limits(const result *r, double size, problems *pr)
{
    if (r->cpu > CPU_LIMIT(size))
        problem(pr, "CPU time %.2f s, limit %.2f s", r->cpu, CPU_LIMIT(size));
    if (r->wall > WALL_LIMIT(size))
        problem(pr, "wall time %.2f s, limit %.2f s", r->wall, WALL_LIMIT(size));
    if (r->rss - g_base_rss > MEM_LIMIT(size))
        problem(pr, "peak RSS %.1f MiB over the baseline, limit %.1f MiB",
                (r->rss - g_base_rss) / MIB, MEM_LIMIT(size) / MIB);
}

/* "1", or alternatives "1|2". */
static int exit_expected(const char *want, int code)
{
    for (const char *s = want; *s; s++) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end != s && v == code)
            return 1;
        s = end;
        if (*s != '|')
            break;
    }
    return 0;
}

static void replay(const entry *e)
{
    const char *dir = tu_tmpdir();
    static const unsigned char zeros[16];
    double size = 0;
    int as_nobody = 0;
    ck_assert_ptr_nonnull(dir);
    ck_assert_int_eq(tu_write(tu_path(dir, MARKER), zeros, sizeof zeros), 0);
    const char *path = prepare(e, dir, &size, &as_nobody);
    char pathcopy[1024];
    snprintf(pathcopy, sizeof pathcopy, "%s", path);
    result r = run_harness(dir, e->col[C_ARGS], pathcopy, size, as_nobody);
    if (as_nobody && r.exited && r.code == NOBODY_CANNOT_RUN) {
        /* root reads every file, so the entry needs another user, and
         * that user cannot reach the harness: say so, check nothing */
        printf("SKIP expect.tsv:%d: %s: harness %s: the user nobody cannot run %s (a folder on "
               "its path is closed to others), and root reads any file\n", e->line,
               e->col[C_INPUT], e->col[C_ARGS], HARNESS);
        free(r.out);
        free(r.err);
        chmod(dir, 0700);
        tu_rmtree(dir);
        return;
    }
    problems pr = {{0}, 0};
    if (r.signal == -1)
        problem(&pr, "hung: killed after %.1f s", r.wall);
    else if (r.signal)
        problem(&pr, "killed by signal %d (%s)", r.signal, strsignal(r.signal));
    else if (!exit_expected(e->col[C_EXIT], r.code))
        problem(&pr, "exit %d, expected %s", r.code, e->col[C_EXIT]);
    check_output(e, &r, &pr);
    if (strstr(r.err, "runtime error:") || strstr(r.err, "Sanitizer"))
        problem(&pr, "a sanitizer report on stderr"); /* UBSan's halt exits 1, no signal */
    if (!marker_untouched(dir))
        problem(&pr, "the marker file was written: code ran");
    check_limits(&r, size, &pr);
    const int known = strcmp(e->col[C_KNOWN], "-") != 0;
    char where[1400];
    snprintf(where, sizeof where, "expect.tsv:%d: %s: harness %s", e->line, e->col[C_INPUT],
             e->col[C_ARGS]);
    if (pr.len && known)
        printf("KNOWN FAILURE %s: %s (known: %s)\n", where, pr.text, e->col[C_KNOWN]);
    ck_assert_msg(!pr.len || known, "%s: %s\n  stdout: %.600s\n  stderr: %.1500s",
                  where, pr.text, r.out, r.err);
    ck_assert_msg(!known || pr.len, "%s: passes now; remove its known mark (%s) in make.py",
                  where, e->col[C_KNOWN]);
    free(r.out);
    free(r.err);
    chmod(dir, 0700);
    tu_rmtree(dir);
}

START_TEST(hostile_entry)
{
    replay(&g_entries[_i]);
}
END_TEST

/* The manifest covers every committed input, and every input is there. */
START_TEST(manifest_complete)
{
    const char *only = getenv("HOSTILE_ONLY");
    if (only && *only)
        printf("test_hostile: HOSTILE_ONLY=%s: only %d entries replayed\n", only, g_count);
    else
        ck_assert_int_ge(g_count, 150);
    for (int i = 0; i < g_count; i++) {
        const char *in = g_entries[i].col[C_INPUT];
        if (in[0] == '@' || in[0] == '/')
            continue;
        char p[1024];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", HOSTILE, in);
        ck_assert_msg(stat(p, &sb) == 0, "expect.tsv:%d: %s is missing (run make.py)",
                      g_entries[i].line, in);
    }
}
END_TEST

static void measure_baseline(void)
{
    const char *dir = tu_tmpdir();
    result r = run_harness(dir, "--version", "", 0, 0);
    if (r.code != 0) {
        fprintf(stderr, "test_hostile: harness --version failed (%d): %s\n", r.code, r.err);
        exit(1);
    }
    g_base_rss = r.rss;
    printf("test_hostile: %d entries; harness --version peaks at %.1f MiB RSS%s\n", g_count,
           r.rss / MIB, SCALED);
    free(r.out);
    free(r.err);
    tu_rmtree(dir);
}

int main(void)
{
    load_manifest();
    measure_baseline();
    Suite *s = suite_create("hostile");
    TCase *t = tcase_create("manifest");
    tcase_add_test(t, manifest_complete);
    suite_add_tcase(s, t);
    TCase *r = tcase_create("replay");
    tcase_set_timeout(r, 600);
    tcase_add_loop_test(r, hostile_entry, 0, g_count);
    suite_add_tcase(s, r);
    /* Not tu_run_suite: it loads the torch module into this process in a
     * torch build, and a child forked from a process with libtorch mapped
     * starts with its RSS (wait4's ru_maxrss keeps it across exec), which
     * would count libtorch against each input's memory limit. */
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
