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
	// scanner is set for a body longer than the head. It scans the rest as
	// the transport forwards it, and its model is read when the call ends.
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
// Up to max bytes are read from req.Body and parsed with the wire package.
// The returned request is a shallow copy of req whose body yields those
// bytes and then the rest of the original, so the body is forwarded intact
// and the original is still the one closed. The rest of a longer body is
// scanned for its top-level "model" and "stream" members as the transport
// forwards it. A failed read is replayed to the transport after the bytes
// read before it.
//
// req.GetBody is kept, so the SDKs' retries and the transport's rewinds
// still work. It is not used to read a copy, because a GetBody may return
// the reader that req.Body reads too; openai-go's does for a *bytes.Reader
// body.
func inspectRequest(req *http.Request, api wire.API, max int) (*http.Request, requestInfo) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, requestInfo{}
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
