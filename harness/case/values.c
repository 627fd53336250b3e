/* Scalars and library values of the case language (integers, sizes,
 * booleans, names from a list, devices, dtypes, shapes), each checked and
 * reported at its node when wrong. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "case/parse.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cf_word_ok(const char *s, const char *extra)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') && !(*s >= '0' && *s <= '9') &&
            !strchr(extra, *s))
            return 0;
    return 1;
}

const char *cf_scalar(cf_ctx *c, yaml_node_t *n, const char *what)
{
    if (n->type == YAML_SCALAR_NODE && !cf_is_null(n))
        return cf_sv(n);
    cf_report(c, n, "%s: expected a scalar, got %s", what, cf_kind(n));
    return NULL;
}

int cf_dup_scalar(cf_ctx *c, yaml_node_t *n, const char *what, char **out)
{
    const char *s = cf_scalar(c, n, what);
    if (!s)
        return -1;
    *out = strdup(s);
    if (!*out)
        cf_oom(c);
    return *out ? 0 : -1;
}

int cf_text_i64(const char *s, int64_t *out)
{
    const char *p = s + (*s == '-' || *s == '+');
    if (!(*p >= '0' && *p <= '9'))
        return -1;
    int base = p[0] == '0' && (p[1] == 'x' || p[1] == 'X') ? 16 : 10;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, base);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int text_u64(const char *s, uint64_t *out)
{
    if (!(*s >= '0' && *s <= '9'))
        return -1;
    int base = s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ? 16 : 10;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int cf_int_in(cf_ctx *c, yaml_node_t *n, const char *what, int64_t lo, int64_t hi,
                  int64_t *out)
{
    const char *s = cf_scalar(c, n, what);
    if (!s)
        return -1;
    if (cf_text_i64(s, out) || *out < lo || *out > hi) {
        cf_report(c, n, "%s: expected an integer from %" PRId64 " to %" PRId64 ", got '%s'", what,
               lo, hi, s);
        return -1;
    }
    return 0;
}

int cf_u64_of(cf_ctx *c, yaml_node_t *n, const char *what, uint64_t *out)
{
    const char *s = cf_scalar(c, n, what);
    if (!s)
        return -1;
    if (text_u64(s, out)) {
        cf_report(c, n, "%s: expected an unsigned 64-bit integer, got '%s'", what, s);
        return -1;
    }
    return 0;
}

int cf_f64_in(cf_ctx *c, yaml_node_t *n, const char *what, double lo, double hi, double *out)
{
    const char *s = cf_scalar(c, n, what);
    if (!s)
        return -1;
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    if (errno || *end || end == s || !isfinite(*out) || *out < lo || *out > hi) {
        cf_report(c, n, "%s: expected a number from %g to %g, got '%s'", what, lo, hi, s);
        return -1;
    }
    return 0;
}

int cf_bool_of(cf_ctx *c, yaml_node_t *n, const char *what, int *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
                                      "YES",  "on",   "On",   "ON",  NULL};
    static const char *const no[] = {"false", "False", "FALSE", "no",  "No",
                                     "NO",    "off",   "Off",   "OFF", NULL};
    const char *s = cf_scalar(c, n, what);
    if (!s)
        return -1;
    for (int i = 0; yes[i]; i++)
        if (!strcmp(s, yes[i]) || !strcmp(s, no[i])) {
            *out = !strcmp(s, yes[i]);
            return 0;
        }
    cf_report(c, n, "%s: expected true or false, got '%s'", what, s);
    return -1;
}

/* Bytes, with an optional suffix B, KiB, MiB or GiB. */
static int text_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {{"", 0}, {"B", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}};
    char *end;
    if (!(*s >= '0' && *s <= '9'))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix))
            continue;
        if (v > (UINT64_MAX >> units[i].shift))
            return -1;
        *out = (uint64_t)v << units[i].shift;
        return 0;
    }
    return -1;
}

int cf_size_of(cf_ctx *c, yaml_node_t *n, const char *what, uint64_t *out)
{
    const char *s = cf_scalar(c, n, what);
    if (!s)
        return -1;
    if (text_size(s, out)) {
        cf_report(c, n, "%s: expected bytes, optionally with KiB, MiB or GiB, got '%s'", what, s);
        return -1;
    }
    return 0;
}

/* s must be one of the NULL-terminated names; returns its index. */
int cf_one_of(cf_ctx *c, yaml_node_t *n, const char *what, const char *const *names)
{
    const char *s = cf_scalar(c, n, what);
    if (!s)
        return -1;
    for (int i = 0; names[i]; i++)
        if (!strcmp(s, names[i]))
            return i;
    char allowed[512];
    cf_join_names(names, allowed, sizeof allowed);
    cf_report(c, n, "%s: bad value '%s' (%s)", what, s, allowed);
    return -1;
}

/* A list, or a scalar taken as a list of one: the items. */
size_t cf_items_of(yaml_node_t *n, yaml_node_t **one, yaml_node_item_t **first)
{
    if (n->type == YAML_SEQUENCE_NODE) {
        *first = n->data.sequence.items.start;
        return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    }
    *one = n;
    *first = NULL;
    return 1;
}

yaml_node_t *cf_item_at(cf_ctx *c, yaml_node_t *one, yaml_node_item_t *first, size_t i)
{
    return first ? cf_node(c, first[i]) : one;
}

/* A list of scalars (or one scalar) as strings; each passes ok(). */
typedef int (*cf_word_check)(cf_ctx *, yaml_node_t *, const char *);

int cf_strv_of(cf_ctx *c, yaml_node_t *n, const char *what, cf_word_check ok, char ***out,
                   size_t *nout)
{
    yaml_node_t *one = NULL;
    yaml_node_item_t *first;
    if (n->type == YAML_MAPPING_NODE) {
        cf_report(c, n, "%s: expected a list, got a mapping", what);
        return -1;
    }
    size_t cnt = cf_items_of(n, &one, &first);
    *out = calloc(cnt ? cnt : 1, sizeof **out);
    if (!*out) {
        cf_oom(c);
        return -1;
    }
    for (size_t i = 0; i < cnt && !c->fatal; i++) {
        yaml_node_t *it = cf_item_at(c, one, first, i);
        const char *s = cf_scalar(c, it, what);
        if (!s || (ok && ok(c, it, s)))
            continue;
        if (!((*out)[(*nout)++] = strdup(s))) {
            cf_oom(c);
            return -1;
        }
    }
    return 0;
}


int cf_device_of(cf_ctx *c, yaml_node_t *n, const char *what, lg_device *out)
{
    const char *s = cf_scalar(c, n, what);
    if (!s)
        return -1;
    if (lg_device_parse(s, out) != LG_OK) {
        cf_report(c, n, "%s: bad device '%s' (cpu, cuda, cuda:N, mps)", what, s);
        return -1;
    }
    return 0;
}

int cf_dtype_of(cf_ctx *c, yaml_node_t *n, const char *what, lg_dtype *out)
{
    const char *s = cf_scalar(c, n, what);
    if (!s)
        return -1;
    if (lg_dtype_parse(s, out) == LG_OK)
        return 0;
    char names[256];
    size_t used = 0;
    names[0] = 0;
    for (int d = 0; d < LG_DTYPE_COUNT; d++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", d ? ", " : "",
                                 lg_dtype_name((lg_dtype)d));
    cf_report(c, n, "%s: unknown dtype '%s' (%s)", what, s, names);
    return -1;
}

int cf_shape_of(cf_ctx *c, yaml_node_t *n, const char *what, int *ndim, int64_t *shape)
{
    if (n->type != YAML_SEQUENCE_NODE) {
        cf_report(c, n, "%s: expected a list of dimensions, got %s", what, cf_kind(n));
        return -1;
    }
    yaml_node_item_t *i = n->data.sequence.items.start;
    size_t cnt = (size_t)(n->data.sequence.items.top - i);
    if (cnt > LG_MAX_DIMS) {
        cf_report(c, n, "%s: %zu dimensions; at most %d", what, cnt, LG_MAX_DIMS);
        return -1;
    }
    *ndim = (int)cnt;
    for (size_t d = 0; d < cnt; d++)
        if (cf_int_in(c, cf_node(c, i[d]), what, 0, INT64_C(1) << 48, &shape[d]))
            return -1;
    return 0;
}
