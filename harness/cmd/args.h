/* One option parser for every subcommand, as libgit2's examples/args.c:
 * getopt_long over a table, with --help/-h, unknown options and usage
 * errors handled the same way everywhere. Only the command layer (cmd/)
 * uses it, and only it prints. */
#ifndef HX_ARGS_H
#define HX_ARGS_H

#include <stdint.h>

typedef struct {
    const char *name; /* long name, without "--" */
    int short_name;   /* a letter, or 0 */
    int has_arg;      /* 1: takes a value (--name V, --name=V, -x V) */
    int id;           /* what hx_args_next returns for it (> 0) */
} hx_opt;

enum {
    HX_ARGS_END = 0,   /* no more options: positionals are argv[a->next..] */
    HX_ARGS_EXIT = -1, /* --help printed (exit 0) or a usage error (exit 2):
                          return a->exit_code */
};

typedef struct {
    const char *cmd, *usage;
    const hx_opt *opts;
    int argc;
    char **argv;
    const char *value; /* the current option's value, or NULL */
    int next;          /* after HX_ARGS_END: the first positional */
    int exit_code;
} hx_args;

/* argv[0] is the subcommand's name; opts ends with a {NULL} entry. */
void hx_args_init(hx_args *a, const char *cmd, const char *usage, const hx_opt *opts, int argc,
                  char **argv);
/* The id of the next option, HX_ARGS_END or HX_ARGS_EXIT. */
int hx_args_next(hx_args *a);
/* Positionals left after HX_ARGS_END. */
int hx_args_count(const hx_args *a);
/* Prints "harness CMD: MESSAGE" and the usage on stderr; returns 2 (and
 * sets exit_code), for `return hx_args_error(&a, ...)`. */
int hx_args_error(hx_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whole-string unsigned decimal (0 on success, -1 otherwise). */
int hx_args_u64(const char *s, uint64_t *out);
#endif
