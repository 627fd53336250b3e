/* Child processes: fork, spawn, pipes, timeouts, exit and signal status
 * (child.h). Nothing else in the harness forks. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "run/child.h"
#include "util/error.h"
#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/ioctl.h>
#include <sys/prctl.h>
#endif
#ifdef __APPLE__
#include <mach-o/dyld.h> /* _NSGetExecutablePath */
#include <stdint.h>
#endif
#include <time.h>
#include <unistd.h>

/* Coverage builds: a child leaves through _exit, so it dumps its gcov
 * counters first; it also resets them on entry so that the parent's
 * counts are not written twice. Both are absent (NULL) otherwise. */
extern void __gcov_dump(void) __attribute__((weak));
extern void __gcov_reset(void) __attribute__((weak));

double hx_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *hx_self_exe(void)
{
    static char buf[PATH_MAX];
    const char *env = getenv("LOADGATE_HARNESS");
    if (env && *env)
        return env;
#if defined(__linux__)
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return "harness";
    buf[n] = 0;
    return buf;
#elif defined(__APPLE__)
    uint32_t size = sizeof buf;
    return _NSGetExecutablePath(buf, &size) == 0 ? buf : "harness";
#else
    (void)buf; /* looked up on PATH */
    return "harness";
#endif
}

/* ------------------------------------------- the parent's descriptors */

/* The parent's ends of every child's pipes (and pidfds). A forked child
 * closes them: it must not hold a sibling's stdin open (the sibling would
 * never see end of file) nor its result pipe. Descriptors at or above
 * TRACKED_FDS are not tracked; a child then merely keeps them open. */
#define TRACKED_FDS 4096
static unsigned char tracked[TRACKED_FDS / 8];

static void track(int fd)
{
    if (fd >= 0 && fd < TRACKED_FDS)
        tracked[fd / 8] |= (unsigned char)(1u << (fd % 8));
}

/* Closes *fd (when open), forgets it and sets it to -1. */
static void close_fd(int *fd)
{
    if (*fd < 0)
        return;
    if (*fd < TRACKED_FDS)
        tracked[*fd / 8] &= (unsigned char)~(1u << (*fd % 8));
    close(*fd);
    *fd = -1;
}

static void close_tracked(void)
{
    for (int fd = 0; fd < TRACKED_FDS; fd++)
        if (tracked[fd / 8] & (1u << (fd % 8)))
            close(fd);
    memset(tracked, 0, sizeof tracked);
}

/* ------------------------------------------------------- in the child */

static void child_exit(int code, int dump)
{
    fflush(NULL);
    if (dump && __gcov_dump)
        __gcov_dump();
    _exit(code);
}

/* A child must not outlive a harness that was killed (a test timeout,
 * Ctrl-C): it would run on unseen. */
static void die_with_parent(pid_t parent)
{
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
    if (getppid() != parent)
        _exit(127);
}

/* A worker's requests come on its stdin. */
static int take_stdin(int ir)
{
    if (ir <= 0) /* none, or already fd 0 */
        return 0;
    if (dup2(ir, 0) < 0)
        return -1;
    close(ir);
    return 0;
}

static void forked_child(const hx_child_opts *o, pid_t parent, const int fds[3],
                         int (*fn)(void *, int), void *arg)
{
    int ow = fds[0], ew = fds[1];
    if (__gcov_reset)
        __gcov_reset();
    signal(SIGPIPE, SIG_DFL);
    /* the parent's handlers (harness run's interruption) are not the child's */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    die_with_parent(parent);
    close_tracked();
    lg_torch_set_threads(1);
    if (take_stdin(fds[2]) || (ew >= 0 && (dup2(ew, 2) < 0 || dup2(ew, 1) < 0)))
        child_exit(127, !o->no_dump);
    child_exit(fn(arg, ow), !o->no_dump);
}

static void spawned_child(pid_t parent, int ow, int ew, const char *const *argv)
{
    die_with_parent(parent);
    if (dup2(ow, 1) < 0 || (ew >= 0 && dup2(ew, 2) < 0))
        _exit(127);
    execvp(argv[0], (char *const *)argv);
    /* on the child's stderr: the crash report's tail shows it */
    dprintf(2, "harness: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* ------------------------------------------------------ in the parent */

/* A pipe whose ends are neither 0, 1 nor 2, even when the process has
 * those closed: a child moves its ends onto them, and an end already
 * there would be lost (its result written to the stderr capture). */
static int cloexec_pipe(int p[2])
{
    if (pipe2(p, O_CLOEXEC))
        return -1;
    for (int i = 0; i < 2; i++) {
        if (p[i] > 2)
            continue;
        int fd = fcntl(p[i], F_DUPFD_CLOEXEC, 3);
        if (fd < 0) {
            close(p[0]);
            close(p[1]);
            p[0] = p[1] = -1;
            return -1;
        }
        close(p[i]);
        p[i] = fd;
    }
    return 0;
}

static void close_pair(int p[2])
{
    for (int i = 0; i < 2; i++)
        if (p[i] >= 0)
            close(p[i]);
}

/* The result pipe, the stderr pipe when capturing, stdin when asked. */
static lg_status make_pipes(const hx_child_opts *o, int op[2], int ep[2], int ip[2])
{
    if (!cloexec_pipe(op) && (!o->capture || !cloexec_pipe(ep)) &&
        (!o->input || !cloexec_pipe(ip)))
        return LG_OK;
    lg_status st = hx_err(LG_E_IO, "pipe: %s", strerror(errno));
    close_pair(op);
    close_pair(ep);
    return st;
}

/* In the parent after fork: keeps its ends of the pipes. */
static void keep_ends(hx_child *c, int op[2], int ep[2], int ip[2])
{
    c->out_fd = op[0];
    c->err_fd = ep[0];
    c->in_fd = ip[1];
    close_pair((int[2]){op[1], ep[1]});
    if (ip[0] >= 0)
        close(ip[0]);
    track(c->out_fd);
    track(c->err_fd);
    track(c->in_fd);
}

/* A descriptor that polls readable when the child exits, so that the
 * parent need not sleep between a child's last write and its exit. */
static int exit_fd(pid_t pid)
{
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
#else
    (void)pid;
    return -1;
#endif
}

/* Forks with a result pipe (and a stderr pipe when capturing); the child
 * runs fn, or execs argv when fn is NULL. */
/* The deadline from c->start: the start-up allowance while the child has
 * not acknowledged, else its timeout. */
static void arm(hx_child *c)
{
    c->ack_wait = c->startup > 0;
    if (c->ack_wait)
        c->deadline = c->start + c->startup;
    else
        c->deadline = c->timeout > 0 ? c->start + c->timeout : 0;
}

lg_status hx_child_ack(int out_fd)
{
    ssize_t n;
    do
        n = write(out_fd, "+", 1);
    while (n < 0 && errno == EINTR);
    return n == 1 ? LG_OK : hx_err(LG_E_IO, "cannot write the acknowledgement: %s",
                                  strerror(errno));
}

const char *hx_child_result(const hx_child *c, size_t *len)
{
    size_t n = 0;
    const char *out = hx_child_output(c, &n);
    if (out && c->startup > 0 && out[0] == '+') {
        out++;
        n--;
    }
    if (len)
        *len = n;
    return n ? out : NULL;
}

static lg_status start(hx_child *c, const hx_child_opts *o, int (*fn)(void *, int), void *arg,
                       const char *const *argv)
{
    int op[2] = {-1, -1}, ep[2] = {-1, -1}, ip[2] = {-1, -1};
    memset(c, 0, sizeof *c);
    c->out_fd = c->err_fd = c->exit_fd = c->in_fd = -1;
    if (make_pipes(o, op, ep, ip) != LG_OK)
        return LG_E_IO;
    fflush(NULL); /* or the child repeats the parent's buffered output */
    pid_t parent = getpid(), pid = fork();
    if (pid == 0) {
        close(op[0]);
        if (ep[0] >= 0)
            close(ep[0]);
        if (ip[1] >= 0)
            close(ip[1]);
        if (fn)
            forked_child(o, parent, (int[3]){op[1], ep[1], ip[0]}, fn, arg);
        spawned_child(parent, op[1], ep[1], argv);
    }
    int saved = errno;
    keep_ends(c, op, ep, ip);
    if (pid < 0) {
        close_fd(&c->out_fd);
        close_fd(&c->err_fd);
        close_fd(&c->in_fd);
        return hx_err(LG_E_IO, "fork: %s", strerror(saved));
    }
    c->pid = pid;
    c->exit_fd = exit_fd(pid);
    track(c->exit_fd);
    c->timeout = o->timeout;
    c->start = hx_now_s();
    c->startup = o->startup;
    arm(c);
    return LG_OK;
}

lg_status hx_child_fork(hx_child *c, const hx_child_opts *o, int (*fn)(void *arg, int out_fd),
                        void *arg)
{
    return start(c, o, fn, arg, NULL);
}

lg_status hx_child_spawn(hx_child *c, const hx_child_opts *o, const char *const *argv)
{
    return start(c, o, NULL, NULL, argv);
}

/* --------------------------------------------------------- reading */

static const char *signal_abbrev(int sig)
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {
        {SIGSEGV, "SIGSEGV"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
        {SIGILL, "SIGILL"},   {SIGKILL, "SIGKILL"}, {SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"},
        {SIGPIPE, "SIGPIPE"}, {SIGTRAP, "SIGTRAP"}, {SIGSYS, "SIGSYS"},   {SIGHUP, "SIGHUP"},
        {SIGQUIT, "SIGQUIT"}, {SIGALRM, "SIGALRM"}, {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig)
            return names[i].name;
    return NULL;
}

/* Under ASan or UBSan a deadly signal does not kill the child: the
 * sanitizer reports it ("ERROR: AddressSanitizer: SEGV on unknown
 * address") and exits. The signal is taken from that line. */
static void find_sanitizer_signal(hx_child *c, const char *buf, size_t n)
{
    static const char key[] = "Sanitizer: ";
    char name[16] = "SIG";
    const char *p = memmem(buf, n, key, sizeof key - 1);
    if (!p)
        return;
    p += sizeof key - 1;
    size_t len = 0;
    while (p + len < buf + n && len < 8 && p[len] >= 'A' && p[len] <= 'Z')
        len++;
    memcpy(name + 3, p, len);
    name[3 + len] = 0;
    for (int sig = 1; sig < 32; sig++) {
        const char *abbrev = signal_abbrev(sig);
        if (abbrev && !strcmp(abbrev, name)) {
            snprintf(c->san_sig, sizeof c->san_sig, "%s", name);
            return;
        }
    }
}

static void keep_tail(hx_child *c, const char *buf, size_t n)
{
    if (n >= HX_CHILD_TAIL) {
        memcpy(c->err, buf + n - HX_CHILD_TAIL, HX_CHILD_TAIL);
        c->elen = HX_CHILD_TAIL;
        c->err_cut = 1;
        return;
    }
    if (c->elen + n > HX_CHILD_TAIL) {
        size_t drop = c->elen + n - HX_CHILD_TAIL;
        memmove(c->err, c->err + drop, c->elen - drop);
        c->elen -= drop;
        c->err_cut = 1;
    }
    memcpy(c->err + c->elen, buf, n);
    c->elen += n;
}

static void keep_output(hx_child *c, const char *buf, size_t n)
{
    if (c->len + n + 1 > c->cap) {
        size_t cap = (c->cap ? c->cap * 2 : 65536) + n;
        char *p = realloc(c->out, cap);
        if (!p) {
            c->oom = 1;
            kill(c->pid, SIGKILL);
            return;
        }
        c->out = p;
        c->cap = cap;
    }
    if (c->ack_wait && n > 0) { /* "+": ready; the case's clock starts now */
        c->ack_wait = 0;
        c->deadline = c->timeout > 0 ? hx_now_s() + c->timeout : 0;
    }
    memcpy(c->out + c->len, buf, n);
    c->len += n;
    c->out[c->len] = 0;
}

/* Reads what is there on one of c's pipes. */
static void drain(hx_child *c, int is_err)
{
    char buf[65536];
    int *fd = is_err ? &c->err_fd : &c->out_fd;
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        close_fd(fd);
        return;
    }
    if (!is_err) {
        keep_output(c, buf, (size_t)n);
        return;
    }
    keep_tail(c, buf, (size_t)n);
    if (!c->san_sig[0])
        find_sanitizer_signal(c, buf, (size_t)n);
}

/* ---------------------------------------------------------- waiting */

static int live(const hx_child *c)
{
    return c && c->pid > 0 && !c->reaped;
}

/* How long poll may wait: until the nearest deadline, briefly when a
 * child has closed its pipes but is not reaped yet (and has no pidfd). */
static int poll_ms(hx_child *const *cs, int n, double wait)
{
    double t = hx_now_s();
    for (int i = 0; i < n; i++) {
        const hx_child *c = cs[i];
        if (!live(c))
            continue;
        if (c->out_fd < 0 && c->err_fd < 0 && c->exit_fd < 0)
            wait = 0.001;
        else if (c->deadline && !c->killed && c->deadline - t < wait)
            wait = c->deadline - t;
    }
    return wait <= 0 ? 0 : (int)ceil(wait * 1000);
}

/* Kills c past its deadline; reaps it once its pipes are closed. */
static void check(hx_child *c, double t)
{
    if (c->deadline && t >= c->deadline && !c->killed) {
        kill(c->pid, SIGKILL);
        c->killed = 1;
    }
    if (c->out_fd < 0 && c->err_fd < 0 && waitpid(c->pid, &c->wstatus, WNOHANG) == c->pid) {
        c->reaped = 1;
        close_fd(&c->exit_fd);
    }
}

void hx_child_poll(hx_child *const *cs, int n, double max_wait)
{
    struct pollfd pf[3 * HX_CHILD_POLL_MAX];
    int owner[3 * HX_CHILD_POLL_MAX], np = 0;
    if (n > HX_CHILD_POLL_MAX)
        n = HX_CHILD_POLL_MAX;
    for (int i = 0; i < n; i++) {
        const hx_child *c = cs[i];
        if (!live(c))
            continue;
        if (c->out_fd >= 0)
            pf[np] = (struct pollfd){c->out_fd, POLLIN, 0}, owner[np++] = i * 2;
        if (c->err_fd >= 0)
            pf[np] = (struct pollfd){c->err_fd, POLLIN, 0}, owner[np++] = i * 2 + 1;
        if (c->exit_fd >= 0 && c->out_fd < 0 && c->err_fd < 0)
            pf[np] = (struct pollfd){c->exit_fd, POLLIN, 0}, owner[np++] = -1;
    }
    if (poll(pf, (nfds_t)np, poll_ms(cs, n, max_wait)) > 0)
        for (int i = 0; i < np; i++)
            if (pf[i].revents && owner[i] >= 0)
                drain(cs[owner[i] / 2], owner[i] % 2);
    double t = hx_now_s();
    for (int i = 0; i < n; i++)
        if (live(cs[i]))
            check(cs[i], t);
}

int hx_child_done(const hx_child *c) { return c->reaped; }

void hx_child_wait(hx_child *c)
{
    hx_child *const one[1] = {c};
    while (!c->reaped && c->pid > 0)
        hx_child_poll(one, 1, 1.0);
}

void hx_child_kill(hx_child *c)
{
    if (c->pid > 0 && !c->reaped)
        kill(c->pid, SIGKILL);
    hx_child_wait(c);
}

void hx_child_free(hx_child *c)
{
    close_fd(&c->out_fd);
    close_fd(&c->err_fd);
    close_fd(&c->exit_fd);
    close_fd(&c->in_fd);
    free(c->out);
    c->out = NULL;
    c->len = c->cap = 0;
}

/* ------------------------------------------------- long-lived children */

lg_status hx_child_send(hx_child *c, const void *buf, size_t n)
{
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    if (c->in_fd < 0)
        return hx_err(LG_E_IO, "the child's input is closed");
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old); /* a gone child is EPIPE, not our death */
    int err = hx_write_full(c->in_fd, buf, n);
    sigaction(SIGPIPE, &old, NULL);
    return err ? hx_err(LG_E_IO, "writing to child %ld: %s", (long)c->pid, strerror(err)) : LG_OK;
}

void hx_child_close_input(hx_child *c) { close_fd(&c->in_fd); }

/* Reads what the stderr pipe already holds, without waiting. */
static void drain_err_now(hx_child *c)
{
    for (int i = 0; i < 64 && c->err_fd >= 0; i++) {
        struct pollfd pf = {c->err_fd, POLLIN, 0};
        if (poll(&pf, 1, 0) <= 0 || !pf.revents)
            return;
        drain(c, 1);
    }
}

void hx_child_next(hx_child *c, double timeout)
{
    drain_err_now(c);
    c->len = 0;
    if (c->out)
        c->out[0] = 0;
    c->elen = 0;
    c->err_cut = 0;
    c->san_sig[0] = 0;
    c->timeout = timeout;
    c->start = hx_now_s();
    arm(c);
}

/* A task with no start-up work: its deadline runs from c->start. */
static void no_startup(hx_child *c)
{
    c->ack_wait = 0;
    c->deadline = c->timeout > 0 ? c->start + c->timeout : 0;
}

void hx_child_next_started(hx_child *c, double timeout)
{
    hx_child_next(c, timeout);
    no_startup(c);
}

void hx_child_next_queued(hx_child *c, size_t used, double timeout)
{
    if (used > c->len)
        used = c->len;
    if (c->out) {
        memmove(c->out, c->out + used, c->len - used);
        c->len -= used;
        c->out[c->len] = 0;
    }
    c->timeout = timeout;
    c->start = hx_now_s();
    no_startup(c);
}

long hx_child_input_pending(const hx_child *c)
{
#ifdef __linux__
    int n = 0; /* Linux answers FIONREAD on either end of a pipe */
    if (c->in_fd >= 0 && ioctl(c->in_fd, FIONREAD, &n) == 0)
        return n;
#else
    (void)c;
#endif
    return -1;
}

/* ---------------------------------------------------------- status */

const char *hx_child_output(const hx_child *c, size_t *len)
{
    if (len)
        *len = c->len;
    return c->len ? c->out : NULL;
}

const char *hx_child_stderr(const hx_child *c, char *buf, size_t n)
{
    if (!c->elen)
        return NULL;
    snprintf(buf, n, "%s%.*s", c->err_cut ? "..." : "", (int)c->elen, c->err);
    return buf;
}

int hx_child_failed(const hx_child *c)
{
    return c->killed || (c->reaped && WIFSIGNALED(c->wstatus));
}

int hx_child_exit_code(const hx_child *c)
{
    if (!c->reaped || c->killed || !WIFEXITED(c->wstatus))
        return -1;
    return WEXITSTATUS(c->wstatus);
}

const char *hx_signal_name(int sig, char *buf, size_t n)
{
    const char *abbrev = signal_abbrev(sig);
    if (abbrev)
        snprintf(buf, n, "%s", abbrev);
    else
        snprintf(buf, n, "SIG%d", sig);
    return buf;
}

const char *hx_child_signal(const hx_child *c, char *buf, size_t n)
{
    if (c->killed)
        return NULL;
    if (c->reaped && WIFSIGNALED(c->wstatus))
        return hx_signal_name(WTERMSIG(c->wstatus), buf, n);
    if (!c->san_sig[0])
        return NULL;
    snprintf(buf, n, "%s", c->san_sig);
    return buf;
}

void hx_child_describe(const hx_child *c, char *buf, size_t n)
{
    char sig[32];
    int code = c->reaped && WIFEXITED(c->wstatus) ? WEXITSTATUS(c->wstatus) : -1;
    if (c->killed)
        snprintf(buf, n, "timed out after %g s; the child was killed", c->timeout);
    else if (c->reaped && WIFSIGNALED(c->wstatus))
        snprintf(buf, n, "killed by %s (%s)", hx_child_signal(c, sig, sizeof sig),
                 strsignal(WTERMSIG(c->wstatus)));
    else if (hx_child_signal(c, sig, sizeof sig))
        snprintf(buf, n, "%s, caught by the sanitizer (exit status %d)", sig, code);
    else
        snprintf(buf, n, "the child exited with status %d without a result", code);
}
