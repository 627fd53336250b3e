/* harness load: a checkpoint loaded into a mirror store, with every
 * invariant checked. */
#include "cmd/args.h"
#include "cmd/cmd.h"
#include "invariants.h"
#include "mirror.h"
#include "report/outcome_json.h"
#include "util/json.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char load_usage[] =
    "usage: harness load CHECKPOINT --device D [--backend sim|torch] (default sim)\n"
    "                    [--policy via-cpu|staged|direct|auto|tch]\n"
    "                    [--dtype-rule convert|adopt|strict] [--store-dtype DTYPE]\n"
    "                    [--reader NAME] [--staging-budget BYTES] [--seed N] [--trace]\n"
    "                    [--json] [--key PATH] [--crc error|warn|off] [--trust-code]\n"
    "                    [--paranoid]\n"
    "  Builds a mirror store (one variable per tensor, filled with a known\n"
    "  pattern) on D, loads CHECKPOINT into it and checks the invariants.\n"
    "  --store-dtype  the mirror's variables take this dtype, not the file's\n"
    "                 (under convert the file's values are cast into it)\n"
    "  --seed N       policy tch: the seed of its hash-like variable order\n"
    "  --paranoid     atomic and values compare every byte (the store is kept\n"
    "                 whole before the load), not digests of the bytes\n"
    "  --key, --crc and --trust-code as for inspect. --json lists every\n"
    "  variable after the load (name, dtype, shape, device, sha256 of its bytes).\n"
    "  The text output names the backend used. A device the backend does not\n"
    "  have (cuda:7 on sim) is an error: exit 1, nothing on stdout.\n"
    "  Exit 0 if it loaded and every invariant held, 1 if not, 2 for usage.\n";

/* The JSON output: the outcome through report/outcome_json.h, as in a
 * report's case objects; the whole trace (no cap, unlike a report). */
static json_t *load_json(const hx_outcome *o, const char *file, const char *backend,
                         const lg_load_options *opt, int with_trace)
{
    char a[LG_DEVICE_NAME_MAX], b[LG_DEVICE_NAME_MAX];
    json_t *j = json_pack("{s:o, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "file",
        hx_json_str(file), "status", lg_status_name(o->status), "message",
        hx_json_str(o->message), "device_before",
        lg_device_format(o->before, a), "device_after", lg_device_format(o->after, b), "policy",
        lg_policy_name(opt->policy), "policy_used", lg_policy_name(o->policy_used), "backend",
        backend, "dtype_rule", lg_dtype_rule_name(opt->dtype_rule), "invariants",
        hx_outcome_verdicts_json(o->inv), "invariant_failures", hx_outcome_failures_json(o));
    if (!j)
        return NULL;
    json_object_set_new(j, "stats", json_pack("{s:I, s:I, s:I}", "tensors",
        (json_int_t)o->stats.tensors_loaded, "bytes", (json_int_t)o->stats.bytes_loaded,
        "staging_peak_bytes", (json_int_t)o->stats.staging_peak_bytes));
    if (opt->policy == LG_POLICY_TCH)
        json_object_set_new(j, "tch", json_pack("{s:I, s:o}", "hash_seed",
            (json_int_t)o->stats.hash_seed, "reader", o->stats.tch_reader ?
            json_string(o->stats.tch_reader) : json_null()));
    if (with_trace)
        json_object_set_new(j, "trace", hx_outcome_trace_json(o->trace, SIZE_MAX, NULL));
    return j;
}

/* The text output; a load's error goes to stderr, the rest to stdout. */
static void load_print(const hx_outcome *o, const char *backend, int with_trace)
{
    char a[LG_DEVICE_NAME_MAX], b[LG_DEVICE_NAME_MAX];
    if (o->status == LG_OK)
        printf("loaded %zu tensors (%llu bytes) via %s\n", o->stats.tensors_loaded,
               (unsigned long long)o->stats.bytes_loaded, lg_policy_name(o->policy_used));
    else
        fprintf(stderr, "%s: %s\n", lg_status_name(o->status), o->message);
    fflush(stderr);
    printf("backend: %s\ndevice: %s -> %s\ninvariants:", backend, lg_device_format(o->before, a),
           lg_device_format(o->after, b));
    for (int i = 0; i < HX_INV_COUNT; i++)
        printf(" %s=%s", hx_inv_name((hx_inv)i), hx_verdict_name(o->inv[i]));
    putchar('\n');
    for (int i = 0; i < HX_INV_COUNT; i++)
        if (o->inv[i] == HX_FAIL)
            printf("  %s: %s\n", hx_inv_name((hx_inv)i), o->why[i]);
    for (size_t i = 0; with_trace && i < lg_trace_count(o->trace); i++) {
        const lg_event *e = lg_trace_event(o->trace, i);
        printf("  %4llu %-11s %-24s %6s -> %-6s %10llu %s %s\n", (unsigned long long)e->seq,
               lg_op_name(e->op), e->tensor, lg_device_format(e->from, a),
               lg_device_format(e->to, b), (unsigned long long)e->bytes, e->ok ? "ok" : "FAIL",
               e->detail);
    }
}

typedef struct {
    hx_load_req *q;
    const char *backend;
    int as_json, with_trace;
    json_t *vars; /* --json: the store after the load */
} load_args;

/* after_load: every variable as the load left it. */
static void list_vars(void *ctx, lg_store *st)
{
    load_args *a = ctx;
    char dn[LG_DEVICE_NAME_MAX], hex[65];
    if (!a->as_json || !(a->vars = json_array()))
        return;
    for (size_t i = 0; i < lg_store_count(st); i++) {
        const lg_tensor_info *v = lg_store_var(st, i);
        json_t *shape = json_array();
        for (int d = 0; d < v->ndim; d++)
            json_array_append_new(shape, json_integer(v->shape[d]));
        unsigned char *buf = malloc(v->nbytes ? (size_t)v->nbytes : 1);
        lg_device where = lg_store_var_device(st, i);
        int ok = buf && lg_store_read(st, i, buf, (size_t)v->nbytes, &where) == LG_OK;
        if (ok)
            hx_sha256_hex(buf, (size_t)v->nbytes, hex);
        free(buf);
        json_array_append_new(a->vars, json_pack("{s:o, s:s, s:o, s:s, s:o}", "name",
            hx_json_str(v->name), "dtype", lg_dtype_name(v->dtype), "shape", shape, "device",
            lg_device_format(where, dn), "sha256", ok ? json_string(hex) : json_null()));
    }
}

static int load_run(load_args *a);
static int load_confined(void *arg);

enum {
    O_JSON = 1, O_TRACE, O_DEVICE, O_BACKEND, O_POLICY, O_DTYPE_RULE, O_READER, O_BUDGET, O_KEY,
    O_CRC, O_TRUST, O_STORE_DTYPE, O_SEED, O_PARANOID
};

int hx_cmd_load(int argc, char **argv)
{
    static const hx_opt opts[] = {
        {"json", 'j', 0, O_JSON},         {"trace", 't', 0, O_TRACE},
        {"device", 'd', 1, O_DEVICE},     {"backend", 'b', 1, O_BACKEND},
        {"policy", 'p', 1, O_POLICY},     {"dtype-rule", 'r', 1, O_DTYPE_RULE},
        {"reader", 'R', 1, O_READER},     {"staging-budget", 's', 1, O_BUDGET},
        {"key", 'k', 1, O_KEY},           {"crc", 'c', 1, O_CRC},
        {"trust-code", 0, 0, O_TRUST},    {"store-dtype", 0, 1, O_STORE_DTYPE},
        {"seed", 0, 1, O_SEED},           {"paranoid", 0, 0, O_PARANOID},
        {NULL, 0, 0, 0}};
    hx_var all = {"*", LG_F32, 0, {0}};
    hx_store_spec retyped = {.mirror = 1, .retype = &all, .nretype = 1};
    int as_json = 0, with_trace = 0, id;
    const char *backend = hx_default_backend(), *device = NULL;
    hx_load_req q = {0};
    lg_load_options_init(&q.opt);
    hx_args a;
    hx_args_init(&a, "load", load_usage, opts, argc, argv);
    while ((id = hx_args_next(&a)) > 0) {
        switch (id) {
        case O_JSON: as_json = 1; break;
        case O_TRACE: with_trace = 1; break;
        case O_DEVICE: device = a.value; break;
        case O_BACKEND:
            if (!hx_backend_name_valid(a.value))
                return hx_cmd_bad_value(&a, id, a.value);
            backend = a.value;
            break;
        case O_POLICY:
            if (lg_policy_parse(a.value, &q.opt.policy) != LG_OK)
                return hx_cmd_bad_value(&a, id, a.value);
            break;
        case O_DTYPE_RULE:
            if (lg_dtype_rule_parse(a.value, &q.opt.dtype_rule) != LG_OK)
                return hx_cmd_bad_value(&a, id, a.value);
            break;
        case O_READER:
            if (!hx_reader_name_valid(a.value))
                return hx_cmd_bad_value(&a, id, a.value);
            q.opt.reader = a.value;
            break;
        case O_KEY: q.opt.key = a.value; break;
        case O_TRUST: q.opt.trust_code = 1; break;
        case O_PARANOID: q.paranoid = 1; break;
        case O_STORE_DTYPE:
            if (lg_dtype_parse(a.value, &all.dtype) != LG_OK)
                return hx_cmd_bad_value(&a, id, a.value);
            q.store = &retyped;
            break;
        case O_SEED:
            if (hx_args_u64(a.value, &q.opt.hash_seed) != 0)
                return hx_cmd_bad_value(&a, id, a.value);
            break;
        case O_CRC:
            if (!hx_crc_mode_valid(a.value))
                return hx_cmd_bad_value(&a, id, a.value);
            q.opt.crc = a.value;
            break;
        case O_BUDGET:
            if (hx_args_u64(a.value, &q.opt.staging_budget) != 0)
                return hx_cmd_bad_value(&a, id, a.value);
            break;
        }
    }
    if (id == HX_ARGS_EXIT)
        return a.exit_code;
    if (hx_args_count(&a) != 1)
        return hx_args_error(&a, "expected exactly one CHECKPOINT");
    if (!device)
        return hx_args_error(&a, "--device is required");
    if (lg_device_parse(device, &q.device) != LG_OK)
        return hx_cmd_bad_value(&a, O_DEVICE, device);
    lg_status st = lg_backend_open(backend, &q.backend);
    if (st != LG_OK) {
        fprintf(stderr, "harness load: %s\n", lg_error_message());
        return st == LG_E_INVALID ? 2 : 1;
    }
    if (hx_cmd_no_device("load", q.backend, q.device)) {
        lg_backend_close(q.backend);
        return 1;
    }
    q.path = argv[a.next];
    q.reuse_open = 1; /* no fault is armed here */
    load_args la = {&q, backend, as_json, with_trace, NULL};
    q.after_load = list_vars;
    q.ctx = &la;
    int rc = q.opt.trust_code ? hx_cmd_confined("load", load_confined, &la) : load_run(&la);
    lg_backend_close(q.backend);
    return rc;
}

static int load_run(load_args *a)
{
    hx_load_req *q = a->q;
    hx_outcome o;
    lg_status st = hx_check_load(q, &o);
    if (st != LG_OK) { /* the mirror store could not be built from the file */
        o.ran = 1;
        o.status = st;
        snprintf(o.message, sizeof o.message, "%s", lg_error_message());
    }
    int failed = o.status != LG_OK;
    for (int i = 0; i < HX_INV_COUNT; i++)
        failed |= o.inv[i] == HX_FAIL;
    if (a->as_json) {
        json_t *j = load_json(&o, q->path, a->backend, &q->opt, a->with_trace);
        json_object_set_new(j, "variables", a->vars ? a->vars : json_null());
        a->vars = NULL;
        if (hx_json_dumpf(j, stdout, JSON_INDENT(2)) == 0) {
            putchar('\n');
        } else {
            fprintf(stderr, "harness load: %s: out of memory writing the JSON\n", q->path);
            failed = 1;
        }
        json_decref(j);
    } else {
        load_print(&o, a->backend, a->with_trace);
    }
    hx_outcome_free(&o);
    return failed ? 1 : 0;
}

static int load_confined(void *arg) { return load_run(arg); }

