/* The harness subcommands. Each takes the arguments after `harness`
 * (argv[0] is the subcommand's name) and returns the exit code:
 * 0 passed/loaded, 1 failed, 2 bad usage or invalid case file. Each
 * answers --help (and -h) with its usage on stdout and exit 0. */
#ifndef HX_CMD_H
#define HX_CMD_H

#include <stddef.h>
#include <stdint.h>

int hx_cmd_run(int argc, char **argv);      /* cmd/run.c */
int hx_cmd_list(int argc, char **argv);     /* cmd/list.c */
int hx_cmd_validate(int argc, char **argv); /* cmd/validate.c */
int hx_cmd_inspect(int argc, char **argv);  /* cmd/inspect.c */
int hx_cmd_load(int argc, char **argv);     /* cmd/load.c */
int hx_cmd_probe(int argc, char **argv);    /* cmd/probe.c */
int hx_cmd_fixtures(int argc, char **argv); /* cmd/fixtures.c */
int hx_cmd_merge(int argc, char **argv);    /* cmd/merge.c */
int hx_cmd_compare(int argc, char **argv);  /* cmd/compare.c */
/* Hidden: run one case in this process and print its outcome as JSON on
 * stdout (the `spawn` isolation mode's child). */
int hx_cmd_run_one(int argc, char **argv);

/* cmd/validate.c: loads a suite file (hx_suite_load), its errors printed
 * on stderr; 0, or -1 when it does not load. */
struct hx_suite;
int hx_cmd_suite_load(const char *path, const char *fixture_dir, struct hx_suite *out);


/* cmd/common.c: fn(arg) in a child that cannot change files (--trust-code,
 * run/sandbox.h): its exit code, or 1 with the reason on stderr after
 * "harness WHAT: ". */
int hx_cmd_confined(const char *what, int (*fn)(void *), void *arg);
/* "torch" when built, else "sim". */
const char *hx_default_backend(void);
/* error | warn | off */
int hx_crc_mode_valid(const char *s);
/* sha256 of n bytes as hex into hex (65 bytes or more). */
void hx_sha256_hex(const void *p, size_t n, char *hex);
/* A JSON array of the dims (jansson json_t *, as void * to keep jansson
 * out of this header). */
struct json_t;
struct json_t *hx_shape_json(int ndim, const int64_t *shape);
#endif
