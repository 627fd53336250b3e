
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/src/backend/sim.c" "CMakeFiles/loadgate.dir/src/backend/sim.c.o" "gcc" "CMakeFiles/loadgate.dir/src/backend/sim.c.o.d"
  "/work/main/src/core/alloc.c" "CMakeFiles/loadgate.dir/src/core/alloc.c.o" "gcc" "CMakeFiles/loadgate.dir/src/core/alloc.c.o.d"
  "/work/main/src/core/dev.c" "CMakeFiles/loadgate.dir/src/core/dev.c.o" "gcc" "CMakeFiles/loadgate.dir/src/core/dev.c.o.d"
  "/work/main/src/core/error.c" "CMakeFiles/loadgate.dir/src/core/error.c.o" "gcc" "CMakeFiles/loadgate.dir/src/core/error.c.o.d"
  "/work/main/src/core/fault.c" "CMakeFiles/loadgate.dir/src/core/fault.c.o" "gcc" "CMakeFiles/loadgate.dir/src/core/fault.c.o.d"
  "/work/main/src/core/io.c" "CMakeFiles/loadgate.dir/src/core/io.c.o" "gcc" "CMakeFiles/loadgate.dir/src/core/io.c.o.d"
  "/work/main/src/core/load.c" "CMakeFiles/loadgate.dir/src/core/load.c.o" "gcc" "CMakeFiles/loadgate.dir/src/core/load.c.o.d"
  "/work/main/src/core/names.c" "CMakeFiles/loadgate.dir/src/core/names.c.o" "gcc" "CMakeFiles/loadgate.dir/src/core/names.c.o.d"
  "/work/main/src/core/store.c" "CMakeFiles/loadgate.dir/src/core/store.c.o" "gcc" "CMakeFiles/loadgate.dir/src/core/store.c.o.d"
  "/work/main/src/core/trace.c" "CMakeFiles/loadgate.dir/src/core/trace.c.o" "gcc" "CMakeFiles/loadgate.dir/src/core/trace.c.o.d"
  "/work/main/src/formats/checkpoint.c" "CMakeFiles/loadgate.dir/src/formats/checkpoint.c.o" "gcc" "CMakeFiles/loadgate.dir/src/formats/checkpoint.c.o.d"
  "/work/main/src/formats/safetensors.c" "CMakeFiles/loadgate.dir/src/formats/safetensors.c.o" "gcc" "CMakeFiles/loadgate.dir/src/formats/safetensors.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
