/* A child process that cannot change files: for --trust-code, where
 * libtorch runs code taken from the checkpoint.
 *
 * The child installs a seccomp filter, then runs the work. The filter
 * refuses (EACCES) every system call that creates, removes, renames,
 * truncates or re-permissions a file, and open/openat with a flag that
 * could write (O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND). Descriptors
 * already open stay usable, so the child still prints to stdout and
 * stderr. A file opened read-only cannot be mapped shared and writable,
 * so torch.from_file(..., shared=True) cannot write through memory
 * either. openat2 and io_uring, whose arguments a filter cannot read, are
 * refused outright. See docs/limits.md. */
#include "run/sandbox.h"
#include "run/child.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* seccomp is Linux's. Elsewhere (macOS: its sandbox_init is deprecated
 * and its profiles undocumented) there is no filter, and hx_sandbox_call
 * refuses before forking: --trust-code fails with a message that says so
 * rather than running code unconfined. */
#ifdef __linux__
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define SANDBOX_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_ARCH AUDIT_ARCH_AARCH64
#endif
#endif /* __linux__ */

#ifdef SANDBOX_ARCH

#define ARG_LO(i) offsetof(struct seccomp_data, args[i])
#define DENY (SECCOMP_RET_ERRNO | (EACCES & SECCOMP_RET_DATA))
#define WRITE_FLAGS (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)

/* The calls refused whatever their arguments (those this architecture has). */
static const int refused[] = {
#ifdef SYS_creat
    SYS_creat,
#endif
#ifdef SYS_rename
    SYS_rename,
#endif
#ifdef SYS_unlink
    SYS_unlink,
#endif
#ifdef SYS_mkdir
    SYS_mkdir,
#endif
#ifdef SYS_rmdir
    SYS_rmdir,
#endif
#ifdef SYS_link
    SYS_link,
#endif
#ifdef SYS_symlink
    SYS_symlink,
#endif
#ifdef SYS_chmod
    SYS_chmod,
#endif
#ifdef SYS_chown
    SYS_chown,
#endif
#ifdef SYS_lchown
    SYS_lchown,
#endif
#ifdef SYS_mknod
    SYS_mknod,
#endif
#ifdef SYS_openat2
    SYS_openat2,
#endif
#ifdef SYS_io_uring_setup
    SYS_io_uring_setup,
#endif
#ifdef SYS_renameat2
    SYS_renameat2,
#endif
    SYS_renameat,  SYS_unlinkat, SYS_mkdirat,   SYS_linkat,          SYS_symlinkat,
    SYS_truncate,  SYS_fchmodat, SYS_fchownat,  SYS_mknodat,         SYS_open_by_handle_at,
    SYS_utimensat, SYS_setxattr, SYS_lsetxattr, SYS_removexattr,     SYS_lremovexattr,
    SYS_fchmod,    SYS_fchown,   SYS_fsetxattr, SYS_fremovexattr,
    /* descriptors inherited open for writing (stdout redirected to a file) */
    SYS_ftruncate, SYS_fallocate,
#ifdef SYS_utime
    SYS_utime,
#endif
#ifdef SYS_utimes
    SYS_utimes,
#endif
#ifdef SYS_futimesat
    SYS_futimesat,
#endif
    452, /* fchmodat2 (Linux 6.6), absent from older headers */
    463, /* setxattrat (6.13) */
    466, /* removexattrat (6.13) */
    /* what root could otherwise do to files without opening them, and
     * reaching into the unconfined parent */
    SYS_mount, SYS_umount2, SYS_pivot_root, SYS_chroot, SYS_acct, SYS_swapon, SYS_swapoff,
    SYS_init_module, SYS_finit_module, SYS_delete_module, SYS_ptrace, SYS_process_vm_writev,
    SYS_unshare, SYS_setns,
    428, 429, 430, 431, 432, 442, /* open_tree, move_mount, fsopen, fsconfig, fsmount,
                                     mount_setattr */
};

#define NREFUSED (sizeof refused / sizeof refused[0])
#define IOC_SETFLAGS 0x40086602u   /* FS_IOC_SETFLAGS on 64-bit */
#define IOC_FSSETXATTR 0x401c5820u /* FS_IOC_FSSETXATTR */
#define MAX_FILTER (32 + 2 * NREFUSED)

/* Appends "if nr == n: check flags in args[arg]" for open-like calls. */
static size_t open_check(struct sock_filter *f, size_t k, int nr, int arg)
{
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 3);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(arg));
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, WRITE_FLAGS, 0, 1);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, DENY);
    return k;
}

/* Root keeps no capability in the child: without CAP_DAC_OVERRIDE,
 * CAP_SYS_ADMIN and the rest, it is an ordinary user of its own files. */
static int drop_capabilities(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    for (int cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL && errno != EPERM)
            return -1;
    return syscall(SYS_capset, &h, d) == 0 ? 0 : -1;
}

static int install_filter(void)
{
    struct sock_filter f[MAX_FILTER];
    size_t k = 0;
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                          offsetof(struct seccomp_data, arch));
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SANDBOX_ARCH, 1, 0);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                          offsetof(struct seccomp_data, nr));
#ifdef __x86_64__
    /* x32 calls carry the x86-64 arch with bit 30 set in the number: they
     * would pass every comparison below. Nothing here uses them. */
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, DENY);
#endif
    for (size_t i = 0; i < NREFUSED; i++) {
        f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)refused[i],
                                              0, 1);
        f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, DENY);
    }
    /* ioctl: the requests that change a file's flags (chattr) refused */
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 0, 5);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(1));
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IOC_SETFLAGS, 1, 0);
    f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IOC_FSSETXATTR, 0, 1);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, DENY);
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                          offsetof(struct seccomp_data, nr));
    k = open_check(f, k, SYS_openat, 2);
#ifdef SYS_open
    /* open_check left the flags in A: reload the number. */
    f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                          offsetof(struct seccomp_data, nr));
    k = open_check(f, k, SYS_open, 1);
#endif
    f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = {(unsigned short)k, f};
    if (drop_capabilities() != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0 ? 0 : -1;
}

#else
static int install_filter(void)
{
    errno = ENOSYS;
    return -1;
}
#endif

int hx_sandbox_enter(void) { return install_filter(); }

#ifndef __linux__
lg_status hx_sandbox_call(int (*fn)(void *), void *arg, int *code)
{
    (void)fn;
    (void)arg;
    *code = 1;
    return hx_err(LG_E_IO, "cannot confine the child: --trust-code needs Linux's seccomp, and "
                  "this system has no sandbox loadgate uses; not loading code-bearing files "
                  "without it (docs/limits.md)");
}
#else
typedef struct {
    int (*fn)(void *);
    void *arg;
} confined;

/* In the child: confine, then run. A failure to confine is told to the
 * parent on the result pipe. */
static int confined_child(void *p, int out_fd)
{
    const confined *c = p;
    if (install_filter() != 0) {
        dprintf(out_fd, "cannot confine the child (seccomp): %s; not loading code-bearing "
                "files without it", strerror(errno));
        return 1;
    }
    return c->fn(c->arg);
}

lg_status hx_sandbox_call(int (*fn)(void *), void *arg, int *code)
{
    hx_child ch;
    /* no gcov dump: the confined child cannot write the counts */
    hx_child_opts o = {.timeout = 0, .capture = 0, .no_dump = 1};
    confined c = {fn, arg};
    char why[256];
    *code = 1;
    lg_status st = hx_child_fork(&ch, &o, confined_child, &c);
    if (st != LG_OK)
        return st;
    hx_child_wait(&ch);
    const char *msg = hx_child_output(&ch, NULL);
    if (msg) {
        st = hx_err(LG_E_IO, "%s", msg);
    } else if (hx_child_exit_code(&ch) < 0) {
        hx_child_describe(&ch, why, sizeof why);
        st = hx_err(LG_E_IO, "the confined child: %s", why);
    } else {
        *code = hx_child_exit_code(&ch);
    }
    hx_child_free(&ch);
    return st;
}
#endif /* __linux__ */
