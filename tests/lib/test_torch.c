/* The torch backend and the libtorch readers: archives written through the
 * shim and read back on cpu (names, dtypes, shapes, bytes, every policy),
 * mps refused with libtorch's own words, the TorchScript fixture against
 * its manifest, sniffing, faults and leaks. In a build without libtorch:
 * the torch backend and the writers must say so. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "formats/format.h"
#include "loadgate/loadgate.h"
#include "testutil.h"

#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *g_dir;

/* ---------------------------------------------------- crafted zip heads */

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
    put16(p, v & 0xffff);
    put16(p + 2, v >> 16);
}

/* Appends a stored zip entry as PyTorch writes it: sizes in a data
 * descriptor after the data (flag bit 3). Returns the new length. */
static size_t zip_entry(unsigned char *buf, size_t off, const char *name, const void *data,
                        size_t n)
{
    size_t nl = strlen(name);
    memset(buf + off, 0, 30);
    put32(buf + off, 0x04034b50);
    put16(buf + off + 6, 0x0808);
    put16(buf + off + 26, (unsigned)nl);
    memcpy(buf + off + 30, name, nl);
    off += 30 + nl;
    memcpy(buf + off, data, n);
    off += n;
    put32(buf + off, 0x08074b50);
    put32(buf + off + 4, 0);
    put32(buf + off + 8, (uint32_t)n);
    put32(buf + off + 12, (uint32_t)n);
    return off + 16;
}

/* A zip head with the given entry names, each holding 8 bytes. */
static size_t zip_head(unsigned char *buf, const char *const *names)
{
    static const unsigned char payload[8] = {'P', 'K', 7, 8, 1, 2, 3, 4};
    size_t off = 0;
    for (size_t i = 0; names[i]; i++)
        off = zip_entry(buf, off, names[i], payload, sizeof payload);
    return off;
}

static int sniff_as(const lg__reader_ops *r, const char *const *names)
{
    unsigned char buf[4096];
    size_t n = zip_head(buf, names);
    return r->sniff(buf, n, n);
}

START_TEST(sniff_zip_kinds)
{
    const char *ot[] = {"a/data/0", "a/data/1", "a/data.pkl", "a/code/__torch__.py", NULL};
    const char *save[] = {"mixed/data.pkl", "mixed/data/0", "mixed/data/1", NULL};
    const char *save2[] = {"archive/data.pkl", "archive/byteorder", NULL};
    const char *neutral_first[] = {"m/byteorder", "m/version", "m/data/0", "m/data.pkl", NULL};
    const char *empty_module[] = {"m/data.pkl", "m/code/__torch__.py", "m/constants.pkl", NULL};
    const char *lone_pkl[] = {"m/data.pkl", NULL};
    const char *two_prefixes[] = {"a/data/0", "b/code/x.py", NULL};
    const char *no_prefix[] = {"data.pkl", NULL};
    ck_assert(sniff_as(&lg__torch_archive_reader, ot));
    ck_assert(!sniff_as(&lg__torch_zip_reader, ot));
    ck_assert(!sniff_as(&lg__torch_archive_reader, save));
    ck_assert(sniff_as(&lg__torch_zip_reader, save));
    ck_assert(!sniff_as(&lg__torch_archive_reader, save2));
    ck_assert(sniff_as(&lg__torch_zip_reader, save2));
    ck_assert(sniff_as(&lg__torch_archive_reader, neutral_first));
    ck_assert(sniff_as(&lg__torch_archive_reader, empty_module));
    ck_assert(!sniff_as(&lg__torch_zip_reader, empty_module));
    ck_assert(!sniff_as(&lg__torch_archive_reader, lone_pkl));
    ck_assert(sniff_as(&lg__torch_zip_reader, lone_pkl));
    ck_assert(!sniff_as(&lg__torch_archive_reader, two_prefixes));
    ck_assert(!sniff_as(&lg__torch_archive_reader, no_prefix));
    ck_assert(!sniff_as(&lg__torch_zip_reader, no_prefix));
    /* the TorchScript reader is chosen by name, or by torch-archive's open */
    ck_assert(!sniff_as(&lg__torchscript_reader, ot));
}
END_TEST

START_TEST(sniff_truncated_heads)
{
    const char *ot[] = {"a/data/0", "a/data.pkl", "a/code/__torch__.py", NULL};
    unsigned char buf[4096];
    size_t n = zip_head(buf, ot);
    /* every prefix of the head: never read past it, and never a torch.save */
    for (size_t k = 0; k <= n; k++) {
        (void)lg__torch_archive_reader.sniff(buf, k, k);
        ck_assert(!lg__torch_zip_reader.sniff(buf, k, k) || k < 30);
    }
    /* a descriptor whose sizes do not match the distance is not trusted */
    put32(buf + 30 + 8 + 8 + 8, 999);
    ck_assert(lg__torch_archive_reader.sniff(buf, n, n)); /* still data/ first */
    ck_assert(!lg__torch_archive_reader.sniff((const unsigned char *)"PK\x03\x04", 4, 4));
    ck_assert(!lg__torch_archive_reader.sniff((const unsigned char *)"{}", 2, 2));
}
END_TEST

START_TEST(sniff_legacy)
{
    static const unsigned char magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                          0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e, 0x80};
    ck_assert(lg__torch_legacy_reader.sniff(magic, sizeof magic, sizeof magic));
    ck_assert(!lg__torch_legacy_reader.sniff(magic, 13, 13));
    unsigned char other[sizeof magic];
    memcpy(other, magic, sizeof magic);
    other[13] ^= 1;
    ck_assert(!lg__torch_legacy_reader.sniff(other, sizeof other, sizeof other));
}
END_TEST

static void open_refused(const char *name, const void *bytes, size_t n, const char *want)
{
    const char *path = tu_path(g_dir, name);
    lg_checkpoint *c = NULL;
    ck_assert_int_eq(tu_write(path, bytes, n), 0);
    ck_assert_int_eq(lg_checkpoint_open(path, NULL, &c), LG_E_FORMAT);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(lg_error_message(), want), "message: %s", lg_error_message());
    ck_assert_msg(strstr(lg_error_message(), path), "message: %s", lg_error_message());
}

/* torch.save files go to the native readers (tests/test_torch_zip.c);
 * these heads are cut short. */
START_TEST(torch_save_heads_cut_short)
{
    const char *save[] = {"mixed/data.pkl", "mixed/data/0", NULL};
    unsigned char buf[4096];
    size_t n = zip_head(buf, save);
    open_refused("save.pt", buf, n, "zip: no end of central directory record");
    static const unsigned char legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                           0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
    open_refused("legacy.pt", legacy, sizeof legacy,
                 "protocol version pickle: byte 15: nothing to read");
}
END_TEST



#ifdef LOADGATE_HAVE_TORCH

static const lg_device cpu = {LG_DEV_CPU, 0};
static const lg_device mps = {LG_DEV_MPS, 0};

/* ------------------------------------------------------ sample archive */

#define NSAMPLE 10

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
        s->data[i][k] = d == LG_BOOL ? (unsigned char)(k % 3 == 0) : (unsigned char)(k * 37 + i);
    if (d == LG_F32 || d == LG_F64 || d == LG_F16 || d == LG_BF16) /* no NaN patterns */
        for (uint64_t k = 0; k < nb; k++)
            s->data[i][k] &= 0x3f;
    s->t[i] = (lg_named_data){name, d, ndim, s->shapes[i], s->data[i]};
}

/* f32, f64, i64, u8, bool, bf16, f16, i32, a 0-dim and an empty tensor;
 * one dotted name (written as tch does, with '|'). */
static void sample_make(sample *s)
{
    memset(s, 0, sizeof *s);
    sample_add(s, 0, "fc.weight", LG_F32, 2, (int64_t[]){2, 3});
    sample_add(s, 1, "f64", LG_F64, 1, (int64_t[]){4});
    sample_add(s, 2, "i64", LG_I64, 2, (int64_t[]){3, 1});
    sample_add(s, 3, "u8", LG_U8, 1, (int64_t[]){5});
    sample_add(s, 4, "flags", LG_BOOL, 1, (int64_t[]){4});
    sample_add(s, 5, "bf16", LG_BF16, 2, (int64_t[]){2, 2});
    sample_add(s, 6, "f16", LG_F16, 1, (int64_t[]){3});
    sample_add(s, 7, "i32", LG_I32, 3, (int64_t[]){2, 1, 2});
    sample_add(s, 8, "scalar", LG_F32, 0, (int64_t[]){0});
    sample_add(s, 9, "empty", LG_F32, 2, (int64_t[]){0, 3});
}

static const char *sample_write(const char *name, sample *s)
{
    const char *path = tu_path(g_dir, name);
    sample_make(s);
    lg_status st = lg_torch_write_archive(path, s->t, NSAMPLE);
    ck_assert_msg(st == LG_OK, "%s", lg_error_message());
    return path;
}

static lg_backend *torch_open(void)
{
    lg_backend *b = NULL;
    ck_assert_msg(lg_backend_open("torch", &b) == LG_OK, "%s", lg_error_message());
    return b;
}

static lg_checkpoint *open_opts(const char *path, lg_backend *b, const char *reader, int trust)
{
    lg_open_options o = {.reader = reader, .backend = b, .trust_code = trust};
    lg_checkpoint *c = NULL;
    lg_status st = lg_checkpoint_open(path, &o, &c);
    ck_assert_msg(st == LG_OK, "%s: %s", lg_status_name(st), lg_error_message());
    return c;
}

static lg_checkpoint *open_with(const char *path, lg_backend *b, const char *reader)
{
    return open_opts(path, b, reader, 0);
}

static void assert_mps_refusal(const char *msg)
{
    ck_assert_msg(tu_is_mps_refusal(msg), "libtorch %s: unexpected message: %s",
                  lg_libtorch_version(), msg);
}

/* -------------------------------------------------------------- basics */

START_TEST(version_and_backends)
{
    const char *v = lg_libtorch_version();
    ck_assert_str_ne(v, "none");
    ck_assert_msg(v[0] >= '1' && v[0] <= '9' && strchr(v, '.'), "version %s", v);
    ck_assert_str_eq(lg_backends_built(), "sim,torch");
    lg_backend *b = torch_open();
    ck_assert_str_eq(lg_backend_name(b), "torch");
    ck_assert(lg_backend_has_device(b, cpu));
    ck_assert(!lg_backend_has_device(b, (lg_device){LG_DEV_CPU, 1}));
    ck_assert(lg_backend_direct_ok(b, cpu));
    ck_assert(lg_backend_direct_ok(b, cpu)); /* cached */
    if (!lg_backend_has_device(b, mps))
        ck_assert(!lg_backend_direct_ok(b, mps));
    lg_device cuda = {LG_DEV_CUDA, 0};
    if (!lg_backend_has_device(b, cuda))
        ck_assert(!lg_backend_direct_ok(b, cuda));
    ck_assert(!lg_backend_has_device(b, (lg_device){LG_DEV_CUDA, 99}));
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

START_TEST(round_trip_cpu)
{
    sample s;
    const char *path = sample_write("round.ot", &s);
    lg_backend *b = torch_open();
    lg_checkpoint *c = open_with(path, b, NULL);
    ck_assert_str_eq(lg_checkpoint_format(c), "torch-archive");
    ck_assert_uint_eq(lg_checkpoint_count(c), NSAMPLE);
    for (size_t i = 0; i < NSAMPLE; i++) {
        size_t k = lg_checkpoint_find(c, s.t[i].name);
        ck_assert_msg(k != (size_t)-1, "%s missing", s.t[i].name);
        const lg_tensor_info *t = lg_checkpoint_tensor(c, k);
        uint64_t nb = 0;
        lg__nbytes(s.t[i].dtype, s.t[i].ndim, s.t[i].shape, &nb);
        ck_assert_int_eq(t->dtype, s.t[i].dtype);
        ck_assert_int_eq(t->ndim, s.t[i].ndim);
        for (int d = 0; d < t->ndim; d++)
            ck_assert_int_eq(t->shape[d], s.t[i].shape[d]);
        ck_assert_uint_eq(t->nbytes, nb);
        unsigned char got[256];
        ck_assert_int_eq(lg_checkpoint_read(c, k, got, (size_t)nb), LG_OK);
        ck_assert_msg(!memcmp(got, s.t[i].data, (size_t)nb), "%s: bytes differ", t->name);
    }
    ck_assert_uint_eq(lg_checkpoint_tensor(c, lg_checkpoint_find(c, "scalar"))->nbytes, 4);
    ck_assert_uint_eq(lg_checkpoint_tensor(c, lg_checkpoint_find(c, "empty"))->nbytes, 0);
    lg_checkpoint_close(c);
    /* the same file through the TorchScript reader */
    c = open_with(path, b, "torchscript");
    ck_assert_str_eq(lg_checkpoint_format(c), "torchscript");
    ck_assert_uint_eq(lg_checkpoint_count(c), NSAMPLE);
    ck_assert(lg_checkpoint_find(c, "fc.weight") != (size_t)-1);
    lg_checkpoint_close(c);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

START_TEST(needs_torch_backend)
{
    sample s;
    const char *path = sample_write("needs.ot", &s);
    lg_checkpoint *c = NULL;
    /* without the torch backend an .ot is read natively (torchscript-data),
     * every tensor exactly, '|' read back as '.' */
    ck_assert_msg(lg_checkpoint_open(path, NULL, &c) == LG_OK, "%s", lg_error_message());
    ck_assert_str_eq(lg_checkpoint_format(c), "torchscript-data");
    ck_assert_uint_eq(lg_checkpoint_count(c), NSAMPLE);
    for (size_t i = 0; i < NSAMPLE; i++) {
        size_t k = lg_checkpoint_find(c, s.t[i].name);
        ck_assert_msg(k != (size_t)-1, "%s missing", s.t[i].name);
        const lg_tensor_info *t = lg_checkpoint_tensor(c, k);
        uint64_t nb = 0;
        lg__nbytes(s.t[i].dtype, s.t[i].ndim, s.t[i].shape, &nb);
        ck_assert_int_eq(t->dtype, s.t[i].dtype);
        ck_assert_int_eq(t->ndim, s.t[i].ndim);
        ck_assert_uint_eq(t->nbytes, nb);
        unsigned char got[256];
        ck_assert_int_eq(lg_checkpoint_read(c, k, got, (size_t)nb), LG_OK);
        ck_assert_msg(!memcmp(got, s.t[i].data, (size_t)nb), "%s: bytes differ", t->name);
    }
    lg_checkpoint_close(c);
    c = NULL;
    /* the libtorch readers, forced by name, still need the torch backend */
    lg_backend *sim = NULL;
    ck_assert_int_eq(lg_backend_open("sim", &sim), LG_OK);
    lg_open_options o = {.reader = "torchscript", .backend = sim};
    ck_assert_int_eq(lg_checkpoint_open(path, &o, &c), LG_E_FORMAT);
    ck_assert_msg(strstr(lg_error_message(), "TorchScript module: needs the torch backend"), "%s",
                  lg_error_message());
    ck_assert_ptr_null(c);
    lg_backend_close(sim);
}
END_TEST

START_TEST(corrupt_archive)
{
    sample s;
    const char *path = sample_write("whole.ot", &s);
    size_t n = 0;
    unsigned char *bytes = tu_read(path, &n);
    ck_assert_ptr_nonnull(bytes);
    const char *cut = tu_path(g_dir, "cut.ot");
    ck_assert_int_eq(tu_write(cut, bytes, n / 2), 0);
    free(bytes);
    lg_backend *b = torch_open();
    lg_open_options o = {.reader = NULL, .backend = b};
    lg_checkpoint *c = NULL;
    int fds = tu_open_fds();
    ck_assert_int_eq(lg_checkpoint_open(cut, &o, &c), LG_E_FORMAT);
    ck_assert_msg(strstr(lg_error_message(), "cut.ot: libtorch archive: "), "%s",
                  lg_error_message());
    ck_assert_int_eq(tu_open_fds(), fds);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

/* --------------------------------------------------- tensor operations */

START_TEST(tensor_ops)
{
    lg_backend *b = torch_open();
    const lg__backend_ops *ops = b->ops;
    void *a = NULL, *one = NULL, *d64 = NULL;
    int64_t s4[] = {4}, s1[] = {1};
    float src[4] = {1, 2, 3, 4}, got[4] = {0};
    ck_assert_int_eq(ops->alloc(b, cpu, LG_F32, 1, s4, &a), LG_OK);
    ck_assert_int_eq(ops->alloc(b, cpu, LG_F32, 1, s1, &one), LG_OK);
    ck_assert_int_eq(ops->alloc(b, cpu, LG_F64, 1, s4, &d64), LG_OK);
    ck_assert_uint_eq(ops->live(b), 3);
    ck_assert_uint_eq(ops->device_bytes(b, cpu), 16 + 4 + 32);
    ck_assert_int_eq(ops->write(b, a, src, sizeof src), LG_OK);
    ck_assert_int_eq(ops->write(b, a, src, 3), LG_E_INVALID);
    ck_assert_int_eq(ops->read(b, a, got, sizeof got), LG_OK);
    ck_assert(!memcmp(got, src, sizeof src));
    /* never broadcast, never convert */
    ck_assert_int_eq(ops->copy(b, a, one), LG_E_SHAPE);
    ck_assert_msg(strstr(lg_error_message(), "never broadcast"), "%s", lg_error_message());
    ck_assert_int_eq(ops->copy(b, d64, a), LG_E_DTYPE);
    void *a2 = NULL;
    ck_assert_int_eq(ops->alloc(b, cpu, LG_F32, 1, s4, &a2), LG_OK);
    ck_assert_int_eq(ops->copy(b, a2, a), LG_OK);
    memset(got, 0, sizeof got);
    ck_assert_int_eq(ops->read(b, a2, got, sizeof got), LG_OK);
    ck_assert(!memcmp(got, src, sizeof src));
    lg_device where = mps;
    ck_assert_int_eq(ops->device_of(b, a2, &where), LG_OK);
    ck_assert(lg_device_equal(where, cpu));
    ops->free(b, a);
    ops->free(b, one);
    ops->free(b, d64);
    ops->free(b, a2);
    ck_assert_uint_eq(ops->live(b), 0);
    ck_assert_uint_eq(ops->device_bytes(b, cpu), 0);
    lg_backend_close(b);
}
END_TEST

START_TEST(tensor_outlives_backend)
{
    lg_backend *b = torch_open();
    void *t = NULL;
    int64_t s2[] = {2};
    ck_assert_int_eq(b->ops->alloc(b, cpu, LG_I64, 1, s2, &t), LG_OK);
    const lg__backend_ops *ops = b->ops;
    lg_backend_close(b);
    ops->free(NULL, t); /* the pool goes with its last tensor */
}
END_TEST

START_TEST(mps_absent)
{
    lg_backend *b = torch_open();
    if (lg_backend_has_device(b, mps)) {
        lg_backend_close(b);
        return; /* a machine with MPS: nothing to refuse */
    }
    void *t = NULL;
    int64_t s2[] = {2};
    ck_assert_int_eq(b->ops->alloc(b, mps, LG_F32, 1, s2, &t), LG_E_DEVICE);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(lg_error_message(), "mps"), "%s", lg_error_message());
    ck_assert_int_eq(b->ops->check_deserialize(b, mps), LG_E_DEVICE);
    ck_assert_int_eq(b->ops->check_deserialize(b, cpu), LG_OK);
    ck_assert_int_eq(b->ops->check_dtype(b, mps, LG_F64), LG_E_DTYPE);
    ck_assert_str_eq(lg_error_message(),
                     "Cannot convert a MPS Tensor to float64 dtype as the MPS framework doesn't "
                     "support float64. Please use float32 instead.");
    ck_assert_int_eq(b->ops->check_dtype(b, mps, LG_F32), LG_OK);
    ck_assert_int_eq(b->ops->check_dtype(b, cpu, LG_F64), LG_OK);
    /* no store can even be created there: via-cpu and staged stop here */
    lg_store *s = NULL;
    ck_assert_int_eq(lg_store_new(b, mps, &s), LG_E_DEVICE);
    ck_assert_ptr_null(s);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

/* ------------------------------------------------ deserialize onto mps */

START_TEST(mps_direct_refused)
{
    sample s;
    const char *path = sample_write("mps.ot", &s);
    lg_backend *b = torch_open();
    if (lg_backend_has_device(b, mps)) {
        lg_backend_close(b);
        return;
    }
    const char *readers[] = {"torch-archive", "torchscript"};
    for (int r = 0; r < 2; r++) {
        lg_checkpoint *c = open_with(path, b, readers[r]);
        lg_trace *tr = NULL;
        ck_assert_int_eq(lg_trace_new(&tr), LG_OK);
        lg__dev x = {b, tr};
        void *t = NULL;
        /* what the direct policy does for each variable */
        lg_status st = lg__checkpoint_deserialize(c, 0, &x, mps, &t);
        ck_assert_int_eq(st, LG_E_DEVICE);
        ck_assert_ptr_null(t);
        assert_mps_refusal(lg_error_message());
        ck_assert_msg(strstr(lg_error_message(), path), "%s", lg_error_message());
        ck_assert_uint_eq(lg_trace_count(tr), 1);
        const lg_event *e = lg_trace_event(tr, 0);
        ck_assert_int_eq(e->op, LG_OP_DESERIALIZE);
        ck_assert_int_eq(e->ok, 0);
        ck_assert(lg_device_equal(e->to, mps));
        ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
        lg_trace_free(tr);
        lg_checkpoint_close(c);
    }
    lg_backend_close(b);
}
END_TEST

static int count_tensor(void *ctx, const lg_named_data *t, lg_device where)
{
    (*(int *)ctx)++;
    return 0;
}

START_TEST(read_archive_onto_mps)
{
    sample s;
    const char *path = sample_write("probe.ot", &s);
    lg_backend *b = torch_open();
    int has = lg_backend_has_device(b, mps);
    lg_backend_close(b);
    if (has)
        return;
    int n = 0;
    ck_assert_int_eq(lg_torch_read_archive(path, "torch-archive", mps, count_tensor, &n),
                     LG_E_DEVICE);
    assert_mps_refusal(lg_error_message());
    ck_assert_int_eq(lg_torch_read_archive(path, "torchscript", mps, count_tensor, &n),
                     LG_E_DEVICE);
    assert_mps_refusal(lg_error_message());
    ck_assert_int_eq(n, 0);
}
END_TEST

/* script_tied.pt: enc.weight and dec.weight are one parameter in the file
 * (tied weights), rows a buffer expanded from one row. Loaded through
 * libtorch into a cpu store under every policy that hands libtorch's
 * tensors over, each variable owns its bytes: filling enc.weight leaves
 * dec.weight as it was, and rows can be filled. */
START_TEST(tied_weights_handed_apart)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/interop/script_tied.pt", tu_source_dir());
    static const lg_policy pols[] = {LG_POLICY_DIRECT, LG_POLICY_STAGED};
    for (size_t k = 0; k < sizeof pols / sizeof pols[0]; k++) {
        lg_backend *b = torch_open();
        lg_checkpoint *c = open_with(path, b, NULL);
        ck_assert_str_eq(lg_checkpoint_format(c), "torchscript"); /* libtorch's reader */
        lg_store *st = NULL;
        ck_assert_int_eq(lg_store_new(b, cpu, &st), LG_OK);
        for (size_t i = 0; i < lg_checkpoint_count(c); i++) {
            const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
            ck_assert_int_eq(lg_store_add(st, t->name, t->dtype, t->ndim, t->shape), LG_OK);
        }
        lg_checkpoint_close(c);
        lg_load_options o;
        lg_load_options_init(&o);
        o.policy = pols[k];
        ck_assert_msg(lg_store_load(st, path, &o, NULL) == LG_OK, "%s", lg_error_message());
        size_t enc = lg_store_find(st, "enc.weight"), dec = lg_store_find(st, "dec.weight");
        float before[12], after[12], zeros[12] = {0};
        lg_device where;
        ck_assert_int_eq(lg_store_read(st, dec, before, sizeof before, &where), LG_OK);
        ck_assert_int_eq(lg_store_fill(st, "enc.weight", zeros, sizeof zeros), LG_OK);
        ck_assert_int_eq(lg_store_read(st, dec, after, sizeof after, &where), LG_OK);
        ck_assert_msg(!memcmp(before, after, sizeof after), "dec.weight changed with enc.weight");
        ck_assert_int_eq(lg_store_read(st, enc, after, sizeof after, &where), LG_OK);
        ck_assert(!memcmp(after, zeros, sizeof zeros));
        ck_assert_msg(lg_store_fill(st, "rows", zeros, sizeof zeros) == LG_OK, "%s",
                      lg_error_message());
        lg_store_free(st);
        ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
        lg_backend_close(b);
    }
}
END_TEST

/* A cuda index past what libtorch's c10::DeviceIndex holds (127 in 1.13)
 * is refused, naming it: cast, cuda:255 was -1, the current device. */
START_TEST(read_archive_cuda_index_past_libtorch)
{
    sample s;
    const char *path = sample_write("index.ot", &s);
    lg_device d;
    ck_assert_int_eq(lg_device_parse("cuda:255", &d), LG_OK);
    int n = 0;
    ck_assert_int_eq(lg_torch_read_archive(path, "torch-archive", d, count_tensor, &n),
                     LG_E_DEVICE);
    ck_assert_msg(strstr(lg_error_message(), "cuda:255: libtorch") &&
                  strstr(lg_error_message(), "numbers devices up to"), "%s",
                  lg_error_message());
    ck_assert_int_eq(n, 0);
}
END_TEST

typedef struct {
    const sample *s;
    int seen, stop_after;
} check_ctx;

static int check_tensor(void *ctx, const lg_named_data *t, lg_device where)
{
    check_ctx *k = ctx;
    ck_assert(lg_device_equal(where, cpu));
    for (int i = 0; i < NSAMPLE; i++) {
        if (strcmp(k->s->t[i].name, t->name))
            continue;
        uint64_t nb = 0;
        lg__nbytes(t->dtype, t->ndim, t->shape, &nb);
        ck_assert_int_eq(t->dtype, k->s->t[i].dtype);
        ck_assert(!memcmp(t->data, k->s->t[i].data, (size_t)nb));
        k->seen++;
        return k->stop_after && k->seen >= k->stop_after;
    }
    ck_abort_msg("unexpected tensor %s", t->name);
    return 1;
}

START_TEST(read_archive_cpu)
{
    sample s;
    const char *path = sample_write("read.ot", &s);
    check_ctx k = {&s, 0, 0};
    ck_assert_int_eq(lg_torch_read_archive(path, "torch-archive", cpu, check_tensor, &k), LG_OK);
    ck_assert_int_eq(k.seen, NSAMPLE);
    k = (check_ctx){&s, 0, 0};
    ck_assert_int_eq(lg_torch_read_archive(path, NULL, cpu, check_tensor, &k), LG_OK);
    ck_assert_int_eq(k.seen, NSAMPLE);
    k = (check_ctx){&s, 0, 3};
    ck_assert_int_eq(lg_torch_read_archive(path, "torchscript", cpu, check_tensor, &k), LG_OK);
    ck_assert_int_eq(k.seen, 3);
    ck_assert_int_eq(lg_torch_read_archive(path, "safetensors", cpu, check_tensor, &k),
                     LG_E_INVALID);
    ck_assert_int_eq(lg_torch_read_archive(tu_path(g_dir, "absent.ot"), NULL, cpu,
                                           check_tensor, &k), LG_E_IO);
}
END_TEST

/* A file libtorch would read as another format than the zip the code
 * check looked at ("PTMF" at byte 4: its flatbuffer loader, which runs
 * bytecode unchecked) is refused before libtorch opens it. */
START_TEST(read_archive_polyglot_refused)
{
    unsigned char head[72] = {16, 0, 0, 0, 'P', 'T', 'M', 'F'};
    sample s;
    const char *ot = sample_write("poly-src.ot", &s);
    size_t n = 0;
    unsigned char *zip = tu_read(ot, &n);
    ck_assert_ptr_nonnull(zip);
    unsigned char *both = malloc(sizeof head + n);
    ck_assert_ptr_nonnull(both);
    memcpy(both, head, sizeof head);
    memcpy(both + sizeof head, zip, n);
    const char *path = tu_path(g_dir, "poly.pt");
    ck_assert_int_eq(tu_write(path, both, sizeof head + n), 0);
    free(both);
    free(zip);
    int k = 0;
    for (int r = 0; r < 2; r++) {
        lg_status st = lg_torch_read_archive(path, r ? "torchscript" : "torch-archive", cpu,
                                             count_tensor, &k);
        ck_assert_int_eq(st, LG_E_FORMAT);
        ck_assert_msg(strstr(lg_error_message(), "not a zip archive from its first byte"), "%s",
                      lg_error_message());
    }
    ck_assert_int_eq(k, 0);
}
END_TEST

START_TEST(write_archive_refusals)
{
    float v[2] = {1, 2};
    int64_t shape[] = {2};
    lg_named_data dup[2] = {{"a.b", LG_F32, 1, shape, v}, {"a|b", LG_F32, 1, shape, v}};
    ck_assert_int_eq(lg_torch_write_archive(tu_path(g_dir, "dup.ot"), dup, 2), LG_E_INVALID);
    ck_assert_msg(strstr(lg_error_message(), "duplicate"), "%s", lg_error_message());
    lg_named_data bad = {"x", LG_DTYPE_COUNT, 1, shape, v};
    ck_assert_int_eq(lg_torch_write_archive(tu_path(g_dir, "bad.ot"), &bad, 1), LG_E_INVALID);
    lg_named_data nodata = {"x", LG_F32, 1, shape, NULL};
    ck_assert_int_eq(lg_torch_write_archive(tu_path(g_dir, "nodata.ot"), &nodata, 1),
                     LG_E_INVALID);
    lg_named_data ok = {"x", LG_F32, 1, shape, v};
    ck_assert_int_eq(lg_torch_write_archive("/nonexistent-dir/x.ot", &ok, 1), LG_E_IO);
    ck_assert_int_eq(lg_torch_write_archive(NULL, &ok, 1), LG_E_INVALID);
}
END_TEST

/* ------------------------------------------------------- store loading */

static lg_store *mirror_store(lg_backend *b, const sample *s)
{
    lg_store *st = NULL;
    ck_assert_int_eq(lg_store_new(b, cpu, &st), LG_OK);
    for (int i = 0; i < NSAMPLE; i++) {
        const lg_named_data *t = &s->t[i];
        ck_assert_msg(lg_store_add(st, t->name, t->dtype, t->ndim, t->shape) == LG_OK, "%s",
                      lg_error_message());
    }
    return st;
}

static void assert_store_equals(lg_store *st, const sample *s)
{
    for (int i = 0; i < NSAMPLE; i++) {
        const lg_named_data *t = &s->t[i];
        size_t k = lg_store_find(st, t->name);
        ck_assert(k != (size_t)-1);
        const lg_tensor_info *v = lg_store_var(st, k);
        unsigned char got[256];
        lg_device where = mps;
        ck_assert_int_eq(lg_store_read(st, k, got, (size_t)v->nbytes, &where), LG_OK);
        ck_assert(lg_device_equal(where, cpu));
        ck_assert_int_eq(v->dtype, t->dtype);
        ck_assert_msg(!memcmp(got, t->data, (size_t)v->nbytes), "%s differs", t->name);
    }
}

START_TEST(store_load_each_policy)
{
    sample s;
    const char *path = sample_write("store.ot", &s);
    lg_policy policies[] = {LG_POLICY_VIA_CPU, LG_POLICY_STAGED, LG_POLICY_DIRECT, LG_POLICY_AUTO};
    lg_backend *b = torch_open();
    for (size_t p = 0; p < 4; p++) {
        lg_store *st = mirror_store(b, &s);
        size_t live = lg_backend_live_tensors(b);
        uint64_t bytes = lg_backend_device_bytes(b, cpu);
        int fds = tu_open_fds();
        lg_load_options o;
        lg_load_options_init(&o);
        o.policy = policies[p];
        lg_load_stats stats;
        lg_status r = lg_store_load(st, path, &o, &stats);
        ck_assert_msg(r == LG_OK, "%s: %s", lg_policy_name(policies[p]), lg_error_message());
        ck_assert_int_eq(stats.policy_used,
                         policies[p] == LG_POLICY_AUTO ? LG_POLICY_DIRECT : policies[p]);
        ck_assert_uint_eq(stats.tensors_loaded, NSAMPLE);
        assert_store_equals(st, &s);
        ck_assert(lg_device_equal(lg_store_device(st), cpu));
        ck_assert_uint_eq(lg_backend_live_tensors(b), live);
        ck_assert_uint_eq(lg_backend_device_bytes(b, cpu), bytes);
        ck_assert_int_eq(tu_open_fds(), fds);
        lg_store_free(st);
    }
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

/* The dtype rule convert on the libtorch reader: every tensor cast on the
 * host into a variable of another dtype (f32 into f64, the rest into f32),
 * which keeps its dtype, under every policy. */
START_TEST(store_load_convert)
{
    sample s;
    const char *path = sample_write("convert.ot", &s);
    lg_policy policies[] = {LG_POLICY_VIA_CPU, LG_POLICY_STAGED, LG_POLICY_DIRECT, LG_POLICY_AUTO};
    lg_backend *b = torch_open();
    for (size_t p = 0; p < 4; p++) {
        lg_store *st = NULL;
        ck_assert_int_eq(lg_store_new(b, cpu, &st), LG_OK);
        for (int i = 0; i < NSAMPLE; i++) {
            const lg_named_data *t = &s.t[i];
            lg_dtype to = t->dtype == LG_F32 ? LG_F64 : LG_F32;
            ck_assert_int_eq(lg_store_add(st, t->name, to, t->ndim, t->shape), LG_OK);
        }
        lg_load_options o;
        lg_load_options_init(&o); /* convert */
        o.policy = policies[p];
        lg_status r = lg_store_load(st, path, &o, NULL);
        ck_assert_msg(r == LG_OK, "%s: %s", lg_policy_name(policies[p]), lg_error_message());
        for (int i = 0; i < NSAMPLE; i++) {
            const lg_named_data *t = &s.t[i];
            const lg_tensor_info *v = lg_store_var(st, lg_store_find(st, t->name));
            ck_assert_int_eq(v->dtype, t->dtype == LG_F32 ? LG_F64 : LG_F32);
            unsigned char got[512], want[512];
            size_t n = (size_t)(v->nbytes / lg_dtype_size(v->dtype));
            ck_assert_uint_le(v->nbytes, sizeof got);
            ck_assert_int_eq(lg_store_read(st, lg_store_find(st, t->name), got,
                                           (size_t)v->nbytes, NULL), LG_OK);
            ck_assert_int_eq(lg_dtype_cast(v->dtype, want, t->dtype, t->data, n), LG_OK);
            ck_assert_msg(!memcmp(got, want, (size_t)v->nbytes), "%s: %s differs",
                          lg_policy_name(policies[p]), t->name);
        }
        lg_store_free(st);
    }
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

START_TEST(store_load_shape_mismatch)
{
    sample s;
    const char *path = sample_write("shape.ot", &s);
    lg_backend *b = torch_open();
    lg_store *st = NULL;
    ck_assert_int_eq(lg_store_new(b, cpu, &st), LG_OK);
    int64_t wrong[] = {3, 2};
    ck_assert_int_eq(lg_store_add(st, "fc.weight", LG_F32, 2, wrong), LG_OK);
    ck_assert_int_eq(lg_store_load(st, path, NULL, NULL), LG_E_SHAPE);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 1);
    lg_store_free(st);
    lg_backend_close(b);
}
END_TEST

/* ------------------------------------------ the checkpoint's own tensors */

START_TEST(deserialize_hands_over)
{
    sample s;
    const char *path = sample_write("hand.ot", &s);
    lg_backend *b = torch_open();
    lg_checkpoint *c = open_with(path, b, NULL);
    lg__dev x = {b, NULL};
    size_t k = lg_checkpoint_find(c, "fc.weight");
    void *t1 = NULL, *t2 = NULL;
    ck_assert_int_eq(lg__checkpoint_deserialize(c, k, &x, cpu, &t1), LG_OK);
    /* a second time: the file is loaded again, not the same tensor shared */
    ck_assert_int_eq(lg__checkpoint_deserialize(c, k, &x, cpu, &t2), LG_OK);
    ck_assert_ptr_ne(t1, t2);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 2);
    ck_assert_uint_eq(lg_backend_device_bytes(b, cpu), 2 * 24);
    float zero[6] = {0}, got[6];
    ck_assert_int_eq(b->ops->write(b, t1, zero, sizeof zero), LG_OK);
    ck_assert_int_eq(b->ops->read(b, t2, got, sizeof got), LG_OK);
    ck_assert(!memcmp(got, s.t[0].data, sizeof got));
    ck_assert_int_eq(lg_checkpoint_read(c, k, got, sizeof got), LG_OK);
    ck_assert(!memcmp(got, s.t[0].data, sizeof got));
    lg_checkpoint_close(c);
    /* handed-over tensors outlive the checkpoint, and are the backend's */
    ck_assert_uint_eq(lg_backend_live_tensors(b), 2);
    b->ops->free(b, t1);
    b->ops->free(b, t2);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    /* into a sim store: refused, the tensors are libtorch's */
    lg_backend *sim = NULL;
    ck_assert_int_eq(lg_backend_open("sim", &sim), LG_OK);
    c = open_with(path, b, NULL);
    lg__dev xs = {sim, NULL};
    void *t = NULL;
    ck_assert_int_eq(lg__checkpoint_deserialize(c, k, &xs, cpu, &t), LG_E_BACKEND);
    lg_checkpoint_close(c);
    lg_backend_close(sim);
    lg_backend_close(b);
}
END_TEST

/* ------------------------------------------------------------- faults */

START_TEST(injected_faults)
{
    sample s;
    const char *path = sample_write("faults.ot", &s);
    lg_backend *b = torch_open();
    lg_open_options o = {.reader = NULL, .backend = b};
    lg_checkpoint *c = NULL;
    lg_fault_schedule once = {.when = LG_FAULT_NTH, .k = 1};
    ck_assert_int_eq(lg_fault_set("format.parse", &once), LG_OK);
    ck_assert_int_eq(lg_checkpoint_open(path, &o, &c), LG_E_FORMAT);
    lg_fault_clear();
    c = open_with(path, b, NULL);
    lg_trace *tr = NULL;
    ck_assert_int_eq(lg_trace_new(&tr), LG_OK);
    lg__dev x = {b, tr};
    void *t = NULL;
    ck_assert_int_eq(lg_fault_set("device.alloc", &once), LG_OK);
    ck_assert_int_eq(lg__checkpoint_deserialize(c, 0, &x, cpu, &t), LG_E_DEVICE);
    lg_fault_clear();
    ck_assert_ptr_null(t);
    ck_assert_uint_eq(lg_trace_count(tr), 2);
    ck_assert_int_eq(lg_trace_event(tr, 0)->op, LG_OP_FAULT);
    ck_assert_str_eq(lg_trace_event(tr, 0)->detail, "device.alloc");
    ck_assert_int_eq(lg_trace_event(tr, 1)->op, LG_OP_DESERIALIZE);
    ck_assert_int_eq(lg_trace_event(tr, 1)->ok, 0);
    lg_trace_free(tr);
    lg_checkpoint_close(c);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

START_TEST(alloc_sweep_open)
{
    sample s;
    const char *path = sample_write("sweep.ot", &s);
    lg_backend *b = torch_open();
    lg_open_options o = {.reader = NULL, .backend = b};
    for (uint64_t k = 1;; k++) {
        lg_fault_schedule sch = {.when = LG_FAULT_NTH, .k = k};
        lg_checkpoint *c = NULL;
        ck_assert_int_eq(lg_fault_set("mem.alloc", &sch), LG_OK);
        lg_status st = lg_checkpoint_open(path, &o, &c);
        uint64_t fired = lg_fault_fired("mem.alloc");
        lg_fault_clear();
        ck_assert_msg(st == LG_OK || st == LG_E_NOMEM, "K=%llu: %s", (unsigned long long)k,
                      lg_error_message());
        lg_checkpoint_close(c);
        ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
        if (!fired) {
            ck_assert_int_eq(st, LG_OK);
            break;
        }
        ck_assert_msg(k < 200, "the sweep does not end");
    }
    lg_backend_close(b);
}
END_TEST

/* ------------------------------------------------ the TorchScript fixture */

static json_t *fixture_manifest(void)
{
    char path[1024];
    json_error_t e;
    snprintf(path, sizeof path, "%s/tests/data/pytorch-1.13/manifest.json", tu_source_dir());
    json_t *m = json_load_file(path, 0, &e);
    ck_assert_msg(m != NULL, "%s: %s", path, e.text);
    return m;
}

static void assert_matches_manifest(lg_checkpoint *c, json_t *want)
{
    ck_assert_uint_eq(lg_checkpoint_count(c), json_object_size(want));
    for (size_t i = 0; i < lg_checkpoint_count(c); i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        json_t *w = json_object_get(want, t->name);
        ck_assert_msg(w != NULL, "tensor %s not in the manifest", t->name);
        lg_dtype d;
        ck_assert_int_eq(lg_dtype_parse(json_string_value(json_object_get(w, "dtype")), &d),
                         LG_OK);
        ck_assert_int_eq(t->dtype, d);
        json_t *shape = json_object_get(w, "shape");
        ck_assert_uint_eq((size_t)t->ndim, json_array_size(shape));
        for (int k = 0; k < t->ndim; k++)
            ck_assert_int_eq(t->shape[k], json_integer_value(json_array_get(shape, (size_t)k)));
        void *buf = malloc(t->nbytes ? t->nbytes : 1);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(lg_checkpoint_read(c, i, buf, t->nbytes), LG_OK);
        char hex[65];
        tu_sha256(buf, t->nbytes, hex);
        ck_assert_str_eq(hex, json_string_value(json_object_get(w, "sha256")));
        free(buf);
    }
}

START_TEST(torchscript_fixture)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/pytorch-1.13/mlp_script.pt", tu_source_dir());
    json_t *m = fixture_manifest();
    json_t *want = json_object_get(json_object_get(json_object_get(m, "files"),
                                                   "mlp_script.pt"), "tensors");
    ck_assert(json_is_object(want));
    lg_backend *b = torch_open();
    /* by magic bytes, trusted: torch-archive, which finds submodules and
     * turns the checkpoint into a TorchScript one */
    lg_checkpoint *c = open_opts(path, b, NULL, 1);
    ck_assert_str_eq(lg_checkpoint_format(c), "torchscript");
    assert_matches_manifest(c, want);
    lg_checkpoint_close(c);
    c = open_opts(path, b, "torchscript", 1);
    assert_matches_manifest(c, want);
    lg_checkpoint_close(c);
    /* untrusted, its forward method is not compiled: read natively */
    c = open_with(path, b, NULL);
    ck_assert_str_eq(lg_checkpoint_format(c), "torchscript-data");
    assert_matches_manifest(c, want);
    lg_checkpoint_close(c);
    /* and into a store, directly on cpu */
    lg_store *st = NULL;
    ck_assert_int_eq(lg_store_new(b, cpu, &st), LG_OK);
    const char *key;
    json_t *w;
    json_object_foreach(want, key, w) {
        json_t *shape = json_object_get(w, "shape");
        int64_t dims[LG_MAX_DIMS];
        for (size_t k = 0; k < json_array_size(shape); k++)
            dims[k] = json_integer_value(json_array_get(shape, k));
        ck_assert_int_eq(lg_store_add(st, key, LG_F32, (int)json_array_size(shape), dims), LG_OK);
    }
    lg_load_options o;
    lg_load_options_init(&o);
    o.policy = LG_POLICY_DIRECT;
    ck_assert_msg(lg_store_load(st, path, &o, NULL) == LG_OK, "%s", lg_error_message());
    for (size_t i = 0; i < lg_store_count(st); i++) {
        const lg_tensor_info *v = lg_store_var(st, i);
        void *buf = malloc(v->nbytes);
        char hex[65];
        lg_device where;
        ck_assert_int_eq(lg_store_read(st, i, buf, v->nbytes, &where), LG_OK);
        tu_sha256(buf, v->nbytes, hex);
        ck_assert_str_eq(hex, json_string_value(json_object_get(json_object_get(want, v->name),
                                                                "sha256")));
        free(buf);
    }
    lg_store_free(st);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
    json_decref(m);
}
END_TEST




#else /* no libtorch in this build */

START_TEST(no_libtorch)
{
    lg_backend *b = NULL;
    ck_assert_int_eq(lg_backend_open("torch", &b), LG_E_BACKEND);
    ck_assert_ptr_null(b);
    ck_assert_str_eq(lg_libtorch_version(), "none");
    ck_assert_str_eq(lg_backends_built(), "sim");
    float v[2] = {1, 2};
    int64_t shape[] = {2};
    lg_named_data t = {"x", LG_F32, 1, shape, v};
    const char *path = tu_path(g_dir, "x.ot");
    ck_assert_int_eq(lg_torch_write_archive(path, &t, 1), LG_E_BACKEND);
    ck_assert_msg(strstr(lg_error_message(), "this build has no libtorch"), "%s",
                  lg_error_message());
    ck_assert_int_eq(lg_torch_read_archive(path, NULL, (lg_device){LG_DEV_CPU, 0}, NULL, NULL),
                     LG_E_BACKEND);
}
END_TEST

START_TEST(no_libtorch_archive_named)
{
    const char *ot[] = {"a/data/0", "a/data.pkl", "a/code/__torch__.py", NULL};
    unsigned char buf[4096];
    size_t n = zip_head(buf, ot);
    /* a libtorch archive goes to the native torchscript-data reader here,
     * which finds the head cut short */
    open_refused("a.ot", buf, n, "zip: no end of central directory record");
}
END_TEST


#endif

static Suite *torch_suite(void)
{
    Suite *s = suite_create("torch");
    TCase *sniff = tcase_create("sniff");
    tcase_add_test(sniff, sniff_zip_kinds);
    tcase_add_test(sniff, sniff_truncated_heads);
    tcase_add_test(sniff, sniff_legacy);
    tcase_add_test(sniff, torch_save_heads_cut_short);
    suite_add_tcase(s, sniff);
#ifdef LOADGATE_HAVE_TORCH
    TCase *backend = tcase_create("backend");
    tcase_add_test(backend, version_and_backends);
    tcase_add_test(backend, tensor_ops);
    tcase_add_test(backend, tensor_outlives_backend);
    tcase_add_test(backend, mps_absent);
    suite_add_tcase(s, backend);
    TCase *archive = tcase_create("archive");
    tcase_add_test(archive, round_trip_cpu);
    tcase_add_test(archive, needs_torch_backend);
    tcase_add_test(archive, corrupt_archive);
    tcase_add_test(archive, read_archive_cpu);
    tcase_add_test(archive, read_archive_polyglot_refused);
    tcase_add_test(archive, write_archive_refusals);
    tcase_add_test(archive, deserialize_hands_over);
    suite_add_tcase(s, archive);
    TCase *mpsc = tcase_create("mps");
    tcase_add_test(mpsc, mps_direct_refused);
    tcase_add_test(mpsc, read_archive_onto_mps);
    tcase_add_test(mpsc, read_archive_cuda_index_past_libtorch);
    suite_add_tcase(s, mpsc);
    TCase *store = tcase_create("store");
    tcase_add_test(store, store_load_each_policy);
    tcase_add_test(store, store_load_shape_mismatch);
    tcase_add_test(store, store_load_convert);
    tcase_add_test(store, torchscript_fixture);
    tcase_add_test(store, tied_weights_handed_apart);
    suite_add_tcase(s, store);
    TCase *faults = tcase_create("faults");
    tcase_add_test(faults, injected_faults);
    tcase_add_test(faults, alloc_sweep_open);
    suite_add_tcase(s, faults);
#else
    TCase *none = tcase_create("no-libtorch");
    tcase_add_test(none, no_libtorch);
    tcase_add_test(none, no_libtorch_archive_named);
    suite_add_tcase(s, none);
#endif
    return s;
}

int main(void)
{
    g_dir = tu_tmpdir();
    if (!g_dir) {
        perror("mkdtemp");
        return 1;
    }
    int failed = tu_run_suite(torch_suite());
    tu_rmtree(g_dir);
    return failed ? 1 : 0;
}
