package svc

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestCertChainParse(t *testing.T) {
	pem := readPKI(t, "server-chain.pem")
	c, err := ParseCertChainPEM(pem)
	must(t, err)
	ok(t, c.Close())
	ok(t, c.Close())

	for _, bad := range [][]byte{nil, {}, []byte("hello, not a certificate"), readPKI(t, "client.key")} {
		c, err := ParseCertChainPEM(bad)
		wantErr(t, err, ErrInvalid, "chain: no certificate found in PEM")
		if c != nil {
			t.Error("a chain with an error")
		}
	}
	_, err = ParseCertChainPEM([]byte("-----BEGIN CERTIFICATE-----\n!!!!not base64!!!!\n-----END CERTIFICATE-----\n"))
	if !errIsWithPrefix(err, ErrInvalid, "chain: ") {
		t.Errorf("bad base64: %v", err)
	}
	_, err = ParseCertChainPEM(pem[:len(pem)/2])
	if !errIsWithPrefix(err, ErrInvalid, "chain: ") {
		t.Errorf("cut short: %v", err)
	}
	_, err = ParseCertChainPEM(append(readPKI(t, "client.pem"), "trailing junk\n"...))
	wantErr(t, err, ErrInvalid, "chain: unexpected data after the last PEM block")
}

func errIsWithPrefix(err error, sentinel *Error, prefix string) bool {
	e, ok := err.(*Error)
	return ok && e.Code == sentinel.Code && strings.HasPrefix(e.Message, prefix)
}

func TestPrivateKeyParse(t *testing.T) {
	k, err := ParsePrivateKeyPEM(readPKI(t, "client.key"), "")
	must(t, err)
	ok(t, k.Close())
	k, err = ParsePrivateKeyPEM(readPKI(t, "client.key"), "ignored") // unused for a plain key
	must(t, err)
	ok(t, k.Close())

	for _, bad := range [][]byte{nil, []byte("junk"), readPKI(t, "client.pem")} {
		_, err := ParsePrivateKeyPEM(bad, "")
		wantErr(t, err, ErrInvalid, "key: no private key found in PEM")
	}
	enc := readPKI(t, "client-encrypted.key")
	k, err = ParsePrivateKeyPEM(enc, "s3cret")
	must(t, err)
	ok(t, k.Close())
	_, err = ParsePrivateKeyPEM(enc, "")
	wantErr(t, err, ErrInvalid, "key: the key is encrypted and no passphrase was given")
	_, err = ParsePrivateKeyPEM(enc, "wrong")
	wantErr(t, err, ErrInvalid, "key: bad decrypt")
	_, err = ParsePrivateKeyPEM(enc, "s3cret\x00")
	wantErr(t, err, ErrInvalid, "passphrase must not contain a NUL byte")
}

func TestSetTLSCertKey(t *testing.T) {
	e := newEngine(t, "")
	chain, err := ParseCertChainPEM(readPKI(t, "client-chain.pem"))
	must(t, err)
	leaf, err := ParseCertChainPEM(readPKI(t, "client.pem"))
	must(t, err)
	key, err := ParsePrivateKeyPEM(readPKI(t, "client.key"), "")
	must(t, err)
	enc, err := ParsePrivateKeyPEM(readPKI(t, "client-encrypted.key"), "s3cret")
	must(t, err)
	other, err := ParsePrivateKeyPEM(readPKI(t, "client-other.key"), "")
	must(t, err)
	serverKey, err := ParsePrivateKeyPEM(readPKI(t, "server.key"), "")
	must(t, err)
	r := newRequest(t, e)

	ok(t, r.SetTLSCertKey(chain, key))
	ok(t, r.SetTLSCertKey(leaf, key))
	ok(t, r.SetTLSCertKey(chain, enc)) // the decrypted key is the same key
	const mismatch = "key does not match the certificate 'CN=svc test client,O=svc test'"
	wantErr(t, r.SetTLSCertKey(chain, other), ErrInvalid, mismatch)
	wantErr(t, r.SetTLSCertKey(leaf, serverKey), ErrInvalid, mismatch)
	wantErr(t, r.SetTLSCertKey(chain, nil), ErrInvalid, "key must not be NULL")
	wantErr(t, r.SetTLSCertKey(nil, key), ErrInvalid, "chain must not be NULL")

	// phases: rewrite, access, balancer
	ok(t, r.SetPhase(PhaseRewrite))
	ok(t, r.SetTLSCertKey(chain, key))
	ok(t, r.SetPhase(PhaseAccess))
	ok(t, r.SetTarget("localhost", 8443))
	_, err = r.Pick()
	must(t, err)
	ok(t, r.SetTLSCertKey(leaf, enc))
	wantErr(t, r.SetTLSCertKey(leaf, other), ErrInvalid, mismatch)

	// handles closed before the request that uses them
	for _, c := range []interface{ Close() error }{chain, leaf, key, enc, other, serverKey} {
		ok(t, c.Close())
	}
	wantErr(t, r.SetTLSCertKey(chain, key), ErrClosed, "the certificate chain is closed")
	chain2, err := ParseCertChainPEM(readPKI(t, "client-chain.pem"))
	must(t, err)
	defer chain2.Close()
	wantErr(t, r.SetTLSCertKey(chain2, key), ErrClosed, "the private key is closed")
	ok(t, r.Report(OutcomeTCPFailure, 0, 0))
	p, err := r.Pick()
	must(t, err)
	if p.Host != "localhost" {
		t.Errorf("peer host %q", p.Host)
	}
}

func TestTrustStore(t *testing.T) {
	dir := requirePKI(t)
	e := newEngine(t, "")
	ca := readPKI(t, "ca.pem")
	s, err := NewTrustStore()
	must(t, err)
	defer s.Close()
	ok(t, s.AddPEM(ca))
	ok(t, s.AddPEM(ca)) // a duplicate is fine
	ok(t, s.AddPEM(readPKI(t, "bundle.pem")))
	wantErr(t, s.AddPEM(nil), ErrInvalid, "store: no certificate found in PEM")
	wantErr(t, s.AddPEM([]byte("junk")), ErrInvalid, "store: no certificate found in PEM")
	ok(t, s.LoadFile(filepath.Join(dir, "ca.pem")))
	ok(t, s.LoadFile(filepath.Join(dir, "bundle.pem")))
	wantErr(t, s.LoadFile("/nonexistent/ca.pem"), ErrInvalid,
		"store: cannot open '/nonexistent/ca.pem': No such file or directory")
	wantErr(t, s.LoadFile(filepath.Join(dir, "client.key")), ErrInvalid, "store: no certificate found in PEM")
	wantErr(t, s.LoadFile("ca.pem\x00x"), ErrInvalid, "path must not contain a NUL byte")

	sys, err := NewTrustStore()
	must(t, err)
	defer sys.Close()
	if err := sys.LoadSystem(); err != nil {
		// a machine without a system bundle: the one documented failure
		wantErr(t, err, ErrInvalid, "store: no system trust store found")
	}

	// frozen once a request uses it
	r := newRequest(t, e)
	ok(t, r.SetTLSVerifyStore(s))
	const frozen = "store: trust store is in use and can no longer change"
	wantErr(t, s.AddPEM(ca), ErrInvalid, frozen)
	wantErr(t, s.LoadFile(filepath.Join(dir, "ca.pem")), ErrInvalid, frozen)
	wantErr(t, s.LoadSystem(), ErrInvalid, frozen)
	r2 := newRequest(t, e)
	ok(t, r2.SetPhase(PhaseRewrite))
	ok(t, r2.SetTLSVerifyStore(s)) // a frozen store still serves other requests

	// the store closed before the request
	ok(t, s.Close())
	ok(t, s.Close())
	wantErr(t, s.AddPEM(ca), ErrClosed, "the trust store is closed")
	wantErr(t, s.LoadFile(filepath.Join(dir, "ca.pem")), ErrClosed, "the trust store is closed")
	wantErr(t, s.LoadSystem(), ErrClosed, "the trust store is closed")
	wantErr(t, r.SetTLSVerifyStore(s), ErrClosed, "the trust store is closed")
	ok(t, r.SetTarget("127.0.0.1", 8443))
	ok(t, r.SetTLSVerify(true))
	ok(t, r.SetTLSVerifyDepth(4))
	p, err := r.Pick()
	must(t, err)
	if p.IP != "127.0.0.1" || p.Host != "127.0.0.1" {
		t.Errorf("peer %+v", p)
	}
	s2, err := NewTrustStore()
	must(t, err)
	defer s2.Close()
	ok(t, s2.AddPEM(ca))
	ok(t, r.SetTLSVerifyStore(s2)) // balancer phase: allowed, freezes s2
	wantErr(t, s2.AddPEM(ca), ErrInvalid, frozen)
}

func TestTLSMaterialOutlivesEngine(t *testing.T) {
	dir := requirePKI(t)
	e, err := NewEngine("")
	must(t, err)
	r, err := e.NewRequest()
	must(t, err)
	defer r.Close()
	chain, err := ParseCertChainPEM(readPKI(t, "client-chain.pem"))
	must(t, err)
	defer chain.Close()
	key, err := ParsePrivateKeyPEM(readPKI(t, "client.key"), "")
	must(t, err)
	defer key.Close()
	s, err := NewTrustStore()
	must(t, err)
	ok(t, s.LoadFile(filepath.Join(dir, "ca.pem")))
	ok(t, r.SetTLSCertKey(chain, key))
	ok(t, r.SetTLSVerifyStore(s))
	ok(t, e.Close())
	ok(t, s.Close())
	ok(t, r.SetTLSVerify(false)) // setters still work on a request of a closed engine
}

func TestTLSMaterialConcurrentUseAndClose(t *testing.T) {
	e := newEngine(t, "")
	pem := readPKI(t, "client-chain.pem")
	keyPEM := readPKI(t, "client.key")
	for round := 0; round < 10; round++ {
		chain, err := ParseCertChainPEM(pem)
		must(t, err)
		key, err := ParsePrivateKeyPEM(keyPEM, "")
		must(t, err)
		var wg sync.WaitGroup
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				if g%4 == 0 {
					ok(t, chain.Close())
					ok(t, key.Close())
					return
				}
				r, err := e.NewRequest()
				if err != nil {
					t.Error(err)
					return
				}
				defer r.Close()
				for i := 0; i < 20; i++ {
					err := r.SetTLSCertKey(chain, key)
					if err != nil && !errIsWithPrefix(err, ErrClosed, "the ") {
						t.Errorf("SetTLSCertKey: %v", err)
					}
				}
			}(g)
		}
		wg.Wait()
	}
}
