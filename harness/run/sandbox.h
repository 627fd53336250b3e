/* A child that cannot change files (--trust-code). See sandbox.c. */
#ifndef HX_SANDBOX_H
#define HX_SANDBOX_H

/* Confines the calling process for good: no file can be created, removed,
 * renamed, truncated or opened for writing. 0, or -1 with errno. */
int hx_sandbox_enter(void);

/* Runs fn(arg) in a forked, confined child and returns its exit code (1,
 * with a message on stderr naming `what`, if it could not be confined or
 * died of a signal). */
int hx_sandbox_run(const char *what, int (*fn)(void *), void *arg);

#endif
