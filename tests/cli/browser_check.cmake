# cmake -P: renders a report's index.html in headless Chromium with the network off and checks
# that it renders: the page's parts are in the DOM, every plot it shows loads as an image, and
# the browser logs no console message. Run with BROWSER (the chromium executable), PAGE (the
# index.html) and WORK (a scratch directory).
file(REMOVE_RECURSE "${WORK}/profile")
file(MAKE_DIRECTORY "${WORK}/profile")
get_filename_component(dir "${PAGE}" DIRECTORY)

function(render url out_var err_var)
  # --host-resolver-rules sends every host name nowhere: a page that reached for the network
  # would log a failed load instead of quietly fetching it.
  execute_process(
    COMMAND ${BROWSER} --headless --no-sandbox --disable-gpu --disable-background-networking
            --no-first-run --no-default-browser-check --user-data-dir=${WORK}/profile
            "--host-resolver-rules=MAP * ~NOTFOUND" --enable-logging=stderr --v=0 --dump-dom ${url}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${BROWSER} failed (${rc}) on ${url}:\n${err}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
  set(${err_var} "${err}" PARENT_SCOPE)
endfunction()

# The page itself: it parses, leads with the question and answer, and logs nothing to the console.
render("file://${PAGE}" dom err)
foreach(part "<h1>" "Question." "Answer." "Configuration" "Plots" "Tables and files")
  string(FIND "${dom}" "${part}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the rendered page has no '${part}':\n${dom}")
  endif()
endforeach()
string(REGEX MATCHALL "[^\n]*CONSOLE[^\n]*" console "${err}")
if(console)
  message(FATAL_ERROR "console messages while rendering ${PAGE}:\n${console}")
endif()

# Every plot of the page, as the browser loads it: a missing or malformed SVG fires onerror.
string(REGEX MATCHALL "<img src=\"[^\"]+\"" images "${dom}")
list(LENGTH images count)
if(count EQUAL 0)
  message(FATAL_ERROR "the rendered page shows no plots")
endif()
set(check "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>\n")
foreach(img IN LISTS images)
  string(REGEX REPLACE "<img src=\"([^\"]+)\"" "\\1" src "${img}")
  string(APPEND check "<img src=\"${src}\" onerror=\"console.error('plot failed to load: ${src}')\" "
         "onload=\"if (!(this.naturalWidth > 0)) console.error('plot has no size: ${src}')\">\n")
endforeach()
string(APPEND check "</body></html>\n")
file(WRITE "${dir}/browser_check_plots.html" "${check}")
render("file://${dir}/browser_check_plots.html" dom err)
file(REMOVE "${dir}/browser_check_plots.html")
string(REGEX MATCHALL "[^\n]*CONSOLE[^\n]*" console "${err}")
if(console)
  message(FATAL_ERROR "plots that do not render:\n${console}")
endif()
message(STATUS "${PAGE}: rendered by ${BROWSER} with ${count} plots, no console message")
