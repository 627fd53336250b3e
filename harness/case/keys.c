/* The case keys: what each one accepts, read into an hx_case. The table
 * at the end (from CF_CASE_KEYS in parse.h) maps each key to its
 * validator; a value is reported at its node when it is wrong. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "case/parse.h"
#include "case/require.h"
#include "util/error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const var_keys[] = {"name", "dtype", "shape", NULL};

static int var_of(cf_ctx *c, yaml_node_t *n, const char *what, hx_var *v)
{
    yaml_node_t *s[3], *k[3];
    if (cf_slots(c, n, what, var_keys, s, k))
        return -1;
    for (int i = 0; i < 3; i++)
        if (!s[i]) {
            cf_report(c, n, "%s: missing key '%s' (a variable has name, dtype and shape)", what,
                   var_keys[i]);
            return -1;
        }
    if (cf_dup_scalar(c, s[0], what, &v->name))
        return -1;
    if (cf_dtype_of(c, s[1], what, &v->dtype))
        return -1;
    return cf_shape_of(c, s[2], what, &v->ndim, v->shape);
}

static int var_list(cf_ctx *c, yaml_node_t *n, const char *what, hx_var **out, size_t *nout)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        cf_report(c, n, "%s: expected a list of {name, dtype, shape}, got %s", what, cf_kind(n));
        return -1;
    }
    yaml_node_item_t *i = n->data.sequence.items.start;
    size_t cnt = (size_t)(n->data.sequence.items.top - i);
    if (!(*out = calloc(cnt ? cnt : 1, sizeof **out))) {
        cf_oom(c);
        return -1;
    }
    for (size_t j = 0; j < cnt && !c->fatal; j++) {
        hx_var *v = &(*out)[*nout];
        if (var_of(c, cf_node(c, i[j]), what, v) == 0) {
            (*nout)++;
            continue;
        }
        free(v->name); /* the slot is reused */
        memset(v, 0, sizeof *v);
    }
    return 0;
}

/* reshape: {name: shape} or retype: {name: dtype}. */
static int var_edits(cf_ctx *c, yaml_node_t *n, const char *what, int retype, hx_var **out,
                     size_t *nout)
{
    cf_kvs m;
    if (n->type != YAML_MAPPING_NODE) {
        cf_report(c, n, "%s: expected a mapping of variable names to %s, got %s", what,
               retype ? "dtypes" : "shapes", cf_kind(n));
        return -1;
    }
    if (cf_view(c, n, &m) || !(*out = calloc(m.n ? m.n : 1, sizeof **out))) {
        cf_kvs_free(&m);
        cf_oom(c);
        return -1;
    }
    for (size_t i = 0; i < m.n && !c->fatal; i++) {
        hx_var *v = &(*out)[*nout];
        int bad = retype ? cf_dtype_of(c, m.it[i].v, what, &v->dtype)
                         : cf_shape_of(c, m.it[i].v, what, &v->ndim, v->shape);
        if (bad)
            continue;
        if (!(v->name = strdup(cf_sv(m.it[i].k)))) {
            cf_oom(c);
            break;
        }
        (*nout)++;
    }
    cf_kvs_free(&m);
    return c->oom ? -1 : 0;
}

static const char *const store_keys[] = {"mirror", "drop", "add", "reshape", "retype", NULL};

static int parse_store(cf_ctx *c, yaml_node_t *n, hx_store_spec *st)
{
    yaml_node_t *s[5], *k[5];
    int mirror = 1;
    st->mirror = 1;
    if (n->type == YAML_SEQUENCE_NODE) {
        st->mirror = 0;
        return var_list(c, n, "store", &st->vars, &st->nvars);
    }
    if (n->type == YAML_SCALAR_NODE && !strcmp(cf_sv(n), "mirror"))
        return 0;
    if (n->type != YAML_MAPPING_NODE) {
        cf_report(c, n, "store: expected mirror, a mapping {mirror, drop, add, reshape, retype} or "
                     "a list of {name, dtype, shape}, got %s", cf_kind(n));
        return -1;
    }
    if (cf_slots(c, n, "store", store_keys, s, k))
        return -1;
    if (s[0] && cf_bool_of(c, s[0], "store.mirror", &mirror) == 0 && !mirror)
        cf_report(c, s[0], "store.mirror: false; give the variables as a list instead");
    if (s[1])
        cf_strv_of(c, s[1], "store.drop", NULL, &st->drop, &st->ndrop);
    if (s[2])
        var_list(c, s[2], "store.add", &st->add, &st->nadd);
    if (s[3])
        var_edits(c, s[3], "store.reshape", 0, &st->reshape, &st->nreshape);
    if (s[4])
        var_edits(c, s[4], "store.retype", 1, &st->retype, &st->nretype);
    return 0;
}

static const struct {
    const char *name;
    int err;
} errnos[] = {{"ENOENT", ENOENT}, {"EACCES", EACCES}, {"EMFILE", EMFILE}, {"EIO", EIO},
              {"EINTR", EINTR},   {"ENOMEM", ENOMEM}, {"ENODEV", ENODEV}, {"short", -1}};

static int errno_of(cf_ctx *c, yaml_node_t *n, const char *point, int *out)
{
    const char *s = cf_scalar(c, n, "fault.errno");
    if (!s)
        return -1;
    if (strncmp(point, "io.", 3)) {
        cf_report(c, n, "fault.errno: only io.* points fail with an errno, not %s", point);
        return -1;
    }
    for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++) {
        if (strcmp(s, errnos[i].name))
            continue;
        if (errnos[i].err < 0 && strcmp(point, "io.read")) {
            cf_report(c, n, "fault.errno: 'short' (a short read) applies to io.read only");
            return -1;
        }
        *out = errnos[i].err;
        return 0;
    }
    cf_report(c, n, "fault.errno: unknown '%s' (ENOENT, EACCES, EMFILE, EIO, EINTR, ENOMEM, ENODEV, short)",
           s);
    return -1;
}

static int point_of(cf_ctx *c, yaml_node_t *n, hx_fault *f)
{
    const char *s = cf_scalar(c, n, "fault.point");
    if (!s)
        return -1;
    if (lg_fault_point_valid(s) && strlen(s) < sizeof f->point) {
        snprintf(f->point, sizeof f->point, "%s", s);
        return 0;
    }
    char names[512];
    cf_join_names(lg_fault_points(), names, sizeof names);
    cf_report(c, n, "fault.point: unknown fault point '%s' (%s)", s, names);
    return -1;
}

static const char *const fault_keys[] = {"point", "nth", "from", "prob", "seed",
                                         "sweep", "errno", "action", NULL};
enum { F_POINT, F_NTH, F_FROM, F_PROB, F_SEED, F_SWEEP, F_ERRNO, F_ACTION, F_COUNT };
static const char *const sweeps[] = {"transient", "persistent", NULL};
static const char *const actions[] = {"fail", "crash", "hang", NULL};

static int schedule_of(cf_ctx *c, yaml_node_t **s, yaml_node_t **k, hx_fault *f)
{
    int64_t v;
    if (s[F_NTH] || s[F_FROM]) {
        f->s.when = s[F_NTH] ? LG_FAULT_NTH : LG_FAULT_FROM;
        if (cf_int_in(c, s[F_NTH] ? s[F_NTH] : s[F_FROM], s[F_NTH] ? "fault.nth" : "fault.from", 1,
                   INT64_MAX, &v))
            return -1;
        f->s.k = (uint64_t)v;
    } else if (s[F_PROB]) {
        f->s.when = LG_FAULT_PROB;
        if (cf_f64_in(c, s[F_PROB], "fault.prob", 0, 1, &f->s.p))
            return -1;
    } else {
        int w = cf_one_of(c, s[F_SWEEP], "fault.sweep", sweeps);
        if (w < 0)
            return -1;
        f->sweep = w ? HX_SWEEP_PERSISTENT : HX_SWEEP_TRANSIENT;
        f->s.when = w ? LG_FAULT_FROM : LG_FAULT_NTH;
    }
    if (s[F_SEED] && !s[F_PROB]) {
        cf_report(c, k[F_SEED], "fault.seed: only with prob");
        return -1;
    }
    return s[F_SEED] ? cf_u64_of(c, s[F_SEED], "fault.seed", &f->s.seed) : 0;
}

static int fault_of(cf_ctx *c, yaml_node_t *n, hx_fault *f)
{
    yaml_node_t *s[F_COUNT], *k[F_COUNT];
    if (cf_slots(c, n, "fault", fault_keys, s, k))
        return -1;
    if (!s[F_POINT]) {
        cf_report(c, n, "fault: missing key 'point'");
        return -1;
    }
    int rc = point_of(c, s[F_POINT], f);
    if (!!s[F_NTH] + !!s[F_FROM] + !!s[F_PROB] + !!s[F_SWEEP] != 1) {
        cf_report(c, n, "fault: give exactly one of nth, from, prob, sweep");
        return -1;
    }
    if (schedule_of(c, s, k, f))
        return -1;
    if (rc == 0 && s[F_ERRNO] && errno_of(c, s[F_ERRNO], f->point, &f->s.err))
        return -1;
    int a = s[F_ACTION] ? cf_one_of(c, s[F_ACTION], "fault.action", actions) : 0;
    if (a < 0)
        return -1;
    f->s.action = a == 1 ? LG_FAULT_CRASH : a == 2 ? LG_FAULT_HANG : LG_FAULT_FAIL;
    return rc;
}

/* Several faults may be armed at once, one schedule per point, and at
 * most one of them a sweep (the runner sweeps it). */
static int fault_clash(cf_ctx *c, yaml_node_t *n, const hx_case *h, const hx_fault *f)
{
    for (size_t i = 0; i < h->nfaults; i++) {
        if (!strcmp(h->faults[i].point, f->point)) {
            cf_report(c, n, "fault: point %s is armed twice", f->point);
            return -1;
        }
        if (h->faults[i].sweep != HX_SWEEP_NONE && f->sweep != HX_SWEEP_NONE) {
            cf_report(c, n, "fault: at most one sweep per case");
            return -1;
        }
    }
    return 0;
}

static int key_fault(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    yaml_node_t *one = NULL;
    yaml_node_item_t *first;
    if (n->type == YAML_SCALAR_NODE) {
        cf_report(c, n, "fault: expected a mapping {point, ...} or a list of them, got %s", cf_kind(n));
        return -1;
    }
    size_t cnt = cf_items_of(n, &one, &first);
    if (!(h->faults = calloc(cnt ? cnt : 1, sizeof *h->faults))) {
        cf_oom(c);
        return -1;
    }
    for (size_t i = 0; i < cnt && !c->fatal; i++) {
        yaml_node_t *it = cf_item_at(c, one, first, i);
        hx_fault f = {0};
        if (fault_of(c, it, &f) == 0 && fault_clash(c, it, h, &f) == 0)
            h->faults[h->nfaults++] = f;
    }
    return 0;
}

static const char *const sim_keys[] = {"direct_deserialize", "float64", "available", "capacity",
                                       "alloc", "readback", NULL};
static const char *const ok_refuse[] = {"ok", "refuse", NULL};

/* The value of one profile key, checked and normalized for
 * lg_sim_profile_set. */
static int sim_value(cf_ctx *c, int key, yaml_node_t *n, char *buf, size_t len)
{
    static const char *const avail[] = {"yes", "no", "true", "false", NULL};
    static const char *const ok_wrong[] = {"ok", "wrong", NULL};
    const char *const *two = key == 5 ? ok_wrong : ok_refuse;
    uint64_t bytes;
    int i;
    switch (key) {
    case 0:
    case 1:
    case 4:
    case 5:
        i = cf_one_of(c, n, sim_keys[key], two);
        if (i < 0)
            return -1;
        snprintf(buf, len, "%s", two[i]);
        return 0;
    case 2:
        i = cf_one_of(c, n, "available", avail);
        if (i < 0)
            return -1;
        snprintf(buf, len, "%s", i % 2 ? "no" : "yes");
        return 0;
    default:
        if (cf_size_of(c, n, "capacity", &bytes))
            return -1;
        snprintf(buf, len, "%" PRIu64, bytes);
        return 0;
    }
}

static int sim_push(cf_ctx *c, hx_case *h, lg_device d, const char *key, const char *value)
{
    hx_sim_override *o = realloc(h->sim, (h->nsim + 1) * sizeof *o);
    if (!o) {
        cf_oom(c);
        return -1;
    }
    h->sim = o;
    o = &h->sim[h->nsim];
    o->device = d;
    o->key = strdup(key);
    o->value = strdup(value);
    h->nsim++;
    if (!o->key || !o->value)
        cf_oom(c);
    return c->oom ? -1 : 0;
}

static int sim_device(cf_ctx *c, lg_device d, yaml_node_t *n, hx_case *h)
{
    yaml_node_t *s[6], *k[6];
    char value[32];
    if (cf_slots(c, n, "sim profile", sim_keys, s, k))
        return -1;
    for (int i = 0; i < 6; i++)
        if (s[i] && sim_value(c, i, s[i], value, sizeof value) == 0 &&
            sim_push(c, h, d, sim_keys[i], value))
            return -1;
    return 0;
}

static int key_sim(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    cf_kvs m;
    if (n->type != YAML_MAPPING_NODE) {
        cf_report(c, n, "sim: expected a mapping of devices to profiles, got %s", cf_kind(n));
        return -1;
    }
    if (cf_view(c, n, &m)) {
        cf_kvs_free(&m);
        return -1;
    }
    for (size_t i = 0; i < m.n && !c->fatal; i++) {
        lg_device d;
        if (cf_device_of(c, m.it[i].k, "sim", &d) == 0)
            sim_device(c, d, m.it[i].v, h);
    }
    cf_kvs_free(&m);
    return 0;
}

static int tag_ok(cf_ctx *c, yaml_node_t *n, const char *s)
{
    if (cf_word_ok(s, "_.-:+/=@"))
        return 0;
    cf_report(c, n, "tags: '%s' is not a word (letters, digits and _.-:+/=@)", s);
    return -1;
}

static const char *const expect_keys[] = {"outcome", "error", "message", "invariants", NULL};
static const char *const outcomes[] = {"ok", "error", "any", NULL};

static int status_of(cf_ctx *c, yaml_node_t *n, hx_expect *e)
{
    const char *s = cf_scalar(c, n, "expect.error");
    if (!s)
        return -1;
    if (lg_status_parse(s, &e->error) == LG_OK && e->error != LG_OK) {
        e->has_error = 1;
        return 0;
    }
    char names[512];
    size_t used = 0;
    names[0] = 0;
    for (int i = 1; i < LG_STATUS_COUNT; i++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i > 1 ? ", " : "",
                                 lg_status_name((lg_status)i));
    cf_report(c, n, "expect.error: unknown error '%s' (%s)", s, names);
    return -1;
}

static int invariants_of(cf_ctx *c, yaml_node_t *n, hx_expect *e)
{
    yaml_node_t *one = NULL;
    yaml_node_item_t *first;
    if (n->type == YAML_MAPPING_NODE) {
        cf_report(c, n, "expect.invariants: expected a list of names, got a mapping");
        return -1;
    }
    e->has_invariants = 1;
    size_t cnt = cf_items_of(n, &one, &first);
    for (size_t i = 0; i < cnt && !c->fatal; i++) {
        yaml_node_t *it = cf_item_at(c, one, first, i);
        const char *s = cf_scalar(c, it, "expect.invariants");
        hx_inv inv;
        if (!s)
            continue;
        if (hx_inv_parse(s, &inv) == 0) {
            e->invariants[inv] = 1;
            continue;
        }
        cf_report(c, it, "expect.invariants: unknown invariant '%s' (via-cpu, restored, "
                      "consistent, atomic, values, no-leak)", s);
    }
    return 0;
}

static int parse_expect(cf_ctx *c, yaml_node_t *n, hx_expect *e)
{
    yaml_node_t *s[4], *k[4];
    if (cf_slots(c, n, "expect", expect_keys, s, k))
        return -1;
    int o = s[0] ? cf_one_of(c, s[0], "expect.outcome", outcomes) : -1;
    if (s[1])
        status_of(c, s[1], e);
    if (s[1] && !s[0])
        o = 1; /* an error code implies outcome: error */
    e->outcome = o == 1 ? HX_EXPECT_ERROR : o == 2 ? HX_EXPECT_ANY : HX_EXPECT_OK;
    if (s[2] && cf_dup_scalar(c, s[2], "expect.message", &e->message) == 0 && !s[1] && !s[0])
        e->outcome = HX_EXPECT_ERROR;
    if (s[3])
        invariants_of(c, s[3], e);
    if (e->outcome == HX_EXPECT_OK && (s[1] || s[2]))
        cf_report(c, s[1] ? k[1] : k[2], "expect.%s: only with outcome: error or any",
               s[1] ? "error" : "message");
    return 0;
}

static int parse_word(cf_ctx *c, yaml_node_t *n, const char *what, const char *const *names,
                      char *buf, size_t len)
{
    int i = cf_one_of(c, n, what, names);
    if (i >= 0)
        snprintf(buf, len, "%s", names[i]);
    return i < 0 ? -1 : 0;
}

static int key_reader(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    const char *s = cf_scalar(c, n, "reader");
    if (!s)
        return -1;
    if (!cf_word_ok(s, "_.-:")) {
        cf_report(c, n, "reader: '%s' is not a reader name", s);
        return -1;
    }
    if (!strcmp(s, "auto"))
        return 0;
    if (!(h->reader = strdup(s)))
        cf_oom(c);
    return h->reader ? 0 : -1;
}

static int parse_lg_enum(cf_ctx *c, int k, yaml_node_t *n, hx_case *h)
{
    const char *s = cf_scalar(c, n, cf_case_keys[k]);
    if (!s)
        return -1;
    if (k == K_POLICY && lg_policy_parse(s, &h->policy) != LG_OK) {
        cf_report(c, n, "policy: bad value '%s' (via-cpu, staged, direct, auto, tch)", s);
        return -1;
    }
    if (k == K_DTYPE_RULE && lg_dtype_rule_parse(s, &h->dtype_rule) != LG_OK) {
        cf_report(c, n, "dtype_rule: bad value '%s' (convert, adopt, strict)", s);
        return -1;
    }
    return 0;
}

static const char *const backends[] = {"sim", "torch", NULL};
static const char *const crc_modes[] = {"error", "warn", "off", NULL};

static int key_backend(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    return parse_word(c, n, "backend", backends, h->backend, sizeof h->backend);
}

static int key_device(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    return cf_device_of(c, n, "device", &h->device);
}

static int key_policy(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    return parse_lg_enum(c, K_POLICY, n, h);
}

static int key_dtype_rule(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    return parse_lg_enum(c, K_DTYPE_RULE, n, h);
}

static int key_file(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    return cf_parse_file(c, n, &h->file);
}

static int key_store(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    return parse_store(c, n, &h->store);
}

static int key_staging(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    return cf_size_of(c, n, "staging_budget", &h->staging_budget);
}

static int key_probe(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    return cf_bool_of(c, n, "probe", &h->probe);
}

static int key_key(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    return cf_dup_scalar(c, n, "key", &h->key);
}

static int key_crc(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    return parse_word(c, n, "crc", crc_modes, h->crc, sizeof h->crc);
}

/* The one requirement grammar (require.h) checks each entry here. */
static int requirement_ok(cf_ctx *c, yaml_node_t *n, const char *s)
{
    hx_require r;
    if (hx_require_parse(s, &r) == LG_OK)
        return 0;
    cf_report(c, n, "requires: %s", hx_errmsg());
    return -1;
}

/* Requirements are stored without spaces: "libtorch>=2.1". */
static void squeeze_spaces(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *w = v[i];
        for (char *r = v[i]; *r; r++)
            if (*r != ' ')
                *w++ = *r;
        *w = 0;
    }
}

static int key_requires(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    if (cf_strv_of(c, n, "requires", requirement_ok, &h->requires, &h->nrequires))
        return -1;
    squeeze_spaces(h->requires, h->nrequires);
    return 0;
}

static int key_skip(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    return cf_dup_scalar(c, n, "skip", &h->skip);
}

static int key_xfail(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    return cf_dup_scalar(c, n, "xfail", &h->xfail);
}

static int key_timeout(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    return cf_f64_in(c, n, "timeout", 0.001, 1e6, &h->timeout);
}

static int key_tags(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    return cf_strv_of(c, n, "tags", tag_ok, &h->tags, &h->ntags);
}

static int key_expect(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    return parse_expect(c, n, &h->expect);
}

static int key_description(cf_ctx *c, yaml_node_t *n, hx_case *h)
{
    return cf_dup_scalar(c, n, "description", &h->description);
}

/* ------------------------------------------------------------ the table */

typedef int (*key_validator)(cf_ctx *, yaml_node_t *, hx_case *);

#define KEY_ROW(id, name, fn, meta) {fn, meta},
static const struct {
    key_validator parse;
    int meta;
} keys[K_SETTABLE] = {CF_CASE_KEYS(KEY_ROW)};

#define KEY_NAME(id, name, fn, meta) name,
const char *const cf_case_keys[K_COUNT + 1] = {CF_CASE_KEYS(KEY_NAME) "name", "matrix",
                                                "exclude", "include", NULL};

int cf_parse_key(cf_ctx *c, int k, yaml_node_t *n, hx_case *h)
{
    return keys[k].parse ? keys[k].parse(c, n, h) : 0;
}

int cf_is_meta_key(int k)
{
    return k < K_SETTABLE && keys[k].meta;
}

int cf_settable_key(cf_ctx *c, yaml_node_t *k, const char *what)
{
    for (int i = 0; cf_case_keys[i]; i++) {
        if (strcmp(cf_case_keys[i], cf_sv(k)))
            continue;
        if (i < K_SETTABLE)
            return i;
        cf_report(c, k, "%s: '%s' cannot be set here", what, cf_sv(k));
        return -1;
    }
    char allowed[512];
    size_t used = 0;
    allowed[0] = 0;
    for (int i = 0; i < K_SETTABLE; i++)
        used += (size_t)snprintf(allowed + used, sizeof allowed - used, "%s%s", i ? ", " : "",
                                 cf_case_keys[i]);
    cf_report(c, k, "unknown key '%s' in %s (allowed: %s)", cf_sv(k), what, allowed);
    return -1;
}
