/* Child processes, as libuv's src/unix/process.c: the one place in the
 * harness that forks. A child is forked to run a function, or spawned (a
 * fork that execs a program); either way the parent gets a result pipe
 * (the child's out_fd, or a spawned program's stdout), optionally the
 * tail of the child's stdout and stderr, a timeout after which the child
 * is killed, and its exit or signal status decoded once for every user.
 *
 * On Linux every child dies with the harness (PR_SET_PDEATHSIG), so that
 * a killed run leaves nothing behind; elsewhere (macOS has no such call) a
 * child that finds its parent gone at start exits, and one already
 * running ends at its first write to the closed result pipe (SIGPIPE); a
 * forked child runs libtorch with one thread (the parent's pool does not
 * survive fork) and, in coverage builds, writes its own gcov counts.
 *
 * A forked child closes the parent's ends of its siblings' pipes, so that
 * a long-lived child (a worker, run/worker.h) sees end of file on its
 * stdin when the parent closes it, whatever was forked after it. */
#ifndef HX_CHILD_H
#define HX_CHILD_H

#include "loadgate/loadgate.h"

#include <stddef.h>
#include <sys/types.h>

/* Bytes of a child's stdout and stderr kept for a crash report. */
#define HX_CHILD_TAIL 2048
/* Children one hx_child_poll call watches at most. */
#define HX_CHILD_POLL_MAX 512

typedef struct {
    double timeout; /* seconds until the child is killed; 0: never */
    int capture;    /* 1: the child's stdout and stderr are kept as a tail
                       (hx_child_stderr); 0: they are the parent's */
    int no_dump;    /* 1: no gcov dump at exit (a child that cannot write
                       files would only complain) */
    int input;      /* 1: the child's stdin is a pipe the parent writes
                       with hx_child_send (a worker's requests) */
    /* > 0: the child says it is ready, with "+" first on its result pipe
     * (hx_child_ack), once its start-up is done (exec, loading libtorch);
     * the timeout counts from then, so that a machine under load does
     * not turn start-up into a timeout. Until then it has `startup`
     * seconds. 0: the timeout counts from the start. */
    double startup;
} hx_child_opts;

/* One child. Public so that a caller can keep many in an array; read it
 * through the functions below. */
typedef struct {
    pid_t pid;
    int out_fd, err_fd, exit_fd; /* result pipe, stderr pipe, pidfd; -1 once closed */
    int in_fd;                   /* the child's stdin (hx_child_opts.input), or -1 */
    char *out;                   /* what came on the result pipe */
    size_t len, cap;
    char err[HX_CHILD_TAIL];
    size_t elen;
    int err_cut;
    char san_sig[16]; /* a deadly signal a sanitizer caught ("SIGSEGV") */
    double timeout, start, deadline;
    double startup; /* hx_child_opts.startup */
    int ack_wait;   /* waiting for the child's "+" */
    int killed;  /* by the timeout */
    int oom;     /* its output could not be kept: it was killed */
    int reaped;
    int wstatus; /* waitpid's, once reaped */
} hx_child;

/* The child's side of hx_child_opts.startup: writes "+" on out_fd.
 * LG_OK, or LG_E_IO. */
lg_status hx_child_ack(int out_fd);
/* What came on c's result pipe after the "+" of a child that acknowledges
 * (as hx_child_output otherwise). */
const char *hx_child_result(const hx_child *c, size_t *len);

/* Forks a child that runs fn(arg, out_fd) and exits with its return
 * value; what fn writes on out_fd comes back as hx_child_output. LG_OK,
 * or LG_E_IO with the reason (pipe or fork failed) in hx_errmsg(). */
lg_status hx_child_fork(hx_child *c, const hx_child_opts *o, int (*fn)(void *arg, int out_fd),
                        void *arg);
/* Spawns argv (argv[0] looked up on PATH): its stdout is the result
 * pipe. As hx_child_fork otherwise. */
lg_status hx_child_spawn(hx_child *c, const hx_child_opts *o, const char *const *argv);

/* Waits up to max_wait seconds (less when a deadline comes first) for
 * news from any of the n (at most HX_CHILD_POLL_MAX) children, reads
 * their pipes, kills the ones past their deadline and reaps the ones
 * that are done. NULL entries are skipped. */
void hx_child_poll(hx_child *const *cs, int n, double max_wait);
/* Has c exited (or been killed) and been reaped? */
int hx_child_done(const hx_child *c);
/* hx_child_poll on c alone until it is done. */
void hx_child_wait(hx_child *c);
/* Kills c (SIGKILL) unless it is done, and reaps it: a run that was
 * interrupted (harness run on SIGINT or SIGTERM). */
void hx_child_kill(hx_child *c);
/* Closes what is left open and frees the output. The child must be done. */
void hx_child_free(hx_child *c);

/* A long-lived child (hx_child_opts.input): writes buf to its stdin.
 * LG_OK, or LG_E_IO when the child is gone (no SIGPIPE reaches the
 * caller). */
lg_status hx_child_send(hx_child *c, const void *buf, size_t n);
/* Closes the child's stdin: a worker reads end of file and exits. */
void hx_child_close_input(hx_child *c);
/* A long-lived child starts its next task: what it wrote so far (output,
 * and the stderr already in its pipe) is dropped, and its clock restarts
 * with timeout seconds (0: no deadline). */
void hx_child_next(hx_child *c, double timeout);
/* As hx_child_next, for a task with no start-up work: no "+" is awaited,
 * and the clock starts now. */
void hx_child_next_started(hx_child *c, double timeout);
/* A long-lived child goes on to a task it was sent before the last one
 * ended (a worker's queued request): the first `used` bytes of its output
 * (the last task's) are dropped and the rest kept, as is the tail of its
 * stderr (some of it may be the new task's already), and its clock
 * restarts, started, with timeout seconds (0: no deadline). */
void hx_child_next_queued(hx_child *c, size_t used, double timeout);
/* How many bytes written to c's input it has not read yet: 0 once it has
 * read all; -1 where that cannot be told (not Linux, no input). */
long hx_child_input_pending(const hx_child *c);

/* What c wrote on its result pipe (NUL-terminated; NULL when nothing). */
const char *hx_child_output(const hx_child *c, size_t *len);
/* The last HX_CHILD_TAIL bytes of c's stdout and stderr, prefixed "..."
 * when cut, in buf (HX_CHILD_TAIL + 4 bytes or more); NULL when nothing
 * came (or they were not captured). */
const char *hx_child_stderr(const hx_child *c, char *buf, size_t n);
/* c's exit code when it exited by itself, else -1. */
int hx_child_exit_code(const hx_child *c);
/* The name of the deadly signal c died of ("SIGSEGV", "SIG40"), or the one
 * a sanitizer reported in its stderr; NULL when none (or a timeout). */
const char *hx_child_signal(const hx_child *c, char *buf, size_t n);
/* The name of signal sig in buf: "SIGINT", "SIG40". Returns buf. */
const char *hx_signal_name(int sig, char *buf, size_t n);
/* What became of c, in words: "timed out after S s; the child was
 * killed", "killed by SIGSEGV (Segmentation fault)", "SIGSEGV, caught by
 * the sanitizer (exit status 1)" or "the child exited with status N". */
void hx_child_describe(const hx_child *c, char *buf, size_t n);
/* 1 if c was killed by the timeout or a signal (its output is not to be
 * trusted), else 0. */
int hx_child_failed(const hx_child *c);

/* The path of the running harness executable (for spawning
 * `harness __run-one`): $LOADGATE_HARNESS, else /proc/self/exe (Linux),
 * _NSGetExecutablePath (macOS), else "harness" looked up on PATH. */
const char *hx_self_exe(void);
/* Seconds on a monotonic clock. */
double hx_now_s(void);
#endif
