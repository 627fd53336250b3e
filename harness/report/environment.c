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
