/* libFuzzer target: the safetensors reader, with a mutator that changes
 * the JSON header as JSON.
 *
 * The checks are fuzz_safetensors.c's, included whole: open by magic bytes
 * and forced, every tensor inside the file and read back, an accepted file
 * loaded into a sim store on mps. What differs is LLVMFuzzerCustomMutator:
 * it parses the header with jansson, changes one value of the tree (a
 * number to a boundary or a near one, a string to a dtype or a name, an
 * array grown, shrunk or swapped, a member renamed, duplicated under a new
 * key, dropped or retyped), writes the header back (its length field
 * recomputed, padded with spaces as writers do, or not) and keeps the data
 * section. So most inputs are well-formed JSON whose meaning is wrong, the
 * part of the input space byte mutations rarely reach. An input whose
 * header does not parse, and one in ten that does, gets libFuzzer's own
 * byte mutation instead.
 *
 * Seeds: fuzz/corpus/safetensors_json; dictionary: fuzz/safetensors.dict. */
#include "fuzz_safetensors.c"

#include <jansson.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

static uint64_t rng_state;

static uint64_t rnd(uint64_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return n ? rng_state % n : 0;
}

static uint64_t rd_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Every value of the tree, with the object and key (or array and index)
 * that hold it; root first. */
typedef struct {
    json_t *v, *parent;
    const char *key; /* into parent's key storage */
    size_t index;
} node;

typedef struct {
    node *n;
    size_t count, cap;
} nodes;

static void collect(nodes *ns, json_t *v, json_t *parent, const char *key, size_t index)
{
    if (ns->count == ns->cap) {
        ns->cap = ns->cap ? 2 * ns->cap : 64;
        ns->n = realloc(ns->n, ns->cap * sizeof *ns->n);
        CHECK(ns->n);
    }
    ns->n[ns->count++] = (node){v, parent, key, index};
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) collect(ns, x, v, k, 0);
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            collect(ns, json_array_get(v, i), v, NULL, i);
    }
}

static const char *const dtypes[] = {
    "F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "U16", "U32", "U64",
    "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "C64", "", "f32", "F32 ", "\xff"};
static const char *const words[] = {"dtype", "shape", "data_offsets", "__metadata__", "format",
                                    "pt", "a", "", "a.b.c", "\\u0000", "w\nx"};

static json_int_t boundary(json_int_t was, uint64_t data_size)
{
    static const json_int_t b[] = {0, 1, -1, 2, 7, 8, 255, 256, 65535, 1LL << 31, (1LL << 31) - 1,
                                   1LL << 32, 1LL << 53, 1LL << 62, INT64_MAX, INT64_MIN};
    switch (rnd(4)) {
    case 0:
        return b[rnd(sizeof b / sizeof b[0])];
    case 1: /* unsigned: wraps instead of overflowing */
        return (json_int_t)((uint64_t)was + rnd(17) - 8);
    case 2:
        return (json_int_t)(data_size + rnd(9) - 4);
    default:
        return (json_int_t)((uint64_t)was * 2);
    }
}

static json_t *random_value(uint64_t data_size)
{
    switch (rnd(7)) {
    case 0: return json_null();
    case 1: return json_true();
    case 2: return json_integer(boundary(0, data_size));
    case 3: return json_real(rnd(2) ? 1e300 : -0.5);
    case 4: return json_string(dtypes[rnd(sizeof dtypes / sizeof dtypes[0])]);
    case 5: return json_array();
    default: return json_object();
    }
}

/* Puts nv where n.v is (nv's reference is taken). */
static void replace(const node *n, json_t *nv)
{
    if (!nv)
        return;
    if (json_is_object(n->parent))
        json_object_set_new(n->parent, n->key, nv);
    else
        json_array_set_new(n->parent, n->index, nv);
}

static void mutate_container(json_t *v, uint64_t data_size)
{
    if (json_is_array(v)) {
        size_t k = json_array_size(v);
        switch (rnd(4)) {
        case 0:
            json_array_append_new(v, k && rnd(2) ? json_copy(json_array_get(v, rnd(k)))
                                                : json_integer(boundary(0, data_size)));
            break;
        case 1:
            if (k)
                json_array_remove(v, rnd(k));
            break;
        case 2:
            if (k > 1) {
                size_t i = rnd(k), j = rnd(k);
                json_t *a = json_incref(json_array_get(v, i));
                json_array_set(v, i, json_array_get(v, j));
                json_array_set_new(v, j, a);
            }
            break;
        default:
            json_array_clear(v);
        }
        return;
    }
    char key[32];
    snprintf(key, sizeof key, "%s%u", words[rnd(sizeof words / sizeof words[0])],
             (unsigned)rnd(4));
    void *it = json_object_iter(v);
    if (it && rnd(2)) { /* copy a member under a new key (another tensor, mostly) */
        for (uint64_t skip = rnd(json_object_size(v)); skip-- && json_object_iter_next(v, it);)
            it = json_object_iter_next(v, it);
        json_object_set_new(v, key, json_deep_copy(json_object_iter_value(it)));
    } else if (it && rnd(2)) {
        json_object_del(v, json_object_iter_key(it));
    } else {
        json_object_set_new(v, key, random_value(data_size));
    }
}

static void mutate_node(const node *n, uint64_t data_size)
{
    json_t *v = n->v;
    if (n->parent && rnd(8) == 0) {
        replace(n, random_value(data_size));
    } else if (n->parent && n->key && rnd(8) == 0) { /* rename the member */
        char key[64], old[64];
        snprintf(old, sizeof old, "%s", n->key);
        snprintf(key, sizeof key, "%.40s%s", n->key, words[rnd(sizeof words / sizeof words[0])]);
        json_object_set(n->parent, key, v);
        if (strcmp(key, old))
            json_object_del(n->parent, old);
    } else if (json_is_integer(v)) {
        json_integer_set(v, boundary(json_integer_value(v), data_size));
    } else if (json_is_real(v)) {
        json_real_set(v, json_real_value(v) * -2);
    } else if (json_is_string(v)) {
        json_string_set(v, rnd(2) ? dtypes[rnd(sizeof dtypes / sizeof dtypes[0])]
                                  : words[rnd(sizeof words / sizeof words[0])]);
    } else if (json_is_array(v) || json_is_object(v)) {
        mutate_container(v, data_size);
    } else if (n->parent) {
        replace(n, random_value(data_size));
    }
}

/* Writes header + data back into buf; 0 when it does not fit. */
static size_t rebuild(uint8_t *buf, size_t max_size, const char *header, const uint8_t *body,
                      size_t body_size)
{
    size_t hn = strlen(header), pad = rnd(2) ? (8 - hn % 8) % 8 : 0;
    if (8 + hn + pad + body_size > max_size)
        return 0;
    uint64_t len = hn + pad;
    memmove(buf + 8 + hn + pad, body, body_size);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(len >> (8 * i));
    memcpy(buf + 8, header, hn);
    memset(buf + 8 + hn, ' ', pad);
    return 8 + hn + pad + body_size;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    rng_state = (uint64_t)seed * 0x9e3779b97f4a7c15u + 1;
    if (size < 8 || rnd(10) == 0)
        return LLVMFuzzerMutate(data, size, max_size);
    uint64_t hlen = rd_le64(data);
    if (hlen > size - 8)
        return LLVMFuzzerMutate(data, size, max_size);
    json_t *root = json_loadb((const char *)data + 8, (size_t)hlen, JSON_DISABLE_EOF_CHECK, NULL);
    if (!root)
        return LLVMFuzzerMutate(data, size, max_size);
    size_t body_size = size - 8 - (size_t)hlen;
    for (uint64_t k = 1 + rnd(3); k--;) { /* one to three changes, each on a fresh walk */
        nodes ns = {0};
        collect(&ns, root, NULL, NULL, 0);
        mutate_node(&ns.n[rnd(ns.count)], body_size);
        free(ns.n);
    }
    char *header = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(root);
    uint8_t *body = malloc(body_size + 1);
    CHECK(body);
    memcpy(body, data + 8 + hlen, body_size);
    size_t out = header ? rebuild(data, max_size, header, body, body_size) : 0;
    free(header);
    free(body);
    return out ? out : LLVMFuzzerMutate(data, size, max_size);
}
