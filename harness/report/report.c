/* Run reports: the result list, report.json, junit.xml, summary.md, and
 * `harness merge`. The schema is documented in docs/report.md. */
#define _POSIX_C_SOURCE 200809L
#include "report/report.h"
#include "report/reliability.h"
#include "cmd/cmd.h"
#include "loadgate/loadgate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <unistd.h>

static const char *const status_names[HX_ST_COUNT] = {
    "pass", "fail", "skip", "xfail", "xpass", "crash", "timeout",
};

/* summary keys, by status */
static const char *const summary_keys[HX_ST_COUNT] = {
    "passed", "failed", "skipped", "xfailed", "xpassed", "crashed", "timedout",
};

const char *hx_status_name(hx_status s)
{
    return (unsigned)s < HX_ST_COUNT ? status_names[s] : "?";
}

int hx_status_parse(const char *s, hx_status *out)
{
    for (int i = 0; s && i < HX_ST_COUNT; i++) {
        if (!strcmp(s, status_names[i])) {
            *out = (hx_status)i;
            return 0;
        }
    }
    return -1;
}

int hx_status_fails_run(hx_status s)
{
    return s == HX_ST_FAIL || s == HX_ST_XPASS || s == HX_ST_CRASH || s == HX_ST_TIMEOUT;
}

hx_status hx_case_status(const json_t *c)
{
    hx_status s;
    if (hx_status_parse(hx_json_get_str(c, "status"), &s))
        return HX_ST_FAIL;
    return s;
}

int hx_formats_parse(const char *s, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bit;
    } fmts[] = {{"json", HX_FMT_JSON}, {"junit", HX_FMT_JUNIT}, {"md", HX_FMT_MD},
                {"html", HX_FMT_HTML}, {"all", HX_FMT_ALL}};
    unsigned mask = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        size_t i;
        for (i = 0; i < sizeof fmts / sizeof fmts[0]; i++)
            if (strlen(fmts[i].name) == n && !strncmp(s, fmts[i].name, n))
                break;
        if (i == sizeof fmts / sizeof fmts[0])
            return -1;
        mask |= fmts[i].bit;
        s += n;
        if (*s == ',')
            s++;
    }
    if (!mask)
        return -1;
    *out = mask;
    return 0;
}

/* ------------------------------------------------------------ UTF-8 */

/* Length of the valid UTF-8 sequence at p (1..4) and its code point, or 0
 * when the bytes there are not valid UTF-8 (overlong forms, surrogates and
 * values past U+10FFFF included). */
static int utf8_decode(const unsigned char *p, unsigned long *cp)
{
    unsigned long c = p[0];
    int n, i;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, c &= 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, c &= 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, c &= 0x07;
    else
        return 0;
    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10ffff ||
        (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

char *hx_utf8_clean(const char *s)
{
    size_t len = strlen(s), o = 0;
    char *out = malloc(len * 3 + 1); /* each bad byte grows to 3 */
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned long cp;
        int n = utf8_decode(p, &cp);
        if (n) {
            memcpy(out + o, p, (size_t)n);
            o += (size_t)n;
            p += n;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            p++;
        }
    }
    out[o] = 0;
    return out;
}

json_t *hx_json_str(const char *s)
{
    if (!s)
        return json_null();
    char *clean = hx_utf8_clean(s);
    if (!clean)
        return NULL;
    json_t *j = json_string(clean);
    free(clean);
    return j;
}

const char *hx_json_get_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* ----------------------------------------------------------- report */

int hx_report_init(hx_report *r)
{
    memset(r, 0, sizeof *r);
    r->cases = json_array();
    return r->cases ? 0 : -1;
}

void hx_report_free(hx_report *r)
{
    json_decref(r->environment);
    json_decref(r->run);
    json_decref(r->cases);
    memset(r, 0, sizeof *r);
}

int hx_report_add(hx_report *r, json_t *c)
{
    if (!c)
        return -1;
    return json_array_append_new(r->cases, c);
}

json_t *hx_report_summary(const hx_report *r)
{
    size_t counts[HX_ST_COUNT] = {0};
    size_t i;
    json_t *c;
    json_array_foreach(r->cases, i, c) counts[hx_case_status(c)]++;

    json_t *s = json_object();
    if (!s)
        return NULL;
    int bad = json_object_set_new(s, "total", json_integer((json_int_t)json_array_size(r->cases)));
    for (int k = 0; k < HX_ST_COUNT; k++)
        bad |= json_object_set_new(s, summary_keys[k], json_integer((json_int_t)counts[k]));
    bad |= json_object_set_new(s, "duration_s", json_real(r->duration_s));
    if (bad) {
        json_decref(s);
        return NULL;
    }
    return s;
}

json_t *hx_report_json(const hx_report *r)
{
    json_t *doc = json_object();
    if (!doc)
        return NULL;
    int bad = json_object_set_new(doc, "schema", json_string(HX_REPORT_SCHEMA));
    bad |= json_object_set(doc, "environment", r->environment ? r->environment : json_null());
    if (r->run)
        bad |= json_object_set(doc, "run", r->run);
    bad |= json_object_set_new(doc, "summary", hx_report_summary(r));
    bad |= json_object_set(doc, "cases", r->cases);
    if (bad) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static int load_fail(char *err, size_t n, const char *path, const char *what)
{
    snprintf(err, n, "%s: %s", path, what);
    return -1;
}

static int check_cases(const json_t *cases)
{
    size_t i;
    json_t *c;
    hx_status st;
    json_array_foreach(cases, i, c) {
        if (!hx_json_get_str(c, "id") || hx_status_parse(hx_json_get_str(c, "status"), &st))
            return -1;
    }
    return 0;
}

int hx_report_load(const char *path, hx_report *r, char *err, size_t errlen)
{
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    if (!doc && je.line < 1)
        return load_fail(err, errlen, path, je.text);
    if (!doc) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        return -1;
    }
    int rc = -1;
    const char *schema = hx_json_get_str(doc, "schema");
    json_t *cases = json_object_get(doc, "cases");
    if (!schema || strcmp(schema, HX_REPORT_SCHEMA)) {
        load_fail(err, errlen, path, "not a " HX_REPORT_SCHEMA " report (\"schema\")");
        goto out;
    }
    if (!json_is_array(cases) || check_cases(cases)) {
        load_fail(err, errlen, path, "\"cases\" must be an array of objects with an id and a status");
        goto out;
    }
    if (hx_report_init(r)) {
        load_fail(err, errlen, path, "out of memory");
        goto out;
    }
    json_decref(r->cases);
    r->cases = json_incref(cases);
    json_t *env = json_object_get(doc, "environment");
    r->environment = json_is_object(env) ? json_incref(env) : NULL;
    json_t *run = json_object_get(doc, "run");
    r->run = json_is_object(run) ? json_incref(run) : NULL;
    r->duration_s = json_number_value(json_object_get(json_object_get(doc, "summary"), "duration_s"));
    rc = 0;
out:
    json_decref(doc);
    return rc;
}

/* ------------------------------------------------------ environment */

static json_t *split_commas(const char *s)
{
    json_t *a = json_array();
    while (a && *s) {
        size_t n = strcspn(s, ",");
        if (json_array_append_new(a, json_stringn(s, n))) {
            json_decref(a);
            return NULL;
        }
        s += n + (s[n] == ',');
    }
    return a;
}

static json_t *backend_devices(const char *name)
{
    static const char *const devs[] = {"cpu", "cuda:0", "mps"};
    json_t *a = json_array();
    lg_backend *b = NULL;
    if (!a || lg_backend_open(name, &b) != LG_OK)
        return a;
    for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) {
        lg_device d;
        if (lg_device_parse(devs[i], &d) == LG_OK && lg_backend_has_device(b, d))
            json_array_append_new(a, json_string(devs[i]));
    }
    lg_backend_close(b);
    lg_error_clear();
    return a;
}

static json_t *git_commit(void)
{
#ifdef LG_SOURCE_DIR
    const char *dir = LG_SOURCE_DIR;
#else
    const char *dir = ".";
#endif
    char cmd[4200], line[128] = "";
    if (strchr(dir, '\'') || strlen(dir) > 4000)
        return json_null();
    snprintf(cmd, sizeof cmd, "git -C '%s' rev-parse HEAD 2>/dev/null", dir);
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    if (!p)
        return json_null();
    if (!fgets(line, sizeof line, p))
        line[0] = 0;
    int rc = pclose(p);
    line[strcspn(line, "\r\n")] = 0;
    if (rc != 0 || strlen(line) < 40 || strspn(line, "0123456789abcdef") != strlen(line))
        return json_null();
    return json_string(line);
}

static json_t *host_info(void)
{
    struct utsname u;
    char name[256] = "";
    if (gethostname(name, sizeof name - 1))
        name[0] = 0;
    if (uname(&u))
        memset(&u, 0, sizeof u);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return json_pack("{s:o, s:o, s:o, s:o, s:I}", "name", hx_json_str(name), "os",
                     hx_json_str(u.sysname), "release", hx_json_str(u.release), "arch",
                     hx_json_str(u.machine), "cpus", (json_int_t)(cpus > 0 ? cpus : 0));
}

json_t *hx_environment(void)
{
    json_t *backends = split_commas(lg_backends_built());
    json_t *devices = json_object();
    size_t i;
    json_t *b;
    if (!backends || !devices) {
        json_decref(backends);
        json_decref(devices);
        return NULL;
    }
    json_array_foreach(backends, i, b) {
        const char *name = json_string_value(b);
        json_object_set_new(devices, name, backend_devices(name));
    }
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "loadgate", LG_VERSION, "libtorch",
                     lg_libtorch_version(), "backends", backends, "devices", devices, "commit",
                     git_commit(), "host", host_info());
}

/* ------------------------------------------------------------ files */

int hx_mkdirs(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, dir, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0777) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST)
        return -1;
    return 0;
}

static int close_checked(FILE *f, const char *path)
{
    int bad = ferror(f);
    if (fclose(f) || bad) {
        fprintf(stderr, "harness: %s: %s\n", path, strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}

static FILE *open_out(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "harness: %s: %s\n", path, strerror(errno));
    return f;
}

int hx_report_write_json(const hx_report *r, const char *path)
{
    json_t *doc = hx_report_json(r);
    if (!doc) {
        fprintf(stderr, "harness: %s: out of memory\n", path);
        return -1;
    }
    FILE *f = open_out(path);
    int rc = -1;
    if (f) {
        int bad = json_dumpf(doc, f, JSON_INDENT(1));
        fputc('\n', f);
        rc = close_checked(f, path) || bad ? -1 : 0;
    }
    json_decref(doc);
    return rc;
}

/* ------------------------------------------------------------ JUnit */

static int xml_allowed(unsigned long c)
{
    return c == 0x9 || c == 0xa || c == 0xd || (c >= 0x20 && c <= 0xd7ff) ||
           (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
}

/* Writes s escaped for XML text (attr = 0) or an attribute value; drops
 * invalid UTF-8 and the characters XML 1.0 forbids. */
static void xml_put(FILE *f, const char *s, int attr)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        unsigned long c;
        int n = utf8_decode(p, &c);
        if (!n) {
            p++;
            continue;
        }
        if (!xml_allowed(c))
            ;
        else if (c == '&')
            fputs("&amp;", f);
        else if (c == '<')
            fputs("&lt;", f);
        else if (c == '>')
            fputs("&gt;", f);
        else if (c == '"')
            fputs("&quot;", f);
        else if (c == '\'')
            fputs("&apos;", f);
        else if (attr && (c == '\n' || c == '\r' || c == '\t'))
            fprintf(f, "&#%lu;", c);
        else
            fwrite(p, 1, (size_t)n, f);
        p += n;
    }
}

typedef struct {
    size_t n[HX_ST_COUNT];
    size_t total;
    double time;
} counts;

static void count_case(counts *k, const json_t *c)
{
    k->n[hx_case_status(c)]++;
    k->total++;
    k->time += json_number_value(json_object_get(c, "duration_s"));
}

static void junit_counts(FILE *f, const counts *k)
{
    fprintf(f, " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%.3f\"",
            k->total, k->n[HX_ST_FAIL] + k->n[HX_ST_XPASS],
            k->n[HX_ST_CRASH] + k->n[HX_ST_TIMEOUT], k->n[HX_ST_SKIP] + k->n[HX_ST_XFAIL],
            k->time);
}

/* The body of a failure or error: reason, message and stderr. */
static void junit_detail(FILE *f, const json_t *c)
{
    const json_t *act = json_object_get(c, "actual");
    const char *msg = hx_json_get_str(act, "message");
    const char *err = hx_json_get_str(c, "stderr");
    xml_put(f, hx_json_get_str(c, "reason"), 0);
    if (msg && *msg) {
        fputs("\nmessage: ", f);
        xml_put(f, msg, 0);
    }
    if (err && *err) {
        fputs("\nstderr:\n", f);
        xml_put(f, err, 0);
    }
}

static void junit_case(FILE *f, const json_t *c)
{
    hx_status st = hx_case_status(c);
    const char *reason = hx_json_get_str(c, "reason");
    fputs("    <testcase name=\"", f);
    xml_put(f, hx_json_get_str(c, "id"), 1);
    fputs("\" classname=\"", f);
    xml_put(f, hx_json_get_str(c, "suite"), 1);
    fprintf(f, "\" time=\"%.3f\"", json_number_value(json_object_get(c, "duration_s")));
    if (st == HX_ST_PASS) {
        fputs("/>\n", f);
        return;
    }
    fputs(">\n      <", f);
    const char *tag = st == HX_ST_FAIL || st == HX_ST_XPASS ? "failure"
                      : st == HX_ST_CRASH || st == HX_ST_TIMEOUT ? "error"
                                                                 : "skipped";
    fprintf(f, "%s message=\"", tag);
    xml_put(f, reason, 1);
    fprintf(f, "\" type=\"%s\">", hx_status_name(st));
    if (strcmp(tag, "skipped"))
        junit_detail(f, c);
    else
        xml_put(f, reason, 0);
    fprintf(f, "</%s>\n    </testcase>\n", tag);
}

/* Suite names in order of first appearance (borrowed strings). */
static const char **suite_order(const json_t *cases, size_t *n)
{
    size_t i, k;
    json_t *c;
    const char **names = calloc(json_array_size(cases) + 1, sizeof *names);
    *n = 0;
    if (!names)
        return NULL;
    json_array_foreach(cases, i, c) {
        const char *s = hx_json_get_str(c, "suite");
        s = s ? s : "";
        for (k = 0; k < *n && strcmp(names[k], s); k++)
            ;
        if (k == *n)
            names[(*n)++] = s;
    }
    return names;
}

static int in_suite(const json_t *c, const char *suite)
{
    const char *s = hx_json_get_str(c, "suite");
    return !strcmp(s ? s : "", suite);
}

int hx_report_write_junit(const hx_report *r, const char *path)
{
    size_t nsuites, i, k;
    json_t *c;
    const char **suites = suite_order(r->cases, &nsuites);
    if (!suites)
        return -1;
    FILE *f = open_out(path);
    if (!f) {
        free(suites);
        return -1;
    }
    counts all = {0};
    json_array_foreach(r->cases, i, c) count_case(&all, c);
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"loadgate\"", f);
    junit_counts(f, &all);
    fputs(">\n", f);
    for (k = 0; k < nsuites; k++) {
        counts sk = {0};
        json_array_foreach(r->cases, i, c) if (in_suite(c, suites[k])) count_case(&sk, c);
        fputs("  <testsuite name=\"", f);
        xml_put(f, suites[k], 1);
        fputc('"', f);
        junit_counts(f, &sk);
        fputs(">\n", f);
        json_array_foreach(r->cases, i, c) if (in_suite(c, suites[k])) junit_case(f, c);
        fputs("  </testsuite>\n", f);
    }
    fputs("</testsuites>\n", f);
    free(suites);
    return close_checked(f, path);
}

/* ---------------------------------------------------------- Markdown */

/* Table cell text: no newlines, pipes escaped. */
static void md_cell(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else if (*s == '\n' || *s == '\r')
            fputc(' ', f);
        else
            fputc(*s, f);
    }
}

/* A fenced block longer than any run of backticks inside s. */
static void md_block(FILE *f, const char *s)
{
    size_t run = 0, longest = 0;
    char *clean = hx_utf8_clean(s);
    const char *t = clean ? clean : s;
    for (const char *p = t; *p; p++) {
        run = *p == '`' ? run + 1 : 0;
        longest = run > longest ? run : longest;
    }
    size_t fence = longest < 3 ? 3 : longest + 1;
    for (size_t i = 0; i < fence; i++)
        fputc('`', f);
    fprintf(f, "\n%s%s", t, t[0] && t[strlen(t) - 1] != '\n' ? "\n" : "");
    for (size_t i = 0; i < fence; i++)
        fputc('`', f);
    fputs("\n\n", f);
    free(clean);
}

static void md_counts_row(FILE *f, const char *label, const counts *k)
{
    if (label) {
        fputs("| ", f);
        md_cell(f, label);
        fputc(' ', f);
    }
    fprintf(f, "| %zu ", k->total);
    for (int s = 0; s < HX_ST_COUNT; s++)
        fprintf(f, "| %zu ", k->n[s]);
    fprintf(f, "| %.2f |\n", k->time);
}

static void md_header(FILE *f, int with_suite)
{
    fputs(with_suite ? "| suite | total" : "| total", f);
    for (int s = 0; s < HX_ST_COUNT; s++)
        fprintf(f, " | %s", summary_keys[s]);
    fputs(" | case seconds |\n|", f);
    for (int s = 0; s < HX_ST_COUNT + 2 + with_suite; s++)
        fputs(s == 0 && with_suite ? " --- |" : " ---: |", f);
    fputc('\n', f);
}

static void md_env(FILE *f, const hx_report *r)
{
    const json_t *e = r->environment;
    const char *commit = hx_json_get_str(e, "commit");
    fprintf(f, "loadgate %s, libtorch %s, commit %.12s, wall time %.2f s\n\n",
            hx_json_get_str(e, "loadgate") ? hx_json_get_str(e, "loadgate") : "?",
            hx_json_get_str(e, "libtorch") ? hx_json_get_str(e, "libtorch") : "?",
            commit ? commit : "unknown", r->duration_s);
}

static void md_failing(FILE *f, const json_t *cases)
{
    size_t i, nfail = 0;
    json_t *c;
    json_array_foreach(cases, i, c) nfail += hx_status_fails_run(hx_case_status(c)) != 0;
    if (!nfail) {
        fputs("## Failing cases\n\nNone.\n", f);
        return;
    }
    fprintf(f, "## Failing cases (%zu)\n\n", nfail);
    json_array_foreach(cases, i, c) {
        hx_status st = hx_case_status(c);
        if (!hx_status_fails_run(st))
            continue;
        const json_t *act = json_object_get(c, "actual");
        const char *msg = hx_json_get_str(act, "message");
        const char *err = hx_json_get_str(c, "stderr");
        fprintf(f, "### %s: ", hx_status_name(st));
        md_cell(f, hx_json_get_str(c, "id"));
        fputs("\n\n", f);
        md_block(f, hx_json_get_str(c, "reason") ? hx_json_get_str(c, "reason") : "");
        if (msg && *msg) {
            fputs("Error message:\n\n", f);
            md_block(f, msg);
        }
        if (err && *err) {
            fputs("Standard error (tail):\n\n", f);
            md_block(f, err);
        }
    }
}

int hx_report_write_md(const hx_report *r, const char *path)
{
    size_t nsuites, i, k;
    json_t *c;
    const char **suites = suite_order(r->cases, &nsuites);
    if (!suites)
        return -1;
    FILE *f = open_out(path);
    if (!f) {
        free(suites);
        return -1;
    }
    counts all = {0};
    json_array_foreach(r->cases, i, c) count_case(&all, c);
    fputs("# loadgate report\n\n", f);
    md_env(f, r);
    fprintf(f, "**%s**\n\n", all.n[HX_ST_FAIL] + all.n[HX_ST_XPASS] + all.n[HX_ST_CRASH] +
                                         all.n[HX_ST_TIMEOUT]
                                     ? "FAILED"
                                     : "PASSED");
    md_header(f, 0);
    md_counts_row(f, NULL, &all);
    fputs("\n## Suites\n\n", f);
    md_header(f, 1);
    for (k = 0; k < nsuites; k++) {
        counts sk = {0};
        json_array_foreach(r->cases, i, c) if (in_suite(c, suites[k])) count_case(&sk, c);
        md_counts_row(f, suites[k], &sk);
    }
    fputc('\n', f);
    md_failing(f, r->cases);
    if (hx_reliability_md(f, r->cases) != 0) {
        fclose(f);
        free(suites);
        return -1;
    }
    free(suites);
    return close_checked(f, path);
}

/* ------------------------------------------------------------- all */

int hx_report_write_all(const hx_report *r, const char *dir, unsigned formats)
{
    static const struct {
        unsigned bit;
        const char *file;
        int (*write)(const hx_report *, const char *);
    } outs[] = {
        {HX_FMT_JSON, "report.json", hx_report_write_json},
        {HX_FMT_JUNIT, "junit.xml", hx_report_write_junit},
        {HX_FMT_MD, "summary.md", hx_report_write_md},
        {HX_FMT_HTML, "index.html", hx_report_write_html},
    };
    char path[4200];
    int rc = 0;
    if (hx_mkdirs(dir)) {
        fprintf(stderr, "harness: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        if (!(formats & outs[i].bit))
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, outs[i].file) >= sizeof path)
            return -1;
        if (outs[i].write(r, path))
            rc = -1;
    }
    return rc;
}

/* ----------------------------------------------------------- merge */

static const char merge_usage[] =
    "usage: harness merge -o OUT.json [--format json,junit,md,html] IN.json...\n"
    "\n"
    "Merges report.json files (for example the shards of one run) into one\n"
    "report: cases are concatenated, a case id seen again replaces the earlier\n"
    "one (a warning when the statuses differ), cases are put back in suite\n"
    "order, the summary is recomputed and the first file's environment kept.\n"
    "--format also writes junit.xml, summary.md and index.html next to OUT.\n"
    "\n"
    "exit codes: 0 merged, every case passed; 1 merged, a case failed;\n"
    "            2 bad usage or an unreadable report\n";

typedef struct {
    json_t *c;
    size_t rank;  /* suite's order of first appearance */
    long index;   /* case index in its suite */
    size_t pos;   /* position after the merge, for a stable order */
} merge_item;

static int merge_cmp(const void *a, const void *b)
{
    const merge_item *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Adds the cases of in to out; ids maps an id to its position in out. */
static int merge_cases(hx_report *out, json_t *ids, const hx_report *in, const char *path)
{
    size_t i;
    json_t *c;
    json_array_foreach(in->cases, i, c) {
        const char *id = hx_json_get_str(c, "id");
        json_t *seen = json_object_get(ids, id);
        if (seen) {
            size_t at = (size_t)json_integer_value(seen);
            json_t *old = json_array_get(out->cases, at);
            if (hx_case_status(old) != hx_case_status(c))
                fprintf(stderr, "harness merge: %s: %s was %s before, %s here; keeping this one\n",
                        path, id, hx_status_name(hx_case_status(old)),
                        hx_status_name(hx_case_status(c)));
            if (json_array_set(out->cases, at, c))
                return -1;
            continue;
        }
        if (json_object_set_new(ids, id, json_integer((json_int_t)json_array_size(out->cases))) ||
            json_array_append(out->cases, c))
            return -1;
    }
    return 0;
}

/* Puts the merged cases in suite order, then case index. */
static int merge_sort(hx_report *r)
{
    size_t n = json_array_size(r->cases), nsuites, i, k;
    const char **suites = suite_order(r->cases, &nsuites);
    merge_item *items = calloc(n + 1, sizeof *items);
    json_t *sorted = json_array();
    int rc = -1;
    if (!suites || !items || !sorted)
        goto out;
    for (i = 0; i < n; i++) {
        json_t *c = json_array_get(r->cases, i);
        const char *s = hx_json_get_str(c, "suite");
        for (k = 0; k < nsuites && strcmp(suites[k], s ? s : ""); k++)
            ;
        json_t *ix = json_object_get(c, "index");
        items[i] = (merge_item){c, k, json_is_integer(ix) ? (long)json_integer_value(ix) : -1, i};
    }
    qsort(items, n, sizeof *items, merge_cmp);
    for (i = 0; i < n; i++)
        if (json_array_append(sorted, items[i].c))
            goto out;
    json_decref(r->cases);
    r->cases = sorted;
    sorted = NULL;
    rc = 0;
out:
    json_decref(sorted);
    free(items);
    free(suites);
    return rc;
}

static int merge_inputs(hx_report *out, char **inputs, int n)
{
    json_t *ids = json_object();
    char err[4400];
    int rc = -1;
    if (!ids)
        return -1;
    for (int i = 0; i < n; i++) {
        hx_report in;
        if (hx_report_load(inputs[i], &in, err, sizeof err)) {
            fprintf(stderr, "harness merge: %s\n", err);
            goto out;
        }
        if (!out->environment && in.environment)
            out->environment = json_incref(in.environment);
        if (!out->run && in.run)
            out->run = json_incref(in.run);
        out->duration_s += in.duration_s;
        int bad = merge_cases(out, ids, &in, inputs[i]);
        hx_report_free(&in);
        if (bad) {
            fprintf(stderr, "harness merge: out of memory\n");
            goto out;
        }
    }
    rc = merge_sort(out);
out:
    json_decref(ids);
    return rc;
}

/* Writes the other formats into OUT's folder. */
static int merge_write_extra(const hx_report *r, const char *out, unsigned formats)
{
    char dir[4096];
    const char *slash = strrchr(out, '/');
    formats &= ~(unsigned)HX_FMT_JSON;
    if (!formats)
        return 0;
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - out == 0 ? 1 : slash - out), out);
    return hx_report_write_all(r, dir, formats);
}

int hx_cmd_merge(int argc, char **argv)
{
    const char *out = NULL;
    unsigned formats = HX_FMT_JSON;
    char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    int ninputs = 0, rc = 2;
    if (!inputs)
        return 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(merge_usage, stdout);
            rc = 0;
            goto out;
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--format") && i + 1 < argc) {
            if (hx_formats_parse(argv[++i], &formats)) {
                fprintf(stderr, "harness merge: unknown format in '%s'\n", argv[i]);
                goto out;
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "harness merge: unknown option '%s'\n\n%s", argv[i], merge_usage);
            goto out;
        } else {
            inputs[ninputs++] = argv[i];
        }
    }
    if (!out || !ninputs) {
        fputs(merge_usage, stderr);
        goto out;
    }
    hx_report r;
    if (hx_report_init(&r))
        goto out;
    if (merge_inputs(&r, inputs, ninputs) == 0 && hx_report_write_json(&r, out) == 0 &&
        merge_write_extra(&r, out, formats) == 0) {
        json_t *s = hx_report_summary(&r);
        long failing = 0;
        for (int k = 0; k < HX_ST_COUNT; k++)
            if (hx_status_fails_run((hx_status)k))
                failing += (long)json_integer_value(json_object_get(s, summary_keys[k]));
        json_decref(s);
        rc = failing ? 1 : 0;
    }
    hx_report_free(&r);
out:
    free(inputs);
    return rc;
}
