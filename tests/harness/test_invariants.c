/* The checks of one load (invariants.c): digests of the variables (the
 * default) and the byte comparison of --paranoid give the same verdicts,
 * on successes and on failures, and the checks hold no copy of the store
 * unless asked. */
#include "cmd/cmd.h"
#include "fixture/gen.h"
#include "invariants.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dir;
static char eight[1024];
static char large[1024]; /* 8 tensors of 4 MiB, made by the tests that use it */

static void setup(void)
{
    dir = tu_tmpdir();
    snprintf(eight, sizeof eight, "%s", tu_path(dir, "eight.safetensors"));
    ck_assert_int_eq(tu_write_safetensors(eight, 8, 8, 8), 0);
}

static void teardown(void)
{
    lg_fault_clear();
    tu_rmtree(dir);
}

typedef struct {
    const char *device, *point;
    lg_policy policy;
    int nth;              /* 0: no fault */
    lg_dtype_rule rule;
    int retype_f64;       /* the store's variables f64: convert casts */
    lg_status want;
    int readback;         /* the device reads back wrong bytes: 1 from the
                             start, 2 from right before the load */
    int fails;            /* the invariant that must fail; HX_INV_COUNT: none */
} scenario;

#define NONE HX_INV_COUNT
static const scenario scenarios[] = {
    {"cpu", NULL, LG_POLICY_VIA_CPU, 0, LG_DTYPE_CONVERT, 0, LG_OK, 0, NONE},
    {"mps", NULL, LG_POLICY_STAGED, 0, LG_DTYPE_CONVERT, 0, LG_OK, 0, NONE},
    {"mps", NULL, LG_POLICY_VIA_CPU, 0, LG_DTYPE_CONVERT, 0, LG_OK, 0, NONE},
    {"cuda", NULL, LG_POLICY_VIA_CPU, 0, LG_DTYPE_CONVERT, 1, LG_OK, 0, NONE},
    {"mps", "device.copy", LG_POLICY_VIA_CPU, 5, LG_DTYPE_CONVERT, 0, LG_E_DEVICE, 0, NONE},
    {"mps", "device.alloc", LG_POLICY_STAGED, 3, LG_DTYPE_CONVERT, 0, LG_E_DEVICE, 0, NONE},
    {"cpu", "io.read", LG_POLICY_VIA_CPU, 1, LG_DTYPE_CONVERT, 0, LG_OK, 0, NONE},
    {"cpu", NULL, LG_POLICY_VIA_CPU, 0, LG_DTYPE_STRICT, 1, LG_E_DTYPE, 0, NONE},
    /* the checks must still see wrong bytes: after a success (values) */
    {"cuda", NULL, LG_POLICY_VIA_CPU, 0, LG_DTYPE_CONVERT, 0, LG_OK, 1, HX_INV_VALUES},
    {"cuda", NULL, LG_POLICY_VIA_CPU, 0, LG_DTYPE_CONVERT, 1, LG_OK, 1, HX_INV_VALUES},
    /* on cpu too, where the store is digested in place when it reads back right */
    {"cpu", NULL, LG_POLICY_VIA_CPU, 0, LG_DTYPE_CONVERT, 0, LG_OK, 1, HX_INV_VALUES},
    /* and after a failure, bytes that differ from before the load (atomic) */
    {"cuda", "device.alloc", LG_POLICY_VIA_CPU, 3, LG_DTYPE_CONVERT, 0, LG_E_DEVICE, 2,
     HX_INV_ATOMIC},
};

typedef struct {
    const scenario *sc;
    lg_backend *b;
} run_ctx;

static void set_readback(lg_backend *b, const char *device)
{
    lg_device d;
    ck_assert_int_eq(lg_device_parse(device, &d), LG_OK);
    ck_assert_int_eq(lg_sim_profile_set(b, d, "readback", "wrong"), LG_OK);
}

static void arm(void *ctx)
{
    const run_ctx *r = ctx;
    lg_fault_schedule s = {.when = LG_FAULT_NTH, .k = (uint64_t)r->sc->nth};
    if (r->sc->point)
        ck_assert_int_eq(lg_fault_set(r->sc->point, &s), LG_OK);
    if (r->sc->readback == 2)
        set_readback(r->b, r->sc->device);
}

/* One scenario on path, its large copies on `threads` threads (0: auto). */
static void run_on(const scenario *sc, int paranoid, const char *path, int threads,
                   hx_outcome *o)
{
    static hx_var all = {"*", LG_F64, 0, {0}};
    static hx_store_spec retyped = {.mirror = 1, .retype = &all, .nretype = 1};
    lg_backend *b;
    ck_assert_int_eq(lg_backend_open("sim", &b), LG_OK);
    hx_load_req q = {.backend = b, .path = path, .paranoid = paranoid};
    ck_assert_int_eq(lg_device_parse(sc->device, &q.device), LG_OK);
    lg_load_options_init(&q.opt);
    q.opt.threads = threads;
    q.opt.policy = sc->policy;
    q.opt.dtype_rule = sc->rule;
    q.store = sc->retype_f64 ? &retyped : NULL;
    run_ctx r = {sc, b};
    if (sc->readback == 1)
        set_readback(b, sc->device);
    q.before_load = arm;
    q.ctx = &r;
    ck_assert_int_eq(hx_check_load(&q, o), LG_OK);
    lg_fault_clear();
    lg_backend_close(b);
}

static void run(const scenario *sc, int paranoid, hx_outcome *o)
{
    run_on(sc, paranoid, eight, 0, o);
}

/* Digests and bytes give the same verdicts on path. */
static void digests_agree(int _i, const char *path, int threads)
{
    const scenario *sc = &scenarios[_i];
    hx_outcome d, p;
    run_on(sc, 0, path, threads, &d);
    run_on(sc, 1, path, threads, &p);
    ck_assert_msg(d.status == p.status, "%s vs %s", lg_status_name(d.status),
                  lg_status_name(p.status));
    if (sc->want != LG_OK || !sc->point) /* io.read may be read around (a map) */
        ck_assert_msg(d.status == sc->want, "scenario %d: %s: %s", _i,
                      lg_status_name(d.status), d.message);
    for (int i = 0; i < HX_INV_COUNT; i++) {
        ck_assert_msg(d.inv[i] == p.inv[i], "scenario %d: %s: %s with digests, %s with bytes",
                      _i, hx_inv_name((hx_inv)i), hx_verdict_name(d.inv[i]),
                      hx_verdict_name(p.inv[i]));
        ck_assert_msg(d.inv[i] == (i == sc->fails ? HX_FAIL : d.inv[i] == HX_NA ? HX_NA : HX_PASS),
                      "scenario %d: %s %s: %s", _i, hx_inv_name((hx_inv)i),
                      hx_verdict_name(d.inv[i]), d.why[i]);
    }
    if (sc->fails != NONE)
        ck_assert_msg(strstr(d.why[sc->fails], "\"t0\"") != NULL, "%s", d.why[sc->fails]);
    else if (d.status == LG_OK)
        ck_assert_int_eq(d.inv[HX_INV_VALUES], HX_PASS);
    else
        ck_assert_int_eq(d.inv[HX_INV_ATOMIC], HX_PASS);
    ck_assert_int_eq(d.inv[HX_INV_CONSISTENT], HX_PASS);
    /* values took every tensor's digest from the load's own read: none
     * was read from the file again */
    if (d.status == LG_OK)
        ck_assert_msg(d.read_whole == 8, "scenario %d: %llu of 8 tensors digested as read", _i,
                      (unsigned long long)d.read_whole);
    ck_assert_int_eq(p.read_whole, 0); /* --paranoid compares bytes */
    hx_outcome_free(&d);
    hx_outcome_free(&p);
}

START_TEST(test_digests_agree_with_bytes) { digests_agree(_i, eight, 0); }
END_TEST

/* The same with tensors of 4 MiB (16 pieces), copied on 2 threads (from
 * 8 pieces each): the load shows their pieces from both at once, and the digests are taken
 * piece by piece (util/digest.h), on both sides. */
START_TEST(test_digests_agree_large)
{
    snprintf(large, sizeof large, "%s", tu_path(dir, "large.safetensors"));
    ck_assert_int_eq(tu_write_safetensors(large, 8, 1024, 1024), 0);
    digests_agree(_i, large, 4);
}
END_TEST

/* values compares with the file the load read, not with the file the
 * store was mirrored from: a store mirrored from another file of the same
 * names and shapes loads, and values still passes (the load did its job). */
START_TEST(test_values_reads_the_loaded_file)
{
    char other[1024];
    snprintf(other, sizeof other, "%s", tu_path(dir, "other.safetensors"));
    ck_assert_int_eq(tu_write_safetensors(other, 8, 8, 8), 0);
    lg_backend *b;
    hx_outcome o;
    ck_assert_int_eq(lg_backend_open("sim", &b), LG_OK);
    hx_load_req q = {.backend = b, .path = eight, .store_from = other};
    q.device = lg_device_cpu();
    lg_load_options_init(&q.opt);
    ck_assert_int_eq(hx_check_load(&q, &o), LG_OK);
    ck_assert_msg(o.status == LG_OK, "%s", o.message);
    ck_assert_int_eq(o.inv[HX_INV_VALUES], HX_PASS);
    hx_outcome_free(&o);
    lg_backend_close(b);
}
END_TEST

/* Lines of /proc/self/maps that map path. */
static int maps_of(const char *path)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096];
    int n = 0;
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f))
        n += strstr(line, path) != NULL;
    fclose(f);
    return n;
}

/* The checks close the file they opened, after a failed load as after a
 * success: a worker runs thousands of cases, and each map left behind
 * took a slot of the SIGBUS guard, until a later open found none free and
 * read its file instead (an io.read hit that a fork does not see). */
START_TEST(test_file_closed_after_failure)
{
    hx_outcome o;
    const scenario *failing = &scenarios[4], *passing = &scenarios[0];
    ck_assert_int_eq(failing->want, LG_E_DEVICE);
    ck_assert_int_eq(maps_of(eight), 0);
    for (int i = 0; i < 3; i++) {
        run(failing, 0, &o);
        ck_assert_int_eq(o.status, LG_E_DEVICE);
        hx_outcome_free(&o);
        ck_assert_msg(maps_of(eight) == 0, "run %d: the file is still mapped after a failure", i);
    }
    run(passing, 0, &o);
    ck_assert_int_eq(o.status, LG_OK);
    hx_outcome_free(&o);
    ck_assert_int_eq(maps_of(eight), 0);
}
END_TEST

/* reuse_open: the load reads through the mirror's open, made with the
 * load's own options (its open's fault point is not reached again), with
 * the same verdicts. */
static void reuse_outcome(const char *path, int reuse, hx_outcome *o)
{
    lg_backend *b;
    ck_assert_int_eq(lg_backend_open("sim", &b), LG_OK);
    hx_load_req q = {.backend = b, .path = path, .reuse_open = reuse};
    ck_assert_int_eq(lg_device_parse("mps", &q.device), LG_OK);
    lg_load_options_init(&q.opt);
    ck_assert_int_eq(hx_check_load(&q, o), LG_OK);
    lg_backend_close(b);
}

static void reuse_run(const char *path, int reuse, hx_outcome *o)
{
    reuse_outcome(path, reuse, o);
    ck_assert_msg(o->status == LG_OK, "%s: %s", path, o->message);
    for (int i = 0; i < HX_INV_COUNT; i++)
        ck_assert_msg(o->inv[i] != HX_FAIL, "%s: %s failed: %s", path, hx_inv_name((hx_inv)i),
                      o->why[i]);
}

START_TEST(test_reuse_open)
{
    hx_outcome o;
    reuse_run(eight, 1, &o);
    ck_assert_uint_eq(lg_fault_hits("format.parse"), 0);
    hx_outcome_free(&o);
    reuse_run(eight, 0, &o);
    ck_assert_uint_eq(lg_fault_hits("format.parse"), 1);
    hx_outcome_free(&o);
    /* A torch.save zip: its pickle is read once too. */
    hx_gen g;
    hx_gen_init(&g);
    snprintf(g.format, sizeof g.format, "torch-zip");
    const char *pt = tu_path(dir, "four.pt");
    ck_assert_int_eq(hx_gen_write(&g, pt), LG_OK);
    reuse_run(pt, 1, &o);
    ck_assert_uint_eq(lg_fault_hits("format.parse"), 0);
    hx_outcome_free(&o);
    reuse_run(pt, 0, &o);
    ck_assert_uint_eq(lg_fault_hits("format.parse"), 1);
    hx_outcome_free(&o);
}
END_TEST

/* A torch.save zip whose pickle no longer matches its CRC-32 (a letter of
 * a tensor's name changed): the open with the load's crc fails, so the
 * mirror is built from an open with crc off, and the load's own open
 * fails as it does without reuse_open: the same status, message and
 * verdicts either way. */
START_TEST(test_reuse_open_crc)
{
    hx_gen g;
    hx_gen_init(&g);
    snprintf(g.format, sizeof g.format, "torch-zip");
    const char *pt = tu_path(dir, "crc.pt");
    ck_assert_int_eq(hx_gen_write(&g, pt), LG_OK);
    lg_checkpoint *c;
    ck_assert_int_eq(lg_checkpoint_open(pt, NULL, &c), LG_OK);
    char name[256];
    snprintf(name, sizeof name, "%s", lg_checkpoint_tensor(c, 0)->name);
    lg_checkpoint_close(c);
    size_t n;
    unsigned char *buf = tu_read(pt, &n);
    ck_assert_ptr_nonnull(buf);
    unsigned char *at = memmem(buf, n, name, strlen(name)); /* only data.pkl holds names */
    ck_assert_ptr_nonnull(at);
    at[0] ^= 0x01; /* "t0" becomes "u0" */
    ck_assert_int_eq(tu_write(pt, buf, n), 0);
    free(buf);
    hx_outcome with, without;
    reuse_outcome(pt, 1, &with);
    reuse_outcome(pt, 0, &without);
    ck_assert_int_eq(with.status, LG_E_FORMAT);
    ck_assert_msg(strstr(with.message, "CRC-32"), "%s", with.message);
    ck_assert_int_eq(with.status, without.status);
    ck_assert_str_eq(with.message, without.message);
    ck_assert_int_eq(with.ran, 1);
    for (int i = 0; i < HX_INV_COUNT; i++) {
        ck_assert_int_eq(with.inv[i], without.inv[i]);
        ck_assert_str_eq(with.why[i], without.why[i]);
    }
    ck_assert_int_eq(with.inv[HX_INV_ATOMIC], HX_PASS);
    hx_outcome_free(&with);
    hx_outcome_free(&without);
}
END_TEST

/* The mirror's pattern, filled by runs of its 64-byte period, is the
 * formula byte for byte at every length. */
START_TEST(test_fill_pattern)
{
    static const size_t lens[] = {0, 1, 63, 64, 65, 127, 128, 1000, 4097, 70000};
    unsigned char *buf = malloc(70000 + 1);
    ck_assert_ptr_nonnull(buf);
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++)
        for (size_t i = 0; i < 5; i++) {
            buf[lens[k]] = 0xff;
            hx_fill_pattern(buf, lens[k], i * 977);
            for (size_t j = 0; j < lens[k]; j++)
                ck_assert_uint_eq(buf[j], (i * 977 * 131 + j * 7 + 1) & 0x3f);
            ck_assert_uint_eq(buf[lens[k]], 0xff); /* nothing written past n */
        }
    free(buf);
}
END_TEST

/* --paranoid on the command line: load takes it (and says so in --help),
 * and its verdicts are those without it. */
START_TEST(test_paranoid_option)
{
    char *out = NULL, *plain = NULL;
    char *a[] = {"load", eight, "--device", "mps", "--paranoid", NULL};
    char *b[] = {"load", eight, "--device", "mps", NULL};
    char *h[] = {"load", "--help", NULL};
    ck_assert_int_eq(tu_run_cmd(hx_cmd_load, a, dir, &out), 0);
    ck_assert_int_eq(tu_run_cmd(hx_cmd_load, b, dir, &plain), 0);
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_nonnull(strstr(out, "values=pass"));
    ck_assert_str_eq(out, plain);
    free(out);
    free(plain);
    ck_assert_int_eq(tu_run_cmd(hx_cmd_load, h, dir, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "--paranoid"));
    free(out);
    char *bad[] = {"load", eight, "--device", "cpu", "--paranoid=yes", NULL};
    ck_assert_int_eq(tu_run_cmd(hx_cmd_load, bad, dir, &out), 2);
    free(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("invariants");
    TCase *tc = tcase_create("digests");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_digests_agree_with_bytes, 0,
                        (int)(sizeof scenarios / sizeof scenarios[0]));
    tcase_add_loop_test(tc, test_digests_agree_large, 0,
                        (int)(sizeof scenarios / sizeof scenarios[0]));
    tcase_add_test(tc, test_values_reads_the_loaded_file);
    tcase_add_test(tc, test_reuse_open);
    tcase_add_test(tc, test_reuse_open_crc);
    tcase_add_test(tc, test_file_closed_after_failure);
    tcase_add_test(tc, test_fill_pattern);
    tcase_add_test(tc, test_paranoid_option);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
