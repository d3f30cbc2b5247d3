# Script mode (cmake -P): install the built project into WORK_DIR/prefix, move the installed tree
# to WORK_DIR/moved/tree (so nothing of the build or the source tree is where the install put it),
# then run the installed command from an unrelated working directory on the built-in Iris data.
# The built-in data must travel with the command.
file(REMOVE_RECURSE ${WORK_DIR})
function(step)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "DIR;EXPECT" "")
  execute_process(COMMAND ${arg_UNPARSED_ARGUMENTS} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err WORKING_DIRECTORY ${arg_DIR})
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "step failed (${rc}): ${arg_UNPARSED_ARGUMENTS}\n${out}\n${err}")
  endif()
  if(arg_EXPECT AND NOT out MATCHES "${arg_EXPECT}")
    message(FATAL_ERROR "output of ${arg_UNPARSED_ARGUMENTS} does not match '${arg_EXPECT}':\n${out}")
  endif()
  message(STATUS "${arg_UNPARSED_ARGUMENTS}\n${out}")
endfunction()
file(MAKE_DIRECTORY ${WORK_DIR}/moved ${WORK_DIR}/elsewhere)
step(${CMAKE_COMMAND} --install ${PATHKERNEL_BUILD_DIR} --prefix ${WORK_DIR}/prefix DIR ${WORK_DIR})
file(RENAME ${WORK_DIR}/prefix ${WORK_DIR}/moved/tree)
set(pk ${WORK_DIR}/moved/tree/bin/pathkernel)
step(${pk} --version DIR ${WORK_DIR}/elsewhere EXPECT "^pathkernel [0-9]+\\.[0-9]+\\.[0-9]+\n$")
step(${pk} train --data iris --arch 4-8-3 --loss cross_entropy --standardize --lr 0.1 --steps 20
     --out run --quiet DIR ${WORK_DIR}/elsewhere EXPECT "iris\\.csv, standardised: completed after 20 steps")
if(NOT EXISTS ${WORK_DIR}/elsewhere/run/weights.npy)
  message(FATAL_ERROR "the run directory has no weights.npy")
endif()
