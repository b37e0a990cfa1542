package openai

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/agentaudit/agentaudit/audit/wire"
	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/llm/internal/streamtap"
)

// generateStream sends params as a streaming chat completion request and
// assembles the chunks into one Response. Every Response it returns, also
// beside an error, has Stream set.
func (m *Model) generateStream(ctx context.Context, params sdk.ChatCompletionNewParams, model string) (*llm.Response, error) {
	params.StreamOptions = sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)}
	tap := streamtap.New(wire.ChatCompletions)
	var httpResp *http.Response
	stream := m.client.Chat.Completions.NewStreaming(ctx, params,
		option.WithResponseInto(&httpResp), option.WithMiddleware(tap.Middleware))
	// Close releases the connection when reading stops before the end; the
	// stream closes itself otherwise, and a second Close is a no-op.
	defer stream.Close()

	var (
		acc      sdk.ChatCompletionAccumulator
		chunks   int
		rejected error
	)
	for stream.Next() {
		chunks++
		if !acc.AddChunk(stream.Current()) {
			rejected = fmt.Errorf("openai: chat completion stream for model %q: chunk %d does not continue the completion (another id, or a choice or tool call index out of range); the server sent an invalid stream", model, chunks)
			break
		}
	}

	parsed := tap.Result()
	resp := convertResponse(&acc.ChatCompletion, parsed, httpResp)
	resp.Stream = true

	// A provider's error event comes first, because the SDK reports it as
	// a generic stream error without the HTTP status.
	if parsed.Failed {
		return resp, &llm.APIError{Provider: m.provider, StatusCode: resp.HTTPStatus, Message: streamErrorMessage(parsed, stream.Err()), Err: stream.Err()}
	}
	if err := stream.Err(); err != nil {
		var sdkErr *sdk.Error
		if errors.As(err, &sdkErr) {
			return resp, m.convertError(err, httpResp, model)
		}
		return resp, fmt.Errorf("openai: chat completion stream for model %q: %w", model, err)
	}
	if rejected != nil {
		return resp, rejected
	}

	// The SDK ends a stream at EOF without complaint, so a cut connection
	// shows only as a missing end. NOTE: a server that sends no [DONE] is
	// taken as complete once a choice has its finish reason, which may lose
	// a usage chunk that was still to come.
	if tap.Done() || finishReasonSeen(&acc) {
		return resp, nil
	}
	if len(acc.Choices) == 0 && !parsed.Usage.Available {
		if !isEventStream(httpResp) {
			return resp, fmt.Errorf("openai: reply to the streaming chat completion for model %q is not an event stream (Content-Type %q); check that the base URL points at an OpenAI-compatible API", model, contentType(httpResp))
		}
		return resp, fmt.Errorf("openai: reply to the streaming chat completion for model %q is not a Chat Completions stream: %d events, none with \"choices\"; check that the base URL points at an OpenAI-compatible API", model, chunks)
	}
	return resp, fmt.Errorf("openai: chat completion stream for model %q ended after %d chunks without [DONE] or a finish reason, so the reply is incomplete: %w", model, chunks, io.ErrUnexpectedEOF)
}

// finishReasonSeen reports whether the first choice has a finish reason,
// which its last chunk carries.
func finishReasonSeen(acc *sdk.ChatCompletionAccumulator) bool {
	return len(acc.Choices) > 0 && acc.Choices[0].FinishReason != ""
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
