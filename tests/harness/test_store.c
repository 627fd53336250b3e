/* The store and its load policies on the sim backend: the MPS workaround,
 * all-or-nothing loads, restores and the trace. */
#include "case/case.h" /* and the harness's check.h */
#include "testutil.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static const char *dir;
static char small[1024], eight[1024], f64file[1024];

static void setup(void)
{
    dir = tu_tmpdir();
    snprintf(small, sizeof small, "%s", tu_path(dir, "small.safetensors"));
    snprintf(eight, sizeof eight, "%s", tu_path(dir, "eight.safetensors"));
    ck_assert_int_eq(tu_write_safetensors(small, 2, 4, 4), 0);
    ck_assert_int_eq(tu_write_safetensors(eight, 8, 8, 8), 0);
    /* one f64 tensor: 1 + 2^-30 (1.0 as f32), -2.5 */
    static const char hdr[] = "{\"w\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}";
    unsigned char buf[8 + sizeof hdr - 1 + 16] = {0};
    const double w[2] = {1.0 + 1.0 / 1073741824.0, -2.5};
    buf[0] = (unsigned char)(sizeof hdr - 1);
    memcpy(buf + 8, hdr, sizeof hdr - 1);
    memcpy(buf + 8 + sizeof hdr - 1, w, sizeof w);
    snprintf(f64file, sizeof f64file, "%s", tu_path(dir, "f64.safetensors"));
    ck_assert_int_eq(tu_write(f64file, buf, sizeof buf), 0);
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

/* Runs one checked load on a fresh sim backend. */
typedef struct {
    const char *point;
    lg_fault_schedule s;
} fault_arg;

static void arm(void *ctx)
{
    fault_arg *f = ctx;
    if (f)
        ck_assert_int_eq(lg_fault_set(f->point, &f->s), LG_OK);
}

static lg_backend *sim(void)
{
    lg_backend *b;
    ck_assert_int_eq(lg_backend_open("sim", &b), LG_OK);
    return b;
}

static void run(lg_backend *b, const char *path, const char *device, lg_policy p,
                fault_arg *f, hx_outcome *o)
{
    hx_load_req q = {.backend = b, .device = dev(device), .path = path};
    lg_load_options_init(&q.opt);
    q.opt.policy = p;
    q.before_load = arm;
    q.ctx = f;
    ck_assert_int_eq(hx_check_load(&q, o), LG_OK);
    ck_assert(o->ran);
}

static void assert_invariants(const hx_outcome *o)
{
    for (int i = 0; i < HX_INV_COUNT; i++)
        ck_assert_msg(o->inv[i] != HX_FAIL, "invariant %s failed: %s", hx_inv_name((hx_inv)i),
                      o->why[i]);
}

static int count_op(const hx_outcome *o, lg_op op, const char *to)
{
    int n = 0;
    for (size_t i = 0; i < lg_trace_count(o->trace); i++) {
        const lg_event *e = lg_trace_event(o->trace, i);
        n += e->op == op && (!to || lg_device_equal(e->to, dev(to)));
    }
    return n;
}

static const lg_policy workaround_policies[] = {LG_POLICY_VIA_CPU, LG_POLICY_STAGED, LG_POLICY_AUTO};

START_TEST(test_mps_goes_through_cpu)
{
    lg_policy p = workaround_policies[_i];
    lg_backend *b = sim();
    hx_outcome o;
    run(b, eight, "mps", p, NULL, &o);
    ck_assert_msg(o.status == LG_OK, "%s", o.message);
    ck_assert_int_eq(o.inv[HX_INV_VIA_CPU], HX_PASS);
    ck_assert_int_eq(o.inv[HX_INV_VALUES], HX_PASS);
    ck_assert_int_eq(o.inv[HX_INV_RESTORED], HX_PASS);
    ck_assert_int_eq(o.inv[HX_INV_NO_LEAK], HX_PASS);
    assert_invariants(&o);
    ck_assert_int_eq(count_op(&o, LG_OP_DESERIALIZE, "mps"), 0);
    ck_assert_int_eq(count_op(&o, LG_OP_DESERIALIZE, "cpu"), 8);
    ck_assert(o.moved[LG_DEV_CPU][LG_DEV_MPS] >= 8 * 8 * 8 * 4);
    if (p == LG_POLICY_VIA_CPU) /* the store itself went to cpu and back */
        ck_assert_int_eq(count_op(&o, LG_OP_SET_DEVICE, NULL), 2);
    else
        ck_assert_int_eq(count_op(&o, LG_OP_SET_DEVICE, NULL), 0);
    ck_assert_int_eq(o.policy_used, p == LG_POLICY_AUTO ? LG_POLICY_STAGED : p);
    hx_outcome_free(&o);
    lg_backend_close(b);
}
END_TEST

START_TEST(test_direct_mps_refused)
{
    lg_backend *b = sim();
    hx_outcome o;
    run(b, eight, "mps", LG_POLICY_DIRECT, NULL, &o);
    ck_assert_int_eq(o.status, LG_E_DEVICE);
    ck_assert_ptr_nonnull(strstr(o.message, "supported devices include CPU, CUDA and HPU, however got MPS"));
    ck_assert_ptr_nonnull(strstr(o.message, "eight.safetensors"));
    assert_invariants(&o);
    ck_assert_int_eq(o.inv[HX_INV_ATOMIC], HX_PASS);
    hx_outcome_free(&o);
    lg_backend_close(b);
}
END_TEST

START_TEST(test_direct_ok_when_profile_allows)
{
    lg_backend *b = sim();
    hx_outcome o;
    ck_assert_int_eq(lg_sim_profile_set(b, dev("mps"), "direct_deserialize", "ok"), LG_OK);
    run(b, eight, "mps", LG_POLICY_AUTO, NULL, &o);
    ck_assert_int_eq(o.status, LG_OK);
    ck_assert_int_eq(o.policy_used, LG_POLICY_DIRECT);
    ck_assert_int_eq(count_op(&o, LG_OP_DESERIALIZE, "mps"), 8);
    assert_invariants(&o);
    hx_outcome_free(&o);
    lg_backend_close(b);
}
END_TEST

START_TEST(test_cpu_every_policy)
{
    for (int p = 0; p <= LG_POLICY_AUTO; p++) {
        lg_backend *b = sim();
        hx_outcome o;
        run(b, eight, "cpu", (lg_policy)p, NULL, &o);
        ck_assert_msg(o.status == LG_OK, "%s: %s", lg_policy_name((lg_policy)p), o.message);
        ck_assert_int_eq(o.inv[HX_INV_VALUES], HX_PASS);
        ck_assert_int_eq(o.inv[HX_INV_VIA_CPU], HX_NA);
        assert_invariants(&o);
        hx_outcome_free(&o);
        lg_backend_close(b);
    }
}
END_TEST

/* The 5th of 8 copies fails: nothing of the store changes. */
START_TEST(test_fail_in_the_middle)
{
    lg_policy p = workaround_policies[_i];
    static const char *const points[] = {"device.copy", "device.alloc"};
    for (int k = 0; k < 2; k++) {
        lg_backend *b = sim();
        hx_outcome o;
        fault_arg f = {points[k], {.when = LG_FAULT_NTH, .k = 5}};
        run(b, eight, "mps", p, &f, &o);
        ck_assert_msg(o.status == LG_E_DEVICE, "%s %s: %s", lg_policy_name(p), points[k],
                      lg_status_name(o.status));
        ck_assert_int_eq(o.fault_fired, 1);
        ck_assert_int_eq(o.inv[HX_INV_ATOMIC], HX_PASS);
        ck_assert_int_eq(o.inv[HX_INV_RESTORED], HX_PASS);
        assert_invariants(&o);
        hx_outcome_free(&o);
        lg_backend_close(b);
    }
}
END_TEST

START_TEST(test_fail_in_the_middle_direct)
{
    lg_backend *b = sim();
    hx_outcome o;
    ck_assert_int_eq(lg_sim_profile_set(b, dev("cuda"), "direct_deserialize", "ok"), LG_OK);
    fault_arg f = {"device.alloc", {.when = LG_FAULT_NTH, .k = 5}};
    run(b, eight, "cuda", LG_POLICY_DIRECT, &f, &o);
    ck_assert_int_eq(o.status, LG_E_DEVICE);
    ck_assert_int_eq(o.inv[HX_INV_ATOMIC], HX_PASS);
    assert_invariants(&o);
    hx_outcome_free(&o);
    lg_backend_close(b);
}
END_TEST

START_TEST(test_shape_mismatch)
{
    lg_backend *b = sim();
    lg_store *s;
    int64_t shape[2] = {1, 4}; /* [1, 4] would broadcast into [4, 4] */
    ck_assert_int_eq(lg_store_new(b, dev("mps"), &s), LG_OK);
    ck_assert_int_eq(lg_store_add(s, "t0", LG_F32, 2, shape), LG_OK);
    ck_assert_int_eq(lg_store_load(s, small, NULL, NULL), LG_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(lg_error_message(), "\"t0\""));
    ck_assert_ptr_nonnull(strstr(lg_error_message(), "[4, 4]"));
    ck_assert_ptr_nonnull(strstr(lg_error_message(), "[1, 4]"));
    ck_assert(lg_device_equal(lg_store_device(s), dev("mps")));
    lg_store_free(s);
    ck_assert_int_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

START_TEST(test_notfound_and_extra)
{
    lg_backend *b = sim();
    lg_store *s;
    int64_t shape[2] = {4, 4};
    ck_assert_int_eq(lg_store_new(b, dev("cpu"), &s), LG_OK);
    ck_assert_int_eq(lg_store_add(s, "t1", LG_F32, 2, shape), LG_OK); /* t0 is extra */
    ck_assert_int_eq(lg_store_load(s, small, NULL, NULL), LG_OK);
    float v[16];
    ck_assert_int_eq(lg_store_read(s, 0, v, sizeof v, NULL), LG_OK);
    ck_assert(v[3] == 1003.0f);
    ck_assert_int_eq(lg_store_add(s, "missing", LG_F32, 2, shape), LG_OK);
    ck_assert_int_eq(lg_store_load(s, small, NULL, NULL), LG_E_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(lg_error_message(), "\"missing\""));
    lg_store_free(s);
    lg_backend_close(b);
}
END_TEST

START_TEST(test_f64_into_mps)
{
    lg_backend *b = sim();
    lg_store *s;
    lg_trace *t;
    int64_t shape[1] = {2};
    ck_assert_int_eq(lg_trace_new(&t), LG_OK);
    ck_assert_int_eq(lg_store_new(b, dev("mps"), &s), LG_OK);
    ck_assert_int_eq(lg_store_add(s, "w", LG_F32, 1, shape), LG_OK);
    lg_store_set_trace(s, t);
    /* adopt: the variable would become f64, which mps cannot hold */
    for (int p = 0; p <= LG_POLICY_AUTO; p++) {
        lg_load_options o;
        lg_load_options_init(&o);
        o.policy = (lg_policy)p;
        o.dtype_rule = LG_DTYPE_ADOPT;
        ck_assert_int_eq(lg_store_load(s, f64file, &o, NULL), LG_E_DTYPE);
        ck_assert_ptr_nonnull(strstr(lg_error_message(), "MPS framework doesn't support float64"));
        ck_assert_ptr_nonnull(strstr(lg_error_message(), "\"w\""));
    }
    ck_assert_int_eq(lg_trace_count(t), 0); /* refused before anything moved */
    ck_assert_int_eq(lg_store_var(s, 0)->dtype, LG_F32);
    /* convert (the default, tch-rs's copy_): the values are cast into the
     * f32 variable, which stays f32 on mps (direct: sim mps refuses
     * deserialization itself) */
    for (int p = 0; p <= LG_POLICY_AUTO; p++) {
        lg_load_options o;
        lg_load_options_init(&o);
        o.policy = (lg_policy)p;
        ck_assert_int_eq(lg_store_load(s, f64file, &o, NULL),
                         p == LG_POLICY_DIRECT ? LG_E_DEVICE : LG_OK);
        float v[2] = {0, 0};
        lg_device where;
        ck_assert_int_eq(lg_store_var(s, 0)->dtype, LG_F32);
        ck_assert_int_eq(lg_store_var(s, 0)->nbytes, 8);
        ck_assert_int_eq(lg_store_read(s, 0, v, sizeof v, &where), LG_OK);
        ck_assert(lg_device_equal(where, dev("mps")));
        ck_assert(v[0] == 1.0f && v[1] == -2.5f);
    }
    /* on cpu, adopt gives the variable the file's dtype */
    ck_assert_int_eq(lg_store_set_device(s, dev("cpu")), LG_OK);
    lg_load_options o;
    lg_load_options_init(&o);
    ck_assert_int_eq(o.dtype_rule, LG_DTYPE_CONVERT);
    o.dtype_rule = LG_DTYPE_ADOPT;
    ck_assert_int_eq(lg_store_load(s, f64file, &o, NULL), LG_OK);
    ck_assert_int_eq(lg_store_var(s, 0)->dtype, LG_F64);
    ck_assert_int_eq(lg_store_var(s, 0)->nbytes, 16);
    /* and it can then no longer go to mps */
    ck_assert_int_eq(lg_store_set_device(s, dev("mps")), LG_E_DTYPE);
    ck_assert(lg_device_equal(lg_store_device(s), dev("cpu")));
    /* strict refuses the mismatch */
    lg_store_free(s);
    ck_assert_int_eq(lg_store_new(b, dev("cpu"), &s), LG_OK);
    ck_assert_int_eq(lg_store_add(s, "w", LG_F32, 1, shape), LG_OK);
    o.dtype_rule = LG_DTYPE_STRICT;
    ck_assert_int_eq(lg_store_load(s, f64file, &o, NULL), LG_E_DTYPE);
    ck_assert_ptr_nonnull(strstr(lg_error_message(), "strict"));
    lg_store_free(s);
    /* convert refuses up front only a variable mps cannot hold */
    ck_assert_int_eq(lg_store_new(b, dev("mps"), &s), LG_OK);
    ck_assert_int_eq(lg_store_add(s, "w", LG_F64, 1, shape), LG_E_DTYPE);
    lg_store_free(s);
    lg_trace_free(t);
    lg_backend_close(b);
}
END_TEST

/* Bytes allocated minus bytes freed on d, by the trace's events. */
static long long trace_balance(const lg_trace *t, lg_device d)
{
    long long n = 0;
    for (size_t i = 0; i < lg_trace_count(t); i++) {
        const lg_event *e = lg_trace_event(t, i);
        if (!lg_device_equal(e->to, d))
            continue;
        if (e->op == LG_OP_ALLOC && e->ok)
            n += (long long)e->bytes;
        else if (e->op == LG_OP_FREE)
            n -= (long long)e->bytes;
    }
    return n;
}

/* via-cpu with adopt changes a variable's dtype (f32 to f64) on its way
 * through cpu: every tensor freed there is traced with its own size, so
 * that cpu's allocations and frees balance, whether the load succeeds or
 * the new values cannot go home and the previous ones are put back. */
START_TEST(test_adopt_via_cpu_trace_balances)
{
    int64_t shape[1] = {2};
    for (int fail = 0; fail < 2; fail++) {
        lg_backend *b = sim();
        lg_store *s;
        lg_trace *t;
        ck_assert_int_eq(lg_trace_new(&t), LG_OK);
        ck_assert_int_eq(lg_store_new(b, dev("cuda"), &s), LG_OK);
        ck_assert_int_eq(lg_store_add(s, "w", LG_F32, 1, shape), LG_OK);
        lg_store_set_trace(s, t);
        lg_load_options o;
        lg_load_options_init(&o);
        o.policy = LG_POLICY_VIA_CPU;
        o.dtype_rule = LG_DTYPE_ADOPT;
        lg_fault_schedule once = {.when = LG_FAULT_NTH, .k = 1};
        if (fail)
            ck_assert_int_eq(lg_fault_set("store.restore", &once), LG_OK);
        lg_status st = lg_store_load(s, f64file, &o, NULL);
        lg_fault_clear();
        ck_assert_int_eq(st, fail ? LG_E_DEVICE : LG_OK);
        ck_assert_int_eq(lg_store_var(s, 0)->dtype, fail ? LG_F32 : LG_F64);
        ck_assert_int_eq(trace_balance(t, dev("cpu")), 0);
        /* on cuda: the new f64 variable in place of the f32 one, or the
         * f32 one again */
        ck_assert_int_eq(trace_balance(t, dev("cuda")), fail ? 0 : 16 - 8);
        lg_store_free(s);
        lg_trace_free(t);
        lg_backend_close(b);
    }
}
END_TEST

/* The f64 tensor of tests/data/casts into an explicit store of one f32
 * variable on sim mps, through the harness (default rule, convert): every
 * invariant holds, the variable stays f32 on mps, and its bytes are
 * PyTorch's `t.to(torch.float32)` (the manifest's sha256). */
START_TEST(test_pytorch_f64_into_f32_store)
{
    char path[1024], mpath[1024], hex[65], want[65] = "";
    size_t sel[256], nsel = 0;
    snprintf(path, sizeof path, "%s/tests/data/casts/casts.safetensors", tu_source_dir());
    snprintf(mpath, sizeof mpath, "%s/tests/data/casts/manifest.json", tu_source_dir());
    char *m = tu_read(mpath, &(size_t){0});
    ck_assert_ptr_nonnull(m);
    /* {"from": "f64", "to": "f32", "elements": [0, 1, ...], "sha256": "..."}:
     * the elements compared (NaN's bits are not specified) */
    const char *key = "\"from\": \"f64\", \"to\": \"f32\", \"elements\": [";
    char *at = strstr(m, key), *end;
    ck_assert_ptr_nonnull(at);
    for (at += strlen(key); *at != ']'; at = end + (end[0] == ',')) {
        ck_assert_uint_lt(nsel, 256);
        sel[nsel++] = (size_t)strtoul(at, &end, 10);
        ck_assert_ptr_ne(end, at);
    }
    at = strstr(at, "\"sha256\": \"");
    ck_assert_ptr_nonnull(at);
    memcpy(want, at + strlen("\"sha256\": \""), 64);
    free(m);
    lg_backend *b = sim();
    lg_checkpoint *c;
    ck_assert_int_eq(lg_checkpoint_open(path, NULL, &c), LG_OK);
    const lg_tensor_info *t = lg_checkpoint_tensor(c, lg_checkpoint_find(c, "f64"));
    ck_assert_int_eq(t->dtype, LG_F64);
    hx_var v = {.name = "f64", .dtype = LG_F32, .ndim = t->ndim};
    memcpy(v.shape, t->shape, sizeof v.shape);
    lg_checkpoint_close(c);
    hx_store_spec sp = {.mirror = 0, .vars = &v, .nvars = 1};
    for (size_t p = 0; p < 3; p++) {
        hx_outcome o;
        hx_load_req q = {.backend = b, .device = dev("mps"), .path = path, .store = &sp};
        lg_load_options_init(&q.opt);
        q.opt.policy = workaround_policies[p];
        ck_assert_int_eq(hx_check_load(&q, &o), LG_OK);
        ck_assert_msg(o.status == LG_OK, "%s", o.message);
        assert_invariants(&o);
        ck_assert_int_eq(o.inv[HX_INV_VALUES], HX_PASS);
        hx_outcome_free(&o);
    }
    /* the same, read back by hand */
    lg_store *s;
    ck_assert_int_eq(lg_store_new(b, dev("mps"), &s), LG_OK);
    ck_assert_int_eq(lg_store_add(s, "f64", LG_F32, v.ndim, v.shape), LG_OK);
    ck_assert_int_eq(lg_store_load(s, path, NULL, NULL), LG_OK);
    const lg_tensor_info *w = lg_store_var(s, 0);
    ck_assert_int_eq(w->dtype, LG_F32);
    unsigned char *buf = malloc((size_t)w->nbytes);
    lg_device where;
    ck_assert_int_eq(lg_store_read(s, 0, buf, (size_t)w->nbytes, &where), LG_OK);
    ck_assert(lg_device_equal(where, dev("mps")));
    float *f = (float *)buf;
    for (size_t i = 0; i < nsel; i++) {
        ck_assert_uint_lt(sel[i], w->nbytes / 4);
        f[i] = f[sel[i]]; /* sel is increasing: in place */
    }
    tu_sha256(buf, nsel * 4, hex);
    ck_assert_str_eq(hex, want);
    free(buf);
    lg_store_free(s);
    lg_backend_close(b);
}
END_TEST

/* Moving back fails once: the previous values go back; it keeps failing:
 * LG_E_RESTORE, and the store says truthfully that it is on cpu. */
START_TEST(test_restore_failure)
{
    lg_backend *b = sim();
    hx_outcome o;
    fault_arg once = {"store.restore", {.when = LG_FAULT_NTH, .k = 3}};
    run(b, eight, "mps", LG_POLICY_VIA_CPU, &once, &o);
    ck_assert_int_eq(o.status, LG_E_DEVICE);
    ck_assert_ptr_nonnull(strstr(o.message, "restored with its previous values"));
    assert_invariants(&o);
    ck_assert_int_eq(o.inv[HX_INV_ATOMIC], HX_PASS);
    hx_outcome_free(&o);

    fault_arg always = {"store.restore", {.when = LG_FAULT_FROM, .k = 1}};
    run(b, eight, "mps", LG_POLICY_VIA_CPU, &always, &o);
    ck_assert_int_eq(o.status, LG_E_RESTORE);
    ck_assert(lg_device_equal(o.after, dev("cpu")));
    ck_assert_int_eq(o.inv[HX_INV_CONSISTENT], HX_PASS);
    ck_assert_int_eq(o.inv[HX_INV_ATOMIC], HX_PASS);
    ck_assert_int_eq(o.inv[HX_INV_NO_LEAK], HX_PASS);
    hx_outcome_free(&o);
    lg_backend_close(b);
}
END_TEST

/* The device runs out of memory on the way back: unchanged store. */
START_TEST(test_oom_on_the_way_back)
{
    lg_backend *b = sim();
    hx_outcome o;
    /* the store holds 8 x 256 bytes; the retyped file would need more */
    ck_assert_int_eq(lg_sim_profile_set(b, dev("mps"), "capacity", "2000"), LG_OK);
    hx_store_spec sp = {.mirror = 1};
    hx_var retype = {.name = "t7", .dtype = LG_I8};
    sp.retype = &retype;
    sp.nretype = 1;
    hx_load_req q = {.backend = b, .device = dev("mps"), .path = eight, .store = &sp};
    lg_load_options_init(&q.opt);
    q.opt.dtype_rule = LG_DTYPE_ADOPT; /* t7 grows back to f32 */
    ck_assert_int_eq(hx_check_load(&q, &o), LG_OK);
    ck_assert_int_eq(o.status, LG_E_DEVICE);
    ck_assert_ptr_nonnull(strstr(o.message, "out of memory"));
    assert_invariants(&o);
    ck_assert_int_eq(o.inv[HX_INV_ATOMIC], HX_PASS);
    ck_assert(lg_device_equal(o.after, dev("mps")));
    hx_outcome_free(&o);
    lg_backend_close(b);
}
END_TEST

START_TEST(test_staging_is_bounded)
{
    lg_backend *b = sim();
    lg_store *s;
    int64_t shape[2] = {8, 8};
    ck_assert_int_eq(lg_store_new(b, dev("mps"), &s), LG_OK);
    for (int i = 0; i < 8; i++) {
        char name[8];
        snprintf(name, sizeof name, "t%d", i);
        ck_assert_int_eq(lg_store_add(s, name, LG_F32, 2, shape), LG_OK);
    }
    lg_load_options o;
    lg_load_stats st;
    lg_load_options_init(&o);
    o.policy = LG_POLICY_STAGED;
    ck_assert_int_eq(lg_store_load(s, eight, &o, &st), LG_OK);
    ck_assert_int_eq(st.staging_peak_bytes, 256); /* one tensor at a time */
    o.staging_budget = 600;
    ck_assert_int_eq(lg_store_load(s, eight, &o, &st), LG_OK);
    ck_assert_int_eq(st.staging_peak_bytes, 512); /* two fit in 600 bytes */
    ck_assert_uint_lt(st.staging_peak_bytes, st.bytes_loaded);
    lg_store_free(s);
    lg_backend_close(b);
}
END_TEST

/* SQLite-style: fail the Nth allocation, N = 1, 2, ... until a load hits
 * no fault; every run ends in a classified error or a correct load, with
 * every invariant holding. */
START_TEST(test_fault_sweeps)
{
    static const char *const points[] = {"mem.alloc", "io.open", "io.read", "io.mmap",
                                         "format.parse", "device.alloc", "device.copy",
                                         "store.move", "store.restore"};
    lg_policy p = (lg_policy)(_i % 4);
    const char *point = points[_i / 4];
    for (int persistent = 0; persistent < 2; persistent++) {
        for (uint64_t k = 1; k < 10000; k++) {
            lg_backend *b = sim();
            hx_outcome o;
            fault_arg f = {point, {.when = persistent ? LG_FAULT_FROM : LG_FAULT_NTH, .k = k}};
            run(b, eight, "mps", p, &f, &o);
            int fired = o.fault_fired > 0;
            ck_assert_msg(o.status != LG_OK || !fired || !persistent || !strcmp(point, "io.read"),
                          "%s k=%llu: a persistent fault went unnoticed", point,
                          (unsigned long long)k);
            assert_invariants(&o);
            hx_outcome_free(&o);
            lg_backend_close(b);
            if (!fired)
                break;
        }
    }
}
END_TEST

START_TEST(test_set_device_all_or_nothing)
{
    lg_backend *b = sim();
    lg_store *s;
    int64_t shape[1] = {100};
    ck_assert_int_eq(lg_store_new(b, dev("cpu"), &s), LG_OK);
    ck_assert_int_eq(lg_store_add(s, "a", LG_F32, 1, shape), LG_OK);
    ck_assert_int_eq(lg_store_add(s, "b", LG_F32, 1, shape), LG_OK);
    lg_fault_schedule f = {.when = LG_FAULT_NTH, .k = 2};
    ck_assert_int_eq(lg_fault_set("store.move", &f), LG_OK);
    ck_assert_int_eq(lg_store_set_device(s, dev("mps")), LG_E_DEVICE);
    ck_assert(lg_device_equal(lg_store_device(s), dev("cpu")));
    ck_assert_int_eq(lg_backend_device_bytes(b, dev("mps")), 0);
    ck_assert_int_eq(lg_backend_live_tensors(b), 2);
    lg_fault_clear();
    ck_assert_int_eq(lg_store_set_device(s, dev("mps")), LG_OK);
    ck_assert_int_eq(lg_backend_device_bytes(b, dev("mps")), 800);
    ck_assert_int_eq(lg_backend_device_bytes(b, dev("cpu")), 0);
    lg_device where;
    float v[100];
    ck_assert_int_eq(lg_store_read(s, 1, v, sizeof v, &where), LG_OK);
    ck_assert(lg_device_equal(where, dev("mps")));
    lg_store_free(s);
    ck_assert_int_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

START_TEST(test_bad_arguments)
{
    lg_backend *b = sim();
    lg_store *s;
    int64_t shape[1] = {-1};
    ck_assert_int_eq(lg_backend_open("nope", &(lg_backend *){NULL}), LG_E_INVALID);
    ck_assert_int_eq(lg_store_new(b, dev("cuda:3"), &s), LG_E_DEVICE);
    ck_assert_int_eq(lg_store_new(b, dev("cpu"), &s), LG_OK);
    ck_assert_int_eq(lg_store_add(s, "x", LG_F32, 1, shape), LG_E_INVALID);
    ck_assert_int_eq(lg_store_add(s, "", LG_F32, 0, NULL), LG_E_INVALID);
    ck_assert_int_eq(lg_store_add(s, "y", LG_F32, 0, NULL), LG_OK);
    ck_assert_int_eq(lg_store_add(s, "y", LG_F32, 0, NULL), LG_E_INVALID);
    ck_assert_int_eq(lg_store_load(s, tu_path(dir, "absent"), NULL, NULL), LG_E_IO);
    ck_assert_ptr_nonnull(strstr(lg_error_message(), "absent"));
    ck_assert_int_eq(lg_sim_profile_set(b, dev("mps"), "colour", "red"), LG_E_INVALID);
    ck_assert_int_eq(lg_sim_profile_set(b, dev("mps"), "capacity", "lots"), LG_E_INVALID);
    lg_store_free(s);
    lg_backend_close(b);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("policies");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_mps_goes_through_cpu, 0, 3);
    tcase_add_test(tc, test_direct_mps_refused);
    tcase_add_test(tc, test_direct_ok_when_profile_allows);
    tcase_add_test(tc, test_cpu_every_policy);
    tcase_add_loop_test(tc, test_fail_in_the_middle, 0, 3);
    tcase_add_test(tc, test_fail_in_the_middle_direct);
    tcase_add_test(tc, test_shape_mismatch);
    tcase_add_test(tc, test_notfound_and_extra);
    tcase_add_test(tc, test_f64_into_mps);
    tcase_add_test(tc, test_adopt_via_cpu_trace_balances);
    tcase_add_test(tc, test_pytorch_f64_into_f32_store);
    tcase_add_test(tc, test_restore_failure);
    tcase_add_test(tc, test_oom_on_the_way_back);
    tcase_add_test(tc, test_staging_is_bounded);
    tcase_add_loop_test(tc, test_fault_sweeps, 0, 36);
    tcase_add_test(tc, test_set_device_all_or_nothing);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = tu_run_suite(store_suite());
    return failed ? 1 : 0;
}
