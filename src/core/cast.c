/* Element casts between dtypes (cast.h), matching PyTorch 1.13's CPU
 * `copy_` for every value PyTorch defines; tests/lib/test_cast.c checks
 * them against bytes PyTorch wrote (tests/data/casts).
 *
 * Each element is read as a double (float dtypes, exact) or an int64
 * (integers and bool, exact) and written in the target dtype:
 *   - float -> f32: rounds to nearest even (C's conversion, IEEE).
 *   - anything -> f16 / bf16: through float32 first, as c10::Half and
 *     c10::BFloat16 are built from a float; then round to nearest even.
 *     (So f64 -> f16 rounds twice, as PyTorch does.)
 *   - int -> float: rounds to nearest even (C's conversion).
 *   - float -> int: truncates toward zero. NaN, infinities and values out
 *     of the target's range are not specified by PyTorch; here NaN gives
 *     0, a value out of int64's range saturates to INT64_MIN / INT64_MAX,
 *     and the int64 then wraps to a narrower type like an integer would.
 *   - int -> narrower int: wraps (two's complement), as PyTorch does.
 *   - anything -> bool: x != 0 (NaN is true); bool -> numbers: 0 or 1. */
#include "core/cast.h"

#include <math.h>
#include <string.h>

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t lg__f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) /* NaN: the quiet NaN c10::Half gives */
        return sign | 0x7e00u;
    if (ax >= 0x477ff000u) /* >= 65520, halfway past 65504: infinity */
        return sign | 0x7c00u;
    if (ax >= 0x38800000u) { /* a normal half (>= 2^-14) */
        uint32_t m = ax + 0xfffu + ((ax >> 13) & 1u); /* nearest even at bit 13 */
        return sign | (uint16_t)((m - 0x38000000u) >> 13); /* exponent 127 -> 15 */
    }
    if (ax <= 0x33000000u) /* <= 2^-25, half the smallest subnormal: zero */
        return sign;
    /* a subnormal half: units of 2^-24 */
    uint32_t e = ax >> 23, mant = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e; /* 14 ... 24 */
    uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u)))
        q++;
    return sign | (uint16_t)q;
}

float lg__f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f)
        return f32_from_bits(sign | 0x7f800000u | (m << 13));
    if (e == 0) {
        if (!m)
            return f32_from_bits(sign);
        e = 113; /* normalize the subnormal */
        while (!(m & 0x400u)) {
            m <<= 1;
            e--;
        }
        return f32_from_bits(sign | (e << 23) | ((m & 0x3ffu) << 13));
    }
    return f32_from_bits(sign | ((e + 112) << 23) | (m << 13));
}

uint16_t lg__f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if (isnan(f)) /* c10::BFloat16's NaN */
        return 0x7fc0u;
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

float lg__bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

/* ------------------------------------------------------------ elements */

typedef struct {
    int is_float;
    double d;
    int64_t i;
} elem;

static elem get(lg_dtype t, const unsigned char *p)
{
    elem e = {0, 0.0, 0};
    switch (t) {
    case LG_F64: memcpy(&e.d, p, 8); e.is_float = 1; break;
    case LG_F32: { float f; memcpy(&f, p, 4); e.d = f; e.is_float = 1; break; }
    case LG_F16: e.d = lg__f16_to_f32((uint16_t)(p[0] | p[1] << 8)); e.is_float = 1; break;
    case LG_BF16: e.d = lg__bf16_to_f32((uint16_t)(p[0] | p[1] << 8)); e.is_float = 1; break;
    case LG_I64: memcpy(&e.i, p, 8); break;
    case LG_I32: { int32_t v; memcpy(&v, p, 4); e.i = v; break; }
    case LG_I16: { int16_t v; memcpy(&v, p, 2); e.i = v; break; }
    case LG_I8: e.i = (int8_t)p[0]; break;
    case LG_U8: e.i = p[0]; break;
    case LG_BOOL: e.i = p[0] != 0; break;
    default: break;
    }
    return e;
}

/* Truncation toward zero, defined for every double (see the top of this
 * file). */
static int64_t to_int64(double d)
{
    if (isnan(d))
        return 0;
    if (d >= 9223372036854775808.0)
        return INT64_MAX;
    if (d < -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)d; /* in range: C truncates toward zero */
}

static float to_f32(elem e) { return e.is_float ? (float)e.d : (float)e.i; }

static void put(lg_dtype t, unsigned char *p, elem e)
{
    /* integers wrap through uint64 (two's complement, no signed overflow) */
    uint64_t u = (uint64_t)(e.is_float ? to_int64(e.d) : e.i);
    uint16_t h;
    switch (t) {
    case LG_F64: { double d = e.is_float ? e.d : (double)e.i; memcpy(p, &d, 8); return; }
    case LG_F32: { float f = to_f32(e); memcpy(p, &f, 4); return; }
    case LG_F16: h = lg__f32_to_f16(to_f32(e)); p[0] = (unsigned char)h; p[1] = (unsigned char)(h >> 8); return;
    case LG_BF16: h = lg__f32_to_bf16(to_f32(e)); p[0] = (unsigned char)h; p[1] = (unsigned char)(h >> 8); return;
    case LG_BOOL: p[0] = e.is_float ? e.d != 0.0 : e.i != 0; return;
    default: break;
    }
    for (size_t k = 0; k < lg_dtype_size(t); k++) /* little-endian, low bytes */
        p[k] = (unsigned char)(u >> (8 * k));
}

void lg__cast(lg_dtype to, void *dst, lg_dtype from, const void *src, size_t n)
{
    size_t a = lg_dtype_size(from), b = lg_dtype_size(to);
    const unsigned char *s = src;
    unsigned char *d = dst;
    if (from == to) {
        memcpy(dst, src, n * a);
        return;
    }
    for (size_t i = 0; i < n; i++)
        put(to, d + i * b, get(from, s + i * a));
}

lg_status lg_dtype_cast(lg_dtype to, void *dst, lg_dtype from, const void *src, size_t n)
{
    if ((unsigned)to >= LG_DTYPE_COUNT || (unsigned)from >= LG_DTYPE_COUNT || (n && (!dst || !src)))
        return lg__err(LG_E_INVALID, "lg_dtype_cast: bad dtype or buffer");
    lg__cast(to, dst, from, src, n);
    return LG_OK;
}
