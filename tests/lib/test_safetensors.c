/* The native safetensors reader: one crafted file per rule of the format,
 * valid files of every dtype, the shared fixture against its manifest, and
 * a mem.alloc fault sweep over open. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "formats/format.h"
#include "loadgate/loadgate.h"
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[] = "/tmp/lg-safetensors-XXXXXX";

/* ------------------------------------------------------------- helpers */

/* g_dir/name, in one of 4 rotating buffers. */
static const char *path_of(const char *name)
{
    static char buf[4][512];
    static int slot;
    char *p = buf[slot++ % 4];
    snprintf(p, 512, "%s/%s", g_dir, name);
    return p;
}

static void le64_put(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 + 1); }

static void write_raw(const char *path, const void *a, size_t an, const void *b, size_t bn)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert(fwrite(a, 1, an, f) == an);
    if (bn)
        ck_assert(fwrite(b, 1, bn, f) == bn);
    ck_assert(fclose(f) == 0);
}

/* A safetensors file: length prefix `n`, `hlen` header bytes, and `dlen`
 * data bytes of pattern(). */
static const char *write_st_n(const char *name, uint64_t n, const char *header, size_t hlen,
                              size_t dlen)
{
    const char *path = path_of(name);
    unsigned char *buf = malloc(8 + hlen + dlen + 1);
    ck_assert(buf != NULL);
    le64_put(buf, n);
    memcpy(buf + 8, header, hlen);
    for (size_t i = 0; i < dlen; i++)
        buf[8 + hlen + i] = pattern(i);
    write_raw(path, buf, 8 + hlen + dlen, NULL, 0);
    free(buf);
    return path;
}

/* The usual case: the prefix says the header's real length. */
static const char *write_st(const char *name, const char *header, size_t dlen)
{
    size_t h = strlen(header);
    return write_st_n(name, h, header, h, dlen);
}

/* Opening must fail with LG_E_FORMAT, and the message must name the file
 * and contain every needle (a NULL-terminated list). */
static void expect_format_v(const char *path, const char *reader, va_list ap)
{
    lg_open_options o = {.reader = reader, .backend = NULL};
    lg_checkpoint *c = NULL;
    lg_status st = lg_checkpoint_open(path, reader ? &o : NULL, &c);
    const char *msg = lg_error_message();
    ck_assert_msg(st == LG_E_FORMAT, "%s: expected LG_E_FORMAT, got %s (%s)", path,
                  lg_status_name(st), msg);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(msg, path) != NULL, "message does not name the file: %s", msg);
    for (const char *s; (s = va_arg(ap, const char *));)
        ck_assert_msg(strstr(msg, s) != NULL, "message lacks \"%s\": %s", s, msg);
}

static void expect_format(const char *path, ...)
{
    va_list ap;
    va_start(ap, path);
    expect_format_v(path, NULL, ap);
    va_end(ap);
}

/* The same, with the reader forced to "safetensors" (no sniffing). */
static void expect_format_forced(const char *path, ...)
{
    va_list ap;
    va_start(ap, path);
    expect_format_v(path, "safetensors", ap);
    va_end(ap);
}

/* A header with one tensor entry (the JSON text of its value). */
static const char *one(const char *name, const char *entry, size_t dlen)
{
    static char h[1024];
    snprintf(h, sizeof h, "{\"t\":%s}", entry);
    return write_st(name, h, dlen);
}

static lg_checkpoint *open_ok(const char *path)
{
    lg_checkpoint *c = NULL;
    lg_status st = lg_checkpoint_open(path, NULL, &c);
    ck_assert_msg(st == LG_OK, "%s: %s: %s", path, lg_status_name(st), lg_error_message());
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(lg_checkpoint_format(c), "safetensors");
    return c;
}

static void sha256_hex(const void *data, size_t n, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    ck_assert(EVP_Digest(data, n, md, &len, EVP_sha256(), NULL) == 1);
    ck_assert_uint_eq(len, 32);
    for (unsigned i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* ----------------------------------------------------- the length prefix */

START_TEST(file_shorter_than_prefix)
{
    const char *p = path_of("short");
    write_raw(p, "\x02\0\0\0\0", 5, NULL, 0);
    expect_format_forced(p, "file is 5 bytes", "8-byte", NULL);
    /* Nothing to recognise: the generic error, still LG_E_FORMAT. */
    expect_format(p, "unknown checkpoint format", NULL);
}
END_TEST

START_TEST(prefix_only)
{
    const char *p = path_of("prefix-only");
    write_raw(p, "\0\0\0\0\0\0\0\0", 8, NULL, 0);
    expect_format_forced(p, "header length 0 is too small", NULL);
}
END_TEST

START_TEST(header_length_too_small)
{
    expect_format(write_st_n("len1", 1, "{}", 2, 0), "header length 1 is too small", NULL);
    expect_format(write_st_n("len0", 0, "{}", 2, 0), "header length 0 is too small", NULL);
}
END_TEST

START_TEST(header_length_over_limit)
{
    expect_format(write_st_n("len-big", 100000001, "{}", 2, 0),
                  "header length 100000001 exceeds", "100000000", NULL);
}
END_TEST

START_TEST(header_length_near_2_64)
{
    /* 8 + N would wrap around in 64 bits. */
    expect_format(write_st_n("len-max", UINT64_MAX, "{}", 2, 0),
                  "header length 18446744073709551615 exceeds", NULL);
    expect_format(write_st_n("len-wrap", UINT64_MAX - 7, "{}", 2, 0),
                  "header length 18446744073709551608 exceeds", NULL);
}
END_TEST

START_TEST(header_length_past_end)
{
    /* At the limit but past the end of a 50-byte file. */
    expect_format(write_st_n("len-past", 100000000, "{\"__metadata__\":{\"a\":\"bc\"}}      ",
                             34, 8), "header length 100000000 runs past the end of the file",
                  "(size 50)", NULL);
    expect_format(write_st_n("len-past1", 3, "{}", 2, 0),
                  "header length 3 runs past the end of the file (size 10)", NULL);
}
END_TEST

START_TEST(header_truncated)
{
    /* A truncated file: the prefix is intact, the header is cut short. */
    const char *h = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    expect_format(write_st_n("trunc", strlen(h), h, 20, 0), "runs past the end of the file",
                  NULL);
}
END_TEST

/* ------------------------------------------------------------ the header */

START_TEST(header_leading_whitespace)
{
    /* The spec: the header MUST begin with '{'. */
    expect_format(write_st("lead-space", " {}", 0), "must begin with '{'", "0x20", NULL);
    expect_format(write_st("lead-nl", "\n{}", 0), "must begin with '{'", "0x0a", NULL);
}
END_TEST

START_TEST(header_first_byte_damaged)
{
    /* Recognised by its length and its closing brace, then refused. */
    expect_format(write_st("first-byte", "X\"a\":1}  ", 0), "must begin with '{'", "0x58", NULL);
}
END_TEST

START_TEST(header_not_utf8)
{
    expect_format(write_st("utf8", "{\"a\xff\":{}}", 0), "not valid UTF-8", "0xff", "line 1",
                  NULL);
    /* An overlong encoding of '/'. */
    expect_format(write_st("utf8-overlong", "{\"\xc0\xaf\":{}}", 0), "not valid UTF-8", NULL);
}
END_TEST

START_TEST(header_not_json)
{
    expect_format(write_st("json", "{\"t\":}", 0), "not valid JSON", "line 1, column", NULL);
    expect_format(write_st("json-cut", "{\"t\":{\"dtype\"", 0), "not valid JSON", NULL);
    expect_format(write_st("json-trail", "{}x", 0), "not valid JSON", NULL);
    expect_format(write_st("json-multiline", "{\n\"t\":\n}", 0), "not valid JSON", "line 3",
                  NULL);
}
END_TEST

START_TEST(header_nul_byte)
{
    /* Padding must be spaces; a NUL is not JSON. */
    expect_format(write_st_n("nul", 4, "{}\0 ", 4, 0), "not valid JSON",
                  "NUL byte at header offset 2", NULL);
    /* Inside a string it is a control character. */
    expect_format(write_st_n("nul-str", 6, "{\"\0\":}", 6, 0), "not valid JSON", NULL);
}
END_TEST

START_TEST(header_duplicate_name)
{
    const char *e = "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}";
    char h[512];
    snprintf(h, sizeof h, "{\"a\":%s,\"a\":%s}", e, e);
    expect_format(write_st("dup", h, 1), "duplicate tensor name \"a\"", "line 1", NULL);
    /* Longer than the 20 characters jansson quotes itself. */
    snprintf(h, sizeof h, "{\"model.layers.0.mlp.down_proj.weight\":%s,"
             "\"model.layers.0.mlp.down_proj.weight\":%s}", e, e);
    expect_format(write_st("dup-long", h, 1),
                  "duplicate tensor name \"model.layers.0.mlp.down_proj.weight\"", NULL);
    /* An escaped quote inside the name. */
    snprintf(h, sizeof h, "{\"a\\\"b\":%s,\"a\\\"b\":%s}", e, e);
    expect_format(write_st("dup-esc", h, 1), "duplicate tensor name \"a\\\"b\"", NULL);
    /* The first fault of the header is named, as it is read: a name met
     * again before a bad entry, and a bad entry before a name met again
     * (the names are checked all at once, after the entries). */
    const char *bad = "{\"dtype\":\"X9\",\"shape\":[1],\"data_offsets\":[0,1]}";
    snprintf(h, sizeof h, "{\"a\":%s,\"b\":%s,\"a\":%s,\"c\":%s}", e, e, e, bad);
    expect_format(write_st("dup-then-bad", h, 1), "duplicate tensor name \"a\"", "column 109",
                  NULL);
    snprintf(h, sizeof h, "{\"a\":%s,\"c\":%s,\"a\":%s}", e, bad, e);
    expect_format(write_st("bad-then-dup", h, 1), "tensor \"c\"", "X9", NULL);
    snprintf(h, sizeof h, "{\"__metadata__\":{},\"a\":%s,\"b\":%s,\"b\":%s}", e, e, e);
    expect_format(write_st("dup-after-meta", h, 1), "duplicate tensor name \"b\"", "column 127",
                  NULL);
}
END_TEST

START_TEST(header_duplicate_key)
{
    expect_format(one("dup-field", "{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],"
                      "\"data_offsets\":[0,1]}", 1), "duplicate key \"dtype\"", NULL);
    expect_format(write_st("dup-meta", "{\"__metadata__\":{},\"__metadata__\":{}}", 0),
                  "duplicate key \"__metadata__\"", NULL);
    expect_format(write_st("dup-meta-key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0),
                  "duplicate key \"k\"", NULL);
}
END_TEST

START_TEST(header_nul_escape)
{
    /* No name, key or dtype may hold \u0000 (a C string ends there:
     * "dtype\u0000x" would be "dtype"); the message says where it is. */
    const char *e = "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}";
    char h[512];
    snprintf(h, sizeof h, "{\"a\\u0000b\":%s}", e);
    expect_format(write_st("nul-name", h, 1), "string at header offset 1 (line 1, column 2)",
                  "NUL character", NULL);
    expect_format(one("nul-key", "{\"dtype\\u0000x\":\"U8\",\"shape\":[1],"
                      "\"data_offsets\":[0,1]}", 1), "string at header offset 6", "NUL", NULL);
    expect_format(one("nul-dtype", "{\"dtype\":\"U8\\u0000\",\"shape\":[1],"
                      "\"data_offsets\":[0,1]}", 1), "string at header offset 14", "NUL", NULL);
    expect_format(write_st("nul-meta-key", "{\"__metadata__\":{\"k\\u0000\":\"v\"}}", 0),
                  "string at header offset 17", "NUL", NULL);
    expect_format(write_st("nul-meta-value", "{\"__metadata__\":{\n\"k\":\"v\\u0000\"}}", 0),
                  "string at header offset 22 (line 2, column 5)", "NUL", NULL);
}
END_TEST

START_TEST(duplicate_among_many)
{
    /* Found by hash: the last of 20,000 names repeats the first, and the
     * 5,000th metadata key repeats the first of them. */
    size_t n = 20000, cap = n * 80 + 64, at = 0;
    char *h = malloc(cap);
    ck_assert_ptr_nonnull(h);
    at += (size_t)snprintf(h + at, cap - at, "{");
    for (size_t i = 0; i < n; i++)
        at += (size_t)snprintf(h + at, cap - at, "\"t%zu\":{\"dtype\":\"U8\",\"shape\":[1],"
                               "\"data_offsets\":[%zu,%zu]},", i == n - 1 ? 0 : i, i, i + 1);
    h[at - 1] = '}';
    expect_format(write_st("dup-20000", h, n), "duplicate tensor name \"t0\"", NULL);
    at = (size_t)snprintf(h, cap, "{\"__metadata__\":{");
    for (size_t i = 0; i < 5000; i++)
        at += (size_t)snprintf(h + at, cap - at, "\"k%zu\":\"v\",", i == 4999 ? 0 : i);
    h[at - 1] = '}';
    at += (size_t)snprintf(h + at, cap - at, "}");
    expect_format(write_st("dup-meta-5000", h, 0), "duplicate key \"k0\"", NULL);
    /* Without the repeat ("k0" renamed "kx"), it opens. */
    ck_assert(h[at - 8] == '0');
    h[at - 8] = 'x';
    lg_checkpoint_close(open_ok(write_st("meta-5000", h, 0)));
    free(h);
}
END_TEST

/* ------------------------------------------------------------ the entries */

START_TEST(entry_not_object)
{
    expect_format(one("entry-int", "3", 0), "tensor \"t\": entry is an integer", NULL);
    expect_format(one("entry-arr", "[]", 0), "tensor \"t\": entry is an array", NULL);
}
END_TEST

START_TEST(entry_missing_field)
{
    expect_format(one("no-dtype", "{\"shape\":[1],\"data_offsets\":[0,1]}", 1),
                  "tensor \"t\": \"dtype\" is missing", NULL);
    expect_format(one("no-shape", "{\"dtype\":\"U8\",\"data_offsets\":[0,1]}", 1),
                  "tensor \"t\": \"shape\" is missing", NULL);
    expect_format(one("no-offsets", "{\"dtype\":\"U8\",\"shape\":[1]}", 1),
                  "tensor \"t\": \"data_offsets\" is missing", NULL);
}
END_TEST

START_TEST(entry_extra_field)
{
    expect_format(one("extra", "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],"
                      "\"offsets\":[0,1]}", 1), "tensor \"t\": unexpected key \"offsets\"", NULL);
    /* the length of a key wanted, other bytes: not that key */
    expect_format(one("extra-5", "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],"
                      "\"shapE\":[1]}", 1), "tensor \"t\": unexpected key \"shapE\"", NULL);
    expect_format(one("extra-12", "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],"
                      "\"data_offsetz\":[0,1]}", 1),
                  "tensor \"t\": unexpected key \"data_offsetz\"", NULL);
    expect_format(one("dtype-as-5", "{\"dtypE\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}",
                      1), "tensor \"t\": \"dtype\" is missing", NULL);
}
END_TEST

START_TEST(dtype_not_string)
{
    expect_format(one("dtype-int", "{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}", 4),
                  "tensor \"t\": dtype is an integer", NULL);
}
END_TEST

START_TEST(dtype_unknown)
{
    expect_format(one("dtype-f33", "{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}", 4),
                  "tensor \"t\": unknown dtype \"F33\"", NULL);
    /* Names are case-sensitive. */
    expect_format(one("dtype-f32", "{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4),
                  "unknown dtype \"f32\"", NULL);
}
END_TEST

START_TEST(dtype_unsupported)
{
    static const char *const names[] = {"F8_E4M3", "F8_E5M2", "U16", "U32", "U64", "C64"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char e[256], want[64];
        snprintf(e, sizeof e, "{\"dtype\":\"%s\",\"shape\":[1],\"data_offsets\":[0,1]}",
                 names[i]);
        snprintf(want, sizeof want, "unsupported dtype \"%s\"", names[i]);
        expect_format(one("dtype-unsup", e, 1), "tensor \"t\"", want, NULL);
    }
}
END_TEST

START_TEST(shape_invalid)
{
    expect_format(one("shape-obj", "{\"dtype\":\"U8\",\"shape\":{},\"data_offsets\":[0,1]}", 1),
                  "tensor \"t\": shape is an object, not an array", NULL);
    expect_format(one("shape-neg", "{\"dtype\":\"U8\",\"shape\":[2,-3],\"data_offsets\":[0,1]}", 1),
                  "tensor \"t\": shape[1] is -3, not a non-negative integer", NULL);
    expect_format(one("shape-real", "{\"dtype\":\"U8\",\"shape\":[1.0],\"data_offsets\":[0,1]}", 1),
                  "tensor \"t\": shape[0] is a real number", NULL);
    expect_format(one("shape-str", "{\"dtype\":\"U8\",\"shape\":[\"1\"],\"data_offsets\":[0,1]}", 1),
                  "shape[0] is a string", NULL);
}
END_TEST

START_TEST(shape_too_many_dims)
{
    expect_format(one("shape-9", "{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                      "\"data_offsets\":[0,1]}", 1), "tensor \"t\": shape has 9 dimensions",
                  "at most 8", NULL);
}
END_TEST

START_TEST(offsets_invalid)
{
    expect_format(one("off-3", "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}", 1),
                  "tensor \"t\": data_offsets must be [begin, end]", NULL);
    expect_format(one("off-obj", "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":{}}", 1),
                  "data_offsets must be [begin, end], found an object", NULL);
    expect_format(one("off-neg", "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}", 1),
                  "tensor \"t\": data_offsets[0] is -1", NULL);
    expect_format(one("off-null", "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,null]}", 1),
                  "tensor \"t\": data_offsets[1] is null", NULL);
    expect_format(one("off-true", "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[true,1]}", 1),
                  "tensor \"t\": data_offsets[0] is true", NULL);
    expect_format(one("off-false", "{\"dtype\":\"U8\",\"shape\":[false],\"data_offsets\":[0,1]}", 1),
                  "tensor \"t\": shape[0] is false", NULL);
    expect_format(one("off-huge", "{\"dtype\":\"U8\",\"shape\":[1],"
                      "\"data_offsets\":[0,99999999999999999999]}", 1),
                  "data_offsets[1] is 99999999999999999999, a number too big for 64 bits", NULL);
    expect_format(one("off-2e63", "{\"dtype\":\"U8\",\"shape\":[1],"
                      "\"data_offsets\":[0,9223372036854775808]}", 1),
                  "data_offsets[1] is 9223372036854775808, more than 2^63 - 1", NULL);
    expect_format(one("shape-1e400", "{\"dtype\":\"U8\",\"shape\":[1e400],"
                      "\"data_offsets\":[0,1]}", 1), "shape[0] is 1e400, a number too big", NULL);
}
END_TEST

START_TEST(offsets_reversed)
{
    expect_format(one("off-rev", "{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,4]}", 8),
                  "tensor \"t\": data_offsets [8, 4] end before they begin", NULL);
}
END_TEST

START_TEST(size_mismatch)
{
    expect_format(one("size", "{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}", 20),
                  "tensor \"t\": shape [2, 3] of F32 needs 24 bytes",
                  "data_offsets [0, 20] hold 20", NULL);
}
END_TEST

START_TEST(size_overflow)
{
    expect_format(one("ovf", "{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],"
                      "\"data_offsets\":[0,0]}", 0),
                  "tensor \"t\": shape [4294967296, 4294967296, 4] of F32 overflows 64 bits", NULL);
    /* numel fits, numel * 8 does not. */
    expect_format(one("ovf-size", "{\"dtype\":\"F64\",\"shape\":[9223372036854775807],"
                      "\"data_offsets\":[0,0]}", 0), "overflows 64 bits", NULL);
}
END_TEST

START_TEST(offsets_not_from_zero)
{
    expect_format(one("gap0", "{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}", 8),
                  "tensor \"t\": data_offsets [4, 8] leave a gap of 4 bytes at the start", NULL);
}
END_TEST

START_TEST(offsets_gap)
{
    expect_format(write_st("gap", "{\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,12]},"
                           "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 12),
                  "gap of 4 bytes", "tensor \"a\" [0, 4]", "tensor \"b\" [8, 12]", NULL);
}
END_TEST

START_TEST(offsets_overlap)
{
    expect_format(write_st("overlap", "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
                           "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[4,12]}}", 12),
                  "tensor \"a\" [0, 8] and tensor \"b\" [4, 12] overlap by 4 bytes", NULL);
    /* The same range twice. */
    expect_format(write_st("same", "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                           "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4),
                  "tensor \"a\" [0, 4] and tensor \"b\" [0, 4] overlap by 4 bytes", NULL);
}
END_TEST

START_TEST(offsets_past_end)
{
    expect_format(write_st("past", "{\"fc.bias\":{\"dtype\":\"U8\",\"shape\":[64],"
                           "\"data_offsets\":[0,64]},\"fc.weight\":{\"dtype\":\"U8\","
                           "\"shape\":[8936],\"data_offsets\":[64,9000]}}", 8192),
                  "tensor \"fc.weight\": data_offsets [64, 9000] run past the end of the "
                  "data section (8192 bytes)", NULL);
}
END_TEST

START_TEST(offsets_short_of_end)
{
    expect_format(one("trailing", "{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}", 6),
                  "tensors end at byte 4 of a 6-byte data section", "2 trailing bytes", NULL);
    expect_format(write_st("trailing-empty", "{}", 3),
                  "tensors end at byte 0 of a 3-byte data section", NULL);
}
END_TEST

START_TEST(metadata_invalid)
{
    expect_format(write_st("meta-arr", "{\"__metadata__\":[]}", 0),
                  "\"__metadata__\" is an array, not a map of strings", NULL);
    expect_format(write_st("meta-null", "{\"__metadata__\":null}", 0), "is null", NULL);
    expect_format(write_st("meta-int", "{\"__metadata__\":{\"format\":\"pt\",\"epoch\":3}}", 0),
                  "value of \"epoch\" is an integer, not a string", NULL);
    expect_format(write_st("meta-obj", "{\"__metadata__\":{\"cfg\":{}}}", 0),
                  "value of \"cfg\" is an object", NULL);
}
END_TEST

START_TEST(injected_parse_failure)
{
    const char *p = write_st("inject", "{}", 0);
    lg_fault_schedule s = {.when = LG_FAULT_NTH, .k = 1};
    ck_assert_int_eq(lg_fault_set("format.parse", &s), LG_OK);
    expect_format(p, ": injected parse failure", NULL);
    ck_assert_uint_eq(lg_fault_fired("format.parse"), 1);
    lg_fault_clear();
    lg_checkpoint_close(open_ok(p));
}
END_TEST

/* ----------------------------------------------------------- valid files */

static const struct {
    const char *st;
    lg_dtype dtype;
    size_t size;
} all_dtypes[] = {
    {"F64", LG_F64, 8}, {"F32", LG_F32, 4}, {"F16", LG_F16, 2}, {"BF16", LG_BF16, 2},
    {"I64", LG_I64, 8}, {"I32", LG_I32, 4}, {"I16", LG_I16, 2}, {"I8", LG_I8, 1},
    {"U8", LG_U8, 1},   {"BOOL", LG_BOOL, 1},
};
#define NDT (sizeof all_dtypes / sizeof all_dtypes[0])

/* Every dtype as a [2, 3] tensor, then a 0-dim F32 and two empty tensors;
 * the header lists them in reverse file order. Returns the data size. */
static size_t write_every_dtype(const char *path_name, const char **path)
{
    char h[4096];
    size_t used = 0, off = 0;
    size_t begin[NDT];
    for (size_t i = 0; i < NDT; i++) {
        begin[i] = off;
        off += 6 * all_dtypes[i].size;
    }
    used += (size_t)snprintf(h + used, sizeof h - used,
                             "{\"__metadata__\":{\"format\":\"pt\"},"
                             "\"empty.b\":{\"dtype\":\"I32\",\"shape\":[0],\"data_offsets\":[%zu,%zu]},"
                             "\"empty.a\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[%zu,%zu]},"
                             "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[%zu,%zu]}",
                             off + 4, off + 4, off + 4, off + 4, off, off + 4);
    for (size_t i = NDT; i-- > 0;)
        used += (size_t)snprintf(h + used, sizeof h - used,
                                 ",\"t.%s\":{\"dtype\":\"%s\",\"shape\":[2,3],"
                                 "\"data_offsets\":[%zu,%zu]}", all_dtypes[i].st,
                                 all_dtypes[i].st, begin[i], begin[i] + 6 * all_dtypes[i].size);
    used += (size_t)snprintf(h + used, sizeof h - used, "}");
    while (used % 8) /* padding, as the reference writer does */
        h[used++] = ' ';
    h[used] = '\0';
    *path = write_st(path_name, h, off + 4);
    return off + 4;
}

START_TEST(every_dtype)
{
    const char *p;
    size_t dsize = write_every_dtype("every", &p);
    lg_checkpoint *c = open_ok(p);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | c->map[i];
    ck_assert_uint_eq(c->size - 8 - hlen, dsize);
    ck_assert_uint_eq(lg_checkpoint_count(c), NDT + 3);
    size_t off = 0;
    for (size_t i = 0; i < NDT; i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        char want[32];
        snprintf(want, sizeof want, "t.%s", all_dtypes[i].st);
        ck_assert_str_eq(t->name, want);
        ck_assert_int_eq(t->dtype, all_dtypes[i].dtype);
        ck_assert_int_eq(t->ndim, 2);
        ck_assert_int_eq(t->shape[0], 2);
        ck_assert_int_eq(t->shape[1], 3);
        ck_assert_uint_eq(t->nbytes, 6 * all_dtypes[i].size);
        unsigned char buf[64];
        ck_assert_int_eq(lg_checkpoint_read(c, i, buf, t->nbytes), LG_OK);
        for (size_t j = 0; j < t->nbytes; j++)
            ck_assert_uint_eq(buf[j], pattern(off + j));
        ck_assert_mem_eq(c->ops->bytes(c, i), buf, t->nbytes);
        off += t->nbytes;
    }
    const lg_tensor_info *s = lg_checkpoint_tensor(c, NDT);
    ck_assert_str_eq(s->name, "scalar");
    ck_assert_int_eq(s->ndim, 0);
    ck_assert_uint_eq(s->nbytes, 4);
    unsigned char v[4];
    ck_assert_int_eq(lg_checkpoint_read(c, NDT, v, 4), LG_OK);
    for (size_t j = 0; j < 4; j++)
        ck_assert_uint_eq(v[j], pattern(off + j));
    /* The empty tensors share the last offset; the name breaks the tie. */
    const lg_tensor_info *ea = lg_checkpoint_tensor(c, NDT + 1), *eb = lg_checkpoint_tensor(c, NDT + 2);
    ck_assert_str_eq(ea->name, "empty.a");
    ck_assert_int_eq(ea->ndim, 2);
    ck_assert_int_eq(ea->shape[0], 0);
    ck_assert_int_eq(ea->shape[1], 3);
    ck_assert_uint_eq(ea->nbytes, 0);
    ck_assert_str_eq(eb->name, "empty.b");
    ck_assert_uint_eq(eb->nbytes, 0);
    ck_assert_int_eq(lg_checkpoint_read(c, NDT + 1, v, 0), LG_OK);
    ck_assert_ptr_eq(c->ops->bytes(c, NDT + 2), c->map + c->size);
    ck_assert_uint_eq(lg_checkpoint_find(c, "t.BF16"), 3);
    ck_assert_uint_eq(lg_checkpoint_find(c, "__metadata__"), (size_t)-1);
    ck_assert_ptr_null(c->ops->bytes(c, NDT + 3));
    ck_assert_int_eq(c->ops->read(c, NDT + 3, v), LG_E_INVALID);
    lg_checkpoint_close(c);
}
END_TEST

START_TEST(empty_header)
{
    /* The reference writer's empty file: "{}" padded to 8 bytes. */
    lg_checkpoint *c = open_ok(write_st("empty", "{}      ", 0));
    ck_assert_uint_eq(lg_checkpoint_count(c), 0);
    lg_checkpoint_close(c);
    c = open_ok(write_st("empty-min", "{}", 0));
    ck_assert_uint_eq(lg_checkpoint_count(c), 0);
    lg_checkpoint_close(c);
    /* Trailing JSON whitespace of any kind. */
    c = open_ok(write_st("empty-ws", "{}\r \t\n", 0));
    lg_checkpoint_close(c);
}
END_TEST

START_TEST(reference_example)
{
    /* The example from the reference implementation's documentation. */
    lg_checkpoint *c = open_ok(write_st("ref", "{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],"
                                        "\"data_offsets\":[0,16]}}", 16));
    ck_assert_uint_eq(lg_checkpoint_count(c), 1);
    ck_assert_int_eq(lg_checkpoint_tensor(c, 0)->dtype, LG_I32);
    lg_checkpoint_close(c);
}
END_TEST

START_TEST(empty_tensor_first)
{
    /* An empty tensor sorts before a tensor beginning at the same offset. */
    lg_checkpoint *c = open_ok(write_st("empty-first", "{\"w\":{\"dtype\":\"U8\",\"shape\":[4],"
                                        "\"data_offsets\":[0,4]},\"z\":{\"dtype\":\"BOOL\","
                                        "\"shape\":[2,0],\"data_offsets\":[0,0]}}", 4));
    ck_assert_uint_eq(lg_checkpoint_count(c), 2);
    ck_assert_str_eq(lg_checkpoint_tensor(c, 0)->name, "z");
    ck_assert_str_eq(lg_checkpoint_tensor(c, 1)->name, "w");
    unsigned char b[4];
    ck_assert_int_eq(lg_checkpoint_read(c, 1, b, 4), LG_OK);
    ck_assert_uint_eq(b[0], pattern(0));
    ck_assert_uint_eq(b[3], pattern(3));
    lg_checkpoint_close(c);
}
END_TEST

START_TEST(metadata_ok)
{
    lg_checkpoint *c = open_ok(write_st("meta", "{\"__metadata__\":{\"format\":\"pt\",\"note\":"
                                        "\"caf\xc3\xa9\"},\"w\":{\"dtype\":\"U8\",\"shape\":[2],"
                                        "\"data_offsets\":[0,2]}}", 2));
    ck_assert_uint_eq(lg_checkpoint_count(c), 1);
    ck_assert_str_eq(lg_checkpoint_tensor(c, 0)->name, "w");
    lg_checkpoint_close(c);
    c = open_ok(write_st("meta-empty", "{\"__metadata__\":{}}", 0));
    lg_checkpoint_close(c);
}
END_TEST

START_TEST(forced_reader_on_valid_file)
{
    lg_open_options o = {.reader = "safetensors"};
    lg_checkpoint *c = NULL;
    ck_assert_int_eq(lg_checkpoint_open(write_st("forced", "{}", 0), &o, &c), LG_OK);
    lg_checkpoint_close(c);
}
END_TEST

START_TEST(sniff)
{
    int (*sn)(const unsigned char *, size_t, uint64_t) = lg__safetensors_reader.sniff;
    unsigned char h[64] = {0};
    le64_put(h, 2);
    memcpy(h + 8, "{}", 2);
    ck_assert_int_eq(sn(h, 10, 10), 1);
    ck_assert_int_eq(sn(h, 8, 8), 0);          /* nothing after the prefix */
    le64_put(h, 1u << 30);                     /* corrupt length: still ours */
    ck_assert_int_eq(sn(h, 10, 10), 1);
    le64_put(h, 4);
    memcpy(h + 8, "  {}", 4);                  /* leading space: open() refuses */
    ck_assert_int_eq(sn(h, 12, 12), 1);
    memcpy(h + 8, "    ", 4);                  /* only whitespace */
    ck_assert_int_eq(sn(h, 12, 12), 0);
    memcpy(h, "PK\x03\x04\x14\0\0\0\x08\0", 10); /* a zip */
    ck_assert_int_eq(sn(h, 40, 40), 0);
    le64_put(h, 6);                            /* damaged first byte, sane end */
    memcpy(h + 8, "?\"a\":}", 6);
    ck_assert_int_eq(sn(h, 14, 14), 1);
    memcpy(h + 8, "?\"a\":0", 6);
    ck_assert_int_eq(sn(h, 14, 14), 0);
    le64_put(h, 100);                          /* header not in the head */
    ck_assert_int_eq(sn(h, 14, 200), 0);
}
END_TEST

/* ------------------------------------------------------------ the fixture */

START_TEST(fixture_matches_manifest)
{
    const char *dir = LG_SOURCE_DIR "/tests/data/safetensors-0.8";
    char path[1024];
    json_error_t e;
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    json_t *m = json_load_file(path, 0, &e);
    ck_assert_msg(m != NULL, "%s: %s", path, e.text);
    json_t *want = json_object_get(json_object_get(json_object_get(m, "files"),
                                                   "mlp_f32.safetensors"), "tensors");
    ck_assert(json_is_object(want));
    snprintf(path, sizeof path, "%s/mlp_f32.safetensors", dir);
    lg_checkpoint *c = open_ok(path);
    ck_assert_uint_eq(lg_checkpoint_count(c), json_object_size(want));
    for (size_t i = 0; i < lg_checkpoint_count(c); i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        json_t *w = json_object_get(want, t->name);
        ck_assert_msg(w != NULL, "tensor %s not in the manifest", t->name);
        ck_assert_int_eq(t->dtype, LG_F32);
        json_t *shape = json_object_get(w, "shape");
        ck_assert_uint_eq((size_t)t->ndim, json_array_size(shape));
        for (int d = 0; d < t->ndim; d++)
            ck_assert_int_eq(t->shape[d], json_integer_value(json_array_get(shape, (size_t)d)));
        void *buf = malloc(t->nbytes);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(lg_checkpoint_read(c, i, buf, t->nbytes), LG_OK);
        char hex[65];
        sha256_hex(buf, t->nbytes, hex);
        ck_assert_str_eq(hex, json_string_value(json_object_get(w, "sha256")));
        free(buf);
    }
    /* File order: by data offset. */
    ck_assert_str_eq(lg_checkpoint_tensor(c, 0)->name, "0.bias");
    ck_assert_str_eq(lg_checkpoint_tensor(c, 3)->name, "2.weight");
    lg_checkpoint_close(c);
    json_decref(m);
}
END_TEST

/* ------------------------------------------------------------ fault sweep */

/* Fails the K-th allocation for K = 1, 2, ... until a run hits no fault;
 * every run must end in `ok` or LG_E_NOMEM. Returns the number of runs. */
static unsigned sweep(const char *path, lg_status ok)
{
    unsigned k = 1;
    for (;; k++) {
        lg_fault_schedule s = {.when = LG_FAULT_NTH, .k = k};
        lg_checkpoint *c = NULL;
        ck_assert_int_eq(lg_fault_set("mem.alloc", &s), LG_OK);
        lg_status st = lg_checkpoint_open(path, NULL, &c);
        uint64_t fired = lg_fault_fired("mem.alloc");
        lg_fault_clear();
        ck_assert_msg(st == ok || st == LG_E_NOMEM, "K=%u: %s: %s", k, lg_status_name(st),
                      lg_error_message());
        ck_assert_msg(st != LG_E_NOMEM || fired, "K=%u: LG_E_NOMEM with no fault", k);
        ck_assert_msg((st == LG_OK) == (c != NULL), "K=%u: checkpoint and status disagree", k);
        if (c) {
            for (size_t i = 0; i < lg_checkpoint_count(c); i++)
                ck_assert_ptr_nonnull(lg_checkpoint_tensor(c, i)->name);
            lg_checkpoint_close(c);
        }
        if (!fired)
            break;
        ck_assert_msg(k < 10000, "the sweep does not end");
    }
    return k;
}

START_TEST(alloc_sweep_valid)
{
    const char *p;
    write_every_dtype("sweep", &p);
    /* A run per allocation: the file's 13 names and more. */
    ck_assert_uint_gt(sweep(p, LG_OK), 13);
}
END_TEST

START_TEST(alloc_sweep_invalid)
{
    const char *p = write_st("sweep-bad", "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                             "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}", 6);
    ck_assert_uint_gt(sweep(p, LG_E_FORMAT), 2);
}
END_TEST

START_TEST(alloc_sweep_fixture)
{
    sweep(LG_SOURCE_DIR "/tests/data/safetensors-0.8/mlp_f32.safetensors", LG_OK);
}
END_TEST

/* ------------------------------------------------------------------ main */

static void teardown(void) { lg_fault_clear(); }

static Suite *safetensors_suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *rules = tcase_create("rules");
    TCase *valid = tcase_create("valid");
    TCase *faults = tcase_create("faults");
    tcase_add_checked_fixture(rules, NULL, teardown);
    tcase_add_checked_fixture(faults, NULL, teardown);

    tcase_add_test(rules, file_shorter_than_prefix);
    tcase_add_test(rules, prefix_only);
    tcase_add_test(rules, header_length_too_small);
    tcase_add_test(rules, header_length_over_limit);
    tcase_add_test(rules, header_length_near_2_64);
    tcase_add_test(rules, header_length_past_end);
    tcase_add_test(rules, header_truncated);
    tcase_add_test(rules, header_leading_whitespace);
    tcase_add_test(rules, header_first_byte_damaged);
    tcase_add_test(rules, header_not_utf8);
    tcase_add_test(rules, header_not_json);
    tcase_add_test(rules, header_nul_byte);
    tcase_add_test(rules, header_duplicate_name);
    tcase_add_test(rules, header_duplicate_key);
    tcase_add_test(rules, header_nul_escape);
    tcase_add_test(rules, duplicate_among_many);
    tcase_add_test(rules, entry_not_object);
    tcase_add_test(rules, entry_missing_field);
    tcase_add_test(rules, entry_extra_field);
    tcase_add_test(rules, dtype_not_string);
    tcase_add_test(rules, dtype_unknown);
    tcase_add_test(rules, dtype_unsupported);
    tcase_add_test(rules, shape_invalid);
    tcase_add_test(rules, shape_too_many_dims);
    tcase_add_test(rules, offsets_invalid);
    tcase_add_test(rules, offsets_reversed);
    tcase_add_test(rules, size_mismatch);
    tcase_add_test(rules, size_overflow);
    tcase_add_test(rules, offsets_not_from_zero);
    tcase_add_test(rules, offsets_gap);
    tcase_add_test(rules, offsets_overlap);
    tcase_add_test(rules, offsets_past_end);
    tcase_add_test(rules, offsets_short_of_end);
    tcase_add_test(rules, metadata_invalid);
    tcase_add_test(rules, injected_parse_failure);

    tcase_add_test(valid, every_dtype);
    tcase_add_test(valid, empty_header);
    tcase_add_test(valid, reference_example);
    tcase_add_test(valid, empty_tensor_first);
    tcase_add_test(valid, metadata_ok);
    tcase_add_test(valid, forced_reader_on_valid_file);
    tcase_add_test(valid, sniff);
    tcase_add_test(valid, fixture_matches_manifest);

    tcase_add_test(faults, alloc_sweep_valid);
    tcase_add_test(faults, alloc_sweep_invalid);
    tcase_add_test(faults, alloc_sweep_fixture);

    suite_add_tcase(s, rules);
    suite_add_tcase(s, valid);
    suite_add_tcase(s, faults);
    return s;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[1024];
    if (!d)
        return;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    closedir(d);
    rmdir(dir);
}

int main(void)
{
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    int failed = tu_run_suite(safetensors_suite());
    remove_dir(g_dir);
    return failed ? 1 : 0;
}
