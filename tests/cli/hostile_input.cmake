# Hostile or careless input (the run-directory contract and the bounded readers): each is refused
# with exit status 2 and one line naming the file and the field, with nothing left behind.
bad_input(data_device "/dev/zero: is not a regular file" train --data /dev/zero --targets 0)
bad_input(data_directory "is a directory, not a file" train --data ${CMAKE_CURRENT_SOURCE_DIR} --targets 0)
bad_input(npy_huge_header "huge_header\\.npy: the header claims 4294967280 bytes" train --data sine --arch 1-4-1 --init-weights ${CMAKE_CURRENT_SOURCE_DIR}/huge_header.npy)
bad_input(npy_overflow "overflow_shape\\.npy: shape \\(4611686018427387904, 4611686018427387904\\) is too large" train --data sine --arch 1-4-1 --init-weights ${CMAKE_CURRENT_SOURCE_DIR}/overflow_shape.npy)
bad_input(huge_width "--arch 1-100000000000-1: .* parameters; this library is for small networks" train --data sine --arch 1-100000000000-1)
bad_input(huge_samples "--samples: must be at most 100000000" train --data sine --samples 1000000000000)
bad_input(huge_steps "--steps: must be at most 1000000000" train --data sine --steps 99999999999)
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/bare_cr.csv "x,y\r1,2\r3,4\r")
bad_input(bare_cr "bare_cr\\.csv:1:4: a bare carriage return" train --data ${CMAKE_CURRENT_BINARY_DIR}/bare_cr.csv --targets y)
string(ASCII 27 esc)
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/escape.csv "x,y\n1,${esc}[31mred\n")
bad_input(escape_in_cell "not a number: '\\\\x1b\\[31mred'" train --data ${CMAKE_CURRENT_BINARY_DIR}/escape.csv --targets y)

function(edited_run name edit replacement message)
  add_test(NAME cli_edited_${name} COMMAND ${CMAKE_COMMAND} -DPK=${pk} -DWORK=${work}/edited_${name}
    "-DEDIT=${edit}" "-DREPLACEMENT=${replacement}" "-DMESSAGE=${message}"
    -P ${CMAKE_CURRENT_SOURCE_DIR}/edited_run.cmake)
  set_tests_properties(cli_edited_${name} PROPERTIES LABELS cli)
endfunction()
edited_run(output_count "\"C\": 1" "\"C\": 3" "\"sizes.C\" is 3 but the model's last layer has 1 outputs")
edited_run(activation "\"type\": \"tanh\"" "\"type\": \"relu\"" "contradicts itself")
edited_run(optimizer "\"name\": \"gradient_descent\"" "\"name\": \"adam\"" "contradicts itself")
edited_run(loss "\"loss\": \"binary_cross_entropy\"" "\"loss\": \"mse\"" "run")
edited_run(no_version "\"version\": 2," "" "re-create the run directory with `pathkernel train`")
edited_run(array_shape "\"learning_rates.npy\": \\[\n *8\n *\\]" "\"learning_rates.npy\": [9]" "\"arrays.learning_rates.npy\" is \\[9\\] but the sizes give \\[8\\]")

# A conv net's run.json with a layer that does not fit: decompose refuses it naming the layer.
function(edited_conv_run name edit replacement message)
  add_test(NAME cli_edited_conv_${name} COMMAND ${CMAKE_COMMAND} -DPK=${pk} -DWORK=${work}/edited_conv_${name}
    "-DTRAIN_ARGS=--data ${CMAKE_CURRENT_SOURCE_DIR}/digits_40.csv --targets label --input-shape 1x8x8 --arch conv2d(4,3,padding=1),tanh,avg_pool2d(2),flatten,linear(10) --loss cross_entropy --steps 3"
    "-DEDIT=${edit}" "-DREPLACEMENT=${replacement}" "-DMESSAGE=${message}"
    -P ${CMAKE_CURRENT_SOURCE_DIR}/edited_run.cmake)
  set_tests_properties(cli_edited_conv_${name} PROPERTIES LABELS cli)
endfunction()
edited_conv_run(unknown_layer "\"type\": \"conv2d\"" "\"type\": \"conv3d\"" "model.layers.0..type\" is \"conv3d\", not a layer type")
edited_conv_run(zero_channels "\"out\": 4," "\"out\": 0," "model.layers.0..out\" is 0, outside")
edited_conv_run(kernel_too_large "\"kernel\": 3" "\"kernel\": 30" "layer 0 'conv2d\\(4,30,padding=1\\)': kernel 30 is larger than its \\(padded\\) input 1x8x8")

add_test(NAME cli_train_diverged_exits_3 COMMAND ${CMAKE_COMMAND} -E chdir ${CMAKE_CURRENT_BINARY_DIR}
  sh -c "rm -rf ${work}/diverged && ${pk} train --data sine --arch 1-8-1 --lr 50 --steps 100 --out ${work}/diverged --quiet; test $? -eq 3 && test -f ${work}/diverged/run.json")
set_tests_properties(cli_train_diverged_exits_3 PROPERTIES LABELS cli)

add_test(NAME cli_signals_leave_nothing_behind COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/signal_cleanup.sh ${pk} ${work}/signals)
set_tests_properties(cli_signals_leave_nothing_behind PROPERTIES LABELS cli TIMEOUT 120)

# Query points of a standardised run are mapped with the run's statistics: the raw training
# inputs as --queries give byte for byte the report of the (standardised) training inputs.
file(STRINGS ${iris} iris_lines)
set(raw_points "")
foreach(line IN LISTS iris_lines)
  string(REGEX REPLACE ",[^,]*$" "" line "${line}")
  string(APPEND raw_points "${line}\n")
endforeach()
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/iris_raw_points.csv "${raw_points}")
add_test(NAME cli_standardised_queries COMMAND ${CMAKE_COMMAND}
  -DWORK=${work}/standardised
  "-DSTEP1=${pk} train --data iris --standardize --arch 4-6-3 --loss cross_entropy --lr 0.1 --steps 30 --out run --quiet"
  "-DSTEP2=${pk} decompose --run run --out own --no-timings --quiet"
  "-DSTEP3=${pk} decompose --run run --queries ${CMAKE_CURRENT_BINARY_DIR}/iris_raw_points.csv --out raw --no-timings --quiet"
  "-DSTEP4=${CMAKE_COMMAND} -E compare_files own/steps.csv raw/steps.csv"
  "-DSTEP5=${CMAKE_COMMAND} -E compare_files own/queries.csv raw/queries.csv"
  -P ${CMAKE_CURRENT_SOURCE_DIR}/run_steps.cmake)
set_tests_properties(cli_standardised_queries PROPERTIES LABELS cli)

# A request whose work would not end in a lifetime is refused up front with the estimate.
bad_input(endless_sweep "the sweep would train [0-9]+ steps in all" sweep --fractions 1e-9,0.5)
bad_input(endless_demo "--min-steps: must be at most 100000" demo --min-steps 1000000000)
