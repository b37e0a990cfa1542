// Package openai is an llm.Model on the official OpenAI Go SDK that calls
// the Chat Completions API, with or without streaming. It works with OpenAI
// and with any server that speaks the same API at another base URL.
package openai

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/agentaudit/agentaudit/audit/wire"
	"github.com/agentaudit/agentaudit/llm"
)

// DefaultProvider is the provider name a Model reports unless WithProvider
// sets another.
const DefaultProvider = "openai"

// maxErrorBodyBytes caps how much of an error response body is read for
// its message.
const maxErrorBodyBytes = 1 << 20

// Model calls a Chat Completions endpoint. It is safe for concurrent use.
type Model struct {
	client   sdk.Client
	provider string
	stream   bool
	// err is an invalid option, returned by every Generate call.
	err error
}

var _ llm.Model = (*Model)(nil)

// New returns a Model configured by opts. Without options it reads the base
// URL and API key from OPENAI_BASE_URL and OPENAI_API_KEY, as the SDK does,
// and uses the SDK's retry policy. An invalid option does not fail New:
// every Generate call returns its error.
func New(opts ...Option) *Model {
	cfg := config{provider: DefaultProvider}
	for _, opt := range opts {
		opt(&cfg)
	}

	var requestOptions []option.RequestOption
	if cfg.baseURL != "" {
		requestOptions = append(requestOptions, option.WithBaseURL(cfg.baseURL))
	}
	if cfg.apiKey != nil {
		requestOptions = append(requestOptions, option.WithAPIKey(*cfg.apiKey))
	}
	if cfg.httpClient != nil {
		requestOptions = append(requestOptions, option.WithHTTPClient(cfg.httpClient))
	}
	if cfg.maxRetries != nil && *cfg.maxRetries >= 0 {
		requestOptions = append(requestOptions, option.WithMaxRetries(*cfg.maxRetries))
	}
	requestOptions = append(requestOptions, cfg.requestOptions...)

	return &Model{
		client:   sdk.NewClient(requestOptions...),
		provider: cfg.provider,
		stream:   cfg.stream,
		err:      errors.Join(cfg.errs...),
	}
}

// Provider returns the provider name recorded in the audit trail.
func (m *Model) Provider() string { return m.provider }

// API returns "chat_completions".
func (m *Model) API() string { return string(wire.ChatCompletions) }

// Generate sends req as one chat completion request and returns the first
// choice. With WithStream(true) the request streams, and Generate returns
// when the stream ends (see WithStream). A provider's error reply is
// returned as an *llm.APIError with the HTTP status and the provider's
// message. Transport and context errors are wrapped, so errors.Is still
// matches context.Canceled and the like.
//
// A reply without a "choices" array, such as an Anthropic Messages body,
// is an error too, returned with a partial Response that carries the HTTP
// status, so that the audit trail records a failed call.
func (m *Model) Generate(ctx context.Context, req llm.Request) (*llm.Response, error) {
	if m.err != nil {
		return nil, m.err
	}
	params, err := newParams(req)
	if err != nil {
		return nil, err
	}
	if m.stream {
		return m.generateStream(ctx, params, req.Model)
	}

	var httpResp *http.Response
	completion, err := m.client.Chat.Completions.New(ctx, params, option.WithResponseInto(&httpResp))
	if err != nil {
		return nil, m.convertError(err, httpResp, req.Model)
	}
	parsed := wire.ParseBody(wire.ChatCompletions, []byte(completion.RawJSON()))
	resp := convertResponse(completion, parsed, httpResp)
	if !completion.JSON.Choices.Valid() {
		return resp, fmt.Errorf("openai: reply to the chat completion for model %q is not a Chat Completions response: it has no \"choices\" array; check that the base URL points at an OpenAI-compatible API", req.Model)
	}
	return resp, nil
}

// convertError turns an SDK error into an *llm.APIError when the provider
// replied with an error status, and wraps any other error.
func (m *Model) convertError(err error, httpResp *http.Response, model string) error {
	var sdkErr *sdk.Error
	status := 0
	switch {
	case errors.As(err, &sdkErr):
		status = sdkErr.StatusCode
		httpResp = sdkErr.Response
	case httpResp != nil && httpResp.StatusCode >= 400:
		// The SDK could not decode the error body, but the status is known.
		status = httpResp.StatusCode
	case isEventStream(httpResp):
		return fmt.Errorf("openai: chat completion for model %q: the server replied with an event stream to a request without streaming; turn streaming on with WithStream(true): %w", model, err)
	default:
		return fmt.Errorf("openai: chat completion for model %q: %w", model, err)
	}

	// The SDK keeps only the inner "error" object. The whole body, which the
	// SDK leaves readable on the response, is what wire.ParseBody reads.
	message := wire.ParseBody(wire.ChatCompletions, errorBody(httpResp)).ErrorMessage
	if message == "" && sdkErr != nil {
		message = sdkErr.Message
	}
	if message == "" {
		message = http.StatusText(status)
	}
	return &llm.APIError{Provider: m.provider, StatusCode: status, Message: message, Err: err}
}

// errorBody reads up to maxErrorBodyBytes of an error response body and
// puts the bytes back, so that the SDK error's dump methods still see them.
func errorBody(resp *http.Response) []byte {
	if resp == nil || resp.Body == nil {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
	return body
}

// Option configures a Model.
type Option func(*config)

type config struct {
	baseURL        string
	apiKey         *string
	provider       string
	httpClient     *http.Client
	maxRetries     *int
	stream         bool
	requestOptions []option.RequestOption
	errs           []error
}

// WithBaseURL sets the API base URL, such as "http://127.0.0.1:8080/v1",
// in place of OPENAI_BASE_URL or the SDK's default, https://api.openai.com/v1.
// Requests go to <base URL>/chat/completions.
func WithBaseURL(baseURL string) Option {
	return func(c *config) {
		u, err := url.Parse(baseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.errs = append(c.errs, fmt.Errorf("openai: invalid base URL %q: use an absolute http or https URL such as http://127.0.0.1:8080/v1", baseURL))
			return
		}
		c.baseURL = baseURL
	}
}

// WithAPIKey sets the API key in place of OPENAI_API_KEY.
func WithAPIKey(key string) Option {
	return func(c *config) { c.apiKey = &key }
}

// WithProvider sets the provider name recorded in the audit trail, such as
// "groq" for an OpenAI-compatible gateway. The default is DefaultProvider.
func WithProvider(name string) Option {
	return func(c *config) {
		if name == "" {
			c.errs = append(c.errs, errors.New("openai: provider name is empty; pass a name such as \"openai\" or omit WithProvider"))
			return
		}
		c.provider = name
	}
}

// WithHTTPClient sets the HTTP client the SDK sends requests with.
func WithHTTPClient(client *http.Client) Option {
	return func(c *config) {
		if client == nil {
			c.errs = append(c.errs, errors.New("openai: HTTP client is nil; pass a client or omit WithHTTPClient"))
			return
		}
		c.httpClient = client
	}
}

// WithMaxRetries sets how many times the SDK retries a request after a
// connection error or a 408, 409, 429 or 5xx reply, and 0 sends each
// request once. Without it the SDK's default applies, which is 2 in SDK
// v3.102.0.
func WithMaxRetries(n int) Option {
	return func(c *config) {
		if n < 0 {
			c.errs = append(c.errs, fmt.Errorf("openai: invalid max retries %d: use 0 or more", n))
			return
		}
		c.maxRetries = &n
	}
}

// WithStream sets whether Generate streams the reply. The default is false.
//
// A streaming Generate sends stream_options.include_usage, assembles the
// chunks with the SDK's ChatCompletionAccumulator and takes the usage from
// the raw bytes of the stream, as the audit trail's parser reads them. A
// server that sends no usage chunk leaves the usage unknown. A stream that
// ends before the [DONE] sentinel and before a finish reason, or that
// carries an error event, is an error, returned with a partial Response
// that carries the usage seen so far.
func WithStream(on bool) Option {
	return func(c *config) { c.stream = on }
}

// WithRequestOptions adds SDK request options, such as option.WithHeader,
// applied after the options above.
func WithRequestOptions(opts ...option.RequestOption) Option {
	return func(c *config) { c.requestOptions = append(c.requestOptions, opts...) }
}
