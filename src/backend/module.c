/* The torch module: where libloadgate-torch.so is looked for, its stamp
 * read without loading it, dlopen on first need, and every lgt_* function
 * of torch_shim.h as a call through the module's table (torch_module.h).
 * libloadgate links neither libtorch nor the C++ runtime; a process that
 * never asks for the torch backend never maps them (docs/install.md).
 *
 * The module's handle, table and load error are process-wide state, set
 * once under a mutex and never unloaded (libtorch cannot be unloaded
 * safely), like the fault registry. */
#include "backend/torch_module.h"
#include "core/internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <link.h>
#endif

#ifdef LOADGATE_HAVE_TORCH

#define CANDIDATES_MAX 4
#define STAMP_CHUNK (64u << 10)
#define STAMP_MAX 128

static pthread_mutex_t module_lock = PTHREAD_MUTEX_INITIALIZER;
static int module_tried;
static const lgt_module_table *module_table;
static char module_error[2048];
static char module_path[LG_MODULE_PATH_MAX];
static int chosen_known;               /* lg_libtorch_version's answer is cached */
static char chosen_version[LG_MODULE_VERSION_MAX];
static int pending_threads;            /* lg_torch_set_threads before the load */

/* ------------------------------------------------------------ the search */

/* The folder of the object that holds this code: libloadgate.so, or the
 * program it is linked into (as $ORIGIN would be). 0, or -1. */
static int self_dir(char *dir, size_t n)
{
    char path[PATH_MAX] = "";
    Dl_info info;
#ifdef __GLIBC__
    struct link_map *lm = NULL;
    if (dladdr1((void *)&self_dir, &info, (void **)&lm, RTLD_DL_LINKMAP) && lm &&
        lm->l_name && lm->l_name[0])
        snprintf(path, sizeof path, "%s", lm->l_name);
    else {
        ssize_t k = readlink("/proc/self/exe", path, sizeof path - 1);
        path[k > 0 ? (size_t)k : 0] = 0;
    }
#else
    if (dladdr((void *)&self_dir, &info) && info.dli_fname)
        snprintf(path, sizeof path, "%s", info.dli_fname);
#endif
    char real[PATH_MAX];
    if (!path[0] || !realpath(path, real))
        return -1;
    char *slash = strrchr(real, '/');
    if (!slash)
        return -1;
    *slash = 0;
    snprintf(dir, n, "%s", real[0] ? real : "/");
    return 0;
}

static size_t add_candidate(char (*c)[LG_MODULE_PATH_MAX], size_t k, const char *dir,
                            const char *sub)
{
    char folder[LG_MODULE_PATH_MAX], real[PATH_MAX], p[LG_MODULE_PATH_MAX];
    int w = snprintf(folder, sizeof folder, "%s%s%s", dir, sub[0] ? "/" : "", sub);
    if (w < 0 || (size_t)w >= sizeof folder || k >= CANDIDATES_MAX)
        return k;
    /* a folder reached twice (lib/../lib) is listed once */
    w = snprintf(p, sizeof p, "%s/%s", realpath(folder, real) ? real : folder, LGT_MODULE_FILE);
    if (w < 0 || (size_t)w >= sizeof p)
        return k;
    for (size_t i = 0; i < k; i++)
        if (!strcmp(c[i], p))
            return k;
    snprintf(c[k], LG_MODULE_PATH_MAX, "%s", p);
    return k + 1;
}

/* The places looked at, in order: $LOADGATE_TORCH_MODULE alone when it is
 * set; else beside this object, in ../LIBDIR from it (a program in bin/),
 * and in the libdir of the install prefix compiled in. */
static size_t candidates(char (*c)[LG_MODULE_PATH_MAX])
{
    const char *env = getenv("LOADGATE_TORCH_MODULE");
    if (env && env[0]) {
        /* a name without a slash is a file here, as stat and open take
         * it; dlopen would look for it in the library path instead */
        snprintf(c[0], LG_MODULE_PATH_MAX, "%s%s", strchr(env, '/') ? "" : "./", env);
        return 1;
    }
    size_t k = 0;
    char dir[PATH_MAX];
    if (self_dir(dir, sizeof dir) == 0) {
        k = add_candidate(c, k, dir, "");
        char *slash = strrchr(dir, '/'); /* dir is absolute: its parent */
        if (slash)
            *slash = 0;
        k = add_candidate(c, k, dir, LG_MODULE_LIBDIR); /* "" + "/lib" at the root */
    }
    return add_candidate(c, k, LG_MODULE_INSTALL_LIBDIR, "");
}

/* The libtorch version in the stamp of the file at path: 1 found, 0 not
 * a module, -1 not readable (errno). Read in chunks until the stamp's
 * terminating NUL is in: .rodata comes before the debug sections, so a
 * module is read no further than its first few chunks (the stamp is at
 * 119 KiB in Debian's 1.13 build, 134 KiB in 2.x's). A chunk of 64 KiB,
 * not more: the buffer is touched fresh each time the stamp is read (for
 * every report, and `--version`), and what lies past the stamp is never
 * read. */
static int stamp_read(const char *path, char *version, size_t n)
{
    static const char key[] = LGT_STAMP_PREFIX;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char *buf = malloc(STAMP_MAX + STAMP_CHUNK);
    size_t have = 0;
    int found = 0;
    ssize_t r = 0;
    while (buf && !found && (r = read(fd, buf + have, STAMP_CHUNK)) > 0) {
        have += (size_t)r;
        char *s = memmem(buf, have, key, sizeof key - 1);
        size_t left = s ? have - (size_t)(s - buf) : 0;
        if (s && memchr(s, 0, left)) {
            const char *v = strstr(s, " libtorch=");
            snprintf(version, n, "%.*s", v ? (int)strcspn(v + 10, " ") : 0, v ? v + 10 : "");
            found = 1;
        } else if (s && left < STAMP_MAX) {
            memmove(buf, s, left); /* the stamp's start: its end comes next */
            have = left;
        } else {
            /* not here, or too long to be one: keep what could start one */
            size_t keep = have < sizeof key ? have : sizeof key - 1;
            memmove(buf, buf + have - keep, keep);
            have = keep;
        }
    }
    int err = errno;
    free(buf);
    close(fd);
    if (!buf || r < 0) {
        errno = buf ? err : ENOMEM;
        return -1;
    }
    return found;
}

static void describe(const char *path, lg_torch_module *m)
{
    struct stat st;
    memset(m, 0, sizeof *m);
    snprintf(m->path, sizeof m->path, "%s", path);
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        m->found = 1;
        if (stamp_read(path, m->libtorch, sizeof m->libtorch) != 1)
            m->libtorch[0] = 0;
    }
}

size_t lg_torch_modules(lg_torch_module *out, size_t n)
{
    char c[CANDIDATES_MAX][LG_MODULE_PATH_MAX];
    size_t k = candidates(c);
    int chosen = 0;
    for (size_t i = 0; i < k && i < n; i++) {
        describe(c[i], &out[i]);
        out[i].chosen = out[i].found && !chosen;
        chosen |= out[i].found;
        pthread_mutex_lock(&module_lock);
        out[i].loaded = module_table && !strcmp(module_path, c[i]);
        pthread_mutex_unlock(&module_lock);
    }
    return k;
}

/* ---------------------------------------------------------------- loading */

static void not_found(char (*c)[LG_MODULE_PATH_MAX], size_t k)
{
    size_t w = (size_t)snprintf(module_error, sizeof module_error,
                                "the torch backend needs its module, %s, and none was found "
                                "(looked for", LGT_MODULE_FILE);
    for (size_t i = 0; i < k && w < sizeof module_error; i++)
        w += (size_t)snprintf(module_error + w, sizeof module_error - w, "%s %s", i ? ";" : "",
                              c[i]);
    if (w < sizeof module_error)
        snprintf(module_error + w, sizeof module_error - w,
                 "); set LOADGATE_TORCH_MODULE to its path (docs/install.md)");
}

static const lgt_module_table *table_of(void *h, const char *path)
{
    dlerror();
    lgt_module_entry_fn entry = (lgt_module_entry_fn)(uintptr_t)dlsym(h, LGT_MODULE_ENTRY);
    if (!entry) {
        const char *e = dlerror();
        snprintf(module_error, sizeof module_error, "%s is not a loadgate torch module: %s",
                 path, e ? e : "no " LGT_MODULE_ENTRY);
        return NULL;
    }
    const lgt_module_table *t = entry();
    if (!t || t->abi != LGT_MODULE_ABI || t->size != sizeof *t) {
        snprintf(module_error, sizeof module_error,
                 "%s: the torch module's ABI is %d and this libloadgate %s needs %d: rebuild "
                 "the module with this loadgate", path, t ? t->abi : -1, LG_VERSION,
                 LGT_MODULE_ABI);
        return NULL;
    }
    return t;
}

static void load_locked(void)
{
    char c[CANDIDATES_MAX][LG_MODULE_PATH_MAX];
    struct stat st;
    size_t k = candidates(c), i = 0;
    while (i < k && !(stat(c[i], &st) == 0 && S_ISREG(st.st_mode)))
        i++;
    if (i == k) {
        not_found(c, k);
        return;
    }
    if (strchr(c[i], '$')) {
        /* dlopen reads $ORIGIN, $LIB and $PLATFORM in a path as
         * substitutions: it would load another file than the one checked */
        snprintf(module_error, sizeof module_error, "the torch module %s could not be loaded: "
                 "its path holds '$', which dlopen reads as a substitution ($ORIGIN, $LIB); "
                 "move or link the module to a path without one", c[i]);
        return;
    }
    void *h = dlopen(c[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(module_error, sizeof module_error, "the torch module %s could not be loaded: %s",
                 c[i], e ? e : "dlopen failed");
        return;
    }
    module_table = table_of(h, c[i]);
    if (!module_table) {
        dlclose(h);
        return;
    }
    snprintf(module_path, sizeof module_path, "%s", c[i]);
    module_error[0] = 0;
    if (pending_threads > 0)
        module_table->lgt_set_threads(pending_threads);
}

static const lgt_module_table *module(void)
{
    pthread_mutex_lock(&module_lock);
    if (!module_tried) {
        module_tried = 1;
        load_locked();
    }
    const lgt_module_table *t = module_table;
    pthread_mutex_unlock(&module_lock);
    return t;
}

lg_status lg_torch_module_load(void)
{
    if (module())
        return LG_OK;
    return lg__err(LG_E_BACKEND, "%s", module_error);
}

int lg_torch_module_loaded(void)
{
    pthread_mutex_lock(&module_lock);
    int loaded = module_table != NULL;
    pthread_mutex_unlock(&module_lock);
    return loaded;
}

const char *lg__torch_module_error(void)
{
    return module_table ? "" : module_error;
}

/* The libtorch of the loaded module, else of the module that would be
 * loaded (its stamp), else "none". */
const char *lg__torch_module_version(void)
{
    pthread_mutex_lock(&module_lock);
    const lgt_module_table *t = module_table;
    int known = chosen_known;
    pthread_mutex_unlock(&module_lock);
    if (t)
        return t->lgt_version();
    if (known)
        return chosen_version;
    lg_torch_module m[CANDIDATES_MAX];
    size_t k = lg_torch_modules(m, CANDIDATES_MAX);
    const char *v = "none";
    for (size_t i = 0; i < k && i < CANDIDATES_MAX; i++)
        if (m[i].chosen)
            v = m[i].libtorch[0] ? m[i].libtorch : "unknown";
    pthread_mutex_lock(&module_lock);
    if (!chosen_known) {
        snprintf(chosen_version, sizeof chosen_version, "%s", v);
        chosen_known = 1;
    }
    pthread_mutex_unlock(&module_lock);
    return chosen_version;
}

/* ------------------------------------------------------------ forwarders */

#define LGT_FORWARD(type, name, params, args, missing)                                         \
    type name params                                                                           \
    {                                                                                          \
        const lgt_module_table *lgt_m_ = module();                                                  \
        if (!lgt_m_)                                                                                \
            return missing;                                                                    \
        return lgt_m_->name args;                                                                   \
    }
#define LGT_VOID_FORWARD(name, params, args)                                                   \
    void name params                                                                           \
    {                                                                                          \
        const lgt_module_table *lgt_m_ = module();                                                  \
        if (lgt_m_)                                                                                 \
            lgt_m_->name args;                                                                      \
    }

LGT_FUNCS(LGT_FORWARD)
LGT_VOID_FUNCS(LGT_VOID_FORWARD)

/* A hint: applied now if the module is loaded, else when it is. */
void lgt_set_threads(int n)
{
    pthread_mutex_lock(&module_lock);
    const lgt_module_table *t = module_table;
    if (!t)
        pending_threads = n;
    pthread_mutex_unlock(&module_lock);
    if (t)
        t->lgt_set_threads(n);
}

#else /* no libtorch in this build: no module is looked for */

size_t lg_torch_modules(lg_torch_module *out, size_t n) { return 0; }

lg_status lg_torch_module_load(void)
{
    return lg__err(LG_E_BACKEND, "this build has no libtorch (configure with "
                   "-DLOADGATE_WITH_TORCH=ON)");
}

int lg_torch_module_loaded(void) { return 0; }

#endif
