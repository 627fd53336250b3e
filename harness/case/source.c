/* A case file's bytes, read before libyaml sees them: only a regular file
 * is read (opened without blocking, so a FIFO cannot hang the harness),
 * and flow collections nested deeper than CF_MAX_DEPTH are refused before
 * parsing, since libyaml's scanner takes time quadratic in flow nesting
 * ("[[[[...", 100,000 levels: minutes) before the tree's own depth check
 * could run. The file's size sets its budget of node visits. */
#include "case/parse.h"
#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *file_kind(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISSOCK(m))
        return "a socket";
    return "not a regular file";
}

static int read_all(cf_ctx *c, int fd, size_t size, char **out, size_t *n)
{
    char *b = malloc(size + 1);
    size_t got = 0;
    if (!b) {
        cf_oom(c);
        return -1;
    }
    int err = hx_read_full(fd, b, size, &got); /* truncated meanwhile: what is there */
    if (err) {
        cf_report_mark(c, (yaml_mark_t){0, 0, 0}, "cannot read: %s", strerror(err));
        free(b);
        return -1;
    }
    b[got] = '\0';
    *out = b;
    *n = got;
    return 0;
}

int cf_read_source(cf_ctx *c, char **out, size_t *n)
{
    struct stat st;
    int fd = open(c->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        cf_report_mark(c, (yaml_mark_t){0, 0, 0}, "cannot open: %s", strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        cf_report_mark(c, (yaml_mark_t){0, 0, 0}, "cannot read: not a regular file (%s)",
                       file_kind(st.st_mode));
        close(fd);
        return -1;
    }
    int rc = read_all(c, fd, (size_t)st.st_size, out, n);
    close(fd);
    /* Expanding may visit nodes in proportion to the file: a second's
     * work per MiB or so (about 100 ns a visit). */
    if (rc == 0)
        c->max_visits = *n > (CF_MAX_VISITS - CF_VISITS_BASE) / 8
                            ? CF_MAX_VISITS
                            : CF_VISITS_BASE + 8 * *n;
    return rc;
}

/* Where a quote may open a scalar: after a space, an indicator or at the
 * start of a line (an apostrophe inside a plain scalar is text). */
static int opens_scalar(const char *b, size_t i)
{
    size_t k = i;
    while (k > 0 && (b[k - 1] == ' ' || b[k - 1] == '\t'))
        k--;
    return k == 0 || strchr("\n:,[{-?", b[k - 1]) != NULL;
}

/* Skips a quoted scalar that opens at b[i]; returns the index of its end
 * (or n), counting lines. */
static size_t skip_quoted(const char *b, size_t n, size_t i, size_t *line)
{
    char q = b[i];
    for (i++; i < n; i++) {
        if (b[i] == '\n')
            (*line)++;
        else if (q == '"' && b[i] == '\\')
            i++;
        else if (b[i] == q && !(q == '\'' && i + 1 < n && b[i + 1] == '\''))
            return i;
        else if (b[i] == q)
            i++; /* '' inside single quotes */
    }
    return n;
}

int cf_check_flow_depth(cf_ctx *c, const char *b, size_t n)
{
    size_t line = 0, bol = 0;
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = b[i];
        if (ch == '\n') {
            line++;
            bol = i + 1;
        } else if (ch == '#' && (i == 0 || strchr(" \t\n", b[i - 1]))) {
            while (i + 1 < n && b[i + 1] != '\n')
                i++;
        } else if ((ch == '"' || ch == '\'') && opens_scalar(b, i)) {
            i = skip_quoted(b, n, i, &line);
        } else if (ch == '[' || ch == '{') {
            if (++depth > CF_MAX_DEPTH) {
                cf_report_mark(c, (yaml_mark_t){i, line, i - bol},
                               "flow collections nest deeper than %d levels", CF_MAX_DEPTH);
                return -1;
            }
        } else if ((ch == ']' || ch == '}') && depth > 0) {
            depth--;
        }
    }
    return 0;
}
