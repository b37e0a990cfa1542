package anthropic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/agentaudit/agentaudit/audit/wire"
	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/llm/internal/streamtap"
)

// generateStream sends params as a streaming Messages API request and
// assembles the events into one Response. Every Response it returns, also
// beside an error, has Stream set.
func (m *Model) generateStream(ctx context.Context, params sdk.MessageNewParams, model string) (*llm.Response, error) {
	tap := streamtap.New(wire.AnthropicMessages)
	var httpResp *http.Response
	stream := m.client.Messages.NewStreaming(ctx, params,
		option.WithResponseInto(&httpResp), option.WithMiddleware(tap.Middleware))
	// The SDK's stream does not close its body at the end, so Close
	// releases the connection.
	defer stream.Close()

	var (
		msg      sdk.Message
		events   int
		rejected error
	)
	for stream.Next() {
		events++
		if err := msg.Accumulate(stream.Current()); err != nil {
			rejected = fmt.Errorf("anthropic: messages stream for model %q: event %d: %w; the server sent an invalid stream", model, events, err)
			break
		}
	}

	parsed := tap.Result()
	resp := convertResponse(&msg, parsed, httpResp)
	resp.Stream = true

	// The parser reads the provider's own message of an error event, which
	// the SDK reports as an error with the stream's HTTP status.
	if parsed.Failed {
		return resp, &llm.APIError{Provider: m.provider, StatusCode: resp.HTTPStatus, Message: streamErrorMessage(parsed, stream.Err()), Err: stream.Err()}
	}
	if err := stream.Err(); err != nil {
		var sdkErr *sdk.Error
		if errors.As(err, &sdkErr) {
			return resp, m.convertError(err, model)
		}
		return resp, fmt.Errorf("anthropic: messages stream for model %q: %w", model, err)
	}
	if rejected != nil {
		return resp, rejected
	}

	// The SDK reads to EOF without complaint, so a cut connection shows only
	// as a missing end. message_delta carries the stop reason together with
	// the final usage, so a stream that has one lacks nothing the audit trail
	// or the agent reads.
	if tap.Done() || msg.StopReason != "" {
		return resp, nil
	}
	if msg.Type != "message" {
		if !isEventStream(httpResp) {
			return resp, fmt.Errorf("anthropic: reply to the streaming messages request for model %q is not an event stream (Content-Type %q); check that the base URL points at the Anthropic Messages API", model, contentType(httpResp))
		}
		return resp, fmt.Errorf("anthropic: reply to the streaming messages request for model %q is not an Anthropic Messages stream: %d events, no message_start; check that the base URL points at the Anthropic Messages API", model, events)
	}
	return resp, fmt.Errorf("anthropic: messages stream for model %q ended after %d events without message_stop or a stop reason, so the reply is incomplete: %w", model, events, io.ErrUnexpectedEOF)
}

// streamErrorMessage returns the provider's message of an error event, or
// the SDK's text of the stream error when the parser read none.
func streamErrorMessage(parsed wire.Result, err error) string {
	switch {
	case parsed.ErrorMessage != "":
		return parsed.ErrorMessage
	case err != nil:
		return err.Error()
	}
	return "the stream carried an error event without a message"
}

// isEventStream reports whether resp has the text/event-stream media type.
func isEventStream(resp *http.Response) bool {
	mediaType, _, err := mime.ParseMediaType(contentType(resp))
	return err == nil && mediaType == "text/event-stream"
}

// contentType returns the Content-Type header of resp, or "" without one.
func contentType(resp *http.Response) string {
	if resp == nil {
		return ""
	}
	return resp.Header.Get("Content-Type")
}
