/* The native safetensors reader.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * (an object: tensor name -> {dtype, shape, data_offsets}, plus an optional
 * "__metadata__" map of strings), then the data section. Every number in
 * the header is checked against the file before it is used, in the order
 * the reference implementation (huggingface/safetensors, tensor.rs) checks
 * it; docs/safetensors.md lists the rules and the decisions taken where
 * the written spec and the reference differ.
 *
 * The JSON is read by yyjson (third_party/yyjson, docs/dependencies.md):
 * one pass, one allocation for the whole tree, and every allocation through
 * lg__malloc, so that running out of memory here is an error like any
 * other. yyjson does not refuse duplicate keys or a \u0000 inside a
 * string; the checks below do (docs/safetensors.md says why). */
#include "formats/format.h"

#include "core/name_index.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <yyjson.h>

/* Tensor bytes are handed out as they lie in the file, and the format
 * stores them little-endian. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && \
    __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the safetensors reader assumes a little-endian host"
#endif

/* The reference implementation's MAX_HEADER_SIZE. */
#define ST_MAX_HEADER 100000000u
/* Bytes of the header length field. */
#define ST_PREFIX 8u
/* The smallest header: "{}". */
#define ST_MIN_HEADER 2u
#define ST_METADATA "__metadata__"

typedef struct {
    uint64_t begin, end; /* data_offsets, relative to the data section */
} st_range;

typedef struct {
    lg_tensor_info info; /* info.name is owned (lg__strdup) */
    const char *dtype_name;
    st_range r;
} st_entry;

typedef struct {
    uint64_t data_start; /* file offset of the data section: 8 + N */
    st_range *ranges;    /* in c->tensors order */
} st_priv;

/* ------------------------------------------------------------- helpers */

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int is_json_space(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static const char *json_kind(yyjson_val *v)
{
    switch (yyjson_get_type(v)) {
    case YYJSON_TYPE_OBJ: return "an object";
    case YYJSON_TYPE_ARR: return "an array";
    case YYJSON_TYPE_STR: return "a string";
    case YYJSON_TYPE_NUM: return yyjson_is_real(v) ? "a real number" : "an integer";
    case YYJSON_TYPE_RAW: return "a number too big for 64 bits";
    case YYJSON_TYPE_BOOL: return yyjson_get_bool(v) ? "true" : "false";
    default: return "null";
    }
}

/* A name and its length, for text_is. */
#define ST_NAME(name) name, sizeof name - 1
#define ST_DTYPE(name, dtype) {ST_NAME(name), dtype}
static const struct {
    const char *name;
    size_t len;
    lg_dtype dtype;
} st_dtypes[] = {
    ST_DTYPE("F64", LG_F64), ST_DTYPE("F32", LG_F32), ST_DTYPE("F16", LG_F16),
    ST_DTYPE("BF16", LG_BF16), ST_DTYPE("I64", LG_I64), ST_DTYPE("I32", LG_I32),
    ST_DTYPE("I16", LG_I16), ST_DTYPE("I8", LG_I8), ST_DTYPE("U8", LG_U8),
    ST_DTYPE("BOOL", LG_BOOL),
};
#undef ST_DTYPE

/* An entry's keys, each once: entry_fields' fields[] in this order. */
static const struct {
    const char *name;
    size_t len;
} st_fields[] = {{ST_NAME("dtype")}, {ST_NAME("shape")}, {ST_NAME("data_offsets")}};
#define ST_NFIELDS (sizeof st_fields / sizeof st_fields[0])

/* Dtypes the format defines that loadgate cannot hold. */
static const char *const st_unsupported[] = {
    "F8_E5M2", "F8_E4M3", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "U16", "U32", "U64", "C64",
};

/* ----------------------------------------------------------- the prefix */

/* The header length and its bounds, in the reference's order. */
static lg_status check_prefix(const lg_checkpoint *c, uint64_t *header_len)
{
    if (c->size < ST_PREFIX)
        return lg__err(LG_E_FORMAT, "%s: file is %" PRIu64 " bytes, too small for the "
                       "8-byte safetensors header length", c->path, c->size);
    uint64_t n = le64(c->map);
    if (n > ST_MAX_HEADER)
        return lg__err(LG_E_FORMAT, "%s: header length %" PRIu64 " exceeds the safetensors "
                       "limit of %u bytes", c->path, n, ST_MAX_HEADER);
    if (n > c->size - ST_PREFIX)
        return lg__err(LG_E_FORMAT, "%s: header length %" PRIu64 " runs past the end of the "
                       "file (size %" PRIu64 ")", c->path, n, c->size);
    if (n < ST_MIN_HEADER)
        return lg__err(LG_E_FORMAT, "%s: header length %" PRIu64 " is too small for a JSON "
                       "object (at least 2 bytes, \"{}\")", c->path, n);
    if (c->map[ST_PREFIX] != '{')
        return lg__err(LG_E_FORMAT, "%s: header must begin with '{' but begins with byte "
                       "0x%02x", c->path, c->map[ST_PREFIX]);
    *header_len = n;
    return LG_OK;
}

/* ------------------------------------------------------------- the JSON */

/* The header, parsed. yyjson reads a copy of it in place, so that every
 * string lies in `text` at the offset where the file's header has it:
 * messages can then say where a duplicate or a NUL is. */
typedef struct {
    const lg_checkpoint *c;
    const unsigned char *orig; /* the header as it lies in the file */
    size_t n;
    char *text;                /* its copy: n bytes and yyjson's padding */
    yyjson_doc *doc;
} st_json;

static void *yy_malloc(void *ctx, size_t n)
{
    (void)ctx;
    return lg__malloc(n);
}

static void *yy_realloc(void *ctx, void *p, size_t old, size_t n)
{
    (void)ctx;
    (void)old;
    return lg__realloc(p, n);
}

static void yy_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static const yyjson_alc st_alc = {yy_malloc, yy_realloc, yy_free, NULL};

/* Line and column (from 1, in bytes) of header offset pos. */
static void locate(const unsigned char *h, size_t pos, size_t *line, size_t *col)
{
    size_t l = 1, from = 0;
    for (size_t i = 0; i < pos; i++) {
        if (h[i] == '\n') {
            l++;
            from = i + 1;
        }
    }
    *line = l;
    *col = pos - from + 1;
}

/* Header offset of a string's opening quote. */
static size_t string_at(const st_json *j, yyjson_val *s)
{
    return (size_t)(yyjson_get_str(s) - j->text) - 1;
}

/* A string as written in the file, quotes included: its length from the
 * opening quote at `at`. An unescaped '"' cannot occur inside a string. */
static int written_len(const st_json *j, size_t at)
{
    size_t i = at + 1;
    while (i < j->n && j->orig[i] != '"')
        i += j->orig[i] == '\\' ? 2 : 1;
    return (int)((i < j->n ? i + 1 : j->n) - at);
}

static lg_status json_failure(const st_json *j, const yyjson_read_err *e)
{
    size_t pos = e->pos < j->n ? e->pos : j->n, line, col;
    const lg_checkpoint *c = j->c;
    locate(j->orig, pos, &line, &col);
    if (e->code == YYJSON_READ_ERROR_MEMORY_ALLOCATION)
        return lg__err(LG_E_NOMEM, "%s: out of memory parsing the header", c->path);
    if (e->code == YYJSON_READ_ERROR_INVALID_STRING && pos < j->n && j->orig[pos] >= 0x80)
        return lg__err(LG_E_FORMAT, "%s: header is not valid UTF-8: byte 0x%02x at header "
                       "offset %zu (line %zu, column %zu)", c->path, j->orig[pos], pos, line,
                       col);
    if (e->code == YYJSON_READ_ERROR_UNEXPECTED_CONTENT && pos < j->n && j->orig[pos] == '\0')
        return lg__err(LG_E_FORMAT, "%s: header is not valid JSON: NUL byte at header offset "
                       "%zu after the object (padding must be spaces)", c->path, pos);
    return lg__err(LG_E_FORMAT, "%s: header is not valid JSON: %s at header offset %zu "
                   "(line %zu, column %zu)", c->path, e->msg, pos, line, col);
}

static lg_status parse_header(const lg_checkpoint *c, uint64_t n, st_json *j)
{
    *j = (st_json){.c = c, .orig = c->map + ST_PREFIX, .n = (size_t)n};
    if (!(j->text = lg__malloc(j->n + YYJSON_PADDING_SIZE)))
        return lg__err(LG_E_NOMEM, "%s: out of memory parsing the header", c->path);
    memcpy(j->text, j->orig, j->n);
    memset(j->text + j->n, 0, YYJSON_PADDING_SIZE);
    yyjson_read_err e;
    /* A number past 64 bits is kept as its text, for the message. */
    j->doc = yyjson_read_opts(j->text, j->n, YYJSON_READ_INSITU | YYJSON_READ_BIGNUM_AS_RAW,
                              &st_alc, &e);
    /* check_prefix() saw '{' first, so the value is an object. */
    return j->doc ? LG_OK : json_failure(j, &e);
}

static void free_header(st_json *j)
{
    yyjson_doc_free(j->doc);
    free(j->text);
    j->doc = NULL;
    j->text = NULL;
}

/* A string's text, or NULL when it holds a NUL (written \u0000): no name,
 * key or dtype may. */
static const char *text_of(yyjson_val *s)
{
    const char *t = yyjson_get_str(s);
    return strlen(t) == yyjson_get_len(s) ? t : NULL;
}

/* Is string s the len bytes of name? By its length first, then its bytes
 * (an entry's keys and dtype are looked at 100,000 times in a file of as
 * many tensors). A string that is holds no NUL. */
static int text_is(yyjson_val *s, const char *name, size_t len)
{
    return yyjson_get_len(s) == len && !memcmp(yyjson_get_str(s), name, len);
}

static lg_status nul_in_string(const st_json *j, yyjson_val *s)
{
    size_t at = string_at(j, s), line, col;
    locate(j->orig, at, &line, &col);
    return lg__err(LG_E_FORMAT, "%s: header is not valid: the string at header offset %zu "
                   "(line %zu, column %zu) holds a NUL character (\\u0000)", j->c->path, at,
                   line, col);
}

/* `what` is "tensor name" or "key"; the key is quoted as written. */
static lg_status duplicate(const st_json *j, yyjson_val *key, const char *what)
{
    size_t at = string_at(j, key), line, col;
    int len = written_len(j, at);
    locate(j->orig, at + (size_t)len, &line, &col);
    return lg__err(LG_E_FORMAT, "%s: duplicate %s %.*s in the header (line %zu, column %zu)",
                   j->c->path, what, len, (const char *)j->orig + at, line, col);
}

/* ------------------------------------------------------------ __metadata__ */

static const char *key_at(const void *ctx, size_t i)
{
    return ((const char *const *)ctx)[i];
}

/* A map of strings; its keys unique (found by hash, so that a header of
 * a million keys is read in linear time). */
static lg_status check_metadata(const st_json *j, yyjson_val *meta)
{
    const lg_checkpoint *c = j->c;
    if (!yyjson_is_obj(meta))
        return lg__err(LG_E_FORMAT, "%s: \"" ST_METADATA "\" is %s, not a map of strings",
                       c->path, json_kind(meta));
    size_t i, max, n = 0;
    yyjson_val *key, *v;
    const char **keys = lg__calloc(yyjson_obj_size(meta), sizeof *keys);
    lg__name_index ix = {0};
    lg_status st = LG_OK;
    if (!keys)
        return lg__err(LG_E_NOMEM, "%s: out of memory", c->path);
    lg__index_reserve(&ix, yyjson_obj_size(meta));
    yyjson_obj_foreach(meta, i, max, key, v) {
        const char *k = keys[n] = text_of(key);
        if (!k)
            st = nul_in_string(j, key);
        else if (lg__index_insert(&ix, key_at, keys) != (size_t)-1)
            st = duplicate(j, key, "key");
        else if (!yyjson_is_str(v))
            st = lg__err(LG_E_FORMAT, "%s: \"" ST_METADATA "\": value of \"%s\" is %s, "
                         "not a string", c->path, k, json_kind(v));
        else if (!text_of(v))
            st = nul_in_string(j, v);
        if (st != LG_OK)
            break;
        n++;
    }
    lg__index_free(&ix);
    free(keys);
    return st;
}

/* ----------------------------------------------------------- one tensor */

static lg_status parse_dtype(const st_json *j, const char *name, yyjson_val *v, st_entry *t)
{
    const lg_checkpoint *c = j->c;
    if (!yyjson_is_str(v))
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": dtype is %s, not a string", c->path,
                       name, json_kind(v));
    const char *s = text_of(v);
    if (!s)
        return nul_in_string(j, v);
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++) {
        if (text_is(v, st_dtypes[i].name, st_dtypes[i].len)) {
            t->info.dtype = st_dtypes[i].dtype;
            t->dtype_name = st_dtypes[i].name;
            return LG_OK;
        }
    }
    for (size_t i = 0; i < sizeof st_unsupported / sizeof st_unsupported[0]; i++) {
        if (!strcmp(s, st_unsupported[i]))
            return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": unsupported dtype \"%s\" (loadgate "
                           "reads F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)", c->path, name, s);
    }
    return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": unknown dtype \"%s\"", c->path, name, s);
}

/* A JSON value that must be an integer from 0 to 2^63 - 1 (a shape is
 * int64 in libtorch); `what` names it. */
static lg_status get_count(const lg_checkpoint *c, const char *name, const char *what,
                           size_t idx, yyjson_val *v, uint64_t *out)
{
    if (yyjson_is_sint(v) && yyjson_get_sint(v) == 0) /* yyjson's -0; serde_json's -0.0 */
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": %s[%zu] is -0, not a non-negative "
                       "integer (the reference reads -0 as a float)", c->path, name, what, idx);
    if (yyjson_is_sint(v))
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": %s[%zu] is %" PRId64 ", not a "
                       "non-negative integer", c->path, name, what, idx, yyjson_get_sint(v));
    if (yyjson_is_uint(v) && yyjson_get_uint(v) > INT64_MAX)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": %s[%zu] is %" PRIu64 ", more than "
                       "2^63 - 1", c->path, name, what, idx, yyjson_get_uint(v));
    if (yyjson_is_raw(v))
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": %s[%zu] is %s, a number too big for "
                       "64 bits", c->path, name, what, idx, yyjson_get_raw(v));
    if (!yyjson_is_uint(v))
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": %s[%zu] is %s, not a non-negative "
                       "integer", c->path, name, what, idx, json_kind(v));
    *out = yyjson_get_uint(v);
    return LG_OK;
}

static lg_status parse_shape(const lg_checkpoint *c, const char *name, yyjson_val *v,
                             st_entry *t)
{
    if (!yyjson_is_arr(v))
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": shape is %s, not an array", c->path,
                       name, json_kind(v));
    size_t nd = yyjson_arr_size(v), i, max;
    yyjson_val *d;
    if (nd > LG_MAX_DIMS)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": shape has %zu dimensions; at most %d "
                       "are supported", c->path, name, nd, LG_MAX_DIMS);
    yyjson_arr_foreach(v, i, max, d) {
        uint64_t x;
        lg_status st = get_count(c, name, "shape", i, d, &x);
        if (st != LG_OK)
            return st;
        t->info.shape[i] = (int64_t)x; /* get_count: x <= INT64_MAX */
    }
    t->info.ndim = (int)nd;
    return LG_OK;
}

static lg_status parse_offsets(const lg_checkpoint *c, const char *name, yyjson_val *v,
                               st_entry *t)
{
    if (!yyjson_is_arr(v) || yyjson_arr_size(v) != 2)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": data_offsets must be [begin, end], "
                       "found %s%s", c->path, name, json_kind(v),
                       yyjson_is_arr(v) ? " of another length" : "");
    lg_status st = get_count(c, name, "data_offsets", 0, yyjson_arr_get(v, 0), &t->r.begin);
    if (st == LG_OK)
        st = get_count(c, name, "data_offsets", 1, yyjson_arr_get(v, 1), &t->r.end);
    if (st != LG_OK)
        return st;
    if (t->r.end < t->r.begin)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64
                       "] end before they begin", c->path, name, t->r.begin, t->r.end);
    return LG_OK;
}

/* The entry must hold exactly dtype, shape and data_offsets, once each:
 * found in one pass, into fields[]. */
static lg_status entry_fields(const st_json *j, const char *name, yyjson_val *v,
                              yyjson_val *fields[3])
{
    const lg_checkpoint *c = j->c;
    size_t i, max;
    yyjson_val *key, *x, *extra = NULL;
    yyjson_obj_foreach(v, i, max, key, x) {
        size_t w = 0;
        while (w < ST_NFIELDS && !text_is(key, st_fields[w].name, st_fields[w].len))
            w++;
        if (w == ST_NFIELDS) {
            if (!text_of(key))
                return nul_in_string(j, key);
            extra = extra ? extra : key;
        } else if (fields[w]) {
            return duplicate(j, key, "key");
        } else {
            fields[w] = x;
        }
    }
    for (size_t w = 0; w < ST_NFIELDS; w++) {
        if (!fields[w])
            return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": \"%s\" is missing", c->path, name,
                           st_fields[w].name);
    }
    if (extra)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": unexpected key \"%s\" (an entry "
                       "holds only dtype, shape and data_offsets)", c->path, name,
                       yyjson_get_str(extra));
    return LG_OK;
}

static lg_status parse_entry(const st_json *j, const char *name, yyjson_val *v, st_entry *t)
{
    const lg_checkpoint *c = j->c;
    yyjson_val *f[3] = {NULL, NULL, NULL};
    if (!yyjson_is_obj(v))
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": entry is %s, not an object", c->path,
                       name, json_kind(v));
    lg_status st = entry_fields(j, name, v, f);
    if (st == LG_OK)
        st = parse_dtype(j, name, f[0], t);
    if (st == LG_OK)
        st = parse_shape(c, name, f[1], t);
    if (st == LG_OK)
        st = parse_offsets(c, name, f[2], t);
    if (st != LG_OK)
        return st;
    if (!(t->info.name = lg__strdup(name)))
        return lg__err(LG_E_NOMEM, "%s: out of memory", c->path);
    return LG_OK;
}

/* ---------------------------------------------------------- the entries */

static void free_entries(st_entry *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++)
        free((char *)e[i].info.name);
    free(e);
}

static const char *entry_name(const void *ctx, size_t i)
{
    return ((const st_entry *)ctx)[i].info.name;
}

/* The key of tensor entry k: the k-th key of the root object other than
 * __metadata__. */
static yyjson_val *tensor_key(const st_json *j, size_t k)
{
    yyjson_val *root = yyjson_doc_get_root(j->doc), *key, *v;
    size_t i, max;
    yyjson_obj_foreach(root, i, max, key, v) {
        const char *name = text_of(key);
        if (name && strcmp(name, ST_METADATA) && k-- == 0)
            return key;
    }
    return NULL; /* not reached: entry k came from one of these keys */
}

/* Every entry of the root object, __metadata__ checked and left out; the
 * names unique (found by hash). */
static lg_status parse_entries(const st_json *j, st_entry **out, size_t *count)
{
    const lg_checkpoint *c = j->c;
    yyjson_val *root = yyjson_doc_get_root(j->doc), *key, *v;
    size_t cap = yyjson_obj_size(root), n = 0, i, max;
    st_entry *e = lg__calloc(cap, sizeof *e);
    lg__name_index ix = {0};
    int meta = 0;
    lg_status st = LG_OK;
    if (!e)
        return lg__err(LG_E_NOMEM, "%s: out of memory", c->path);
    lg__index_reserve(&ix, cap);
    yyjson_obj_foreach(root, i, max, key, v) {
        const char *name = text_of(key);
        if (!name)
            st = nul_in_string(j, key);
        else if (!strcmp(name, ST_METADATA))
            st = meta++ ? duplicate(j, key, "key") : check_metadata(j, v);
        else
            st = parse_entry(j, name, v, &e[n]);
        if (st != LG_OK)
            break;
        if (e[n].info.name) /* a tensor, not the metadata */
            n++;
    }
    /* the names, all at once (lg__index_insert_all: the table's misses
     * overlap); a name met again before the entry that failed, if one
     * did, is what the header is refused for, as when each name was
     * looked up as it was read */
    size_t first, again = lg__index_insert_all(&ix, entry_name, e, n, &first);
    if (again != (size_t)-1)
        st = duplicate(j, tensor_key(j, again), "tensor name");
    lg__index_free(&ix);
    if (st != LG_OK) {
        free_entries(e, cap); /* a failed entry may hold nothing but zeroes */
        return st;
    }
    *out = e;
    *count = n;
    return LG_OK;
}

/* File order: by data_offsets, as the reference sorts them; the name breaks
 * ties (empty tensors sharing an offset) so the order is deterministic. */
static int entry_cmp(const void *pa, const void *pb)
{
    const st_entry *a = pa, *b = pb;
    if (a->r.begin != b->r.begin)
        return a->r.begin < b->r.begin ? -1 : 1;
    if (a->r.end != b->r.end)
        return a->r.end < b->r.end ? -1 : 1;
    return strcmp(a->info.name, b->info.name);
}

/* Into file order. A header written by safetensors lists its tensors in
 * that order already: then no sort (qsort's copies of 100,000 entries,
 * and its buffer, cost more than the rest of the layout's checks). */
static void sort_entries(st_entry *e, size_t n)
{
    size_t i = 1;
    while (i < n && entry_cmp(&e[i - 1], &e[i]) < 0)
        i++;
    if (i < n)
        qsort(e, n, sizeof *e, entry_cmp);
}

/* ------------------------------------------------------------ the layout */

static lg_status check_contiguous(const lg_checkpoint *c, const st_entry *prev,
                                  const st_entry *t)
{
    uint64_t at = prev ? prev->r.end : 0;
    if (t->r.begin == at)
        return LG_OK;
    if (!prev)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64
                       "] leave a gap of %" PRIu64 " bytes at the start of the data section "
                       "(the first tensor must begin at 0)", c->path, t->info.name,
                       t->r.begin, t->r.end, t->r.begin);
    if (t->r.begin > at)
        return lg__err(LG_E_FORMAT, "%s: gap of %" PRIu64 " bytes in the data section between "
                       "tensor \"%s\" [%" PRIu64 ", %" PRIu64 "] and tensor \"%s\" [%" PRIu64
                       ", %" PRIu64 "]", c->path, t->r.begin - at, prev->info.name,
                       prev->r.begin, prev->r.end, t->info.name, t->r.begin, t->r.end);
    return lg__err(LG_E_FORMAT, "%s: tensor \"%s\" [%" PRIu64 ", %" PRIu64 "] and tensor \"%s\" "
                   "[%" PRIu64 ", %" PRIu64 "] overlap by %" PRIu64 " bytes", c->path,
                   prev->info.name, prev->r.begin, prev->r.end, t->info.name, t->r.begin,
                   t->r.end, at - t->r.begin);
}

static lg_status check_size(const lg_checkpoint *c, const st_entry *t)
{
    char shape[LG_MAX_DIMS * 24 + 8]; /* for a message only */
    uint64_t nbytes;
    int ok = lg__nbytes(t->info.dtype, t->info.ndim, t->info.shape, &nbytes);
    if (ok && nbytes == t->r.end - t->r.begin)
        return LG_OK;
    lg__shape_str(t->info.ndim, t->info.shape, shape, sizeof shape);
    if (!ok)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": shape %s of %s overflows 64 bits",
                       c->path, t->info.name, shape, t->dtype_name);
    return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": shape %s of %s needs %" PRIu64 " bytes "
                   "but data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64, c->path,
                   t->info.name, shape, t->dtype_name, nbytes, t->r.begin, t->r.end,
                   t->r.end - t->r.begin);
}

/* As the reference's validate(): per tensor in file order, contiguity then
 * size; then the last end against the data section. */
static lg_status check_layout(const lg_checkpoint *c, st_entry *e, size_t n,
                              uint64_t data_size)
{
    for (size_t i = 0; i < n; i++) {
        lg_status st = check_contiguous(c, i ? &e[i - 1] : NULL, &e[i]);
        if (st == LG_OK)
            st = check_size(c, &e[i]);
        if (st != LG_OK)
            return st;
        e[i].info.nbytes = e[i].r.end - e[i].r.begin;
    }
    const st_entry *last = n ? &e[n - 1] : NULL;
    uint64_t end = last ? last->r.end : 0;
    if (end > data_size)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64
                       "] run past the end of the data section (%" PRIu64 " bytes)", c->path,
                       last->info.name, last->r.begin, last->r.end, data_size);
    if (end < data_size)
        return lg__err(LG_E_FORMAT, "%s: the tensors end at byte %" PRIu64 " of a %" PRIu64
                       "-byte data section: %" PRIu64 " trailing bytes belong to no tensor",
                       c->path, end, data_size, data_size - end);
    return LG_OK;
}

/* --------------------------------------------------------------- publish */

/* Moves the sorted entries into c->tensors and a new priv. */
static lg_status publish(lg_checkpoint *c, st_entry *e, size_t n, uint64_t data_start)
{
    st_priv *p = lg__calloc(1, sizeof *p);
    lg_tensor_info *ti = p ? lg__calloc(n, sizeof *ti) : NULL;
    st_range *r = ti ? lg__calloc(n, sizeof *r) : NULL;
    if (!r) {
        free(ti);
        free(p);
        return lg__err(LG_E_NOMEM, "%s: out of memory", c->path);
    }
    for (size_t i = 0; i < n; i++) {
        ti[i] = e[i].info;
        r[i] = e[i].r;
        e[i].info.name = NULL; /* now owned by c->tensors */
    }
    p->data_start = data_start;
    p->ranges = r;
    c->priv = p;
    c->tensors = ti;
    c->ntensors = n;
    return LG_OK;
}

/* ------------------------------------------------------------------- ops */

/* A header whose first byte was damaged: the length fits the file and the
 * header, if it lies within the bytes at hand, ends with '}' and padding. */
static int plausible_header_end(const unsigned char *head, size_t n, uint64_t size)
{
    uint64_t len = le64(head);
    if (len < ST_MIN_HEADER || len > size - ST_PREFIX || len > n - ST_PREFIX)
        return 0;
    size_t end = ST_PREFIX + (size_t)len;
    while (end > ST_PREFIX + 1 && head[end - 1] == ' ')
        end--;
    return head[end - 1] == '}';
}

static int st_sniff(const unsigned char *head, size_t n, uint64_t size)
{
    /* No magic: a header length, then a JSON object. The length is not
     * required to be plausible, so that a file whose length field is
     * corrupt still gets a safetensors error rather than "unknown format".
     * Leading JSON whitespace is let through here and refused by open(),
     * for the same reason. */
    if (size < ST_PREFIX + 1 || n < ST_PREFIX + 1)
        return 0;
    size_t i = ST_PREFIX;
    while (i < n && is_json_space(head[i]))
        i++;
    if (i < n && head[i] == '{')
        return 1;
    return plausible_header_end(head, n, size);
}

static lg_status st_open(lg_checkpoint *c)
{
    uint64_t n = 0;
    st_json j = {0};
    st_entry *e = NULL;
    size_t count = 0;
    if (lg__fault("format.parse", NULL))
        return lg__err(LG_E_FORMAT, "%s: injected parse failure", c->path);
    lg_status st = check_prefix(c, &n);
    if (st == LG_OK)
        st = parse_header(c, n, &j);
    if (st == LG_OK)
        st = parse_entries(&j, &e, &count);
    free_header(&j);
    if (st != LG_OK)
        goto done;
    sort_entries(e, count);
    st = check_layout(c, e, count, c->size - ST_PREFIX - n);
    if (st == LG_OK)
        st = publish(c, e, count, ST_PREFIX + n);
done:
    free_entries(e, count);
    return st;
}

static lg_status st_read(lg_checkpoint *c, size_t i, void *dst)
{
    const st_priv *p = c->priv;
    if (i >= c->ntensors)
        return lg__err(LG_E_INVALID, "%s: no tensor %zu", c->path, i);
    if (c->tensors[i].nbytes)
        lg__copy_observed(c, i, dst, c->map + p->data_start + p->ranges[i].begin,
                          c->tensors[i].nbytes, NULL);
    return LG_OK;
}

static const void *st_bytes(lg_checkpoint *c, size_t i)
{
    const st_priv *p = c->priv;
    if (i >= c->ntensors)
        return NULL;
    return c->map + p->data_start + p->ranges[i].begin;
}

static void st_close(lg_checkpoint *c)
{
    st_priv *p = c->priv;
    lg__checkpoint_free_tensors(c);
    if (p)
        free(p->ranges);
    free(p);
    c->tensors = NULL;
    c->ntensors = 0;
    c->priv = NULL;
}

const lg__reader_ops lg__safetensors_reader = {
    .name = "safetensors",
    .sniff = st_sniff,
    .open = st_open,
    .read = st_read,
    .deserialize = NULL,
    .bytes = st_bytes,
    .in_place = st_bytes,
    .close = st_close,
};
