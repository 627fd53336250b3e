/* Every libtorch writer (lg_torch_write_file) against every libtorch
 * reader (lg_torch_read_archive, and the torch-params checkpoint reader):
 * which reads which, with names, dtypes, shapes and bytes compared; the
 * readers that unpickle refuse a file that would run code; mps refused
 * with libtorch's own words. Without libtorch: the writer says so. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "formats/format.h"
#include "loadgate/loadgate.h"
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *g_dir;

static const char *const writers[] = {"torch-archive", "torch-params", "torch-pickle"};
static const char *const readers[] = {"torch-archive", "torchscript", "torch-params",
                                      "torch-pickle"};
#define NWRITERS 3
#define NREADERS 4

#ifdef LOADGATE_HAVE_TORCH

static const lg_device cpu = {LG_DEV_CPU, 0};
static const lg_device mps = {LG_DEV_MPS, 0};

/* ------------------------------------------------------------- sample */

#define NSAMPLE 9

typedef struct {
    lg_named_data t[NSAMPLE];
    int64_t shapes[NSAMPLE][LG_MAX_DIMS];
    unsigned char data[NSAMPLE][256];
} sample;

static void sample_add(sample *s, size_t i, const char *name, lg_dtype d, int ndim,
                       const int64_t *shape)
{
    uint64_t nb = 0;
    memcpy(s->shapes[i], shape, sizeof(int64_t) * (size_t)ndim);
    ck_assert(lg__nbytes(d, ndim, shape, &nb) && nb <= sizeof s->data[i]);
    for (uint64_t k = 0; k < nb; k++)
        s->data[i][k] = d == LG_BOOL ? (unsigned char)(k % 3 == 1) : (unsigned char)(k * 29 + i);
    if (d == LG_F32 || d == LG_F64 || d == LG_F16 || d == LG_BF16) /* no NaN patterns */
        for (uint64_t k = 0; k < nb; k++)
            s->data[i][k] &= 0x3f;
    s->t[i] = (lg_named_data){name, d, ndim, s->shapes[i], s->data[i]};
}

static void sample_make(sample *s)
{
    memset(s, 0, sizeof *s);
    sample_add(s, 0, "fc.weight", LG_F32, 2, (int64_t[]){2, 3});
    sample_add(s, 1, "fc.bias", LG_F64, 1, (int64_t[]){4});
    sample_add(s, 2, "steps", LG_I64, 2, (int64_t[]){3, 1});
    sample_add(s, 3, "u8", LG_U8, 1, (int64_t[]){5});
    sample_add(s, 4, "mask", LG_BOOL, 1, (int64_t[]){4});
    sample_add(s, 5, "bf16", LG_BF16, 2, (int64_t[]){2, 2});
    sample_add(s, 6, "f16", LG_F16, 1, (int64_t[]){3});
    sample_add(s, 7, "scalar", LG_I32, 0, (int64_t[]){0});
    sample_add(s, 8, "empty", LG_F32, 2, (int64_t[]){0, 3});
}

static const char *sample_write(const char *format, sample *s)
{
    char name[64];
    snprintf(name, sizeof name, "sample.%s", format);
    const char *path = tu_path(g_dir, name);
    sample_make(s);
    lg_status st = lg_torch_write_file(path, format, s->t, NSAMPLE);
    ck_assert_msg(st == LG_OK, "%s: %s", format, lg_error_message());
    return path;
}

typedef struct {
    const sample *s;
    lg_device want;
    int seen;
} check_ctx;

static int check_tensor(void *ctx, const lg_named_data *t, lg_device where)
{
    check_ctx *k = ctx;
    ck_assert(lg_device_equal(where, k->want));
    for (int i = 0; i < NSAMPLE; i++) {
        const lg_named_data *w = &k->s->t[i];
        if (strcmp(w->name, t->name))
            continue;
        uint64_t nb = 0;
        ck_assert_int_eq(t->dtype, w->dtype);
        ck_assert_int_eq(t->ndim, w->ndim);
        for (int d = 0; d < t->ndim; d++)
            ck_assert_int_eq(t->shape[d], w->shape[d]);
        ck_assert(lg__nbytes(t->dtype, t->ndim, t->shape, &nb));
        ck_assert_msg(!memcmp(t->data, w->data, (size_t)nb), "%s: bytes differ", t->name);
        k->seen++;
        return 0;
    }
    ck_abort_msg("unexpected tensor \"%s\"", t->name);
    return 1;
}

static int count_tensor(void *ctx, const lg_named_data *t, lg_device where)
{
    (*(int *)ctx)++;
    return 0;
}

/* ------------------------------------------------- writers x readers */

/* Which reader reads which writer's file, on libtorch 1.13 and 2.x alike:
 * 1 = every tensor, exactly; 0 = refused with an error. */
static const int reads[NWRITERS][NREADERS] = {
    /*                torch-archive torchscript torch-params torch-pickle */
    /* archive */ {1, 1, 0, 0},
    /* params  */ {0, 0, 1, 1},
    /* pickle  */ {0, 0, 1, 1},
};

START_TEST(writers_by_readers)
{
    sample s;
    const char *path = sample_write(writers[_i], &s);
    for (int r = 0; r < NREADERS; r++) {
        check_ctx k = {&s, cpu, 0};
        lg_status st = lg_torch_read_archive(path, readers[r], cpu, check_tensor, &k);
        if (reads[_i][r]) {
            ck_assert_msg(st == LG_OK, "%s by %s: %s", writers[_i], readers[r],
                          lg_error_message());
            ck_assert_int_eq(k.seen, NSAMPLE);
        } else {
            ck_assert_msg(st != LG_OK, "%s read by %s", writers[_i], readers[r]);
            ck_assert_msg(strstr(lg_error_message(), path), "no path in: %s",
                          lg_error_message());
            ck_assert_int_eq(k.seen, 0);
        }
    }
}
END_TEST

START_TEST(writer_refusals)
{
    float v[2] = {1, 2};
    int64_t shape[] = {2};
    lg_named_data ok = {"x", LG_F32, 1, shape, v};
    const char *path = tu_path(g_dir, "refused.pt");
    ck_assert_int_eq(lg_torch_write_file(path, "torchscript", &ok, 1), LG_E_INVALID);
    ck_assert_int_eq(lg_torch_write_file(path, "npz", &ok, 1), LG_E_INVALID);
    ck_assert_msg(strstr(lg_error_message(), "\"npz\" is not a libtorch writer"), "%s",
                  lg_error_message());
    ck_assert_int_eq(lg_torch_write_file(path, NULL, &ok, 1), LG_E_INVALID);
    for (int w = 0; w < NWRITERS; w++) {
        lg_named_data dup[2] = {ok, ok};
        ck_assert_int_eq(lg_torch_write_file(path, writers[w], dup, 2), LG_E_INVALID);
        ck_assert_msg(strstr(lg_error_message(), "duplicate"), "%s", lg_error_message());
        lg_named_data nodata = {"x", LG_F32, 1, shape, NULL};
        ck_assert_int_eq(lg_torch_write_file(path, writers[w], &nodata, 1), LG_E_INVALID);
        lg_named_data bad = {"x", LG_DTYPE_COUNT, 1, shape, v};
        ck_assert_int_eq(lg_torch_write_file(path, writers[w], &bad, 1), LG_E_INVALID);
        ck_assert_int_eq(lg_torch_write_file("/nonexistent-dir/x.pt", writers[w], &ok, 1),
                         LG_E_IO);
        ck_assert_msg(strstr(lg_error_message(), "/nonexistent-dir/x.pt"), "%s",
                      lg_error_message());
    }
}
END_TEST

/* The reader a store is loaded through is a name: torch-params by name
 * (never by its magic bytes), values compared, under every policy. */
START_TEST(params_checkpoint_reader)
{
    sample s;
    const char *path = sample_write("torch-params", &s);
    lg_backend *b = NULL;
    ck_assert_int_eq(lg_backend_open("torch", &b), LG_OK);
    lg_checkpoint *c = NULL;
    lg_open_options auto_o = {.backend = b};
    /* by magic bytes: torch.save's native reader, never torch-params */
    if (lg_checkpoint_open(path, &auto_o, &c) == LG_OK) {
        ck_assert_str_ne(lg_checkpoint_format(c), "torch-params");
        lg_checkpoint_close(c);
    } else {
        ck_assert_msg(!strstr(lg_error_message(), "parameters file"), "%s", lg_error_message());
    }
    lg_open_options o = {.reader = "torch-params", .backend = b};
    ck_assert_msg(lg_checkpoint_open(path, &o, &c) == LG_OK, "%s", lg_error_message());
    ck_assert_str_eq(lg_checkpoint_format(c), "torch-params");
    ck_assert_uint_eq(lg_checkpoint_count(c), NSAMPLE);
    for (int i = 0; i < NSAMPLE; i++) {
        size_t k = lg_checkpoint_find(c, s.t[i].name);
        ck_assert_msg(k != (size_t)-1, "%s missing", s.t[i].name);
        const lg_tensor_info *ti = lg_checkpoint_tensor(c, k);
        unsigned char got[256];
        ck_assert_int_eq(ti->dtype, s.t[i].dtype);
        ck_assert_int_eq(lg_checkpoint_read(c, k, got, (size_t)ti->nbytes), LG_OK);
        ck_assert(!memcmp(got, s.t[i].data, (size_t)ti->nbytes));
        ck_assert_msg(lg_checkpoint_try_device(c, k, cpu) == LG_OK, "%s", lg_error_message());
    }
    lg_checkpoint_close(c);
    lg_policy policies[] = {LG_POLICY_VIA_CPU, LG_POLICY_STAGED, LG_POLICY_DIRECT};
    for (int p = 0; p < 3; p++) {
        lg_store *st = NULL;
        ck_assert_int_eq(lg_store_new(b, cpu, &st), LG_OK);
        for (int i = 0; i < NSAMPLE; i++)
            ck_assert_int_eq(lg_store_add(st, s.t[i].name, s.t[i].dtype, s.t[i].ndim,
                                          s.t[i].shape), LG_OK);
        lg_load_options lo;
        lg_load_options_init(&lo);
        lo.policy = policies[p];
        lo.reader = "torch-params";
        ck_assert_msg(lg_store_load(st, path, &lo, NULL) == LG_OK, "%s: %s",
                      lg_policy_name(policies[p]), lg_error_message());
        for (int i = 0; i < NSAMPLE; i++) {
            unsigned char got[256];
            size_t k = lg_store_find(st, s.t[i].name);
            const lg_tensor_info *v = lg_store_var(st, k);
            lg_device where;
            ck_assert_int_eq(lg_store_read(st, k, got, (size_t)v->nbytes, &where), LG_OK);
            ck_assert(!memcmp(got, s.t[i].data, (size_t)v->nbytes));
        }
        lg_store_free(st);
    }
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

START_TEST(params_reader_needs_torch_backend)
{
    sample s;
    const char *path = sample_write("torch-params", &s);
    lg_open_options o = {.reader = "torch-params"};
    lg_checkpoint *c = NULL;
    ck_assert_int_eq(lg_checkpoint_open(path, &o, &c), LG_E_FORMAT);
    ck_assert_msg(strstr(lg_error_message(), "libtorch parameters file: needs the torch backend"),
                  "%s", lg_error_message());
}
END_TEST

/* ----------------------------------------------------- code and mps */

/* The hostile TorchScript files (tests/data/hostile/torchscript) run code
 * when libtorch unpickles them: the new readers refuse each before
 * libtorch sees it, as the others do. */
START_TEST(hostile_refused)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/data/hostile/torchscript", tu_source_dir());
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    lg_backend *b = NULL;
    ck_assert_int_eq(lg_backend_open("torch", &b), LG_OK);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".pt"))
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        for (int r = 2; r < NREADERS; r++) {
            int k = 0;
            ck_assert_int_eq(lg_torch_read_archive(path, readers[r], cpu, count_tensor, &k),
                             LG_E_FORMAT);
            ck_assert_msg(strstr(lg_error_message(), "--trust-code"), "%s: %s", readers[r],
                          lg_error_message());
            ck_assert_int_eq(k, 0);
        }
        lg_open_options o = {.reader = "torch-params", .backend = b};
        lg_checkpoint *c = NULL;
        ck_assert_int_eq(lg_checkpoint_open(path, &o, &c), LG_E_FORMAT);
        ck_assert_msg(strstr(lg_error_message(), "--trust-code"), "%s", lg_error_message());
        files++;
    }
    closedir(d);
    lg_backend_close(b);
    ck_assert_int_ge(files, 4);
}
END_TEST

/* On a machine without mps: _load_parameters refuses it in its unpickler
 * (1.13) or its missing backend (2.x); pickle_load reads onto the cpu and
 * the move to mps is refused. Nothing is handed over. */
START_TEST(mps_refused)
{
    lg_backend *b = NULL;
    ck_assert_int_eq(lg_backend_open("torch", &b), LG_OK);
    int has = lg_backend_has_device(b, mps);
    lg_backend_close(b);
    if (has) {
        fprintf(stderr, "mps_refused: skipped: this machine has mps\n");
        return;
    }
    sample s;
    for (int w = 1; w < NWRITERS; w++) {
        const char *path = sample_write(writers[w], &s);
        int n = 0;
        ck_assert_int_eq(lg_torch_read_archive(path, writers[w], mps, count_tensor, &n),
                         LG_E_DEVICE);
        const char *msg = lg_error_message();
        /* pickle_load's own refusal is the move's: "not linked with
         * support for mps devices", on 1.13 too */
        int pickle_move = w == 2 && strstr(msg, "not linked with support for mps devices");
        ck_assert_msg(tu_is_mps_refusal(msg) || pickle_move, "%s: %s", writers[w], msg);
        ck_assert_msg(strstr(msg, path), "no path in: %s", msg);
        ck_assert_int_eq(n, 0);
    }
}
END_TEST

#else /* no libtorch in this build */

START_TEST(no_libtorch_writer)
{
    float v[2] = {1, 2};
    int64_t shape[] = {2};
    lg_named_data t = {"x", LG_F32, 1, shape, v};
    const char *path = tu_path(g_dir, "x.pt");
    for (int w = 0; w < NWRITERS; w++) {
        ck_assert_int_eq(lg_torch_write_file(path, writers[w], &t, 1), LG_E_BACKEND);
        ck_assert_msg(strstr(lg_error_message(), "this build has no libtorch"), "%s",
                      lg_error_message());
    }
    ck_assert_int_eq(lg_torch_write_file(path, "npz", &t, 1), LG_E_INVALID);
    for (int r = 0; r < NREADERS; r++)
        ck_assert_int_eq(lg_torch_read_archive(path, readers[r], (lg_device){LG_DEV_CPU, 0},
                                               NULL, NULL), LG_E_BACKEND);
}
END_TEST

#endif

static Suite *readers_suite(void)
{
    Suite *s = suite_create("torch_readers");
    TCase *tc = tcase_create("readers");
#ifdef LOADGATE_HAVE_TORCH
    tcase_add_loop_test(tc, writers_by_readers, 0, NWRITERS);
    tcase_add_test(tc, writer_refusals);
    tcase_add_test(tc, params_checkpoint_reader);
    tcase_add_test(tc, params_reader_needs_torch_backend);
    tcase_add_test(tc, hostile_refused);
    tcase_add_test(tc, mps_refused);
#else
    tcase_add_test(tc, no_libtorch_writer);
#endif
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    g_dir = tu_tmpdir();
    if (!g_dir) {
        perror("mkdtemp");
        return 1;
    }
    int failed = tu_run_suite(readers_suite());
    tu_rmtree(g_dir);
    return failed ? 1 : 0;
}
