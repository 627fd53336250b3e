/* The option parser of every subcommand (args.h). */
#include "cmd/args.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGS_MAX 48
#define ID_HELP (-2)

void hx_args_init(hx_args *a, const char *cmd, const char *usage, const hx_opt *opts, int argc,
                  char **argv)
{
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    a->usage = usage;
    a->opts = opts;
    a->argc = argc;
    a->argv = argv;
    optind = 0; /* a full reset of getopt's state (GNU) */
#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
    optreset = 1; /* the BSDs' reset (their getopt_long also takes optind = 0) */
#endif
}

int hx_args_error(hx_args *a, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "harness %s: ", a->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", a->usage);
    return a->exit_code = 2;
}

/* The getopt_long tables for a->opts, plus --help/-h. */
static void tables(const hx_args *a, struct option *longs, char *shorts)
{
    size_t k = 0, s = 0;
    shorts[s++] = ':'; /* a missing value is reported as ':' */
    shorts[s++] = 'h';
    for (const hx_opt *o = a->opts; o && o->name && k < ARGS_MAX - 2; o++, k++) {
        longs[k] = (struct option){o->name, o->has_arg ? required_argument : no_argument, NULL,
                                   256 + (int)k};
        if (o->short_name) {
            shorts[s++] = (char)o->short_name;
            if (o->has_arg)
                shorts[s++] = ':';
        }
    }
    longs[k++] = (struct option){"help", no_argument, NULL, 'h'};
    longs[k] = (struct option){NULL, 0, NULL, 0};
    shorts[s] = '\0';
}

static int id_of(const hx_args *a, int c)
{
    if (c == 'h')
        return ID_HELP;
    if (c >= 256)
        return a->opts[c - 256].id;
    for (const hx_opt *o = a->opts; o && o->name; o++)
        if (o->short_name == c)
            return o->id;
    return 0;
}

int hx_args_next(hx_args *a)
{
    struct option longs[ARGS_MAX];
    char shorts[2 * ARGS_MAX + 2];
    tables(a, longs, shorts);
    opterr = 0;
    int c = getopt_long(a->argc, a->argv, shorts, longs, NULL);
    a->value = optarg;
    if (c == -1) {
        a->next = optind;
        return HX_ARGS_END;
    }
    const char *bad = optind > 0 && optind <= a->argc ? a->argv[optind - 1] : "?";
    if (c == ':')
        return hx_args_error(a, "option '%s' needs a value", bad), HX_ARGS_EXIT;
    int id = c == '?' ? 0 : id_of(a, c);
    if (id == ID_HELP) {
        fputs(a->usage, stdout);
        a->exit_code = 0;
        return HX_ARGS_EXIT;
    }
    if (id <= 0) {
        if (optopt && optopt < 256)
            return hx_args_error(a, "unknown option '-%c'", optopt), HX_ARGS_EXIT;
        return hx_args_error(a, "unknown option '%s'", bad), HX_ARGS_EXIT;
    }
    return id;
}

int hx_args_count(const hx_args *a) { return a->argc - a->next; }

int hx_args_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}
