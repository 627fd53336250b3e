/* The harness's error message (util/error.h). */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>

#define HX_ERR_MAX 4096

static _Thread_local char message[HX_ERR_MAX];

lg_status hx_err(lg_status st, const char *fmt, ...)
{
    char buf[HX_ERR_MAX]; /* fmt's arguments may quote the old message */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    snprintf(message, sizeof message, "%s", buf);
    return st;
}

const char *hx_errmsg(void) { return message; }

lg_status hx_err_lib(lg_status st) { return hx_err(st, "%s", lg_error_message()); }
