#!/bin/sh
# check_install.sh BUILD_DIR SOURCE_DIR VERSION [C_COMPILER]
# Installs the build into a temporary prefix, then builds and runs a small C
# consumer twice: with `pkg-config --cflags --libs svc` and with a CMake
# project using find_package(svc) + svc::svc. Both must print
# "svc VERSION picked 10.0.0.1:8000".
set -u
build=${1:?usage: check_install.sh BUILD_DIR SOURCE_DIR VERSION [C_COMPILER]}
src=${2:?}
version=${3:?}
cc=${4:-cc}
cmake=${CMAKE_COMMAND:-cmake}

work=$(mktemp -d "${TMPDIR:-/tmp}/svc-install.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
expected="svc $version picked 10.0.0.1:8000"
status=0

step() { echo "== $*"; }
fail() { echo "FAIL: $*"; status=1; }

step "cmake --install $build --prefix $prefix"
if ! "$cmake" --install "$build" --prefix "$prefix" > "$work/install.log" 2>&1; then
  cat "$work/install.log"
  echo "FAIL: install"
  exit 1
fi

pc=$(find "$prefix" -name svc.pc | head -n 1)
lib=$(find "$prefix" -name 'libsvc.so*' -type f | head -n 1)
config=$(find "$prefix" -name svcConfig.cmake | head -n 1)
[ -n "$pc" ] || fail "svc.pc not installed"
[ -n "$lib" ] || fail "libsvc.so not installed"
[ -n "$config" ] || fail "svcConfig.cmake not installed"
[ -f "$prefix/include/svc/svc.h" ] || fail "include/svc/svc.h not installed"
for h in svc_export.h svc_version.h; do
  [ -f "$prefix/include/svc/$h" ] || fail "include/svc/$h not installed"
done
[ "$status" -eq 0 ] || exit 1
libdir=$(dirname "$lib")
[ -L "$libdir/libsvc.so" ] || fail "libsvc.so (the link-time symlink) not installed in $libdir"
[ -e "$libdir/libsvc.so.${version%%.*}" ] || fail "libsvc.so.${version%%.*} (the SONAME link) not installed"

# Only the public header set is installed: no engine (C++) headers.
extra=$(find "$prefix/include" -type f ! -name svc.h ! -name svc_export.h ! -name svc_version.h)
[ -z "$extra" ] || fail "unexpected installed headers: $extra"

step "pkg-config consumer"
export PKG_CONFIG_PATH="$(dirname "$pc")"
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
cflags=$(pkg-config --cflags svc) || fail "pkg-config --cflags svc"
libs=$(pkg-config --libs svc) || fail "pkg-config --libs svc"
pcversion=$(pkg-config --modversion svc)
echo "   cflags: $cflags"
echo "   libs:   $libs"
[ "$pcversion" = "$version" ] || fail "pkg-config --modversion svc: '$pcversion', expected '$version'"
case "$cflags $libs" in
  *"$prefix"*) ;;
  *)
    fail "svc.pc does not point into the install prefix $prefix (not relocatable: prefix=$(pkg-config --variable=prefix svc))"
    # Go on with the prefix derived from the .pc file's place, to check the rest.
    cflags=$(pkg-config --define-prefix --cflags svc)
    libs=$(pkg-config --define-prefix --libs svc)
    echo "   continuing with --define-prefix: $cflags $libs"
    ;;
esac
# shellcheck disable=SC2086
if $cc -std=c99 -Wall -Wextra -pedantic -Werror -o "$work/pc-consumer" "$src/consumer/main.c" $cflags $libs \
     > "$work/pc-build.log" 2>&1; then
  out=$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$work/pc-consumer")
  echo "   output: $out"
  [ "$out" = "$expected" ] || fail "pkg-config consumer printed '$out', expected '$expected'"
  # It must have run against the installed library.
  resolved=$(LD_LIBRARY_PATH="$libdir" ldd "$work/pc-consumer" | awk '/libsvc/ { print $3 }')
  case "$resolved" in
    "$libdir"/*) ;;
    *) fail "pkg-config consumer resolved libsvc to '$resolved', not into $libdir" ;;
  esac
else
  cat "$work/pc-build.log"
  fail "pkg-config consumer did not build"
fi

step "find_package(svc) consumer"
if "$cmake" -S "$src/consumer" -B "$work/cmake-consumer" -DCMAKE_PREFIX_PATH="$prefix" \
     -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="-Wall -Wextra -pedantic -Werror" \
     > "$work/cmake-configure.log" 2>&1 &&
   "$cmake" --build "$work/cmake-consumer" > "$work/cmake-build.log" 2>&1; then
  out=$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$work/cmake-consumer/consumer")
  echo "   output: $out"
  [ "$out" = "$expected" ] || fail "find_package consumer printed '$out', expected '$expected'"
else
  cat "$work/cmake-configure.log" "$work/cmake-build.log" 2>/dev/null
  fail "find_package consumer did not build"
fi

[ "$status" -eq 0 ] && echo "install: OK"
exit "$status"
