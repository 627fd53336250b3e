/* The zip format's numbers (PKWARE APPNOTE 6.3): record signatures, fixed
 * header sizes and the offsets of the fields the harness writes or edits,
 * and little-endian accessors. Shared by the zip writer (fixture/zipw.c)
 * and the torch.save zip corruptions (corrupt/torch_zip.c), so that
 * neither spells a field as a bare number. */
#ifndef HX_ZIPFMT_H
#define HX_ZIPFMT_H

#include <stdint.h>

/* Signatures, the first 4 bytes of each record. */
#define HX_ZIP_SIG_LOCAL 0x04034b50u
#define HX_ZIP_SIG_CENTRAL 0x02014b50u
#define HX_ZIP_SIG_DESCRIPTOR 0x08074b50u
#define HX_ZIP_SIG_EOCD 0x06054b50u
#define HX_ZIP_SIG_Z64_EOCD 0x06064b50u
#define HX_ZIP_SIG_Z64_LOCATOR 0x07064b50u

/* Fixed parts, without names, extra fields or comments. */
#define HX_ZIP_LOCAL_SIZE 30u
#define HX_ZIP_CENTRAL_SIZE 46u
#define HX_ZIP_EOCD_SIZE 22u
#define HX_ZIP_Z64_EOCD_SIZE 56u
#define HX_ZIP_Z64_LOCATOR_SIZE 20u

/* Local file header fields. */
#define HX_ZIP_LOCAL_VERSION 4u
#define HX_ZIP_LOCAL_FLAGS 6u
#define HX_ZIP_LOCAL_METHOD 8u
#define HX_ZIP_LOCAL_CRC 14u
#define HX_ZIP_LOCAL_CSIZE 18u
#define HX_ZIP_LOCAL_USIZE 22u
#define HX_ZIP_LOCAL_NLEN 26u
#define HX_ZIP_LOCAL_XLEN 28u

/* Central directory entry fields. */
#define HX_ZIP_CENTRAL_MADE_BY 4u
#define HX_ZIP_CENTRAL_VERSION 6u
#define HX_ZIP_CENTRAL_FLAGS 8u
#define HX_ZIP_CENTRAL_METHOD 10u
#define HX_ZIP_CENTRAL_CRC 16u
#define HX_ZIP_CENTRAL_CSIZE 20u
#define HX_ZIP_CENTRAL_USIZE 24u
#define HX_ZIP_CENTRAL_NLEN 28u
#define HX_ZIP_CENTRAL_XLEN 30u
#define HX_ZIP_CENTRAL_CLEN 32u
#define HX_ZIP_CENTRAL_LOCAL 42u

/* Data descriptor: the CRC-32 after the signature. */
#define HX_ZIP_DESCRIPTOR_CRC 4u

/* End of central directory record fields. */
#define HX_ZIP_EOCD_COUNT_DISK 8u
#define HX_ZIP_EOCD_COUNT 10u
#define HX_ZIP_EOCD_CD_SIZE 12u
#define HX_ZIP_EOCD_CD_OFFSET 16u
#define HX_ZIP_EOCD_CLEN 20u

/* Zip64 end of central directory record fields. */
#define HX_ZIP_Z64_EOCD_RECORD_SIZE 4u /* the bytes after this field: 44 */
#define HX_ZIP_Z64_EOCD_MADE_BY 12u
#define HX_ZIP_Z64_EOCD_VERSION 14u
#define HX_ZIP_Z64_EOCD_COUNT_DISK 24u
#define HX_ZIP_Z64_EOCD_COUNT 32u
#define HX_ZIP_Z64_EOCD_CD_SIZE 40u
#define HX_ZIP_Z64_EOCD_CD_OFFSET 48u

/* Zip64 end of central directory locator fields. */
#define HX_ZIP_Z64_LOCATOR_OFFSET 8u
#define HX_ZIP_Z64_LOCATOR_DISKS 16u

/* General purpose flags, methods, versions, extra field ids. */
#define HX_ZIP_FLAG_DESCRIPTOR 0x0008u /* sizes and CRC-32 in a descriptor after the data */
#define HX_ZIP_FLAG_UTF8 0x0800u
#define HX_ZIP_STORED 0u
#define HX_ZIP_DEFLATED 8u
#define HX_ZIP_VERSION_ZIP64 45u
#define HX_ZIP_EXTRA_ZIP64 0x0001u
#define HX_ZIP_EXTRA_PAD 0x4246u /* "FB": PyTorch's padding that aligns record data */

/* A field that does not fit says so with its maximum; zip64 holds the value. */
#define HX_ZIP_MAX16 0xffffu
#define HX_ZIP_MAX32 0xffffffffu

static inline uint32_t hx_rd16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}
static inline uint32_t hx_rd32(const unsigned char *p) { return hx_rd16(p) | hx_rd16(p + 2) << 16; }
static inline uint64_t hx_rd64(const unsigned char *p)
{
    return hx_rd32(p) | (uint64_t)hx_rd32(p + 4) << 32;
}
/* The low k bytes of v, little-endian, at p. */
static inline void hx_wr_le(unsigned char *p, uint64_t v, int k)
{
    for (int i = 0; i < k; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static inline void hx_wr16(unsigned char *p, uint64_t v) { hx_wr_le(p, v, 2); }
static inline void hx_wr32(unsigned char *p, uint64_t v) { hx_wr_le(p, v, 4); }
static inline void hx_wr64(unsigned char *p, uint64_t v) { hx_wr_le(p, v, 8); }
#endif
