/* What the corruption generators share inside corrupt/: the named
 * mutations behind hx_corrupt_apply_mem, and a whole file read into
 * memory. Not for use outside corrupt/. */
#ifndef HX_CORRUPT_INTERNAL_H
#define HX_CORRUPT_INTERNAL_H

#include "corrupt/corrupt.h"
#include "loadgate/loadgate.h"

#include <stddef.h>

/* truncate, flip and zero, in place (bytes.c). */
lg_status hx_bytes_edit(const hx_corrupt *c, unsigned char *buf, size_t *len);
/* splice: may replace *buf by a longer buffer (bytes.c). */
lg_status hx_bytes_splice(const hx_corrupt *c, unsigned char **buf, size_t *len);
/* A named safetensors rewrite: *buf is replaced (safetensors.c). */
lg_status hx_st_mutate(const hx_corrupt *c, unsigned char **buf, size_t *len);
/* A named torch.save zip edit, in place; *len may shrink (torch_zip.c). */
lg_status hx_tz_mutate(const hx_corrupt *c, unsigned char *buf, size_t *len);

/* The whole file at path into *buf (malloc'd, one spare byte) and *len. */
lg_status hx_corrupt_read(const char *path, unsigned char **buf, size_t *len);
#endif
