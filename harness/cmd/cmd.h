/* The harness subcommands. Each takes the arguments after `harness`
 * (argv[0] is the subcommand's name) and returns the exit code:
 * 0 passed/loaded, 1 failed, 2 bad usage or invalid case file. Each
 * answers --help (and -h) with its usage on stdout and exit 0. */
#ifndef HX_CMD_H
#define HX_CMD_H

#include "args.h" /* same folder: main.c includes this file by its path */
#include "loadgate/loadgate.h"

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
/* The backend of load and inspect when --backend is not given: "sim",
 * in every build (docs/cli.md). */
const char *hx_default_backend(void);
/* sim | torch */
int hx_backend_name_valid(const char *s);
/* auto, or a name lg_readers() lists */
int hx_reader_name_valid(const char *s);
/* Does backend b lack device d? Then "harness CMD: no such device: D; the
 * B backend has ..." on stderr and -1; else 0. */
struct lg_backend;
int hx_cmd_no_device(const char *cmd, struct lg_backend *b, lg_device d);
/* error | warn | off */
int hx_crc_mode_valid(const char *s);
/* sha256 of n bytes as hex into hex (65 bytes or more). */
/* sha256 of n bytes as 64 hex digits into hex (65 bytes). */
void hx_sha256_hex(const void *p, size_t n, char *hex);
/* A JSON array of the dims (jansson json_t *, as void * to keep jansson
 * out of this header). */
struct json_t;
/* The ids of s not given before among *seen (a JSON object, made on the
 * first call; the caller frees it): each one given again is reported on
 * stderr as FILE:LINE:COL with where it was first. How many were. */
int hx_cmd_ids_check(struct json_t **seen, const struct hx_suite *s);
struct json_t *hx_shape_json(int ndim, const int64_t *shape);

/* ------------------------------------------ CLI conventions (docs/cli.md) */
/* The exit code of a run or list whose selection (-k, --shard) leaves no
 * case: pytest's 5. */
#define HX_EXIT_NO_CASES 5
/* The values option NAME (a long name, no dashes) takes, for an error
 * message: "cpu, cuda, cuda:N, mps"; "" when any value goes. */
const char *hx_cmd_allowed(const char *option);
/* "harness CMD: -X/--NAME: bad value 'V' (allowed: ...)" and the usage on
 * stderr, for the option of a->opts with this id; returns 2, for
 * `return hx_cmd_bad_value(&a, id, a.value)`. */
int hx_cmd_bad_value(hx_args *a, int id, const char *value);
/* rc when selected > 0; else HX_EXIT_NO_CASES with "harness CMD: no case
 * selected" (naming the -k pattern) on stderr. */
int hx_cmd_selection_rc(const char *cmd, size_t selected, const char *pattern, int rc);
/* fn(argc', argv') where every positional of argv that is a folder is
 * replaced by its *.yaml files, sorted (case/dir.h); opts tells option
 * values from positionals, and `--` ends the options. A folder with no
 * case file, or one that cannot be read: 2, with the error on stderr. */
int hx_cmd_with_case_dirs(int (*fn)(int, char **), const char *cmd, const hx_opt *opts, int argc,
                          char **argv);
/* cmd/inspect_meta.c, for inspect --json: "metadata", a safetensors
 * file's __metadata__ as an object of strings ({} when it has none; null
 * for another format), and "records", a zip checkpoint's record names in
 * central directory order (torch.save's archive/data.pkl, archive/data/0,
 * ...; null for a file that is no zip). Read from the file's bytes. */
struct json_t *hx_inspect_metadata(const char *path, const char *format);
struct json_t *hx_inspect_records(const char *path);
/* Do the first bytes say checkpoint (zip, pickle, safetensors)? */
int hx_cmd_is_checkpoint(const char *path);
/* For a checkpoint given as a case file: "PATH: this is a checkpoint, not
 * a case file; try `harness inspect PATH`" on stderr and -1; else 0. */
int hx_cmd_not_a_checkpoint(const char *path);
#endif
