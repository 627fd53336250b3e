/* PyTorch torch.save checkpoints: the zip format (PyTorch 1.6 and later)
 * and the legacy format before it. For now they are only recognised, so
 * that such a file gets a clear "not supported yet" rather than "unknown
 * format"; the native reader replaces this file. */
#include "formats/format.h"

#include <string.h>

static uint32_t rd16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }

/* The first zip entry is "<prefix>/data.pkl" (torch.save writes the pickle
 * first), and libtorch's own serializer did not write the file (it writes
 * tensor records first, and code/ and constants.pkl). */
static int zip_sniff(const unsigned char *head, size_t n, uint64_t size)
{
    static const char pkl[] = "/data.pkl";
    const size_t pl = sizeof pkl - 1;
    if (n < 30 || memcmp(head, "PK\x03\x04", 4))
        return 0;
    size_t nlen = rd16(head + 26);
    if (30 + nlen > n || nlen <= pl || memcmp(head + 30 + nlen - pl, pkl, pl))
        return 0;
    if (memchr(head + 30, '/', nlen - pl))
        return 0; /* the prefix is one folder deep */
    return !lg__torch_archive_reader.sniff(head, n, size);
}

/* Pickle protocol 2 (0x80 0x02), then LONG1 of 10 bytes: the magic number
 * 0x1950a86a20f9469cfc6c that torch.save wrote before 1.6. */
static const unsigned char legacy_magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c,
                                             0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

static int legacy_sniff(const unsigned char *head, size_t n, uint64_t size)
{
    return n >= sizeof legacy_magic && !memcmp(head, legacy_magic, sizeof legacy_magic);
}

static lg_status zip_open(lg_checkpoint *c)
{
    return lg__err(LG_E_FORMAT, "%s: PyTorch torch.save checkpoint (zip format): not "
                   "supported yet", c->path);
}

static lg_status legacy_open(lg_checkpoint *c)
{
    return lg__err(LG_E_FORMAT, "%s: PyTorch torch.save checkpoint (legacy format, before "
                   "1.6): not supported yet", c->path);
}

static lg_status no_read(lg_checkpoint *c, size_t i, void *dst)
{
    return lg__err(LG_E_FORMAT, "%s: torch.save checkpoints are not supported yet", c->path);
}

static void no_close(lg_checkpoint *c) {}

const lg__reader_ops lg__torch_zip_reader = {
    .name = "torch-zip",
    .sniff = zip_sniff,
    .open = zip_open,
    .read = no_read,
    .close = no_close,
};

const lg__reader_ops lg__torch_legacy_reader = {
    .name = "torch-legacy",
    .sniff = legacy_sniff,
    .open = legacy_open,
    .read = no_read,
    .close = no_close,
};
