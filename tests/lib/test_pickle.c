/* The restricted unpickler: every opcode torch.save emits (protocols 2 to
 * 5), the allowlist of globals and what REDUCE, NEWOBJ and BUILD build,
 * the refusals (globals, text opcodes, out-of-band buffers), the bounds
 * (memo, marks, lengths), truncation at every byte, and messages that name
 * the record, the byte and the opcode. */
#include "formats/pickle.h"
#include "formats/pickle_int.h" /* lg__pk_slab: the budget's steps */
#include "loadgate/loadgate.h"
#include "testutil.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static lg__pickle *g_pk;

static void setup(void) { ck_assert_int_eq(lg__pickle_new(&g_pk), LG_OK); }
static void teardown(void)
{
    lg__pickle_free(g_pk);
    g_pk = NULL;
    lg_fault_clear();
}

/* A persistent id (anything) becomes storage 7 of 4 f32 elements. */
static lg_status fake_storage(void *ctx, const lg__pv *pid, lg__pv *out)
{
    (void)ctx;
    if (pid->kind != LG__PV_TUPLE)
        return lg__err(LG_E_FORMAT, "fake: not a tuple");
    out->i = 7;
    out->dtype = LG_F32;
    out->elsize = 4;
    out->len = 16;
    return LG_OK;
}

static lg__pickle_opts opts = {"t.pt", "record \"t/data.pkl\"", fake_storage, NULL, 0, 0};

static lg_status load_n(const char *s, size_t n, lg__pv **root)
{
    return lg__pickle_load(g_pk, (const unsigned char *)s, n, &opts, root, NULL);
}

/* Pickle literals end in '.'; sizeof - 1 drops the C terminator. */
#define LOAD(lit, root) load_n(lit, sizeof lit - 1, root)

static lg__pv *ok(const char *s, size_t n)
{
    lg__pv *root = NULL;
    lg_status st = load_n(s, n, &root);
    ck_assert_msg(st == LG_OK, "%s", lg_error_message());
    return root;
}
#define OK(lit) ok(lit, sizeof lit - 1)

static void refused(const char *s, size_t n, const char *want)
{
    lg__pv *root = NULL;
    lg_status st = load_n(s, n, &root);
    ck_assert_msg(st == LG_E_FORMAT, "expected LG_E_FORMAT, got %s", lg_status_name(st));
    const char *m = lg_error_message();
    ck_assert_msg(strstr(m, want), "message lacks \"%s\": %s", want, m);
    ck_assert_msg(strstr(m, "t.pt: record \"t/data.pkl\": byte "), "message: %s", m);
}
#define REFUSED(lit, want) refused(lit, sizeof lit - 1, want)

/* ---------------------------------------------------------------- scalars */

START_TEST(scalars)
{
    lg__pv *v = OK("\x80\x02J\xfe\xff\xff\xff.");
    ck_assert_int_eq(v->kind, LG__PV_INT);
    ck_assert_int_eq(v->i, -2);
    ck_assert_int_eq(OK("\x80\x02K\xff.")->i, 255);
    ck_assert_int_eq(OK("\x80\x02M\x01\x02.")->i, 0x201);
    ck_assert_int_eq(OK("\x80\x02\x8a\x01\xff.")->i, -1);
    ck_assert_int_eq(OK("\x80\x02\x8a\x00.")->i, 0);
    ck_assert_int_eq(OK("\x80\x02\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80.")->i, INT64_MIN);
    ck_assert_int_eq(OK("\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09.")->kind,
                     LG__PV_BIGINT);
    ck_assert_int_eq(OK("\x80\x02\x8b\x02\x00\x00\x00\x01\x01.")->i, 0x101);
    v = OK("\x80\x02G\x3f\xf8\x00\x00\x00\x00\x00\x00.");
    ck_assert_int_eq(v->kind, LG__PV_FLOAT);
    ck_assert(v->f == 1.5);
    ck_assert_int_eq(OK("\x80\x02N.")->kind, LG__PV_NONE);
    ck_assert_int_eq(OK("\x80\x02\x88.")->i, 1);
    ck_assert_int_eq(OK("\x80\x02\x89.")->i, 0);
}
END_TEST

#define C(lit, kind) {lit, sizeof lit - 1, kind}

START_TEST(strings)
{
    static const struct {
        const char *p;
        size_t n;
        lg__pv_kind kind;
    } cases[] = {
        C("\x80\x02X\x03\x00\x00\x00" "abc.", LG__PV_STR),
        C("\x80\x04\x8c\x03" "abc.", LG__PV_STR),
        C("\x80\x04\x8d\x03\x00\x00\x00\x00\x00\x00\x00" "abc.", LG__PV_STR),
        C("\x80\x02U\x03" "abc.", LG__PV_STR),
        C("\x80\x02T\x03\x00\x00\x00" "abc.", LG__PV_STR),
        C("\x80\x03" "C\x03" "abc.", LG__PV_BYTES),
        C("\x80\x03" "B\x03\x00\x00\x00" "abc.", LG__PV_BYTES),
        C("\x80\x04\x8e\x03\x00\x00\x00\x00\x00\x00\x00" "abc.", LG__PV_BYTES),
        C("\x80\x05\x96\x03\x00\x00\x00\x00\x00\x00\x00" "abc.", LG__PV_BYTES),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lg__pv *v = ok(cases[i].p, cases[i].n);
        ck_assert_int_eq(v->kind, cases[i].kind);
        ck_assert_uint_eq(v->n, 3);
        ck_assert(!memcmp(v->s, "abc", 3));
    }
    REFUSED("\x80\x02X\xff\xff\xff\x7f" "abc.", "truncated: a 2147483647-byte string");
    /* a length of 4 GiB or more is refused before any read: a value keeps
     * 32 bits of it */
    REFUSED("\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\xff" "a.",
            "a 18446744073709551615-byte string: loadgate reads strings under 4 GiB");
    REFUSED("\x80\x04\x8d\x00\x00\x00\x00\x01\x00\x00\x00" "a.",
            "a 4294967296-byte string: loadgate reads strings under 4 GiB");
    REFUSED("\x80\x04\x8d\xff\xff\xff\xff\x00\x00\x00\x00" "a.",
            "truncated: a 4294967295-byte string");
}
END_TEST

/* ------------------------------------------------------------- containers */

START_TEST(containers)
{
    /* [1, 2, 3] through APPEND and APPENDS */
    lg__pv *v = OK("\x80\x02]K\x01" "a(K\x02K\x03" "e.");
    ck_assert_int_eq(v->kind, LG__PV_LIST);
    ck_assert_uint_eq(v->count, 3);
    ck_assert_int_eq(v->items[2]->i, 3);
    ck_assert_uint_eq(OK("\x80\x02(K\x01K\x02l.")->count, 2);
    /* {'a': 1, 'b': 2, 'c': 3} through SETITEM, SETITEMS and DICT */
    v = OK("\x80\x02}U\x01" "aK\x01s(U\x01" "bK\x02U\x01" "cK\x03u.");
    ck_assert_int_eq(v->kind, LG__PV_DICT);
    ck_assert_uint_eq(v->count, 6);
    ck_assert_int_eq(v->items[5]->i, 3);
    ck_assert_uint_eq(OK("\x80\x02(U\x01" "aK\x01" "d.")->count, 2);
    ck_assert_uint_eq(OK("\x80\x02).")->count, 0);
    ck_assert_uint_eq(OK("\x80\x02K\x01\x85.")->count, 1);
    ck_assert_uint_eq(OK("\x80\x02K\x01K\x02\x86.")->count, 2);
    v = OK("\x80\x02K\x01K\x02K\x03\x87.");
    ck_assert_uint_eq(v->count, 3);
    ck_assert_int_eq(v->items[0]->i, 1);
    ck_assert_uint_eq(OK("\x80\x02(K\x01K\x02K\x03K\x04t.")->count, 4);
    v = OK("\x80\x04\x8f(K\x01K\x02\x90.");
    ck_assert_int_eq(v->kind, LG__PV_SET);
    ck_assert_uint_eq(v->count, 2);
    ck_assert_int_eq(OK("\x80\x04(K\x01\x91.")->kind, LG__PV_SET);
    /* POP, POP_MARK, DUP */
    ck_assert_int_eq(OK("\x80\x02K\x01K\x02" "0.")->i, 1);
    ck_assert_int_eq(OK("\x80\x02K\x05(K\x01K\x02" "1.")->i, 5);
    ck_assert_uint_eq(OK("\x80\x02K\x07" "2\x86.")->count, 2);
    ck_assert_int_eq(OK("\x80\x02K\x05(0.")->i, 5); /* POP of an empty mark drops it */
}
END_TEST

START_TEST(container_misuse)
{
    REFUSED("\x80\x02}K\x01" "a.", "cannot add items to a dict");
    REFUSED("\x80\x02]K\x01K\x02s.", "cannot set items of a list");
    REFUSED("\x80\x02}(K\x01u.", "an odd number of keys and values");
    REFUSED("\x80\x02(K\x01" "d.", "an odd number");
    REFUSED("\x80\x02" "a.", "the stack is empty");
    REFUSED("\x80\x02K\x01(a.", "the stack is empty"); /* nothing above the mark */
    REFUSED("\x80\x02t.", "no MARK to pop to");
    REFUSED("\x80\x02K\x01K\x02.", "2 values on the stack at STOP");
    REFUSED("\x80\x02(K\x01.", "1 MARKs left open at STOP");
    REFUSED("\x80\x02.", "0 values on the stack");
    REFUSED("\x80\x02K\x01", "ends without STOP");
    REFUSED("\x80\x02\x90.", "no MARK");
}
END_TEST

START_TEST(marks_bounded)
{
    size_t n = 2 + LG__PICKLE_MAX_MARKS + 2;
    char *p = malloc(n);
    memcpy(p, "\x80\x02", 2);
    memset(p + 2, '(', n - 2);
    refused(p, n, "nested MARKs");
    free(p);
}
END_TEST

/* The memory budget: lg__pickle_budget's arithmetic, and a pickle that
 * takes more than its budget (by its values; by the stack and a list's
 * items) refused with the limit named; a budget spans every pickle loaded
 * into the same pool. */
START_TEST(memory_budget)
{
    ck_assert_uint_eq(lg__pickle_budget(0), LG__PICKLE_BUDGET_BASE);
    ck_assert_uint_eq(lg__pickle_budget(1000), LG__PICKLE_BUDGET_BASE + 3000);
    ck_assert_uint_eq(lg__pickle_budget(UINT64_MAX / 2), LG__PICKLE_MAX_BYTES);
    lg__pickle_set_budget(g_pk, UINT64_MAX); /* never above the most: item counts are 32 bits */
    ck_assert_uint_eq(g_pk->max_bytes, LG__PICKLE_MAX_BYTES);
    size_t n = 2 + 1 + 1 + 200000 + 2;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    static const char ops[] = {']', '2'};
    for (int k = 0; k < 2; k++) { /* 200,000 lists; one list DUP'd 200,000 times */
        memcpy(p, "\x80\x02](", 4);
        memset(p + 4, ops[k], n - 6);
        p[4] = ']';
        memcpy(p + n - 2, "e.", 2);
        lg__pickle_free(g_pk);
        ck_assert_int_eq(lg__pickle_new(&g_pk), LG_OK);
        lg__pickle_set_budget(g_pk, 1 << 20);
        refused(p, n, "would take more than 1048576 bytes, the limit for this file");
        lg__pickle_free(g_pk);
        ck_assert_int_eq(lg__pickle_new(&g_pk), LG_OK);
        lg__pickle_set_budget(g_pk, 64 << 20);
        lg__pv *root = ok(p, n);
        ck_assert_uint_eq(root->count, 200000);
    }
    /* over two pickles into one pool: the second runs out. Values come in
     * slabs of LG__PICKLE_SLAB_VALUES: 1,000 lists take one, 2,000 two */
    lg__pickle_free(g_pk);
    ck_assert_int_eq(lg__pickle_new(&g_pk), LG_OK);
    lg__pickle_set_budget(g_pk, sizeof(lg__pk_slab) * 3 / 2);
    size_t m = 2 + 1 + 1 + 1000 + 2;
    memcpy(p + m - 2, "e.", 2);
    memset(p + 4, ']', m - 6);
    ck_assert_uint_eq(ok(p, m)->count, 1000);
    refused(p, m, "the limit for this file");
    free(p);
}
END_TEST

/* ------------------------------------------------------------------ memo */

START_TEST(memo)
{
    lg__pv *v = OK("\x80\x02K\x09q\x03" "0h\x03.");
    ck_assert_int_eq(v->i, 9);
    v = OK("\x80\x02K\x09r\x00\x01\x00\x00" "0j\x00\x01\x00\x00.");
    ck_assert_int_eq(v->i, 9);
    /* MEMOIZE numbers entries 0, 1, ... */
    v = OK("\x80\x04K\x01\x94K\x02\x94" "00h\x01.");
    ck_assert_int_eq(v->i, 2);
    /* the same object twice: one value */
    v = OK("\x80\x02]q\x00h\x00\x86.");
    ck_assert_ptr_eq(v->items[0], v->items[1]);
    REFUSED("\x80\x02h\x05.", "memo entry 5 was never set");
    REFUSED("\x80\x02K\x01r\xff\xff\xff\xff.", "memo index 4294967295 is beyond");
    REFUSED("\x80\x02q\x00.", "the stack is empty");
}
END_TEST

/* --------------------------------------------------------- the protocol */

START_TEST(protocols)
{
    ck_assert_int_eq(OK("\x80\x05K\x01.")->i, 1);
    /* a frame: its length must fit */
    ck_assert_int_eq(OK("\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00K\x01.")->i, 1);
    REFUSED("\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00K\x01.", "a frame of 255 bytes");
    REFUSED("K\x01.", "does not begin with PROTO");
    REFUSED("\x80\x01K\x01.", "pickle protocol 1; loadgate reads protocols 2 to 5");
    REFUSED("\x80\x06K\x01.", "pickle protocol 6");
    REFUSED("\x80\x02I12\n.", "protocol 0 text opcode");
    REFUSED("\x80\x02S'a'\n.", "protocol 0 text opcode");
    REFUSED("\x80\x02Vabc\n.", "protocol 0 text opcode");
    REFUSED("\x80\x02g1\n.", "protocol 0 text opcode");
    REFUSED("\x80\x02\x82\x01.", "extension registry");
    REFUSED("\x80\x05\x97.", "out-of-band buffers");
    REFUSED("\x80\x02\xff.", "unknown opcode");
    REFUSED("\x80\x02Pabc\n.", "text persistent ids");
    REFUSED("", "nothing to read");
}
END_TEST

START_TEST(two_pickles_back_to_back)
{
    static const char p[] = "\x80\x02K\x01.\x80\x02K\x02.";
    lg__pv *v;
    size_t used = 0;
    ck_assert_int_eq(lg__pickle_load(g_pk, (const unsigned char *)p, sizeof p - 1, &opts, &v,
                                     &used), LG_OK);
    ck_assert_uint_eq(used, 5);
    ck_assert_int_eq(lg__pickle_load(g_pk, (const unsigned char *)p + used, sizeof p - 1 - used,
                                     &opts, &v, &used), LG_OK);
    ck_assert_int_eq(v->i, 2);
}
END_TEST

/* ---------------------------------------------------------------- globals */

START_TEST(globals_allowed)
{
    static const struct {
        const char *p;
        lg__global id;
        int dtype;
    } cases[] = {
        {"\x80\x02" "ccollections\nOrderedDict\n.", LG__G_ORDERED_DICT, -1},
        {"\x80\x02" "c__builtin__\nset\n.", LG__G_SET, -1},
        {"\x80\x02" "cbuiltins\nfrozenset\n.", LG__G_FROZENSET, -1},
        {"\x80\x02" "c_codecs\nencode\n.", LG__G_CODECS_ENCODE, -1},
        {"\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n.", LG__G_REBUILD_TENSOR_V2, -1},
        {"\x80\x02" "ctorch._utils\n_rebuild_parameter\n.", LG__G_REBUILD_PARAMETER, -1},
        {"\x80\x02" "ctorch._tensor\n_rebuild_from_type_v2\n.", LG__G_REBUILD_FROM_TYPE_V2, -1},
        {"\x80\x02" "ctorch\nFloatStorage\n.", LG__G_STORAGE, LG_F32},
        {"\x80\x02" "ctorch.cuda\nHalfStorage\n.", LG__G_STORAGE, LG_F16},
        {"\x80\x02" "ctorch\nBFloat16Storage\n.", LG__G_STORAGE, LG_BF16},
        {"\x80\x02" "ctorch\nComplexFloatStorage\n.", LG__G_STORAGE, -1},
        {"\x80\x02" "ctorch\nUntypedStorage\n.", LG__G_UNTYPED_STORAGE, -1},
        {"\x80\x02" "ctorch\nbfloat16\n.", LG__G_DTYPE, LG_BF16},
        {"\x80\x02" "ctorch\nlong\n.", LG__G_DTYPE, LG_I64},
        {"\x80\x02" "ctorch\nuint16\n.", LG__G_DTYPE, -1},
        {"\x80\x02" "ctorch\nSize\n.", LG__G_SIZE, -1},
        {"\x80\x02" "ctorch\ndevice\n.", LG__G_DEVICE, -1},
        {"\x80\x02" "ctorch.nn.parameter\nParameter\n.", LG__G_PARAMETER_TYPE, -1},
        {"\x80\x04\x8c\x05torch\x8c\x0c" "FloatStorage\x93.", LG__G_STORAGE, LG_F32},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lg__pv *v = ok(cases[i].p, strlen(cases[i].p));
        ck_assert_int_eq(v->kind, LG__PV_GLOBAL);
        ck_assert_int_eq(v->i, cases[i].id);
        ck_assert_int_eq(v->dtype, cases[i].dtype);
    }
}
END_TEST

START_TEST(globals_refused)
{
    /* STACK_GLOBAL strings are bounded like GLOBAL's lines */
    static char huge[2 + 5 + 300 + 5 + 2];
    memcpy(huge, "\x80\x04X\x2c\x01\x00\x00", 7);
    memset(huge + 7, 'a', 300);
    memcpy(huge + 307, "\x8c\x01" "b\x93.", 5);
    refused(huge, 312, "a module or name of more than 256 bytes (300 and 1)");
    REFUSED("\x80\x02" "cposix\nsystem\n.", "global \"posix system\" is not allowed");
    REFUSED("\x80\x02" "cos\nsystem\n.", "global \"os system\" is not allowed");
    REFUSED("\x80\x02" "cbuiltins\neval\n.", "global \"builtins eval\"");
    REFUSED("\x80\x02" "c__builtin__\ngetattr\n.", "global \"__builtin__ getattr\"");
    REFUSED("\x80\x02" "csubprocess\nPopen\n.", "global \"subprocess Popen\"");
    REFUSED("\x80\x02" "ctorch\nload\n.", "global \"torch load\"");
    /* the ones real checkpoints hold say why */
    REFUSED("\x80\x02" "ctorch._utils\n_rebuild_qtensor\n.",
            "_rebuild_qtensor\" is not allowed: quantized tensors are not supported");
    REFUSED("\x80\x02" "ctorch._utils\n_rebuild_sparse_tensor\n.", "sparse tensors are not");
    REFUSED("\x80\x02" "ctorch._C\nScriptObject\n.", "TorchScript objects");
    REFUSED("\x80\x02" "cnumpy.core.multiarray\n_reconstruct\n.",
            "numpy.core.multiarray _reconstruct\" is not allowed: NumPy objects are not read");
    REFUSED("\x80\x02" "cnumpy\ndtype\n.", "NumPy objects are not read");
    REFUSED("\x80\x02" "ctorch.nn.modules.linear\nLinear\n.",
            "torch.nn.modules.linear Linear\" is not allowed: a pickled module");
    REFUSED("\x80\x02(itorch.nn.modules.linear\nLinear\n.", "a pickled module");
    REFUSED("\x80\x02" "cnumpyx\nf\n.", "calls nothing"); /* not numpy */
    REFUSED("\x80\x04\x8c\x02os\x8c\x06system\x93.", "global \"os system\"");
    REFUSED("\x80\x02(iposix\nsystem\n.", "global \"posix system\" is not allowed");
    REFUSED("\x80\x02" "cposix\nsystem", "no end of line");
    REFUSED("\x80\x04K\x01K\x02\x93.", "module and name must be str");
    REFUSED("\x80\x02(ccollections\nOrderedDict\no.", "OBJ instantiates a class");
}
END_TEST

/* defer_refusals (a key selects part of a checkpoint): a refused global,
 * and whatever is built from it, is an inert REFUSED value carrying the
 * message it would have given at once. Nothing else changes. */
static lg__pv *deferred(const char *s, size_t n)
{
    lg__pv *root = NULL;
    opts.defer_refusals = 1;
    lg_status st = load_n(s, n, &root);
    opts.defer_refusals = 0;
    ck_assert_msg(st == LG_OK, "%s (a pickle of %zu bytes)", lg_error_message(), n);
    return root;
}
#define DEFERRED(lit) deferred(lit, sizeof lit - 1)

START_TEST(deferred_refusals)
{
    /* the same message as without deferring, and the message in force is kept */
    REFUSED("\x80\x02" "cargparse\nNamespace\n.", "x");
    char now[512];
    snprintf(now, sizeof now, "%s", lg_error_message());
    lg__err(LG_E_IO, "earlier");
    lg__pv *v = DEFERRED("\x80\x02" "cargparse\nNamespace\n.");
    ck_assert_str_eq(lg_error_message(), "earlier");
    ck_assert_int_eq(v->kind, LG__PV_REFUSED);
    ck_assert_str_eq(v->msg, now);
    ck_assert(strstr(v->msg, "a script's arguments are not weights"));
    /* calling, instantiating, setting state or items: still that value */
    ck_assert_int_eq(DEFERRED("\x80\x02" "cfoo\nbar\nX\x02\x00\x00\x00ls\x85R.")->kind,
                     LG__PV_REFUSED);
    v = DEFERRED("\x80\x02(X\x02\x00\x00\x00lsicollections\ndefaultdict\n.");
    ck_assert_int_eq(v->kind, LG__PV_REFUSED);
    ck_assert(strstr(v->msg, "(INST 0x69): global \"collections defaultdict\" is not allowed"));
    ck_assert_int_eq(DEFERRED("\x80\x02(cargparse\nNamespace\no.")->kind, LG__PV_REFUSED);
    v = DEFERRED("\x80\x02" "cargparse\nNamespace\n)\x81}X\x02\x00\x00\x00lrK\x01sb.");
    ck_assert_int_eq(v->kind, LG__PV_REFUSED);
    ck_assert_int_eq(DEFERRED("\x80\x02" "cfoo\nbar\n(X\x01\x00\x00\x00" "aK\x01u.")->kind,
                     LG__PV_REFUSED);
    ck_assert_int_eq(DEFERRED("\x80\x02" "cfoo\nbar\n(K\x01K\x02" "e.")->kind, LG__PV_REFUSED);
    /* an allowed callable given a refused argument */
    v = DEFERRED("\x80\x02" "ccollections\nOrderedDict\ncfoo\nbar\n\x85R.");
    ck_assert_int_eq(v->kind, LG__PV_REFUSED);
    ck_assert(strstr(v->msg, "global \"foo bar\""));
    /* held in a container, it stays where it is */
    v = DEFERRED("\x80\x02}(X\x01\x00\x00\x00" "aK\x01X\x01\x00\x00\x00" "bcfoo\nbar\nu.");
    ck_assert_int_eq(v->kind, LG__PV_DICT);
    ck_assert_uint_eq(v->count, 4);
    ck_assert_int_eq(v->items[3]->kind, LG__PV_REFUSED);
    /* globals only attacks use are refused at once, deferred or not */
    opts.defer_refusals = 1;
    REFUSED("\x80\x02" "cposix\nsystem\n.", "global \"posix system\" is not allowed");
    REFUSED("\x80\x02" "cos.path\njoin\n.", "global \"os.path join\" is not allowed");
    REFUSED("\x80\x02(X\x02\x00\x00\x00lsiposix\nsystem\n.", "global \"posix system\"");
    REFUSED("\x80\x04\x8c\x08" "builtins\x8c\x04" "eval\x93.", "global \"builtins eval\"");
    REFUSED("\x80\x02" "ctorch.hub\nload\n.", "global \"torch.hub load\"");
    REFUSED("\x80\x02" "csubprocess\nPopen\n.", "global \"subprocess Popen\"");
    REFUSED("\x80\x04\x8c\x05" "torch\x8c\x08" "hub.load\x93.", "global \"torch hub.load\"");
    REFUSED("\x80\x02" "ctorch\nload\n.", "global \"torch load\"");
    REFUSED("\x80\x02" "ctorch.serialization\nload\n.", "global \"torch.serialization load\"");
    REFUSED("\x80\x02" "c_posixsubprocess\nfork_exec\n.", "_posixsubprocess fork_exec");
    ck_assert_int_eq(DEFERRED("\x80\x02" "ctorch.hubris\nx\n.")->kind, LG__PV_REFUSED);
    ck_assert_int_eq(DEFERRED("\x80\x02" "cosx\nsystem\n.")->kind, LG__PV_REFUSED);
    /* what is not a refused global is refused as before */
    opts.defer_refusals = 1;
    REFUSED("\x80\x02(ccollections\nOrderedDict\no.", "OBJ instantiates a class");
    REFUSED("\x80\x02" "cfoo\nbar\n(", "ends without STOP");
    opts.defer_refusals = 0;
}
END_TEST

/* ---------------------------------------------------------------- REDUCE */

/* Values that never change once made are made once per pool and shared:
 * None, the bools, ints (through a cache of 1,024 slots, so ints that share
 * a slot still read back right), and allowlisted globals within a pickle.
 * Lists, dicts and refused globals are never shared, and every value read
 * is counted (the memo's bound and the tree walk's budget use the count).
 * Short tuples take their items from the pool's arena. */
START_TEST(shared_values)
{
    size_t before = lg__pickle_count(g_pk);
    lg__pv *v = OK("\x80\x02(K\x05K\x05NN\x88\x88\x89\x89K\x06t.");
    ck_assert_uint_eq(lg__pickle_count(g_pk) - before, 10);
    for (size_t i = 0; i < 8; i += 2)
        ck_assert_ptr_eq(v->items[i], v->items[i + 1]);
    ck_assert_ptr_ne(v->items[0], v->items[8]);
    ck_assert_int_eq(v->items[0]->i, 5);
    ck_assert_int_eq(v->items[8]->i, 6);
    ck_assert_int_eq(v->items[2]->kind, LG__PV_NONE);
    ck_assert_int_eq(v->items[4]->kind, LG__PV_BOOL);
    ck_assert_int_eq(v->items[4]->i, 1);
    ck_assert_int_eq(v->items[6]->i, 0);
    ck_assert_int_eq(v->pooled, 1);
    /* ints and None outlive their pickle: shared with the next one */
    lg__pv *w = OK("\x80\x02(K\x05Nt.");
    ck_assert_ptr_eq(w->items[0], v->items[0]);
    ck_assert_ptr_eq(w->items[1], v->items[2]);
    /* globals: shared within a pickle, not across pickles */
    static const char g[] = "\x80\x02(ccollections\nOrderedDict\nccollections\nOrderedDict\n"
                            "ctorch\nFloatStorage\nt.";
    v = OK(g);
    ck_assert_ptr_eq(v->items[0], v->items[1]);
    ck_assert_ptr_ne(v->items[0], v->items[2]);
    ck_assert_int_eq(v->items[0]->i, LG__G_ORDERED_DICT);
    ck_assert_int_eq(v->items[2]->i, LG__G_STORAGE);
    w = OK(g);
    ck_assert_ptr_ne(w->items[0], v->items[0]);
    /* the empty tuple, immutable: one, from EMPTY_TUPLE or MARK TUPLE,
     * across pickles; a tuple with items: never */
    v = OK("\x80\x02())(tt.");
    ck_assert_uint_eq(v->count, 3);
    ck_assert_int_eq(v->items[0]->kind, LG__PV_TUPLE);
    ck_assert_uint_eq(v->items[0]->count, 0);
    ck_assert_ptr_eq(v->items[0], v->items[1]);
    ck_assert_ptr_eq(v->items[0], v->items[2]);
    ck_assert_ptr_eq(OK("\x80\x02)."), v->items[0]);
    ck_assert_ptr_eq(OK("\x80\x02" "ctorch\nSize\n)R."), v->items[0]); /* torch.Size() */
    w = OK("\x80\x02(K\x01\x85K\x01\x85t.");
    ck_assert_ptr_ne(w->items[0], w->items[1]);
    /* shared, so nothing may change it: each way to add to or set the
     * state of a value is refused on it, also when the memo or
     * restore_type_tag hands it back */
    static const struct {
        const char *p;
        size_t n;
    } change[] = {
#define P(lit) {lit, sizeof lit - 1}
        P("\x80\x02)}b."),          /* BUILD */
        P("\x80\x02)Na."),          /* APPEND */
        P("\x80\x02)(Ne."),         /* APPENDS */
        P("\x80\x02)NNs."),         /* SETITEM */
        P("\x80\x02)(NNu."),        /* SETITEMS */
        P("\x80\x04)(N\x90."),      /* ADDITEMS */
        P("\x80\x02)q\x00" "0h\x00" "Na."), /* BINPUT, POP, BINGET, APPEND */
        P("\x80\x02" "ctorch.jit._pickle\nrestore_type_tag\n)X\x01\x00\x00\x00" "T\x86RNa."),
#undef P
    };
    for (size_t i = 0; i < sizeof change / sizeof change[0]; i++) {
        lg__pv *root = NULL;
        ck_assert_msg(load_n(change[i].p, change[i].n, &root) == LG_E_FORMAT, "change %zu", i);
        ck_assert_msg(strstr(lg_error_message(), "tuple"), "change %zu: %s", i,
                      lg_error_message());
        lg__pv *e = OK("\x80\x02).");
        ck_assert_ptr_eq(e, v->items[0]);
        ck_assert_int_eq(e->kind, LG__PV_TUPLE);
        ck_assert_uint_eq(e->count, 0);
    }
    /* lists, dicts and refused globals: never */
    v = OK("\x80\x02(]]}}t.");
    ck_assert_ptr_ne(v->items[0], v->items[1]);
    ck_assert_ptr_ne(v->items[2], v->items[3]);
    v = DEFERRED("\x80\x02(cfoo\nbar\ncfoo\nbar\nt.");
    ck_assert_int_eq(v->items[0]->kind, LG__PV_REFUSED);
    ck_assert_ptr_ne(v->items[0], v->items[1]);
    /* 0..2999 twice, in one list of 6,000: more ints than slots */
    size_t n = 4 + 6000 * 3 + 2;
    char *p = malloc(n), *q = p;
    ck_assert_ptr_nonnull(p);
    memcpy(q, "\x80\x02](", 4), q += 4;
    for (int k = 0; k < 6000; k++)
        *q++ = 'M', *q++ = (char)(k % 3000 & 0xff), *q++ = (char)(k % 3000 >> 8);
    memcpy(q, "e.", 2);
    v = ok(p, n);
    ck_assert_uint_eq(v->count, 6000);
    for (int k = 0; k < 6000; k++)
        ck_assert_int_eq(v->items[k]->i, k % 3000);
    /* tuples of 64 items and of 65: the first in the arena, the second not */
    for (int len = 64; len <= 65; len++) {
        q = p;
        memcpy(q, "\x80\x02(", 3), q += 3;
        for (int k = 0; k < len; k++)
            *q++ = 'K', *q++ = (char)k;
        memcpy(q, "t.", 2);
        v = ok(p, (size_t)(q + 2 - p));
        ck_assert_uint_eq(v->count, (size_t)len);
        ck_assert_int_eq(v->items[len - 1]->i, len - 1);
        ck_assert_int_eq(v->pooled, len == 64);
    }
    free(p);
}
END_TEST

START_TEST(reduce_builds_values)
{
    lg__pv *v = OK("\x80\x02" "ccollections\nOrderedDict\n)R.");
    ck_assert_int_eq(v->kind, LG__PV_DICT);
    v = OK("\x80\x02" "ccollections\nOrderedDict\n](U\x01" "aK\x01\x86" "e\x85R.");
    ck_assert_int_eq(v->kind, LG__PV_DICT);
    ck_assert_uint_eq(v->count, 2);
    v = OK("\x80\x02" "c__builtin__\nset\n](K\x01K\x02" "e\x85R.");
    ck_assert_int_eq(v->kind, LG__PV_SET);
    ck_assert_uint_eq(v->count, 2);
    v = OK("\x80\x02" "c_codecs\nencode\nU\x03" "abcU\x06latin1\x86R.");
    ck_assert_int_eq(v->kind, LG__PV_BYTES);
    v = OK("\x80\x02" "ctorch\nSize\nK\x02K\x03\x86\x85R.");
    ck_assert_int_eq(v->kind, LG__PV_TUPLE);
    ck_assert_uint_eq(v->count, 2);
    ck_assert_int_eq(OK("\x80\x02" "ctorch\ndevice\nU\x03" "cpu\x85R.")->kind, LG__PV_OTHER);
    /* NEWOBJ and BUILD: an OrderedDict with its _metadata attribute */
    v = OK("\x80\x02" "ccollections\nOrderedDict\n)\x81}U\x01xK\x01sb.");
    ck_assert_int_eq(v->kind, LG__PV_DICT);
    ck_assert_uint_eq(v->count, 0);
    v = OK("\x80\x04" "ccollections\nOrderedDict\n)}\x92.");
    ck_assert_int_eq(v->kind, LG__PV_DICT);
}
END_TEST

START_TEST(reduce_refused)
{
    REFUSED("\x80\x02" "ctorch\nFloatStorage\n)R.", "torch.FloatStorage cannot be called");
    REFUSED("\x80\x02K\x01)R.", "cannot call an int");
    REFUSED("\x80\x02" "ccollections\nOrderedDict\nK\x01R.", "are an int, not a tuple");
    REFUSED("\x80\x02" "ccollections\nOrderedDict\nK\x01K\x02\x86R.", "takes 0 or 1 arguments");
    REFUSED("\x80\x02" "ccollections\nOrderedDict\nK\x01\x85R.", "OrderedDict of an int");
    REFUSED("\x80\x02" "ctorch\nSize\n)\x81.", "torch.Size cannot be instantiated");
    REFUSED("\x80\x02K\x01)\x81.", "cannot instantiate an int");
    REFUSED("\x80\x02" "ccollections\nOrderedDict\nK\x01\x85\x81.", "with arguments");
    REFUSED("\x80\x02]K\x01" "b.", "cannot set the state of a list");
    REFUSED("\x80\x02" "c_codecs\nencode\nK\x01\x85R.", "_codecs.encode of an int");
}
END_TEST

/* ('storage', FloatStorage, '0', 'cpu', 4) as a persistent id, then
 * _rebuild_tensor_v2(storage, 1, (2,), (1,), False, OrderedDict()) */
#define PID "(U\x07storagectorch\nFloatStorage\nU\x01" "0U\x03" "cpuK\x04tQ"
#define V2 "ctorch._utils\n_rebuild_tensor_v2\n"
#define OD "ccollections\nOrderedDict\n)R"

START_TEST(rebuild_tensors)
{
    lg__pv *v = OK("\x80\x02" V2 "(" PID "K\x01K\x02\x85K\x01\x85\x89" OD "tR.");
    ck_assert_int_eq(v->kind, LG__PV_TENSOR);
    ck_assert_int_eq(v->i, LG__G_REBUILD_TENSOR_V2);
    ck_assert_int_eq(v->items[0]->kind, LG__PV_STORAGE);
    ck_assert_int_eq(v->items[0]->i, 7);
    ck_assert_int_eq(v->items[1]->i, 1);
    ck_assert_ptr_null(v->items[4]);
    /* with the metadata argument of later versions */
    v = OK("\x80\x02" V2 "(" PID "K\x01K\x02\x85K\x01\x85\x89" OD "}tR.");
    ck_assert_int_eq(v->kind, LG__PV_TENSOR);
    /* a parameter is its data */
    v = OK("\x80\x02" "ctorch._utils\n_rebuild_parameter\n(" V2 "(" PID "K\x00))\x89" OD "tR\x88"
           OD "tR.");
    ck_assert_int_eq(v->kind, LG__PV_TENSOR);
    /* v3 names its dtype */
    v = OK("\x80\x02" "ctorch._utils\n_rebuild_tensor_v3\n(" PID "K\x00))\x89" OD
           "ctorch\nint16\ntR.");
    ck_assert_int_eq(v->items[4]->dtype, LG_I16);
    /* a tensor with Python attributes */
    v = OK("\x80\x02" "ctorch._tensor\n_rebuild_from_type_v2\n(" V2 "ctorch\nTensor\n(" PID
           "K\x00))\x89" OD "t}tR.");
    ck_assert_int_eq(v->kind, LG__PV_TENSOR);
}
END_TEST

START_TEST(rebuild_refused)
{
    REFUSED("\x80\x02" V2 "(" PID "K\x01K\x02\x85\x86tR.", "_rebuild_tensor_v2 takes 6 or 7 "
            "arguments, 2 given");
    REFUSED("\x80\x02" V2 "(K\x01K\x01))\x89" OD "tR.", "the storage is an int");
    REFUSED("\x80\x02" V2 "(" PID "U\x01x))\x89" OD "tR.", "the storage offset is a str");
    REFUSED("\x80\x02" V2 "(" PID "K\x00K\x01)\x89" OD "tR.", "size and stride must be tuples");
    REFUSED("\x80\x02" "ctorch._utils\n_rebuild_tensor_v3\n(" PID "K\x00))\x89" OD "K\x01tR.",
            "the dtype is an int");
    REFUSED("\x80\x02" "ctorch._utils\n_rebuild_parameter\n(K\x01\x89" OD "tR.",
            "a parameter's data is an int");
    REFUSED("\x80\x02" "ctorch._tensor\n_rebuild_from_type_v2\n(" V2 "ccollections\nOrderedDict\n"
            ")}tR.", "not torch.Tensor");
    lg__pickle_opts none = {"t.pt", "record \"t/data.pkl\"", NULL, NULL, 0, 0};
    lg__pv *v;
    static const char p[] = "\x80\x02(K\x01tQ.";
    ck_assert_int_eq(lg__pickle_load(g_pk, (const unsigned char *)p, sizeof p - 1, &none, &v,
                                     NULL), LG_E_FORMAT);
    ck_assert(strstr(lg_error_message(), "a persistent id where none is expected"));
}
END_TEST
#undef V2
#undef PID
#undef OD

/* ------------------------------------------------------------- robustness */

START_TEST(every_truncation)
{
    static const char p[] =
        "\x80\x02" "ccollections\nOrderedDict\n)R(U\x01" "a" "ctorch._utils\n_rebuild_tensor_v2\n"
        "((U\x07storagectorch\nFloatStorage\nU\x01" "0U\x03" "cpuK\x04tQK\x00K\x02\x85K\x01\x85\x89"
        "ccollections\nOrderedDict\n)RtRU\x01" "bG\x3f\xf8\x00\x00\x00\x00\x00\x00u.";
    ok(p, sizeof p - 1);
    for (size_t n = 0; n + 1 < sizeof p - 1; n++) {
        lg__pv *v;
        ck_assert_int_eq(load_n(p, n, &v), LG_E_FORMAT);
    }
}
END_TEST

static void alloc_sweep(const char *p, size_t len, int defer)
{
    lg__pickle_opts o = opts;
    o.defer_refusals = defer;
    for (uint64_t k = 1;; k++) {
        lg_fault_schedule s = {.when = LG_FAULT_NTH, .k = k};
        lg__pickle *pk = NULL;
        ck_assert_int_eq(lg_fault_set("mem.alloc", &s), LG_OK);
        lg_status st = lg__pickle_new(&pk);
        lg__pv *v;
        if (st == LG_OK)
            st = lg__pickle_load(pk, (const unsigned char *)p, len, &o, &v, NULL);
        uint64_t fired = lg_fault_fired("mem.alloc");
        lg_fault_clear();
        ck_assert_msg(st == LG_OK || st == LG_E_NOMEM, "k=%llu: %s", (unsigned long long)k,
                      lg_error_message());
        lg__pickle_free(pk);
        if (!fired)
            break;
        ck_assert(k < 1000);
    }
}

START_TEST(alloc_failures)
{
    static const char p[] = "\x80\x02}(U\x01" "a](K\x01K\x02K\x03K\x04K\x05" "eU\x01" "bK\x02u.";
    alloc_sweep(p, sizeof p - 1, 0);
    /* deferred refusals: each holds its message, allocated too */
    static const char d[] = "\x80\x02}(U\x01" "acargparse\nNamespace\n)\x81U\x01" "b(K\x01"
                            "icollections\ndefaultdict\nU\x01" "ccfoo\nbar\nK\x01\x85Ru.";
    alloc_sweep(d, sizeof d - 1, 1);
    /* shared scalars first (their slab), then a tuple (its arena chunk) */
    static const char s[] = "\x80\x02(K\x01K\x01\x88NK\x02t.";
    alloc_sweep(s, sizeof s - 1, 0);
}
END_TEST

static Suite *pickle_suite(void)
{
    Suite *s = suite_create("pickle");
    TCase *t = tcase_create("opcodes");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, scalars);
    tcase_add_test(t, strings);
    tcase_add_test(t, containers);
    tcase_add_test(t, container_misuse);
    tcase_add_test(t, marks_bounded);
    tcase_add_test(t, memory_budget);
    tcase_add_test(t, shared_values);
    tcase_add_test(t, memo);
    tcase_add_test(t, protocols);
    tcase_add_test(t, two_pickles_back_to_back);
    tcase_add_test(t, globals_allowed);
    tcase_add_test(t, globals_refused);
    tcase_add_test(t, deferred_refusals);
    tcase_add_test(t, reduce_builds_values);
    tcase_add_test(t, reduce_refused);
    tcase_add_test(t, rebuild_tensors);
    tcase_add_test(t, rebuild_refused);
    tcase_add_test(t, every_truncation);
    tcase_add_test(t, alloc_failures);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    int failed = tu_run_suite(pickle_suite());
    return failed ? 1 : 0;
}
