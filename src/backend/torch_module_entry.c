/* The entry point of libloadgate-torch.so, compiled into the module only:
 * the table of the shim's functions that module.c calls through, and the
 * stamp that says, without loading the module, which libtorch it was built
 * against (torch_module.h). LGT_LIBTORCH_VERSION comes from CMake. */
#include "backend/torch_module.h"

#ifndef LGT_LIBTORCH_VERSION
#error "LGT_LIBTORCH_VERSION must be defined (CMakeLists.txt: the torch module)"
#endif

#define LGT_STR_(x) #x
#define LGT_STR(x) LGT_STR_(x)

__attribute__((used)) static const char stamp[] =
    LGT_STAMP_PREFIX "loadgate=" LG_VERSION " abi=" LGT_STR(LGT_MODULE_ABI)
    " libtorch=" LGT_LIBTORCH_VERSION;

#define LGT_INIT(type, name, params, args, missing) .name = name,
#define LGT_VOID_INIT(name, params, args) .name = name,

static const lgt_module_table table = {
    .abi = LGT_MODULE_ABI,
    .size = sizeof(lgt_module_table),
    .stamp = stamp,
    LGT_FUNCS(LGT_INIT) LGT_VOID_FUNCS(LGT_VOID_INIT) LGT_HINT_FUNCS(LGT_VOID_INIT)};

/* The module's one exported symbol (the rest is built hidden). */
__attribute__((visibility("default"))) const lgt_module_table *lgt_module_v1(void)
{
    return &table;
}
