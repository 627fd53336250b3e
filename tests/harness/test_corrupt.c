/* The corruption generators beyond the byte-level ones (those are in
 * test_case.c): splices, and every named safetensors and torch.save zip
 * mutation, checked
 * against the reader itself: the status and the message each one is
 * documented to give, the same bytes on every run, and valid files where
 * a mutation is meant to keep the file valid. */
#include "case/case.h"
#include "corrupt/corrupt.h"
#include "fixture/gen.h"
#include "testutil.h"
#include "util/error.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *dir;
static char fixtures[1024];
static char errs[65536];

static void setup(void)
{
    dir = tu_tmpdir();
    ck_assert_ptr_nonnull(dir);
    snprintf(fixtures, sizeof fixtures, "%s", tu_path(dir, "fixtures"));
}

static void teardown(void) { tu_rmtree(dir); }

/* Generated fixtures of several shapes: 2-D f32, every dtype with 1-D
 * tensors, 0-dim scalars, and the file safetensors 0.8 wrote. */
static const char *fixture(int which)
{
    static char path[4][1024];
    if (which == 3)
        return LG_SOURCE_DIR "/tests/data/safetensors-0.8/mlp_f32.safetensors";
    hx_gen g;
    hx_gen_init(&g);
    if (which == 1) {
        lg_dtype all[] = {LG_F32, LG_F16, LG_BF16, LG_I64, LG_I32, LG_I16, LG_I8, LG_U8, LG_BOOL, LG_F64};
        memcpy(g.dtypes, all, sizeof all);
        g.ndtypes = 10;
        g.ndim = 1;
        g.shape[0] = 3;
    } else if (which == 2) {
        g.tensors = 3;
        g.ndim = 0;
    } else {
        g.shape[0] = 4;
        g.shape[1] = 5;
    }
    g.seed = (uint64_t)which + 1;
    snprintf(path[which], sizeof path[which], "%s", tu_path(dir, which == 1 ? "mixed.st"
                                                            : which == 2 ? "scalars.st"
                                                                         : "small.st"));
    ck_assert_int_eq(hx_gen_write(&g, path[which]), LG_OK);
    return path[which];
}

static lg_status open_status(const char *path, char *msg, size_t n)
{
    lg_checkpoint *c = NULL;
    lg_status st = lg_checkpoint_open(path, NULL, &c);
    snprintf(msg, n, "%s", st == LG_OK ? "" : lg_error_message());
    lg_checkpoint_close(c);
    return st;
}

/* Every tensor of a and b: same names, dtypes, shapes and bytes. */
static void same_tensors(const char *a, const char *b)
{
    lg_checkpoint *x, *y;
    ck_assert_int_eq(lg_checkpoint_open(a, NULL, &x), LG_OK);
    ck_assert_int_eq(lg_checkpoint_open(b, NULL, &y), LG_OK);
    ck_assert_uint_eq(lg_checkpoint_count(x), lg_checkpoint_count(y));
    for (size_t i = 0; i < lg_checkpoint_count(x); i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(x, i);
        size_t k = lg_checkpoint_find(y, t->name);
        ck_assert_msg(k != (size_t)-1, "%s lost tensor %s", b, t->name);
        const lg_tensor_info *u = lg_checkpoint_tensor(y, k);
        ck_assert_int_eq(t->dtype, u->dtype);
        ck_assert_int_eq(t->ndim, u->ndim);
        ck_assert_uint_eq(t->nbytes, u->nbytes);
        unsigned char *p = malloc(t->nbytes + 1), *q = malloc(t->nbytes + 1);
        ck_assert_int_eq(lg_checkpoint_read(x, i, p, (size_t)t->nbytes), LG_OK);
        ck_assert_int_eq(lg_checkpoint_read(y, k, q, (size_t)t->nbytes), LG_OK);
        ck_assert_mem_eq(p, q, (size_t)t->nbytes);
        free(p);
        free(q);
    }
    lg_checkpoint_close(x);
    lg_checkpoint_close(y);
}

/* ------------------------------------------------ safetensors mutations */

START_TEST(test_st_every_mutation)
{
    const hx_st_mutation *m = hx_st_mutations();
    const char *in = fixture(_i);
    const char *out = tu_path(dir, "out.st"), *again = tu_path(dir, "again.st");
    int nall = 0;
    for (int i = 0; m[i].name; i++) {
        hx_corrupt c = {.kind = HX_CORRUPT_SAFETENSORS, .mutation = i};
        char msg[2048];
        hx_corrupt_label(&c);
        ck_assert_int_eq(hx_st_mutation_find(m[i].name), i);
        if (!strcmp(m[i].name, "broadcastable-shape") && _i == 2)
            continue; /* scalars have no dimension to shrink: checked below */
        lg_status rc = hx_corrupt_apply(&c, in, out);
        ck_assert_msg(rc == 0, "%s on %s: %s", m[i].name, in, hx_errmsg());
        /* deterministic: the same bytes twice */
        ck_assert_int_eq(hx_corrupt_apply(&c, in, again), 0);
        size_t n1, n2;
        unsigned char *b1 = tu_read(out, &n1), *b2 = tu_read(again, &n2);
        ck_assert_uint_eq(n1, n2);
        ck_assert_mem_eq(b1, b2, n1);
        free(b1);
        free(b2);
        lg_status st = open_status(out, msg, sizeof msg);
        lg_status want;
        if (!strcmp(m[i].expect, "LG_E_FORMAT")) {
            nall += m[i].in_all;
            ck_assert_int_eq(m[i].in_all, 1);
            ck_assert_msg(st == LG_E_FORMAT, "%s on %s: %s %s", m[i].name, in,
                          lg_status_name(st), msg);
            ck_assert_msg(strstr(msg, m[i].message), "%s on %s: want \"%s\" in: %s",
                          m[i].name, in, m[i].message, msg);
            ck_assert_msg(strstr(msg, out) == msg, "the message names the file: %s", msg);
        } else {
            /* the mutation keeps the file valid; the store decides */
            ck_assert_int_eq(lg_status_parse(m[i].expect, &want), LG_OK);
            ck_assert_int_eq(m[i].in_all, 0);
            ck_assert_msg(st == LG_OK, "%s on %s: %s", m[i].name, in, msg);
        }
        if (!strcmp(m[i].name, "reserialize") || !strcmp(m[i].name, "pad-header"))
            same_tensors(in, out);
    }
    ck_assert_int_eq(nall, 33);
}
END_TEST

/* Mutations that change a valid file meet the store: the documented status. */
START_TEST(test_st_store_outcomes)
{
    const char *in = fixture(0);
    static const char *const names[] = {"rename-tensor", "reshape-tensor", "broadcastable-shape",
                                        "retype-same-size", "reserialize"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        int i = hx_st_mutation_find(names[k]);
        const hx_st_mutation *m = &hx_st_mutations()[i];
        hx_corrupt c = {.kind = HX_CORRUPT_SAFETENSORS, .mutation = i};
        const char *out = tu_path(dir, "out.st");
        ck_assert_int_eq(hx_corrupt_apply(&c, in, out), 0);
        lg_backend *b;
        lg_store *s;
        lg_checkpoint *orig;
        ck_assert_int_eq(lg_backend_open("sim", &b), LG_OK);
        ck_assert_int_eq(lg_store_new(b, lg_device_cpu(), &s), LG_OK);
        ck_assert_int_eq(lg_checkpoint_open(in, NULL, &orig), LG_OK);
        for (size_t t = 0; t < lg_checkpoint_count(orig); t++) {
            const lg_tensor_info *ti = lg_checkpoint_tensor(orig, t);
            ck_assert_int_eq(lg_store_add(s, ti->name, ti->dtype, ti->ndim, ti->shape), LG_OK);
        }
        lg_checkpoint_close(orig);
        lg_status want, got = lg_store_load(s, out, NULL, NULL);
        ck_assert_int_eq(lg_status_parse(m->expect, &want), LG_OK);
        ck_assert_msg(got == want, "%s: %s, want %s: %s", m->name, lg_status_name(got),
                      m->expect, lg_error_message());
        if (m->message)
            ck_assert_msg(strstr(lg_error_message(), m->message), "%s: %s", m->name,
                          lg_error_message());
        lg_store_free(s);
        lg_backend_close(b);
    }
}
END_TEST

START_TEST(test_st_bad_input)
{
    const char *in = tu_path(dir, "junk.bin"), *out = tu_path(dir, "out.bin");
    ck_assert_int_eq(tu_write(in, "not a safetensors file", 22), 0);
    hx_corrupt c = {.kind = HX_CORRUPT_SAFETENSORS, .mutation = hx_st_mutation_find("offsets-gap")};
    hx_corrupt_label(&c);
    ck_assert_str_eq(c.label, "safetensors:offsets-gap");
    ck_assert_int_ne(hx_corrupt_apply(&c, in, out), LG_OK);
    ck_assert_ptr_nonnull(strstr(hx_errmsg(), "safetensors:offsets-gap: the input is not"));
    /* a mutation that needs two tensors on a file of one */
    ck_assert_int_eq(tu_write_safetensors(in, 1, 2, 2), 0);
    ck_assert_int_ne(hx_corrupt_apply(&c, in, out), LG_OK);
    ck_assert_ptr_nonnull(strstr(hx_errmsg(), "at least 2 tensors"));
    /* scalars: nothing to shrink for broadcastable-shape */
    c.mutation = hx_st_mutation_find("broadcastable-shape");
    ck_assert_int_ne(hx_corrupt_apply(&c, fixture(2), out), LG_OK);
    ck_assert_ptr_nonnull(strstr(hx_errmsg(), "first dimension is at least 2"));
    c.mutation = 999;
    ck_assert_int_ne(hx_corrupt_apply(&c, fixture(0), out), LG_OK);
    /* apply_buf cannot grow a buffer */
    unsigned char buf[8] = {0};
    size_t len = 8;
    c.mutation = 0;
    ck_assert_int_ne(hx_corrupt_apply_buf(&c, buf, &len), LG_OK);
    ck_assert_int_eq(hx_st_mutation_find("no-such-mutation"), -1);
}
END_TEST

/* A hostile input: the generators check every offset they parse against
 * the data section, as the reader does, and refuse the file with a
 * message instead of inserting, removing or copying bytes outside it.
 * tests/data/hostile/offsets-past-data.safetensors: two tensors whose
 * data_offsets ([0, 16] and [16, 32]) run past an empty data section. */
START_TEST(test_st_hostile_offsets)
{
    const char *in = LG_SOURCE_DIR "/tests/data/hostile/offsets-past-data.safetensors";
    const char *out = tu_path(dir, "out.st");
    const hx_st_mutation *m = hx_st_mutations();
    for (int i = 0; m[i].name; i++) {
        hx_corrupt c = {.kind = HX_CORRUPT_SAFETENSORS, .mutation = i};
        hx_corrupt_label(&c);
        hx_err(LG_OK, "%s", "");
        ck_assert_msg(hx_corrupt_apply(&c, in, out) != LG_OK, "%s applied",
                      m[i].name);
        ck_assert_msg(strstr(hx_errmsg(), "entry \"a\" has data_offsets [0, 16] past the data "
                                          "section of 0 bytes"),
                      "%s: %s", m[i].name, hx_errmsg());
    }
    /* tensors that overlap inside the data section: a mutation that would
     * move an offset below 0 is refused */
    static const char hdr[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                              "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    unsigned char f[8 + sizeof hdr - 1 + 7 + 16] = {0};
    size_t hl = sizeof hdr - 1, pad = (8 - hl % 8) % 8;
    f[0] = (unsigned char)(hl + pad);
    memcpy(f + 8, hdr, hl);
    memset(f + 8 + hl, ' ', pad);
    const char *ov = tu_path(dir, "overlap.st");
    ck_assert_int_eq(tu_write(ov, f, 8 + hl + pad + 16), 0);
    static const char *const moving[] = {"offsets-overlap", "broadcastable-shape"};
    for (size_t i = 0; i < 2; i++) {
        hx_corrupt c = {.kind = HX_CORRUPT_SAFETENSORS, .mutation = hx_st_mutation_find(moving[i])};
        hx_corrupt_label(&c);
        ck_assert_int_ne(hx_corrupt_apply(&c, ov, out), LG_OK);
        ck_assert_msg(strstr(hx_errmsg(), "overlap: an offset would be negative"), "%s: %s",
                      moving[i], hx_errmsg());
    }
    /* and the rest either apply or fail with a message, never crash */
    for (int i = 0; m[i].name; i++) {
        hx_corrupt c = {.kind = HX_CORRUPT_SAFETENSORS, .mutation = i};
        hx_corrupt_label(&c);
        hx_err(LG_OK, "%s", "");
        if (hx_corrupt_apply(&c, ov, out) != LG_OK)
            ck_assert_msg(hx_errmsg()[0], "%s fails without a message", m[i].name);
    }
}
END_TEST

/* ------------------------------------------------ torch.save zip mutations */

#define PT_MLP LG_SOURCE_DIR "/tests/data/pytorch-1.13/mlp_f32.pt"

/* Each mutation of the file PyTorch 1.13 wrote: the documented status and
 * message through lg_checkpoint_open, the same bytes on every run, and the
 * same result from hx_corrupt_apply_buf. */
START_TEST(test_tz_every_mutation)
{
    const hx_tz_mutation *m = hx_tz_mutations();
    const char *out = tu_path(dir, "out.pt"), *again = tu_path(dir, "again.pt");
    size_t orig_len;
    unsigned char *orig = tu_read(PT_MLP, &orig_len);
    ck_assert_ptr_nonnull(orig);
    int n = 0;
    for (int i = 0; m[i].name; i++, n++) {
        hx_corrupt c = {.kind = HX_CORRUPT_TORCH_ZIP, .mutation = i};
        char msg[2048], label[80];
        hx_corrupt_label(&c);
        snprintf(label, sizeof label, "torch_zip:%s", m[i].name);
        ck_assert_str_eq(c.label, label);
        ck_assert_int_eq(hx_tz_mutation_find(m[i].name), i);
        ck_assert_int_eq(m[i].in_all, m[i].reader == NULL);
        ck_assert_str_eq(m[i].expect, "LG_E_FORMAT");
        ck_assert_ptr_nonnull(m[i].message);
        ck_assert_msg(hx_corrupt_apply(&c, PT_MLP, out) == 0, "%s: %s",
                      m[i].name, hx_errmsg());
        ck_assert_int_eq(hx_corrupt_apply(&c, PT_MLP, again), 0);
        size_t n1, n2, n3 = orig_len;
        unsigned char *b1 = tu_read(out, &n1), *b2 = tu_read(again, &n2);
        unsigned char *b3 = malloc(orig_len);
        memcpy(b3, orig, orig_len);
        ck_assert_int_eq(hx_corrupt_apply_buf(&c, b3, &n3), 0);
        ck_assert_uint_eq(n1, n2);
        ck_assert_uint_eq(n1, n3);
        ck_assert_mem_eq(b1, b2, n1);
        ck_assert_mem_eq(b1, b3, n1);
        ck_assert_msg(n1 != orig_len || memcmp(b1, orig, n1), "%s changes nothing", m[i].name);
        free(b1);
        free(b2);
        free(b3);
        lg_open_options o = {.reader = m[i].reader};
        lg_checkpoint *ck = NULL;
        lg_status st = lg_checkpoint_open(out, &o, &ck);
        /* a tensor record's CRC-32 is checked as its bytes are read */
        for (size_t t = 0; st == LG_OK && t < lg_checkpoint_count(ck); t++) {
            const lg_tensor_info *ti = lg_checkpoint_tensor(ck, t);
            unsigned char *tb = malloc(ti->nbytes + 1);
            st = lg_checkpoint_read(ck, t, tb, (size_t)ti->nbytes);
            free(tb);
        }
        snprintf(msg, sizeof msg, "%s", st == LG_OK ? "" : lg_error_message());
        lg_checkpoint_close(ck);
        ck_assert_msg(st == LG_E_FORMAT, "%s: %s %s", m[i].name, lg_status_name(st), msg);
        ck_assert_msg(strstr(msg, out) == msg, "the message names the file: %s", msg);
        ck_assert_msg(strstr(msg, m[i].message), "%s: want \"%s\" in: %s", m[i].name,
                      m[i].message, msg);
    }
    ck_assert_int_eq(n, 15);
    free(orig);
}
END_TEST

START_TEST(test_tz_bad_input)
{
    const char *in = tu_path(dir, "junk.bin"), *out = tu_path(dir, "out.bin");
    ck_assert_int_eq(tu_write(in, "not a zip archive at all, just text", 35), 0);
    hx_corrupt c = {.kind = HX_CORRUPT_TORCH_ZIP, .mutation = hx_tz_mutation_find("crc-mismatch")};
    hx_corrupt_label(&c);
    ck_assert_str_eq(c.label, "torch_zip:crc-mismatch");
    ck_assert_int_ne(hx_corrupt_apply(&c, in, out), LG_OK);
    ck_assert_ptr_nonnull(
        strstr(hx_errmsg(), "torch_zip:crc-mismatch: the input is not a zip archive"));
    /* a safetensors file is no zip archive either */
    ck_assert_int_ne(hx_corrupt_apply(&c, fixture(3), out), LG_OK);
    c.mutation = 999;
    ck_assert_int_ne(hx_corrupt_apply(&c, PT_MLP, out), LG_OK);
    ck_assert_int_eq(hx_tz_mutation_find("no-such-mutation"), -1);
    ck_assert_int_eq(hx_tz_mutation_find("offsets-gap"), -1);
}
END_TEST

/* Hostile archives: every offset read from the zip records is checked
 * against the buffer with overflow-safe arithmetic.
 * tests/data/hostile/zip64-locator-wraps.pt: a zip64 locator whose
 * offset (2^64 - 16) wraps offset + 56 past the bounds check. */
START_TEST(test_tz_hostile)
{
    const char *in = LG_SOURCE_DIR "/tests/data/hostile/zip64-locator-wraps.pt";
    const char *out = tu_path(dir, "out.pt");
    const hx_tz_mutation *m = hx_tz_mutations();
    for (int i = 0; m[i].name; i++) {
        hx_corrupt c = {.kind = HX_CORRUPT_TORCH_ZIP, .mutation = i};
        hx_corrupt_label(&c);
        hx_err(LG_OK, "%s", "");
        ck_assert_int_ne(hx_corrupt_apply(&c, in, out), LG_OK);
        ck_assert_msg(strstr(hx_errmsg(), "that can be edited (zip64 locator)"), "%s: %s",
                      m[i].name, hx_errmsg());
    }
    /* the same in memory: a locator offset of every high value */
    size_t n;
    unsigned char *b = tu_read(in, &n);
    ck_assert_ptr_nonnull(b);
    hx_corrupt c = {.kind = HX_CORRUPT_TORCH_ZIP, .mutation = hx_tz_mutation_find("crc-mismatch")};
    hx_corrupt_label(&c);
    static const uint64_t offs[] = {UINT64_MAX, UINT64_MAX - 55, UINT64_MAX - 56,
                                    UINT64_C(1) << 63, 64 - 55, 65};
    size_t loc = n - 22 - 20;
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        for (int k = 0; k < 8; k++)
            b[loc + 8 + (size_t)k] = (unsigned char)(offs[i] >> (8 * k));
        size_t len = n;
        ck_assert_int_ne(hx_corrupt_apply_buf(&c, b, &len), LG_OK);
        ck_assert_msg(strstr(hx_errmsg(), "(zip64 locator)"), "offset %llu: %s",
                      (unsigned long long)offs[i], hx_errmsg());
    }
    free(b);
    /* PyTorch's archive with its zip64 end record's central directory
     * offset given 64 bits: the high half is not dropped */
    unsigned char *pt = tu_read(PT_MLP, &n);
    ck_assert_ptr_nonnull(pt);
    size_t eocd = n - 22;
    ck_assert_uint_eq(pt[eocd - 20], 0x50);
    uint64_t z64 = 0;
    for (int k = 7; k >= 0; k--)
        z64 = z64 << 8 | pt[eocd - 20 + 8 + (size_t)k];
    pt[z64 + 48 + 7] = 0x80;
    size_t len = n;
    ck_assert_int_ne(hx_corrupt_apply_buf(&c, pt, &len), LG_OK);
    ck_assert_msg(strstr(hx_errmsg(), "central directory offset"), "%s", hx_errmsg());
    pt[z64 + 48 + 7] = 0;
    /* a central directory entry whose local header offset is near 2^32 */
    size_t cd = (size_t)(pt[z64 + 48] | pt[z64 + 49] << 8 | pt[z64 + 50] << 16 |
                         (size_t)pt[z64 + 51] << 24);
    ck_assert_uint_eq(pt[cd], 0x50);
    memset(pt + cd + 42, 0xff, 4);
    ck_assert_int_ne(hx_corrupt_apply_buf(&c, pt, &len), LG_OK);
    ck_assert_msg(strstr(hx_errmsg(), "local header of entry 0"), "%s", hx_errmsg());
    free(pt);
}
END_TEST

/* ------------------------------------------------------ the source kept */

/* truncate:4 of in, into out: out's 4 bytes. */
static void first4(const char *in, const char *out, unsigned char got4[4])
{
    hx_corrupt t = {.kind = HX_CORRUPT_TRUNCATE, .a = 4};
    size_t n;
    hx_corrupt_label(&t);
    ck_assert_int_eq(hx_corrupt_apply(&t, in, out), LG_OK);
    unsigned char *got = tu_read(out, &n);
    ck_assert_uint_eq(n, 4);
    memcpy(got4, got, 4);
    free(got);
}

/* The bytes of the last source read are kept for the next corruption of
 * it; a source written again is read again: longer, or of the same size
 * with another modification time (utimensat, so that the file system's
 * timestamp tick plays no part). */
START_TEST(test_source_kept_until_changed)
{
    const char *in = tu_path(dir, "src.bin"), *out = tu_path(dir, "cut.bin");
    unsigned char got[4];
    hx_corrupt_forget();
    ck_assert_int_eq(tu_write(in, "AAAAAAAA", 8), 0);
    first4(in, out, got);
    ck_assert(!memcmp(got, "AAAA", 4));
    first4(in, out, got); /* from the bytes kept */
    ck_assert(!memcmp(got, "AAAA", 4));
    ck_assert_int_eq(tu_write(in, "BBBBBBBBB", 9), 0);
    first4(in, out, got);
    ck_assert(!memcmp(got, "BBBB", 4));
    struct stat sb;
    ck_assert_int_eq(stat(in, &sb), 0);
    ck_assert_int_eq(tu_write(in, "CCCCCCCCC", 9), 0);
    struct timespec later[2] = {sb.st_atim, sb.st_mtim};
    later[1].tv_sec += 1;
    ck_assert_int_eq(utimensat(AT_FDCWD, in, later, 0), 0);
    first4(in, out, got);
    ck_assert(!memcmp(got, "CCCC", 4));
    hx_corrupt_forget();
    first4(in, out, got);
    ck_assert(!memcmp(got, "CCCC", 4));
}
END_TEST

/* -------------------------------------------------------------- splice */

START_TEST(test_splice_apply)
{
    unsigned char a[16], b[8];
    for (int i = 0; i < 16; i++)
        a[i] = (unsigned char)i;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(0xA0 + i);
    char src[1024];
    snprintf(src, sizeof src, "%s", tu_path(dir, "b.bin"));
    const char *in = tu_path(dir, "a.bin"), *out = tu_path(dir, "o.bin");
    ck_assert_int_eq(tu_write(in, a, sizeof a), 0);
    ck_assert_int_eq(tu_write(src, b, sizeof b), 0);
    size_t n;
    unsigned char *got;

    hx_corrupt o = {.kind = HX_CORRUPT_SPLICE, .from = src, .a = 2, .b = 5, .at = 4};
    snprintf(o.from_name, sizeof o.from_name, "b");
    hx_corrupt_label(&o);
    ck_assert_str_eq(o.label, "splice:b:2:5@4");
    ck_assert_int_eq(hx_corrupt_apply(&o, in, out), 0);
    got = tu_read(out, &n);
    ck_assert_uint_eq(n, 16);
    ck_assert_uint_eq(got[3], 3);
    ck_assert_uint_eq(got[4], 0xA2);
    ck_assert_uint_eq(got[6], 0xA4);
    ck_assert_uint_eq(got[7], 7);
    free(got);

    /* overwriting past the end grows the file */
    hx_corrupt g = {.kind = HX_CORRUPT_SPLICE, .from = src, .a = 0, .b = -1, .at = -2};
    ck_assert_int_eq(hx_corrupt_apply(&g, in, out), 0);
    got = tu_read(out, &n);
    ck_assert_uint_eq(n, 14 + 7);
    ck_assert_uint_eq(got[13], 13);
    ck_assert_uint_eq(got[14], 0xA0);
    ck_assert_uint_eq(got[20], 0xA6);
    free(got);

    /* insert */
    hx_corrupt ins = {.kind = HX_CORRUPT_SPLICE, .from = src, .a = 0, .b_half = 1, .at_half = 1,
                      .insert = 1};
    snprintf(ins.from_name, sizeof ins.from_name, "b");
    hx_corrupt_label(&ins);
    ck_assert_str_eq(ins.label, "splice:b:0:half@half:insert");
    ck_assert_int_eq(hx_corrupt_apply(&ins, in, out), 0);
    got = tu_read(out, &n);
    ck_assert_uint_eq(n, 20);
    ck_assert_uint_eq(got[7], 7);
    ck_assert_uint_eq(got[8], 0xA0);
    ck_assert_uint_eq(got[11], 0xA3);
    ck_assert_uint_eq(got[12], 8);
    ck_assert_uint_eq(got[19], 15);
    free(got);

    /* out of range, a missing source: errors, not clamped */
    hx_corrupt bad = {.kind = HX_CORRUPT_SPLICE, .from = src, .a = 0, .b = 9};
    ck_assert_int_ne(hx_corrupt_apply(&bad, in, out), LG_OK);
    ck_assert_ptr_nonnull(strstr(hx_errmsg(), "range outside the source"));
    hx_corrupt rev = {.kind = HX_CORRUPT_SPLICE, .from = src, .a = 4, .b = 2};
    ck_assert_int_ne(hx_corrupt_apply(&rev, in, out), LG_OK);
    hx_corrupt far = {.kind = HX_CORRUPT_SPLICE, .from = src, .a = 0, .b = 1, .at = 17};
    ck_assert_int_ne(hx_corrupt_apply(&far, in, out), LG_OK);
    ck_assert_ptr_nonnull(strstr(hx_errmsg(), "outside the file"));
    hx_corrupt gone = {.kind = HX_CORRUPT_SPLICE, .from = (char *)tu_path(dir, "none"), .b = 1};
    ck_assert_int_ne(hx_corrupt_apply(&gone, in, out), LG_OK);
    hx_corrupt nofrom = {.kind = HX_CORRUPT_SPLICE, .b = 1};
    ck_assert_int_ne(hx_corrupt_apply(&nofrom, in, out), LG_OK);
}
END_TEST

/* ----------------------------------------------------- the case language */

static int load(const char *yaml, hx_suite *s)
{
    const char *p = tu_path(dir, "suite.yaml");
    ck_assert_int_eq(tu_write(p, yaml, strlen(yaml)), 0);
    memset(errs, 0, sizeof errs);
    FILE *e = fmemopen(errs, sizeof errs - 1, "w");
    ck_assert_ptr_nonnull(e);
    hx_case_errors el;
    int rc = hx_suite_load(p, fixtures, s, &el) == LG_OK ? 0 : -1;
    for (size_t i = 0; i < el.n; i++)
        fprintf(e, "%s\n", el.line[i]);
    hx_case_errors_free(&el);
    fclose(e);
    return rc;
}

static const hx_case *find(const hx_suite *s, const char *id)
{
    for (size_t i = 0; i < s->ncases; i++)
        if (!strcmp(s->cases[i].id, id))
            return &s->cases[i];
    ck_abort_msg("no case %s", id);
    return NULL;
}

#define FIX                                                                                   \
    "fixtures:\n"                                                                             \
    "  small: {generate: {tensors: 2, shape: [2, 2], seed: 1}}\n"                             \
    "  other: {generate: {tensors: 3, shape: [4], seed: 2}}\n"

START_TEST(test_case_language)
{
    hx_suite s;
    int rc = load("suite: s\n" FIX "cases:\n"
                  "  - name: all\n    file: small\n    corrupt: {safetensors: all}\n"
                  "  - name: one\n    file: small\n    corrupt: {safetensors: offsets-gap}\n"
                  "  - name: two\n    file: small\n"
                  "    corrupt: {safetensors: [reserialize, duplicate-name]}\n"
                  "  - name: sp\n    file: small\n"
                  "    corrupt: {splice: {from: other, range: [8, 16], at: half}}\n"
                  "  - name: sps\n    file: small\n    corrupt:\n      splice:\n"
                  "        - {from: other, range: [0, -1], insert: true}\n"
                  "        - {from: {path: data/x.bin}, range: [0, 1], at: -1}\n"
                  "        - {from: {generate: {tensors: 1}}, range: [0, 8]}\n"
                  "        - {from: {generate: {tensors: 2}}, range: [0, 8]}\n"
                  "  - name: tz\n    file: small\n    corrupt: {torch_zip: all}\n"
                  "  - name: tz1\n    file: small\n    corrupt: {torch_zip: crc-mismatch}\n"
                  "  - name: tz2\n    file: small\n"
                  "    corrupt: {torch_zip: [missing-data-pkl, pickle-huge-size]}\n",
                  &s);
    ck_assert_msg(rc == 0, "%s", errs);
    ck_assert_uint_eq(s.ncases, 33 + 1 + 2 + 1 + 4 + 14 + 1 + 2);
    /* torch_zip: all is every mutation but missing-data-pkl (its status needs
     * the torch-zip reader named) */
    const hx_case *c = find(&s, "s/tz[corrupt=torch_zip:eocd-missing]");
    ck_assert_int_eq(c->corrupt.kind, HX_CORRUPT_TORCH_ZIP);
    ck_assert_int_eq(c->corrupt.mutation, hx_tz_mutation_find("eocd-missing"));
    find(&s, "s/tz[corrupt=torch_zip:pickle-huge-size]");
    for (size_t i = 0; i < s.ncases; i++)
        ck_assert_str_ne(s.cases[i].id, "s/tz[corrupt=torch_zip:missing-data-pkl]");
    c = find(&s, "s/tz1");
    ck_assert_int_eq(c->corrupt.kind, HX_CORRUPT_TORCH_ZIP);
    ck_assert_str_eq(c->corrupt.label, "torch_zip:crc-mismatch");
    find(&s, "s/tz2[corrupt=torch_zip:missing-data-pkl]");
    find(&s, "s/tz2[corrupt=torch_zip:pickle-huge-size]");
    c = find(&s, "s/all[corrupt=safetensors:header-len-0]");
    ck_assert_int_eq(c->corrupt.kind, HX_CORRUPT_SAFETENSORS);
    find(&s, "s/all[corrupt=safetensors:missing-bytes]");
    c = find(&s, "s/one");
    ck_assert_int_eq(c->corrupt.mutation, hx_st_mutation_find("offsets-gap"));
    find(&s, "s/two[corrupt=safetensors:duplicate-name]");
    c = find(&s, "s/sp");
    ck_assert_int_eq(c->corrupt.kind, HX_CORRUPT_SPLICE);
    ck_assert_str_eq(c->corrupt.label, "splice:other:8:16@half");
    ck_assert_ptr_nonnull(c->corrupt.from);
    ck_assert_ptr_nonnull(strstr(c->corrupt.from, fixtures));
    size_t n;
    void *src = tu_read(c->corrupt.from, &n); /* generated while reading the file */
    ck_assert_ptr_nonnull(src);
    free(src);
    c = find(&s, "s/sps[corrupt=splice:other:0:-1@0:insert]");
    ck_assert_int_eq(c->corrupt.insert, 1);
    c = find(&s, "s/sps[corrupt=splice:x.bin:0:1@-1]");
    ck_assert_ptr_nonnull(strstr(c->corrupt.from, "/data/x.bin"));
    /* two inline sources: each named by a digest of its spec, so their
     * ids differ (both were "inline" before, one id twice) */
    const char *inl[2] = {NULL, NULL};
    for (size_t i = 0; i < s.ncases; i++)
        if (!strncmp(s.cases[i].id, "s/sps[corrupt=splice:inline-", 28)) {
            ck_assert_ptr_null(inl[1]);
            inl[inl[0] != NULL] = s.cases[i].id;
            ck_assert_uint_eq(strlen(s.cases[i].id), 28 + 8 + strlen(":0:8@0]"));
        }
    ck_assert(inl[0] && inl[1] && strcmp(inl[0], inl[1]));
    /* the source path is the case's own: copies own a copy */
    hx_case copy;
    ck_assert_int_eq(hx_case_copy(&copy, c), 0);
    ck_assert_ptr_ne(copy.corrupt.from, c->corrupt.from);
    ck_assert_str_eq(copy.corrupt.from, c->corrupt.from);
    hx_case_free(&copy);
    hx_suite_free(&s);
}
END_TEST

/* Two splice sources whose names share their first 31 bytes: each is cut
 * and given a digest of the whole name, so their ids differ (both were cut
 * to one name before, and the file refused as giving one id twice); and a
 * label is never cut (room for three 20-digit offsets and :insert). */
START_TEST(test_splice_labels_whole)
{
    hx_suite s;
    int rc = load("suite: s\nfixtures:\n"
                  "  small: {generate: {tensors: 2, shape: [2, 2], seed: 1}}\n"
                  "  reference_checkpoint_from_release_a: {generate: {tensors: 1, seed: 3}}\n"
                  "  reference_checkpoint_from_release_b: {generate: {tensors: 1, seed: 4}}\n"
                  "cases:\n  - name: sp\n    file: small\n    corrupt:\n      splice:\n"
                  "        - {from: reference_checkpoint_from_release_a, range: [0, 8]}\n"
                  "        - {from: reference_checkpoint_from_release_b, range: [0, 8]}\n"
                  "        - {from: small, range: [-100000, -90000], at: -1234567890}\n"
                  "        - {from: small, range: [-100000, -90000], at: -1234567890, "
                  "insert: true}\n",
                  &s);
    ck_assert_msg(rc == 0, "%s", errs);
    ck_assert_uint_eq(s.ncases, 4);
    ck_assert_ptr_nonnull(strstr(s.cases[0].id, "splice:reference_checkpoint_f~"));
    ck_assert_str_ne(s.cases[0].id, s.cases[1].id);
    ck_assert_str_eq(s.cases[3].corrupt.label, "splice:small:-100000:-90000@-1234567890:insert");
    hx_suite_free(&s);
}
END_TEST

START_TEST(test_case_language_errors)
{
    static const struct {
        const char *yaml, *want;
    } bad[] = {
        {"    corrupt: {safetensors: no-such}\n", "8:28: safetensors: unknown mutation 'no-such'"},
        {"    corrupt: {safetensors: {a: b}}\n", "8:28: safetensors: expected a mutation's name"},
        {"    corrupt: {torch_zip: no-such}\n", "8:26: torch_zip: unknown mutation 'no-such'"},
        {"    corrupt: {torch_zip: offsets-gap}\n", "8:26: torch_zip: unknown mutation"},
        {"    corrupt: {torch_zip: {a: b}}\n", "8:26: torch_zip: expected a mutation's name"},
        {"    corrupt: {torch_zip: all, safetensors: all}\n",
         "8:14: corrupt: give exactly one of truncate, flip, zero, splice, safetensors, "
         "torch_zip"},
        {"    corrupt: {splice: {from: small}}\n", "8:23: splice: needs from and range"},
        {"    corrupt: {splice: {from: nope, range: [0, 1]}}\n",
         "8:30: splice.from: no fixture named 'nope'"},
        {"    corrupt: {splice: {from: small, range: [0]}}\n", "8:44: splice.range: expected [begin, end]"},
        {"    corrupt: {splice: {from: small, range: [0, x]}}\n", "8:48: splice.range: expected an"},
        {"    corrupt: {splice: {from: small, range: [0, 1], insert: maybe}}\n",
         "8:60: splice.insert"},
        {"    corrupt: {splice: {from: small, range: [0, 1], size: 3}}\n",
         "8:52: unknown key 'size' in splice"},
        {"    corrupt: {splice: {from: small, range: [0, 1]}, truncate: 1}\n",
         "8:14: corrupt: give exactly one of truncate, flip, zero, splice, safetensors"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[1024], needle[256];
        hx_suite s;
        snprintf(yaml, sizeof yaml, "suite: s\n" FIX "cases:\n  - name: c\n    file: small\n%s",
                 bad[i].yaml);
        ck_assert_msg(load(yaml, &s) == -1, "accepted: %s", bad[i].yaml);
        snprintf(needle, sizeof needle, "suite.yaml:%s", bad[i].want);
        ck_assert_msg(strstr(errs, needle), "want \"%s\" in:\n%s", needle, errs);
    }
}
END_TEST

static Suite *corrupt_suite(void)
{
    Suite *s = suite_create("corrupt");
    TCase *tc = tcase_create("corrupt");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_st_every_mutation, 0, 4);
    tcase_add_test(tc, test_st_store_outcomes);
    tcase_add_test(tc, test_st_bad_input);
    tcase_add_test(tc, test_st_hostile_offsets);
    tcase_add_test(tc, test_tz_every_mutation);
    tcase_add_test(tc, test_tz_bad_input);
    tcase_add_test(tc, test_tz_hostile);
    tcase_add_test(tc, test_source_kept_until_changed);
    tcase_add_test(tc, test_splice_apply);
    tcase_add_test(tc, test_case_language);
    tcase_add_test(tc, test_splice_labels_whole);
    tcase_add_test(tc, test_case_language_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = tu_run_suite(corrupt_suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
