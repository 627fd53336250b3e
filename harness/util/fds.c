/* Counting open file descriptors (util/fds.h). */
#include "util/fds.h"
#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
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
 * open descriptors. Before, it is 0, and the entries are counted.
 *
 * The folder is kept open and asked with fstat: no walk of the path
 * through /proc, a third of a stat's time, and the no-leak check counts
 * twice a case. It counts itself, in every count alike. One thread at a
 * time opens or asks it (kept_lock). It is this process's own: a forked
 * child (another pid) closes the copy it inherited and opens its own,
 * and a descriptor closed under it (a case that closes descriptors),
 * whose number may now be another file's, is told by its identity and
 * left alone. */
static int kept_fd = -1;
static pid_t kept_owner;
static struct stat kept_id;
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;

/* The count through the kept descriptor, opened (again) as needed; -1
 * where its size is no count. Under kept_lock. */
static int kept_count(void)
{
    struct stat sb;
    pid_t me = hx_pid();
    if (kept_fd >= 0) {
        int ours = fstat(kept_fd, &sb) == 0 && sb.st_dev == kept_id.st_dev &&
                   sb.st_ino == kept_id.st_ino;
        if (ours && kept_owner == me && sb.st_size > 0 && sb.st_size < INT_MAX)
            return (int)sb.st_size;
        if (ours)
            close(kept_fd);
        kept_fd = -1;
    }
    kept_fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (kept_fd >= 0 && fstat(kept_fd, &kept_id) == 0 && kept_id.st_size > 0 &&
        kept_id.st_size < INT_MAX) {
        kept_owner = me;
        return (int)kept_id.st_size;
    }
    if (kept_fd >= 0)
        close(kept_fd);
    kept_fd = -1;
    return -1;
}

static int proc_fds(void)
{
    pthread_mutex_lock(&kept_lock);
    int n = kept_count();
    pthread_mutex_unlock(&kept_lock);
    return n >= 0 ? n : hx_open_fds_listed();
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
