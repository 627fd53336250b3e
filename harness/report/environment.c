/* The environment object of report.json: the machine and the build the
 * cases ran on (docs/report.md). */
#define _POSIX_C_SOURCE 200809L
#include "report/report.h"
#include "util/json.h"

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

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
    /* A run that used no torch case has not loaded libtorch (its module,
     * docs/install.md), and does not load it for this: null. */
    if (a && !strcmp(name, "torch") && !lg_torch_module_loaded()) {
        json_decref(a);
        return json_null();
    }
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

/* The first line of a file, without its newline; 0, or -1. */
static int first_line(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fgets(buf, (int)n, f) != NULL;
    fclose(f);
    buf[ok ? strcspn(buf, "\r\n") : 0] = 0;
    return ok ? 0 : -1;
}

/* The commit a ref names, from its loose file or from packed-refs. */
static int read_ref(const char *gitdir, const char *ref, char *out, size_t n)
{
    char p[4200], line[512];
    snprintf(p, sizeof p, "%s/%s", gitdir, ref);
    if (first_line(p, out, n) == 0)
        return 0;
    snprintf(p, sizeof p, "%s/packed-refs", gitdir);
    FILE *f = fopen(p, "r");
    int found = -1;
    while (f && found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (strlen(line) > 41 && line[40] == ' ' && !strcmp(line + 41, ref)) {
            snprintf(out, n, "%.40s", line);
            found = 0;
        }
    }
    if (f)
        fclose(f);
    return found;
}

/* The source tree's commit, read from its .git folder (no git process:
 * nothing in the harness forks but run/child.c). null when it cannot be
 * told: not a checkout, a linked worktree, or a ref loadgate cannot read. */
static json_t *git_commit(void)
{
#ifdef LG_SOURCE_DIR
    const char *dir = LG_SOURCE_DIR;
#else
    const char *dir = ".";
#endif
    char gitdir[4200], head[512], commit[512] = "";
    snprintf(gitdir, sizeof gitdir, "%s/.git", dir);
    char p[4300];
    snprintf(p, sizeof p, "%s/HEAD", gitdir);
    if (first_line(p, head, sizeof head) != 0)
        return json_null();
    if (!strncmp(head, "ref: ", 5)) {
        if (read_ref(gitdir, head + 5, commit, sizeof commit) != 0)
            return json_null();
    } else {
        snprintf(commit, sizeof commit, "%s", head);
    }
    if (strlen(commit) != 40 || strspn(commit, "0123456789abcdef") != 40)
        return json_null();
    return json_string(commit);
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
