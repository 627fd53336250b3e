/* Replays every input under tests/data/regress/: inputs a fuzz target once
 * crashed on (ci/fuzz copies them there, named crash-… or leak-…) and
 * hand-made edge cases (edge-…), through what the fuzz targets run:
 *
 * - safetensors/ and torch_zip/: the checkpoint readers, by magic bytes and
 *   with safetensors forced, every tensor read back, and a safetensors file
 *   loaded into a sim store on mps;
 * - case/: the case-file loader.
 *
 * The fuzz targets' seed corpora are replayed the same way.
 *
 * Each must end classified: LG_OK or an error code with a message; a case
 * file loads (0) or is refused (-1). Check runs each test in a child, so a
 * crash fails the test instead of the run. */
#include "case/case.h"
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REGRESS LG_SOURCE_DIR "/tests/data/regress"

/* The files of a folder, sorted; NULL-terminated. */
static char **list_dir(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **v = NULL;
    *n = 0;
    ck_assert_msg(d != NULL, "%s is missing", dir);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        v = realloc(v, (*n + 2) * sizeof *v);
        ck_assert_ptr_nonnull(v);
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        v[*n] = malloc(len);
        snprintf(v[*n], len, "%s/%s", dir, e->d_name);
        (*n)++;
    }
    closedir(d);
    if (v) {
        v[*n] = NULL;
        qsort(v, *n, sizeof *v, (int (*)(const void *, const void *))strcmp);
    }
    return v;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void classified(const char *path, lg_status st)
{
    ck_assert_msg(st > LG_OK && st < LG_STATUS_COUNT, "%s: status %d", path, (int)st);
    ck_assert_msg(lg_error_message()[0] != '\0', "%s: %s without a message", path,
                  lg_status_name(st));
}

/* A sim store on mps mirrored from c, loaded from path. */
static void load_into_store(const char *path, const lg_checkpoint *c)
{
    lg_backend *b;
    lg_store *s;
    lg_device mps;
    ck_assert_int_eq(lg_backend_open("sim", &b), LG_OK);
    ck_assert_int_eq(lg_device_parse("mps", &mps), LG_OK);
    ck_assert_int_eq(lg_store_new(b, mps, &s), LG_OK);
    int f64 = 0, ok = 1;
    for (size_t i = 0; i < lg_checkpoint_count(c) && ok; i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        f64 |= t->dtype == LG_F64;
        ok = lg_store_add(s, t->name, t->dtype == LG_F64 ? LG_F32 : t->dtype, t->ndim,
                          t->shape) == LG_OK;
    }
    if (ok) {
        lg_status st = lg_store_load(s, path, NULL, NULL);
        /* f64 tensors load into the f32 variables (dtype rule convert) */
        ck_assert_msg(st == LG_OK, "%s: load: %s: %s (f64: %d)", path, lg_status_name(st),
                      lg_error_message(), f64);
        ck_assert(lg_device_equal(lg_store_device(s), mps));
    }
    lg_store_free(s);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}

static void replay_checkpoint(const char *path)
{
    size_t size = 0;
    free(tu_read(path, &size));
    for (int forced = 0; forced < 2; forced++) {
        lg_open_options o = {.reader = forced ? "safetensors" : NULL};
        lg_checkpoint *c = NULL;
        lg_error_clear();
        lg_status st = lg_checkpoint_open(path, &o, &c);
        if (st != LG_OK) {
            classified(path, st);
            continue;
        }
        uint64_t total = 0;
        for (size_t i = 0; i < lg_checkpoint_count(c); i++) {
            const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
            total += t->nbytes;
            ck_assert_msg(t->nbytes <= size && total <= size, "%s: tensors past the file", path);
            unsigned char *buf = malloc(t->nbytes ? (size_t)t->nbytes : 1);
            ck_assert_int_eq(lg_checkpoint_read(c, i, buf, (size_t)t->nbytes), LG_OK);
            free(buf);
        }
        if (!forced && !strcmp(lg_checkpoint_format(c), "safetensors"))
            load_into_store(path, c);
        lg_checkpoint_close(c);
    }
}

static void replay_checkpoints(const char *dir)
{
    size_t n;
    char **files = list_dir(dir, &n);
    ck_assert_msg(n > 0, "no input in %s", dir);
    for (size_t i = 0; i < n; i++)
        replay_checkpoint(files[i]);
    free_list(files, n);
}

static void replay_cases(const char *dir)
{
    size_t n;
    char **files = list_dir(dir, &n);
    ck_assert_msg(n > 0, "no input in %s", dir);
    for (size_t i = 0; i < n; i++) {
        hx_suite s;
        memset(&s, 0, sizeof s);
        /* as the fuzz target: a fixture folder that cannot be created */
        lg_status rc = hx_suite_load(files[i], "/proc/loadgate-no-fixtures", &s, NULL);
        ck_assert_msg(rc == LG_OK || rc == LG_E_FORMAT, "%s: %d", files[i], rc);
        if (rc == LG_OK) {
            for (size_t k = 0; k < s.ncases; k++)
                ck_assert_ptr_nonnull(s.cases[k].id);
            hx_suite_free(&s);
        }
    }
    free_list(files, n);
}

START_TEST(test_safetensors_inputs) { replay_checkpoints(REGRESS "/safetensors"); }
END_TEST

START_TEST(test_torch_zip_inputs) { replay_checkpoints(REGRESS "/torch_zip"); }
END_TEST

START_TEST(test_case_inputs) { replay_cases(REGRESS "/case"); }
END_TEST

/* The fuzz targets' seed corpora go through the same replay. */
START_TEST(test_seed_corpora)
{
    replay_checkpoints(LG_SOURCE_DIR "/fuzz/corpus/safetensors");
    replay_checkpoints(LG_SOURCE_DIR "/fuzz/corpus/torch_zip");
    replay_checkpoints(LG_SOURCE_DIR "/fuzz/corpus/torch_legacy");
    replay_checkpoints(LG_SOURCE_DIR "/fuzz/corpus/safetensors_json");
    replay_checkpoints(LG_SOURCE_DIR "/fuzz/corpus/zip");
    replay_checkpoints(LG_SOURCE_DIR "/fuzz/corpus/pickle");
    replay_cases(LG_SOURCE_DIR "/fuzz/corpus/case");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("regress");
    TCase *tc = tcase_create("regress");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_safetensors_inputs);
    tcase_add_test(tc, test_torch_zip_inputs);
    tcase_add_test(tc, test_case_inputs);
    tcase_add_test(tc, test_seed_corpora);
    suite_add_tcase(s, tc);
    int failed = tu_run_suite(s);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
