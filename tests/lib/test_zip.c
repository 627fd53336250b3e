/* The zip container of torch.save files: where its end record is. A
 * checkpoint must never mean two things, so a second end record inside
 * the archive comment (which PyTorch's reader, miniz, would take, and we
 * would not) makes the file refused; a comment without one is read. */
#include "loadgate/loadgate.h"
#include "testutil.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *g_dir;

/* tests/data/pytorch-1.13/mlp_f32.pt with a 26-byte comment: `with_record`
 * puts a copy of the end record in it, followed by 4 more bytes (so the
 * copy's own comment length does not reach the end of the file: a reader
 * that checks it skips the copy, miniz takes it), else plain text. */
static const char *with_comment(const char *name, int with_record)
{
    char src[4096];
    size_t n = 0;
    snprintf(src, sizeof src, "%s/tests/data/pytorch-1.13/mlp_f32.pt", tu_source_dir());
    unsigned char *b = tu_read(src, &n);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_ge(n, 22);
    size_t end = n - 22;
    ck_assert_msg(!memcmp(b + end, "PK\5\6", 4) && b[end + 20] == 0 && b[end + 21] == 0,
                  "the fixture ends with a comment-less end record");
    unsigned char comment[26];
    memcpy(comment, "a comment, no record here.", 26);
    if (with_record)
        memcpy(comment, b + end, 22); /* the copy: comment length 0 */
    unsigned char *out = malloc(n + sizeof comment);
    ck_assert_ptr_nonnull(out);
    memcpy(out, b, n);
    out[end + 20] = sizeof comment; /* the real record's comment */
    memcpy(out + n, comment, sizeof comment);
    const char *path = tu_path(g_dir, name);
    ck_assert_int_eq(tu_write(path, out, n + sizeof comment), 0);
    free(out);
    free(b);
    return path;
}

START_TEST(comment_without_record_is_read)
{
    lg_checkpoint *c = NULL;
    lg_status st = lg_checkpoint_open(with_comment("plain.pt", 0), NULL, &c);
    ck_assert_msg(st == LG_OK, "%s", lg_error_message());
    ck_assert_uint_gt(lg_checkpoint_count(c), 0);
    lg_checkpoint_close(c);
}
END_TEST

START_TEST(record_in_comment_is_refused)
{
    lg_checkpoint *c = NULL;
    ck_assert_int_eq(lg_checkpoint_open(with_comment("two.pt", 1), NULL, &c), LG_E_FORMAT);
    ck_assert_ptr_null(c);
    const char *msg = lg_error_message();
    ck_assert_msg(strstr(msg, "two.pt") && strstr(msg, "two end of central directory records"),
                  "%s", msg);
}
END_TEST

int main(void)
{
    g_dir = tu_tmpdir();
    Suite *s = suite_create("zip");
    TCase *tc = tcase_create("end record");
    tcase_add_test(tc, comment_without_record_is_read);
    tcase_add_test(tc, record_in_comment_is_refused);
    suite_add_tcase(s, tc);
    int failed = tu_run_suite(s);
    tu_rmtree(g_dir);
    return failed ? 1 : 0;
}
