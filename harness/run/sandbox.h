/* A child that cannot change files (--trust-code). See sandbox.c. */
#ifndef HX_SANDBOX_H
#define HX_SANDBOX_H

#include "loadgate/loadgate.h"

/* Confines the calling process for good: no file can be created, removed,
 * renamed, truncated or opened for writing. 0, or -1 with errno. */
int hx_sandbox_enter(void);

/* Runs fn(arg) in a forked, confined child (run/child.h); *code receives
 * its exit code. LG_OK, or LG_E_IO with the reason in hx_errmsg() when it
 * could not be started or confined, or died of a signal (*code is 1). */
lg_status hx_sandbox_call(int (*fn)(void *), void *arg, int *code);

#endif
