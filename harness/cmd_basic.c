/* harness inspect, load and fixtures: the library's basics from the
 * command line. */
#include "cmd.h"
#include "check.h"
#include "gen.h"
#include "report.h"
#include "sandbox.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *default_backend(void)
{
    return strstr(lg_backends_built(), "torch") ? "torch" : "sim";
}

static int usage_error(const char *cmd, const char *usage, const char *fmt, const char *arg)
{
    fprintf(stderr, "harness %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage);
    return 2;
}

static void sha256_hex(const void *p, size_t n, char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static json_t *shape_json(int ndim, const int64_t *shape)
{
    json_t *a = json_array();
    for (int k = 0; k < ndim; k++)
        json_array_append_new(a, json_integer(shape[k]));
    return a;
}

/* ---------------------------------------------------------------- inspect */

static const char inspect_usage[] =
    "usage: harness inspect CHECKPOINT [--json] [--backend sim|torch] [--reader NAME]\n"
    "                       [--key PATH] [--crc error|warn|off] [--trust-code]\n"
    "  Prints the format and, per tensor, name, dtype, shape, bytes and sha256\n"
    "  (over the row-major little-endian bytes). --key reads the sub-tree of a\n"
    "  torch.save checkpoint at PATH (e.g. model); objects refused elsewhere in\n"
    "  it (an argparse.Namespace, NumPy state) are then findings. --crc warn|off\n"
    "  lowers a zip record's CRC-32 mismatch to a finding, or skips the check.\n"
    "  --trust-code reads a libtorch archive even when libtorch would run code\n"
    "  from it (a TorchScript __setstate__): that code runs with your rights,\n"
    "  in a child process that cannot write files. Only for files you trust;\n"
    "  without it such files are refused (docs/limits.md).\n"
    "  Exit 0, or 1 if the file cannot be read.\n";

static int crc_valid(const char *s)
{
    return !strcmp(s, "error") || !strcmp(s, "warn") || !strcmp(s, "off");
}

static void print_error(int as_json, const char *file, lg_status st)
{
    if (as_json) {
        json_t *o = json_pack("{s:o, s:s, s:o}", "file", hx_json_str(file), "status",
                              lg_status_name(st), "message", hx_json_str(lg_error_message()));
        json_dumpf(o, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(o);
    } else {
        fprintf(stderr, "%s: %s\n", lg_status_name(st), lg_error_message());
    }
}

/* One tensor's line of the text output: name, dtype, shape (padded to 16
 * columns), bytes and sha256. Printed piece by piece, so that no name,
 * dimension count or dimension size can cut the line short. */
static void print_tensor_line(FILE *out, const lg_tensor_info *t, const char *hex)
{
    int width = 0, w;
    fprintf(out, "  %-32s %-5s ", t->name, lg_dtype_name(t->dtype));
    for (int k = 0; k <= t->ndim; k++) {
        w = k == t->ndim ? fprintf(out, "]")
                         : fprintf(out, "%s%lld", k ? ", " : "[", (long long)t->shape[k]);
        width += w > 0 ? w : 0;
    }
    fprintf(out, "%*s %10llu  %s\n", width < 16 ? 16 - width : 0, "",
            (unsigned long long)t->nbytes, hex);
}

static int inspect_run(const char *file, const char *backend, const lg_open_options *opt,
                       int as_json)
{
    lg_backend *b = NULL;
    lg_checkpoint *c = NULL;
    lg_status st = lg_backend_open(backend, &b);
    lg_open_options oo = *opt;
    oo.backend = b;
    if (st == LG_OK)
        st = lg_checkpoint_open(file, &oo, &c);
    if (st != LG_OK) {
        print_error(as_json, file, st);
        lg_backend_close(b);
        return 1;
    }
    json_t *tensors = json_array();
    if (!as_json)
        printf("%s: %s, %zu tensors\n", file, lg_checkpoint_format(c), lg_checkpoint_count(c));
    for (size_t i = 0; i < lg_checkpoint_count(c) && st == LG_OK; i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        unsigned char *buf = malloc(t->nbytes ? (size_t)t->nbytes : 1);
        char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
        st = buf ? lg_checkpoint_read(c, i, buf, (size_t)t->nbytes) : LG_E_NOMEM;
        if (st == LG_OK)
            sha256_hex(buf, (size_t)t->nbytes, hex);
        free(buf);
        if (as_json)
            json_array_append_new(tensors, json_pack("{s:s, s:s, s:o, s:I, s:s}", "name", t->name,
                "dtype", lg_dtype_name(t->dtype), "shape", shape_json(t->ndim, t->shape),
                "bytes", (json_int_t)t->nbytes, "sha256", hex));
        else if (st == LG_OK) /* else the error, not a line without its sha256 */
            print_tensor_line(stdout, t, hex);
    }
    if (st == LG_OK && as_json) {
        json_t *f = json_array();
        for (size_t i = 0; i < lg_checkpoint_findings(c); i++)
            json_array_append_new(f, json_string(lg_checkpoint_finding(c, i)));
        json_t *o = json_pack("{s:s, s:s, s:o, s:o}", "file", file, "format",
                              lg_checkpoint_format(c), "tensors", tensors, "findings", f);
        json_dumpf(o, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(o);
    } else {
        json_decref(tensors);
        for (size_t i = 0; st == LG_OK && i < lg_checkpoint_findings(c); i++)
            printf("  finding: %s\n", lg_checkpoint_finding(c, i));
    }
    if (st != LG_OK)
        print_error(as_json, file, st);
    lg_checkpoint_close(c);
    lg_backend_close(b);
    return st == LG_OK ? 0 : 1;
}

typedef struct {
    const char *file, *backend;
    const lg_open_options *opt;
    int as_json;
} inspect_args;

static int inspect_confined(void *arg)
{
    const inspect_args *a = arg;
    return inspect_run(a->file, a->backend, a->opt, a->as_json);
}

int hx_cmd_inspect(int argc, char **argv)
{
    static const struct option longs[] = {
        {"json", no_argument, 0, 'j'}, {"backend", required_argument, 0, 'b'},
        {"reader", required_argument, 0, 'r'}, {"key", required_argument, 0, 'k'},
        {"crc", required_argument, 0, 'c'},    {"help", no_argument, 0, 'h'},
        {"trust-code", no_argument, 0, 'T'},   {0, 0, 0, 0}};
    int as_json = 0, c;
    const char *backend = default_backend();
    lg_open_options oo = {.reader = NULL};
    optind = 1;
    while ((c = getopt_long(argc, argv, "hjb:r:k:c:", longs, NULL)) != -1) {
        switch (c) {
        case 'j': as_json = 1; break;
        case 'b': backend = optarg; break;
        case 'r': oo.reader = optarg; break;
        case 'k': oo.key = optarg; break;
        case 'T': oo.trust_code = 1; break;
        case 'c':
            if (!crc_valid(optarg))
                return usage_error("inspect", inspect_usage, "unknown crc mode '%s'", optarg);
            oo.crc = optarg;
            break;
        case 'h': fputs(inspect_usage, stdout); return 0;
        default: fputs(inspect_usage, stderr); return 2;
        }
    }
    if (optind != argc - 1)
        return usage_error("inspect", inspect_usage, "%s", "expected exactly one CHECKPOINT");
    if (oo.trust_code) {
        inspect_args a = {argv[optind], backend, &oo, as_json};
        return hx_sandbox_run("inspect", inspect_confined, &a);
    }
    return inspect_run(argv[optind], backend, &oo, as_json);
}

/* ------------------------------------------------------------------- load */

static const char load_usage[] =
    "usage: harness load CHECKPOINT --device D [--backend sim|torch]\n"
    "                    [--policy via-cpu|staged|direct|auto] [--dtype-rule adopt|strict]\n"
    "                    [--reader NAME] [--staging-budget BYTES] [--trace] [--json]\n"
    "                    [--key PATH] [--crc error|warn|off] [--trust-code]\n"
    "  Builds a mirror store (one variable per tensor, filled with a known\n"
    "  pattern) on D, loads CHECKPOINT into it and checks the invariants.\n"
    "  --key, --crc and --trust-code as for inspect. Exit 0 if it loaded and every invariant\n"
    "  held, 1 if not, 2 for usage.\n";

void *hx_trace_json(const lg_trace *t)
{
    json_t *a = json_array();
    char f[LG_DEVICE_NAME_MAX], to[LG_DEVICE_NAME_MAX];
    for (size_t i = 0; i < lg_trace_count(t); i++) {
        const lg_event *e = lg_trace_event(t, i);
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:b}", "seq", (json_int_t)e->seq,
                              "op", lg_op_name(e->op), "tensor", e->tensor, "from",
                              lg_device_format(e->from, f), "to", lg_device_format(e->to, to),
                              "bytes", (json_int_t)e->bytes, "ok", e->ok);
        if (e->detail[0])
            json_object_set_new(o, "detail", json_string(e->detail));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *load_json(const hx_outcome *o, const char *file, const char *backend,
                         const lg_load_options *opt, int with_trace)
{
    char a[LG_DEVICE_NAME_MAX], b[LG_DEVICE_NAME_MAX];
    json_t *inv = json_object();
    for (int i = 0; i < HX_INV_COUNT; i++)
        json_object_set_new(inv, hx_inv_name((hx_inv)i), json_string(hx_verdict_name(o->inv[i])));
    json_t *why = json_object();
    for (int i = 0; i < HX_INV_COUNT; i++)
        if (o->inv[i] == HX_FAIL)
            json_object_set_new(why, hx_inv_name((hx_inv)i), json_string(o->why[i]));
    /* messages may quote bytes of a broken file that are not UTF-8 */
    json_t *j = json_pack("{s:o, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "file",
        hx_json_str(file), "status", lg_status_name(o->status), "message",
        hx_json_str(o->message), "device_before",
        lg_device_format(o->before, a), "device_after", lg_device_format(o->after, b), "policy",
        lg_policy_name(opt->policy), "policy_used", lg_policy_name(o->policy_used), "backend",
        backend, "dtype_rule", lg_dtype_rule_name(opt->dtype_rule), "invariants", inv,
        "invariant_failures", why);
    json_object_set_new(j, "stats", json_pack("{s:I, s:I, s:I}", "tensors",
        (json_int_t)o->stats.tensors_loaded, "bytes", (json_int_t)o->stats.bytes_loaded,
        "staging_peak_bytes", (json_int_t)o->stats.staging_peak_bytes));
    if (with_trace)
        json_object_set_new(j, "trace", hx_trace_json(o->trace));
    return j;
}

static void load_print(const hx_outcome *o, const lg_load_options *opt, int with_trace)
{
    char a[LG_DEVICE_NAME_MAX], b[LG_DEVICE_NAME_MAX];
    if (o->status == LG_OK)
        printf("loaded %zu tensors (%llu bytes) via %s\n", o->stats.tensors_loaded,
               (unsigned long long)o->stats.bytes_loaded, lg_policy_name(o->policy_used));
    else
        printf("%s: %s\n", lg_status_name(o->status), o->message);
    printf("device: %s -> %s\ninvariants:", lg_device_format(o->before, a),
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
    (void)opt;
}

typedef struct {
    hx_load_req *q;
    const char *backend;
    int as_json, with_trace;
} load_args;

static int load_run(load_args *a);
static int load_confined(void *arg);

int hx_cmd_load(int argc, char **argv)
{
    static const struct option longs[] = {
        {"json", no_argument, 0, 'j'},           {"trace", no_argument, 0, 't'},
        {"device", required_argument, 0, 'd'},   {"backend", required_argument, 0, 'b'},
        {"policy", required_argument, 0, 'p'},   {"dtype-rule", required_argument, 0, 'r'},
        {"reader", required_argument, 0, 'R'},   {"staging-budget", required_argument, 0, 's'},
        {"key", required_argument, 0, 'k'},     {"crc", required_argument, 0, 'c'},
        {"help", no_argument, 0, 'h'},           {"trust-code", no_argument, 0, 'T'},
        {0, 0, 0, 0}};
    int as_json = 0, with_trace = 0, c;
    const char *backend = "sim", *device = NULL;
    hx_load_req q = {0};
    lg_load_options_init(&q.opt);
    optind = 1;
    while ((c = getopt_long(argc, argv, "hjtd:b:p:r:R:s:k:c:", longs, NULL)) != -1) {
        switch (c) {
        case 'j': as_json = 1; break;
        case 't': with_trace = 1; break;
        case 'd': device = optarg; break;
        case 'b': backend = optarg; break;
        case 'p':
            if (lg_policy_parse(optarg, &q.opt.policy) != LG_OK)
                return usage_error("load", load_usage, "unknown policy '%s'", optarg);
            break;
        case 'r':
            if (lg_dtype_rule_parse(optarg, &q.opt.dtype_rule) != LG_OK)
                return usage_error("load", load_usage, "unknown dtype rule '%s'", optarg);
            break;
        case 'R': q.opt.reader = optarg; break;
        case 'k': q.opt.key = optarg; break;
        case 'T': q.opt.trust_code = 1; break;
        case 'c':
            if (!crc_valid(optarg))
                return usage_error("load", load_usage, "unknown crc mode '%s'", optarg);
            q.opt.crc = optarg;
            break;
        case 's': q.opt.staging_budget = strtoull(optarg, NULL, 10); break;
        case 'h': fputs(load_usage, stdout); return 0;
        default: fputs(load_usage, stderr); return 2;
        }
    }
    if (optind != argc - 1)
        return usage_error("load", load_usage, "%s", "expected exactly one CHECKPOINT");
    if (!device)
        return usage_error("load", load_usage, "%s", "--device is required");
    if (lg_device_parse(device, &q.device) != LG_OK)
        return usage_error("load", load_usage, "unknown device '%s'", device);
    lg_status st = lg_backend_open(backend, &q.backend);
    if (st != LG_OK) {
        fprintf(stderr, "harness load: %s\n", lg_error_message());
        return st == LG_E_INVALID ? 2 : 1;
    }
    q.path = argv[optind];
    load_args a = {&q, backend, as_json, with_trace};
    int rc = q.opt.trust_code ? hx_sandbox_run("load", load_confined, &a) : load_run(&a);
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
        json_dumpf(j, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(j);
    } else {
        load_print(&o, &q->opt, a->with_trace);
    }
    hx_outcome_free(&o);
    return failed ? 1 : 0;
}

static int load_confined(void *arg) { return load_run(arg); }

/* --------------------------------------------------------------- fixtures */

static const char fixtures_usage[] =
    "usage: harness fixtures DIR\n"
    "  Writes the generated fixtures (deterministic: the same bytes on every\n"
    "  machine) into DIR, and prints their paths. The .ot archives are written\n"
    "  only when the torch backend is built.\n";

int hx_cmd_fixtures(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(fixtures_usage, stdout);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-')
        return usage_error("fixtures", fixtures_usage, "%s", "expected exactly one DIR");
    if (mkdir(argv[1], 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "harness fixtures: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    static const lg_dtype mixed[] = {LG_F32, LG_F16, LG_BF16, LG_I64, LG_I32, LG_I16,
                                     LG_I8, LG_U8, LG_BOOL, LG_F64};
    hx_gen g[6];
    for (int i = 0; i < 6; i++)
        hx_gen_init(&g[i]);
    g[0].shape[0] = g[0].shape[1] = 64, g[0].seed = 1;          /* small */
    g[1].ndtypes = 10, memcpy(g[1].dtypes, mixed, sizeof mixed), g[1].seed = 2; /* mixed */
    g[2].dtype = LG_F64, g[2].tensors = 2, g[2].seed = 3;       /* f64 */
    g[3].tensors = 256, g[3].ndim = 1, g[3].shape[0] = 4, g[3].seed = 4; /* many small */
    g[4].tensors = 2, g[4].ndim = 0, g[4].seed = 5;             /* scalars */
    g[5] = g[0], snprintf(g[5].format, sizeof g[5].format, "torch-archive"); /* .ot */
    int n = strstr(lg_backends_built(), "torch") ? 6 : 5, rc = 0;
    for (int i = 0; i < n; i++) {
        char name[256], path[4096];
        hx_gen_filename(&g[i], name, sizeof name);
        snprintf(path, sizeof path, "%s/%s", argv[1], name);
        lg_status st = hx_gen_write(&g[i], path);
        if (st != LG_OK) {
            fprintf(stderr, "harness fixtures: %s: %s %s\n", path, lg_status_name(st),
                    lg_error_message());
            rc = 1;
        } else
            printf("%s\n", path);
    }
    return rc;
}
