/* The native torch.save readers (torch-zip, torch-legacy).
 *
 * - The reference files (tests/data/pytorch-1.13, tests/data/interop),
 *   through `harness inspect --json` and through the library, against
 *   their manifests' sha256.
 * - Files written here by hand, as other PyTorch versions and other tools
 *   write them: pickle protocol 2 and 4, other archive folder names, zip64
 *   records, byteorder big, with and without .format_version, data
 *   descriptors or not, deflated records; and the harness generator.
 * - A pickle that calls os.system is refused, naming the global, and the
 *   command never runs. A flipped bit in a tensor record is a CRC-32
 *   mismatch naming the record (or a finding with crc: warn).
 * - Nested checkpoints and the key option; every zip, pickle and legacy
 *   rule with its message; truncation and bit flips at every byte; fault
 *   sweeps. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "formats/format.h"
#include "formats/zip.h"
#include "cmd/cmd.h"
#include "fixture/gen.h"
#include "fixture/zipw.h"
#include "util/zipfmt.h"
#include "loadgate/loadgate.h"
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static const char *g_dir;

#define PT113 LG_SOURCE_DIR "/tests/data/pytorch-1.13"
#define INTEROP LG_SOURCE_DIR "/tests/data/interop"
#define OTHERS LG_SOURCE_DIR "/tests/data/other-writers"

/* ================================================================ bytes */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void le(buf *b, uint64_t v, int k)
{
    unsigned char x[8];
    ck_assert(k <= 8);
    for (int i = 0; i < k; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    put(b, x, (size_t)k);
}

static void op(buf *b, unsigned char c) { put(b, &c, 1); }
static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

static const char *write_file(const char *name, const void *p, size_t n)
{
    const char *path = tu_path(g_dir, name);
    ck_assert_int_eq(tu_write(path, p, n), 0);
    return path;
}

/* ============================================================ zip writer */

/* How a record is written here: fixture/zipw.h's options, with the
 * versions other writers use (2.0, or 4.5 for zip64) and no UTF-8 flag. */
typedef struct {
    int descriptor; /* flag bit 3: sizes in a descriptor after the data */
    int deflate;    /* method 8 */
    int zip64;      /* sizes and offsets through zip64 extra fields */
    int align;      /* data at a multiple of 64, by an "FB" extra field */
} zopt;

/* A zeroed hx_zipw builds the archive in memory (z.mem, z.memlen). */
typedef hx_zipw zipw;

static void z_add(zipw *z, const char *name, const void *data, size_t n, zopt o)
{
    hx_zip_opts h = {.descriptor = o.descriptor, .deflate = o.deflate, .zip64 = o.zip64,
                     .align = o.align ? 64u : 0u,
                     .version = o.zip64 ? HX_ZIP_VERSION_ZIP64 : 20};
    ck_assert_int_eq(hx_zipw_add(z, name, data, n, &h), LG_OK);
}

/* The central directory and end records (zip64 ones with every end
 * record field at its maximum); the archive as a file. */
static const char *z_finish(zipw *z, int zip64_end, const char *file)
{
    ck_assert_int_eq(hx_zipw_finish(z, zip64_end ? HX_ZIP_END_ZIP64_MASKED : HX_ZIP_END_PLAIN),
                     LG_OK);
    const char *path = write_file(file, z->mem, z->memlen);
    hx_zipw_free(z);
    return path;
}

/* ========================================================= pickle writer */

static void p_str(buf *b, int proto, const char *s)
{
    size_t n = strlen(s);
    if (proto >= 4 && n < 256) {
        op(b, 0x8c), op(b, (unsigned char)n);
    } else {
        op(b, 'X'), le(b, n, 4);
    }
    put(b, s, n);
    if (proto >= 4)
        op(b, 0x94); /* MEMOIZE, as pickle does at protocol 4 */
}

static void p_global(buf *b, int proto, const char *m, const char *n)
{
    if (proto >= 4) {
        p_str(b, proto, m), p_str(b, proto, n), op(b, 0x93);
        return;
    }
    op(b, 'c'), puts_(b, m), op(b, '\n'), puts_(b, n), op(b, '\n');
}

static void p_int(buf *b, int64_t v)
{
    if (v >= 0 && v < 256) {
        op(b, 'K'), op(b, (unsigned char)v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        op(b, 'J'), le(b, (uint64_t)v, 4);
    } else {
        op(b, 0x8a), op(b, 8), le(b, (uint64_t)v, 8);
    }
}

static void p_ints(buf *b, int n, const int64_t *v)
{
    op(b, '(');
    for (int i = 0; i < n; i++)
        p_int(b, v[i]);
    op(b, 't');
}

/* A tensor: name, storage (type, key, numel) and its view. */
typedef struct {
    const char *name, *stype, *key;
    int64_t numel, offset;
    int ndim;
    int64_t shape[LG_MAX_DIMS + 1], stride[LG_MAX_DIMS + 1];
} tdesc;

static void p_tensor(buf *b, int proto, const tdesc *t, int legacy)
{
    p_global(b, proto, "torch._utils", "_rebuild_tensor_v2");
    op(b, '('), op(b, '(');
    p_str(b, proto, "storage"), p_global(b, proto, "torch", t->stype);
    p_str(b, proto, t->key), p_str(b, proto, "cpu"), p_int(b, t->numel);
    if (legacy)
        op(b, 'N');
    op(b, 't'), op(b, 'Q');
    p_int(b, t->offset), p_ints(b, t->ndim, t->shape), p_ints(b, t->ndim, t->stride);
    op(b, 0x89), p_global(b, proto, "collections", "OrderedDict"), op(b, ')'), op(b, 'R');
    op(b, 't'), op(b, 'R');
}

/* PROTO, a FRAME at protocol 4, then body. */
static void p_wrap(buf *out, int proto, const buf *body)
{
    op(out, 0x80), op(out, (unsigned char)proto);
    if (proto >= 4)
        op(out, 0x95), le(out, body->n, 8);
    put(out, body->p, body->n);
}

/* OrderedDict of the tensors, as torch.save(state_dict) pickles it. */
static void p_state_dict(buf *out, int proto, const tdesc *t, int n, int legacy)
{
    buf b = {0};
    p_global(&b, proto, "collections", "OrderedDict"), op(&b, ')'), op(&b, 'R'), op(&b, '(');
    for (int i = 0; i < n; i++) {
        p_str(&b, proto, t[i].name);
        p_tensor(&b, proto, &t[i], legacy);
    }
    op(&b, 'u'), op(&b, '.');
    p_wrap(out, proto, &b);
    free(b.p);
}

/* ======================================================= the test tensors */

static const float W[6] = {0.5f, -1.25f, 2.0f, 3.75f, -4.0f, 5.5f};
static const uint16_t H[4] = {0x3c00, 0xc000, 0x7bff, 0x0001};
static const int64_t I[3] = {-1, 2, (int64_t)1 << 40};
static const float S[1] = {3.5f};

static const tdesc std_tensors[] = {
    {"w", "FloatStorage", "0", 6, 0, 2, {2, 3}, {3, 1}},
    {"h", "HalfStorage", "1", 4, 0, 1, {4}, {1}},
    {"i", "LongStorage", "2", 3, 0, 1, {3}, {1}},
    {"wt", "FloatStorage", "0", 6, 0, 2, {3, 2}, {1, 3}},  /* transposed view of w */
    {"tail", "FloatStorage", "0", 6, 4, 1, {2}, {1}},      /* w's storage from element 4 */
    {"s", "FloatStorage", "3", 1, 0, 0, {0}, {0}},          /* 0-dim */
    {"e", "FloatStorage", "4", 0, 0, 2, {0, 3}, {3, 1}},    /* empty */
};
#define NSTD ((int)(sizeof std_tensors / sizeof std_tensors[0]))

/* Storage k's bytes, little- or big-endian. */
static void std_storage(int k, int big, buf *out)
{
    static const struct {
        const void *p;
        size_t n, es;
    } st[] = {{W, sizeof W, 4}, {H, sizeof H, 2}, {I, sizeof I, 8}, {S, sizeof S, 4}, {NULL, 0, 1}};
    out->n = 0;
    put(out, st[k].p, st[k].n);
    for (size_t i = 0; big && i < st[k].n; i += st[k].es)
        for (size_t a = 0, z = st[k].es - 1; a < z; a++, z--) {
            unsigned char t = out->p[i + a];
            out->p[i + a] = out->p[i + z];
            out->p[i + z] = t;
        }
}

/* The row-major bytes the reader must give for std_tensors[i]. */
static size_t std_expected(int i, unsigned char *out)
{
    const float wt[6] = {W[0], W[3], W[1], W[4], W[2], W[5]};
    switch (i) {
    case 0: memcpy(out, W, sizeof W); return sizeof W;
    case 1: memcpy(out, H, sizeof H); return sizeof H;
    case 2: memcpy(out, I, sizeof I); return sizeof I;
    case 3: memcpy(out, wt, sizeof wt); return sizeof wt;
    case 4: memcpy(out, W + 4, 8); return 8;
    case 5: memcpy(out, S, 4); return 4;
    default: return 0;
    }
}

/* How a crafted torch.save zip is written. */
typedef struct {
    const char *prefix;     /* the archive's folder */
    int proto;              /* 2 or 4 */
    zopt z;                 /* every record */
    int zip64_end;          /* zip64 end records */
    const char *byteorder;  /* NULL: no byteorder record */
    int versions;           /* .format_version and .storage_alignment records */
    int no_version;         /* no version record */
    int deflate_pkl;        /* data.pkl deflated, the rest as z says */
    int cd_reversed;        /* the central directory lists the records last first */
} variant;

/* The central directory's entries, last first: an order that is not the
 * records' own. */
static void reverse_cd(zipw *z)
{
    for (size_t i = 0, j = z->n; i + 1 < j; i++, j--) {
        hx_zip_entry t = z->e[i];
        z->e[i] = z->e[j - 1];
        z->e[j - 1] = t;
    }
}

static const char *write_variant(const char *file, const variant *v)
{
    zipw z = {0};
    buf pkl = {0}, data = {0};
    char name[256];
    zopt pz = v->z;
    pz.deflate |= v->deflate_pkl;
    p_state_dict(&pkl, v->proto, std_tensors, NSTD, 0);
    snprintf(name, sizeof name, "%s/data.pkl", v->prefix);
    z_add(&z, name, pkl.p, pkl.n, pz);
    if (v->versions) {
        snprintf(name, sizeof name, "%s/.format_version", v->prefix);
        z_add(&z, name, "1", 1, v->z);
        snprintf(name, sizeof name, "%s/.storage_alignment", v->prefix);
        z_add(&z, name, "64", 2, v->z);
    }
    if (v->byteorder) {
        snprintf(name, sizeof name, "%s/byteorder", v->prefix);
        z_add(&z, name, v->byteorder, strlen(v->byteorder), v->z);
    }
    for (int k = 0; k < 5; k++) {
        std_storage(k, v->byteorder && !strcmp(v->byteorder, "big"), &data);
        snprintf(name, sizeof name, "%s/data/%d", v->prefix, k);
        z_add(&z, name, data.p, data.n, v->z);
    }
    if (!v->no_version) {
        snprintf(name, sizeof name, "%s/version", v->prefix);
        z_add(&z, name, "3\n", 2, v->z);
    }
    free(pkl.p);
    free(data.p);
    if (v->cd_reversed)
        reverse_cd(&z);
    return z_finish(&z, v->zip64_end, file);
}

static lg_checkpoint *open_ok(const char *path, const char *key, const char *crc)
{
    lg_open_options o = {.key = key, .crc = crc};
    lg_checkpoint *c = NULL;
    lg_status st = lg_checkpoint_open(path, &o, &c);
    ck_assert_msg(st == LG_OK, "%s: %s: %s", path, lg_status_name(st), lg_error_message());
    return c;
}

static void expect_err_opt(const char *path, const lg_open_options *o, lg_status want,
                           const char *needle)
{
    lg_checkpoint *c = NULL;
    lg_status st = lg_checkpoint_open(path, o, &c);
    ck_assert_msg(st == want, "%s: expected %s, got %s: %s", path, lg_status_name(want),
                  lg_status_name(st), lg_error_message());
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(lg_error_message(), needle), "message lacks \"%s\": %s", needle,
                  lg_error_message());
    ck_assert_msg(strstr(lg_error_message(), path), "message lacks the path: %s",
                  lg_error_message());
}

static void expect_err(const char *path, lg_status want, const char *needle)
{
    expect_err_opt(path, NULL, want, needle);
}

/* Every std tensor, by name, with its bytes; bytes() agrees with read()
 * wherever it answers. */
static void check_std(const char *path, const char *want_format)
{
    lg_checkpoint *c = open_ok(path, NULL, NULL);
    ck_assert_str_eq(lg_checkpoint_format(c), want_format);
    ck_assert_uint_eq(lg_checkpoint_count(c), NSTD);
    for (int i = 0; i < NSTD; i++) {
        unsigned char want[64], got[64];
        size_t n = std_expected(i, want);
        size_t k = lg_checkpoint_find(c, std_tensors[i].name);
        ck_assert_msg(k == (size_t)i, "%s: tensor %s at %zu", path, std_tensors[i].name, k);
        const lg_tensor_info *t = lg_checkpoint_tensor(c, k);
        ck_assert_int_eq(t->ndim, std_tensors[i].ndim);
        ck_assert_uint_eq(t->nbytes, n);
        ck_assert_int_eq(lg_checkpoint_read(c, k, got, n), LG_OK);
        ck_assert_msg(!memcmp(got, want, n), "%s: tensor %s differs", path, t->name);
        const void *in_place = c->ops->bytes(c, k);
        if (in_place && n)
            ck_assert(!memcmp(in_place, want, n));
    }
    ck_assert_int_eq(lg_checkpoint_tensor(c, 0)->dtype, LG_F32);
    ck_assert_int_eq(lg_checkpoint_tensor(c, 1)->dtype, LG_F16);
    ck_assert_int_eq(lg_checkpoint_tensor(c, 2)->dtype, LG_I64);
    lg_checkpoint_close(c);
}

/* =============================================== reference files (CLI) */

/* Runs a subcommand with stdout into a buffer; returns the exit code. */
static int run_cmd(int (*fn)(int, char **), char **argv, char **out)
{
    int rc = tu_run_cmd(fn, argv, g_dir, out);
    ck_assert_ptr_nonnull(*out);
    return rc;
}

static const char *torch_dtype(const char *lg)
{
    static const char *const map[][2] = {{"f64", "float64"}, {"f32", "float32"},
        {"f16", "float16"}, {"bf16", "bfloat16"}, {"i64", "int64"}, {"i32", "int32"},
        {"i16", "int16"}, {"i8", "int8"}, {"u8", "uint8"}, {"bool", "bool"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i][0], lg))
            return map[i][1];
    return "?";
}

/* `harness inspect FILE --json`: every manifest tensor is listed, with its
 * dtype, shape and sha256. Returns the number of tensors compared. */
static size_t inspect_against(const char *dir, const char *file, json_t *want,
                              const char *backend)
{
    char path[1024], *out = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *argv[] = {"inspect", path, "--json", "--backend", (char *)backend, NULL};
    int rc = run_cmd(hx_cmd_inspect, argv, &out);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    ck_assert_msg(j != NULL, "%s: not JSON: %s", file, out);
    ck_assert_msg(rc == 0, "%s: exit %d: %s", file, rc, out);
    json_t *tensors = json_object_get(j, "tensors");
    const char *name;
    json_t *w;
    size_t n = 0;
    json_object_foreach(want, name, w) {
        json_t *got = NULL;
        for (size_t i = 0; i < json_array_size(tensors) && !got; i++)
            if (!strcmp(json_string_value(json_object_get(json_array_get(tensors, i), "name")),
                        name))
                got = json_array_get(tensors, i);
        ck_assert_msg(got != NULL, "%s: tensor %s is not listed", file, name);
        ck_assert_str_eq(json_string_value(json_object_get(got, "sha256")),
                         json_string_value(json_object_get(w, "sha256")));
        ck_assert_str_eq(torch_dtype(json_string_value(json_object_get(got, "dtype"))),
                         json_string_value(json_object_get(w, "dtype")));
        ck_assert(json_equal(json_object_get(got, "shape"), json_object_get(w, "shape")));
        n++;
    }
    json_decref(j);
    free(out);
    return n;
}

static json_t *manifest(const char *dir)
{
    char path[1024];
    json_error_t e;
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    json_t *m = json_load_file(path, 0, &e);
    ck_assert_msg(m != NULL, "%s: %s", path, e.text);
    return m;
}

START_TEST(pytorch_113_inspect_json)
{
    json_t *m = manifest(PT113);
    const char *file;
    json_t *f;
    size_t files = 0;
    json_object_foreach(json_object_get(m, "files"), file, f) {
        int script = !strcmp(file, "mlp_script.pt");
        if (script && !strstr(lg_backends_built(), "torch"))
            continue; /* the TorchScript module needs libtorch: see torchscript_without_torch */
        size_t n = inspect_against(PT113, file, json_object_get(f, "tensors"),
                                   script ? "torch" : "sim");
        ck_assert_uint_gt(n, 0);
        files++;
    }
    ck_assert_uint_ge(files, 4);
    json_decref(m);
}
END_TEST

START_TEST(interop_inspect_json)
{
    json_t *m = manifest(INTEROP);
    const char *file;
    json_t *f;
    json_object_foreach(json_object_get(m, "files"), file, f) {
        if (json_object_get(f, "refused"))
            continue; /* see pickled_module_refused, training_checkpoint_with_args */
        ck_assert_uint_gt(inspect_against(INTEROP, file, json_object_get(f, "tensors"), "sim"), 0);
    }
    json_decref(m);
}
END_TEST

/* Through the library: the sha256 of every tensor read equals the
 * manifest's, and the file names no tensor the manifest lacks (for the
 * plain state dicts). */
static void library_against(const char *dir, const char *file, json_t *want, int exact)
{
    char path[1024], hex[65];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    lg_checkpoint *c = open_ok(path, NULL, NULL);
    if (exact)
        ck_assert_uint_eq(lg_checkpoint_count(c), json_object_size(want));
    for (size_t i = 0; i < lg_checkpoint_count(c); i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        json_t *w = json_object_get(want, t->name);
        if (!w && !exact)
            continue;
        ck_assert_msg(w != NULL, "%s: tensor %s not in the manifest", file, t->name);
        void *b = malloc(t->nbytes + 1);
        ck_assert_int_eq(lg_checkpoint_read(c, i, b, t->nbytes), LG_OK);
        tu_sha256(b, t->nbytes, hex);
        ck_assert_str_eq(hex, json_string_value(json_object_get(w, "sha256")));
        const void *in_place = c->ops->bytes(c, i);
        if (in_place && t->nbytes)
            ck_assert(!memcmp(in_place, b, t->nbytes));
        free(b);
    }
    lg_checkpoint_close(c);
}

/* Files written by the PyTorch of other days and rewritten by other zip
 * tools: every tensor torch.load reads, with its sha256, through the CLI
 * and the library, and exactly those; the refused ones with their
 * reason. */
START_TEST(other_writers_like_torch_load)
{
    json_t *m = manifest(OTHERS);
    const char *file;
    json_t *f;
    size_t loaded = 0, refused = 0;
    json_object_foreach(json_object_get(m, "files"), file, f) {
        json_t *want = json_object_get(f, "tensors");
        const char *why = json_string_value(json_object_get(f, "refused"));
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", OTHERS, file);
        if (why) {
            expect_err(path, LG_E_FORMAT, why);
            refused++;
            continue;
        }
        ck_assert_uint_eq(inspect_against(OTHERS, file, want, "sim"), json_object_size(want));
        ck_assert_uint_gt(json_object_size(want), 0);
        library_against(OTHERS, file, want, 1);
        lg_checkpoint *c = open_ok(path, NULL, NULL);
        ck_assert_str_eq(lg_checkpoint_format(c), json_string_value(json_object_get(f, "format")));
        lg_checkpoint_close(c);
        loaded++;
    }
    ck_assert_uint_ge(loaded, 11);
    ck_assert_uint_ge(refused, 2);
    json_decref(m);
}
END_TEST

START_TEST(reference_files_through_the_library)
{
    json_t *m = manifest(PT113);
    library_against(PT113, "mixed.pt", json_object_get(json_object_get(json_object_get(m,
                    "files"), "mixed.pt"), "tensors"), 1);
    library_against(PT113, "mixed_legacy.pt", json_object_get(json_object_get(json_object_get(m,
                    "files"), "mixed_legacy.pt"), "tensors"), 1);
    library_against(PT113, "mlp_f32.pt", json_object_get(json_object_get(json_object_get(m,
                    "files"), "mlp_f32.pt"), "tensors"), 1);
    library_against(PT113, "train_ckpt.pt", json_object_get(json_object_get(json_object_get(m,
                    "files"), "train_ckpt.pt"), "tensors"), 0);
    json_decref(m);
    m = manifest(INTEROP);
    const char *file;
    json_t *f;
    json_object_foreach(json_object_get(m, "files"), file, f)
        if (!json_object_get(f, "refused"))
            library_against(INTEROP, file, json_object_get(f, "tensors"), 1);
    json_decref(m);
}
END_TEST

START_TEST(views_in_place_or_not)
{
    lg_checkpoint *c = open_ok(PT113 "/mixed.pt", NULL, NULL);
    ck_assert_str_eq(lg_checkpoint_format(c), "torch-zip");
    size_t f32 = lg_checkpoint_find(c, "f32"), tr = lg_checkpoint_find(c, "transposed");
    size_t a = lg_checkpoint_find(c, "tied_a"), b = lg_checkpoint_find(c, "tied_b");
    size_t sl = lg_checkpoint_find(c, "slice");
    /* a stored, contiguous tensor is handed out from the map */
    const unsigned char *p = c->ops->bytes(c, f32);
    ck_assert_ptr_nonnull(p);
    ck_assert(p >= c->map && p < c->map + c->size);
    ck_assert_ptr_null(c->ops->bytes(c, tr)); /* strided: materialised by read() */
    /* two names over one storage, and a slice of it at an offset */
    ck_assert_ptr_eq(c->ops->bytes(c, a), c->ops->bytes(c, b));
    ck_assert_ptr_eq((const unsigned char *)c->ops->bytes(c, sl),
                     (const unsigned char *)c->ops->bytes(c, a) + 8);
    ck_assert_int_eq(lg_checkpoint_tensor(c, lg_checkpoint_find(c, "scalar"))->ndim, 0);
    ck_assert_uint_eq(lg_checkpoint_tensor(c, lg_checkpoint_find(c, "empty"))->nbytes, 0);
    lg_checkpoint_close(c);
}
END_TEST

/* ====================================================== code never runs */

/* data.pkl: PROTO 2, then `pre` (other entries of an OrderedDict), then
 * posix.system("touch <marker>") through REDUCE. */
/* An archive in folder `dir`: data.pkl of the pickle `body` (opcodes
 * after PROTO), data/0 = W, version; descriptors, aligned records. */
static const char *pickle_zip(const char *file, const char *dir, int proto, const buf *body,
                              int zip64_end)
{
    char name[64];
    buf pkl = {0}, w = {0};
    zipw z = {0};
    zopt o = {.descriptor = 1, .align = 1};
    p_wrap(&pkl, proto, body);
    snprintf(name, sizeof name, "%s/data.pkl", dir);
    z_add(&z, name, pkl.p, pkl.n, o);
    std_storage(0, 0, &w);
    snprintf(name, sizeof name, "%s/data/0", dir);
    z_add(&z, name, w.p, w.n, o);
    snprintf(name, sizeof name, "%s/version", dir);
    z_add(&z, name, "3\n", 2, o);
    free(pkl.p);
    free(w.p);
    return z_finish(&z, zip64_end, file);
}

static const char *evil_zip(const char *file, const char *module, const char *marker, int proto)
{
    buf b = {0};
    char cmd[600];
    snprintf(cmd, sizeof cmd, "touch %s", marker);
    p_global(&b, proto, "collections", "OrderedDict"), op(&b, ')'), op(&b, 'R'), op(&b, '(');
    p_str(&b, proto, "w"), p_tensor(&b, proto, &std_tensors[0], 0);
    p_str(&b, proto, "x");
    p_global(&b, proto, module, "system");
    p_str(&b, proto, cmd), op(&b, 0x85), op(&b, 'R');
    op(&b, 'u'), op(&b, '.');
    const char *path = pickle_zip(file, "evil", proto, &b, 1);
    free(b.p);
    return path;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

START_TEST(os_system_never_runs)
{
    char marker[1024];
    snprintf(marker, sizeof marker, "%s/pwned", g_dir);
    const char *posix = evil_zip("evil-posix.pt", "posix", marker, 2);
    const char *os = evil_zip("evil-os.pt", "os", marker, 4);
    expect_err(posix, LG_E_FORMAT, "global \"posix system\" is not allowed");
    expect_err(os, LG_E_FORMAT, "global \"os system\" is not allowed");
    /* a key that leaves the call outside what is read does not excuse it */
    lg_open_options ko = {.key = "w"};
    expect_err_opt(posix, &ko, LG_E_FORMAT, "global \"posix system\" is not allowed");
    expect_err_opt(os, &ko, LG_E_FORMAT, "global \"os system\" is not allowed");
    ck_assert_msg(!exists(marker), "the command ran");
    /* the harness, as a user runs it */
    char *out;
    char *inspect[] = {"inspect", (char *)posix, "--json", "--backend", "sim", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_inspect, inspect, &out), 1);
    ck_assert(strstr(out, "posix system"));
    free(out);
    char *load[] = {"load", (char *)os, "--device", "mps", "--backend", "sim", "--json", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_load, load, &out), 1);
    ck_assert(strstr(out, "os system"));
    free(out);
    lg_backend *b;
    lg_store *s;
    ck_assert_int_eq(lg_backend_open("sim", &b), LG_OK);
    ck_assert_int_eq(lg_store_new(b, lg_device_cpu(), &s), LG_OK);
    ck_assert_int_eq(lg_store_add(s, "w", LG_F32, 2, (int64_t[]){2, 3}), LG_OK);
    ck_assert_int_eq(lg_store_load(s, posix, NULL, NULL), LG_E_FORMAT);
    lg_store_free(s);
    lg_backend_close(b);
    ck_assert_msg(!exists(marker), "the command ran");
}
END_TEST

START_TEST(pickled_module_refused)
{
    expect_err(INTEROP "/whole_module.pt", LG_E_FORMAT,
               "global \"torch.nn.modules.linear Linear\" is not allowed");
}
END_TEST

/* A model next to an argparse.Namespace and NumPy's RNG state: refused as
 * a whole, naming the first global; with key "model" the model loads,
 * and each refused global outside it is a finding; a key that reaches
 * into a refused part gets that part's error. */
START_TEST(training_checkpoint_with_args)
{
    const char *path = INTEROP "/train_with_args.pt";
    json_t *m = manifest(INTEROP);
    json_t *f = json_object_get(json_object_get(m, "files"), "train_with_args.pt");
    json_t *want = json_object_get(f, "tensors");
    expect_err(path, LG_E_FORMAT, json_string_value(json_object_get(f, "refused")));
    lg_checkpoint *c = open_ok(path, json_string_value(json_object_get(f, "key")), NULL);
    ck_assert_uint_eq(lg_checkpoint_count(c), json_object_size(want));
    for (size_t i = 0; i < lg_checkpoint_count(c); i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        char hex[65];
        void *b = malloc(t->nbytes);
        ck_assert_int_eq(lg_checkpoint_read(c, i, b, t->nbytes), LG_OK);
        tu_sha256(b, t->nbytes, hex);
        ck_assert_str_eq(hex, json_string_value(json_object_get(json_object_get(want, t->name),
                                                                "sha256")));
        free(b);
    }
    ck_assert_uint_eq(lg_checkpoint_findings(c), 2);
    ck_assert(strstr(lg_checkpoint_finding(c, 0), "\"args\" lies outside key \"model\""));
    ck_assert(strstr(lg_checkpoint_finding(c, 0), "global \"argparse Namespace\" is not allowed"));
    ck_assert(strstr(lg_checkpoint_finding(c, 1), "\"rng.1\" lies outside key \"model\""));
    ck_assert(strstr(lg_checkpoint_finding(c, 1), "NumPy objects are not read"));
    lg_checkpoint_close(c);
    lg_open_options o = {.key = "args"};
    expect_err_opt(path, &o, LG_E_FORMAT, "global \"argparse Namespace\" is not allowed");
    o.key = "rng";
    expect_err_opt(path, &o, LG_E_FORMAT, "global \"numpy.core.multiarray _reconstruct\"");
    o.key = "rng.1.dtype"; /* below a refused value: its error, not "not found" */
    expect_err_opt(path, &o, LG_E_FORMAT, "numpy.core.multiarray _reconstruct");
    o.key = "epoch"; /* no tensor there */
    expect_err_opt(path, &o, LG_E_NOTFOUND, "no tensor is named epoch");
    json_decref(m);
}
END_TEST

/* Six refused objects outside the key: four findings, then one that
 * counts the rest. */
START_TEST(many_refused_outside_key)
{
    buf b = {0};
    p_global(&b, 2, "collections", "OrderedDict"), op(&b, ')'), op(&b, 'R'), op(&b, '(');
    p_str(&b, 2, "model"), op(&b, '}'), p_str(&b, 2, "w"), p_tensor(&b, 2, &std_tensors[0], 0);
    op(&b, 's');
    for (int i = 0; i < 6; i++) {
        char k[8];
        snprintf(k, sizeof k, "a%d", i);
        p_str(&b, 2, k), p_global(&b, 2, "argparse", "Namespace"), op(&b, ')'), op(&b, 0x81);
    }
    op(&b, 'u'), op(&b, '.');
    const char *path = pickle_zip("many.pt", "many", 2, &b, 0);
    free(b.p);
    expect_err(path, LG_E_FORMAT, "global \"argparse Namespace\" is not allowed");
    lg_checkpoint *c = open_ok(path, "model", NULL);
    ck_assert_uint_eq(lg_checkpoint_count(c), 1);
    ck_assert_str_eq(lg_checkpoint_tensor(c, 0)->name, "w");
    ck_assert_uint_eq(lg_checkpoint_findings(c), 5);
    ck_assert(strstr(lg_checkpoint_finding(c, 3), "\"a3\" lies outside key \"model\""));
    ck_assert(strstr(lg_checkpoint_finding(c, 4),
                     "2 more refused globals lie outside key \"model\" and are not read"));
    lg_checkpoint_close(c);
}
END_TEST

/* ==================================================================== CRC */

/* A copy of a reference file with one bit flipped in record `rel`. */
static const char *flipped_copy(const char *src, const char *file, const char *rel,
                                uint64_t at, int bit)
{
    size_t n;
    unsigned char *d = tu_read(src, &n);
    ck_assert_ptr_nonnull(d);
    lg__zip z;
    ck_assert_int_eq(lg__zip_open(&z, src, d, n), LG_OK);
    const lg__zip_entry *e = lg__zip_find(&z, rel, strlen(rel));
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_lt(at, e->usize);
    d[e->data + at] ^= (unsigned char)(1u << bit);
    lg__zip_close(&z);
    const char *path = write_file(file, d, n);
    free(d);
    return path;
}

/* Every tensor of path read in turn (crc: the option): the status of the
 * first read that fails, or LG_OK; a failure's message must hold needle,
 * then and on every later read of that tensor, through bytes() too. */
static lg_status read_all(const char *path, const char *crc, const char *needle)
{
    lg_checkpoint *c = open_ok(path, NULL, crc);
    lg_status st = LG_OK;
    for (size_t i = 0; st == LG_OK && i < lg_checkpoint_count(c); i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        unsigned char *b = malloc(t->nbytes + 1);
        st = lg_checkpoint_read(c, i, b, t->nbytes);
        if (st != LG_OK) {
            ck_assert_msg(strstr(lg_error_message(), needle), "message lacks \"%s\": %s",
                          needle, lg_error_message());
            ck_assert_msg(strstr(lg_error_message(), path) == lg_error_message(),
                          "message lacks the path: %s", lg_error_message());
            ck_assert_ptr_null(c->ops->bytes(c, i)); /* never the damaged bytes in place */
            ck_assert_int_eq(lg_checkpoint_read(c, i, b, t->nbytes), st);
            ck_assert(strstr(lg_error_message(), needle));
        }
        free(b);
    }
    lg_checkpoint_close(c);
    return st;
}

/* A tensor record's CRC-32 is checked when its bytes are first read (over
 * the bytes as they are copied), not at open: open succeeds, the read
 * fails. */
START_TEST(crc_mismatch_names_the_record)
{
    const char *p = flipped_copy(PT113 "/mlp_f32.pt", "flip.pt", "mlp_f32/data/2", 100, 3);
    ck_assert_int_eq(read_all(p, NULL, "record \"mlp_f32/data/2\": CRC-32 mismatch"),
                     LG_E_FORMAT);
    /* crc: warn: a finding once the record is read, and the (damaged)
     * bytes load */
    ck_assert_int_eq(read_all(p, "warn", "-"), LG_OK);
    lg_checkpoint *c = open_ok(p, NULL, "warn");
    ck_assert_uint_eq(lg_checkpoint_findings(c), 0);
    size_t k = lg_checkpoint_find(c, "2.weight");
    ck_assert_uint_ne(k, (size_t)-1);
    unsigned char *b = malloc(lg_checkpoint_tensor(c, k)->nbytes);
    ck_assert_int_eq(lg_checkpoint_read(c, k, b, lg_checkpoint_tensor(c, k)->nbytes), LG_OK);
    ck_assert_int_eq(lg_checkpoint_read(c, k, b, lg_checkpoint_tensor(c, k)->nbytes), LG_OK);
    free(b);
    ck_assert_uint_eq(lg_checkpoint_findings(c), 1); /* once, however often it is read */
    ck_assert(strstr(lg_checkpoint_finding(c, 0), "mlp_f32/data/2"));
    ck_assert(strstr(lg_checkpoint_finding(c, 0), "CRC-32 mismatch"));
    lg_checkpoint_close(c);
    c = open_ok(p, NULL, "off");
    ck_assert_uint_eq(lg_checkpoint_findings(c), 0);
    lg_checkpoint_close(c);
    /* inspect shows the finding */
    char *out;
    char *argv[] = {"inspect", (char *)p, "--json", "--backend", "sim", "--crc", "warn", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_inspect, argv, &out), 0);
    ck_assert(strstr(out, "CRC-32 mismatch"));
    free(out);
    char *bad[] = {"inspect", (char *)p, "--crc", "maybe", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_inspect, bad, &out), 2);
    free(out);
    lg_open_options o = {.crc = "maybe"};
    ck_assert_int_eq(lg_checkpoint_open(p, &o, &c), LG_E_INVALID);
    /* the pickle record too */
    p = flipped_copy(PT113 "/mlp_f32.pt", "flip-pkl.pt", "mlp_f32/data.pkl", 400, 0);
    expect_err(p, LG_E_FORMAT, "record \"mlp_f32/data.pkl\": CRC-32 mismatch");
    /* a record no selected tensor uses is not read */
    p = flipped_copy(PT113 "/train_ckpt.pt", "flip-opt.pt", "train_ckpt/data/5", 4, 1);
    ck_assert_int_eq(read_all(p, NULL, "train_ckpt/data/5"), LG_E_FORMAT);
    ck_assert_int_eq(read_all(p, "off", "-"), LG_OK);
    c = open_ok(p, "model", NULL);
    ck_assert_uint_eq(lg_checkpoint_count(c), 4);
    lg_checkpoint_close(c);
}
END_TEST

/* Two records of 36 MiB: a record's own CRC-32 pass (bytes()) runs in
 * 16 MiB chunks on several threads from 32 MiB on, and a flipped bit in
 * a later chunk is still found; read() finds it as it copies, on one
 * thread or several. */
START_TEST(crc_in_chunks_and_threads)
{
    hx_gen g;
    hx_gen_init(&g);
    snprintf(g.format, sizeof g.format, "torch-zip");
    g.tensors = 2, g.ndim = 2, g.shape[0] = 9, g.shape[1] = 1 << 20, g.seed = 3;
    const char *big = tu_path(g_dir, "big.pt");
    ck_assert_int_eq(hx_gen_write(&g, big), LG_OK);
    lg_checkpoint *c = open_ok(big, NULL, NULL);
    ck_assert_uint_eq(lg_checkpoint_count(c), 2);
    for (size_t i = 0; i < 2; i++)
        ck_assert_ptr_nonnull(c->ops->bytes(c, i));
    lg_checkpoint_close(c);
    const char *p = flipped_copy(big, "big-flip.pt", "archive/data/1", (34u << 20) + 7, 5);
    ck_assert_int_eq(read_all(p, NULL, "record \"archive/data/1\": CRC-32 mismatch"),
                     LG_E_FORMAT);
    c = open_ok(p, NULL, NULL);
    size_t k = lg_checkpoint_find(c, "t1");
    ck_assert_uint_ne(k, (size_t)-1);
    ck_assert_ptr_null(c->ops->bytes(c, k));
    ck_assert_ptr_nonnull(c->ops->bytes(c, lg_checkpoint_find(c, "t0")));
    lg_checkpoint_close(c);
    /* a load copies each record on 4 threads, each taking the CRC-32 of
     * its share, joined (crc32_combine): the good file loads, and the bit
     * flipped in the last share is found */
    lg_backend *sim;
    ck_assert_int_eq(lg_backend_open("sim", &sim), LG_OK);
    lg_load_options opt;
    lg_load_options_init(&opt);
    opt.threads = 4;
    const char *files[2] = {big, p};
    for (int f = 0; f < 2; f++) {
        lg_store *st;
        ck_assert_int_eq(lg_store_new(sim, lg_device_cpu(), &st), LG_OK);
        int64_t shape[2] = {9, 1 << 20};
        ck_assert_int_eq(lg_store_add(st, "t0", LG_F32, 2, shape), LG_OK);
        ck_assert_int_eq(lg_store_add(st, "t1", LG_F32, 2, shape), LG_OK);
        lg_status r = lg_store_load(st, files[f], &opt, NULL);
        ck_assert_msg(r == (f ? LG_E_FORMAT : LG_OK), "%s: %s", files[f], lg_error_message());
        if (f)
            ck_assert(strstr(lg_error_message(), "record \"archive/data/1\": CRC-32 mismatch"));
        lg_store_free(st);
    }
    lg_backend_close(sim);
    unlink(big);
}
END_TEST

/* ====================================================== other writers */

START_TEST(crafted_like_other_writers)
{
    static const variant v[] = {
        {"archive", 2, {1, 0, 0, 1}, 1, "little", 0, 0, 0, 0},  /* PyTorch 2.x, as written */
        {"archive", 4, {1, 0, 0, 1}, 1, "little", 1, 0, 0, 0},  /* protocol 4, .format_version */
        {"my model v2", 2, {0, 0, 0, 0}, 0, NULL, 0, 0, 0, 0},  /* no descriptor, no alignment */
        {"a", 4, {0, 0, 1, 0}, 1, NULL, 0, 0, 0, 0},            /* zip64 extra fields */
        {"ckpt", 2, {1, 0, 1, 1}, 1, "little", 1, 0, 0, 0},     /* zip64 descriptors */
        {"x", 2, {0, 1, 0, 0}, 0, NULL, 0, 0, 0, 0},            /* everything deflated */
        {"x", 2, {1, 0, 0, 0}, 0, NULL, 0, 0, 1, 0},            /* data.pkl deflated */
        {"be", 2, {1, 0, 0, 1}, 1, "big", 1, 0, 0, 0},          /* byteorder big */
        {"be", 4, {0, 1, 0, 0}, 0, "big", 0, 0, 0, 0},          /* big and deflated */
        {"archive", 2, {1, 0, 0, 1}, 1, "little", 0, 0, 0, 1},  /* directory last first */
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "variant-%zu.pt", i);
        check_std(write_variant(name, &v[i]), "torch-zip");
    }
}
END_TEST

/* The std tensors with storage k keyed keys[k] (record data/<keys[k]>). */
static const char *write_keyed(const char *file, const char *const keys[5])
{
    tdesc t[NSTD];
    zipw z = {0};
    zopt o = {.descriptor = 1, .align = 1};
    buf pkl = {0}, data = {0};
    char name[256];
    memcpy(t, std_tensors, sizeof t);
    for (int i = 0; i < NSTD; i++)
        t[i].key = keys[atoi(std_tensors[i].key)];
    p_state_dict(&pkl, 2, t, NSTD, 0);
    z_add(&z, "k/data.pkl", pkl.p, pkl.n, o);
    for (int k = 0; k < 5; k++) {
        std_storage(k, 0, &data);
        snprintf(name, sizeof name, "k/data/%s", keys[k]);
        z_add(&z, name, data.p, data.n, o);
    }
    z_add(&z, "k/version", "3\n", 2, o);
    free(pkl.p);
    free(data.p);
    return z_finish(&z, 0, file);
}

/* torch.save keys storages "0", "1", ... in the order it meets them, and
 * the reader takes storage k as the k-th while that holds. Any other key
 * is a key still: out of order, not a number, a number with leading
 * zeros (not the same storage as without them), too long for 64 bits,
 * from the start or after a few. */
START_TEST(storage_keys_any_text)
{
    static const char *const keys[][5] = {
        {"0", "1", "2", "3", "4"},
        {"0", "2", "1", "3", "4"},
        {"a", "b", "c", "d", "e"},
        {"0", "01", "1", "001", "10"},
        {"1", "0", "2", "3", "4"},
        {"0", "1", "2", "3", "99999999999999999999"},
        {"0", "1", "x", "2", "3"},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "keyed-%zu.pt", i);
        check_std(write_keyed(name, keys[i]), "torch-zip");
    }
}
END_TEST

/* n tensors "t<i>" of one f32 (i), storage i keyed key(i): the keys met
 * so far move to the hash table when 70 storages are already known (a
 * table past its first size), or from the first key. */
static void many_keyed(int n, int variant)
{
    tdesc *t = calloc((size_t)n, sizeof *t);
    char (*names)[16] = calloc((size_t)n, sizeof *names), (*keys)[16] = calloc((size_t)n, 16);
    zipw z = {0};
    zopt o = {.descriptor = 1, .align = 1};
    buf pkl = {0};
    char rec[64];
    ck_assert(t && names && keys);
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "t%d", i);
        if (variant == 0)
            snprintf(keys[i], sizeof keys[i], i < 70 ? "%d" : "x%d", i);
        else
            snprintf(keys[i], sizeof keys[i], "%d", n - 1 - i);
        t[i] = (tdesc){names[i], "FloatStorage", keys[i], 1, 0, 1, {1}, {1}};
    }
    p_state_dict(&pkl, 2, t, n, 0);
    z_add(&z, "m/data.pkl", pkl.p, pkl.n, o);
    for (int i = 0; i < n; i++) {
        float v = (float)i;
        snprintf(rec, sizeof rec, "m/data/%s", keys[i]);
        z_add(&z, rec, &v, sizeof v, o);
    }
    z_add(&z, "m/version", "3\n", 2, o);
    snprintf(rec, sizeof rec, "many-keyed-%d.pt", variant);
    lg_checkpoint *c = open_ok(z_finish(&z, 0, rec), NULL, NULL);
    ck_assert_uint_eq(lg_checkpoint_count(c), (size_t)n);
    for (int i = 0; i < n; i++) {
        float v = -1;
        size_t k = lg_checkpoint_find(c, names[i]);
        ck_assert_uint_ne(k, (size_t)-1);
        ck_assert_int_eq(lg_checkpoint_read(c, k, &v, sizeof v), LG_OK);
        ck_assert_msg(v == (float)i, "%s reads %g", names[i], (double)v);
    }
    lg_checkpoint_close(c);
    free(pkl.p);
    free(t);
    free(names);
    free(keys);
}

START_TEST(storage_keys_many) { many_keyed(300, _i); }
END_TEST

START_TEST(big_endian_is_swapped)
{
    variant v = {"be", 2, {1, 0, 0, 1}, 1, "big", 0, 0, 0, 0};
    lg_checkpoint *c = open_ok(write_variant("be.pt", &v), NULL, NULL);
    float w[6];
    ck_assert_int_eq(lg_checkpoint_read(c, 0, w, sizeof w), LG_OK);
    ck_assert(w[1] == -1.25f && w[5] == 5.5f);
    ck_assert_ptr_null(c->ops->bytes(c, 0)); /* swapped on read, never in place */
    lg_checkpoint_close(c);
}
END_TEST

START_TEST(missing_version_is_a_finding)
{
    variant v = {"nov", 2, {1, 0, 0, 1}, 1, "little", 0, 1, 0, 0};
    lg_checkpoint *c = open_ok(write_variant("nov.pt", &v), NULL, NULL);
    ck_assert_uint_eq(lg_checkpoint_findings(c), 1);
    ck_assert(strstr(lg_checkpoint_finding(c, 0), "no version record"));
    lg_checkpoint_close(c);
}
END_TEST

/* `generate: {format: torch-zip}` writes what torch.save writes: the same
 * tensors as the safetensors generator from the same spec. */
START_TEST(generator_torch_zip)
{
    hx_gen g;
    static const lg_dtype all[] = {LG_F64, LG_F32, LG_F16, LG_BF16, LG_I64, LG_I32, LG_I16,
                                   LG_I8, LG_U8, LG_BOOL};
    for (int kind = 0; kind < 4; kind++) {
        hx_gen_init(&g);
        g.seed = 11 + (uint64_t)kind;
        if (kind == 0)
            g.ndtypes = 10, memcpy(g.dtypes, all, sizeof all), g.shape[0] = 3, g.shape[1] = 5;
        if (kind == 1)
            g.ndim = 0, g.tensors = 3;
        if (kind == 2)
            g.tensors = 0;
        if (kind == 3) /* records and storages past their tables' first sizes */
            g.tensors = 3000, g.ndim = 1, g.shape[0] = 2;
        char name[256];
        snprintf(g.format, sizeof g.format, "torch-zip");
        hx_gen_filename(&g, name, sizeof name);
        ck_assert_msg(strstr(name, ".pt") == name + strlen(name) - 3, "%s", name);
        const char *pt = tu_path(g_dir, name);
        ck_assert_int_eq(hx_gen_write(&g, pt), LG_OK);
        snprintf(g.format, sizeof g.format, "safetensors");
        const char *st = tu_path(g_dir, "same.safetensors");
        ck_assert_int_eq(hx_gen_write(&g, st), LG_OK);
        lg_checkpoint *a = open_ok(pt, NULL, NULL), *b = open_ok(st, NULL, NULL);
        ck_assert_str_eq(lg_checkpoint_format(a), "torch-zip");
        ck_assert_uint_eq(lg_checkpoint_count(a), lg_checkpoint_count(b));
        for (size_t i = 0; i < lg_checkpoint_count(a); i++) {
            const lg_tensor_info *x = lg_checkpoint_tensor(a, i), *y = lg_checkpoint_tensor(b, i);
            ck_assert_str_eq(x->name, y->name);
            ck_assert_int_eq(x->dtype, y->dtype);
            ck_assert(lg__shape_equal(x->ndim, x->shape, y->ndim, y->shape));
            ck_assert_ptr_nonnull(a->ops->bytes(a, i));
            ck_assert(!memcmp(a->ops->bytes(a, i), b->ops->bytes(b, i), x->nbytes));
        }
        lg_checkpoint_close(a);
        lg_checkpoint_close(b);
    }
}
END_TEST

/* =============================================================== nesting */

START_TEST(nested_names_and_key)
{
    json_t *m = manifest(PT113);
    json_t *want = json_object_get(json_object_get(json_object_get(m, "files"), "train_ckpt.pt"),
                                   "tensors");
    lg_checkpoint *c = open_ok(PT113 "/train_ckpt.pt", NULL, NULL);
    ck_assert_uint_eq(lg_checkpoint_count(c), 8);
    ck_assert(lg_checkpoint_find(c, "model.0.weight") != (size_t)-1);
    ck_assert(lg_checkpoint_find(c, "optimizer.state.0.momentum_buffer") != (size_t)-1);
    lg_checkpoint_close(c);
    c = open_ok(PT113 "/train_ckpt.pt", "model", NULL);
    ck_assert_uint_eq(lg_checkpoint_count(c), 4);
    for (size_t i = 0; i < 4; i++) {
        char full[128], hex[65];
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        snprintf(full, sizeof full, "model.%s", t->name);
        void *b = malloc(t->nbytes);
        ck_assert_int_eq(lg_checkpoint_read(c, i, b, t->nbytes), LG_OK);
        tu_sha256(b, t->nbytes, hex);
        ck_assert_str_eq(hex, json_string_value(json_object_get(json_object_get(want, full),
                                                                "sha256")));
        free(b);
    }
    lg_checkpoint_close(c);
    c = open_ok(PT113 "/train_ckpt.pt", "optimizer.state.0", NULL);
    ck_assert_uint_eq(lg_checkpoint_count(c), 1);
    ck_assert_str_eq(lg_checkpoint_tensor(c, 0)->name, "momentum_buffer");
    lg_checkpoint_close(c);
    c = open_ok(PT113 "/train_ckpt.pt", "model.0.weight", NULL);
    ck_assert_str_eq(lg_checkpoint_tensor(c, 0)->name, "model.0.weight");
    lg_checkpoint_close(c);
    lg_open_options o = {.key = "epoch"};
    ck_assert_int_eq(lg_checkpoint_open(PT113 "/train_ckpt.pt", &o, &c), LG_E_NOTFOUND);
    ck_assert(strstr(lg_error_message(), "top-level keys: model, optimizer, epoch"));
    o.key = "model";
    ck_assert_int_eq(lg_checkpoint_open(LG_SOURCE_DIR "/tests/data/safetensors-0.8/"
                                        "mlp_f32.safetensors", &o, &c), LG_E_INVALID);
    ck_assert(strstr(lg_error_message(), "safetensors file holds no nested objects"));
    json_decref(m);
}
END_TEST

START_TEST(key_through_the_harness)
{
    char *out;
    char *inspect[] = {"inspect", PT113 "/train_ckpt.pt", "--json", "--backend", "sim",
                       "--key", "model", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_inspect, inspect, &out), 0);
    json_t *j = json_loads(out, 0, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "tensors")), 4);
    json_decref(j);
    free(out);
    char *load[] = {"load", PT113 "/train_ckpt.pt", "--device", "mps", "--backend", "sim",
                    "--policy", "staged", "--key", "model", "--json", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_load, load, &out), 0);
    j = json_loads(out, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "LG_OK");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "invariants"),
                                                       "values")), "pass");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "stats"), "tensors")),
                     4);
    json_decref(j);
    free(out);
}
END_TEST

/* A pickle whose root is `root_body` (an opcode string after PROTO 2),
 * with data/0 = W, in archive "n". */
static const char *with_pickle(const char *file, const buf *body)
{
    return pickle_zip(file, "n", 2, body, 0);
}

START_TEST(lists_cycles_and_clashes)
{
    buf b = {0};
    /* {"a": [t, {"b": t}], "n": 3, 7: t, (1,): t} */
    op(&b, '}'), op(&b, '(');
    p_str(&b, 2, "a"), op(&b, ']'), op(&b, '(');
    p_tensor(&b, 2, &std_tensors[0], 0), op(&b, 'q'), op(&b, 0);
    op(&b, '}'), p_str(&b, 2, "b"), op(&b, 'h'), op(&b, 0), op(&b, 's');
    op(&b, 'e');
    p_str(&b, 2, "n"), p_int(&b, 3);
    p_int(&b, 7), op(&b, 'h'), op(&b, 0);
    p_int(&b, 1), op(&b, 0x85), op(&b, 'h'), op(&b, 0);
    op(&b, 'u'), op(&b, '.');
    lg_checkpoint *c = open_ok(with_pickle("lists.pt", &b), NULL, NULL);
    ck_assert_uint_eq(lg_checkpoint_count(c), 3);
    ck_assert_str_eq(lg_checkpoint_tensor(c, 0)->name, "a.0");
    ck_assert_str_eq(lg_checkpoint_tensor(c, 1)->name, "a.1.b");
    ck_assert_str_eq(lg_checkpoint_tensor(c, 2)->name, "7");
    ck_assert_uint_eq(lg_checkpoint_findings(c), 1); /* the tuple key */
    ck_assert(strstr(lg_checkpoint_finding(c, 0), "dict keys that are a tuple are skipped"));
    lg_checkpoint_close(c);
    /* {"a.b": t, "a": {"b": t}} */
    b.n = 0;
    op(&b, '}'), op(&b, '(');
    p_str(&b, 2, "a.b"), p_tensor(&b, 2, &std_tensors[0], 0), op(&b, 'q'), op(&b, 0);
    p_str(&b, 2, "a"), op(&b, '}'), p_str(&b, 2, "b"), op(&b, 'h'), op(&b, 0), op(&b, 's');
    op(&b, 'u'), op(&b, '.');
    expect_err(with_pickle("clash.pt", &b), LG_E_FORMAT, "two tensors are named \"a.b\"");
    /* a list that holds itself */
    b.n = 0;
    op(&b, ']'), op(&b, 'q'), op(&b, 0), op(&b, 'h'), op(&b, 0), op(&b, 'a'), op(&b, '.');
    expect_err(with_pickle("cycle.pt", &b), LG_E_FORMAT, "nest deeper than 64 levels");
    /* a DAG that doubles at every level: 2^40 paths from 120 bytes */
    b.n = 0;
    op(&b, ']');
    for (int i = 0; i < 40; i++)
        op(&b, 'q'), op(&b, 0), op(&b, 'h'), op(&b, 0), op(&b, 0x86);
    op(&b, '.');
    expect_err(with_pickle("dag.pt", &b), LG_E_FORMAT, "shares its parts too often");
    /* a lone tensor */
    b.n = 0;
    p_tensor(&b, 2, &std_tensors[0], 0), op(&b, '.');
    c = open_ok(with_pickle("lone.pt", &b), NULL, NULL);
    ck_assert_str_eq(lg_checkpoint_tensor(c, 0)->name, "tensor");
    lg_checkpoint_close(c);
    /* nothing but an int: no tensors, not an error */
    b.n = 0;
    p_int(&b, 5), op(&b, '.');
    c = open_ok(with_pickle("int.pt", &b), NULL, NULL);
    ck_assert_uint_eq(lg_checkpoint_count(c), 0);
    lg_checkpoint_close(c);
    free(b.p);
}
END_TEST

/* ================================================================ rules */

/* One tensor (desc) over data/0 holding `n` bytes of W. */
static const char *one_tensor(const char *file, const tdesc *t, size_t n)
{
    buf b = {0};
    op(&b, '}'), p_str(&b, 2, t->name), p_tensor(&b, 2, t, 0), op(&b, 's'), op(&b, '.');
    buf pkl = {0};
    zipw z = {0};
    zopt o = {.descriptor = 1, .align = 1};
    unsigned char data[64] = {0};
    memcpy(data, W, sizeof W);
    p_wrap(&pkl, 2, &b);
    z_add(&z, "t/data.pkl", pkl.p, pkl.n, o);
    z_add(&z, "t/data/0", data, n, o);
    free(pkl.p);
    free(b.p);
    return z_finish(&z, 0, file);
}

START_TEST(view_rules)
{
    tdesc t = {"t", "FloatStorage", "0", 6, 0, 2, {2, 3}, {3, 1}};
    lg_checkpoint_close(open_ok(one_tensor("ok.pt", &t, 24), NULL, NULL));
    expect_err(one_tensor("size.pt", &t, 20), LG_E_FORMAT,
               "record \"t/data/0\" holds 20 bytes, but storage \"0\" is 6 elements of float32");
    t.stride[0] = 4;
    expect_err(one_tensor("past.pt", &t, 24), LG_E_FORMAT,
               "tensor \"t\": view [2, 3] at offset 0 reaches past the 6 elements of storage "
               "\"0\"");
    t.stride[0] = 3, t.offset = 1;
    expect_err(one_tensor("offset.pt", &t, 24), LG_E_FORMAT, "reaches past");
    t.offset = 0, t.stride[0] = INT64_MAX;
    expect_err(one_tensor("huge.pt", &t, 24), LG_E_FORMAT, "reaches past");
    t.stride[0] = 3, t.shape[0] = -2;
    expect_err(one_tensor("neg.pt", &t, 24), LG_E_FORMAT, "size[0] is -2, not a non-negative int");
    t.shape[0] = 2, t.offset = -1;
    expect_err(one_tensor("negoff.pt", &t, 24), LG_E_FORMAT, "storage offset -1 is negative");
    t.offset = 0, t.ndim = 9;
    for (int d = 0; d < 9; d++)
        t.shape[d] = 1, t.stride[d] = 1;
    expect_err(one_tensor("dims.pt", &t, 24), LG_E_FORMAT, "has 9 dimensions; at most 8");
    tdesc cplx = {"c", "ComplexFloatStorage", "0", 3, 0, 1, {3}, {1}};
    expect_err(one_tensor("cplx.pt", &cplx, 24), LG_E_FORMAT,
               "tensor \"c\": dtype complex64 is not supported");
    tdesc key = {"k", "FloatStorage", "9", 6, 0, 1, {6}, {1}};
    expect_err(one_tensor("key.pt", &key, 24), LG_E_FORMAT,
               "storage \"9\": the archive has no record t/data/9");
    tdesc wrong = {"w", "FloatStorage", "0", 5, 0, 1, {5}, {1}};
    expect_err(one_tensor("numel.pt", &wrong, 24), LG_E_FORMAT, "holds 24 bytes");
    /* a 0-stride view (expand) and an empty view at any offset are fine */
    tdesc ex = {"x", "FloatStorage", "0", 6, 5, 2, {4, 3}, {0, 0}};
    lg_checkpoint *c = open_ok(one_tensor("expand.pt", &ex, 24), NULL, NULL);
    float v[12];
    ck_assert_int_eq(lg_checkpoint_read(c, 0, v, sizeof v), LG_OK);
    ck_assert(v[0] == W[5] && v[11] == W[5]);
    lg_checkpoint_close(c);
    tdesc em = {"e", "FloatStorage", "0", 6, 1000, 2, {0, 4}, {4, 1}};
    c = open_ok(one_tensor("empty.pt", &em, 24), NULL, NULL);
    ck_assert_uint_eq(lg_checkpoint_tensor(c, 0)->nbytes, 0);
    lg_checkpoint_close(c);
}
END_TEST

START_TEST(storage_rules)
{
    buf b = {0};
    tdesc a = {"a", "FloatStorage", "0", 6, 0, 1, {6}, {1}};
    tdesc a2 = {"b", "FloatStorage", "0", 5, 0, 1, {5}, {1}};
    op(&b, '}'), op(&b, '(');
    p_str(&b, 2, "a"), p_tensor(&b, 2, &a, 0), p_str(&b, 2, "b"), p_tensor(&b, 2, &a2, 0);
    op(&b, 'u'), op(&b, '.');
    expect_err(with_pickle("twosizes.pt", &b), LG_E_FORMAT,
               "storage \"0\" is referenced as 24 bytes and as 20 bytes");
    /* persistent ids of the wrong shape */
    b.n = 0;
    op(&b, '('), p_str(&b, 2, "module"), op(&b, 't'), op(&b, 'Q'), op(&b, '.');
    expect_err(with_pickle("pid.pt", &b), LG_E_FORMAT, "persistent id is a tuple of 1, not");
    b.n = 0;
    op(&b, '('), p_str(&b, 2, "storage"), p_global(&b, 2, "torch", "Size"), p_str(&b, 2, "0");
    p_str(&b, 2, "cpu"), p_int(&b, 6), op(&b, 't'), op(&b, 'Q'), op(&b, '.');
    expect_err(with_pickle("pidtype.pt", &b), LG_E_FORMAT, "the storage type is a global, not");
    b.n = 0;
    op(&b, '('), p_str(&b, 2, "storage"), p_global(&b, 2, "torch", "FloatStorage");
    p_int(&b, 0), p_str(&b, 2, "cpu"), p_int(&b, 6), op(&b, 't'), op(&b, 'Q'), op(&b, '.');
    expect_err(with_pickle("pidkey.pt", &b), LG_E_FORMAT, "key an int, location a str");
    /* an UntypedStorage (bytes) under a v3 tensor of int16 */
    b.n = 0;
    op(&b, '}'), p_str(&b, 2, "u");
    p_global(&b, 2, "torch._utils", "_rebuild_tensor_v3"), op(&b, '('), op(&b, '(');
    p_str(&b, 2, "storage"), p_global(&b, 2, "torch", "UntypedStorage"), p_str(&b, 2, "0");
    p_str(&b, 2, "cpu"), p_int(&b, 24), op(&b, 't'), op(&b, 'Q');
    p_int(&b, 2), p_ints(&b, 1, (int64_t[]){3}), p_ints(&b, 1, (int64_t[]){1}), op(&b, 0x89);
    p_global(&b, 2, "collections", "OrderedDict"), op(&b, ')'), op(&b, 'R');
    p_global(&b, 2, "torch", "int16"), op(&b, 't'), op(&b, 'R'), op(&b, 's'), op(&b, '.');
    lg_checkpoint *c = open_ok(with_pickle("v3.pt", &b), NULL, NULL);
    ck_assert_int_eq(lg_checkpoint_tensor(c, 0)->dtype, LG_I16);
    int16_t v[3];
    ck_assert_int_eq(lg_checkpoint_read(c, 0, v, sizeof v), LG_OK);
    ck_assert(!memcmp(v, (const unsigned char *)W + 4, 6)); /* from byte 2 * 2 */
    lg_checkpoint_close(c);
    free(b.p);
}
END_TEST

/* Mutations of a valid crafted archive. */
static unsigned char *valid_zip(size_t *n, const variant *v)
{
    const char *p = write_variant("base.pt", v);
    unsigned char *d = tu_read(p, n);
    ck_assert_ptr_nonnull(d);
    return d;
}

static size_t find_bytes(const unsigned char *d, size_t n, const void *s, size_t k, int nth)
{
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(d + i, s, k) && nth-- == 0)
            return i;
    ck_abort_msg("pattern not found");
    return 0;
}

START_TEST(zip_rules)
{
    variant v = {"z", 2, {0, 0, 0, 0}, 0, "little", 0, 0, 0, 0};
    size_t n, at;
    unsigned char *d = valid_zip(&n, &v), *m = malloc(n + 64);
    const unsigned char eocd[] = {0x50, 0x4b, 5, 6}, cen[] = {0x50, 0x4b, 1, 2};
    const unsigned char loc[] = {0x50, 0x4b, 3, 4};
#define MUTATE(file, stmt, want)              \
    do {                                      \
        memcpy(m, d, n);                      \
        size_t len = n;                       \
        stmt;                                 \
        expect_err(write_file(file, m, len), LG_E_FORMAT, want); \
    } while (0)
    at = find_bytes(d, n, eocd, 4, 0);
    MUTATE("short.pt", len = 21, "unknown checkpoint format");
    lg_open_options forced = {.reader = "torch-zip"};
    lg_checkpoint *fc = NULL;
    ck_assert_int_eq(lg_checkpoint_open(tu_path(g_dir, "short.pt"), &forced, &fc), LG_E_FORMAT);
    ck_assert(strstr(lg_error_message(), "too small for the 22-byte end of central directory"));
    MUTATE("noeocd.pt", len = at, "no end of central directory record");
    MUTATE("cdoff.pt", m[at + 16]++, "does not end where the end records begin");
    MUTATE("count.pt", (m[at + 10] = 0xff, m[at + 8] = 0xff), "cannot fit in a central directory");
    MUTATE("disk.pt", m[at + 4] = 1, "multi-disk archives are not supported");
    MUTATE("zip64.pt", m[at + 16] = m[at + 17] = m[at + 18] = m[at + 19] = 0xff,
           "defers to a zip64 record, but there is no zip64 locator");
    size_t c0 = find_bytes(d, n, cen, 4, 0);
    MUTATE("censig.pt", m[c0 + 3] = 9, "central directory entry 0 at");
    MUTATE("cenname.pt", m[c0 + 28] = 0, "has an empty name");
    MUTATE("nul.pt", m[c0 + 46 + 1] = 0, "has a NUL byte in its name");
    MUTATE("enc.pt", m[c0 + 8] |= 1, "is encrypted");
    MUTATE("method.pt", (m[c0 + 10] = 12, m[8] = 12), "compression method 12 is not supported");
    MUTATE("methodlocal.pt", m[8] = 8, "disagrees with the central directory (method 0");
    MUTATE("localoff.pt", m[c0 + 42] = 7, "no local header at 7");
    MUTATE("localname.pt", m[30] = 'Q', "local header at 0 names \"Q/data.pkl\"");
    MUTATE("localcrc.pt", m[14] ^= 1, "local header (CRC");
    MUTATE("stored.pt", (m[c0 + 20]--, m[18]--), "is stored, yet its sizes differ");
    MUTATE("extra.pt", (m[c0 + 30] = 3, memmove(m + c0 + 59, m + c0 + 56, n - c0 - 56),
                        len += 3, m[len - 22 + 12] += 3), "extra field has 3 stray bytes");
    /* not in a folder; no data.pkl */
    size_t l1 = find_bytes(d, n, loc, 4, 1), c1 = find_bytes(d, n, cen, 4, 1);
    memcpy(m, d, n), memcpy(m + 30, "zzdata.pkl", 10), memcpy(m + c0 + 46, "zzdata.pkl", 10);
    expect_err_opt(write_file("nofolder.pt", m, n), &forced, LG_E_FORMAT,
                   "record \"zzdata.pkl\" is not in a folder");
    memcpy(m, d, n), memcpy(m + 32, "x", 1), memcpy(m + c0 + 48, "x", 1);
    expect_err_opt(write_file("nopkl.pt", m, n), &forced, LG_E_FORMAT, "no record z/data.pkl");
    MUTATE("byteorder.pt", (memcpy(m + l1 + 30 + 12, "XX", 2)), "CRC-32 mismatch");
    (void)c1;
    free(d);
    /* byteorder, version, alignment values */
    zipw z = {0};
    zopt o = {0};
    buf pkl = {0};
    p_state_dict(&pkl, 2, std_tensors, 1, 0);
    z_add(&z, "q/data.pkl", pkl.p, pkl.n, o), z_add(&z, "q/byteorder", "middle", 6, o);
    expect_err(z_finish(&z, 0, "bo.pt"), LG_E_FORMAT, "says \"middle\"; little or big expected");
    z_add(&z, "q/data.pkl", pkl.p, pkl.n, o), z_add(&z, "q/version", "x3\n", 3, o);
    expect_err(z_finish(&z, 0, "ver.pt"), LG_E_FORMAT,
               "record \"q/version\" says \"x3\", not a number");
    z_add(&z, "q/data.pkl", pkl.p, pkl.n, o), z_add(&z, "q/.storage_alignment", "48", 2, o);
    expect_err(z_finish(&z, 0, "align.pt"), LG_E_FORMAT, "48, not a power of two");
    z_add(&z, "q/data.pkl", pkl.p, pkl.n, o), z_add(&z, "q/data.pkl", pkl.p, pkl.n, o);
    expect_err(z_finish(&z, 0, "dup.pt"), LG_E_FORMAT, "appears twice in the central directory");
    z_add(&z, "q/data.pkl", pkl.p, pkl.n, o);
    char longer[64];
    memset(longer, 'l', sizeof longer);
    z_add(&z, "q/byteorder", longer, sizeof longer, o);
    expect_err(z_finish(&z, 0, "long.pt"), LG_E_FORMAT, "holds 64 bytes; at most 63 expected");
    /* a record hidden inside another's data: overlap, whatever order the
     * central directory lists them in */
    zipw inner = {0};
    z_add(&inner, "q/data/0", W, sizeof W, o);
    size_t inner_len = inner.memlen;
    unsigned char *hidden = malloc(inner_len);
    memcpy(hidden, inner.mem, inner_len);
    hx_zipw_free(&inner);
    for (int rev = 0; rev < 2; rev++) {
        z_add(&z, "q/data.pkl", pkl.p, pkl.n, o);
        uint64_t outer_at = z.off;
        z_add(&z, "q/blob", hidden, inner_len, o);
        hx_zip_entry e = {.name = "q/data/0",
                          .crc = (uint32_t)crc32(0L, (const Bytef *)W, sizeof W),
                          .csize = sizeof W, .usize = sizeof W,
                          .local = outer_at + HX_ZIP_LOCAL_SIZE + 6, .version = 20};
        ck_assert_int_eq(hx_zipw_add_entry(&z, &e), LG_OK);
        if (rev)
            reverse_cd(&z);
        expect_err(z_finish(&z, 0, rev ? "overlap-rev.pt" : "overlap.pt"), LG_E_FORMAT,
                   "overlap");
    }
    free(hidden);
    /* a data descriptor that disagrees */
    zopt dd = {.descriptor = 1};
    z_add(&z, "q/data.pkl", pkl.p, pkl.n, dd);
    z.mem[z.memlen - 1] ^= 1;
    expect_err(z_finish(&z, 0, "desc.pt"), LG_E_FORMAT, "the data descriptor at");
    /* corrupt deflated data */
    zopt df = {.deflate = 1};
    z_add(&z, "q/data.pkl", pkl.p, pkl.n, df);
    z.mem[z.memlen - 3] ^= 0x55;
    lg_checkpoint *c = NULL;
    const char *p = z_finish(&z, 0, "inflate.pt");
    lg_status st = lg_checkpoint_open(p, NULL, &c);
    ck_assert_int_eq(st, LG_E_FORMAT);
    ck_assert_msg(strstr(lg_error_message(), "deflated data is corrupt") ||
                  strstr(lg_error_message(), "CRC-32 mismatch"), "%s", lg_error_message());
    free(pkl.p);
    free(m);
#undef MUTATE
}
END_TEST

START_TEST(zip64_rules)
{
    variant v = {"z", 2, {0, 0, 1, 0}, 1, NULL, 0, 0, 0, 0};
    size_t n;
    unsigned char *d = valid_zip(&n, &v), *m = malloc(n);
    const unsigned char loc64[] = {0x50, 0x4b, 6, 7}, rec64[] = {0x50, 0x4b, 6, 6};
    size_t l = find_bytes(d, n, loc64, 4, 0), r = find_bytes(d, n, rec64, 4, 0);
    memcpy(m, d, n), m[l + 8] = 0xff;
    expect_err(write_file("z64loc.pt", m, n), LG_E_FORMAT, "does not leave its 56 bytes");
    memcpy(m, d, n), m[r + 1] = 0;
    expect_err(write_file("z64sig.pt", m, n), LG_E_FORMAT, "no zip64 end of central directory");
    memcpy(m, d, n), m[r + 24]++, m[r + 32]++;
    expect_err(write_file("z64count.pt", m, n), LG_E_FORMAT, "central directory entry");
    memcpy(m, d, n), m[n - 22 + 8] = m[n - 22 + 10] = 3, m[n - 22 + 9] = m[n - 22 + 11] = 0;
    expect_err(write_file("z64agree.pt", m, n), LG_E_FORMAT,
               "end of central directory says entry count 3, the zip64 record says");
    /* the central directory's zip64 extra block, cut */
    const unsigned char cen[] = {0x50, 0x4b, 1, 2};
    size_t c0 = find_bytes(d, n, cen, 4, 0);
    memcpy(m, d, n), m[c0 + 46 + 10 + 2] = 8;
    expect_err(write_file("z64extra.pt", m, n), LG_E_FORMAT, "zip64 extra block holds 8 bytes");
    free(d);
    free(m);
}
END_TEST

/* =============================================================== legacy */

static const char legacy_head[] =
    "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19." /* magic */
    "\x80\x02M\xe9\x03."                                        /* 1001 */
    "\x80\x02}(U\x10protocol_versionM\xe9\x03U\x0dlittle_endian\x88u."; /* sys info */

/* The legacy format: head, pickle of std tensors 0..2, keys, storages. */
static const char *legacy_file(const char *file, int proto_version, int64_t numel0,
                               const char *keys_extra, size_t trailing)
{
    buf f = {0}, b = {0};
    put(&f, legacy_head, sizeof legacy_head - 1);
    if (proto_version != 1001) {
        f.n = 0;
        put(&f, legacy_head, 15);
        op(&f, 0x80), op(&f, 2), p_int(&f, proto_version), op(&f, '.');
        put(&f, legacy_head + 21, sizeof legacy_head - 1 - 21);
    }
    p_state_dict(&f, 2, std_tensors, 3, 1);
    op(&b, ']'), op(&b, '(');
    p_str(&b, 2, "0"), p_str(&b, 2, "1"), p_str(&b, 2, "2");
    if (keys_extra)
        p_str(&b, 2, keys_extra);
    op(&b, 'e'), op(&b, '.');
    p_wrap(&f, 2, &b);
    for (int k = 0; k < 3; k++) {
        buf s = {0};
        std_storage(k, 0, &s);
        le(&f, k == 0 ? (uint64_t)numel0 : (uint64_t)std_tensors[k].numel, 8);
        put(&f, s.p, s.n);
        free(s.p);
    }
    for (size_t i = 0; i < trailing; i++)
        op(&f, 0);
    const char *p = write_file(file, f.p, f.n);
    free(f.p);
    free(b.p);
    return p;
}

START_TEST(legacy_crafted)
{
    lg_checkpoint *c = open_ok(legacy_file("legacy.pt", 1001, 6, NULL, 0), NULL, NULL);
    ck_assert_str_eq(lg_checkpoint_format(c), "torch-legacy");
    ck_assert_uint_eq(lg_checkpoint_count(c), 3);
    float w[6];
    ck_assert_int_eq(lg_checkpoint_read(c, 0, w, sizeof w), LG_OK);
    ck_assert(!memcmp(w, W, sizeof W));
    ck_assert_uint_eq(lg_checkpoint_findings(c), 0);
    lg_checkpoint_close(c);
    c = open_ok(legacy_file("trail.pt", 1001, 6, NULL, 5), NULL, NULL);
    ck_assert_uint_eq(lg_checkpoint_findings(c), 1);
    ck_assert(strstr(lg_checkpoint_finding(c, 0), "5 bytes after the last storage"));
    lg_checkpoint_close(c);
    expect_err(legacy_file("proto.pt", 1000, 6, NULL, 0), LG_E_FORMAT,
               "protocol version 1000, 1001 expected");
    expect_err(legacy_file("numel.pt", 1001, 7, NULL, 0), LG_E_FORMAT,
               "storage \"0\" at byte");
    expect_err(legacy_file("dupkey.pt", 1001, 6, "1", 0), LG_E_FORMAT, "(1) is listed twice");
    expect_err(legacy_file("unknown.pt", 1001, 6, "77", 0), LG_E_FORMAT,
               "not a storage the pickle references");
    c = open_ok(legacy_file("key.pt", 1001, 6, NULL, 0), "h", NULL);
    ck_assert_uint_eq(lg_checkpoint_count(c), 1);
    lg_checkpoint_close(c);
    /* the magic number is checked even when the reader is forced */
    lg_open_options o = {.reader = "torch-legacy"};
    ck_assert_int_eq(lg_checkpoint_open(PT113 "/mlp_f32.pt", &o, &c), LG_E_FORMAT);
    ck_assert(strstr(lg_error_message(), "no magic number"));
}
END_TEST

/* ============================================================ robustness */

/* Every prefix of the file: an error, never a crash or a leak. */
static void every_truncation(const char *src)
{
    size_t n;
    unsigned char *d = tu_read(src, &n);
    ck_assert_ptr_nonnull(d);
    const char *p = tu_path(g_dir, "trunc.pt");
    for (size_t k = 0; k < n; k++) {
        lg_checkpoint *c = NULL;
        ck_assert_int_eq(tu_write(p, d, k), 0);
        lg_status st = lg_checkpoint_open(p, NULL, &c);
        ck_assert_msg(st != LG_OK || k == n, "%s cut to %zu bytes opened", src, k);
        ck_assert_ptr_null(c);
    }
    free(d);
}

START_TEST(truncated_everywhere)
{
    every_truncation(PT113 "/mlp_f32.pt");
    every_truncation(PT113 "/mixed_legacy.pt");
}
END_TEST

/* Every byte inverted in turn: open and read whatever opens. With CRC
 * checks on, a zip never loads damaged tensor bytes silently: a read
 * fails with the record's CRC-32 mismatch, or gives the right bytes. */
static void every_flip(const char *src, int zip)
{
    size_t n;
    unsigned char *d = tu_read(src, &n);
    ck_assert_ptr_nonnull(d);
    lg_checkpoint *ref = open_ok(src, NULL, NULL);
    const char *p = tu_path(g_dir, "flip.pt");
    for (size_t k = 0; k < n; k++) {
        lg_checkpoint *c = NULL;
        d[k] ^= 0xff;
        ck_assert_int_eq(tu_write(p, d, n), 0);
        d[k] ^= 0xff;
        if (lg_checkpoint_open(p, NULL, &c) != LG_OK)
            continue;
        for (size_t i = 0; i < lg_checkpoint_count(c); i++) {
            const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
            unsigned char *b = malloc(t->nbytes + 1), *r = malloc(t->nbytes + 1);
            lg_status st = lg_checkpoint_read(c, i, b, t->nbytes);
            if (zip && st == LG_E_FORMAT && strstr(lg_error_message(), "CRC-32 mismatch")) {
                free(b);
                free(r);
                continue;
            }
            ck_assert_msg(st == LG_OK, "byte %zu: %s: %s", k, t->name, lg_error_message());
            size_t j = lg_checkpoint_find(ref, t->name);
            if (zip && j != (size_t)-1 && lg_checkpoint_tensor(ref, j)->nbytes == t->nbytes) {
                ck_assert_int_eq(lg_checkpoint_read(ref, j, r, t->nbytes), LG_OK);
                ck_assert_msg(!memcmp(b, r, t->nbytes), "byte %zu: %s changed silently", k,
                              t->name);
            }
            free(b);
            free(r);
        }
        lg_checkpoint_close(c);
    }
    lg_checkpoint_close(ref);
    free(d);
}

START_TEST(flipped_everywhere)
{
    every_flip(PT113 "/mixed.pt", 1);
    every_flip(PT113 "/mixed_legacy.pt", 0);
}
END_TEST

/* ================================================================ faults */

static unsigned sweep(const char *path, const char *key, lg_status ok)
{
    unsigned k = 1;
    for (;; k++) {
        lg_fault_schedule s = {.when = LG_FAULT_NTH, .k = k};
        lg_open_options o = {.key = key};
        lg_checkpoint *c = NULL;
        ck_assert_int_eq(lg_fault_set("mem.alloc", &s), LG_OK);
        lg_status st = lg_checkpoint_open(path, &o, &c);
        uint64_t fired = lg_fault_fired("mem.alloc");
        lg_fault_clear();
        ck_assert_msg(st == ok || st == LG_E_NOMEM, "K=%u: %s: %s", k, lg_status_name(st),
                      lg_error_message());
        ck_assert_msg(st != LG_E_NOMEM || fired, "K=%u: LG_E_NOMEM with no fault", k);
        ck_assert_msg((st == LG_OK) == (c != NULL), "K=%u", k);
        lg_checkpoint_close(c);
        if (!fired)
            break;
        ck_assert_msg(k < 100000, "the sweep does not end");
    }
    return k;
}

START_TEST(alloc_sweeps)
{
    ck_assert_uint_gt(sweep(PT113 "/mixed.pt", NULL, LG_OK), 15);
    ck_assert_uint_gt(sweep(PT113 "/mixed_legacy.pt", NULL, LG_OK), 15);
    sweep(PT113 "/train_ckpt.pt", "model", LG_OK);
    variant v = {"d", 4, {0, 1, 0, 0}, 1, "big", 1, 0, 0, 0};
    sweep(write_variant("sweep-deflate.pt", &v), NULL, LG_OK);
    sweep(INTEROP "/whole_module.pt", NULL, LG_E_FORMAT);
}
END_TEST

START_TEST(injected_parse_failure)
{
    lg_fault_schedule s = {.when = LG_FAULT_NTH, .k = 1};
    ck_assert_int_eq(lg_fault_set("format.parse", &s), LG_OK);
    expect_err(PT113 "/mixed.pt", LG_E_FORMAT, "injected parse failure");
    ck_assert_int_eq(lg_fault_set("format.parse", &s), LG_OK);
    expect_err(PT113 "/mixed_legacy.pt", LG_E_FORMAT, "injected parse failure");
}
END_TEST

/* ============================================================= detection */

START_TEST(sniffing)
{
    unsigned char h[64];
    memcpy(h, "\x80\x04\x95\x0e\x00\x00\x00\x00\x00\x00\x00", 11);
    memcpy(h + 11, "\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 13);
    ck_assert(lg__torch_legacy_reader.sniff(h, 24, 24));
    ck_assert(!lg__torch_legacy_reader.sniff(h, 22, 22));
    h[1] = 6;
    ck_assert(!lg__torch_legacy_reader.sniff(h, 24, 24));
    /* torch.save zips go to torch-zip, TorchScript to torch-archive */
    lg_checkpoint *c = open_ok(INTEROP "/legacy_proto4.pt", NULL, NULL);
    ck_assert_str_eq(lg_checkpoint_format(c), "torch-legacy");
    lg_checkpoint_close(c);
    size_t n;
    unsigned char *d = tu_read(PT113 "/mlp_script.pt", &n);
    ck_assert(!lg__torch_zip_reader.sniff(d, n < 4096 ? n : 4096, n));
    ck_assert(lg__torch_archive_reader.sniff(d, n < 4096 ? n : 4096, n));
    free(d);
    d = tu_read(PT113 "/mixed.pt", &n);
    ck_assert(lg__torch_zip_reader.sniff(d, n < 4096 ? n : 4096, n));
    ck_assert(!lg__torch_archive_reader.sniff(d, n < 4096 ? n : 4096, n));
    free(d);
}
END_TEST

/* The layout of a crafted archive: 'z' torch.save, 'a' libtorch, '-'
 * neither; over the whole file, and with the end cut off (the head alone
 * decides). */
static char layout_of(const char *path, size_t cut)
{
    size_t n;
    unsigned char *d = tu_read(path, &n);
    ck_assert_ptr_nonnull(d);
    n -= cut;
    size_t head = n < 4096 ? n : 4096;
    int z = lg__torch_zip_reader.sniff(d, head, n), a = lg__torch_archive_reader.sniff(d, head, n);
    free(d);
    ck_assert(!(z && a));
    return z ? 'z' : a ? 'a' : '-';
}

START_TEST(sniffing_other_layouts)
{
    static unsigned char big[5000];
    const zopt plain = {0}, desc = {.descriptor = 1}, defl = {.deflate = 1};
    zipw z = {0};
    /* PyTorch 1.6: version first, every record with a data descriptor */
    z_add(&z, "m/version", "3\n", 2, desc);
    z_add(&z, "m/data.pkl", "\x80\x02}q\x00.", 6, desc);
    z_add(&z, "m/data/0", big, 64, desc);
    const char *v16 = z_finish(&z, 0, "layout-1.6.pt");
    ck_assert_int_eq(layout_of(v16, 0), 'z');
    ck_assert_int_eq(layout_of(v16, 1), 'z'); /* the head alone, through the descriptors */
    /* rezipped: directory entries, tensor records before data.pkl */
    z_add(&z, "m/", "", 0, plain);
    z_add(&z, "m/data/", "", 0, plain);
    z_add(&z, "m/data/0", big, 64, defl);
    z_add(&z, "m/data.pkl", "\x80\x02}q\x00.", 6, plain);
    z_add(&z, "m/version", "3\n", 2, plain);
    const char *re = z_finish(&z, 1, "layout-rezipped.pt");
    ck_assert_int_eq(layout_of(re, 0), 'z'); /* the central directory decides */
    ck_assert_int_eq(layout_of(re, 1), 'a'); /* without it, data/0 first looks like libtorch */
    /* libtorch: constants.pkl beyond the first 4096 bytes still decides */
    z_add(&z, "m/data.pkl", "\x80\x02}q\x00.", 6, plain);
    z_add(&z, "m/data/0", big, sizeof big, plain);
    z_add(&z, "m/constants.pkl", "\x80\x02).", 4, plain);
    const char *ts = z_finish(&z, 0, "layout-late-constants.pt");
    ck_assert_int_eq(layout_of(ts, 0), 'a');
    ck_assert_int_eq(layout_of(ts, 1), 'z');
    /* neither: no data.pkl, no constants.pkl (a torch.package archive) */
    z_add(&z, "p/.data/version", "6\n", 2, plain);
    z_add(&z, "p/.data/0.storage", big, 8, plain);
    const char *pkg = z_finish(&z, 0, "layout-package.pt");
    ck_assert_int_eq(layout_of(pkg, 0), '-');
    /* sniffing leaves the error message alone */
    lg__err(LG_E_IO, "earlier message");
    ck_assert_int_eq(layout_of(re, 1), 'a');
    ck_assert_str_eq(lg_error_message(), "earlier message");
    /* and the 1.6 and rezipped files open */
    lg_checkpoint *c = open_ok(v16, NULL, NULL);
    ck_assert_str_eq(lg_checkpoint_format(c), "torch-zip");
    lg_checkpoint_close(c);
    c = open_ok(re, NULL, NULL);
    ck_assert_str_eq(lg_checkpoint_format(c), "torch-zip");
    lg_checkpoint_close(c);
}
END_TEST

START_TEST(torchscript_without_torch)
{
    /* without the torch backend: the native torchscript-data reader */
    lg_checkpoint *c = NULL;
    ck_assert_msg(lg_checkpoint_open(PT113 "/mlp_script.pt", NULL, &c) == LG_OK, "%s",
                  lg_error_message());
    ck_assert_str_eq(lg_checkpoint_format(c), "torchscript-data");
    ck_assert_uint_eq(lg_checkpoint_count(c), 4);
    ck_assert(lg_checkpoint_find(c, "0.weight") != (size_t)-1);
    lg_checkpoint_close(c);
    c = NULL;
    /* forced through the torch.save reader: its pickle is a module's */
    lg_open_options o = {.reader = "torch-zip"};
    ck_assert_int_eq(lg_checkpoint_open(PT113 "/mlp_script.pt", &o, &c), LG_E_FORMAT);
    ck_assert(strstr(lg_error_message(), "is not allowed"));
}
END_TEST

/* ================================================================== main */

static void setup(void) { g_dir = tu_tmpdir(); }
static void teardown(void)
{
    lg_fault_clear();
    tu_rmtree(g_dir);
}

static Suite *torch_zip_suite(void)
{
    Suite *s = suite_create("torch_zip");
    TCase *ref = tcase_create("reference"), *craft = tcase_create("crafted");
    TCase *rules = tcase_create("rules"), *robust = tcase_create("robust");
    TCase *all[] = {ref, craft, rules, robust};
    for (size_t i = 0; i < 4; i++) {
        tcase_add_checked_fixture(all[i], setup, teardown);
        tcase_set_timeout(all[i], 300);
        suite_add_tcase(s, all[i]);
    }
    tcase_add_test(ref, pytorch_113_inspect_json);
    tcase_add_test(ref, interop_inspect_json);
    tcase_add_test(ref, reference_files_through_the_library);
    tcase_add_test(ref, other_writers_like_torch_load);
    tcase_add_test(ref, views_in_place_or_not);
    tcase_add_test(ref, os_system_never_runs);
    tcase_add_test(ref, pickled_module_refused);
    tcase_add_test(ref, training_checkpoint_with_args);
    tcase_add_test(ref, many_refused_outside_key);
    tcase_add_test(ref, crc_mismatch_names_the_record);
    tcase_add_test(ref, crc_in_chunks_and_threads);
    tcase_add_test(ref, nested_names_and_key);
    tcase_add_test(ref, key_through_the_harness);
    tcase_add_test(ref, torchscript_without_torch);
    tcase_add_test(craft, crafted_like_other_writers);
    tcase_add_test(craft, storage_keys_any_text);
    tcase_add_loop_test(craft, storage_keys_many, 0, 2);
    tcase_add_test(craft, big_endian_is_swapped);
    tcase_add_test(craft, missing_version_is_a_finding);
    tcase_add_test(craft, generator_torch_zip);
    tcase_add_test(craft, lists_cycles_and_clashes);
    tcase_add_test(craft, legacy_crafted);
    tcase_add_test(craft, sniffing);
    tcase_add_test(craft, sniffing_other_layouts);
    tcase_add_test(rules, view_rules);
    tcase_add_test(rules, storage_rules);
    tcase_add_test(rules, zip_rules);
    tcase_add_test(rules, zip64_rules);
    tcase_add_test(robust, truncated_everywhere);
    tcase_add_test(robust, flipped_everywhere);
    tcase_add_test(robust, alloc_sweeps);
    tcase_add_test(robust, injected_parse_failure);
    return s;
}

int main(void)
{
    int failed = tu_run_suite(torch_zip_suite());
    return failed ? 1 : 0;
}
