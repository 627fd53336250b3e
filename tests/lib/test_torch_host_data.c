/* The torch backend's cpu tensors in host memory (host_data,
 * alloc_zeroed_on in src/backend/backend.h): a cpu tensor comes zeroed
 * with its pages untouched, its bytes are written in place, a load to a
 * torch cpu store reads the file straight into the tensor (no second copy
 * in RSS), a tensor over a read-only mapping has no host bytes until a
 * write gives it memory of its own, and no other device claims zeroed
 * memory. */
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

#define MIB (1024 * 1024)

#ifdef LOADGATE_HAVE_TORCH

/* A field of /proc/self/status in bytes ("VmRSS", "VmHWM", "RssAnon"). */
static uint64_t status_bytes(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t n = strlen(field);
    unsigned long long kb = 0;
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':' &&
            sscanf(line + n + 1, "%llu", &kb) == 1)
            break;
    fclose(f);
    ck_assert_msg(kb > 0, "/proc/self/status has no %s", field);
    return (uint64_t)kb * 1024;
}

/* The peak RSS (VmHWM) starts again from the current RSS. */
static void reset_peak(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    ck_assert_msg(fd >= 0, "/proc/self/clear_refs cannot be opened: the peak RSS cannot be reset");
    ck_assert_int_eq(write(fd, "5", 1), 1);
    close(fd);
}

static lg_backend *open_torch(void)
{
    lg_backend *b = NULL;
    ck_assert_msg(lg_backend_open("torch", &b) == LG_OK, "%s", lg_error_message());
    return b;
}

/* A cpu tensor: zeroed, 64 MiB of it not resident until written, its
 * bytes written in place and read back through the backend. */
START_TEST(cpu_tensor_zeroed_and_in_place)
{
    lg_backend *b = open_torch();
    ck_assert_int_eq(lg__alloc_zeroed(b, lg_device_cpu()), 1);
    ck_assert_int_eq(lg__alloc_zeroed(b, (lg_device){LG_DEV_CUDA, 0}), 0);
    ck_assert_int_eq(lg__alloc_zeroed(b, (lg_device){LG_DEV_MPS, 0}), 0);
    int64_t shape[2] = {16 * MIB / 4, 4};
    uint64_t anon = status_bytes("RssAnon");
    void *t = NULL;
    ck_assert_msg(b->ops->alloc(b, lg_device_cpu(), LG_F32, 2, shape, &t) == LG_OK, "%s",
                  lg_error_message());
    ck_assert_msg(status_bytes("RssAnon") < anon + 8 * MIB,
                  "a 64 MiB cpu tensor made %llu bytes resident before any write",
                  (unsigned long long)(status_bytes("RssAnon") - anon));
    float *host = b->ops->host_data(b, t);
    ck_assert_ptr_nonnull(host);
    for (size_t i = 0; i < (size_t)(16 * MIB); i += 4099)
        ck_assert_msg(host[i] == 0.0f, "element %zu is not zero", i);
    host[0] = 1.5f;
    host[16 * MIB - 1] = -2.0f;
    float *all = malloc(64 * MIB);
    ck_assert_ptr_nonnull(all);
    ck_assert_int_eq(b->ops->read(b, t, all, 64 * MIB), LG_OK);
    ck_assert(all[0] == 1.5f);
    ck_assert(all[16 * MIB - 1] == -2.0f);
    free(all);
    /* the same bytes each time: the tensor's own, not a copy */
    ck_assert_ptr_eq(b->ops->host_data(b, t), host);
    b->ops->free(b, t);
    lg_backend_close(b);
}
END_TEST

static int releases;
static void count_release(void *ctx)
{
    (void)ctx;
    releases++;
}

/* A tensor over a read-only mapping gives no host bytes (a write there
 * would fault, or change the file); once written it owns memory and does. */
START_TEST(wrapped_tensor_has_no_host_data)
{
    lg_backend *b = open_torch();
    long page = sysconf(_SC_PAGESIZE);
    float *map = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    ck_assert_ptr_ne(map, MAP_FAILED);
    for (int i = 0; i < 256; i++)
        map[i] = (float)i;
    ck_assert_int_eq(mprotect(map, (size_t)page, PROT_READ), 0);
    int64_t shape[1] = {256};
    void *t = NULL;
    releases = 0;
    ck_assert_int_eq(lg__torch_wrap_host(b, lg_device_cpu(), LG_F32, 1, shape, map,
                                         256 * sizeof(float), count_release, NULL, &t),
                     LG_OK);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_null(b->ops->host_data(b, t));
    float v[256] = {0};
    v[5] = 7.0f;
    ck_assert_int_eq(b->ops->write(b, t, v, sizeof v), LG_OK);
    ck_assert_int_eq(releases, 1);
    float *host = b->ops->host_data(b, t);
    ck_assert_ptr_nonnull(host);
    ck_assert_ptr_ne(host, map);
    ck_assert(host[5] == 7.0f);
    ck_assert(map[5] == 5.0f);
    b->ops->free(b, t);
    munmap(map, (size_t)page);
    lg_backend_close(b);
}
END_TEST

/* A load of a 64 MiB safetensors tensor to a torch cpu store: the right
 * bytes, and the peak RSS holds the file's bytes (read once into memory)
 * and one tensor's, not a third copy: the store's variable is not written
 * full of zeros (alloc_zeroed_on) and the file's bytes go straight into
 * the new tensor (host_data), with no buffer between. */
START_TEST(store_load_reads_in_place)
{
    const int rows = 4096, cols = 4096; /* f32: 64 MiB */
    const uint64_t size = (uint64_t)rows * cols * 4;
    const char *dir = tu_tmpdir();
    ck_assert_ptr_nonnull(dir);
    const char *path = tu_path(dir, "one.safetensors");
    ck_assert_int_eq(tu_write_safetensors(path, 1, rows, cols), 0);
    lg_backend *b = open_torch();
    lg_policy policies[] = {LG_POLICY_VIA_CPU, LG_POLICY_DIRECT};
    float *got = malloc((size_t)size);
    ck_assert_ptr_nonnull(got);
    memset(got, 0xff, (size_t)size); /* resident before the baseline */
    for (size_t p = 0; p < 2; p++) {
        uint64_t before = status_bytes("VmRSS");
        reset_peak();
        lg_store *st = NULL;
        int64_t shape[2] = {rows, cols};
        ck_assert_int_eq(lg_store_new(b, lg_device_cpu(), &st), LG_OK);
        ck_assert_int_eq(lg_store_add(st, "t0", LG_F32, 2, shape), LG_OK);
        lg_load_options o;
        lg_load_options_init(&o);
        o.policy = policies[p];
        ck_assert_msg(lg_store_load(st, path, &o, NULL) == LG_OK, "%s: %s",
                      lg_policy_name(policies[p]), lg_error_message());
        uint64_t peak = status_bytes("VmHWM");
        ck_assert_msg(peak < before + 2 * size + size / 4,
                      "%s: the load's peak RSS grew by %llu bytes for a %llu-byte tensor",
                      lg_policy_name(policies[p]), (unsigned long long)(peak - before),
                      (unsigned long long)size);
        lg_device where;
        ck_assert_int_eq(lg_store_read(st, 0, got, (size_t)size, &where), LG_OK);
        ck_assert(lg_device_equal(where, lg_device_cpu()));
        for (size_t j = 0; j < (size_t)rows * cols; j += 997)
            ck_assert_msg(got[j] == (float)j, "%s: element %zu is %g", lg_policy_name(policies[p]),
                          j, (double)got[j]);
        ck_assert(got[(size_t)rows * cols - 1] == (float)((size_t)rows * cols - 1));
        lg_store_free(st);
    }
    free(got);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
    tu_rmtree(dir);
}
END_TEST

#endif

static Suite *host_data_suite(void)
{
    Suite *s = suite_create("torch_host_data");
    TCase *tc = tcase_create("host_data");
    tcase_set_timeout(tc, 120);
#ifdef LOADGATE_HAVE_TORCH
    tcase_add_test(tc, cpu_tensor_zeroed_and_in_place);
    tcase_add_test(tc, wrapped_tensor_has_no_host_data);
    tcase_add_test(tc, store_load_reads_in_place);
#endif
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(host_data_suite()) ? 1 : 0; }
