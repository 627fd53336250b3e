/* A run's cache folder (cache.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "run/cache.h"
#include "util/error.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

/* Is name a copy of process pid's: does it end in ".PID-N"? */
static int copy_of(const char *name, long pid)
{
    char tag[32];
    const char *dot = strrchr(name, '.');
    int n = snprintf(tag, sizeof tag, ".%ld-", pid);
    if (!dot || strncmp(dot, tag, (size_t)n) || !dot[n])
        return 0;
    return strspn(dot + n, "0123456789") == strlen(dot + n);
}

void hx_cache_remove_copies(const char *dir, long pid)
{
    char path[PATH_MAX];
    DIR *d = dir && dir[0] ? opendir(dir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (copy_of(e->d_name, pid) &&
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
            unlink(path);
    if (d)
        closedir(d);
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
