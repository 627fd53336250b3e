/* What a case owns: copy and free of cases and suites' parts, and the
 * selection of cases by -k and --shard. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "case/parse.h"
#include "util/error.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cf_file_free(hx_file *f)
{
    free(f->name);
    free(f->path);
    memset(f, 0, sizeof *f);
}

int cf_file_copy(const hx_file *src, hx_file *dst)
{
    *dst = *src;
    dst->name = src->name ? strdup(src->name) : NULL;
    dst->path = src->path ? strdup(src->path) : NULL;
    if ((src->name && !dst->name) || (src->path && !dst->path)) {
        cf_file_free(dst);
        return -1;
    }
    return 0;
}

/* v may be NULL with n set: a copy that failed (store_dup) */
static void vars_free(hx_var *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].name);
    free(v);
}

void cf_store_free(hx_store_spec *s)
{
    for (size_t i = 0; s->drop && i < s->ndrop; i++)
        free(s->drop[i]);
    free(s->drop);
    vars_free(s->add, s->nadd);
    vars_free(s->reshape, s->nreshape);
    vars_free(s->retype, s->nretype);
    vars_free(s->vars, s->nvars);
    memset(s, 0, sizeof *s);
}

static int sdup(const char *s, char **out)
{
    *out = NULL;
    if (!s)
        return 0;
    *out = strdup(s);
    return *out ? 0 : -1;
}

static int strv_dup(char **v, size_t n, char ***out)
{
    *out = NULL;
    if (!v)
        return 0;
    if (!(*out = calloc(n ? n : 1, sizeof **out)))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (sdup(v[i], &(*out)[i]))
            return -1;
    return 0;
}

static void strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int vars_dup(const hx_var *v, size_t n, hx_var **out)
{
    *out = NULL;
    if (!v)
        return 0;
    if (!(*out = calloc(n ? n : 1, sizeof **out)))
        return -1;
    for (size_t i = 0; i < n; i++) {
        (*out)[i] = v[i];
        if (sdup(v[i].name, &(*out)[i].name))
            return -1;
    }
    return 0;
}

static int store_dup(const hx_store_spec *s, hx_store_spec *d)
{
    *d = *s;
    d->drop = NULL;
    d->add = d->reshape = d->retype = d->vars = NULL;
    return strv_dup(s->drop, s->ndrop, &d->drop) || vars_dup(s->add, s->nadd, &d->add) ||
                   vars_dup(s->reshape, s->nreshape, &d->reshape) ||
                   vars_dup(s->retype, s->nretype, &d->retype) ||
                   vars_dup(s->vars, s->nvars, &d->vars)
               ? -1
               : 0;
}

static int pairs_dup(const hx_param *p, size_t n, hx_param **out)
{
    *out = NULL;
    if (!p)
        return 0;
    if (!(*out = calloc(n ? n : 1, sizeof **out)))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (sdup(p[i].key, &(*out)[i].key) || sdup(p[i].value, &(*out)[i].value))
            return -1;
    return 0;
}

static int sim_dup(const hx_sim_override *s, size_t n, hx_sim_override **out)
{
    *out = NULL;
    if (!s)
        return 0;
    if (!(*out = calloc(n ? n : 1, sizeof **out)))
        return -1;
    for (size_t i = 0; i < n; i++) {
        (*out)[i].device = s[i].device;
        if (sdup(s[i].key, &(*out)[i].key) || sdup(s[i].value, &(*out)[i].value))
            return -1;
    }
    return 0;
}

static int faults_dup(const hx_fault *f, size_t n, hx_fault **out)
{
    *out = NULL;
    if (!f)
        return 0;
    if (!(*out = malloc((n ? n : 1) * sizeof **out)))
        return -1;
    memcpy(*out, f, n * sizeof *f);
    return 0;
}

lg_status hx_case_copy(hx_case *dst, const hx_case *src)
{
    *dst = *src;
    /* every owned pointer starts NULL, so that a failure can free dst */
    dst->id = dst->suite = dst->name = dst->reader = dst->skip = dst->xfail = dst->key = NULL;
    dst->description = dst->expect.message = NULL;
    dst->params = NULL;
    dst->file.name = dst->file.path = NULL;
    memset(&dst->store, 0, sizeof dst->store);
    dst->faults = NULL;
    dst->sim = NULL;
    dst->requires = dst->tags = NULL;
    dst->corrupt.from = NULL;
    int bad = sdup(src->corrupt.from, &dst->corrupt.from) || sdup(src->id, &dst->id) || sdup(src->suite, &dst->suite) ||
              sdup(src->name, &dst->name) || pairs_dup(src->params, src->nparams, &dst->params) ||
              sdup(src->reader, &dst->reader) || sdup(src->key, &dst->key) || cf_file_copy(&src->file, &dst->file) ||
              store_dup(&src->store, &dst->store) ||
              faults_dup(src->faults, src->nfaults, &dst->faults) ||
              sim_dup(src->sim, src->nsim, &dst->sim) ||
              strv_dup(src->requires, src->nrequires, &dst->requires) ||
              sdup(src->skip, &dst->skip) || sdup(src->xfail, &dst->xfail) ||
              strv_dup(src->tags, src->ntags, &dst->tags) ||
              sdup(src->expect.message, &dst->expect.message) ||
              sdup(src->description, &dst->description);
    if (bad) {
        hx_case_free(dst);
        return hx_err(LG_E_NOMEM, "out of memory copying case %s", src->id ? src->id : "");
    }
    return LG_OK;
}

void hx_case_free(hx_case *h)
{
    free(h->id);
    free(h->suite);
    free(h->name);
    for (size_t i = 0; h->params && i < h->nparams; i++) {
        free(h->params[i].key);
        free(h->params[i].value);
    }
    free(h->params);
    free(h->reader);
    free(h->key);
    cf_file_free(&h->file);
    cf_store_free(&h->store);
    free(h->faults);
    for (size_t i = 0; h->sim && i < h->nsim; i++) {
        free(h->sim[i].key);
        free(h->sim[i].value);
    }
    free(h->sim);
    strv_free(h->requires, h->nrequires);
    free(h->skip);
    free(h->xfail);
    strv_free(h->tags, h->ntags);
    free(h->expect.message);
    free(h->description);
    free(h->corrupt.from);
    memset(h, 0, sizeof *h);
}

/* Does pattern hold a case id's parameters, "[...=...]"? Then it is an id
 * (or part of one) copied from a report, and its brackets are not a glob's
 * class: as one, "[policy=via-cpu,...]" would match any one of its
 * characters, and select other cases. */
static int id_like(const char *pattern)
{
    const char *open = strchr(pattern, '[');
    if (!open)
        return 0;
    const char *close = strchr(open, ']');
    const char *eq = strchr(open, '=');
    return eq && (!close || eq < close);
}

/* A substring, or a glob that matches anywhere (as if between two *). */
static int matches(const char *pattern, const char *s)
{
    char glob[1024];
    if (strstr(s, pattern))
        return 1;
    if (id_like(pattern))
        return 0;
    if (snprintf(glob, sizeof glob, "*%s*", pattern) >= (int)sizeof glob)
        return fnmatch(pattern, s, 0) == 0;
    return fnmatch(glob, s, 0) == 0;
}

int hx_case_selected(const hx_case *c, size_t index, const char *pattern, int shard_i,
                     int shard_n)
{
    if (shard_n > 1 && index % (size_t)shard_n != (size_t)(shard_i - 1))
        return 0;
    if (!pattern || !*pattern || (c->id && matches(pattern, c->id)))
        return 1;
    for (size_t i = 0; i < c->ntags; i++)
        if (matches(pattern, c->tags[i]))
            return 1;
    return 0;
}

lg_status hx_shard_parse(const char *s, int *shard_i, int *shard_n)
{
    int64_t i, n;
    char buf[64];
    const char *slash = strchr(s, '/');
    if (slash && (size_t)(slash - s) < sizeof buf) {
        memcpy(buf, s, (size_t)(slash - s));
        buf[slash - s] = 0;
        /* decimal digits only: not the YAML forms cf_text_i64 reads too (0x1, +1) */
        int digits = buf[0] && slash[1] && !buf[strspn(buf, "0123456789")] &&
                     !slash[1 + strspn(slash + 1, "0123456789")];
        if (digits && cf_text_i64(buf, &i) == 0 && cf_text_i64(slash + 1, &n) == 0 && n >= 1 &&
            n <= 1000000 && i >= 1 && i <= n) {
            *shard_i = (int)i;
            *shard_n = (int)n;
            return LG_OK;
        }
    }
    return hx_err(LG_E_INVALID, "bad --shard '%s' (I/N, 1 <= I <= N)", s);
}
