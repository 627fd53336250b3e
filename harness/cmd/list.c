/* harness list: the id of every case the files expand into, one a line,
 * in definition order. */
#include "case/case.h"
#include "cmd/args.h"
#include "cmd/cmd.h"
#include "util/error.h"

#include <stdio.h>

static const char list_usage[] =
    "usage: harness list FILE.yaml... [-k PATTERN] [--shard I/N]\n"
    "\n"
    "Prints the id of every case the files expand into, one a line, in\n"
    "definition order.\n"
    "  -k PATTERN    only cases whose id or a tag contains PATTERN or matches\n"
    "                it as a glob\n"
    "  --shard I/N   only the I-th of N shards (1-based; case k is in shard\n"
    "                k mod N + 1, counted over every file before -k)\n"
    "exit: 0, or 2 when a file does not validate (errors on stderr)\n";

enum { O_PATTERN = 1, O_SHARD };

int hx_cmd_list(int argc, char **argv)
{
    static const hx_opt opts[] = {
        {"pattern", 'k', 1, O_PATTERN}, {"shard", 0, 1, O_SHARD}, {NULL, 0, 0, 0}};
    const char *pattern = NULL;
    int shard_i = 0, shard_n = 0, rc = 0, id;
    hx_args a;
    hx_args_init(&a, "list", list_usage, opts, argc, argv);
    while ((id = hx_args_next(&a)) > 0) {
        if (id == O_PATTERN) {
            pattern = a.value;
        } else if (hx_shard_parse(a.value, &shard_i, &shard_n) != LG_OK) {
            fprintf(stderr, "harness list: %s\n", hx_errmsg());
            return 2;
        }
    }
    if (id == HX_ARGS_EXIT)
        return a.exit_code;
    if (hx_args_count(&a) == 0)
        return hx_args_error(&a, "no case file given");
    size_t index = 0;
    for (int f = a.next; f < argc; f++) {
        hx_suite s;
        if (hx_cmd_suite_load(argv[f], NULL, &s)) {
            rc = 2;
            continue;
        }
        for (size_t i = 0; i < s.ncases; i++, index++)
            if (hx_case_selected(&s.cases[i], index, pattern, shard_i, shard_n))
                printf("%s\n", s.cases[i].id);
        hx_suite_free(&s);
    }
    if (fflush(stdout) != 0)
        rc = 2;
    return rc;
}
