/* The case files of a folder, for `harness run DIR` (and list, validate). */
#ifndef HX_CASE_DIR_H
#define HX_CASE_DIR_H

#include "loadgate/loadgate.h"

#include <stddef.h>

typedef struct {
    char **path; /* DIR/NAME.yaml, sorted by name (strcmp) */
    size_t n;
} hx_case_dir;

/* Every regular file (or link to one) named *.yaml directly in dir, none
 * hidden. LG_OK (n may be 0), or LG_E_IO / LG_E_NOMEM with hx_errmsg()
 * naming the folder. */
lg_status hx_case_dir_list(const char *dir, hx_case_dir *out);
void hx_case_dir_free(hx_case_dir *d);
#endif
