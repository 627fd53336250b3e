/* inspect --json's "metadata" and "records": a safetensors file's
 * __metadata__ and the names of a zip checkpoint's records (torch.save's
 * archive/data.pkl, archive/data/0, ...), read from the file's bytes once
 * the library has opened it (so the file is known to be well formed; the
 * reads here are bounded anyway). */
#include "cmd/cmd.h"
#include "util/json.h"
#include "util/zipfmt.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_HEADER_MAX (100u << 20) /* the library's safetensors header cap */
#define ZIP_TAIL_MAX (HX_ZIP_EOCD_SIZE + HX_ZIP_MAX16 + HX_ZIP_Z64_LOCATOR_SIZE)
#define ZIP_CD_MAX (256u << 20)

/* n bytes at off into a fresh buffer; NULL when they are not all there. */
static unsigned char *read_at(FILE *f, uint64_t off, size_t n)
{
    unsigned char *b = malloc(n ? n : 1);
    if (!b || fseeko(f, (off_t)off, SEEK_SET) || fread(b, 1, n, f) != n) {
        free(b);
        return NULL;
    }
    return b;
}

static uint64_t file_size(FILE *f)
{
    if (fseeko(f, 0, SEEK_END))
        return 0;
    off_t n = ftello(f);
    return n < 0 ? 0 : (uint64_t)n;
}

/* ------------------------------------------------------------ metadata */

json_t *hx_inspect_metadata(const char *path, const char *format)
{
    if (strcmp(format, "safetensors"))
        return json_null();
    FILE *f = fopen(path, "rb");
    unsigned char *len = f ? read_at(f, 0, 8) : NULL;
    uint64_t n = len ? hx_rd64(len) : 0;
    unsigned char *hdr = n && n <= META_HEADER_MAX ? read_at(f, 8, (size_t)n) : NULL;
    json_t *root = hdr ? hx_json_loadb((const char *)hdr, (size_t)n, 0, NULL) : NULL;
    json_t *meta = json_object(), *m = json_object_get(root, "__metadata__");
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) {
        if (json_is_string(v)) /* the library refuses any other */
            json_object_set(meta, k, v);
    }
    json_decref(root);
    free(hdr);
    free(len);
    if (f)
        fclose(f);
    return meta;
}

/* ------------------------------------------------------------- records */

typedef struct {
    uint64_t count, offset, size;
} zip_cd;

/* The central directory's place from the end record (and zip64's). */
static int find_cd(FILE *f, uint64_t size, zip_cd *cd)
{
    size_t tail = size < ZIP_TAIL_MAX ? (size_t)size : ZIP_TAIL_MAX;
    unsigned char *t = read_at(f, size - tail, tail);
    int found = -1;
    for (size_t i = tail >= HX_ZIP_EOCD_SIZE ? tail - HX_ZIP_EOCD_SIZE + 1 : 0; t && i-- > 0;) {
        if (hx_rd32(t + i) != HX_ZIP_SIG_EOCD)
            continue;
        const unsigned char *e = t + i;
        *cd = (zip_cd){hx_rd16(e + HX_ZIP_EOCD_COUNT), hx_rd32(e + HX_ZIP_EOCD_CD_OFFSET),
                       hx_rd32(e + HX_ZIP_EOCD_CD_SIZE)};
        found = 0;
        if (i >= HX_ZIP_Z64_LOCATOR_SIZE &&
            hx_rd32(e - HX_ZIP_Z64_LOCATOR_SIZE) == HX_ZIP_SIG_Z64_LOCATOR) {
            uint64_t at = hx_rd64(e - HX_ZIP_Z64_LOCATOR_SIZE + HX_ZIP_Z64_LOCATOR_OFFSET);
            unsigned char *z = read_at(f, at, HX_ZIP_Z64_EOCD_SIZE);
            if (z && hx_rd32(z) == HX_ZIP_SIG_Z64_EOCD)
                *cd = (zip_cd){hx_rd64(z + HX_ZIP_Z64_EOCD_COUNT),
                               hx_rd64(z + HX_ZIP_Z64_EOCD_CD_OFFSET),
                               hx_rd64(z + HX_ZIP_Z64_EOCD_CD_SIZE)};
            free(z);
        }
        break;
    }
    free(t);
    return found;
}

json_t *hx_inspect_records(const char *path)
{
    unsigned char sig[4];
    zip_cd cd;
    FILE *f = fopen(path, "rb");
    if (!f)
        return json_null();
    uint64_t size = file_size(f);
    if (fseeko(f, 0, SEEK_SET) || fread(sig, 1, 4, f) != 4 || hx_rd32(sig) != HX_ZIP_SIG_LOCAL ||
        find_cd(f, size, &cd) || cd.size > ZIP_CD_MAX || cd.offset > size) {
        fclose(f);
        return json_null();
    }
    unsigned char *b = read_at(f, cd.offset, (size_t)cd.size);
    fclose(f);
    json_t *names = json_array();
    size_t at = 0;
    for (uint64_t i = 0; b && i < cd.count && at + HX_ZIP_CENTRAL_SIZE <= cd.size; i++) {
        const unsigned char *e = b + at;
        size_t nlen = hx_rd16(e + HX_ZIP_CENTRAL_NLEN);
        if (hx_rd32(e) != HX_ZIP_SIG_CENTRAL || at + HX_ZIP_CENTRAL_SIZE + nlen > cd.size)
            break;
        char *name = malloc(nlen + 1); /* the name has no NUL of its own */
        if (!name)
            break;
        memcpy(name, e + HX_ZIP_CENTRAL_SIZE, nlen);
        name[nlen] = '\0';
        json_array_append_new(names, hx_json_str(name));
        free(name);
        at += HX_ZIP_CENTRAL_SIZE + nlen + hx_rd16(e + HX_ZIP_CENTRAL_XLEN) +
              hx_rd16(e + HX_ZIP_CENTRAL_CLEN);
    }
    free(b);
    return names;
}
