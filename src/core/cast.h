/* Casting tensor elements between dtypes on the host, as PyTorch's
 * `copy_` / `.to()` does (docs/policies.md, "convert"). */
#ifndef LG_CAST_H
#define LG_CAST_H

#include "core/internal.h"

/* dst[i] = src[i] cast from `from` to `to`, for n elements, both buffers
 * row-major little-endian. dst and src must not overlap. Every input has a
 * defined result (see cast.c for those PyTorch leaves unspecified). */
void lg__cast(lg_dtype to, void *dst, lg_dtype from, const void *src, size_t n);

/* The IEEE half and bfloat16 conversions PyTorch uses (c10::Half,
 * c10::BFloat16): from float32 round to nearest even, to float32 exact. */
uint16_t lg__f32_to_f16(float f);
float lg__f16_to_f32(uint16_t h);
uint16_t lg__f32_to_bf16(float f);
float lg__bf16_to_f32(uint16_t h);
#endif
