/* The torch module (src/backend/module.c): libtorch is mapped only when
 * the torch backend is asked for. Each check runs in a child of its own,
 * which reads its own /proc/self/maps (Linux; elsewhere the checks skip and
 * say why), and LOADGATE_TORCH_MODULE is set in children only, since the
 * module's search is done once per process. */
#include "loadgate/loadgate.h"
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* What a process that never used the torch backend must not map. */
#if TU_ASAN
/* A sanitizer build (-DLOADGATE_SANITIZE: ASan and UBSan) maps the C++
 * runtime into every program: gcc's libubsan links libstdc++. There the
 * check is of libtorch alone, and main() says so. */
#define CXX_RUNTIME_CHECKED 0
static const char *const torch_libs[] = {"libloadgate-torch", "libtorch", "libc10", NULL};
#else
#define CXX_RUNTIME_CHECKED 1
static const char *const torch_libs[] = {"libloadgate-torch", "libtorch", "libc10",
                                         "libstdc++", NULL};
#endif

static int have_maps(void) { return access("/proc/self/maps", R_OK) == 0; }

/* The first line of /proc/self/maps naming lib, into line; 1 found. */
static int mapped(const char *lib, char *line, size_t n)
{
    FILE *f = fopen("/proc/self/maps", "r");
    int found = 0;
    if (!f)
        return 0;
    while (!found && fgets(line, (int)n, f))
        found = strstr(line, lib) != NULL;
    fclose(f);
    return found;
}

/* 0 when nothing of torch_libs is mapped, else 1 (the line on stderr). */
static int no_torch_mapped(const char *when)
{
    char line[1024];
    for (size_t i = 0; torch_libs[i]; i++)
        if (mapped(torch_libs[i], line, sizeof line)) {
            fprintf(stderr, "test_module: %s: %s is mapped: %s", when, torch_libs[i], line);
            return 1;
        }
    return 0;
}

/* fn in a child; its exit status. */
static int in_child(int (*fn)(void *), void *ctx)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(fn(ctx));
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status), "child died (status %d)", status);
    return WEXITSTATUS(status);
}

/* Everything a sim-only program does: backend, checkpoint, store, load
 * through the CPU onto mps, and the questions about torch that must be
 * answered without loading it. */
static int sim_work(void *ctx)
{
    const char *path = ctx;
    lg_backend *b = NULL;
    lg_store *s = NULL;
    lg_checkpoint *c = NULL;
    lg_torch_module m[4];
    lg_load_options o;
    lg_load_options_init(&o);
    if (no_torch_mapped("at start"))
        return 2;
    (void)lg_libtorch_version();
    (void)lg_backends_built();
    (void)lg_torch_modules(m, 4);
    lg_torch_set_threads(1);
    if (lg_backend_open("sim", &b) != LG_OK || lg_checkpoint_open(path, NULL, &c) != LG_OK ||
        lg_store_new(b, (lg_device){LG_DEV_MPS, 0}, &s) != LG_OK)
        return 3;
    for (size_t i = 0; i < lg_checkpoint_count(c); i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        if (lg_store_add(s, t->name, t->dtype, t->ndim, t->shape) != LG_OK)
            return 3;
    }
    if (lg_store_load(s, path, &o, NULL) != LG_OK)
        return 4;
    int rc = no_torch_mapped("after a sim load") || lg_torch_module_loaded() ? 1 : 0;
    lg_store_free(s);
    lg_checkpoint_close(c);
    lg_backend_close(b);
    return rc;
}

START_TEST(test_sim_maps_no_torch)
{
    if (!have_maps()) {
        printf("test_module: skipped: no /proc/self/maps on this system\n");
        return;
    }
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "small.safetensors");
    ck_assert_int_eq(tu_write_safetensors(path, 3, 4, 4), 0);
    ck_assert_int_eq(no_torch_mapped("test process"), 0);
    ck_assert_int_eq(in_child(sim_work, (void *)path), 0);
    tu_rmtree(dir);
}
END_TEST

/* LOADGATE_TORCH_MODULE names a path with nothing there: torch is absent,
 * and opening it says where the module was looked for. */
static int absent_work(void *ctx)
{
    lg_backend *b = NULL;
    lg_torch_module m[4];
    setenv("LOADGATE_TORCH_MODULE", (const char *)ctx, 1);
    if (strcmp(lg_libtorch_version(), "none") || strcmp(lg_backends_built(), "sim"))
        return 1;
#ifdef LOADGATE_HAVE_TORCH
    if (lg_torch_modules(m, 4) != 1 || m[0].found || strcmp(m[0].path, (const char *)ctx))
        return 2;
#else
    (void)m;
#endif
    if (lg_backend_open("torch", &b) != LG_E_BACKEND || b)
        return 3;
    const char *msg = lg_error_message();
    fprintf(stderr, "test_module: module absent: %s\n", msg);
#ifdef LOADGATE_HAVE_TORCH
    if (!strstr(msg, (const char *)ctx) || !strstr(msg, "LOADGATE_TORCH_MODULE"))
        return 4;
#endif
    float v = 1;
    int64_t shape[] = {1};
    lg_named_data t = {"x", LG_F32, 1, shape, &v};
    if (lg_torch_write_file("/nonexistent/x.ot", "torch-archive", &t, 1) != LG_E_BACKEND)
        return 5;
    return no_torch_mapped("module absent") ? 6 : 0;
}

START_TEST(test_module_absent)
{
    int rc = in_child(absent_work, "/nonexistent/libloadgate-torch.so");
    ck_assert_msg(rc == 0, "child failed at step %d", rc);
}
END_TEST

#ifdef LOADGATE_HAVE_TORCH
/* A file there that is no loadable module: dlerror()'s words, with its path. */
static int broken_work(void *ctx)
{
    lg_backend *b = NULL;
    setenv("LOADGATE_TORCH_MODULE", (const char *)ctx, 1);
    if (lg_backend_open("torch", &b) != LG_E_BACKEND)
        return 1;
    const char *msg = lg_error_message();
    fprintf(stderr, "test_module: broken module: %s\n", msg);
    if (!strstr(msg, (const char *)ctx) || !strstr(msg, "could not be loaded"))
        return 2;
    /* the failure is final: the second try says the same */
    if (lg_torch_module_load() != LG_E_BACKEND || !strstr(lg_error_message(), "could not"))
        return 3;
    return 0;
}

START_TEST(test_module_broken)
{
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "libloadgate-torch.so");
    ck_assert_int_eq(tu_write(path, "not an ELF file\n", 16), 0);
    int rc = in_child(broken_work, (void *)path);
    ck_assert_msg(rc == 0, "child failed at step %d", rc);
    tu_rmtree(dir);
}
END_TEST

/* The stamp is read from the file, not by loading it: here one that
 * straddles the first megabyte's end (the end of a chunk as the reader
 * reads them, src/backend/module.c), in a file that is no ELF object. */
static int stamp_work(void *ctx)
{
    lg_torch_module m[2];
    setenv("LOADGATE_TORCH_MODULE", (const char *)ctx, 1);
    if (lg_torch_modules(m, 2) != 1 || !m[0].found || !m[0].chosen || m[0].loaded)
        return 1;
    if (strcmp(m[0].libtorch, "9.8.7") || strcmp(lg_libtorch_version(), "9.8.7") ||
        strcmp(lg_backends_built(), "sim,torch"))
        return 2;
    if (lg_torch_module_loaded() || no_torch_mapped("after reading a stamp"))
        return 3;
    return lg_torch_module_load() == LG_E_BACKEND ? 0 : 4;
}

START_TEST(test_module_stamp_read_not_loaded)
{
    static const char stamp[] = "loadgate-torch-module: loadgate=0.2.0 abi=1 libtorch=9.8.7";
    size_t pad = (1u << 20) - 20, n = pad + sizeof stamp + 100;
    char *buf = calloc(1, n);
    ck_assert_ptr_nonnull(buf);
    memset(buf, 'x', pad);
    memcpy(buf + pad, stamp, sizeof stamp); /* with its NUL */
    const char *dir = tu_tmpdir();
    const char *path = tu_path(dir, "libloadgate-torch.so");
    ck_assert_int_eq(tu_write(path, buf, n), 0);
    free(buf);
    int rc = in_child(stamp_work, (void *)path);
    ck_assert_msg(rc == 0, "child failed at step %d", rc);
    tu_rmtree(dir);
}
END_TEST

/* A library that is not a torch module: its missing entry point named. */
static int foreign_work(void *ctx)
{
    setenv("LOADGATE_TORCH_MODULE", (const char *)ctx, 1);
    if (lg_torch_module_load() != LG_E_BACKEND)
        return 1;
    fprintf(stderr, "test_module: foreign module: %s\n", lg_error_message());
    return strstr(lg_error_message(), "is not a loadgate torch module") ? 0 : 2;
}

START_TEST(test_module_foreign)
{
    const char *so = LG_BINARY_DIR "/libloadgate.so";
    ck_assert_int_eq(access(so, R_OK), 0);
    int rc = in_child(foreign_work, (void *)so);
    ck_assert_msg(rc == 0, "child failed at step %d", rc);
}
END_TEST

/* A name without a slash is the file in the working folder, as the
 * checks that read its stamp take it (dlopen alone would search the
 * library path): here a library that is no module, found and named. */
static int relative_work(void *ctx)
{
    if (chdir((const char *)ctx) != 0)
        return 1;
    setenv("LOADGATE_TORCH_MODULE", "foreign.so", 1);
    if (lg_torch_module_load() != LG_E_BACKEND)
        return 2;
    fprintf(stderr, "test_module: relative: %s\n", lg_error_message());
    return strstr(lg_error_message(), "./foreign.so is not a loadgate torch module") ? 0 : 3;
}

START_TEST(test_module_relative_name)
{
    const char *dir = tu_tmpdir();
    size_t n = 0;
    void *so = tu_read(LG_BINARY_DIR "/libloadgate.so", &n);
    ck_assert_ptr_nonnull(so);
    ck_assert_int_eq(tu_write(tu_path(dir, "foreign.so"), so, n), 0);
    free(so);
    int rc = in_child(relative_work, (void *)dir);
    ck_assert_msg(rc == 0, "child failed at step %d", rc);
    tu_rmtree(dir);
}
END_TEST

/* A path with '$' would be another file to dlopen ($LIB, $ORIGIN are
 * substituted): refused, saying so, before dlopen. */
static int dollar_work(void *ctx)
{
    setenv("LOADGATE_TORCH_MODULE", (const char *)ctx, 1);
    if (lg_torch_module_load() != LG_E_BACKEND)
        return 1;
    return strstr(lg_error_message(), "holds '$'") ? 0 : 2;
}

START_TEST(test_module_dollar_refused)
{
    const char *dir = tu_tmpdir();
    char sub[1200], path[1300];
    snprintf(sub, sizeof sub, "%s", tu_path(dir, "m$LIB"));
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    snprintf(path, sizeof path, "%s/libloadgate-torch.so", sub);
    ck_assert_int_eq(tu_write(path, "not an ELF file\n", 16), 0);
    int rc = in_child(dollar_work, (void *)path);
    ck_assert_msg(rc == 0, "child failed at step %d", rc);
    tu_rmtree(dir);
}
END_TEST

/* The build tree's module is found beside the program, and its stamp
 * gives the libtorch version before it is loaded; the torch backend then
 * maps it (the check above can fail). */
static int present_work(void *ctx)
{
    char line[1024], before[LG_MODULE_VERSION_MAX];
    lg_torch_module m[4];
    lg_backend *b = NULL;
    size_t n = lg_torch_modules(m, 4);
    if (n < 1 || !m[0].found || !m[0].chosen || m[0].loaded ||
        strcmp(m[0].path, LG_BINARY_DIR "/libloadgate-torch.so"))
        return 1;
    snprintf(before, sizeof before, "%s", lg_libtorch_version());
    if (strcmp(before, m[0].libtorch) || strcmp(lg_backends_built(), "sim,torch"))
        return 2;
    if (no_torch_mapped("before the torch backend"))
        return 3;
    if (lg_backend_open("torch", &b) != LG_OK)
        return 4;
    if (!mapped("libloadgate-torch.so", line, sizeof line) || !mapped("libtorch", line, sizeof line))
        return 5;
    lg_torch_modules(m, 4);
    if (!m[0].loaded || !lg_torch_module_loaded())
        return 6;
    /* the stamp said what libtorch itself says */
    if (strcmp(before, lg_libtorch_version()))
        return 7;
    lg_backend_close(b);
    return 0;
}

START_TEST(test_module_present)
{
    if (!have_maps()) {
        printf("test_module: skipped: no /proc/self/maps on this system\n");
        return;
    }
    int rc = in_child(present_work, NULL);
    ck_assert_msg(rc == 0, "child failed at step %d", rc);
}
END_TEST
#endif

/* libloadgate.so needs neither libtorch nor the C++ runtime. */
START_TEST(test_shared_library_needs)
{
    char cmd[4096], line[512];
    snprintf(cmd, sizeof cmd, "readelf -d '%s/libloadgate.so' 2>/dev/null", LG_BINARY_DIR);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    int needed = 0, soname = 0;
    while (fgets(line, sizeof line, p)) {
        if (strstr(line, "(NEEDED)")) {
            needed++;
            for (size_t i = 0; torch_libs[i]; i++)
                ck_assert_msg(!strstr(line, torch_libs[i]), "libloadgate.so needs %s", line);
        }
        soname |= strstr(line, "(SONAME)") && strstr(line, "[libloadgate.so.0]");
    }
    int rc = pclose(p);
    if (needed == 0 && rc != 0) {
        printf("test_module: libloadgate.so's needs not checked: readelf did not run\n");
        return;
    }
    ck_assert_msg(soname, "libloadgate.so has no soname libloadgate.so.0");
}
END_TEST

int main(void)
{
    if (!CXX_RUNTIME_CHECKED)
        printf("test_module: libstdc++ not checked: this sanitizer build's runtime (libubsan) "
               "maps it into every program\n");
    Suite *s = suite_create("module");
    TCase *tc = tcase_create("module");
    tcase_add_test(tc, test_sim_maps_no_torch);
    tcase_add_test(tc, test_module_absent);
#ifdef LOADGATE_HAVE_TORCH
    tcase_add_test(tc, test_module_broken);
    tcase_add_test(tc, test_module_foreign);
    tcase_add_test(tc, test_module_relative_name);
    tcase_add_test(tc, test_module_dollar_refused);
    tcase_add_test(tc, test_module_stamp_read_not_loaded);
    tcase_add_test(tc, test_module_present);
#endif
    tcase_add_test(tc, test_shared_library_needs);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    /* not tu_run_suite, which loads the torch module first */
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}
