/* Deterministic generated checkpoints: `generate:` fixtures of the case
 * language and `harness fixtures DIR`. */
#ifndef HX_GEN_H
#define HX_GEN_H

#include "case.h"

/* Writes the checkpoint g describes to path. Same spec, same bytes, on
 * every machine. Returns LG_OK or an lg_status with lg_error_message(). */
lg_status hx_gen_write(const hx_gen *g, const char *path);
/* A stable file name for g ("safetensors-4x16x16-f32-s1.safetensors"). */
void hx_gen_filename(const hx_gen *g, char *buf, size_t n);
/* Defaults: safetensors, 4 tensors, [16, 16], f32, seed 0. */
void hx_gen_init(hx_gen *g);
#endif
