/* What the two torch.save formats share: storages named by persistent
 * ids, tensors rebuilt over them as views, names taken from the object's
 * path, and reading a view in row-major order. torch_zip.c holds the two
 * readers (zip and legacy) on top of this. */
#ifndef LG_TORCH_SAVE_H
#define LG_TORCH_SAVE_H

#include "formats/format.h"
#include "formats/pickle.h"
#include "formats/zip.h"

typedef struct {
    const char *key;            /* during open() only: into the pickle */
    size_t klen;
    uint64_t numel;             /* elements of elsize bytes */
    uint64_t nbytes;
    int dtype, elsize;          /* as first referenced */
    const char *tname;
    const lg__zip_entry *rec;   /* zip: its data/<key> record; legacy: NULL */
    const unsigned char *bytes; /* its bytes once resolved: into the map, or buf */
    unsigned char *buf;         /* an inflated copy (owned), or NULL */
    int used;                   /* a selected tensor views it */
    int crc_state;              /* zip, stored: its CRC-32 not yet checked,
                                   or found wrong (torch_zip.c) */
    uint32_t crc_got;           /* the CRC-32 its bytes gave, when wrong */
} ts_storage;

typedef struct {
    size_t storage;
    uint64_t offset;            /* bytes into the storage */
    int64_t stride[LG_MAX_DIMS];/* elements */
    int elsize;
    int contiguous;             /* row-major over [offset, offset + nbytes) */
} ts_tensor;

/* A slot of the storage table: the key's hash, and the storage's index
 * in s + 1 (0: empty). */
typedef lg__name_slot ts_slot;

typedef struct {
    int legacy;                 /* 0: zip, 1: before 1.6 */
    lg__zip zip;
    const char *prefix;         /* zip: the archive's folder, into the map */
    size_t plen;
    int big_endian;             /* zip: byteorder says big */
    ts_storage *s;
    size_t ns, scap;
    int hashed;                 /* open() only: 0 while the keys are "0", "1", ... in
                                   the order met (storage k is s[k]); then slot */
    ts_slot *slot;              /* open() only: keys by hash */
    size_t next_rec;            /* open() only: where the next storage's record may be */
    size_t nslot;
    ts_tensor *t;               /* one per c->tensors */
} ts_priv;

lg_status ts_priv_new(lg_checkpoint *c, int legacy, ts_priv **out);
/* The lg__persistent_fn of both formats; ctx is the checkpoint (c->priv a
 * ts_priv). A zip storage's record must exist and hold exactly its bytes. */
lg_status ts_persistent(void *ctx, const lg__pv *pid, lg__pv *out);
/* The storage of that key, or NULL. */
ts_storage *ts_storage_find(ts_priv *p, const char *key, size_t klen);
/* Names every tensor under root (dict keys and list indices joined with
 * '.'), keeps those under c->key, checks each view against its storage
 * and fills c->tensors and p->t. Marks the storages used. nvalues: the
 * values unpickled, which bounds the walk. */
lg_status ts_collect(lg_checkpoint *c, ts_priv *p, const lg__pv *root, size_t nvalues);
/* The longest archive folder name (a file name's stem is at most 255). */
#define PREFIX_MAX 400u

/* Zip records of both libtorch archive layouts (torch_zip.c): <prefix>/rel
 * or NULL; a record's bytes (in place when stored, else inflated into
 * *owned), its CRC-32 checked as c->crc says; the folder every record lies
 * in (the first entry's, as PyTorch's reader takes it; `writer` names who
 * puts every record in one, for the message); the byteorder record
 * (absent or "little", or "big": p->big_endian). */
const lg__zip_entry *ts_record(ts_priv *p, const char *rel);
lg_status ts_record_bytes(lg_checkpoint *c, ts_priv *p, const lg__zip_entry *e,
                          const unsigned char **bytes, unsigned char **owned);
lg_status ts_find_prefix(lg_checkpoint *c, ts_priv *p, const char *writer);
lg_status ts_read_byteorder(lg_checkpoint *c, ts_priv *p);
/* <prefix>/data.pkl unpickled into *root (its bytes in *owned when
 * inflated); `what` names the format for a missing record; defer: the
 * pickle's deferred refusals (lg__pickle_opts). */
lg_status ts_unpickle_data(lg_checkpoint *c, ts_priv *p, lg__pickle *pk, const char *what,
                           int defer, lg__pv **root, unsigned char **owned);
lg_status ts_read(lg_checkpoint *c, size_t i, void *dst);
const void *ts_bytes(lg_checkpoint *c, size_t i);
void ts_close(lg_checkpoint *c);
#endif
