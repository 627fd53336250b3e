
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/harness/check.c" "CMakeFiles/hxcore.dir/harness/check.c.o" "gcc" "CMakeFiles/hxcore.dir/harness/check.c.o.d"
  "/work/main/harness/gen.c" "CMakeFiles/hxcore.dir/harness/gen.c.o" "gcc" "CMakeFiles/hxcore.dir/harness/gen.c.o.d"
  "/work/main/harness/report.c" "CMakeFiles/hxcore.dir/harness/report.c.o" "gcc" "CMakeFiles/hxcore.dir/harness/report.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  "/work/main/build-st/CMakeFiles/loadgate.dir/DependInfo.cmake"
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
