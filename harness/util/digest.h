/* The digest the checks keep of a variable's or a tensor's bytes
 * (XXH3-64), taken piece by piece so that pieces can be digested where
 * and when they are at hand: by the load's observer as each piece of
 * LG_READ_PIECE bytes is copied (on several threads, in no set order), or
 * by several threads over a variable in memory.
 *
 * The digest of n bytes: XXH3-64 of them when n <= HX_DIGEST_PIECE; else
 * XXH3-64, seeded with n, of the XXH3-64s of each piece of
 * HX_DIGEST_PIECE bytes from offset 0 (the last one shorter), in order. */
#ifndef HX_UTIL_DIGEST_H
#define HX_UTIL_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "loadgate/loadgate.h"

#define HX_DIGEST_PIECE ((uint64_t)LG_READ_PIECE)

/* The digest of n bytes at p; on several threads from 8 MiB. */
uint64_t hx_digest(const void *p, uint64_t n);
/* The pieces of n bytes (at least 1). */
uint64_t hx_digest_pieces(uint64_t n);
/* The digest of one piece: its len bytes. */
uint64_t hx_digest_piece(const void *p, size_t len);
/* The digest of n > HX_DIGEST_PIECE bytes from the digests of their
 * hx_digest_pieces(n) pieces. */
uint64_t hx_digest_join(const uint64_t *pieces, uint64_t n);
#endif
