/* The native safetensors reader.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * (an object: tensor name -> {dtype, shape, data_offsets}, plus an optional
 * "__metadata__" map of strings), then the data section. Every number in
 * the header is checked against the file before it is used, in the order
 * the reference implementation (huggingface/safetensors, tensor.rs) checks
 * it; docs/safetensors.md lists the rules and the decisions taken where
 * the written spec and the reference differ. */
#include "formats/format.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    default: return "null";
    }
}

static const struct {
    const char *name;
    lg_dtype dtype;
} st_dtypes[] = {
    {"F64", LG_F64}, {"F32", LG_F32}, {"F16", LG_F16}, {"BF16", LG_BF16}, {"I64", LG_I64},
    {"I32", LG_I32}, {"I16", LG_I16}, {"I8", LG_I8},   {"U8", LG_U8},     {"BOOL", LG_BOOL},
};

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

/* Whether the key ending at byte `end` of the header sits in the top-level
 * object (depth 1), by scanning the JSON text outside strings. */
static int key_is_top_level(const unsigned char *h, size_t end)
{
    int depth = 0, in_str = 0, esc = 0;
    for (size_t i = 0; i < end; i++) {
        unsigned char ch = h[i];
        if (in_str) {
            if (esc)
                esc = 0;
            else if (ch == '\\')
                esc = 1;
            else if (ch == '"')
                in_str = 0;
        } else if (ch == '"') {
            in_str = 1;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            depth--;
        }
    }
    return depth == 1;
}

/* jansson reports a duplicate key with the position just past it; find the
 * key's text (as written, quotes included) so the message can name it.
 * An unescaped '"' cannot occur inside a JSON string, so the opening quote
 * is the nearest one before an even run of backslashes. */
static int duplicate_key_span(const unsigned char *h, size_t n, size_t end, size_t *start)
{
    if (end < 2 || end > n || h[end - 1] != '"')
        return 0;
    for (size_t q = end - 1; q-- > 0;) {
        if (h[q] != '"')
            continue;
        size_t bs = 0;
        while (bs < q && h[q - 1 - bs] == '\\')
            bs++;
        if (bs % 2 == 0) {
            *start = q;
            return 1;
        }
    }
    return 0;
}

static lg_status json_failure(const lg_checkpoint *c, const unsigned char *h, size_t n,
                              const json_error_t *e)
{
    enum json_error_code code = json_error_code(e);
    size_t start = 0, end = e->position > 0 ? (size_t)e->position : 0;
    if (code == json_error_out_of_memory)
        return lg__err(LG_E_NOMEM, "%s: out of memory parsing the header", c->path);
    if (code == json_error_invalid_utf8)
        return lg__err(LG_E_FORMAT, "%s: header is not valid UTF-8: %s (line %d, column %d)",
                       c->path, e->text, e->line, e->column);
    if (code == json_error_duplicate_key && duplicate_key_span(h, n, end, &start)) {
        int len = (int)(end - start);
        int meta = len == 14 && !memcmp(h + start, "\"" ST_METADATA "\"", 14);
        int top = !meta && key_is_top_level(h, start);
        return lg__err(LG_E_FORMAT, "%s: duplicate %s %.*s in the header (line %d, column %d)",
                       c->path, top ? "tensor name" : "key", len, (const char *)h + start,
                       e->line, e->column);
    }
    if (code == json_error_end_of_input_expected && end > 0 && end <= n && h[end - 1] == '\0')
        return lg__err(LG_E_FORMAT, "%s: header is not valid JSON: NUL byte at header offset "
                       "%zu after the object (padding must be spaces)", c->path, end - 1);
    return lg__err(LG_E_FORMAT, "%s: header is not valid JSON: %s (line %d, column %d)",
                   c->path, e->text, e->line, e->column);
}

static lg_status parse_header(const lg_checkpoint *c, uint64_t n, json_t **out)
{
    const unsigned char *h = c->map + ST_PREFIX;
    json_error_t e;
    json_t *root = json_loadb((const char *)h, (size_t)n, JSON_REJECT_DUPLICATES, &e);
    if (!root)
        return json_failure(c, h, (size_t)n, &e);
    /* check_prefix() saw '{' first, so the value is an object. */
    *out = root;
    return LG_OK;
}

/* ------------------------------------------------------------ __metadata__ */

static lg_status check_metadata(const lg_checkpoint *c, json_t *meta)
{
    const char *key;
    json_t *v;
    if (!json_is_object(meta))
        return lg__err(LG_E_FORMAT, "%s: \"" ST_METADATA "\" is %s, not a map of strings",
                       c->path, json_kind(meta));
    json_object_foreach(meta, key, v) {
        if (!json_is_string(v))
            return lg__err(LG_E_FORMAT, "%s: \"" ST_METADATA "\": value of \"%s\" is %s, "
                           "not a string", c->path, key, json_kind(v));
    }
    return LG_OK;
}

/* ----------------------------------------------------------- one tensor */

static lg_status parse_dtype(const lg_checkpoint *c, const char *name, json_t *v,
                             st_entry *t)
{
    if (!json_is_string(v))
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": dtype is %s, not a string", c->path,
                       name, json_kind(v));
    const char *s = json_string_value(v);
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++) {
        if (!strcmp(s, st_dtypes[i].name)) {
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

/* A JSON value that must be a non-negative integer; `what` names it. */
static lg_status get_count(const lg_checkpoint *c, const char *name, const char *what,
                           size_t idx, json_t *v, uint64_t *out)
{
    if (!json_is_integer(v))
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": %s[%zu] is %s, not a non-negative "
                       "integer", c->path, name, what, idx, json_kind(v));
    json_int_t x = json_integer_value(v);
    if (x < 0)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": %s[%zu] is %" JSON_INTEGER_FORMAT
                       ", not a non-negative integer", c->path, name, what, idx, x);
    *out = (uint64_t)x;
    return LG_OK;
}

static lg_status parse_shape(const lg_checkpoint *c, const char *name, json_t *v,
                             st_entry *t)
{
    if (!json_is_array(v))
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": shape is %s, not an array", c->path,
                       name, json_kind(v));
    size_t nd = json_array_size(v);
    if (nd > LG_MAX_DIMS)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": shape has %zu dimensions; at most %d "
                       "are supported", c->path, name, nd, LG_MAX_DIMS);
    for (size_t i = 0; i < nd; i++) {
        uint64_t d;
        lg_status st = get_count(c, name, "shape", i, json_array_get(v, i), &d);
        if (st != LG_OK)
            return st;
        t->info.shape[i] = (int64_t)d; /* json_int_t is signed: d <= INT64_MAX */
    }
    t->info.ndim = (int)nd;
    return LG_OK;
}

static lg_status parse_offsets(const lg_checkpoint *c, const char *name, json_t *v,
                               st_entry *t)
{
    if (!json_is_array(v) || json_array_size(v) != 2)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": data_offsets must be [begin, end], "
                       "found %s%s", c->path, name, json_kind(v),
                       json_is_array(v) ? " of another length" : "");
    lg_status st = get_count(c, name, "data_offsets", 0, json_array_get(v, 0), &t->r.begin);
    if (st == LG_OK)
        st = get_count(c, name, "data_offsets", 1, json_array_get(v, 1), &t->r.end);
    if (st != LG_OK)
        return st;
    if (t->r.end < t->r.begin)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64
                       "] end before they begin", c->path, name, t->r.begin, t->r.end);
    return LG_OK;
}

/* The entry must hold exactly dtype, shape and data_offsets. */
static lg_status check_keys(const lg_checkpoint *c, const char *name, json_t *v)
{
    static const char *const want[] = {"dtype", "shape", "data_offsets"};
    const char *key;
    json_t *x;
    for (size_t i = 0; i < 3; i++) {
        if (!json_object_get(v, want[i]))
            return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": \"%s\" is missing", c->path, name,
                           want[i]);
    }
    json_object_foreach(v, key, x) {
        if (strcmp(key, want[0]) && strcmp(key, want[1]) && strcmp(key, want[2]))
            return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": unexpected key \"%s\" (an entry "
                           "holds only dtype, shape and data_offsets)", c->path, name, key);
    }
    return LG_OK;
}

static lg_status parse_entry(const lg_checkpoint *c, const char *name, json_t *v,
                             st_entry *t)
{
    if (!json_is_object(v))
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": entry is %s, not an object", c->path,
                       name, json_kind(v));
    lg_status st = check_keys(c, name, v);
    if (st == LG_OK)
        st = parse_dtype(c, name, json_object_get(v, "dtype"), t);
    if (st == LG_OK)
        st = parse_shape(c, name, json_object_get(v, "shape"), t);
    if (st == LG_OK)
        st = parse_offsets(c, name, json_object_get(v, "data_offsets"), t);
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

/* Every entry of the root object, __metadata__ checked and left out. */
static lg_status parse_entries(const lg_checkpoint *c, json_t *root, st_entry **out,
                               size_t *count)
{
    size_t cap = json_object_size(root), n = 0;
    st_entry *e = lg__calloc(cap, sizeof *e);
    const char *key;
    json_t *v;
    lg_status st = LG_OK;
    if (!e)
        return lg__err(LG_E_NOMEM, "%s: out of memory", c->path);
    json_object_foreach(root, key, v) {
        if (!strcmp(key, ST_METADATA))
            st = check_metadata(c, v);
        else if ((st = parse_entry(c, key, v, &e[n])) == LG_OK)
            n++;
        if (st != LG_OK)
            break;
    }
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
    char shape[LG_MAX_DIMS * 24 + 8];
    uint64_t nbytes;
    lg__shape_str(t->info.ndim, t->info.shape, shape, sizeof shape);
    if (!lg__nbytes(t->info.dtype, t->info.ndim, t->info.shape, &nbytes))
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": shape %s of %s overflows 64 bits",
                       c->path, t->info.name, shape, t->dtype_name);
    if (nbytes != t->r.end - t->r.begin)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": shape %s of %s needs %" PRIu64 " bytes "
                       "but data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64, c->path,
                       t->info.name, shape, t->dtype_name, nbytes, t->r.begin, t->r.end,
                       t->r.end - t->r.begin);
    return LG_OK;
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
    json_t *root = NULL;
    st_entry *e = NULL;
    size_t count = 0;
    if (lg__fault("format.parse", NULL))
        return lg__err(LG_E_FORMAT, "%s: injected parse failure", c->path);
    lg_status st = check_prefix(c, &n);
    if (st == LG_OK)
        st = parse_header(c, n, &root);
    if (st == LG_OK)
        st = parse_entries(c, root, &e, &count);
    json_decref(root);
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
    .close = st_close,
};
