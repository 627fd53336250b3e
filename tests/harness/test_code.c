/* Checkpoints that carry code: TorchScript archives whose __setstate__
 * runs when libtorch loads them (tests/data/hostile/torchscript). Without
 * --trust-code they are refused before libtorch sees them, by every route
 * (inspect, load, another extension, the library, lg_torch_read_archive);
 * without the torch backend the native torchscript-data reader refuses
 * them (an object with __setstate__, or a zip with two end records),
 * and their code never runs: the marker file they write keeps its zeros
 * and nothing reaches stdout. With --trust-code the code runs in a child
 * that cannot write files. The sandbox itself is tested without libtorch. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cmd/cmd.h"
#include "loadgate/loadgate.h"
#include "run/sandbox.h"
#include "testutil.h"
#include "util/error.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

static const char *g_dir;
static char g_cwd[4096];

#define MARKER "setstate-marker" /* relative: the payload's path */
#define RAN "__setstate__ ran"

static const char *hostile(const char *name)
{
    static char p[4096];
    snprintf(p, sizeof p, "%s/tests/data/hostile/torchscript/%s", tu_source_dir(), name);
    return p;
}

/* Into g_dir, with a marker of 16 zero bytes there. */
static void enter_dir(void)
{
    static const unsigned char zeros[16];
    ck_assert_ptr_nonnull(getcwd(g_cwd, sizeof g_cwd));
    ck_assert_int_eq(chdir(g_dir), 0);
    ck_assert_int_eq(tu_write(MARKER, zeros, sizeof zeros), 0);
}

/* The marker still holds its 16 zeros; back to the old directory. */
static void marker_untouched(void)
{
    size_t n = 0;
    unsigned char *m = tu_read(MARKER, &n);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(n, 16);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(m[i] == 0, "the payload wrote the marker (byte %zu is %u)", i, m[i]);
    free(m);
    ck_assert_int_eq(chdir(g_cwd), 0);
}

static const char *const refused_files[] = {
    "setstate_writes.pt", "setstate_prints.pt", "setstate_stored.pt",
    "setstate_bzip2.pt",  "setstate_two_ends.pt", NULL};

/* What each file's refusal says. */
static const char *why(const char *file)
{
    if (strstr(file, "bzip2"))
        return "cannot be inflated, so its code cannot be checked";
    if (strstr(file, "two_ends"))
        return "2 end of central directory records";
    return "defines __setstate__";
}

/* What the native torchscript-data reader (any backend but torch) says:
 * it runs no code, and refuses an object whose state is not a dict. */
static const char *native_why(const char *file)
{
    if (strstr(file, "two_ends"))
        return "does not end where the end records begin";
    return "defines __setstate__, whose code loadgate never runs";
}

/* The message the route gives: libtorch's checks with the torch backend,
 * the native reader's refusal otherwise. */
static const char *why_for(const char *file, const char *backend)
{
    return strcmp(backend, "torch") ? native_why(file) : why(file);
}

static void inspect_refuses(const char *file, const char *backend)
{
    char *out = NULL;
    char *argv[] = {"inspect", (char *)file, "--json", "--backend", (char *)backend, NULL};
    enter_dir();
    int rc = tu_run_cmd(hx_cmd_inspect, argv, g_dir, &out);
    marker_untouched();
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(rc == 1, "%s: exit %d: %s", file, rc, out);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    ck_assert_msg(j, "%s: stdout is not JSON (%s): %s", file, e.text, out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "LG_E_FORMAT");
    const char *msg = json_string_value(json_object_get(j, "message"));
    if (!strcmp(backend, "torch"))
        ck_assert_msg(strstr(msg, why(file)) && strstr(msg, "--trust-code"), "%s", msg);
    else /* the native reader: nothing could run the code */
        ck_assert_msg(strstr(msg, native_why(file)), "%s", msg);
    ck_assert_ptr_null(strstr(out, RAN));
    json_decref(j);
    free(out);
}

START_TEST(inspect_refuses_code)
{
    for (size_t i = 0; refused_files[i]; i++) {
        inspect_refuses(hostile(refused_files[i]), hx_default_backend());
        if (strstr(lg_backends_built(), "torch"))
            inspect_refuses(hostile(refused_files[i]), "torch");
    }
}
END_TEST

START_TEST(other_extension_refused)
{
    /* A name that picks another reader changes nothing: the bytes decide. */
    size_t n = 0;
    void *b = tu_read(hostile("setstate_writes.pt"), &n);
    ck_assert_ptr_nonnull(b);
    const char *p = tu_path(g_dir, "model.safetensors");
    ck_assert_int_eq(tu_write(p, b, n), 0);
    free(b);
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", p);
    inspect_refuses(copy, hx_default_backend());
}
END_TEST

START_TEST(load_refuses_code)
{
    const char *backend = strstr(lg_backends_built(), "torch") ? "torch" : "sim";
    for (size_t i = 0; refused_files[i]; i++) {
        char *out = NULL;
        char *argv[] = {"load", (char *)hostile(refused_files[i]), "--device", "cpu",
                        "--backend", (char *)backend, "--json", NULL};
        enter_dir();
        int rc = tu_run_cmd(hx_cmd_load, argv, g_dir, &out);
        marker_untouched();
        ck_assert_ptr_nonnull(out);
        ck_assert_msg(rc == 1, "exit %d: %s", rc, out);
        ck_assert_msg(strstr(out, why_for(refused_files[i], backend)), "%s", out);
        ck_assert_ptr_null(strstr(out, RAN));
        free(out);
    }
}
END_TEST

START_TEST(library_refuses_code)
{
    lg_backend *b = NULL;
    const char *backend = strstr(lg_backends_built(), "torch") ? "torch" : "sim";
    ck_assert_int_eq(lg_backend_open(backend, &b), LG_OK);
    for (size_t i = 0; refused_files[i]; i++) {
        for (int r = 0; r < 4; r++) {
            static const char *const readers[] = {NULL, "torch-archive", "torchscript",
                                                  "torchscript-data"};
            lg_open_options o = {.reader = readers[r], .backend = b};
            lg_checkpoint *c = NULL;
            enter_dir();
            lg_status st = lg_checkpoint_open(hostile(refused_files[i]), &o, &c);
            marker_untouched();
            ck_assert_int_eq(st, LG_E_FORMAT);
            const char *want = r == 3 ? native_why(refused_files[i])
                               : strstr(backend, "torch") ? why(refused_files[i])
                               : r == 0 ? native_why(refused_files[i])
                                        : "this build has no libtorch";
            ck_assert_msg(strstr(lg_error_message(), want), "%s", lg_error_message());
        }
    }
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

/* ------------------------------------------------------- the sandbox */

/* A kernel built without seccomp, or a system other than Linux, cannot
 * confine (--trust-code then fails rather than run the code unconfined):
 * the sandbox's tests say so and stop. Nothing else skips them. */
static int no_seccomp(void)
{
#ifdef __linux__
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 || errno != EINVAL)
        return 0;
    fprintf(stderr, "test_code: sandbox tests skipped: this kernel has no seccomp\n");
#else
    fprintf(stderr, "test_code: sandbox tests skipped: seccomp is Linux's "
                    "(sandbox_refused_here checks that --trust-code is refused)\n");
#endif
    return 1;
}

static int g_inherited = -1;

static int try_writes(void *arg)
{
    const char *dir = arg;
    char p[4096], q[4096];
    int bad = 0;
    snprintf(p, sizeof p, "%s/existing", dir);
    snprintf(q, sizeof q, "%s/new", dir);
    int fd = open(p, O_RDONLY);
    bad |= fd < 0; /* reading is allowed */
    if (fd >= 0)
        close(fd);
    static const int flags[] = {O_WRONLY, O_RDWR, O_WRONLY | O_APPEND, O_RDONLY | O_TRUNC};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        fd = open(p, flags[i]);
        bad |= fd >= 0 || errno != EACCES;
    }
    bad |= open(q, O_WRONLY | O_CREAT, 0600) >= 0;
    bad |= openat(AT_FDCWD, q, O_RDWR | O_CREAT, 0600) >= 0;
    bad |= creat(q, 0600) >= 0;
    bad |= rename(p, q) == 0;
    bad |= unlink(p) == 0;
    bad |= truncate(p, 0) == 0;
    bad |= chmod(p, 0777) == 0;
    bad |= mkdir(q, 0700) == 0;
    bad |= symlink(p, q) == 0;
    bad |= link(p, q) == 0;
    /* a descriptor opened for writing before the sandbox (stdout sent to a
     * file): writes through it are allowed, changing the file's size,
     * times or mode is not */
    bad |= ftruncate(g_inherited, 0) == 0;
#ifdef __linux__
    bad |= fallocate(g_inherited, 0, 0, 4096) == 0;
#endif
    bad |= fchmod(g_inherited, 0777) == 0;
    bad |= utimes(p, NULL) == 0;
#ifdef __linux__
    bad |= syscall(452, AT_FDCWD, p, 0777, 0) == 0; /* fchmodat2 */
#endif
    return bad ? 3 : 0;
}

START_TEST(sandbox_refuses_writes)
{
    if (no_seccomp())
        return;
    const char *p = tu_path(g_dir, "existing");
    ck_assert_int_eq(tu_write(p, "abcd", 4), 0);
    g_inherited = open(tu_path(g_dir, "inherited"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(g_inherited, 0);
    ck_assert_int_eq(write(g_inherited, "12345678", 8), 8);
    int code = -1;
    ck_assert_int_eq(hx_sandbox_call(try_writes, (void *)g_dir, &code), LG_OK);
    ck_assert_int_eq(code, 0);
    size_t n = 0;
    char *b = tu_read(p, &n);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(memcmp(b, "abcd", 4), 0);
    free(b);
    struct stat st;
    ck_assert_int_ne(stat(tu_path(g_dir, "new"), &st), 0);
    ck_assert_int_eq(fstat(g_inherited, &st), 0);
    ck_assert_int_eq(st.st_size, 8);
    /* The same function outside the sandbox does write: the test can fail. */
    ck_assert_int_eq(try_writes((void *)g_dir), 3);
    close(g_inherited);
    unlink(tu_path(g_dir, "inherited"));
    unlink(tu_path(g_dir, "new"));
    unlink(tu_path(g_dir, "existing"));
}
END_TEST

static int exit_with(void *arg) { return *(int *)arg; }

START_TEST(sandbox_passes_exit_code)
{
    if (no_seccomp())
        return;
    int code = 7, got = -1;
    ck_assert_int_eq(hx_sandbox_call(exit_with, &code, &got), LG_OK);
    ck_assert_int_eq(got, 7);
}
END_TEST

#ifndef __linux__
static int ran(void *arg)
{
    ++*(int *)arg;
    return 0;
}

/* Without seccomp (macOS) the sandbox refuses at once: the function never
 * runs, and the message says why. */
START_TEST(sandbox_refused_here)
{
    int runs = 0, code = -1;
    ck_assert_int_eq(hx_sandbox_call(ran, &runs, &code), LG_E_IO);
    ck_assert_int_eq(code, 1);
    ck_assert_int_eq(runs, 0);
    ck_assert_msg(strstr(hx_errmsg(), "needs Linux's seccomp"), "%s", hx_errmsg());
}
END_TEST
#endif

/* ------------------------------------------------ --trust-code, torch */

#ifdef LOADGATE_HAVE_TORCH
START_TEST(trusted_runs_confined)
{
    if (no_seccomp())
        return;
    /* The payload runs, and its write is refused: the load fails with
     * libtorch's words, the marker keeps its zeros, stdout stays JSON. */
    char *out = NULL;
    char *argv[] = {"inspect", (char *)hostile("setstate_writes.pt"), "--json", "--backend",
                    "torch", "--trust-code", NULL};
    enter_dir();
    int rc = tu_run_cmd(hx_cmd_inspect, argv, g_dir, &out);
    marker_untouched();
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(rc == 1, "exit %d: %s", rc, out);
    json_t *j = json_loads(out, 0, NULL);
    ck_assert_msg(j, "stdout is not JSON: %s", out);
    const char *msg = json_string_value(json_object_get(j, "message"));
    ck_assert_msg(strstr(msg, "Permission denied"), "%s", msg);
    json_decref(j);
    free(out);
}
END_TEST

START_TEST(trusted_loads_without_printing)
{
    if (no_seccomp())
        return;
    char *out = NULL;
    char *argv[] = {"inspect", (char *)hostile("setstate_prints.pt"), "--json", "--backend",
                    "torch", "--trust-code", NULL};
    enter_dir();
    int rc = tu_run_cmd(hx_cmd_inspect, argv, g_dir, &out);
    marker_untouched();
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    json_t *j = json_loads(out, 0, NULL);
    ck_assert_msg(j, "stdout is not JSON (TorchScript's print reached it?): %s", out);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "tensors")), 1);
    json_decref(j);
    free(out);

    char *largv[] = {"load", (char *)hostile("setstate_prints.pt"), "--device", "cpu",
                     "--backend", "torch", "--trust-code", NULL};
    rc = tu_run_cmd(hx_cmd_load, largv, g_dir, &out);
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(rc == 0 && strstr(out, "loaded 1 tensors"), "exit %d: %s", rc, out);
    ck_assert_ptr_null(strstr(out, RAN));
    free(out);
}
END_TEST

static int count_tensor(void *ctx, const lg_named_data *t, lg_device where)
{
    (void)t;
    (void)where;
    ++*(int *)ctx;
    return 0;
}

/* defarg_writes.pt spells no __setstate__: its forward's default
 * argument writes the marker, and TorchScript's compiler evaluates it
 * when libtorch loads the file. Without --trust-code libtorch compiles
 * nothing of it: by its magic bytes the torch backend reads it natively
 * (torchscript-data, its one tensor); asked for libtorch's reader by
 * name, and through lg_torch_read_archive, it is refused, naming the
 * line. The marker keeps its zeros on every route. */
static void inspect_defarg(const char *file, const char *reader, int want_rc, const char *want)
{
    char *out = NULL;
    char *argv[] = {"inspect", (char *)hostile(file), "--json", "--backend",
                    "torch", reader ? "--reader" : NULL, (char *)reader, NULL};
    enter_dir();
    int rc = tu_run_cmd(hx_cmd_inspect, argv, g_dir, &out);
    marker_untouched();
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(rc == want_rc, "exit %d: %s", rc, out);
    ck_assert_msg(strstr(out, want), "%s not in: %s", want, out);
    free(out);
}

/* defarg_folder_case.pt: the same with its code folder spelled CODE,
 * which libtorch finds as code/ (ignoring case): checked all the same. */
START_TEST(default_argument_not_compiled)
{
    static const char *const files[] = {"defarg_writes.pt", "defarg_folder_case.pt"};
    for (size_t i = 0; i < 2; i++) {
        inspect_defarg(files[i], NULL, 0, "\"format\": \"torchscript-data\"");
        inspect_defarg(files[i], "torchscript", 1, "def forward");
        inspect_defarg(files[i], "torch-archive", 1, "--trust-code");
        int n = 0;
        enter_dir();
        lg_status st = lg_torch_read_archive(hostile(files[i]), "torchscript", lg_device_cpu(),
                                             count_tensor, &n);
        marker_untouched();
        ck_assert_int_eq(st, LG_E_FORMAT);
        ck_assert_msg(strstr(lg_error_message(), "is code, not a declaration of tensors"),
                      "%s", lg_error_message());
        ck_assert_int_eq(n, 0);
    }
}
END_TEST

START_TEST(read_archive_refuses_code)
{
    int n = 0;
    enter_dir();
    lg_status st = lg_torch_read_archive(hostile("setstate_writes.pt"), "torchscript",
                                         lg_device_cpu(), count_tensor, &n);
    marker_untouched();
    ck_assert_int_eq(st, LG_E_FORMAT);
    ck_assert_msg(strstr(lg_error_message(), "defines __setstate__"), "%s",
                  lg_error_message());
    ck_assert_int_eq(n, 0);
}
END_TEST
#endif

int main(void)
{
    g_dir = tu_tmpdir();
    Suite *s = suite_create("code");
    TCase *refused = tcase_create("refused");
    tcase_add_test(refused, inspect_refuses_code);
    tcase_add_test(refused, other_extension_refused);
    tcase_add_test(refused, load_refuses_code);
    tcase_add_test(refused, library_refuses_code);
    suite_add_tcase(s, refused);
    TCase *sandbox = tcase_create("sandbox");
    tcase_add_test(sandbox, sandbox_refuses_writes);
    tcase_add_test(sandbox, sandbox_passes_exit_code);
#ifndef __linux__
    tcase_add_test(sandbox, sandbox_refused_here);
#endif
    suite_add_tcase(s, sandbox);
#ifdef LOADGATE_HAVE_TORCH
    TCase *trusted = tcase_create("trusted");
    tcase_set_timeout(trusted, 120);
    tcase_add_test(trusted, trusted_runs_confined);
    tcase_add_test(trusted, trusted_loads_without_printing);
    tcase_add_test(trusted, read_archive_refuses_code);
    tcase_add_test(trusted, default_argument_not_compiled);
    suite_add_tcase(s, trusted);
#endif
    int failed = tu_run_suite(s);
    tu_rmtree(g_dir);
    return failed ? 1 : 0;
}
