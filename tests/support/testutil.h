/* Helpers shared by the unit tests. */
#ifndef LG_TESTUTIL_H
#define LG_TESTUTIL_H

/* TU_ASAN: 1 in an AddressSanitizer build (gcc's __SANITIZE_ADDRESS__,
 * clang's __has_feature), else 0. */
#if defined(__SANITIZE_ADDRESS__)
#define TU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_ASAN 1
#endif
#endif
#ifndef TU_ASAN
#define TU_ASAN 0
#endif

#include <stddef.h>
#include <stdint.h>

/* A fresh directory under $TMPDIR (or /tmp); removed by tu_rmtree. */
const char *tu_tmpdir(void);
void tu_rmtree(const char *dir);
/* dir/name; returns a static buffer (rotating, 8 slots). */
const char *tu_path(const char *dir, const char *name);
/* Writes n bytes; returns 0 on success. */
int tu_write(const char *path, const void *data, size_t n);
/* Reads a whole file (malloc'd, *n set, a NUL after its bytes); NULL on error. */
void *tu_read(const char *path, size_t *n);
/* A whole file as a string (malloc'd, NUL-terminated); NULL on error. */
char *tu_read_text(const char *path);
/* sha256 of the bytes as 64 hex digits into hex (65 bytes). */
void tu_sha256(const void *data, size_t n, char *hex);
/* Open file descriptors of this process. */
int tu_open_fds(void);
/* Writes a safetensors file of `n` f32 tensors named t0.. of shape
 * [rows, cols], element j of tensor i = i * 1000 + j. Returns 0 on success. */
int tu_write_safetensors(const char *path, int n, int rows, int cols);
/* Runs a harness subcommand (argv NULL-terminated) with its stdout in
 * dir/stdout, read back into *out (malloc'd; NULL if it cannot be read).
 * Returns the subcommand's exit code. */
int tu_run_cmd(int (*fn)(int, char **), char **argv, const char *dir, char **out);
/* Runs a Check suite (CK_NORMAL) and frees the runner; the number of
 * failed tests. */
struct Suite;
int tu_run_suite(struct Suite *s);  /* loads the torch module first, where built */
/* The major version of the libtorch linked in (0: none). */
int tu_libtorch_major(void);
/* Is msg libtorch's refusal to deserialize onto mps on a machine without
 * it? The 1.13 unpickler's device check, or 2.x's missing backend. */
int tu_is_mps_refusal(const char *msg);
/* The source tree (for tests/data). */
const char *tu_source_dir(void);
#endif
