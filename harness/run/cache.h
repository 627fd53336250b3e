/* A run's cache folder: the generated fixtures and corrupted copies of
 * one `harness run` (or `__run-one`), removed at its end. */
#ifndef HX_CACHE_H
#define HX_CACHE_H

#include "loadgate/loadgate.h"

#include <stddef.h>

/* Makes $TMPDIR/loadgate-run-XXXXXX (or /tmp/...) and writes its path into
 * buf. LG_OK, or LG_E_IO with the reason in hx_errmsg(). */
lg_status hx_cache_make(char *buf, size_t n);
/* Removes dir and everything in it; nothing for NULL or "". */
void hx_cache_remove(const char *dir);
#endif
