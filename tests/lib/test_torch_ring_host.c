/* Tensors on cpu over a file's mapping instead of a copy
 * (lg__torch_wrap_host, docs/cuda-staging.md): the tensor is built over the
 * mapped bytes (a change to the file shows through it), holds a reference
 * on the mapping until libtorch lets go of it, gets memory of its own when
 * written, and every case that must copy instead (not cpu, misaligned,
 * another backend, no libtorch) gives no tensor and lets the reference go
 * exactly once. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "backend/backend.h"
#include "backend/torch_shim.h"
#include "loadgate/loadgate.h"
#include "testutil.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FLOATS 1024
#define BYTES (FLOATS * sizeof(float))

/* A mapping shared by its opener and the tensors over it: unmapped when
 * the last reference goes, as a checkpoint's would be. */
typedef struct {
    int refs, releases;
    void *map;
    size_t size;
    int fd;
    const char *dir, *path;
} mapping;

static void map_release(void *ctx)
{
    mapping *m = ctx;
    m->releases++;
    if (--m->refs == 0) {
        munmap(m->map, m->size);
        m->map = NULL;
    }
}

static mapping *map_file(void)
{
    static mapping m;
    float v[FLOATS];
    for (int i = 0; i < FLOATS; i++)
        v[i] = (float)i * 0.5f;
    memset(&m, 0, sizeof m);
    ck_assert_ptr_nonnull(m.dir = tu_tmpdir());
    m.path = tu_path(m.dir, "weights.bin");
    ck_assert_int_eq(tu_write(m.path, v, sizeof v), 0);
    m.fd = open(m.path, O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(m.fd, 0);
    m.size = sizeof v;
    /* read-only, as lg_checkpoint_open maps a file; shared, so that a
     * write to the file shows whether a tensor reads the mapping */
    m.map = mmap(NULL, m.size, PROT_READ, MAP_SHARED, m.fd, 0);
    ck_assert_ptr_ne(m.map, MAP_FAILED);
    m.refs = 1;
    return &m;
}

static void unmap_file(mapping *m)
{
    if (m->refs > 0)
        map_release(m); /* the opener's reference */
    close(m->fd);
    tu_rmtree(m->dir);
}

#ifdef LOADGATE_HAVE_TORCH

static float read_float(lg_backend *b, void *t, size_t i)
{
    float v[FLOATS];
    ck_assert_int_eq(b->ops->read(b, t, v, BYTES), LG_OK);
    return v[i];
}

static lg_backend *open_torch(void)
{
    lg_backend *b = NULL;
    ck_assert_msg(lg_backend_open("torch", &b) == LG_OK, "%s", lg_error_message());
    return b;
}

START_TEST(tensor_over_the_mapping)
{
    lg_backend *b = open_torch();
    mapping *m = map_file();
    int64_t shape[2] = {32, FLOATS / 32};
    void *t = NULL;
    m->refs++; /* the one handed over */
    ck_assert_int_eq(lg__torch_wrap_host(b, lg_device_cpu(), LG_F32, 2, shape, m->map, BYTES,
                                         map_release, m, &t), LG_OK);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(m->releases, 0);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 1);
    ck_assert_uint_eq(lg_backend_device_bytes(b, lg_device_cpu()), BYTES);
    ck_assert(read_float(b, t, 7) == 3.5f);
    /* no copy: the file's new bytes are what the tensor reads */
    float nine = 9.0f;
    ck_assert_int_eq(pwrite(m->fd, &nine, sizeof nine, 7 * sizeof(float)),
                     (ssize_t)sizeof nine);
    ck_assert(read_float(b, t, 7) == 9.0f);
    lg_device where;
    ck_assert_int_eq(b->ops->device_of(b, t, &where), LG_OK);
    ck_assert_int_eq(where.type, LG_DEV_CPU);
    /* the opener lets go first: the tensor keeps the mapping */
    unmap_file(m);
    ck_assert_ptr_nonnull(m->map);
    ck_assert(read_float(b, t, 8) == 4.0f);
    b->ops->free(b, t);
    ck_assert_int_eq(m->releases, 2);
    ck_assert_ptr_null(m->map);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    ck_assert_uint_eq(lg_backend_device_bytes(b, lg_device_cpu()), 0);
    lg_backend_close(b);
}
END_TEST

/* A write into the tensor (lg_store_fill, a load into it) must not touch
 * the read-only mapping: the tensor gets memory of its own, and lets go. */
START_TEST(written_tensor_owns_its_memory)
{
    lg_backend *b = open_torch();
    mapping *m = map_file();
    int64_t shape[1] = {FLOATS};
    void *t = NULL, *u = NULL;
    m->refs++;
    ck_assert_int_eq(lg__torch_wrap_host(b, lg_device_cpu(), LG_F32, 1, shape, m->map, BYTES,
                                         map_release, m, &t), LG_OK);
    ck_assert_ptr_nonnull(t);
    float *v = calloc(FLOATS, sizeof *v);
    v[3] = 42.0f;
    ck_assert_int_eq(b->ops->write(b, t, v, BYTES), LG_OK);
    ck_assert_int_eq(m->releases, 1); /* the mapping was let go at the write */
    ck_assert(read_float(b, t, 3) == 42.0f);
    ck_assert(((float *)m->map)[3] == 1.5f);
    /* and a copy into a tensor over the mapping */
    m->refs++;
    ck_assert_int_eq(lg__torch_wrap_host(b, lg_device_cpu(), LG_F32, 1, shape, m->map, BYTES,
                                         map_release, m, &u), LG_OK);
    ck_assert_int_eq(b->ops->copy(b, u, t), LG_OK);
    ck_assert_int_eq(m->releases, 2);
    ck_assert(read_float(b, u, 3) == 42.0f);
    ck_assert(((float *)m->map)[3] == 1.5f);
    ck_assert_uint_eq(lg_backend_device_bytes(b, lg_device_cpu()), 2 * BYTES);
    b->ops->free(b, t);
    b->ops->free(b, u);
    ck_assert_int_eq(m->refs, 1);
    unmap_file(m);
    free(v);
    lg_backend_close(b);
}
END_TEST

/* Each case that must copy: no tensor, the reference let go once. */
START_TEST(declines_let_go_once)
{
    lg_backend *b = open_torch();
    mapping *m = map_file();
    int64_t shape[1] = {FLOATS - 1};
    lg_device cuda = {LG_DEV_CUDA, 0};
    void *t = (void *)1;
    m->refs++; /* misaligned for f32 */
    ck_assert_int_eq(lg__torch_wrap_host(b, lg_device_cpu(), LG_F32, 1, shape,
                                         (char *)m->map + 2, BYTES - 4, map_release, m, &t),
                     LG_OK);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(m->releases, 1);
    m->refs++; /* not cpu */
    ck_assert_int_eq(lg__torch_wrap_host(b, cuda, LG_F32, 1, shape, m->map, BYTES - 4,
                                         map_release, m, &t), LG_OK);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(m->releases, 2);
    m->refs++; /* the size is not the shape's: an error, let go all the same */
    ck_assert_int_eq(lg__torch_wrap_host(b, lg_device_cpu(), LG_F32, 1, shape, m->map, BYTES,
                                         map_release, m, &t), LG_E_INVALID);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(m->releases, 3);
    ck_assert_ptr_nonnull(strstr(lg_error_message(), "host bytes"));
    /* u8 has no alignment to keep: an odd address is taken */
    int64_t odd[1] = {5};
    m->refs++;
    ck_assert_int_eq(lg__torch_wrap_host(b, lg_device_cpu(), LG_U8, 1, odd, (char *)m->map + 1,
                                         5, map_release, m, &t), LG_OK);
    ck_assert_ptr_nonnull(t);
    b->ops->free(b, t);
    ck_assert_int_eq(m->releases, 4);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    unmap_file(m);
    lg_backend_close(b);
}
END_TEST
#endif

/* The sim backend builds nothing over host memory: the caller copies. */
START_TEST(sim_declines)
{
    lg_backend *b = NULL;
    ck_assert_int_eq(lg_backend_open("sim", &b), LG_OK);
    mapping *m = map_file();
    int64_t shape[1] = {FLOATS};
    void *t = (void *)1;
    m->refs++;
    ck_assert_int_eq(lg__torch_wrap_host(b, lg_device_cpu(), LG_F32, 1, shape, m->map, BYTES,
                                         map_release, m, &t), LG_OK);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(m->releases, 1);
    lg__torch_set_staging(b, 1); /* not a torch backend: nothing happens */
    unmap_file(m);
    ck_assert_int_eq(m->releases, 2);
    lg_backend_close(b);
}
END_TEST

static Suite *host_suite(void)
{
    Suite *s = suite_create("torch_ring_host");
    TCase *tc = tcase_create("host");
#ifdef LOADGATE_HAVE_TORCH
    tcase_add_test(tc, tensor_over_the_mapping);
    tcase_add_test(tc, written_tensor_owns_its_memory);
    tcase_add_test(tc, declines_let_go_once);
#endif
    tcase_add_test(tc, sim_declines);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(host_suite()) ? 1 : 0; }
