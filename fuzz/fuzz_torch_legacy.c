/* libFuzzer target: the legacy torch.save reader (before PyTorch 1.6:
 * magic number, protocol and sys_info pickles, the object pickle, the
 * storage keys, then each storage's bytes), lg__torch_legacy_reader.
 *
 * Each input is written to a memfd and opened by path (/proc/self/fd/N;
 * input.h) through lg_checkpoint_open with the reader "torch-legacy"
 * forced, then again with the key "model" (which defers refused globals
 * outside the key). Whatever the bytes, the open must end classified
 * (LG_OK, or an error code in range with a message, and no checkpoint);
 * an accepted file's tensors must be found by name and read back, and,
 * when small, load staged into a sim store on cpu whose bytes equal the
 * reader's. Anything else aborts, which libFuzzer reports as a crash.
 *
 * Seeds: fuzz/corpus/torch_legacy (the legacy reference files and
 * crafted ones); dictionary: fuzz/torch_legacy.dict. */
#include "input.h"
#include "loadgate/loadgate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fd = -1;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_torch_legacy: %s:%d: %s failed (%s)\n", __FILE__,         \
                    __LINE__, #cond, lg_error_message());                                 \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fd = fuzz_input_open("fuzz-legacy.pt");
    return 0;
}

/* Reads every tensor of at most 64 MiB; returns the bytes claimed. */
static uint64_t read_all(lg_checkpoint *c)
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
        CHECK(lg_checkpoint_read(c, i, buf, (size_t)t->nbytes) == LG_OK);
        free(buf);
    }
    return total;
}

/* A sim store on cpu mirrored from the file, loaded staged; its bytes
 * equal the reader's. */
static void load_into_store(lg_checkpoint *c, const lg_open_options *o)
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
    CHECK(lg_store_load(s, fuzz_input_path, &lo, NULL) == LG_OK);
    for (size_t i = 0; i < lg_store_count(s); i++) {
        const lg_tensor_info *v = lg_store_var(s, i);
        size_t k = lg_checkpoint_find(c, v->name);
        unsigned char *x = malloc(v->nbytes + 1), *y = malloc(v->nbytes + 1);
        lg_device where;
        CHECK(x && y && k != (size_t)-1);
        CHECK(lg_store_read(s, i, x, (size_t)v->nbytes, &where) == LG_OK);
        CHECK(lg_checkpoint_read(c, k, y, (size_t)v->nbytes) == LG_OK);
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
    CHECK(!strcmp(lg_checkpoint_format(c), "torch-legacy"));
    if (read_all(c) <= (1u << 20))
        load_into_store(c, o);
    lg_checkpoint_close(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();
    static const lg_open_options opts[] = {
        {.reader = "torch-legacy"},
        {.reader = "torch-legacy", .key = "model"},
    };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        try_open(&opts[i]);
    return 0;
}
