/* A suite file: libyaml's document, its top level (suite, description,
 * defaults, fixtures, cases) and the public load (case.h). */
#define _POSIX_C_SOURCE 200809L /* strdup, strndup */
#include "case/parse.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const top_keys[] = {"suite", "description", "defaults", "fixtures", "cases",
                                       NULL};
enum { T_SUITE, T_DESCRIPTION, T_DEFAULTS, T_FIXTURES, T_CASES, T_COUNT };

static int parse_suite_name(cf_ctx *c, yaml_node_t *root, yaml_node_t *n, hx_suite *s)
{
    if (!n) {
        cf_report(c, root, "missing key 'suite' (the suite's name, used in case ids)");
        return -1;
    }
    const char *v = cf_scalar(c, n, "suite");
    if (!v)
        return -1;
    if (!cf_word_ok(v, "_.-")) {
        cf_report(c, n, "suite: '%s' is not a name (letters, digits, '_', '.', '-')", v);
        return -1;
    }
    s->suite = strdup(v);
    c->suite = s->suite;
    if (!s->suite)
        cf_oom(c);
    return s->suite ? 0 : -1;
}

static int parse_fixtures(cf_ctx *c, yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE) {
        cf_report(c, n, "fixtures: expected a mapping of names to {generate: ...} or {path: ...}, "
                     "got %s", cf_kind(n));
        return 0;
    }
    cf_kvs m;
    if (cf_view(c, n, &m))
        goto done;
    c->fx = calloc(m.n ? m.n : 1, sizeof *c->fx);
    if (!c->fx) {
        cf_oom(c);
        goto done;
    }
    /* a fixture in error is still defined: its uses are not errors too */
    for (size_t i = 0; i < m.n && !c->fatal; i++) {
        cf_fixture *f = &c->fx[c->nfx++];
        f->knode = m.it[i].k;
        cf_parse_file_def(c, m.it[i].v, "fixture", cf_sv(f->knode), &f->file);
    }
done:
    cf_kvs_free(&m);
    return c->oom ? -1 : 0;
}

static const char *suite_rules =
    "a case file is one mapping with suite, cases and optionally description, defaults, "
    "fixtures";

static int parse_top(cf_ctx *c, hx_suite *s)
{
    yaml_node_t *root = yaml_document_get_root_node(&c->doc);
    if (!root) {
        cf_report_mark(c, (yaml_mark_t){0, 0, 0}, "empty file: %s", suite_rules);
        return -1;
    }
    size_t count = 0;
    cf_doc_scan(c, root, 0, &count);
    if (c->fatal)
        return -1;
    if (root->type != YAML_MAPPING_NODE) {
        cf_report(c, root, "expected a mapping, got %s: %s", cf_kind(root), suite_rules);
        return -1;
    }
    yaml_node_t *slot[T_COUNT], *knode[T_COUNT];
    if (cf_slots(c, root, "the suite", top_keys, slot, knode))
        return -1;
    parse_suite_name(c, root, slot[T_SUITE], s);
    if (slot[T_DESCRIPTION] && cf_dup_scalar(c, slot[T_DESCRIPTION], "description", &s->description))
        return -1;
    if (slot[T_FIXTURES] && parse_fixtures(c, slot[T_FIXTURES]))
        return -1;
    if (slot[T_DEFAULTS])
        cf_parse_defaults(c, slot[T_DEFAULTS]);
    if (!slot[T_CASES]) {
        cf_report(c, root, "missing key 'cases' (a list of cases)");
        return -1;
    }
    if (c->fatal || !s->suite)
        return -1;
    return cf_parse_cases(c, slot[T_CASES]);
}

static void syntax_error(cf_ctx *c, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "unknown error";
    /* libyaml's loader fails some allocations (a tag's copy) without
     * setting an error: that is out of memory too, not a syntax error */
    if (p->error == YAML_MEMORY_ERROR || p->error == YAML_NO_ERROR) {
        cf_oom(c);
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        cf_report_mark(c, p->problem_mark, "cannot read the file: %s at byte %zu", problem,
                    p->problem_offset);
        return;
    }
    if (p->context)
        cf_report_mark(c, p->problem_mark, "YAML syntax error: %s (%s, line %zu column %zu)",
                    problem, p->context, p->context_mark.line + 1, p->context_mark.column + 1);
    else
        cf_report_mark(c, p->problem_mark, "YAML syntax error: %s", problem);
}

/* A case file holds exactly one document. */
static void check_one_document(cf_ctx *c, yaml_parser_t *p)
{
    yaml_document_t next;
    if (!yaml_parser_load(p, &next)) {
        syntax_error(c, p);
        return;
    }
    yaml_node_t *root = yaml_document_get_root_node(&next);
    if (root)
        cf_report(c, root, "a second YAML document; a case file holds one suite");
    yaml_document_delete(&next);
}

static int dir_of(cf_ctx *c, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        c->dir = strdup(".");
    else if (slash == path)
        c->dir = strdup("/");
    else
        c->dir = strndup(path, (size_t)(slash - path));
    if (!c->dir)
        cf_oom(c);
    return c->dir ? 0 : -1;
}

static void ctx_free(cf_ctx *c)
{
    for (size_t i = 0; i < c->nerrs; i++)
        free(c->errs[i].msg);
    free(c->errs);
    for (size_t i = 0; i < c->nfx; i++)
        cf_file_free(&c->fx[i].file);
    free(c->fx);
    free(c->dir);
    cf_names_free(c);
    if (c->have_doc)
        yaml_document_delete(&c->doc);
}

static int load(cf_ctx *c, hx_suite *s)
{
    char *text = NULL;
    size_t n = 0;
    if (cf_read_source(c, &text, &n))
        return -1;
    if (cf_check_flow_depth(c, text, n)) {
        free(text);
        return -1;
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        free(text);
        cf_oom(c);
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, n);
    if (!yaml_parser_load(&p, &c->doc)) {
        syntax_error(c, &p);
    } else {
        c->have_doc = 1;
        check_one_document(c, &p);
        if (!c->nerrs)
            parse_top(c, s);
    }
    yaml_parser_delete(&p);
    free(text);
    return c->nerrs || c->oom ? -1 : 0;
}

lg_status hx_suite_load(const char *path, const char *fixture_dir, hx_suite *out,
                        hx_case_errors *errs)
{
    cf_ctx c;
    memset(&c, 0, sizeof c);
    memset(out, 0, sizeof *out);
    if (errs)
        memset(errs, 0, sizeof *errs);
    c.path = path;
    c.out = out;
    if (fixture_dir)
        snprintf(c.fixture_dir, sizeof c.fixture_dir, "%s", fixture_dir);
    else
        hx_fixture_dir_default(c.fixture_dir, sizeof c.fixture_dir);
    out->path = strdup(path);
    if (!out->path || dir_of(&c, path))
        cf_oom(&c);
    int rc = c.oom ? -1 : load(&c, out);
    if (rc == 0)
        rc = cf_check_ids(&c);
    lg_status st = LG_OK;
    if (rc) {
        hx_case_errors all;
        cf_errors_take(&c, &all);
        st = hx_err(c.oom ? LG_E_NOMEM : LG_E_FORMAT, "%s",
                    all.n ? all.line[0] : "out of memory");
        if (errs)
            *errs = all;
        else
            hx_case_errors_free(&all);
        hx_suite_free(out);
    }
    ctx_free(&c);
    return st;
}

void hx_case_errors_free(hx_case_errors *e)
{
    for (size_t i = 0; e->line && i < e->n; i++)
        free(e->line[i]);
    free(e->line);
    memset(e, 0, sizeof *e);
}

void hx_suite_free(hx_suite *s)
{
    for (size_t i = 0; i < s->ncases; i++)
        hx_case_free(&s->cases[i]);
    free(s->cases);
    free(s->path);
    free(s->suite);
    free(s->description);
    memset(s, 0, sizeof *s);
}
