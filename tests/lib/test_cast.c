/* The dtype casts of the dtype rule convert (core/cast.c), against the
 * bytes PyTorch 1.13's `t.to(dtype)` gives for every (source, target) pair
 * (tests/data/casts: casts.safetensors, manifest.json, generate.py). */
#include "core/cast.h"
#include "testutil.h"

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static json_t *manifest(void)
{
    char path[1024];
    json_error_t e;
    snprintf(path, sizeof path, "%s/tests/data/casts/manifest.json", tu_source_dir());
    json_t *m = json_load_file(path, 0, &e);
    ck_assert_msg(m != NULL, "%s: %s", path, e.text);
    return m;
}

/* Casts tensor `from` of the file to `to` and hashes the elements the
 * manifest lists (all when "elements" is null). */
static void check_pair(lg_checkpoint *c, json_t *p)
{
    lg_dtype from, to;
    const char *fn = json_string_value(json_object_get(p, "from"));
    const char *tn = json_string_value(json_object_get(p, "to"));
    ck_assert_int_eq(lg_dtype_parse(fn, &from), LG_OK);
    ck_assert_int_eq(lg_dtype_parse(tn, &to), LG_OK);
    size_t k = lg_checkpoint_find(c, fn);
    ck_assert_uint_ne(k, (size_t)-1);
    const lg_tensor_info *t = lg_checkpoint_tensor(c, k);
    ck_assert_int_eq(t->dtype, from);
    size_t n = (size_t)(t->nbytes / lg_dtype_size(from)), sz = lg_dtype_size(to);
    unsigned char *src = malloc(t->nbytes), *dst = malloc(n * sz), *sel = malloc(n * sz);
    ck_assert(src && dst && sel);
    ck_assert_int_eq(lg_checkpoint_read(c, k, src, (size_t)t->nbytes), LG_OK);
    ck_assert_int_eq(lg_dtype_cast(to, dst, from, src, n), LG_OK);
    json_t *el = json_object_get(p, "elements");
    size_t m = 0;
    if (json_is_null(el)) {
        memcpy(sel, dst, n * sz);
        m = n;
    } else {
        for (size_t i = 0; i < json_array_size(el); i++) {
            size_t j = (size_t)json_integer_value(json_array_get(el, i));
            ck_assert_uint_lt(j, n);
            memcpy(sel + m++ * sz, dst + j * sz, sz);
        }
    }
    if (from <= LG_BF16 && to <= LG_BF16) { /* float -> float: a NaN stays NaN */
        double *in = malloc(n * sizeof *in), *out = malloc(n * sizeof *out);
        ck_assert(in && out);
        ck_assert_int_eq(lg_dtype_cast(LG_F64, in, from, src, n), LG_OK);
        ck_assert_int_eq(lg_dtype_cast(LG_F64, out, to, dst, n), LG_OK);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(!isnan(in[i]) || isnan(out[i]), "%s -> %s: NaN lost", fn, tn);
        free(in);
        free(out);
    }
    char hex[65];
    tu_sha256(sel, m * sz, hex);
    ck_assert_msg(!strcmp(hex, json_string_value(json_object_get(p, "sha256"))),
                  "%s -> %s: the cast differs from PyTorch's", fn, tn);
    free(src);
    free(dst);
    free(sel);
}

START_TEST(test_casts_match_pytorch)
{
    char path[1024];
    lg_checkpoint *c;
    json_t *m = manifest();
    snprintf(path, sizeof path, "%s/tests/data/casts/casts.safetensors", tu_source_dir());
    ck_assert_int_eq(lg_checkpoint_open(path, NULL, &c), LG_OK);
    json_t *pairs = json_object_get(m, "pairs");
    ck_assert_uint_eq(json_array_size(pairs), LG_DTYPE_COUNT * LG_DTYPE_COUNT);
    for (size_t i = 0; i < json_array_size(pairs); i++)
        check_pair(c, json_array_get(pairs, i));
    lg_checkpoint_close(c);
    json_decref(m);
}
END_TEST

/* Values PyTorch leaves unspecified have a defined result here (no
 * undefined behaviour in C; docs/policies.md). */
START_TEST(test_unspecified_values)
{
    const float f[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 300.0f, -1.5f};
    int64_t i64[7];
    int8_t i8[7];
    uint8_t u8[7];
    ck_assert_int_eq(lg_dtype_cast(LG_I64, i64, LG_F32, f, 7), LG_OK);
    ck_assert_int_eq(lg_dtype_cast(LG_I8, i8, LG_F32, f, 7), LG_OK);
    ck_assert_int_eq(lg_dtype_cast(LG_U8, u8, LG_F32, f, 7), LG_OK);
    ck_assert(i64[0] == 0 && i64[1] == INT64_MAX && i64[2] == INT64_MIN);
    ck_assert(i64[3] == INT64_MAX && i64[4] == INT64_MIN && i64[5] == 300 && i64[6] == -1);
    ck_assert(i8[0] == 0 && i8[5] == 44 && i8[6] == -1); /* through int64, wrapped */
    ck_assert(u8[5] == 44 && u8[6] == 255);
}
END_TEST

START_TEST(test_half_and_bfloat16)
{
    /* round to nearest even, subnormals, overflow, NaN */
    ck_assert_uint_eq(lg__f32_to_f16(1.0f), 0x3c00);
    ck_assert_uint_eq(lg__f32_to_f16(65504.0f), 0x7bff);
    ck_assert_uint_eq(lg__f32_to_f16(65519.0f), 0x7bff);
    ck_assert_uint_eq(lg__f32_to_f16(65520.0f), 0x7c00);
    ck_assert_uint_eq(lg__f32_to_f16(-INFINITY), 0xfc00);
    ck_assert_uint_eq(lg__f32_to_f16(5.9604644775390625e-08f), 0x0001);
    ck_assert_uint_eq(lg__f32_to_f16(2.98023223876953125e-08f), 0x0000); /* tie to even */
    ck_assert_uint_eq(lg__f32_to_f16(8.940696716308594e-08f), 0x0002);   /* tie to even */
    ck_assert_uint_eq(lg__f32_to_f16(2049.0f), 0x6800);                  /* 2048 */
    ck_assert_uint_eq(lg__f32_to_f16(NAN) & 0x7fff, 0x7e00);
    ck_assert_uint_eq(lg__f32_to_bf16(NAN), 0x7fc0);
    ck_assert_uint_eq(lg__f32_to_bf16(1.0f + 1.0f / 256), 0x3f80); /* tie to even: 1 */
    ck_assert_uint_eq(lg__f32_to_bf16(1.0f + 3.0f / 256), 0x3f82);
    for (uint32_t h = 0; h < 0x10000; h++) { /* f16 -> f32 -> f16 is the identity */
        float f = lg__f16_to_f32((uint16_t)h);
        if (!isnan(f))
            ck_assert_uint_eq(lg__f32_to_f16(f), h);
        if (!isnan(lg__bf16_to_f32((uint16_t)h)))
            ck_assert_uint_eq(lg__f32_to_bf16(lg__bf16_to_f32((uint16_t)h)), h);
    }
    ck_assert_int_eq(lg_dtype_cast((lg_dtype)99, NULL, LG_F32, NULL, 0), LG_E_INVALID);
    ck_assert_int_eq(lg_dtype_cast(LG_F32, NULL, LG_F64, NULL, 1), LG_E_INVALID);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cast");
    TCase *tc = tcase_create("cast");
    tcase_add_test(tc, test_casts_match_pytorch);
    tcase_add_test(tc, test_unspecified_values);
    tcase_add_test(tc, test_half_and_bfloat16);
    suite_add_tcase(s, tc);
    return tu_run_suite(s) ? 1 : 0;
}
