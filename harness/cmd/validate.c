/* harness validate: checks case files; every error as file:line:col:
 * message on stderr. */
#include "case/case.h"
#include "cmd/args.h"
#include "cmd/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char validate_usage[] =
    "usage: harness validate [-q] FILE.yaml|DIR...\n"
    "\n"
    "Checks case files and prints every error as file:line:col: message on\n"
    "stderr; for a valid file, prints FILE: N cases on stdout (not with -q).\n"
    "Every fixture given by path must exist and open for reading. A DIR\n"
    "stands for its *.yaml files, sorted.\n"
    "exit: 0 when every file is valid, 2 otherwise\n";

int hx_cmd_suite_load(const char *path, const char *fixture_dir, hx_suite *out)
{
    hx_case_errors e;
    if (hx_cmd_not_a_checkpoint(path))
        return -1;
    lg_status st = hx_suite_load(path, fixture_dir, out, &e);
    for (size_t i = 0; i < e.n; i++)
        fprintf(stderr, "%s\n", e.line[i]);
    if (st != LG_OK && !e.n)
        fprintf(stderr, "%s: out of memory\n", path);
    hx_case_errors_free(&e);
    return st == LG_OK ? 0 : -1;
}

/* Can the fixture at path be opened for reading? 0, or -1 with the
 * reason in why. Reads nothing, writes nothing. */
static int fixture_opens(const char *path, char *why, size_t n)
{
    struct stat st;
    /* O_NONBLOCK: a FIFO nobody writes must not hang validate */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return snprintf(why, n, "%s", strerror(errno)), -1;
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    if (!ok)
        return snprintf(why, n, "not a regular file"), -1;
    return 0;
}

/* Every case's file given by path: one error per distinct path that does
 * not open, as file:line:col: message. The number of such paths. */
static int check_fixtures(const hx_suite *s)
{
    int bad = 0;
    for (size_t i = 0; i < s->ncases; i++) {
        const hx_case *c = &s->cases[i];
        char why[256];
        int seen = 0;
        if (c->file.kind != HX_FILE_PATH || !c->file.path)
            continue;
        for (size_t k = 0; k < i && !seen; k++)
            seen = s->cases[k].file.kind == HX_FILE_PATH && s->cases[k].file.path &&
                   !strcmp(s->cases[k].file.path, c->file.path);
        if (seen || !fixture_opens(c->file.path, why, sizeof why))
            continue;
        fprintf(stderr, "%s:%d:%d: fixture '%s': %s: %s\n", c->src ? c->src : s->path, c->line,
                c->col, c->file.name ? c->file.name : "inline", c->file.path, why);
        bad++;
    }
    return bad;
}

enum { O_QUIET = 1 };

static const hx_opt validate_opts[] = {{"quiet", 'q', 0, O_QUIET}, {NULL, 0, 0, 0}};

static int validate_main(int argc, char **argv);

int hx_cmd_validate(int argc, char **argv)
{
    return hx_cmd_with_case_dirs(validate_main, "validate", validate_opts, argc, argv);
}

static int validate_main(int argc, char **argv)
{
    const hx_opt *opts = validate_opts;
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
        if (check_fixtures(&s)) {
            rc = 2;
            hx_suite_free(&s);
            continue;
        }
        if (!quiet)
            printf("%s: %zu cases\n", argv[f], s.ncases);
        hx_suite_free(&s);
    }
    return rc;
}
