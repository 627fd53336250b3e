/* libFuzzer target: the safetensors reader, and a load of what it accepts.
 *
 * Each input is written to a memfd and opened by path (/proc/self/fd/N; input.h),
 * as a file on disk would be: detected by its bytes, then with the reader
 * forced. Whatever the bytes, the open must end classified (LG_OK, or an
 * error code in range with a message); an accepted file's tensors must lie
 * inside it and read back; and a load of an accepted file into a sim store
 * on mps, mirrored from it, must succeed (or refuse float64, as MPS does)
 * and leave the store on mps with no tensor leaked. Anything else aborts,
 * which libFuzzer reports as a crash. */
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
            fprintf(stderr, "fuzz_safetensors: %s:%d: %s failed (%s)\n", __FILE__, __LINE__, \
                    #cond, lg_error_message());                                           \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fd = fuzz_input_open("fuzz.safetensors");
    return 0;
}

static void classified(lg_status st)
{
    CHECK(st > LG_OK && st < LG_STATUS_COUNT);
    CHECK(lg_error_message()[0] != '\0');
}

/* A sim store on mps with one variable per tensor, loaded via cpu. */
static void load_into_store(const lg_checkpoint *c, uint64_t total)
{
    lg_backend *b;
    lg_store *s;
    if (total > (1u << 20))
        return;
    CHECK(lg_backend_open("sim", &b) == LG_OK);
    lg_device mps;
    CHECK(lg_device_parse("mps", &mps) == LG_OK);
    CHECK(lg_store_new(b, mps, &s) == LG_OK);
    int f64 = 0;
    for (size_t i = 0; i < lg_checkpoint_count(c); i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        lg_dtype d = t->dtype == LG_F64 ? LG_F32 : t->dtype; /* mps holds no float64 */
        f64 |= t->dtype == LG_F64;
        if (lg_store_add(s, t->name, d, t->ndim, t->shape) != LG_OK) {
            /* a name the store refuses (empty) or a shape it cannot size */
            lg_store_free(s);
            lg_backend_close(b);
            return;
        }
    }
    size_t live = lg_backend_live_tensors(b);
    lg_status st = lg_store_load(s, fuzz_input_path, NULL, NULL);
    CHECK(st == LG_OK || (f64 && st == LG_E_DTYPE));
    CHECK(lg_device_equal(lg_store_device(s), mps));
    CHECK(lg_backend_live_tensors(b) == live);
    lg_store_free(s);
    CHECK(lg_backend_live_tensors(b) == 0);
    lg_backend_close(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();
    for (int forced = 0; forced < 2; forced++) {
        lg_open_options o = {.reader = forced ? "safetensors" : NULL};
        lg_checkpoint *c = NULL;
        lg_error_clear();
        lg_status st = lg_checkpoint_open(fuzz_input_path, &o, &c);
        if (st != LG_OK) {
            classified(st);
            CHECK(c == NULL);
            continue;
        }
        uint64_t total = 0;
        for (size_t i = 0; i < lg_checkpoint_count(c); i++) {
            const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
            CHECK(t && t->name);
            CHECK(t->nbytes <= size);
            total += t->nbytes;
            CHECK(total <= size);
            unsigned char *buf = malloc(t->nbytes ? (size_t)t->nbytes : 1);
            CHECK(buf);
            CHECK(lg_checkpoint_read(c, i, buf, (size_t)t->nbytes) == LG_OK);
            free(buf);
            CHECK(lg_checkpoint_find(c, t->name) != (size_t)-1);
        }
        if (!forced && !strcmp(lg_checkpoint_format(c), "safetensors"))
            load_into_store(c, total);
        lg_checkpoint_close(c);
    }
    return 0;
}
