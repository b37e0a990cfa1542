// Package anthropic is an llm.Model on the official Anthropic Go SDK that
// calls the Messages API, with or without streaming.
package anthropic

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/agentaudit/agentaudit/audit/wire"
	"github.com/agentaudit/agentaudit/llm"
)

// DefaultProvider is the provider name a Model reports unless WithProvider
// sets another.
const DefaultProvider = "anthropic"

// DefaultMaxTokens is the output limit sent when Request.MaxTokens is 0,
// because the Messages API requires max_tokens.
const DefaultMaxTokens = 1024

// Model calls the Anthropic Messages API. It is safe for concurrent use.
type Model struct {
	client   sdk.Client
	provider string
	stream   bool
	// err is an invalid option, returned by every Generate call.
	err error
}

var _ llm.Model = (*Model)(nil)

// New returns a Model configured by opts. Without options the SDK's
// defaults apply: the API key from ANTHROPIC_API_KEY (or the SDK's other
// credential sources), the base URL from ANTHROPIC_BASE_URL, and the SDK's
// retry policy. An invalid option does not fail New: every Generate call
// returns its error.
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
	if cfg.maxRetries != nil {
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

// API returns "anthropic_messages".
func (m *Model) API() string { return string(wire.AnthropicMessages) }

// Generate sends req as one Messages API request. With WithStream(true) the
// request streams, and Generate returns when the stream ends (see
// WithStream). A provider's error reply is returned as an *llm.APIError
// with the HTTP status and the provider's message. Transport and context
// errors are wrapped, so errors.Is still matches context.Canceled and the
// like.
//
// A reply without "type": "message" and "role": "assistant", such as a
// Chat Completions body, is an error too, returned with a partial Response
// that carries the HTTP status, so that the audit trail records a failed
// call.
//
// Without streaming, SDK v2.17.0 rejects, before sending, a request whose
// MaxTokens is above 21,333, where it expects a non-streaming call to take
// over 10 minutes, or above the SDK's non-streaming limit for the model. A
// request timeout set with WithRequestOptions(option.WithRequestTimeout(d))
// lifts that check.
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
	msg, err := m.client.Messages.New(ctx, params, option.WithResponseInto(&httpResp))
	if err != nil {
		return nil, m.convertError(err, req.Model)
	}
	parsed := wire.ParseBody(wire.AnthropicMessages, []byte(msg.RawJSON()))
	resp := convertResponse(msg, parsed, httpResp)
	if msg.Type != "message" || msg.Role != "assistant" {
		return resp, fmt.Errorf("anthropic: reply to the messages request for model %q is not an Anthropic Messages response: it lacks \"type\": \"message\" and \"role\": \"assistant\"; check that the base URL points at the Anthropic Messages API", req.Model)
	}
	return resp, nil
}

// convertError turns an SDK error into an *llm.APIError when the provider
// replied with an error status, and wraps any other error.
func (m *Model) convertError(err error, model string) error {
	var sdkErr *sdk.Error
	if !errors.As(err, &sdkErr) {
		return fmt.Errorf("anthropic: messages request for model %q: %w", model, err)
	}

	// The SDK keeps the whole error body as the error's raw JSON.
	message := wire.ParseBody(wire.AnthropicMessages, []byte(sdkErr.RawJSON())).ErrorMessage
	if message == "" {
		message = sdkErr.Message
	}
	if message == "" {
		message = http.StatusText(sdkErr.StatusCode)
	}
	return &llm.APIError{Provider: m.provider, StatusCode: sdkErr.StatusCode, Message: message, Err: err}
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

// WithBaseURL sets the API base URL, such as "http://127.0.0.1:8080", in
// place of ANTHROPIC_BASE_URL or the SDK's default, https://api.anthropic.com.
// Requests go to <base URL>/v1/messages.
func WithBaseURL(baseURL string) Option {
	return func(c *config) {
		u, err := url.Parse(baseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.errs = append(c.errs, fmt.Errorf("anthropic: invalid base URL %q: use an absolute http or https URL such as http://127.0.0.1:8080", baseURL))
			return
		}
		c.baseURL = baseURL
	}
}

// WithAPIKey sets the API key in place of ANTHROPIC_API_KEY. With it the
// SDK reads no credential from the environment.
func WithAPIKey(key string) Option {
	return func(c *config) { c.apiKey = &key }
}

// WithProvider sets the provider name recorded in the audit trail. The
// default is DefaultProvider.
func WithProvider(name string) Option {
	return func(c *config) {
		if name == "" {
			c.errs = append(c.errs, errors.New("anthropic: provider name is empty; pass a name such as \"anthropic\" or omit WithProvider"))
			return
		}
		c.provider = name
	}
}

// WithHTTPClient sets the HTTP client the SDK sends requests with.
func WithHTTPClient(client *http.Client) Option {
	return func(c *config) {
		if client == nil {
			c.errs = append(c.errs, errors.New("anthropic: HTTP client is nil; pass a client or omit WithHTTPClient"))
			return
		}
		c.httpClient = client
	}
}

// WithMaxRetries sets how many times the SDK retries a request after a
// connection error or a 408, 409, 429 or 5xx reply (529 included), and 0
// sends each request once. Without it the SDK's default applies, which is
// 2 in SDK v2.17.0.
func WithMaxRetries(n int) Option {
	return func(c *config) {
		if n < 0 {
			c.errs = append(c.errs, fmt.Errorf("anthropic: invalid max retries %d: use 0 or more", n))
			return
		}
		c.maxRetries = &n
	}
}

// WithStream sets whether Generate streams the reply. The default is false.
//
// A streaming Generate assembles the events with the SDK's
// Message.Accumulate and takes the usage from the raw bytes of the stream,
// as the audit trail's parser reads them, merging message_start with
// message_delta. A stream that ends before message_stop and before a stop
// reason, or that carries an error event, is an error, returned with a
// partial Response that carries the usage seen so far.
func WithStream(on bool) Option {
	return func(c *config) { c.stream = on }
}

// WithRequestOptions adds SDK request options, such as option.WithHeader,
// applied after the options above.
func WithRequestOptions(opts ...option.RequestOption) Option {
	return func(c *config) { c.requestOptions = append(c.requestOptions, opts...) }
}
