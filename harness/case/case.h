/* The case language (../shared/CASES.md, docs/cases.md): a suite file
 * parsed with libyaml and expanded into concrete cases. */
#ifndef HX_CASE_H
#define HX_CASE_H

#include "corrupt/corrupt.h"
#include "fixture/gen.h"
#include "invariants.h"
#include "mirror.h"

#include <stdio.h>

typedef enum { HX_FILE_NONE, HX_FILE_GENERATE, HX_FILE_PATH } hx_file_kind;

typedef struct {
    hx_file_kind kind;
    char *name;        /* fixture name, or "inline" */
    char *path;        /* HX_FILE_PATH: resolved against the case file's folder */
    hx_gen gen;        /* HX_FILE_GENERATE */
} hx_file;

typedef enum { HX_SWEEP_NONE, HX_SWEEP_TRANSIENT, HX_SWEEP_PERSISTENT } hx_sweep;

typedef struct {
    char point[32];
    lg_fault_schedule s;
    hx_sweep sweep;    /* the runner turns a sweep into nth (transient) or from (persistent) */
} hx_fault;

typedef struct {
    lg_device device;
    char *key, *value;
} hx_sim_override;

typedef enum { HX_EXPECT_OK, HX_EXPECT_ERROR, HX_EXPECT_ANY } hx_outcome_kind;

typedef struct {
    hx_outcome_kind outcome;   /* default ok */
    int has_error;
    lg_status error;
    char *message;             /* substring; NULL = any */
    int has_invariants;        /* 0: every one that applies */
    int invariants[HX_INV_COUNT]; /* 1 = check it */
} hx_expect;

typedef struct {
    char *key, *value;
} hx_param;

typedef struct {
    char *id;          /* suite/name[k=v,...] */
    char *suite, *name;
    hx_param *params;  /* the expanded keys, in id order */
    size_t nparams;
    const char *src;   /* case file */
    int line;          /* 1-based line of the case in it */

    char backend[8];   /* sim | torch */
    lg_device device;
    lg_policy policy;
    lg_dtype_rule dtype_rule;
    char *reader;      /* NULL = auto */
    char *key;         /* sub-tree of a nested checkpoint (`key:`); NULL = all */
    char crc[8];       /* `crc:` error | warn | off; "" = error */
    hx_file file;
    hx_store_spec store;
    hx_corrupt corrupt;
    hx_fault *faults;
    size_t nfaults;
    hx_sim_override *sim;
    size_t nsim;
    char **requires;
    size_t nrequires;
    char *skip, *xfail;
    double timeout;    /* seconds; default 10 */
    char **tags;
    size_t ntags;
    hx_expect expect;
    char *description; /* free text; NULL if none */
    uint64_t staging_budget; /* lg_load_options.staging_budget; default 0 */
    int col;           /* 1-based column of the case in src */
    int probe;         /* `probe: true`: no store; the file's first tensor is
                          deserialized straight onto device (hx_load_req.probe_only) */
} hx_case;

typedef struct {
    char *path;
    char *suite, *description;
    hx_case *cases;
    size_t ncases;
} hx_suite;

/* Parse and expand a suite file. On error returns -1 and writes
 * "file:line:col: message" lines to err (all errors found). Equivalent to
 * hx_suite_load_ex(path, NULL, out, err). */
int hx_suite_load(const char *path, hx_suite *out, FILE *err);
/* fixture_dir: where generated fixtures are written when the expansion
 * needs a file's size (corrupt: truncate: every, flip every_byte/every_bit);
 * NULL = hx_fixture_dir_default(). */
int hx_suite_load_ex(const char *path, const char *fixture_dir, hx_suite *out, FILE *err);
void hx_suite_free(hx_suite *s);
/* $LOADGATE_FIXTURE_DIR, else $TMPDIR/loadgate-fixtures, else
 * /tmp/loadgate-fixtures. */
void hx_fixture_dir_default(char *buf, size_t n);

/* Deep copy (src stays borrowed) and free of one case. hx_case_copy
 * returns 0, or -1 when out of memory (dst is then freed and zeroed). */
int hx_case_copy(hx_case *dst, const hx_case *src);
void hx_case_free(hx_case *c);

/* Case selection shared by `run` and `list`. index is the case's position
 * in the full expanded list (every file on the command line, in order,
 * before -k filtering). pattern NULL or "": every case; else the case is
 * selected when pattern is a substring of its id or of one of its tags, or
 * a glob (fnmatch) matching part of its id or of one of its tags (as if
 * written *PATTERN*). shard_n <= 1: no sharding; else the case is in shard
 * shard_i (1-based) when index % shard_n == shard_i - 1. Returns 1 if
 * selected. */
int hx_case_selected(const hx_case *c, size_t index, const char *pattern, int shard_i,
                     int shard_n);
/* Parses "I/N" with 1 <= I <= N; 0 on success, -1 otherwise. */
int hx_shard_parse(const char *s, int *shard_i, int *shard_n);
#endif
