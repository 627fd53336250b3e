/* File system helpers (util/fs.h). */
#include "util/fs.h"
#include "util/error.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* The message for path, with errno kept for the caller. */
static lg_status io_error(const char *path)
{
    int e = errno;
    hx_err(LG_E_IO, "%s: %s", path, strerror(e));
    errno = e;
    return LG_E_IO;
}

lg_status hx_mkdirs(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return io_error(dir);
    }
    memcpy(buf, dir, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0777) && errno != EEXIST)
            return io_error(dir);
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST)
        return io_error(dir);
    return LG_OK;
}

lg_status hx_fopen_out(const char *path, FILE **f)
{
    *f = fopen(path, "w");
    return *f ? LG_OK : io_error(path);
}

lg_status hx_fclose_checked(FILE *f, const char *path)
{
    int bad = ferror(f);
    errno = 0;
    if (fclose(f) || bad) {
        if (!errno)
            errno = EIO;
        return io_error(path);
    }
    return LG_OK;
}

int hx_write_full(int fd, const void *p, size_t n)
{
    const char *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : EIO;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int hx_read_full(int fd, void *p, size_t n, size_t *got)
{
    char *b = p;
    *got = 0;
    while (*got < n) {
        ssize_t r = read(fd, b + *got, n - *got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno;
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    return 0;
}

int hx_same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static pid_t self_pid;
static int self_pid_kept; /* 0: the child handler could not be set; getpid each time */
static pthread_once_t self_pid_once = PTHREAD_ONCE_INIT;

static void self_pid_take(void) { self_pid = getpid(); }

static void self_pid_first(void)
{
    self_pid_take();
    self_pid_kept = pthread_atfork(NULL, NULL, self_pid_take) == 0;
}

pid_t hx_pid(void)
{
    pthread_once(&self_pid_once, self_pid_first);
    return self_pid_kept ? self_pid : getpid();
}
