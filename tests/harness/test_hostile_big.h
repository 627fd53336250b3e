/* The hostile inputs too big to commit, written by test_hostile.c into its
 * temp dir at test time (tests/data/hostile/README.md, class "big"):
 *
 *   big-st-header-over     a safetensors file whose header length says
 *                          100,000,001 bytes, one more than the limit, and
 *                          is that long ('{', then a sparse run of zeros)
 *   big-st-header-99mb     a valid safetensors file whose header is
 *                          99,999,992 bytes: one tensor and a metadata
 *                          string that fills the rest
 *   big-zip-100k-entries   a torch.save zip of 100,002 records (zip64 end
 *                          records): data.pkl (an empty dict), 100,000
 *                          empty records and version
 *   big-pickle-lists-16mib a torch.save zip whose data.pkl (16 MiB, stored)
 *                          makes a list of 16 million empty lists: one
 *                          byte of the file per value
 *   big-pickle-dups-16mib  the same with one list DUP'd 16 million times:
 *                          a stack and an item array of 8 bytes per byte
 *   big-exclude-30k        a case file: a matrix of 30,000 values and
 *                          29,999 exclude entries (1.1 MB), one case left
 *   big-include-30k        the same with 29,999 include entries that each
 *                          set a timeout on one combination (1.5 MB):
 *                          30,000 cases. Matched one against the other,
 *                          either took 24 s.
 *   big-include-all-30k    29,999 include entries that each set a timeout
 *                          on every combination (0.9 MB): 900 million
 *                          merges, 8 s, now refused at the file's budget
 *                          of visits
 *   big-include-after-exclude-30k
 *                          an exclude entry that drops all 30,000
 *                          combinations, then 29,999 include entries of
 *                          their own: an entry walks the fewer of what it
 *                          matches and what exclude kept (none)
 *
 * Included by test_hostile.c only. */
#ifndef TEST_HOSTILE_BIG_H
#define TEST_HOSTILE_BIG_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t big_crc32(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void put16(FILE *f, unsigned v)
{
    fputc((int)(v & 0xff), f);
    fputc((int)((v >> 8) & 0xff), f);
}

static void put32(FILE *f, uint32_t v)
{
    put16(f, v & 0xffff);
    put16(f, v >> 16);
}

static void put64(FILE *f, uint64_t v)
{
    put32(f, (uint32_t)v);
    put32(f, (uint32_t)(v >> 32));
}

static int big_st_header_over(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    put64(f, 100000001u);
    fputc('{', f);
    int rc = fclose(f);
    return rc || truncate(path, 8 + 100000001) ? -1 : 0;
}

static int big_st_header_99mb(const char *path)
{
    const uint64_t n = 99999992u; /* a multiple of 8 */
    const char *head = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                       "\"__metadata__\":{\"pad\":\"";
    const char *tail = "\"}}";
    static char pad[1 << 16];
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    memset(pad, 'x', sizeof pad);
    put64(f, n);
    fputs(head, f);
    uint64_t left = n - strlen(head) - strlen(tail);
    while (left) {
        size_t k = left < sizeof pad ? (size_t)left : sizeof pad;
        fwrite(pad, 1, k, f);
        left -= k;
    }
    fputs(tail, f);
    static const float w[4] = {0, 1, 2, 3};
    fwrite(w, sizeof w, 1, f);
    return fclose(f) ? -1 : 0;
}

/* One local header (stored); returns its offset. */
static uint64_t big_local(FILE *f, const char *name, const unsigned char *data, size_t n)
{
    uint64_t off = (uint64_t)ftell(f);
    put32(f, 0x04034b50u);
    put16(f, 20), put16(f, 0), put16(f, 0), put16(f, 0), put16(f, 0x21);
    put32(f, big_crc32(data, n)), put32(f, (uint32_t)n), put32(f, (uint32_t)n);
    put16(f, (unsigned)strlen(name)), put16(f, 0);
    fwrite(name, 1, strlen(name), f);
    if (n)
        fwrite(data, 1, n, f);
    return off;
}

static void big_central(FILE *f, const char *name, const unsigned char *data, size_t n,
                        uint64_t off)
{
    put32(f, 0x02014b50u);
    put16(f, 20), put16(f, 20), put16(f, 0), put16(f, 0), put16(f, 0), put16(f, 0x21);
    put32(f, big_crc32(data, n)), put32(f, (uint32_t)n), put32(f, (uint32_t)n);
    put16(f, (unsigned)strlen(name)), put16(f, 0), put16(f, 0), put16(f, 0), put16(f, 0);
    put32(f, 0), put32(f, (uint32_t)off);
    fwrite(name, 1, strlen(name), f);
}

#define BIG_ENTRIES 100000

static void big_name(char *buf, size_t cap, int i)
{
    if (i == 0)
        snprintf(buf, cap, "archive/data.pkl");
    else if (i == BIG_ENTRIES + 1)
        snprintf(buf, cap, "archive/version");
    else
        snprintf(buf, cap, "archive/x%06d", i);
}

static int big_zip_100k(const char *path)
{
    static const unsigned char pkl[] = {0x80, 0x02, '}', 'q', 0x00, '.'};
    static const unsigned char version[] = {'3', '\n'};
    const int total = BIG_ENTRIES + 2;
    FILE *f = fopen(path, "wb");
    char name[64];
    if (!f)
        return -1;
    uint32_t *offs = calloc((size_t)total, sizeof *offs);
    for (int i = 0; i < total; i++) {
        big_name(name, sizeof name, i);
        const unsigned char *d = i == 0 ? pkl : i == total - 1 ? version : NULL;
        size_t n = i == 0 ? sizeof pkl : i == total - 1 ? sizeof version : 0;
        offs[i] = (uint32_t)big_local(f, name, d, n);
    }
    uint64_t cd = (uint64_t)ftell(f);
    for (int i = 0; i < total; i++) {
        big_name(name, sizeof name, i);
        const unsigned char *d = i == 0 ? pkl : i == total - 1 ? version : NULL;
        size_t n = i == 0 ? sizeof pkl : i == total - 1 ? sizeof version : 0;
        big_central(f, name, d, n, offs[i]);
    }
    free(offs);
    uint64_t z64 = (uint64_t)ftell(f);
    put32(f, 0x06064b50u), put64(f, 44), put16(f, 45), put16(f, 45), put32(f, 0), put32(f, 0);
    put64(f, (uint64_t)total), put64(f, (uint64_t)total), put64(f, z64 - cd), put64(f, cd);
    put32(f, 0x07064b50u), put32(f, 0), put64(f, z64), put32(f, 1);
    put32(f, 0x06054b50u), put16(f, 0), put16(f, 0), put16(f, 0xffff), put16(f, 0xffff);
    put32(f, (uint32_t)(z64 - cd)), put32(f, (uint32_t)cd), put16(f, 0);
    return fclose(f) ? -1 : 0;
}

#define BIG_PICKLE_OPS ((size_t)16 << 20)

/* A torch.save zip (stored) of data.pkl: PROTO 2, EMPTY_LIST, MARK, first
 * (EMPTY_LIST), then `each` BIG_PICKLE_OPS times, APPENDS, STOP. */
static int big_pickle(const char *path, unsigned char first, unsigned char each)
{
    size_t n = BIG_PICKLE_OPS + 7;
    unsigned char *pkl = malloc(n);
    FILE *f = pkl ? fopen(path, "wb") : NULL;
    if (!f) {
        free(pkl);
        return -1;
    }
    memcpy(pkl, "\x80\x02]( ", 5);
    pkl[4] = first;
    memset(pkl + 5, each, BIG_PICKLE_OPS);
    pkl[n - 2] = 'e';
    pkl[n - 1] = '.';
    static const unsigned char version[] = {'3', '\n'};
    uint64_t o1 = big_local(f, "archive/data.pkl", pkl, n);
    uint64_t o2 = big_local(f, "archive/version", version, sizeof version);
    uint64_t cd = (uint64_t)ftell(f);
    big_central(f, "archive/data.pkl", pkl, n, o1);
    big_central(f, "archive/version", version, sizeof version, o2);
    uint64_t end = (uint64_t)ftell(f);
    put32(f, 0x06054b50u), put16(f, 0), put16(f, 0), put16(f, 2), put16(f, 2);
    put32(f, (uint32_t)(end - cd)), put32(f, (uint32_t)cd), put16(f, 0);
    free(pkl);
    return fclose(f) ? -1 : 0;
}

#define BIG_MATRIX 30000

enum { BIG_EACH, BIG_ALL, BIG_AFTER_EXCLUDE };

/* A case whose matrix has BIG_MATRIX values, and an entry of what
 * (exclude or include) for each value but the last. BIG_ALL: the include
 * entries name no matrix value, so that each matches every combination;
 * BIG_AFTER_EXCLUDE: the same after `exclude: [{}]`, and each a case key of
 * its own. */
static int big_entries(const char *path, const char *what, int kind)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs("suite: hostile\ncases:\n  - name: e\n    file: {generate: {shape: [2]}}\n"
          "    matrix:\n      staging_budget: [",
          f);
    for (int k = 1; k <= BIG_MATRIX; k++)
        fprintf(f, "%s%d", k > 1 ? "," : "", k);
    fprintf(f, "]\n%s    %s:\n", kind == BIG_AFTER_EXCLUDE ? "    exclude: [{}]\n" : "", what);
    for (int k = 1; k < BIG_MATRIX; k++)
        if (kind == BIG_AFTER_EXCLUDE)
            fprintf(f, "      - {key: k%d}\n", k);
        else if (kind == BIG_ALL)
            fprintf(f, "      - {timeout: %d}\n", k % 1000 + 1);
        else
            fprintf(f, "      - {staging_budget: %d%s}\n", k,
                    strcmp(what, "include") ? "" : ", timeout: 5");
    return fclose(f) ? -1 : 0;
}

static int hostile_big_write(const char *name, const char *path)
{
    if (!strcmp(name, "big-exclude-30k.yaml"))
        return big_entries(path, "exclude", BIG_EACH);
    if (!strcmp(name, "big-include-30k.yaml"))
        return big_entries(path, "include", BIG_EACH);
    if (!strcmp(name, "big-include-all-30k.yaml"))
        return big_entries(path, "include", BIG_ALL);
    if (!strcmp(name, "big-include-after-exclude-30k.yaml"))
        return big_entries(path, "include", BIG_AFTER_EXCLUDE);
    if (!strcmp(name, "big-pickle-lists-16mib.pt"))
        return big_pickle(path, ']', ']');
    if (!strcmp(name, "big-pickle-dups-16mib.pt"))
        return big_pickle(path, ']', '2');
    if (!strcmp(name, "big-st-header-over.safetensors"))
        return big_st_header_over(path);
    if (!strcmp(name, "big-st-header-99mb.safetensors"))
        return big_st_header_99mb(path);
    if (!strcmp(name, "big-zip-100k-entries.pt"))
        return big_zip_100k(path);
    return -1;
}
#endif
