# Script mode (cmake -P): install the built project into WORK_DIR/prefix, build the consumer
# project against it, run the consumer. Any failing step fails the test with its output.
file(REMOVE_RECURSE ${WORK_DIR})
function(step)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "step failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()
step(${CMAKE_COMMAND} --install ${PATHKERNEL_BUILD_DIR} --prefix ${WORK_DIR}/prefix)
# nlohmann/json is a build-time dependency only: no installed header may include it (the headers
# that do live in io/internal/, which is not installed).
file(GLOB_RECURSE installed_headers ${WORK_DIR}/prefix/include/*.hpp)
foreach(header IN LISTS installed_headers)
  file(STRINGS ${header} json_includes REGEX "#include <nlohmann/")
  if(json_includes OR header MATCHES "/internal/")
    message(FATAL_ERROR "installed header ${header} needs nlohmann/json or is internal")
  endif()
endforeach()
step(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/build
     -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
     -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
     "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}")
step(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
step(${WORK_DIR}/build/consumer)
