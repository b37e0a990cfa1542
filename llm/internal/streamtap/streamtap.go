// Package streamtap feeds the raw bytes of a streamed provider reply to a
// wire.StreamParser as an SDK reads them, so that the model adapters take
// the usage of a stream from the same parser as the rest of the project.
package streamtap

import (
	"io"
	"net/http"

	"github.com/agentaudit/agentaudit/audit/wire"
)

// Tap is an SDK middleware for one streaming call. Each attempt of the call,
// retries included, gets a new parser, so Result reports the reply that
// the SDK returned. A Tap is not safe for concurrent use: the SDK sends
// the attempts of one call one after another, and the caller reads the
// body on one goroutine.
type Tap struct {
	api    wire.API
	parser *wire.StreamParser
}

// New returns a Tap that parses a stream of api.
func New(api wire.API) *Tap {
	return &Tap{api: api}
}

// Middleware sends req through next and wraps the response body, so that
// every byte the SDK reads also reaches the parser. Its signature matches
// the option.Middleware type of the OpenAI and Anthropic Go SDKs.
func (t *Tap) Middleware(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	t.parser = wire.NewStreamParser(t.api)
	resp, err := next(req)
	if err != nil || resp == nil || resp.Body == nil {
		return resp, err
	}
	resp.Body = &teeBody{Reader: io.TeeReader(resp.Body, t.parser), Closer: resp.Body}
	return resp, nil
}

// Result returns what the stream of the last attempt reported so far: the
// zero Result when no request was sent.
func (t *Tap) Result() wire.Result {
	if t.parser == nil {
		return wire.Result{}
	}
	return t.parser.Result()
}

// Done reports whether the stream of the last attempt reached its normal
// end, such as the [DONE] sentinel or an Anthropic message_stop event.
func (t *Tap) Done() bool {
	return t.parser != nil && t.parser.Done()
}

// teeBody reads through the tee and closes the original body.
type teeBody struct {
	io.Reader
	io.Closer
}
