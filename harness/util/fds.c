/* Counting open file descriptors (util/fds.h). */
#include "util/fds.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef __linux__
#include <dirent.h>
#include <sys/stat.h>
#endif

int hx_open_fds_probe(void)
{
    struct rlimit rl;
    long top = HX_FDS_PROBE_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)top)
        top = (long)rl.rlim_cur;
    if (top < HX_FDS_PROBE_MIN) /* a limit lowered after they were opened */
        top = HX_FDS_PROBE_MIN;
    int n = 0;
    for (long fd = 0; fd < top; fd++)
        if (fcntl((int)fd, F_GETFD) != -1 || errno != EBADF)
            n++;
    return n;
}

#ifdef __linux__
int hx_open_fds_listed(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3;
}

/* Since Linux 6.2, the size stat gives /proc/self/fd is the number of
 * open descriptors: one system call, no descriptor of its own. Before,
 * it is 0, and the entries are counted. */
static int proc_fds(void)
{
    struct stat sb;
    if (stat("/proc/self/fd", &sb) == 0 && sb.st_size > 0 && sb.st_size < INT_MAX)
        return (int)sb.st_size;
    return hx_open_fds_listed();
}
#endif

int hx_open_fds(void)
{
#ifdef __linux__
    int n = proc_fds();
    if (n >= 0)
        return n;
#endif
    return hx_open_fds_probe();
}
