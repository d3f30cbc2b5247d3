# PATHKERNEL_BUILD_FUZZERS: libFuzzer targets for every reader of bytes on disk (tests/fuzz). They
# need clang's -fsanitize=fuzzer, so the option refuses any other compiler; it is meant for a build
# directory of its own (the `fuzz` preset), because every target of that build is instrumented for
# coverage, AddressSanitizer and UndefinedBehaviorSanitizer, which makes it unfit for anything else.
option(PATHKERNEL_BUILD_FUZZERS "Build the libFuzzer targets of the file readers (clang only)" OFF)

if(PATHKERNEL_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR
      "PATHKERNEL_BUILD_FUZZERS needs clang (libFuzzer is part of clang), but the C++ compiler is "
      "${CMAKE_CXX_COMPILER_ID} (${CMAKE_CXX_COMPILER}). Configure a separate build directory with "
      "clang: `cmake --preset fuzz`, or -DCMAKE_CXX_COMPILER=clang++.")
  endif()
  # Every library the targets call is instrumented (coverage guides the fuzzer through them); only
  # the fuzz targets link libFuzzer's main, the other programs of this build just the sanitizers.
  set(PATHKERNEL_SANITIZERS address,undefined)
  add_compile_options(-fsanitize=fuzzer-no-link,${PATHKERNEL_SANITIZERS}
                      -fno-sanitize-recover=all -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${PATHKERNEL_SANITIZERS})
endif()
