/* harness __run-one (hidden): the child of `harness run --isolation
 * spawn`. Runs one case in this process and prints {"result": CASE,
 * "fired": N} on stdout (docs/runner.md, Isolation). */
#include "cmd/args.h"
#include "cmd/cmd.h"
#include "report/result.h"
#include "run/child.h"
#include "run/cache.h"
#include "run/runner.h"
#include "run/sched.h"
#include "util/error.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char run_one_usage[] =
    "usage: harness __run-one FILE.yaml CASE-ID [--backend B] [--seed N] [--cache DIR]\n"
    "                         [--paranoid] [--ack]\n"
    "                         [--sweep K]\n"
    "  Runs one case in this process and prints {\"result\": CASE, \"fired\": N} on\n"
    "  stdout (the child of `harness run --isolation spawn`). A sweep case's id\n"
    "  may carry its k, or --sweep gives it. --ack: write \"+\" first, once\n"
    "  start-up is done (the torch module loaded for a torch case): the\n"
    "  parent's timeout for the case starts there.\n";

typedef struct {
    const char *file, *id, *backend, *cache;
    uint64_t seed, k;
    int paranoid, ack;
} run_one_args;

enum { O_BACKEND = 1, O_CACHE, O_SEED, O_SWEEP, O_PARANOID, O_ACK };

/* -1 when parsed, else the exit code (0 --help, 2 usage). */
static int run_one_parse(int argc, char **argv, run_one_args *a)
{
    static const hx_opt opts[] = {{"backend", 0, 1, O_BACKEND},
                                  {"cache", 0, 1, O_CACHE},
                                  {"seed", 0, 1, O_SEED},
                                  {"sweep", 0, 1, O_SWEEP},
                                  {"paranoid", 0, 0, O_PARANOID},
                                  {"ack", 0, 0, O_ACK},
                                  {NULL, 0, 0, 0}};
    hx_args p;
    int id;
    hx_args_init(&p, "__run-one", run_one_usage, opts, argc, argv);
    while ((id = hx_args_next(&p)) > 0) {
        if (id == O_BACKEND)
            a->backend = p.value;
        else if (id == O_CACHE)
            a->cache = p.value;
        else if (id == O_PARANOID)
            a->paranoid = 1;
        else if (id == O_ACK)
            a->ack = 1;
        else if (hx_args_u64(p.value, id == O_SEED ? &a->seed : &a->k))
            return hx_args_error(&p, "bad value for --%s", id == O_SEED ? "seed" : "sweep");
    }
    if (id == HX_ARGS_EXIT)
        return p.exit_code;
    if (hx_args_count(&p) != 2)
        return hx_args_error(&p, "expected FILE.yaml and CASE-ID");
    a->file = argv[p.next];
    a->id = argv[p.next + 1];
    return -1;
}

/* The case of id (a sweep run's id names its case), its index, and the
 * sweep's k taken from the id when --sweep gave none. */
static const hx_case *find_case(const hx_suite *s, const char *id, size_t *index, uint64_t *k)
{
    char *base = hx_base_id(id);
    const hx_case *found = NULL;
    for (size_t i = 0; i < s->ncases && !found; i++) {
        if (!strcmp(s->cases[i].id, id) || (base && !strcmp(s->cases[i].id, base))) {
            found = &s->cases[i];
            *index = i;
        }
    }
    if (found && strcmp(found->id, id) && !*k)
        *k = hx_sweep_k(id);
    free(base);
    return found;
}

static int run_one(const run_one_args *a, const char *dir)
{
    hx_suite s = {0};
    size_t index = 0;
    uint64_t fired = 0, k = a->k;
    int rc = 2;
    if (hx_cmd_suite_load(a->file, dir, &s))
        return 2;
    const hx_case *c = find_case(&s, a->id, &index, &k);
    if (!c) {
        fprintf(stderr, "harness __run-one: no case %s in %s\n", a->id, a->file);
        goto out;
    }
    hx_run_opts o = {a->backend, a->seed, dir, hx_case_sweeps(c) ? (k ? k : 1) : 0,
                     a->paranoid, NULL, 0};
    /* start-up done (the torch module loaded for a torch case): the
     * parent's clock for this case starts at the "+" (docs/runner.md) */
    lg_backend *b = NULL;
    if (!strcmp(hx_case_backend(c, a->backend), "torch") && lg_backend_open("torch", &b) == LG_OK)
        lg_backend_close(b);
    lg_error_clear();
    fflush(stdout);
    if (a->ack && hx_child_ack(1) != LG_OK)
        goto out;
    json_t *res = hx_run_case(c, index, &o, &fired);
    if (!res)
        goto out;
    rc = hx_status_fails_run(hx_case_status(res)) ? 1 : 0;
    fflush(stdout);
    if (hx_result_emit(1, res, fired) != LG_OK) {
        fprintf(stderr, "harness __run-one: %s\n", hx_errmsg());
        rc = 2;
    }
out:
    hx_suite_free(&s);
    return rc;
}

int hx_cmd_run_one(int argc, char **argv)
{
    run_one_args a = {.seed = 0};
    char cache[PATH_MAX] = "";
    int rc = run_one_parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (!a.cache && hx_cache_make(cache, sizeof cache) != LG_OK) {
        fprintf(stderr, "harness: %s\n", hx_errmsg());
        return 2;
    }
    rc = run_one(&a, a.cache ? a.cache : cache);
    hx_cache_remove(cache);
    return rc;
}
