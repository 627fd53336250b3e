/* The SIGBUS guard (core/mapguard.c): a checkpoint whose file is cut
 * short by another process while it is mapped fails with LG_E_IO, naming
 * the file, and leaves the store as it was; the process lives. A SIGBUS
 * anywhere else still reaches the handler that was there before, or
 * kills. LOADGATE_SIGBUS_GUARD=0 reads files instead of mapping them.
 *
 * The cut "under the parse" needs the file to shrink between the size the
 * library takes (fstat) and the parse: this test's own fstat, which the
 * linker prefers to libc's, cuts the file right after answering. */

#include "loadgate/loadgate.h"
#include "testutil.h"

#include <check.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *dir;
static lg_backend *sim;
#define ROWS 128 /* t0..t3: 64 KiB each, 16 pages */
static int rows = ROWS; /* the threaded test's tensors are larger */

static void setup(void)
{
    rows = ROWS;
    dir = tu_tmpdir();
    ck_assert_int_eq(lg_backend_open("sim", &sim), LG_OK);
}

static void teardown(void)
{
    lg_backend_close(sim);
    tu_rmtree(dir);
}

#ifdef __linux__
/* fstat as libc's, except that once armed it cuts cut_path to cut_to
 * bytes after answering (with the size from before the cut). */
static const char *cut_path;
static off_t cut_to;

int fstat(int fd, struct stat *sb)
{
    int r = fstatat(fd, "", sb, AT_EMPTY_PATH);
    if (r == 0 && cut_path) {
        ck_assert_int_eq(truncate(cut_path, cut_to), 0);
        cut_path = NULL;
    }
    return r;
}
#endif

static const char *four_tensors(void)
{
    const char *f = tu_path(dir, "four.safetensors");
    ck_assert_int_eq(tu_write_safetensors(f, 4, rows, rows), 0);
    return f;
}

static void assert_cut_message(const char *f)
{
    const char *m = lg_error_message();
    ck_assert_msg(strstr(m, f) && strstr(m, "changed while it was read"), "message: %s", m);
}

/* The file cut to its first page after the first tensor is read: the
 * second tensor's pages are past the end. */
static void cut_after_first(void *ctx, size_t tensor, uint64_t offset, const void *bytes,
                            uint64_t n)
{
    (void)bytes;
    if (tensor == 0 && offset + n == (uint64_t)rows * rows * 4)
        ck_assert_int_eq(truncate((const char *)ctx, 4096), 0);
}

/* The file cut as the first piece of the first tensor lands (the calling
 * thread's share), while the second thread copies its share (from 2 MiB):
 * that thread waits at its first piece until the cut is made, so that the
 * rest of its share is read past the new end. Where no second thread
 * could be started, the calling thread copies that share after its own,
 * after the cut. */
static atomic_int cut_done;

static void cut_at_first_piece(void *ctx, size_t tensor, uint64_t offset, const void *bytes,
                               uint64_t n)
{
    (void)bytes, (void)n;
    if (tensor == 0 && offset == 0) {
        ck_assert_int_eq(truncate((const char *)ctx, 4096), 0);
        atomic_store(&cut_done, 1);
    } else if (tensor == 0 && offset == (uint64_t)2 << 20) {
        while (!atomic_load(&cut_done))
            sched_yield();
    }
}

/* The store's backend: sim, or torch, whose cpu tensors are built over
 * the file's map (the cut then lands under tensors, not under a copy). */
static lg_backend *store_backend;

static void load_cut_short_with(lg_device d, int threads,
                                void (*cut)(void *, size_t, uint64_t, const void *, uint64_t))
{
    lg_backend *b = store_backend ? store_backend : sim;
    const size_t bytes = (size_t)rows * rows * 4;
    /* another checkpoint open meanwhile: the guard finds the map hit
     * among several */
    const char *other = tu_path(dir, "other.safetensors");
    ck_assert_int_eq(tu_write_safetensors(other, 1, 4, 4), 0);
    lg_checkpoint *keep;
    ck_assert_int_eq(lg_checkpoint_open(other, NULL, &keep), LG_OK);
    const char *f = four_tensors();
    lg_store *s;
    ck_assert_int_eq(lg_store_new(b, d, &s), LG_OK);
    int64_t shape[2] = {rows, rows};
    float *before = malloc(bytes), *after = malloc(bytes);
    ck_assert(before && after);
    for (size_t j = 0; j < bytes / 4; j++)
        before[j] = -1.5f;
    char name[4];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "t%d", i);
        ck_assert_int_eq(lg_store_add(s, name, LG_F32, 2, shape), LG_OK);
        ck_assert_int_eq(lg_store_fill(s, name, before, bytes), LG_OK);
    }
    lg_load_options o;
    lg_load_options_init(&o);
    o.on_read = cut;
    o.on_read_ctx = (void *)f;
    o.threads = threads;
    ck_assert_int_eq(lg_store_load(s, f, &o, NULL), LG_E_IO);
    assert_cut_message(f);
    ck_assert(strstr(lg_error_message(), "is now 4096"));
    lg_device where;
    for (size_t i = 0; i < 4; i++) { /* all or nothing: the store is as it was */
        ck_assert_int_eq(lg_store_read(s, i, after, bytes, &where), LG_OK);
        ck_assert(lg_device_equal(where, d));
        ck_assert_msg(!memcmp(before, after, bytes), "variable %zu changed", i);
    }
    /* the slot is free again, and a whole file loads */
    four_tensors();
    lg_load_options_init(&o);
    ck_assert_int_eq(lg_store_load(s, f, &o, NULL), LG_OK);
    ck_assert_int_eq(lg_store_read(s, 3, after, bytes, &where), LG_OK);
    ck_assert(after[5] == 3005.0f);
    free(before);
    free(after);
    lg_store_free(s);
    ck_assert_uint_eq(lg_backend_live_tensors(b), 0);
    lg_checkpoint_close(keep);
}

static void load_cut_short(lg_device d) { load_cut_short_with(d, 1, cut_after_first); }

START_TEST(test_load_cut_short_cpu) { load_cut_short(lg_device_cpu()); }
END_TEST

/* Tensors of 4 MiB copied on 2 threads, the file cut under them: the
 * threads that read past the new end read zeros (the guard is not the
 * calling thread's alone), and the load fails as on one thread. */
START_TEST(test_load_cut_short_threads)
{
    rows = 1024;
    atomic_store(&cut_done, 0);
    load_cut_short_with(lg_device_cpu(), 2, cut_at_first_piece);
}
END_TEST

#ifdef LOADGATE_HAVE_TORCH
/* The same on the torch backend's cpu tensors, built over the map: the
 * tensor whose look at the map met the cut is refused with the others. */
static void on_torch(int threads, void (*cut)(void *, size_t, uint64_t, const void *, uint64_t))
{
    ck_assert_msg(lg_backend_open("torch", &store_backend) == LG_OK, "%s", lg_error_message());
    load_cut_short_with(lg_device_cpu(), threads, cut);
    lg_backend_close(store_backend);
    store_backend = NULL;
}

START_TEST(test_load_cut_short_torch_cpu) { on_torch(1, cut_after_first); }
END_TEST

START_TEST(test_load_cut_short_torch_threads)
{
    rows = 1024;
    atomic_store(&cut_done, 0);
    on_torch(2, cut_at_first_piece);
}
END_TEST
#endif

START_TEST(test_load_cut_short_mps)
{
    lg_device mps;
    ck_assert_int_eq(lg_device_parse("mps", &mps), LG_OK);
    load_cut_short(mps);
}
END_TEST

/* Opened whole, cut to 100 bytes, then read: LG_E_IO with both sizes. */
START_TEST(test_read_cut_short)
{
    const char *f = four_tensors();
    lg_checkpoint *c;
    ck_assert_int_eq(lg_checkpoint_open(f, NULL, &c), LG_OK);
    ck_assert_int_eq(truncate(f, 100), 0);
    float *b = malloc(ROWS * ROWS * 4);
    ck_assert_int_eq(lg_checkpoint_read(c, 3, b, ROWS * ROWS * 4), LG_E_IO);
    assert_cut_message(f);
    ck_assert_msg(strstr(lg_error_message(), "is now 100"), "%s", lg_error_message());
    /* it stays refused: the map holds zeros there now */
    ck_assert_int_eq(lg_checkpoint_read(c, 2, b, ROWS * ROWS * 4), LG_E_IO);
    /* the file restored to another size: the message says what it can */
    ck_assert_int_eq(truncate(f, 0), 0);
    ck_assert_int_eq(tu_write(f, "x", 1), 0);
    ck_assert_int_eq(lg_checkpoint_read(c, 1, b, ROWS * ROWS * 4), LG_E_IO);
    ck_assert(strstr(lg_error_message(), "is now 1"));
    free(b);
    lg_checkpoint_close(c);
}
END_TEST

/* train_ckpt.pt (8 KiB) at f, or with a zip comment that takes it past
 * 64 KiB, so that it is mapped, not read whole (checkpoint.c,
 * READ_WHOLE_MAX); both open as they are. */
static void write_train_ckpt(const char *f, int mapped)
{
    char src[1024];
    snprintf(src, sizeof src, "%s/tests/data/pytorch-1.13/train_ckpt.pt", tu_source_dir());
    size_t n, pad = mapped ? 60000 : 0;
    unsigned char *bytes = tu_read(src, &n);
    ck_assert(bytes && n > 8192);
    /* the end of central directory record, with no comment, ends the file */
    ck_assert(!memcmp(bytes + n - 22, "PK\5\6", 4) && bytes[n - 2] == 0 && bytes[n - 1] == 0);
    bytes = realloc(bytes, n + pad);
    ck_assert_ptr_nonnull(bytes);
    bytes[n - 2] = (unsigned char)(pad & 0xff);
    bytes[n - 1] = (unsigned char)(pad >> 8);
    memset(bytes + n, 'c', pad);
    ck_assert_int_eq(tu_write(f, bytes, n + pad), 0);
    free(bytes);
    lg_checkpoint *c;
    ck_assert_msg(lg_checkpoint_open(f, NULL, &c) == LG_OK, "%s", lg_error_message());
    lg_checkpoint_close(c);
}

/* Cut under the parse, between fstat and the parse of the zip's central
 * directory at the end: LG_E_IO, not a format error about zeros. Mapped
 * (the SIGBUS guard at open, and lg_checkpoint_open's check of the map)
 * and read whole (read_small's short read). */
START_TEST(test_open_cut_short)
{
#ifdef __linux__
    for (int mapped = 1; mapped >= 0; mapped--) {
        const char *f = tu_path(dir, mapped ? "mixed-big.pt" : "mixed.pt");
        write_train_ckpt(f, mapped);
        lg_checkpoint *c;
        cut_path = f;
        cut_to = 4096;
        ck_assert_int_eq(lg_checkpoint_open(f, NULL, &c), LG_E_IO);
        ck_assert(cut_path == NULL);
        assert_cut_message(f);
        ck_assert_msg(strstr(lg_error_message(), "is now 4096"), "%s", lg_error_message());
        cut_path = f; /* to nothing: even the sniff reads zeros */
        cut_to = 0;
        ck_assert_int_eq(lg_checkpoint_open(f, NULL, &c), LG_E_IO);
        assert_cut_message(f);
    }
#else
    fprintf(stderr, "test_open_cut_short: skipped: it replaces fstat, which it does on Linux only\n");
#endif
}
END_TEST

/* A file whose size says more than it holds (a sysfs attribute: 4096
 * bytes, a few in it), read whole: the end of the file, not a change. */
START_TEST(test_size_says_more)
{
    static const char *const sysfs[] = {"/sys/class/net/lo/address",
                                        "/sys/kernel/mm/transparent_hugepage/enabled",
                                        "/sys/devices/system/cpu/online"};
    for (size_t i = 0; i < sizeof sysfs / sizeof *sysfs; i++) {
        struct stat sb;
        char buf[8192];
        ssize_t got = -1;
        int fd = stat(sysfs[i], &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
                         sb.st_size <= (off_t)sizeof buf
                     ? open(sysfs[i], O_RDONLY)
                     : -1;
        if (fd >= 0) {
            got = read(fd, buf, sizeof buf);
            close(fd);
        }
        if (got < 0 || got >= sb.st_size)
            continue;
        lg_checkpoint *c;
        ck_assert_int_eq(lg_checkpoint_open(sysfs[i], NULL, &c), LG_E_IO);
        const char *m = lg_error_message();
        ck_assert_msg(strstr(m, sysfs[i]) && strstr(m, "unexpected end of file (") &&
                          !strstr(m, "changed"), "%s", m);
        return;
    }
    fprintf(stderr, "test_size_says_more: skipped: no sysfs file here says more than it holds\n");
}
END_TEST

/* The children below run in a fresh process (this program run again,
 * with --child NAME DIR), so that the guard is not installed yet whatever
 * ran before them. They report by exit status: 3 when a step fails. */
#define NEED(c)                                                                   \
    do {                                                                          \
        if (!(c)) {                                                               \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #c,            \
                    lg_error_message());                                          \
            _exit(3);                                                             \
        }                                                                         \
    } while (0)

static void child_write_four(const char *f)
{
    NEED(tu_write_safetensors(f, 4, ROWS, ROWS) == 0);
}

/* Maps a file of its own and reads it past its cut end, after a
 * checkpoint installed the guard: SIGBUS, not the guard's. */
static void fault_outside_the_guard(const char *d)
{
    const char *f = tu_path(d, "four.safetensors");
    child_write_four(f);
    lg_checkpoint *c;
    NEED(lg_checkpoint_open(f, NULL, &c) == LG_OK);
    const char *g = tu_path(d, "other");
    static char page[8192];
    NEED(tu_write(g, page, sizeof page) == 0);
    int fd = open(g, O_RDONLY);
    NEED(fd >= 0);
    volatile const char *m = mmap(NULL, sizeof page, PROT_READ, MAP_PRIVATE, fd, 0);
    NEED(m != MAP_FAILED);
    NEED(truncate(g, 0) == 0);
    (void)m[4096];
    _exit(0);
}

/* exit, not _exit: the process's own exit handlers run (a coverage
 * build writes its counts there) */
static void users_handler(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    exit(sig == SIGBUS ? 42 : 43);
}

static void users_plain_handler(int sig) { exit(sig == SIGBUS ? 44 : 45); }

/* The handler installed before the guard gets the SIGBUS that is not the
 * guard's, and not the one the guard absorbs. */
static void cut_then_outside(const char *d)
{
    const char *f = tu_path(d, "cut.safetensors");
    child_write_four(f);
    lg_checkpoint *c;
    NEED(lg_checkpoint_open(f, NULL, &c) == LG_OK);
    NEED(truncate(f, 0) == 0);
    float *b = malloc(ROWS * ROWS * 4);
    NEED(b && lg_checkpoint_read(c, 0, b, ROWS * ROWS * 4) == LG_E_IO);
    free(b);
    lg_checkpoint_close(c);
    fault_outside_the_guard(d);
}

static void with_users_handler(const char *d)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = users_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    NEED(sigaction(SIGBUS, &sa, NULL) == 0);
    cut_then_outside(d);
}

/* The same with a handler of one argument (no SA_SIGINFO). */
static void with_users_plain_handler(const char *d)
{
    NEED(signal(SIGBUS, users_plain_handler) != SIG_ERR);
    cut_then_outside(d);
}

/* Turned off: the file is read at open, so a cut afterwards changes
 * nothing, and no handler is installed. */
static void guard_off(const char *d)
{
    NEED(setenv("LOADGATE_SIGBUS_GUARD", "0", 1) == 0);
    const char *f = tu_path(d, "four.safetensors");
    child_write_four(f);
    lg_checkpoint *c;
    NEED(lg_checkpoint_open(f, NULL, &c) == LG_OK);
    NEED(truncate(f, 0) == 0);
    float *b = malloc(ROWS * ROWS * 4);
    NEED(b && lg_checkpoint_read(c, 3, b, ROWS * ROWS * 4) == LG_OK);
    NEED(b[7] == 3007.0f);
    free(b);
    lg_checkpoint_close(c);
    struct sigaction now;
    NEED(sigaction(SIGBUS, NULL, &now) == 0);
    NEED(!(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_DFL);
}

static const struct {
    const char *name;
    void (*fn)(const char *dir);
} children[] = {
    {"outside", fault_outside_the_guard},
    {"users-handler", with_users_handler},
    {"users-plain-handler", with_users_plain_handler},
    {"guard-off", guard_off},
};

static int child_status(const char *name)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execl("/proc/self/exe", "test_mapguard", "--child", name, dir, (char *)NULL);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

START_TEST(test_other_sigbus_kills)
{
    int status = child_status("outside");
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS, "status 0x%x", status);
}
END_TEST

START_TEST(test_users_handler_kept)
{
    int status = child_status("users-handler");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 42, "status 0x%x", status);
}
END_TEST

START_TEST(test_users_plain_handler_kept)
{
    int status = child_status("users-plain-handler");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 44, "status 0x%x", status);
}
END_TEST

START_TEST(test_guard_off)
{
    int status = child_status("guard-off");
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--child")) {
        /* "the handler before" is the default, even under a sanitizer that
         * installs one of its own */
        signal(SIGBUS, SIG_DFL);
        for (size_t i = 0; i < sizeof children / sizeof children[0]; i++)
            if (!strcmp(argv[2], children[i].name)) {
                children[i].fn(argv[3]);
                return 0;
            }
        return 2;
    }
    Suite *s = suite_create("mapguard");
    TCase *tc = tcase_create("mapguard");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_load_cut_short_cpu);
    tcase_add_test(tc, test_load_cut_short_mps);
    tcase_add_test(tc, test_load_cut_short_threads);
#ifdef LOADGATE_HAVE_TORCH
    tcase_add_test(tc, test_load_cut_short_torch_cpu);
    tcase_add_test(tc, test_load_cut_short_torch_threads);
#endif
    tcase_add_test(tc, test_read_cut_short);
    tcase_add_test(tc, test_open_cut_short);
    tcase_add_test(tc, test_size_says_more);
    tcase_add_test(tc, test_other_sigbus_kills);
    tcase_add_test(tc, test_users_handler_kept);
    tcase_add_test(tc, test_users_plain_handler_kept);
    tcase_add_test(tc, test_guard_off);
    suite_add_tcase(s, tc);
    return tu_run_suite(s) ? 1 : 0;
}
