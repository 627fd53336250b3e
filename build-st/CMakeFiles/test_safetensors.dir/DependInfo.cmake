
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/tests/test_safetensors.c" "CMakeFiles/test_safetensors.dir/tests/test_safetensors.c.o" "gcc" "CMakeFiles/test_safetensors.dir/tests/test_safetensors.c.o.d"
  "/work/main/tests/testutil.c" "CMakeFiles/test_safetensors.dir/tests/testutil.c.o" "gcc" "CMakeFiles/test_safetensors.dir/tests/testutil.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  "/work/main/build-st/CMakeFiles/hxcore.dir/DependInfo.cmake"
  "/work/main/build-st/CMakeFiles/loadgate.dir/DependInfo.cmake"
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
