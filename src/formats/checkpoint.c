/* Opening a checkpoint: map the file, pick the reader by its magic bytes
 * (never by extension), and hand it over. */
#include "formats/format.h"
#include "core/cast.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const lg__reader_ops *const readers[] = {
    &lg__safetensors_reader, &lg__torch_archive_reader, &lg__torchscript_reader,
    &lg__torch_zip_reader,   &lg__torch_legacy_reader,  &lg__torch_params_reader,
    &lg__torchscript_data_reader, NULL,
};

const char *const *lg_readers(void)
{
    static const char *names[sizeof readers / sizeof readers[0]];
    for (size_t i = 0; readers[i]; i++)
        names[i] = readers[i]->name;
    return names;
}

static const lg__reader_ops *reader_named(const char *name)
{
    for (size_t i = 0; readers[i]; i++)
        if (!strcmp(readers[i]->name, name))
            return readers[i];
    return NULL;
}

void lg__checkpoint_free_tensors(lg_checkpoint *c)
{
    for (size_t i = 0; c->tensors && i < c->ntensors; i++)
        free((char *)c->tensors[i].name);
    free(c->tensors);
    c->tensors = NULL;
    c->ntensors = 0;
}

static lg_status unknown_format(const lg_checkpoint *c)
{
    char hex[3 * 8 + 1] = "";
    size_t n = c->size < 8 ? (size_t)c->size : 8;
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 3 * i, 4, "%02x ", c->map[i]);
    if (n)
        hex[3 * n - 1] = '\0';
    return lg__err(LG_E_FORMAT, "%s: unknown checkpoint format (first bytes: %s); known: "
                   "safetensors, libtorch archive, TorchScript, torch.save", c->path, hex);
}

/* The whole file into memory with read(2): EINTR and short reads are
 * retried (lg__read_full). Closes fd. */
static lg_status read_file(lg_checkpoint *c, int fd)
{
    unsigned char *buf = lg__malloc((size_t)c->size);
    lg_status st = buf ? lg__read_full(fd, buf, (size_t)c->size, c->path)
                       : lg__err(LG_E_NOMEM, "%s: out of memory reading %llu bytes", c->path,
                                 (unsigned long long)c->size);
    close(fd);
    if (st != LG_OK) {
        free(buf);
        return st;
    }
    c->map = buf;
    c->map_is_copy = 1;
    return LG_OK;
}

/* What a path that is not a regular file is, for the message. */
static const char *file_kind(mode_t m)
{
    if (S_ISDIR(m))
        return " (a directory)";
    if (S_ISFIFO(m))
        return " (a FIFO)";
    if (S_ISCHR(m))
        return " (a character device)";
    if (S_ISBLK(m))
        return " (a block device)";
    if (S_ISSOCK(m))
        return " (a socket)";
    return "";
}

/* Opens c->path, which must be a regular, non-empty file that fits in
 * memory; sets c->size. */
static lg_status open_regular(lg_checkpoint *c, int *out)
{
    struct stat sb;
    /* O_NONBLOCK: a FIFO nobody writes would block open() forever; it has
     * no effect on the regular files read below. */
    int fd = lg__open(c->path, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return lg__err(LG_E_IO, "%s: cannot open: %s", c->path, strerror(errno));
    int e = fstat(fd, &sb) != 0 ? errno : 0;
    lg_status st = LG_OK;
    if (e || !S_ISREG(sb.st_mode))
        st = lg__err(LG_E_IO, "%s: not a regular file%s%s", c->path, e ? ": " : "",
                     e ? strerror(e) : file_kind(sb.st_mode));
    else if ((c->size = (uint64_t)sb.st_size) == 0)
        st = lg__err(LG_E_FORMAT, "%s: empty file (0 bytes)", c->path);
    else if (c->size > SIZE_MAX)
        st = lg__err(LG_E_FORMAT, "%s: file too large to map", c->path);
    if (st != LG_OK) {
        close(fd);
        return st;
    }
    *out = fd;
    return LG_OK;
}

/* A file of at most this many bytes is read whole rather than mapped:
 * a map, its first touch and its unmap cost more system time than
 * reading a few pages (about 4 us against 0.3 for an 8 KiB file here:
 * docs/performance.md, "Result texts, small files read whole"). */
#define READ_WHOLE_MAX ((uint64_t)64 << 10)

/* Reads the small file open at fd into memory of its own, in place of
 * its map. It is the step that the io.mmap fault point stands for
 * (map_file), so neither the io.read point nor mem.alloc counts it; with
 * no memory for it the file is mapped after all. A file cut short under
 * the read fails as one cut short under its map does (lg__map_check); one
 * whose size says more than it holds, as lg__read_full says.
 * 1 and fd left open: map it instead; else 0, *st set and fd closed. */
static int read_small(lg_checkpoint *c, int fd, lg_status *st)
{
    size_t n = (size_t)c->size, got = 0;
    unsigned char *buf = malloc(n);
    ssize_t r = 1;
    if (!buf)
        return 1;
    while (got < n && (r = pread(fd, buf + got, n - got, (off_t)got)) != 0) {
        if (r < 0 && errno != EINTR)
            break;
        got += r > 0 ? (size_t)r : 0;
    }
    int e = errno;
    close(fd);
    struct stat sb;
    if (got == n) {
        c->map = buf;
        c->map_is_copy = 1;
        *st = LG_OK;
    } else if (r < 0) {
        *st = lg__err(LG_E_IO, "%s: read failed: %s", c->path, strerror(e));
    } else if (stat(c->path, &sb) == 0 && (uint64_t)sb.st_size != c->size) {
        *st = lg__err(LG_E_IO, "%s: the file changed while it was read: it was %llu bytes "
                      "and is now %llu (cut short by another process?)", c->path,
                      (unsigned long long)c->size, (unsigned long long)sb.st_size);
    } else { /* the same size, and fewer bytes: a file that says more than it holds (sysfs) */
        *st = lg__err(LG_E_IO, "%s: unexpected end of file (%zu bytes missing)", c->path,
                      n - got);
    }
    if (*st != LG_OK)
        free(buf);
    return 0;
}

static lg_status map_file(lg_checkpoint *c)
{
    int fd;
    lg_status st = open_regular(c, &fd);
    if (st != LG_OK)
        return st;
    void *m = MAP_FAILED;
    if (c->size <= READ_WHOLE_MAX) {
        int err;
        if (lg__fault("io.mmap", &err)) /* as lg__mmap fails */
            errno = err ? err : ENOMEM;
        else if (!read_small(c, fd, &st))
            return st;
        else
            m = mmap(NULL, (size_t)c->size, PROT_READ, MAP_PRIVATE, fd, 0);
    } else {
        m = lg__mmap((size_t)c->size, fd);
    }
    int e = errno;
    if (m == MAP_FAILED && e == ENODEV) /* a file system that cannot map: read it */
        return read_file(c, fd);
    if (m != MAP_FAILED && (c->map_guard = lg__map_guard_add(m, (size_t)c->size)) < 0) {
        /* no SIGBUS guard (turned off, or every slot taken): a mapped file
         * cut short by another process would kill us; read it instead */
        munmap(m, (size_t)c->size);
        return read_file(c, fd);
    }
    close(fd);
    if (m == MAP_FAILED)
        return lg__err(e == ENOMEM ? LG_E_NOMEM : LG_E_IO, "%s: cannot map %llu bytes: %s",
                       c->path, (unsigned long long)c->size, strerror(e));
    c->map = m;
    return LG_OK;
}

lg_status lg__map_check(const lg_checkpoint *c)
{
    if (!lg__map_guard_hit(c->map_guard))
        return LG_OK;
    struct stat sb;
    if (stat(c->path, &sb) == 0 && (uint64_t)sb.st_size != c->size)
        return lg__err(LG_E_IO, "%s: the file changed while it was read: it was %llu bytes "
                       "and is now %llu (cut short by another process?)", c->path,
                       (unsigned long long)c->size, (unsigned long long)sb.st_size);
    return lg__err(LG_E_IO, "%s: the file changed while it was read: its %llu bytes could not "
                   "all be read through the map (cut short by another process?)", c->path,
                   (unsigned long long)c->size);
}

struct lg__map_ref {
    atomic_size_t refs;
    void *base;
    size_t len;
    int guard;
};

/* A map made by map_file, and its guard slot, given back. */
static void unmap(void *base, size_t len, int guard)
{
    lg__map_guard_remove(guard);
    munmap(base, len);
}

/* The reference is made with malloc, not lg__malloc: building a tensor
 * over the map is a way of reading it, not an allocation that the
 * mem.alloc fault point counts; with no memory the caller copies. */
lg__map_ref *lg__map_ref_take(lg_checkpoint *c)
{
    if (!c->map || c->map_is_copy)
        return NULL;
    if (!c->map_ref) {
        lg__map_ref *r = malloc(sizeof *r);
        if (!r)
            return NULL;
        atomic_init(&r->refs, 1); /* the checkpoint's own */
        r->base = (void *)c->map;
        r->len = (size_t)c->size;
        r->guard = c->map_guard;
        c->map_ref = r;
    }
    atomic_fetch_add_explicit(&c->map_ref->refs, 1, memory_order_relaxed);
    return c->map_ref;
}

void lg__map_ref_release(void *ctx)
{
    lg__map_ref *r = ctx;
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
        return;
    unmap(r->base, r->len, r->guard);
    free(r);
}

lg_status lg__checkpoint_read(lg_checkpoint *c)
{
    int fd;
    lg_status st = open_regular(c, &fd);
    return st != LG_OK ? st : read_file(c, fd);
}

static const char *tensor_name(const void *ctx, size_t i)
{
    return ((const lg_checkpoint *)ctx)->tensors[i].name;
}

static lg_status parse_crc(const char *s, lg__crc_mode *out)
{
    if (!s || !strcmp(s, "error"))
        *out = LG__CRC_ERROR;
    else if (!strcmp(s, "warn"))
        *out = LG__CRC_WARN;
    else if (!strcmp(s, "off"))
        *out = LG__CRC_OFF;
    else
        return LG_E_INVALID;
    return LG_OK;
}

/* A libtorch-layout zip (torch-archive by its magic bytes) is read by
 * libtorch when the checkpoint is opened with the torch backend, and by
 * the native torchscript-data reader otherwise. */
static const lg__reader_ops *sniffed_reader(const lg_checkpoint *c, const lg__reader_ops *r)
{
    if (r != &lg__torch_archive_reader)
        return r;
#ifdef LOADGATE_HAVE_TORCH
    if (c->backend && !strcmp(lg_backend_name(c->backend), "torch"))
        return r;
#endif
    return &lg__torchscript_data_reader;
}

lg_status lg_checkpoint_open(const char *path, const lg_open_options *opt, lg_checkpoint **out)
{
    const char *forced = opt && opt->reader && strcmp(opt->reader, "auto") ? opt->reader : NULL;
    if (!path || !out)
        return lg__err(LG_E_INVALID, "lg_checkpoint_open: path and out are required");
    if (forced && !reader_named(forced))
        return lg__err(LG_E_INVALID, "unknown reader \"%s\"", forced);
    lg__crc_mode crc = LG__CRC_ERROR;
    if (opt && parse_crc(opt->crc, &crc) != LG_OK)
        return lg__err(LG_E_INVALID, "crc option \"%s\": error, warn or off expected", opt->crc);
    lg_checkpoint *c = lg__calloc(1, sizeof *c);
    if (!c)
        return lg__err(LG_E_NOMEM, "%s: out of memory", path);
    c->fd = -1;
    c->map_guard = -1;
    const char *over = getenv("LOADGATE_OVER_MAP");
    c->over_map = !over || strcmp(over, "0");
    c->backend = opt ? opt->backend : NULL;
    c->key = opt && opt->key && *opt->key ? opt->key : NULL;
    c->crc = crc;
    c->trust_code = opt ? opt->trust_code : 0;
    c->path = lg__strdup(path);
    lg_status st = c->path ? map_file(c) : lg__err(LG_E_NOMEM, "%s: out of memory", path);
    if (st != LG_OK)
        goto fail;
    c->reader_forced = forced != NULL;
    if (forced)
        c->ops = reader_named(forced);
    for (size_t i = 0; !c->ops && readers[i]; i++) {
        size_t n = c->size < 4096 ? (size_t)c->size : 4096;
        if (readers[i]->sniff(c->map, n, c->size))
            c->ops = sniffed_reader(c, readers[i]);
    }
    if (!c->ops) {
        st = unknown_format(c);
        goto fail;
    }
    if (c->key && !c->ops->takes_key) {
        st = lg__err(LG_E_INVALID, "%s: key \"%s\": a %s file holds no nested objects (the key "
                     "option selects part of a torch.save checkpoint)", c->path, c->key,
                     c->ops->name);
        goto fail;
    }
    st = c->ops->open(c);
    /* a plain copy, as the name index's memory: outside the mem.alloc
     * fault point, whose sweeps count the allocations of an open */
    if (st == LG_OK && c->key && !(c->kept_key = strdup(c->key))) {
        c->ops->close(c);
        st = lg__err(LG_E_NOMEM, "%s: out of memory", c->path);
    }
    c->key = NULL; /* the caller's string: valid during open() only */
    if (st != LG_OK) {
        c->ops = NULL; /* open() cleans up after itself on failure */
        goto fail;
    }
    if ((st = lg__map_check(c)) != LG_OK) /* parsed over zeros */
        goto fail;
    lg__index_build(&c->index, tensor_name, c, c->ntensors);
    *out = c;
    return LG_OK;
fail:
    if (lg__map_check(c) != LG_OK) /* a parse over zeros fails for that reason */
        st = LG_E_IO;
    lg_checkpoint_close(c);
    return st;
}

void lg_checkpoint_close(lg_checkpoint *c)
{
    if (!c)
        return;
    if (c->ops)
        c->ops->close(c);
    if (c->map && c->map_is_copy)
        free((void *)c->map);
    else if (c->map_ref) /* tensors over the map may outlive the checkpoint */
        lg__map_ref_release(c->map_ref);
    else if (c->map)
        unmap((void *)c->map, (size_t)c->size, c->map_guard);
    for (size_t i = 0; i < c->nfindings; i++)
        free(c->findings[i]);
    free(c->findings);
    lg__index_free(&c->index);
    free(c->kept_key);
    free(c->path);
    free(c);
}

const char *lg_checkpoint_format(const lg_checkpoint *c) { return c->ops->name; }
size_t lg_checkpoint_count(const lg_checkpoint *c) { return c->ntensors; }

const lg_tensor_info *lg_checkpoint_tensor(const lg_checkpoint *c, size_t i)
{
    return i < c->ntensors ? &c->tensors[i] : NULL;
}

size_t lg_checkpoint_find(const lg_checkpoint *c, const char *name)
{
    return lg__index_find(&c->index, name, tensor_name, c, c->ntensors);
}

size_t lg__checkpoint_find_hint(const lg_checkpoint *c, const char *name, size_t hint)
{
    return lg__index_find_hint(&c->index, name, tensor_name, c, c->ntensors, hint);
}

lg_status lg_checkpoint_read(lg_checkpoint *c, size_t i, void *dst, size_t n)
{
    if (i >= c->ntensors)
        return lg__err(LG_E_INVALID, "%s: no tensor %zu", c->path, i);
    if (n != c->tensors[i].nbytes)
        return lg__err(LG_E_INVALID, "%s: tensor \"%s\" has %llu bytes, not %zu", c->path,
                       c->tensors[i].name, (unsigned long long)c->tensors[i].nbytes, n);
    lg_status st = c->ops->read(c, i, dst);
    lg_status m = lg__map_check(c); /* a read over zeros fails for that reason */
    if (m != LG_OK)
        return m;
    if (st == LG_OK)
        lg__map_drop_tensor(c, i);
    return st;
}

size_t lg_checkpoint_findings(const lg_checkpoint *c) { return c->nfindings; }

const char *lg_checkpoint_finding(const lg_checkpoint *c, size_t i)
{
    return i < c->nfindings ? c->findings[i] : NULL;
}

#define CLAIM_RATIO 1032u
#define CLAIM_SLACK (UINT64_C(32) << 20)

lg_status lg__claimed_add(const char *path, uint64_t size, const char *name, uint64_t nbytes,
                          uint64_t *total)
{
    uint64_t limit = size > (UINT64_MAX - CLAIM_SLACK) / CLAIM_RATIO
                         ? UINT64_MAX
                         : size * CLAIM_RATIO + CLAIM_SLACK;
    *total = nbytes > UINT64_MAX - *total ? UINT64_MAX : *total + nbytes;
    if (*total <= limit)
        return LG_OK;
    return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": the tensors up to it claim %" PRIu64 " bytes, "
                   "more than a file of %" PRIu64 " bytes may claim (the limit: %u times its size "
                   "+ 32 MiB, %" PRIu64 " bytes); views that repeat or expand a storage this much "
                   "are refused", path, name, *total, size, CLAIM_RATIO, limit);
}

lg_status lg__finding(lg_checkpoint *c, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **f = lg__realloc(c->findings, (c->nfindings + 1) * sizeof *f);
    if (!f)
        return lg__err(LG_E_NOMEM, "%s: out of memory", c->path);
    c->findings = f;
    if (!(f[c->nfindings] = lg__strdup(buf)))
        return lg__err(LG_E_NOMEM, "%s: out of memory", c->path);
    c->nfindings++;
    return LG_OK;
}

lg_status lg_checkpoint_try_device(lg_checkpoint *c, size_t i, lg_device d)
{
    if (!c->backend)
        return lg__err(LG_E_INVALID, "%s: trying a device needs a backend", c->path);
    if (i >= c->ntensors)
        return lg__err(LG_E_INVALID, "%s: no tensor %zu", c->path, i);
    const lg_tensor_info *ti = &c->tensors[i];
    lg__dev x = {c->backend, NULL};
    void *t = NULL;
    lg_status st = lg__checkpoint_deserialize(c, i, &x, d, &t);
    if (st != LG_OK && strncmp(lg_error_message(), c->path, strlen(c->path)) != 0)
        return lg__err_prefix(st, "%s: tensor \"%s\"", c->path, ti->name);
    if (st != LG_OK)
        return st;
    size_t n = ti->nbytes ? (size_t)ti->nbytes : 1;
    unsigned char *a = lg__malloc(n), *b = lg__malloc(n);
    if (!a || !b)
        st = lg__err(LG_E_NOMEM, "%s: out of memory", c->path);
    if (st == LG_OK)
        st = c->backend->ops->read(c->backend, t, a, (size_t)ti->nbytes);
    if (st == LG_OK)
        st = c->ops->read(c, i, b);
    if (lg__map_check(c) != LG_OK)
        st = LG_E_IO;
    if (st == LG_OK && memcmp(a, b, (size_t)ti->nbytes) != 0)
        st = lg__err(LG_E_BACKEND, "%s: tensor \"%s\": bytes on the device differ from the file",
                     c->path, ti->name);
    free(a);
    free(b);
    c->backend->ops->free(c->backend, t);
    return st;
}
