/* Failing cases grouped by error code and message pattern (groups.h). */
#include "report/groups.h"
#include "util/error.h"
#include "util/json.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A word of a path: runs until a space, a quote or a separator that ends
 * a message's clause. */
static size_t path_len(const char *s)
{
    size_t n = 0;
    while (s[n] && !isspace((unsigned char)s[n]) && !strchr("'\",;()[]", s[n]))
        n++;
    while (n && strchr(":.", s[n - 1])) /* "FILE: problem" keeps its colon */
        n--;
    return n;
}

/* Does the word at s (s is at a word's start) hold a '/'? */
static int word_is_path(const char *s)
{
    size_t n = path_len(s);
    return n > 1 && memchr(s, '/', n) != NULL;
}

static int word_start(const char *s, const char *p)
{
    return p == s || !isalnum((unsigned char)p[-1]);
}

/* Copies one placeholder or character of s at *p into out at *o. */
static void pattern_step(const char *s, const char **p, char *out, size_t *o)
{
    const char *q = *p;
    if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X') && isxdigit((unsigned char)q[2])) {
        for (q += 2; isxdigit((unsigned char)*q); q++)
            ;
        memcpy(out + *o, "0xH", 3), *o += 3;
    } else if (isdigit((unsigned char)*q)) {
        /* "12 0 255" (bytes in a row) is one N */
        while (isdigit((unsigned char)*q) || (*q == '.' && isdigit((unsigned char)q[1])) ||
               (*q == ' ' && isdigit((unsigned char)q[1])))
            q++;
        out[(*o)++] = 'N';
    } else if ((*q == '\'' || *q == '"') && strchr(q + 1, *q)) {
        char quote = *q;
        q = strchr(q + 1, quote) + 1;
        out[(*o)++] = quote, memcpy(out + *o, "…", 3), *o += 3, out[(*o)++] = quote;
    } else if (word_start(s, q) && word_is_path(q)) {
        q += path_len(q);
        memcpy(out + *o, "PATH", 4), *o += 4;
    } else {
        out[(*o)++] = *q++;
    }
    *p = q;
}

char *hx_message_pattern(const char *s)
{
    s = s ? s : "";
    /* "''" (2 bytes) becomes "'…'" (5): at most 5/2 of the input */
    char *out = malloc(strlen(s) * 3 + 8);
    size_t o = 0;
    if (!out)
        return NULL;
    for (const char *p = s; *p;)
        pattern_step(s, &p, out, &o);
    out[o] = 0;
    return out;
}

/* "fail LG_E_FORMAT": the status, and the load's error code when it has one. */
static char *group_code(const json_t *c)
{
    const char *err = hx_json_get_str(json_object_get(c, "actual"), "error");
    const char *st = hx_status_name(hx_case_status(c));
    size_t n = strlen(st) + (err ? strlen(err) : 0) + 2;
    char *code = malloc(n);
    if (code)
        snprintf(code, n, "%s%s%s", st, err ? " " : "", err ? err : "");
    return code;
}

/* The group of c, found through index (code + "\n" + pattern -> position)
 * or added. -1 when out of memory. */
static int add_case(hx_fail_groups *G, json_t *index, const json_t *c, size_t i)
{
    char *code = group_code(c);
    char *pattern = hx_message_pattern(hx_json_get_str(c, "reason"));
    char *key = code && pattern ? malloc(strlen(code) + strlen(pattern) + 2) : NULL;
    if (!key) {
        free(code), free(pattern);
        return -1;
    }
    sprintf(key, "%s\n%s", code, pattern);
    json_t *at = json_object_get(index, key);
    hx_fail_group *g;
    if (at) {
        g = &G->g[json_integer_value(at)];
        free(code), free(pattern);
    } else {
        if (json_object_set_new(index, key, json_integer((json_int_t)G->n))) {
            free(code), free(pattern), free(key);
            return -1;
        }
        g = &G->g[G->n++];
        *g = (hx_fail_group){.code = code, .pattern = pattern, .first = i};
    }
    free(key);
    if (g->nexamples < HX_GROUP_EXAMPLES)
        g->examples[g->nexamples++] = c;
    g->count++;
    G->failing++;
    return 0;
}

static int by_count(const void *a, const void *b)
{
    const hx_fail_group *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return x->first < y->first ? -1 : x->first > y->first;
}

static int is_error(hx_status s)
{
    return s == HX_ST_ERROR;
}

/* The cases whose status pick() accepts, grouped. */
static lg_status groups_make(const json_t *cases, int (*pick)(hx_status), hx_fail_groups *out)
{
    size_t i;
    json_t *c;
    json_t *index = json_object();
    memset(out, 0, sizeof *out);
    out->g = calloc(json_array_size(cases) + 1, sizeof *out->g);
    int bad = !index || !out->g;
    json_array_foreach(cases, i, c) {
        if (!bad && pick(hx_case_status(c)))
            bad = add_case(out, index, c, i);
    }
    json_decref(index);
    if (bad) {
        hx_fail_groups_free(out);
        return hx_err(LG_E_NOMEM, "out of memory");
    }
    qsort(out->g, out->n, sizeof *out->g, by_count);
    return LG_OK;
}

lg_status hx_fail_groups_make(const json_t *cases, hx_fail_groups *out)
{
    return groups_make(cases, hx_status_fails_run, out);
}

lg_status hx_error_groups_make(const json_t *cases, hx_fail_groups *out)
{
    return groups_make(cases, is_error, out);
}

void hx_fail_groups_free(hx_fail_groups *G)
{
    for (size_t i = 0; G->g && i < G->n; i++) {
        free(G->g[i].code);
        free(G->g[i].pattern);
    }
    free(G->g);
    memset(G, 0, sizeof *G);
}
