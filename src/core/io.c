/* System calls through the io.* fault points. An injected fault fails the
 * way the real call does: -1 or MAP_FAILED with errno set. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int lg__open(const char *path, int flags)
{
    int err;
    if (lg__fault("io.open", &err)) {
        errno = err ? err : ENOENT;
        return -1;
    }
    return open(path, flags | O_CLOEXEC);
}

ssize_t lg__read(int fd, void *buf, size_t n)
{
    int err;
    if (lg__fault("io.read", &err)) {
        if (err == -1) /* a short read: half of what was asked, at least 1 */
            return read(fd, buf, n > 1 ? n / 2 : n);
        errno = err ? err : EIO;
        return -1;
    }
    return read(fd, buf, n);
}

lg_status lg__read_full(int fd, void *buf, size_t n, const char *path)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = lg__read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return lg__err(LG_E_IO, "%s: read failed: %s", path, strerror(errno));
        if (r == 0)
            return lg__err(LG_E_IO, "%s: unexpected end of file (%zu bytes missing)", path, n);
        p += r;
        n -= (size_t)r;
    }
    return LG_OK;
}

void *lg__mmap(size_t len, int fd)
{
    int err;
    if (lg__fault("io.mmap", &err)) {
        errno = err ? err : ENOMEM;
        return MAP_FAILED;
    }
    return mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
}
