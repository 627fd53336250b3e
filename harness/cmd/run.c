/* harness run: reads the case files, runs the selected cases (run/sched.h),
 * writes the reports and prints the failing cases and a summary
 * (docs/runner.md). */
#include "cmd/args.h"
#include "cmd/cmd.h"
#include "probe/probe.h"
#include "report/groups.h"
#include "report/history.h"
#include "report/report.h"
#include "run/cache.h"
#include "run/child.h"
#include "run/sched.h"
#include "util/error.h"
#include "util/json.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char run_usage[] =
    "usage: harness run FILE.yaml|DIR... [-o DIR] [--format junit,json,md,html] [-j N]\n"
    "                   [-k PATTERN] [--shard I/N] [--isolation worker|fork|spawn|none]\n"
    "                   [--timeout S] [--fail-fast] [--seed N]\n"
    "                   [--rerun-failed REPORT.json] [--backend sim|torch] [--paranoid]\n"
    "                   [--keep-failed DIR] [--history DIR]\n"
    "\n"
    "  -o DIR            where reports go (default reports/)\n"
    "  --format LIST     report files to write (default: all four)\n"
    "  -j N              cases run in parallel (default: the number of CPUs)\n"
    "  -k PATTERN        only cases whose id or a tag contains PATTERN or\n"
    "                    matches it as a glob\n"
    "  --shard I/N       only the I-th of N disjoint parts (1-based)\n"
    "  --isolation MODE  worker (default: N long-lived children, each running\n"
    "                    many cases), fork (a child per case), spawn (default\n"
    "                    for torch on cuda or mps: a fresh harness process)\n"
    "                    or none (in this process)\n"
    "  --timeout S       seconds per case, for every case (0: none)\n"
    "  --fail-fast       start no new case after the first failure or error\n"
    "  --seed N          added to the seed of every prob fault and random flip\n"
    "                    (default 0: the seeds of the case file)\n"
    "  --rerun-failed R  only the cases that failed, crashed, timed out,\n"
    "                    passed unexpectedly or had a setup error in report R\n"
    "  --backend B       run every case on backend B\n"
    "  --paranoid        atomic and values compare every byte, not digests\n"
    "  --keep-failed DIR the input file of every run that failed is kept in\n"
    "                    DIR, named by its id (the report names it)\n"
    "  --history DIR     append a line for this run to DIR/history.jsonl;\n"
    "                    index.html charts the last 50 runs\n"
    "\n"
    "On SIGINT or SIGTERM the run stops, its children are killed, the cases not\n"
    "run are skips (\"not run: interrupted by SIGINT\") and the reports are\n"
    "written, marked interrupted; a second signal ends it at once.\n"
    "\n"
    "A case whose fixture is missing, does not open or cannot be generated\n"
    "has status error (a setup error), counted apart from the failures.\n"
    "\n"
    "exit codes: 0 every case passed (skips and expected failures allowed),\n"
    "            1 a case failed, crashed, timed out or passed unexpectedly,\n"
    "            2 bad usage, a case file that does not validate, or a case\n"
    "              with a setup error (2 wins over 1),\n"
    "            5 -k or --shard selects no case,\n"
    "            130, 143 interrupted by SIGINT, SIGTERM\n";

typedef struct {
    const char *const *files;
    int nfiles;
    const char *out_dir;
    unsigned formats;
    const char *rerun;
    const char *history; /* --history DIR */
    hx_sched_opts s;
} run_args;

/* ------------------------------------------------------------- options */

enum {
    O_OUT = 1, O_FORMAT, O_JOBS, O_PATTERN, O_SHARD, O_ISOLATION, O_TIMEOUT, O_FAIL_FAST,
    O_SEED, O_RERUN, O_BACKEND, O_PARANOID, O_KEEP_FAILED, O_HISTORY
};

static const hx_opt run_opts[] = {
    {"output", 'o', 1, O_OUT},          {"format", 0, 1, O_FORMAT},
    {"jobs", 'j', 1, O_JOBS},           {"pattern", 'k', 1, O_PATTERN},
    {"shard", 0, 1, O_SHARD},           {"isolation", 0, 1, O_ISOLATION},
    {"timeout", 0, 1, O_TIMEOUT},       {"fail-fast", 0, 0, O_FAIL_FAST},
    {"seed", 0, 1, O_SEED},             {"rerun-failed", 0, 1, O_RERUN},
    {"backend", 0, 1, O_BACKEND},       {"paranoid", 0, 0, O_PARANOID},
    {"keep-failed", 0, 1, O_KEEP_FAILED}, {"history", 0, 1, O_HISTORY},
    {NULL, 0, 0, 0}};

static int parse_isolation(const char *v)
{
    static const char *const names[] = {"worker", "fork", "spawn", "none"};
    static const int modes[] = {HX_ISO_WORKER, HX_ISO_FORK, HX_ISO_SPAWN, HX_ISO_NONE};
    for (int i = 0; i < 4; i++)
        if (!strcmp(v, names[i]))
            return modes[i];
    return -1;
}

/* One option's value into a; 0, or -1 for a bad value. */
static int set_option(run_args *a, int id, const char *v)
{
    uint64_t u;
    char *end;
    switch (id) {
    case O_OUT: a->out_dir = v; return 0;
    case O_FORMAT: return hx_formats_parse(v, &a->formats) == LG_OK ? 0 : -1;
    case O_JOBS:
        return hx_args_u64(v, &u) || u < 1 || u > HX_SCHED_JOBS_MAX ? -1 : (a->s.jobs = (int)u, 0);
    case O_PATTERN: a->s.pattern = v; return 0;
    case O_SHARD: return hx_shard_parse(v, &a->s.shard_i, &a->s.shard_n) ? -1 : 0;
    case O_ISOLATION: return (a->s.isolation = parse_isolation(v)) < 0 ? -1 : 0;
    case O_TIMEOUT:
        a->s.timeout = strtod(v, &end);
        a->s.has_timeout = 1;
        return *end || end == v || !(a->s.timeout >= 0) ? -1 : 0;
    case O_FAIL_FAST: a->s.fail_fast = 1; return 0;
    case O_SEED: return hx_args_u64(v, &a->s.run.seed);
    case O_RERUN: a->rerun = v; return 0;
    case O_PARANOID: a->s.run.paranoid = 1; return 0;
    case O_KEEP_FAILED: a->s.keep_dir = v; return *v ? 0 : -1;
    case O_HISTORY: a->history = v; return *v ? 0 : -1;
    case O_BACKEND:
        a->s.run.backend = v;
        return strcmp(v, "sim") && strcmp(v, "torch") ? -1 : 0;
    }
    return 0;
}

static long cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : n;
}

/* Parses a copy of argv (getopt reorders it; the report records argv as
 * given). Returns -1 when parsed, else the exit code (0 --help, 2 usage). */
static int parse_args(int argc, char **argv, run_args *a, char **work)
{
    hx_args p;
    int id;
    memcpy(work, argv, (size_t)argc * sizeof *work);
    work[argc] = NULL;
    hx_args_init(&p, "run", run_usage, run_opts, argc, work);
    while ((id = hx_args_next(&p)) > 0) {
        if (set_option(a, id, p.value))
            return hx_cmd_bad_value(&p, id, p.value);
    }
    if (id == HX_ARGS_EXIT)
        return p.exit_code;
    if (!hx_args_count(&p))
        return hx_args_error(&p, "no case file given");
    a->files = (const char *const *)work + p.next;
    a->nfiles = hx_args_count(&p);
    return -1;
}

/* ------------------------------------------------------------ running */

/* ids whose status in the report fails the run or is a setup error, with
 * sweep k removed. */
static int load_rerun(const char *path, json_t **ids)
{
    hx_report r;
    size_t i;
    json_t *c;
    if (hx_report_load(path, &r) != LG_OK) {
        fprintf(stderr, "harness run: --rerun-failed: %s\n", hx_errmsg());
        return -1;
    }
    *ids = json_object();
    int bad = !*ids;
    json_array_foreach(r.cases, i, c) {
        if (bad || !hx_status_not_ok(hx_case_status(c)))
            continue;
        /* a sweep's run is selected by its case's id: only a run that
         * says it is one (params.k), so that a value of the id's own that
         * ends in ",k=N" is not cut off */
        const char *id = hx_json_get_str(c, "id");
        char *base = json_object_get(json_object_get(c, "params"), "k") ? hx_base_id(id)
                                                                        : strdup(id ? id : "");
        bad = !base || json_object_set_new(*ids, base, json_true());
        free(base);
    }
    hx_report_free(&r);
    if (bad) {
        json_decref(*ids);
        *ids = NULL;
        fprintf(stderr, "harness run: out of memory\n");
    }
    return bad ? -1 : 0;
}

/* The progress line, on a terminal: redrawn at most ten times a second. */
typedef struct {
    double last;
} progress_line;

static void print_progress(void *ctx, const hx_progress *p)
{
    progress_line *l = ctx;
    double t = hx_now_s();
    if (!p->final && t - l->last < 0.1)
        return;
    l->last = t;
    double rate = p->elapsed_s > 0 ? (double)p->done / p->elapsed_s : 0;
    fprintf(stderr, "\r[%zu/%zu] %zu failed, %zu errors, %.1f cases/s", p->done, p->total,
            p->failing, p->errors, rate);
    if (p->final)
        fputc('\n', stderr);
    fflush(stderr);
}

static int load_suites(const run_args *a, const char *cache, hx_suite *suites)
{
    int bad = 0;
    json_t *ids = NULL;
    for (int f = 0; f < a->nfiles; f++)
        if (hx_cmd_suite_load(a->files[f], cache, &suites[f]) || hx_cmd_ids_check(&ids, &suites[f]))
            bad = 1;
    json_decref(ids);
    return bad;
}

/* ------------------------------------------------------------ reporting */

static const char *iso_name(int iso)
{
    static const char *const names[] = {"default", "fork", "spawn", "none", "worker"};
    return names[iso];
}

/* The run's start, in UTC: "2026-03-01T12:00:00Z". */
static void iso_time(time_t t, char *buf, size_t n)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, n, "unknown");
}

/* started, interrupted and its signal, and keep_failed of run object r. */
static json_t *run_json_more(json_t *r, const run_args *a, time_t started)
{
    char when[32], sig[32];
    int got = hx_sched_interrupted();
    iso_time(started, when, sizeof when);
    if (r && (json_object_set_new(r, "started", json_string(when)) ||
              json_object_set_new(r, "interrupted", json_boolean(got)) ||
              json_object_set_new(r, "signal", got ? json_string(hx_signal_name(got, sig,
                                                                  sizeof sig))
                                                   : json_null()) ||
              json_object_set_new(r, "keep_failed", hx_json_str(a->s.keep_dir)))) {
        json_decref(r);
        return NULL;
    }
    return r;
}

static json_t *run_json(const run_args *a, int argc, char **argv, size_t not_run)
{
    const hx_sched_opts *s = &a->s;
    json_t *args = json_array();
    for (int i = 0; args && i < argc; i++)
        json_array_append_new(args, hx_json_str(argv[i]));
    json_t *shard = s->shard_n > 1 ? json_sprintf("%d/%d", s->shard_i, s->shard_n) : json_null();
    return json_pack("{s:o, s:I, s:s, s:i, s:o, s:o, s:o, s:o, s:b, s:I}", "argv",
                     args ? args : json_null(), "seed", (json_int_t)s->run.seed, "isolation",
                     iso_name(s->isolation), "jobs", s->jobs, "pattern", hx_json_str(s->pattern),
                     "shard", shard, "backend", hx_json_str(s->run.backend), "rerun_failed",
                     hx_json_str(a->rerun), "fail_fast", s->fail_fast, "not_run",
                     (json_int_t)not_run);
}

static long long count(const json_t *summary, const char *key)
{
    return (long long)json_integer_value(json_object_get(summary, key));
}

/* Each case pick() accepts on a line, as many as HX_FAIL_LINES_MAX. */
static void print_cases(const json_t *cases, int (*pick)(hx_status))
{
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        hx_status st = hx_case_status(c);
        if (!pick(st))
            continue;
        const char *reason = hx_json_get_str(c, "reason");
        const char *kept = hx_json_get_str(c, "kept_file");
        printf("%-7s %s: %s", hx_status_name(st), hx_json_get_str(c, "id"), reason ? reason : "");
        if (kept)
            printf(" (input kept as %s)", kept);
        putchar('\n');
    }
}

/* Past HX_FAIL_LINES_MAX failing cases (or setup errors, what): a line
 * per group (report/groups.h) with its first example. */
static void print_groups(const hx_fail_groups *G, const char *what)
{
    printf("%zu %s in %zu groups (by status, error and message):\n", G->failing, what, G->n);
    for (size_t i = 0; i < G->n; i++) {
        const hx_fail_group *g = &G->g[i];
        const char *kept = hx_json_get_str(g->examples[0], "kept_file");
        printf("%6zu  %s: %.300s\n        e.g. %s", g->count, g->code, g->pattern,
               hx_json_get_str(g->examples[0], "id"));
        if (kept)
            printf(" (input kept as %s)", kept);
        putchar('\n');
    }
}

static int is_error(hx_status s)
{
    return s == HX_ST_ERROR;
}

/* The failing cases, then the setup errors apart: each on a line, or past
 * HX_FAIL_LINES_MAX of either, their groups. */
static void print_not_ok(const json_t *cases)
{
    hx_fail_groups G;
    if (hx_fail_groups_make(cases, &G) == LG_OK && G.failing > HX_FAIL_LINES_MAX)
        print_groups(&G, "failing cases");
    else
        print_cases(cases, hx_status_fails_run);
    hx_fail_groups_free(&G);
    if (hx_error_groups_make(cases, &G) == LG_OK && G.failing > HX_FAIL_LINES_MAX)
        print_groups(&G, "setup errors");
    else
        print_cases(cases, is_error);
    hx_fail_groups_free(&G);
}

static void print_summary(const hx_report *rep, const run_args *a, size_t not_run, int wrote)
{
    print_not_ok(rep->cases);
    json_t *s = hx_report_summary(rep);
    printf("%lld cases: %lld passed, %lld failed, %lld errors, %lld skipped, %lld xfailed, "
           "%lld xpassed, %lld crashed, %lld timed out in %.2f s",
           count(s, "total"), count(s, "passed"), count(s, "failed"), count(s, "errors"),
           count(s, "skipped"), count(s, "xfailed"), count(s, "xpassed"), count(s, "crashed"),
           count(s, "timedout"), rep->duration_s);
    if (not_run && rep->interrupted[0])
        printf("; %s: %zu not run", rep->interrupted, not_run);
    else if (not_run)
        printf("; %zu not run (--fail-fast)", not_run);
    printf(wrote ? "; reports in %s\n" : "; the reports could not all be written to %s\n",
           a->out_dir);
    fflush(stdout);
    json_decref(s);
}

/* Did a case of the run use the torch backend? Then the probe runs once
 * and its verdict goes into the report (environment.probe). */
static int uses_torch(const json_t *cases)
{
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *b = hx_json_get_str(c, "backend");
        if (b && !strcmp(b, "torch"))
            return 1;
    }
    return 0;
}

static int report_and_exit_code(const hx_sched *S, lg_status ran, const run_args *a, int argc,
                                char **argv, double t0, time_t started)
{
    char sig[32];
    hx_report rep;
    size_t not_run = 0;
    int rc;
    if (hx_report_init(&rep) != LG_OK)
        return 2;
    lg_status st = hx_sched_collect(S, &rep, &not_run);
    rep.duration_s = hx_now_s() - t0;
    if (hx_sched_interrupted())
        snprintf(rep.interrupted, sizeof rep.interrupted, "interrupted by %s",
                 hx_signal_name(hx_sched_interrupted(), sig, sizeof sig));
    int torch = uses_torch(rep.cases);
    if (torch && !rep.interrupted[0]) /* the cases ran in children: the environment lists torch's devices */
        lg_torch_module_load();
    rep.environment = hx_environment();
    if (rep.environment && torch && !rep.interrupted[0]) {
        hx_probe_opts po = {.backend = "torch"};
        json_object_set_new(rep.environment, "probe", hx_probe_run(&po));
    }
    rep.run = run_json_more(run_json(a, argc, argv, not_run), a, started);
    if (st == LG_OK && rep.run)
        st = hx_report_stamp(&rep);
    if (st == LG_OK && rep.environment && a->history &&
        hx_history_append(&rep, a->history) != LG_OK) /* the reports are still written */
        fprintf(stderr, "harness run: --history: %s\n", hx_errmsg());
    if (st != LG_OK || !rep.environment) {
        fprintf(stderr, "harness run: out of memory\n");
        rc = 2;
    } else {
        int wrote = hx_report_write_all(&rep, a->out_dir, a->formats) == LG_OK;
        if (!wrote)
            fprintf(stderr, "harness run: the reports could not all be written to %s: %s\n",
                    a->out_dir, hx_errmsg());
        print_summary(&rep, a, not_run, wrote);
        /* a setup error (2) wins over a failure or reports not written
         * (1), and an interruption and no case selected over both:
         * docs/cli.md; counted in the report, whose results are parsed
         * whole */
        rc = hx_count_errors(rep.cases)                          ? 2
             : hx_count_failing(rep.cases) || ran != LG_OK || !wrote ? 1
                                                                 : 0;
        /* --rerun-failed of a report with no failure selects none: not an error */
        size_t n = hx_sched_selected(S) + (a->rerun && !a->s.pattern);
        rc = hx_cmd_selection_rc("run", n, a->s.pattern, rc);
        if (hx_sched_interrupted())
            rc = 128 + hx_sched_interrupted();
    }
    hx_report_free(&rep);
    return rc;
}

/* ------------------------------------------------------------- driver */

/* The first SIGINT or SIGTERM stops the run (run/sched.h); a second ends
 * the process at once, as an interrupted program is expected to. */
static void on_signal(int sig)
{
    if (hx_sched_interrupted())
        _exit(128 + sig);
    hx_sched_interrupt(sig);
}

static void catch_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: poll wakes */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int run_suites(run_args *a, int argc, char **argv, hx_suite *suites, double t0)
{
    char cache[PATH_MAX] = "", scratch[PATH_MAX] = "";
    json_t *rerun = NULL;
    hx_sched *S = NULL;
    progress_line line = {0};
    int rc = 2;
    time_t started = time(NULL);
    if (hx_report_clean(a->out_dir) != LG_OK) { /* no earlier report beside the new ones */
        fprintf(stderr, "harness run: %s\n", hx_errmsg());
        return 2;
    }
    catch_signals();
    if (hx_cache_make(cache, sizeof cache) != LG_OK) {
        fprintf(stderr, "harness: %s\n", hx_errmsg());
        return 2;
    }
    if (load_suites(a, cache, suites) || (a->rerun && load_rerun(a->rerun, &rerun)))
        goto out;
    a->s.run.cache_dir = cache;
    hx_scratch_make(scratch, sizeof scratch);
    a->s.run.scratch_dir = scratch;
    a->s.rerun = rerun;
    if (isatty(2)) {
        a->s.progress = print_progress;
        a->s.ctx = &line;
    }
    if (hx_sched_new(&a->s, suites, a->nfiles, &S) != LG_OK)
        goto out;
    lg_status ran = hx_sched_run(S);
    rc = report_and_exit_code(S, ran, a, argc, argv, t0, started);
out:
    hx_sched_free(S);
    json_decref(rerun);
    for (int f = 0; f < a->nfiles; f++)
        hx_suite_free(&suites[f]);
    hx_cache_remove(cache);
    hx_cache_remove(scratch);
    return rc;
}

static int run_main(int argc, char **argv)
{
    run_args a = {.out_dir = "reports", .formats = HX_FMT_ALL};
    double t0 = hx_now_s();
    char **work = calloc((size_t)argc + 1, sizeof *work);
    hx_suite *suites = calloc((size_t)argc + 1, sizeof *suites);
    int rc = 2;
    a.s.jobs = (int)cpu_count();
    if (work && suites) {
        rc = parse_args(argc, argv, &a, work);
        if (rc < 0)
            rc = run_suites(&a, argc, argv, suites, t0);
    }
    free(suites);
    free(work);
    return rc;
}

int hx_cmd_run(int argc, char **argv)
{
    return hx_cmd_with_case_dirs(run_main, "run", run_opts, argc, argv);
}
