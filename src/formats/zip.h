/* The zip container of torch.save files, read from the checkpoint's map.
 * Every offset and size is checked against the real file size before it
 * is used; docs/torch-zip.md says why this is not a library. */
#ifndef LG_ZIP_H
#define LG_ZIP_H

#include "core/internal.h"
#include "core/name_index.h"

#include <stdint.h>

typedef struct {
    const char *name;  /* into the map (central directory); not NUL-terminated */
    size_t nlen;
    uint16_t flags;    /* general purpose bit flags */
    uint16_t method;   /* 0 stored, 8 deflated; others refused when used */
    uint32_t crc;      /* CRC-32 of the uncompressed bytes */
    uint64_t csize;    /* bytes in the file */
    uint64_t usize;    /* bytes once uncompressed */
    uint64_t local;    /* offset of the local header */
    uint64_t data;     /* offset of the data (after the local header) */
    uint64_t end;      /* one past the data and its data descriptor */
} lg__zip_entry;

/* A slot of the name table: the name's hash, and the record's index in
 * e + 1 (0: empty). */
typedef lg__name_slot lg__zip_slot;

typedef struct {
    const char *path;          /* for messages */
    const unsigned char *map;
    uint64_t size;
    lg__zip_entry *e;          /* central directory order */
    size_t n;
    lg__zip_slot *slot;        /* the names, by hash: nslot (a power of two) >= 2 n */
    size_t nslot;
    uint64_t cd_offset;        /* where the central directory begins */
    int zip64;                 /* a zip64 end of central directory was read */
} lg__zip;

/* Parses the end of central directory (zip64 included), the central
 * directory and every local header. On error z is left empty. */
lg_status lg__zip_open(lg__zip *z, const char *path, const unsigned char *map, uint64_t size);
void lg__zip_close(lg__zip *z);
/* For sniffing: calls fn on each name of the central directory, in its
 * order, without allocating and leaving the error message as it was;
 * stops at the first nonzero return of fn and returns it. 0 when fn
 * returned 0 throughout; -1 when the central directory cannot be read. */
int lg__zip_each_name(const unsigned char *map, uint64_t size,
                      int (*fn)(const char *name, size_t nlen, void *arg), void *arg);
/* How many end of central directory signatures lie where a reader looks
 * for the end record (the last 65,557 bytes). Readers differ in which one
 * they pick when there are several (miniz, and so libtorch, takes the
 * last; lg__zip_open the one whose comment reaches the end of the file). */
size_t lg__zip_end_records(const unsigned char *map, uint64_t size);
/* The entry named name (nlen bytes), the case of A-Z aside, as PyTorch's
 * reader finds it; or NULL. No two entries differ only in case. */
const lg__zip_entry *lg__zip_find(const lg__zip *z, const char *name, size_t nlen);
/* The same, looking first at entry hint of the central directory (for a
 * caller that reads records in the order they were written). */
const lg__zip_entry *lg__zip_find_hint(const lg__zip *z, const char *name, size_t nlen,
                                      size_t hint);
/* LG_OK when the entry can be read (stored or deflated, not encrypted);
 * else LG_E_FORMAT naming it. */
lg_status lg__zip_readable(const lg__zip *z, const lg__zip_entry *e);
/* Compares the CRC-32 of the entry's bytes with the central directory's:
 * `bytes` are its inflated bytes, or NULL for a stored entry (read in
 * place). Returns 1 when equal; *computed receives the CRC. */
int lg__zip_crc_ok(const lg__zip *z, const lg__zip_entry *e, const unsigned char *bytes,
                   uint32_t *computed);
/* The CRC-32 of n stored entries into out[i], over chunks of 16 MiB on up
 * to `threads` threads (the caller's included; 1 = no thread is started).
 * Only libdeflate's CRC-32 runs in the threads; nothing is reported from
 * them. */
lg_status lg__zip_crc_stored(const lg__zip *z, const lg__zip_entry *const *e, size_t n,
                             int threads, uint32_t *out);
/* A deflated entry inflated into a new buffer of e->usize bytes (the
 * caller frees it). Stored entries need no copy: their bytes lie at
 * map + data. */
lg_status lg__zip_inflate(const lg__zip *z, const lg__zip_entry *e, unsigned char **out);
#endif
