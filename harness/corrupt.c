/* Byte-level corruption of a fixture file (corrupt.h, docs/cases.md). The
 * whole file is read into memory, changed and written out: fixtures are
 * small, and this keeps every generator a few lines. */
#include "corrupt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t hx_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int hx_corrupt_offset(int64_t v, int half, uint64_t size, uint64_t *out)
{
    if (half) {
        *out = size / 2;
        return 0;
    }
    if (v < 0) {
        /* -(v + 1) + 1 avoids overflowing on INT64_MIN */
        uint64_t back = (uint64_t)(-(v + 1)) + 1;
        if (back > size)
            return -1;
        *out = size - back;
        return 0;
    }
    if ((uint64_t)v > size)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static void offset_text(int64_t v, int half, char *buf, size_t n)
{
    if (half)
        snprintf(buf, n, "half");
    else
        snprintf(buf, n, "%" PRId64, v);
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
    default:
        snprintf(c->label, sizeof c->label, "none");
        break;
    }
}

static int fail(char *err, size_t errlen, const char *label, const char *what, uint64_t size)
{
    snprintf(err, errlen, "corrupt %s: %s (the file has %" PRIu64 " bytes)", label, what, size);
    return -1;
}

static int apply_flip(const hx_corrupt *c, unsigned char *buf, size_t len, char *err,
                      size_t errlen)
{
    uint64_t off;
    if (c->random) {
        if (len == 0)
            return fail(err, errlen, c->label, "no byte to flip", len);
        uint64_t state = c->seed;
        for (int64_t i = 0; i < c->a; i++) {
            uint64_t r = hx_splitmix64(&state);
            buf[(r >> 3) % len] ^= (unsigned char)(1u << (r & 7));
        }
        return 0;
    }
    if (hx_corrupt_offset(c->a, c->a_half, len, &off) || off >= len)
        return fail(err, errlen, c->label, "offset outside the file", len);
    if (c->bit < 0)
        buf[off] ^= 0xFF;
    else
        buf[off] ^= (unsigned char)(1u << (c->bit & 7));
    return 0;
}

int hx_corrupt_apply_buf(const hx_corrupt *c, unsigned char *buf, size_t *len, char *err,
                         size_t errlen)
{
    uint64_t a, b;
    switch (c->kind) {
    case HX_CORRUPT_NONE:
        return 0;
    case HX_CORRUPT_TRUNCATE:
        if (hx_corrupt_offset(c->a, c->a_half, *len, &a))
            return fail(err, errlen, c->label, "length outside the file", *len);
        *len = (size_t)a;
        return 0;
    case HX_CORRUPT_FLIP:
        return apply_flip(c, buf, *len, err, errlen);
    case HX_CORRUPT_ZERO:
        if (hx_corrupt_offset(c->a, c->a_half, *len, &a) ||
            hx_corrupt_offset(c->b, c->b_half, *len, &b) || a > b)
            return fail(err, errlen, c->label, "range outside the file", *len);
        memset(buf + a, 0, (size_t)(b - a));
        return 0;
    }
    snprintf(err, errlen, "corrupt: unknown kind %d", (int)c->kind);
    return -1;
}

static unsigned char *read_all(const char *path, size_t *len, char *err, size_t errlen)
{
    unsigned char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0)
        goto io;
    long end = ftell(f);
    if (end < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto io;
    buf = malloc((size_t)end + 1);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        fclose(f);
        return NULL;
    }
    if (fread(buf, 1, (size_t)end, f) != (size_t)end)
        goto io;
    fclose(f);
    *len = (size_t)end;
    return buf;
io:
    snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
    free(buf);
    fclose(f);
    return NULL;
}

static int write_all(const char *path, const unsigned char *buf, size_t len, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t put = len ? fwrite(buf, 1, len, f) : 0;
    int closed = fclose(f);
    if (put != len || closed != 0) {
        snprintf(err, errlen, "%s: write error: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int hx_corrupt_apply(const hx_corrupt *c, const char *in, const char *out, char *err,
                     size_t errlen)
{
    size_t len = 0;
    unsigned char *buf = read_all(in, &len, err, errlen);
    if (!buf)
        return -1;
    int rc = hx_corrupt_apply_buf(c, buf, &len, err, errlen);
    if (rc == 0)
        rc = write_all(out, buf, len, err, errlen);
    free(buf);
    return rc;
}
