/* The torch backend's error paths: what libtorch refuses, what loadgate
 * refuses before libtorch sees a byte, and the shim's own contract
 * (torch_shim.h) on bad arguments. Inputs: tests/data/torch-errors (its
 * generate.py says what each file holds) and files written here.
 *
 * Without the module (LOADGATE_TORCH_MODULE pointing nowhere): the
 * writers and the reader say so. A module missing, a bad device, a bad
 * dtype or shape, an allocation that fails, a tensor loadgate cannot
 * describe (complex, sparse, bytes past 64 bits), a file that would run
 * code or changes under a trusted open: each is an error naming the file,
 * the tensor and the problem. */
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

static const char *g_dir;

#define assert_msg_has(text)                                                                   \
    ck_assert_msg(strstr(lg_error_message(), (text)), "\"%s\" not in: %s", (text),             \
                  lg_error_message())

#ifdef LOADGATE_HAVE_TORCH

static const lg_device cpu = {LG_DEV_CPU, 0};
static const lg_device mps = {LG_DEV_MPS, 0};

static const char *data(const char *name)
{
    static char path[8][4096];
    static int next;
    next = (next + 1) % 8;
    snprintf(path[next], sizeof path[next], "%s/tests/data/torch-errors/%s", tu_source_dir(),
             name);
    return path[next];
}

static lg_backend *open_torch(void)
{
    lg_backend *b = NULL;
    ck_assert_msg(lg_backend_open("torch", &b) == LG_OK, "%s", lg_error_message());
    return b;
}

typedef struct {
    int n;
    char names[4][32];
} seen;

static int note(void *ctx, const lg_named_data *t, lg_device where)
{
    seen *s = ctx;
    ck_assert(lg_device_equal(where, cpu));
    if (s->n < 4)
        snprintf(s->names[s->n], sizeof s->names[0], "%s", t->name);
    s->n++;
    return 0;
}

/* A two-tensor archive ("a" or another one-letter name, and "w"). */
static const char *write_pair(const char *file, const char *name, const char *format)
{
    static float v[4] = {1, 2, 3, 4};
    static int64_t shape[] = {4};
    lg_named_data t[2] = {{name, LG_F32, 1, shape, v}, {"w", LG_F32, 1, shape, v}};
    const char *path = tu_path(g_dir, file);
    ck_assert_msg(lg_torch_write_file(path, format, t, 2) == LG_OK, "%s", lg_error_message());
    return path;
}

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
                             {(lg_device_type)7, 0}, {LG_DEV_CPU, 1}};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        ck_assert_msg(!lg_backend_has_device(b, odd[i]), "device %zu", i);
        ck_assert_msg(!lg_backend_direct_ok(b, odd[i]), "device %zu", i);
        ck_assert_msg(!lg_backend_direct_ok(b, odd[i]), "device %zu, asked again", i);
    }
    ck_assert(lg_backend_direct_ok(b, cpu));
    ck_assert(lg_backend_direct_ok(b, cpu)); /* cached */
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

static int released;
static void count_release(void *ctx) { released += ctx == &released; }

START_TEST(tensor_refusals)
{
    lg_backend *b = open_torch();
    void *t = NULL, *u = NULL;
    int64_t huge[] = {(int64_t)1 << 46};
    ck_assert_int_eq(b->ops->alloc(b, cpu, LG_F32, 1, huge, &t), LG_E_NOMEM);
    assert_msg_has("allocating on cpu: DefaultCPUAllocator: can't allocate memory");
    int64_t neg[] = {-1}, wide[] = {(int64_t)1 << 40, (int64_t)1 << 40};
    ck_assert_int_eq(b->ops->alloc(b, cpu, LG_F32, 1, neg, &t), LG_E_DEVICE);
    assert_msg_has("bad shape for a cpu tensor");
    ck_assert_int_eq(b->ops->alloc(b, cpu, LG_F32, 2, wide, &t), LG_E_DEVICE);
    assert_msg_has("bad shape for a cpu tensor");
    ck_assert_int_eq(b->ops->alloc(b, cpu, LG_DTYPE_COUNT, 1, neg, &t), LG_E_INVALID);
    assert_msg_has("bad dtype or number of dimensions");
    ck_assert_int_eq(b->ops->alloc(b, cpu, LG_F32, LG_MAX_DIMS + 1, wide, &t), LG_E_INVALID);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);

    int64_t s23[] = {2, 3}, s32[] = {3, 2};
    ck_assert_int_eq(b->ops->alloc(b, cpu, LG_F32, 2, s23, &t), LG_OK);
    ck_assert_int_eq(b->ops->alloc(b, cpu, LG_F32, 2, s32, &u), LG_OK);
    float buf[6];
    ck_assert_int_eq(b->ops->read(b, t, buf, 5), LG_E_INVALID);
    assert_msg_has("copy to host: read of 5 bytes from a tensor of 24");
    ck_assert_int_eq(b->ops->copy(b, u, t), LG_E_SHAPE);
    assert_msg_has("never broadcast");
    lg_device where;
    ck_assert_int_eq(b->ops->device_of(b, t, &where), LG_OK);
    ck_assert(lg_device_equal(where, cpu));
    b->ops->free(b, u);
    lgt_free(NULL);          /* as free(NULL) */
    lgt_pool_release(NULL);

    /* the staging budget is for copies to a GPU: a cpu tensor is unchanged */
    lg__torch_set_staging(b, 1 << 20);
    float one[6] = {1, 2, 3, 4, 5, 6};
    ck_assert_int_eq(b->ops->write(b, t, one, sizeof one), LG_OK);
    ck_assert_int_eq(b->ops->read(b, t, buf, sizeof buf), LG_OK);
    ck_assert(!memcmp(buf, one, sizeof one));

    /* the backend closed before its last tensor: the pool lives on */
    lgt_pool *pool = lg__torch_pool(b);
    ck_assert_ptr_nonnull(pool);
    lg_backend_close(b);
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
    ck_assert_int_eq(lgt_from_host(p, LG_F32, 1, shape, (char *)v + 1, 16, count_release,
                                   &released, &t), LG_E_INVALID);
    ck_assert_msg(strstr(lgt_last_error(), "are not aligned to 4"), "%s", lgt_last_error());
    ck_assert_int_eq(released, 3);
    ck_assert_ptr_null(t);
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

/* A non-contiguous tensor has no host bytes to write in place; it is
 * read as its values, row-major. */
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
    ck_assert_ptr_null(lgt_host_data(t));
    float got[6], want[6] = {0, 3, 1, 4, 2, 5};
    ck_assert_int_eq(lgt_read(t, got, sizeof got), LG_OK);
    ck_assert(!memcmp(got, want, sizeof got));
    /* written as row-major values, through a copy into its strides */
    float in[6] = {6, 5, 4, 3, 2, 1};
    ck_assert_int_eq(lgt_write(t, in, sizeof in), LG_OK);
    ck_assert_int_eq(lgt_read(t, got, sizeof got), LG_OK);
    ck_assert(!memcmp(got, in, sizeof got));
    ck_assert_ptr_null(lgt_host_data(t));
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

/* -------------------------------------- tensors loadgate cannot describe */

static void open_refused(const char *file, lg_status want, const char *what)
{
    lg_backend *b = open_torch();
    lg_open_options o = {.reader = "torchscript", .backend = b};
    lg_checkpoint *c = NULL;
    ck_assert_int_eq(lg_checkpoint_open(data(file), &o, &c), want);
    assert_msg_has(data(file));
    assert_msg_has(what);
    ck_assert_ptr_null(c);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
    seen s = {0};
    ck_assert_int_eq(lg_torch_read_archive(data(file), "torchscript", cpu, note, &s), want);
    assert_msg_has(data(file));
    assert_msg_has(what);
}

START_TEST(complex_dtype)
{
    open_refused("complex.pt", LG_E_FORMAT,
                 "tensor \"c\": dtype ComplexFloat has no loadgate name");
}
END_TEST

START_TEST(bytes_overflow)
{
    open_refused("overflow.pt", LG_E_FORMAT, "tensor \"big\": size overflows");
}
END_TEST

START_TEST(sparse_layout)
{
    open_refused("sparse.pt", LG_E_FORMAT, "tensor \"s\": layout Sparse");
}
END_TEST

/* The buffer for a tensor's bytes cannot be allocated. */
START_TEST(read_out_of_memory)
{
    const char *path = write_pair("oom.ot", "a", "torch-archive");
    int met = 0;
    for (uint64_t k = 1; k <= 16 && !met; k++) {
        lg_fault_schedule f = {.when = LG_FAULT_NTH, .k = k};
        ck_assert_int_eq(lg_fault_set("mem.alloc", &f), LG_OK);
        seen s = {0};
        lg_status st = lg_torch_read_archive(path, NULL, cpu, note, &s);
        lg_fault_clear();
        if (st == LG_OK)
            break;
        ck_assert_int_eq(st, LG_E_NOMEM);
        met = strstr(lg_error_message(), ": out of memory") && strstr(lg_error_message(), path) &&
              strstr(lg_error_message(), "tensor \"");
    }
    ck_assert_msg(met, "no tensor's buffer failed: %s", lg_error_message());
}
END_TEST

/* ----------------------------------------------------- torch-pickle */

START_TEST(pickle_shapes)
{
    seen s = {0};
    ck_assert_int_eq(lg_torch_read_archive(data("tensor.pt"), "torch-pickle", cpu, note, &s),
                     LG_E_FORMAT);
    assert_msg_has("tensor.pt: loading onto cpu: pickle_load gave a Tensor, not a dict");
    ck_assert_int_eq(lg_torch_read_archive(data("intkeys.pt"), "torch-pickle", cpu, note, &s),
                     LG_E_FORMAT);
    assert_msg_has("pickle_load gave a dict whose keys are Int, not strings");
    ck_assert_int_eq(s.n, 0);
    /* a value that is no tensor is skipped */
    ck_assert_msg(lg_torch_read_archive(data("mixed.pt"), "torch-pickle", cpu, note, &s) ==
                      LG_OK, "%s", lg_error_message());
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.names[0], "a");
}
END_TEST

/* ------------------------------------------------------ the code check */

START_TEST(code_check_refusals)
{
    const char *tiny = tu_path(g_dir, "tiny.pt"), *ptmf = tu_path(g_dir, "ptmf.pt");
    const char *nozip = tu_path(g_dir, "nozip.pt");
    char head[32] = "PK\x03\x04PTMF";
    ck_assert_int_eq(tu_write(tiny, head, 6), 0);
    ck_assert_int_eq(tu_write(ptmf, head, sizeof head), 0);
    memset(head + 4, 0, sizeof head - 4);
    ck_assert_int_eq(tu_write(nozip, head, sizeof head), 0);
    const struct {
        const char *path, *what;
        int trust_hint;
    } refused[] = {
        {tiny, "not a zip archive from its first byte", 1},
        {ptmf, "not a zip archive from its first byte", 1},
        {nozip, "libtorch pickle: cannot be checked for code: ", 0},
        {data("trunc_deflate.pt"), "\"arch/data.pkl\" (method 8) cannot be inflated", 1},
        {data("bad_deflate.pt"), "\"arch/data.pkl\" (method 8) cannot be inflated", 1},
        {data("longname_setstate.pt"), "defines __setstate__", 1},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        seen s = {0};
        ck_assert_int_eq(lg_torch_read_archive(refused[i].path, "torch-pickle", cpu, note, &s),
                         LG_E_FORMAT);
        assert_msg_has(refused[i].path);
        assert_msg_has(refused[i].what);
        if (refused[i].trust_hint)
            assert_msg_has("--trust-code");
        ck_assert_int_eq(s.n, 0);
    }
    /* the record's name is cut at 256 bytes */
    char cut[300];
    snprintf(cut, sizeof cut, "\"arch/%.251s\" defines", "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
             "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
             "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
             "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn");
    ck_assert_int_eq(lg_torch_read_archive(data("longname_setstate.pt"), "torch-pickle", cpu,
                                           note, NULL), LG_E_FORMAT);
    assert_msg_has(cut);
}
END_TEST

/* The sniffer reads local headers when there is no central directory:
 * past a data descriptor with 64-bit sizes to the libtorch layout; a name
 * outside the first one's folder is no PyTorch layout, nor is a tensor
 * record past the first 32 names. */
START_TEST(sniff_local_headers)
{
    lg_backend *b = open_torch();
    lg_open_options o = {.backend = b};
    lg_checkpoint *c = NULL;
    ck_assert_int_eq(lg_checkpoint_open(data("head_zip64_desc.pt"), &o, &c), LG_E_FORMAT);
    assert_msg_has("head_zip64_desc.pt: libtorch archive: cannot be checked for code");
    ck_assert_int_eq(lg_checkpoint_open(data("head_short_name.pt"), &o, &c), LG_E_FORMAT);
    assert_msg_has("head_short_name.pt: unknown checkpoint format");
    ck_assert_int_eq(lg_checkpoint_open(data("head_past_32.pt"), &o, &c), LG_E_FORMAT);
    assert_msg_has("head_past_32.pt: unknown checkpoint format");
    lg_backend_close(b);
}
END_TEST

/* A params file read as an archive: libtorch's refusal, named. */
START_TEST(wrong_reader)
{
    const char *path = write_pair("wrong.params", "a", "torch-params");
    lg_backend *b = open_torch();
    lg_open_options o = {.reader = "torch-archive", .backend = b};
    lg_checkpoint *c = NULL;
    ck_assert_int_eq(lg_checkpoint_open(path, &o, &c), LG_E_FORMAT);
    assert_msg_has("wrong.params: libtorch archive: ");
    lg_open_options p = {.reader = "torch-params", .backend = b};
    const char *ot = write_pair("wrong.ot", "a", "torch-archive");
    ck_assert_int_eq(lg_checkpoint_open(ot, &p, &c), LG_E_FORMAT);
    assert_msg_has("wrong.ot: libtorch parameters file: ");
    lg_backend_close(b);
}
END_TEST

/* -------------------------------------------------- trusting the code */

/* TorchScript's print() goes to stderr, never into a program's stdout. */
START_TEST(trusted_print_goes_to_stderr)
{
    char hostile[4096];
    snprintf(hostile, sizeof hostile, "%s/tests/data/hostile/torchscript/setstate_prints.pt",
             tu_source_dir());
    const char *out = tu_path(g_dir, "stdout.txt"), *err = tu_path(g_dir, "stderr.txt");
    int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert(fo >= 0 && fe >= 0);
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    dup2(fo, 1);
    dup2(fe, 2);
    lg_backend *b = open_torch();
    lg_open_options o = {.backend = b, .trust_code = 1};
    lg_checkpoint *c = NULL;
    lg_status st = lg_checkpoint_open(hostile, &o, &c);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(fo), close(fe), close(so), close(se);
    ck_assert_msg(st == LG_OK, "%s", lg_error_message());
    ck_assert_uint_eq(lg_checkpoint_count(c), 1);
    lg_checkpoint_close(c);
    lg_backend_close(b);
    char *o_text = tu_read_text(out), *e_text = tu_read_text(err);
    ck_assert_str_eq(o_text, "");
    ck_assert_msg(strstr(e_text, "loadgate-hostile: __setstate__ ran"), "stderr: %s", e_text);
    free(o_text);
    free(e_text);
}
END_TEST

static void overwrite(const char *path, const char *with)
{
    size_t n = 0, m = 0;
    void *bytes = tu_read(with, &n);
    void *old = tu_read(path, &m);
    ck_assert_uint_eq(n, m);
    int fd = open(path, O_WRONLY); /* in place: no truncation */
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, bytes, n), (ssize_t)n);
    close(fd);
    free(bytes);
    free(old);
}

/* A trusted file is read through its mapping, not a copy: when it changes
 * after the open, the tensor listed is missing from the new load, or the
 * new load fails; each an error, not a wrong tensor. */
START_TEST(trusted_file_changes)
{
    const char *path = write_pair("changes.ot", "a", "torch-archive");
    /* the same size: the zip's folder is the file's name, and one letter */
    const char *other = write_pair("changeb.ot", "b", "torch-archive");
    lg_backend *b = open_torch();
    lg_open_options o = {.backend = b, .trust_code = 1};
    lg_checkpoint *c = NULL;
    ck_assert_msg(lg_checkpoint_open(path, &o, &c) == LG_OK, "%s", lg_error_message());
    size_t k = lg_checkpoint_find(c, "a"), w = lg_checkpoint_find(c, "w");
    overwrite(path, other);
    ck_assert_int_eq(lg_checkpoint_try_device(c, k, cpu), LG_E_FORMAT);
    assert_msg_has("changes.ot: tensor \"a\" is missing when loaded onto cpu");
    ck_assert_msg(lg_checkpoint_try_device(c, w, cpu) == LG_OK, "%s", lg_error_message());
    /* "w" was handed over: it is loaded again, from bytes that are no
     * longer a zip */
    size_t n = 0;
    char *junk = tu_read(path, &n);
    memset(junk, 'x', n);
    ck_assert_int_eq(tu_write(other, junk, n), 0);
    overwrite(path, other);
    ck_assert_int_eq(lg_checkpoint_try_device(c, w, cpu), LG_E_FORMAT);
    assert_msg_has("changes.ot: libtorch archive onto cpu: ");
    free(junk);
    lg_checkpoint_close(c);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

/* A device libtorch refuses: nothing is kept for it. */
START_TEST(deserialize_onto_missing_device)
{
    const char *path = write_pair("mps.ot", "a", "torch-archive");
    lg_backend *b = open_torch();
    if (lg_backend_has_device(b, mps)) {
        lg_backend_close(b);
        fprintf(stderr, "deserialize_onto_missing_device: skipped: this machine has mps\n");
        return;
    }
    lg_open_options o = {.backend = b};
    lg_checkpoint *c = NULL;
    ck_assert_msg(lg_checkpoint_open(path, &o, &c) == LG_OK, "%s", lg_error_message());
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(lg_checkpoint_try_device(c, 0, mps), LG_E_DEVICE);
        assert_msg_has("mps.ot");
    }
    ck_assert_msg(lg_checkpoint_try_device(c, 0, cpu) == LG_OK, "%s", lg_error_message());
    lg_checkpoint_close(c);
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

static Suite *errors_suite(void)
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
    tcase_add_test(tc, complex_dtype);
    tcase_add_test(tc, bytes_overflow);
    tcase_add_test(tc, sparse_layout);
    tcase_add_test(tc, read_out_of_memory);
    tcase_add_test(tc, pickle_shapes);
    tcase_add_test(tc, code_check_refusals);
    tcase_add_test(tc, sniff_local_headers);
    tcase_add_test(tc, wrong_reader);
    tcase_add_test(tc, trusted_print_goes_to_stderr);
    tcase_add_test(tc, trusted_file_changes);
    tcase_add_test(tc, deserialize_onto_missing_device);
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
    failed += tu_run_suite(errors_suite());
    tu_rmtree(g_dir);
    return failed ? 1 : 0;
}
