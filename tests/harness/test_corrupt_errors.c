/* The corruption generators and the fixture writers on inputs they must
 * refuse: safetensors headers that are not what a mutation can take apart
 * (not an object, entries of the wrong type, offsets out of range, no
 * tensor, only empty tensors), torch.save archives without what a
 * mutation edits, files that cannot be read or written, and the labels
 * and classes of corruptions outside the tables. Each refusal is checked
 * for its status and its message; each mutation that applies, for the
 * bytes it writes. */
#include "corrupt/corrupt.h"
#include "fixture/cache.h"
#include "fixture/gen.h"
#include "fixture/zipw.h"
#include "testutil.h"
#include "util/error.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/stat.h>

static const char *dir;

static void setup(void)
{
    dir = tu_tmpdir();
    ck_assert_ptr_nonnull(dir);
}

static void teardown(void) { tu_rmtree(dir); }

/* dir/name in a buffer of its own (tu_path's eight are reused). */
static const char *path_of(const char *name)
{
    static char ring[32][1024];
    static int k;
    char *p = ring[k++ % 32];
    snprintf(p, sizeof ring[0], "%s", tu_path(dir, name));
    return p;
}

/* A safetensors file: the header padded with spaces to a multiple of 8,
 * then dlen bytes 1, 2, 3, ... */
static const char *write_st(const char *name, const char *hdr, size_t dlen)
{
    size_t hl = strlen(hdr), pad = (8 - hl % 8) % 8, n = 8 + hl + pad + dlen;
    unsigned char *f = malloc(n);
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 8; i++)
        f[i] = (unsigned char)((uint64_t)(hl + pad) >> (8 * i));
    memcpy(f + 8, hdr, hl);
    memset(f + 8 + hl, ' ', pad);
    for (size_t i = 0; i < dlen; i++)
        f[8 + hl + pad + i] = (unsigned char)(i + 1);
    const char *path = path_of(name);
    ck_assert_int_eq(tu_write(path, f, n), 0);
    free(f);
    return path;
}

/* Applies the named safetensors mutation to in; the status. */
static lg_status st_apply(const char *name, const char *in, const char *out)
{
    hx_corrupt c = {.kind = HX_CORRUPT_SAFETENSORS, .mutation = hx_st_mutation_find(name)};
    ck_assert_msg(c.mutation >= 0, "no mutation %s", name);
    hx_corrupt_label(&c);
    hx_err(LG_OK, "%s", "");
    return hx_corrupt_apply(&c, in, out);
}

#define ENTRY(dt, shape, off) "{\"dtype\":" dt ",\"shape\":" shape ",\"data_offsets\":" off "}"

/* Entries a mutation cannot take apart: every mutation refuses the file,
 * naming the entry. */
START_TEST(test_st_bad_entries)
{
    static const char *const hdrs[] = {
        "{\"a\":[1]}",                                   /* not an object */
        "{\"a\":" ENTRY("1", "[1]", "[0,4]") "}",        /* dtype not a string */
        "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", /* no shape */
        "{\"a\":" ENTRY("\"F32\"", "[1]", "[0]") "}",    /* one offset */
        "{\"a\":" ENTRY("\"F32\"", "[1]", "[-1,4]") "}", /* a negative begin */
        "{\"a\":" ENTRY("\"F32\"", "[1]", "[\"0\",4]") "}", /* not an integer */
        "{\"a\":" ENTRY("\"F32\"", "[1]", "[0,-4]") "}", /* a negative end */
        "{\"a\":" ENTRY("\"F32\"", "[1]", "[4,0]") "}",  /* ends before it begins */
        "{\"a\":" ENTRY("\"F33\"", "[1]", "[0,4]") "}",  /* no such dtype */
    };
    const char *out = path_of("out.st");
    for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
        const char *in = write_st("bad.st", hdrs[i], 4);
        const hx_st_mutation *m = hx_st_mutations();
        for (int k = 0; m[k].name; k++) {
            ck_assert_int_eq(st_apply(m[k].name, in, out), LG_E_INVALID);
            char want[128];
            snprintf(want, sizeof want, "corrupt safetensors:%s: the input is not a valid "
                     "safetensors file: entry \"a\"", m[k].name);
            ck_assert_msg(strstr(hx_errmsg(), want), "%s on %s: %s", m[k].name, hdrs[i],
                          hx_errmsg());
        }
    }
    /* not an object, and shorter than the length field */
    const char *arr = write_st("arr.st", "[1,2,3]", 0);
    ck_assert_int_eq(st_apply("reserialize", arr, out), LG_E_INVALID);
    ck_assert_msg(strstr(hx_errmsg(), "not a safetensors file (bad header)"), "%s", hx_errmsg());
    const char *tiny = path_of("tiny.st");
    ck_assert_int_eq(tu_write(tiny, "\x08\0\0", 3), 0);
    ck_assert_int_eq(st_apply("reserialize", tiny, out), LG_E_INVALID);
    ck_assert_msg(strstr(hx_errmsg(), "bad header length"), "%s", hx_errmsg());
    /* a mutation index outside the table */
    hx_corrupt c = {.kind = HX_CORRUPT_SAFETENSORS, .mutation = -1};
    hx_corrupt_label(&c);
    ck_assert_str_eq(c.label, "safetensors:?");
    ck_assert_int_eq(hx_corrupt_apply(&c, write_st("ok.st", "{}", 0), out), LG_E_INVALID);
    ck_assert_msg(strstr(hx_errmsg(), "unknown safetensors mutation -1"), "%s", hx_errmsg());
    struct stat sb;
    ck_assert_int_ne(stat(out, &sb), 0); /* nothing written by any refusal */
}
END_TEST

/* A file without tensors: each mutation that needs one says what it needs. */
START_TEST(test_st_no_tensor)
{
    static const struct {
        const char *name, *msg;
    } want[] = {
        {"header-not-utf8", "needs a file with at least 1 tensor (it has 0)"},
        {"dtype-unknown", "needs a file with at least 1 tensor (it has 0)"},
        {"shape-negative", "needs a file with at least 1 tensor"},
        {"shape-not-integer", "needs a file with at least 1 tensor"},
        {"shape-huge", "needs a file with at least 1 tensor"},
        {"offsets-reversed", "needs a tensor with at least one byte"},
        {"offsets-overlap", "needs a tensor with at least one byte"},
        {"offsets-gap", "needs a file with at least 2 tensors (it has 0)"},
        {"offsets-out-of-bounds", "needs a file with at least 1 tensor"},
        {"offsets-not-zero", "needs a file with at least 1 tensor"},
        {"offsets-huge", "needs a file with at least 1 tensor"},
        {"duplicate-name", "needs a file with at least 1 tensor"},
        {"entry-extra-key", "needs a file with at least 1 tensor"},
        {"entry-missing-key", "needs a file with at least 1 tensor"},
        {"entry-not-object", "needs a file with at least 1 tensor"},
        {"missing-bytes", "needs a data section of at least one byte"},
        {"rename-tensor", "needs a file with at least 1 tensor"},
        {"reshape-tensor", "needs a file with at least 1 tensor"},
        {"broadcastable-shape", "needs a tensor whose first dimension is at least 2"},
        {"retype-same-size", "needs a file with at least 1 tensor"},
    };
    const char *in = write_st("empty.st", "{\"__metadata__\":{\"format\":\"pt\"}}", 0);
    const char *out = path_of("out.st");
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        ck_assert_int_eq(st_apply(want[i].name, in, out), LG_E_INVALID);
        char label[96];
        snprintf(label, sizeof label, "corrupt safetensors:%s: ", want[i].name);
        ck_assert_msg(strstr(hx_errmsg(), label) == hx_errmsg() &&
                          strstr(hx_errmsg(), want[i].msg),
                      "%s: %s", want[i].name, hx_errmsg());
    }
    /* what needs no tensor applies: 8 trailing bytes after the header */
    ck_assert_int_eq(st_apply("trailing-bytes", in, out), LG_OK);
    size_t n;
    unsigned char *b = tu_read(out, &n);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(n % 8, 0);
    ck_assert_uint_eq(n, 8 + (size_t)b[0] + 8);
    ck_assert_ptr_nonnull(memmem(b, n, "{\"__metadata__\":{\"format\":\"pt\"}}", 33));
    free(b);
}
END_TEST

/* Only empty tensors, and one non-empty one: what needs a byte, or a
 * second tensor after it, refuses. */
START_TEST(test_st_empty_tensors)
{
    const char *out = path_of("out.st");
    const char *in = write_st("zeros.st",
                              "{\"b\":" ENTRY("\"F32\"", "[2,0]", "[0,0]") ",\"a\":"
                              ENTRY("\"F32\"", "[0]", "[0,0]") "}", 0);
    ck_assert_int_eq(st_apply("offsets-reversed", in, out), LG_E_INVALID);
    ck_assert_msg(strstr(hx_errmsg(), "needs a tensor with at least one byte"), "%s",
                  hx_errmsg());
    ck_assert_int_eq(st_apply("broadcastable-shape", in, out), LG_E_INVALID);
    ck_assert_msg(strstr(hx_errmsg(), "first dimension is at least 2"), "%s", hx_errmsg());
    /* equal offsets: written back in name order */
    ck_assert_int_eq(st_apply("reserialize", in, out), LG_OK);
    char *t = tu_read_text(out);
    ck_assert_ptr_nonnull(t);
    ck_assert_msg(strstr(t + 8, "\"a\":") && strstr(t + 8, "\"a\":") < strstr(t + 8, "\"b\":"),
                  "%s", t + 8);
    free(t);
    /* an empty tensor and one of 4 bytes at the same offset: the shorter first */
    in = write_st("one.st", "{\"b\":" ENTRY("\"F32\"", "[1]", "[0,4]") ",\"a\":"
                  ENTRY("\"F32\"", "[0]", "[0,0]") "}", 4);
    ck_assert_int_eq(st_apply("offsets-overlap", in, out), LG_E_INVALID);
    ck_assert_msg(strstr(hx_errmsg(), "needs a tensor after the first non-empty one"), "%s",
                  hx_errmsg());
    ck_assert_int_eq(st_apply("reserialize", in, out), LG_OK);
    t = tu_read_text(out);
    ck_assert_ptr_nonnull(t);
    ck_assert_msg(strstr(t + 8, "\"a\":") < strstr(t + 8, "\"b\":"), "%s", t + 8);
    free(t);
    /* a dtype written in the library's spelling ("f32") has no partner in
     * the retype table, which uses the format's names */
    in = write_st("lower.st", "{\"a\":" ENTRY("\"f32\"", "[1]", "[0,4]") "}", 4);
    ck_assert_int_eq(st_apply("retype-same-size", in, out), LG_E_INVALID);
    ck_assert_msg(strstr(hx_errmsg(), "dtype has no partner of its size"), "%s", hx_errmsg());
}
END_TEST

/* __metadata__ is kept, and metadata-not-string turns its first value
 * (or a new "epoch") into an integer, whatever the metadata was. */
START_TEST(test_st_metadata)
{
    static const struct {
        const char *meta, *want;
    } cases[] = {
        {"{\"format\":\"pt\",\"b\":\"x\"}", "{\"__metadata__\":{\"format\":3,\"b\":\"x\"},"},
        {"{}", "{\"__metadata__\":{\"epoch\":3},"},
        {"\"pt\"", "{\"__metadata__\":{\"epoch\":3},"},
    };
    const char *out = path_of("out.st");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char hdr[256];
        snprintf(hdr, sizeof hdr, "{\"__metadata__\":%s,\"a\":" ENTRY("\"F32\"", "[1]", "[0,4]")
                 "}", cases[i].meta);
        const char *in = write_st("meta.st", hdr, 4);
        ck_assert_msg(st_apply("metadata-not-string", in, out) == LG_OK, "%s", hx_errmsg());
        char *t = tu_read_text(out);
        ck_assert_ptr_nonnull(t);
        ck_assert_msg(strstr(t + 8, cases[i].want) == t + 8, "%s: %s", cases[i].meta, t + 8);
        free(t);
        lg_checkpoint *ck = NULL;
        ck_assert_int_eq(lg_checkpoint_open(out, NULL, &ck), LG_E_FORMAT);
        ck_assert_msg(strstr(lg_error_message(), "is an integer, not a string"), "%s",
                      lg_error_message());
    }
}
END_TEST

/* ------------------------------------------------------------ torch_zip */

/* A zip archive with records PREFIX/data.pkl (pkl), PREFIX/data/0
 * (rec, deflated when `deflated`) and PREFIX/version, no data descriptor,
 * a plain end record. */
static const char *write_zip(const char *name, const char *pkl, const char *rec,
                             const char *version, int deflated)
{
    hx_zipw z;
    memset(&z, 0, sizeof z);
    hx_zip_opts plain = {0}, packed = {.deflate = 1};
    ck_assert_int_eq(hx_zipw_add(&z, "a/data.pkl", pkl, strlen(pkl), &plain), LG_OK);
    ck_assert_int_eq(hx_zipw_add(&z, "a/data/0", rec, strlen(rec), deflated ? &packed : &plain),
                     LG_OK);
    ck_assert_int_eq(hx_zipw_add(&z, "a/version", version, strlen(version), &plain), LG_OK);
    ck_assert_int_eq(hx_zipw_finish(&z, HX_ZIP_END_PLAIN), LG_OK);
    const char *path = path_of(name);
    ck_assert_int_eq(tu_write(path, z.mem, z.memlen), 0);
    hx_zipw_free(&z);
    return path;
}

static lg_status tz_apply(const char *name, const char *in, const char *out)
{
    hx_corrupt c = {.kind = HX_CORRUPT_TORCH_ZIP, .mutation = hx_tz_mutation_find(name)};
    ck_assert_msg(c.mutation >= 0, "no mutation %s", name);
    hx_corrupt_label(&c);
    hx_err(LG_OK, "%s", "");
    return hx_corrupt_apply(&c, in, out);
}

#define PKL "\x80\x02}.padding" /* PROTO 2, an empty dict, STOP */

START_TEST(test_tz_archives)
{
    const char *out = path_of("out.pt");
    /* empty records: nothing to flip, nothing to rewrite */
    const char *empty = write_zip("empty.pt", PKL, "", "", 0);
    ck_assert_int_eq(tz_apply("crc-mismatch", empty, out), LG_E_INVALID);
    ck_assert_msg(strstr(hx_errmsg(), "torch_zip:crc-mismatch: record data/0 is empty"), "%s",
                  hx_errmsg());
    ck_assert_int_eq(tz_apply("unsupported-version", empty, out), LG_E_INVALID);
    ck_assert_msg(strstr(hx_errmsg(), "record version is empty"), "%s", hx_errmsg());
    ck_assert_int_eq(tz_apply("pickle-disallowed-global", empty, out), LG_E_INVALID);
    ck_assert_msg(strstr(hx_errmsg(), "no GLOBAL collections.OrderedDict to replace"), "%s",
                  hx_errmsg());
    /* no zip64 end record: data/0's compressed size says "see zip64" */
    ck_assert_int_eq(tz_apply("zip64-corrupt", empty, out), LG_OK);
    size_t n0, n1;
    unsigned char *a = tu_read(empty, &n0), *b = tu_read(out, &n1);
    ck_assert_uint_eq(n0, n1);
    size_t diff = 0;
    for (size_t i = 0; i < n0; i++)
        diff += a[i] != b[i];
    ck_assert_uint_eq(diff, 4);
    free(a);
    free(b);
    /* a pickle edit without data descriptors: the CRC-32 in the local
     * header is fixed too, so both headers agree with the new bytes */
    const char *full = write_zip("full.pt", PKL, "0123", "3\n", 0);
    ck_assert_int_eq(tz_apply("pickle-unknown-opcode", full, out), LG_OK);
    b = tu_read(out, &n1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b[30 + 10 + 2], 0xff);
    const unsigned char *cd = memmem(b, n1, "PK\1\2", 4);
    ck_assert_ptr_nonnull(cd);
    ck_assert_mem_eq(b + 14, cd + 16, 4);
    a = tu_read(full, &n0);
    ck_assert_mem_ne(a + 14, b + 14, 4);
    free(a);
    free(b);
    /* a central directory entry without its signature */
    b = tu_read(full, &n1);
    unsigned char *first = memmem(b, n1, "PK\1\2", 4);
    ck_assert_ptr_nonnull(first);
    unsigned char *second = memmem(first + 4, n1 - (size_t)(first + 4 - b), "PK\1\2", 4);
    ck_assert_ptr_nonnull(second);
    second[3] = 9;
    const char *nosig = path_of("nosig.pt");
    ck_assert_int_eq(tu_write(nosig, b, n1), 0);
    free(b);
    ck_assert_int_eq(tz_apply("crc-mismatch", nosig, out), LG_E_INVALID);
    ck_assert_msg(strstr(hx_errmsg(), "not a zip archive that can be edited"), "%s", hx_errmsg());
    /* an entry whose name is not its local header's */
    hx_zipw z;
    memset(&z, 0, sizeof z);
    hx_zip_opts plain = {0};
    ck_assert_int_eq(hx_zipw_add(&z, "a/data.pkl", PKL, strlen(PKL), &plain), LG_OK);
    hx_zip_entry e = {.name = "a/a-much-longer-name", .local = 0};
    ck_assert_int_eq(hx_zipw_add_entry(&z, &e), LG_OK);
    ck_assert_int_eq(hx_zipw_finish(&z, HX_ZIP_END_PLAIN), LG_OK);
    const char *alias = path_of("alias.pt");
    ck_assert_int_eq(tu_write(alias, z.mem, z.memlen), 0);
    hx_zipw_free(&z);
    ck_assert_int_eq(tz_apply("crc-mismatch", alias, out), LG_E_INVALID);
    ck_assert_msg(strstr(hx_errmsg(), "not a zip archive that can be edited"), "%s", hx_errmsg());
    /* a deflated data/0 is not what the mutations edit */
    const char *packed = write_zip("packed.pt", PKL, "0123456789", "3\n", 1);
    ck_assert_int_eq(tz_apply("crc-mismatch", packed, out), LG_E_INVALID);
    ck_assert_msg(strstr(hx_errmsg(), "not a torch.save zip archive with stored records"), "%s",
                  hx_errmsg());
    /* nor a data.pkl that is no pickle */
    const char *nopk = write_zip("nopk.pt", "just some text", "0123", "3\n", 0);
    ck_assert_int_eq(tz_apply("crc-mismatch", nopk, out), LG_E_INVALID);
    ck_assert_msg(strstr(hx_errmsg(), "with stored records data.pkl, data/0 and version"), "%s",
                  hx_errmsg());
    hx_corrupt c = {.kind = HX_CORRUPT_TORCH_ZIP, .mutation = 99};
    hx_corrupt_label(&c);
    ck_assert_str_eq(c.label, "torch_zip:?");
    ck_assert_int_eq(hx_corrupt_apply(&c, full, out), LG_E_INVALID);
    ck_assert_msg(strstr(hx_errmsg(), "unknown torch_zip mutation 99"), "%s", hx_errmsg());
}
END_TEST

/* --------------------------------------------------- files and labels */

START_TEST(test_apply_files)
{
    const char *in = path_of("in.bin"), *out = path_of("out.bin");
    ck_assert_int_eq(tu_write(in, "0123456789", 10), 0);
    /* no corruption: a copy */
    hx_corrupt none = {.kind = HX_CORRUPT_NONE};
    hx_corrupt_label(&none);
    ck_assert_str_eq(none.label, "none");
    ck_assert_int_eq(hx_corrupt_apply(&none, in, out), LG_OK);
    char *t = tu_read_text(out);
    ck_assert_str_eq(t, "0123456789");
    free(t);
    /* a kind outside the enum */
    hx_corrupt bad = {.kind = (hx_corrupt_kind)42};
    unsigned char buf[4] = {0};
    size_t len = sizeof buf;
    ck_assert_int_eq(hx_corrupt_apply_buf(&bad, buf, &len), LG_E_INVALID);
    ck_assert_str_eq(hx_errmsg(), "corrupt: unknown kind 42");
    ck_assert_int_eq(hx_corrupt_class_of(&bad), HX_CLASS_COUNT);
    ck_assert_str_eq(hx_corrupt_class_name(hx_corrupt_class_of(&bad)), "other");
    /* the input a folder: a read error naming it */
    hx_corrupt trunc = {.kind = HX_CORRUPT_TRUNCATE, .a = 1};
    hx_corrupt_label(&trunc);
    ck_assert_int_eq(hx_corrupt_apply(&trunc, dir, out), LG_E_IO);
    ck_assert_msg(strstr(hx_errmsg(), dir) == hx_errmsg() &&
                      strstr(hx_errmsg(), "read error: Is a directory"),
                  "%s", hx_errmsg());
    /* a pipe: no size to read up to */
    const char *fifo = path_of("fifo");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(hx_corrupt_apply(&trunc, fifo, out), LG_E_IO);
    ck_assert_msg(strstr(hx_errmsg(), fifo) == hx_errmsg() &&
                      strstr(hx_errmsg(), "read error: Illegal seek"),
                  "%s", hx_errmsg());
    /* the output in a folder that does not exist, and on a full device */
    const char *nowhere = path_of("no/such/out.bin");
    ck_assert_int_eq(hx_corrupt_apply(&trunc, in, nowhere), LG_E_IO);
    ck_assert_msg(strstr(hx_errmsg(), nowhere) == hx_errmsg() &&
                      strstr(hx_errmsg(), "No such file or directory"),
                  "%s", hx_errmsg());
    ck_assert_int_eq(hx_corrupt_apply(&trunc, in, "/dev/full"), LG_E_IO);
    ck_assert_str_eq(hx_errmsg(), "/dev/full: write error: No space left on device");
    /* random flips of an empty file */
    const char *empty = path_of("empty.bin");
    ck_assert_int_eq(tu_write(empty, "", 0), 0);
    hx_corrupt flip = {.kind = HX_CORRUPT_FLIP, .random = 1, .a = 3, .seed = 1};
    hx_corrupt_label(&flip);
    ck_assert_int_eq(hx_corrupt_apply(&flip, empty, out), LG_E_INVALID);
    ck_assert_str_eq(hx_errmsg(), "corrupt flip:random3:seed1: no byte to flip (the file has 0 "
                                  "bytes)");
}
END_TEST

START_TEST(test_labels_and_classes)
{
    hx_corrupt sp = {.kind = HX_CORRUPT_SPLICE, .a = 0, .b = 4, .at = 2};
    hx_corrupt_label(&sp);
    ck_assert_str_eq(sp.label, "splice:file:0:4@2");
    ck_assert_int_eq(hx_corrupt_class_of_label(sp.label), HX_CLASS_SPLICE);
    static const struct {
        const char *label;
        hx_corrupt_class k;
    } cases[] = {
        {NULL, HX_CLASS_NONE},           {"", HX_CLASS_NONE},
        {"none", HX_CLASS_NONE},         {"flip:all", HX_CLASS_FLIP_BYTE},
        {"flip:", HX_CLASS_FLIP_BIT},    {"flip:7:all", HX_CLASS_FLIP_BYTE},
        {"truncate", HX_CLASS_TRUNCATE}, {"truncated:4", HX_CLASS_COUNT},
        {"zeros:1:2", HX_CLASS_COUNT},   {"torch_zip", HX_CLASS_TORCH_ZIP},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(hx_corrupt_class_of_label(cases[i].label) == cases[i].k, "%s",
                      cases[i].label ? cases[i].label : "(null)");
}
END_TEST

/* ------------------------------------------------------------ fixtures */

START_TEST(test_fixture_errors)
{
    char path[4096], buf[4096];
    hx_gen g;
    hx_gen_init(&g);
    /* no file at all */
    hx_file none = {.kind = HX_FILE_NONE};
    ck_assert_int_eq(hx_fixture_prepare(&none, dir, path, sizeof path), LG_E_INVALID);
    ck_assert_str_eq(hx_errmsg(), "the case names no file");
    /* a torch-archive fixture: only where the torch backend is built */
    hx_file ta = {.kind = HX_FILE_GENERATE, .gen = g};
    snprintf(ta.gen.format, sizeof ta.gen.format, "torch-archive");
    if (!strstr(lg_backends_built(), "torch")) {
        ck_assert_int_eq(hx_fixture_prepare(&ta, dir, path, sizeof path), LG_E_BACKEND);
        ck_assert_msg(strstr(hx_errmsg(), "needs the torch backend"), "%s", hx_errmsg());
    }
    /* a format the generator does not know: nothing left in the folder */
    hx_file bad = {.kind = HX_FILE_GENERATE, .gen = g};
    snprintf(bad.gen.format, sizeof bad.gen.format, "onnx");
    const char *fx = path_of("fx");
    ck_assert_int_eq(hx_fixture_prepare(&bad, fx, path, sizeof path), LG_E_INVALID);
    ck_assert_msg(strstr(hx_errmsg(), "cannot generate the fixture ") == hx_errmsg() &&
                      strstr(hx_errmsg(), "unknown fixture format \"onnx\""),
                  "%s", hx_errmsg());
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", fx);
    ck_assert_int_eq(system(cmd), 0);
    /* the fixture folder is a regular file */
    const char *file = path_of("plain");
    ck_assert_int_eq(tu_write(file, "x", 1), 0);
    hx_file good = {.kind = HX_FILE_GENERATE, .gen = g};
    ck_assert_int_eq(hx_fixture_prepare(&good, file, path, sizeof path), LG_E_IO);
    ck_assert_msg(strstr(hx_errmsg(), "cannot create ") == hx_errmsg() &&
                      strstr(hx_errmsg(), file) && strstr(hx_errmsg(), "Not a directory"),
                  "%s", hx_errmsg());
    /* a parent that is a regular file */
    const char *under = path_of("plain/fx");
    ck_assert_int_eq(hx_fixture_prepare(&good, under, path, sizeof path), LG_E_IO);
    ck_assert_msg(strstr(hx_errmsg(), "cannot create the fixture folder ") == hx_errmsg() &&
                      strstr(hx_errmsg(), under),
                  "%s", hx_errmsg());
    /* the writers onto a missing folder and a full device */
    static const char *const formats[] = {"safetensors", "torch-zip"};
    for (int i = 0; i < 2; i++) {
        snprintf(g.format, sizeof g.format, "%s", formats[i]);
        const char *missing = path_of("no/such.bin");
        ck_assert_int_eq(hx_gen_write(&g, missing), LG_E_IO);
        ck_assert_msg(strstr(hx_errmsg(), missing) == hx_errmsg(), "%s", hx_errmsg());
        ck_assert_int_eq(hx_gen_write(&g, "/dev/full"), LG_E_IO);
        ck_assert_msg(strstr(hx_errmsg(), "/dev/full: ") == hx_errmsg() &&
                          strstr(hx_errmsg(), "No space left on device"),
                      "%s: %s", formats[i], hx_errmsg());
    }
    /* malformed specs */
    uint64_t bytes;
    hx_gen s = g;
    s.ndim = -1;
    ck_assert_int_eq(hx_gen_size(&s, &bytes), HX_GEN_TOO_BIG);
    s = g;
    s.dtype = (lg_dtype)LG_DTYPE_COUNT;
    ck_assert_int_eq(hx_gen_size(&s, &bytes), HX_GEN_TOO_BIG);
    s = g;
    s.shape[1] = -3;
    ck_assert_int_eq(hx_gen_size(&s, &bytes), HX_GEN_STRIDES);
    /* the default folder */
    setenv("LOADGATE_FIXTURE_DIR", "/x/fixtures", 1);
    hx_fixture_dir_default(buf, sizeof buf);
    ck_assert_str_eq(buf, "/x/fixtures");
    setenv("LOADGATE_FIXTURE_DIR", "", 1);
    setenv("TMPDIR", "", 1);
    hx_fixture_dir_default(buf, sizeof buf);
    ck_assert_str_eq(buf, "/tmp/loadgate-fixtures");
    unsetenv("LOADGATE_FIXTURE_DIR");
    unsetenv("TMPDIR");
    hx_fixture_dir_default(buf, sizeof buf);
    ck_assert_str_eq(buf, "/tmp/loadgate-fixtures");
}
END_TEST

static Suite *corrupt_errors_suite(void)
{
    Suite *s = suite_create("corrupt_errors");
    TCase *tc = tcase_create("corrupt_errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_st_bad_entries);
    tcase_add_test(tc, test_st_no_tensor);
    tcase_add_test(tc, test_st_empty_tensors);
    tcase_add_test(tc, test_st_metadata);
    tcase_add_test(tc, test_tz_archives);
    tcase_add_test(tc, test_apply_files);
    tcase_add_test(tc, test_labels_and_classes);
    tcase_add_test(tc, test_fixture_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = tu_run_suite(corrupt_errors_suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
