#!/bin/sh
# Tests for sum. Prints one line per case and fails on the first mismatch.
set -u
failures=0
check() {
  expected=$1; shift
  actual=$(printf '%s\n' "$@" | sum 2>/dev/null) || actual="error"
  if [ "$actual" = "$expected" ]; then
    echo "ok   sum $* = $expected"
  else
    echo "FAIL sum $*: expected $expected, got $actual"
    failures=$((failures + 1))
  fi
}
check 6 1 2 3
check 0 5 -5
check 42 42
check error 1 x
[ "$failures" -eq 0 ] && echo "all tests passed"
exit "$failures"
