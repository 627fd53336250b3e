/* --keep-failed DIR (docs/runner.md): the input file of a run that did
 * not pass, kept for a look after the run's temporary folder is gone. */
#ifndef HX_KEEP_H
#define HX_KEEP_H

#include "case/case.h"
#include "loadgate/loadgate.h"
#include "run/runner.h"

#include <stddef.h>

/* The name of a kept input in its folder: the report id with every byte
 * but [A-Za-z0-9._=-] as '_', cut to 150 bytes, then '-' and the id's
 * FNV-1a hash in 8 hex digits (two ids that read alike stay apart). */
void hx_keep_name(const char *id, char *buf, size_t n);
/* Writes the file run id of case c read, under o (seed, cache folder),
 * into dir as hx_keep_name(id): the generated or given fixture, corrupted
 * again as the run corrupted it (the same corruption and seed give the
 * same bytes). Its path goes to out. LG_OK, or a message in hx_errmsg(). */
lg_status hx_keep_input(const hx_case *c, const hx_run_opts *o, const char *dir, const char *id,
                        char *out, size_t n);
#endif
