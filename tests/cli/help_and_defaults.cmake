# cmake -P: what a newcomer types first. `pathkernel -h` and `--help` list the commands, every
# command takes -h, `--version` prints "pathkernel <version>", and a second default job next to
# the first says on stdout that it writes pathkernel-report-2. Needs PK (the command), VERSION
# and WORK (a scratch directory).
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
function(expect regex)
  execute_process(COMMAND ${PK} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  WORKING_DIRECTORY "${WORK}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pathkernel ${ARGN}: exit status ${rc}\n${out}\n${err}")
  endif()
  if(NOT out MATCHES "${regex}")
    message(FATAL_ERROR "pathkernel ${ARGN}: stdout does not match '${regex}':\n${out}")
  endif()
endfunction()
expect("^usage: pathkernel \\[COMMAND\\]" -h)
expect("^usage: pathkernel \\[COMMAND\\]" --help)
expect("^pathkernel ${VERSION}\n$" --version)
foreach(command demo train decompose sweep kernel sharpness)
  expect("^usage: pathkernel ${command} \\[options\\]" ${command} -h)
endforeach()
expect("report: pathkernel-report/index.html" --quiet --min-steps 6)
expect("^pathkernel-report already exists: this report goes to pathkernel-report-2 .*report: pathkernel-report-2/index.html"
       --quiet --min-steps 6)
if(NOT EXISTS "${WORK}/pathkernel-report-2/index.html")
  message(FATAL_ERROR "no pathkernel-report-2/index.html")
endif()
