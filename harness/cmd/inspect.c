/* harness inspect: the format and every tensor of a checkpoint (name,
 * dtype, shape, bytes, sha256). */
#include "cmd/args.h"
#include "cmd/cmd.h"
#include "loadgate/loadgate.h"
#include "util/json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    "  The backend is sim unless --backend torch is given (as for load); the\n"
    "  first line names it. .ot and TorchScript files are read natively\n"
    "  (torchscript-data: data.pkl only, no code run), by libtorch with\n"
    "  --backend torch.\n"
    "  Exit 0, or 1 if the file cannot be read.\n";

static void print_error(int as_json, const char *file, lg_status st)
{
    if (as_json) {
        json_t *o = json_pack("{s:o, s:s, s:o}", "file", hx_json_str(file), "status",
                              lg_status_name(st), "message", hx_json_str(lg_error_message()));
        if (hx_json_dumpf(o, stdout, JSON_INDENT(2)) == 0)
            putchar('\n');
        else /* out of memory: the message goes to stderr */
            fprintf(stderr, "%s: %s\n", lg_status_name(st), lg_error_message());
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
    int oom = 0;
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
        printf("%s: %s, %zu tensors (backend %s)\n", file, lg_checkpoint_format(c),
               lg_checkpoint_count(c), backend);
    for (size_t i = 0; i < lg_checkpoint_count(c) && st == LG_OK; i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        unsigned char *buf = malloc(t->nbytes ? (size_t)t->nbytes : 1);
        char hex[65] = "";
        st = buf ? lg_checkpoint_read(c, i, buf, (size_t)t->nbytes) : LG_E_NOMEM;
        if (st == LG_OK)
            hx_sha256_hex(buf, (size_t)t->nbytes, hex);
        free(buf);
        /* names and paths may hold bytes that are not UTF-8: hx_json_str
         * keeps them (escaped), where "s" would drop the whole entry */
        if (as_json) {
            if (json_array_append_new(tensors, json_pack("{s:o, s:s, s:o, s:I, s:s}", "name",
                    hx_json_str(t->name), "dtype", lg_dtype_name(t->dtype), "shape",
                    hx_shape_json(t->ndim, t->shape), "bytes", (json_int_t)t->nbytes,
                    "sha256", hex)) != 0 && st == LG_OK)
                st = LG_E_NOMEM;
        } else if (st == LG_OK) /* else the error, not a line without its sha256 */
            print_tensor_line(stdout, t, hex);
    }
    if (st == LG_OK && as_json) {
        json_t *f = json_array();
        for (size_t i = 0; i < lg_checkpoint_findings(c); i++)
            json_array_append_new(f, hx_json_str(lg_checkpoint_finding(c, i)));
        json_t *o = json_pack("{s:o, s:s, s:s, s:o, s:o, s:o, s:o}", "file", hx_json_str(file),
                              "format", lg_checkpoint_format(c), "backend", backend, "tensors",
                              tensors, "findings", f, "metadata",
                              hx_inspect_metadata(file, lg_checkpoint_format(c)), "records",
                              hx_inspect_records(file));
        if (hx_json_dumpf(o, stdout, JSON_INDENT(2)) == 0)
            putchar('\n');
        else
            oom = 1;
        json_decref(o);
    } else {
        json_decref(tensors);
        for (size_t i = 0; st == LG_OK && i < lg_checkpoint_findings(c); i++)
            printf("  finding: %s\n", lg_checkpoint_finding(c, i));
    }
    if (st != LG_OK)
        print_error(as_json, file, st);
    if (oom)
        fprintf(stderr, "harness inspect: %s: out of memory writing the JSON\n", file);
    lg_checkpoint_close(c);
    lg_backend_close(b);
    return st == LG_OK && !oom ? 0 : 1;
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

enum { O_JSON = 1, O_BACKEND, O_READER, O_KEY, O_CRC, O_TRUST };

int hx_cmd_inspect(int argc, char **argv)
{
    static const hx_opt opts[] = {
        {"json", 'j', 0, O_JSON}, {"backend", 'b', 1, O_BACKEND}, {"reader", 'r', 1, O_READER},
        {"key", 'k', 1, O_KEY},   {"crc", 'c', 1, O_CRC},         {"trust-code", 0, 0, O_TRUST},
        {NULL, 0, 0, 0}};
    int as_json = 0, id;
    const char *backend = hx_default_backend();
    lg_open_options oo = {.reader = NULL};
    hx_args a;
    hx_args_init(&a, "inspect", inspect_usage, opts, argc, argv);
    while ((id = hx_args_next(&a)) > 0) {
        switch (id) {
        case O_JSON: as_json = 1; break;
        case O_BACKEND:
            if (!hx_backend_name_valid(a.value))
                return hx_cmd_bad_value(&a, id, a.value);
            backend = a.value;
            break;
        case O_READER:
            if (!hx_reader_name_valid(a.value))
                return hx_cmd_bad_value(&a, id, a.value);
            oo.reader = a.value;
            break;
        case O_KEY: oo.key = a.value; break;
        case O_TRUST: oo.trust_code = 1; break;
        case O_CRC:
            if (!hx_crc_mode_valid(a.value))
                return hx_cmd_bad_value(&a, id, a.value);
            oo.crc = a.value;
            break;
        }
    }
    if (id == HX_ARGS_EXIT)
        return a.exit_code;
    if (hx_args_count(&a) != 1)
        return hx_args_error(&a, "expected exactly one CHECKPOINT");
    const char *file = argv[a.next];
    if (oo.trust_code) {
        inspect_args ia = {file, backend, &oo, as_json};
        return hx_cmd_confined("inspect", inspect_confined, &ia);
    }
    return inspect_run(file, backend, &oo, as_json);
}
