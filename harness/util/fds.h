/* This process's open file descriptors, counted for the no-leak
 * invariant. Linux counts them in the size of /proc/self/fd (since 6.2)
 * and lists them there; elsewhere (macOS, the BSDs) each descriptor below
 * the limit is probed with fcntl(F_GETFD). */
#ifndef HX_UTIL_FDS_H
#define HX_UTIL_FDS_H

/* The probe looks at descriptors below RLIMIT_NOFILE's soft limit, kept
 * between HX_FDS_PROBE_MIN (descriptors opened before the limit was
 * lowered, as a shell's 255) and HX_FDS_PROBE_MAX (a limit of a million
 * would cost a million calls per count, and a load that leaks takes the
 * lowest free numbers anyway). */
#define HX_FDS_PROBE_MIN 1024
#define HX_FDS_PROBE_MAX 65536

/* Open descriptors: /proc/self/fd on Linux (the probe where /proc is not
 * mounted), the probe elsewhere. -1 if they cannot be counted. */
int hx_open_fds(void);
/* The probe alone, on every system (tested against /proc on Linux). */
int hx_open_fds_probe(void);
#ifdef __linux__
/* The entries of /proc/self/fd, less ".", ".." and the listing's own
 * descriptor: what hx_open_fds counts where stat gives no size (before
 * Linux 6.2). -1 when /proc is not mounted. */
int hx_open_fds_listed(void);
#endif
#endif
