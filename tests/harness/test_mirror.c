/* A mirror store costs no memory where it is large (mirror.c): a variable
 * of more than 2 * HX_MIRROR_EDGE bytes holds the pattern at its ends and
 * zeros between, and hx_mirror_digest is the digest of exactly that; the
 * library writes part of a variable (lg_store_fill_range), and a load to
 * cpu keeps neither the file's pages nor the old store's zeros in the RSS
 * (src/formats/deserialize.c, sim's alloc_zeroed). */
#include "fixture/gen.h"
#include "mirror.h"
#include "testutil.h"
#include "util/digest.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

static const char *dir;
static lg_backend *sim;

static void setup(void)
{
    dir = tu_tmpdir();
    ck_assert_int_eq(lg_backend_open("sim", &sim), LG_OK);
}

static void teardown(void)
{
    lg_backend_close(sim);
    tu_rmtree(dir);
}

static unsigned char *read_var(lg_store *st, size_t i)
{
    const lg_tensor_info *v = lg_store_var(st, i);
    unsigned char *b = malloc((size_t)v->nbytes);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(lg_store_read(st, i, b, (size_t)v->nbytes, NULL), LG_OK);
    return b;
}

START_TEST(test_fill_range)
{
    lg_store *st;
    int64_t shape[1] = {25000};
    unsigned char ab[16];
    memset(ab, 0xab, sizeof ab);
    ck_assert_int_eq(lg_store_new(sim, lg_device_cpu(), &st), LG_OK);
    ck_assert_int_eq(lg_store_add(st, "w", LG_F32, 1, shape), LG_OK);
    ck_assert_int_eq(lg_store_fill_range(st, "w", 1000, ab, sizeof ab), LG_OK);
    ck_assert_int_eq(lg_store_fill_range(st, "w", 100000 - 16, ab, sizeof ab), LG_OK);
    unsigned char *b = read_var(st, 0);
    for (size_t j = 0; j < 100000; j++) {
        int in = (j >= 1000 && j < 1016) || j >= 100000 - 16;
        ck_assert_msg(b[j] == (in ? 0xab : 0), "byte %zu is 0x%02x", j, b[j]);
    }
    free(b);
    ck_assert_int_eq(lg_store_fill_range(st, "w", 100000 - 15, ab, sizeof ab), LG_E_INVALID);
    ck_assert_ptr_nonnull(strstr(lg_error_message(), "not inside"));
    ck_assert_int_eq(lg_store_fill_range(st, "w", UINT64_MAX, ab, 1), LG_E_INVALID);
    ck_assert_int_eq(lg_store_fill_range(st, "nope", 0, ab, 1), LG_E_NOTFOUND);
    lg_store_free(st);
}
END_TEST

/* A file of one small tensor (t0: 8 x 8 f32) and a large one (t1). */
START_TEST(test_large_variable_ends_only)
{
    const char *f = tu_path(dir, "two.safetensors");
    ck_assert_int_eq(tu_write_safetensors(f, 2, 64, 64), 0); /* 16 KiB each */
    lg_store *st;
    ck_assert_int_eq(lg_store_new(sim, lg_device_cpu(), &st), LG_OK);
    lg_open_options oo = {NULL, sim, NULL, "off", 0};
    ck_assert_int_eq(hx_mirror_build(st, NULL, f, &oo, NULL), LG_OK);
    ck_assert_int_eq(lg_store_count(st), 2);
    for (size_t i = 0; i < 2; i++) {
        const lg_tensor_info *v = lg_store_var(st, i);
        ck_assert(hx_mirror_partial(v->nbytes));
        unsigned char *b = read_var(st, i), *want = malloc((size_t)v->nbytes);
        hx_fill_pattern(want, (size_t)v->nbytes, i);
        size_t n = (size_t)v->nbytes, e = HX_MIRROR_EDGE;
        ck_assert_int_eq(memcmp(b, want, e), 0);
        ck_assert_int_eq(memcmp(b + n - e, want + n - e, e), 0);
        for (size_t j = e; j < n - e; j++)
            ck_assert_msg(b[j] == 0, "variable %zu byte %zu is 0x%02x", i, j, b[j]);
        ck_assert_uint_eq(hx_digest(b, n), hx_mirror_digest(v, i));
        /* one byte changed in the middle: the computed digest no longer
         * matches what is read back (atomic would say so) */
        unsigned char one = 1;
        ck_assert_int_eq(lg_store_fill_range(st, v->name, n / 2, &one, 1), LG_OK);
        free(b);
        b = read_var(st, i);
        ck_assert_uint_ne(hx_digest(b, n), hx_mirror_digest(v, i));
        free(b);
        free(want);
    }
    lg_store_free(st);
}
END_TEST

/* hx_mirror_digest, computed piece by piece (util/digest.h), equals the
 * digest of what a large variable holds: in one piece, in several, and
 * when the last edge lies across two pieces. */
static void mirror_digest_matches(int rows, int cols)
{
    const char *f = tu_path(dir, "d.safetensors");
    ck_assert_int_eq(tu_write_safetensors(f, 2, rows, cols), 0);
    lg_store *st;
    ck_assert_int_eq(lg_store_new(sim, lg_device_cpu(), &st), LG_OK);
    lg_open_options oo = {NULL, sim, NULL, "off", 0};
    ck_assert_int_eq(hx_mirror_build(st, NULL, f, &oo, NULL), LG_OK);
    for (size_t i = 0; i < 2; i++) {
        const lg_tensor_info *v = lg_store_var(st, i);
        ck_assert(hx_mirror_partial(v->nbytes));
        unsigned char *b = read_var(st, i);
        ck_assert_msg(hx_digest(b, v->nbytes) == hx_mirror_digest(v, i),
                      "%llu bytes: the computed digest differs from the read-back",
                      (unsigned long long)v->nbytes);
        free(b);
    }
    lg_store_free(st);
    unlink(f);
}

START_TEST(test_mirror_digest_in_pieces)
{
    mirror_digest_matches(64, 64);     /* 16 KiB: one piece */
    mirror_digest_matches(150, 1000);  /* 600,000 bytes: three pieces */
    mirror_digest_matches(1, 131097);  /* 2 pieces + 100 bytes: the last edge across two */
    mirror_digest_matches(1, 65537);   /* 1 piece + 4 bytes */
}
END_TEST

/* hx_digest is the scheme of util/digest.h, on one thread or several (from
 * 8 MiB), and any byte changes it. */
START_TEST(test_digest_scheme)
{
    uint64_t n = ((uint64_t)9 << 20) + 5, m = hx_digest_pieces(n);
    unsigned char *b = malloc((size_t)n);
    uint64_t *piece = malloc((size_t)m * sizeof *piece);
    ck_assert(b && piece);
    for (uint64_t j = 0; j < n; j++)
        b[j] = (unsigned char)(j * 2654435761u >> 13);
    ck_assert_uint_eq(m, 37);
    for (uint64_t k = 0; k < m; k++) {
        uint64_t at = k * HX_DIGEST_PIECE;
        piece[k] = XXH3_64bits(b + at, (size_t)(n - at < HX_DIGEST_PIECE ? n - at
                                                                        : HX_DIGEST_PIECE));
    }
    uint64_t d = hx_digest(b, n);
    ck_assert_uint_eq(d, XXH3_64bits_withSeed(piece, (size_t)m * sizeof *piece, n));
    ck_assert_uint_eq(d, hx_digest_join(piece, n));
    /* under 8 MiB: one thread, the same scheme (the last piece 1 byte) */
    uint64_t small = 3 * HX_DIGEST_PIECE + 1, four[4] = {piece[0], piece[1], piece[2], 0};
    four[3] = XXH3_64bits(b + 3 * HX_DIGEST_PIECE, 1);
    ck_assert_uint_eq(hx_digest(b, small), XXH3_64bits_withSeed(four, sizeof four, small));
    b[n - 1] ^= 1;
    ck_assert_uint_ne(hx_digest(b, n), d);
    b[n - 1] ^= 1;
    b[0] ^= 0x80;
    ck_assert_uint_ne(hx_digest(b, n), d);
    b[0] ^= 0x80;
    ck_assert_uint_eq(hx_digest(b, n), d);
    ck_assert_uint_eq(hx_digest(b, 100), XXH3_64bits(b, 100)); /* one piece: plain XXH3 */
    free(b);
    free(piece);
}
END_TEST

START_TEST(test_small_variable_whole)
{
    const char *f = tu_path(dir, "small.safetensors");
    ck_assert_int_eq(tu_write_safetensors(f, 1, 32, 64), 0); /* 8 KiB: whole */
    lg_store *st;
    ck_assert_int_eq(lg_store_new(sim, lg_device_cpu(), &st), LG_OK);
    lg_open_options oo = {NULL, sim, NULL, "off", 0};
    ck_assert_int_eq(hx_mirror_build(st, NULL, f, &oo, NULL), LG_OK);
    const lg_tensor_info *v = lg_store_var(st, 0);
    ck_assert(!hx_mirror_partial(v->nbytes));
    unsigned char *b = read_var(st, 0), *want = malloc((size_t)v->nbytes);
    hx_fill_pattern(want, (size_t)v->nbytes, 0);
    ck_assert_int_eq(memcmp(b, want, (size_t)v->nbytes), 0);
    free(b);
    free(want);
    lg_store_free(st);
}
END_TEST

/* Builds the mirror of f (not kept open) into a new store with io.open
 * armed to fail at its first hit when `armed`: the status of the build
 * and the variables the store got. */
static lg_status mirror_count(const char *f, const char *key, int armed, size_t *n)
{
    lg_store *st;
    lg_open_options oo = {NULL, sim, key, "off", 0};
    lg_fault_schedule first = {.when = LG_FAULT_NTH, .k = 1};
    ck_assert_int_eq(lg_store_new(sim, lg_device_cpu(), &st), LG_OK);
    if (armed)
        ck_assert_int_eq(lg_fault_set("io.open", &first), LG_OK);
    lg_status r = hx_mirror_build(st, NULL, f, &oo, NULL);
    lg_fault_clear();
    *n = lg_store_count(st);
    lg_store_free(st);
    return r;
}

/* The names, dtypes and shapes of the last file mirrored are remembered
 * for the next mirror of the same file: that one does not open it (an
 * injected failure of the open goes unmet). A file written again, the
 * same path opened another way, or hx_mirror_forget: it is read again. */
START_TEST(test_mirror_remembers_file)
{
    const char *f = tu_path(dir, "seen.safetensors");
    size_t n;
    hx_mirror_forget();
    ck_assert_int_eq(tu_write_safetensors(f, 3, 2, 2), 0);
    ck_assert_int_eq(mirror_count(f, NULL, 1, &n), LG_E_IO); /* nothing remembered yet */
    ck_assert_int_eq(mirror_count(f, NULL, 0, &n), LG_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(mirror_count(f, NULL, 1, &n), LG_OK); /* remembered: no open */
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(mirror_count(f, "model", 1, &n), LG_E_IO); /* opened another way */
    ck_assert_int_eq(mirror_count(f, NULL, 1, &n), LG_OK);
    ck_assert_int_eq(tu_write_safetensors(f, 5, 2, 2), 0); /* another file, same path */
    ck_assert_int_eq(mirror_count(f, NULL, 1, &n), LG_E_IO);
    ck_assert_int_eq(mirror_count(f, NULL, 0, &n), LG_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(mirror_count(f, NULL, 1, &n), LG_OK);
    ck_assert_uint_eq(n, 5);
    hx_mirror_forget();
    ck_assert_int_eq(mirror_count(f, NULL, 1, &n), LG_E_IO);
}
END_TEST

/* kB of a "Name:" line of /proc/self/status. */
static long status_kb(const char *name)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, name, strlen(name)))
            kb = strtol(line + strlen(name), NULL, 10);
    fclose(f);
    ck_assert_int_ge(kb, 0);
    return kb;
}

/* 32 MiB in 8 tensors to cpu: the old store's zeros are never touched, and
 * the file's pages do not stay in the RSS once copied. */
#if defined(__SANITIZE_THREAD__) /* GCC's; clang's is a feature */
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

START_TEST(test_load_reads_file_once)
{
#ifdef UNDER_TSAN
    fprintf(stderr, "test_load_reads_file_once: skipped: ThreadSanitizer's allocator touches "
                    "the memory it hands out, so the RSS says nothing of the load\n");
    return;
#endif
    const char *f = tu_path(dir, "big.safetensors");
    ck_assert_int_eq(tu_write_safetensors(f, 8, 1024, 1024), 0);
    lg_checkpoint *c;
    lg_store *st;
    ck_assert_int_eq(lg_checkpoint_open(f, NULL, &c), LG_OK);
    ck_assert_int_eq(lg_store_new(sim, lg_device_cpu(), &st), LG_OK);
    long anon0 = status_kb("RssAnon:");
    for (size_t i = 0; i < lg_checkpoint_count(c); i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        ck_assert_int_eq(lg_store_add(st, t->name, t->dtype, t->ndim, t->shape), LG_OK);
    }
    lg_checkpoint_close(c);
    ck_assert_msg(status_kb("RssAnon:") - anon0 < 4096, "the store's zeros took %ld kB",
                  status_kb("RssAnon:") - anon0);
    /* the peak from here: the new tensors (32 MiB) and at most a tensor's
     * worth of the file (4 MiB), not the whole file's pages besides */
    FILE *cr = fopen("/proc/self/clear_refs", "w");
    ck_assert_ptr_nonnull(cr);
    fputs("5", cr); /* resets VmHWM to the current RSS */
    fclose(cr);
    long rss0 = status_kb("VmRSS:");
    lg_load_options o;
    lg_load_options_init(&o);
    ck_assert_int_eq(lg_store_load(st, f, &o, NULL), LG_OK);
    long peak = status_kb("VmHWM:") - rss0;
    ck_assert_msg(peak < 32768 + 12288, "the load's peak was %ld kB over the RSS before it", peak);
    ck_assert_int_ge(peak, 32768 - 1024); /* the new tensors are counted: the check bites */
    /* the values check's reads of an open checkpoint drop their pages too */
    ck_assert_int_eq(lg_checkpoint_open(f, NULL, &c), LG_OK);
    long file0 = status_kb("RssFile:");
    unsigned char *buf = malloc((size_t)4 << 20);
    for (size_t i = 0; i < lg_checkpoint_count(c); i++)
        ck_assert_int_eq(lg_checkpoint_read(c, i, buf, (size_t)4 << 20), LG_OK);
    long grew = status_kb("RssFile:") - file0;
    ck_assert_msg(grew < 8192, "the file's pages stayed: RssFile grew by %ld kB", grew);
    free(buf);
    lg_checkpoint_close(c);
    unsigned char *b = read_var(st, 3);
    float x;
    memcpy(&x, b + 4 * 5, sizeof x);
    ck_assert(x == 3 * 1000 + 5);
    free(b);
    lg_store_free(st);
}
END_TEST

/* What on_read showed of up to 4 tensors: each one's pieces, which must
 * come in order, one tensor after another, into a streaming XXH3-64. */
typedef struct {
    size_t calls;
    const lg_checkpoint *file;
    uint64_t digest[4];
    int seen[4];
    size_t pieces[4];
    uint64_t at[4];
    size_t cur;
    XXH3_state_t *xs;
} observed;

static void observe(void *ctx, size_t k, uint64_t offset, const void *bytes, uint64_t n)
{
    observed *o = ctx;
    o->calls++;
    ck_assert_uint_lt(k, 4);
    ck_assert_msg(!o->seen[k], "tensor %zu shown again after its last piece", k);
    ck_assert_msg(offset == o->at[k], "tensor %zu: a piece at %llu, expected at %llu", k,
                  (unsigned long long)offset, (unsigned long long)o->at[k]);
    if (offset == 0) {
        o->cur = k;
        ck_assert_int_eq(XXH3_64bits_reset(o->xs), XXH_OK);
    }
    ck_assert_msg(o->cur == k, "tensor %zu shown between the pieces of tensor %zu", k, o->cur);
    ck_assert_int_eq(XXH3_64bits_update(o->xs, bytes, (size_t)n), XXH_OK);
    o->pieces[k]++;
    o->at[k] += n;
    if (o->at[k] == lg_checkpoint_tensor(o->file, k)->nbytes) {
        o->digest[k] = XXH3_64bits_digest(o->xs);
        o->seen[k] = 1;
    }
}

/* Loads st from f (open as c too) with observe as on_read, into o. */
static void load_observed(lg_store *st, const char *f, const lg_checkpoint *c, observed *o)
{
    memset(o, 0, sizeof *o);
    o->file = c;
    o->xs = XXH3_createState();
    ck_assert_ptr_nonnull(o->xs);
    lg_load_options opt;
    lg_load_options_init(&opt);
    opt.on_read = observe;
    opt.on_read_ctx = o;
    opt.threads = 1; /* pieces in order */
    ck_assert_int_eq(lg_store_load(st, f, &opt, NULL), LG_OK);
}

/* Tensor k of c (n bytes) was shown whole, and its pieces make up its
 * bytes. */
static void assert_shown(lg_checkpoint *c, const observed *o, size_t k, size_t n)
{
    unsigned char *b = malloc(n);
    ck_assert_ptr_nonnull(b);
    ck_assert_msg(o->seen[k], "tensor %zu not shown whole", k);
    ck_assert_int_eq(lg_checkpoint_read(c, k, b, n), LG_OK);
    ck_assert_uint_eq(o->digest[k], XXH3_64bits(b, n));
    free(b);
}

/* on_read sees each tensor the load reads, once, as the file holds it
 * (before the cast of the dtype rule convert), by its index in the file;
 * a store of 3 of the file's 4 tensors reads 3. */
START_TEST(test_on_read)
{
    const char *f = tu_path(dir, "four.safetensors");
    ck_assert_int_eq(tu_write_safetensors(f, 4, 64, 64), 0);
    lg_checkpoint *c;
    ck_assert_int_eq(lg_checkpoint_open(f, NULL, &c), LG_OK);
    lg_store *st;
    ck_assert_int_eq(lg_store_new(sim, lg_device_cpu(), &st), LG_OK);
    int64_t shape[2] = {64, 64};
    ck_assert_int_eq(lg_store_add(st, "t3", LG_F32, 2, shape), LG_OK);
    ck_assert_int_eq(lg_store_add(st, "t0", LG_F32, 2, shape), LG_OK);
    ck_assert_int_eq(lg_store_add(st, "t2", LG_F64, 2, shape), LG_OK); /* cast */
    observed o;
    load_observed(st, f, c, &o);
    ck_assert_uint_eq(o.calls, 3); /* 16 KiB each: one piece */
    ck_assert(!o.seen[1]);
    for (size_t k = 0; k < 4; k += 1 + (k == 0))
        assert_shown(c, &o, k, 64 * 64 * 4);
    XXH3_freeState(o.xs);
    lg_checkpoint_close(c);
    lg_store_free(st);
}
END_TEST

/* A generated file of 3 tensors of rows x cols f32 in format (open as
 * *c), and a cpu store of the same variables (*st). */
static const char *gen_and_store(const char *format, const char *name, int64_t rows,
                                 int64_t cols, lg_checkpoint **c, lg_store **st)
{
    hx_gen g;
    hx_gen_init(&g);
    snprintf(g.format, sizeof g.format, "%s", format);
    g.tensors = 3;
    g.ndim = 2;
    g.shape[0] = rows, g.shape[1] = cols;
    const char *f = tu_path(dir, name);
    ck_assert_int_eq(hx_gen_write(&g, f), LG_OK);
    ck_assert_int_eq(lg_checkpoint_open(f, NULL, c), LG_OK);
    ck_assert_uint_eq(lg_checkpoint_count(*c), 3);
    ck_assert_int_eq(lg_store_new(sim, lg_device_cpu(), st), LG_OK);
    for (size_t k = 0; k < 3; k++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(*c, k);
        ck_assert_int_eq(lg_store_add(*st, t->name, t->dtype, t->ndim, t->shape), LG_OK);
    }
    return f;
}

/* A tensor larger than the copy's run (256 KiB) is shown in pieces, in
 * order (threads = 1), as each lands, by both native readers (torch.save's with its
 * CRC-32 taken over the same runs); the pieces make up its bytes. */
static void on_read_pieces(const char *format, const char *name)
{
    lg_checkpoint *c;
    lg_store *st;
    const char *f = gen_and_store(format, name, 300, 300, &c, &st); /* 360,000 bytes: two runs */
    observed o;
    load_observed(st, f, c, &o);
    for (size_t k = 0; k < 3; k++) {
        ck_assert_msg(o.pieces[k] == 2, "%s: tensor %zu shown in %zu pieces, not 2", format, k,
                      o.pieces[k]);
        assert_shown(c, &o, k, 300 * 300 * 4);
    }
    XXH3_freeState(o.xs);
    lg_checkpoint_close(c);
    lg_store_free(st);
}

/* The two native readers that copy a whole tensor: a format, and a file
 * name of its extension. */
static const char *const formats[2][2] = {{"safetensors", "p.safetensors"}, {"torch-zip", "p.pt"}};

START_TEST(test_on_read_pieces) { on_read_pieces(formats[_i][0], formats[_i][1]); }
END_TEST

/* What on_read showed from several threads: each piece of up to 3
 * tensors of up to 64 pieces, its digest, and which threads showed them;
 * a mutex orders the bookkeeping, not the calls. */
typedef struct {
    pthread_mutex_t mu;
    const lg_checkpoint *file;
    unsigned count[3][64];
    uint64_t digest[3][64];
    size_t done[3];    /* pieces shown of each tensor */
    size_t cur;        /* the tensor being shown, or (size_t)-1 */
    pthread_t thread[8];
    int threads;
    char bad[256];     /* the first breach of the contract */
} shared_obs;

static void observe_shared(void *ctx, size_t k, uint64_t offset, const void *bytes, uint64_t n)
{
    shared_obs *o = ctx;
    uint64_t d = XXH3_64bits(bytes, (size_t)n); /* outside the lock: at the same time */
    pthread_mutex_lock(&o->mu);
    uint64_t size = k < 3 ? lg_checkpoint_tensor(o->file, k)->nbytes : 0;
    uint64_t j = offset / LG_READ_PIECE, m = (size + LG_READ_PIECE - 1) / LG_READ_PIECE;
    if (o->bad[0])
        ;
    else if (k >= 3 || m > 64)
        snprintf(o->bad, sizeof o->bad, "tensor %zu: not expected", k);
    else if (offset % LG_READ_PIECE || n != (size - offset < LG_READ_PIECE ? size - offset
                                                                           : LG_READ_PIECE))
        snprintf(o->bad, sizeof o->bad, "tensor %zu: a piece of %llu bytes at %llu", k,
                 (unsigned long long)n, (unsigned long long)offset);
    else if (o->cur != k && o->cur != (size_t)-1 &&
             o->done[o->cur] != (lg_checkpoint_tensor(o->file, o->cur)->nbytes +
                                 LG_READ_PIECE - 1) / LG_READ_PIECE)
        snprintf(o->bad, sizeof o->bad, "tensor %zu shown before tensor %zu was whole", k,
                 o->cur);
    else {
        o->cur = k;
        o->count[k][j]++;
        o->digest[k][j] = d;
        o->done[k]++;
        int known = 0;
        for (int t = 0; t < o->threads; t++)
            known |= pthread_equal(o->thread[t], pthread_self());
        if (!known && o->threads < 8)
            o->thread[o->threads++] = pthread_self();
    }
    pthread_mutex_unlock(&o->mu);
}

/* With threads = 4, a tensor of 8 MiB (32 pieces) is copied by 4
 * threads: each piece is shown once, from more than one thread, every
 * piece of a tensor before the next tensor's, and the pieces are the
 * file's bytes; torch.save's CRC-32s, taken by each thread over its share
 * and joined, match. */
static void load_shared(lg_store *st, const char *f, const lg_checkpoint *c, int threads,
                        shared_obs *o)
{
    memset(o, 0, sizeof *o);
    pthread_mutex_init(&o->mu, NULL);
    o->file = c;
    o->cur = (size_t)-1;
    lg_load_options opt;
    lg_load_options_init(&opt);
    opt.on_read = observe_shared;
    opt.on_read_ctx = o;
    opt.threads = threads;
    ck_assert_int_eq(lg_store_load(st, f, &opt, NULL), LG_OK);
    ck_assert_msg(!o->bad[0], "%s: %s", f, o->bad);
    pthread_mutex_destroy(&o->mu);
}

static void on_read_threads(const char *format, const char *name)
{
    lg_checkpoint *c;
    lg_store *st;
    const char *f = gen_and_store(format, name, 2048, 1024, &c, &st); /* 8 MiB each */
    static shared_obs o;
    load_shared(st, f, c, 4, &o);
    ck_assert_msg(o.threads > 1, "%s: every piece came from one thread", format);
    uint64_t n = (uint64_t)2048 * 1024 * 4;
    unsigned char *b = malloc((size_t)n);
    ck_assert_ptr_nonnull(b);
    for (size_t k = 0; k < 3; k++) {
        ck_assert_int_eq(lg_checkpoint_read(c, k, b, (size_t)n), LG_OK);
        for (size_t j = 0; j < 32; j++) {
            ck_assert_msg(o.count[k][j] == 1, "%s: tensor %zu piece %zu shown %u times", format,
                          k, j, o.count[k][j]);
            ck_assert_uint_eq(o.digest[k][j], XXH3_64bits(b + j * LG_READ_PIECE, LG_READ_PIECE));
        }
        const void *have = lg_store_peek(st, lg_store_find(st, lg_checkpoint_tensor(c, k)->name),
                                         NULL);
        ck_assert_ptr_nonnull(have);
        ck_assert_int_eq(memcmp(have, b, (size_t)n), 0);
    }
    free(b);
    lg_checkpoint_close(c);
    lg_store_free(st);
}

START_TEST(test_on_read_threads) { on_read_threads(formats[_i][0], formats[_i][1]); }
END_TEST

/* threads outside 0 to 8 is refused before anything is read. */
START_TEST(test_threads_option_checked)
{
    lg_checkpoint *c;
    lg_store *st;
    const char *f = gen_and_store("safetensors", "one.safetensors", 8, 8, &c, &st);
    lg_load_options opt;
    lg_load_options_init(&opt);
    int bad[] = {-1, 9};
    for (int i = 0; i < 2; i++) {
        opt.threads = bad[i];
        ck_assert_int_eq(lg_store_load(st, f, &opt, NULL), LG_E_INVALID);
        ck_assert_msg(strstr(lg_error_message(), "threads"), "%s", lg_error_message());
    }
    for (opt.threads = 0; opt.threads <= 8; opt.threads += 4)
        ck_assert_int_eq(lg_store_load(st, f, &opt, NULL), LG_OK);
    lg_checkpoint_close(c);
    lg_store_free(st);
}
END_TEST

/* threads = 0 takes LOADGATE_THREADS when it is a whole number from 1 to
 * 8, and one thread per CPU (at most 4) otherwise: the threads that show
 * the pieces of 8 MiB tensors (32 pieces: room for 4 threads). Each loop
 * runs in a child of its own (Check's fork), where the variable is read
 * afresh. */
static const struct {
    const char *value;
    int threads; /* 0: one per CPU, at most 4 */
} env_threads[] = {{"3", 3}, {"1", 1}, {"8", 4}, {"3x", 0}, {"9", 0}, {"0", 0}, {"", 0},
                   {"-2", 0}};

START_TEST(test_threads_from_env)
{
    ck_assert_int_eq(setenv("LOADGATE_THREADS", env_threads[_i].value, 1), 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    /* 8 threads would take 2 MiB each: 4 of them for an 8 MiB tensor */
    int want = env_threads[_i].threads ? env_threads[_i].threads
                                       : cpus < 1 ? 1 : cpus > 4 ? 4 : (int)cpus;
    lg_checkpoint *c;
    lg_store *st;
    const char *f = gen_and_store("safetensors", "env.safetensors", 2048, 1024, &c, &st);
    static shared_obs o;
    load_shared(st, f, c, 0, &o);
    ck_assert_msg(o.threads == want, "LOADGATE_THREADS=\"%s\": %d threads, %d expected",
                  env_threads[_i].value, o.threads, want);
    unsetenv("LOADGATE_THREADS");
    lg_checkpoint_close(c);
    lg_store_free(st);
}
END_TEST

/* lg_store_peek: a cpu variable's bytes in place, the same as a read;
 * none for a variable on another device. */
START_TEST(test_peek)
{
    int64_t shape[1] = {1000};
    float v[1000];
    for (int j = 0; j < 1000; j++)
        v[j] = (float)j * 0.5f;
    lg_device where = {LG_DEV_MPS, 0}, mps = {LG_DEV_MPS, 0};
    lg_store *st;
    ck_assert_int_eq(lg_store_new(sim, lg_device_cpu(), &st), LG_OK);
    ck_assert_int_eq(lg_store_add(st, "w", LG_F32, 1, shape), LG_OK);
    ck_assert_int_eq(lg_store_fill(st, "w", v, sizeof v), LG_OK);
    const void *p = lg_store_peek(st, 0, &where);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(where.type, LG_DEV_CPU);
    ck_assert_mem_eq(p, v, sizeof v);
    ck_assert_ptr_null(lg_store_peek(st, 1, &where)); /* no such variable */
    /* a device that reads back other bytes is read, not peeked at */
    ck_assert_int_eq(lg_sim_profile_set(sim, lg_device_cpu(), "readback", "wrong"), LG_OK);
    ck_assert_ptr_null(lg_store_peek(st, 0, &where));
    ck_assert_int_eq(lg_sim_profile_set(sim, lg_device_cpu(), "readback", "ok"), LG_OK);
    ck_assert_ptr_nonnull(lg_store_peek(st, 0, &where));
    ck_assert_int_eq(lg_store_set_device(st, mps), LG_OK);
    ck_assert_ptr_null(lg_store_peek(st, 0, &where));
    lg_store_free(st);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mirror");
    TCase *tc = tcase_create("mirror");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_fill_range);
    tcase_add_test(tc, test_large_variable_ends_only);
    tcase_add_test(tc, test_small_variable_whole);
    tcase_add_test(tc, test_mirror_remembers_file);
    tcase_add_test(tc, test_load_reads_file_once);
    tcase_add_test(tc, test_on_read);
    tcase_add_loop_test(tc, test_on_read_pieces, 0, 2);
    tcase_add_test(tc, test_mirror_digest_in_pieces);
    tcase_add_test(tc, test_digest_scheme);
    tcase_add_loop_test(tc, test_on_read_threads, 0, 2);
    tcase_add_test(tc, test_threads_option_checked);
    tcase_add_loop_test(tc, test_threads_from_env, 0,
                        (int)(sizeof env_threads / sizeof env_threads[0]));
    tcase_add_test(tc, test_peek);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
