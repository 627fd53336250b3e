/* Load a checkpoint into a store on a device with a policy, and print its
 * tensors. The store mirrors the file: one variable per tensor, same name,
 * dtype and shape (a real program declares its own model's variables).
 *
 *   load_print CHECKPOINT [DEVICE [POLICY [BACKEND]]]
 *   load_print model.safetensors mps via-cpu sim
 *
 * Uses only the public API; with the sim backend and the native readers
 * it links with `pkg-config --libs loadgate` alone (examples/README.md). */
#include <loadgate/loadgate.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what, lg_status st)
{
    fprintf(stderr, "load_print: %s: %s: %s\n", what, lg_status_name(st), lg_error_message());
    return 1;
}

/* The store gets one variable per tensor of the file. */
static lg_status mirror(lg_store *s, const char *path, lg_backend *b)
{
    lg_open_options o = {.backend = b};
    lg_checkpoint *c = NULL;
    lg_status st = lg_checkpoint_open(path, &o, &c);
    for (size_t i = 0; st == LG_OK && i < lg_checkpoint_count(c); i++) {
        const lg_tensor_info *t = lg_checkpoint_tensor(c, i);
        st = lg_store_add(s, t->name, t->dtype, t->ndim, t->shape);
    }
    lg_checkpoint_close(c);
    return st;
}

/* name  dtype  [shape]  device  first values (f32 only) */
static lg_status print_var(lg_store *s, size_t i)
{
    const lg_tensor_info *v = lg_store_var(s, i);
    char dn[LG_DEVICE_NAME_MAX];
    lg_device where;
    void *buf = malloc(v->nbytes ? v->nbytes : 1);
    if (!buf)
        return LG_E_NOMEM;
    lg_status st = lg_store_read(s, i, buf, v->nbytes, &where);
    if (st == LG_OK) {
        printf("%-24s %-4s [", v->name, lg_dtype_name(v->dtype));
        for (int d = 0; d < v->ndim; d++)
            printf("%s%lld", d ? ", " : "", (long long)v->shape[d]);
        printf("] on %s", lg_device_format(where, dn));
        for (size_t k = 0; v->dtype == LG_F32 && k < 3 && k < v->nbytes / 4; k++)
            printf("%s%g", k ? " " : "  ", (double)((const float *)buf)[k]);
        printf("\n");
    }
    free(buf);
    return st;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 5) {
        fprintf(stderr, "usage: load_print CHECKPOINT [DEVICE [POLICY [BACKEND]]]\n");
        return 2;
    }
    lg_device dev;
    lg_load_options o;
    lg_load_options_init(&o);
    lg_status st = lg_device_parse(argc > 2 ? argv[2] : "cpu", &dev);
    if (st != LG_OK)
        return fail("device", st);
    if (argc > 3 && (st = lg_policy_parse(argv[3], &o.policy)) != LG_OK)
        return fail("policy", st);
    lg_backend *b = NULL;
    lg_store *s = NULL;
    lg_load_stats stats;
    if ((st = lg_backend_open(argc > 4 ? argv[4] : "sim", &b)) != LG_OK)
        return fail("backend", st);
    st = lg_store_new(b, dev, &s);
    if (st == LG_OK)
        st = mirror(s, argv[1], b);
    if (st == LG_OK)
        st = lg_store_load(s, argv[1], &o, &stats);
    int rc = st == LG_OK ? 0 : fail(argv[1], st);
    if (st == LG_OK) {
        printf("%s: %zu tensors, %llu bytes, policy %s, backend %s\n", argv[1],
               stats.tensors_loaded, (unsigned long long)stats.bytes_loaded,
               lg_policy_name(stats.policy_used), lg_backend_name(b));
        for (size_t i = 0; rc == 0 && i < lg_store_count(s); i++)
            if ((st = print_var(s, i)) != LG_OK)
                rc = fail("read", st);
    }
    lg_store_free(s);
    lg_backend_close(b);
    return rc;
}
