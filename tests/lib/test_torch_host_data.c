/* The torch backend's cpu tensors in host memory (host_data,
 * alloc_zeroed_on and wrap_host in src/backend/backend.h): a cpu tensor
 * comes zeroed with its pages untouched, its bytes are written in place, a
 * load to a torch cpu store builds its tensors over the file's map (no
 * second copy in RSS; docs/cuda-staging.md), a tensor over a read-only
 * mapping has no host bytes until a write gives it memory of its own, and
 * no other device claims zeroed memory. */
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
 * bytes, and the peak RSS holds the file's bytes and at most one tensor's,
 * not a third copy: the store's variable is not written full of zeros
 * (alloc_zeroed_on), and the new tensor is built over the file's map
 * (wrap_host), or, copied, gets the file's bytes straight in (host_data),
 * with no buffer between. */
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

/* ------------------------------------- tensors over the checkpoint's map */

/* Mappings of the file at path in this process, and whether p lies in
 * one of them. */
static int file_maps(const char *path, const void *p, int *has_p)
{
    char real[4096], line[8192];
    ck_assert_ptr_nonnull(realpath(path, real));
    FILE *f = fopen("/proc/self/maps", "r");
    ck_assert_ptr_nonnull(f);
    int n = 0;
    *has_p = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char *name = strchr(line, '/');
        if (!name || sscanf(line, "%lx-%lx", &lo, &hi) != 2)
            continue;
        name[strcspn(name, "\n")] = 0;
        if (strcmp(name, real))
            continue;
        n++;
        *has_p |= (uintptr_t)p >= lo && (uintptr_t)p < hi;
    }
    fclose(f);
    return n;
}

static int in_file_map(const char *path, const void *p)
{
    int has = 0;
    file_maps(path, p, &has);
    return has;
}

static lg_status load_cpu(lg_store *st, const char *path, const char *crc)
{
    lg_load_options o;
    lg_load_options_init(&o);
    o.crc = crc;
    return lg_store_load(st, path, &o, NULL);
}

/* A store of n variables t0.. of rows x cols f32 on torch cpu. */
static lg_store *store_of(lg_backend *b, int n, int rows, int cols)
{
    lg_store *st = NULL;
    int64_t shape[2] = {rows, cols};
    char name[16];
    ck_assert_int_eq(lg_store_new(b, lg_device_cpu(), &st), LG_OK);
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "t%d", i);
        ck_assert_int_eq(lg_store_add(st, name, LG_F32, 2, shape), LG_OK);
    }
    return st;
}

/* tu_write_safetensors' file of n tensors of rows x cols in a new folder,
 * and a torch cpu store of variables of the same names and shapes. */
typedef struct {
    const char *dir, *path;
    lg_backend *b;
    lg_store *st;
} file_and_store;

static file_and_store file_and_store_new(const char *name, int n, int rows, int cols)
{
    file_and_store f;
    f.dir = tu_tmpdir();
    ck_assert_ptr_nonnull(f.dir);
    f.path = tu_path(f.dir, name);
    ck_assert_int_eq(tu_write_safetensors(f.path, n, rows, cols), 0);
    f.b = open_torch();
    f.st = store_of(f.b, n, rows, cols);
    return f;
}

/* Frees the store, finds no tensor left and the file no longer mapped. */
static void file_and_store_done(file_and_store *f)
{
    int has;
    lg_store_free(f->st);
    ck_assert_uint_eq(lg_backend_live_tensors(f->b), 0);
    ck_assert_msg(file_maps(f->path, NULL, &has) == 0, "the file is still mapped");
    lg_backend_close(f->b);
    tu_rmtree(f->dir);
}

/* Variable i holds tu_write_safetensors' values: i * 1000 + j. */
static void check_values(lg_store *st, int i, int numel)
{
    const float *v = lg_store_peek(st, (size_t)i, NULL);
    ck_assert_ptr_nonnull(v);
    for (int j = 0; j < numel; j += 97)
        ck_assert_msg(v[j] == (float)(i * 1000 + j), "t%d[%d] is %g", i, j, (double)v[j]);
    ck_assert(v[numel - 1] == (float)(i * 1000 + numel - 1));
}

/* A load to a torch cpu store builds each tensor over the file's map
 * (from_blob), with no copy, under every policy that reads the file: the
 * bytes are the map's, the map outlives the checkpoint (closed by the
 * load), a write gives the variable memory of its own and leaves the
 * file alone, and the map goes with the last tensor over it. */
START_TEST(load_builds_tensors_over_the_map)
{
    const int rows = 256, cols = 64, numel = rows * cols;
    file_and_store f = file_and_store_new("three.safetensors", 3, rows, cols);
    lg_policy policies[] = {LG_POLICY_VIA_CPU, LG_POLICY_STAGED, LG_POLICY_DIRECT,
                            LG_POLICY_AUTO};
    for (size_t p = 0; p < 4; p++) {
        const char *pn = lg_policy_name(policies[p]);
        lg_load_options o;
        lg_load_options_init(&o);
        o.policy = policies[p];
        ck_assert_msg(lg_store_load(f.st, f.path, &o, NULL) == LG_OK, "%s", lg_error_message());
        for (int i = 0; i < 3; i++) {
            ck_assert_msg(in_file_map(f.path, lg_store_peek(f.st, (size_t)i, NULL)),
                          "%s: t%d is not over the file's map", pn, i);
            check_values(f.st, i, numel);
        }
        float *mine = calloc((size_t)numel, sizeof *mine);
        ck_assert_ptr_nonnull(mine);
        mine[7] = -1.0f;
        ck_assert_int_eq(lg_store_fill(f.st, "t1", mine, (size_t)numel * 4), LG_OK);
        free(mine);
        const float *v1 = lg_store_peek(f.st, 1, NULL);
        ck_assert_ptr_nonnull(v1);
        ck_assert(!in_file_map(f.path, v1));
        ck_assert(v1[7] == -1.0f && v1[8] == 0.0f);
        check_values(f.st, 0, numel);
        check_values(f.st, 2, numel);
        lg_store_free(f.st);
        int has;
        ck_assert_msg(file_maps(f.path, NULL, &has) == 0,
                      "%s: the file is still mapped after the store was freed", pn);
        f.st = store_of(f.b, 3, rows, cols);
    }
    /* the file was not written through the map */
    ck_assert_int_eq(load_cpu(f.st, f.path, NULL), LG_OK);
    check_values(f.st, 1, numel);
    file_and_store_done(&f);
}
END_TEST

/* LOADGATE_OVER_MAP=0 at the open: every tensor has memory of its own. */
START_TEST(over_map_turned_off)
{
    const int rows = 256, cols = 64;
    file_and_store f = file_and_store_new("two.safetensors", 2, rows, cols);
    ck_assert_int_eq(setenv("LOADGATE_OVER_MAP", "0", 1), 0);
    lg_status s = load_cpu(f.st, f.path, NULL);
    unsetenv("LOADGATE_OVER_MAP");
    ck_assert_msg(s == LG_OK, "%s", lg_error_message());
    for (int i = 0; i < 2; i++) {
        ck_assert(!in_file_map(f.path, lg_store_peek(f.st, (size_t)i, NULL)));
        check_values(f.st, i, rows * cols);
    }
    int has;
    ck_assert_int_eq(file_maps(f.path, NULL, &has), 0);
    file_and_store_done(&f);
}
END_TEST

/* A torch.save file of t0 and t1 (libtorch's pickle_save, read by the
 * native torch-zip reader), PT_ROWS x PT_COLS f32 holding i * 1000 + j,
 * and at bad a copy with one byte of t1's record changed. */
#define PT_ROWS 512
#define PT_COLS 32
static void write_two_pt(const char *path, const char *bad)
{
    enum { NUMEL = PT_ROWS * PT_COLS };
    float *data[2];
    int64_t shape[2] = {PT_ROWS, PT_COLS};
    lg_named_data nd[2];
    for (int i = 0; i < 2; i++) {
        data[i] = malloc(NUMEL * sizeof(float));
        ck_assert_ptr_nonnull(data[i]);
        for (int j = 0; j < NUMEL; j++)
            data[i][j] = (float)(i * 1000 + j);
        nd[i] = (lg_named_data){i ? "t1" : "t0", LG_F32, 2, shape, data[i]};
    }
    ck_assert_msg(lg_torch_write_file(path, "torch-pickle", nd, 2) == LG_OK, "%s",
                  lg_error_message());
    size_t n = 0;
    unsigned char *bytes = tu_read(path, &n);
    ck_assert_ptr_nonnull(bytes);
    unsigned char *at = memmem(bytes, n, data[1] + 100, 64);
    ck_assert_ptr_nonnull(at);
    at[3] ^= 0x40;
    ck_assert_int_eq(tu_write(bad, bytes, n), 0);
    free(bytes);
    free(data[0]);
    free(data[1]);
}

/* A torch.save file (libtorch's pickle_save, read by the native torch-zip
 * reader): its stored records are mapped under the tensors, and each
 * record's CRC-32 is taken in the same pass. A record with a byte changed
 * fails the load (crc: error) with the store as it was and nothing left
 * mapped, and loads over the map under crc: warn, with a finding. */
START_TEST(torch_save_over_the_map_and_its_crc)
{
    enum { ROWS = PT_ROWS, COLS = PT_COLS, NUMEL = ROWS * COLS };
    const char *dir = tu_tmpdir();
    ck_assert_ptr_nonnull(dir);
    const char *path = tu_path(dir, "two.pt"), *bad = tu_path(dir, "bad.pt");
    write_two_pt(path, bad);
    lg_backend *b = open_torch();
    lg_checkpoint *c = NULL;
    lg_open_options oo = {0};
    oo.backend = b;
    ck_assert_int_eq(lg_checkpoint_open(path, &oo, &c), LG_OK);
    ck_assert_str_eq(lg_checkpoint_format(c), "torch-zip");
    lg_checkpoint_close(c);

    lg_store *st = store_of(b, 2, ROWS, COLS);
    ck_assert_msg(load_cpu(st, path, NULL) == LG_OK, "%s", lg_error_message());
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(in_file_map(path, lg_store_peek(st, (size_t)i, NULL)), "t%d", i);
        check_values(st, i, NUMEL);
    }
    lg_store_free(st);

    st = store_of(b, 2, ROWS, COLS);
    size_t live = lg_backend_live_tensors(b);
    const void *before[2] = {lg_store_peek(st, 0, NULL), lg_store_peek(st, 1, NULL)};
    ck_assert_int_eq(load_cpu(st, bad, NULL), LG_E_FORMAT);
    ck_assert_msg(strstr(lg_error_message(), "CRC") != NULL, "%s", lg_error_message());
    ck_assert_ptr_eq(lg_store_peek(st, 0, NULL), before[0]);
    ck_assert_ptr_eq(lg_store_peek(st, 1, NULL), before[1]);
    ck_assert_uint_eq(lg_backend_live_tensors(b), live);
    int has;
    ck_assert_int_eq(file_maps(bad, NULL, &has), 0);

    ck_assert_msg(load_cpu(st, bad, "warn") == LG_OK, "%s", lg_error_message());
    ck_assert(in_file_map(bad, lg_store_peek(st, 0, NULL)));
    ck_assert(in_file_map(bad, lg_store_peek(st, 1, NULL)));
    check_values(st, 0, NUMEL);
    lg_store_free(st);
    ck_assert_int_eq(file_maps(bad, NULL, &has), 0);
    lg_backend_close(b);
    tu_rmtree(dir);
}
END_TEST

/* The bytes the observer was shown, per tensor (threads = 1). */
static uint64_t shown_bytes[2];
static void count_shown(void *ctx, size_t tensor, uint64_t offset, const void *bytes, uint64_t n)
{
    (void)ctx, (void)offset, (void)bytes;
    if (tensor < 2)
        shown_bytes[tensor] += n;
}

/* A load of file under crc, over the map or copied (LOADGATE_OVER_MAP),
 * with mem.alloc failing at its k-th hit (0: never): its status, and in
 * *hits (if not NULL) the times mem.alloc was reached; no tensor's bytes
 * shown more than once. */
static lg_status load_with_alloc_fault(lg_backend *b, const char *file, const char *crc,
                                       int over, uint64_t k, uint64_t *hits)
{
    lg_store *st = store_of(b, 2, PT_ROWS, PT_COLS);
    lg_load_options o;
    lg_load_options_init(&o);
    o.crc = crc;
    o.on_read = count_shown;
    o.threads = 1;
    shown_bytes[0] = shown_bytes[1] = 0;
    ck_assert_int_eq(setenv("LOADGATE_OVER_MAP", over ? "1" : "0", 1), 0);
    lg_fault_schedule fs = {0};
    fs.when = LG_FAULT_NTH;
    fs.k = k ? k : UINT64_MAX;
    ck_assert_int_eq(lg_fault_set("mem.alloc", &fs), LG_OK);
    lg_status r = lg_store_load(st, file, &o, NULL);
    if (hits)
        *hits = lg_fault_hits("mem.alloc");
    lg_fault_clear();
    unsetenv("LOADGATE_OVER_MAP");
    for (int i = 0; i < 2; i++)
        ck_assert_msg(shown_bytes[i] <= (uint64_t)PT_ROWS * PT_COLS * 4,
                      "%s, mem.alloc at %llu: t%d shown %llu bytes", over ? "over the map" : "copy",
                      (unsigned long long)k, i, (unsigned long long)shown_bytes[i]);
    lg_store_free(st);
    return r;
}

/* mem.alloc failing at each of its hits in turn, on the torch.save file
 * whose t1 record is wrong, under crc: warn (its finding is an
 * allocation) and crc: error, and on the good file: a load over the map
 * ends as the copy does, and shows no byte twice. */
START_TEST(mem_faults_over_the_map_as_in_a_copy)
{
    const char *dir = tu_tmpdir();
    ck_assert_ptr_nonnull(dir);
    const char *path = tu_path(dir, "two.pt"), *bad = tu_path(dir, "bad.pt");
    write_two_pt(path, bad);
    lg_backend *b = open_torch();
    const char *files[3] = {bad, bad, path}, *crcs[3] = {"warn", "error", "error"};
    for (int f = 0; f < 3; f++) {
        uint64_t hits = 0;
        lg_status whole = load_with_alloc_fault(b, files[f], crcs[f], 0, 0, &hits);
        ck_assert_int_eq(whole, f == 1 ? LG_E_FORMAT : LG_OK);
        ck_assert_int_eq(load_with_alloc_fault(b, files[f], crcs[f], 1, 0, NULL), whole);
        ck_assert_uint_gt(hits, 3);
        for (uint64_t k = 1; k <= hits; k++) {
            lg_status copy = load_with_alloc_fault(b, files[f], crcs[f], 0, k, NULL);
            lg_status over = load_with_alloc_fault(b, files[f], crcs[f], 1, k, NULL);
            ck_assert_msg(copy == over, "%s, crc %s, mem.alloc at %llu of %llu: copied %s, over "
                          "the map %s", files[f] == bad ? "bad.pt" : "two.pt", crcs[f],
                          (unsigned long long)k, (unsigned long long)hits,
                          lg_status_name(copy), lg_status_name(over));
        }
    }
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
    tu_rmtree(dir);
}
END_TEST

/* A cpu tensor is built over the map only while the load says that it
 * is the variable itself (final_cpu, a cpu store's load). Staging, the cpu
 * leg of via-cpu on a device store and tch's sources are copied out of
 * later, after the load's checks of the map: they are copies. */
START_TEST(only_a_variable_itself_is_over_the_map)
{
    const int rows = 256, cols = 64;
    file_and_store f = file_and_store_new("one.safetensors", 1, rows, cols);
    lg_open_options oo = {0};
    oo.backend = f.b;
    lg_checkpoint *c = NULL;
    ck_assert_int_eq(lg_checkpoint_open(f.path, &oo, &c), LG_OK);
    lg__dev x = {f.b, NULL};
    for (int final = 0; final < 2; final++) {
        c->final_cpu = final;
        void *t = NULL;
        ck_assert_int_eq(lg__checkpoint_deserialize(c, 0, &x, lg_device_cpu(), &t), LG_OK);
        ck_assert_msg(in_file_map(f.path, f.b->ops->peek(f.b, t)) == final,
                      "final_cpu %d: over the map %d", final, !final);
        f.b->ops->free(f.b, t);
    }
    lg_checkpoint_close(c);
    file_and_store_done(&f);
}
END_TEST

/* device.alloc fails the second tensor built over the map: the store is as
 * it was, no tensor is left, and the first tensor's hold on the map has
 * gone with it. */
START_TEST(fault_while_over_the_map)
{
    const int rows = 256, cols = 64;
    file_and_store f = file_and_store_new("three.safetensors", 3, rows, cols);
    size_t live = lg_backend_live_tensors(f.b);
    const void *before = lg_store_peek(f.st, 0, NULL);
    lg_fault_schedule fs = {0};
    fs.when = LG_FAULT_NTH;
    fs.k = 2;
    ck_assert_int_eq(lg_fault_set("device.alloc", &fs), LG_OK);
    ck_assert_int_eq(load_cpu(f.st, f.path, NULL), LG_E_DEVICE);
    ck_assert_uint_eq(lg_fault_fired("device.alloc"), 1);
    lg_fault_clear();
    ck_assert_uint_eq(lg_backend_live_tensors(f.b), live);
    ck_assert_ptr_eq(lg_store_peek(f.st, 0, NULL), before);
    int has;
    ck_assert_msg(file_maps(f.path, NULL, &has) == 0, "the map outlived a failed load");
    ck_assert_int_eq(load_cpu(f.st, f.path, NULL), LG_OK);
    check_values(f.st, 2, rows * cols);
    file_and_store_done(&f);
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
    tcase_add_test(tc, load_builds_tensors_over_the_map);
    tcase_add_test(tc, over_map_turned_off);
    tcase_add_test(tc, torch_save_over_the_map_and_its_crc);
    tcase_add_test(tc, fault_while_over_the_map);
    tcase_add_test(tc, mem_faults_over_the_map_as_in_a_copy);
    tcase_add_test(tc, only_a_variable_itself_is_over_the_map);
#endif
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(host_data_suite()) ? 1 : 0; }
