/* The harness program itself (usage, help, an unknown command, --version,
 * each command's stdout on a full device: exit 2, not 0 with its output
 * lost); checkpoints given where a case file goes, and inspect on
 * torch.save zips with a comment or without a version record. Helpers
 * shared with test_cmd_errors in test_cmd_errors.h. */
#include "cmd/cmd.h"
#include "test_cmd_errors.h"
#include "testutil.h"

#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs the harness program with args; its stdout and stderr in dir. */
static int run_program(char *const *args)
{
    char prog[4096], o[4200], e[4200];
    snprintf(prog, sizeof prog, "%s/harness", LG_BINARY_DIR);
    snprintf(o, sizeof o, "%s", tu_path(dir, "p.out"));
    snprintf(e, sizeof e, "%s", tu_path(dir, "p.err"));
    char *argv[8] = {prog};
    for (int i = 0; args[i] && i < 6; i++)
        argv[i + 1] = args[i];
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fo = open(o, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(e, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(prog, argv);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* The same with stdout on /dev/full. */
static int run_program_full(char *const *args)
{
    char prog[4096], e[4200];
    snprintf(prog, sizeof prog, "%s/harness", LG_BINARY_DIR);
    snprintf(e, sizeof e, "%s", tu_path(dir, "p.err"));
    char *argv[8] = {prog};
    for (int i = 0; args[i] && i < 6; i++)
        argv[i + 1] = args[i];
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fo = open("/dev/full", O_WRONLY);
        int fe = open(e, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(prog, argv);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

START_TEST(test_program_usage)
{
    char *none[] = {NULL};
    ck_assert_int_eq(run_program(none), 2);
    char *s = tu_read_text(tu_path(dir, "p.err"));
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(strstr(s, "usage"), "%s", s);
    free(s);
    const char *helps[] = {"--help", "-h", "help"};
    for (int i = 0; i < 3; i++) {
        char *args[] = {(char *)helps[i], NULL};
        ck_assert_int_eq(run_program(args), 0);
        s = tu_read_text(tu_path(dir, "p.out"));
        ck_assert_ptr_nonnull(s);
        ck_assert_msg(strstr(s, "usage") && strstr(s, "compare"), "%s: %s", helps[i], s);
        free(s);
    }
    char *bad[] = {"frobnicate", NULL};
    ck_assert_int_eq(run_program(bad), 2);
    s = tu_read_text(tu_path(dir, "p.err"));
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(strstr(s, "unknown command 'frobnicate'"), "%s", s);
    free(s);
}
END_TEST

/* The program on a full device: every command that would exit 0 exits 2
 * and says why; --version prints its modules. */
START_TEST(test_program_stdout_full)
{
    char w[4200], prog[4096];
    snprintf(w, sizeof w, "%s", tu_path(dir, "w.safetensors"));
    ck_assert_int_eq(tu_write_safetensors(w, 2, 4, 4), 0);
    char *ok[] = {"--version", NULL};
    ck_assert_int_eq(run_program(ok), 0);
    char *s = tu_read_text(tu_path(dir, "p.out"));
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(strstr(s, "torch module"), "%s", s);
    free(s);
    snprintf(prog, sizeof prog, "%s/harness", LG_BINARY_DIR);
    static const char *const cmds[][6] = {
        {"--version"},
        {"inspect", "--json", NULL},
        {"load", "--backend", "sim", "--device", "cpu", NULL},
        {"probe", "--backend", "sim", "--json"},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char *args[8] = {0};
        int k = 0;
        for (; k < 6 && cmds[i][k]; k++)
            args[k] = (char *)cmds[i][k];
        if (i == 1 || i == 2)
            args[k] = w;
        int rc = run_program_full(args);
        s = tu_read_text(tu_path(dir, "p.err"));
        ck_assert_ptr_nonnull(s);
        ck_assert_msg(rc == 2 && strstr(s, "harness: stdout: write error"), "%s: exit %d: %s",
                      cmds[i][0], rc, s);
        free(s);
    }
}
END_TEST

/* A checkpoint given where a case file goes: refused with a hint, exit 2;
 * a file that only looks like a safetensors header is read as YAML. */
START_TEST(test_checkpoints_refused)
{
    static const struct {
        const char *name, *bytes;
        size_t n;
    } files[] = {
        {"z.yaml", "PK\x03\x04rest of a zip", 18},
        {"p.yaml", "\x80\x02}q\x00.", 6},
    };
    char st[4200];
    snprintf(st, sizeof st, "%s", tu_path(dir, "w.yaml"));
    ck_assert_int_eq(tu_write_safetensors(st, 1, 2, 2), 0);
    int (*const cmds[])(int, char **) = {hx_cmd_run, hx_cmd_list, hx_cmd_validate};
    const char *names[] = {"run", "list", "validate"};
    for (int c = 0; c < 3; c++) {
        char *argv[] = {(char *)names[c], st, NULL};
        EXPECT_ERR(cmds[c], 2, "this is a checkpoint, not a case file; try `harness inspect");
    }
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s", tu_path(dir, files[i].name));
        ck_assert_int_eq(tu_write(p, files[i].bytes, files[i].n), 0);
        char *argv[] = {"validate", p, NULL};
        EXPECT_ERR(hx_cmd_validate, 2, "this is a checkpoint");
    }
    /* eight bytes of a length past the file's end, then '{' */
    char fake[4200];
    snprintf(fake, sizeof fake, "%s", tu_path(dir, "fake.yaml"));
    ck_assert_int_eq(tu_write(fake, "\xff\xff\x00\x00\x00\x00\x00\x00{}", 10), 0);
    char *argv[] = {"validate", fake, NULL};
    char *out, *err;
    ck_assert_int_eq(run_cmd(hx_cmd_validate, argv, &out, &err), 2);
    ck_assert_msg(!strstr(err, "this is a checkpoint"), "%s", err);
    free(out);
    free(err);
}
END_TEST

/* inspect --json of a torch.save zip with a comment after its end
 * record: the records still found. */
START_TEST(test_inspect_zip_comment)
{
    char src[4096], pt[4200];
    snprintf(src, sizeof src, "%s/tests/data/pytorch-1.13/train_ckpt.pt", tu_source_dir());
    size_t n;
    unsigned char *b = tu_read(src, &n);
    ck_assert_ptr_nonnull(b);
    size_t at = n;
    while (at-- > 0 && memcmp(b + at, "PK\x05\x06", 4))
        ;
    ck_assert_msg(at + 22 == n, "%s: no end record without a comment", src);
    unsigned char *c = malloc(n + 5);
    ck_assert_ptr_nonnull(c);
    memcpy(c, b, n);
    c[at + 20] = 5, c[at + 21] = 0;
    memcpy(c + n, "hello", 5);
    snprintf(pt, sizeof pt, "%s", tu_path(dir, "commented.pt"));
    ck_assert_int_eq(tu_write(pt, c, n + 5), 0);
    free(b);
    free(c);
    char *argv[] = {"inspect", "--json", "--backend", "sim", pt, NULL};
    char *out, *err;
    int rc = run_cmd(hx_cmd_inspect, argv, &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    json_t *j = json_loads(out, 0, NULL);
    ck_assert_msg(j != NULL, "%s", out);
    json_t *rec = json_object_get(j, "records");
    ck_assert_msg(json_array_size(rec) > 0, "%s", out);
    ck_assert_str_eq(json_string_value(json_array_get(rec, 0)), "train_ckpt/data.pkl");
    json_decref(j);
    free(out);
    free(err);
}
END_TEST

/* inspect's text output lists the findings: a torch.save zip whose
 * version record is renamed has none (the name is in the local header and
 * in the central directory, same length, so nothing else moves). */
START_TEST(test_inspect_finding_listed)
{
    char src[4096], pt[4200];
    snprintf(src, sizeof src, "%s/tests/data/pytorch-1.13/train_ckpt.pt", tu_source_dir());
    size_t n, renamed = 0;
    unsigned char *b = tu_read(src, &n);
    ck_assert_ptr_nonnull(b);
    static const char name[] = "train_ckpt/version";
    for (size_t i = 0; i + sizeof name - 1 <= n; i++)
        if (!memcmp(b + i, name, sizeof name - 1)) {
            b[i + sizeof name - 2] = 'X';
            renamed++;
        }
    ck_assert_int_eq(renamed, 2);
    snprintf(pt, sizeof pt, "%s", tu_path(dir, "noversion.pt"));
    ck_assert_int_eq(tu_write(pt, b, n), 0);
    free(b);
    char *argv[] = {"inspect", "--backend", "sim", pt, NULL};
    char *out, *err;
    int rc = run_cmd(hx_cmd_inspect, argv, &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    ck_assert_msg(strstr(out, "  finding: no version record"), "%s", out);
    free(out);
    free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cmd_program");
    TCase *tc = tcase_create("cmd_program");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_program_usage);
    tcase_add_test(tc, test_program_stdout_full);
    tcase_add_test(tc, test_checkpoints_refused);
    tcase_add_test(tc, test_inspect_zip_comment);
    tcase_add_test(tc, test_inspect_finding_listed);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
