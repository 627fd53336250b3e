/* libFuzzer target: the restricted unpickler alone (src/formats/pickle.c).
 *
 * Each input is one pickle, read by lg__pickle_load as torch_save.c calls
 * it: with a persistent-id callback that checks the id's shape as
 * ts_persistent does ('storage', type, key, location, size) and returns a
 * storage, and once with refusals deferred (a key selects part of the
 * file) and once without. Whatever the bytes, the load must end classified
 * (LG_OK with a root value, or an error code in range with a message), and
 * the value tree must be walkable: every kind in range, every item
 * non-NULL. The walk is bounded in values and depth (shared values make
 * a tree a DAG whose walk may be exponential, and a container may hold
 * itself; the reader bounds what it builds, not how a caller walks it). Anything else aborts, which libFuzzer reports as
 * a crash.
 *
 * Seeds: fuzz/corpus/pickle (the data.pkl records of the reference files,
 * and the pickles of the legacy ones); dictionary: fuzz/pickle.dict. */
#include "formats/pickle.h"
#include "loadgate/loadgate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_pickle: %s:%d: %s failed (%s)\n", __FILE__, __LINE__,     \
                    #cond, lg_error_message());                                           \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static int is_text(const lg__pv *v, const char *s)
{
    return v->kind == LG__PV_STR && v->n == strlen(s) && !memcmp(v->s, s, v->n);
}

/* The checks of ts_persistent on the id's shape; the storage is 16
 * elements of the type's dtype. */
static lg_status persistent(void *ctx, const lg__pv *pid, lg__pv *out)
{
    (void)ctx;
    if (pid->kind != LG__PV_TUPLE || pid->count != 5 || !is_text(pid->items[0], "storage"))
        return lg__err(LG_E_FORMAT, "fuzz: persistent id is not ('storage', ...)");
    const lg__pv *type = pid->items[1], *numel = pid->items[4];
    if (type->kind != LG__PV_GLOBAL ||
        (type->i != LG__G_STORAGE && type->i != LG__G_UNTYPED_STORAGE))
        return lg__err(LG_E_FORMAT, "fuzz: persistent id: not a storage type");
    if (numel->kind != LG__PV_INT || numel->i < 0 || numel->i > (1 << 20))
        return lg__err(LG_E_FORMAT, "fuzz: persistent id: bad size");
    int untyped = type->i == LG__G_UNTYPED_STORAGE;
    out->i = 0;
    out->dtype = untyped ? LG_U8 : type->dtype;
    out->elsize = untyped ? 1 : type->elsize;
    out->tname = untyped ? "uint8" : type->tname;
    out->off = 0;
    out->len = (uint64_t)numel->i * (uint64_t)out->elsize;
    return LG_OK;
}

/* Visits at most *budget values, at most 1,000 deep (a list may hold
 * itself: APPEND of a memo get); checks each one's kind and items. */
static void walk(const lg__pv *v, size_t *budget, int depth)
{
    if (*budget == 0 || depth > 1000)
        return;
    (*budget)--;
    CHECK(v != NULL);
    CHECK(v->kind >= LG__PV_NONE && v->kind <= LG__PV_REFUSED);
    CHECK(lg__pv_kind_name(v->kind) != NULL);
    if (v->kind == LG__PV_REFUSED)
        CHECK(v->msg && v->msg[0]);
    if (v->kind == LG__PV_STR || v->kind == LG__PV_BYTES)
        CHECK(v->n == 0 || v->s != NULL);
    CHECK(v->count <= v->cap || v->items == NULL);
    for (size_t i = 0; i < v->count && *budget; i++) {
        if (v->kind == LG__PV_TENSOR && !v->items[i])
            continue; /* a tensor's dtype slot may be NULL */
        walk(v->items[i], budget, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int defer = 0; defer < 2; defer++) {
        lg__pickle *pk;
        CHECK(lg__pickle_new(&pk) == LG_OK);
        lg__pickle_opts o = {"fuzz.pt", "record \"archive/data.pkl\"", persistent, NULL, 0, defer};
        lg__pv *root = NULL;
        size_t used = 0;
        lg_error_clear();
        lg_status st = lg__pickle_load(pk, data, size, &o, &root, &used);
        if (st != LG_OK) {
            CHECK(st > LG_OK && st < LG_STATUS_COUNT);
            CHECK(lg_error_message()[0] != '\0');
        } else {
            CHECK(root != NULL);
            CHECK(used >= 1 && used <= size);
            size_t budget = 1u << 16;
            walk(root, &budget, 0);
        }
        lg__pickle_free(pk);
    }
    return 0;
}
