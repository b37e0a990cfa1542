package httpaudit

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/agentaudit/agentaudit/audit/wire"
)

// requestInfo holds the model and stream flag read from a request body.
type requestInfo struct {
	model   string
	streams bool
	// scanner is set for a body longer than the head that has no GetBody.
	// It scans the rest as the transport forwards it, and its model is read
	// when the call ends.
	scanner *memberScanner
}

// streamRequested reports whether the body asked for a stream, as far as
// it has been read.
func (ri *requestInfo) streamRequested() bool {
	if ri.scanner != nil {
		_, stream := ri.scanner.result()
		return stream
	}
	return ri.streams
}

// inspectRequest reads the requested model and stream flag from req's
// body, and returns the request to forward in place of req.
//
// Up to max bytes are read first and parsed with the wire package. A longer
// body is scanned whole for its top-level "model" and "stream" members,
// keeping only those.
//
// When req.GetBody is set, as it is for the SDKs' requests and for
// http.NewRequest with an in-memory body, the body is read from a fresh
// copy and req itself is forwarded unchanged, so the SDKs' retries still
// work. Otherwise the head is read from req.Body, and a shallow copy of req
// is returned whose body yields the head and then the rest of the original,
// scanning the rest as the transport reads it. The body is forwarded
// intact, and the original is still the one closed. A failed fresh copy
// only leaves the model unknown; a failed read of req.Body is replayed to
// the transport after the bytes read before it.
func inspectRequest(req *http.Request, api wire.API, max int) (*http.Request, requestInfo) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, requestInfo{}
	}

	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return req, requestInfo{}
		}
		// The copy is ours alone; a failed close cannot affect the request.
		defer rc.Close()
		head, err := readHead(rc, max, req.ContentLength)
		if errors.Is(err, io.EOF) {
			return req, parseHead(api, head)
		}
		var sc memberScanner
		_, _ = sc.Write(head)
		if err == nil {
			// A bytes.Reader copy is written to the scanner without copying.
			_, _ = io.Copy(&sc, rc)
		}
		model, stream := sc.result()
		return req, requestInfo{model: model, streams: stream}
	}

	orig := req.Body
	head, err := readHead(orig, max, req.ContentLength)
	var info requestInfo
	var rest io.Reader
	switch {
	case errors.Is(err, io.EOF):
		info = parseHead(api, head)
		rest = bytes.NewReader(head)
	case err != nil:
		var sc memberScanner
		_, _ = sc.Write(head)
		info.model, info.streams = sc.result()
		rest = io.MultiReader(bytes.NewReader(head), errorReader{err})
	default:
		info.scanner = &memberScanner{}
		_, _ = info.scanner.Write(head)
		rest = io.MultiReader(bytes.NewReader(head), io.TeeReader(orig, info.scanner))
	}
	out := req.WithContext(req.Context())
	out.Body = readCloser{Reader: rest, Closer: orig}
	return out, info
}

// parseHead reads a whole request body with the wire package.
func parseHead(api wire.API, body []byte) requestInfo {
	return requestInfo{
		model:   wire.RequestModel(api, body),
		streams: wire.RequestStreams(api, body),
	}
}

// readHead reads up to max bytes from r. It returns io.EOF when r ended
// within the limit, nil when the limit was reached first, and any other read
// error as is. size is the expected length when known, or -1.
func readHead(r io.Reader, max int, size int64) ([]byte, error) {
	capacity := 512
	if size > 0 && size < int64(max) {
		// One byte more, so that the read which finds the end fits.
		capacity = int(size) + 1
	}
	buf := make([]byte, 0, min(capacity, max))
	for len(buf) < max {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		end := min(cap(buf), max)
		n, err := r.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// errorReader returns err from every Read.
type errorReader struct{ err error }

func (e errorReader) Read([]byte) (int, error) { return 0, e.err }
