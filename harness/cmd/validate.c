/* harness validate: checks case files; every error as file:line:col:
 * message on stderr. */
#include "case/case.h"
#include "cmd/args.h"
#include "cmd/cmd.h"

#include <stdio.h>

static const char validate_usage[] =
    "usage: harness validate [-q] FILE.yaml...\n"
    "\n"
    "Checks case files and prints every error as file:line:col: message on\n"
    "stderr; for a valid file, prints FILE: N cases on stdout (not with -q).\n"
    "exit: 0 when every file is valid, 2 otherwise\n";

int hx_cmd_suite_load(const char *path, const char *fixture_dir, hx_suite *out)
{
    hx_case_errors e;
    lg_status st = hx_suite_load(path, fixture_dir, out, &e);
    for (size_t i = 0; i < e.n; i++)
        fprintf(stderr, "%s\n", e.line[i]);
    if (st != LG_OK && !e.n)
        fprintf(stderr, "%s: out of memory\n", path);
    hx_case_errors_free(&e);
    return st == LG_OK ? 0 : -1;
}

enum { O_QUIET = 1 };

int hx_cmd_validate(int argc, char **argv)
{
    static const hx_opt opts[] = {{"quiet", 'q', 0, O_QUIET}, {NULL, 0, 0, 0}};
    int quiet = 0, rc = 0, id;
    hx_args a;
    hx_args_init(&a, "validate", validate_usage, opts, argc, argv);
    while ((id = hx_args_next(&a)) > 0)
        if (id == O_QUIET)
            quiet = 1;
    if (id == HX_ARGS_EXIT)
        return a.exit_code;
    if (hx_args_count(&a) == 0)
        return hx_args_error(&a, "no case file given");
    for (int f = a.next; f < argc; f++) {
        hx_suite s;
        if (hx_cmd_suite_load(argv[f], NULL, &s)) {
            rc = 2;
            continue;
        }
        if (!quiet)
            printf("%s: %zu cases\n", argv[f], s.ncases);
        hx_suite_free(&s);
    }
    return rc;
}
