/* Storages, tensors and names of torch.save checkpoints (both formats).
 *
 * The pickle holds the object that was saved: usually a dict of tensors
 * (a state_dict), perhaps nested (a training checkpoint). Each tensor is a
 * view (offset, size, stride) of a storage named by a persistent id. Here
 * the tree is walked for tensors, the views are checked against their
 * storages, and read in row-major order. See docs/torch-zip.md. */
#include "formats/torch_save.h"
#include "core/name_index.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Objects nesting deeper than this are refused (and so are cycles). */
#define TS_MAX_DEPTH 64

/* ------------------------------------------------------------- storages */

lg_status ts_priv_new(lg_checkpoint *c, int legacy, ts_priv **out)
{
    ts_priv *p = lg__calloc(1, sizeof *p);
    if (!p)
        return lg__err(LG_E_NOMEM, "%s: out of memory", c->path);
    p->legacy = legacy;
    *out = p;
    return LG_OK;
}

/* The slot holding key (hash h), or the empty slot where it would go. A
 * storage's key is compared only where the hashes agree. */
static ts_slot *slot_of(ts_priv *p, uint64_t h, const char *key, size_t klen)
{
    size_t mask = p->nslot - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        ts_slot *t = &p->slot[i];
        if (!t->k || (t->hash == h && p->s[t->k - 1].klen == klen &&
                      !memcmp(p->s[t->k - 1].key, key, klen)))
            return t;
    }
}

/* The number a storage key spells as torch.save writes its keys (decimal,
 * no sign, no leading zero, at most 18 digits); -1 for any other key. */
static int64_t key_number(const char *key, size_t n)
{
    int64_t v = 0;
    if (!n || n > 18 || (key[0] == '0' && n > 1))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (key[i] < '0' || key[i] > '9')
            return -1;
        v = v * 10 + (key[i] - '0');
    }
    return v;
}

ts_storage *ts_storage_find(ts_priv *p, const char *key, size_t klen)
{
    if (!p->hashed) { /* storage k is s[k], key "k" */
        int64_t v = key_number(key, klen);
        return v >= 0 && (uint64_t)v < p->ns ? &p->s[v] : NULL;
    }
    if (!p->nslot)
        return NULL;
    size_t k = slot_of(p, lg__name_hash(key, klen), key, klen)->k;
    return k ? &p->s[k - 1] : NULL;
}

/* Keeps the table at most half full, with room for one more key. */
static lg_status grow_slots(lg_checkpoint *c, ts_priv *p)
{
    if (2 * (p->ns + 1) <= p->nslot)
        return LG_OK;
    size_t n = p->nslot ? 2 * p->nslot : 64;
    while (n < 2 * (p->ns + 1))
        n *= 2;
    ts_slot *old = p->slot;
    size_t nold = p->nslot;
    if (!(p->slot = lg__calloc(n, sizeof *p->slot))) {
        p->slot = old;
        return lg__err(LG_E_NOMEM, "%s: out of memory indexing storages", c->path);
    }
    p->nslot = n;
    for (size_t i = 0; i < nold; i++)
        if (old[i].k) /* keys are unique in the table */
            lg__slot_place(p->slot, n, old[i]);
    free(old);
    return LG_OK;
}

/* From "0", "1", ... to keys by hash: the storages so far indexed. */
static lg_status to_hashed(lg_checkpoint *c, ts_priv *p)
{
    lg_status st = grow_slots(c, p);
    if (st != LG_OK)
        return st;
    p->hashed = 1;
    for (size_t i = 0; i < p->ns; i++) /* keys are unique */
        lg__slot_place(p->slot, p->nslot,
                       (ts_slot){lg__name_hash(p->s[i].key, p->s[i].klen), i + 1});
    return LG_OK;
}

/* A new storage; slot: the empty slot for key (with room for it), or NULL
 * while the keys are "0", "1", ... */
static lg_status add_storage(lg_checkpoint *c, ts_priv *p, ts_slot *slot, const char *key,
                             size_t klen, ts_storage **out)
{
    if (p->ns == p->scap) {
        size_t cap = p->scap ? 2 * p->scap : 16;
        ts_storage *s = lg__realloc(p->s, cap * sizeof *s);
        if (!s)
            return lg__err(LG_E_NOMEM, "%s: out of memory listing storages", c->path);
        p->s = s;
        p->scap = cap;
    }
    ts_storage *s = &p->s[p->ns++];
    memset(s, 0, sizeof *s);
    s->key = key;
    s->klen = klen;
    if (slot)
        slot->k = p->ns;
    *out = s;
    return LG_OK;
}

/* ------------------------------------------------------- persistent ids */

static int is_text(const lg__pv *v) { return v->kind == LG__PV_STR || v->kind == LG__PV_BYTES; }

static int text_is(const lg__pv *v, const char *s)
{
    return is_text(v) && v->n == strlen(s) && !memcmp(v->s, s, v->n);
}

static const char *pickle_name(const ts_priv *p) { return p->legacy ? "pickle" : "data.pkl"; }

/* The zip record data/<key> of a new storage: it must hold its bytes. */
static lg_status find_record(lg_checkpoint *c, ts_priv *p, ts_storage *s)
{
    char buf[256]; /* the usual name, "archive/data/123", without an allocation */
    size_t n = p->plen + 6 + s->klen;
    char *name = n < sizeof buf ? buf : lg__malloc(n + 1);
    if (!name)
        return lg__err(LG_E_NOMEM, "%s: out of memory", c->path);
    memcpy(name, p->prefix, p->plen);
    memcpy(name + p->plen, "/data/", 6);
    memcpy(name + p->plen + 6, s->key, s->klen);
    name[n] = '\0';
    /* torch.save writes a storage's record as it first meets it: the
     * next storage's record is most often the one after the last found */
    s->rec = lg__zip_find_hint(&p->zip, name, n, p->next_rec);
    if (s->rec)
        p->next_rec = (size_t)(s->rec - p->zip.e) + 1;
    lg_status st = LG_OK;
    if (!s->rec)
        st = lg__err(LG_E_FORMAT, "%s: storage \"%.*s\": the archive has no record %s", c->path,
                     (int)s->klen, s->key, name);
    else if (s->rec->usize != s->nbytes)
        st = lg__err(LG_E_FORMAT, "%s: record \"%s\" holds %" PRIu64 " bytes, but storage \"%.*s\" "
                     "is %" PRIu64 " elements of %s (%" PRIu64 " bytes)", c->path, name,
                     s->rec->usize, (int)s->klen, s->key, s->numel, s->tname, s->nbytes);
    if (name != buf)
        free(name);
    return st;
}

/* A storage referenced for the first time, or again (same size). */
static lg_status register_storage(lg_checkpoint *c, ts_priv *p, const lg__pv *key,
                                  uint64_t numel, const lg__pv *type, ts_storage **out)
{
    int untyped = type->i == LG__G_UNTYPED_STORAGE;
    int elsize = untyped ? 1 : type->elsize;
    if (numel > UINT64_MAX / (uint64_t)elsize)
        return lg__err(LG_E_FORMAT, "%s: storage \"%.*s\": %" PRIu64 " elements overflow 64 bits",
                       c->path, (int)key->n, key->s, numel);
    lg_status st = LG_OK;
    ts_storage *s = NULL;
    ts_slot *slot = NULL;
    uint64_t h = 0;
    if (!p->hashed) { /* the keys so far are "0", "1", ...: "k" is s[k], or the next */
        int64_t v = key_number(key->s, key->n);
        if (v >= 0 && (uint64_t)v < p->ns)
            s = &p->s[v];
        else if ((v < 0 || (uint64_t)v != p->ns) && (st = to_hashed(c, p)) != LG_OK)
            return st;
    }
    if (p->hashed) {
        if ((st = grow_slots(c, p)) != LG_OK) /* room, so that one probe finds or places it */
            return st;
        h = lg__name_hash(key->s, key->n);
        slot = slot_of(p, h, key->s, key->n);
        s = slot->k ? &p->s[slot->k - 1] : NULL;
    }
    if (s && s->nbytes != numel * (uint64_t)elsize)
        return lg__err(LG_E_FORMAT, "%s: storage \"%.*s\" is referenced as %" PRIu64 " bytes and "
                       "as %" PRIu64 " bytes", c->path, (int)key->n, key->s, s->nbytes,
                       numel * (uint64_t)elsize);
    if (s) {
        *out = s;
        return LG_OK;
    }
    if (slot)
        slot->hash = h;
    if ((st = add_storage(c, p, slot, key->s, key->n, &s)) != LG_OK)
        return st;
    s->numel = numel;
    s->nbytes = numel * (uint64_t)elsize;
    s->dtype = untyped ? LG_U8 : type->dtype;
    s->elsize = elsize;
    s->tname = untyped ? "uint8" : type->tname;
    *out = s;
    return p->legacy ? LG_OK : find_record(c, p, s);
}

/* Legacy views: (view key, offset, size) in elements of the storage. */
static lg_status legacy_view(lg_checkpoint *c, const ts_storage *s, const lg__pv *view,
                             lg__pv *out)
{
    if (view->kind == LG__PV_NONE)
        return LG_OK;
    if (view->kind != LG__PV_TUPLE || view->count != 3 || !is_text(view->items[0]) ||
        view->items[1]->kind != LG__PV_INT || view->items[2]->kind != LG__PV_INT ||
        view->items[1]->i < 0 || view->items[2]->i < 0)
        return lg__err(LG_E_FORMAT, "%s: pickle: storage \"%.*s\": view is %s, not (key, offset, "
                       "size)", c->path, (int)s->klen, s->key, lg__pv_kind_name(view->kind));
    uint64_t off = (uint64_t)view->items[1]->i, len = (uint64_t)view->items[2]->i;
    if (off > s->numel || len > s->numel - off)
        return lg__err(LG_E_FORMAT, "%s: pickle: storage \"%.*s\": view [%" PRIu64 ", +%" PRIu64
                       "] runs past its %" PRIu64 " elements", c->path, (int)s->klen, s->key,
                       off, len, s->numel);
    out->off = off * (uint64_t)s->elsize;
    out->len = len * (uint64_t)s->elsize;
    return LG_OK;
}

lg_status ts_persistent(void *ctx, const lg__pv *pid, lg__pv *out)
{
    lg_checkpoint *c = ctx;
    ts_priv *p = c->priv;
    size_t want = p->legacy ? 6 : 5;
    const lg__pv *const *a = (const lg__pv *const *)pid->items;
    if (pid->kind != LG__PV_TUPLE || pid->count != want || !text_is(a[0], "storage"))
        return lg__err(LG_E_FORMAT, "%s: %s: persistent id is %s of %zu, not ('storage', type, "
                       "key, location, size%s)", c->path, pickle_name(p),
                       lg__pv_kind_name(pid->kind), (size_t)pid->count, p->legacy ? ", view" : "");
    const lg__pv *type = a[1], *key = a[2], *numel = a[4];
    if (type->kind != LG__PV_GLOBAL || (type->i != LG__G_STORAGE &&
                                        type->i != LG__G_UNTYPED_STORAGE))
        return lg__err(LG_E_FORMAT, "%s: %s: persistent id: the storage type is %s, not a torch "
                       "storage type", c->path, pickle_name(p), lg__pv_kind_name(type->kind));
    if (!is_text(key) || !is_text(a[3]) || numel->kind != LG__PV_INT || numel->i < 0)
        return lg__err(LG_E_FORMAT, "%s: %s: persistent id: key %s, location %s and size %s "
                       "(str, str and a non-negative int expected)", c->path, pickle_name(p),
                       lg__pv_kind_name(key->kind), lg__pv_kind_name(a[3]->kind),
                       lg__pv_kind_name(numel->kind));
    ts_storage *s = NULL;
    lg_status st = register_storage(c, p, key, (uint64_t)numel->i, type, &s);
    if (st != LG_OK)
        return st;
    /* A key seen again is the storage made at its first reference, with
     * that reference's type, whatever type this one names: torch.load's
     * rule (1.13 and 2.x: loaded_storages[key] is returned as it is), so
     * a tensor over it takes the first type's dtype. */
    out->i = (int64_t)(s - p->s);
    out->dtype = s->dtype;
    out->elsize = s->elsize;
    out->tname = s->tname;
    out->off = 0;
    out->len = s->nbytes;
    return p->legacy ? legacy_view(c, s, a[5], out) : LG_OK;
}

/* -------------------------------------------------------------- naming */

typedef struct {
    char *name;            /* owned */
    const lg__pv *t;
} ts_found;

typedef struct {
    lg_checkpoint *c;
    char *path;            /* the current path */
    size_t len, cap;
    ts_found *f;
    size_t n, fcap;
    size_t visits, max_visits;
    int skipped;           /* a finding about skipped keys was added */
    size_t refused;        /* refused globals outside the key */
} walker;

static lg_status path_append(walker *w, const char *s, size_t n)
{
    size_t need = w->len + 1 + n + 1;
    if (need > w->cap) {
        size_t cap = need > 2 * w->cap ? need : 2 * w->cap;
        char *p = lg__realloc(w->path, cap);
        if (!p)
            return lg__err(LG_E_NOMEM, "%s: out of memory naming tensors", w->c->path);
        w->path = p;
        w->cap = cap;
    }
    if (w->len)
        w->path[w->len++] = '.';
    memcpy(w->path + w->len, s, n);
    w->len += n;
    w->path[w->len] = '\0';
    return LG_OK;
}

static lg_status found(walker *w, const lg__pv *t)
{
    if (w->n == w->fcap) {
        size_t cap = w->fcap ? 2 * w->fcap : 64;
        ts_found *f = lg__realloc(w->f, cap * sizeof *f);
        if (!f)
            return lg__err(LG_E_NOMEM, "%s: out of memory naming tensors", w->c->path);
        w->f = f;
        w->fcap = cap;
    }
    const char *name = w->len ? w->path : "tensor"; /* a tensor saved on its own */
    if (!(w->f[w->n].name = lg__strdup(name)))
        return lg__err(LG_E_NOMEM, "%s: out of memory naming tensors", w->c->path);
    w->f[w->n++].t = t;
    return LG_OK;
}

/* The path component for a dict key; 0 when tensors under it are skipped. */
static int key_text(const lg__pv *k, char *buf, size_t cap, const char **s, size_t *n)
{
    if (is_text(k) && !memchr(k->s, '\0', k->n)) {
        *s = k->s;
        *n = k->n;
        return 1;
    }
    if (k->kind == LG__PV_INT)
        *n = (size_t)snprintf(buf, cap, "%" PRId64, k->i);
    else if (k->kind == LG__PV_BOOL)
        *n = (size_t)snprintf(buf, cap, "%s", k->i ? "True" : "False");
    else if (k->kind == LG__PV_NONE)
        *n = (size_t)snprintf(buf, cap, "None");
    else
        return 0;
    *s = buf;
    return 1;
}

static lg_status walk(walker *w, const lg__pv *v, int depth);

static lg_status walk_child(walker *w, const char *s, size_t n, const lg__pv *v, int depth)
{
    size_t old = w->len;
    lg_status st = path_append(w, s, n);
    if (st == LG_OK)
        st = walk(w, v, depth + 1);
    w->len = old;
    if (w->path)
        w->path[old] = '\0';
    return st;
}

static lg_status walk_dict(walker *w, const lg__pv *d, int depth)
{
    char buf[32];
    for (size_t i = 0; i + 1 < d->count; i += 2) {
        const char *s;
        size_t n;
        const lg__pv *k = d->items[i];
        if (!key_text(k, buf, sizeof buf, &s, &n)) {
            if (!w->skipped++)
                lg__finding(w->c, "dict keys that are %s are skipped, with what lies under them",
                            lg__pv_kind_name(k->kind));
            continue;
        }
        lg_status st = walk_child(w, s, n, d->items[i + 1], depth);
        if (st != LG_OK)
            return st;
    }
    return LG_OK;
}

static lg_status walk_list(walker *w, const lg__pv *l, int depth)
{
    char buf[32];
    for (size_t i = 0; i < l->count; i++) {
        size_t n = (size_t)snprintf(buf, sizeof buf, "%zu", i);
        lg_status st = walk_child(w, buf, n, l->items[i], depth);
        if (st != LG_OK)
            return st;
    }
    return LG_OK;
}

#define REFUSED_FINDINGS 4

/* A refused global, deferred because a key selects part of the
 * checkpoint: its error if it lies in that part or on the way to it, a
 * finding if it lies elsewhere (the first REFUSED_FINDINGS of them). */
static lg_status refused_at(walker *w, const lg__pv *v)
{
    const char *key = w->c->key, *path = w->len ? w->path : "";
    size_t kl = key ? strlen(key) : 0;
    int inside = !key || (!strncmp(path, key, kl) && (path[kl] == '\0' || path[kl] == '.'));
    int above = key && (w->len == 0 || (!strncmp(key, path, w->len) && key[w->len] == '.'));
    if (inside || above)
        return lg__err(LG_E_FORMAT, "%s", v->msg);
    if (w->refused++ < REFUSED_FINDINGS)
        return lg__finding(w->c, "\"%s\" lies outside key \"%s\" and is not read: %s", path,
                           key, v->msg);
    return LG_OK;
}

/* Tensors and the containers that may hold them; other leaves are not
 * weights (epochs, learning rates, strings) and are ignored. */
static lg_status walk(walker *w, const lg__pv *v, int depth)
{
    if (v->kind == LG__PV_REFUSED)
        return refused_at(w, v);
    int container = v->kind == LG__PV_DICT || v->kind == LG__PV_LIST || v->kind == LG__PV_TUPLE;
    if (v->kind != LG__PV_TENSOR && !container)
        return LG_OK;
    if (++w->visits > w->max_visits)
        return lg__err(LG_E_FORMAT, "%s: %s: the object graph shares its parts too often to be "
                       "walked (more than %zu visits)", w->c->path,
                       pickle_name(w->c->priv), w->max_visits);
    if (depth > TS_MAX_DEPTH)
        return lg__err(LG_E_FORMAT, "%s: objects nest deeper than %d levels (a cycle?) at \"%.64s"
                       "...\"", w->c->path, TS_MAX_DEPTH, w->path ? w->path : "");
    if (v->kind == LG__PV_TENSOR)
        return found(w, v);
    return v->kind == LG__PV_DICT ? walk_dict(w, v, depth) : walk_list(w, v, depth);
}

/* Keeps the names under c->key ("model": model.* becomes *, and a tensor
 * named exactly "model" keeps its name). */
static void keep_key(walker *w, const char *key)
{
    size_t kl = strlen(key), k = 0;
    for (size_t i = 0; i < w->n; i++) {
        char *name = w->f[i].name;
        if (!strcmp(name, key)) {
            w->f[k++] = w->f[i];
        } else if (!strncmp(name, key, kl) && name[kl] == '.') {
            memmove(name, name + kl + 1, strlen(name + kl + 1) + 1);
            w->f[k++] = w->f[i];
        } else {
            free(name);
        }
    }
    w->n = k;
}

static lg_status key_not_found(lg_checkpoint *c, const lg__pv *root)
{
    char keys[256] = "";
    size_t u = 0;
    for (size_t i = 0; root->kind == LG__PV_DICT && i + 1 < root->count && u < 200; i += 2) {
        const lg__pv *k = root->items[i];
        if (is_text(k))
            u += (size_t)snprintf(keys + u, sizeof keys - u, "%s%.*s", u ? ", " : "",
                                  (int)(k->n > 40 ? 40 : k->n), k->s);
    }
    return lg__err(LG_E_NOTFOUND, "%s: key \"%s\": no tensor is named %s or %s.*%s%s%s", c->path,
                   c->key, c->key, c->key, u ? " (top-level keys: " : "", keys, u ? ")" : "");
}

static int name_ptr_cmp(const void *a, const void *b)
{
    return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

static lg_status check_unique(lg_checkpoint *c, ts_found *f, size_t n)
{
    if (n < 2)
        return LG_OK;
    char **s = lg__malloc(n * sizeof *s);
    char ***sp = s ? lg__malloc(n * sizeof *sp) : NULL;
    lg_status st = sp ? LG_OK : lg__err(LG_E_NOMEM, "%s: out of memory", c->path);
    for (size_t i = 0; sp && i < n; i++) {
        s[i] = f[i].name;
        sp[i] = &s[i];
    }
    if (sp)
        qsort(sp, n, sizeof *sp, name_ptr_cmp);
    for (size_t i = 1; st == LG_OK && i < n; i++)
        if (!strcmp(*sp[i - 1], *sp[i]))
            st = lg__err(LG_E_FORMAT, "%s: two tensors are named \"%s\" (a key with a '.' in it "
                         "meets a nested one?)", c->path, *sp[i]);
    free(sp);
    free(s);
    return st;
}

/* --------------------------------------------------------------- views */

static lg_status get_dims(lg_checkpoint *c, const char *name, const char *what,
                          const lg__pv *tuple, int64_t *out)
{
    for (size_t d = 0; d < tuple->count; d++) {
        const lg__pv *v = tuple->items[d];
        if (v->kind == LG__PV_INT && v->i < 0)
            return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": %s[%zu] is %" PRId64 ", not a "
                           "non-negative int", c->path, name, what, d, v->i);
        if (v->kind != LG__PV_INT)
            return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": %s[%zu] is %s, not a non-negative "
                           "int", c->path, name, what, d, lg__pv_kind_name(v->kind));
        out[d] = v->i;
    }
    return LG_OK;
}

/* The last element the view reaches: offset + sum((size - 1) * stride). */
static int view_end(const lg_tensor_info *ti, const int64_t *stride, uint64_t offset,
                    uint64_t *last)
{
    uint64_t e = offset;
    for (int d = 0; d < ti->ndim; d++) {
        uint64_t span = (uint64_t)ti->shape[d] - 1, st = (uint64_t)stride[d];
        if (st && span > UINT64_MAX / st)
            return 0;
        if (span * st > UINT64_MAX - e)
            return 0;
        e += span * st;
    }
    *last = e;
    return 1;
}

/* Whether the view is laid out row-major, each stride the product of the
 * sizes after it (sizes of 1 aside); an empty view is, as torch's
 * is_contiguous says. The sizes are not bounded here (an empty view's
 * extent is not checked): a product past int64 is no stride's. */
static int row_major(const lg_tensor_info *ti, const int64_t *stride)
{
    if (ti->nbytes == 0)
        for (int d = 0; d < ti->ndim; d++)
            if (ti->shape[d] == 0)
                return 1;
    int64_t want = 1;
    for (int d = ti->ndim; d-- > 0;) {
        if (ti->shape[d] != 1 && stride[d] != want)
            return 0;
        if (d && ti->shape[d] > INT64_MAX / want)
            return 0; /* the next stride cannot match */
        want *= ti->shape[d];
    }
    return 1;
}

static lg_status check_extent(lg_checkpoint *c, const char *name, const lg__pv *sv,
                              const lg_tensor_info *ti, const ts_tensor *tt, uint64_t off)
{
    char shape[LG_MAX_DIMS * 24 + 8];
    ts_priv *p = c->priv;
    const ts_storage *s = &p->s[tt->storage];
    uint64_t last = 0, room = sv->len / (uint64_t)tt->elsize;
    if (ti->nbytes == 0)
        return LG_OK; /* as torch: an empty view reads nothing */
    if (!view_end(ti, tt->stride, off, &last) || last >= room)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": view %s at offset %" PRIu64 " reaches "
                       "past the %" PRIu64 " elements of storage \"%.*s\"", c->path, name,
                       lg__shape_str(ti->ndim, ti->shape, shape, sizeof shape), off, room,
                       (int)s->klen, s->key);
    return LG_OK;
}

static lg_status check_view(lg_checkpoint *c, const char *name, const lg__pv *t,
                            lg_tensor_info *ti, ts_tensor *tt)
{
    char shape[LG_MAX_DIMS * 24 + 8];
    const lg__pv *sv = t->items[0], *off = t->items[1], *size = t->items[2];
    const lg__pv *stride = t->items[3], *dt = t->items[4] ? t->items[4] : sv;
    if (dt->dtype < 0)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": dtype %s is not supported (loadgate reads "
                       "float64 float32 float16 bfloat16 int64 int32 int16 int8 uint8 bool)",
                       c->path, name, dt->tname);
    if (size->count > LG_MAX_DIMS)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\" has %zu dimensions; at most %d are "
                       "supported", c->path, name, (size_t)size->count, LG_MAX_DIMS);
    if (stride->count != size->count)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": size has %zu dimensions, stride %zu",
                       c->path, name, (size_t)size->count, (size_t)stride->count);
    if (off->i < 0)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": storage offset %" PRId64 " is negative",
                       c->path, name, off->i);
    ti->dtype = (lg_dtype)dt->dtype;
    ti->ndim = (int)size->count;
    tt->elsize = dt->elsize;
    tt->storage = (size_t)sv->i;
    lg_status st = get_dims(c, name, "size", size, ti->shape);
    if (st == LG_OK)
        st = get_dims(c, name, "stride", stride, tt->stride);
    if (st != LG_OK)
        return st;
    if (!lg__nbytes(ti->dtype, ti->ndim, ti->shape, &ti->nbytes) || ti->nbytes > SIZE_MAX)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": shape %s of %s overflows", c->path, name,
                       lg__shape_str(ti->ndim, ti->shape, shape, sizeof shape), dt->tname);
    if ((st = check_extent(c, name, sv, ti, tt, (uint64_t)off->i)) != LG_OK)
        return st;
    tt->offset = sv->off + (ti->nbytes ? (uint64_t)off->i * (uint64_t)tt->elsize : 0);
    tt->contiguous = row_major(ti, tt->stride);
    return LG_OK;
}

/* ------------------------------------------------------------- publish */

static void free_found(walker *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->f[i].name);
    free(w->f);
    free(w->path);
}

static lg_status publish(lg_checkpoint *c, ts_priv *p, walker *w)
{
    size_t n = w->n;
    uint64_t claimed = 0;
    c->tensors = lg__calloc(n ? n : 1, sizeof *c->tensors);
    p->t = lg__calloc(n ? n : 1, sizeof *p->t);
    if (!c->tensors || !p->t)
        return lg__err(LG_E_NOMEM, "%s: out of memory listing %zu tensors", c->path, n);
    for (size_t i = 0; i < n; i++) {
        /* the values a tensor is read from, fetched a few tensors ahead:
         * its own value, then its five parts, then what they point to
         * (100,000 tensors' values are far larger than the caches) */
        if (i + 8 < n)
            __builtin_prefetch(w->f[i + 8].t);
        if (i + 4 < n)
            __builtin_prefetch(w->f[i + 4].t->items);
        if (i + 2 < n)
            for (int k = 0; k < 5; k++)
                if (w->f[i + 2].t->items[k])
                    __builtin_prefetch(w->f[i + 2].t->items[k]);
        lg_status st = check_view(c, w->f[i].name, w->f[i].t, &c->tensors[i], &p->t[i]);
        if (st != LG_OK)
            return st;
        c->tensors[i].name = w->f[i].name; /* owned by c->tensors from now */
        w->f[i].name = NULL;
        c->ntensors = i + 1;
        p->s[p->t[i].storage].used = 1;
        if ((st = lg__claimed_add(c->path, c->size, c->tensors[i].name, c->tensors[i].nbytes,
                                   &claimed)) != LG_OK)
            return st;
    }
    return LG_OK;
}

lg_status ts_collect(lg_checkpoint *c, ts_priv *p, const lg__pv *root, size_t nvalues)
{
    walker w = {.c = c, .max_visits = 4 * nvalues + 4096};
    lg_status st = walk(&w, root, 0);
    if (st == LG_OK && w.refused > REFUSED_FINDINGS)
        st = lg__finding(c, "%zu more refused globals lie outside key \"%s\" and are not read",
                         w.refused - REFUSED_FINDINGS, c->key);
    if (st == LG_OK && c->key)
        keep_key(&w, c->key);
    if (st == LG_OK && c->key && w.n == 0)
        st = key_not_found(c, root);
    if (st == LG_OK)
        st = check_unique(c, w.f, w.n);
    if (st == LG_OK)
        st = publish(c, p, &w);
    free_found(&w);
    return st;
}

/* ---------------------------------------------------------------- read */

/* Tensor bytes in row-major order from a strided view (ndim >= 1, at
 * least one element). */
static void gather(unsigned char *dst, const unsigned char *src, const lg_tensor_info *ti,
                   const ts_tensor *t)
{
    size_t es = (size_t)t->elsize;
    int nd = ti->ndim;
    int64_t idx[LG_MAX_DIMS] = {0};
    uint64_t inner = (uint64_t)ti->shape[nd - 1], outer = ti->nbytes / es / inner;
    uint64_t istep = (uint64_t)t->stride[nd - 1] * es;
    for (uint64_t o = 0; o < outer; o++) {
        uint64_t off = 0;
        for (int d = 0; d < nd - 1; d++)
            off += (uint64_t)idx[d] * (uint64_t)t->stride[d] * es;
        for (uint64_t j = 0; j < inner; j++, dst += es)
            memcpy(dst, src + off + j * istep, es);
        for (int d = nd - 2; d >= 0 && ++idx[d] == ti->shape[d]; d--)
            idx[d] = 0;
    }
}

static void byteswap(unsigned char *p, uint64_t n, size_t es)
{
    for (uint64_t i = 0; i + es <= n; i += es)
        for (size_t a = 0, b = es - 1; a < b; a++, b--) {
            unsigned char x = p[i + a];
            p[i + a] = p[i + b];
            p[i + b] = x;
        }
}

lg_status ts_read(lg_checkpoint *c, size_t i, void *dst)
{
    ts_priv *p = c->priv;
    const lg_tensor_info *ti = &c->tensors[i];
    const ts_tensor *t = &p->t[i];
    if (ti->nbytes == 0)
        return LG_OK;
    const unsigned char *src = p->s[t->storage].bytes + t->offset;
    if (t->contiguous && !(p->big_endian && t->elsize > 1))
        lg__copy_observed(c, i, dst, src, ti->nbytes, NULL);
    else if (t->contiguous)
        memcpy(dst, src, (size_t)ti->nbytes);
    else if (ti->ndim == 0)
        memcpy(dst, src, (size_t)t->elsize);
    else
        gather(dst, src, ti, t);
    if (p->big_endian && t->elsize > 1)
        byteswap(dst, ti->nbytes, (size_t)t->elsize);
    return LG_OK;
}

const void *ts_bytes(lg_checkpoint *c, size_t i)
{
    ts_priv *p = c->priv;
    const ts_tensor *t = &p->t[i];
    if (!t->contiguous || (p->big_endian && t->elsize > 1))
        return NULL;
    return p->s[t->storage].bytes + t->offset;
}

void ts_close(lg_checkpoint *c)
{
    ts_priv *p = c->priv;
    lg__checkpoint_free_tensors(c);
    if (!p)
        return;
    for (size_t i = 0; i < p->ns; i++)
        free(p->s[i].buf);
    free(p->s);
    free(p->slot);
    free(p->t);
    lg__zip_close(&p->zip);
    free(p);
    c->priv = NULL;
}
