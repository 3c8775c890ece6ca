/*
 * svc.h: the stable C ABI of svc, an embeddable upstream-connection engine
 * with the semantics of Kong Gateway's kong.service module and balancer.
 *
 * A caller names an upstream (a load-balanced, health-checked group of
 * targets) with svc_set_upstream, or one explicit peer with svc_set_target,
 * sets the upstream TLS policy, and asks svc for the peer. Outcomes reported
 * back teach svc which peers are healthy.
 *
 * Threading: an engine and TLS material (chains, keys, trust stores) are
 * thread-safe; a request is used by one thread at a time.
 *
 * Errors: every fallible function returns an svc_error *: NULL on success,
 * otherwise an error the caller owns and frees with svc_error_free. There is
 * no thread-local error state.
 *
 * Memory: what the library allocates goes back through the library
 * (svc_free, svc_error_free, the *_free functions), never plain free().
 * Every *_free function accepts NULL.
 *
 * Plain C99; compiles as C and C++.
 */
#ifndef SVC_H
#define SVC_H

#include <stddef.h>
#include <stdint.h>

#include "svc/svc_export.h"
#include "svc/svc_version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ===== Version ========================================================== */

/* The library's version as "MAJOR.MINOR.PATCH" (static text). Compare with
 * SVC_VERSION_STRING to detect a header/library mismatch. */
SVC_API const char *svc_version(void);

/* ===== Errors =========================================================== */

/* Error codes. Append-only: values are never renumbered. */
typedef enum svc_code {
  SVC_OK = 0,     /* success (never carried by an svc_error) */
  SVC_EINVAL,     /* a bad argument: NULL, empty, out of range, malformed */
  SVC_EPHASE,     /* the function is not allowed in the request's phase */
  SVC_ENOTFOUND,  /* no such upstream or target */
  SVC_EEXIST,     /* the target already exists in the upstream */
  SVC_ECONFIG,    /* an entity or declarative document failed validation */
  SVC_ENOPEER,    /* the balancer has no available peer */
  SVC_EDNS,       /* name resolution failed */
  SVC_ECONNECT,   /* connecting to the peer failed */
  SVC_ETIMEOUT,   /* a timeout expired */
  SVC_ETLS,       /* TLS handshake or verification failed */
  SVC_EPROTO,     /* the peer broke the protocol */
  SVC_ECLOSED,    /* the object was closed */
  SVC_ENOMEM,     /* out of memory */
  SVC_EINTERNAL,  /* a bug in svc; the message says where */
  SVC_ECANCELED   /* the operation was cancelled (svc_request_cancel, svc_conn_cancel) */
} svc_code;

/* An error: a code and a message. Owned by whoever received it. */
typedef struct svc_error svc_error;

/* The error's code. e must not be NULL. */
SVC_API svc_code svc_error_code(const svc_error *e);

/* The error's message, e.g. "port must be an integer between 0 and 65535:
 * given 70000". Borrowed: valid until svc_error_free(e). e must not be NULL. */
SVC_API const char *svc_error_message(const svc_error *e);

/* Creates an error, for callbacks that return one (svc_balancer_cb).
 * message is copied (NULL means ""); a code outside the enum or SVC_OK
 * becomes SVC_EINVAL. Never returns NULL: when memory is exhausted it
 * returns a shared SVC_ENOMEM error (svc_error_free accepts it). */
SVC_API svc_error *svc_error_new(svc_code code, const char *message);

/* Frees an error. NULL is accepted. */
SVC_API void svc_error_free(svc_error *e);

/* The code's name, e.g. "SVC_EINVAL" (static text); "SVC_UNKNOWN" for a
 * value outside the enum. */
SVC_API const char *svc_code_name(svc_code c);

/* Frees memory the library returned through a char ** out-parameter
 * (for example svc_upstream_health's JSON). NULL is accepted. */
SVC_API void svc_free(void *p);

/* ===== Engine =========================================================== */

/* The engine: owns the upstreams, their balancers and health state, and the
 * threads that deliver health and log events. Thread-safe. */
typedef struct svc_engine svc_engine;

/* Request phases, after Kong's. A request starts in SVC_PHASE_ACCESS. */
typedef enum svc_phase {
  SVC_PHASE_REWRITE = 1,
  SVC_PHASE_ACCESS,
  SVC_PHASE_BALANCER,
  SVC_PHASE_LOG
} svc_phase;

/* What happened on one try, for svc_request_report. */
typedef enum svc_outcome {
  SVC_OUTCOME_OK = 0,       /* the try worked; no HTTP status to classify */
  SVC_OUTCOME_HTTP,         /* a response came back; http_status is classified by the health lists */
  SVC_OUTCOME_TCP_FAILURE,  /* connect refused/reset, TLS handshake failed */
  SVC_OUTCOME_TIMEOUT       /* the try timed out */
} svc_outcome;

/* Health event: an address of a target became healthy (1) or unhealthy (0).
 * upstream, target and address ("ip:port") are borrowed for the call. */
typedef void (*svc_health_cb)(void *userdata, const char *upstream, const char *target,
                              const char *address, int healthy);

/* Log event. level: 0 debug, 1 info, 2 warning, 3 error. message is borrowed
 * for the call. */
typedef void (*svc_log_cb)(void *userdata, int level, const char *message);

/* Creates an engine.
 *   out           receives the engine; set to NULL on error. Free with svc_engine_free.
 *   options_json  engine options as a JSON object, or NULL/"" for the defaults.
 *                 Every key is optional; an unknown key or a value of the wrong
 *                 type or range is SVC_EINVAL naming the key. Keys and defaults:
 *                 {"io_threads": 1, "scheme": "http", "retries": 5,
 *                  "timeouts": {"connect": 60000, "write": 60000, "read": 60000},
 *                  "tls": {"verify": true, "trust": "system", "ca_file": "<PEM path>",
 *                          "min_version": "1.2"},
 *                  (ca_file: CAs trusted besides `trust`, for requests without a
 *                  store and for active https probes)
 *                  "keepalive": {"pool_size": 60, "max_requests": 100, "idle_timeout": 60},
 *                  (Kong's defaults: idle connections kept per peer and policy, uses of one
 *                  connection before it is closed, 0 = unlimited, and idle seconds; with
 *                  TLS, raising max_requests saves a handshake every 100 requests)
 *                  "dns": {"servers": [...], "order": ["LAST","SRV","A","CNAME"],
 *                          "stale_ttl": 4, "not_found_ttl": 30, "error_ttl": 1},
 *                  (servers: "ip[:port]" strings; without them $SVC_DNS_SERVERS
 *                  ("ip[:port],...") or /etc/resolv.conf; the hosts file answers first.
 *                  A server that is not an address is SVC_EINVAL
 *                  "options.dns.servers: '<s>' is not an IP address with an optional port")
 *                  "limits": {"max_header_bytes": 65536, "max_body_bytes": 67108864},
 *                  "read_spin_us": 100,
 *                  (0..10000: a read waiting for a reply polls without sleeping for up to
 *                  this long before it sleeps, on a connection whose replies have been
 *                  arriving within that time; it stops after 4 misses in a row and
 *                  tries again every 32nd wait. Saves the thread's wake-up (tens of
 *                  microseconds on a virtual machine) for nearby, fast peers; 0 never spins)
 *                  "seed": 0}
 * Returns NULL on success. */
SVC_API svc_error *svc_engine_new(svc_engine **out, const char *options_json);

/* Frees the engine: stops its active probes and DNS refreshes, delivers
 * pending events, stops and joins its threads,
 * after which no callback runs, and closes idle pooled connections.
 * Requests and connections still alive stay valid: setters that need only
 * the request still work, while picks, connects and upstream lookups return
 * SVC_ECLOSED. NULL is accepted. */
SVC_API void svc_engine_free(svc_engine *e);

/* Loads a Kong declarative document (YAML or JSON, `_format_version` and
 * `upstreams:` with nested `targets:`) and replaces all upstreams with it,
 * atomically: on any error nothing changes and the error (SVC_ECONFIG) names
 * the upstream, the field and the reason. Health state of addresses that stay
 * is kept. A document without `upstreams:` removes every upstream.
 * `certificates:` entries ({id, cert, key} in PEM) are what an upstream's
 * `client_certificate` names; active https probes present it. Hostname
 * targets are resolved before this returns (a name that does not resolve
 * is not an error: its target shows DNS_ERROR and is asked again later);
 * upstreams with active health checks start probing one interval later.
 *   text, len  the document; text must not be NULL. An empty text (len 0)
 *              is SVC_ECONFIG "declarative config is empty".
 * Thread-safe. */
SVC_API svc_error *svc_engine_load_config(svc_engine *e, const char *text, size_t len);

/* Creates or replaces an upstream from a Kong Upstream entity in JSON
 * (Kong's field names, defaults and validation; `name` is required). An
 * existing upstream with that name keeps its targets and their health.
 * Errors: SVC_EINVAL for NULL or non-JSON input, SVC_ECONFIG for a schema
 * violation (message names the field). Thread-safe. */
SVC_API svc_error *svc_upstream_upsert(svc_engine *e, const char *upstream_json);

/* Deletes an upstream and its targets. Requests that already hold it keep
 * their peers. SVC_ENOTFOUND "could not find an Upstream named '<name>'". */
SVC_API svc_error *svc_upstream_delete(svc_engine *e, const char *name);

/* Returns the upstream entity as JSON (Kong's Admin API shape, every field),
 * with its targets under "targets".
 *   out_json  receives a NUL-terminated string; free with svc_free. */
SVC_API svc_error *svc_upstream_get(svc_engine *e, const char *name, char **out_json);

/* Adds a target ("host", "host:port", "ip", "ip:port", "[v6]:port"; default
 * port 8000) with a weight in 0..65535 (weight 0 is kept but never picked).
 * Errors: SVC_ENOTFOUND unknown upstream, SVC_ECONFIG bad target or weight,
 * SVC_EEXIST when the normalised target is already there. */
SVC_API svc_error *svc_target_add(svc_engine *e, const char *upstream, const char *target,
                                  int weight);

/* Deletes a target (matched after normalisation). SVC_ENOTFOUND for an
 * unknown upstream or target. Health state is kept in case it comes back. */
SVC_API svc_error *svc_target_delete(svc_engine *e, const char *upstream, const char *target);

/* Forces the health of a target's addresses, like Kong's
 * PUT /upstreams/{u}/targets/{t}[/{address}]/healthy|unhealthy: counters are
 * reset, the state is set, the balancer changes at once and an event fires
 * when the state changed.
 *   address  "ip:port" (a missing port means 8000), or NULL for every address.
 *   healthy  non-zero for healthy.
 * Errors: SVC_ENOTFOUND for an unknown upstream, target or address;
 * SVC_EINVAL "no healthchecker found for <name>" when health checks are off. */
SVC_API svc_error *svc_target_set_health(svc_engine *e, const char *upstream, const char *target,
                                         const char *address, int healthy);

/* Reports health like Kong's GET /upstreams/{u}/health with balancer details:
 *   {"id": ..., "name": ..., "health": "HEALTHY"|"UNHEALTHY"|"HEALTHCHECKS_OFF",
 *    "weight": {"total": n, "available": n, "unavailable": n},
 *    "data": [{"target": "h:p", "weight": w, "health": "HEALTHY"|"UNHEALTHY"|
 *              "HEALTHCHECKS_OFF"|"DNS_ERROR",
 *              "data": {"addresses": [{"ip": ..., "port": n, "health": ..., "weight": w}]}}]}
 *   out_json  receives a NUL-terminated string; free with svc_free. */
SVC_API svc_error *svc_upstream_health(svc_engine *e, const char *upstream, char **out_json);

/* Subscribes to health events (one subscriber; NULL cb unsubscribes). Every
 * transition of an address between healthy and unhealthy fires exactly once,
 * on an engine thread, in order, to the subscriber current at delivery.
 * When this returns, the previous callback is not running and never runs
 * again, so its userdata may be released. The callback must not block or
 * call into the same engine. */
SVC_API svc_error *svc_engine_on_health(svc_engine *e, svc_health_cb cb, void *userdata);

/* Subscribes to log events (one subscriber; NULL cb unsubscribes), delivered
 * on an engine thread. When this returns, the previous callback is not
 * running and never runs again. The callback must not block or call into
 * the same engine. */
SVC_API svc_error *svc_engine_on_log(svc_engine *e, svc_log_cb cb, void *userdata);

/* ===== TLS material ===================================================== */

/* Parsed TLS material, immutable once built and reference-counted inside:
 * a handle may be freed while requests still use the object. Thread-safe. */
typedef struct svc_cert_chain svc_cert_chain;
typedef struct svc_private_key svc_private_key;
typedef struct svc_trust_store svc_trust_store;

/* Parses a PEM certificate chain (leaf first, then intermediates).
 * SVC_EINVAL with the reason ("chain: no certificate found in PEM", ...). */
SVC_API svc_error *svc_cert_chain_parse_pem(svc_cert_chain **out, const char *pem, size_t len);

/* Parses a PEM private key, optionally encrypted.
 *   passphrase  NULL for an unencrypted key.
 * SVC_EINVAL with the reason ("key: bad decrypt", ...). */
SVC_API svc_error *svc_private_key_parse_pem(svc_private_key **out, const char *pem, size_t len,
                                             const char *passphrase);

/* Creates an empty trust store. */
SVC_API svc_error *svc_trust_store_new(svc_trust_store **out);

/* Adds every certificate of a PEM bundle. On error the store is unchanged.
 * A store that a request already uses can no longer change (SVC_EINVAL). */
SVC_API svc_error *svc_trust_store_add_pem(svc_trust_store *s, const char *pem, size_t len);

/* Adds the certificates of a PEM bundle file. */
SVC_API svc_error *svc_trust_store_load_file(svc_trust_store *s, const char *path);

/* Adds the system's trusted certificates (OpenSSL's default paths). */
SVC_API svc_error *svc_trust_store_load_system(svc_trust_store *s);

/* Release the handles. NULL is accepted. */
SVC_API void svc_cert_chain_free(svc_cert_chain *c);
SVC_API void svc_private_key_free(svc_private_key *k);
SVC_API void svc_trust_store_free(svc_trust_store *s);

/* ===== Request ========================================================== */

/* One proxied request: where it goes, its TLS policy, its tries. Used by one
 * thread at a time. It keeps what it needs of the engine alive. */
typedef struct svc_request svc_request;

/* Creates a request in SVC_PHASE_ACCESS with the engine's defaults
 * (retries, timeouts, scheme, TLS verification). */
SVC_API svc_error *svc_request_new(svc_request **out, svc_engine *e);

/* Frees a request. A peer picked and not reported is released (least
 * connections). NULL is accepted. */
SVC_API void svc_request_free(svc_request *r);

/* Moves the request to SVC_PHASE_REWRITE or SVC_PHASE_ACCESS. Only before
 * any try; other phases are entered by svc itself. SVC_EINVAL for another
 * phase, SVC_EPHASE once a try started. */
SVC_API svc_error *svc_request_set_phase(svc_request *r, svc_phase p);

/* The request's phase. */
SVC_API svc_phase svc_request_phase(const svc_request *r);

/* kong.service.set_upstream: route the request through the named upstream.
 * Phase: access. SVC_EINVAL "host must be a string" for NULL or "";
 * SVC_ENOTFOUND "could not find an Upstream named '<host>'". */
SVC_API svc_error *svc_set_upstream(svc_request *r, const char *host);

/* kong.service.set_target: send the request to host:port, bypassing the
 * balancer (host is also the Host header, SNI and verified name).
 * Phase: access. SVC_EINVAL "host must be a string";
 * "port must be an integer between 0 and 65535: given <port>". */
SVC_API svc_error *svc_set_target(svc_request *r, const char *host, int port);

/* kong.service.set_tls_cert_key: the client certificate for this request's
 * upstream handshakes. The key must belong to the chain's leaf
 * (SVC_EINVAL "key does not match the certificate '<subject>'").
 * SVC_EINVAL "chain must not be NULL" / "key must not be NULL".
 * The request keeps its own reference. Phases: rewrite, access, balancer. */
SVC_API svc_error *svc_set_tls_cert_key(svc_request *r, const svc_cert_chain *chain,
                                        const svc_private_key *key);

/* kong.service.set_tls_verify: verification of the upstream certificate on
 * (non-zero) or off. Phases: rewrite, access, balancer. */
SVC_API svc_error *svc_set_tls_verify(svc_request *r, int on);

/* kong.service.set_tls_verify_depth: maximum verification depth.
 * SVC_EINVAL "depth expects a non-negative integer but found <d>".
 * Phases: rewrite, access, balancer. */
SVC_API svc_error *svc_set_tls_verify_depth(svc_request *r, int depth);

/* kong.service.set_tls_verify_store: the trust store that verifies the
 * upstream certificate (replaces the engine default). The store is frozen
 * from now on. SVC_EINVAL "store must not be NULL".
 * Phases: rewrite, access, balancer. */
SVC_API svc_error *svc_set_tls_verify_store(svc_request *r, const svc_trust_store *store);

/* kong.service.set_retries: how many more tries after the first, 0..32767.
 * SVC_EINVAL "retries must be an integer between 0 and 32767: given <n>".
 * Phase: access. */
SVC_API svc_error *svc_set_retries(svc_request *r, int retries);

/* kong.service.set_timeouts, in milliseconds, each 1..2147483646.
 * SVC_EINVAL "<name>_timeout must be an integer between 1 and 2147483646:
 * given <n>" for connect, write, read in that order. Phase: access. */
SVC_API svc_error *svc_set_timeouts(svc_request *r, int connect_ms, int write_ms, int read_ms);

/* Sets the consistent-hashing input directly, overriding the upstream's
 * hash_on/hash_fallback (any bytes, len may be 0). key may be NULL only with
 * len 0. Phase: access. */
SVC_API svc_error *svc_set_hash_key(svc_request *r, const char *key, size_t len);

/* kong.service.request.set_scheme: "http", "https", "tcp" or "tls".
 * SVC_EINVAL "invalid scheme: <s>". Phases: rewrite, access, balancer. */
SVC_API svc_error *svc_request_set_scheme(svc_request *r, const char *scheme);

/* The scheme in force (static text). */
SVC_API const char *svc_request_scheme(const svc_request *r);

/* Request attributes that an upstream's hash_on / hash_fallback read. */
typedef enum svc_hash_on {
  SVC_HASH_CONSUMER = 1,
  SVC_HASH_IP,
  SVC_HASH_HEADER,
  SVC_HASH_COOKIE,
  SVC_HASH_PATH,
  SVC_HASH_QUERY_ARG,
  SVC_HASH_URI_CAPTURE
} svc_hash_on;

/* Records a request attribute for hashing, as Kong would read it.
 *   name   the header, cookie, query argument or URI capture name (required
 *          for those kinds, case-insensitive for headers), NULL otherwise.
 *   value  the value (NULL clears it). Setting a header or query argument
 *          again adds a value: headers concatenate with no separator (Kong
 *          3.2), query arguments are sorted and joined with ",".
 * Phase: rewrite, access. */
SVC_API svc_error *svc_request_set_hash_input(svc_request *r, svc_hash_on kind, const char *name,
                                              const char *value);

/* ----- Pick mode: the caller does its own I/O and reports each try ----- */

/* Picks the peer for the next try and enters SVC_PHASE_BALANCER. A retry
 * never repeats a peer already tried while an untried available one exists;
 * once all were tried, least-connections starts a new round, round-robin and
 * consistent hashing take their next available peer, and latency ends the
 * retries (Kong). Call svc_request_report after each try; a pick with the
 * previous try unreported releases it without a health report.
 * Errors: SVC_EINVAL "no upstream or target set: ..."; SVC_ENOPEER "failure
 * to get a peer from the ring-balancer" (unhealthy upstream, no available
 * peer), or "no more tries: <n> tries made and retries is <r>"; SVC_EDNS
 * "name resolution failed"; SVC_EPHASE in the log phase; SVC_ENOTFOUND when
 * the upstream was deleted and not re-created; SVC_ECLOSED when the engine
 * was freed. */
SVC_API svc_error *svc_request_pick(svc_request *r);

/* The picked peer's IP ("10.0.0.1" or "::1"), or NULL before a pick.
 * Borrowed until the next pick or svc_request_free. */
SVC_API const char *svc_request_peer_ip(const svc_request *r);

/* The picked peer's port, or 0 before a pick. */
SVC_API int svc_request_peer_port(const svc_request *r);

/* The picked peer's host: the Host header, SNI and verified name (the
 * set_target host, the upstream's host_header, or the target's hostname or
 * IP), without port. NULL before a pick. Borrowed like svc_request_peer_ip. */
SVC_API const char *svc_request_peer_host(const svc_request *r);

/* How many tries were picked so far. */
SVC_API int svc_request_tries(const svc_request *r);

/* Reports the outcome of the current try: feeds passive health (Kong's
 * classification: statuses in the healthy list count as successes, in the
 * unhealthy list or 0 as HTTP failures, others are ignored), least
 * connections (the connection is released) and the latency balancer
 * (latency_us, for OK and HTTP outcomes). One report per pick.
 * SVC_EINVAL "no try to report: call svc_request_pick first" without an
 * unreported pick, or a bad outcome / status (for SVC_OUTCOME_HTTP, 0 for
 * "no valid response" or 100..999). */
SVC_API svc_error *svc_request_report(svc_request *r, svc_outcome o, int http_status,
                                      uint32_t latency_us);

/* ----- Connect mode: svc opens the connection ------------------------- */

/* Called in the balancer phase on each try of svc_request_connect (and of
 * send mode), after the try's peer was picked and before connecting to it:
 * it may read the peer (svc_request_peer_ip/port/host, svc_request_tries)
 * and call the TLS setters to change the policy of that try. Returning
 * non-NULL (see svc_error_new) aborts the connect with that error's code and
 * "balancer callback failed on try <n>: <message>"; svc frees it. */
typedef svc_error *(*svc_balancer_cb)(void *userdata, svc_request *r);

/* Sets (or with NULL clears) the request's balancer callback. It runs on the
 * thread that called svc_request_connect. */
SVC_API svc_error *svc_request_on_balancer(svc_request *r, svc_balancer_cb cb, void *userdata);

/* One upstream connection handed to the caller. Used by one thread at a
 * time, except svc_conn_cancel and svc_conn_wait_readable. */
typedef struct svc_conn svc_conn;

/* Picks a peer, connects within the connect timeout and, when the scheme is
 * "https" or "tls", performs the TLS handshake under the request's policy:
 * SNI and the verified name are the peer's host (no SNI for IP literals,
 * whose IP SANs are checked; a trailing dot is stripped), TLS >= 1.2,
 * verification on unless turned off. An idle pooled connection to the same
 * peer under the same whole TLS policy is reused when there is one; TLS
 * sessions are resumed on new connections to the same peer and policy.
 * A failed try (refused, reset, timeout, handshake or verification failure)
 * is reported to passive health and retried on another peer, up to the
 * request's retries.
 *   out  receives the connection; release it with svc_conn_release.
 * The request enters SVC_PHASE_LOG. Errors: the last try's code
 * (SVC_ECONNECT, SVC_ETIMEOUT, SVC_ETLS, SVC_ENOPEER) with a message that
 * lists every try, e.g. "2 tries failed: try 1 (127.0.0.1:9001): connect to
 * 127.0.0.1:9001 failed: Connection refused; try 2 (...): TLS handshake with
 * ... failed: certificate verify failed: certificate has expired";
 * SVC_ECANCELED after svc_request_cancel; SVC_EPHASE in the log phase. */
SVC_API svc_error *svc_request_connect(svc_request *r, svc_conn **out);

/* Interrupts a blocked svc_request_connect or svc_request_send from any
 * thread (SVC_ECANCELED; a send's connection is closed, not pooled); later
 * connects and sends of this request fail with SVC_ECANCELED at once. */
SVC_API void svc_request_cancel(svc_request *r);

/* Writes all len bytes within the write timeout. SVC_ECONNECT on a reset,
 * SVC_ETIMEOUT, SVC_ETLS, SVC_ECANCELED. */
SVC_API svc_error *svc_conn_write(svc_conn *c, const void *buf, size_t len);

/* Reads up to cap bytes within the read timeout; *out_len == 0 means the
 * peer closed the connection (EOF). */
SVC_API svc_error *svc_conn_read(svc_conn *c, void *buf, size_t cap, size_t *out_len);

/* Waits up to timeout_ms (0..2147483646) until svc_conn_read would not
 * block: bytes or EOF arrived, or decrypted bytes are buffered. *ready is 1
 * then, 0 when the time passed. The one call that may run while another
 * thread is in svc_conn_write on the same connection (full-duplex callers
 * wait here, then read). SVC_ECANCELED after svc_conn_cancel. */
SVC_API svc_error *svc_conn_wait_readable(svc_conn *c, int timeout_ms, int *ready);

/* Changes the write and read timeouts of this connection (milliseconds,
 * each 1..2147483646). */
SVC_API svc_error *svc_conn_set_timeouts(svc_conn *c, int write_ms, int read_ms);

/* Interrupts a blocked read or write from any thread (SVC_ECANCELED); the
 * connection is then not reusable. */
SVC_API void svc_conn_cancel(svc_conn *c);

/* The peer of the connection: IP, port, host (borrowed while c lives). */
SVC_API const char *svc_conn_peer_ip(const svc_conn *c);
SVC_API int svc_conn_peer_port(const svc_conn *c);
SVC_API const char *svc_conn_peer_host(const svc_conn *c);

/* 1 when the connection came from the keepalive pool, else 0. */
SVC_API int svc_conn_reused(const svc_conn *c);

/* 1 when the TLS session was resumed, else 0 (also for plain connections). */
SVC_API int svc_conn_tls_resumed(const svc_conn *c);

/* The negotiated TLS version ("TLSv1.3"), or "" for plain connections. Static text. */
SVC_API const char *svc_conn_tls_version(const svc_conn *c);

/* Ends the caller's use of the connection and frees c. reusable non-zero
 * returns it to the keepalive pool (when it served fewer than the maximum
 * requests, had no I/O error or EOF, and the pool has room) and reports the
 * try as a success; zero closes it. NULL is accepted. */
SVC_API void svc_conn_release(svc_conn *c, int reusable);

/* ===== Send mode and the response ======================================= */

/* One HTTP/1.1 response, owned by the caller. */
typedef struct svc_response svc_response;

/* Sends one HTTP/1.1 request to the picked peer and reads the response,
 * with the retries, pooling, TLS policy and passive health of connect mode:
 * every try reports its HTTP status (or its failure) to passive health,
 * least-connections and the latency balancer. A try is retried on another
 * peer when it failed before any byte of the response came back: on
 * connection failures and timeouts for every method, and on a reset or
 * close for idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS, TRACE);
 * never once a response started. The Host header is the peer's host (with
 * the port unless it is 80 for http or 443 for https) unless headers holds
 * one; Content-Length is set from body_len; Connection, Content-Length and
 * Transfer-Encoding may not be given.
 *   method    e.g. "GET"; path: the request target, starting with '/'.
 *   headers   "Name: value" strings, NULL-terminated array, or NULL. A line
 *             with CR, LF or NUL, or a name that is not an HTTP token, is
 *             SVC_EINVAL (no header injection).
 *   body      body_len bytes, or NULL with body_len 0.
 *   out       receives the response; free with svc_response_free.
 * Limits: engine options limits.max_header_bytes and max_body_bytes; a
 * response over them is SVC_EPROTO "response header from <peer> exceeds
 * <n> bytes" (the trailer of a chunked body shares the header's limit:
 * "response header and trailer from <peer> exceed <n> bytes"). A TRACE
 * with a body is SVC_EINVAL. Other errors as svc_request_connect. The
 * request enters SVC_PHASE_LOG. */
SVC_API svc_error *svc_request_send(svc_request *r, const char *method, const char *path,
                                    const char *const *headers, const void *body, size_t body_len,
                                    svc_response **out);

/* The response's status code. */
SVC_API int svc_response_status(const svc_response *res);

/* The first value of header `name` (case-insensitive), or NULL. Borrowed
 * while res lives. */
SVC_API const char *svc_response_header(const svc_response *res, const char *name);

/* The number of response headers, and the i-th (0-based, in the order
 * received): returns 1 and sets *name and *value (borrowed while res lives),
 * or 0 when i is out of range. */
SVC_API size_t svc_response_header_count(const svc_response *res);
SVC_API int svc_response_header_at(const svc_response *res, size_t i, const char **name,
                                   const char **value);

/* The body (chunked encoding removed): its bytes and, in *out_len, its
 * length. Borrowed while res lives; not NUL-terminated. */
SVC_API const void *svc_response_body(const svc_response *res, size_t *out_len);

/* The peer that answered: IP and port (borrowed while res lives). */
SVC_API const char *svc_response_peer_ip(const svc_response *res);
SVC_API int svc_response_peer_port(const svc_response *res);

/* Frees a response. NULL is accepted. */
SVC_API void svc_response_free(svc_response *res);

#ifdef __cplusplus
}
#endif

#endif /* SVC_H */
