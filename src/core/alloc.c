/* Host allocation, through the mem.alloc fault point so that every
 * out-of-memory path can be exercised. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

void *lg__malloc(size_t n)
{
    if (lg__fault("mem.alloc", NULL))
        return NULL;
    return malloc(n ? n : 1);
}

void *lg__calloc(size_t n, size_t m)
{
    if (lg__fault("mem.alloc", NULL))
        return NULL;
    return calloc(n ? n : 1, m ? m : 1);
}

void *lg__realloc(void *p, size_t n)
{
    if (lg__fault("mem.alloc", NULL))
        return NULL;
    return realloc(p, n ? n : 1);
}

char *lg__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = lg__malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}
