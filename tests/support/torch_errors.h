/* What test_torch_errors.c and test_torch_file_errors.c share: the temp
 * folder, a message check, the files of tests/data/torch-errors, the torch
 * backend opened, and a two-tensor archive written. Included by those two
 * only. */
#ifndef TU_TORCH_ERRORS_H
#define TU_TORCH_ERRORS_H

static const char *g_dir;

#define assert_msg_has(text)                                                                   \
    ck_assert_msg(strstr(lg_error_message(), (text)), "\"%s\" not in: %s", (text),             \
                  lg_error_message())

#ifdef LOADGATE_HAVE_TORCH

static const lg_device cpu = {LG_DEV_CPU, 0};
static const lg_device mps = {LG_DEV_MPS, 0};

static const char *data(const char *name)
{
    static char path[8][4096];
    static int next;
    next = (next + 1) % 8;
    snprintf(path[next], sizeof path[next], "%s/tests/data/torch-errors/%s", tu_source_dir(),
             name);
    return path[next];
}

static lg_backend *open_torch(void)
{
    lg_backend *b = NULL;
    ck_assert_msg(lg_backend_open("torch", &b) == LG_OK, "%s", lg_error_message());
    return b;
}

typedef struct {
    int n;
    char names[4][32];
} seen;

static int note(void *ctx, const lg_named_data *t, lg_device where)
{
    seen *s = ctx;
    ck_assert(lg_device_equal(where, cpu));
    if (s->n < 4)
        snprintf(s->names[s->n], sizeof s->names[0], "%s", t->name);
    s->n++;
    return 0;
}

/* A two-tensor archive ("a" or another one-letter name, and "w"), each
 * of n f32 values (n <= PAIR_MAX). */
#define PAIR_MAX (64 << 10)
static const char *write_pair_n(const char *file, const char *name, const char *format,
                                int64_t n)
{
    static float v[PAIR_MAX];
    int64_t shape[] = {n};
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)(i + 1);
    lg_named_data t[2] = {{name, LG_F32, 1, shape, v}, {"w", LG_F32, 1, shape, v}};
    const char *path = tu_path(g_dir, file);
    ck_assert_msg(lg_torch_write_file(path, format, t, 2) == LG_OK, "%s", lg_error_message());
    return path;
}

static const char *write_pair(const char *file, const char *name, const char *format)
{
    return write_pair_n(file, name, format, 4);
}

#endif /* LOADGATE_HAVE_TORCH */
#endif
