/* The policy tch: tch-rs's VarStore::load as written, on the sim backend,
 * hazards included; and the dtype rule convert through `harness load`
 * against PyTorch's own casts (tests/data/casts/f64-weights.json). */
#include "cmd/cmd.h"
#include "invariants.h"
#include "testutil.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dir;
static char four[1024], row[1024];

static void setup(void)
{
    dir = tu_tmpdir();
    snprintf(four, sizeof four, "%s", tu_path(dir, "four.safetensors"));
    snprintf(row, sizeof row, "%s", tu_path(dir, "row.safetensors"));
    ck_assert_int_eq(tu_write_safetensors(four, 4, 4, 4), 0); /* t0..t3 [4, 4] */
    ck_assert_int_eq(tu_write_safetensors(row, 2, 1, 4), 0);  /* t0, t1 [1, 4] */
}

static void teardown(void)
{
    lg_fault_clear();
    tu_rmtree(dir);
}

static lg_device dev(const char *s)
{
    lg_device d;
    ck_assert_int_eq(lg_device_parse(s, &d), LG_OK);
    return d;
}

static lg_backend *sim(void)
{
    lg_backend *b;
    ck_assert_int_eq(lg_backend_open("sim", &b), LG_OK);
    return b;
}

/* A store of `n` f32 [rows, 4] variables t0.. on d, each filled with 7s. */
static lg_store *store(lg_backend *b, const char *d, int n, int rows)
{
    lg_store *s;
    int64_t shape[2] = {rows, 4};
    float sevens[64];
    for (int i = 0; i < 64; i++)
        sevens[i] = 7;
    ck_assert_int_eq(lg_store_new(b, dev(d), &s), LG_OK);
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        ck_assert_int_eq(lg_store_add(s, name, LG_F32, 2, shape), LG_OK);
        ck_assert_int_eq(lg_store_fill(s, name, sevens, (size_t)rows * 16), LG_OK);
    }
    return s;
}

static float first(lg_store *s, size_t i, lg_device *where)
{
    float buf[64];
    const lg_tensor_info *v = lg_store_var(s, i);
    ck_assert_int_eq(lg_store_read(s, i, buf, (size_t)v->nbytes, where), LG_OK);
    return buf[0];
}

static lg_status load(lg_store *s, const char *path, lg_policy p, uint64_t seed,
                      lg_load_stats *stats)
{
    lg_load_options o;
    lg_load_options_init(&o);
    o.policy = p;
    o.hash_seed = seed;
    return lg_store_load(s, path, &o, stats);
}

/* The order variables were copied in, from the trace's copy_ events. */
static void copy_order(lg_trace *t, char *out, size_t n)
{
    out[0] = '\0';
    for (size_t i = 0; i < lg_trace_count(t); i++) {
        const lg_event *e = lg_trace_event(t, i);
        if (e->op == LG_OP_COPY && !strncmp(e->detail, "copy_", 5)) {
            strncat(out, e->tensor, n - strlen(out) - 1);
            strncat(out, " ", n - strlen(out) - 1);
        }
    }
}

static int count_op(lg_trace *t, lg_op op)
{
    int k = 0;
    for (size_t i = 0; i < lg_trace_count(t); i++)
        k += lg_trace_event(t, i)->op == op;
    return k;
}

START_TEST(test_tch_loads_through_cpu)
{
    lg_backend *b = sim();
    lg_store *s = store(b, "mps", 4, 4);
    lg_trace *t;
    lg_load_stats st;
    ck_assert_int_eq(lg_trace_new(&t), LG_OK);
    lg_store_set_trace(s, t);
    ck_assert_int_eq(load(s, four, LG_POLICY_TCH, 0, &st), LG_OK);
    ck_assert_int_eq(st.policy_used, LG_POLICY_TCH);
    ck_assert_str_eq(st.tch_reader, "safetensors");
    ck_assert_int_eq(st.tensors_loaded, 4);
    for (size_t i = 0; i < 4; i++) {
        lg_device where;
        const lg_tensor_info *v = lg_store_var(s, i);
        size_t k = (size_t)(v->name[1] - '0');
        ck_assert(first(s, i, &where) == (float)(k * 1000));
        ck_assert(lg_device_equal(where, dev("mps")));
    }
    /* set_device(Cpu), set_device(Mps): a move each way per variable */
    ck_assert_int_eq(count_op(t, LG_OP_SET_DEVICE), 2);
    ck_assert_int_eq(count_op(t, LG_OP_MOVE), 8);
    ck_assert_int_eq(count_op(t, LG_OP_DESERIALIZE), 4);
    for (size_t i = 0; i < lg_trace_count(t); i++) {
        const lg_event *e = lg_trace_event(t, i);
        if (e->op == LG_OP_DESERIALIZE) {
            ck_assert(lg_device_equal(e->to, lg_device_cpu()));
            ck_assert_str_eq(e->detail, "safetensors");
        }
    }
    lg_store_free(s);
    ck_assert_int_eq(lg_backend_live_tensors(b), 0);
    lg_trace_free(t);
    lg_backend_close(b);
}
END_TEST

START_TEST(test_tch_cpu_store_moves_nothing)
{
    lg_backend *b = sim();
    lg_store *s = store(b, "cpu", 4, 4);
    lg_trace *t;
    ck_assert_int_eq(lg_trace_new(&t), LG_OK);
    lg_store_set_trace(s, t);
    ck_assert_int_eq(load(s, four, LG_POLICY_TCH, 0, NULL), LG_OK);
    ck_assert_int_eq(count_op(t, LG_OP_SET_DEVICE), 0);
    ck_assert_int_eq(count_op(t, LG_OP_MOVE), 0);
    lg_store_free(s);
    lg_trace_free(t);
    lg_backend_close(b);
}
END_TEST

/* The HashMap order: repeatable under a seed, and the seed matters. */
START_TEST(test_tch_order_is_seeded)
{
    char a[256], again[256], other[256];
    uint64_t seeds[3] = {0, 0, 0};
    char *out[3] = {a, again, other};
    lg_backend *b = sim();
    for (uint64_t seed = 1; seed < 64; seed++) { /* a seed whose order differs from seed 0's */
        for (int r = 0; r < 3; r++) {
            lg_store *s = store(b, "mps", 4, 4);
            lg_trace *t;
            ck_assert_int_eq(lg_trace_new(&t), LG_OK);
            lg_store_set_trace(s, t);
            lg_load_stats st;
            seeds[r] = r == 2 ? seed : 0;
            ck_assert_int_eq(load(s, four, LG_POLICY_TCH, seeds[r], &st), LG_OK);
            ck_assert_uint_eq(st.hash_seed, seeds[r]);
            copy_order(t, out[r], sizeof a);
            lg_store_free(s);
            lg_trace_free(t);
        }
        ck_assert_str_eq(a, again);
        if (strcmp(a, other))
            break;
    }
    ck_assert_msg(strcmp(a, other), "no seed in 1..63 changes the order %s", a);
    lg_backend_close(b);
}
END_TEST

/* Hazard 1: copied in place, so a missing name part-way leaves the
 * variables copied before it with their new values. via-cpu plans first
 * and changes nothing. */
START_TEST(test_tch_missing_name_half_writes)
{
    lg_backend *b = sim();
    lg_store *s = store(b, "mps", 4, 4);
    int64_t shape[2] = {4, 4};
    ck_assert_int_eq(lg_store_add(s, "not.in.file", LG_F32, 2, shape), LG_OK);
    /* a seed where the missing name is not visited first */
    uint64_t seed = 0;
    int changed = 0;
    for (; seed < 64 && !changed; seed++) {
        lg_store_free(s);
        s = store(b, "mps", 4, 4);
        ck_assert_int_eq(lg_store_add(s, "not.in.file", LG_F32, 2, shape), LG_OK);
        ck_assert_int_eq(load(s, four, LG_POLICY_TCH, seed, NULL), LG_E_NOTFOUND);
        ck_assert_ptr_nonnull(strstr(lg_error_message(), "cannot find the tensor named \"not.in.file\""));
        for (size_t i = 0; i < 4; i++)
            changed += first(s, i, NULL) != 7;
        ck_assert(lg_device_equal(lg_store_device(s), dev("mps"))); /* set back, as tch-rs does */
    }
    ck_assert_msg(changed, "no seed left a copied variable before the missing one");
    lg_store_free(s);
    s = store(b, "mps", 4, 4);
    ck_assert_int_eq(lg_store_add(s, "not.in.file", LG_F32, 2, shape), LG_OK);
    ck_assert_int_eq(load(s, four, LG_POLICY_VIA_CPU, 0, NULL), LG_E_NOTFOUND);
    for (size_t i = 0; i < 4; i++)
        ck_assert(first(s, i, NULL) == 7);
    lg_store_free(s);
    ck_assert_int_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

/* Hazard 2: copy_ broadcasts a [1, 4] tensor into a [4, 4] variable. */
START_TEST(test_tch_broadcasts)
{
    lg_backend *b = sim();
    lg_store *s = store(b, "mps", 2, 4);
    ck_assert_int_eq(load(s, row, LG_POLICY_TCH, 0, NULL), LG_OK);
    float buf[16];
    size_t i = lg_store_find(s, "t1");
    ck_assert_int_eq(lg_store_read(s, i, buf, sizeof buf, NULL), LG_OK);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            ck_assert(buf[r * 4 + c] == (float)(1000 + c));
    ck_assert_int_eq(load(s, row, LG_POLICY_VIA_CPU, 0, NULL), LG_E_SHAPE);
    lg_store_free(s);
    /* not broadcastable: libtorch's words */
    s = store(b, "mps", 4, 1);
    ck_assert_int_eq(load(s, four, LG_POLICY_TCH, 0, NULL), LG_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(lg_error_message(), "must match the size of tensor b (4)"));
    lg_store_free(s);
    lg_backend_close(b);
}
END_TEST

/* Hazard 3: set_device panics part-way. On the way back the store says
 * cpu, some variables are on mps and some on cpu; freeing it still frees
 * every tensor. */
START_TEST(test_tch_restore_panics_part_way)
{
    lg_backend *b = sim();
    lg_store *s = store(b, "mps", 4, 4);
    lg_fault_schedule f = {.when = LG_FAULT_NTH, .k = 3};
    ck_assert_int_eq(lg_fault_set("store.restore", &f), LG_OK);
    ck_assert_int_eq(load(s, four, LG_POLICY_TCH, 0, NULL), LG_E_PANIC);
    lg_fault_clear();
    ck_assert_ptr_nonnull(strstr(lg_error_message(), "set_device(mps) panics"));
    ck_assert(lg_device_equal(lg_store_device(s), lg_device_cpu()));
    int on_mps = 0;
    for (size_t i = 0; i < 4; i++) {
        lg_device where;
        first(s, i, &where);
        ck_assert(lg_device_equal(where, lg_store_var_device(s, i)));
        on_mps += where.type == LG_DEV_MPS;
    }
    ck_assert_int_eq(on_mps, 2);
    /* set_device mends it: the two on mps come to cpu, where the store
     * says it is, and the two there stay */
    ck_assert_int_eq(lg_store_set_device(s, lg_device_cpu()), LG_OK);
    for (size_t i = 0; i < 4; i++)
        ck_assert(lg_store_var_device(s, i).type == LG_DEV_CPU);
    ck_assert_uint_eq(lg_backend_device_bytes(b, dev("mps")), 0);
    lg_store_free(s);
    ck_assert_int_eq(lg_backend_live_tensors(b), 0);
    ck_assert_uint_eq(lg_backend_device_bytes(b, dev("mps")), 0);
    ck_assert_uint_eq(lg_backend_device_bytes(b, lg_device_cpu()), 0);
    lg_backend_close(b);
}
END_TEST

START_TEST(test_tch_move_panics_part_way)
{
    lg_backend *b = sim();
    lg_store *s = store(b, "mps", 4, 4);
    lg_fault_schedule f = {.when = LG_FAULT_NTH, .k = 2};
    ck_assert_int_eq(lg_fault_set("store.move", &f), LG_OK);
    ck_assert_int_eq(load(s, four, LG_POLICY_TCH, 0, NULL), LG_E_PANIC);
    lg_fault_clear();
    /* the panic unwinds through load: nothing was read, nothing set back */
    ck_assert(lg_device_equal(lg_store_device(s), dev("mps")));
    int on_cpu = 0;
    for (size_t i = 0; i < 4; i++) {
        ck_assert(first(s, i, NULL) == 7);
        on_cpu += lg_store_var_device(s, i).type == LG_DEV_CPU;
    }
    ck_assert_int_eq(on_cpu, 1);
    /* set_device to the device the store says it is on mends it (it did
     * nothing before: the store's device was already mps) */
    ck_assert_int_eq(lg_store_set_device(s, dev("mps")), LG_OK);
    for (size_t i = 0; i < 4; i++) {
        ck_assert(lg_store_var_device(s, i).type == LG_DEV_MPS);
        ck_assert(first(s, i, NULL) == 7);
    }
    ck_assert_uint_eq(lg_backend_device_bytes(b, lg_device_cpu()), 0);
    lg_store_free(s);
    ck_assert_int_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

/* Without a hazard met, a tch load holds every invariant. */
START_TEST(test_tch_clean_load_holds_invariants)
{
    lg_backend *b = sim();
    hx_load_req q = {.backend = b, .device = dev("mps"), .path = four};
    lg_load_options_init(&q.opt);
    q.opt.policy = LG_POLICY_TCH;
    hx_outcome o;
    ck_assert_int_eq(hx_check_load(&q, &o), LG_OK);
    ck_assert_int_eq(o.status, LG_OK);
    for (int i = 0; i < HX_INV_COUNT; i++)
        ck_assert_msg(o.inv[i] != HX_FAIL, "%s: %s", hx_inv_name((hx_inv)i), o.why[i]);
    hx_outcome_free(&o);
    lg_backend_close(b);
}
END_TEST

static void arm_restore(void *ctx)
{
    (void)ctx;
    lg_fault_schedule f = {.when = LG_FAULT_NTH, .k = 2};
    ck_assert_int_eq(lg_fault_set("store.restore", &f), LG_OK);
}

START_TEST(test_tch_split_store_breaks_consistent_and_restored)
{
    lg_backend *b = sim();
    hx_load_req q = {.backend = b, .device = dev("mps"), .path = four, .before_load = arm_restore};
    lg_load_options_init(&q.opt);
    q.opt.policy = LG_POLICY_TCH;
    hx_outcome o;
    ck_assert_int_eq(hx_check_load(&q, &o), LG_OK);
    ck_assert_int_eq(o.status, LG_E_PANIC);
    ck_assert_int_eq(o.inv[HX_INV_RESTORED], HX_FAIL);
    ck_assert_int_eq(o.inv[HX_INV_CONSISTENT], HX_FAIL);
    ck_assert_int_eq(o.inv[HX_INV_NO_LEAK], HX_PASS); /* split, not leaked */
    hx_outcome_free(&o);
    lg_backend_close(b);
}
END_TEST

START_TEST(test_tch_refuses_other_rules)
{
    lg_backend *b = sim();
    lg_store *s = store(b, "mps", 4, 4);
    lg_load_options o;
    lg_load_options_init(&o);
    o.policy = LG_POLICY_TCH;
    o.dtype_rule = LG_DTYPE_STRICT;
    ck_assert_int_eq(lg_store_load(s, four, &o, NULL), LG_E_INVALID);
    o.dtype_rule = LG_DTYPE_CONVERT;
    o.reader = "safetensors";
    ck_assert_int_eq(lg_store_load(s, four, &o, NULL), LG_E_INVALID);
    /* auto never picks tch */
    lg_load_stats st;
    o.policy = LG_POLICY_AUTO;
    o.reader = NULL;
    ck_assert_int_eq(lg_store_load(s, four, &o, &st), LG_OK);
    ck_assert_int_ne(st.policy_used, LG_POLICY_TCH);
    lg_store_free(s);
    lg_backend_close(b);
}
END_TEST

/* ------------------------------------------ convert, against PyTorch */

/* `harness load f64-weights.safetensors --store-dtype f32 --json` under
 * each workaround policy: every variable stays f32 on mps and holds
 * PyTorch's float32 cast of the file's values. */
static const char *const convert_policies[] = {"via-cpu", "staged", "tch"};

START_TEST(test_f64_into_f32_store_matches_pytorch)
{
    char file[1024], man[1024], *out = NULL;
    snprintf(file, sizeof file, "%s/tests/data/casts/f64-weights.safetensors", tu_source_dir());
    snprintf(man, sizeof man, "%s/tests/data/casts/f64-weights.json", tu_source_dir());
    json_t *m = json_load_file(man, 0, NULL);
    ck_assert_ptr_nonnull(m);
    char *argv[] = {"load", file, "--device", "mps", "--backend", "sim", "--policy",
                    (char *)convert_policies[_i], "--store-dtype", "f32", "--json", NULL};
    int rc = tu_run_cmd(hx_cmd_load, argv, dir, &out);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out ? out : "");
    json_t *j = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(j);
    json_t *vars = json_object_get(j, "variables");
    ck_assert_int_eq(json_array_size(vars), 2);
    json_t *tensors = json_object_get(m, "tensors");
    for (size_t i = 0; i < json_array_size(vars); i++) {
        json_t *v = json_array_get(vars, i);
        const char *name = json_string_value(json_object_get(v, "name"));
        json_t *want = json_object_get(tensors, name);
        ck_assert_ptr_nonnull(want);
        ck_assert_str_eq(json_string_value(json_object_get(v, "dtype")), "f32");
        ck_assert_str_eq(json_string_value(json_object_get(v, "device")), "mps");
        ck_assert_str_eq(json_string_value(json_object_get(v, "sha256")),
                         json_string_value(json_object_get(want, "sha256")));
    }
    json_decref(j);
    free(out);
    /* strict refuses it (tch, which always casts, refuses the rule) */
    char *strict[] = {"load", file, "--device", "mps", "--backend", "sim", "--policy",
                      (char *)convert_policies[_i], "--store-dtype", "f32", "--dtype-rule",
                      "strict", "--json", NULL};
    rc = tu_run_cmd(hx_cmd_load, strict, dir, &out);
    ck_assert_int_eq(rc, 1);
    j = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")),
                     _i == 2 ? "LG_E_INVALID" : "LG_E_DTYPE");
    json_decref(j);
    free(out);
    json_decref(m);
}
END_TEST

/* ------------------------------------------- the suite and its report */

static const char suite_yaml[] =
    "suite: t\n"
    "defaults: {backend: sim, device: mps, file: small}\n"
    "fixtures:\n"
    "  small: {generate: {format: safetensors, tensors: 4, shape: [8, 8], dtype: f32, seed: 1}}\n"
    "cases:\n"
    "  - name: tch-missing\n"
    "    policy: tch\n"
    "    store: {mirror: true, add: [{name: not.in.file, dtype: f32, shape: [2]}]}\n"
    "    xfail: \"atomic: copied in place before the missing name\"\n"
    "    expect: {outcome: error, error: LG_E_NOTFOUND}\n"
    "  - name: tch-missing-named-wrong\n"
    "    policy: tch\n"
    "    store: {mirror: true, add: [{name: not.in.file, dtype: f32, shape: [2]}]}\n"
    "    xfail: \"values, atomic: not what breaks here\"\n"
    "    expect: {outcome: error, error: LG_E_NOTFOUND}\n"
    "  - name: tch-missing-free-words\n"
    "    policy: tch\n"
    "    store: {mirror: true, add: [{name: not.in.file, dtype: f32, shape: [2]}]}\n"
    "    xfail: \"tch-rs half-writes\"\n"
    "    expect: {outcome: error, error: LG_E_NOTFOUND}\n"
    "  - name: via-cpu-missing\n"
    "    policy: via-cpu\n"
    "    store: {mirror: true, add: [{name: not.in.file, dtype: f32, shape: [2]}]}\n"
    "    expect: {outcome: error, error: LG_E_NOTFOUND}\n";

static const char *status_of(json_t *report, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(report, "cases"), i, c) {
        if (!strcmp(json_string_value(json_object_get(c, "name")), name))
            return json_string_value(json_object_get(c, "status"));
    }
    return "(none)";
}

/* lg_store_load_open under tch opens the file again, as tch-rs does, with
 * the open checkpoint's key, crc and trust_code, as every other policy
 * reads that checkpoint (loadgate.h); and refuses a checkpoint opened for
 * another backend, as they do. train_with_args.pt is refused whole (an
 * argparse.Namespace) and loads under the key "model". */
START_TEST(test_tch_load_open_uses_the_checkpoints_options)
{
    const char *path = LG_SOURCE_DIR "/tests/data/interop/train_with_args.pt";
    lg_backend *b, *other;
    lg_store *s;
    lg_checkpoint *c;
    int64_t shape_b[1] = {3}, shape_w[2] = {3, 2};
    ck_assert_int_eq(lg_backend_open("sim", &b), LG_OK);
    ck_assert_int_eq(lg_backend_open("sim", &other), LG_OK);
    ck_assert_int_eq(lg_store_new(b, lg_device_cpu(), &s), LG_OK);
    ck_assert_int_eq(lg_store_add(s, "b", LG_F32, 1, shape_b), LG_OK);
    ck_assert_int_eq(lg_store_add(s, "w", LG_F32, 2, shape_w), LG_OK);
    lg_open_options oo = {.backend = b, .key = "model", .crc = "warn"};
    ck_assert_int_eq(lg_checkpoint_open(path, &oo, &c), LG_OK);
    for (int p = 0; p < 2; p++) {
        lg_load_options o;
        lg_load_options_init(&o);
        o.policy = p ? LG_POLICY_TCH : LG_POLICY_DIRECT;
        lg_status st = lg_store_load_open(s, c, &o, NULL);
        ck_assert_msg(st == LG_OK, "%s: %s", lg_policy_name(o.policy), lg_error_message());
    }
    lg_checkpoint_close(c);
    oo.backend = other;
    ck_assert_int_eq(lg_checkpoint_open(path, &oo, &c), LG_OK);
    lg_load_options o;
    lg_load_options_init(&o);
    o.policy = LG_POLICY_TCH;
    ck_assert_int_eq(lg_store_load_open(s, c, &o, NULL), LG_E_INVALID);
    ck_assert_ptr_nonnull(strstr(lg_error_message(), "another backend"));
    lg_checkpoint_close(c);
    lg_store_free(s);
    lg_backend_close(other);
    lg_backend_close(b);
}
END_TEST

/* An xfail that names invariants is an xfail only when exactly those
 * break; summary.md and index.html carry the tch vs via-cpu table. */
START_TEST(test_xfail_names_invariants_and_table)
{
    char *out = NULL;
    const char *yaml = tu_path(dir, "t.yaml"), *rep = tu_path(dir, "rep");
    ck_assert_int_eq(tu_write(yaml, suite_yaml, sizeof suite_yaml - 1), 0);
    char *argv[] = {"run", (char *)yaml, "-o", (char *)rep, NULL};
    int rc = tu_run_cmd(hx_cmd_run, argv, dir, &out);
    free(out);
    ck_assert_int_eq(rc, 1); /* the wrongly named xfail fails the run */
    json_t *r = json_load_file(tu_path(rep, "report.json"), 0, NULL);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(status_of(r, "tch-missing"), "xfail");
    ck_assert_str_eq(status_of(r, "tch-missing-named-wrong"), "fail");
    ck_assert_str_eq(status_of(r, "tch-missing-free-words"), "xfail");
    ck_assert_str_eq(status_of(r, "via-cpu-missing"), "pass");
    json_decref(r);
    size_t n;
    char *md = tu_read(tu_path(rep, "summary.md"), &n);
    ck_assert_ptr_nonnull(md);
    ck_assert_ptr_nonnull(strstr(md, "## tch-rs's pattern beside via-cpu"));
    /* three tch cases broke atomic, the via-cpu one held it */
    ck_assert_ptr_nonnull(strstr(md, "| atomic | 0 | 3 | 1 | 0 |"));
    free(md);
    char *html = tu_read(tu_path(rep, "index.html"), &n);
    ck_assert_ptr_nonnull(html);
    ck_assert_ptr_nonnull(strstr(html, "\"policies\":{"));
    free(html);
}
END_TEST

/* ---------------------------------------- the readers, with libtorch */

#ifdef LOADGATE_HAVE_TORCH
/* tch-rs's VarStore::named_tensors picks the reader from the extension:
 * .pt through _load_parameters, .safetensors on the CPU, anything else
 * (.ot) through jit::load. The trace's deserialize events name it. */
typedef struct {
    const char *file, *reader;
} by_ext;

static const by_ext extensions[] = {
    {"w.pt", "torch-params"}, {"w.safetensors", "safetensors"}, {"w.ot", "torchscript"},
};

static void write_weights(const char *path, const char *name)
{
    static float w[16], b[4];
    static const int64_t ws[2] = {4, 4}, bs[1] = {4};
    for (int i = 0; i < 16; i++)
        w[i] = (float)i / 4;
    for (int i = 0; i < 4; i++)
        b[i] = -(float)i;
    lg_named_data t[2] = {{"fc.weight", LG_F32, 2, ws, w}, {"fc.bias", LG_F32, 1, bs, b}};
    if (strstr(name, ".safetensors")) {
        ck_assert_int_eq(tu_write_safetensors(path, 2, 4, 4), 0);
        return;
    }
    const char *format = strstr(name, ".pt") ? "torch-params" : "torch-archive";
    ck_assert_msg(lg_torch_write_file(path, format, t, 2) == LG_OK, "%s", lg_error_message());
}

START_TEST(test_tch_reader_by_extension)
{
    const by_ext *x = &extensions[_i];
    const char *path = tu_path(dir, x->file);
    write_weights(path, x->file);
    lg_backend *b;
    ck_assert_int_eq(lg_backend_open("torch", &b), LG_OK);
    hx_load_req q = {.backend = b, .device = lg_device_cpu(), .path = path};
    lg_load_options_init(&q.opt);
    q.opt.policy = LG_POLICY_TCH;
    hx_outcome o;
    ck_assert_int_eq(hx_check_load(&q, &o), LG_OK);
    ck_assert_msg(o.status == LG_OK, "%s: %s", x->file, o.message);
    ck_assert_str_eq(o.stats.tch_reader, x->reader);
    int seen = 0;
    for (size_t i = 0; i < lg_trace_count(o.trace); i++) {
        const lg_event *e = lg_trace_event(o.trace, i);
        if (e->op == LG_OP_DESERIALIZE) {
            ck_assert_str_eq(e->detail, x->reader);
            seen++;
        }
    }
    ck_assert_int_eq(seen, 2);
    ck_assert_int_eq(o.inv[HX_INV_VALUES], HX_PASS);
    hx_outcome_free(&o);
    lg_backend_close(b);
}
END_TEST
#endif

int main(void)
{
    Suite *s = suite_create("tch");
    TCase *t = tcase_create("tch");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_tch_loads_through_cpu);
    tcase_add_test(t, test_tch_cpu_store_moves_nothing);
    tcase_add_test(t, test_tch_order_is_seeded);
    tcase_add_test(t, test_tch_missing_name_half_writes);
    tcase_add_test(t, test_tch_broadcasts);
    tcase_add_test(t, test_tch_restore_panics_part_way);
    tcase_add_test(t, test_tch_move_panics_part_way);
    tcase_add_test(t, test_tch_clean_load_holds_invariants);
    tcase_add_test(t, test_tch_split_store_breaks_consistent_and_restored);
    tcase_add_test(t, test_tch_refuses_other_rules);
    tcase_add_loop_test(t, test_f64_into_f32_store_matches_pytorch, 0, 3);
    tcase_add_test(t, test_xfail_names_invariants_and_table);
    tcase_add_test(t, test_tch_load_open_uses_the_checkpoints_options);
#ifdef LOADGATE_HAVE_TORCH
    TCase *torch = tcase_create("tch-torch");
    tcase_set_timeout(torch, 120);
    tcase_add_checked_fixture(torch, setup, teardown);
    tcase_add_loop_test(torch, test_tch_reader_by_extension, 0,
                        (int)(sizeof extensions / sizeof extensions[0]));
    suite_add_tcase(s, torch);
#else
    printf("test_tch: the reader-by-extension tests are skipped: this build has no libtorch\n");
#endif
    suite_add_tcase(s, t);
    return tu_run_suite(s) ? 1 : 0;
}
