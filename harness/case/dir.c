/* The case files of a folder (dir.h). */
#include "case/dir.h"
#include "util/error.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_case_file(const char *dir, const char *name, char **out)
{
    size_t n = strlen(name);
    struct stat st;
    *out = NULL;
    if (name[0] == '.' || n < 6 || strcmp(name + n - 5, ".yaml"))
        return 0;
    size_t len = strlen(dir) + n + 2;
    char *p = malloc(len);
    if (!p)
        return -1;
    snprintf(p, len, "%s/%s", dir, name);
    if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
        free(p);
        return 0;
    }
    *out = p;
    return 1;
}

lg_status hx_case_dir_list(const char *dir, hx_case_dir *out)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d)
        return hx_err(LG_E_IO, "%s: cannot read the folder: %s", dir, strerror(errno));
    size_t cap = 0;
    struct dirent *e;
    lg_status st = LG_OK;
    while (st == LG_OK && (e = readdir(d))) {
        char *p;
        int r = is_case_file(dir, e->d_name, &p);
        if (r > 0 && out->n == cap) { /* the list is kept whole if it cannot grow */
            char **v = realloc(out->path, (cap ? 2 * cap : 16) * sizeof *v);
            if (v)
                out->path = v, cap = cap ? 2 * cap : 16;
            else
                r = -1;
        }
        if (r < 0)
            st = hx_err(LG_E_NOMEM, "%s: out of memory", dir);
        else if (r)
            out->path[out->n++] = p;
        if (st != LG_OK)
            free(p);
    }
    closedir(d);
    if (st != LG_OK) {
        hx_case_dir_free(out);
        return st;
    }
    if (out->n)
        qsort(out->path, out->n, sizeof *out->path, by_name);
    return LG_OK;
}

void hx_case_dir_free(hx_case_dir *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->path[i]);
    free(d->path);
    memset(d, 0, sizeof *d);
}
