/* harness fixtures: the generated fixtures written into a folder, the
 * standard set or those of a suite (--suite). */
#include "case/case.h"
#include "cmd/args.h"
#include "cmd/cmd.h"
#include "fixture/cache.h"
#include "fixture/gen.h"
#include "util/error.h"
#include "util/fs.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static const char fixtures_usage[] =
    "usage: harness fixtures [--suite FILE.yaml] DIR\n"
    "  Writes the generated fixtures (deterministic: the same bytes on every\n"
    "  machine) into DIR, and prints their paths. The .ot archives are written\n"
    "  only when the torch backend is built.\n"
    "\n"
    "  --suite FILE.yaml  the fixtures the cases of FILE.yaml generate, each\n"
    "                     under the name a run gives it, instead of the\n"
    "                     standard set (files a suite names by path are its own)\n";

/* --suite: every generated fixture of the suite at path, once each. */
static int suite_fixtures(const char *path, const char *dir)
{
    hx_suite s;
    char out[PATH_MAX + 256];
    int rc = 0;
    if (hx_cmd_suite_load(path, dir, &s))
        return 1;
    json_t *seen = json_object();
    for (size_t i = 0; seen && i < s.ncases; i++) {
        const hx_file *f = &s.cases[i].file;
        if (f->kind != HX_FILE_GENERATE)
            continue;
        lg_status st = hx_fixture_prepare(f, dir, out, sizeof out);
        if (st != LG_OK) /* said once per fixture */
            snprintf(out, sizeof out, "!%s: %s", f->name ? f->name : "inline", hx_errmsg());
        if (json_object_get(seen, out))
            continue;
        json_object_set_new(seen, out, json_true());
        if (st == LG_E_BACKEND) { /* as the standard set leaves out .ot files */
            fprintf(stderr, "harness fixtures: %s: fixture %s left out\n", path, out + 1);
        } else if (st != LG_OK) {
            fprintf(stderr, "harness fixtures: %s: fixture %s\n", path, out + 1);
            rc = 1;
        } else {
            printf("%s\n", out);
        }
    }
    if (!seen) {
        fprintf(stderr, "harness fixtures: out of memory\n");
        rc = 1;
    }
    json_decref(seen);
    hx_suite_free(&s);
    return rc;
}

int hx_cmd_fixtures(int argc, char **argv)
{
    static const hx_opt opts[] = {{"suite", 0, 1, 1}, {NULL, 0, 0, 0}};
    const char *suite = NULL;
    hx_args a;
    int id;
    hx_args_init(&a, "fixtures", fixtures_usage, opts, argc, argv);
    while ((id = hx_args_next(&a)) > 0)
        suite = a.value;
    if (id == HX_ARGS_EXIT)
        return a.exit_code;
    if (hx_args_count(&a) != 1)
        return hx_args_error(&a, "expected exactly one DIR");
    const char *dir = argv[a.next];
    if (hx_mkdirs(dir) != LG_OK) {
        fprintf(stderr, "harness fixtures: %s\n", hx_errmsg());
        return 1;
    }
    if (suite)
        return suite_fixtures(suite, dir);
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

