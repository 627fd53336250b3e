/* The CLI conventions of docs/cli.md, through the built `harness`
 * program: exit 5 for a selection of no case, bad values that name the
 * allowed ones, `--`, `harness help CMD`, errors on stderr and no escape
 * codes, a device the backend lacks, folders and checkpoints given as case
 * files, validate's fixture checks, and the backend load and inspect use. */
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *dir;
static char small[1024];
static char *out, *err; /* the last run's stdout and stderr */

#define FIXTURES                                                                                 \
    "fixtures:\n"                                                                                \
    "  small: {generate: {format: safetensors, tensors: 2, shape: [4, 4], dtype: f32, seed: 1}}\n"

static const char suite_a[] = "suite: alpha\n" FIXTURES
                              "cases:\n"
                              "  - {name: one, backend: sim, device: cpu, file: small}\n"
                              "  - {name: two, backend: sim, device: mps, file: small}\n";
static const char suite_b[] = "suite: beta\n" FIXTURES
                              "cases:\n"
                              "  - {name: three, backend: sim, device: cpu, file: small}\n";

static void setup(void)
{
    dir = tu_tmpdir();
    snprintf(small, sizeof small, "%s", tu_path(dir, "small.safetensors"));
    ck_assert_int_eq(tu_write_safetensors(small, 3, 2, 5), 0);
    out = err = NULL;
}

static void teardown(void)
{
    free(out);
    free(err);
    tu_rmtree(dir);
}

static char *slurp(const char *path)
{
    char *s = tu_read_text(path);
    ck_assert_msg(s != NULL, "cannot read %s", path);
    return s;
}

/* Runs `harness ARGS...` (NULL-terminated) in cwd (dir when NULL), with
 * stdout and stderr into files (not a TTY); returns its exit code, the
 * outputs in out and err. no_color: NO_COLOR=1 in its environment. */
static int harness_in(const char *cwd, int no_color, const char *const *args)
{
    char prog[2048], o[1024], e[1024];
    const char *argv[32];
    int n = 0;
    snprintf(prog, sizeof prog, "%s/harness", LG_BINARY_DIR);
    snprintf(o, sizeof o, "%s/stdout", dir); /* not tu_path: callers hold its slots */
    snprintf(e, sizeof e, "%s/stderr", dir);
    argv[n++] = prog;
    for (; args[n - 1] && n < 31; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (!freopen(o, "w", stdout) || !freopen(e, "w", stderr) || chdir(cwd ? cwd : dir))
            _exit(99);
        if (no_color)
            setenv("NO_COLOR", "1", 1);
        else
            unsetenv("NO_COLOR");
        execv(prog, (char *const *)argv);
        _exit(98);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status), "harness died");
    free(out);
    free(err);
    out = slurp(o);
    err = slurp(e);
    ck_assert_msg(!strchr(out, '\033') && !strchr(err, '\033'), "an escape code, not on a TTY");
    return WEXITSTATUS(status);
}

#define HARNESS(...) harness_in(NULL, 0, (const char *const[]){__VA_ARGS__, NULL})
/* The exit code must be rc; else the outputs are shown. */
#define EXPECT(rc, ...)                                                                          \
    do {                                                                                         \
        int got_ = HARNESS(__VA_ARGS__);                                                         \
        ck_assert_msg(got_ == (rc), "exit %d, not %d\nstdout:\n%s\nstderr:\n%s", got_, (rc), out,  \
                      err);                                                                      \
    } while (0)

static void has(const char *text, const char *what)
{
    ck_assert_msg(strstr(text, what) != NULL, "'%s' not in:\n%s", what, text);
}

static const char *write_case(const char *name, const char *text)
{
    const char *p = tu_path(dir, name);
    ck_assert_int_eq(tu_write(p, text, strlen(text)), 0);
    return p;
}

START_TEST(test_no_case_selected_is_exit_5)
{
    const char *a = write_case("a.yaml", suite_a);
    EXPECT(5, "list", a, "-k", "zzz");
    has(err, "no case selected: -k 'zzz'");
    ck_assert_str_eq(out, "");
    EXPECT(5, "run", a, "-k", "zzz", "-o", "rep", "-j", "1");
    has(err, "no case selected");
    EXPECT(0, "list", a, "-k", "one"); /* the filter itself works */
    has(out, "alpha/one");
    EXPECT(0, "run", a, "-k", "one", "-o", "rep", "-j", "1");
}
END_TEST

START_TEST(test_bad_values_name_the_allowed_ones)
{
    const char *a = write_case("a.yaml", suite_a);
    static const struct {
        const char *args[8], *allowed;
    } t[] = {
        {{"load", "F", "--device", "tpu"}, "cpu, cuda, cuda:N, mps"},
        {{"load", "F", "--device", "cpu", "--policy", "yolo"}, "via-cpu, staged, direct, auto, tch"},
        {{"load", "F", "--device", "cpu", "--dtype-rule", "lax"}, "convert, adopt, strict"},
        {{"load", "F", "--device", "cpu", "--store-dtype", "f7"}, "f64, f32, f16"},
        {{"load", "F", "--device", "cpu", "--crc", "maybe"}, "error, warn, off"},
        {{"load", "F", "--device", "cpu", "--backend", "tpu"}, "sim, torch"},
        {{"load", "F", "--device", "cpu", "--reader", "nope"}, "auto, safetensors"},
        {{"inspect", "F", "--reader", "nope"}, "auto, safetensors"},
        {{"inspect", "F", "--crc", "maybe"}, "error, warn, off"},
        {{"inspect", "F", "--backend", "tpu"}, "sim, torch"},
        {{"run", "A", "-j", "0"}, "from 1 to 256"},
        {{"run", "A", "--format", "pdf"}, "junit, json, md, html"},
        {{"run", "A", "--isolation", "vm"}, "worker, fork, spawn, none"},
        {{"run", "A", "--backend", "tpu"}, "sim, torch"},
        {{"list", "A", "--shard", "3/2"}, "I/N with 1 <= I <= N"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        const char *args[9] = {0};
        for (int k = 0; t[i].args[k]; k++)
            args[k] = t[i].args[k];
        args[1] = !strcmp(args[1], "A") ? a : small;
        ck_assert_int_eq(harness_in(NULL, 0, args), 2);
        has(err, t[i].allowed);
        has(err, "bad value");
    }
}
END_TEST

START_TEST(test_double_dash_ends_options)
{
    write_case("-x.yaml", suite_a);
    EXPECT(2, "validate", "-x.yaml");
    has(err, "unknown option");
    EXPECT(0, "validate", "--", "-x.yaml");
    has(out, "-x.yaml: 2 cases");
    EXPECT(0, "list", "--", "-x.yaml");
    has(out, "alpha/one");
    EXPECT(0, "run", "-o", "rep", "-j", "1", "--", "-x.yaml");
}
END_TEST

START_TEST(test_help_cmd_is_cmd_help)
{
    static const char *const cmds[] = {"run", "list", "validate", "inspect", "load",
                                       "probe", "fixtures", "merge", "compare"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        EXPECT(0, "help", cmds[i]);
        char *first = out;
        out = NULL;
        EXPECT(0, cmds[i], "--help");
        ck_assert_str_eq(first, out);
        has(out, "usage: harness ");
        free(first);
    }
    EXPECT(2, "help", "nope");
    has(err, "unknown command 'nope'");
}
END_TEST

/* Errors on stderr, stdout for results; nothing changes with NO_COLOR (no
 * colour at all; harness_in checks every output for escape codes). */
START_TEST(test_errors_on_stderr)
{
    const char *bad = write_case("bad.safetensors", "\x10\0\0\0\0\0\0\0{\"a\":1}xxxxxxxx");
    for (int nc = 0; nc < 2; nc++) {
        ck_assert_int_eq(harness_in(NULL, nc, (const char *const[]){"load", bad, "--device",
                                                                     "cpu", NULL}), 1);
        has(err, "LG_E_FORMAT");
        ck_assert_ptr_null(strstr(out, "LG_E_"));
        ck_assert_int_eq(harness_in(NULL, nc, (const char *const[]){"inspect", bad, NULL}), 1);
        has(err, "LG_E_FORMAT");
        ck_assert_str_eq(out, "");
    }
    /* --json: the document stays on stdout */
    EXPECT(1, "load", bad, "--device", "cpu", "--json");
    has(out, "\"status\": \"LG_E_FORMAT\"");
    EXPECT(2, "validate", "missing.yaml");
    has(err, "missing.yaml");
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_no_such_device)
{
    EXPECT(1, "load", small, "--device", "cuda:7", "--backend", "sim");
    has(err, "no such device: cuda:7");
    has(err, "the sim backend has cpu");
    ck_assert_str_eq(out, "");
    EXPECT(1, "load", small, "--device", "cuda:7", "--json");
    ck_assert_str_eq(out, "");
    EXPECT(0, "load", small, "--device", "cpu");
    has(out, "device: cpu -> cpu");
}
END_TEST

START_TEST(test_folder_of_case_files)
{
    char sub[1024];
    snprintf(sub, sizeof sub, "%s", tu_path(dir, "suites"));
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    write_case("suites/b.yaml", suite_b);
    write_case("suites/a.yaml", suite_a);
    write_case("suites/notes.txt", "not a case file");
    EXPECT(0, "list", "suites");
    ck_assert_str_eq(out, "alpha/one\nalpha/two\nbeta/three\n");
    EXPECT(0, "validate", "suites");
    has(out, "suites/a.yaml: 2 cases\nsuites/b.yaml: 1 cases\n");
    EXPECT(0, "run", "suites", "-o", "rep", "-j", "1", "--format", "json");
    has(out, "3 cases: 3 passed");
    ck_assert_int_eq(mkdir(tu_path(dir, "empty"), 0700), 0);
    EXPECT(2, "run", "empty", "-o", "rep");
    has(err, "empty: a folder with no *.yaml case file in it");
}
END_TEST

START_TEST(test_checkpoint_given_as_case_file)
{
    static const char *const cmds[] = {"run", "list", "validate"};
    for (size_t i = 0; i < 3; i++) {
        EXPECT(2, cmds[i], small);
        has(err, "small.safetensors: this is a checkpoint, not a case file; try `harness "
                 "inspect ");
    }
}
END_TEST

START_TEST(test_validate_checks_fixture_paths)
{
    ck_assert_int_eq(mkdir(tu_path(dir, "adir"), 0700), 0);
    const char *p = write_case("paths.yaml",
        "suite: paths\n"
        "fixtures:\n"
        "  here: {path: small.safetensors}\n"
        "  gone: {path: nope.safetensors}\n"
        "  adir: {path: adir}\n"
        "cases:\n"
        "  - {name: ok, backend: sim, device: cpu, file: here}\n"
        "  - {name: missing, backend: sim, device: cpu, file: gone}\n"
        "  - {name: folder, backend: sim, device: cpu, file: adir}\n");
    EXPECT(2, "validate", p);
    has(err, "fixture 'gone'");
    has(err, "nope.safetensors: No such file or directory");
    has(err, "fixture 'adir'");
    has(err, "not a regular file");
    ck_assert_ptr_null(strstr(err, "'here'"));
    ck_assert_str_eq(out, "");
    const char *fine = write_case("fine.yaml", "suite: fine\nfixtures:\n"
                                  "  here: {path: small.safetensors}\ncases:\n"
                                  "  - {name: ok, backend: sim, device: cpu, file: here}\n");
    EXPECT(0, "validate", fine);
}
END_TEST

START_TEST(test_load_and_inspect_name_the_backend)
{
    EXPECT(0, "load", small, "--device", "cpu");
    has(out, "backend: sim\n");
    EXPECT(0, "inspect", small);
    has(out, "(backend sim)");
    EXPECT(0, "inspect", small, "--json");
    has(out, "\"backend\": \"sim\"");
}
END_TEST

/* inspect --json: a safetensors file's __metadata__, a torch.save zip's
 * record names; null where the format has none. */
START_TEST(test_inspect_json_metadata_and_records)
{
    static const char hdr[] = "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"hi\"},"
                              "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    unsigned char file[8 + sizeof hdr - 1 + 4] = {0};
    file[0] = (unsigned char)(sizeof hdr - 1);
    memcpy(file + 8, hdr, sizeof hdr - 1);
    const char *m = tu_path(dir, "meta.safetensors");
    ck_assert_int_eq(tu_write(m, file, sizeof file), 0);
    EXPECT(0, "inspect", m, "--json");
    has(out, "\"metadata\": {\n    \"format\": \"pt\",\n    \"note\": \"hi\"\n  }");
    has(out, "\"records\": null");
    EXPECT(0, "inspect", small, "--json");
    has(out, "\"metadata\": {}");
    char pt[2048];
    snprintf(pt, sizeof pt, "%s/tests/data/pytorch-1.13/mixed.pt", tu_source_dir());
    EXPECT(0, "inspect", pt, "--json");
    has(out, "\"metadata\": null");
    has(out, "\"records\": [\n    \"mixed/data.pkl\",\n    \"mixed/data/0\",");
    has(out, "\"mixed/version\"\n  ]");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conventions");
    TCase *tc = tcase_create("conventions");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_no_case_selected_is_exit_5);
    tcase_add_test(tc, test_bad_values_name_the_allowed_ones);
    tcase_add_test(tc, test_double_dash_ends_options);
    tcase_add_test(tc, test_help_cmd_is_cmd_help);
    tcase_add_test(tc, test_errors_on_stderr);
    tcase_add_test(tc, test_no_such_device);
    tcase_add_test(tc, test_folder_of_case_files);
    tcase_add_test(tc, test_checkpoint_given_as_case_file);
    tcase_add_test(tc, test_validate_checks_fixture_paths);
    tcase_add_test(tc, test_load_and_inspect_name_the_backend);
    tcase_add_test(tc, test_inspect_json_metadata_and_records);
    suite_add_tcase(s, tc);
    return tu_run_suite(s) ? 1 : 0;
}
