/* Part of a variable written from host memory (lg_store_fill_range). */
#include "core/store.h"

#include <stdlib.h>
#include <string.h>

lg_status lg_store_fill_range(lg_store *s, const char *name, uint64_t offset, const void *src,
                              size_t n)
{
    size_t i = s && name ? lg_store_find(s, name) : (size_t)-1;
    if (i == (size_t)-1)
        return lg__err(LG_E_NOTFOUND, "no variable \"%s\" in the store", name ? name : "(null)");
    lg__var *v = &s->v[i];
    uint64_t nb = v->info.nbytes;
    if (offset > nb || n > nb - offset || (n && !src))
        return lg__err(LG_E_INVALID, "variable \"%s\" has %llu bytes: bytes [%llu, %llu) are "
                       "not inside it", name, (unsigned long long)nb,
                       (unsigned long long)offset, (unsigned long long)offset + n);
    if (!n)
        return LG_OK;
    unsigned char *host = s->b->ops->host_data ? s->b->ops->host_data(s->b, v->t) : NULL;
    if (host) {
        memcpy(host + offset, src, n);
        return LG_OK;
    }
    unsigned char *buf = lg__malloc((size_t)nb);
    if (!buf)
        return lg__err(LG_E_NOMEM, "variable \"%s\": out of memory (%llu bytes)", name,
                       (unsigned long long)nb);
    lg_status st = s->b->ops->read(s->b, v->t, buf, (size_t)nb);
    if (st == LG_OK) {
        memcpy(buf + offset, src, n);
        st = s->b->ops->write(s->b, v->t, buf, (size_t)nb);
    }
    free(buf);
    return st;
}
