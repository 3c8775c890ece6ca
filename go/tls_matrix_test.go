package svc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The TLS verification matrix of tests/capi/test_connect_tls.c, through
// Request.Connect and Request.Send, with the C suite's exact messages:
// trust, depth, host and IP names, expiry, self-signed, verification off,
// SNI, client certificates (TLS 1.3 and 1.2, encrypted and mismatched
// keys), TLS policy set in the balancer callback, pool separation by policy
// and session resumption.

// tlsFixture is the set of backends and trust stores of the C suite.
type tlsFixture struct {
	ok, tls12, wrong, expired, self, mtls, mtls12 *backend
	ca, other, caInter, selfStore                 *TrustStore
	client, clientChain                           *CertChain
	key, enc, otherKey                            *PrivateKey
}

func newTLSFixture(t *testing.T) *tlsFixture {
	t.Helper()
	dir := requirePKI(t)
	pair := func(chain, key string) string {
		return filepath.Join(dir, chain) + "," + filepath.Join(dir, key)
	}
	f := &tlsFixture{}
	f.ok = startBackend(t, "ok", "--threads", "1", "--tls", pair("server-chain.pem", "server.key"))
	selfDir := t.TempDir()
	if out, err := exec.Command(os.Getenv("SVC_TEST_BACKEND_BIN"), "--write-self-signed", selfDir).CombinedOutput(); err != nil {
		t.Fatalf("--write-self-signed %s: %v\n%s", selfDir, err, out)
	}
	server := pair("server-chain.pem", "server.key")
	f.tls12 = startBackend(t, "tls12", "--threads", "1", "--tls", server, "--tls-max", "1.2")
	f.wrong = startBackend(t, "wrong", "--threads", "1", "--tls", pair("wrong-host.pem", "wrong-host.key"))
	f.expired = startBackend(t, "expired", "--threads", "1", "--tls", pair("expired.pem", "expired.key"))
	f.self = startBackend(t, "self", "--threads", "1", "--tls",
		filepath.Join(selfDir, "self-signed.pem")+","+filepath.Join(selfDir, "self-signed.key"))
	caPath := filepath.Join(dir, "ca.pem")
	f.mtls = startBackend(t, "mtls", "--threads", "1", "--tls", server, "--client-ca", caPath)
	f.mtls12 = startBackend(t, "mtls12", "--threads", "1", "--tls", server, "--client-ca", caPath, "--tls-max", "1.2")

	f.ca = trustStore(t, "ca.pem")
	f.other = trustStore(t, "other-ca.pem")
	f.caInter = trustStore(t, "ca.pem")
	must(t, f.caInter.AddPEM(readPKI(t, "inter.pem")))
	s, err := NewTrustStore()
	must(t, err)
	t.Cleanup(func() { s.Close() })
	must(t, s.LoadFile(filepath.Join(selfDir, "self-signed.pem")))
	f.selfStore = s

	chain := func(name string) *CertChain {
		c, err := ParseCertChainPEM(readPKI(t, name))
		must(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	key := func(name, pass string) *PrivateKey {
		k, err := ParsePrivateKeyPEM(readPKI(t, name), pass)
		must(t, err)
		t.Cleanup(func() { k.Close() })
		return k
	}
	f.client, f.clientChain = chain("client.pem"), chain("client-chain.pem")
	f.key, f.enc, f.otherKey = key("client.key", ""), key("client-encrypted.key", "s3cret"), key("client-other.key", "")
	return f
}

const tlsMatrixEngine = `{"retries": 0, "tls": {"trust": "none"},` +
	` "timeouts": {"connect": 5000, "write": 5000, "read": 5000}}`

// tlsMode is how a case reaches the backend: Connect plus a GET over the
// Conn, or Send.
type tlsMode string

const (
	viaConnect tlsMode = "Connect"
	viaSend    tlsMode = "Send"
)

var tlsModes = []tlsMode{viaConnect, viaSend}

// tlsReq makes a request to host:port over https with the given store (nil:
// none) and retries 0, then runs setup.
func tlsReq(t *testing.T, e *Engine, host string, port int, store *TrustStore, setup ...func(r *Request)) *Request {
	t.Helper()
	r := newRequest(t, e)
	must(t, r.SetTarget(host, port))
	must(t, r.SetScheme("https"))
	must(t, r.SetRetries(0))
	if store != nil {
		must(t, r.SetTLSVerifyStore(store))
	}
	for _, f := range setup {
		f(r)
	}
	return r
}

// tlsResult is what one successful exchange saw.
type tlsResult struct {
	status          int
	header          http.Header
	body            string
	version         string // Conn.TLSVersion (Connect only)
	reused, resumed bool   // Conn flags (Connect only)
	peer            Peer   // Conn.Peer (Connect) or Request.Peer (Send)
}

// exchangeVia GETs "/" over r in mode m. Through Connect the connection is
// released reusable when release is set, else closed.
func exchangeVia(t *testing.T, m tlsMode, r *Request, release bool) (tlsResult, error) {
	t.Helper()
	var out tlsResult
	if m == viaSend {
		res, err := r.Send(context.Background(), "GET", "/", nil, nil)
		if err != nil {
			return out, err
		}
		out.status, out.header, out.body, out.peer = res.Status, res.Header, string(res.Body), r.Peer()
		return out, nil
	}
	nc, err := r.Connect(context.Background())
	if err != nil {
		if nc != nil {
			t.Errorf("Connect returned a connection with its error %v", err)
		}
		return out, err
	}
	c := nc.(*Conn)
	out.version, out.reused, out.resumed, out.peer = c.TLSVersion(), c.Reused(), c.TLSResumed(), c.Peer()
	res, body, err := tryGet(c, "/")
	if err != nil {
		c.Close()
		return out, err
	}
	out.status, out.header, out.body = res.StatusCode, http.Header(res.Header), body
	if release {
		must(t, c.Release(true))
	} else {
		must(t, c.Close())
	}
	return out, nil
}

// mustExchange is exchangeVia that fails the test on an error and checks
// status 200.
func mustExchange(t *testing.T, m tlsMode, r *Request) tlsResult {
	t.Helper()
	res, err := exchangeVia(t, m, r, false)
	if err != nil {
		t.Fatalf("%s: %v", m, err)
	}
	if res.status != 200 {
		t.Errorf("%s: status %d", m, res.status)
	}
	return res
}

// verifyFailure is the one-try verification failure message.
func verifyFailure(port int, reason string) string {
	return fmt.Sprintf("1 try failed: try 1 (127.0.0.1:%d): TLS handshake with 127.0.0.1:%d failed: "+
		"certificate verify failed: %s", port, port, reason)
}

// wantFailVia runs r in mode m and checks the exact error and that the
// request ended in the log phase.
func wantFailVia(t *testing.T, m tlsMode, r *Request, sentinel *Error, message string) {
	t.Helper()
	_, err := exchangeVia(t, m, r, false)
	if err != nil && !errors.Is(err, ErrTLS) && sentinel == ErrTLS {
		t.Errorf("%s: errors.Is(%v, ErrTLS) is false", m, err)
	}
	wantErr(t, err, sentinel, message)
	if r.Phase() != PhaseLog {
		t.Errorf("%s: phase %v after the failure", m, r.Phase())
	}
}

func hdrIs(t *testing.T, m tlsMode, res tlsResult, name, want string) {
	t.Helper()
	if got := res.header.Get(name); got != want {
		t.Errorf("%s: %s = %q, want %q", m, name, got, want)
	}
}

func bodyHas(t *testing.T, m tlsMode, res tlsResult, part string) {
	t.Helper()
	if !strings.Contains(res.body, part) {
		t.Errorf("%s: body %s lacks %s", m, res.body, part)
	}
}

func TestTLSMatrixVerification(t *testing.T) {
	f := newTLSFixture(t)
	for _, m := range tlsModes {
		t.Run(string(m), func(t *testing.T) {
			e := newEngine(t, tlsMatrixEngine)

			t.Run("RightCaByIpLiteral", func(t *testing.T) {
				r := tlsReq(t, e, "127.0.0.1", f.ok.port, f.ca)
				res := mustExchange(t, m, r)
				if m == viaConnect {
					if res.version != "TLSv1.3" || res.reused || res.resumed {
						t.Errorf("version %q reused %v resumed %v", res.version, res.reused, res.resumed)
					}
					if res.peer != (Peer{IP: "127.0.0.1", Port: f.ok.port, Host: "127.0.0.1"}) {
						t.Errorf("peer %+v", res.peer)
					}
				}
				hdrIs(t, m, res, "X-Backend", "ok")
				hdrIs(t, m, res, "X-TLS-Version", "TLSv1.3")
				hdrIs(t, m, res, "X-SNI", "") // no SNI for an IP literal
				hdrIs(t, m, res, "X-Client-Subject", "")
				bodyHas(t, m, res, `"sni":""`)
				bodyHas(t, m, res, `"tls_version":"TLSv1.3"`)
				if r.Tries() != 1 {
					t.Errorf("tries %d", r.Tries())
				}
			})

			t.Run("RightCaByHostname", func(t *testing.T) {
				r := tlsReq(t, e, "localhost", f.ok.port, f.ca)
				res := mustExchange(t, m, r)
				hdrIs(t, m, res, "X-SNI", "localhost")
				bodyHas(t, m, res, `"sni":"localhost"`)
				if m == viaConnect && (res.peer.Host != "localhost" || res.peer.IP != "127.0.0.1") {
					t.Errorf("peer %+v", res.peer)
				}
				if m == viaSend {
					bodyHas(t, m, res, fmt.Sprintf(`"host":"localhost:%d"`, f.ok.port))
				}
				if p := r.Peer(); p.Host != "localhost" {
					t.Errorf("request peer %+v", p)
				}
			})

			t.Run("SniWithoutTrailingDot", func(t *testing.T) {
				r := tlsReq(t, e, "localhost.", f.ok.port, f.ca)
				res := mustExchange(t, m, r)
				hdrIs(t, m, res, "X-SNI", "localhost")
				if p := r.Peer(); p.Host != "localhost" {
					t.Errorf("request peer host %q", p.Host)
				}
				if m == viaConnect && res.peer.Host != "localhost" {
					t.Errorf("conn peer host %q", res.peer.Host)
				}
			})

			t.Run("Tls12Negotiated", func(t *testing.T) {
				res := mustExchange(t, m, tlsReq(t, e, "localhost", f.tls12.port, f.ca))
				if m == viaConnect && res.version != "TLSv1.2" {
					t.Errorf("version %q", res.version)
				}
				hdrIs(t, m, res, "X-TLS-Version", "TLSv1.2")
				hdrIs(t, m, res, "X-SNI", "localhost")
			})

			t.Run("NoStoreWithTrustNone", func(t *testing.T) {
				wantFailVia(t, m, tlsReq(t, e, "localhost", f.ok.port, nil), ErrTLS,
					verifyFailure(f.ok.port, "unable to get local issuer certificate"))
			})

			t.Run("WrongCa", func(t *testing.T) {
				wantFailVia(t, m, tlsReq(t, e, "localhost", f.ok.port, f.other), ErrTLS,
					verifyFailure(f.ok.port, "unable to get local issuer certificate"))
			})

			depth := func(d int) func(r *Request) { return func(r *Request) { must(t, r.SetTLSVerifyDepth(d)) } }
			t.Run("DepthZeroTooShortForLeafInterRoot", func(t *testing.T) {
				wantFailVia(t, m, tlsReq(t, e, "localhost", f.ok.port, f.ca, depth(0)), ErrTLS,
					verifyFailure(f.ok.port, "certificate chain too long"))
			})
			t.Run("DepthOneIsEnough", func(t *testing.T) {
				mustExchange(t, m, tlsReq(t, e, "localhost", f.ok.port, f.ca, depth(1)))
			})
			t.Run("DepthTwo", func(t *testing.T) {
				mustExchange(t, m, tlsReq(t, e, "localhost", f.ok.port, f.ca, depth(2)))
			})

			t.Run("WrongHostByName", func(t *testing.T) {
				wantFailVia(t, m, tlsReq(t, e, "localhost", f.wrong.port, f.caInter), ErrTLS,
					verifyFailure(f.wrong.port, "certificate does not match 'localhost' (it is for DNS:other.test)"))
			})
			t.Run("WrongHostByIp", func(t *testing.T) {
				wantFailVia(t, m, tlsReq(t, e, "127.0.0.1", f.wrong.port, f.caInter), ErrTLS,
					verifyFailure(f.wrong.port, "certificate does not match '127.0.0.1' (it is for DNS:other.test)"))
			})
			t.Run("WrongHostTrailingDotNamedWithoutIt", func(t *testing.T) {
				wantFailVia(t, m, tlsReq(t, e, "localhost.", f.wrong.port, f.caInter), ErrTLS,
					verifyFailure(f.wrong.port, "certificate does not match 'localhost' (it is for DNS:other.test)"))
			})
			t.Run("IpSanChecked", func(t *testing.T) {
				res := mustExchange(t, m, tlsReq(t, e, "127.0.0.1", f.ok.port, f.ca))
				hdrIs(t, m, res, "X-SNI", "")
			})

			t.Run("Expired", func(t *testing.T) {
				wantFailVia(t, m, tlsReq(t, e, "localhost", f.expired.port, f.caInter), ErrTLS,
					verifyFailure(f.expired.port, "certificate has expired"))
			})

			t.Run("SelfSigned", func(t *testing.T) {
				for _, store := range []*TrustStore{f.ca, nil} {
					wantFailVia(t, m, tlsReq(t, e, "localhost", f.self.port, store), ErrTLS,
						verifyFailure(f.self.port, "self-signed certificate"))
				}
			})
			t.Run("SelfSignedTrustedByItsOwnStore", func(t *testing.T) {
				for _, host := range []string{"localhost", "127.0.0.1"} {
					mustExchange(t, m, tlsReq(t, e, host, f.self.port, f.selfStore))
				}
			})

			t.Run("VerifyOffConnectsToEveryOne", func(t *testing.T) {
				cases := []struct {
					host  string
					port  int
					store *TrustStore
					depth int
				}{
					{"localhost", f.ok.port, nil, -1},
					{"localhost", f.ok.port, f.other, -1},
					{"localhost", f.ok.port, f.ca, 0},
					{"localhost", f.wrong.port, f.caInter, -1},
					{"127.0.0.1", f.wrong.port, f.caInter, -1},
					{"localhost", f.expired.port, f.caInter, -1},
					{"localhost", f.self.port, nil, -1},
				}
				for i, c := range cases {
					r := tlsReq(t, e, c.host, c.port, c.store, func(r *Request) {
						if c.depth >= 0 {
							must(t, r.SetTLSVerifyDepth(c.depth))
						}
						must(t, r.SetTLSVerify(false))
					})
					res, err := exchangeVia(t, m, r, false)
					if err != nil {
						t.Errorf("verify-off case %d (%s:%d): %v", i, c.host, c.port, err)
						continue
					}
					want := ""
					if c.host == "localhost" {
						want = "localhost" // SNI is still sent with verification off
					}
					if res.status != 200 || res.header.Get("X-SNI") != want {
						t.Errorf("verify-off case %d: status %d X-SNI %q", i, res.status, res.header.Get("X-SNI"))
					}
				}
			})

			t.Run("VerifyOnAgainAfterOff", func(t *testing.T) {
				r := tlsReq(t, e, "localhost", f.self.port, nil, func(r *Request) {
					must(t, r.SetTLSVerify(false))
					must(t, r.SetTLSVerify(true))
				})
				wantFailVia(t, m, r, ErrTLS, verifyFailure(f.self.port, "self-signed certificate"))
			})

			t.Run("SystemTrustDoesNotKnowTheTestCa", func(t *testing.T) {
				sys := newEngine(t, `{"retries": 0, "tls": {"trust": "system"}}`)
				wantFailVia(t, m, tlsReq(t, sys, "localhost", f.ok.port, nil), ErrTLS,
					verifyFailure(f.ok.port, "unable to get local issuer certificate"))
				// a store replaces the system trust
				mustExchange(t, m, tlsReq(t, sys, "localhost", f.ok.port, f.ca))
			})
		})
	}

	t.Run("HttpsSchemeIsRequiredForTlsViaConnect", func(t *testing.T) {
		// plain http to a TLS port: the connect itself is plain TCP and succeeds.
		e := newEngine(t, tlsMatrixEngine)
		r := newRequest(t, e)
		must(t, r.SetTarget("127.0.0.1", f.ok.port))
		nc, err := r.Connect(context.Background())
		must(t, err)
		defer nc.Close()
		if v := nc.(*Conn).TLSVersion(); v != "" {
			t.Errorf("TLS version %q over http", v)
		}
	})

	t.Run("TlsSchemeAlsoHandshakesViaConnect", func(t *testing.T) {
		e := newEngine(t, tlsMatrixEngine)
		r := tlsReq(t, e, "localhost", f.ok.port, f.ca, func(r *Request) { must(t, r.SetScheme("tls")) })
		nc, err := r.Connect(context.Background())
		must(t, err)
		defer nc.Close()
		if v := nc.(*Conn).TLSVersion(); v != "TLSv1.3" {
			t.Errorf("TLS version %q", v)
		}
	})
}

func TestTLSMatrixClientCertificates(t *testing.T) {
	f := newTLSFixture(t)
	const subject = "/O=svc test/CN=svc test client"
	const mismatch = "key does not match the certificate 'CN=svc test client,O=svc test'"
	certRequired := fmt.Sprintf("read from 127.0.0.1:%d failed: tlsv13 alert certificate required", f.mtls.port)

	// TLS 1.3 without a client certificate: the client's handshake
	// completes, the server's alert arrives on the first read.
	readFailsCertRequired := func(t *testing.T, r *Request) {
		t.Helper()
		nc, err := r.Connect(context.Background())
		if err != nil {
			t.Fatalf("Connect: %v", err)
		}
		c := nc.(*Conn)
		defer c.Close() // the I/O error keeps it out of the pool
		if c.TLSVersion() != "TLSv1.3" {
			t.Errorf("version %q", c.TLSVersion())
		}
		n, err := c.Read(make([]byte, 64))
		var se *Error
		if n != 0 || !errors.As(err, &se) || !errors.Is(err, ErrTLS) {
			t.Fatalf("first Read = %d, %v; want an ErrTLS *Error", n, err)
		}
		wantErr(t, se, ErrTLS, certRequired)
	}
	sendFailsCertRequired := func(t *testing.T, r *Request) {
		t.Helper()
		_, err := r.Send(context.Background(), "GET", "/", nil, nil)
		wantErr(t, err, ErrTLS, fmt.Sprintf("1 try failed: try 1 (127.0.0.1:%d): %s", f.mtls.port, certRequired))
	}
	certKey := func(c *CertChain, k *PrivateKey) func(r *Request) {
		return func(r *Request) { must(t, r.SetTLSCertKey(c, k)) }
	}

	for _, m := range tlsModes {
		t.Run(string(m), func(t *testing.T) {
			e := newEngine(t, tlsMatrixEngine)

			t.Run("Tls13NoClientCertFailsOnFirstRead", func(t *testing.T) {
				r := tlsReq(t, e, "localhost", f.mtls.port, f.ca)
				if m == viaConnect {
					readFailsCertRequired(t, r)
				} else {
					sendFailsCertRequired(t, r)
				}
			})

			t.Run("Tls12NoClientCertFailsTheHandshake", func(t *testing.T) {
				wantFailVia(t, m, tlsReq(t, e, "localhost", f.mtls12.port, f.ca), ErrTLS,
					fmt.Sprintf("1 try failed: try 1 (127.0.0.1:%d): TLS handshake with 127.0.0.1:%d failed: "+
						"sslv3 alert handshake failure", f.mtls12.port, f.mtls12.port))
			})

			t.Run("ClientCertAccepted", func(t *testing.T) {
				res := mustExchange(t, m, tlsReq(t, e, "localhost", f.mtls.port, f.ca, certKey(f.client, f.key)))
				hdrIs(t, m, res, "X-Client-Subject", subject)
				bodyHas(t, m, res, `"client_subject":"`+subject+`"`)
			})

			t.Run("ClientCertAcceptedOverTls12", func(t *testing.T) {
				res := mustExchange(t, m, tlsReq(t, e, "localhost", f.mtls12.port, f.ca, certKey(f.client, f.key)))
				if m == viaConnect && res.version != "TLSv1.2" {
					t.Errorf("version %q", res.version)
				}
				hdrIs(t, m, res, "X-TLS-Version", "TLSv1.2")
				hdrIs(t, m, res, "X-Client-Subject", subject)
			})

			t.Run("ChainAndEncryptedKey", func(t *testing.T) {
				res := mustExchange(t, m, tlsReq(t, e, "localhost", f.mtls.port, f.ca, certKey(f.clientChain, f.enc)))
				hdrIs(t, m, res, "X-Client-Subject", subject)
			})

			t.Run("EncryptedKeyParsedHere", func(t *testing.T) {
				k, err := ParsePrivateKeyPEM(readPKI(t, "client-encrypted.key"), "s3cret")
				must(t, err)
				defer k.Close()
				res := mustExchange(t, m, tlsReq(t, e, "localhost", f.mtls12.port, f.ca, certKey(f.client, k)))
				hdrIs(t, m, res, "X-Client-Subject", subject)
			})

			t.Run("ClientCertToAServerThatDoesNotAsk", func(t *testing.T) {
				res := mustExchange(t, m, tlsReq(t, e, "localhost", f.ok.port, f.ca, certKey(f.client, f.key)))
				hdrIs(t, m, res, "X-Client-Subject", "")
			})

			t.Run("MismatchedKeyRejected", func(t *testing.T) {
				r := tlsReq(t, e, "localhost", f.mtls.port, f.ca)
				err := r.SetTLSCertKey(f.client, f.otherKey)
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("errors.Is(%v, ErrInvalid) is false", err)
				}
				wantErr(t, err, ErrInvalid, mismatch)
				wantErr(t, r.SetTLSCertKey(f.clientChain, f.otherKey), ErrInvalid, mismatch)
				// the rejected pair left no certificate behind: TLS 1.3 fails on read
				if m == viaConnect {
					readFailsCertRequired(t, r)
				} else {
					sendFailsCertRequired(t, r)
				}
			})
		})
	}
}

func TestTLSMatrixBalancerPolicy(t *testing.T) {
	f := newTLSFixture(t)
	for _, m := range tlsModes {
		t.Run(string(m), func(t *testing.T) {
			e := newEngine(t, tlsMatrixEngine)

			t.Run("StoreSetOnTry2Only", func(t *testing.T) {
				var tries, ports []int
				r := tlsReq(t, e, "localhost", f.ok.port, nil, func(r *Request) {
					must(t, r.SetRetries(1))
					must(t, r.OnBalancer(func(try *Request) error {
						tries = append(tries, try.Tries())
						ports = append(ports, try.Peer().Port)
						if try.Phase() != PhaseBalancer {
							t.Errorf("phase %v in the callback", try.Phase())
						}
						if try.Tries() == 2 {
							return try.SetTLSVerifyStore(f.ca)
						}
						return nil
					}))
				})
				res := mustExchange(t, m, r)
				hdrIs(t, m, res, "X-SNI", "localhost")
				if r.Tries() != 2 || fmt.Sprint(tries) != "[1 2]" ||
					fmt.Sprint(ports) != fmt.Sprintf("[%d %d]", f.ok.port, f.ok.port) {
					t.Errorf("tries %d, callback tries %v ports %v", r.Tries(), tries, ports)
				}
			})

			t.Run("StoreNotSetFailsBothTries", func(t *testing.T) {
				calls := 0
				r := tlsReq(t, e, "localhost", f.ok.port, nil, func(r *Request) {
					must(t, r.SetRetries(1))
					must(t, r.OnBalancer(func(try *Request) error {
						calls++
						if try.Tries() == 3 { // never reached
							return try.SetTLSVerifyStore(f.ca)
						}
						return nil
					}))
				})
				p := f.ok.port
				wantFailVia(t, m, r, ErrTLS, fmt.Sprintf("2 tries failed: "+
					"try 1 (127.0.0.1:%d): TLS handshake with 127.0.0.1:%d failed: certificate verify failed: "+
					"unable to get local issuer certificate; "+
					"try 2 (127.0.0.1:%d): TLS handshake with 127.0.0.1:%d failed: certificate verify failed: "+
					"unable to get local issuer certificate", p, p, p, p))
				if calls != 2 {
					t.Errorf("%d callback calls", calls)
				}
			})

			t.Run("VerifyOffOnTry1", func(t *testing.T) {
				calls := 0
				r := tlsReq(t, e, "localhost", f.self.port, nil, func(r *Request) {
					must(t, r.OnBalancer(func(try *Request) error {
						calls++
						return try.SetTLSVerify(false)
					}))
				})
				mustExchange(t, m, r)
				if r.Tries() != 1 || calls != 1 {
					t.Errorf("tries %d, calls %d", r.Tries(), calls)
				}
			})

			t.Run("DepthOverridesTheAccessPolicy", func(t *testing.T) {
				r := tlsReq(t, e, "localhost", f.ok.port, f.ca, func(r *Request) {
					must(t, r.SetTLSVerifyDepth(5))
					must(t, r.OnBalancer(func(try *Request) error { return try.SetTLSVerifyDepth(0) }))
				})
				wantFailVia(t, m, r, ErrTLS, verifyFailure(f.ok.port, "certificate chain too long"))
			})

			t.Run("ClientCertSetInTheBalancerPhase", func(t *testing.T) {
				r := tlsReq(t, e, "localhost", f.mtls.port, f.ca, func(r *Request) {
					must(t, r.OnBalancer(func(try *Request) error { return try.SetTLSCertKey(f.client, f.key) }))
				})
				res := mustExchange(t, m, r)
				hdrIs(t, m, res, "X-Client-Subject", "/O=svc test/CN=svc test client")
			})

			t.Run("SchemeSetInTheBalancerPhase", func(t *testing.T) {
				r := newRequest(t, e)
				must(t, r.SetTarget("localhost", f.ok.port))
				must(t, r.SetTLSVerifyStore(f.ca))
				must(t, r.OnBalancer(func(try *Request) error { return try.SetScheme("https") }))
				res := mustExchange(t, m, r)
				if m == viaConnect && res.version != "TLSv1.3" {
					t.Errorf("version %q", res.version)
				}
				hdrIs(t, m, res, "X-TLS-Version", "TLSv1.3")
				hdrIs(t, m, res, "X-SNI", "localhost")
				if s := r.Scheme(); s != "https" {
					t.Errorf("scheme %q", s)
				}
			})
		})
	}
}

func TestTLSMatrixPoolAndResumption(t *testing.T) {
	f := newTLSFixture(t)
	for _, m := range tlsModes {
		t.Run(string(m), func(t *testing.T) {
			t.Run("PoolSeparatedByVerifyPolicy", func(t *testing.T) {
				e := newEngine(t, tlsMatrixEngine)
				b := startBackend(t, "pool", tlsArgs(t)...)
				on := func() *Request { return tlsReq(t, e, "localhost", b.port, f.ca) }
				off := func() *Request {
					return tlsReq(t, e, "localhost", b.port, f.ca, func(r *Request) { must(t, r.SetTLSVerify(false)) })
				}
				get := func(r *Request) tlsResult {
					t.Helper()
					res, err := exchangeVia(t, m, r, true) // Connect: released reusable
					if err != nil {
						t.Fatalf("%s: %v", m, err)
					}
					return res
				}
				a1 := get(on())
				a2 := get(on())
				o1 := get(off())
				o2 := get(off())
				a3 := get(on())
				conn := func(res tlsResult) string { return res.header.Get("X-Connection") }
				req := func(res tlsResult) string { return res.header.Get("X-Request") }
				// the same policy reuses its connection; verification off has its own
				if conn(a1) != "1" || conn(a2) != "1" || conn(a3) != "1" ||
					req(a1) != "1" || req(a2) != "2" || req(a3) != "3" {
					t.Errorf("verify on: connections %s %s %s, requests %s %s %s",
						conn(a1), conn(a2), conn(a3), req(a1), req(a2), req(a3))
				}
				if conn(o1) != "2" || conn(o2) != "2" || req(o1) != "1" || req(o2) != "2" {
					t.Errorf("verify off: connections %s %s, requests %s %s", conn(o1), conn(o2), req(o1), req(o2))
				}
				if m == viaConnect {
					if a1.reused || !a2.reused || o1.reused || !o2.reused || !a3.reused {
						t.Errorf("reused: on %v %v, off %v %v, on %v", a1.reused, a2.reused, o1.reused, o2.reused, a3.reused)
					}
				}
			})

			t.Run("ResumedAfterCloseAndReconnect", func(t *testing.T) {
				for _, version := range []string{"1.3", "1.2"} {
					// max_requests 1: Send's connection is not pooled either,
					// so the next exchange makes a new one.
					e := newEngine(t, `{"retries": 0, "tls": {"trust": "none"}, "keepalive": {"max_requests": 1}}`)
					b := startBackend(t, "resume", append(tlsArgs(t), "--tls-max", version)...)
					want := "TLSv" + version
					// the response is read, so the TLS 1.3 ticket has arrived by now
					first := mustExchange(t, m, tlsReq(t, e, "127.0.0.1", b.port, f.ca))
					second := mustExchange(t, m, tlsReq(t, e, "127.0.0.1", b.port, f.ca))
					hdrIs(t, m, first, "X-TLS-Resumed", "0")
					hdrIs(t, m, second, "X-TLS-Resumed", "1")
					hdrIs(t, m, first, "X-Connection", "1")
					hdrIs(t, m, second, "X-Connection", "2")
					hdrIs(t, m, second, "X-TLS-Version", want)
					if m == viaConnect {
						if first.resumed || !second.resumed || second.reused || second.version != want {
							t.Errorf("%s: resumed %v then %v, reused %v, version %q",
								want, first.resumed, second.resumed, second.reused, second.version)
						}
					}
					// another policy does not resume that session
					third := mustExchange(t, m, tlsReq(t, e, "127.0.0.1", b.port, f.ca,
						func(r *Request) { must(t, r.SetTLSVerifyDepth(7)) }))
					hdrIs(t, m, third, "X-TLS-Resumed", "0")
					if m == viaConnect && third.resumed {
						t.Errorf("%s: resumed under another policy", want)
					}
				}
			})
		})
	}
}
