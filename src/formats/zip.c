/* The zip container, read straight from the checkpoint's map.
 *
 * Order: the end of central directory record (and the zip64 one when its
 * locator is present), the central directory, then every local header and
 * data descriptor. Each number is checked against the file before it is
 * used, and local headers must agree with the central directory. Records
 * may not overlap one another or the central directory. docs/torch-zip.md
 * lists the rules and why no zip library is used. */
#include "formats/zip.h"
#include "core/name_index.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <libdeflate.h>
#include <string.h>
#include <zlib.h>

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_Z64_EOCD 0x06064b50u
#define SIG_Z64_LOCATOR 0x07064b50u
#define SIG_DESCRIPTOR 0x08074b50u

#define EOCD_SIZE 22u
#define EOCD_MAX_COMMENT 65535u
#define Z64_LOCATOR_SIZE 20u
#define Z64_EOCD_SIZE 56u
#define CENTRAL_SIZE 46u
#define LOCAL_SIZE 30u
#define EXTRA_ZIP64 0x0001u

#define MAX16 0xffffu
#define MAX32 0xffffffffu

/* Deflate cannot expand by more than this factor (zlib's bound is 1032:1). */
#define DEFLATE_MAX_RATIO 1032u

static uint32_t rd16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }

static uint32_t rd32(const unsigned char *p)
{
    return rd16(p) | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* ------------------------------------------------- end of central directory */

typedef struct {
    uint64_t count;   /* entries */
    uint64_t cd_size;
    uint64_t cd_offset;
    uint64_t limit;   /* the central directory must end here */
} zip_end;

/* The end record: the last signature whose comment length reaches exactly
 * the end of the file. miniz, and so PyTorch's reader, takes the last
 * signature with room for a record after it, whatever its comment length:
 * when that is another one (a signature inside the comment), the two
 * readers would see different archives, and the file is refused rather
 * than read one way of two. */
static lg_status find_eocd(const lg__zip *z, uint64_t *at)
{
    if (z->size < EOCD_SIZE)
        return lg__err(LG_E_FORMAT, "%s: zip: file is %" PRIu64 " bytes, too small for the "
                       "22-byte end of central directory record", z->path, z->size);
    uint64_t last = z->size - EOCD_SIZE, lastsig = UINT64_MAX;
    uint64_t lowest = last > EOCD_MAX_COMMENT ? last - EOCD_MAX_COMMENT : 0;
    for (uint64_t pos = z->size - EOCD_SIZE + 1; pos-- > lowest;) {
        const unsigned char *p = z->map + pos;
        if (rd32(p) != SIG_EOCD)
            continue;
        if (lastsig == UINT64_MAX)
            lastsig = pos;
        if (rd16(p + 20) != z->size - pos - EOCD_SIZE)
            continue;
        if (pos != lastsig)
            return lg__err(LG_E_FORMAT, "%s: zip: two end of central directory records, at "
                           "%" PRIu64 " and in its comment at %" PRIu64 ": zip readers disagree "
                           "on which ends the archive (PyTorch's takes the second), so it is "
                           "refused", z->path, pos, lastsig);
        *at = pos;
        return LG_OK;
    }
    return lg__err(LG_E_FORMAT, "%s: zip: no end of central directory record in the last %"
                   PRIu64 " bytes (not a zip archive, or truncated)", z->path,
                   z->size - lowest);
}

/* A 16- or 32-bit field of the end record either says "see zip64" (all
 * ones) or equals the zip64 value. */
static lg_status agree(const lg__zip *z, const char *what, uint64_t small, uint64_t max,
                       uint64_t big)
{
    if (small == max || small == big)
        return LG_OK;
    return lg__err(LG_E_FORMAT, "%s: zip: end of central directory says %s %" PRIu64 ", the "
                   "zip64 record says %" PRIu64, z->path, what, small, big);
}

static lg_status read_zip64(lg__zip *z, uint64_t locator, const unsigned char *eocd,
                            zip_end *end)
{
    const unsigned char *l = z->map + locator;
    uint64_t off = rd64(l + 8);
    uint32_t disks = rd32(l + 16);
    if (rd32(l + 4) != 0 || disks > 1)
        return lg__err(LG_E_FORMAT, "%s: zip: zip64 locator at %" PRIu64 " names disk %" PRIu32
                       " of %" PRIu32 "; multi-disk archives are not supported", z->path,
                       locator, rd32(l + 4), disks);
    if (off > locator || locator - off < Z64_EOCD_SIZE)
        return lg__err(LG_E_FORMAT, "%s: zip: zip64 end of central directory offset %" PRIu64
                       " does not leave its 56 bytes before the locator at %" PRIu64, z->path,
                       off, locator);
    const unsigned char *r = z->map + off;
    uint64_t rec = rd64(r + 4);
    if (rd32(r) != SIG_Z64_EOCD)
        return lg__err(LG_E_FORMAT, "%s: zip: no zip64 end of central directory record at %"
                       PRIu64 " (signature 0x%08" PRIx32 ")", z->path, off, rd32(r));
    if (rec < Z64_EOCD_SIZE - 12 || rec > locator - off - 12)
        return lg__err(LG_E_FORMAT, "%s: zip: zip64 end of central directory record at %" PRIu64
                       " says it is %" PRIu64 " bytes long, which does not fit before the "
                       "locator", z->path, off, rec);
    if (rd32(r + 16) != 0 || rd32(r + 20) != 0 || rd64(r + 24) != rd64(r + 32))
        return lg__err(LG_E_FORMAT, "%s: zip: zip64 end of central directory names more than "
                       "one disk; multi-disk archives are not supported", z->path);
    end->count = rd64(r + 32);
    end->cd_size = rd64(r + 40);
    end->cd_offset = rd64(r + 48);
    end->limit = off;
    z->zip64 = 1;
    lg_status st = agree(z, "entry count", rd16(eocd + 10), MAX16, end->count);
    if (st == LG_OK)
        st = agree(z, "central directory size", rd32(eocd + 12), MAX32, end->cd_size);
    if (st == LG_OK)
        st = agree(z, "central directory offset", rd32(eocd + 16), MAX32, end->cd_offset);
    return st;
}

static lg_status read_end(lg__zip *z, zip_end *end)
{
    uint64_t at = 0;
    lg_status st = find_eocd(z, &at);
    if (st != LG_OK)
        return st;
    const unsigned char *p = z->map + at;
    if (rd16(p + 4) != 0 || rd16(p + 6) != 0 || rd16(p + 8) != rd16(p + 10))
        return lg__err(LG_E_FORMAT, "%s: zip: end of central directory names disk %" PRIu32
                       "; multi-disk archives are not supported", z->path, rd16(p + 4));
    if (at >= Z64_LOCATOR_SIZE && rd32(z->map + at - Z64_LOCATOR_SIZE) == SIG_Z64_LOCATOR)
        st = read_zip64(z, at - Z64_LOCATOR_SIZE, p, end);
    else if (rd32(p + 12) == MAX32 || rd32(p + 16) == MAX32)
        return lg__err(LG_E_FORMAT, "%s: zip: end of central directory defers to a zip64 "
                       "record, but there is no zip64 locator before it", z->path);
    else
        *end = (zip_end){rd16(p + 10), rd32(p + 12), rd32(p + 16), at};
    if (st != LG_OK)
        return st;
    if (end->cd_offset > end->limit || end->cd_size != end->limit - end->cd_offset)
        return lg__err(LG_E_FORMAT, "%s: zip: central directory [%" PRIu64 ", +%" PRIu64 "] "
                       "does not end where the end records begin (%" PRIu64 ")", z->path,
                       end->cd_offset, end->cd_size, end->limit);
    if (end->count > end->cd_size / CENTRAL_SIZE)
        return lg__err(LG_E_FORMAT, "%s: zip: %" PRIu64 " entries cannot fit in a central "
                       "directory of %" PRIu64 " bytes", z->path, end->count, end->cd_size);
    return LG_OK;
}

/* ----------------------------------------------------- central directory */

/* The zip64 extended information of an extra field: the 64-bit values of
 * the fields whose 32-bit value is all ones, in the order usize, csize,
 * local header offset. `local`: a local header's extra, which holds both
 * sizes whenever it is present. */
typedef struct {
    int need_usize, need_csize, need_offset;
    uint64_t usize, csize, offset;
} zip64_extra;

static lg_status parse_extra(const lg__zip *z, const lg__zip_entry *e, const unsigned char *x,
                             size_t n, zip64_extra *out)
{
    size_t k = 0;
    while (k < n) {
        if (n - k < 4)
            return lg__err(LG_E_FORMAT, "%s: zip record \"%.*s\": extra field has %zu stray "
                           "bytes at its end", z->path, (int)e->nlen, e->name, n - k);
        uint32_t id = rd16(x + k), len = rd16(x + k + 2);
        if (len > n - k - 4)
            return lg__err(LG_E_FORMAT, "%s: zip record \"%.*s\": extra block 0x%04" PRIx32
                           " of %" PRIu32 " bytes runs past the extra field", z->path,
                           (int)e->nlen, e->name, id, len);
        if (id == EXTRA_ZIP64) {
            const unsigned char *v = x + k + 4;
            size_t want = 8u * (size_t)(out->need_usize + out->need_csize + out->need_offset);
            if (len < want)
                return lg__err(LG_E_FORMAT, "%s: zip record \"%.*s\": zip64 extra block holds %"
                               PRIu32 " bytes, %zu needed", z->path, (int)e->nlen, e->name, len,
                               want);
            if (out->need_usize)
                out->usize = rd64(v), v += 8;
            if (out->need_csize)
                out->csize = rd64(v), v += 8;
            if (out->need_offset)
                out->offset = rd64(v);
            out->need_usize = out->need_csize = out->need_offset = 0;
        }
        k += 4 + len;
    }
    if (out->need_usize || out->need_csize || out->need_offset)
        return lg__err(LG_E_FORMAT, "%s: zip record \"%.*s\": sizes or offset defer to a zip64 "
                       "extra block that is missing", z->path, (int)e->nlen, e->name);
    return LG_OK;
}

/* One central directory entry at z->map + at (bounded by cd_end); *next
 * receives the offset of the entry after it. */
static lg_status parse_central(const lg__zip *z, uint64_t at, uint64_t cd_end, size_t i,
                               lg__zip_entry *e, uint64_t *next)
{
    const unsigned char *p = z->map + at;
    if (cd_end - at < CENTRAL_SIZE || rd32(p) != SIG_CENTRAL)
        return lg__err(LG_E_FORMAT, "%s: zip: central directory entry %zu at %" PRIu64 " is "
                       "%s", z->path, i, at, cd_end - at < CENTRAL_SIZE ? "cut short"
                       : "missing its signature");
    size_t nlen = rd16(p + 28), xlen = rd16(p + 30), clen = rd16(p + 32);
    if (cd_end - at - CENTRAL_SIZE < (uint64_t)nlen + xlen + clen)
        return lg__err(LG_E_FORMAT, "%s: zip: central directory entry %zu at %" PRIu64 " runs "
                       "past the central directory", z->path, i, at);
    *e = (lg__zip_entry){(const char *)p + CENTRAL_SIZE, nlen, (uint16_t)rd16(p + 8),
                         (uint16_t)rd16(p + 10), rd32(p + 16), rd32(p + 20), rd32(p + 24),
                         rd32(p + 42), 0, 0};
    if (nlen == 0 || memchr(e->name, '\0', nlen))
        return lg__err(LG_E_FORMAT, "%s: zip: central directory entry %zu has %s name", z->path,
                       i, nlen ? "a NUL byte in its" : "an empty");
    zip64_extra x = {e->usize == MAX32, e->csize == MAX32, e->local == MAX32, 0, 0, 0};
    uint32_t disk = rd16(p + 34);
    lg_status st = parse_extra(z, e, p + CENTRAL_SIZE + nlen, xlen, &x);
    if (st != LG_OK)
        return st;
    if (e->usize == MAX32)
        e->usize = x.usize;
    if (e->csize == MAX32)
        e->csize = x.csize;
    if (e->local == MAX32)
        e->local = x.offset;
    if (disk != 0 && disk != MAX16)
        return lg__err(LG_E_FORMAT, "%s: zip record \"%.*s\" starts on disk %" PRIu32 "; "
                       "multi-disk archives are not supported", z->path, (int)nlen, e->name, disk);
    *next = at + CENTRAL_SIZE + nlen + xlen + clen;
    return LG_OK;
}

/* ---------------------------------------------------------- local headers */

/* Sizes from a local header without a data descriptor must equal the
 * central directory's. */
static lg_status check_local_sizes(const lg__zip *z, lg__zip_entry *e, const unsigned char *p,
                                   const unsigned char *extra, size_t xlen)
{
    uint64_t csize = rd32(p + 18), usize = rd32(p + 22);
    if (csize == MAX32 || usize == MAX32) {
        zip64_extra x = {1, 1, 0, 0, 0, 0};
        lg_status st = parse_extra(z, e, extra, xlen, &x);
        if (st != LG_OK)
            return st;
        csize = x.csize;
        usize = x.usize;
    }
    if (rd32(p + 14) != e->crc || csize != e->csize || usize != e->usize)
        return lg__err(LG_E_FORMAT, "%s: zip record \"%.*s\": local header (CRC 0x%08" PRIx32
                       ", %" PRIu64 " -> %" PRIu64 " bytes) disagrees with the central directory "
                       "(CRC 0x%08" PRIx32 ", %" PRIu64 " -> %" PRIu64 " bytes)", z->path,
                       (int)e->nlen, e->name, rd32(p + 14), csize, usize, e->crc, e->csize,
                       e->usize);
    return LG_OK;
}

/* The data descriptor after the data (flag bit 3): an optional signature,
 * the CRC, then both sizes in 32 or 64 bits. They must equal the central
 * directory's. */
static lg_status check_descriptor(const lg__zip *z, lg__zip_entry *e)
{
    uint64_t at = e->data + e->csize, room = z->cd_offset - at;
    const unsigned char *p = z->map + at;
    size_t sig = room >= 4 && rd32(p) == SIG_DESCRIPTOR ? 4 : 0;
    if (room >= sig + 12 && rd32(p + sig) == e->crc && rd32(p + sig + 4) == e->csize &&
        rd32(p + sig + 8) == e->usize && e->csize < MAX32 && e->usize < MAX32) {
        e->end = at + sig + 12;
        return LG_OK;
    }
    if (room >= sig + 20 && rd32(p + sig) == e->crc && rd64(p + sig + 4) == e->csize &&
        rd64(p + sig + 12) == e->usize) {
        e->end = at + sig + 20;
        return LG_OK;
    }
    return lg__err(LG_E_FORMAT, "%s: zip record \"%.*s\": the data descriptor at %" PRIu64 " is "
                   "%s the central directory (CRC 0x%08" PRIx32 ", %" PRIu64 " -> %" PRIu64
                   " bytes)", z->path, (int)e->nlen, e->name, at,
                   room < sig + 12 ? "missing: no room for it before" : "not that of",
                   e->crc, e->csize, e->usize);
}

static lg_status check_local(const lg__zip *z, lg__zip_entry *e)
{
    if (e->local >= z->cd_offset || z->cd_offset - e->local < LOCAL_SIZE)
        return lg__err(LG_E_FORMAT, "%s: zip record \"%.*s\": local header offset %" PRIu64
                       " does not leave its 30 bytes before the central directory (%" PRIu64 ")",
                       z->path, (int)e->nlen, e->name, e->local, z->cd_offset);
    const unsigned char *p = z->map + e->local;
    size_t nlen = rd16(p + 26), xlen = rd16(p + 28);
    uint32_t flags = rd16(p + 6);
    if (rd32(p) != SIG_LOCAL)
        return lg__err(LG_E_FORMAT, "%s: zip record \"%.*s\": no local header at %" PRIu64
                       " (signature 0x%08" PRIx32 ")", z->path, (int)e->nlen, e->name, e->local,
                       rd32(p));
    if (z->cd_offset - e->local - LOCAL_SIZE < (uint64_t)nlen + xlen)
        return lg__err(LG_E_FORMAT, "%s: zip record \"%.*s\": local header at %" PRIu64 " runs "
                       "into the central directory", z->path, (int)e->nlen, e->name, e->local);
    if (nlen != e->nlen || memcmp(p + LOCAL_SIZE, e->name, nlen))
        return lg__err(LG_E_FORMAT, "%s: zip record \"%.*s\": local header at %" PRIu64 " names "
                       "\"%.*s\"", z->path, (int)e->nlen, e->name, e->local, (int)nlen,
                       (const char *)p + LOCAL_SIZE);
    if (rd16(p + 8) != e->method || (flags & 8) != (e->flags & 8u))
        return lg__err(LG_E_FORMAT, "%s: zip record \"%.*s\": local header (method %" PRIu32
                       ", flags 0x%04" PRIx32 ") disagrees with the central directory (method %u, "
                       "flags 0x%04x)", z->path, (int)e->nlen, e->name, rd16(p + 8), flags,
                       e->method, e->flags);
    e->data = e->local + LOCAL_SIZE + nlen + xlen;
    if (e->csize > z->cd_offset - e->data)
        return lg__err(LG_E_FORMAT, "%s: zip record \"%.*s\": %" PRIu64 " bytes of data at %"
                       PRIu64 " run into the central directory (%" PRIu64 ")", z->path,
                       (int)e->nlen, e->name, e->csize, e->data, z->cd_offset);
    if (flags & 8)
        return check_descriptor(z, e);
    e->end = e->data + e->csize;
    return check_local_sizes(z, e, p, p + LOCAL_SIZE + nlen, xlen);
}

/* --------------------------------------------------------------- indexes */

static int by_offset(const void *a, const void *b)
{
    const lg__zip_entry *x = *(lg__zip_entry *const *)a, *y = *(lg__zip_entry *const *)b;
    return x->local < y->local ? -1 : x->local > y->local;
}

/* Whether record e is named name, ignoring the case of A-Z: PyTorch's
 * reader finds a record so (miniz's mz_zip_reader_locate_file without
 * MZ_ZIP_FLAG_CASE_SENSITIVE), and so does this one. */
static int same_name(const lg__zip_entry *e, const char *name, size_t nlen)
{
    if (e->nlen != nlen)
        return 0;
    for (size_t i = 0; i < nlen; i++)
        if (e->name[i] != name[i] && lg__ascii_lower(e->name[i]) != lg__ascii_lower(name[i]))
            return 0;
    return 1;
}

/* The slot of the record named name (hash h, of its lowered name), or
 * the empty slot where it would go: open addressing, linear probing, at
 * most half full. */
static lg__zip_slot *slot_of(const lg__zip *z, uint64_t h, const char *name, size_t nlen)
{
    size_t mask = z->nslot - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        lg__zip_slot *s = &z->slot[i];
        if (!s->k || (s->hash == h && same_name(&z->e[s->k - 1], name, nlen)))
            return s;
    }
}

#define ZIP_AHEAD 8

/* The hash of e's lowered name, with its first slot fetched ahead. */
static uint64_t fetch_slot(const lg__zip *z, const lg__zip_entry *e)
{
    uint64_t h = lg__name_hash_fold(e->name, e->nlen);
    __builtin_prefetch(&z->slot[(size_t)h & (z->nslot - 1)], 1);
    return h;
}

/* The records in the order of their offsets: *sorted is NULL where the
 * central directory lists them so already (as torch.save and most
 * writers do), else a sorted copy, to be freed. -1: out of memory. */
static int offset_order(lg__zip *z, lg__zip_entry ***sorted)
{
    size_t i = 1;
    while (i < z->n && z->e[i - 1].local <= z->e[i].local)
        i++;
    *sorted = NULL;
    if (i >= z->n)
        return 0;
    if (!(*sorted = lg__calloc(z->n, sizeof **sorted)))
        return -1;
    for (i = 0; i < z->n; i++)
        (*sorted)[i] = &z->e[i];
    qsort(*sorted, z->n, sizeof **sorted, by_offset);
    return 0;
}

/* No two records share bytes; no two share a name, even ignoring case:
 * PyTorch's reader could take either of two names that differ only in
 * case, where this one would take the one asked for, and the two would
 * read different data. The names are indexed by hash on the way
 * (lg__zip_find). */
static lg_status check_layout(lg__zip *z)
{
    lg__zip_entry **sorted;
    if (offset_order(z, &sorted))
        return lg__err(LG_E_NOMEM, "%s: out of memory reading %zu zip entries", z->path, z->n);
    for (size_t i = 1; i < z->n; i++) {
        const lg__zip_entry *a = sorted ? sorted[i - 1] : &z->e[i - 1];
        const lg__zip_entry *b = sorted ? sorted[i] : &z->e[i];
        if (a->end > b->local) {
            free(sorted);
            return lg__err(LG_E_FORMAT, "%s: zip records \"%.*s\" [%" PRIu64 ", %" PRIu64 ") and "
                           "\"%.*s\" (at %" PRIu64 ") overlap", z->path, (int)a->nlen, a->name,
                           a->local, a->end, (int)b->nlen, b->name, b->local);
        }
    }
    free(sorted);
    /* each name hashed ZIP_AHEAD records before its turn and its slot
     * fetched, so that the table's cache misses overlap (as
     * lg__index_insert_all does) */
    uint64_t ahead[ZIP_AHEAD];
    for (size_t i = 0; i < z->n && i < ZIP_AHEAD; i++)
        ahead[i] = fetch_slot(z, &z->e[i]);
    for (size_t i = 0; i < z->n; i++) {
        const lg__zip_entry *e = &z->e[i];
        uint64_t h = ahead[i % ZIP_AHEAD];
        if (i + ZIP_AHEAD < z->n)
            ahead[i % ZIP_AHEAD] = fetch_slot(z, &z->e[i + ZIP_AHEAD]);
        lg__zip_slot *s = slot_of(z, h, e->name, e->nlen);
        if (s->k && !memcmp(z->e[s->k - 1].name, e->name, e->nlen))
            return lg__err(LG_E_FORMAT, "%s: zip record \"%.*s\" appears twice in the central "
                           "directory", z->path, (int)e->nlen, e->name);
        if (s->k)
            return lg__err(LG_E_FORMAT, "%s: zip records \"%.*s\" and \"%.*s\" differ only in "
                           "case (PyTorch's reader finds records ignoring case, and could read "
                           "either)", z->path, (int)z->e[s->k - 1].nlen, z->e[s->k - 1].name,
                           (int)e->nlen, e->name);
        *s = (lg__zip_slot){h, i + 1};
    }
    return LG_OK;
}

/* ------------------------------------------------------------------ api */

static lg_status parse_all(lg__zip *z, const zip_end *end)
{
    uint64_t at = end->cd_offset, cd_end = end->cd_offset + end->cd_size;
    for (size_t i = 0; i < z->n; i++) {
        lg_status st = parse_central(z, at, cd_end, i, &z->e[i], &at);
        if (st != LG_OK)
            return st;
    }
    if (at != cd_end)
        return lg__err(LG_E_FORMAT, "%s: zip: %" PRIu64 " bytes of the central directory follow "
                       "its last entry (%zu entries)", z->path, cd_end - at, z->n);
    for (size_t i = 0; i < z->n; i++) {
        lg_status st = check_local(z, &z->e[i]);
        if (st != LG_OK)
            return st;
    }
    return check_layout(z);
}

lg_status lg__zip_open(lg__zip *z, const char *path, const unsigned char *map, uint64_t size)
{
    zip_end end = {0, 0, 0, 0};
    memset(z, 0, sizeof *z);
    z->path = path;
    z->map = map;
    z->size = size;
    lg_status st = read_end(z, &end);
    if (st != LG_OK)
        return st;
    z->cd_offset = end.cd_offset;
    z->n = (size_t)end.count;
    z->e = lg__calloc(z->n ? z->n : 1, sizeof *z->e);
    if (z->e) { /* e's size bounds n: 2 n cannot overflow */
        for (z->nslot = 64; z->nslot < 2 * z->n;)
            z->nslot *= 2;
        z->slot = lg__calloc(z->nslot, sizeof *z->slot);
    }
    st = z->e && z->slot ? parse_all(z, &end)
                            : lg__err(LG_E_NOMEM, "%s: out of memory reading %zu zip entries",
                                      path, z->n);
    if (st != LG_OK)
        lg__zip_close(z);
    return st;
}

int lg__zip_each_name(const unsigned char *map, uint64_t size,
                      int (*fn)(const char *name, size_t nlen, void *arg), void *arg)
{
    char saved[2048];
    snprintf(saved, sizeof saved, "%s", lg_error_message());
    lg__zip z = {.path = "", .map = map, .size = size};
    zip_end end = {0, 0, 0, 0};
    int r = read_end(&z, &end) == LG_OK ? 0 : -1;
    uint64_t at = end.cd_offset, cd_end = end.cd_offset + end.cd_size;
    for (uint64_t i = 0; r == 0 && i < end.count; i++) {
        lg__zip_entry e;
        if (parse_central(&z, at, cd_end, (size_t)i, &e, &at) != LG_OK)
            r = -1;
        else
            r = fn(e.name, e.nlen, arg);
    }
    lg__err(LG_OK, "%s", saved); /* sniffing leaves the message as it was */
    return r;
}

size_t lg__zip_end_records(const unsigned char *map, uint64_t size)
{
    size_t k = 0;
    if (size < EOCD_SIZE)
        return 0;
    uint64_t last = size - EOCD_SIZE;
    uint64_t lowest = last > EOCD_MAX_COMMENT ? last - EOCD_MAX_COMMENT : 0;
    for (uint64_t pos = lowest; pos <= last; pos++)
        k += rd32(map + pos) == SIG_EOCD;
    return k;
}

void lg__zip_close(lg__zip *z)
{
    free(z->e);
    free(z->slot);
    z->e = NULL;
    z->slot = NULL;
    z->nslot = 0;
    z->n = 0;
}

const lg__zip_entry *lg__zip_find(const lg__zip *z, const char *name, size_t nlen)
{
    if (!z->nslot)
        return NULL;
    size_t k = slot_of(z, lg__name_hash_fold(name, nlen), name, nlen)->k;
    return k ? &z->e[k - 1] : NULL;
}

const lg__zip_entry *lg__zip_find_hint(const lg__zip *z, const char *name, size_t nlen,
                                      size_t hint)
{
    if (hint < z->n && same_name(&z->e[hint], name, nlen))
        return &z->e[hint];
    return lg__zip_find(z, name, nlen);
}

lg_status lg__zip_readable(const lg__zip *z, const lg__zip_entry *e)
{
    if (e->flags & 0x41u)
        return lg__err(LG_E_FORMAT, "%s: zip record \"%.*s\" is encrypted", z->path,
                       (int)e->nlen, e->name);
    if (e->method == 0 && e->csize != e->usize)
        return lg__err(LG_E_FORMAT, "%s: zip record \"%.*s\" is stored, yet its sizes differ "
                       "(%" PRIu64 " in the file, %" PRIu64 " uncompressed)", z->path,
                       (int)e->nlen, e->name, e->csize, e->usize);
    if (e->method == 8 && e->usize / DEFLATE_MAX_RATIO > e->csize)
        return lg__err(LG_E_FORMAT, "%s: zip record \"%.*s\": %" PRIu64 " deflated bytes cannot "
                       "expand to the %" PRIu64 " it claims", z->path, (int)e->nlen, e->name,
                       e->csize, e->usize);
    if (e->method != 0 && e->method != 8)
        return lg__err(LG_E_FORMAT, "%s: zip record \"%.*s\": compression method %u is not "
                       "supported (stored and deflated are)", z->path, (int)e->nlen, e->name,
                       e->method);
    return LG_OK;
}

int lg__zip_crc_ok(const lg__zip *z, const lg__zip_entry *e, const unsigned char *bytes,
                   uint32_t *computed)
{
    const unsigned char *p = bytes ? bytes : z->map + e->data;
    *computed = libdeflate_crc32(0, p, (size_t)e->usize);
    return *computed == e->crc;
}

/* ----------------------------------------------------- CRC-32 in chunks
 *
 * libdeflate's CRC-32 (PCLMULQDQ/AVX where the CPU has them; about 2.5x
 * zlib's crc32_z here, docs/dependencies.md); zlib's crc32_combine joins
 * the chunks' CRCs. zlib stays for inflate. */

#define CRC_CHUNK ((size_t)16 << 20)
#define CRC_MAX_THREADS 8

typedef struct {
    const unsigned char *p;
    size_t len;
    uint32_t crc;
} crc_chunk;

typedef struct {
    crc_chunk *c;
    size_t n;
    atomic_size_t next;
} crc_work;

static void *crc_worker(void *arg)
{
    crc_work *w = arg;
    for (size_t i; (i = atomic_fetch_add(&w->next, 1)) < w->n;)
        w->c[i].crc = libdeflate_crc32(0, w->c[i].p, w->c[i].len);
    return NULL;
}

static size_t chunks_of(const lg__zip_entry *e)
{
    return e->usize ? (size_t)((e->usize + CRC_CHUNK - 1) / CRC_CHUNK) : 1;
}

/* Runs the chunks on the calling thread and up to threads - 1 others. A
 * thread that cannot be started leaves its share to the others. */
static void crc_run(crc_work *w, int threads)
{
    pthread_t th[CRC_MAX_THREADS];
    int started = 0;
    for (int t = 1; t < threads && t < CRC_MAX_THREADS && (size_t)t < w->n; t++)
        if (pthread_create(&th[started], NULL, crc_worker, w) == 0)
            started++;
    crc_worker(w);
    for (int t = 0; t < started; t++)
        pthread_join(th[t], NULL);
}

lg_status lg__zip_crc_stored(const lg__zip *z, const lg__zip_entry *const *e, size_t n,
                             int threads, uint32_t *out)
{
    size_t total = 0, k = 0;
    for (size_t i = 0; i < n; i++)
        total += chunks_of(e[i]);
    crc_work w = {lg__calloc(total ? total : 1, sizeof(crc_chunk)), total, 0};
    if (!w.c)
        return lg__err(LG_E_NOMEM, "%s: out of memory checking CRC-32s", z->path);
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p = z->map + e[i]->data;
        for (uint64_t at = 0, m = chunks_of(e[i]); m-- > 0; at += CRC_CHUNK)
            w.c[k++] = (crc_chunk){p + at, (size_t)(e[i]->usize - at < CRC_CHUNK
                                                    ? e[i]->usize - at : CRC_CHUNK), 0};
    }
    crc_run(&w, threads);
    k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t crc = w.c[k++].crc;
        for (size_t m = chunks_of(e[i]); m-- > 1; k++)
            crc = (uint32_t)crc32_combine(crc, w.c[k].crc, (z_off_t)w.c[k].len);
        out[i] = crc;
    }
    free(w.c);
    return LG_OK;
}

static voidpf zalloc_lg(voidpf opaque, uInt items, uInt size) { return lg__calloc(items, size); }
static void zfree_lg(voidpf opaque, voidpf p) { free(p); }

/* Runs inflate over the whole entry; chunks of at most UINT_MAX bytes. */
static int inflate_all(z_stream *s, const unsigned char *in, uint64_t csize, unsigned char *out,
                       uint64_t usize)
{
    uint64_t in_left = csize, out_left = usize;
    int r = Z_OK;
    s->next_in = (Bytef *)in;
    s->next_out = out;
    while (r == Z_OK) {
        if (s->avail_in == 0) {
            s->avail_in = in_left > UINT32_MAX ? UINT32_MAX : (uInt)in_left;
            in_left -= s->avail_in;
        }
        if (s->avail_out == 0) {
            s->avail_out = out_left > UINT32_MAX ? UINT32_MAX : (uInt)out_left;
            out_left -= s->avail_out;
        }
        r = inflate(s, Z_NO_FLUSH);
        if (r == Z_BUF_ERROR && (s->avail_in || in_left) && (s->avail_out || out_left))
            r = Z_OK; /* progress is still possible */
    }
    return r;
}

lg_status lg__zip_inflate(const lg__zip *z, const lg__zip_entry *e, unsigned char **out)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    s.zalloc = zalloc_lg;
    s.zfree = zfree_lg;
    unsigned char *buf = lg__malloc(e->usize ? (size_t)e->usize : 1);
    if (!buf || e->usize > SIZE_MAX)
        return free(buf), lg__err(LG_E_NOMEM, "%s: zip record \"%.*s\": out of memory inflating %"
                                  PRIu64 " bytes", z->path, (int)e->nlen, e->name, e->usize);
    int r = inflateInit2(&s, -MAX_WBITS);
    if (r == Z_OK)
        r = inflate_all(&s, z->map + e->data, e->csize, buf, e->usize);
    int whole = r == Z_STREAM_END && s.total_out == e->usize && s.total_in == e->csize;
    const char *why = r == Z_STREAM_END ? "wrong length" : s.msg ? s.msg : "cut short";
    uint64_t got = s.total_out, used = s.total_in;
    inflateEnd(&s);
    if (whole) {
        *out = buf;
        return LG_OK;
    }
    free(buf);
    if (r == Z_MEM_ERROR)
        return lg__err(LG_E_NOMEM, "%s: zip record \"%.*s\": out of memory inflating", z->path,
                       (int)e->nlen, e->name);
    return lg__err(LG_E_FORMAT, "%s: zip record \"%.*s\": deflated data is corrupt (%s; %"
                   PRIu64 " of %" PRIu64 " bytes inflated from %" PRIu64 " of %" PRIu64 ")",
                   z->path, (int)e->nlen, e->name, why, got, e->usize, used, e->csize);
}
