/* harness list: the id of every case the files expand into, one a line,
 * in definition order. */
#include "case/case.h"
#include "cmd/args.h"
#include "cmd/cmd.h"
#include "util/error.h"

#include <jansson.h>
#include <stdio.h>

static const char list_usage[] =
    "usage: harness list FILE.yaml|DIR... [-k PATTERN] [--shard I/N]\n"
    "\n"
    "Prints the id of every case the files expand into, one a line, in\n"
    "definition order.\n"
    "  -k PATTERN    only cases whose id or a tag contains PATTERN or matches\n"
    "                it as a glob\n"
    "  --shard I/N   only the I-th of N shards (1-based; case k is in shard\n"
    "                k mod N + 1, counted over every file before -k)\n"
    "A DIR stands for its *.yaml files, sorted.\n"
    "exit: 0; 2 when a file does not validate (errors on stderr); 5 when\n"
    "      -k or --shard selects no case\n";

enum { O_PATTERN = 1, O_SHARD };

static const hx_opt list_opts[] = {
    {"pattern", 'k', 1, O_PATTERN}, {"shard", 0, 1, O_SHARD}, {NULL, 0, 0, 0}};

static int list_main(int argc, char **argv);

int hx_cmd_list(int argc, char **argv)
{
    return hx_cmd_with_case_dirs(list_main, "list", list_opts, argc, argv);
}

static int list_main(int argc, char **argv)
{
    const hx_opt *opts = list_opts;
    const char *pattern = NULL;
    int shard_i = 0, shard_n = 0, rc = 0, id;
    hx_args a;
    hx_args_init(&a, "list", list_usage, opts, argc, argv);
    while ((id = hx_args_next(&a)) > 0) {
        if (id == O_PATTERN) {
            pattern = a.value;
        } else if (hx_shard_parse(a.value, &shard_i, &shard_n) != LG_OK) {
            return hx_cmd_bad_value(&a, id, a.value);
        }
    }
    if (id == HX_ARGS_EXIT)
        return a.exit_code;
    if (hx_args_count(&a) == 0)
        return hx_args_error(&a, "no case file given");
    size_t index = 0, selected = 0;
    json_t *ids = NULL;
    for (int f = a.next; f < argc; f++) {
        hx_suite s;
        if (hx_cmd_suite_load(argv[f], NULL, &s)) {
            rc = 2;
            continue;
        }
        if (hx_cmd_ids_check(&ids, &s))
            rc = 2;
        for (size_t i = 0; i < s.ncases; i++, index++)
            if (hx_case_selected(&s.cases[i], index, pattern, shard_i, shard_n)) {
                printf("%s\n", s.cases[i].id);
                selected++;
            }
        hx_suite_free(&s);
    }
    json_decref(ids);
    if (fflush(stdout) != 0)
        rc = 2;
    return rc ? rc : hx_cmd_selection_rc("list", selected, pattern, rc);
}
