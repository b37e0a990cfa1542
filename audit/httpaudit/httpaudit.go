// Package httpaudit records an llm_call entry for every LLM API call that
// an HTTP client makes, without changing how the client is called.
//
// The interceptor has two faces over one core. Middleware has the function
// type that openai-go's and anthropic-sdk-go's option.Middleware alias, so
// it plugs into option.WithMiddleware; Transport wraps an
// http.RoundTripper for any *http.Client. Each face recognises the wire API
// from the request path, reads the requested model from the request body,
// and watches the response body as the caller reads it. The entry is logged
// once, when the body reaches its end, fails or is closed, and is tied to
// the chat ID carried by the request's context (see audit.WithChatID).
//
// Requests to endpoints that are not an LLM API pass through untouched: no
// body is read and no entry is logged. The bytes the caller receives are
// the bytes the server sent; the interceptor reads nothing ahead of the
// caller and starts no goroutine.
package httpaudit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/audit/wire"
)

// DefaultMaxRequestBody is the default number of request body bytes parsed
// whole for the requested model, in bytes. A longer body is scanned for its
// top-level "model" and "stream" members instead.
const DefaultMaxRequestBody = 64 << 10

// DefaultMaxResponseBody is the default number of bytes of a non-streaming
// response body kept for parsing, in bytes. A longer body is still passed
// to the caller intact, but its usage is recorded as unknown.
const DefaultMaxResponseBody = 4 << 20

// UnknownModel is the model recorded when neither the request nor the
// response names one, such as for an error response to a request whose
// body could not be read.
const UnknownModel = "unknown"

// Option configures Middleware and Transport.
type Option func(*config)

type config struct {
	provider        string
	maxRequestBody  int
	maxResponseBody int
}

// WithProvider sets the provider name stored in every entry, such as
// "openai". By default the name is derived from the request's host:
//
//	api.openai.com                      openai
//	api.anthropic.com                   anthropic
//	generativelanguage.googleapis.com   gemini
//	api.groq.com                        groq
//	api.deepseek.com                    deepseek
//	api.x.ai                            xai
//	openrouter.ai                       openrouter
//	*.openai.azure.com                  azure-openai
//
// Any other host, such as a gateway or a server on loopback, is named by
// the API it serves: openai-compatible for Chat Completions, Responses and
// embeddings, anthropic-compatible for Anthropic Messages and
// gemini-compatible for Gemini generateContent.
func WithProvider(name string) Option {
	return func(c *config) { c.provider = name }
}

// WithMaxRequestBody sets how many bytes of a request body are read ahead
// and parsed whole for the requested model, in bytes; the default is
// DefaultMaxRequestBody. A longer body is forwarded intact and scanned for
// its top-level "model" and "stream" members as it passes. A value of 0 or
// less keeps the default.
func WithMaxRequestBody(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxRequestBody = n
		}
	}
}

// WithMaxResponseBody sets how many bytes of a non-streaming response body
// are kept for parsing, in bytes; the default is DefaultMaxResponseBody.
// Streaming bodies are parsed as they pass and are not limited. A value of
// 0 or less keeps the default.
func WithMaxResponseBody(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxResponseBody = n
		}
	}
}

// Middleware returns an interceptor with the signature of openai-go's and
// anthropic-sdk-go's option.Middleware, for option.WithMiddleware. The SDKs
// call middleware once per attempt, so every retry is its own entry.
//
// Middleware panics when logger is nil.
func Middleware(logger *audit.Logger, opts ...Option) func(*http.Request, func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	in := newInterceptor("Middleware", logger, opts)
	return in.do
}

// Transport returns an http.RoundTripper that logs every LLM API call made
// through base. A nil base means http.DefaultTransport.
//
// Transport panics when logger is nil.
func Transport(logger *audit.Logger, base http.RoundTripper, opts ...Option) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{in: newInterceptor("Transport", logger, opts), base: base}
}

type transport struct {
	in   *interceptor
	base http.RoundTripper
}

// RoundTrip sends req through the base transport and watches the response.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.in.do(req, t.base.RoundTrip)
}

// CloseIdleConnections closes the base transport's idle connections when
// it has a CloseIdleConnections method, so that http.Client's method of
// that name keeps working.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// interceptor is the core shared by Middleware and Transport.
type interceptor struct {
	logger *audit.Logger
	cfg    config
}

func newInterceptor(face string, logger *audit.Logger, opts []Option) *interceptor {
	if logger == nil {
		panic("httpaudit: " + face + " called with a nil *audit.Logger; pass the logger built by audit.New")
	}
	cfg := config{
		maxRequestBody:  DefaultMaxRequestBody,
		maxResponseBody: DefaultMaxResponseBody,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	return &interceptor{logger: logger, cfg: cfg}
}

// do sends req through next and arranges for one entry to be logged when
// the exchange ends. It never changes the outcome of the call.
func (in *interceptor) do(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	api, ok := wire.DetectAPI(req.Method, req.URL.Path)
	if !ok {
		return next(req)
	}
	start := time.Now()

	// Read the request body for the model and the stream flag.
	req, info := inspectRequest(req, api, in.cfg.maxRequestBody)
	if model := wire.ModelFromPath(req.URL.Path); model != "" && api == wire.GeminiGenerateContent {
		// Gemini names the model in the path; a body's "model" member, as
		// some clients send, is a resource name like "models/gemini-2.0-flash".
		info.model, info.scanner = model, nil
	}
	ex := &exchange{
		logger: in.logger,
		ctx:    logContext(req.Context()),
		start:  start,
		api:    api,
		call: &audit.LLMCall{
			Provider: in.provider(req.URL, api),
			API:      string(api),
			Model:    info.model,
		},
		path:    req.URL.Path,
		scanner: info.scanner,
	}

	resp, err := next(req)
	requestStreams := info.streamRequested() || wire.PathStreams(req.URL.Path)
	if err != nil {
		ex.call.Stream = requestStreams
		ex.fail(transportError(err))
		return resp, err
	}
	if resp == nil {
		// A RoundTripper must return a response or an error; log the call
		// rather than leave it out, and hand the caller what next returned.
		ex.fail("httpaudit: transport returned no response and no error")
		return resp, err
	}
	ex.watch(resp, requestStreams, in.cfg.maxResponseBody)
	return resp, nil
}

func (in *interceptor) provider(u *url.URL, api wire.API) string {
	if in.cfg.provider != "" {
		return in.cfg.provider
	}
	return providerFromHost(u, api)
}

// logContext returns a context that carries the chat ID of ctx and nothing
// else, so that an exchange keeps no request-scoped values alive and the
// entry is logged even after the request's context is cancelled.
func logContext(ctx context.Context) context.Context {
	return audit.WithChatID(context.Background(), audit.ChatID(ctx))
}

// transportError returns the text of a transport error without the request
// URL's query, which can carry an API key (Gemini's ?key=).
func transportError(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) && uerr.URL != "" {
		redacted := uerr.URL
		if u, perr := url.Parse(uerr.URL); perr == nil {
			u.RawQuery = ""
			u.User = nil
			redacted = u.String()
		} else if i := strings.IndexByte(redacted, '?'); i >= 0 {
			redacted = redacted[:i]
		}
		return fmt.Sprintf("%s %q: %v", uerr.Op, redacted, uerr.Err)
	}
	return err.Error()
}

// readCloser forwards reads to Reader and Close to Closer.
type readCloser struct {
	io.Reader
	io.Closer
}
