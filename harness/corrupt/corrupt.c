/* Corruption of a fixture file (corrupt.h, docs/cases.md): the case id
 * labels, and hx_corrupt_apply*, which hand each kind to its generator:
 * byte edits and splices (bytes.c), safetensors header rewrites
 * (safetensors.c), torch.save zip edits (torch_zip.c). The whole file is
 * read into memory, changed and written out: fixtures are small, and this
 * keeps every generator short. */
#include "corrupt/internal.h"
#include "util/error.h"
#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void offset_text(int64_t v, int half, char *buf, size_t n)
{
    if (half)
        snprintf(buf, n, "half");
    else
        snprintf(buf, n, "%" PRId64, v);
}

/* The name of c's named mutation, "?" when c->mutation is out of range. */
static const char *mutation_name(const hx_corrupt *c)
{
    int n = 0;
    if (c->kind == HX_CORRUPT_SAFETENSORS) {
        const hx_st_mutation *m = hx_st_mutations();
        while (m[n].name)
            n++;
        return c->mutation >= 0 && c->mutation < n ? m[c->mutation].name : "?";
    }
    const hx_tz_mutation *m = hx_tz_mutations();
    while (m[n].name)
        n++;
    return c->mutation >= 0 && c->mutation < n ? m[c->mutation].name : "?";
}

void hx_corrupt_label(hx_corrupt *c)
{
    char a[24], b[24];
    offset_text(c->a, c->a_half, a, sizeof a);
    offset_text(c->b, c->b_half, b, sizeof b);
    switch (c->kind) {
    case HX_CORRUPT_TRUNCATE:
        snprintf(c->label, sizeof c->label, "truncate:%s", a);
        break;
    case HX_CORRUPT_FLIP:
        if (c->random)
            snprintf(c->label, sizeof c->label, "flip:random%s:seed%" PRIu64, a, c->seed);
        else if (c->bit < 0)
            snprintf(c->label, sizeof c->label, "flip:%s:all", a);
        else
            snprintf(c->label, sizeof c->label, "flip:%s:%d", a, c->bit);
        break;
    case HX_CORRUPT_ZERO:
        snprintf(c->label, sizeof c->label, "zero:%s:%s", a, b);
        break;
    case HX_CORRUPT_SPLICE: {
        char at[24];
        offset_text(c->at, c->at_half, at, sizeof at);
        snprintf(c->label, sizeof c->label, "splice:%s:%s:%s@%s%s",
                 c->from_name[0] ? c->from_name : "file", a, b, at, c->insert ? ":insert" : "");
        break;
    }
    case HX_CORRUPT_SAFETENSORS:
        snprintf(c->label, sizeof c->label, "safetensors:%s", mutation_name(c));
        break;
    case HX_CORRUPT_TORCH_ZIP:
        snprintf(c->label, sizeof c->label, "torch_zip:%s", mutation_name(c));
        break;
    default:
        snprintf(c->label, sizeof c->label, "none");
        break;
    }
}

lg_status hx_corrupt_apply_buf(const hx_corrupt *c, unsigned char *buf, size_t *len)
{
    switch (c->kind) {
    case HX_CORRUPT_NONE:
        return LG_OK;
    case HX_CORRUPT_TRUNCATE:
    case HX_CORRUPT_FLIP:
    case HX_CORRUPT_ZERO:
        return hx_bytes_edit(c, buf, len);
    case HX_CORRUPT_TORCH_ZIP:
        return hx_tz_mutate(c, buf, len);
    case HX_CORRUPT_SPLICE:
    case HX_CORRUPT_SAFETENSORS:
        return hx_err(LG_E_INVALID, "corrupt %s: may grow the file; use hx_corrupt_apply_mem",
                      c->label);
    }
    return hx_err(LG_E_INVALID, "corrupt: unknown kind %d", (int)c->kind);
}

lg_status hx_corrupt_apply_mem(const hx_corrupt *c, unsigned char **buf, size_t *len)
{
    if (c->kind == HX_CORRUPT_SPLICE)
        return hx_bytes_splice(c, buf, len);
    if (c->kind == HX_CORRUPT_SAFETENSORS)
        return hx_st_mutate(c, buf, len);
    return hx_corrupt_apply_buf(c, *buf, len);
}

/* Plain open, fstat, read and close: stdio would add a stat, two seeks
 * and a buffer to each of the hundreds of reads of a sweep. O_NONBLOCK: a
 * pipe's open would wait for a writer; it is refused instead. */
lg_status hx_corrupt_read(const char *path, unsigned char **buf, size_t *len)
{
    struct stat sb;
    *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return hx_err(LG_E_IO, "%s: %s", path, strerror(errno));
    int err = fstat(fd, &sb) ? errno : 0;
    if (!err && S_ISDIR(sb.st_mode)) /* a folder opens, and reads as EISDIR */
        err = EISDIR;
    else if (!err && (S_ISFIFO(sb.st_mode) || S_ISSOCK(sb.st_mode))) /* no size to read */
        err = ESPIPE;
    else if (!err && (sb.st_size < 0 || (uint64_t)sb.st_size >= SIZE_MAX))
        err = EFBIG;
    size_t n = err ? 0 : (size_t)sb.st_size, got = 0;
    if (!err && !(*buf = malloc(n + 1))) {
        close(fd);
        return hx_err(LG_E_NOMEM, "%s: out of memory", path);
    }
    if (!err && !(err = hx_read_full(fd, *buf, n, &got)) && got < n)
        err = EIO; /* shorter than fstat said */
    close(fd);
    if (!err) {
        *len = n;
        return LG_OK;
    }
    free(*buf);
    *buf = NULL;
    return hx_err(LG_E_IO, "%s: read error: %s", path, strerror(err));
}

/* path (created when missing) holding buf: emptied when opened, or, for a
 * file kept between copies (in_place), written from its start and then
 * cut to len, so that its pages stay. */
static lg_status write_all(const char *path, const unsigned char *buf, size_t len, int in_place)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (in_place ? 0 : O_TRUNC), 0666);
    if (fd < 0)
        return hx_err(LG_E_IO, "%s: %s", path, strerror(errno));
    int err = hx_write_full(fd, buf, len);
    if (!err && in_place && ftruncate(fd, (off_t)len))
        err = errno;
    if (close(fd) && !err)
        err = errno;
    if (err)
        return hx_err(LG_E_IO, "%s: write error: %s", path, strerror(err));
    return LG_OK;
}

/* The last source read, for the next corruption of the same file (a
 * sweep corrupts one fixture hundreds of times): its bytes, with what
 * identifies its contents (util/fs.h, hx_same_file). Files up to
 * SOURCE_KEPT_MAX bytes only, and only when the file was the same
 * before and after its read. As for the mirror (mirror.c), a file
 * written again in place at the same size within the file system's
 * timestamp tick of its read is not seen to change. */
#define SOURCE_KEPT_MAX ((off_t)16 << 20)
static struct {
    pthread_mutex_t lock;
    char *path;
    struct stat id;
    unsigned char *bytes;
    size_t len;
} kept = {PTHREAD_MUTEX_INITIALIZER, NULL, {0}, NULL, 0};

static void kept_clear(void)
{
    free(kept.path);
    free(kept.bytes);
    kept.path = NULL;
    kept.bytes = NULL;
    kept.len = 0;
}

void hx_corrupt_forget(void)
{
    pthread_mutex_lock(&kept.lock);
    kept_clear();
    pthread_mutex_unlock(&kept.lock);
}

/* A copy of the bytes kept for path as it is now (id), or NULL. */
static unsigned char *kept_copy(const char *path, const struct stat *id, size_t *len)
{
    unsigned char *b = NULL;
    pthread_mutex_lock(&kept.lock);
    if (kept.path && !strcmp(kept.path, path) && hx_same_file(&kept.id, id) &&
        (b = malloc(kept.len + 1))) {
        memcpy(b, kept.bytes, kept.len);
        *len = kept.len;
    }
    pthread_mutex_unlock(&kept.lock);
    return b;
}

static void keep(const char *path, const struct stat *id, const unsigned char *buf, size_t len)
{
    pthread_mutex_lock(&kept.lock);
    kept_clear();
    kept.path = strdup(path);
    kept.bytes = malloc(len ? len : 1);
    if (kept.path && kept.bytes) {
        memcpy(kept.bytes, buf, len);
        kept.len = len;
        kept.id = *id;
    } else {
        kept_clear();
    }
    pthread_mutex_unlock(&kept.lock);
}

/* hx_corrupt_read, or the copy kept from the last read of the same file. */
static lg_status read_source(const char *in, unsigned char **buf, size_t *len)
{
    struct stat before, after;
    int small = stat(in, &before) == 0 && S_ISREG(before.st_mode) &&
                before.st_size <= SOURCE_KEPT_MAX;
    if (small && (*buf = kept_copy(in, &before, len)))
        return LG_OK;
    lg_status st = hx_corrupt_read(in, buf, len);
    if (st == LG_OK && small && stat(in, &after) == 0 && hx_same_file(&before, &after))
        keep(in, &after, *buf, *len);
    return st;
}

lg_status hx_corrupt_make(const hx_corrupt *c, const char *in, unsigned char **buf,
                          size_t *len, size_t *in_len)
{
    *len = 0;
    lg_status st = read_source(in, buf, len);
    *in_len = *len;
    if (st == LG_OK && (st = hx_corrupt_apply_mem(c, buf, len)) != LG_OK) {
        free(*buf);
        *buf = NULL;
    }
    return st;
}

lg_status hx_corrupt_write(const char *out, const unsigned char *buf, size_t len)
{
    return write_all(out, buf, len, 0);
}

lg_status hx_corrupt_rewrite(const char *out, const unsigned char *buf, size_t len)
{
    return write_all(out, buf, len, 1);
}

lg_status hx_corrupt_apply(const hx_corrupt *c, const char *in, const char *out)
{
    size_t len, in_len;
    unsigned char *buf;
    lg_status st = hx_corrupt_make(c, in, &buf, &len, &in_len);
    if (st == LG_OK)
        st = write_all(out, buf, len, 0);
    free(buf);
    return st;
}
