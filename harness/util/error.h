/* The harness's one error convention, the library's own: a function that
 * can fail returns lg_status, and leaves a message for the calling thread
 * in hx_errmsg(). Only the command layer (cmd/) prints it. */
#ifndef HX_ERROR_H
#define HX_ERROR_H

#include "loadgate/loadgate.h"

/* Sets the calling thread's message (printf-style) and returns st, for
 * `return hx_err(LG_E_IO, "%s: %s", path, strerror(errno));`. */
lg_status hx_err(lg_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The calling thread's last message: hx_err's, or the library's when the
 * harness passed a library error on (hx_err_lib). "" when none. */
const char *hx_errmsg(void);
/* Passes on the library's error: copies lg_error_message() and returns st. */
lg_status hx_err_lib(lg_status st);
#endif
