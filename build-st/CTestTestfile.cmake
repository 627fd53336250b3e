# CMake generated Testfile for 
# Source directory: /work/main
# Build directory: /work/main/build-st
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test(test_safetensors "/work/main/build-st/test_safetensors")
set_tests_properties(test_safetensors PROPERTIES  ENVIRONMENT "CK_DEFAULT_TIMEOUT=120" LABELS "unit" _BACKTRACE_TRIPLES "/work/main/CMakeLists.txt;114;add_test;/work/main/CMakeLists.txt;0;")
