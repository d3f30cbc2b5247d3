# cmake -P: runs STEP1, STEP2, ... (each a command line) in order; any non-zero exit fails the test.
# WORK is removed first, so every run starts clean.
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
foreach(i RANGE 1 9)
  if(NOT DEFINED STEP${i})
    break()
  endif()
  separate_arguments(command UNIX_COMMAND "${STEP${i}}")
  execute_process(COMMAND ${command} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  WORKING_DIRECTORY "${WORK}")
  message(STATUS "${STEP${i}}\n${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "step ${i} failed (${rc}): ${STEP${i}}\n${out}\n${err}")
  endif()
endforeach()
