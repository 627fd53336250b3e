/* The libtorch readers: files written by libtorch's own serializer, read
 * back by libtorch, as tch does.
 *
 *   torch-archive  an OutputArchive (.ot, tch's Tensor::save_multi), read
 *                  with InputArchive (tch's at_load_multi);
 *   torchscript    a torch.jit.save module, read with torch::jit::load and
 *                  its named parameters and buffers (tch's VarStore::load);
 *   torch-params   a _save_parameters file, read with
 *                  torch::jit::_load_parameters (tch's VarStore::load of
 *                  .pt and .bin). Chosen by name only: its zip looks like
 *                  torch.save's (data.pkl, no constants.pkl), whose native
 *                  reader the magic bytes pick.
 *
 * Both are zip files written by the same serializer, with tensor records
 * first, and cannot be told apart from their first bytes. So the magic
 * bytes pick torch-archive, and its open() turns the checkpoint into a
 * torchscript one when the archive's keys hold submodules rather than
 * tensors. The torchscript reader is otherwise chosen by name.
 *
 * Every tensor is listed from a load onto the CPU; deserialize() loads the
 * file again onto the target device through libtorch, once per device,
 * and hands its tensors over one by one. See docs/boundary.md. */
#include "formats/format.h"
#include "formats/zip.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <zlib.h>

/* ------------------------------------------------------ sniffing (zip) */

typedef struct {
    const unsigned char *p;
    size_t n;
} zip_name;

static uint32_t rd16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }

static uint32_t rd32(const unsigned char *p)
{
    return rd16(p) | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

#define ZIP_LOCAL 0x04034b50u
#define ZIP_DESCRIPTOR 0x08074b50u
#define ZIP_MAX_NAMES 32

/* The end of the data descriptor that follows an entry whose data starts
 * at `data` (general flag bit 3: the sizes come after the data). Its sizes
 * must equal the distance from `data`, which rules out a signature that
 * merely occurs inside tensor bytes. 0 if not within the n bytes. */
static size_t after_descriptor(const unsigned char *h, size_t n, size_t data)
{
    for (size_t pos = data; pos + 16 <= n; pos++) {
        if (rd32(h + pos) != ZIP_DESCRIPTOR)
            continue;
        uint64_t len = pos - data;
        if (rd32(h + pos + 8) == len && rd32(h + pos + 12) == len)
            return pos + 16;
        if (pos + 24 <= n && rd64(h + pos + 8) == len && rd64(h + pos + 16) == len)
            return pos + 24;
    }
    return 0;
}

/* Names of the zip entries whose local headers lie within the n head
 * bytes, in file order. Only what is fully in view is trusted. */
static size_t zip_names(const unsigned char *h, size_t n, zip_name *out, size_t max)
{
    size_t off = 0, k = 0;
    while (k < max && n >= 30 && off <= n - 30 && rd32(h + off) == ZIP_LOCAL) {
        uint32_t flags = rd16(h + off + 6), csize = rd32(h + off + 18);
        size_t nlen = rd16(h + off + 26), xlen = rd16(h + off + 28);
        size_t data = off + 30 + nlen + xlen;
        if (off + 30 + nlen > n)
            break;
        out[k++] = (zip_name){h + off + 30, nlen};
        if (data > n)
            break;
        if (flags & 8)
            off = after_descriptor(h, n, data);
        else if (csize != 0xffffffffu && csize <= n - data)
            off = data + csize;
        else
            break;
        if (off == 0)
            break;
    }
    return k;
}

static int rest_is(zip_name e, size_t plen, const char *s)
{
    size_t sl = strlen(s);
    return e.n - plen == sl && !memcmp(e.p + plen, s, sl);
}

/* rest_is, ignoring the case of A-Z: how PyTorch's reader looks a record
 * up (data.pkl), where its check for TorchScript ('constants.pkl' in the
 * list of records) is exact. */
static int rest_is_fold(zip_name e, size_t plen, const char *s)
{
    size_t sl = strlen(s);
    if (e.n - plen != sl)
        return 0;
    for (size_t i = 0; i < sl; i++)
        if (lg__ascii_lower(e.p[plen + i]) != s[i])
            return 0;
    return 1;
}

static int rest_starts(zip_name e, size_t plen, const char *s)
{
    size_t sl = strlen(s);
    return e.n - plen >= sl && !memcmp(e.p + plen, s, sl);
}

/* Which PyTorch writer laid out a zip, from the local headers in the n
 * head bytes (every name under one folder, "<prefix>/"): libtorch's
 * serializer (OutputArchive, torch.jit.save) writes "<prefix>/data/<n>"
 * (tensors) before data.pkl, and code/ and constants.pkl; torch.save
 * writes data.pkl before its tensor records (PyTorch 1.6 wrote "version"
 * first, with data descriptors; later versions write data.pkl first).
 * Other records (byteorder, version, .data/) do not decide. */
static int head_layout(const unsigned char *head, size_t n)
{
    zip_name e[ZIP_MAX_NAMES];
    size_t k = zip_names(head, n, e, ZIP_MAX_NAMES), plen = 0;
    int order = 0; /* LIBTORCH: a tensor record came first; TORCH_SAVE: data.pkl did */
    if (k == 0)
        return 0;
    while (plen < e[0].n && e[0].p[plen] != '/')
        plen++;
    if (plen == 0 || plen == e[0].n)
        return 0;
    plen++; /* past the '/' */
    for (size_t i = 0; i < k; i++) {
        if (e[i].n < plen || memcmp(e[i].p, e[0].p, plen))
            return 0; /* not one prefix: not a PyTorch archive */
        if (rest_starts(e[i], plen, "code/") || rest_is(e[i], plen, "constants.pkl"))
            return LG__ZIP_LIBTORCH;
        if (!order && rest_starts(e[i], plen, "data/") && e[i].n > plen + 5)
            order = LG__ZIP_LIBTORCH;
        if (!order && rest_is_fold(e[i], plen, "data.pkl"))
            order = LG__ZIP_TORCH_SAVE;
    }
    return order;
}

typedef struct {
    int code; /* "<prefix>/code/..." or "<prefix>/constants.pkl" */
    int pkl;  /* "<prefix>/data.pkl" */
} dir_marks;

static int mark_name(const char *name, size_t n, void *arg)
{
    dir_marks *m = arg;
    const char *slash = memchr(name, '/', n);
    if (!slash || slash == name)
        return 0;
    zip_name e = {(const unsigned char *)name, n};
    size_t plen = (size_t)(slash - name) + 1;
    if (rest_starts(e, plen, "code/") || rest_is(e, plen, "constants.pkl"))
        return m->code = 1;
    if (rest_is_fold(e, plen, "data.pkl"))
        m->pkl = 1;
    return 0;
}

/* The central directory decides when it can be read and holds a marker:
 * libtorch's serializer always writes constants.pkl, torch.save never
 * does, and writes data.pkl. That holds whatever order a tool that
 * rewrote the archive put the records in (directory entries included).
 * Otherwise the local headers in view decide (head_layout), so that an
 * archive whose end is damaged still reaches its reader and its error. */
int lg__zip_layout(const unsigned char *map, size_t n, uint64_t size)
{
    if (n < 4 || memcmp(map, "PK\x03\x04", 4))
        return 0;
    dir_marks m = {0, 0};
    if (lg__zip_each_name(map, size, mark_name, &m) >= 0 && (m.code || m.pkl))
        return m.code ? LG__ZIP_LIBTORCH : LG__ZIP_TORCH_SAVE;
    return head_layout(map, n);
}

static int ta_sniff(const unsigned char *head, size_t n, uint64_t size)
{
    return lg__zip_layout(head, n, size) == LG__ZIP_LIBTORCH;
}

static int ts_sniff(const unsigned char *head, size_t n, uint64_t size) { return 0; }

/* ----------------------------------------------------- running no code */

static const char *kind_name(const lg_checkpoint *c)
{
    const char *r = c->ops ? c->ops->name : "";
    if (!strcmp(r, "torchscript"))
        return "TorchScript module";
    if (!strcmp(r, "torch-params"))
        return "libtorch parameters file";
    if (!strcmp(r, "torch-pickle"))
        return "libtorch pickle";
    return "libtorch archive";
}


/* torch::jit::load compiles the archive's TorchScript and calls one method
 * of it while unpickling: __setstate__, on each object whose class
 * defines it. Compiling runs nothing. So when no record is compressed
 * (libtorch never compresses) and every reader sees the same records (one
 * end record), the code libtorch reads is bytes of the file as they lie,
 * and a file in which no byte spells __setstate__ runs none of its code.
 * Anything loadgate cannot vouch for this way is refused unless the
 * caller trusts the file (lg_open_options.trust_code). */
#define SETSTATE "__setstate__"

/* 1 if the deflated record e, inflated, holds SETSTATE; 0 if not; -1 if
 * it cannot be inflated. Streams through a small window: deflate expands
 * at most about 1,032 times, so the work is bounded by the file's size,
 * and nothing is allocated beyond zlib's own state. */
static int inflated_holds(const lg__zip *z, const lg__zip_entry *e)
{
    enum { WINDOW = 65536, KEEP = sizeof SETSTATE - 2 };
    unsigned char buf[KEEP + WINDOW];
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK)
        return -1;
    const unsigned char *in = z->map + e->data;
    uint64_t left = e->csize;
    size_t kept = 0;
    int r = Z_OK, found = 0;
    while (!found && r == Z_OK) {
        if (s.avail_in == 0 && left > 0) {
            uInt n = left > (1u << 30) ? (1u << 30) : (uInt)left;
            s.next_in = (unsigned char *)in;
            s.avail_in = n;
            in += n;
            left -= n;
        }
        s.next_out = buf + kept;
        s.avail_out = WINDOW;
        r = inflate(&s, Z_NO_FLUSH);
        size_t have = kept + (WINDOW - s.avail_out);
        found = memmem(buf, have, SETSTATE, sizeof SETSTATE - 1) != NULL;
        kept = have < KEEP ? have : KEEP;
        memmove(buf, buf + have - kept, kept);
        if (r == Z_BUF_ERROR && s.avail_in == 0 && left == 0)
            break; /* input ran out before the end of the stream */
        if (r == Z_BUF_ERROR)
            r = Z_OK;
    }
    inflateEnd(&s);
    return found ? 1 : r == Z_STREAM_END ? 0 : -1;
}

static lg_status entry_runs_no_code(const lg_checkpoint *c, const lg__zip *z,
                                    const lg__zip_entry *e, const char *how)
{
    int nlen = (int)(e->nlen > 256 ? 256 : e->nlen);
    if (e->method == 0)
        return LG_OK; /* its bytes lie in the file, which was scanned whole */
    int holds = e->method == 8 ? inflated_holds(z, e) : -1;
    if (holds == 1)
        return lg__err(LG_E_FORMAT, "%s: record \"%.*s\" defines %s: %s", c->path, nlen,
                       e->name, SETSTATE, how);
    if (holds < 0)
        return lg__err(LG_E_FORMAT, "%s: record \"%.*s\" (method %u) cannot be inflated, so "
                       "its code cannot be checked: %s", c->path, nlen, e->name, e->method, how);
    return LG_OK;
}

/* ------------------------------------------- what its TorchScript declares */

/* Compiling is not free of running, though: torch::jit::load compiles
 * every record under code/, and the compiler evaluates the defaults of a
 * function's parameters then (to_ir's evaluateDefaults), so an expression
 * there runs with the caller's rights, __setstate__ or not. Without
 * trust_code, a record under code/ may therefore only declare what
 * libtorch's own writers declare for a module of tensors
 * (torch::serialize::OutputArchive, tch-rs's .ot files): imports, classes
 * whose bodies list their parameters and buffers, annotate their
 * attributes and give constants as literals. A def, a decorator, a call
 * or any other statement is code libtorch would compile. */
enum { DECL_DEPTH = 8 };
#define DECL_RECORD_MAX (64u << 20)

static void skip_sp(const char **p, const char *e)
{
    while (*p < e && (**p == ' ' || **p == '\t'))
        (*p)++;
}

static int ident(const char **p, const char *e)
{
    const char *s = *p;
    if (s >= e || !(isalpha((unsigned char)*s) || *s == '_'))
        return 0;
    while (s < e && (isalnum((unsigned char)*s) || *s == '_'))
        s++;
    *p = s;
    return 1;
}

static int dotted(const char **p, const char *e)
{
    if (!ident(p, e))
        return 0;
    while (*p < e && **p == '.') {
        (*p)++;
        if (!ident(p, e))
            return 0;
    }
    return 1;
}

static int word(const char **p, const char *e, const char *w)
{
    size_t n = strlen(w);
    const char *s = *p;
    if ((size_t)(e - s) < n || memcmp(s, w, n) ||
        (s + n < e && (isalnum((unsigned char)s[n]) || s[n] == '_')))
        return 0;
    *p = s + n;
    return 1;
}

static int punct(const char **p, const char *e, char ch)
{
    skip_sp(p, e);
    if (*p < e && **p == ch) {
        (*p)++;
        skip_sp(p, e);
        return 1;
    }
    return 0;
}

static int string_lit(const char **p, const char *e)
{
    const char *s = *p;
    char q = s < e ? *s : 0;
    if (q != '"' && q != '\'')
        return 0;
    for (s++; s < e && *s != q; s++)
        if (*s == '\\' && ++s >= e)
            return 0;
    if (s >= e)
        return 0;
    *p = s + 1;
    return 1;
}

static int number_lit(const char **p, const char *e)
{
    const char *s = *p;
    if (s < e && (*s == '-' || *s == '+'))
        s++;
    const char *d = s;
    while (s < e && (isalnum((unsigned char)*s) || *s == '.' ||
                     ((*s == '-' || *s == '+') && (s[-1] == 'e' || s[-1] == 'E'))))
        s++;
    if (s == d || (!isdigit((unsigned char)*d) && *d != '.'))
        return 0;
    *p = s;
    return 1;
}

/* A literal: a number, a string, True, False, None, or a tuple or list
 * of literals. */
static int literal(const char **p, const char *e, int depth)
{
    if (string_lit(p, e) || number_lit(p, e) || word(p, e, "True") || word(p, e, "False") ||
        word(p, e, "None"))
        return 1;
    char close = *p < e && **p == '(' ? ')' : *p < e && **p == '[' ? ']' : 0;
    if (!close || depth >= DECL_DEPTH)
        return 0;
    (*p)++;
    skip_sp(p, e);
    while (*p < e && **p != close) {
        if (!literal(p, e, depth + 1))
            return 0;
        if (!punct(p, e, ',') && !(*p < e && **p == close))
            return 0;
    }
    if (*p >= e)
        return 0;
    (*p)++;
    return 1;
}

/* A type: a dotted name, with [types] after it. */
static int type_expr(const char **p, const char *e, int depth)
{
    if (!dotted(p, e))
        return 0;
    skip_sp(p, e);
    if (*p >= e || **p != '[')
        return 1;
    if (depth >= DECL_DEPTH)
        return 0;
    (*p)++;
    do {
        skip_sp(p, e);
        if (!type_expr(p, e, depth + 1))
            return 0;
    } while (punct(p, e, ','));
    return punct(p, e, ']');
}

/* One line of a code record: something it may declare, or a blank. */
static int declares(const char *p, const char *e)
{
    skip_sp(&p, e);
    if (p == e || *p == '#')
        return 1;
    if (word(&p, e, "import")) { /* import a.b */
        skip_sp(&p, e);
        return dotted(&p, e) && (skip_sp(&p, e), p == e);
    }
    if (word(&p, e, "from")) { /* from a.b import c, d */
        skip_sp(&p, e);
        if (!dotted(&p, e) || (skip_sp(&p, e), !word(&p, e, "import")))
            return 0;
        do {
            skip_sp(&p, e);
            if (!ident(&p, e))
                return 0;
        } while (punct(&p, e, ','));
        return p == e;
    }
    if (word(&p, e, "pass"))
        return (skip_sp(&p, e), p == e);
    if (word(&p, e, "class")) { /* class A(b.C, D): */
        skip_sp(&p, e);
        if (!ident(&p, e))
            return 0;
        if (punct(&p, e, '(')) {
            if (p < e && *p != ')') {
                do {
                    if (!dotted(&p, e))
                        return 0;
                } while (punct(&p, e, ','));
            }
            if (!punct(&p, e, ')'))
                return 0;
        }
        return punct(&p, e, ':') && p == e;
    }
    const char *name = p;
    if (!ident(&p, e)) /* name : Type [= literal], or name = literal */
        return 0;
    if (p - name == 15 && !memcmp(name, "__annotations__", 15) && (skip_sp(&p, e), p < e) &&
        *p == '[') {
        /* __annotations__["a.b"] = Type: an attribute whose name is no
         * identifier (OutputArchive's dotted names, with | for the dots) */
        if (!punct(&p, e, '[') || !string_lit(&p, e) || !punct(&p, e, ']') ||
            !punct(&p, e, '=') || !type_expr(&p, e, 0))
            return 0;
        skip_sp(&p, e);
        return p == e;
    }
    if (punct(&p, e, ':') && !type_expr(&p, e, 0))
        return 0;
    if (punct(&p, e, '=') && !literal(&p, e, 0))
        return 0;
    skip_sp(&p, e);
    return p == e;
}

/* The record's lines, each one that declares: 0, or the number of the
 * first line that does not (*at, *len: that line). */
static size_t first_code_line(const char *p, size_t n, const char **at, size_t *len)
{
    const char *e = p + n;
    for (size_t line = 1; p < e; line++) {
        const char *nl = memchr(p, '\n', (size_t)(e - p)), *end = nl ? nl : e;
        const char *stop = end > p && end[-1] == '\r' ? end - 1 : end;
        if (!declares(p, stop)) {
            *at = p;
            *len = (size_t)(stop - p);
            return line;
        }
        p = nl ? nl + 1 : e;
    }
    return 0;
}

/* Every record of z named *.py (any case, any folder) declares only
 * (above): LG_OK, or LG_E_FORMAT naming the record and the first line that
 * does more. */
static lg_status declares_only(const lg_checkpoint *c, const lg__zip *z)
{
    lg_status st = LG_OK;
    for (size_t i = 0; i < z->n && st == LG_OK; i++) {
        const lg__zip_entry *e = &z->e[i];
        int nlen = (int)(e->nlen > 256 ? 256 : e->nlen);
        /* The sources libtorch compiles: every record whose name ends in
         * .py, wherever it lies and in any case, since libtorch finds
         * "code/__torch__.py" ignoring case (miniz) and its folder could
         * be spelled otherwise. The .debug_pkl beside them are source
         * ranges, unpickled by libtorch's reader of them. */
        if (e->nlen < 3 || e->name[e->nlen - 3] != '.' ||
            lg__ascii_lower(e->name[e->nlen - 2]) != 'p' ||
            lg__ascii_lower(e->name[e->nlen - 1]) != 'y')
            continue;
        /* libtorch's writer deflates its code records: inflated here, each
         * at most DECL_RECORD_MAX (deflate's ratio bounds the work) */
        unsigned char *owned = NULL;
        if (e->usize > DECL_RECORD_MAX)
            st = lg__err(LG_E_FORMAT, "%s: record \"%.*s\" holds %" PRIu64 " bytes of code, "
                         "more than %u MiB can be checked; read the file only if you trust it "
                         "(--trust-code)", c->path, nlen, e->name, e->usize, DECL_RECORD_MAX >> 20);
        else if ((st = lg__zip_readable(z, e)) == LG_OK && e->method == 8)
            st = lg__zip_inflate(z, e, &owned);
        if (st != LG_OK)
            break;
        const char *text = owned ? (const char *)owned : (const char *)c->map + e->data;
        const char *at = NULL;
        size_t len = 0, line = first_code_line(text, (size_t)e->usize, &at, &len);
        if (line)
            st = lg__err(LG_E_FORMAT, "%s: record \"%.*s\" line %zu (\"%.*s\") is code, not a "
                         "declaration of tensors: libtorch compiles it when loading, and "
                         "compiling runs the defaults of a function's parameters; read the file "
                         "only if you trust it (--trust-code)", c->path, nlen, e->name, line,
                         (int)(len > 80 ? 80 : len), at);
        free(owned);
    }
    return st;
}

/* The checks of lg__archive_runs_no_code, over one read of the zip: one
 * zip from the first byte, one end record, no __setstate__, then its
 * TorchScript declares only. *declarations: the file failed that last
 * check alone (a module with methods, and nothing else against it). */
static lg_status archive_code(const lg_checkpoint *c, int *declarations)
{
    static const char *const how = "libtorch would run code from it when loading; "
                                   "read it only if you trust it (--trust-code)";
    lg__zip z;
    *declarations = 0;
    /* libtorch picks its reader from the first bytes: only a zip from its
     * first byte goes to the zip reader this check is about ("PTMF" at 4
     * would go to the flatbuffer loader, which runs bytecode unchecked). */
    if (c->size < 8 || memcmp(c->map, "PK\x03\x04", 4) || !memcmp(c->map + 4, "PTMF", 4))
        return lg__err(LG_E_FORMAT, "%s: not a zip archive from its first byte, so libtorch "
                       "could read it as another format; %s", c->path, how);
    size_t ends = lg__zip_end_records(c->map, c->size);
    if (ends > 1)
        return lg__err(LG_E_FORMAT, "%s: zip: %zu end of central directory records, so zip "
                       "readers disagree on its records; %s", c->path, ends, how);
    if (memmem(c->map, (size_t)c->size, SETSTATE, sizeof SETSTATE - 1))
        return lg__err(LG_E_FORMAT, "%s: defines %s: %s", c->path, SETSTATE, how);
    lg_status st = lg__zip_open(&z, c->path, c->map, c->size);
    if (st != LG_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", lg_error_message());
        return lg__err(st, "%s: %s: cannot be checked for code: %s", c->path, kind_name(c), why);
    }
    for (size_t i = 0; i < z.n && st == LG_OK; i++)
        st = entry_runs_no_code(c, &z, &z.e[i], how);
    if (st == LG_OK) {
        st = declares_only(c, &z);
        *declarations = st == LG_E_FORMAT;
    }
    lg__zip_close(&z);
    return st;
}

lg_status lg__archive_runs_no_code(const lg_checkpoint *c)
{
    int declarations = 0;
    return archive_code(c, &declarations);
}

/* ------------------------------------------------------------ readers */

#ifdef LOADGATE_HAVE_TORCH
#include "backend/torch_shim.h"

static int torch_backend(const lg_checkpoint *c)
{
    return c->backend && !strcmp(lg_backend_name(c->backend), "torch");
}

#define TA_DEVICES 4

typedef struct {
    int used;
    lg_device dev;
    lgt_archive *a; /* drained as its tensors are handed over */
} ta_slot;

typedef struct {
    lgt_loader how;
    lgt_archive *host; /* on cpu: the listing, and read() */
    ta_slot slot[TA_DEVICES];
    size_t next;       /* the slot to reuse when all are taken */
} ta_priv;

static void ta_close(lg_checkpoint *c)
{
    ta_priv *p = c->priv;
    lg__checkpoint_free_tensors(c);
    if (!p)
        return;
    lgt_archive_free(p->host);
    for (size_t i = 0; i < TA_DEVICES; i++)
        lgt_archive_free(p->slot[i].a);
    free(p);
    c->priv = NULL;
}

static lg_status list_one(lg_checkpoint *c, lgt_archive *a, size_t i)
{
    lg_tensor_info *ti = &c->tensors[i];
    const char *name = NULL;
    lg_status st = lgt_archive_info(a, i, &name, &ti->dtype, &ti->ndim, ti->shape);
    if (st != LG_OK)
        return lg__err(st == LG_E_NOMEM ? st : LG_E_FORMAT, "%s: tensor \"%s\": %s", c->path,
                       name ? name : "?", lgt_last_error());
    if (!lg__nbytes(ti->dtype, ti->ndim, ti->shape, &ti->nbytes) || ti->nbytes > SIZE_MAX)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\": size overflows", c->path, name);
    if (!(ti->name = lg__strdup(name)))
        return lg__err(LG_E_NOMEM, "%s: out of memory", c->path);
    return LG_OK;
}

static lg_status list_all(lg_checkpoint *c, lgt_archive *a)
{
    size_t n = lgt_archive_count(a);
    uint64_t claimed = 0;
    if (!(c->tensors = lg__calloc(n, sizeof *c->tensors)))
        return lg__err(LG_E_NOMEM, "%s: out of memory listing %zu tensors", c->path, n);
    c->ntensors = n;
    for (size_t i = 0; i < n; i++) {
        lg_status st = list_one(c, a, i);
        if (st == LG_OK)
            st = lg__claimed_add(c->path, c->size, c->tensors[i].name, c->tensors[i].nbytes,
                                 &claimed);
        if (st != LG_OK)
            return st;
    }
    return LG_OK;
}

static lg_status load_host(lg_checkpoint *c, ta_priv *p)
{
    lg_status st = lgt_archive_load(p->how, NULL, c->map, (size_t)c->size, lg_device_cpu(),
                                    &p->host);
    if (st != LG_OK)
        return lg__err(st == LG_E_NOMEM ? st : LG_E_FORMAT, "%s: %s: %s", c->path,
                       kind_name(c), lgt_last_error());
    return LG_OK;
}

/* The checkpoint's bytes in memory of its own, not a mapping of the file. */
static lg_status privatize(lg_checkpoint *c)
{
    if (c->map_is_copy)
        return LG_OK;
    unsigned char *buf = lg__malloc((size_t)c->size);
    if (!buf)
        return lg__err(LG_E_NOMEM, "%s: out of memory copying %llu bytes", c->path,
                       (unsigned long long)c->size);
    memcpy(buf, c->map, (size_t)c->size);
    lg_status st = lg__map_check(c); /* cut short under the copy */
    if (st != LG_OK) {
        free(buf);
        return st;
    }
    lg__map_guard_remove(c->map_guard);
    c->map_guard = -1;
    munmap((void *)c->map, (size_t)c->size);
    c->map = buf;
    c->map_is_copy = 1;
    return LG_OK;
}

static lg_status open_as(lg_checkpoint *c, lgt_loader how)
{
    if (!torch_backend(c))
        return lg__err(LG_E_FORMAT, "%s: %s: needs the torch backend (--backend torch)",
                       c->path, kind_name(c));
    if (lg__fault("format.parse", NULL))
        return lg__err(LG_E_FORMAT, "%s: injected parse failure", c->path);
    /* Before libtorch sees a byte (docs/limits.md), on a private copy:
     * a mapping would show later writes to the file, so libtorch could
     * read other bytes than were checked. */
    int declarations = 0;
    lg_status code = c->trust_code ? LG_OK : privatize(c);
    if (code == LG_OK && !c->trust_code)
        code = archive_code(c, &declarations);
    if (code != LG_OK && declarations && !c->reader_forced) {
        /* A module with methods, picked by its magic bytes: its tensors are
         * read natively, compiling nothing (torchscript-data), as without
         * the torch backend. A reader asked for by name is libtorch's, or
         * nothing: the error stands. */
        lg_error_clear();
        c->ops = &lg__torchscript_data_reader;
        return c->ops->open(c);
    }
    if (code != LG_OK)
        return code;
    ta_priv *p = lg__calloc(1, sizeof *p);
    if (!p)
        return lg__err(LG_E_NOMEM, "%s: out of memory", c->path);
    c->priv = p;
    p->how = how;
    lg_status st = load_host(c, p);
    if (st == LG_OK && how == LGT_ARCHIVE && lgt_archive_has_modules(p->host)) {
        /* Submodules, not tensors: a TorchScript module. */
        lgt_archive_free(p->host);
        p->host = NULL;
        p->how = LGT_SCRIPT;
        c->ops = &lg__torchscript_reader;
        st = load_host(c, p);
    }
    if (st == LG_OK)
        st = list_all(c, p->host);
    if (st != LG_OK)
        ta_close(c);
    return st;
}

#define LOADER_ARCHIVE LGT_ARCHIVE
#define LOADER_SCRIPT LGT_SCRIPT
#define LOADER_PARAMS LGT_PARAMS

static lg_status ta_read(lg_checkpoint *c, size_t i, void *dst)
{
    ta_priv *p = c->priv;
    const lg_tensor_info *ti = &c->tensors[i];
    lg_status st = lgt_archive_read(p->host, i, dst, (size_t)ti->nbytes);
    if (st != LG_OK)
        return lg__err(st, "%s: tensor \"%s\": %s", c->path, ti->name, lgt_last_error());
    return LG_OK;
}

static void slot_drop(ta_slot *s)
{
    lgt_archive_free(s->a);
    s->a = NULL;
    s->used = 0;
}

/* The file loaded onto d by libtorch: from the cache, or loaded now. */
static lg_status slot_for(lg_checkpoint *c, ta_priv *p, lg_device d, ta_slot **out)
{
    char dn[LG_DEVICE_NAME_MAX];
    ta_slot *s = NULL;
    for (size_t i = 0; i < TA_DEVICES && !s; i++)
        if (p->slot[i].used && lg_device_equal(p->slot[i].dev, d))
            s = &p->slot[i];
    if (s && s->a) {
        *out = s;
        return LG_OK;
    }
    if (!s) {
        s = &p->slot[p->next];
        p->next = (p->next + 1) % TA_DEVICES;
        slot_drop(s);
    }
    lg_status st = lgt_archive_load(p->how, NULL, c->map, (size_t)c->size, d, &s->a);
    if (st != LG_OK) {
        slot_drop(s);
        return lg__err(st == LG_E_NOMEM || st == LG_E_DEVICE ? st : LG_E_FORMAT,
                       "%s: %s onto %s: %s", c->path, kind_name(c), lg_device_format(d, dn),
                       lgt_last_error());
    }
    s->used = 1;
    s->dev = d;
    *out = s;
    return LG_OK;
}

static lg_status take(lg_checkpoint *c, ta_slot *s, const lg_tensor_info *ti, lgt_pool *pool,
                      lgt_tensor **t)
{
    char dn[LG_DEVICE_NAME_MAX];
    size_t k = lgt_archive_find(s->a, ti->name);
    if (k == (size_t)-1)
        return lg__err(LG_E_FORMAT, "%s: tensor \"%s\" is missing when loaded onto %s",
                       c->path, ti->name, lg_device_format(s->dev, dn));
    return lgt_archive_take(s->a, k, pool, t);
}

static lg_status ta_deserialize(lg_checkpoint *c, size_t i, lg__dev *x, lg_device d, void **out)
{
    char dn[LG_DEVICE_NAME_MAX];
    ta_priv *p = c->priv;
    const lg_tensor_info *ti = &c->tensors[i];
    lgt_pool *pool = lg__torch_pool(x->b);
    ta_slot *s = NULL;
    lgt_tensor *t = NULL;
    if (!pool)
        return lg__err(LG_E_BACKEND, "%s: tensor \"%s\": a %s deserializes into the torch "
                       "backend only, not %s", c->path, ti->name, kind_name(c),
                       lg_backend_name(x->b));
    if (lg__fault("device.alloc", NULL)) {
        lg__trace_add(x->trace, LG_OP_FAULT, ti->name, d, d, ti->nbytes, 0, "device.alloc");
        return lg__err(LG_E_DEVICE, "%s: out of memory: tried to allocate %llu bytes for \"%s\"",
                       lg_device_format(d, dn), (unsigned long long)ti->nbytes, ti->name);
    }
    lg_status st = slot_for(c, p, d, &s);
    if (st != LG_OK)
        return st;
    st = take(c, s, ti, pool, &t);
    if (st == LG_E_INVALID) {
        /* Handed over before (a second load of the same tensor): load the
         * file onto d again. */
        slot_drop(s);
        st = slot_for(c, p, d, &s);
        if (st == LG_OK)
            st = take(c, s, ti, pool, &t);
    }
    if (st != LG_OK)
        return st == LG_E_FORMAT ? st : lg__err(st, "%s: tensor \"%s\": %s", c->path, ti->name,
                                                lgt_last_error());
    *out = t;
    return LG_OK;
}

#else /* no libtorch in this build */

static lg_status open_as(lg_checkpoint *c, int how)
{
    return lg__err(LG_E_FORMAT, "%s: %s: needs the torch backend, and this build has no "
                   "libtorch", c->path, kind_name(c));
}

#define LOADER_ARCHIVE 0
#define LOADER_SCRIPT 1
#define LOADER_PARAMS 2

static lg_status ta_read(lg_checkpoint *c, size_t i, void *dst)
{
    return lg__err(LG_E_FORMAT, "%s: this build has no libtorch", c->path);
}

static void ta_close(lg_checkpoint *c) {}

#define ta_deserialize NULL
#endif

static lg_status ta_open(lg_checkpoint *c) { return open_as(c, LOADER_ARCHIVE); }
static lg_status ts_open(lg_checkpoint *c) { return open_as(c, LOADER_SCRIPT); }
static lg_status tp_open(lg_checkpoint *c) { return open_as(c, LOADER_PARAMS); }

const lg__reader_ops lg__torch_archive_reader = {
    .name = "torch-archive",
    .sniff = ta_sniff,
    .open = ta_open,
    .read = ta_read,
    .deserialize = ta_deserialize,
    .bytes = NULL,
    .close = ta_close,
};

const lg__reader_ops lg__torchscript_reader = {
    .name = "torchscript",
    .sniff = ts_sniff,
    .open = ts_open,
    .read = ta_read,
    .deserialize = ta_deserialize,
    .bytes = NULL,
    .close = ta_close,
};

const lg__reader_ops lg__torch_params_reader = {
    .name = "torch-params",
    .sniff = ts_sniff, /* never by magic bytes */
    .open = tp_open,
    .read = ta_read,
    .deserialize = ta_deserialize,
    .bytes = NULL,
    .close = ta_close,
};
