# cmake -P: trains a small run in WORK (an MLP on moons, or the `train` arguments TRAIN_ARGS),
# applies one edit to its run.json (the regex EDIT replaced by REPLACEMENT), then expects
# `pathkernel decompose` to refuse it (tests/cli/expect_failure.cmake).
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
if(NOT TRAIN_ARGS)
  set(TRAIN_ARGS "--data moons --samples 24 --arch 2-5-1 --loss bce --steps 8")
endif()
separate_arguments(train_args UNIX_COMMAND "${TRAIN_ARGS}")
execute_process(COMMAND ${PK} train ${train_args} --out ${WORK}/run --quiet
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
# The refusal is checked as every bad input is: exit 2, one line matching MESSAGE, no output left.
set(COMMAND "${PK} decompose --run ${WORK}/run --out ${WORK}/report --quiet")
set(OUT "${WORK}/report")
include(${CMAKE_CURRENT_LIST_DIR}/expect_failure.cmake)
