/* The named edits of a torch.save zip archive (corrupt.h, `corrupt:
 * {torch_zip: NAME}`). The archive is parsed just enough to find its end
 * records and the records data.pkl, data/0 and version; each edit then
 * changes a few bytes in place, at fields util/zipfmt.h names. */
#include "corrupt/internal.h"
#include "util/error.h"
#include "util/zipfmt.h"

#include <inttypes.h>
#include <string.h>
#include <zlib.h>

/* One record: where its central and local headers and its data lie. */
typedef struct {
    size_t central, local, data, size, nlen;
} tz_rec;

/* A zip archive, parsed just enough to edit it. */
typedef struct {
    unsigned char *b;
    size_t len, eocd, cd;
    size_t z64;                  /* the zip64 end record, or 0 when there is none */
    tz_rec pkl, rec0, version;   /* <prefix>/data.pkl, data/0, version */
} tz_zip;

typedef lg_status (*tz_fn)(tz_zip *z, size_t *len);

static int tz_suffix(const unsigned char *name, size_t n, const char *sfx)
{
    size_t k = strlen(sfx);
    return n >= k && !memcmp(name + n - k, sfx, k);
}

/* The end record, and the zip64 one when a locator precedes it: where
 * the central directory begins and how many entries it holds. */
static lg_status tz_find_end(tz_zip *z, uint64_t *count, uint64_t *at)
{
    const unsigned char *b = z->b;
    size_t len = z->len;
    int found = 0;
    for (size_t pos = len >= HX_ZIP_EOCD_SIZE ? len - HX_ZIP_EOCD_SIZE + 1 : 0; pos-- > 0;)
        if (hx_rd32(b + pos) == HX_ZIP_SIG_EOCD &&
            hx_rd16(b + pos + HX_ZIP_EOCD_CLEN) == len - pos - HX_ZIP_EOCD_SIZE) {
            z->eocd = pos;
            found = 1;
            break;
        }
    if (!found)
        return hx_err(LG_E_INVALID, "the input is not a zip archive (no end of central "
                                    "directory)");
    *count = hx_rd16(b + z->eocd + HX_ZIP_EOCD_COUNT);
    *at = hx_rd32(b + z->eocd + HX_ZIP_EOCD_CD_OFFSET);
    size_t loc = z->eocd - HX_ZIP_Z64_LOCATOR_SIZE;
    if (z->eocd >= HX_ZIP_Z64_LOCATOR_SIZE && hx_rd32(b + loc) == HX_ZIP_SIG_Z64_LOCATOR) {
        uint64_t off = hx_rd64(b + loc + HX_ZIP_Z64_LOCATOR_OFFSET);
        /* the zip64 end record lies before its locator */
        if (off > loc || loc - off < HX_ZIP_Z64_EOCD_SIZE ||
            hx_rd32(b + off) != HX_ZIP_SIG_Z64_EOCD)
            return hx_err(LG_E_INVALID, "the input is not a zip archive that can be edited "
                                        "(zip64 locator)");
        z->z64 = (size_t)off;
        *count = hx_rd64(b + off + HX_ZIP_Z64_EOCD_COUNT);
        *at = hx_rd64(b + off + HX_ZIP_Z64_EOCD_CD_OFFSET);
    }
    if (*at > z->eocd)
        return hx_err(LG_E_INVALID, "the input is not a zip archive that can be edited (central "
                                    "directory offset %" PRIu64 " past the end record)", *at);
    z->cd = (size_t)*at;
    return LG_OK;
}

/* Central directory entry i at *at: its record, checked to lie inside the
 * file, and *at moved past the entry. */
static lg_status tz_entry(tz_zip *z, uint64_t i, uint64_t *at, tz_rec *r)
{
    const unsigned char *b = z->b, *c = b + *at;
    size_t len = z->len;
    if (*at > z->eocd || z->eocd - *at < HX_ZIP_CENTRAL_SIZE || hx_rd32(c) != HX_ZIP_SIG_CENTRAL)
        return hx_err(LG_E_INVALID, "the input is not a zip archive that can be edited "
                                    "(central directory entry %" PRIu64 ")", i);
    size_t nlen = hx_rd16(c + HX_ZIP_CENTRAL_NLEN), xlen = hx_rd16(c + HX_ZIP_CENTRAL_XLEN),
           clen = hx_rd16(c + HX_ZIP_CENTRAL_CLEN), local = hx_rd32(c + HX_ZIP_CENTRAL_LOCAL);
    if (local > len || len - local < HX_ZIP_LOCAL_SIZE || hx_rd32(b + local) != HX_ZIP_SIG_LOCAL)
        return hx_err(LG_E_INVALID, "the input is not a zip archive that can be edited "
                                    "(local header of entry %" PRIu64 ")", i);
    const unsigned char *l = b + local;
    *r = (tz_rec){(size_t)*at, local,
                  local + HX_ZIP_LOCAL_SIZE + hx_rd16(l + HX_ZIP_LOCAL_NLEN) +
                      hx_rd16(l + HX_ZIP_LOCAL_XLEN),
                  hx_rd32(c + HX_ZIP_CENTRAL_CSIZE), nlen};
    if (z->eocd - *at - HX_ZIP_CENTRAL_SIZE < nlen || r->data > len || len - r->data < r->size ||
        hx_rd16(l + HX_ZIP_LOCAL_NLEN) != nlen)
        return hx_err(LG_E_INVALID, "the input is not a zip archive that can be edited "
                                    "(entry %" PRIu64 " runs past the end)", i);
    *at += HX_ZIP_CENTRAL_SIZE + nlen + xlen + clen;
    return LG_OK;
}

static lg_status tz_parse(unsigned char *b, size_t len, tz_zip *z)
{
    uint64_t count = 0, at = 0;
    memset(z, 0, sizeof *z);
    z->b = b;
    z->len = len;
    lg_status st = tz_find_end(z, &count, &at);
    for (uint64_t i = 0; st == LG_OK && i < count; i++) {
        tz_rec r;
        if ((st = tz_entry(z, i, &at, &r)) != LG_OK)
            break;
        const unsigned char *name = b + r.central + HX_ZIP_CENTRAL_SIZE;
        if (tz_suffix(name, r.nlen, "/data.pkl") && !z->pkl.nlen)
            z->pkl = r;
        else if (tz_suffix(name, r.nlen, "/data/0") && !z->rec0.nlen)
            z->rec0 = r;
        else if (tz_suffix(name, r.nlen, "/version") && !z->version.nlen)
            z->version = r;
    }
    if (st != LG_OK)
        return st;
    if (!z->pkl.nlen || !z->rec0.nlen || !z->version.nlen || z->pkl.size < 8 ||
        z->pkl.data + z->pkl.size > len || b[z->pkl.data] != 0x80 ||
        hx_rd16(b + z->rec0.central + HX_ZIP_CENTRAL_METHOD) != HX_ZIP_STORED ||
        hx_rd16(b + z->pkl.central + HX_ZIP_CENTRAL_METHOD) != HX_ZIP_STORED)
        return hx_err(LG_E_INVALID, "the input is not a torch.save zip archive with stored "
                                    "records data.pkl, data/0 and version");
    return LG_OK;
}

/* The record's CRC-32, recomputed, in the central directory and in the
 * local header, or in the data descriptor after the data when flag bit 3
 * says the local header defers to one (torch.save writes those). */
static void tz_fix_crc(tz_zip *z, const tz_rec *r)
{
    uint32_t crc = (uint32_t)crc32_z(0L, z->b + r->data, r->size);
    size_t at = r->data + r->size;
    hx_wr32(z->b + r->central + HX_ZIP_CENTRAL_CRC, crc);
    if (!(hx_rd16(z->b + r->central + HX_ZIP_CENTRAL_FLAGS) & HX_ZIP_FLAG_DESCRIPTOR))
        hx_wr32(z->b + r->local + HX_ZIP_LOCAL_CRC, crc);
    else if (at + 8 <= z->len) /* the descriptor's signature is optional */
        hx_wr32(z->b + at +
                    (hx_rd32(z->b + at) == HX_ZIP_SIG_DESCRIPTOR ? HX_ZIP_DESCRIPTOR_CRC : 0),
                crc);
}

/* The last byte of the record's name, in both headers. */
static void tz_rename(tz_zip *z, const tz_rec *r, unsigned char last)
{
    z->b[r->central + HX_ZIP_CENTRAL_SIZE + r->nlen - 1] = last;
    z->b[r->local + HX_ZIP_LOCAL_SIZE + r->nlen - 1] = last;
}

static lg_status tz_eocd_missing(tz_zip *z, size_t *len)
{
    z->b[z->eocd + 3] = 0x07; /* PK\5\6 -> PK\5\7 */
    return LG_OK;
}

static lg_status tz_eocd_truncated(tz_zip *z, size_t *len)
{
    *len = z->eocd + HX_ZIP_EOCD_SIZE / 2;
    return LG_OK;
}

static lg_status tz_cd_past_end(tz_zip *z, size_t *len)
{
    hx_wr32(z->b + z->eocd + HX_ZIP_EOCD_CD_OFFSET, (uint32_t)(z->len + 4096));
    if (z->z64) /* the zip64 record's offset too, so that the two agree */
        hx_wr32(z->b + z->z64 + HX_ZIP_Z64_EOCD_CD_OFFSET, (uint32_t)(z->len + 4096));
    return LG_OK;
}

static lg_status tz_local_name(tz_zip *z, size_t *len)
{
    z->b[z->rec0.local + HX_ZIP_LOCAL_SIZE + z->rec0.nlen - 1] = '9';
    return LG_OK;
}

static lg_status tz_missing_pkl(tz_zip *z, size_t *len)
{
    tz_rename(z, &z->pkl, 'x'); /* data.pkl -> data.pkx */
    return LG_OK;
}

static lg_status tz_missing_record(tz_zip *z, size_t *len)
{
    tz_rename(z, &z->rec0, 'x'); /* data/0 -> data/x */
    return LG_OK;
}

static lg_status tz_crc(tz_zip *z, size_t *len)
{
    if (!z->rec0.size)
        return hx_err(LG_E_INVALID, "record data/0 is empty");
    z->b[z->rec0.data] ^= 0x01;
    return LG_OK;
}

static lg_status tz_version(tz_zip *z, size_t *len)
{
    if (!z->version.size)
        return hx_err(LG_E_INVALID, "record version is empty");
    z->b[z->version.data] = 'v'; /* "3\n" -> "v\n": not a number */
    tz_fix_crc(z, &z->version);
    return LG_OK;
}

static lg_status tz_compressed(tz_zip *z, size_t *len)
{
    hx_wr16(z->b + z->rec0.central + HX_ZIP_CENTRAL_METHOD, HX_ZIP_DEFLATED);
    hx_wr16(z->b + z->rec0.local + HX_ZIP_LOCAL_METHOD, HX_ZIP_DEFLATED);
    return LG_OK;
}

/* The zip64 end record's own length field, past the locator; an archive
 * without one: data/0's compressed size says "see the zip64 extra field",
 * which it lacks. */
static lg_status tz_zip64(tz_zip *z, size_t *len)
{
    if (z->z64)
        hx_wr32(z->b + z->z64 + HX_ZIP_Z64_EOCD_RECORD_SIZE, 0x7fffffffu);
    else
        hx_wr32(z->b + z->rec0.central + HX_ZIP_CENTRAL_CSIZE, HX_ZIP_MAX32);
    return LG_OK;
}

/* The opcodes of data.pkl after PROTO 2 (bytes 0 and 1) replaced by op. */
static lg_status tz_pickle_at2(tz_zip *z, const unsigned char *op, size_t n)
{
    memcpy(z->b + z->pkl.data + 2, op, n);
    tz_fix_crc(z, &z->pkl);
    return LG_OK;
}

static lg_status tz_pk_opcode(tz_zip *z, size_t *len)
{
    static const unsigned char op[] = {0xff};
    return tz_pickle_at2(z, op, sizeof op);
}

static lg_status tz_pk_underflow(tz_zip *z, size_t *len)
{
    static const unsigned char op[] = {'0'}; /* POP on an empty stack */
    return tz_pickle_at2(z, op, sizeof op);
}

static lg_status tz_pk_memo(tz_zip *z, size_t *len)
{
    static const unsigned char op[] = {'h', 0xff}; /* BINGET 255: nothing memoized */
    return tz_pickle_at2(z, op, sizeof op);
}

static lg_status tz_pk_huge(tz_zip *z, size_t *len)
{
    static const unsigned char op[] = {'X', 0xff, 0xff, 0xff, 0x7f}; /* BINUNICODE 2^31-1 */
    return tz_pickle_at2(z, op, sizeof op);
}

static lg_status tz_pk_global(tz_zip *z, size_t *len)
{
    static const char from[] = "collections\nOrderedDict\n", to[] = "subprocess\ncheck_output\n";
    unsigned char *p = z->b + z->pkl.data;
    size_t k = sizeof from - 1;
    for (size_t i = 0; i + k <= z->pkl.size; i++)
        if (!memcmp(p + i, from, k)) {
            memcpy(p + i, to, k);
            tz_fix_crc(z, &z->pkl);
            return LG_OK;
        }
    return hx_err(LG_E_INVALID, "data.pkl has no GLOBAL collections.OrderedDict to replace");
}

static const hx_tz_mutation tz_table[] = {
    {"eocd-missing", "LG_E_FORMAT", "no end of central directory record", 1, NULL},
    {"eocd-truncated", "LG_E_FORMAT", "no end of central directory record", 1, NULL},
    {"cd-offset-past-end", "LG_E_FORMAT", "does not end where the end records begin", 1, NULL},
    {"local-name-mismatch", "LG_E_FORMAT", "local header at", 1, NULL},
    {"missing-data-pkl", "LG_E_FORMAT", "/data.pkl (not a torch.save checkpoint?)", 0,
     "torch-zip"},
    {"missing-record", "LG_E_FORMAT", "the archive has no record", 1, NULL},
    {"crc-mismatch", "LG_E_FORMAT", "CRC-32 mismatch", 1, NULL},
    {"unsupported-version", "LG_E_FORMAT", "not a number", 1, NULL},
    {"compressed-entry", "LG_E_FORMAT", "deflated data is corrupt", 1, NULL},
    {"zip64-corrupt", "LG_E_FORMAT", "zip64", 1, NULL},
    {"pickle-unknown-opcode", "LG_E_FORMAT", "unknown opcode", 1, NULL},
    {"pickle-stack-underflow", "LG_E_FORMAT", "the stack is empty", 1, NULL},
    {"pickle-memo-out-of-range", "LG_E_FORMAT", "memo entry 255 was never set", 1, NULL},
    {"pickle-disallowed-global", "LG_E_FORMAT", "is not allowed", 1, NULL},
    {"pickle-huge-size", "LG_E_FORMAT", "truncated: a 2147483647-byte string", 1, NULL},
    {NULL, NULL, NULL, 0, NULL},
};

static const tz_fn tz_fns[] = {
    tz_eocd_missing, tz_eocd_truncated, tz_cd_past_end, tz_local_name, tz_missing_pkl,
    tz_missing_record, tz_crc, tz_version, tz_compressed, tz_zip64, tz_pk_opcode,
    tz_pk_underflow, tz_pk_memo, tz_pk_global, tz_pk_huge,
};

_Static_assert(sizeof tz_fns / sizeof tz_fns[0] == sizeof tz_table / sizeof tz_table[0] - 1,
               "one function per named mutation");

const hx_tz_mutation *hx_tz_mutations(void) { return tz_table; }

int hx_tz_mutation_find(const char *name)
{
    for (int i = 0; tz_table[i].name; i++)
        if (!strcmp(tz_table[i].name, name))
            return i;
    return -1;
}

lg_status hx_tz_mutate(const hx_corrupt *c, unsigned char *buf, size_t *len)
{
    tz_zip z;
    int count = (int)(sizeof tz_fns / sizeof tz_fns[0]);
    if (c->mutation < 0 || c->mutation >= count)
        return hx_err(LG_E_INVALID, "corrupt %s: unknown torch_zip mutation %d", c->label,
                      c->mutation);
    lg_status st = tz_parse(buf, *len, &z);
    if (st == LG_OK)
        st = tz_fns[c->mutation](&z, len);
    if (st != LG_OK)
        return hx_err(st, "corrupt %s: %s", c->label, hx_errmsg());
    return LG_OK;
}
