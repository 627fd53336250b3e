/* The class of a corruption (corrupt.h): one per generator family, for
 * the reliability table of summary.md (docs/reliability.md). */
#include "corrupt/corrupt.h"

#include <string.h>

static const char *const class_names[HX_CLASS_COUNT] = {
    [HX_CLASS_NONE] = "none",
    [HX_CLASS_TRUNCATE] = "truncate",
    [HX_CLASS_FLIP_BIT] = "flip bit",
    [HX_CLASS_FLIP_BYTE] = "flip every byte",
    [HX_CLASS_FLIP_RANDOM] = "flip random",
    [HX_CLASS_ZERO] = "zero",
    [HX_CLASS_SPLICE] = "splice",
    [HX_CLASS_SAFETENSORS] = "safetensors",
    [HX_CLASS_TORCH_ZIP] = "torch_zip",
};

hx_corrupt_class hx_corrupt_class_of(const hx_corrupt *c)
{
    switch (c->kind) {
    case HX_CORRUPT_NONE: return HX_CLASS_NONE;
    case HX_CORRUPT_TRUNCATE: return HX_CLASS_TRUNCATE;
    case HX_CORRUPT_FLIP:
        return c->random ? HX_CLASS_FLIP_RANDOM : c->bit < 0 ? HX_CLASS_FLIP_BYTE : HX_CLASS_FLIP_BIT;
    case HX_CORRUPT_ZERO: return HX_CLASS_ZERO;
    case HX_CORRUPT_SPLICE: return HX_CLASS_SPLICE;
    case HX_CORRUPT_SAFETENSORS: return HX_CLASS_SAFETENSORS;
    case HX_CORRUPT_TORCH_ZIP: return HX_CLASS_TORCH_ZIP;
    }
    return HX_CLASS_COUNT;
}

const char *hx_corrupt_class_name(hx_corrupt_class k)
{
    return (unsigned)k < HX_CLASS_COUNT ? class_names[k] : "other";
}

/* The labels' grammar is hx_corrupt_label's: the generator's name, then
 * its arguments after ':'. A flip names its bit last, "all" for every
 * bit of the byte, or starts "random" for seeded random bits. */
hx_corrupt_class hx_corrupt_class_of_label(const char *label)
{
    static const struct {
        const char *prefix;
        hx_corrupt_class k;
    } kinds[] = {{"truncate", HX_CLASS_TRUNCATE},       {"zero", HX_CLASS_ZERO},
                 {"splice", HX_CLASS_SPLICE},           {"safetensors", HX_CLASS_SAFETENSORS},
                 {"torch_zip", HX_CLASS_TORCH_ZIP}};
    if (!label || !*label || !strcmp(label, "none"))
        return HX_CLASS_NONE;
    if (!strncmp(label, "flip:random", 11))
        return HX_CLASS_FLIP_RANDOM;
    if (!strncmp(label, "flip:", 5)) {
        size_t n = strlen(label);
        return n > 4 && !strcmp(label + n - 4, ":all") ? HX_CLASS_FLIP_BYTE : HX_CLASS_FLIP_BIT;
    }
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t k = strlen(kinds[i].prefix);
        if (!strncmp(label, kinds[i].prefix, k) && (label[k] == ':' || label[k] == '\0'))
            return kinds[i].k;
    }
    return HX_CLASS_COUNT;
}
