#!/bin/sh
# Peak resident memory and wall time of `pathkernel decompose` against the number of steps, at
# 1,000 query points of a 1-16-1 network on 64 sine samples (first order and attribution): the
# streamed decomposition's memory should not grow with the steps beyond the plotted query's rows.
#   bench/streaming_memory.sh PATHKERNEL [WORK] [STEPS...]
# Prints one line per step count: steps, peak RSS (KiB), wall seconds, steps.csv bytes.
set -eu
pk=$1
work=${2:-/tmp/pathkernel-streaming-bench}
shift $(( $# >= 2 ? 2 : 1 ))
steps=${*:-2000 20000}
mkdir -p "$work"
python3 -c "
print('x')
for i in range(1000): print(repr(-3.0 + 6.0 * i / 999))" > "$work/queries.csv"
for n in $steps; do
  rm -rf "$work/run$n" "$work/report$n"
  "$pk" train --data sine --samples 64 --arch 1-16-1 --lr 0.05 --steps "$n" --out "$work/run$n" --quiet > /dev/null
  /usr/bin/time -f "%M %e" -o "$work/time$n" "$pk" decompose --run "$work/run$n" --queries "$work/queries.csv" \
    --out "$work/report$n" --second-order none --exact off --sharpness-every 0 --quiet --no-timings > /dev/null
  read -r rss wall < "$work/time$n"
  echo "steps $n: peak RSS $rss KiB, $wall s, steps.csv $(wc -c < "$work/report$n/steps.csv") bytes"
  rm -rf "$work/report$n"
done
