/* Reports: report.json has every field of docs/report.md, junit.xml is
 * well-formed with the JSON's counts, summary.md and index.html carry the
 * failures, and `harness merge` recomputes the summary. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cmd/cmd.h"
#include "report/report.h"
#include "report/result.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json.h"
#include "testutil.h"

#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- helpers */

/* A case object as the runner makes it. */
static json_t *mk_case(const char *suite, const char *name, int index, const char *status,
                       const char *reason)
{
    char id[256];
    snprintf(id, sizeof id, "%s/%s[device=mps,i=%d]", suite, name, index);
    json_t *trace = json_pack("[{s:i, s:s, s:s, s:s, s:s, s:i, s:b, s:n}]", "seq", 1, "op", "copy",
                              "tensor", "fc.weight", "from", "cpu", "to", "mps", "bytes", 64, "ok",
                              1, "detail");
    json_t *c = json_pack(
        "{s:s, s:s, s:s, s:i, s:s, s:{s:s, s:s}, s:s, s:o, s:s, s:s, s:s,"
        " s:{s:s, s:n, s:n, s:n}, s:{s:s, s:s, s:o, s:n}, s:{s:s, s:s, s:s, s:s, s:s, s:s},"
        " s:{}, s:o, s:{s:i}, s:s, s:[], s:f, s:n}",
        "id", id, "suite", suite, "name", name, "index", index, "source", "x.yaml:3", "params",
        "device", "mps", "i", "0", "status", status, "reason", hx_json_str(reason), "backend", "sim",
        "device", "mps", "policy", "via-cpu", "expected", "outcome", "ok", "error", "message",
        "invariants", "actual", "outcome", "error", "error", "LG_E_FORMAT", "message",
        hx_json_str("bad <tag> & \"quote\" 'apos' \x01 \xff </script>"), "signal", "invariants", "via-cpu",
        "pass", "restored", "pass", "consistent", "pass", "atomic", "pass", "values", "n/a",
        "no-leak", "pass", "invariant_failures", "trace", trace, "moved", "cpu->mps", 64,
        "policy_used", "via-cpu", "faults", "duration_s", 0.25, "stderr");
    ck_assert_ptr_nonnull(c);
    return c;
}

/* One case of every status, in two suites. */
static void fill_report(hx_report *r)
{
    static const char *const st[] = {"pass", "fail", "skip", "xfail", "xpass", "crash", "timeout",
                                     "pass"};
    ck_assert_int_eq(hx_report_init(r), 0);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(hx_report_add(r, mk_case(i < 4 ? "alpha" : "beta", "load", i, st[i],
                                                  i ? "why <not> & \x02 it" : NULL)),
                         0);
    r->environment = hx_environment();
    ck_assert_ptr_nonnull(r->environment);
    r->duration_s = 1.5;
}

static size_t count_str(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static long attr_long(const char *tag, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *p = strstr(tag, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* A minimal XML 1.0 well-formedness check: one root, tags balanced,
 * attributes quoted, only the five named entities or character
 * references, no raw '<' or '&' in text, no forbidden control bytes.
 * Returns NULL or what is wrong. */
static const char *xml_check(const char *s)
{
    char stack[32][128];
    int depth = 0, roots = 0;
    if (!strncmp(s, "<?xml", 5) && !(s = strstr(s, "?>")))
        return "unterminated declaration";
    s += s[0] == '?' ? 2 : 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x20 && ch != '\n' && ch != '\r' && ch != '\t')
            return "forbidden control character";
        if (ch == '&') {
            static const char *const ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#"};
            size_t k;
            for (k = 0; k < 6 && strncmp(s, ents[k], strlen(ents[k])); k++)
                ;
            if (k == 6)
                return "bad entity";
            continue;
        }
        if (ch == '>')
            continue; /* legal in text, though we escape it */
        if (ch != '<')
            continue;
        int closing = s[1] == '/';
        const char *name = s + 1 + closing, *end = name;
        while (isalnum((unsigned char)*end) || *end == '_' || *end == '-')
            end++;
        if (end == name || (size_t)(end - name) >= sizeof stack[0])
            return "bad tag name";
        const char *p = end;
        while (*p && *p != '>') {
            if (*p == '<')
                return "'<' inside a tag";
            if (*p == '"') {
                const char *q = strchr(p + 1, '"');
                if (!q || memchr(p + 1, '<', (size_t)(q - p - 1)))
                    return "bad attribute value";
                p = q;
            }
            p++;
        }
        if (!*p)
            return "unterminated tag";
        int empty = p[-1] == '/';
        if (closing) {
            if (!depth || strncmp(stack[depth - 1], name, (size_t)(end - name)) ||
                stack[depth - 1][end - name])
                return "mismatched closing tag";
            depth--;
        } else if (!empty) {
            if (depth == 0)
                roots++;
            if (depth == 32)
                return "too deep";
            snprintf(stack[depth++], sizeof stack[0], "%.*s", (int)(end - name), name);
        } else if (depth == 0) {
            roots++;
        }
        s = p;
    }
    return depth ? "unclosed element" : roots != 1 ? "not exactly one root" : NULL;
}

static char *read_text(const char *path)
{
    size_t n = 0;
    char *t = tu_read(path, &n);
    ck_assert_msg(t != NULL, "cannot read %s", path);
    char *z = realloc(t, n + 1);
    ck_assert_ptr_nonnull(z);
    z[n] = 0;
    return z;
}

static const char *g_dir;

/* --------------------------------------------------------------- tests */

START_TEST(status_names)
{
    for (int i = 0; i < HX_ST_COUNT; i++) {
        hx_status s;
        ck_assert_int_eq(hx_status_parse(hx_status_name((hx_status)i), &s), 0);
        ck_assert_int_eq(s, i);
    }
    hx_status s;
    ck_assert_int_ne(hx_status_parse("passed", &s), 0);
    ck_assert(hx_status_fails_run(HX_ST_XPASS) && hx_status_fails_run(HX_ST_CRASH));
    ck_assert(!hx_status_fails_run(HX_ST_XFAIL) && !hx_status_fails_run(HX_ST_SKIP));
}
END_TEST

START_TEST(formats)
{
    unsigned m = 0;
    ck_assert_int_eq(hx_formats_parse("junit,json", &m), 0);
    ck_assert_uint_eq(m, HX_FMT_JUNIT | HX_FMT_JSON);
    ck_assert_int_eq(hx_formats_parse("md,html", &m), 0);
    ck_assert_uint_eq(m, HX_FMT_MD | HX_FMT_HTML);
    ck_assert_int_ne(hx_formats_parse("json,pdf", &m), 0);
    ck_assert_int_ne(hx_formats_parse("", &m), 0);
}
END_TEST

START_TEST(utf8_clean)
{
    char *s = hx_utf8_clean("ok \xc3\xa9 \xff \xed\xa0\x80 \xc0\xaf end");
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "ok \xc3\xa9 \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
                        "\xef\xbf\xbd\xef\xbf\xbd end");
    free(s);
    json_t *j = hx_json_str("\xfe\xff");
    ck_assert(json_is_string(j));
    json_decref(j);
    ck_assert(json_is_null(hx_json_str(NULL)));
}
END_TEST

START_TEST(json_schema)
{
    hx_report r;
    fill_report(&r);
    const char *dir = tu_path(g_dir, "schema");
    ck_assert_int_eq(hx_report_write_all(&r, dir, HX_FMT_JSON), 0);
    json_error_t je;
    json_t *doc = json_load_file(tu_path(dir, "report.json"), 0, &je);
    ck_assert_msg(doc != NULL, "report.json: %s", je.text);
    ck_assert_str_eq(hx_json_get_str(doc, "schema"), "loadgate-report/1");
    json_t *env = json_object_get(doc, "environment");
    static const char *const env_keys[] = {"loadgate", "libtorch", "backends", "devices", "commit",
                                           "host"};
    for (size_t i = 0; i < 6; i++)
        ck_assert_msg(json_object_get(env, env_keys[i]), "environment.%s", env_keys[i]);
    ck_assert(json_is_array(json_object_get(env, "backends")));
    ck_assert(json_is_array(json_object_get(json_object_get(env, "devices"), "sim")));
    json_t *sum = json_object_get(doc, "summary");
    static const char *const sum_keys[] = {"total", "passed", "failed", "skipped", "xfailed",
                                           "xpassed", "crashed", "timedout"};
    static const int want[] = {8, 2, 1, 1, 1, 1, 1, 1};
    for (size_t i = 0; i < 8; i++)
        ck_assert_int_eq(json_integer_value(json_object_get(sum, sum_keys[i])), want[i]);
    ck_assert(json_is_number(json_object_get(sum, "duration_s")));
    json_t *c = json_array_get(json_object_get(doc, "cases"), 1);
    static const char *const case_keys[] = {"id", "suite", "name", "params", "status", "reason",
                                            "expected", "actual", "invariants", "trace", "moved",
                                            "policy_used", "duration_s"};
    for (size_t i = 0; i < sizeof case_keys / sizeof case_keys[0]; i++)
        ck_assert_msg(json_object_get(c, case_keys[i]), "case.%s", case_keys[i]);
    json_t *act = json_object_get(c, "actual");
    ck_assert(json_object_get(act, "signal") && json_object_get(act, "message"));
    json_t *ev = json_array_get(json_object_get(c, "trace"), 0);
    static const char *const ev_keys[] = {"seq", "op", "tensor", "from", "to", "bytes", "ok",
                                          "detail"};
    for (size_t i = 0; i < 8; i++)
        ck_assert_msg(json_object_get(ev, ev_keys[i]), "trace.%s", ev_keys[i]);
    json_decref(doc);

    hx_report back;
    ck_assert_int_eq(hx_report_load(tu_path(dir, "report.json"), &back), LG_OK);
    ck_assert_uint_eq(json_array_size(back.cases), 8);
    ck_assert(back.duration_s > 1.4 && back.duration_s < 1.6);
    hx_report_free(&back);
    hx_report_free(&r);
}
END_TEST

START_TEST(junit_counts)
{
    hx_report r;
    fill_report(&r);
    const char *dir = tu_path(g_dir, "junit");
    ck_assert_int_eq(hx_report_write_all(&r, dir, HX_FMT_JUNIT), 0);
    char *x = read_text(tu_path(dir, "junit.xml"));
    const char *bad = xml_check(x);
    ck_assert_msg(bad == NULL, "junit.xml is not well-formed: %s", bad);
    ck_assert_uint_eq(count_str(x, "<testcase "), 8);
    ck_assert_uint_eq(count_str(x, "<failure "), 2); /* fail, xpass */
    ck_assert_uint_eq(count_str(x, "<error "), 2);   /* crash, timeout */
    ck_assert_uint_eq(count_str(x, "<skipped "), 2); /* skip, xfail */
    ck_assert_uint_eq(count_str(x, "<testsuite "), 2);
    const char *root = strstr(x, "<testsuites");
    ck_assert_int_eq(attr_long(root, "tests"), 8);
    ck_assert_int_eq(attr_long(root, "failures"), 2);
    ck_assert_int_eq(attr_long(root, "errors"), 2);
    ck_assert_int_eq(attr_long(root, "skipped"), 2);
    ck_assert_int_eq(attr_long(strstr(x, "<testsuite name=\"alpha\""), "tests"), 4);
    ck_assert_ptr_nonnull(strstr(x, "name=\"beta/load[device=mps,i=5]\""));
    ck_assert_ptr_nonnull(strstr(x, "bad &lt;tag&gt; &amp; &quot;quote&quot; &apos;apos&apos;"));
    ck_assert_ptr_null(strchr(x, '\x01'));
    ck_assert_ptr_null(strchr(x, '\x02'));
    free(x);
    hx_report_free(&r);
}
END_TEST

START_TEST(markdown)
{
    hx_report r;
    fill_report(&r);
    const char *dir = tu_path(g_dir, "md");
    ck_assert_int_eq(hx_report_write_all(&r, dir, HX_FMT_MD), 0);
    char *m = read_text(tu_path(dir, "summary.md"));
    ck_assert_ptr_nonnull(strstr(m, "**FAILED**"));
    ck_assert_ptr_nonnull(strstr(m, "| 8 | 2 | 1 | 1 | 1 | 1 | 1 | 1 |"));
    ck_assert_ptr_nonnull(strstr(m, "## Failing cases (4)"));
    ck_assert_ptr_nonnull(strstr(m, "### crash: beta/load[device=mps,i=5]"));
    ck_assert_ptr_null(strstr(m, "### pass"));
    ck_assert_ptr_nonnull(strstr(m, "| alpha | 4 |"));
    free(m);
    hx_report_free(&r);
}
END_TEST

START_TEST(html_page)
{
    hx_report r;
    fill_report(&r);
    const char *dir = tu_path(g_dir, "html");
    ck_assert_int_eq(hx_report_write_all(&r, dir, HX_FMT_HTML), 0);
    char *h = read_text(tu_path(dir, "index.html"));
    const char *open = "<script type=\"application/json\" id=\"report-data\">";
    char *start = strstr(h, open);
    ck_assert_ptr_nonnull(start);
    start += strlen(open);
    char *end = strstr(start, "</script>");
    ck_assert_ptr_nonnull(end);
    ck_assert_ptr_null(memchr(start, '<', (size_t)(end - start)));
    *end = 0;
    json_error_t je;
    json_t *data = json_loads(start, 0, &je);
    ck_assert_msg(data != NULL, "embedded data: %s", je.text);
    ck_assert_uint_eq(json_array_size(json_object_get(data, "cases")), 8);
    const char *msg = hx_json_get_str(
        json_object_get(json_array_get(json_object_get(data, "cases"), 1), "actual"), "message");
    ck_assert_ptr_nonnull(strstr(msg, "</script>"));
    json_decref(data);
    ck_assert_ptr_null(strstr(end + 1, "http://"));
    ck_assert_ptr_null(strstr(h, "https://"));
    ck_assert_ptr_null(strstr(h, " src="));
    free(h);
    hx_report_free(&r);
}
END_TEST

START_TEST(load_errors)
{
    const char *dir = tu_path(g_dir, "load-bad");
    ck_assert_int_eq(hx_mkdirs(dir), LG_OK);
    char bad[600];
    snprintf(bad, sizeof bad, "%s", tu_path(dir, "bad.json"));
    hx_report r;
    ck_assert_int_eq(hx_report_load(tu_path(dir, "missing.json"), &r), LG_E_IO);
    ck_assert_ptr_nonnull(strstr(hx_errmsg(), "missing.json"));
    ck_assert_int_eq(tu_write(bad, "{\"schema\": \"other\"}", 19), 0);
    ck_assert_int_eq(hx_report_load(bad, &r), LG_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(hx_errmsg(), "not a loadgate-report/1 report"));
    ck_assert_int_eq(tu_write(bad, "{\"schema\": ", 11), 0);
    ck_assert_int_eq(hx_report_load(bad, &r), LG_E_FORMAT);
    /* a writer that cannot open its file says which */
    hx_report e;
    ck_assert_int_eq(hx_report_init(&e), LG_OK);
    ck_assert_int_eq(hx_report_write_json(&e, tu_path(dir, "no/such/dir/report.json")), LG_E_IO);
    ck_assert_ptr_nonnull(strstr(hx_errmsg(), "no/such/dir/report.json"));
    hx_report_free(&e);
}
END_TEST

/* The result object of a corrupted case records the corruption's label
 * and class, and an outcome's text that is not UTF-8 is made valid. */
START_TEST(result_object)
{
    hx_case c = {0};
    c.id = "s/flip[corrupt=flip:3:all]";
    c.suite = "s";
    c.name = "flip";
    c.corrupt.kind = HX_CORRUPT_FLIP;
    c.corrupt.a = 3;
    c.corrupt.bit = -1;
    json_t *r = hx_result_make(&c, NULL, 4, "sim", 0, HX_ST_PASS, NULL);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(hx_json_get_str(r, "id"), c.id);
    ck_assert_str_eq(hx_json_get_str(r, "corrupt"), "flip:3:all");
    ck_assert_str_eq(hx_json_get_str(r, "corrupt_class"), "flip every byte");
    ck_assert_str_eq(hx_json_get_str(json_object_get(r, "invariants"), "atomic"), "n/a");
    ck_assert(json_is_null(json_object_get(json_object_get(r, "actual"), "outcome")));

    hx_outcome o = {0};
    ck_assert_int_eq(lg_trace_new(&o.trace), LG_OK);
    o.ran = 1;
    o.status = LG_E_FORMAT;
    snprintf(o.message, sizeof o.message, "name \"\xffixed\"");
    o.inv[HX_INV_ATOMIC] = HX_FAIL;
    snprintf(o.why[HX_INV_ATOMIC], sizeof o.why[0], "\"\xfe\" changed");
    o.moved[0][2] = 64;
    ck_assert_int_eq(hx_result_fill(r, &o, 10), LG_OK);
    json_t *act = json_object_get(r, "actual");
    ck_assert_str_eq(hx_json_get_str(act, "error"), "LG_E_FORMAT");
    ck_assert_str_eq(hx_json_get_str(act, "message"), "name \"\xef\xbf\xbdixed\"");
    ck_assert_str_eq(hx_json_get_str(json_object_get(r, "invariant_failures"), "atomic"),
                     "\"\xef\xbf\xbd\" changed");
    ck_assert_str_eq(hx_json_get_str(json_object_get(r, "invariants"), "atomic"), "fail");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "moved"), "cpu->mps")), 64);
    char *text = json_dumps(r, 0);
    ck_assert_ptr_nonnull(text);
    free(text);
    lg_trace_free(o.trace);
    json_decref(r);

    c.corrupt.kind = HX_CORRUPT_NONE;
    r = hx_result_make(&c, "s/flip[k=2]", 4, "sim", 2, HX_ST_SKIP, "why");
    ck_assert_ptr_null(json_object_get(r, "corrupt_class"));
    ck_assert_str_eq(hx_json_get_str(r, "id"), "s/flip[k=2]");
    ck_assert_str_eq(hx_json_get_str(json_object_get(r, "params"), "k"), "2");
    json_decref(r);
}
END_TEST

static void write_part(const char *path, const hx_report *all, size_t from, size_t to,
                       const char *override_status)
{
    hx_report p;
    ck_assert_int_eq(hx_report_init(&p), 0);
    p.environment = json_incref(all->environment);
    for (size_t i = from; i < to; i++) {
        json_t *c = json_deep_copy(json_array_get(all->cases, i));
        if (override_status)
            json_object_set_new(c, "status", json_string(override_status));
        ck_assert_int_eq(hx_report_add(&p, c), 0);
    }
    p.duration_s = 0.5;
    ck_assert_int_eq(hx_report_write_json(&p, path), 0);
    hx_report_free(&p);
}

static int merge(const char *out, const char *a, const char *b, const char *c)
{
    char *argv[] = {"merge", "-o", (char *)out, (char *)a, (char *)b, (char *)c, NULL};
    return hx_cmd_merge(c ? 6 : 5, argv);
}

START_TEST(merge_shards)
{
    hx_report r;
    fill_report(&r);
    const char *dir = tu_path(g_dir, "merge");
    ck_assert_int_eq(hx_mkdirs(dir), LG_OK);
    char a[600], b[600], c[600], out[600];
    snprintf(a, sizeof a, "%s", tu_path(dir, "a.json"));
    snprintf(b, sizeof b, "%s", tu_path(dir, "b.json"));
    snprintf(c, sizeof c, "%s", tu_path(dir, "c.json"));
    snprintf(out, sizeof out, "%s", tu_path(dir, "out.json"));
    /* shards given out of order: the merge puts cases back in suite order */
    write_part(a, &r, 5, 8, NULL);
    write_part(b, &r, 0, 3, NULL);
    write_part(c, &r, 3, 5, NULL);
    ck_assert_int_eq(merge(out, b, c, a), 1); /* the report holds failures */
    hx_report m;
    ck_assert_int_eq(hx_report_load(out, &m), LG_OK);
    ck_assert_uint_eq(json_array_size(m.cases), 8);
    for (size_t i = 0; i < 8; i++)
        ck_assert_str_eq(hx_json_get_str(json_array_get(m.cases, i), "id"),
                         hx_json_get_str(json_array_get(r.cases, i), "id"));
    json_t *s1 = hx_report_summary(&m), *s2 = hx_report_summary(&r);
    json_object_del(s1, "duration_s");
    json_object_del(s2, "duration_s");
    ck_assert(json_equal(s1, s2));
    ck_assert(m.duration_s > 1.4 && m.duration_s < 1.6); /* summed */
    json_decref(s1);
    json_decref(s2);
    hx_report_free(&m);

    /* a later report's case replaces an earlier one with the same id */
    write_part(c, &r, 1, 2, "pass");
    write_part(b, &r, 0, 2, NULL);
    ck_assert_int_eq(merge(out, b, c, NULL), 0);
    ck_assert_int_eq(hx_report_load(out, &m), LG_OK);
    ck_assert_uint_eq(json_array_size(m.cases), 2);
    ck_assert_str_eq(hx_json_get_str(json_array_get(m.cases, 1), "status"), "pass");
    ck_assert_str_eq(m.interrupted, "");
    hx_report_free(&m);

    /* one interrupted shard makes the merged run interrupted, with its
     * reason in the summary (it was dropped before) */
    hx_report p;
    ck_assert_int_eq(hx_report_load(c, &p), LG_OK);
    snprintf(p.interrupted, sizeof p.interrupted, "interrupted by SIGINT");
    ck_assert_int_eq(hx_report_write_json(&p, c), 0);
    hx_report_free(&p);
    merge(out, b, c, NULL);
    ck_assert_int_eq(hx_report_load(out, &m), LG_OK);
    ck_assert_str_eq(m.interrupted, "interrupted by SIGINT");
    json_t *s = hx_report_summary(&m);
    ck_assert(json_is_true(json_object_get(s, "interrupted")));
    json_decref(s);
    hx_report_free(&m);
    hx_report_free(&r);
}
END_TEST

START_TEST(merge_errors)
{
    const char *dir = tu_path(g_dir, "merge-bad");
    ck_assert_int_eq(hx_mkdirs(dir), LG_OK);
    char bad[600], out[600];
    snprintf(bad, sizeof bad, "%s", tu_path(dir, "bad.json"));
    snprintf(out, sizeof out, "%s", tu_path(dir, "out.json"));
    ck_assert_int_eq(tu_write(bad, "{\"schema\": \"other\"}", 19), 0);
    ck_assert_int_eq(merge(out, bad, bad, NULL), 2);
    ck_assert_int_eq(merge(out, "/nonexistent/report.json", bad, NULL), 2);
    char *usage[] = {"merge", "in.json", NULL};
    ck_assert_int_eq(hx_cmd_merge(2, usage), 2);
    char *help[] = {"merge", "--help", NULL};
    ck_assert_int_eq(hx_cmd_merge(2, help), 0);
}
END_TEST

static Suite *report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *t = tcase_create("report");
    tcase_add_test(t, status_names);
    tcase_add_test(t, formats);
    tcase_add_test(t, utf8_clean);
    tcase_add_test(t, json_schema);
    tcase_add_test(t, junit_counts);
    tcase_add_test(t, markdown);
    tcase_add_test(t, html_page);
    tcase_add_test(t, load_errors);
    tcase_add_test(t, result_object);
    tcase_add_test(t, merge_shards);
    tcase_add_test(t, merge_errors);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    g_dir = tu_tmpdir();
    if (!g_dir) {
        perror("mkdtemp");
        return 1;
    }
    int failed = tu_run_suite(report_suite());
    tu_rmtree(g_dir);
    return failed ? 1 : 0;
}
