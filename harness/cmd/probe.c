/* `harness probe`: the upgrade gate's command (docs/cli.md). The probing
 * and the verdict live in probe/ (shared with `harness run`, whose report
 * keeps the same object); this file parses the options, prints the table
 * or the JSON object, and turns the verdict into an exit code. */
#include "cmd/args.h"
#include "cmd/cmd.h"
#include "probe/probe.h"
#include "util/error.h"
#include "util/json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: harness probe [--json] [--gate] [--timeout S] [--backend torch|sim]\n"
    "                     [--sim [READER:]DEVICE.KEY=VALUE]...\n"
    "\n"
    "Writes a small sample with each libtorch writer and loads it straight onto\n"
    "cpu, cuda and mps with each libtorch reader (torch-archive: InputArchive;\n"
    "torchscript: jit::load; torch-params: jit::_load_parameters; torch-pickle:\n"
    "pickle_load), after checking that each device the backend claims holds 256\n"
    "bytes; then says whether tch-rs's MPS workaround is still needed, per reader\n"
    "and per file extension.\n"
    "\n"
    "  --json          print a JSON object instead of a table\n"
    "  --gate          exit with the verdict: 0 removable, 1 needed, 3 unknown\n"
    "  --timeout S     seconds each probe may take (default 60)\n"
    "  --backend B     torch (default) or sim, which stands in for libtorch\n"
    "  --sim SETTING   a sim profile key (docs/cases.md) for every probe, or for\n"
    "                  READER's only: mps.direct_deserialize=ok, mps.available=no,\n"
    "                  mps.alloc=refuse, torch-params:mps.direct_deserialize=ok\n"
    "\n"
    "results: works (loaded, values verified), rejected (the deserializer refused\n"
    "the device), unavailable (no such device in this build or machine), broken\n"
    "(the device claims to be available but 256 bytes cannot be allocated, copied\n"
    "and read back), crash (the probe died or hung).\n"
    "verdict: needed, removable or unknown, with its reason.\n"
    "exit: 0 done, 1 a probe crashed, 2 bad usage;\n"
    "with --gate: 0 removable, 1 needed, 3 unknown here (no mps, mps broken, a\n"
    "crash), 2 bad usage\n";

typedef struct {
    int json, gate;
    hx_probe_opts o;
    const char **sim;
} probe_args;

enum { O_JSON = 1, O_TIMEOUT, O_GATE, O_BACKEND, O_SIM };

/* One option's value into a: 0, or the exit code of a usage error. */
static int set_option(hx_args *p, probe_args *a, int id)
{
    char *end;
    switch (id) {
    case O_JSON: a->json = 1; return 0;
    case O_GATE: a->gate = 1; return 0;
    case O_TIMEOUT:
        a->o.timeout = strtod(p->value, &end);
        if (*end || end == p->value || !(a->o.timeout > 0))
            return hx_args_error(p, "--timeout wants seconds > 0, not '%s'", p->value);
        return 0;
    case O_BACKEND:
        if (strcmp(p->value, "torch") && strcmp(p->value, "sim"))
            return hx_args_error(p, "--backend wants torch or sim, not '%s'", p->value);
        a->o.backend = p->value;
        return 0;
    default:
        if (hx_probe_sim_check(p->value) != LG_OK)
            return hx_args_error(p, "%s", hx_errmsg());
        a->sim[a->o.nsim++] = p->value;
        return 0;
    }
}

/* -1 when parsed, else the exit code (0 --help, 2 usage). */
static int parse_args(int argc, char **argv, probe_args *a)
{
    static const hx_opt opts[] = {
        {"json", 0, 0, O_JSON},       {"timeout", 0, 1, O_TIMEOUT}, {"gate", 0, 0, O_GATE},
        {"backend", 0, 1, O_BACKEND}, {"sim", 0, 1, O_SIM},         {NULL, 0, 0, 0}};
    hx_args p;
    int id, rc;
    hx_args_init(&p, "probe", usage, opts, argc, argv);
    while ((id = hx_args_next(&p)) > 0)
        if ((rc = set_option(&p, a, id)) != 0)
            return rc;
    if (id == HX_ARGS_EXIT)
        return p.exit_code;
    if (hx_args_count(&p))
        return hx_args_error(&p, "unexpected argument '%s'", argv[p.next]);
    if (a->o.nsim && (!a->o.backend || strcmp(a->o.backend, "sim")))
        return hx_args_error(&p, "--sim sets the sim backend's profile: add --backend sim");
    return -1;
}

/* ------------------------------------------------------ output */

static const char *str(const json_t *o, const char *key)
{
    const char *s = hx_json_get_str(o, key);
    return s ? s : "";
}

#define TABLE_MSG 90

static void print_devices(const json_t *r)
{
    const json_t *devs = json_object_get(r, "devices"), *checks = json_object_get(r, "device_checks");
    const char *name;
    json_t *v;
    if (!json_object_size(devs)) {
        if (strcmp(str(r, "libtorch"), "none") || !strcmp(str(r, "backend"), "sim"))
            printf("devices   unknown\n");
        return;
    }
    printf("devices  ");
    json_object_foreach((json_t *)devs, name, v) {
        const char *c = str(json_object_get(checks, name), "result");
        printf(" %s %s%s", name, json_is_true(v) ? "yes" : "no",
               !strcmp(c, "broken") || !strcmp(c, "crash") ? " (broken)" : "");
    }
    printf("\n");
}

static void print_table(const json_t *r)
{
    const json_t *ps = json_object_get(r, "probes"), *v = json_object_get(r, "verdict");
    size_t i;
    json_t *p;
    const char *name;
    printf("libtorch  %s%s\n", str(r, "libtorch"),
           !strcmp(str(r, "backend"), "sim") ? " (not used: the sim backend stands in)" : "");
    print_devices(r);
    if (json_array_size(ps))
        printf("\n%-14s %-7s %-12s %s\n", "reader", "device", "result", "message");
    json_array_foreach((json_t *)ps, i, p) {
        const char *m = str(p, "message");
        int cut = strlen(m) > TABLE_MSG; /* the whole line is in --json */
        if (!*m)
            printf("%-14s %-7s %s\n", str(p, "reader"), str(p, "device"), str(p, "result"));
        else
            printf("%-14s %-7s %-12s %.*s%s\n", str(p, "reader"), str(p, "device"),
                   str(p, "result"), TABLE_MSG, m, cut ? "..." : "");
    }
    printf("\nmps workaround: %s\n  %s\n", str(v, "mps_workaround"), str(v, "reason"));
    json_t *exts = json_object_get(v, "extensions");
    if (json_object_size(exts))
        printf("\nfor tch-rs's VarStore::load, by extension:\n");
    json_object_foreach(exts, name, p)
        printf("  %-13s %-13s %s\n", name, str(p, "reader"), str(p, "mps_workaround"));
}

static int print_json(const json_t *r)
{
    char *s = hx_json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!s) {
        fputs("harness probe: out of memory\n", stderr);
        return -1;
    }
    puts(s);
    free(s);
    return 0;
}

int hx_cmd_probe(int argc, char **argv)
{
    probe_args a;
    memset(&a, 0, sizeof a);
    a.o.timeout = 60;
    if (!(a.sim = calloc((size_t)argc + 1, sizeof *a.sim))) {
        fputs("harness probe: out of memory\n", stderr);
        return 2;
    }
    a.o.sim = a.sim;
    int rc = parse_args(argc, argv, &a);
    json_t *r = rc < 0 ? hx_probe_run(&a.o) : NULL;
    if (rc < 0 && !r) {
        fprintf(stderr, "harness probe: %s\n", hx_errmsg());
        rc = 1;
    } else if (rc < 0) {
        if (a.json ? print_json(r) != 0 : (print_table(r), 0))
            rc = 1;
        else if (a.gate)
            rc = hx_probe_gate(r);
        else
            rc = hx_probe_crashed(r) ? 1 : 0;
    }
    fflush(stdout);
    json_decref(r);
    free(a.sim);
    return rc;
}
