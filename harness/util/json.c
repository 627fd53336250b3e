/* JSON text helpers (util/json.h). */
#include "util/json.h"

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
