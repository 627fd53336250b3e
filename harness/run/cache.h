/* A run's cache folder: the generated fixtures and corrupted copies of
 * one `harness run` (or `__run-one`), removed at its end. */
#ifndef HX_CACHE_H
#define HX_CACHE_H

#include "loadgate/loadgate.h"

#include <stddef.h>

/* Makes $TMPDIR/loadgate-run-XXXXXX (or /tmp/...) and writes its path into
 * buf. LG_OK, or LG_E_IO with the reason in hx_errmsg(). */
lg_status hx_cache_make(char *buf, size_t n);
/* The largest file whose corrupted copy goes to the scratch folder. */
#define HX_SCRATCH_FILE_MAX ((long long)1 << 20)
/* Makes a scratch folder for the run's small corrupted copies on a memory
 * file system, /dev/shm/loadgate-scratch-XXXXXX, and writes its path into
 * buf: a sweep writes and removes a copy per case, and on a disk's file
 * system that costs more than the load it feeds. buf is "" (and the
 * copies go to the cache folder) when TMPDIR is set, since the user chose
 * where temporary files go, or when /dev/shm is not a writable tmpfs. */
void hx_scratch_make(char *buf, size_t n);
/* Removes the corrupted copies that process pid left in dir, the files
 * named ORIGINAL.PID-N (run/exec.c): a child that crashed or was
 * killed before it removed its copy. Nothing for NULL or "". */
void hx_cache_remove_copies(const char *dir, long pid);
/* Removes dir and everything in it; nothing for NULL or "". */
void hx_cache_remove(const char *dir);
#endif
