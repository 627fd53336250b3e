/* JSON text helpers (util/json.h). */
#include "util/json.h"

#include <yyjson.h>

#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static atomic_int lost; /* a jansson allocation failed */

/* jansson 2.14's lexer drops a failed allocation of its token buffer
 * (lex_save ignores what strbuffer_append_byte returns: jansson issue
 * #362, open; pull requests #735 and #747 propose fixes) and can then
 * assert or read past the text it parses: a crash out of memory. So
 * during a parse through the functions below (parsing), an allocation
 * that fails is served from this reserve instead, and recorded in lost
 * as any other, so that the next text written (hx_json_dumps) is still
 * refused. The reserve's blocks live in parsed values only, which
 * json_decref frees through json_free; they are not given back to the
 * reserve.
 *
 * Its limits: a failed allocation larger than what is left of the
 * reserve (a token buffer grown past about 32 KiB for one long string,
 * or an object's buckets past 64 KiB) still fails, and a run short of
 * memory for long spends the reserve; both then meet jansson's own
 * handling. test_oom fails one allocation at a time, in the harness's
 * own small texts, which this covers. The fix that needs no reserve
 * belongs in jansson. */
static _Alignas(max_align_t) unsigned char reserve[64 << 10];
static atomic_size_t reserve_used;
static _Thread_local int parsing;

static void *json_alloc(size_t n)
{
    void *p = malloc(n);
    if (p)
        return p;
    atomic_store(&lost, 1);
    if (!parsing)
        return NULL;
    size_t need = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    size_t at = atomic_fetch_add(&reserve_used, need);
    return need <= sizeof reserve && at <= sizeof reserve - need ? reserve + at : NULL;
}

static void json_free(void *p)
{
    if ((unsigned char *)p >= reserve && (unsigned char *)p < reserve + sizeof reserve)
        return; /* the reserve is not given back */
    free(p);
}

__attribute__((constructor)) static void json_alloc_install(void)
{
    json_set_alloc_funcs(json_alloc, json_free);
}

/* The text is checked after the dump too: an allocation that fails
 * inside json_dumps can leave it with a text that lacks a piece. */
char *hx_json_dumps(const json_t *j, size_t flags)
{
    char *s = atomic_load(&lost) ? NULL : json_dumps(j, flags);
    if (s && atomic_load(&lost)) {
        free(s);
        s = NULL;
    }
    return s;
}

/* Through a text in memory, so that nothing is written when it is short. */
int hx_json_dumpf(const json_t *j, FILE *f, size_t flags)
{
    char *s = hx_json_dumps(j, flags);
    if (!s)
        return -1;
    size_t n = strlen(s);
    int bad = fwrite(s, 1, n, f) != n;
    free(s);
    return bad ? -1 : 0;
}

void hx_json_reset(void) { atomic_store(&lost, 0); }

int hx_json_lost(void) { return atomic_load(&lost); }

int hx_utf8_decode(const unsigned char *p, unsigned long *cp)
{
    unsigned long c = p[0];
    int n, i;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, c &= 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, c &= 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, c &= 0x07;
    else
        return 0;
    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10ffff ||
        (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

char *hx_utf8_clean(const char *s)
{
    size_t len = strlen(s), o = 0;
    char *out = malloc(len * 3 + 1); /* each bad byte grows to 3 */
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned long cp;
        int n = hx_utf8_decode(p, &cp);
        if (n) {
            memcpy(out + o, p, (size_t)n);
            o += (size_t)n;
            p += n;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            p++;
        }
    }
    out[o] = 0;
    return out;
}

json_t *hx_json_str(const char *s)
{
    if (!s)
        return json_null();
    /* valid already (most are: ASCII), it is copied once, as it is */
    const unsigned char *p = (const unsigned char *)s;
    unsigned long cp;
    int n = 1;
    while (*p && n)
        p += *p < 0x80 ? 1 : (n = hx_utf8_decode(p, &cp));
    if (!*p)
        return json_stringn_nocheck(s, (size_t)(p - (const unsigned char *)s));
    char *clean = hx_utf8_clean(s);
    if (!clean)
        return NULL;
    json_t *j = json_string(clean);
    free(clean);
    return j;
}

const char *hx_json_get_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

json_t *hx_json_loadb(const char *buf, size_t n, size_t flags, json_error_t *e)
{
    parsing++;
    json_t *j = json_loadb(buf, n, flags, e);
    parsing--;
    return j;
}

json_t *hx_json_load_file(const char *path, size_t flags, json_error_t *e)
{
    parsing++;
    json_t *j = json_load_file(path, flags, e);
    parsing--;
    return j;
}

/* ------------------------------------------------- yyjson, for results */

/* yyjson allocates through these, so that a failed allocation is marked
 * as jansson's are. */
static void *yy_malloc(void *ctx, size_t n)
{
    (void)ctx;
    void *p = malloc(n);
    if (!p)
        atomic_store(&lost, 1);
    return p;
}

static void *yy_realloc(void *ctx, void *p, size_t old, size_t n)
{
    (void)ctx;
    (void)old;
    void *q = realloc(p, n);
    if (!q)
        atomic_store(&lost, 1);
    return q;
}

static void yy_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static const yyjson_alc yy_alc = {yy_malloc, yy_realloc, yy_free, NULL};

/* How from_yy reads: refusing a key given twice; looking for a NUL in
 * every string (only a text with "\\u0000" in it can have one: a raw
 * NUL byte is not JSON). */
enum { NO_DUPLICATES = 1, MAY_NUL = 2 };

/* Nesting deeper than jansson's parser takes (JSON_PARSER_MAX_DEPTH). */
#define PARSE_DEPTH_MAX 2048

/* The jansson value of v, at nesting depth: NULL when v cannot be one (a
 * string with a NUL, an integer past json_int_t, a number past 64 bits,
 * raw, a key given twice under reject_duplicates, nesting past
 * PARSE_DEPTH_MAX), or out of memory. */
static json_t *from_yy(yyjson_val *v, int how, int depth)
{
    size_t i, max;
    yyjson_val *k, *e;
    json_t *out;
    if (depth > PARSE_DEPTH_MAX) /* jansson counts every value, a scalar too */
        return NULL;
    switch (yyjson_get_type(v)) {
    case YYJSON_TYPE_NULL:
        return json_null();
    case YYJSON_TYPE_BOOL:
        return json_boolean(yyjson_get_bool(v));
    case YYJSON_TYPE_NUM:
        if (yyjson_is_real(v))
            return json_real(yyjson_get_real(v));
        if (yyjson_is_uint(v))
            return yyjson_get_uint(v) > (uint64_t)LLONG_MAX
                       ? NULL
                       : json_integer((json_int_t)yyjson_get_uint(v));
        return json_integer((json_int_t)yyjson_get_sint(v));
    case YYJSON_TYPE_STR:
        if ((how & MAY_NUL) && memchr(yyjson_get_str(v), 0, yyjson_get_len(v)))
            return NULL; /* json_loadb refuses \u0000 without JSON_ALLOW_NUL */
        return json_stringn_nocheck(yyjson_get_str(v), yyjson_get_len(v)); /* yyjson checked UTF-8 */
    case YYJSON_TYPE_ARR:
        out = json_array();
        yyjson_arr_foreach(v, i, max, e) {
            if (!out || json_array_append_new(out, from_yy(e, how, depth + 1))) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    case YYJSON_TYPE_OBJ:
        out = json_object();
        yyjson_obj_foreach(v, i, max, k, e) {
            const char *key = yyjson_get_str(k);
            size_t klen = yyjson_get_len(k);
            if (!out || ((how & MAY_NUL) && memchr(key, 0, klen)) ||
                ((how & NO_DUPLICATES) && json_object_getn(out, key, klen)) ||
                json_object_setn_new_nocheck(out, key, klen, from_yy(e, how, depth + 1))) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    default:
        return NULL;
    }
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Does the text hold a run of more than 700 digits? yyjson 0.10.0 can
 * round a number of more than 768 significant digits one unit in the
 * last place off (bigint_set_buf keeps a last digit that is not zero when
 * it cuts the rest, even when all of it is zeros); jansson (strtod) does
 * not. The harness never writes such a number (yyjson writes at most 17
 * digits); a text that has one is read by jansson. */
static int long_digit_run(const char *buf, size_t n)
{
    /* a run of more than 700 digits holds an offset that is a multiple of
     * 700: only the runs through those offsets are measured (a result's
     * text, read at every collection, has none: a look every 700 bytes) */
    for (size_t i = 0; i < n; i += 700) {
        size_t lo = i, hi = i;
        while (hi < n && is_digit(buf[hi]))
            hi++;
        if (hi == i)
            continue;
        while (lo > 0 && is_digit(buf[lo - 1]))
            lo--;
        if (hi - lo > 700)
            return 1;
    }
    return 0;
}

json_t *hx_json_parse(const char *buf, size_t n, int reject_duplicates)
{
    if (!buf)
        return NULL;
    if (long_digit_run(buf, n))
        return hx_json_loadb(buf, n, reject_duplicates ? JSON_REJECT_DUPLICATES : 0, NULL);
    /* yyjson reads a const buffer when not told it may write in it; a
     * number past 64 bits (which it would read as a real) is kept raw,
     * and refused as jansson refuses it */
    yyjson_doc *doc = yyjson_read_opts((char *)buf, n, YYJSON_READ_BIGNUM_AS_RAW, &yy_alc, NULL);
    yyjson_val *root = yyjson_doc_get_root(doc);
    int how = (reject_duplicates ? NO_DUPLICATES : 0) | (memmem(buf, n, "\\u0000", 6) ? MAY_NUL : 0);
    json_t *j = yyjson_is_obj(root) || yyjson_is_arr(root) ? from_yy(root, how, 1) : NULL;
    yyjson_doc_free(doc);
    return j;
}

/* yyjson's value of j, at nesting depth, its strings referenced, not
 * copied: d is written while j lives. NULL out of memory, for a value
 * that is none of jansson's types, or past PARSE_DEPTH_MAX (a value that
 * holds itself, which json_dumps refuses too). */
static yyjson_mut_val *to_yy(yyjson_mut_doc *d, json_t *j, int depth)
{
    size_t i, klen;
    const char *key;
    json_t *e;
    yyjson_mut_val *out;
    if (depth > PARSE_DEPTH_MAX)
        return NULL;
    switch (json_typeof(j)) {
    case JSON_NULL:
        return yyjson_mut_null(d);
    case JSON_TRUE:
        return yyjson_mut_true(d);
    case JSON_FALSE:
        return yyjson_mut_false(d);
    case JSON_INTEGER:
        return yyjson_mut_sint(d, (int64_t)json_integer_value(j));
    case JSON_REAL:
        return yyjson_mut_real(d, json_real_value(j));
    case JSON_STRING:
        return yyjson_mut_strn(d, json_string_value(j), json_string_length(j));
    case JSON_ARRAY:
        out = yyjson_mut_arr(d);
        json_array_foreach(j, i, e) {
            if (!out || !yyjson_mut_arr_append(out, to_yy(d, e, depth + 1)))
                return NULL;
        }
        return out;
    case JSON_OBJECT:
        out = yyjson_mut_obj(d);
        json_object_keylen_foreach(j, key, klen, e) {
            yyjson_mut_val *k = yyjson_mut_strn(d, key, klen);
            if (!out || !yyjson_mut_obj_add(out, k, to_yy(d, e, depth + 1)))
                return NULL;
        }
        return out;
    default:
        return NULL;
    }
}

char *hx_json_text(const json_t *j, size_t *len)
{
    size_t n = 0;
    char *s = NULL;
    yyjson_mut_doc *d = atomic_load(&lost) || !j ? NULL : yyjson_mut_doc_new(&yy_alc);
    yyjson_mut_val *root = d ? to_yy(d, (json_t *)j, 1) : NULL;
    if (root) {
        yyjson_mut_doc_set_root(d, root);
        s = yyjson_mut_write_opts(d, 0, &yy_alc, &n, NULL);
    }
    yyjson_mut_doc_free(d);
    if (s && atomic_load(&lost)) {
        free(s);
        s = NULL;
    }
    if (len)
        *len = s ? n : 0;
    return s;
}
