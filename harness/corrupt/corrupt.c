/* Corruption of a fixture file (corrupt.h, docs/cases.md): the case id
 * labels, and hx_corrupt_apply*, which hand each kind to its generator:
 * byte edits and splices (bytes.c), safetensors header rewrites
 * (safetensors.c), torch.save zip edits (torch_zip.c). The whole file is
 * read into memory, changed and written out: fixtures are small, and this
 * keeps every generator short. */
#include "corrupt/internal.h"
#include "util/error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

lg_status hx_corrupt_read(const char *path, unsigned char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    *buf = NULL;
    if (!f)
        return hx_err(LG_E_IO, "%s: %s", path, strerror(errno));
    long end = -1;
    struct stat sb;
    /* a folder opens, and seeks to an end far past what malloc gives */
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode))
        errno = EISDIR;
    else if (fseek(f, 0, SEEK_END) == 0 && (end = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        if (!(*buf = malloc((size_t)end + 1))) {
            fclose(f);
            return hx_err(LG_E_NOMEM, "%s: out of memory", path);
        }
        if (fread(*buf, 1, (size_t)end, f) == (size_t)end) {
            fclose(f);
            *len = (size_t)end;
            return LG_OK;
        }
    }
    lg_status st = hx_err(LG_E_IO, "%s: read error: %s", path, strerror(errno));
    free(*buf);
    *buf = NULL;
    fclose(f);
    return st;
}

static lg_status write_all(const char *path, const unsigned char *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return hx_err(LG_E_IO, "%s: %s", path, strerror(errno));
    size_t put = len ? fwrite(buf, 1, len, f) : 0;
    int closed = fclose(f);
    if (put != len || closed != 0)
        return hx_err(LG_E_IO, "%s: write error: %s", path, strerror(errno));
    return LG_OK;
}

lg_status hx_corrupt_apply(const hx_corrupt *c, const char *in, const char *out)
{
    size_t len = 0;
    unsigned char *buf;
    lg_status st = hx_corrupt_read(in, &buf, &len);
    if (st == LG_OK)
        st = hx_corrupt_apply_mem(c, &buf, &len);
    if (st == LG_OK)
        st = write_all(out, buf, len);
    free(buf);
    return st;
}
