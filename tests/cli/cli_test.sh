#!/usr/bin/env bash
# Tests of the svc command-line tool (capi/cli). One case per run:
#   cli_test.sh CASE     CASE: usage check pick get get_tls health demo
# Environment (set by tests/cli/CMakeLists.txt): SVC (the tool),
# SVC_TEST_BACKEND, SVC_TEST_PKI. Runs in this script's directory, so the
# config files are named as the user would name them (bad.yaml).
# Everything listens on 127.0.0.1 only.
set -u
# Lookups of engines without dns.servers stay on loopback (nothing answers at 127.0.0.1:1).
export SVC_DNS_SERVERS=${SVC_DNS_SERVERS:-127.0.0.1:1}
cd "$(dirname "$0")"

failures=0
passes=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/svc-cli-test-XXXXXX")
backend_pid=
cleanup() {
  if [ -n "$backend_pid" ]; then kill "$backend_pid" 2>/dev/null; wait "$backend_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

pass() { passes=$((passes + 1)); echo "ok   $1"; }
fail() { failures=$((failures + 1)); echo "FAIL $1"; }

# expect NAME WANT_RC WANT_STDOUT WANT_STDERR -- CMD...   (exact comparison)
expect() {
  local name=$1 want_rc=$2 want_out=$3 want_err=$4
  shift 5
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  local out err
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
  if [ "$rc" = "$want_rc" ] && [ "$out" = "$want_out" ] && [ "$err" = "$want_err" ]; then
    pass "$name"
  else
    fail "$name"
    echo "  command: $*"
    echo "  rc $rc (want $want_rc)"
    echo "  stdout:"; sed 's/^/    | /' "$tmp/out"
    echo "  want stdout:"; printf '%s\n' "$want_out" | sed 's/^/    | /'
    echo "  stderr:"; sed 's/^/    | /' "$tmp/err"
    echo "  want stderr:"; printf '%s\n' "$want_err" | sed 's/^/    | /'
  fi
}

# Starts svc-test-backend with the given options; sets backend_port.
start_backend() {
  mkfifo "$tmp/backend.out"
  "$SVC_TEST_BACKEND" "$@" --parent-pid $$ >"$tmp/backend.out" &
  backend_pid=$!
  local line
  if ! read -r -t 10 line <"$tmp/backend.out"; then
    echo "FAIL the backend printed no LISTENING line"; exit 1
  fi
  backend_port=${line#LISTENING }
}

case_usage() {
  expect "no command: exit 2" 2 "" "$("$SVC" 2>&1 >/dev/null)" -- "$SVC"
  expect "unknown command" 2 "" "svc: unknown command 'frob'
Try 'svc --help'." -- "$SVC" frob
  expect "pick without UPSTREAM" 2 "" "svc pick: missing UPSTREAM
usage: svc pick CONFIG UPSTREAM [--key K] [-n N]
Try 'svc help pick'." -- "$SVC" pick good.yaml
  expect "pick -n 0" 2 "" "svc pick: -n needs a number of requests between 1 and 1000000
usage: svc pick CONFIG UPSTREAM [--key K] [-n N]
Try 'svc help pick'." -- "$SVC" pick good.yaml web -n 0
  expect "get with a bad URL" 2 "" "svc get: bad URL 'ftp://x': the scheme must be http or https
usage: svc get CONFIG URL|UPSTREAM [PATH] [options]
Try 'svc help get'." -- "$SVC" get - ftp://x
  expect "get --cert without --key" 2 "" "svc get: --cert and --key go together
usage: svc get CONFIG URL|UPSTREAM [PATH] [options]
Try 'svc help get'." -- "$SVC" get - http://127.0.0.1:1 --cert c.pem
  expect "help of an unknown command" 2 "" "svc help: no command 'frob'
Try 'svc --help'." -- "$SVC" help frob
  "$SVC" --version >"$tmp/out" 2>&1 && grep -Eq '^svc [0-9]+\.[0-9]+\.[0-9]+ \(libsvc [0-9]+\.[0-9]+\.[0-9]+\)$' "$tmp/out" \
    && pass "--version" || fail "--version: $(cat "$tmp/out")"
  "$SVC" --help >"$tmp/out" 2>&1 && grep -q '^  svc demo' "$tmp/out" && pass "--help" || fail "--help"
  "$SVC" help get >"$tmp/out" 2>&1 && grep -q -- '--no-verify' "$tmp/out" && pass "help get" || fail "help get"
}

case_check() {
  expect "check good.yaml" 0 "ok: 2 upstreams, 4 targets" "" -- "$SVC" check good.yaml
  expect "check good.json" 0 "ok: 1 upstream, 2 targets" "" -- "$SVC" check good.json
  expect "check bad.yaml" 1 "" \
    "bad.yaml: upstreams[1] (name 'api'): algorithm: expected one of: consistent-hashing, least-connections, round-robin, latency" \
    -- "$SVC" check bad.yaml
  expect "check a missing file" 1 "" "missing.yaml: cannot read the file: No such file or directory" \
    -- "$SVC" check missing.yaml
}

case_pick() {
  # Smooth weighted round-robin, weights 100/50/50: a, b, c, a in every cycle.
  local a="127.0.0.1:9001 (127.0.0.1)" b="127.0.0.1:9002 (127.0.0.1)" c="127.0.0.1:9003 (127.0.0.1)"
  expect "pick round-robin 100/50/50" 0 "$a
$b
$c
$a
$a
$b
$c
$a" "" -- "$SVC" pick good.yaml web -n 8
  expect "pick default count is 10" 0 "$a
$b
$c
$a
$a
$b
$c
$a
$a
$b" "" -- "$SVC" pick good.yaml web
  local s="127.0.0.1:9101 (127.0.0.1)"
  expect "pick with --key" 0 "$s
$s
$s" "" -- "$SVC" pick good.yaml sessions --key alice -n 3
  expect "pick an unknown upstream" 1 "" "svc pick: SVC_ENOTFOUND: could not find an Upstream named 'nope'" \
    -- "$SVC" pick good.yaml nope
}

case_get() {
  start_backend --name plain
  local p=$backend_port
  expect "get a URL" 0 "HTTP 200 from 127.0.0.1:$p (tries 1)
abcdefghij" "" -- "$SVC" get - "http://127.0.0.1:$p" /bytes/10
  expect "get a URL with its path, status 503" 0 "HTTP 503 from 127.0.0.1:$p (tries 1)
abcde" "" -- "$SVC" get - "http://127.0.0.1:$p/status/503/bytes/5"
  # Through an upstream of a config written for this backend.
  printf '_format_version: "3.0"\nupstreams:\n  - name: one\n    targets: [{target: "127.0.0.1:%s"}]\n' "$p" >"$tmp/one.yaml"
  "$SVC" get "$tmp/one.yaml" one /bytes/3 -v -H 'X-Test: yes' >"$tmp/out" 2>&1
  local rc=$?
  if [ $rc = 0 ] && [ "$(head -1 "$tmp/out")" = "HTTP 200 from 127.0.0.1:$p (tries 1)" ] &&
     grep -qx 'X-Backend: plain' "$tmp/out" && grep -qx 'Content-Length: 3' "$tmp/out" &&
     [ "$(tail -1 "$tmp/out")" = "abc" ]; then
    pass "get an upstream, -v"
  else
    fail "get an upstream, -v (rc $rc)"; sed 's/^/    | /' "$tmp/out"
  fi
  "$SVC" get - "http://127.0.0.1:$p/" -H 'X-Test: yes' >"$tmp/out" 2>&1
  grep -q '"x-test":"yes"' "$tmp/out" && pass "get -H sends the header" || fail "get -H sends the header: $(cat "$tmp/out")"
  # A dead port: every try refused, exit 1 with svc's message.
  kill "$backend_pid"; wait "$backend_pid" 2>/dev/null; backend_pid=
  expect "get a dead peer" 1 "" "svc get: SVC_ECONNECT: 2 tries failed: try 1 (127.0.0.1:$p): connect to 127.0.0.1:$p failed: Connection refused; try 2 (127.0.0.1:$p): connect to 127.0.0.1:$p failed: Connection refused" \
    -- "$SVC" get - "http://127.0.0.1:$p/" --retries 1
}

case_get_tls() {
  "$SVC_TEST_PKI" "$tmp/pki" >/dev/null || { fail "svc-test-pki"; return; }
  start_backend --name m --tls "$tmp/pki/server-chain.pem,$tmp/pki/server.key" --client-ca "$tmp/pki/ca.pem"
  local p=$backend_port
  "$SVC" get - "https://localhost:$p/bytes/2" --ca "$tmp/pki/ca.pem" --cert "$tmp/pki/client.pem" \
    --key "$tmp/pki/client.key" -v >"$tmp/out" 2>&1
  if [ $? = 0 ] && grep -qx 'X-Client-Subject: /O=svc test/CN=svc test client' "$tmp/out" &&
     grep -qx 'X-SNI: localhost' "$tmp/out"; then
    pass "get https with --ca, --cert, --key"
  else
    fail "get https with --ca, --cert, --key"; sed 's/^/    | /' "$tmp/out"
  fi
  "$SVC" get - "https://localhost:$p/" --retries 0 >"$tmp/out" 2>&1
  if [ $? = 1 ] && grep -q 'SVC_ETLS: .*certificate verify failed' "$tmp/out"; then
    pass "get https without --ca fails verification"
  else
    fail "get https without --ca fails verification"; sed 's/^/    | /' "$tmp/out"
  fi
}

case_health() {
  expect "health of web (passive health on)" 0 "upstream web: HEALTHY (weight total 200, available 200, unavailable 0)
  TARGET                   WEIGHT  HEALTH            ADDRESSES
  127.0.0.1:9001              100  HEALTHY           127.0.0.1:9001         weight 100   HEALTHY
  127.0.0.1:9002               50  HEALTHY           127.0.0.1:9002         weight 50    HEALTHY
  127.0.0.1:9003               50  HEALTHY           127.0.0.1:9003         weight 50    HEALTHY" "" \
    -- "$SVC" health good.yaml web
  expect "health of sessions (health checks off)" 0 "upstream sessions: HEALTHCHECKS_OFF (weight total 100, available 100, unavailable 0)
  TARGET                   WEIGHT  HEALTH            ADDRESSES
  127.0.0.1:9101              100  HEALTHCHECKS_OFF  127.0.0.1:9101         weight 100   HEALTHCHECKS_OFF" "" \
    -- "$SVC" health good.yaml sessions
  expect "health of an unknown upstream" 1 "" "svc health: SVC_ENOTFOUND: could not find an Upstream named 'nope'" \
    -- "$SVC" health good.yaml nope
}

case_demo() {
  "$SVC" demo >"$tmp/out" 2>&1
  local rc=$?
  sed 's/^/    | /' "$tmp/out"
  if [ $rc = 0 ] && grep -Eqx 'demo: [0-9]+ checks passed' "$tmp/out" && ! grep -q '^\[FAIL\]' "$tmp/out"; then
    pass "demo: exit 0, every check passed"
  else
    fail "demo (rc $rc)"
  fi
  # It removed its temporary directory and stopped its backends.
  local dir
  dir=$(sed -n 's/.*throwaway PKI in \(.*\)$/\1/p' "$tmp/out")
  if [ -n "$dir" ] && [ ! -e "$dir" ]; then pass "demo removed $dir"; else fail "demo left '$dir' behind"; fi
}

case ${1:-} in
  usage|check|pick|get|get_tls|health|demo) "case_$1" ;;
  *) echo "usage: $0 usage|check|pick|get|get_tls|health|demo"; exit 2 ;;
esac
echo "$passes passed, $failures failed"
[ "$failures" = 0 ]
