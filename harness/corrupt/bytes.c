/* The generic byte edits of corrupt.h: truncate, flip, zero, and splice
 * (bytes of another file over or into this one). Offsets are resolved
 * against the file's real size and refused, not clamped, outside it. */
#include "corrupt/internal.h"
#include "util/error.h"

#include <inttypes.h>
#include <stdint.h>
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

static lg_status outside(const hx_corrupt *c, const char *what, uint64_t size)
{
    return hx_err(LG_E_INVALID, "corrupt %s: %s (the file has %" PRIu64 " bytes)", c->label,
                  what, size);
}

static lg_status flip(const hx_corrupt *c, unsigned char *buf, size_t len)
{
    uint64_t off;
    if (c->random) {
        if (len == 0)
            return outside(c, "no byte to flip", len);
        uint64_t state = c->seed;
        for (int64_t i = 0; i < c->a; i++) {
            uint64_t r = hx_splitmix64(&state);
            buf[(r >> 3) % len] ^= (unsigned char)(1u << (r & 7));
        }
        return LG_OK;
    }
    if (hx_corrupt_offset(c->a, c->a_half, len, &off) || off >= len)
        return outside(c, "offset outside the file", len);
    if (c->bit < 0)
        buf[off] ^= 0xFF;
    else
        buf[off] ^= (unsigned char)(1u << (c->bit & 7));
    return LG_OK;
}

lg_status hx_bytes_edit(const hx_corrupt *c, unsigned char *buf, size_t *len)
{
    uint64_t a, b;
    switch (c->kind) {
    case HX_CORRUPT_TRUNCATE:
        if (hx_corrupt_offset(c->a, c->a_half, *len, &a))
            return outside(c, "length outside the file", *len);
        *len = (size_t)a;
        return LG_OK;
    case HX_CORRUPT_FLIP:
        return flip(c, buf, *len);
    case HX_CORRUPT_ZERO:
        if (hx_corrupt_offset(c->a, c->a_half, *len, &a) ||
            hx_corrupt_offset(c->b, c->b_half, *len, &b) || a > b)
            return outside(c, "range outside the file", *len);
        memset(buf + a, 0, (size_t)(b - a));
        return LG_OK;
    default:
        return hx_err(LG_E_INVALID, "corrupt %s: not a byte edit", c->label);
    }
}

/* buf with bytes src[a, b) written over it (or inserted) at `at`. */
static lg_status splice_into(const hx_corrupt *c, unsigned char **buf, size_t *len,
                             const unsigned char *src, uint64_t a, uint64_t b, uint64_t at)
{
    size_t n = (size_t)(b - a);
    if (n > SIZE_MAX - 1 - *len)
        return hx_err(LG_E_NOMEM, "corrupt %s: out of memory", c->label);
    size_t newlen = c->insert ? *len + n : (n > *len - (size_t)at ? (size_t)at + n : *len);
    unsigned char *out = malloc(newlen ? newlen : 1);
    if (!out)
        return hx_err(LG_E_NOMEM, "corrupt %s: out of memory", c->label);
    memcpy(out, *buf, *len);
    if (c->insert)
        memmove(out + at + n, out + at, *len - (size_t)at);
    memcpy(out + at, src + a, n);
    free(*buf);
    *buf = out;
    *len = newlen;
    return LG_OK;
}

lg_status hx_bytes_splice(const hx_corrupt *c, unsigned char **buf, size_t *len)
{
    uint64_t a, b, at;
    size_t slen = 0;
    unsigned char *src = NULL;
    if (!c->from)
        return hx_err(LG_E_INVALID, "corrupt %s: no source file", c->label);
    lg_status st = hx_corrupt_read(c->from, &src, &slen);
    if (st != LG_OK)
        return hx_err(st, "corrupt %s: %s", c->label, hx_errmsg());
    if (hx_corrupt_offset(c->a, c->a_half, slen, &a) ||
        hx_corrupt_offset(c->b, c->b_half, slen, &b) || a > b)
        st = outside(c, "range outside the source file", slen);
    else if (hx_corrupt_offset(c->at, c->at_half, *len, &at))
        st = outside(c, "offset `at` outside the file", *len);
    else
        st = splice_into(c, buf, len, src, a, b, at);
    free(src);
    return st;
}
