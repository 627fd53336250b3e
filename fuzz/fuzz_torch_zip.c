/* libFuzzer target: the torch.save readers (torch-zip, torch-legacy), and
 * through them the zip container and the restricted unpickler.
 *
 * Each input is written to a memfd and opened by path (/proc/self/fd/N; input.h):
 * detected by its bytes, then with each reader forced, then with the key
 * "model" and with CRC checks off (so that mutated tensor bytes get past
 * the CRC and reach the views). Whatever the bytes, the open must end
 * classified (LG_OK, or an error code in range with a message) and an
 * accepted file's tensors must read back (or report their record's CRC-32
 * mismatch, which is checked at a record's first read). Anything
 * else aborts, which libFuzzer reports as a crash. Small accepted files
 * are also loaded into a sim store (staged), which takes the readers'
 * in-place bytes, and read back.
 *
 * Seeds: fuzz/corpus/torch_zip (the reference files and crafted ones);
 * dictionary: fuzz/torch_zip.dict. */
#include "input.h"
#include "loadgate/loadgate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int fd = -1;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_torch_zip: %s:%d: %s failed (%s)\n", __FILE__, __LINE__,  \
                    #cond, lg_error_message());                                           \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fd = fuzz_input_open("fuzz.pt");
    return 0;
}

/* Every tensor reads back, but one whose record's CRC-32 is wrong: that
 * read fails with the mismatch, and sets *crc_wrong. */
static uint64_t read_all(lg_checkpoint *c, int *crc_wrong)
{
    uint64_t total = 0;
    for (size_t i = 0; i < lg_checkpoint_count(c); i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        CHECK(t && t->name);
        CHECK(lg_checkpoint_find(c, t->name) != (size_t)-1);
        total += t->nbytes;
        if (t->nbytes > (64u << 20))
            continue; /* a broadcast view may be far larger than the file */
        unsigned char *buf = malloc(t->nbytes ? (size_t)t->nbytes : 1);
        CHECK(buf);
        lg_status st = lg_checkpoint_read(c, i, buf, (size_t)t->nbytes);
        if (st == LG_E_FORMAT && strstr(lg_error_message(), "CRC-32 mismatch"))
            *crc_wrong = 1;
        else
            CHECK(st == LG_OK);
        free(buf);
    }
    return total;
}

/* A sim store on cpu mirrored from the file, loaded staged: tensors go
 * through the reader's in-place bytes where it has them (ASan checks they
 * lie inside the map), and the values invariant's bytes must match. */
static void load_into_store(const lg_checkpoint *c, const lg_open_options *o)
{
    lg_backend *b;
    lg_store *s;
    CHECK(lg_backend_open("sim", &b) == LG_OK);
    CHECK(lg_store_new(b, lg_device_cpu(), &s) == LG_OK);
    for (size_t i = 0; i < lg_checkpoint_count(c); i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        if (lg_store_add(s, t->name, t->dtype, t->ndim, t->shape) != LG_OK) {
            lg_store_free(s); /* a name the store refuses (empty, or a duplicate) */
            lg_backend_close(b);
            return;
        }
    }
    lg_load_options lo;
    lg_load_options_init(&lo);
    lo.policy = LG_POLICY_STAGED;
    lo.reader = o->reader;
    lo.key = o->key;
    lo.crc = o->crc;
    CHECK(lg_store_load(s, fuzz_input_path, &lo, NULL) == LG_OK);
    for (size_t i = 0; i < lg_store_count(s); i++) {
        const lg_tensor_info *v = lg_store_var(s, i);
        size_t k = lg_checkpoint_find(c, v->name);
        unsigned char *x = malloc(v->nbytes + 1), *y = malloc(v->nbytes + 1);
        lg_device where;
        CHECK(x && y && k != (size_t)-1);
        CHECK(lg_store_read(s, i, x, (size_t)v->nbytes, &where) == LG_OK);
        CHECK(lg_checkpoint_read((lg_checkpoint *)c, k, y, (size_t)v->nbytes) == LG_OK);
        CHECK(!memcmp(x, y, (size_t)v->nbytes));
        free(x);
        free(y);
    }
    lg_store_free(s);
    CHECK(lg_backend_live_tensors(b) == 0);
    lg_backend_close(b);
}

static void try_open(const lg_open_options *o)
{
    lg_checkpoint *c = NULL;
    lg_error_clear();
    lg_status st = lg_checkpoint_open(fuzz_input_path, o, &c);
    if (st != LG_OK) {
        CHECK(st > LG_OK && st < LG_STATUS_COUNT);
        CHECK(lg_error_message()[0] != '\0');
        CHECK(c == NULL);
        return;
    }
    int crc_wrong = 0;
    if (read_all(c, &crc_wrong) <= (1u << 20) && !crc_wrong)
        load_into_store(c, o);
    lg_checkpoint_close(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();
    static const lg_open_options opts[] = {
        {.reader = NULL},
        {.reader = "torch-zip", .crc = "off"},
        {.reader = "torch-legacy"},
        {.reader = "torch-zip", .key = "model", .crc = "warn"},
    };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        try_open(&opts[i]);
    return 0;
}
