/* The torch backend's refusals through its API and the shim's own
 * contract (torch_shim.h): the module missing, arguments missing, devices
 * no machine has, shapes and allocations that fail, tensors over host
 * memory that cannot be made, writers given entries no file can hold,
 * loads from a path, archive indexes past the end or handed over twice, a
 * tensor that is not contiguous. Each is an error naming the problem (and
 * the file, where there is one), with nothing left behind. The files the
 * readers refuse: test_torch_file_errors.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "backend/backend.h"
#include "backend/torch_shim.h"
#include "formats/format.h"
#include "loadgate/loadgate.h"
#include "testutil.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "torch_errors.h"

#ifdef LOADGATE_HAVE_TORCH

/* ------------------------------------------------ the module missing */

START_TEST(module_missing)
{
    setenv("LOADGATE_TORCH_MODULE", "/nonexistent/libloadgate-torch.so", 1);
    float v = 1;
    int64_t shape[] = {1};
    lg_named_data t = {"x", LG_F32, 1, shape, &v};
    const char *path = tu_path(g_dir, "never.ot");
    ck_assert_int_eq(lg_torch_write_file(path, "torch-params", &t, 1), LG_E_BACKEND);
    assert_msg_has("cannot write a libtorch parameters file");
    assert_msg_has(path);
    ck_assert_int_eq(access(path, F_OK), -1);
    seen s = {0};
    ck_assert_int_eq(lg_torch_read_archive(data("complex.pt"), "torchscript", cpu, note, &s),
                     LG_E_BACKEND);
    assert_msg_has("complex.pt: cannot read with libtorch");
    ck_assert_int_eq(s.n, 0);
}
END_TEST

/* ----------------------------------------------------- the public API */

START_TEST(required_arguments)
{
    float v = 1;
    int64_t shape[] = {1};
    lg_named_data t = {"x", LG_F32, 1, shape, &v};
    ck_assert_int_eq(lg_torch_write_file(NULL, "torch-archive", &t, 1), LG_E_INVALID);
    assert_msg_has("path and tensors are required");
    ck_assert_int_eq(lg_torch_write_file("x.ot", "torch-archive", NULL, 1), LG_E_INVALID);
    ck_assert_int_eq(lg_torch_write_archive(NULL, &t, 1), LG_E_INVALID);
    assert_msg_has("lg_torch_write_archive: path and tensors are required");
    ck_assert_int_eq(lg_torch_write_archive("x.ot", NULL, 2), LG_E_INVALID);
    ck_assert_int_eq(access("x.ot", F_OK), -1);
    ck_assert_int_eq(lg_torch_read_archive(NULL, NULL, cpu, note, NULL), LG_E_INVALID);
    assert_msg_has("lg_torch_read_archive: path and fn are required");
    ck_assert_int_eq(lg_torch_read_archive("x.ot", NULL, cpu, NULL, NULL), LG_E_INVALID);
    ck_assert_int_eq(lg_torch_read_archive("x.ot", "npz", cpu, note, NULL), LG_E_INVALID);
    assert_msg_has("reader \"npz\" is not a libtorch reader");
    /* an empty archive: no tensors is no error */
    const char *path = tu_path(g_dir, "empty.ot");
    ck_assert_int_eq(lg_torch_write_archive(path, NULL, 0), LG_OK);
    seen s = {0};
    ck_assert_msg(lg_torch_read_archive(path, NULL, cpu, note, &s) == LG_OK, "%s",
                  lg_error_message());
    ck_assert_int_eq(s.n, 0);
}
END_TEST

/* Opening the backend when its state cannot be allocated. */
START_TEST(open_out_of_memory)
{
    int met = 0;
    for (uint64_t k = 1; k <= 8 && !met; k++) {
        lg_fault_schedule f = {.when = LG_FAULT_NTH, .k = k};
        ck_assert_int_eq(lg_fault_set("mem.alloc", &f), LG_OK);
        lg_backend *b = NULL;
        lg_status st = lg_backend_open("torch", &b);
        lg_fault_clear();
        if (st == LG_OK) {
            lg_backend_close(b);
            continue;
        }
        ck_assert_int_eq(st, LG_E_NOMEM);
        met = strstr(lg_error_message(), "out of memory opening the torch backend") != NULL;
    }
    ck_assert_msg(met, "no allocation of lg_backend_open(\"torch\") failed as expected");
}
END_TEST

/* Devices no machine has: refused, never a crash; and nothing cached for
 * an index past the cache. */
START_TEST(devices_that_do_not_exist)
{
    lg_backend *b = open_torch();
    const lg_device odd[] = {{LG_DEV_CUDA, -1}, {LG_DEV_CUDA, 40}, {LG_DEV_MPS, 1},
                             {LG_DEV_CPU, 1}};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        ck_assert_msg(!lg_backend_has_device(b, odd[i]), "device %zu", i);
        ck_assert_msg(!lg_backend_direct_ok(b, odd[i]), "device %zu", i);
        ck_assert_msg(!lg_backend_direct_ok(b, odd[i]), "device %zu, asked again", i);
    }
    ck_assert(lg_backend_direct_ok(b, cpu));
    ck_assert(lg_backend_direct_ok(b, cpu)); /* cached */
    /* devices of this machine's build: no direct load where there is no device */
    const lg_device maybe[] = {mps, {LG_DEV_CUDA, 0}, {LG_DEV_CUDA, 15}};
    for (size_t i = 0; i < sizeof maybe / sizeof maybe[0]; i++)
        if (!lg_backend_has_device(b, maybe[i]))
            ck_assert_msg(!lg_backend_direct_ok(b, maybe[i]), "device %zu", i);
    lg_backend_close(b);
}
END_TEST

/* The thread count is a hint: a bad one is ignored, nothing fails. */
START_TEST(threads_hint)
{
    lg_torch_set_threads(1);
    lg_torch_set_threads(0);
    lg_torch_set_threads(-3);
    ck_assert_str_eq(lgt_last_error(), "");
    const char *path = write_pair("threads.ot", "a", "torch-archive");
    seen s = {0};
    ck_assert_msg(lg_torch_read_archive(path, NULL, cpu, note, &s) == LG_OK, "%s",
                  lg_error_message());
    ck_assert_int_eq(s.n, 2);
}
END_TEST

/* ------------------------------------------------- tensors, the shim */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HUGE_CALLOC_FAILS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define HUGE_CALLOC_FAILS 0
#endif
#endif
#ifndef HUGE_CALLOC_FAILS
#define HUGE_CALLOC_FAILS 1
#endif

static int released;
static void count_release(void *ctx) { released += ctx == &released; }

START_TEST(tensor_refusals)
{
    lg_backend *b = open_torch();
    void *t = NULL, *u = NULL;
#if HUGE_CALLOC_FAILS /* 256 TiB: more than the address space */
    int64_t huge[] = {(int64_t)1 << 46};
    ck_assert_int_eq(b->ops->alloc(b, cpu, LG_F32, 1, huge, &t), LG_E_NOMEM);
    assert_msg_has("allocating on cpu: DefaultCPUAllocator: can't allocate memory");
#else
    fprintf(stderr, "tensor_refusals: the 256 TiB allocation is not tried: under a sanitizer "
                    "it aborts instead of failing\n");
#endif
    int64_t neg[] = {-1}, wide[] = {(int64_t)1 << 40, (int64_t)1 << 40};
    ck_assert_int_eq(b->ops->alloc(b, cpu, LG_F32, 1, neg, &t), LG_E_DEVICE);
    assert_msg_has("bad shape for a cpu tensor");
    ck_assert_int_eq(b->ops->alloc(b, cpu, LG_F32, 2, wide, &t), LG_E_DEVICE);
    assert_msg_has("bad shape for a cpu tensor");
    ck_assert_int_eq(b->ops->alloc(b, cpu, LG_DTYPE_COUNT, 1, neg, &t), LG_E_INVALID);
    assert_msg_has("bad dtype or number of dimensions");
    ck_assert_int_eq(b->ops->alloc(b, cpu, LG_F32, LG_MAX_DIMS + 1, wide, &t), LG_E_INVALID);
    ck_assert_int_eq(b->ops->alloc(b, cpu, LG_F32, -1, wide, &t), LG_E_INVALID);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);

    int64_t s23[] = {2, 3}, s32[] = {3, 2};
    ck_assert_int_eq(b->ops->alloc(b, cpu, LG_F32, 2, s23, &t), LG_OK);
    ck_assert_int_eq(b->ops->alloc(b, cpu, LG_F32, 2, s32, &u), LG_OK);
    ck_assert_uint_eq(lg_backend_device_bytes(b, cpu), 48);
    ck_assert_uint_eq(lg_backend_device_bytes(b, mps), 0);
    float buf[6];
    ck_assert_int_eq(b->ops->read(b, t, buf, 5), LG_E_INVALID);
    assert_msg_has("copy to host: read of 5 bytes from a tensor of 24");
    ck_assert_int_eq(b->ops->copy(b, u, t), LG_E_SHAPE);
    assert_msg_has("never broadcast");
    lg_device where;
    ck_assert_int_eq(b->ops->device_of(b, t, &where), LG_OK);
    ck_assert(lg_device_equal(where, cpu));
    b->ops->free(b, u);
    int64_t none[] = {0, 3};
    ck_assert_int_eq(b->ops->alloc(b, cpu, LG_F32, 2, none, &u), LG_OK);
    ck_assert_ptr_null(b->ops->host_data(b, u)); /* no bytes */
    ck_assert_ptr_nonnull(b->ops->host_data(b, t));
    b->ops->free(b, u);
    ck_assert_ptr_null(lgt_host_data(NULL));
    lgt_free(NULL);          /* as free(NULL) */
    lgt_pool_release(NULL);

    /* the staging budget is for copies to a GPU: a cpu tensor is unchanged */
    lg__torch_set_staging(b, 1 << 20);
    float one[6] = {1, 2, 3, 4, 5, 6};
    ck_assert_int_eq(b->ops->write(b, t, one, sizeof one), LG_OK);
    ck_assert_int_eq(b->ops->read(b, t, buf, sizeof buf), LG_OK);
    ck_assert(!memcmp(buf, one, sizeof one));

    /* the backend closed before its last tensors: the pool lives on */
    lgt_pool *pool = lg__torch_pool(b);
    ck_assert_ptr_nonnull(pool);
    ck_assert_int_eq(b->ops->alloc(b, cpu, LG_F32, 2, s32, &u), LG_OK);
    lg_backend_close(b);
    ck_assert_uint_eq(lgt_pool_live(pool), 2);
    lgt_free(u);
    ck_assert_uint_eq(lgt_pool_live(pool), 1);
    lgt_free(t); /* the last one: the pool goes with it */

    lg_backend *sim = NULL;
    ck_assert_int_eq(lg_backend_open("sim", &sim), LG_OK);
    ck_assert_ptr_null(lg__torch_pool(sim));
    ck_assert_ptr_null(lg__torch_pool(NULL));
    lg_backend_close(sim);
}
END_TEST

/* lgt_from_host refuses a bad dtype, shape or alignment, letting go of
 * the memory exactly once each time. */
START_TEST(from_host_refusals)
{
    lg_backend *b = open_torch();
    lgt_pool *p = lg__torch_pool(b);
    static float v[5];
    int64_t shape[] = {4};
    lgt_tensor *t = NULL;
    released = 0;
    ck_assert_int_eq(lgt_from_host(p, LG_DTYPE_COUNT, 1, shape, v, 16, count_release, &released,
                                   &t), LG_E_INVALID);
    ck_assert_str_eq(lgt_last_error(), "bad dtype or number of dimensions");
    ck_assert_int_eq(released, 1);
    ck_assert_int_eq(lgt_from_host(p, LG_F32, 1, NULL, v, 16, count_release, &released, &t),
                     LG_E_INVALID);
    ck_assert_int_eq(released, 2);
    ck_assert_int_eq(lgt_from_host(p, LG_F32, -1, shape, v, 16, count_release, &released, &t),
                     LG_E_INVALID);
    ck_assert_int_eq(lgt_from_host(p, LG_F32, LG_MAX_DIMS + 1, shape, v, 16, count_release,
                                   &released, &t), LG_E_INVALID);
    ck_assert_int_eq(released, 4);
    ck_assert_int_eq(lgt_from_host(p, LG_F32, 1, shape, (char *)v + 1, 16, count_release,
                                   &released, &t), LG_E_INVALID);
    ck_assert_msg(strstr(lgt_last_error(), "are not aligned to 4"), "%s", lgt_last_error());
    ck_assert_int_eq(released, 5);
    ck_assert_ptr_null(t);
    /* a scalar needs no shape; its memory is let go with the tensor */
    ck_assert_int_eq(lgt_from_host(p, LG_F32, 0, NULL, v, 4, count_release, &released, &t),
                     LG_OK);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 1);
    ck_assert_int_eq(released, 5);
    lgt_free(t);
    ck_assert_int_eq(released, 6);
    t = NULL;
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

/* ----------------------------------------------- writers, the shim */

START_TEST(writer_refusals)
{
    float v[4] = {1, 2, 3, 4};
    int64_t shape[] = {4};
    lg_named_data t = {"x.y", LG_F32, 1, shape, v};
    const char *path = tu_path(g_dir, "shim.ot");
    ck_assert_int_eq(lgt_file_write(LGT_SCRIPT, path, &t, 1), LG_E_INVALID);
    ck_assert_str_eq(lgt_last_error(), "no writer for TorchScript modules");
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(lgt_archive_write(path, &t, 1), LG_OK);
    seen s = {0};
    ck_assert_msg(lg_torch_read_archive(path, "torch-archive", cpu, note, &s) == LG_OK, "%s",
                  lg_error_message());
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.names[0], "x.y");
    /* entries no file can hold */
    const lg_named_data bad[] = {{NULL, LG_F32, 1, shape, v},         {"", LG_F32, 1, shape, v},
                                 {"x", LG_F32, -1, shape, v},         {"x", LG_F32, 1, NULL, v},
                                 {"x", LG_F32, LG_MAX_DIMS + 1, shape, v}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(lgt_file_write(LGT_PICKLE, path, &bad[i], 1), LG_E_INVALID);
        ck_assert_str_eq(lgt_last_error(), "tensor 0: bad name, dtype or shape");
    }
    /* a folder where the file goes */
    for (int w = 0; w < 3; w++) {
        static const char *const fmt[] = {"torch-archive", "torch-params", "torch-pickle"};
        ck_assert_int_eq(lg_torch_write_file(g_dir, fmt[w], &t, 1), LG_E_IO);
        assert_msg_has(g_dir);
    }
}
END_TEST

/* ----------------------------------------- loads from a path, the shim */

START_TEST(loads_from_a_path)
{
    const char *ot = write_pair("path.ot", "a", "torch-archive");
    const char *pt = write_pair("path.params", "a", "torch-params");
    const char *pk = write_pair("path.pickle", "a", "torch-pickle");
    const struct {
        lgt_loader how;
        const char *path;
        size_t n;
    } ok[] = {{LGT_ARCHIVE, ot, 2}, {LGT_PARAMS, pt, 2}, {LGT_PICKLE, pk, 2},
              {LGT_SCRIPT, data("transposed.pt"), 1}};
    for (size_t i = 0; i < 4; i++) {
        lgt_archive *a = NULL;
        ck_assert_msg(lgt_archive_load(ok[i].how, ok[i].path, NULL, 0, cpu, &a) == LG_OK,
                      "%s: %s", ok[i].path, lgt_last_error());
        ck_assert_uint_eq(lgt_archive_count(a), ok[i].n);
        lgt_archive_free(a);
    }
    lgt_archive *a = NULL;
    ck_assert_int_eq(lgt_archive_load(LGT_PICKLE, "/nonexistent/x.pt", NULL, 0, cpu, &a),
                     LG_E_FORMAT);
    ck_assert_str_eq(lgt_last_error(), "cannot read /nonexistent/x.pt");
    ck_assert_ptr_null(a);
    /* the message is kept without the spaces and line ends it ends with */
    ck_assert_int_eq(lgt_archive_load(LGT_PICKLE, "/nonexistent/x \r\n", NULL, 0, cpu, &a),
                     LG_E_FORMAT);
    ck_assert_str_eq(lgt_last_error(), "cannot read /nonexistent/x");
}
END_TEST

/* Indexes past the end, a tensor handed over twice, a name not there. */
START_TEST(archive_indexes)
{
    const char *path = write_pair("index.ot", "a", "torch-archive");
    size_t size = 0;
    void *bytes = tu_read(path, &size);
    lgt_archive *a = NULL;
    ck_assert_int_eq(lgt_archive_load(LGT_ARCHIVE, NULL, bytes, size, cpu, &a), LG_OK);
    const char *name = NULL;
    lg_dtype dt;
    int ndim;
    int64_t shape[LG_MAX_DIMS];
    float buf[4];
    lg_device where;
    ck_assert_int_eq(lgt_archive_info(a, 2, &name, &dt, &ndim, shape), LG_E_INVALID);
    ck_assert_str_eq(lgt_last_error(), "no tensor 2");
    ck_assert_int_eq(lgt_archive_read(a, 2, buf, sizeof buf), LG_E_INVALID);
    ck_assert_int_eq(lgt_archive_device(a, 9, &where), LG_E_INVALID);
    ck_assert_str_eq(lgt_last_error(), "no tensor 9");
    ck_assert_uint_eq(lgt_archive_find(a, "nope"), (size_t)-1);
    size_t k = lgt_archive_find(a, "a");
    ck_assert_uint_lt(k, 2);

    lg_backend *b = open_torch();
    lgt_tensor *t = NULL, *t2 = NULL;
    ck_assert_int_eq(lgt_archive_take(a, k, lg__torch_pool(b), &t), LG_OK);
    ck_assert_int_eq(lgt_archive_take(a, k, lg__torch_pool(b), &t2), LG_E_INVALID);
    ck_assert_ptr_null(t2);
    ck_assert_int_eq(lgt_archive_take(a, 2, lg__torch_pool(b), &t2), LG_E_INVALID);
    ck_assert_str_eq(lgt_last_error(), "no tensor 2 to hand over");
    ck_assert_int_eq(lgt_archive_read(a, k, buf, sizeof buf), LG_E_INVALID);
    ck_assert_int_eq(lgt_archive_device(a, k, &where), LG_E_INVALID);
    ck_assert_int_eq(lgt_read(t, buf, sizeof buf), LG_OK);
    ck_assert(buf[0] == 1 && buf[3] == 4);
    lgt_free(t);
    lgt_archive_free(a);
    free(bytes);
    lg_backend_close(b);
}
END_TEST

/* A non-contiguous tensor (a transposed view) is handed over as a
 * contiguous copy of its values, row-major (docs/boundary.md): its handle
 * owns its bytes, written in place like any other's. */
START_TEST(transposed_tensor)
{
    size_t size = 0;
    void *bytes = tu_read(data("transposed.pt"), &size);
    ck_assert_ptr_nonnull(bytes);
    lgt_archive *a = NULL;
    ck_assert_int_eq(lgt_archive_load(LGT_SCRIPT, NULL, bytes, size, cpu, &a), LG_OK);
    lg_backend *b = open_torch();
    lgt_tensor *t = NULL;
    ck_assert_int_eq(lgt_archive_take(a, 0, lg__torch_pool(b), &t), LG_OK);
    float got[6], want[6] = {0, 3, 1, 4, 2, 5};
    ck_assert_int_eq(lgt_read(t, got, sizeof got), LG_OK);
    ck_assert(!memcmp(got, want, sizeof got));
    const float *host = lgt_host_data(t);
    ck_assert_ptr_nonnull(host);
    ck_assert(!memcmp(host, want, sizeof want));
    float in[6] = {6, 5, 4, 3, 2, 1};
    ck_assert_int_eq(lgt_write(t, in, sizeof in), LG_OK);
    ck_assert_int_eq(lgt_read(t, got, sizeof got), LG_OK);
    ck_assert(!memcmp(got, in, sizeof got));
    lgt_free(t);
    lgt_archive_free(a);
    free(bytes);
    /* a sparse tensor (never listed: see sparse_layout) has no host bytes */
    bytes = tu_read(data("sparse.pt"), &size);
    ck_assert_int_eq(lgt_archive_load(LGT_SCRIPT, NULL, bytes, size, cpu, &a), LG_OK);
    ck_assert_int_eq(lgt_archive_take(a, 0, lg__torch_pool(b), &t), LG_OK);
    ck_assert_ptr_null(lgt_host_data(t));
    lgt_free(t);
    lgt_archive_free(a);
    free(bytes);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

#else /* no libtorch in this build */

START_TEST(no_libtorch)
{
    ck_assert_int_eq(lg_torch_read_archive("x.pt", "torchscript", lg_device_cpu(), NULL, NULL),
                     LG_E_BACKEND);
    assert_msg_has("this build has no libtorch");
}
END_TEST

#endif
static Suite *make_suite(void)
{
    Suite *s = suite_create("torch_errors");
    TCase *tc = tcase_create("errors");
#ifdef LOADGATE_HAVE_TORCH
    tcase_add_test(tc, required_arguments);
    tcase_add_test(tc, open_out_of_memory);
    tcase_add_test(tc, devices_that_do_not_exist);
    tcase_add_test(tc, threads_hint);
    tcase_add_test(tc, tensor_refusals);
    tcase_add_test(tc, from_host_refusals);
    tcase_add_test(tc, writer_refusals);
    tcase_add_test(tc, loads_from_a_path);
    tcase_add_test(tc, archive_indexes);
    tcase_add_test(tc, transposed_tensor);
#else
    tcase_add_test(tc, no_libtorch);
#endif
    suite_add_tcase(s, tc);
    return s;
}

#ifdef LOADGATE_HAVE_TORCH
/* Run before anything loads the module (tu_run_suite loads it). */
static int run_module_missing(void)
{
    Suite *s = suite_create("torch_errors_no_module");
    TCase *tc = tcase_create("no_module");
    tcase_add_test(tc, module_missing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    if (srunner_fork_status(sr) == CK_NOFORK) { /* the setenv would outlive the test */
        fprintf(stderr, "module_missing: skipped: it needs CK_FORK (it points "
                        "LOADGATE_TORCH_MODULE nowhere)\n");
        srunner_free(sr);
        return 0;
    }
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}
#endif

int main(void)
{
    g_dir = tu_tmpdir();
    if (!g_dir) {
        perror("mkdtemp");
        return 1;
    }
    int failed = 0;
#ifdef LOADGATE_HAVE_TORCH
    failed += run_module_missing();
#endif
    failed += tu_run_suite(make_suite());
    tu_rmtree(g_dir);
    return failed ? 1 : 0;
}
