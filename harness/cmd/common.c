/* Helpers shared by the subcommands that read checkpoints. */
#include "case/dir.h"
#include "cmd/args.h"
#include "cmd/cmd.h"
#include "run/sandbox.h"
#include "util/error.h"
#include "loadgate/loadgate.h"

#include <jansson.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

const char *hx_default_backend(void) { return "sim"; }

int hx_backend_name_valid(const char *s) { return !strcmp(s, "sim") || !strcmp(s, "torch"); }

int hx_reader_name_valid(const char *s)
{
    if (!strcmp(s, "auto"))
        return 1;
    for (const char *const *r = lg_readers(); *r; r++)
        if (!strcmp(*r, s))
            return 1;
    return 0;
}

int hx_cmd_no_device(const char *cmd, lg_backend *b, lg_device d)
{
    static const lg_device all[] = {{LG_DEV_CPU, 0}, {LG_DEV_CUDA, 0}, {LG_DEV_MPS, 0}};
    char dn[LG_DEVICE_NAME_MAX], have[64] = "";
    size_t used = 0;
    if (lg_backend_has_device(b, d))
        return 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (lg_backend_has_device(b, all[i]) && used < sizeof have)
            used += (size_t)snprintf(have + used, sizeof have - used, "%s%s", used ? ", " : "",
                                     lg_device_format(all[i], dn));
    fprintf(stderr, "harness %s: no such device: %s; the %s backend has %s\n", cmd,
            lg_device_format(d, dn), lg_backend_name(b), used ? have : "no device");
    return -1;
}

int hx_crc_mode_valid(const char *s)
{
    return !strcmp(s, "error") || !strcmp(s, "warn") || !strcmp(s, "off");
}

void hx_sha256_hex(const void *p, size_t n, char *hex)
{
    /* nettle: no allocation and no state of its own, so a digest works
     * even when memory has run out (OpenSSL 3 sets itself up on first use,
     * and crashes when that runs out of memory: test_oom) */
    unsigned char md[SHA256_DIGEST_SIZE];
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, n, p);
    sha256_digest(&ctx, sizeof md, md);
    for (unsigned i = 0; i < sizeof md; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

json_t *hx_shape_json(int ndim, const int64_t *shape)
{
    json_t *a = json_array();
    for (int k = 0; k < ndim; k++)
        json_array_append_new(a, json_integer(shape[k]));
    return a;
}

int hx_cmd_confined(const char *what, int (*fn)(void *), void *arg)
{
    int code = 1;
    if (hx_sandbox_call(fn, arg, &code) != LG_OK)
        fprintf(stderr, "harness %s: %s\n", what, hx_errmsg());
    return code;
}

/* ------------------------------------------------------ CLI conventions */

/* The values an option takes, by its long name; "" for an option that
 * takes any value. Readers come from the library (lg_readers). */
const char *hx_cmd_allowed(const char *option)
{
    static const struct {
        const char *name, *allowed;
    } t[] = {
        {"device", "cpu, cuda, cuda:N, mps"},
        {"policy", "via-cpu, staged, direct, auto, tch"},
        {"dtype-rule", "convert, adopt, strict"},
        {"format", "a comma-separated list of junit, json, md, html"},
        {"isolation", "worker, fork, spawn, none"},
        {"crc", "error, warn, off"},
        {"backend", "sim, torch"},
        {"jobs", "a whole number from 1 to 256"},
        {"shard", "I/N with 1 <= I <= N"},
        {"timeout", "seconds, 0 or more (0: none)"},
        {"seed", "a whole number, 0 or more"},
        {"staging-budget", "a byte count, 0 or more"},
    };
    static char names[256];
    size_t used = 0;
    names[0] = '\0';
    if (!strcmp(option, "reader")) {
        used = (size_t)snprintf(names, sizeof names, "auto");
        for (const char *const *r = lg_readers(); *r && used < sizeof names; r++)
            used += (size_t)snprintf(names + used, sizeof names - used, ", %s", *r);
        return names;
    }
    if (!strcmp(option, "store-dtype")) {
        for (int d = 0; d < LG_DTYPE_COUNT && used < sizeof names; d++)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", d ? ", " : "",
                                     lg_dtype_name((lg_dtype)d));
        return names;
    }
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(t[i].name, option))
            return t[i].allowed;
    return "";
}

int hx_cmd_bad_value(hx_args *a, int id, const char *value)
{
    const hx_opt *o = a->opts;
    while (o && o->name && o->id != id)
        o++;
    const char *name = o && o->name ? o->name : "?";
    const char *allowed = hx_cmd_allowed(name);
    char shortname[8] = "";
    if (o && o->short_name)
        snprintf(shortname, sizeof shortname, "-%c/", o->short_name);
    return hx_args_error(a, "%s--%s: bad value '%s'%s%s%s", shortname, name, value ? value : "",
                         *allowed ? " (allowed: " : "", allowed, *allowed ? ")" : "");
}

int hx_cmd_selection_rc(const char *cmd, size_t selected, const char *pattern, int rc)
{
    if (selected)
        return rc;
    if (pattern && *pattern)
        fprintf(stderr, "harness %s: no case selected: -k '%s' matches no case id or tag\n",
                cmd, pattern);
    else
        fprintf(stderr, "harness %s: no case selected\n", cmd);
    return HX_EXIT_NO_CASES;
}

/* Is a the long option --NAME (or --NAME=V) of a table entry taking a
 * value, or a short -X taking one as the next argument? 1: the next
 * argument is its value. */
static int takes_next(const hx_opt *opts, const char *a)
{
    if (a[1] == '-') {
        for (const hx_opt *o = opts; o && o->name; o++)
            if (o->has_arg && !strcmp(a + 2, o->name))
                return 1;
        return 0;
    }
    for (const char *p = a + 1; *p; p++) /* -qk V, -k V; -kV holds its value */
        for (const hx_opt *o = opts; o && o->name; o++)
            if (o->short_name == *p && o->has_arg)
                return p[1] == '\0';
    return 0;
}

/* argv with every positional that is a folder replaced by its case files
 * (sorted); into *out (argv[0] first, NULL-terminated), the strings
 * borrowed from argv or owned by *dirs. Returns 0, or 2 with the error on
 * stderr. */
typedef struct {
    char **argv;
    int argc;
    hx_case_dir *dirs;
    int ndirs;
} expanded_args;

static void expanded_free(expanded_args *e)
{
    for (int i = 0; i < e->ndirs; i++)
        hx_case_dir_free(&e->dirs[i]);
    free(e->dirs);
    free(e->argv);
}

static int expand(const char *cmd, const hx_opt *opts, int argc, char **argv, expanded_args *e)
{
    size_t cap = (size_t)argc + 1;
    int positional = 0;
    memset(e, 0, sizeof *e);
    e->argv = calloc(cap, sizeof *e->argv);
    e->dirs = calloc((size_t)argc + 1, sizeof *e->dirs);
    if (!e->argv || !e->dirs)
        return fprintf(stderr, "harness %s: out of memory\n", cmd), 2;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        struct stat st;
        int is_opt = !positional && i > 0 && s[0] == '-' && s[1];
        if (!positional && i > 0 && !strcmp(s, "--"))
            positional = 1;
        hx_case_dir *d = &e->dirs[e->ndirs];
        if (is_opt || i == 0 || stat(s, &st) != 0 || !S_ISDIR(st.st_mode)) {
            e->argv[e->argc++] = argv[i];
            if (is_opt && takes_next(opts, s) && i + 1 < argc)
                e->argv[e->argc++] = argv[++i];
            continue;
        }
        if (hx_case_dir_list(s, d) != LG_OK)
            return fprintf(stderr, "harness %s: %s\n", cmd, hx_errmsg()), 2;
        e->ndirs++;
        if (!d->n)
            return fprintf(stderr, "harness %s: %s: a folder with no *.yaml case file in it\n",
                           cmd, s), 2;
        char **grown = realloc(e->argv, (cap += d->n) * sizeof *grown);
        if (!grown)
            return fprintf(stderr, "harness %s: out of memory\n", cmd), 2;
        e->argv = grown;
        for (size_t k = 0; k < d->n; k++)
            e->argv[e->argc++] = d->path[k];
    }
    e->argv[e->argc] = NULL;
    return 0;
}

int hx_cmd_with_case_dirs(int (*fn)(int, char **), const char *cmd, const hx_opt *opts,
                          int argc, char **argv)
{
    expanded_args e;
    int rc = expand(cmd, opts, argc, argv, &e);
    if (!rc)
        rc = fn(e.argc, e.argv);
    expanded_free(&e);
    return rc;
}

/* ------------------------------------------------- checkpoint sniffing */

int hx_cmd_is_checkpoint(const char *path)
{
    unsigned char b[9];
    struct stat st;
    /* O_NONBLOCK and a regular file only: a FIFO nobody writes must not
     * hang the check (the caller then reports what the file is) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return 0;
    }
    size_t n = fread(b, 1, sizeof b, f);
    int is = n >= 4 &&
             (!memcmp(b, "PK\x03\x04", 4) || b[0] == 0x80); /* zip, pickle */
    if (!is && n == 9 && b[8] == '{') { /* safetensors: u64 LE header size, '{' */
        uint64_t len = 0;
        for (int k = 7; k >= 0; k--)
            len = len << 8 | b[k];
        is = len >= 2 && len <= (uint64_t)st.st_size - 8;
    }
    fclose(f);
    return is;
}

int hx_cmd_not_a_checkpoint(const char *path)
{
    if (!hx_cmd_is_checkpoint(path))
        return 0;
    fprintf(stderr, "%s: this is a checkpoint, not a case file; try `harness inspect %s`\n",
            path, path);
    return -1;
}
