#!/usr/bin/env bash
# Developer smoke test of svc-test-backend: starts it plain, TLS, mTLS, raw
# and blackholed on loopback, queries it with curl, openssl s_client and bash
# /dev/tcp, and checks status, headers and the JSON info.
#
# usage: tests/support/backend_smoke.sh [BIN_DIR]
#   BIN_DIR holds svc-test-backend and svc-test-pki (default: build/dev/tests).
# Needs curl, openssl and python3. Exits 0 when every check passed.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-$ROOT/build/dev/tests}
BACKEND=$BIN/svc-test-backend
PKI_TOOL=$BIN/svc-test-pki
for tool in "$BACKEND" "$PKI_TOOL"; do
  [[ -x $tool ]] || { echo "missing $tool (build it first, or pass BIN_DIR)" >&2; exit 2; }
done
for tool in curl openssl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $1${2:+ -- $2}"; }
# expect DESC ACTUAL WANTED
expect() { if [[ "$2" == "$3" ]]; then ok "$1"; else bad "$1" "got '$2', want '$3'"; fi; }

# start NAME ARGS...: runs the backend in the background, sets PORT and PID.
start() {
  local name=$1
  shift
  "$BACKEND" --parent-pid $$ "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 50); do
    if grep -qs '^LISTENING ' "$TMP/$name.out"; then
      PORT=$(awk '/^LISTENING /{print $2}' "$TMP/$name.out")
      return 0
    fi
    sleep 0.1
  done
  echo "backend $name did not start: $(cat "$TMP/$name.err")" >&2
  exit 1
}

# get URL [CURL ARGS...]: headers into $TMP/h, body into $TMP/b, sets CODE and RC.
get() {
  local url=$1
  shift
  CODE=$(curl -s -o "$TMP/b" -D "$TMP/h" -w '%{http_code}' "$@" "$url")
  RC=$?
}
header() { tr -d '\r' <"$TMP/h" | awk -v n="$1" 'BEGIN{IGNORECASE=1} index(tolower($0), tolower(n) ": ")==1 {sub(/^[^:]*: ?/, ""); v=$0} END{print v}'; }
# jget EXPR: evaluates a Python expression over the JSON body bound to j.
jget() { python3 -c "import json,sys; j=json.load(open('$TMP/b')); print($1)"; }

"$PKI_TOOL" "$TMP/pki" >/dev/null || { echo "svc-test-pki failed" >&2; exit 1; }
"$BACKEND" --write-self-signed "$TMP/pki" >/dev/null || { echo "--write-self-signed failed" >&2; exit 1; }
PKI=$TMP/pki

echo "== plain HTTP"
start plain --name b1
P=$PORT
BASE=http://127.0.0.1:$P
expect "LISTENING line is the only stdout" "$(wc -l <"$TMP/plain.out")" 1
get "$BASE/x?y=1"
expect "GET /x status" "$CODE" 200
expect "X-Backend" "$(header X-Backend)" b1
expect "X-Connection" "$(header X-Connection)" 1
expect "X-Request" "$(header X-Request)" 1
expect "X-TLS-Resumed plain" "$(header X-TLS-Resumed)" 0
expect "JSON backend/connection/request" "$(jget '[j["backend"], j["connection"], j["request"]]')" "['b1', 1, 1]"
expect "JSON method/target" "$(jget '[j["method"], j["target"], j["http_version"]]')" "['GET', '/x?y=1', '1.1']"
expect "JSON headers.host" "$(jget 'j["headers"]["host"]')" "127.0.0.1:$P"
expect "JSON tls facts empty" "$(jget '[j["sni"], j["client_subject"], j["resumed"], j["tls_version"]]')" "['', '', False, '']"

out=$(curl -s -D - -o /dev/null "$BASE/a" "$BASE/b" | tr -d '\r' | grep -E '^X-(Connection|Request):' | tr '\n' ' ')
expect "keep-alive reuses the connection" "$out" "X-Connection: 2 X-Request: 1 X-Connection: 2 X-Request: 2 "

get "$BASE/status/503"
expect "/status/503" "$CODE" 503
get "$BASE/status/42"
expect "/status/42 is rejected" "$CODE:$(cat "$TMP/b")" "400:/status/42: expected 200..599"
get "$BASE/delay/100/status/418"
expect "/delay/100/status/418 composes" "$CODE" 418
start0=$(date +%s%N)
get "$BASE/delay/300"
elapsed=$((($(date +%s%N) - start0) / 1000000))
if ((CODE == 200 && elapsed >= 300)); then ok "/delay/300 waits (${elapsed} ms)"; else bad "/delay/300" "code $CODE after $elapsed ms"; fi

get "$BASE/close"
expect "/close: reset, no response (curl 56)" "$RC" 56
get "$BASE/close-after-headers"
expect "/close-after-headers: headers then EOF (curl 18)" "$CODE:$RC" "200:18"
get "$BASE/chunked"
expect "/chunked: Transfer-Encoding" "$(header Transfer-Encoding)" chunked
expect "/chunked: body is the JSON info" "$(jget 'j["target"]')" /chunked
chunks=$(curl -s --raw "$BASE/bytes/30/chunked" | tr -d '\r' | grep -cE '^[0-9a-f]+$')
expect "/bytes/30/chunked: 3 chunks + last" "$chunks" 4
get "$BASE/bytes/100000"
expect "/bytes/100000 size" "$(wc -c <"$TMP/b")" 100000
expect "/bytes pattern" "$(head -c 28 "$TMP/b")" abcdefghijklmnopqrstuvwxyzab
head -c 3000000 /dev/urandom >"$TMP/upload"
get "$BASE/echo" --data-binary @"$TMP/upload" -H 'Content-Type: application/x-test'
if cmp -s "$TMP/upload" "$TMP/b"; then ok "/echo 3 MB (curl sends Expect: 100-continue)"; else bad "/echo 3 MB"; fi
expect "/echo content type" "$(header Content-Type)" application/x-test
exec 3<>"/dev/tcp/127.0.0.1/$P"
printf 'HEAD /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
timeout 2 cat <&3 >"$TMP/head"
exec 3<&-
expect "HEAD: no body after the headers" "$(tail -c 4 "$TMP/head" | od -An -c | tr -d ' ')" '\r\n\r\n'
len=$(tr -d '\r' <"$TMP/head" | awk -F': ' 'tolower($1)=="content-length"{print $2}')
[[ ${len:-0} -gt 0 ]] && ok "HEAD keeps the GET Content-Length ($len)" || bad "HEAD Content-Length"
get "$BASE/x" -0
expect "HTTP/1.0 answer" "$(head -1 "$TMP/h" | tr -d '\r')" "HTTP/1.0 200 OK"
expect "HTTP/1.0 JSON version" "$(jget 'j["http_version"]')" 1.0
get "$BASE/x" -H 'Connection: close'
expect "Connection: close honoured" "$(header Connection)" close
get "$BASE/x" -H 'X-Dup: a' -H 'X-Dup: b'
expect "repeated request headers joined" "$(jget 'j["headers"]["x-dup"]')" "a, b"

exec 3<>"/dev/tcp/127.0.0.1/$P"
printf 'NOT HTTP\r\n\r\n' >&3
first=$(timeout 2 head -1 <&3 | tr -d '\r')
exec 3<&-
expect "malformed request gets 400" "$first" "HTTP/1.1 400 Bad Request"
get "$BASE/x" -H "X-Big: $(head -c 70000 /dev/zero | tr '\0' a)"
expect "oversized header gets 413" "$CODE" 413

echo "== admin overrides"
get "$BASE/_admin/status/500"
expect "/_admin/status/500 answers 200" "$CODE:$(jget 'j["admin"]["status"]')" "200:500"
get "$BASE/x"
expect "then /x gets 500" "$CODE" 500
get "$BASE/status/201"
expect "admin status beats /status/201" "$CODE" 500
get "$BASE/_admin/status/0"
get "$BASE/x"
expect "/_admin/status/0 resets" "$CODE" 200
get "$BASE/_admin/delay/300"
start0=$(date +%s%N)
get "$BASE/x"
elapsed=$((($(date +%s%N) - start0) / 1000000))
if ((elapsed >= 300)); then ok "/_admin/delay/300 delays /x (${elapsed} ms)"; else bad "/_admin/delay" "$elapsed ms"; fi
get "$BASE/_admin/reset"
get "$BASE/_admin/close/1"
get "$BASE/x"
if [[ $RC == 52 || $RC == 56 ]]; then ok "/_admin/close/1 closes new connections (curl $RC)"; else bad "/_admin/close/1" "curl $RC code $CODE"; fi
get "$BASE/_admin/close/2"  # refused too: every new connection is closed
kill -USR1 "$PID"
sleep 0.2
get "$BASE/x"
expect "SIGUSR1 resets the overrides" "$CODE" 200
get "$BASE/_admin/bogus"
expect "unknown admin path is 400" "$CODE" 400
get "$BASE/_admin/info"
expect "/_admin/info" "$(jget 'j["backend"]')" b1

echo "== concurrency and idle timeout"
start fast --name b2 --idle-timeout-ms 200 --body hello --status 202
start0=$(date +%s%N)
curls=()
for _ in 1 2 3 4 5 6; do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/delay/500" &
  curls+=($!)
done
wait "${curls[@]}"
elapsed=$((($(date +%s%N) - start0) / 1000000))
if ((elapsed < 1400)); then ok "6 parallel /delay/500 served concurrently (${elapsed} ms)"; else bad "concurrency" "$elapsed ms"; fi
get "http://127.0.0.1:$PORT/x"
expect "--status/--body defaults" "$CODE:$(cat "$TMP/b"):$(header Content-Type)" "202:hello:text/plain"
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
start0=$(date +%s%N)
timeout 2 cat <&3 >/dev/null 2>&1
rc=$?
elapsed=$((($(date +%s%N) - start0) / 1000000))
exec 3<&-
if ((rc == 0 && elapsed < 1000)); then ok "idle connection closed by the server (${elapsed} ms)"; else bad "idle timeout" "rc $rc after $elapsed ms"; fi

echo "== TLS"
start tls --name t1 --tls "$PKI/server-chain.pem,$PKI/server.key"
T=$PORT
get "https://localhost:$T/x" --cacert "$PKI/ca.pem"
expect "TLS GET" "$CODE" 200
expect "X-SNI" "$(header X-SNI)" localhost
expect "X-TLS-Version" "$(header X-TLS-Version)" TLSv1.3
expect "JSON tls facts" "$(jget '[j["sni"], j["tls_version"], j["resumed"]]')" "['localhost', 'TLSv1.3', False]"
get "https://127.0.0.1:$T/x" --cacert "$PKI/ca.pem"
expect "no SNI for an IP address" "$CODE:$(header X-SNI)" "200:"
get "https://localhost:$T/x" --cacert "$PKI/other-ca.pem"
expect "untrusted CA rejected (curl 60)" "$RC" 60

# resumed TLS: the second s_client offers the first one's session
request=$'GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
s_client() {
  printf '%s' "$request" | timeout 5 openssl s_client -connect "127.0.0.1:$1" -servername localhost \
    -CAfile "$PKI/ca.pem" -ign_eof "${@:2}" 2>/dev/null
}
s_client "$T" -sess_out "$TMP/sess" >/dev/null
out=$(s_client "$T" -sess_in "$TMP/sess")
expect "s_client reports reuse" "$(grep -c '^Reused' <<<"$out")" 1
expect "X-TLS-Resumed: 1" "$(tr -d '\r' <<<"$out" | grep '^X-TLS-Resumed:')" "X-TLS-Resumed: 1"

start tls12 --name t2 --tls "$PKI/server-chain.pem,$PKI/server.key" --tls-max 1.2
s_client "$PORT" -sess_out "$TMP/sess12" >"$TMP/o"
expect "--tls-max 1.2" "$(tr -d '\r' <"$TMP/o" | grep '^X-TLS-Version:')" "X-TLS-Version: TLSv1.2"
out=$(s_client "$PORT" -sess_in "$TMP/sess12")
expect "TLS 1.2 resumption" "$(tr -d '\r' <<<"$out" | grep '^X-TLS-Resumed:')" "X-TLS-Resumed: 1"

# Without tickets and cache the server issues nothing resumable: no TLS 1.3
# ticket, an empty TLS 1.2 session id; s_client then saves no session.
start notickets --name t3 --tls "$PKI/server-chain.pem,$PKI/server.key" --session-tickets off
s_client "$PORT" -sess_out "$TMP/sess3" >/dev/null
expect "--session-tickets off, TLS 1.3: no session issued" "$([[ -s $TMP/sess3 ]] && echo yes || echo no)" no
start notickets12 --tls "$PKI/server-chain.pem,$PKI/server.key" --session-tickets off --tls-max 1.2
out=$(s_client "$PORT" -sess_out "$TMP/sess4")
expect "--session-tickets off, TLS 1.2: empty session id" "$(tr -d '\r' <<<"$out" | grep -c 'Session-ID: *$')" 1
expect "--session-tickets off, TLS 1.2: no session issued" "$([[ -s $TMP/sess4 ]] && echo yes || echo no)" no

start selfsigned --tls "$PKI/self-signed.pem,$PKI/self-signed.key"
get "https://localhost:$PORT/x" --cacert "$PKI/ca.pem"
expect "self-signed rejected against ca.pem (curl 60)" "$RC" 60
get "https://localhost:$PORT/x" --cacert "$PKI/self-signed.pem"
expect "self-signed accepted when trusted itself" "$CODE" 200

echo "== mTLS"
start mtls --name m1 --tls "$PKI/server-chain.pem,$PKI/server.key" --client-ca "$PKI/ca.pem"
get "https://localhost:$PORT/x" --cacert "$PKI/ca.pem" --cert "$PKI/client.pem" --key "$PKI/client.key"
expect "mTLS with client cert" "$CODE" 200
expect "X-Client-Subject" "$(header X-Client-Subject)" "/O=svc test/CN=svc test client"
expect "JSON client_subject" "$(jget 'j["client_subject"]')" "/O=svc test/CN=svc test client"
get "https://localhost:$PORT/x" --cacert "$PKI/ca.pem" --cert "$PKI/client.pem" \
  --key "$PKI/client-encrypted.key" --pass s3cret
expect "mTLS with the encrypted key" "$CODE" 200
get "https://localhost:$PORT/x" --cacert "$PKI/ca.pem"
if [[ $CODE == 000 && $RC != 0 ]]; then ok "mTLS without client cert fails (curl $RC)"; else bad "mTLS without cert" "code $CODE rc $RC"; fi
out=$(printf '%s' "$request" | timeout 5 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
  -CAfile "$PKI/ca.pem" -ign_eof 2>&1)
if grep -qiE 'certificate required|alert' <<<"$out"; then ok "s_client without cert gets an alert"; else bad "s_client alert" "$(tail -3 <<<"$out")"; fi

echo "== raw echo"
start raw --raw
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'hello raw' >&3
read -r -t 2 -N 9 echoed <&3
exec 3<&-
expect "raw TCP echo" "${echoed:-}" "hello raw"
start rawtls --raw --tls "$PKI/server-chain.pem,$PKI/server.key"
out=$(printf 'hello tls\n' | timeout 5 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost \
  -CAfile "$PKI/ca.pem" -quiet -ign_eof 2>/dev/null)
expect "raw TLS echo" "$out" "hello tls"

echo "== accept modes, IPv6, lifecycle"
start off --accept off
curl -s -o /dev/null --connect-timeout 1 "http://127.0.0.1:$PORT/x"
expect "--accept off: connect times out (curl 28)" "$?" 28
start hold --accept hold
curl -s -o /dev/null --connect-timeout 1 -m 1 "http://127.0.0.1:$PORT/x"
expect "--accept hold: connected, no answer (curl 28)" "$?" 28
if start6=$(ip -6 addr show lo 2>/dev/null | grep -c '::1'); [[ $start6 -gt 0 ]]; then
  start v6 --listen '[::1]:0' --name v6
  get "http://[::1]:$PORT/x"
  expect "IPv6 [::1]" "$CODE:$(header X-Backend)" "200:v6"
else
  echo "skip IPv6 (no ::1)"
fi

start term
kill -TERM "$PID"
wait "$PID"
expect "SIGTERM exits 0" "$?" 0

(sleep 0.5) | "$BACKEND" --exit-on-stdin-eof >"$TMP/stdin.out" &
stdin_pid=$!
PIDS+=("$stdin_pid")
sleep 1.5
if kill -0 "$stdin_pid" 2>/dev/null; then bad "--exit-on-stdin-eof"; else ok "--exit-on-stdin-eof exits when stdin closes"; fi

sleep 0.5 &
parent=$!
"$BACKEND" --parent-pid "$parent" >"$TMP/parent.out" &
child=$!
PIDS+=("$child")
wait "$parent"
sleep 1
if kill -0 "$child" 2>/dev/null; then bad "--parent-pid"; else ok "--parent-pid exits when the parent is gone"; fi

"$BACKEND" --status 42 2>"$TMP/usage.err"
expect "bad option exits 2" "$?:$(cat "$TMP/usage.err")" "2:svc-test-backend: --status '42': expected a status from 200 to 599"

echo
echo "passed $PASS, failed $FAIL"
((FAIL == 0))
