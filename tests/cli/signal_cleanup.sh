#!/bin/sh
# SIGINT and SIGTERM stop `train` and `decompose` at once: exit status 130 / 143, and neither the
# unfinished output nor the parent directories the command created are left behind.
set -u
pk="$1"; work="$2"
rm -rf "$work"; mkdir -p "$work"; cd "$work" || exit 1
"$pk" train --data sine --samples 64 --arch 1-32-32-1 --lr 0.05 --steps 4000 --out run --quiet >/dev/null || exit 1
check() {  # signal expected-status command...
  sig="$1"; want="$2"; shift 2
  # timeout runs the command in the foreground (a background job of a script ignores SIGINT) and
  # sends the signal after a second; with --preserve-status its status is the command's own.
  timeout --preserve-status -s "$sig" 1 "$@"; got=$?
  if [ "$got" -ne "$want" ]; then echo "SIG$sig: exit status $got, expected $want"; exit 1; fi
  if ls -d new/* new out* 2>/dev/null | grep -q .; then echo "SIG$sig: output left behind:"; ls -R; exit 1; fi
  echo "SIG$sig: exit $got, nothing left behind"
}
# The decompositions are made slow on purpose (about 40 s here: the sharpness at every step, third
# order, exact attribution): the signal must arrive while they run however fast the machine, and
# they never run to the end.
slow="--second-order every --order 3 --sharpness-every 1 --exact-attribution on"
check INT 130 "$pk" decompose --run run $slow --out new/nested/report --quiet
check TERM 143 "$pk" decompose --run run $slow --out new/nested/report --quiet
check INT 130 "$pk" train --data sine --samples 2000 --arch 1-64-64-1 --steps 20000 --out new/nested/run --quiet
check TERM 143 "$pk" train --data sine --samples 2000 --arch 1-64-64-1 --steps 20000 --out out --quiet
