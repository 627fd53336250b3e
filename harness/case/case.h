/* The case language (../shared/CASES.md, docs/cases.md): a suite file
 * parsed with libyaml and expanded into concrete cases. */
#ifndef HX_CASE_H
#define HX_CASE_H

#include "corrupt/corrupt.h"
#include "fixture/cache.h"
#include "fixture/gen.h"
#include "invariants.h"
#include "mirror.h"

#include <stddef.h>

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

typedef struct hx_suite {
    char *path;
    char *suite, *description;
    hx_case *cases;
    size_t ncases;
} hx_suite;

/* The errors of a case file that does not load, each line
 * "file:line:col: message", in file order (a last line says when they were
 * cut short, or memory ran out). Data for the command layer to print. */
typedef struct {
    char **line;
    size_t n;
} hx_case_errors;

/* Parses and expands a suite file, finding every error it can.
 * fixture_dir: where generated fixtures are written when the expansion
 * needs a file's size (corrupt: truncate: every, flip every_byte/every_bit,
 * splice); NULL = hx_fixture_dir_default(). Returns LG_OK, or LG_E_FORMAT
 * (LG_E_NOMEM) with out empty, the lines in errs (when not NULL; free them
 * with hx_case_errors_free) and the first of them in hx_errmsg(). */
lg_status hx_suite_load(const char *path, const char *fixture_dir, hx_suite *out,
                        hx_case_errors *errs);
void hx_case_errors_free(hx_case_errors *e);
void hx_suite_free(hx_suite *s);

/* Deep copy (src stays borrowed) and free of one case. hx_case_copy
 * returns LG_OK, or LG_E_NOMEM (dst is then freed and zeroed). */
lg_status hx_case_copy(hx_case *dst, const hx_case *src);
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
/* Parses "I/N" with 1 <= I <= N: LG_OK, or LG_E_INVALID (hx_errmsg()). */
lg_status hx_shard_parse(const char *s, int *shard_i, int *shard_n);
#endif
