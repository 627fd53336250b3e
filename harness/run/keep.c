/* The inputs of runs that did not pass, kept (keep.h). */
#include "run/keep.h"
#include "corrupt/corrupt.h"
#include "fixture/cache.h"
#include "util/error.h"
#include "util/fs.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void hx_keep_name(const char *id, char *buf, size_t n)
{
    uint32_t h = 2166136261u;
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        h = (h ^ *p) * 16777619u;
        if (o < 150 && o + 1 < n)
            buf[o++] = (char)(strchr("._=-", *p) || (*p < 128 && (*p >= '0' && *p <= '9')) ||
                                      ((*p | 32) >= 'a' && (*p | 32) <= 'z')
                                  ? *p
                                  : '_');
    }
    snprintf(buf + o, n - o, "-%08x", (unsigned)h);
}

static lg_status copy_file(const char *from, const char *to)
{
    char buf[65536];
    size_t got;
    FILE *in = fopen(from, "rb"), *out;
    if (!in)
        return hx_err(LG_E_IO, "%s: %s", from, strerror(errno));
    lg_status st = hx_fopen_out(to, &out);
    if (st != LG_OK) {
        fclose(in);
        return st;
    }
    while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, got, out);
    int bad = ferror(in);
    fclose(in);
    st = hx_fclose_checked(out, to);
    return st == LG_OK && bad ? hx_err(LG_E_IO, "%s: read error", from) : st;
}

lg_status hx_keep_input(const hx_case *c, const hx_run_opts *o, const char *dir, const char *id,
                        char *out, size_t n)
{
    char in[PATH_MAX + 64], name[200];
    hx_keep_name(id, name, sizeof name);
    if ((size_t)snprintf(out, n, "%s/%s", dir, name) >= n)
        return hx_err(LG_E_IO, "%s: path too long", dir);
    lg_status st = hx_mkdirs(dir);
    if (st != LG_OK)
        return hx_err(st, "cannot create %s: %s", dir, strerror(errno));
    st = hx_fixture_prepare(&c->file, o->cache_dir, in, sizeof in);
    if (st != LG_OK)
        return st;
    if (c->corrupt.kind == HX_CORRUPT_NONE)
        return copy_file(in, out);
    hx_corrupt cc = c->corrupt;
    if (cc.random)
        cc.seed += o->seed; /* as the run did (run/exec.c) */
    return hx_corrupt_apply(&cc, in, out);
}
