/* JSON text helpers shared across the harness: every string that may
 * come from a damaged file (a tensor name, an error message quoting one)
 * is made valid UTF-8 before jansson sees it, because jansson refuses
 * invalid UTF-8 and the value would silently go missing. */
#ifndef HX_UTIL_JSON_H
#define HX_UTIL_JSON_H

#include <jansson.h>
#include <stdio.h>

/* A copy of s that is valid UTF-8: each invalid byte becomes U+FFFD
 * (malloc'd; NULL when out of memory). */
char *hx_utf8_clean(const char *s);
/* Length of the valid UTF-8 sequence at p (1..4) with its code point in
 * *cp, or 0 when the bytes there are not valid UTF-8 (overlong forms,
 * surrogates and values past U+10FFFF included). */
int hx_utf8_decode(const unsigned char *p, unsigned long *cp);
/* A JSON string of s after hx_utf8_clean, json null for NULL s. NULL only
 * when out of memory. */
json_t *hx_json_str(const char *s);
/* The string member key of object o, or NULL (also when o is not an object). */
const char *hx_json_get_str(const json_t *o, const char *key);
/* jansson allocates through the harness's own function (installed when
 * the program starts), which marks a failed allocation: jansson's
 * builders (json_array_append_new, json_object_set_new, ...) would
 * otherwise drop a value without a word when memory runs out, and the
 * document would be written short. These write a document only when no
 * jansson allocation has failed in the process (since hx_json_reset):
 * NULL or -1 otherwise, as when the dump itself fails. */
char *hx_json_dumps(const json_t *j, size_t flags);
int hx_json_dumpf(const json_t *j, FILE *f, size_t flags);
/* Forgets a failed allocation: a worker's next case starts clean. */
void hx_json_reset(void);
/* Has an allocation of jansson's failed since the last hx_json_reset? */
int hx_json_lost(void);
/* json_loadb and json_load_file, which the harness parses with: out of
 * memory they fail cleanly, where jansson 2.14's lexer may not (json.c). */
json_t *hx_json_loadb(const char *buf, size_t n, size_t flags, json_error_t *e);
json_t *hx_json_load_file(const char *path, size_t flags, json_error_t *e);
/* The harness's own result texts, which every case sends and the report
 * reads back (a worker's result line, the runner's kept results): read
 * and written with yyjson, several times faster than jansson's lexer and
 * writer (docs/dependencies.md), into and from the same jansson values.
 * hx_json_parse reads what json_loadb reads with no flags (an object or
 * an array, strict RFC 8259 text, no \u0000 in a string, integers within
 * json_int_t, nesting within 2048 values) and, with reject_duplicates,
 * refuses a key given twice in an object; NULL when the text is not that,
 * or out of memory (which hx_json_lost then tells). One difference, in
 * jansson's disfavour: a raw NUL byte just after a number or a literal
 * ("[1\0]"), which jansson lets through, is refused. hx_json_text writes
 * j as JSON_COMPACT would (keys in their order), under the rule of
 * hx_json_dumps: NULL when an allocation has failed, and for a value
 * nested deeper than 2048 (one that holds itself, which json_dumps
 * refuses too, among them). */
json_t *hx_json_parse(const char *buf, size_t n, int reject_duplicates);
char *hx_json_text(const json_t *j, size_t *len);
#endif
