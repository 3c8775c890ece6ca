#!/usr/bin/env python3
"""Writes the seed programs of fuzz_setters into corpus/setters/.

Each program is a readable list of C API calls, encoded in the byte format
that fuzz_setters.cpp interprets (see the comment at its top). The opcode
list below must follow the order of `enum class Op` there. Run it again
after changing a program; the output is deterministic.
"""
import os
import struct

OPS = [
    "request_new", "request_free", "set_phase", "set_upstream", "set_target", "set_tls_cert_key",
    "set_tls_verify", "set_tls_verify_depth", "set_tls_verify_store", "set_retries", "set_timeouts",
    "set_hash_key", "set_scheme", "set_hash_input", "pick", "report", "getters", "chain_parse",
    "key_parse", "store_new", "store_add", "store_load", "upsert", "upstream_delete", "target_add",
    "target_delete", "target_set_health", "upstream_health", "upstream_get", "load_config",
    "engine_free", "on_health", "on_log", "on_balancer", "error_new",
]

REWRITE, ACCESS = 1, 2
OK, HTTP, TCP_FAILURE, TIMEOUT = 0, 1, 2, 3
CONSUMER, IP, HEADER, COOKIE = 1, 2, 3, 4
# PEM files by index (fuzz_setters.cpp, PemChoice)
CHAIN, LEAF, RSA_CERT, ED_CERT, BUNDLE = 0, 1, 2, 3, 4
KEY, KEY_PKCS8_ENCRYPTED, KEY_EC_ENCRYPTED, RSA_KEY, ED_KEY = 0, 1, 2, 3, 4
PEM_FILE, PEM_PREFIX, PEM_BYTES = 0, 1, 2


def op(name):
    return bytes([OPS.index(name)])


def u8(v):
    return bytes([v & 0xFF])


def i32(v):
    return b"\x80" + struct.pack("<i", v)


def s(text):
    if text is None:
        return b"\xfe"
    raw = text.encode() if isinstance(text, str) else text
    return b"\x80" + u8(len(raw)) + raw


def data(raw):
    return u8(len(raw)) + raw


def pem_file(index):
    return u8(PEM_FILE) + u8(index)


def pem_prefix(index, eighths):
    return u8(PEM_PREFIX) + u8(index) + u8(eighths)


def call(name, *operands):
    # A bare None operand is a NULL string.
    return op(name) + b"".join(s(None) if o is None else o for o in operands)


PROGRAMS = {
    # Round-robin: three tries with three outcomes.
    "round-robin-tries": [
        call("set_upstream", s("rr")),
        call("set_retries", i32(3)),
        call("set_timeouts", i32(100), i32(200), i32(300)),
        call("pick"), call("report", i32(HTTP), i32(200), i32(1500)),
        call("pick"), call("report", i32(TCP_FAILURE), i32(0), i32(0)),
        call("pick"), call("report", i32(TIMEOUT), i32(0), i32(0)),
        call("getters"),
        call("pick"),
    ],
    # Consistent hashing: the header it hashes on, then an explicit key.
    "consistent-hashing": [
        call("set_upstream", s("ch")),
        call("set_hash_input", i32(HEADER), s("X-User"), s("alice")),
        call("set_hash_input", i32(HEADER), s("x-user"), s("-2")),
        call("set_hash_input", i32(IP), None, s("10.0.0.7")),
        call("pick"), call("report", i32(OK), i32(0), i32(10)),
        call("request_new"),
        call("set_upstream", s("ch")),
        call("set_hash_key", u8(2), data(b"user\x00with\xffbytes")),
        call("pick"), call("getters"),
    ],
    # Explicit target over TLS with a client certificate and a trust store.
    "target-tls-policy": [
        call("chain_parse", u8(0), u8(0), pem_file(CHAIN)),
        call("key_parse", u8(0), s(None), pem_file(KEY)),
        call("key_parse", u8(1), s("svc-fuzz"), pem_file(KEY_PKCS8_ENCRYPTED)),
        call("store_new", u8(0)),
        call("store_add", u8(0), pem_file(BUNDLE)),
        call("set_phase", i32(REWRITE)),
        call("set_tls_cert_key", u8(0 | (0 << 2))),
        call("set_phase", i32(ACCESS)),
        call("set_target", s("127.0.0.1"), i32(8443)),
        call("set_scheme", s("https")),
        call("set_tls_verify", i32(1)),
        call("set_tls_verify_depth", i32(2)),
        call("set_tls_verify_store", u8(0)),
        call("store_add", u8(0), pem_file(LEAF)),
        call("pick"),
        call("set_tls_cert_key", u8(0 | (1 << 2))),
        call("report", i32(OK), i32(0), i32(2000)),
    ],
    # Mismatched and broken TLS material.
    "tls-material-errors": [
        call("chain_parse", u8(0), u8(0), pem_file(RSA_CERT)),
        call("key_parse", u8(0), s(None), pem_file(ED_KEY)),
        call("set_tls_cert_key", u8(0)),
        call("key_parse", u8(1), s("wrong"), pem_file(KEY_EC_ENCRYPTED)),
        call("key_parse", u8(1), s(None), pem_file(KEY_PKCS8_ENCRYPTED)),
        call("chain_parse", u8(1), u8(0), pem_prefix(CHAIN, 40)),
        call("chain_parse", u8(1), u8(0xFE), pem_file(CHAIN)),
        call("store_add", u8(1), pem_file(BUNDLE)),
        call("store_new", u8(1)),
        call("store_load", u8(1), u8(1)),
        call("store_load", u8(1), u8(0)),
        call("set_tls_cert_key", u8(2 | (3 << 2))),
        call("set_tls_verify_depth", i32(-1)),
        call("set_tls_verify_store", u8(2)),
    ],
    # Passive health on least-connections, events, manual health, the report.
    "least-connections-health": [
        call("on_health", u8(1)),
        call("on_log", u8(1)),
        call("set_upstream", s("lc")),
        call("pick"), call("report", i32(TCP_FAILURE), i32(0), i32(0)),
        call("pick"), call("report", i32(HTTP), i32(503), i32(100)),
        call("pick"),
        call("upstream_health", s("lc")),
        call("target_set_health", s("lc"), s("127.0.0.1:6"), None, i32(1)),
        call("target_set_health", s("lc"), s("localhost:7"), s("127.0.0.1:7"), i32(0)),
        call("upstream_health", s("lc")),
        call("on_health", u8(0)),
    ],
    # Upstream and target administration while a request holds the upstream.
    "admin-calls": [
        call("set_upstream", s("lat")),
        call("upsert", u8(0), s("lat"), u8(1 | 8), u8(1), i32(200)),
        call("upsert", u8(0), s("new"), u8(2 | 4), u8(1)),
        call("target_add", s("new"), s("127.0.0.1:20"), i32(10)),
        call("target_add", s("new"), s("127.0.0.1:20"), i32(10)),
        call("target_add", s("new"), s("[::1]:21"), i32(0)),
        call("upstream_get", s("new")),
        call("target_delete", s("lat"), s("127.0.0.1:9")),
        call("pick"), call("report", i32(OK), i32(0), i32(300)),
        call("upstream_delete", s("lat")),
        call("pick"),
        call("upsert", u8(1), data(b'{"name": "raw", "slots": 10}')),
        call("load_config", u8(0)),
        call("upstream_get", s("new")),
        call("load_config", u8(1), data(b'{"_format_version": "3.0", "upstreams": [{"name": "rr"}]}')),
        call("load_config", u8(2)),
    ],
    # Phase rules: setters outside their phases.
    "phases": [
        call("set_phase", i32(REWRITE)),
        call("set_upstream", s("rr")),
        call("set_hash_input", i32(CONSUMER), None, s("bob")),
        call("set_phase", i32(ACCESS)),
        call("set_upstream", s("rr")),
        call("set_phase", i32(7)),
        call("pick"),
        call("set_retries", i32(1)),
        call("set_phase", i32(ACCESS)),
        call("set_scheme", s("tls")),
        call("report", i32(9), i32(0), i32(0)),
        call("report", i32(HTTP), i32(42), i32(0)),
        call("report", i32(HTTP), i32(0), i32(0)),
        call("report", i32(OK), i32(0), i32(0)),
    ],
    # The engine goes away under a live request.
    "engine-freed": [
        call("set_upstream", s("rr")),
        call("set_tls_verify", i32(0)),
        call("engine_free"),
        call("pick"),
        call("set_target", s("localhost"), i32(80)),
        call("pick"),
        call("upstream_health", s("rr")),
        call("request_new"),
        call("request_free"),
        call("set_retries", i32(2)),
    ],
    # Bad arguments: NULLs, ranges, error objects.
    "bad-arguments": [
        call("set_target", s(None), i32(80)),
        call("set_target", s("127.0.0.1"), i32(70000)),
        call("set_target", s("::1"), i32(-1)),
        call("set_retries", i32(32768)),
        call("set_timeouts", i32(0), i32(1), i32(1)),
        call("set_timeouts", i32(1), i32(2147483647), i32(1)),
        call("set_hash_key", u8(1), data(b"")),
        call("set_scheme", s("udp")),
        call("set_hash_input", i32(HEADER), None, s("v")),
        call("set_hash_input", i32(99), None, None),
        call("set_upstream", s("missing")),
        call("pick"),
        call("target_add", s("rr"), s("[::1"), i32(100)),
        call("target_add", s("missing"), s("127.0.0.1"), i32(100)),
        call("target_add", s("rr"), s("127.0.0.1:30"), i32(65536)),
        call("target_set_health", s("rr"), s("127.0.0.1:1"), None, i32(0)),
        call("error_new", i32(5), s("from a callback")),
        call("error_new", i32(0), s(None)),
        call("error_new", i32(1000), s("x")),
        call("on_balancer", u8(1)),
        call("request_free"),
        call("set_upstream", s("rr")),
        call("getters"),
    ],
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "setters")
    os.makedirs(out, exist_ok=True)
    for name, steps in PROGRAMS.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(b"".join(steps))


if __name__ == "__main__":
    main()
