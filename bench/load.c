/* The library alone, for bench/run: no mirror, no invariants, no CLI.
 *
 * usage: load write FORMAT FILE TENSORS ELEMENTS
 *          writes FILE with the harness's generator (harness/fixture/gen.c):
 *          FORMAT safetensors or torch-zip (the zip torch.save writes),
 *          TENSORS f32 tensors of ELEMENTS values each, seed 1
 *        load load FILE BACKEND POLICY
 *          opens FILE, builds a CPU store of BACKEND with one variable per
 *          tensor (zero-filled: lg_store_add), then times lg_store_load
 *          under POLICY
 *
 * Prints "time_s=T" (load: lg_store_load alone) and "bytes=N". bench/run
 * compiles it against a build's include/, src/ and harness/ and links it
 * as that build links the harness (libhxcore.a, libloadgate.a and their
 * libraries). On an error: the file, the step and the library's message,
 * exit 1. */
#include "fixture/gen.h"
#include "loadgate/loadgate.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int fail(const char *file, const char *step, const char *msg)
{
    fprintf(stderr, "load: %s: %s: %s\n", file, step, msg && *msg ? msg : "failed");
    return 1;
}

static int write_file(const char *format, const char *path, const char *tensors,
                      const char *elements)
{
    hx_gen g;
    hx_gen_init(&g);
    snprintf(g.format, sizeof g.format, "%s", format);
    g.tensors = atoi(tensors);
    g.ndim = 1;
    g.shape[0] = strtoll(elements, NULL, 10);
    g.dtype = LG_F32;
    g.seed = 1;
    if (g.tensors <= 0 || g.shape[0] <= 0)
        return fail(path, "write", "TENSORS and ELEMENTS must be positive integers");
    if (hx_gen_write(&g, path) != LG_OK)
        return fail(path, "write", hx_errmsg());
    return 0;
}

/* One zero-filled variable per tensor of the file, as the file has it. */
static int build_store(const char *path, lg_backend *b, lg_store **out)
{
    lg_open_options oo = {0};
    oo.backend = b;
    lg_checkpoint *c = NULL;
    if (lg_checkpoint_open(path, &oo, &c) != LG_OK)
        return fail(path, "open", lg_error_message());
    int rc = lg_store_new(b, lg_device_cpu(), out) != LG_OK;
    for (size_t i = 0; !rc && i < lg_checkpoint_count(c); i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        rc = lg_store_add(*out, t->name, t->dtype, t->ndim, t->shape) != LG_OK;
    }
    lg_checkpoint_close(c);
    return rc ? fail(path, "store", lg_error_message()) : 0;
}

static int load_file(const char *path, const char *backend, const char *policy)
{
    lg_load_options o;
    lg_load_options_init(&o);
    if (lg_policy_parse(policy, &o.policy) != LG_OK)
        return fail(path, "policy", lg_error_message());
    lg_backend *b = NULL;
    if (lg_backend_open(backend, &b) != LG_OK)
        return fail(path, "backend", lg_error_message());
    lg_store *s = NULL;
    int rc = build_store(path, b, &s);
    if (rc == 0) {
        lg_load_stats st;
        double t0 = now();
        lg_status r = lg_store_load(s, path, &o, &st);
        double t = now() - t0;
        if (r != LG_OK)
            rc = fail(path, "lg_store_load", lg_error_message());
        else
            printf("time_s=%.6f\nbytes=%llu\ntensors=%zu\n", t,
                   (unsigned long long)st.bytes_loaded, st.tensors_loaded);
    }
    lg_store_free(s);
    lg_backend_close(b);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "write"))
        return write_file(argv[2], argv[3], argv[4], argv[5]);
    if (argc == 5 && !strcmp(argv[1], "load"))
        return load_file(argv[2], argv[3], argv[4]);
    fprintf(stderr, "usage: load write safetensors|torch-zip FILE TENSORS ELEMENTS\n"
                    "       load load FILE sim|torch via-cpu|staged|direct|auto|tch\n");
    return 2;
}
