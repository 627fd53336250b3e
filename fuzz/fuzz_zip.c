/* libFuzzer target: the zip reader alone (src/formats/zip.c).
 *
 * Each input is given to the reader as the map it reads (an exact-size
 * copy, so ASan sees a read one byte past the end). Whatever the bytes:
 * lg__zip_each_name and lg__zip_end_records must return; lg__zip_open must
 * end classified (LG_OK, or LG_E_FORMAT / LG_E_NOMEM with a message); and
 * an accepted archive must hold what the reader promises: every entry's
 * name and data inside the file, found again by name, and, when readable,
 * its bytes (inflated or in place) checked against its CRC-32, the stored
 * ones also through lg__zip_crc_stored on two threads. Anything else
 * aborts, which libFuzzer reports as a crash.
 *
 * Seeds: fuzz/corpus/zip (torch.save archives and zips from other
 * writers); dictionary: fuzz/zip.dict. */
#include "formats/zip.h"
#include "loadgate/loadgate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_zip: %s:%d: %s failed (%s)\n", __FILE__, __LINE__, #cond, \
                    lg_error_message());                                                  \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* Inflated bytes are allocated only up to this (a small deflated record
 * may claim up to 1032 times its size), and only for the first few
 * deflated entries (many entries may share one stream): the bound keeps
 * an execution short. */
#define MAX_INFLATE (1u << 20)
#define MAX_INFLATED_ENTRIES 8

static int inflated; /* deflated entries inflated for this input */

static int count_name(const char *name, size_t nlen, void *arg)
{
    (void)name;
    (void)nlen;
    (*(size_t *)arg)++;
    return 0;
}

static void check_entry(const lg__zip *z, const lg__zip_entry *e)
{
    CHECK(e->name >= (const char *)z->map && e->name + e->nlen <= (const char *)z->map + z->size);
    CHECK(e->data <= z->size && e->csize <= z->size - e->data && e->end <= z->size);
    const lg__zip_entry *f = lg__zip_find(z, e->name, e->nlen);
    CHECK(f && f->nlen == e->nlen && !memcmp(f->name, e->name, e->nlen));
    if (lg__zip_readable(z, e) != LG_OK) {
        CHECK(lg_error_message()[0] != '\0');
        return;
    }
    uint32_t crc = 0;
    if (e->method == 0) {
        CHECK(e->usize == e->csize);
        (void)lg__zip_crc_ok(z, e, NULL, &crc);
        return;
    }
    if (e->usize > MAX_INFLATE || inflated++ >= MAX_INFLATED_ENTRIES)
        return;
    unsigned char *out = NULL;
    lg_status st = lg__zip_inflate(z, e, &out);
    if (st != LG_OK) {
        CHECK(st == LG_E_FORMAT || st == LG_E_NOMEM);
        CHECK(lg_error_message()[0] != '\0');
        CHECK(out == NULL);
        return;
    }
    (void)lg__zip_crc_ok(z, e, out, &crc);
    free(out);
}

/* The stored entries' CRC-32 over two threads equals the one-by-one one. */
static void check_crc_stored(const lg__zip *z)
{
    const lg__zip_entry **v = malloc((z->n + 1) * sizeof *v);
    uint32_t *crc = malloc((z->n + 1) * sizeof *crc);
    size_t n = 0;
    CHECK(v && crc);
    for (size_t i = 0; i < z->n; i++)
        if (z->e[i].method == 0 && lg__zip_readable(z, &z->e[i]) == LG_OK)
            v[n++] = &z->e[i];
    if (lg__zip_crc_stored(z, v, n, 2, crc) == LG_OK) {
        for (size_t i = 0; i < n; i++) {
            uint32_t one = 0;
            (void)lg__zip_crc_ok(z, v[i], NULL, &one);
            CHECK(one == crc[i]);
        }
    }
    free(v);
    free(crc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *map = malloc(size ? size : 1);
    CHECK(map);
    memcpy(map, data, size);
    size_t names = 0;
    int each = lg__zip_each_name(map, size, count_name, &names);
    CHECK(each == 0 || each == -1);
    (void)lg__zip_end_records(map, size);

    lg__zip z;
    inflated = 0;
    lg_error_clear();
    lg_status st = lg__zip_open(&z, "fuzz.zip", map, size);
    if (st != LG_OK) {
        CHECK(st == LG_E_FORMAT || st == LG_E_NOMEM);
        CHECK(lg_error_message()[0] != '\0');
        CHECK(z.n == 0);
    } else {
        CHECK(each == 0 && names == z.n);
        for (size_t i = 0; i < z.n; i++)
            check_entry(&z, &z.e[i]);
        check_crc_stored(&z);
    }
    lg__zip_close(&z);
    free(map);
    return 0;
}
