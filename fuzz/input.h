/* The file a fuzz target writes each input to, then opens by path as a
 * file on disk would be: on Linux a memfd, reached as /proc/self/fd/N;
 * elsewhere (macOS has neither) a file made by mkstemp in $TMPDIR and
 * removed at exit. */
#ifndef LG_FUZZ_INPUT_H
#define LG_FUZZ_INPUT_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static char fuzz_input_path[1024];

static void fuzz_input_remove(void) { unlink(fuzz_input_path); }

/* A descriptor open for writing, its path in fuzz_input_path; exits with
 * the reason when none can be made. */
static int fuzz_input_open(const char *name)
{
#ifdef __linux__
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) {
        perror("memfd_create");
        exit(1);
    }
    snprintf(fuzz_input_path, sizeof fuzz_input_path, "/proc/self/fd/%d", fd);
#else
    const char *tmp = getenv("TMPDIR");
    snprintf(fuzz_input_path, sizeof fuzz_input_path, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp",
             name);
    int fd = mkstemp(fuzz_input_path);
    if (fd < 0) {
        perror(fuzz_input_path);
        exit(1);
    }
    atexit(fuzz_input_remove);
#endif
    return fd;
}
#endif
