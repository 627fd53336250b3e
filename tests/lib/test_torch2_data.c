/* The files PyTorch 2.x wrote (tests/data/torch2, by its generate.py)
 * against their manifest: every tensor's dtype, shape and sha256, read by
 * loadgate's native readers (no libtorch; TorchScript too, as
 * pytorch-1.13's mlp_script.pt), and by the libtorch readers
 * where this build has libtorch (1.13 or 2.x: each must read what 2.x
 * wrote). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "formats/format.h"
#include "loadgate/loadgate.h"
#include "testutil.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *g_manifest;
static json_t *g_manifest113; /* tests/data/pytorch-1.13's, for its TorchScript file */

static const char *data_path(const char *file)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/torch2/%s", tu_source_dir(), file);
    return path;
}

static const char *data113_path(const char *file)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/pytorch-1.13/%s", tu_source_dir(), file);
    return path;
}

/* A file of tests/data/pytorch-1.13 is named "pytorch-1.13/<file>" here. */
static json_t *tensors_of(const char *file)
{
    const char *f113 = !strncmp(file, "pytorch-1.13/", 13) ? file + 13 : NULL;
    json_t *m = f113 ? g_manifest113 : g_manifest;
    json_t *t = json_object_get(json_object_get(json_object_get(m, "files"), f113 ? f113 : file),
                                "tensors");
    ck_assert_msg(json_is_object(t), "%s: not in manifest.json", file);
    return t;
}

/* One tensor against its manifest entry. */
static void assert_tensor(const char *file, const char *name, lg_dtype dtype, int ndim,
                          const int64_t *shape, const void *data, size_t n)
{
    json_t *w = json_object_get(tensors_of(file), name);
    ck_assert_msg(w != NULL, "%s: tensor \"%s\" not in the manifest", file, name);
    lg_dtype d;
    ck_assert_int_eq(lg_dtype_parse(json_string_value(json_object_get(w, "dtype")), &d), LG_OK);
    ck_assert_msg(dtype == d, "%s: \"%s\": dtype %s, manifest %s", file, name,
                  lg_dtype_name(dtype), lg_dtype_name(d));
    json_t *sh = json_object_get(w, "shape");
    ck_assert_msg((size_t)ndim == json_array_size(sh), "%s: \"%s\": %d dims", file, name, ndim);
    for (int k = 0; k < ndim; k++)
        ck_assert_int_eq(shape[k], json_integer_value(json_array_get(sh, (size_t)k)));
    char hex[65];
    tu_sha256(data, n, hex);
    ck_assert_msg(!strcmp(hex, json_string_value(json_object_get(w, "sha256"))),
                  "%s: \"%s\": sha256 %s differs from the manifest", file, name, hex);
}

/* Every tensor of the checkpoint, read, against the manifest; and the
 * count. */
static void assert_checkpoint(const char *file, lg_checkpoint *c)
{
    json_t *want = tensors_of(file);
    ck_assert_uint_eq(lg_checkpoint_count(c), json_object_size(want));
    for (size_t i = 0; i < lg_checkpoint_count(c); i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        void *buf = malloc(t->nbytes ? (size_t)t->nbytes : 1);
        ck_assert_ptr_nonnull(buf);
        ck_assert_msg(lg_checkpoint_read(c, i, buf, (size_t)t->nbytes) == LG_OK, "%s: %s", file,
                      lg_error_message());
        assert_tensor(file, t->name, t->dtype, t->ndim, t->shape, buf, (size_t)t->nbytes);
        free(buf);
    }
}

static lg_status open_file(const char *file, const char *reader, lg_backend *b,
                           lg_checkpoint **c)
{
    lg_open_options o = {.reader = reader, .backend = b};
    return lg_checkpoint_open(data_path(file), &o, c);
}


/* ------------------------------------------------------------ native */

/* By magic bytes, no backend: torch.save's zip, _save_parameters's zip
 * (read as torch.save's: its dict is tagged with restore_type_tag) and
 * safetensors, all with the native readers. */
static const struct {
    const char *file, *format;
} native[] = {
    {"state_dict.pt", "torch-zip"},
    {"params.pt", "torch-zip"},
    {"model.safetensors", "safetensors"},
};

START_TEST(native_reads_exactly)
{
    lg_checkpoint *c = NULL;
    lg_status st = open_file(native[_i].file, NULL, NULL, &c);
    ck_assert_msg(st == LG_OK, "%s: %s", native[_i].file, lg_error_message());
    ck_assert_str_eq(lg_checkpoint_format(c), native[_i].format);
    json_t *f = json_object_get(json_object_get(g_manifest, "files"), native[_i].file);
    ck_assert_str_eq(lg_checkpoint_format(c), json_string_value(json_object_get(f, "format")));
    assert_checkpoint(native[_i].file, c);
    lg_checkpoint_close(c);
}
END_TEST

/* TorchScript without the torch backend: the native torchscript-data
 * reader (data.pkl only, no code run), by magic bytes with no backend or
 * the sim backend, and by name. Every tensor against the manifest, by
 * name: the order is the module tree's (script_native_order), not
 * torch::jit::load's parameters-then-buffers. */
static const struct {
    const char *file, *reader;
    int sim;
} script_native[] = {
    {"script.pt", NULL, 0},
    {"script.pt", NULL, 1},
    {"script.pt", "torchscript-data", 0},
    {"pytorch-1.13/mlp_script.pt", NULL, 0},
    {"pytorch-1.13/mlp_script.pt", "torchscript-data", 1},
};

START_TEST(script_reads_natively)
{
    const char *file = script_native[_i].file;
    lg_backend *b = NULL;
    if (script_native[_i].sim)
        ck_assert_int_eq(lg_backend_open("sim", &b), LG_OK);
    lg_open_options o = {.reader = script_native[_i].reader, .backend = b};
    const char *path = strncmp(file, "pytorch-1.13/", 13) ? data_path(file)
                                                          : data113_path(file + 13);
    lg_checkpoint *c = NULL;
    lg_status st = lg_checkpoint_open(path, &o, &c);
    ck_assert_msg(st == LG_OK, "%s: %s", file, lg_error_message());
    ck_assert_str_eq(lg_checkpoint_format(c), "torchscript-data");
    assert_checkpoint(file, c);
    lg_checkpoint_close(c);
    lg_backend_close(b);
}
END_TEST

/* The order of the module tree: the root's own attributes first, then
 * each submodule's, as pickled. (libtorch's torchscript reader puts
 * scale, a buffer, after the parameters.) */
START_TEST(script_native_order)
{
    static const char *const want[] = {"scale",       "fc.weight",         "fc.bias",
                                       "norm.weight", "norm.bias",         "norm.running_mean",
                                       "norm.running_var", "norm.num_batches_tracked"};
    lg_checkpoint *c = NULL;
    ck_assert_int_eq(open_file("script.pt", NULL, NULL, &c), LG_OK);
    ck_assert_uint_eq(lg_checkpoint_count(c), 8);
    for (size_t i = 0; i < 8; i++)
        ck_assert_str_eq(lg_checkpoint_tensor(c, i)->name, want[i]);
    lg_checkpoint_close(c);
}
END_TEST

/* A torch.save file forced through torchscript-data: its root is a dict,
 * not a module, and the error says so. */
START_TEST(script_native_refuses_torch_save)
{
    lg_checkpoint *c = NULL;
    ck_assert_int_eq(open_file("state_dict.pt", "torchscript-data", NULL, &c), LG_E_FORMAT);
    ck_assert_msg(strstr(lg_error_message(), "state_dict.pt") &&
                      strstr(lg_error_message(), "not a TorchScript module"),
                  "%s", lg_error_message());
    ck_assert_ptr_null(c);
}
END_TEST

START_TEST(manifest_complete)
{
    json_t *files = json_object_get(g_manifest, "files");
    ck_assert_uint_eq(json_object_size(files), 4);
    ck_assert_msg(!strncmp(json_string_value(json_object_get(g_manifest, "torch")), "2.", 2),
                  "written by torch %s, not 2.x",
                  json_string_value(json_object_get(g_manifest, "torch")));
    /* the dtypes the brief asks for are all there */
    const char *dtypes[] = {"float16", "bfloat16", "bool", "int64", NULL};
    for (size_t k = 0; dtypes[k]; k++) {
        int found = 0;
        const char *name;
        json_t *t;
        json_object_foreach(tensors_of("state_dict.pt"), name, t)
            found |= !strcmp(json_string_value(json_object_get(t, "dtype")), dtypes[k]);
        ck_assert_msg(found, "state_dict.pt has no %s tensor", dtypes[k]);
    }
}
END_TEST

#ifdef LOADGATE_HAVE_TORCH

/* open_file, trusting the file's code (the repository's own files): a
 * TorchScript module with methods is read by libtorch only so. */
static lg_status open_trusted(const char *file, const char *reader, lg_backend *b,
                              lg_checkpoint **c)
{
    lg_open_options o = {.reader = reader, .backend = b, .trust_code = 1};
    return lg_checkpoint_open(data_path(file), &o, c);
}

/* ----------------------------------------------------------- libtorch */

static lg_backend *torch_open(void)
{
    lg_backend *b = NULL;
    ck_assert_msg(lg_backend_open("torch", &b) == LG_OK, "%s", lg_error_message());
    return b;
}

/* The libtorch readers of lg_checkpoint_open: torchscript by magic bytes
 * (and by name), torch-params by name. */
static const struct {
    const char *file, *reader, *format;
} by_torch[] = {
    {"script.pt", NULL, "torchscript"},
    {"script.pt", "torchscript", "torchscript"},
    {"params.pt", "torch-params", "torch-params"},
};

START_TEST(torch_reads_exactly)
{
    lg_backend *b = torch_open();
    lg_checkpoint *c = NULL;
    lg_status st = open_trusted(by_torch[_i].file, by_torch[_i].reader, b, &c);
    ck_assert_msg(st == LG_OK, "libtorch %s: %s by %s: %s", lg_libtorch_version(),
                  by_torch[_i].file, by_torch[_i].reader ? by_torch[_i].reader : "magic",
                  lg_error_message());
    ck_assert_str_eq(lg_checkpoint_format(c), by_torch[_i].format);
    assert_checkpoint(by_torch[_i].file, c);
    for (size_t i = 0; i < lg_checkpoint_count(c); i++)
        ck_assert_msg(lg_checkpoint_try_device(c, i, (lg_device){LG_DEV_CPU, 0}) == LG_OK,
                      "%s", lg_error_message());
    lg_checkpoint_close(c);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

typedef struct {
    const char *file;
    int seen;
} read_ctx;

static int check_read(void *ctx, const lg_named_data *t, lg_device where)
{
    read_ctx *k = ctx;
    uint64_t nb = 0;
    ck_assert_int_eq(where.type, LG_DEV_CPU);
    ck_assert(lg__nbytes(t->dtype, t->ndim, t->shape, &nb));
    assert_tensor(k->file, t->name, t->dtype, t->ndim, t->shape, t->data, (size_t)nb);
    k->seen++;
    return 0;
}

/* lg_torch_read_archive, as the probe calls it: each reader that reads
 * what 2.x wrote gives every tensor of the manifest. */
static const struct {
    const char *file, *reader;
} by_read[] = {
    {"params.pt", "torch-params"},
    {"params.pt", "torch-pickle"},
};

/* Without trust, 2.x's scripted module (it has a forward method) is not
 * compiled by libtorch: by its magic bytes it is read natively
 * (torchscript-data), the same tensors; by name, and through
 * lg_torch_read_archive, it is refused, naming the method. */
START_TEST(script_untrusted)
{
    lg_backend *b = torch_open();
    lg_checkpoint *c = NULL;
    ck_assert_int_eq(open_file("script.pt", NULL, b, &c), LG_OK);
    ck_assert_str_eq(lg_checkpoint_format(c), "torchscript-data");
    assert_checkpoint("script.pt", c);
    lg_checkpoint_close(c);
    ck_assert_int_eq(open_file("script.pt", "torchscript", b, &c), LG_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(lg_error_message(), "def forward"));
    ck_assert_ptr_nonnull(strstr(lg_error_message(), "--trust-code"));
    read_ctx k = {"script.pt", 0};
    ck_assert_int_eq(lg_torch_read_archive(data_path("script.pt"), "torchscript",
                                           (lg_device){LG_DEV_CPU, 0}, check_read, &k),
                     LG_E_FORMAT);
    ck_assert_int_eq(k.seen, 0);
    lg_backend_close(b);
}
END_TEST

START_TEST(torch_read_archive_exactly)
{
    read_ctx k = {by_read[_i].file, 0};
    lg_status st = lg_torch_read_archive(data_path(by_read[_i].file), by_read[_i].reader,
                                         (lg_device){LG_DEV_CPU, 0}, check_read, &k);
    ck_assert_msg(st == LG_OK, "libtorch %s: %s by %s: %s", lg_libtorch_version(),
                  by_read[_i].file, by_read[_i].reader, lg_error_message());
    ck_assert_uint_eq((size_t)k.seen, json_object_size(tensors_of(by_read[_i].file)));
}
END_TEST

#endif

static Suite *torch2_suite(void)
{
    Suite *s = suite_create("torch2_data");
    TCase *tc = tcase_create("native");
    tcase_add_test(tc, manifest_complete);
    tcase_add_loop_test(tc, native_reads_exactly, 0, sizeof native / sizeof native[0]);
    tcase_add_loop_test(tc, script_reads_natively, 0,
                        sizeof script_native / sizeof script_native[0]);
    tcase_add_test(tc, script_native_order);
    tcase_add_test(tc, script_native_refuses_torch_save);
    suite_add_tcase(s, tc);
#ifdef LOADGATE_HAVE_TORCH
    TCase *tt = tcase_create("libtorch");
    tcase_add_loop_test(tt, torch_reads_exactly, 0, sizeof by_torch / sizeof by_torch[0]);
    tcase_add_loop_test(tt, torch_read_archive_exactly, 0, sizeof by_read / sizeof by_read[0]);
    tcase_add_test(tt, script_untrusted);
    suite_add_tcase(s, tt);
#else
    fprintf(stderr, "torch2_data: libtorch readers not tested: this build has no libtorch\n");
#endif
    return s;
}

int main(void)
{
    json_error_t e;
    g_manifest = json_load_file(data_path("manifest.json"), 0, &e);
    if (!g_manifest) {
        fprintf(stderr, "%s: %s (line %d)\n", data_path("manifest.json"), e.text, e.line);
        return 1;
    }
    g_manifest113 = json_load_file(data113_path("manifest.json"), 0, &e);
    if (!g_manifest113) {
        fprintf(stderr, "%s: %s (line %d)\n", data113_path("manifest.json"), e.text, e.line);
        json_decref(g_manifest);
        return 1;
    }
    int failed = tu_run_suite(torch2_suite());
    json_decref(g_manifest);
    json_decref(g_manifest113);
    return failed ? 1 : 0;
}
