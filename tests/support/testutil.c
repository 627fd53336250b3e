/* Helpers shared by the unit tests. */
#include "testutil.h"
#include "loadgate/loadgate.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

const char *tu_tmpdir(void)
{
    static char buf[8][512];
    static int slot;
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *p = buf[slot++ % 8];
    snprintf(p, 512, "%s/lgtest-XXXXXX", base);
    return mkdtemp(p);
}

void tu_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[1024];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            tu_rmtree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

const char *tu_path(const char *dir, const char *name)
{
    static char buf[8][1024];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, 1024, "%s/%s", dir, name);
    return p;
}

int tu_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

void *tu_read(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[len] = '\0';
        *n = (size_t)len;
    }
    return buf;
}

char *tu_read_text(const char *path)
{
    size_t n;
    return tu_read(path, &n);
}

void tu_sha256(const void *data, size_t n, char *hex)
{
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    hex[64] = '\0';
}

/* Linux lists the descriptors in /proc/self/fd; elsewhere (macOS) each
 * one below the limit (kept within 1024..65536) is probed, as the harness's
 * util/fds.c does. */
int tu_open_fds(void)
{
    int n = 0;
#ifdef __linux__
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        while (readdir(d))
            n++;
        closedir(d);
        return n - 3; /* ".", ".." and the DIR's own fd */
    }
#endif
    struct rlimit rl;
    long top = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)top)
        top = (long)rl.rlim_cur;
    if (top < 1024) /* descriptors opened before the limit was lowered */
        top = 1024;
    for (long fd = 0; fd < top; fd++)
        if (fcntl((int)fd, F_GETFD) != -1 || errno != EBADF)
            n++;
    return n;
}

int tu_write_safetensors(const char *path, int n, int rows, int cols)
{
    char header[8192];
    size_t used = 0, per = (size_t)rows * (size_t)cols * 4;
    used += (size_t)snprintf(header, sizeof header, "{");
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(header + used, sizeof header - used,
                                 "%s\"t%d\":{\"dtype\":\"F32\",\"shape\":[%d,%d],"
                                 "\"data_offsets\":[%zu,%zu]}",
                                 i ? "," : "", i, rows, cols, per * (size_t)i,
                                 per * (size_t)(i + 1));
    used += (size_t)snprintf(header + used, sizeof header - used, "}");
    while (used % 8)
        header[used++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    uint64_t hl = used;
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(hl >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(header, 1, used, f);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < rows * cols; j++) {
            float v = (float)(i * 1000 + j);
            fwrite(&v, 4, 1, f);
        }
    return fclose(f);
}

const char *tu_source_dir(void) { return LG_SOURCE_DIR; }

int tu_run_cmd(int (*fn)(int, char **), char **argv, const char *dir, char **out)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    const char *path = tu_path(dir, "stdout");
    fflush(stdout);
    int saved = dup(1);
    *out = NULL;
    if (saved < 0 || !freopen(path, "w", stdout))
        return -1;
    int rc = fn(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    size_t n;
    *out = tu_read(path, &n);
    return rc;
}

/* A coverage build leaves through exit(): every object's gcov counts, the
 * torch module's among them, are written by that object's destructor. */
#if defined(LOADGATE_HAVE_TORCH) && !defined(LOADGATE_COVERAGE)
#define LEAVE_FAST 1
#ifdef __SANITIZE_ADDRESS__ /* -fsanitize=address: LeakSanitizer's check */
#include <sanitizer/lsan_interface.h>
#define CHECK_LEAKS() __lsan_do_leak_check()
#else
#define CHECK_LEAKS() ((void)0)
#endif
/* How a forked test leaves: what exit() does, less the handlers the parent
 * registered before the fork. Those are libtorch's static destructors
 * above all (c10's dispatcher unregistering every operator), about 0.3 s
 * a test: a test binary spent most of its time in them, once per forked
 * test. The parent still runs them once, at its own exit. Handlers the
 * test registered itself (after the fork) have run before this one. */
static void leave_now(int status, void *arg)
{
    (void)arg;
    fflush(NULL);
    CHECK_LEAKS(); /* the leak check exit() would have run */
    _exit(status);
}

static void in_forked_child(void) { on_exit(leave_now, NULL); }
#endif

int tu_run_suite(Suite *s)
{
#ifdef LOADGATE_HAVE_TORCH
    /* The torch module loaded once, here, as libtorch was when the tests
     * linked it: each forked test inherits it instead of loading it anew
     * (seconds each), and leaves without its destructors (leave_now).
     * test_module does not come here (it checks that nothing loads it
     * unasked). */
    lg_torch_module_load();
    lg_error_clear();
#ifdef LEAVE_FAST
    pthread_atfork(NULL, NULL, in_forked_child);
#endif
#endif
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}

int tu_libtorch_major(void) { return atoi(lg_libtorch_version()); }

int tu_is_mps_refusal(const char *msg)
{
    if (strstr(msg, "however got MPS"))
        return 1;
    return tu_libtorch_major() >= 2 && strstr(msg, "not linked with support for mps") != NULL;
}
