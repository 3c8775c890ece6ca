package svc

import (
	"runtime"
	"sync"

	"svc/internal/capi"
)

type (
	cCertChain  = capi.SwigcptrStruct_SS_svc_cert_chain
	cPrivateKey = capi.SwigcptrStruct_SS_svc_private_key
	cTrustStore = capi.SwigcptrStruct_SS_svc_trust_store
)

// material guards one TLS handle: shared for calls (the C objects are
// thread-safe), exclusive for Close.
type material[P ~uintptr] struct {
	mu  sync.RWMutex
	ptr P // 0 once closed
}

// borrow read-locks the handle for one call that uses it; the caller runs
// unlock afterwards. A nil owner lends the NULL handle (the C library
// answers "... must not be NULL").
func (m *material[P]) borrow(what string) (P, func(), error) {
	if m == nil {
		return 0, func() {}, nil
	}
	m.mu.RLock()
	if m.ptr == 0 {
		m.mu.RUnlock()
		return 0, nil, closedError(what)
	}
	return m.ptr, m.mu.RUnlock, nil
}

// close frees the handle once.
func (m *material[P]) close(free func(P)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ptr != 0 {
		free(m.ptr)
		m.ptr = 0
	}
}

// CertChain is a parsed PEM certificate chain (leaf first). Immutable and
// safe for concurrent use; requests keep their own reference, so it may be
// closed while they still use it.
type CertChain struct{ m material[cCertChain] }

// ParseCertChainPEM parses a PEM certificate chain, leaf first
// (ErrInvalid "chain: no certificate found in PEM", ...).
func ParseCertChainPEM(pem []byte) (*CertChain, error) {
	var p uintptr
	if err := takeError(capi.SvcCertChainParsePem(&p, string(pem))); err != nil {
		return nil, err
	}
	c := &CertChain{m: material[cCertChain]{ptr: cCertChain(p)}}
	runtime.SetFinalizer(c, (*CertChain).Close)
	return c, nil
}

func (c *CertChain) borrow() (cCertChain, func(), error) {
	if c == nil {
		return 0, func() {}, nil
	}
	return c.m.borrow("certificate chain")
}

// Close releases the handle. Idempotent and safe to call concurrently.
func (c *CertChain) Close() error {
	c.m.close(func(p cCertChain) { capi.SvcCertChainFree(p) })
	runtime.SetFinalizer(c, nil)
	return nil
}

// PrivateKey is a parsed PEM private key. Immutable and safe for concurrent use.
type PrivateKey struct{ m material[cPrivateKey] }

// ParsePrivateKeyPEM parses a PEM private key; passphrase "" means the key
// is not encrypted (ErrInvalid "key: bad decrypt", ...).
func ParsePrivateKeyPEM(pem []byte, passphrase string) (*PrivateKey, error) {
	if err := checkText("passphrase", passphrase); err != nil {
		return nil, err
	}
	var p uintptr
	if err := takeError(capi.SvcPrivateKeyParsePem(&p, string(pem), passphrase)); err != nil {
		return nil, err
	}
	k := &PrivateKey{m: material[cPrivateKey]{ptr: cPrivateKey(p)}}
	runtime.SetFinalizer(k, (*PrivateKey).Close)
	return k, nil
}

func (k *PrivateKey) borrow() (cPrivateKey, func(), error) {
	if k == nil {
		return 0, func() {}, nil
	}
	return k.m.borrow("private key")
}

// Close releases the handle. Idempotent and safe to call concurrently.
func (k *PrivateKey) Close() error {
	k.m.close(func(p cPrivateKey) { capi.SvcPrivateKeyFree(p) })
	runtime.SetFinalizer(k, nil)
	return nil
}

// TrustStore is a set of trusted CA certificates. It can grow until a
// request uses it (SetTLSVerifyStore); then it is frozen. Safe for
// concurrent use.
type TrustStore struct{ m material[cTrustStore] }

// NewTrustStore creates an empty trust store.
func NewTrustStore() (*TrustStore, error) {
	var p uintptr
	if err := takeError(capi.SvcTrustStoreNew(&p)); err != nil {
		return nil, err
	}
	s := &TrustStore{m: material[cTrustStore]{ptr: cTrustStore(p)}}
	runtime.SetFinalizer(s, (*TrustStore).Close)
	return s, nil
}

func (s *TrustStore) borrow() (cTrustStore, func(), error) {
	if s == nil {
		return 0, func() {}, nil
	}
	return s.m.borrow("trust store")
}

func (s *TrustStore) call(f func(p cTrustStore) capi.Struct_SS_svc_error) error {
	p, unlock, err := s.m.borrow("trust store")
	if err != nil {
		return err
	}
	defer unlock()
	err = takeError(f(p))
	runtime.KeepAlive(s)
	return err
}

// AddPEM adds every certificate of a PEM bundle; on error the store is unchanged.
func (s *TrustStore) AddPEM(pem []byte) error {
	text := string(pem)
	return s.call(func(p cTrustStore) capi.Struct_SS_svc_error { return capi.SvcTrustStoreAddPem(p, text) })
}

// LoadFile adds the certificates of a PEM bundle file.
func (s *TrustStore) LoadFile(path string) error {
	if err := checkText("path", path); err != nil {
		return err
	}
	return s.call(func(p cTrustStore) capi.Struct_SS_svc_error { return capi.SvcTrustStoreLoadFile(p, path) })
}

// LoadSystem adds the system's trusted certificates.
func (s *TrustStore) LoadSystem() error {
	return s.call(func(p cTrustStore) capi.Struct_SS_svc_error { return capi.SvcTrustStoreLoadSystem(p) })
}

// Close releases the handle; requests that use the store keep it alive.
// Idempotent and safe to call concurrently.
func (s *TrustStore) Close() error {
	s.m.close(func(p cTrustStore) { capi.SvcTrustStoreFree(p) })
	runtime.SetFinalizer(s, nil)
	return nil
}
