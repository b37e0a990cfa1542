package httpaudit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/audit/wire"
)

// The error texts recorded when the caller closes a body before its end.
const (
	errStreamClosed = "stream closed before completion"
	errBodyClosed   = "response body closed before completion"
)

// exchange is one watched call, from the request to its logged entry.
type exchange struct {
	logger *audit.Logger
	ctx    context.Context
	start  time.Time
	api    wire.API
	call   *audit.LLMCall
	// path is the request's URL path, for a model named there.
	path string
	// scanner, when set, reads the model of a request body forwarded after
	// the interceptor returned.
	scanner *memberScanner
}

// fail logs the call with status error and message msg.
func (ex *exchange) fail(msg string) {
	ex.call.Status = audit.StatusError
	ex.call.Error = msg
	ex.log()
}

func (ex *exchange) log() {
	if ex.call.Model == "" && ex.scanner != nil {
		ex.call.Model, _ = ex.scanner.result()
	}
	if ex.call.Model == "" {
		ex.call.Model = modelFromPath(ex.path)
	}
	if ex.call.Model == "" {
		// The audit trail requires a model; the one the provider reported
		// is the best that is known when the request named none.
		ex.call.Model = ex.call.ResponseModel
	}
	if ex.call.Model == "" {
		ex.call.Model = UnknownModel
	}
	// The request and the response are the client's and the provider's to
	// fill, so an identifier longer than the audit package accepts is cut
	// to fit rather than make Log reject the whole entry.
	ex.call.Provider = cutName(ex.call.Provider)
	ex.call.API = cutName(ex.call.API)
	ex.call.Model = cutName(ex.call.Model)
	ex.call.ResponseModel = cutName(ex.call.ResponseModel)
	ex.call.FinishReason = cutName(ex.call.FinishReason)
	ex.scanner = nil
	ex.call.DurationMs = time.Since(ex.start).Milliseconds()
	// Log does not block. It counts its own failures (a closed logger, a
	// full queue, an invalid entry) and reports them to the Logger's error
	// handler, so the caller's HTTP call never sees them.
	_ = ex.logger.Log(ex.ctx, ex.call)
}

// watch records resp's status and replaces resp.Body with a body that logs
// the call when it ends.
func (ex *exchange) watch(resp *http.Response, requestStreams bool, maxBody int) {
	ex.call.HTTPStatus = resp.StatusCode
	contentType := resp.Header.Get("Content-Type")
	eventStream := isEventStream(contentType)
	ex.call.Stream = eventStream || requestStreams

	// A body that cannot carry a response to parse ends the call now.
	if resp.Body == nil || resp.Body == http.NoBody || resp.StatusCode == http.StatusSwitchingProtocols {
		ex.end(wire.Result{}, true, nil, errBodyClosed)
		return
	}

	b := &watchedBody{rc: resp.Body, ex: ex, contentLength: resp.ContentLength}
	switch {
	case isEncoded(resp.Header.Get("Content-Encoding")):
		// NOTE: a body the transport did not decompress (the caller set
		// Accept-Encoding itself) is passed through unparsed, so its usage
		// is recorded as unknown.
		b.mode = modeOpaque
	case eventStream || (requestStreams && !strings.Contains(strings.ToLower(contentType), "json")):
		b.mode = modeStream
		b.parser = wire.NewStreamParser(ex.api)
	default:
		b.mode = modeBuffer
		b.max = maxBody
		if resp.ContentLength > 0 && resp.ContentLength <= int64(maxBody) {
			b.buf = make([]byte, 0, resp.ContentLength)
		}
	}
	resp.Body = b
}

// end fills the call from the parsed result res and logs it. complete
// reports whether the body reached its normal end, and readErr is the error
// that ended it early, if any. closedMsg is the error text for a body
// closed before its end.
func (ex *exchange) end(res wire.Result, complete bool, readErr error, closedMsg string) {
	c := ex.call
	c.ResponseModel = res.ResponseModel
	c.FinishReason = res.FinishReason
	c.Usage = res.Usage
	if !c.Usage.Available {
		c.Usage = audit.Usage{}
	}

	failed := res.Failed || readErr != nil || !complete || c.HTTPStatus >= 400
	if !failed {
		c.Status = audit.StatusSuccess
		ex.log()
		return
	}
	c.Status = audit.StatusError
	switch {
	case res.ErrorMessage != "":
		c.Error = res.ErrorMessage
	case readErr != nil:
		c.Error = "read response body: " + readErr.Error()
	case c.HTTPStatus >= 400:
		c.Error = fmt.Sprintf("HTTP %d %s", c.HTTPStatus, http.StatusText(c.HTTPStatus))
	case !complete:
		c.Error = closedMsg
	default:
		c.Error = "provider reported an error without a message"
	}
	ex.log()
}

// The ways a body is watched.
const (
	modeBuffer = iota // non-streaming: bytes kept up to max, parsed at the end
	modeStream        // streaming: bytes fed to a stream parser as they pass
	modeOpaque        // not parsed: only the status and duration are recorded
)

// watchedBody passes the response body's bytes to the caller unchanged and logs
// the call once: at EOF, on a read error, or on Close before either.
//
// Read and Close may be called from different goroutines, as net/http
// allows; mu guards the parsing state. After the entry is logged the body
// keeps no parsing state, and while the entry is pending it keeps only the
// stream parser's state or, for a non-streaming body, at most max bytes.
type watchedBody struct {
	rc            io.ReadCloser
	ex            *exchange
	contentLength int64

	mu     sync.Mutex
	logged bool
	mode   int
	parser *wire.StreamParser
	buf    []byte
	max    int
	n      int64
	// overflow is set when a non-streaming body outgrew max.
	overflow bool
}

// Read reads from the response body and feeds what it read to the parser.
func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n == 0 && err == nil {
		return n, err
	}
	b.mu.Lock()
	if !b.logged {
		b.consume(p[:n])
		switch {
		case err == io.EOF:
			b.finish(true, nil)
		case err != nil:
			b.finish(false, err)
		}
	}
	b.mu.Unlock()
	return n, err
}

// Close logs the call if it is still pending and closes the response body.
func (b *watchedBody) Close() error {
	b.mu.Lock()
	if !b.logged {
		b.finish(false, nil)
	}
	b.mu.Unlock()
	return b.rc.Close()
}

// consume records p; mu is held.
func (b *watchedBody) consume(p []byte) {
	if len(p) == 0 {
		return
	}
	b.n += int64(len(p))
	switch b.mode {
	case modeStream:
		b.feed(p)
	case modeBuffer:
		if b.overflow {
			return
		}
		if len(b.buf)+len(p) > b.max {
			b.overflow = true
			b.buf = nil
			return
		}
		b.buf = append(b.buf, p...)
	}
}

// feed writes p to the stream parser; mu is held. When the parser panics,
// parsing stops for this body, so a parsing bug leaves the usage unknown
// instead of breaking the caller's read.
func (b *watchedBody) feed(p []byte) {
	defer func() {
		if recover() != nil {
			b.mode = modeOpaque
			b.parser = nil
		}
	}()
	// StreamParser.Write always returns len(p), nil.
	_, _ = b.parser.Write(p)
}

// finish ends the watch and logs the call; mu is held. eof reports that the
// body reached io.EOF; readErr is the error that ended a read, if any.
func (b *watchedBody) finish(eof bool, readErr error) {
	b.logged = true
	var res wire.Result
	complete := eof
	closedMsg := errBodyClosed

	switch b.mode {
	case modeStream:
		closedMsg = errStreamClosed
		res = b.parser.Result()
		if readErr == nil && b.parser.Done() {
			// The stream's final event arrived; closing before the
			// transport's EOF is the normal end for SSE clients.
			complete = true
		}
	case modeBuffer:
		if !b.overflow {
			if !complete && readErr == nil {
				complete = b.bufferComplete()
			}
			if complete {
				res = wire.ParseBody(b.ex.api, b.buf)
			}
		}
	}

	// Drop the parsing state: a body that is never closed keeps nothing.
	b.parser = nil
	b.buf = nil
	b.ex.end(res, complete, readErr, closedMsg)
}

// bufferComplete reports whether a non-streaming body closed before EOF was
// nonetheless read whole, as json.Decoder leaves the trailing newline unread.
// A buffer that holds a whole JSON value counts as complete even when the
// Content-Length has bytes left: the newline after the value may arrive in a
// later TCP segment that the decoder never reads.
func (b *watchedBody) bufferComplete() bool {
	if b.contentLength >= 0 && b.n == b.contentLength {
		return true
	}
	return len(b.buf) > 0 && json.Valid(b.buf)
}

// isEventStream reports whether a Content-Type is text/event-stream.
func isEventStream(contentType string) bool {
	mediaType, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mediaType), "text/event-stream")
}

// isEncoded reports whether a Content-Encoding leaves the body compressed.
func isEncoded(contentEncoding string) bool {
	ce := strings.TrimSpace(contentEncoding)
	return ce != "" && !strings.EqualFold(ce, "identity")
}

// cutName returns s cut to at most audit.MaxNameBytes bytes, at a UTF-8
// character boundary.
func cutName(s string) string {
	if len(s) <= audit.MaxNameBytes {
		return s
	}
	end := audit.MaxNameBytes
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end]
}
