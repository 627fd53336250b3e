/* harness inspect, load and fixtures, as a user runs them; and the
 * fixture generator. */
#include "cmd/cmd.h"
#include "fixture/gen.h"
#include "testutil.h"

#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *dir;
static char small[1024];

static void setup(void)
{
    dir = tu_tmpdir();
    snprintf(small, sizeof small, "%s", tu_path(dir, "small.safetensors"));
    ck_assert_int_eq(tu_write_safetensors(small, 3, 2, 5), 0);
}

static void teardown(void) { tu_rmtree(dir); }

/* Runs a subcommand with stdout into a buffer; returns the exit code. */
static int run_cmd(int (*fn)(int, char **), char **argv, char **out)
{
    int rc = tu_run_cmd(fn, argv, dir, out);
    ck_assert_ptr_nonnull(*out);
    return rc;
}

static json_t *parse(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    ck_assert_msg(j != NULL, "not JSON: %s\n%s", e.text, s);
    return j;
}

START_TEST(test_inspect_json)
{
    char *out;
    char *argv[] = {"inspect", small, "--json", "--backend", "sim", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_inspect, argv, &out), 0);
    json_t *j = parse(out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "format")), "safetensors");
    json_t *t = json_object_get(j, "tensors");
    ck_assert_uint_eq(json_array_size(t), 3);
    json_t *t1 = json_array_get(t, 1);
    ck_assert_str_eq(json_string_value(json_object_get(t1, "name")), "t1");
    ck_assert_str_eq(json_string_value(json_object_get(t1, "dtype")), "f32");
    ck_assert_int_eq(json_integer_value(json_object_get(t1, "bytes")), 40);
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(t1, "shape"), 1)), 5);
    float v[10];
    for (int k = 0; k < 10; k++)
        v[k] = (float)(1000 + k);
    char hex[65];
    tu_sha256(v, sizeof v, hex);
    ck_assert_str_eq(json_string_value(json_object_get(t1, "sha256")), hex);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "findings")), 0);
    json_decref(j);
    free(out);
}
END_TEST

/* The text output of a valid file holding an empty tensor with eight huge
 * dimensions: the whole shape and the sha256 column are printed (the
 * sha256 of no bytes), nothing is cut short. tests/data/hostile/. */
START_TEST(test_inspect_text_huge_dims)
{
    char *out, p[2048];
    snprintf(p, sizeof p, "%s/tests/data/hostile/empty-huge-dims.safetensors", tu_source_dir());
    char *argv[] = {"inspect", p, "--backend", "sim", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_inspect, argv, &out), 0);
    const char *line = strstr(out, "  empty ");
    ck_assert_msg(line != NULL, "no line for the tensor in:\n%s", out);
    char want[512] = "[0";
    for (int k = 1; k < 8; k++)
        strcat(want, ", 4611686018427387904");
    strcat(want, "]");
    ck_assert_msg(strstr(line, want), "want %s in:\n%s", want, line);
    char hex[65];
    tu_sha256("", 0, hex);
    char tail[128];
    snprintf(tail, sizeof tail, " 0  %s\n", hex);
    ck_assert_msg(strstr(line, tail), "no bytes and sha256 column in:\n%s", line);
    free(out);
    /* a short shape is still padded to its column */
    char *a2[] = {"inspect", small, "--backend", "sim", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_inspect, a2, &out), 0);
    float v[10];
    for (int k = 0; k < 10; k++)
        v[k] = (float)(1000 + k);
    tu_sha256(v, sizeof v, hex);
    char want2[256];
    snprintf(want2, sizeof want2, "  %-32s %-5s %-16s %10d  %s\n", "t1", "f32", "[2, 5]", 40,
             hex);
    ck_assert_msg(strstr(out, want2), "want \"%s\" in:\n%s", want2, out);
    free(out);
}
END_TEST

/* A FIFO nobody writes, a directory, a character device: each refused at
 * once as "not a regular file", by inspect and load alike. A blocking
 * open() would hang: the alarm turns that into a failure. */
START_TEST(test_not_regular_files)
{
    const char *fifo = tu_path(dir, "fifo.safetensors");
    unlink(fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    char fifo_path[4096];
    snprintf(fifo_path, sizeof fifo_path, "%s", fifo);
    struct {
        const char *path, *kind;
    } cases[] = {{fifo_path, "(a FIFO)"}, {dir, "(a directory)"}, {"/dev/null", "(a character device)"}};
    alarm(20);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out;
        char *a[] = {"inspect", (char *)cases[i].path, "--json", "--backend", "sim", NULL};
        ck_assert_int_eq(run_cmd(hx_cmd_inspect, a, &out), 1);
        json_t *j = parse(out);
        const char *msg = json_string_value(json_object_get(j, "message"));
        ck_assert_msg(strstr(msg, "not a regular file") && strstr(msg, cases[i].kind), "%s", msg);
        json_decref(j);
        free(out);
        /* --json: the error in the document on stdout (text: on stderr) */
        char *l[] = {"load", (char *)cases[i].path, "--device", "mps", "--json", NULL};
        ck_assert_int_eq(run_cmd(hx_cmd_load, l, &out), 1);
        ck_assert_msg(strstr(out, "not a regular file"), "%s", out);
        free(out);
    }
    alarm(0);
    unlink(fifo);
}
END_TEST

/* Names of any length go through the trace and the checks whole: a name
 * of 128 bytes or more once lost its end in the trace, and via-cpu failed. */
START_TEST(test_long_names_load)
{
    static const size_t lens[] = {127, 128, 129, 1000, 5000};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        char *name = malloc(lens[k] + 1), *hdr = malloc(lens[k] + 128);
        ck_assert(name && hdr);
        memset(name, 'n', lens[k]);
        name[lens[k]] = 0;
        int hn = snprintf(hdr, lens[k] + 128,
                          "{\"%s\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
                          name);
        size_t n = 8 + (size_t)hn + 16;
        unsigned char *file = calloc(1, n);
        ck_assert_ptr_nonnull(file);
        for (int b = 0; b < 8; b++)
            file[b] = (unsigned char)((uint64_t)hn >> (8 * b));
        memcpy(file + 8, hdr, (size_t)hn);
        const char *path = tu_path(dir, "long.safetensors");
        ck_assert_int_eq(tu_write(path, file, n), 0);
        char *out;
        char *a[] = {"load", (char *)path, "--device", "mps", "--json", "--trace", NULL};
        ck_assert_int_eq(run_cmd(hx_cmd_load, a, &out), 0);
        json_t *j = parse(out);
        json_t *inv = json_object_get(j, "invariants");
        ck_assert_str_eq(json_string_value(json_object_get(inv, "via-cpu")), "pass");
        ck_assert_str_eq(json_string_value(json_object_get(inv, "values")), "pass");
        int whole = 0;
        size_t i;
        json_t *ev;
        json_array_foreach(json_object_get(j, "trace"), i, ev)
            whole |= !strcmp(json_string_value(json_object_get(ev, "tensor")), name);
        ck_assert_msg(whole, "no trace event names the whole %zu-byte name", lens[k]);
        json_decref(j);
        free(out);
        free(file);
        free(hdr);
        free(name);
    }
}
END_TEST

/* A path that is not UTF-8: --json still prints every tensor, with the
 * path's bad byte as U+FFFD, never an empty document. */
START_TEST(test_inspect_json_non_utf8_path)
{
    size_t n = 0;
    void *b = tu_read(small, &n);
    ck_assert_ptr_nonnull(b);
    char path[4096];
    snprintf(path, sizeof path, "%s", tu_path(dir, "bad\xff.safetensors"));
    ck_assert_int_eq(tu_write(path, b, n), 0);
    free(b);
    char *out;
    char *a[] = {"inspect", path, "--json", "--backend", "sim", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_inspect, a, &out), 0);
    json_t *j = parse(out);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "tensors")), 3);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(j, "file")), "bad\xef\xbf\xbd"));
    json_decref(j);
    free(out);
}
END_TEST

START_TEST(test_inspect_errors)
{
    char *out;
    const char *junk = tu_path(dir, "junk.bin");
    ck_assert_int_eq(tu_write(junk, "\x01\x02\x03\x04xxxxxxxxxxxx", 16), 0);
    char *a1[] = {"inspect", (char *)junk, "--json", "--backend", "sim", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_inspect, a1, &out), 1);
    json_t *j = parse(out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "LG_E_FORMAT");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(j, "message")), "junk.bin"));
    json_decref(j);
    free(out);
    char *a2[] = {"inspect", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_inspect, a2, &out), 2);
    free(out);
    char *a3[] = {"inspect", "--help", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_inspect, a3, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: harness inspect"));
    free(out);
    char *a4[] = {"inspect", small, "--backend", "sim", NULL}; /* the table */
    ck_assert_int_eq(run_cmd(hx_cmd_inspect, a4, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "safetensors, 3 tensors"));
    ck_assert_ptr_nonnull(strstr(out, "[2, 5]"));
    free(out);
}
END_TEST

START_TEST(test_load_json)
{
    char *out;
    char *argv[] = {"load", small, "--device", "mps", "--policy", "via-cpu", "--trace", "--json", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_load, argv, &out), 0);
    json_t *j = parse(out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "LG_OK");
    ck_assert_str_eq(json_string_value(json_object_get(j, "device_before")), "mps");
    ck_assert_str_eq(json_string_value(json_object_get(j, "device_after")), "mps");
    ck_assert_str_eq(json_string_value(json_object_get(j, "policy")), "via-cpu");
    ck_assert_str_eq(json_string_value(json_object_get(j, "backend")), "sim");
    json_t *inv = json_object_get(j, "invariants");
    ck_assert_str_eq(json_string_value(json_object_get(inv, "via-cpu")), "pass");
    ck_assert_str_eq(json_string_value(json_object_get(inv, "atomic")), "n/a");
    ck_assert_str_eq(json_string_value(json_object_get(inv, "values")), "pass");
    json_t *trace = json_object_get(j, "trace");
    ck_assert_uint_gt(json_array_size(trace), 9);
    json_t *e0 = json_array_get(trace, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(e0, "seq")), 1);
    ck_assert_ptr_nonnull(json_object_get(e0, "op"));
    ck_assert_ptr_nonnull(json_object_get(e0, "tensor"));
    ck_assert_ptr_nonnull(json_object_get(e0, "from"));
    ck_assert_ptr_nonnull(json_object_get(e0, "to"));
    ck_assert_ptr_nonnull(json_object_get(e0, "bytes"));
    ck_assert(json_is_boolean(json_object_get(e0, "ok")));
    json_decref(j);
    free(out);
}
END_TEST

START_TEST(test_load_refused_and_human)
{
    char *out;
    char *a1[] = {"load", small, "--device", "mps", "--policy", "direct", "--json", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_load, a1, &out), 1);
    ck_assert_ptr_nonnull(strstr(out, "LG_E_DEVICE"));
    ck_assert_ptr_nonnull(strstr(out, "however got MPS"));
    ck_assert_ptr_nonnull(strstr(out, "\"device_after\": \"mps\""));
    free(out);
    char *a2[] = {"load", small, "--device", "mps", "--policy", "staged", "--trace", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_load, a2, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "via staged"));
    ck_assert_ptr_nonnull(strstr(out, "deserialize"));
    free(out);
    /* a corrupt file: exit 1, the device where it was */
    const char *bad = tu_path(dir, "bad.safetensors");
    ck_assert_int_eq(tu_write(bad, "\x10\0\0\0\0\0\0\0{\"a\":", 13), 0);
    char *a3[] = {"load", (char *)bad, "--device", "mps", "--json", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_load, a3, &out), 1);
    json_t *j = parse(out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "LG_E_FORMAT");
    ck_assert_str_eq(json_string_value(json_object_get(j, "device_after")), "mps");
    json_decref(j);
    free(out);
}
END_TEST

START_TEST(test_load_usage)
{
    char *out;
    char *a1[] = {"load", small, NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_load, a1, &out), 2);
    free(out);
    char *a2[] = {"load", small, "--device", "tpu", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_load, a2, &out), 2);
    free(out);
    char *a3[] = {"load", small, "--device", "cpu", "--policy", "yolo", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_load, a3, &out), 2);
    free(out);
    char *a4[] = {"load", small, "--device", "cpu", "--dtype-rule", "lax", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_load, a4, &out), 2);
    free(out);
    char *a5[] = {"load", small, "--device", "cpu", "--backend", "nope", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_load, a5, &out), 2);
    free(out);
    char *a6[] = {"load", "--help", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_load, a6, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "--device D"));
    free(out);
    char *a7[] = {"load", small, "--device", "mps", "--policy", "staged", "--dtype-rule",
                  "strict", "--staging-budget", "100", "--reader", "safetensors", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_load, a7, &out), 0);
    free(out);
}
END_TEST

START_TEST(test_fixtures_deterministic)
{
    char *out, *out2;
    char d1[1024], d2[1024];
    snprintf(d1, sizeof d1, "%s", tu_path(dir, "a"));
    snprintf(d2, sizeof d2, "%s", tu_path(dir, "b"));
    char *a1[] = {"fixtures", d1, NULL};
    char *a2[] = {"fixtures", d2, NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_fixtures, a1, &out), 0);
    ck_assert_int_eq(run_cmd(hx_cmd_fixtures, a2, &out2), 0);
    int files = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), files++) {
        size_t n1, n2;
        char other[2048];
        snprintf(other, sizeof other, "%s%s", d2, line + strlen(d1));
        void *x = tu_read(line, &n1), *y = tu_read(other, &n2);
        ck_assert_ptr_nonnull(x);
        ck_assert_ptr_nonnull(y);
        ck_assert_uint_eq(n1, n2);
        ck_assert_mem_eq(x, y, n1);
        free(x);
        free(y);
        if (strstr(line, ".safetensors")) { /* every generated file loads */
            char *a3[] = {"load", line, "--device", "cpu", NULL};
            char *o3;
            ck_assert_int_eq(run_cmd(hx_cmd_load, a3, &o3), 0);
            free(o3);
        }
    }
    ck_assert_int_ge(files, 5);
    free(out);
    free(out2);
    char *a4[] = {"fixtures", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_fixtures, a4, &out), 2);
    free(out);
    char *a5[] = {"fixtures", "--help", NULL};
    ck_assert_int_eq(run_cmd(hx_cmd_fixtures, a5, &out), 0);
    free(out);
}
END_TEST

/* f16 and bf16 values of the generator are right: 0.5 and -0.25. */
START_TEST(test_gen_values)
{
    hx_gen g;
    hx_gen_init(&g);
    g.ndtypes = 3;
    g.dtypes[0] = LG_F16;
    g.dtypes[1] = LG_BF16;
    g.dtypes[2] = LG_BOOL;
    g.ndim = 1;
    g.shape[0] = 64;
    const char *p = tu_path(dir, "g.safetensors");
    ck_assert_int_eq(hx_gen_write(&g, p), LG_OK);
    lg_checkpoint *c;
    ck_assert_int_eq(lg_checkpoint_open(p, NULL, &c), LG_OK);
    uint16_t h[64], b[64];
    uint8_t z[64];
    ck_assert_int_eq(lg_checkpoint_read(c, 0, h, sizeof h), LG_OK);
    ck_assert_int_eq(lg_checkpoint_read(c, 1, b, sizeof b), LG_OK);
    ck_assert_int_eq(lg_checkpoint_read(c, 2, z, sizeof z), LG_OK);
    for (int i = 0; i < 64; i++) {
        int exp16 = (h[i] >> 10) & 0x1f, expb = (b[i] >> 7) & 0xff;
        /* |x| <= 1: rounding may reach 1.0 exactly */
        ck_assert(exp16 < 15 || (exp16 == 15 && (h[i] & 0x3ff) == 0));
        ck_assert(expb < 127 || (expb == 127 && (b[i] & 0x7f) == 0));
        ck_assert_uint_le(z[i], 1);
    }
    char name[256];
    hx_gen_filename(&g, name, sizeof name);
    ck_assert_str_eq(name, "safetensors-3-64-f16.bf16.bool-s0.safetensors");
    g.format[0] = 'x';
    ck_assert_int_eq(hx_gen_write(&g, p), LG_E_INVALID);
    lg_checkpoint_close(c);
}
END_TEST

/* The generator checks its own sizes: a spec whose byte count wraps
 * (2^31 * 2^31 f32 elements are 2^64 bytes) or that asks for more than
 * 1 GiB of tensor data is refused before anything is allocated or
 * written. */
START_TEST(test_gen_refuses_huge)
{
    hx_gen g;
    const char *p = tu_path(dir, "huge.safetensors");
    hx_gen_init(&g);
    g.tensors = 1;
    g.shape[0] = g.shape[1] = INT64_C(1) << 31;
    ck_assert_int_eq(hx_gen_write(&g, p), LG_E_INVALID);
    ck_assert_int_ne(access(p, F_OK), 0);
    hx_gen_init(&g); /* 1,000,000 * 4 KiB */
    g.tensors = 1000000;
    g.ndim = 1;
    g.shape[0] = 1024;
    ck_assert_int_eq(hx_gen_write(&g, p), LG_E_INVALID);
    hx_gen_init(&g); /* empty, but the strides overflow */
    g.ndim = 3;
    g.shape[0] = 0;
    g.shape[1] = g.shape[2] = INT64_C(1) << 48;
    snprintf(g.format, sizeof g.format, "torch-zip");
    ck_assert_int_eq(hx_gen_write(&g, p), LG_E_INVALID);
    hx_gen_init(&g);
    g.ndtypes = 2;
    g.dtypes[0] = LG_F64;
    g.dtypes[1] = LG_U8;
    g.ndim = 1;
    g.shape[0] = INT64_C(1) << 27; /* 1 GiB + 128 MiB */
    ck_assert_int_eq(hx_gen_write(&g, p), LG_E_INVALID);
    ck_assert_int_ne(access(p, F_OK), 0);
    /* empty tensors with large dims are written, in both formats */
    hx_gen_init(&g);
    g.tensors = 3;
    g.ndim = 2;
    g.shape[0] = 0;
    g.shape[1] = INT64_C(1) << 48;
    ck_assert_int_eq(hx_gen_write(&g, p), LG_OK);
    lg_checkpoint *c;
    ck_assert_int_eq(lg_checkpoint_open(p, NULL, &c), LG_OK);
    ck_assert_uint_eq(lg_checkpoint_count(c), 3);
    ck_assert_uint_eq(lg_checkpoint_tensor(c, 2)->nbytes, 0);
    lg_checkpoint_close(c);
    snprintf(g.format, sizeof g.format, "torch-zip");
    ck_assert_int_eq(hx_gen_write(&g, tu_path(dir, "empty.pt")), LG_OK);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_inspect_json);
    tcase_add_test(tc, test_inspect_text_huge_dims);
    tcase_add_test(tc, test_inspect_errors);
    tcase_add_test(tc, test_not_regular_files);
    tcase_add_test(tc, test_long_names_load);
    tcase_add_test(tc, test_inspect_json_non_utf8_path);
    tcase_add_test(tc, test_load_json);
    tcase_add_test(tc, test_load_refused_and_human);
    tcase_add_test(tc, test_load_usage);
    tcase_add_test(tc, test_fixtures_deterministic);
    tcase_add_test(tc, test_gen_values);
    tcase_add_test(tc, test_gen_refuses_huge);
    suite_add_tcase(s, tc);
    int failed = tu_run_suite(s);
    return failed ? 1 : 0;
}
