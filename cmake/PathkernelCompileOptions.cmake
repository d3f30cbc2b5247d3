# Warnings and code generation shared by every pathkernel target, as an interface target that the
# project's own targets link privately (a consumer of the installed library is not forced to use
# them).
add_library(pathkernel_build_options INTERFACE)
target_compile_options(pathkernel_build_options INTERFACE
  $<$<CXX_COMPILER_ID:GNU,Clang,AppleClang>:-Wall -Wextra -Wpedantic>)
if(PATHKERNEL_NATIVE)
  include(CheckCXXCompilerFlag)
  check_cxx_compiler_flag(-march=native PATHKERNEL_HAS_MARCH_NATIVE)
  if(PATHKERNEL_HAS_MARCH_NATIVE)
    target_compile_options(pathkernel_build_options INTERFACE -march=native)
  endif()
endif()

# Adds a static library for one pathkernel module: `pathkernel_module(autodiff SOURCES ...)`
# makes target pathkernel_autodiff, aliased pathkernel::autodiff, whose includes resolve from the
# repository root in the build and from include/pathkernel after install.
function(pathkernel_module name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;DEPENDS")
  set(target pathkernel_${name})
  add_library(${target} STATIC ${arg_SOURCES})
  add_library(pathkernel::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name} OUTPUT_NAME pathkernel_${name})
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<INSTALL_INTERFACE:include/pathkernel>)
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_link_libraries(${target} PUBLIC ${arg_DEPENDS} PRIVATE $<BUILD_INTERFACE:pathkernel_build_options>)
  set_property(GLOBAL APPEND PROPERTY PATHKERNEL_MODULES ${target})
endfunction()
