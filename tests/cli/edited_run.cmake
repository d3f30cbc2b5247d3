# cmake -P: trains a small run in WORK, applies one edit to its run.json (the regex EDIT replaced
# by REPLACEMENT), then expects `pathkernel decompose` to refuse it: exit status 2, one line on
# stderr matching MESSAGE, and no report left behind.
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
execute_process(COMMAND ${PK} train --data moons --samples 24 --arch 2-5-1 --loss bce --steps 8 --out ${WORK}/run --quiet
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "train failed: ${rc}")
endif()
file(READ "${WORK}/run/run.json" json)
string(REGEX REPLACE "${EDIT}" "${REPLACEMENT}" edited "${json}")
if(edited STREQUAL json)
  message(FATAL_ERROR "the edit '${EDIT}' matched nothing in run.json")
endif()
file(WRITE "${WORK}/run/run.json" "${edited}")
execute_process(COMMAND ${PK} decompose --run ${WORK}/run --out ${WORK}/report --quiet
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 2)
  message(FATAL_ERROR "expected exit status 2, got ${rc}\nstdout: ${out}\nstderr: ${err}")
endif()
if(NOT err MATCHES "${MESSAGE}")
  message(FATAL_ERROR "stderr does not match '${MESSAGE}':\n${err}")
endif()
file(GLOB left "${WORK}/report*")
if(left)
  message(FATAL_ERROR "a report was left behind: ${left}")
endif()
message(STATUS "refused with: ${err}")
