/* Files the libtorch readers refuse, or read in a way no other test file
 * reaches (inputs: tests/data/torch-errors, whose generate.py says what
 * each holds, and files written here): tensors loadgate cannot describe
 * (complex, sparse, bytes past 64 bits), a buffer that cannot be
 * allocated, torch-pickle files of other shapes, zips the code check
 * refuses, local headers the sniffer reads, the wrong reader, code run
 * under trust_code (its print() on stderr), a trusted file that changes
 * after the open, a device libtorch refuses. Each is an error naming the
 * file, the tensor and the problem. The backend's own refusals:
 * test_torch_errors.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "backend/backend.h"
#include "backend/torch_shim.h"
#include "formats/format.h"
#include "loadgate/loadgate.h"
#include "testutil.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "torch_errors.h"

#ifdef LOADGATE_HAVE_TORCH

/* -------------------------------------- tensors loadgate cannot describe */

static void open_refused(const char *file, lg_status want, const char *what)
{
    lg_backend *b = open_torch();
    /* these modules have a forward method: libtorch reads them only for a
     * caller who trusts them (the repository's own files) */
    lg_open_options o = {.reader = "torchscript", .backend = b, .trust_code = 1};
    lg_checkpoint *c = NULL;
    ck_assert_int_eq(lg_checkpoint_open(data(file), &o, &c), want);
    assert_msg_has(data(file));
    assert_msg_has(what);
    ck_assert_ptr_null(c);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
    /* lg_torch_read_archive trusts nothing: the method is code libtorch
     * would compile, refused before libtorch sees a byte */
    seen s = {0};
    ck_assert_int_eq(lg_torch_read_archive(data(file), "torchscript", cpu, note, &s), LG_E_FORMAT);
    assert_msg_has(data(file));
    assert_msg_has("def forward");
    ck_assert_int_eq(s.n, 0);
}

START_TEST(complex_dtype)
{
    open_refused("complex.pt", LG_E_FORMAT,
                 "tensor \"c\": dtype ComplexFloat has no loadgate name");
}
END_TEST

START_TEST(bytes_overflow)
{
    open_refused("overflow.pt", LG_E_FORMAT, "tensor \"big\": size overflows");
}
END_TEST

START_TEST(sparse_layout)
{
    open_refused("sparse.pt", LG_E_FORMAT, "tensor \"s\": layout Sparse");
}
END_TEST

/* One element expanded to 16 GiB, in a file of 2 KB: refused before any
 * tensor is read or handed over, as the torch.save reader refuses it
 * (lg_torch_read_archive refuses the file's forward method before). */
START_TEST(expanded_past_the_claim_limit)
{
    open_refused("expanded.pt", LG_E_FORMAT,
                 "tensor \"big\": the tensors up to it claim 17179869192 bytes, more than a "
                 "file of ");
}
END_TEST

/* The buffer for a tensor's bytes cannot be allocated. */
START_TEST(read_out_of_memory)
{
    const char *path = write_pair("oom.ot", "a", "torch-archive");
    int met = 0;
    for (uint64_t k = 1; k <= 16 && !met; k++) {
        lg_fault_schedule f = {.when = LG_FAULT_NTH, .k = k};
        ck_assert_int_eq(lg_fault_set("mem.alloc", &f), LG_OK);
        seen s = {0};
        lg_status st = lg_torch_read_archive(path, NULL, cpu, note, &s);
        lg_fault_clear();
        if (st == LG_OK)
            break;
        ck_assert_int_eq(st, LG_E_NOMEM);
        met = strstr(lg_error_message(), ": out of memory") && strstr(lg_error_message(), path) &&
              strstr(lg_error_message(), "tensor \"");
    }
    ck_assert_msg(met, "no tensor's buffer failed: %s", lg_error_message());
}
END_TEST

/* ----------------------------------------------------- torch-pickle */

START_TEST(pickle_shapes)
{
    seen s = {0};
    ck_assert_int_eq(lg_torch_read_archive(data("tensor.pt"), "torch-pickle", cpu, note, &s),
                     LG_E_FORMAT);
    assert_msg_has("tensor.pt: loading onto cpu: pickle_load gave a Tensor, not a dict");
    ck_assert_int_eq(lg_torch_read_archive(data("intkeys.pt"), "torch-pickle", cpu, note, &s),
                     LG_E_FORMAT);
    assert_msg_has("pickle_load gave a dict whose keys are Int, not strings");
    ck_assert_int_eq(s.n, 0);
    /* a value that is no tensor is skipped */
    ck_assert_msg(lg_torch_read_archive(data("mixed.pt"), "torch-pickle", cpu, note, &s) ==
                      LG_OK, "%s", lg_error_message());
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.names[0], "a");
}
END_TEST

/* ------------------------------------------------------ the code check */

START_TEST(code_check_refusals)
{
    const char *tiny = tu_path(g_dir, "tiny.pt"), *ptmf = tu_path(g_dir, "ptmf.pt");
    const char *nozip = tu_path(g_dir, "nozip.pt");
    char head[32] = "PK\x03\x04PTMF";
    ck_assert_int_eq(tu_write(tiny, head, 6), 0);
    ck_assert_int_eq(tu_write(ptmf, head, sizeof head), 0);
    memset(head + 4, 0, sizeof head - 4);
    ck_assert_int_eq(tu_write(nozip, head, sizeof head), 0);
    const struct {
        const char *path, *what;
        int trust_hint;
    } refused[] = {
        {tiny, "not a zip archive from its first byte", 1},
        {ptmf, "not a zip archive from its first byte", 1},
        {nozip, "libtorch pickle: cannot be checked for code: ", 0},
        {data("trunc_deflate.pt"), "\"arch/data.pkl\" (method 8) cannot be inflated", 1},
        {data("bad_deflate.pt"), "\"arch/data.pkl\" (method 8) cannot be inflated", 1},
        {data("longname_setstate.pt"), "defines __setstate__", 1},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        seen s = {0};
        ck_assert_int_eq(lg_torch_read_archive(refused[i].path, "torch-pickle", cpu, note, &s),
                         LG_E_FORMAT);
        assert_msg_has(refused[i].path);
        assert_msg_has(refused[i].what);
        if (refused[i].trust_hint)
            assert_msg_has("--trust-code");
        ck_assert_int_eq(s.n, 0);
    }
    /* the record's name is cut at 256 bytes */
    char cut[300] = "\"arch/";
    memset(cut + 6, 'n', 251);
    strcpy(cut + 257, "\" defines");
    ck_assert_int_eq(lg_torch_read_archive(data("longname_setstate.pt"), "torch-pickle", cpu,
                                           note, NULL), LG_E_FORMAT);
    assert_msg_has(cut);
}
END_TEST

/* The sniffer reads local headers when there is no central directory:
 * past a data descriptor with 64-bit sizes to the libtorch layout; a name
 * outside the first one's folder is no PyTorch layout, nor is a tensor
 * record past the first 32 names. */
START_TEST(sniff_local_headers)
{
    lg_backend *b = open_torch();
    lg_open_options o = {.backend = b};
    lg_checkpoint *c = NULL;
    ck_assert_int_eq(lg_checkpoint_open(data("head_zip64_desc.pt"), &o, &c), LG_E_FORMAT);
    assert_msg_has("head_zip64_desc.pt: libtorch archive: cannot be checked for code");
    ck_assert_int_eq(lg_checkpoint_open(data("head_short_name.pt"), &o, &c), LG_E_FORMAT);
    assert_msg_has("head_short_name.pt: unknown checkpoint format");
    ck_assert_int_eq(lg_checkpoint_open(data("head_past_32.pt"), &o, &c), LG_E_FORMAT);
    assert_msg_has("head_past_32.pt: unknown checkpoint format");
    lg_backend_close(b);
}
END_TEST

/* A params file read as an archive: libtorch's refusal, named. */
START_TEST(wrong_reader)
{
    const char *path = write_pair("wrong.params", "a", "torch-params");
    lg_backend *b = open_torch();
    lg_open_options o = {.reader = "torch-archive", .backend = b};
    lg_checkpoint *c = NULL;
    ck_assert_int_eq(lg_checkpoint_open(path, &o, &c), LG_E_FORMAT);
    assert_msg_has("wrong.params: libtorch archive: ");
    lg_open_options p = {.reader = "torch-params", .backend = b};
    const char *ot = write_pair("wrong.ot", "a", "torch-archive");
    ck_assert_int_eq(lg_checkpoint_open(ot, &p, &c), LG_E_FORMAT);
    assert_msg_has("wrong.ot: libtorch parameters file: ");
    lg_backend_close(b);
}
END_TEST

/* -------------------------------------------------- trusting the code */

/* TorchScript's print() goes to stderr, never into a program's stdout. */
START_TEST(trusted_print_goes_to_stderr)
{
    char hostile[4096];
    snprintf(hostile, sizeof hostile, "%s/tests/data/hostile/torchscript/setstate_prints.pt",
             tu_source_dir());
    const char *out = tu_path(g_dir, "stdout.txt"), *err = tu_path(g_dir, "stderr.txt");
    int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert(fo >= 0 && fe >= 0);
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    dup2(fo, 1);
    dup2(fe, 2);
    lg_backend *b = open_torch();
    lg_open_options o = {.backend = b, .trust_code = 1};
    lg_checkpoint *c = NULL;
    lg_status st = lg_checkpoint_open(hostile, &o, &c);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(fo), close(fe), close(so), close(se);
    ck_assert_msg(st == LG_OK, "%s", lg_error_message());
    ck_assert_uint_eq(lg_checkpoint_count(c), 1);
    lg_checkpoint_close(c);
    lg_backend_close(b);
    char *o_text = tu_read_text(out), *e_text = tu_read_text(err);
    ck_assert_str_eq(o_text, "");
    ck_assert_msg(strstr(e_text, "loadgate-hostile: __setstate__ ran"), "stderr: %s", e_text);
    free(o_text);
    free(e_text);
}
END_TEST

static void overwrite(const char *path, const char *with)
{
    size_t n = 0, m = 0;
    void *bytes = tu_read(with, &n);
    void *old = tu_read(path, &m);
    ck_assert_uint_eq(n, m);
    int fd = open(path, O_WRONLY); /* in place: no truncation */
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, bytes, n), (ssize_t)n);
    close(fd);
    free(bytes);
    free(old);
}

/* A trusted file past 64 KiB is read through its mapping, not a copy:
 * when it changes after the open, the tensor listed is missing from the
 * new load, or the new load fails; each an error, not a wrong tensor. */
START_TEST(trusted_file_changes)
{
    /* 2 x 128 KiB: mapped (a file of 64 KiB or less is read whole) */
    const char *path = write_pair_n("changes.ot", "a", "torch-archive", 32 << 10);
    /* the same size: the zip's folder is the file's name, and one letter */
    const char *other = write_pair_n("changeb.ot", "b", "torch-archive", 32 << 10);
    lg_backend *b = open_torch();
    lg_open_options o = {.backend = b, .trust_code = 1};
    lg_checkpoint *c = NULL;
    ck_assert_msg(lg_checkpoint_open(path, &o, &c) == LG_OK, "%s", lg_error_message());
    size_t k = lg_checkpoint_find(c, "a"), w = lg_checkpoint_find(c, "w");
    overwrite(path, other);
    ck_assert_int_eq(lg_checkpoint_try_device(c, k, cpu), LG_E_FORMAT);
    assert_msg_has("changes.ot: tensor \"a\" is missing when loaded onto cpu");
    ck_assert_msg(lg_checkpoint_try_device(c, w, cpu) == LG_OK, "%s", lg_error_message());
    /* "w" was handed over: it is loaded again, from bytes that are no
     * longer a zip */
    size_t n = 0;
    char *junk = tu_read(path, &n);
    memset(junk, 'x', n);
    ck_assert_int_eq(tu_write(other, junk, n), 0);
    overwrite(path, other);
    ck_assert_int_eq(lg_checkpoint_try_device(c, w, cpu), LG_E_FORMAT);
    assert_msg_has("changes.ot: libtorch archive onto cpu: ");
    free(junk);
    lg_checkpoint_close(c);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

/* A file of 64 KiB or less is read whole at the open, not mapped: a
 * change after the open is not seen, and its tensors load as they were. */
START_TEST(small_file_read_whole)
{
    const char *path = write_pair("smalla.ot", "a", "torch-archive");
    const char *other = write_pair("smallb.ot", "b", "torch-archive");
    lg_backend *b = open_torch();
    lg_open_options o = {.backend = b, .trust_code = 1};
    lg_checkpoint *c = NULL;
    ck_assert_msg(lg_checkpoint_open(path, &o, &c) == LG_OK, "%s", lg_error_message());
    size_t k = lg_checkpoint_find(c, "a");
    overwrite(path, other);
    ck_assert_msg(lg_checkpoint_try_device(c, k, cpu) == LG_OK, "%s", lg_error_message());
    float got[4] = {0};
    ck_assert_int_eq(lg_checkpoint_read(c, k, got, sizeof got), LG_OK);
    ck_assert(got[0] == 1 && got[3] == 4);
    lg_checkpoint_close(c);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

/* An archive past 64 KiB is mapped; opened untrusted, its bytes are
 * copied into memory of its own before they are checked and libtorch
 * reads them (torch_archive.c, privatize): that copy can run out of
 * memory, and the open then fails cleanly. (A smaller file is read whole
 * at open and needs no copy.) */
START_TEST(untrusted_mapped_archive_copied)
{
    const char *path = write_pair_n("bigcopy.ot", "a", "torch-archive", 32 << 10);
    lg_backend *b = open_torch();
    lg_open_options o = {.backend = b};
    lg_checkpoint *c = NULL;
    ck_assert_msg(lg_checkpoint_open(path, &o, &c) == LG_OK, "%s", lg_error_message());
    lg_checkpoint_close(c);
    int met = 0;
    for (uint64_t k = 1; k <= 64 && !met; k++) {
        lg_fault_schedule f = {.when = LG_FAULT_NTH, .k = k};
        ck_assert_int_eq(lg_fault_set("mem.alloc", &f), LG_OK);
        lg_status st = lg_checkpoint_open(path, &o, &c);
        lg_fault_clear();
        if (st == LG_OK) {
            lg_checkpoint_close(c);
            break;
        }
        ck_assert_int_eq(st, LG_E_NOMEM);
        met = strstr(lg_error_message(), "out of memory copying") && strstr(lg_error_message(), path);
    }
    ck_assert_msg(met, "the copy never failed: %s", lg_error_message());
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_backend_close(b);
}
END_TEST

/* A device libtorch refuses: nothing is kept for it. */
START_TEST(deserialize_onto_missing_device)
{
    const char *path = write_pair("mps.ot", "a", "torch-archive");
    lg_backend *b = open_torch();
    if (lg_backend_has_device(b, mps)) {
        lg_backend_close(b);
        fprintf(stderr, "deserialize_onto_missing_device: skipped: this machine has mps\n");
        return;
    }
    lg_open_options o = {.backend = b};
    lg_checkpoint *c = NULL;
    ck_assert_msg(lg_checkpoint_open(path, &o, &c) == LG_OK, "%s", lg_error_message());
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(lg_checkpoint_try_device(c, 0, mps), LG_E_DEVICE);
        assert_msg_has("mps.ot");
    }
    ck_assert_msg(lg_checkpoint_try_device(c, 0, cpu) == LG_OK, "%s", lg_error_message());
    lg_checkpoint_close(c);
    lg_backend_close(b);
}
END_TEST

#else /* no libtorch in this build */

START_TEST(no_libtorch)
{
    ck_assert_int_eq(lg_torch_read_archive("x.pt", "torchscript", lg_device_cpu(), NULL, NULL),
                     LG_E_BACKEND);
    assert_msg_has("this build has no libtorch");
}
END_TEST

#endif
static Suite *make_suite(void)
{
    Suite *s = suite_create("torch_file_errors");
    TCase *tc = tcase_create("errors");
#ifdef LOADGATE_HAVE_TORCH
    tcase_add_test(tc, complex_dtype);
    tcase_add_test(tc, bytes_overflow);
    tcase_add_test(tc, sparse_layout);
    tcase_add_test(tc, expanded_past_the_claim_limit);
    tcase_add_test(tc, read_out_of_memory);
    tcase_add_test(tc, pickle_shapes);
    tcase_add_test(tc, code_check_refusals);
    tcase_add_test(tc, sniff_local_headers);
    tcase_add_test(tc, wrong_reader);
    tcase_add_test(tc, trusted_print_goes_to_stderr);
    tcase_add_test(tc, trusted_file_changes);
    tcase_add_test(tc, small_file_read_whole);
    tcase_add_test(tc, untrusted_mapped_archive_copied);
    tcase_add_test(tc, deserialize_onto_missing_device);
#else
    tcase_add_test(tc, no_libtorch);
#endif
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    g_dir = tu_tmpdir();
    if (!g_dir) {
        perror("mkdtemp");
        return 1;
    }
    int failed = tu_run_suite(make_suite());
    tu_rmtree(g_dir);
    return failed ? 1 : 0;
}
