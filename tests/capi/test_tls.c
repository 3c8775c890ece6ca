/* svc.h TLS material: chains, keys (plain, encrypted, wrong passphrase), trust
 * stores (PEM, file, system), the TLS setters, freezing, and freeing handles
 * in any order. The PEM files come from svc-test-pki; their directory is
 * SVC_TEST_PKI_DIR or argv[1]. */
#include "harness.h"

static const char *pki_dir;

static char *path_of(const char *name) {
  static char buf[1024];
  snprintf(buf, sizeof buf, "%s/%s", pki_dir, name);
  return buf;
}

/* Reads a PKI file (NUL-terminated; *len without the NUL). Exits when it is missing. */
static char *read_pem(const char *name, size_t *len) {
  FILE *f = fopen(path_of(name), "rb");
  char *text;
  long size;
  if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    printf("cannot read %s\n", path_of(name));
    printf("%d passed, %d failed\n", harness_passed, harness_failed + 1);
    exit(1);
  }
  text = malloc((size_t)size + 1);
  if (text == NULL || fread(text, 1, (size_t)size, f) != (size_t)size) exit(1);
  text[size] = '\0';
  fclose(f);
  if (len) *len = (size_t)size;
  return text;
}

static svc_cert_chain *parse_chain(const char *name) {
  size_t len;
  char *pem = read_pem(name, &len);
  svc_cert_chain *c = NULL;
  REQUIRE_OK(svc_cert_chain_parse_pem(&c, pem, len));
  free(pem);
  return c;
}

static svc_private_key *parse_key(const char *name, const char *passphrase) {
  size_t len;
  char *pem = read_pem(name, &len);
  svc_private_key *k = NULL;
  REQUIRE_OK(svc_private_key_parse_pem(&k, pem, len, passphrase));
  free(pem);
  return k;
}

static void test_chain(void) {
  size_t len;
  char *pem;
  svc_cert_chain *c = (svc_cert_chain *)&c;
  static const char garbage[] = "hello, not a certificate";
  static const char bad_base64[] =
      "-----BEGIN CERTIFICATE-----\n!!!!not base64!!!!\n-----END CERTIFICATE-----\n";

  SECTION("CertChain.Parse");
  pem = read_pem("server-chain.pem", &len);
  CHECK_OK(svc_cert_chain_parse_pem(&c, pem, len));
  CHECK(c != NULL);
  svc_cert_chain_free(c);
  c = NULL;
  CHECK_OK(svc_cert_chain_parse_pem(&c, pem, strlen(pem))); /* len is the text's, no NUL needed */
  svc_cert_chain_free(c);

  SECTION("CertChain.BadInput");
  c = (svc_cert_chain *)&c;
  CHECK_ERR(svc_cert_chain_parse_pem(NULL, pem, len), SVC_EINVAL, "out must not be NULL");
  CHECK_ERR(svc_cert_chain_parse_pem(&c, NULL, 0), SVC_EINVAL, "pem must not be NULL");
  CHECK(c == NULL);
  CHECK_ERR(svc_cert_chain_parse_pem(&c, "", 0), SVC_EINVAL, "chain: no certificate found in PEM");
  CHECK_ERR(svc_cert_chain_parse_pem(&c, pem, 0), SVC_EINVAL, "chain: no certificate found in PEM");
  CHECK_ERR(svc_cert_chain_parse_pem(&c, garbage, strlen(garbage)), SVC_EINVAL, "chain: no certificate found in PEM");
  CHECK_ERR_PREFIX(svc_cert_chain_parse_pem(&c, bad_base64, strlen(bad_base64)), SVC_EINVAL, "chain: ");
  CHECK_ERR_PREFIX(svc_cert_chain_parse_pem(&c, pem, len / 2), SVC_EINVAL, "chain: "); /* cut short */
  CHECK(c == NULL);
  free(pem);
  {
    /* a key is not a certificate */
    pem = read_pem("client.key", &len);
    CHECK_ERR(svc_cert_chain_parse_pem(&c, pem, len), SVC_EINVAL, "chain: no certificate found in PEM");
    free(pem);
  }
  {
    /* junk after the last certificate */
    char *cert = read_pem("client.pem", &len);
    char *junk = malloc(len + 32);
    memcpy(junk, cert, len);
    memcpy(junk + len, "trailing junk\n", 15);
    CHECK_ERR(svc_cert_chain_parse_pem(&c, junk, strlen(junk)), SVC_EINVAL,
              "chain: unexpected data after the last PEM block");
    free(junk);
    free(cert);
  }
}

static void test_key(void) {
  size_t len;
  char *pem;
  svc_private_key *k = NULL;

  SECTION("PrivateKey.Plain");
  pem = read_pem("client.key", &len);
  CHECK_OK(svc_private_key_parse_pem(&k, pem, len, NULL));
  CHECK(k != NULL);
  svc_private_key_free(k);
  k = NULL;
  CHECK_OK(svc_private_key_parse_pem(&k, pem, len, "ignored")); /* a passphrase for a plain key is unused */
  svc_private_key_free(k);

  SECTION("PrivateKey.BadInput");
  k = (svc_private_key *)&k;
  CHECK_ERR(svc_private_key_parse_pem(NULL, pem, len, NULL), SVC_EINVAL, "out must not be NULL");
  CHECK_ERR(svc_private_key_parse_pem(&k, NULL, 0, NULL), SVC_EINVAL, "pem must not be NULL");
  CHECK(k == NULL);
  CHECK_ERR(svc_private_key_parse_pem(&k, "", 0, NULL), SVC_EINVAL, "key: no private key found in PEM");
  CHECK_ERR(svc_private_key_parse_pem(&k, "junk", 4, NULL), SVC_EINVAL, "key: no private key found in PEM");
  free(pem);
  pem = read_pem("client.pem", &len);
  CHECK_ERR(svc_private_key_parse_pem(&k, pem, len, NULL), SVC_EINVAL, "key: no private key found in PEM");
  free(pem);

  SECTION("PrivateKey.Encrypted");
  pem = read_pem("client-encrypted.key", &len);
  k = NULL;
  CHECK_OK(svc_private_key_parse_pem(&k, pem, len, "s3cret"));
  CHECK(k != NULL);
  svc_private_key_free(k);
  CHECK_ERR(svc_private_key_parse_pem(&k, pem, len, NULL), SVC_EINVAL,
            "key: the key is encrypted and no passphrase was given");
  CHECK_ERR(svc_private_key_parse_pem(&k, pem, len, "wrong"), SVC_EINVAL, "key: bad decrypt");
  CHECK_ERR(svc_private_key_parse_pem(&k, pem, len, ""), SVC_EINVAL, "key: bad decrypt");
  CHECK(k == NULL);
  free(pem);
}

static void test_cert_key_setter(svc_engine *e) {
  svc_cert_chain *chain = parse_chain("client-chain.pem");
  svc_cert_chain *leaf = parse_chain("client.pem");
  svc_private_key *key = parse_key("client.key", NULL);
  svc_private_key *enc = parse_key("client-encrypted.key", "s3cret");
  svc_private_key *other = parse_key("client-other.key", NULL);
  svc_private_key *server_key = parse_key("server.key", NULL);
  svc_request *r = new_request(e);

  SECTION("SetTlsCertKey.Matching");
  CHECK_OK(svc_set_tls_cert_key(r, chain, key));
  CHECK_OK(svc_set_tls_cert_key(r, leaf, key));
  CHECK_OK(svc_set_tls_cert_key(r, chain, enc)); /* the decrypted key is the same key */

  SECTION("SetTlsCertKey.MismatchedKey");
  CHECK_ERR(svc_set_tls_cert_key(r, chain, other), SVC_EINVAL,
            "key does not match the certificate 'CN=svc test client,O=svc test'");
  CHECK_ERR(svc_set_tls_cert_key(r, leaf, server_key), SVC_EINVAL,
            "key does not match the certificate 'CN=svc test client,O=svc test'");
  CHECK_ERR(svc_set_tls_cert_key(r, chain, NULL), SVC_EINVAL, "key must not be NULL");
  CHECK_ERR(svc_set_tls_cert_key(r, NULL, key), SVC_EINVAL, "chain must not be NULL");

  SECTION("SetTlsCertKey.Phases");
  CHECK_OK(svc_request_set_phase(r, SVC_PHASE_REWRITE));
  CHECK_OK(svc_set_tls_cert_key(r, chain, key));
  CHECK_OK(svc_request_set_phase(r, SVC_PHASE_ACCESS));
  CHECK_OK(svc_set_target(r, "localhost", 8443));
  CHECK_OK(svc_request_pick(r));
  CHECK_INT(svc_request_phase(r), SVC_PHASE_BALANCER);
  CHECK_OK(svc_set_tls_cert_key(r, leaf, enc));
  CHECK_ERR(svc_set_tls_cert_key(r, leaf, other), SVC_EINVAL,
            "key does not match the certificate 'CN=svc test client,O=svc test'");

  SECTION("Handles.FreedBeforeTheRequestThatUsesThem");
  svc_cert_chain_free(chain);
  svc_cert_chain_free(leaf);
  svc_private_key_free(key);
  svc_private_key_free(enc);
  svc_private_key_free(other);
  svc_private_key_free(server_key);
  CHECK_OK(svc_request_report(r, SVC_OUTCOME_TCP_FAILURE, 0, 0));
  CHECK_OK(svc_request_pick(r));
  CHECK_STR(svc_request_peer_host(r), "localhost");
  svc_request_free(r);
}

static void test_trust_store(svc_engine *e) {
  size_t len;
  char *ca = read_pem("ca.pem", &len);
  char *bundle;
  size_t bundle_len;
  svc_trust_store *s = (svc_trust_store *)&s, *s2 = NULL;
  svc_request *r, *r2;
  svc_error *err;

  SECTION("TrustStore.New");
  CHECK_ERR(svc_trust_store_new(NULL), SVC_EINVAL, "out must not be NULL");
  CHECK_OK(svc_trust_store_new(&s));
  CHECK(s != NULL);

  SECTION("TrustStore.AddPem");
  bundle = read_pem("bundle.pem", &bundle_len);
  CHECK_OK(svc_trust_store_add_pem(s, ca, len));
  CHECK_OK(svc_trust_store_add_pem(s, ca, len)); /* a duplicate is fine */
  CHECK_OK(svc_trust_store_add_pem(s, bundle, bundle_len));
  CHECK_ERR(svc_trust_store_add_pem(NULL, ca, len), SVC_EINVAL, "store must not be NULL");
  CHECK_ERR(svc_trust_store_add_pem(s, NULL, 0), SVC_EINVAL, "pem must not be NULL");
  CHECK_ERR(svc_trust_store_add_pem(s, "", 0), SVC_EINVAL, "store: no certificate found in PEM");
  CHECK_ERR(svc_trust_store_add_pem(s, "junk", 4), SVC_EINVAL, "store: no certificate found in PEM");

  SECTION("TrustStore.LoadFile");
  CHECK_OK(svc_trust_store_load_file(s, path_of("ca.pem")));
  CHECK_OK(svc_trust_store_load_file(s, path_of("bundle.pem")));
  CHECK_ERR(svc_trust_store_load_file(NULL, path_of("ca.pem")), SVC_EINVAL, "store must not be NULL");
  CHECK_ERR(svc_trust_store_load_file(s, NULL), SVC_EINVAL, "path must not be NULL");
  CHECK_ERR(svc_trust_store_load_file(s, "/nonexistent/ca.pem"), SVC_EINVAL,
            "store: cannot open '/nonexistent/ca.pem': No such file or directory");
  CHECK_ERR(svc_trust_store_load_file(s, path_of("client.key")), SVC_EINVAL, "store: no certificate found in PEM");

  SECTION("TrustStore.LoadSystem");
  CHECK_ERR(svc_trust_store_load_system(NULL), SVC_EINVAL, "store must not be NULL");
  CHECK_OK(svc_trust_store_new(&s2));
  err = svc_trust_store_load_system(s2);
  if (err != NULL) {
    /* a machine without a system bundle: the one documented failure */
    CHECK_INT(svc_error_code(err), SVC_EINVAL);
    CHECK_STR(svc_error_message(err), "store: no system trust store found");
    svc_error_free(err);
  } else {
    CHECK(1);
  }

  SECTION("TrustStore.FrozenOnceARequestUsesIt");
  r = new_request(e);
  CHECK_OK(svc_set_tls_verify_store(r, s));
  CHECK_ERR(svc_trust_store_add_pem(s, ca, len), SVC_EINVAL, "store: trust store is in use and can no longer change");
  CHECK_ERR(svc_trust_store_load_file(s, path_of("ca.pem")), SVC_EINVAL,
            "store: trust store is in use and can no longer change");
  CHECK_ERR(svc_trust_store_load_system(s), SVC_EINVAL, "store: trust store is in use and can no longer change");
  /* a frozen store still serves other requests, in every TLS phase */
  r2 = new_request(e);
  CHECK_OK(svc_request_set_phase(r2, SVC_PHASE_REWRITE));
  CHECK_OK(svc_set_tls_verify_store(r2, s));
  CHECK_OK(svc_request_set_phase(r2, SVC_PHASE_ACCESS));
  /* another store is unaffected until used */
  CHECK_OK(svc_trust_store_add_pem(s2, ca, len));
  CHECK_OK(svc_set_tls_verify_store(r2, s2)); /* replaces s for r2 */

  SECTION("Handles.StoreFreedBeforeTheRequest");
  svc_trust_store_free(s);
  CHECK_OK(svc_set_target(r, "127.0.0.1", 8443));
  CHECK_OK(svc_set_tls_verify(r, 1));
  CHECK_OK(svc_set_tls_verify_depth(r, 4));
  CHECK_OK(svc_request_pick(r));
  CHECK_STR(svc_request_peer_ip(r), "127.0.0.1");
  CHECK_OK(svc_set_tls_verify_store(r, s2)); /* balancer phase: allowed, freezes s2 */
  CHECK_ERR(svc_trust_store_add_pem(s2, ca, len), SVC_EINVAL,
            "store: trust store is in use and can no longer change");
  svc_trust_store_free(s2);
  CHECK_OK(svc_request_report(r, SVC_OUTCOME_OK, 0, 0));
  svc_request_free(r);

  SECTION("Handles.RequestFreedFirst");
  CHECK_OK(svc_trust_store_new(&s));
  CHECK_OK(svc_trust_store_add_pem(s, ca, len));
  CHECK_OK(svc_set_tls_verify_store(r2, s));
  svc_request_free(r2);
  CHECK_ERR(svc_trust_store_add_pem(s, ca, len), SVC_EINVAL, "store: trust store is in use and can no longer change");
  svc_trust_store_free(s);
  free(bundle);
  free(ca);
}

static void test_material_outlives_engine(void) {
  svc_engine *e = new_engine(NULL);
  svc_request *r = new_request(e);
  svc_cert_chain *chain = parse_chain("client-chain.pem");
  svc_private_key *key = parse_key("client.key", NULL);
  svc_trust_store *s = NULL;
  SECTION("Handles.EngineFreedFirst");
  REQUIRE_OK(svc_trust_store_new(&s));
  CHECK_OK(svc_trust_store_load_file(s, path_of("ca.pem")));
  CHECK_OK(svc_set_tls_cert_key(r, chain, key));
  CHECK_OK(svc_set_tls_verify_store(r, s));
  svc_engine_free(e);
  svc_trust_store_free(s);
  CHECK_OK(svc_set_tls_verify(r, 0)); /* setters still work on a request of a closed engine */
  svc_request_free(r);
  svc_private_key_free(key);
  svc_cert_chain_free(chain);
  CHECK(1);
}

int main(int argc, char **argv) {
  svc_engine *e;
  pki_dir = argc > 1 ? argv[1] : getenv("SVC_TEST_PKI_DIR");
  if (pki_dir == NULL || *pki_dir == '\0') {
    printf("usage: %s PKI_DIR (or set SVC_TEST_PKI_DIR; write it with svc-test-pki)\n", argv[0]);
    printf("0 passed, 1 failed\n");
    return 1;
  }
  e = new_engine(NULL);
  test_chain();
  test_key();
  test_cert_key_setter(e);
  test_trust_store(e);
  svc_engine_free(e);
  test_material_outlives_engine();
  HARNESS_END();
}
