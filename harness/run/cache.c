/* A run's cache folder (cache.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "run/cache.h"
#include "util/error.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/vfs.h>
#define HX_TMPFS_MAGIC 0x01021994 /* linux/magic.h */
#endif

lg_status hx_cache_make(char *buf, size_t n)
{
    const char *tmp = getenv("TMPDIR");
    const char *base = tmp && *tmp ? tmp : "/tmp";
    snprintf(buf, n, "%s/loadgate-run-XXXXXX", base);
    if (mkdtemp(buf))
        return LG_OK;
    lg_status st = hx_err(LG_E_IO, "cannot create a folder in %s: %s", base, strerror(errno));
    buf[0] = 0;
    return st;
}

void hx_scratch_make(char *buf, size_t n)
{
    const char *tmp = getenv("TMPDIR");
    buf[0] = 0;
#ifdef __linux__
    struct statfs fs;
    if ((tmp && *tmp) || statfs("/dev/shm", &fs) || fs.f_type != HX_TMPFS_MAGIC)
        return;
    snprintf(buf, n, "/dev/shm/loadgate-scratch-XXXXXX");
    if (!mkdtemp(buf))
        buf[0] = 0;
#else
    (void)tmp;
    (void)n;
#endif
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void hx_cache_remove(const char *dir)
{
    if (dir && dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
