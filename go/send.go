package svc

import (
	"context"
	"encoding/binary"
	"net/http"
	"net/textproto"
	"runtime"
	"sort"
	"strings"

	"svc/internal/capi"
)

type cResponse = capi.SwigcptrStruct_SS_svc_response

// Response is the HTTP/1.1 response of Request.Send.
type Response struct {
	Status int         // e.g. 200
	Header http.Header // canonical keys ("X-Backend"); every value, in the order received
	Body   []byte      // chunked transfer coding removed; empty (not nil) when there is none
	Peer   Peer        // the peer that answered: IP and Port (Host is empty)
}

// Send sends one HTTP/1.1 request (svc_request_send) to the peer picked for
// it and reads the whole response, with the retries, pooling, TLS policy
// and passive health of Connect: svc picks a peer, takes an idle pooled
// connection to it or connects (and does the TLS handshake for "https"),
// writes the request, reads the response, reports the try's status to
// passive health and the balancers, and keeps the connection alive in its
// pool when the response allows it. The request enters PhaseLog.
//
// A try is retried on another peer when it failed before any byte of the
// response came back: on connection failures and timeouts for every
// method, and on a reset or close for idempotent methods (GET, HEAD, PUT,
// DELETE, OPTIONS, TRACE); never once a response started. Errors are the
// last try's *Error, whose message lists every try (e.g. "1 try failed:
// try 1 (127.0.0.1:9001): read from 127.0.0.1:9001 failed: Connection
// reset by peer"); a response over the engine's limits.max_header_bytes or
// limits.max_body_bytes is ErrProtocol.
//
// method is e.g. "GET"; path is the request target, starting with '/'.
// header is sent as "Name: value" lines, one per value, keys in sorted
// order; nil sends none. The Host header is the peer's host (with the
// port unless it is the scheme's default) unless header holds one;
// Content-Length is set from body (and for POST, PUT and PATCH always);
// Connection, Content-Length and Transfer-Encoding may not be given
// (ErrInvalid). A line holding CR, LF or NUL, or a name that is not an
// HTTP token, is ErrInvalid ("header 'X-A: b\r\nX-Evil: 1' contains CR,
// LF or NUL"): no header injection.
//
// ctx works as for Connect: Send blocks the calling goroutine (the
// OnBalancer callback runs on it, once per try), and when ctx is done
// first svc_request_cancel ends the call; the error then matches both
// ctx.Err() and ErrCanceled (a *CanceledError).
func (r *Request) Send(ctx context.Context, method, path string, header http.Header, body []byte) (*Response, error) {
	if ctx == nil {
		return nil, invalidf("ctx must not be nil")
	}
	if err := r.notInCallback("Send"); err != nil {
		return nil, err
	}
	if err := checkTexts("method", method, "path", path); err != nil {
		return nil, err
	}
	lines, err := headerLines(header)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr == 0 {
		return nil, closedError("request")
	}
	p := r.ptr
	var rp uintptr
	stop := cancelOnDone(ctx, p)
	err = takeError(capi.SvcRequestSend(p, method, path, lines, body, &rp))
	stop()
	runtime.KeepAlive(r)
	if err != nil {
		return nil, contextError(ctx, err)
	}
	// One conversion to the interface the wrappers take (each allocates).
	var res capi.Struct_SS_svc_response = cResponse(rp)
	defer capi.SvcResponseFree(res)
	return readResponse(res), nil
}

// headerLines returns the header as svc_request_send's typemap takes it:
// every "Name: value" line followed by a NUL byte, keys sorted (values in
// their order), "" for none. A line holding a NUL byte is rejected here
// with the C library's message (C would cut it short at the NUL).
func headerLines(header http.Header) (string, error) {
	if len(header) == 0 {
		return "", nil
	}
	keys := make([]string, 0, len(header))
	size := 0
	for k, vs := range header {
		keys = append(keys, k)
		for _, v := range vs {
			size += len(k) + len(v) + 3
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.Grow(size)
	for _, k := range keys {
		for _, v := range header[k] {
			start := b.Len()
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(v)
			if strings.IndexByte(k, 0) >= 0 || strings.IndexByte(v, 0) >= 0 {
				line := b.String()[start:]
				if len(line) > 200 {
					line = line[:200] // as the C library quotes it
				}
				return "", invalidf("header '%s' contains CR, LF or NUL", line)
			}
			b.WriteByte(0)
		}
	}
	return b.String(), nil
}

// readResponse copies a C response into Go memory with two C calls (the
// block of svc_go_response_copy, see svc.i) rather than one per header,
// and few allocations: the block, one string holding every name and value,
// the Header map and one array of values that the keys' slices share.
func readResponse(res capi.Struct_SS_svc_response) *Response {
	block := make([]byte, capi.SvcGoResponseSize(res))
	return parseResponse(block[:capi.SvcGoResponseCopy(res, block)])
}

// parseResponse reads a block of svc_go_response_copy; the Body is the end
// of it.
func parseResponse(block []byte) *Response {
	const head = 32 // status, peer port, header count, text bytes: uint64 each
	if len(block) < head {
		return &Response{Header: http.Header{}, Body: []byte{}} // not reached: the size was right
	}
	n := int(binary.NativeEndian.Uint64(block[16:]))
	textEnd := min(head+int(binary.NativeEndian.Uint64(block[24:])), len(block))
	canonicalNames(block[head:textEnd])
	text := string(block[head:textEnd])
	next := func() string {
		i := strings.IndexByte(text, 0)
		if i < 0 {
			i = len(text) // not reached: every field ends in a NUL byte
		}
		field := text[:i]
		text = text[min(i+1, len(text)):]
		return field
	}
	out := &Response{
		Status: int(binary.NativeEndian.Uint64(block[0:])),
		Peer:   Peer{IP: next(), Port: int(binary.NativeEndian.Uint64(block[8:]))},
		Header: make(http.Header, n),
		Body:   block[textEnd:len(block):len(block)], // the caller may append: never into the text
	}
	values := make([]string, n)
	for i := 0; i < n; i++ {
		name := next()
		values[i] = next()
		key := name
		if !isCanonical(name) { // a name canonicalNames left alone
			key = textproto.CanonicalMIMEHeaderKey(name)
		}
		if vs, found := out.Header[key]; found {
			out.Header[key] = append(vs, values[i])
		} else {
			out.Header[key] = values[i : i+1 : i+1] // a later append copies
		}
	}
	return out
}

// canonicalNames rewrites, in place, every header name of a response block's
// text (after the peer's IP; name and value alternate, each followed by a
// NUL byte) made only of letters, digits and '-' into its canonical form, as
// textproto.CanonicalMIMEHeaderKey writes it ("x-tls-version" ->
// "X-Tls-Version"), so that the names need no allocation of their own.
// Other names are left for CanonicalMIMEHeaderKey.
func canonicalNames(text []byte) {
	field := 0 // 0: the IP; then odd: a name, even: a value
	start := 0
	for i, c := range text {
		if c != 0 {
			continue
		}
		if field%2 == 1 {
			name := text[start:i]
			simple := len(name) > 0
			for _, b := range name {
				if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-') {
					simple = false
					break
				}
			}
			if simple {
				upper := true
				for j, b := range name {
					if upper && 'a' <= b && b <= 'z' {
						name[j] = b - ('a' - 'A')
					} else if !upper && 'A' <= b && b <= 'Z' {
						name[j] = b + ('a' - 'A')
					}
					upper = b == '-'
				}
			}
		}
		field++
		start = i + 1
	}
}

// isCanonical reports whether name is what textproto.CanonicalMIMEHeaderKey
// returns for it without allocating: canonicalNames wrote it so.
func isCanonical(name string) bool {
	if name == "" {
		return false
	}
	upper := true
	for i := 0; i < len(name); i++ {
		b := name[i]
		switch {
		case 'a' <= b && b <= 'z':
			if upper {
				return false
			}
		case 'A' <= b && b <= 'Z':
			if !upper {
				return false
			}
		case '0' <= b && b <= '9', b == '-':
		default:
			return false
		}
		upper = b == '-'
	}
	return true
}
