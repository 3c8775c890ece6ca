#!/bin/sh
# check_symbols.sh LIBSVC GOLDEN [SVC_H]: the symbols libsvc.so exports
# (defined T/D/B/R entries of its dynamic table) must be exactly the golden
# list; with SVC_H, the golden list must also be exactly the functions that
# svc.h declares with SVC_API (so a new declaration updates the list).
# Prints the difference and fails on any, and on any other exported kind
# (weak C++ template instances and the like).
set -u
lib=${1:?usage: check_symbols.sh LIBSVC GOLDEN}
golden=${2:?usage: check_symbols.sh LIBSVC GOLDEN}
header=${3:-}
NM=${NM:-nm}
status=0

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

if ! "$NM" -D --defined-only "$lib" > "$tmp/all"; then
  echo "symbols: nm failed on $lib"
  exit 1
fi
awk '$2 ~ /^[TDBR]$/ { print $3 }' "$tmp/all" | LC_ALL=C sort > "$tmp/actual"
LC_ALL=C sort "$golden" > "$tmp/golden"

others=$(awk '$2 !~ /^[TDBRAU]$/ { print "  " $2 " " $3 }' "$tmp/all")
if [ -n "$others" ]; then
  # The version script keeps everything but svc_* local; anything else leaking is a defect.
  echo "symbols: other exported symbols (only svc_* may be exported):"
  echo "$others"
  status=1
fi

if diff -u "$tmp/golden" "$tmp/actual" > "$tmp/diff"; then
  echo "symbols: $(wc -l < "$tmp/actual") exported symbols match $golden"
else
  echo "symbols: exported symbols differ from $golden (- golden, + libsvc.so):"
  tail -n +3 "$tmp/diff"
  status=1
fi

if [ -n "$header" ]; then
  # "SVC_API <type> <name>(": the declared name is the identifier before "(".
  grep -o 'SVC_API[^(]*(' "$header" | sed 's/.*[^A-Za-z0-9_]\([A-Za-z0-9_]*\)($/\1/' |
    LC_ALL=C sort > "$tmp/declared"
  if diff -u "$tmp/golden" "$tmp/declared" > "$tmp/diff2"; then
    echo "symbols: $golden matches the SVC_API declarations of $header"
  else
    echo "symbols: $golden differs from the SVC_API declarations of $header (- golden, + svc.h):"
    tail -n +3 "$tmp/diff2"
    status=1
  fi
fi
exit "$status"
