/* File system helpers shared across the harness, in the harness's error
 * convention (util/error.h): LG_OK, or LG_E_IO with a message naming the
 * path. */
#ifndef HX_UTIL_FS_H
#define HX_UTIL_FS_H

#include "loadgate/loadgate.h"

#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

/* mkdir -p dir (mode 0777 before the umask). On failure errno is left as
 * the failing mkdir set it, for callers that word their own message. */
lg_status hx_mkdirs(const char *dir);
/* Opens path for writing (created or truncated) into *f. */
lg_status hx_fopen_out(const char *path, FILE **f);
/* Closes f, opened on path; an earlier write error on f fails too. */
lg_status hx_fclose_checked(FILE *f, const char *path);
/* Writes the n bytes at p to fd, again after EINTR. 0, or the errno of
 * the write that failed (EIO for one that wrote nothing). */
int hx_write_full(int fd, const void *p, size_t n);
/* Reads up to n bytes from fd into p, again after EINTR, until end of
 * file; *got says how many came. 0, or the errno of the read that
 * failed. */
int hx_read_full(int fd, void *p, size_t n, size_t *got);
/* Do two stats describe the same contents: the same device, inode, size,
 * modification and change times? (What a cache of a file's contents keys
 * on: a write moves the first, a chmod or a rename the second.) */
int hx_same_file(const struct stat *a, const struct stat *b);
/* This process's pid, without a system call for each ask (a worker asks
 * several times a case): kept from the first ask, and taken again in a
 * child that fork() made (pthread_atfork). */
pid_t hx_pid(void);
#endif
