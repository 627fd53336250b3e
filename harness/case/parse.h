/* What the parts of the case-file reader share (case/ only; the public
 * interface is case/case.h). One load is one cf_ctx: the libyaml document,
 * the errors found so far, the fixtures and defaults of the suite, and the
 * cases emitted. Functions that check a value report each problem at its
 * node (cf_report) and go on, so that one run finds every error. */
#ifndef HX_CASE_PARSE_H
#define HX_CASE_PARSE_H

#include "case/case.h"

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

/* Limits that keep a hostile or mistaken file from hanging the harness. */
#define CF_MAX_NODES 1000000   /* nodes of the document, aliases expanded */
#define CF_MAX_VISITS 50000000 /* node visits while expanding every case, at most */
#define CF_VISITS_BASE 2000000 /* ... and CF_VISITS_BASE + 8 per byte of the file */
#define CF_MAX_DEPTH 64        /* nesting, aliases followed */
#define CF_MAX_CASES 1000000   /* concrete cases of one suite */
#define CF_MAX_ERRORS 100
#define CF_MAX_COUNT 1000000   /* tensors, random flips, seeds */

/* The case keys defaults and a matrix may set, in the order of the
 * parameters of a case id: X(ID, "name", validator, meta). The validator
 * (keys.c) reads the value into the case; NULL for corrupt, which expands
 * (corrupt_list.c). meta: the key says what to expect of a case rather
 * than what it does, so a combination added by `include` leaves it out of
 * its id. A new key is one line here and its validator. */
#define CF_CASE_KEYS(X)                                                      \
    X(BACKEND, "backend", key_backend, 0)                                    \
    X(DEVICE, "device", key_device, 0)                                       \
    X(POLICY, "policy", key_policy, 0)                                       \
    X(DTYPE_RULE, "dtype_rule", key_dtype_rule, 0)                           \
    X(READER, "reader", key_reader, 0)                                       \
    X(FILE, "file", key_file, 0)                                             \
    X(STORE, "store", key_store, 0)                                          \
    X(SIM, "sim", key_sim, 0)                                                \
    X(CORRUPT, "corrupt", NULL, 0)                                           \
    X(FAULT, "fault", key_fault, 0)                                          \
    X(STAGING, "staging_budget", key_staging, 0)                             \
    X(PROBE, "probe", key_probe, 0)                                          \
    X(KEY, "key", key_key, 0)                                                \
    X(CRC, "crc", key_crc, 0)                                                \
    X(REQUIRES, "requires", key_requires, 1)                                 \
    X(SKIP, "skip", key_skip, 1)                                             \
    X(XFAIL, "xfail", key_xfail, 1)                                          \
    X(TIMEOUT, "timeout", key_timeout, 1)                                    \
    X(TAGS, "tags", key_tags, 1)                                             \
    X(EXPECT, "expect", key_expect, 1)                                       \
    X(DESCRIPTION, "description", key_description, 1)

#define CF_KEY_ENUM(id, name, fn, meta) K_##id,
/* The settable keys, then the keys that shape a case and cannot be set by
 * defaults or a matrix. */
enum {
    CF_CASE_KEYS(CF_KEY_ENUM) K_SETTABLE,
    K_NAME = K_SETTABLE, K_MATRIX, K_EXCLUDE, K_INCLUDE, K_COUNT
};

/* Every key's name by K_*, then NULL (for cf_slots). */
extern const char *const cf_case_keys[K_COUNT + 1];

typedef struct {
    size_t line, col, seq;
    char *msg;
} cf_error;

typedef struct {
    yaml_node_t *k, *v;
} cf_kv;

/* A mapping's pairs after `<<` merges. */
typedef struct {
    cf_kv *it;
    size_t n, cap;
} cf_kvs;

/* A growing string; fail is set once an allocation failed. */
typedef struct {
    char *p;
    size_t n, cap;
    int fail;
} cf_sb;

typedef struct {
    yaml_node_t *knode; /* the name */
    hx_file file;
} cf_fixture;

typedef struct {
    const char *path;
    char *dir;               /* the case file's folder */
    char fixture_dir[4096];
    hx_suite *out;
    size_t cap;              /* of out->cases */
    yaml_document_t doc;
    int have_doc;
    cf_error *errs;
    size_t nerrs, errcap;
    int fatal, oom, full; /* full: errors past CF_MAX_ERRORS were dropped */
    size_t visits;
    size_t max_visits;   /* this file's budget (source.c); 0: CF_MAX_VISITS */
    const char *suite;
    cf_fixture *fx;
    size_t nfx;
    yaml_node_t *defaults[K_COUNT];
    int scratch;             /* checking values alone: no fixture is generated */
    int unmeasured;          /* a fixture this build cannot generate was to be enumerated */
    yaml_node_t **names;     /* the case names seen */
    size_t nnames, namecap;
} cf_ctx;

/* A case as written: its keys, before defaults and the matrix. */
typedef struct {
    yaml_node_t *node;
    yaml_node_t *slot[K_COUNT], *knode[K_COUNT];
    const char *name;
} cf_casedef;

/* One combination of the matrix: a value for some keys, and which of them
 * go into the case id. */
typedef struct {
    yaml_node_t *v[K_SETTABLE];
    unsigned char in_id[K_SETTABLE];
} cf_combo;

typedef struct {
    cf_combo *v;
    size_t n, cap;
} cf_combos;

/* The corruptions one case expands into. */
typedef struct {
    hx_corrupt *v;
    size_t n, cap;
} cf_corrs;

static inline const char *cf_sv(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* Reports that the file's budget of visits is spent; the load stops (fatal). */
void cf_visits_over(cf_ctx *c);

#define CF_VISIT_BUDGET(c) ((c)->max_visits ? (c)->max_visits : (size_t)CF_MAX_VISITS)

/* One visit: a node read, or a combination an include or exclude entry
 * matches. Expanding a file makes at most its budget of visits (source.c),
 * then the load stops (cf_visits_over). */
static inline void cf_visit(cf_ctx *c)
{
    if (++c->visits == CF_VISIT_BUDGET(c) + 1)
        cf_visits_over(c);
}

/* yaml.c: errors at marks, the node tree, mapping views. */
void cf_report(cf_ctx *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cf_report_mark(cf_ctx *c, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* source.c: the case file's bytes (a regular file only, never blocking;
 * NUL-terminated, malloc'd), and the flow nesting check that runs before
 * libyaml. Each reports its error and returns -1. */
int cf_read_source(cf_ctx *c, char **out, size_t *n);
int cf_check_flow_depth(cf_ctx *c, const char *b, size_t n);
void cf_oom(cf_ctx *c);
/* Room for one more item in the array *array (a T **) of n items, with
 * capacity *cap: grows it by doubling; 0, or -1 out of memory (noted). */
int cf_grow(cf_ctx *c, void *array, size_t *cap, size_t n, size_t size);
/* The errors as "file:line:col: message" lines, in file order. */
void cf_errors_take(cf_ctx *c, hx_case_errors *out);
/* The node id, counted as a visit (cf_visit). */
yaml_node_t *cf_node(cf_ctx *c, int id);
/* A plain scalar spelled as null ("", ~, null, Null, NULL); the text alone. */
int cf_is_null(const yaml_node_t *n);
int cf_is_null_text(const char *s);
const char *cf_kind(const yaml_node_t *n);
void cf_doc_scan(cf_ctx *c, yaml_node_t *n, int depth, size_t *count);
void cf_kvs_free(cf_kvs *m);
int cf_kvs_push(cf_ctx *c, cf_kvs *m, yaml_node_t *k, yaml_node_t *v);
cf_kv *cf_kvs_find(const cf_kvs *m, const char *key);
int cf_view(cf_ctx *c, yaml_node_t *map, cf_kvs *out);
void cf_join_names(const char *const *names, char *buf, size_t n);
int cf_slots(cf_ctx *c, yaml_node_t *map, const char *what, const char *const *names,
             yaml_node_t **slot, yaml_node_t **knode);
void cf_sb_add(cf_sb *b, const char *s);
char *cf_render(cf_ctx *c, yaml_node_t *n);
int cf_equal(cf_ctx *c, yaml_node_t *a, yaml_node_t *b);

/* values.c: scalars and library values, each reported where it is wrong. */
typedef int (*cf_word_check)(cf_ctx *, yaml_node_t *, const char *);
int cf_word_ok(const char *s, const char *extra);
const char *cf_scalar(cf_ctx *c, yaml_node_t *n, const char *what);
int cf_dup_scalar(cf_ctx *c, yaml_node_t *n, const char *what, char **out);
int cf_text_i64(const char *s, int64_t *out);
int cf_int_in(cf_ctx *c, yaml_node_t *n, const char *what, int64_t lo, int64_t hi,
              int64_t *out);
int cf_u64_of(cf_ctx *c, yaml_node_t *n, const char *what, uint64_t *out);
int cf_f64_in(cf_ctx *c, yaml_node_t *n, const char *what, double lo, double hi, double *out);
int cf_bool_of(cf_ctx *c, yaml_node_t *n, const char *what, int *out);
int cf_size_of(cf_ctx *c, yaml_node_t *n, const char *what, uint64_t *out);
int cf_one_of(cf_ctx *c, yaml_node_t *n, const char *what, const char *const *names);
size_t cf_items_of(yaml_node_t *n, yaml_node_t **one, yaml_node_item_t **first);
yaml_node_t *cf_item_at(cf_ctx *c, yaml_node_t *one, yaml_node_item_t *first, size_t i);
int cf_strv_of(cf_ctx *c, yaml_node_t *n, const char *what, cf_word_check ok, char ***out,
               size_t *nout);
int cf_device_of(cf_ctx *c, yaml_node_t *n, const char *what, lg_device *out);
int cf_dtype_of(cf_ctx *c, yaml_node_t *n, const char *what, lg_dtype *out);
int cf_shape_of(cf_ctx *c, yaml_node_t *n, const char *what, int *ndim, int64_t *shape);

/* file.c: the file key, fixture definitions, writing a generated one. */
int cf_parse_file_def(cf_ctx *c, yaml_node_t *n, const char *what, const char *name,
                      hx_file *out);
int cf_parse_file(cf_ctx *c, yaml_node_t *n, hx_file *out);
int cf_generate(cf_ctx *c, yaml_node_t *n, hx_file *f);
/* A torch-archive fixture this build cannot write (no torch backend). */
int cf_ungeneratable(const hx_file *f);

/* keys.c: one case key's value into h. */
int cf_parse_key(cf_ctx *c, int k, yaml_node_t *n, hx_case *h);
int cf_is_meta_key(int k);
/* The key a key node names, if `what` (matrix, include, exclude) may set
 * it; -1 after an error otherwise. */
int cf_settable_key(cf_ctx *c, yaml_node_t *k, const char *what);

/* corrupt_list.c: the corruptions of a case; *expanded when they are a
 * list (one case each, the label in the id). */
int cf_parse_corrupt(cf_ctx *c, yaml_node_t *n, hx_file *f, cf_corrs *l, int *expanded);
void cf_corrs_free(cf_corrs *l);

/* matrix.c: the combinations of a case (matrix, exclude, include). */
int cf_combo_push(cf_ctx *c, cf_combos *cs, const cf_combo *x);
int cf_expand_matrix(cf_ctx *c, const cf_casedef *d, cf_combos *cs);

/* expand.c: the cases, defaults, and the ids' uniqueness. */
int cf_parse_cases(cf_ctx *c, yaml_node_t *n);
void cf_parse_defaults(cf_ctx *c, yaml_node_t *n);
int cf_check_ids(cf_ctx *c);
void cf_names_free(cf_ctx *c);

/* model.c: what a case owns. */
void cf_file_free(hx_file *f);
int cf_file_copy(const hx_file *src, hx_file *dst);
void cf_store_free(hx_store_spec *s);
#endif
