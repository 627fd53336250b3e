/* The copy floor of bench/run: how fast this machine can put a file's
 * bytes (already in the page cache) into memory, with nothing else done.
 *
 * usage: floor MODE FILE
 *   mmap-touched  mmap + memcpy into a buffer already written once
 *   mmap-fresh    mmap + memcpy into fresh memory (malloc, never touched)
 *   read-touched  read(2) into a buffer already written once
 *   read-fresh    read(2) into fresh memory
 *   start         nothing (FILE is not opened): the cost of starting a
 *                 C program, the floor of `harness --version`
 *
 * usage: floor rusage CMD [ARG...]
 *   runs CMD (its stdout and stderr are this program's) and prints, last
 *   on stderr, "rusage: maxrss_kib=K cpu_s=C" from wait4: its peak RSS and
 *   CPU time. The peak RSS a parent reads of a child it forked and that
 *   then ran exec starts at the parent's own (the kernel keeps the larger
 *   of the two), so bench/run, a Python process of some 80 MiB, runs each
 *   command through this small program and reads these figures instead.
 *
 * Prints "time_s=T" (the copy alone: not the start of the process, not
 * the touching of a touched buffer) and "sum=S" (a byte of every page, so
 * that the copy cannot be optimized away). Plain C and libc: bench/run
 * builds it with cc. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK ((size_t)8 << 20) /* read(2) and memcpy in 8 MiB pieces */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int fail(const char *file, const char *what)
{
    fprintf(stderr, "floor: %s: %s: %s\n", file, what, strerror(errno));
    return 1;
}

static unsigned sum_pages(const unsigned char *p, size_t n)
{
    unsigned s = 0;
    for (size_t i = 0; i < n; i += 4096)
        s += p[i];
    return s;
}

static int copy_mmap(int fd, const char *file, unsigned char *dst, size_t n)
{
    if (n == 0)
        return 0;
    void *m = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED)
        return fail(file, "mmap");
    for (size_t off = 0; off < n; off += CHUNK)
        memcpy(dst + off, (unsigned char *)m + off, n - off < CHUNK ? n - off : CHUNK);
    munmap(m, n);
    return 0;
}

static int copy_read(int fd, const char *file, unsigned char *dst, size_t n)
{
    size_t off = 0;
    while (off < n) {
        size_t want = n - off < CHUNK ? n - off : CHUNK;
        ssize_t got = read(fd, dst + off, want);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return fail(file, "read");
        if (got == 0) {
            errno = EIO;
            return fail(file, "shorter than its size");
        }
        off += (size_t)got;
    }
    return 0;
}

static int run(const char *mode, const char *file)
{
    int is_mmap = !strncmp(mode, "mmap-", 5), touched = strstr(mode, "-touched") != NULL;
    int fd = open(file, O_RDONLY);
    if (fd < 0)
        return fail(file, "open");
    struct stat st;
    if (fstat(fd, &st) != 0)
        return fail(file, "fstat");
    size_t n = (size_t)st.st_size;
    unsigned char *dst = malloc(n ? n : 1);
    if (!dst)
        return fail(file, "malloc");
    if (touched)
        memset(dst, 1, n);
    double t0 = now();
    int rc = is_mmap ? copy_mmap(fd, file, dst, n) : copy_read(fd, file, dst, n);
    double t = now() - t0;
    close(fd);
    if (rc == 0)
        printf("time_s=%.6f\nbytes=%zu\nsum=%u\n", t, n, sum_pages(dst, n));
    free(dst);
    return rc;
}

static int rusage_of(char **argv)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return fail(argv[0], "fork");
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "floor: %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR)
            return fail(argv[0], "wait4");
    fprintf(stderr, "rusage: maxrss_kib=%ld cpu_s=%.6f\n", ru.ru_maxrss,
            (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
                (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
    static const char *const modes[] = {"mmap-touched", "mmap-fresh", "read-touched", "read-fresh"};
    if (argc >= 3 && !strcmp(argv[1], "rusage"))
        return rusage_of(argv + 2);
    if (argc == 2 && !strcmp(argv[1], "start")) {
        printf("time_s=0\n");
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: floor mmap-touched|mmap-fresh|read-touched|read-fresh FILE\n"
                        "       floor start\n"
                        "       floor rusage CMD [ARG...]\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++)
        if (!strcmp(argv[1], modes[i]))
            return run(argv[1], argv[2]);
    fprintf(stderr, "floor: unknown mode \"%s\"\n", argv[1]);
    return 2;
}
