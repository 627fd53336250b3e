file(REMOVE_RECURSE
  "CMakeFiles/harness.dir/harness/main.c.o"
  "CMakeFiles/harness.dir/harness/main.c.o.d"
  "harness"
  "harness.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/harness.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
