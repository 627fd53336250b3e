/* torchscript-data: the tensors of a TorchScript archive (torch.jit.save,
 * and libtorch's OutputArchive .ot files, which are TorchScript archives
 * too), read natively: no libtorch, and nothing in the file is ever run.
 *
 * Only <prefix>/data.pkl and the <prefix>/data/<key> records its
 * persistent ids name are read; code/, constants.pkl and the rest are
 * ignored. data.pkl is the module tree: objects of __torch__.* classes,
 * each an empty NEWOBJ (or REDUCE) given a dict of attributes by BUILD.
 * The restricted unpickler makes them inert values (lg__pickle_allow_script_objects); an
 * object whose state is not a dict (a class with __setstate__) is refused.
 * Every tensor attribute is named by its dotted path from the root
 * ("fc.weight"), in the order of the pickled dicts (torch_save.c's walk).
 *
 * checkpoint.c picks this reader for a libtorch-layout zip unless the
 * checkpoint is opened with the torch backend (then libtorch's own
 * readers, torch_archive.c). docs/torch-zip.md holds the rules. */
#include "formats/torch_save.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Never by magic bytes: checkpoint.c turns a torch-archive sniff into
 * this reader when libtorch will not read the file. */
static int sd_sniff(const unsigned char *head, size_t n, uint64_t size) { return 0; }

/* The root of data.pkl must be a module: a __torch__ object whose state
 * was set (a DICT naming its class). */
static lg_status check_root(lg_checkpoint *c, const lg__pv *root)
{
    if (root->kind == LG__PV_DICT && root->s2)
        return LG_OK;
    if (root->kind == LG__PV_SCRIPT)
        return lg__err(LG_E_FORMAT, "%s: data.pkl: the module %.*s.%.*s is never given its "
                       "attributes (no BUILD)", c->path, (int)root->n, root->s, (int)root->n2,
                       root->s2);
    return lg__err(LG_E_FORMAT, "%s: data.pkl holds %s, not a TorchScript module (an object of "
                   "a __torch__ class)", c->path, lg__pv_kind_name(root->kind));
}

static lg_status unpickle(lg_checkpoint *c, ts_priv *p, lg__pickle *pk, lg__pv **root,
                          unsigned char **owned)
{
    lg_status st = ts_unpickle_data(c, p, pk, "a TorchScript archive", 0, root, owned);
    return st == LG_OK ? check_root(c, *root) : st;
}

/* Every storage a tensor views: its bytes, in place when stored (CRC-32
 * checked here, once), inflated otherwise. */
static lg_status resolve_storages(lg_checkpoint *c, ts_priv *p)
{
    lg_status st = LG_OK;
    for (size_t i = 0; st == LG_OK && i < p->ns; i++) {
        ts_storage *s = &p->s[i];
        if (s->used)
            st = ts_record_bytes(c, p, s->rec, &s->bytes, &s->buf);
    }
    return st;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* tch writes a dotted name into an .ot with '|' for '.' (an archive key
 * cannot hold a '.'), and libtorch's readers turn it back: so do these
 * names. Two names that become one are an error. */
static lg_status undo_pipes(lg_checkpoint *c)
{
    int any = 0;
    for (size_t i = 0; i < c->ntensors; i++)
        for (char *q = (char *)c->tensors[i].name; *q; q++)
            if (*q == '|')
                *q = '.', any = 1;
    if (!any || c->ntensors < 2)
        return LG_OK;
    const char **v = lg__malloc(c->ntensors * sizeof *v);
    if (!v)
        return lg__err(LG_E_NOMEM, "%s: out of memory", c->path);
    for (size_t i = 0; i < c->ntensors; i++)
        v[i] = c->tensors[i].name;
    qsort(v, c->ntensors, sizeof *v, name_cmp);
    lg_status st = LG_OK;
    for (size_t i = 1; st == LG_OK && i < c->ntensors; i++)
        if (!strcmp(v[i - 1], v[i]))
            st = lg__err(LG_E_FORMAT, "%s: two tensors are named \"%s\" once '|' is read as "
                         "'.'", c->path, v[i]);
    free(v);
    return st;
}

static lg_status read_all(lg_checkpoint *c, ts_priv *p, lg__pickle *pk)
{
    unsigned char *pkl = NULL;
    lg__pv *root = NULL;
    lg_status st = lg__zip_open(&p->zip, c->path, c->map, c->size);
    if (st == LG_OK)
        st = ts_find_prefix(c, p, "a TorchScript archive");
    if (st == LG_OK)
        st = ts_read_byteorder(c, p);
    if (st == LG_OK)
        st = unpickle(c, p, pk, &root, &pkl);
    if (st == LG_OK)
        st = ts_collect(c, p, root, lg__pickle_count(pk));
    if (st == LG_OK)
        st = undo_pipes(c);
    free(pkl); /* the pickle's strings die here: storage keys are not used after open */
    if (st == LG_OK)
        st = resolve_storages(c, p);
    return st;
}

static lg_status sd_open(lg_checkpoint *c)
{
    ts_priv *p = NULL;
    lg__pickle *pk = NULL;
    if (lg__fault("format.parse", NULL))
        return lg__err(LG_E_FORMAT, "%s: injected parse failure", c->path);
    lg_status st = ts_priv_new(c, 0, &p);
    if (st != LG_OK)
        return st;
    c->priv = p;
    st = lg__pickle_new(&pk);
    if (st == LG_OK) {
        lg__pickle_allow_script_objects(pk);
        lg__pickle_set_budget(pk, lg__pickle_budget(c->size));
        st = read_all(c, p, pk);
    }
    lg__pickle_free(pk);
    free(p->slot);
    p->slot = NULL;
    p->nslot = 0;
    if (st != LG_OK)
        ts_close(c);
    return st;
}

const lg__reader_ops lg__torchscript_data_reader = {
    .name = "torchscript-data",
    .sniff = sd_sniff,
    .open = sd_open,
    .read = ts_read,
    .deserialize = NULL,
    .bytes = ts_bytes,
    .close = ts_close,
    .takes_key = 1,
};
