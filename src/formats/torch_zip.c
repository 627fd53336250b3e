/* PyTorch torch.save checkpoints, read natively: no Python, no libtorch,
 * and nothing in the file is ever run.
 *
 *   torch-zip     the zip format (PyTorch 1.6 and later): <prefix>/data.pkl,
 *                 <prefix>/data/<key> per storage, and small records
 *                 (byteorder, version, .format_version, .storage_alignment);
 *   torch-legacy  the format before 1.6: five pickles (magic number,
 *                 protocol version, system info, the object, the storage
 *                 keys), then each storage as an 8-byte count and its bytes.
 *
 * Both unpickle through the restricted unpickler (pickle.c), then share
 * storages, views and names (torch_save.c). Tensor bytes of stored
 * records are used in place from the map. docs/torch-zip.md holds the
 * rules and decisions. */
#include "formats/torch_save.h"

#include <inttypes.h>
#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && \
    __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the torch.save readers hand out little-endian bytes as stored: little-endian hosts only"
#endif

/* The most a small record (byteorder, version, ...) may hold. */
#define SMALL_RECORD_MAX 64u

/* ------------------------------------------------------------- sniffing */

/* A zip with "<prefix>/data.pkl" and neither code/ nor constants.pkl:
 * torch.save's layout (lg__zip_layout). */
static int zip_sniff(const unsigned char *head, size_t n, uint64_t size)
{
    return lg__zip_layout(head, n, size) == LG__ZIP_TORCH_SAVE;
}

/* The magic number torch.save wrote before 1.6, 0x1950a86a20f9469cfc6c, as
 * the 10 little-endian bytes of a LONG1. */
static const unsigned char legacy_magic[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                             0x20, 0x6a, 0xa8, 0x50, 0x19};

/* PROTO 2..5, an optional FRAME (protocol 4 and later), then the magic
 * number: 1 if the n bytes at head begin so. */
static int legacy_magic_at(const unsigned char *head, size_t n)
{
    size_t at = 2;
    if (n < 2 || head[0] != 0x80 || head[1] < 2 || head[1] > 5)
        return 0;
    if (head[1] >= 4 && n > 2 && head[2] == 0x95)
        at += 9;
    return n >= at + sizeof legacy_magic && !memcmp(head + at, legacy_magic, sizeof legacy_magic);
}

static int legacy_sniff(const unsigned char *head, size_t n, uint64_t size)
{
    return legacy_magic_at(head, n);
}

/* ----------------------------------------------------------- zip records */

static lg_status crc_mismatch(lg_checkpoint *c, const lg__zip_entry *e, uint32_t got)
{
    if (c->crc == LG__CRC_WARN)
        return lg__finding(c, "record \"%.*s\": CRC-32 mismatch: the archive says 0x%08" PRIx32
                           ", the bytes give 0x%08" PRIx32 " (crc: warn)", (int)e->nlen, e->name,
                           e->crc, got);
    return lg__err(LG_E_FORMAT, "%s: record \"%.*s\": CRC-32 mismatch: the archive says 0x%08"
                   PRIx32 ", the bytes give 0x%08" PRIx32, c->path, (int)e->nlen, e->name,
                   e->crc, got);
}

lg_status ts_record_bytes(lg_checkpoint *c, ts_priv *p, const lg__zip_entry *e,
                          const unsigned char **bytes, unsigned char **owned)
{
    uint32_t got;
    *owned = NULL;
    lg_status st = lg__zip_readable(&p->zip, e);
    if (st == LG_OK && e->method == 8)
        st = lg__zip_inflate(&p->zip, e, owned);
    if (st != LG_OK)
        return st;
    *bytes = *owned ? *owned : c->map + e->data;
    if (c->crc != LG__CRC_OFF && !lg__zip_crc_ok(&p->zip, e, *owned, &got))
        st = crc_mismatch(c, e, got);
    if (st != LG_OK) {
        free(*owned);
        *owned = NULL;
    }
    return st;
}

const lg__zip_entry *ts_record(ts_priv *p, const char *rel)
{
    char name[PREFIX_MAX + 64];
    int n = snprintf(name, sizeof name, "%.*s/%s", (int)p->plen, p->prefix, rel);
    if (n < 0 || (size_t)n >= sizeof name)
        return NULL;
    return lg__zip_find(&p->zip, name, (size_t)n);
}

/* A small text record into out (NUL-terminated, one trailing newline
 * dropped); *present = 0 when there is none. */
static lg_status small_record(lg_checkpoint *c, ts_priv *p, const char *rel, char *out,
                              int *present)
{
    const lg__zip_entry *e = ts_record(p, rel);
    const unsigned char *b;
    unsigned char *owned;
    *present = e != NULL;
    out[0] = '\0';
    if (!e)
        return LG_OK;
    if (e->usize >= SMALL_RECORD_MAX)
        return lg__err(LG_E_FORMAT, "%s: record \"%.*s\" holds %" PRIu64 " bytes; at most %u "
                       "expected", c->path, (int)e->nlen, e->name, e->usize, SMALL_RECORD_MAX - 1);
    lg_status st = ts_record_bytes(c, p, e, &b, &owned);
    if (st != LG_OK)
        return st;
    size_t n = (size_t)e->usize;
    memcpy(out, b, n);
    if (n && out[n - 1] == '\n')
        n--;
    out[n] = '\0';
    free(owned);
    if (strlen(out) != n)
        return lg__err(LG_E_FORMAT, "%s: record \"%.*s\" holds a NUL byte", c->path,
                       (int)e->nlen, e->name);
    return LG_OK;
}

static int decimal(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s || strlen(s) > 18)
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 1;
}

static lg_status not_decimal(lg_checkpoint *c, ts_priv *p, const char *rel, const char *text)
{
    return lg__err(LG_E_FORMAT, "%s: record \"%.*s/%s\" says \"%s\", not a number", c->path,
                   (int)p->plen, p->prefix, rel, text);
}

lg_status ts_read_byteorder(lg_checkpoint *c, ts_priv *p)
{
    char text[SMALL_RECORD_MAX];
    int present;
    lg_status st = small_record(c, p, "byteorder", text, &present);
    if (st != LG_OK || !present || !strcmp(text, "little"))
        return st; /* no record: little-endian, as torch.load assumes */
    if (!strcmp(text, "big")) {
        p->big_endian = 1;
        return LG_OK;
    }
    return lg__err(LG_E_FORMAT, "%s: record \"%.*s/byteorder\" says \"%s\"; little or big "
                   "expected", c->path, (int)p->plen, p->prefix, text);
}

/* version (or .data/version), .format_version and .storage_alignment: all
 * optional; when present, numbers. */
static lg_status read_versions(lg_checkpoint *c, ts_priv *p, uint64_t *align)
{
    static const char *const rels[] = {".data/version", "version", ".format_version",
                                       ".storage_alignment"};
    char text[SMALL_RECORD_MAX];
    int present, have_version = 0;
    uint64_t v = 0;
    *align = 0;
    for (size_t i = 0; i < 4; i++) {
        lg_status st = small_record(c, p, rels[i], text, &present);
        if (st == LG_OK && present && !decimal(text, &v))
            st = not_decimal(c, p, rels[i], text);
        if (st != LG_OK)
            return st;
        have_version |= present && i < 2;
        if (present && i == 3)
            *align = v;
    }
    if (*align && (*align & (*align - 1)))
        return lg__err(LG_E_FORMAT, "%s: record \"%.*s/.storage_alignment\" says %" PRIu64
                       ", not a power of two", c->path, (int)p->plen, p->prefix, *align);
    if (!have_version)
        return lg__finding(c, "no version record (torch.save writes one)");
    return LG_OK;
}

lg_status ts_find_prefix(lg_checkpoint *c, ts_priv *p, const char *writer)
{
    if (p->zip.n == 0)
        return lg__err(LG_E_FORMAT, "%s: the zip archive holds no records", c->path);
    const lg__zip_entry *e = &p->zip.e[0];
    const char *slash = memchr(e->name, '/', e->nlen);
    if (!slash || slash == e->name)
        return lg__err(LG_E_FORMAT, "%s: record \"%.*s\" is not in a folder (%s puts every "
                       "record in one)", c->path, (int)e->nlen, e->name, writer);
    p->prefix = e->name;
    p->plen = (size_t)(slash - e->name);
    if (p->plen > PREFIX_MAX)
        return lg__err(LG_E_FORMAT, "%s: the archive's folder name is %zu bytes long; at most %u "
                       "are supported", c->path, p->plen, PREFIX_MAX);
    /* PyTorch's reader takes its folder from the first record and refuses
     * an archive with a record outside it (inline_container.cc,
     * getAllRecords, which torch.load calls): a record elsewhere would be
     * one that loadgate could read and torch.load would not. */
    for (size_t i = 1; i < p->zip.n; i++) {
        const lg__zip_entry *o = &p->zip.e[i];
        if (o->nlen <= p->plen || memcmp(o->name, p->prefix, p->plen) || o->name[p->plen] != '/')
            return lg__err(LG_E_FORMAT, "%s: record \"%.*s\" is not in the archive's folder "
                           "\"%.*s\" (%s puts every record in the folder of the first, and "
                           "PyTorch's reader refuses any other)", c->path, (int)o->nlen, o->name,
                           (int)p->plen, p->prefix, writer);
    }
    return LG_OK;
}

/* Threads for the CRC-32 of a record of this many bytes: one per CPU (at
 * most 8) from 32 MiB (two of lg__zip_crc_stored's 16 MiB chunks) on;
 * below that, starting threads costs more than it saves. */
static int crc_threads(uint64_t bytes)
{
    if (bytes < ((uint64_t)32 << 20))
        return 1; /* before sysconf, which reads sysfs: once per record here */
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 2 ? 1 : n > 8 ? 8 : (int)n;
}

/* ------------------------------------------------- CRC-32 of tensor data
 *
 * The CRC-32 of a stored record (a storage's bytes, used in place from
 * the map) is not computed at open: it is computed once, when the bytes
 * are first asked for, and over the bytes being copied where the reader
 * copies a whole record (zip_read), so that a load reads them once. A
 * deflated record was checked as it was inflated. ts_storage.crc_state: */
enum { CRC_CHECKED = 0, CRC_PENDING, CRC_WRONG };

/* A record whose CRC-32 gave got: per the crc option, LG_OK (a finding
 * under warn; the bytes are usable) or the error, kept for every later
 * read. */
static lg_status crc_result(lg_checkpoint *c, ts_storage *s, uint32_t got)
{
    if (got == s->rec->crc || c->crc == LG__CRC_WARN) {
        s->crc_state = CRC_CHECKED;
        return got == s->rec->crc ? LG_OK : crc_mismatch(c, s->rec, got);
    }
    s->crc_state = CRC_WRONG;
    s->crc_got = got;
    return crc_mismatch(c, s->rec, got);
}

/* The storage's CRC-32 checked in a pass of its own (threads for a large
 * record), once. */
static lg_status crc_check(lg_checkpoint *c, ts_priv *p, ts_storage *s)
{
    uint32_t got;
    if (s->crc_state == CRC_WRONG)
        return crc_mismatch(c, s->rec, s->crc_got);
    if (s->crc_state != CRC_PENDING)
        return LG_OK;
    const lg__zip_entry *e = s->rec;
    int threads = crc_threads(e->usize);
    if (threads == 1) {
        lg__zip_crc_ok(&p->zip, e, NULL, &got);
        return crc_result(c, s, got);
    }
    lg_status st = lg__zip_crc_stored(&p->zip, &e, 1, threads, &got);
    return st != LG_OK ? st : crc_result(c, s, got);
}

/* Tensor i covers its storage's record whole, as stored: the copy is the
 * record's bytes, and its CRC-32 can be taken over them. */
static int covers_record(const ts_priv *p, const lg_tensor_info *ti, const ts_tensor *t)
{
    const ts_storage *s = &p->s[t->storage];
    return t->contiguous && t->offset == 0 && ti->nbytes == s->rec->usize &&
           !(p->big_endian && t->elsize > 1);
}

/* Copies the record into tensor i's dst in runs, taking the CRC-32 of
 * each run as it lands (lg__copy_observed); with dst NULL, only shows the
 * record's runs and takes their CRC-32. */
static lg_status copy_with_crc(lg_checkpoint *c, size_t i, ts_storage *s, unsigned char *dst)
{
    uint32_t crc = 0; /* libdeflate_crc32 continues from a CRC; 0 starts */
    lg__copy_observed(c, i, dst, s->bytes, s->rec->usize, &crc);
    return crc_result(c, s, crc);
}

/* Tensor i read into dst, or, with dst NULL, its bytes in place only shown
 * (a tensor built over the map): its record's CRC-32 checked, in the same
 * pass where the tensor covers a record not yet checked. */
static lg_status zip_read(lg_checkpoint *c, size_t i, void *dst)
{
    ts_priv *p = c->priv;
    const ts_tensor *t = &p->t[i];
    ts_storage *s = &p->s[t->storage];
    if (s->crc_state == CRC_PENDING && c->tensors[i].nbytes && covers_record(p, &c->tensors[i], t))
        return copy_with_crc(c, i, s, dst);
    lg_status st = crc_check(c, p, s);
    if (st != LG_OK)
        return st;
    if (dst)
        return ts_read(c, i, dst);
    lg__copy_observed(c, i, NULL, ts_bytes(c, i), c->tensors[i].nbytes, NULL);
    return LG_OK;
}

/* Bytes in place only once their record's CRC-32 holds (checked here,
 * once). NULL for a wrong record, or one that could not be checked, so
 * that the caller reads: zip_read then reports the problem. */
static const void *zip_bytes(lg_checkpoint *c, size_t i)
{
    ts_priv *p = c->priv;
    ts_storage *s = &p->s[p->t[i].storage];
    if (s->crc_state == CRC_PENDING)
        crc_check(c, p, s);
    return s->crc_state != CRC_CHECKED ? NULL : ts_bytes(c, i);
}

/* Tensor i's bytes for a tensor built over the map (format.h,
 * in_place): a stored record's. */
static const void *zip_in_place(lg_checkpoint *c, size_t i)
{
    ts_priv *p = c->priv;
    return p->s[p->t[i].storage].rec->method == 0 ? ts_bytes(c, i) : NULL;
}

/* format.h, check_shown: zip_read's checks, over the bytes in place. */
static lg_status zip_check_shown(lg_checkpoint *c, size_t i) { return zip_read(c, i, NULL); }

/* Every storage a selected tensor views: its bytes (in place when stored,
 * inflated otherwise); a stored one's CRC-32 is left for its first read. */
static lg_status resolve_storages(lg_checkpoint *c, ts_priv *p, uint64_t align)
{
    lg_status st = LG_OK;
    for (size_t i = 0; st == LG_OK && i < p->ns; i++) {
        ts_storage *s = &p->s[i];
        if (!s->used)
            continue;
        if ((st = lg__zip_readable(&p->zip, s->rec)) != LG_OK)
            break;
        if (s->rec->method != 0) {
            st = ts_record_bytes(c, p, s->rec, &s->bytes, &s->buf);
            continue;
        }
        s->bytes = c->map + s->rec->data;
        s->crc_state = c->crc == LG__CRC_OFF ? CRC_CHECKED : CRC_PENDING;
        if (align && s->rec->data % align)
            st = lg__finding(c, "record \"%.*s\" begins at byte %" PRIu64 ", not a multiple of "
                             "%" PRIu64 " (.storage_alignment)", (int)s->rec->nlen, s->rec->name,
                             s->rec->data, align);
    }
    return st;
}

lg_status ts_unpickle_data(lg_checkpoint *c, ts_priv *p, lg__pickle *pk, const char *what,
                           int defer, lg__pv **root, unsigned char **owned)
{
    char rel[PREFIX_MAX + 64];
    const lg__zip_entry *e = ts_record(p, "data.pkl");
    const unsigned char *b;
    if (!e)
        return lg__err(LG_E_FORMAT, "%s: no record %.*s/data.pkl (not %s?)", c->path,
                       (int)p->plen, p->prefix, what);
    /* a deflated pickle is inflated whole: its text counts against the
     * unpickler's budget, as its values do (docs/limits.md) */
    if (e->method != 0 && lg__pickle_hold(pk, e->usize))
        return lg__err(LG_E_FORMAT, "%s: record \"%.*s\" inflates to %" PRIu64 " bytes, more "
                       "than the unpickler may take for this file (%u MiB + 3 times its size: %"
                       PRIu64 " bytes)", c->path, (int)e->nlen, e->name, e->usize,
                       LG__PICKLE_BUDGET_BASE >> 20, lg__pickle_budget(c->size));
    lg_status st = ts_record_bytes(c, p, e, &b, owned);
    if (st != LG_OK)
        return st;
    snprintf(rel, sizeof rel, "record \"%.*s\"", (int)e->nlen, e->name);
    lg__pickle_opts o = {c->path, rel, ts_persistent, c, 0, defer};
    return lg__pickle_load(pk, b, (size_t)e->usize, &o, root, NULL);
}

static lg_status zip_read_all(lg_checkpoint *c, ts_priv *p, lg__pickle *pk)
{
    uint64_t align = 0;
    unsigned char *pkl = NULL;
    lg__pv *root = NULL;
    lg_status st = lg__zip_open(&p->zip, c->path, c->map, c->size);
    if (st == LG_OK)
        st = ts_find_prefix(c, p, "torch.save");
    if (st == LG_OK)
        st = ts_read_byteorder(c, p);
    if (st == LG_OK)
        st = read_versions(c, p, &align);
    if (st == LG_OK)
        st = ts_unpickle_data(c, p, pk, "a torch.save checkpoint", c->key != NULL, &root, &pkl);
    if (st == LG_OK)
        st = ts_collect(c, p, root, lg__pickle_count(pk));
    free(pkl); /* the pickle's strings die here: storage keys are not used after open */
    if (st == LG_OK)
        st = resolve_storages(c, p, align);
    return st;
}

/* The open of both formats: the private state, one unpickler, and the
 * format's own reading (read_all). */
static lg_status ts_open(lg_checkpoint *c, int legacy,
                         lg_status (*read_all)(lg_checkpoint *, ts_priv *, lg__pickle *))
{
    ts_priv *p = NULL;
    lg__pickle *pk = NULL;
    if (lg__fault("format.parse", NULL))
        return lg__err(LG_E_FORMAT, "%s: injected parse failure", c->path);
    lg_status st = ts_priv_new(c, legacy, &p);
    if (st != LG_OK)
        return st;
    c->priv = p;
    st = lg__pickle_new(&pk);
    if (st == LG_OK) /* values in proportion to the file (docs/limits.md) */
        lg__pickle_set_budget(pk, lg__pickle_budget(c->size));
    if (st == LG_OK)
        st = read_all(c, p, pk);
    lg__pickle_free(pk);
    free(p->slot);
    p->slot = NULL;
    p->nslot = 0;
    if (st != LG_OK)
        ts_close(c);
    return st;
}

static lg_status zip_open(lg_checkpoint *c) { return ts_open(c, 0, zip_read_all); }

/* --------------------------------------------------------------- legacy */

#define LEGACY_PROTOCOL_VERSION 1001

typedef struct {
    lg_checkpoint *c;
    lg__pickle *pk;
    size_t pos;       /* where the next pickle begins */
} legacy_ctx;

static lg_status next_pickle(legacy_ctx *L, const char *what, lg__persistent_fn persistent,
                             lg__pv **root)
{
    size_t used = 0;
    /* the object pickle (the one with persistent ids) may hold refusals that
     * a key leaves outside what is read */
    lg__pickle_opts o = {L->c->path, what, persistent, L->c, L->pos,
                         persistent && L->c->key != NULL};
    lg_status st = lg__pickle_load(L->pk, L->c->map + L->pos, (size_t)(L->c->size - L->pos),
                                   &o, root, &used);
    if (st == LG_OK)
        L->pos += used;
    return st;
}

/* The magic number, the protocol version and the system info. */
static lg_status legacy_header(legacy_ctx *L)
{
    lg_checkpoint *c = L->c;
    lg__pv *v;
    if (!legacy_magic_at(c->map, (size_t)c->size))
        return lg__err(LG_E_FORMAT, "%s: legacy format: no magic number 0x1950a86a20f9469cfc6c "
                       "at the start", c->path);
    lg_status st = next_pickle(L, "magic number pickle", NULL, &v);
    if (st == LG_OK)
        st = next_pickle(L, "protocol version pickle", NULL, &v);
    if (st == LG_OK && (v->kind != LG__PV_INT || v->i != LEGACY_PROTOCOL_VERSION))
        return lg__err(LG_E_FORMAT, "%s: legacy format: protocol version %s%" PRId64 ", %d "
                       "expected", c->path, v->kind == LG__PV_INT ? "" : "(not an int) ",
                       v->kind == LG__PV_INT ? v->i : 0, LEGACY_PROTOCOL_VERSION);
    if (st == LG_OK)
        st = next_pickle(L, "system info pickle", NULL, &v);
    if (st == LG_OK && v->kind != LG__PV_DICT)
        return lg__err(LG_E_FORMAT, "%s: legacy format: system info is %s, not a dict", c->path,
                       lg__pv_kind_name(v->kind));
    return st;
}

/* After the key list: per storage, its element count (8 bytes,
 * little-endian) and its bytes (little-endian, as torch always wrote). */
static lg_status legacy_storages(legacy_ctx *L, ts_priv *p, const lg__pv *keys)
{
    lg_checkpoint *c = L->c;
    if (keys->kind != LG__PV_LIST)
        return lg__err(LG_E_FORMAT, "%s: legacy format: the storage keys are %s, not a list",
                       c->path, lg__pv_kind_name(keys->kind));
    for (size_t i = 0; i < keys->count; i++) {
        const lg__pv *k = keys->items[i];
        int text = k->kind == LG__PV_STR || k->kind == LG__PV_BYTES;
        ts_storage *s = text ? ts_storage_find(p, k->s, k->n) : NULL;
        if (!s || s->bytes)
            return lg__err(LG_E_FORMAT, "%s: legacy format: storage key %zu (%.*s) is %s",
                           c->path, i, text ? (int)k->n : 0, text ? k->s : "",
                           s ? "listed twice" : "not a storage the pickle references");
        if (c->size - L->pos < 8)
            return lg__err(LG_E_FORMAT, "%s: legacy format: storage \"%.*s\" at byte %zu: the "
                           "file ends before its size", c->path, (int)k->n, k->s, L->pos);
        uint64_t numel = 0;
        for (int b = 7; b >= 0; b--)
            numel = numel << 8 | c->map[L->pos + (size_t)b];
        if (numel != s->numel)
            return lg__err(LG_E_FORMAT, "%s: legacy format: storage \"%.*s\" at byte %zu holds %"
                           PRIu64 " elements, the pickle says %" PRIu64, c->path, (int)k->n,
                           k->s, L->pos, numel, s->numel);
        if (s->nbytes > c->size - L->pos - 8)
            return lg__err(LG_E_FORMAT, "%s: legacy format: storage \"%.*s\" (%" PRIu64 " bytes "
                           "at byte %zu) runs past the end of the file (%" PRIu64 " bytes)",
                           c->path, (int)k->n, k->s, s->nbytes, L->pos + 8, c->size);
        s->bytes = c->map + L->pos + 8;
        L->pos += 8 + (size_t)s->nbytes;
    }
    for (size_t i = 0; i < p->ns; i++)
        if (!p->s[i].bytes)
            return lg__err(LG_E_FORMAT, "%s: legacy format: storage \"%.*s\" is referenced but "
                           "its bytes are not in the file", c->path, (int)p->s[i].klen,
                           p->s[i].key);
    return LG_OK;
}

static lg_status legacy_read_all(lg_checkpoint *c, ts_priv *p, lg__pickle *pk)
{
    legacy_ctx L = {c, pk, 0};
    lg__pv *root = NULL, *keys = NULL;
    lg_status st = legacy_header(&L);
    if (st == LG_OK)
        st = next_pickle(&L, "pickle", ts_persistent, &root);
    if (st == LG_OK)
        st = next_pickle(&L, "storage key pickle", NULL, &keys);
    if (st == LG_OK)
        st = legacy_storages(&L, p, keys);
    if (st == LG_OK)
        st = ts_collect(c, p, root, lg__pickle_count(pk));
    if (st == LG_OK && L.pos < c->size)
        st = lg__finding(c, "%" PRIu64 " bytes after the last storage belong to nothing",
                         c->size - L.pos);
    return st;
}

static lg_status legacy_open(lg_checkpoint *c) { return ts_open(c, 1, legacy_read_all); }

const lg__reader_ops lg__torch_zip_reader = {
    .name = "torch-zip",
    .sniff = zip_sniff,
    .open = zip_open,
    .read = zip_read,
    .in_place = zip_in_place,
    .check_shown = zip_check_shown,
    .deserialize = NULL,
    .bytes = zip_bytes,
    .close = ts_close,
    .takes_key = 1,
};

const lg__reader_ops lg__torch_legacy_reader = {
    .name = "torch-legacy",
    .sniff = legacy_sniff,
    .open = legacy_open,
    .read = ts_read,
    .in_place = ts_bytes,
    .deserialize = NULL,
    .bytes = ts_bytes,
    .close = ts_close,
    .takes_key = 1,
};
