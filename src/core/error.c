/* Error codes and the thread-local error message. */
#include "internal.h"

#include <string.h>

static _Thread_local char lg_msg[2048];

static const char *const status_names[LG_STATUS_COUNT] = {
    "LG_OK", "LG_E_INVALID", "LG_E_IO", "LG_E_NOMEM", "LG_E_FORMAT", "LG_E_NOTFOUND",
    "LG_E_SHAPE", "LG_E_DTYPE", "LG_E_DEVICE", "LG_E_RESTORE", "LG_E_BACKEND", "LG_E_PANIC",
};

const char *lg_status_name(lg_status s)
{
    if ((unsigned)s >= LG_STATUS_COUNT)
        return "LG_E_UNKNOWN";
    return status_names[s];
}

lg_status lg_status_parse(const char *name, lg_status *out)
{
    for (int i = 0; name && i < LG_STATUS_COUNT; i++) {
        if (!strcmp(name, status_names[i])) {
            *out = (lg_status)i;
            return LG_OK;
        }
    }
    return LG_E_INVALID;
}

const char *lg_error_message(void) { return lg_msg; }

void lg_error_clear(void) { lg_msg[0] = '\0'; }

lg_status lg__err(lg_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lg_msg, sizeof lg_msg, fmt, ap);
    va_end(ap);
    return s;
}

lg_status lg__err_prefix(lg_status s, const char *fmt, ...)
{
    char prefix[1024], old[sizeof lg_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, lg_msg, sizeof old);
    if (old[0])
        snprintf(lg_msg, sizeof lg_msg, "%s: %s", prefix, old);
    else
        snprintf(lg_msg, sizeof lg_msg, "%s", prefix);
    return s;
}
