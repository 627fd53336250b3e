/* File system helpers (util/fs.h). */
#include "util/fs.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

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
