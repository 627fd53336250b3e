/* Byte-level corruption of a fixture file: one hx_corrupt applied
 * to a copy. The generators and their expansion are documented in
 * docs/cases.md. */
#ifndef HX_CORRUPT_H
#define HX_CORRUPT_H

#include "loadgate/loadgate.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    HX_CORRUPT_NONE, HX_CORRUPT_TRUNCATE, HX_CORRUPT_FLIP, HX_CORRUPT_ZERO,
    HX_CORRUPT_SPLICE,      /* bytes of another file written over (or into) this one */
    HX_CORRUPT_SAFETENSORS, /* a named rewrite of a safetensors header (corrupt.h) */
    HX_CORRUPT_TORCH_ZIP    /* a named edit of a torch.save zip archive (corrupt.h) */
} hx_corrupt_kind;

/* The longest name a splice's source has in a case id's label. */
#define HX_SPLICE_NAME_MAX 31

/* One concrete corruption (lists are expanded into one case each). */
typedef struct {
    hx_corrupt_kind kind;
    int64_t a, b;      /* truncate: a = length; zero: [a, b); negative = from the end */
    int a_half, b_half;/* the word `half` */
    int bit;           /* flip: bit 0..7 at offset a; -1 = every bit of the byte */
    int random;        /* flip random: count (a), seed */
    uint64_t seed;
    char label[112];   /* the value as it appears in the case id: room for
                          every label whole (a splice's at most 108 bytes) */
    /* splice: bytes [a, b) of the file `from` are written at offset `at` of
     * the case's file (inserted when `insert`); `from` is owned by the case
     * (hx_case_copy / hx_case_free), `from_name` is the fixture's name or
     * the path's last part, or "inline-" and a digest of an inline
     * source's spec, for the label; a longer name than fits is cut and
     * given a digest of the whole (hx_splice_name). */
    char *from;
    char from_name[HX_SPLICE_NAME_MAX + 1];
    int64_t at;
    int at_half;
    int insert;
    int mutation;      /* safetensors: index into hx_st_mutations();
                          torch_zip: index into hx_tz_mutations() */
} hx_corrupt;

/* The class a corruption belongs to, for the reliability table
 * (docs/reliability.md): one per generator family. */
typedef enum {
    HX_CLASS_NONE, HX_CLASS_TRUNCATE, HX_CLASS_FLIP_BIT, HX_CLASS_FLIP_BYTE,
    HX_CLASS_FLIP_RANDOM, HX_CLASS_ZERO, HX_CLASS_SPLICE, HX_CLASS_SAFETENSORS,
    HX_CLASS_TORCH_ZIP, HX_CLASS_COUNT
} hx_corrupt_class;

/* corrupt/class.c. The class of c (HX_CLASS_NONE for no corruption). */
hx_corrupt_class hx_corrupt_class_of(const hx_corrupt *c);
/* The class's name as the reliability table prints it: "truncate",
 * "flip every byte", "flip bit", "flip random", "zero", "splice",
 * "safetensors", "torch_zip"; "none" for HX_CLASS_NONE, and "other" for
 * any value outside the enum (HX_CLASS_COUNT included). */
const char *hx_corrupt_class_name(hx_corrupt_class k);
/* The class of a corruption label as written by hx_corrupt_label, for
 * reports written before the class was recorded: HX_CLASS_NONE for NULL,
 * "" or "none", HX_CLASS_COUNT ("other") for a label of no known class. */
hx_corrupt_class hx_corrupt_class_of_label(const char *label);

/* Writes in, corrupted as c says, to out (created or replaced). HX_CORRUPT_NONE
 * copies the file. Returns LG_OK, or a status with a message in hx_errmsg()
 * (util/error.h): LG_E_INVALID for a corruption the file cannot take (an
 * offset or length outside the file is an error, not clamped; an input a
 * named mutation cannot parse), LG_E_IO, LG_E_NOMEM. */
lg_status hx_corrupt_apply(const hx_corrupt *c, const char *in, const char *out);
/* hx_corrupt_apply in two steps, for a caller that picks where the copy
 * goes by the source's size: the corrupted bytes of in (*buf, malloc'd,
 * NULL on an error; *len) and the source's size (*in_len), then those
 * bytes written to out. */
lg_status hx_corrupt_make(const hx_corrupt *c, const char *in, unsigned char **buf,
                          size_t *len, size_t *in_len);
lg_status hx_corrupt_write(const char *out, const unsigned char *buf, size_t len);
/* hx_corrupt_write over a file kept from one copy to the next: out
 * (created when missing) written from its start, then cut to len. Its
 * page stays, where a file written anew is made and removed each time. */
lg_status hx_corrupt_rewrite(const char *out, const unsigned char *buf, size_t len);
/* hx_corrupt_apply keeps the bytes of the last file it read (up to 16 MiB)
 * for the next corruption of the same file, unchanged since (util/fs.h,
 * hx_same_file). This forgets them. */
void hx_corrupt_forget(void);

/* The same on a buffer: *len may shrink (truncate). Splice and
 * safetensors mutations may grow the file: they need
 * hx_corrupt_apply_mem, and are an error (LG_E_INVALID) here. */
lg_status hx_corrupt_apply_buf(const hx_corrupt *c, unsigned char *buf, size_t *len);

/* Every kind, on a malloc'd buffer: *buf may be replaced by a new one
 * (splice and safetensors mutations may grow the file) and *len changes
 * with it. On an error *buf is still valid and owned by the caller. */
lg_status hx_corrupt_apply_mem(const hx_corrupt *c, unsigned char **buf, size_t *len);

/* The named safetensors mutations (docs/cases.md, `corrupt: {safetensors:
 * NAME}`). Each rewrites the header of a valid safetensors file: parsed
 * with jansson, changed, written back compactly in file order, padded with
 * spaces to a multiple of 8, with the length field fixed; the same input
 * gives the same bytes. */
typedef struct {
    const char *name;
    const char *expect;  /* status on a store mirrored from the original
                            file: "LG_E_FORMAT", "LG_OK", "LG_E_SHAPE", ... */
    const char *message; /* a substring of the reader's message, or NULL */
    int in_all;          /* part of `safetensors: all` (every one that the
                            reader must refuse) */
} hx_st_mutation;

/* The table, terminated by an entry whose name is NULL. */
const hx_st_mutation *hx_st_mutations(void);
/* Index of name in the table, or -1. */
int hx_st_mutation_find(const char *name);

/* The named torch.save zip mutations (docs/cases.md, `corrupt: {torch_zip:
 * NAME}`). Each edits a valid torch.save zip archive in place (same length,
 * except eocd-truncated, which cuts the file): the end record, the central
 * directory, a local header, a record's bytes or data.pkl's opcodes. A
 * pickle edit fixes the CRC-32 of data.pkl in both headers, so that the
 * unpickler, not the CRC check, refuses the file. */
typedef struct {
    const char *name;
    const char *expect;  /* "LG_E_FORMAT" */
    const char *message; /* a substring of the reader's message */
    int in_all;          /* part of `torch_zip: all` (read with the reader that
                            the magic bytes pick) */
    const char *reader;  /* the reader the status holds for when the mutation
                            changes which one the magic bytes pick, or NULL */
} hx_tz_mutation;

/* The table, terminated by an entry whose name is NULL. */
const hx_tz_mutation *hx_tz_mutations(void);
/* Index of name in the table, or -1. */
int hx_tz_mutation_find(const char *name);

/* An offset of a case file resolved against a file of size bytes: `half`
 * is size / 2, a negative value counts from the end. Returns 0, or -1 when
 * the result is below 0 or above size. */
int hx_corrupt_offset(int64_t v, int half, uint64_t size, uint64_t *out);

/* splitmix64: the generator behind flip {random: N, seed: S}. Each call
 * advances *state and returns the next value. */
uint64_t hx_splitmix64(uint64_t *state);

/* Writes the case id label of c into c->label ("truncate:7", "flip:12:3",
 * "flip:12:all", "flip:random4:seed1", "zero:0:half", "splice:mixed:8:40@8",
 * "splice:mixed:0:8@-1:insert", "safetensors:offsets-gap",
 * "torch_zip:crc-mismatch"). */
void hx_corrupt_label(hx_corrupt *c);
#endif
