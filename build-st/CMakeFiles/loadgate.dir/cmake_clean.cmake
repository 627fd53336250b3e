file(REMOVE_RECURSE
  "CMakeFiles/loadgate.dir/src/backend/sim.c.o"
  "CMakeFiles/loadgate.dir/src/backend/sim.c.o.d"
  "CMakeFiles/loadgate.dir/src/core/alloc.c.o"
  "CMakeFiles/loadgate.dir/src/core/alloc.c.o.d"
  "CMakeFiles/loadgate.dir/src/core/dev.c.o"
  "CMakeFiles/loadgate.dir/src/core/dev.c.o.d"
  "CMakeFiles/loadgate.dir/src/core/error.c.o"
  "CMakeFiles/loadgate.dir/src/core/error.c.o.d"
  "CMakeFiles/loadgate.dir/src/core/fault.c.o"
  "CMakeFiles/loadgate.dir/src/core/fault.c.o.d"
  "CMakeFiles/loadgate.dir/src/core/io.c.o"
  "CMakeFiles/loadgate.dir/src/core/io.c.o.d"
  "CMakeFiles/loadgate.dir/src/core/load.c.o"
  "CMakeFiles/loadgate.dir/src/core/load.c.o.d"
  "CMakeFiles/loadgate.dir/src/core/names.c.o"
  "CMakeFiles/loadgate.dir/src/core/names.c.o.d"
  "CMakeFiles/loadgate.dir/src/core/store.c.o"
  "CMakeFiles/loadgate.dir/src/core/store.c.o.d"
  "CMakeFiles/loadgate.dir/src/core/trace.c.o"
  "CMakeFiles/loadgate.dir/src/core/trace.c.o.d"
  "CMakeFiles/loadgate.dir/src/formats/checkpoint.c.o"
  "CMakeFiles/loadgate.dir/src/formats/checkpoint.c.o.d"
  "CMakeFiles/loadgate.dir/src/formats/safetensors.c.o"
  "CMakeFiles/loadgate.dir/src/formats/safetensors.c.o.d"
  "libloadgate.a"
  "libloadgate.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/loadgate.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
