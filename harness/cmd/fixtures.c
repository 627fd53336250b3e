/* harness fixtures: the generated fixtures written into a folder. */
#include "cmd/args.h"
#include "cmd/cmd.h"
#include "fixture/gen.h"
#include "util/error.h"
#include "util/fs.h"

#include <stdio.h>
#include <string.h>

static const char fixtures_usage[] =
    "usage: harness fixtures DIR\n"
    "  Writes the generated fixtures (deterministic: the same bytes on every\n"
    "  machine) into DIR, and prints their paths. The .ot archives are written\n"
    "  only when the torch backend is built.\n";

int hx_cmd_fixtures(int argc, char **argv)
{
    static const hx_opt opts[] = {{NULL, 0, 0, 0}};
    hx_args a;
    hx_args_init(&a, "fixtures", fixtures_usage, opts, argc, argv);
    if (hx_args_next(&a) == HX_ARGS_EXIT)
        return a.exit_code;
    if (hx_args_count(&a) != 1)
        return hx_args_error(&a, "expected exactly one DIR");
    const char *dir = argv[a.next];
    if (hx_mkdirs(dir) != LG_OK) {
        fprintf(stderr, "harness fixtures: %s\n", hx_errmsg());
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
        snprintf(path, sizeof path, "%s/%s", dir, name);
        lg_status st = hx_gen_write(&g[i], path);
        if (st != LG_OK) {
            fprintf(stderr, "harness fixtures: %s: %s %s\n", path, lg_status_name(st),
                    hx_errmsg());
            rc = 1;
        } else
            printf("%s\n", path);
    }
    return rc;
}

