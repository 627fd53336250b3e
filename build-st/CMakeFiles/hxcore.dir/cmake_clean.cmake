file(REMOVE_RECURSE
  "CMakeFiles/hxcore.dir/harness/check.c.o"
  "CMakeFiles/hxcore.dir/harness/check.c.o.d"
  "CMakeFiles/hxcore.dir/harness/gen.c.o"
  "CMakeFiles/hxcore.dir/harness/gen.c.o.d"
  "CMakeFiles/hxcore.dir/harness/report.c.o"
  "CMakeFiles/hxcore.dir/harness/report.c.o.d"
  "libhxcore.a"
  "libhxcore.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/hxcore.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
