package llm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agentaudit/agentaudit/audit"
)

// Audit returns a Model that calls m and logs one llm_call entry to logger
// after each Generate call returns. The entry has the provider, API,
// requested and response model, usage, duration, status, error, HTTP
// status, finish reason and whether the reply was streamed. Its step and
// chat ID come from the context (see WithStep and audit.WithChatID). When
// Generate returns an error with a partial Response, the entry takes the
// usage and stream flag from that Response.
//
// The returned Model passes on exactly what m returns. An error from
// logger.Log is not returned to the caller: the Logger counts it in its
// Stats, and reports lost entries to its error handler. A nil logger
// returns m itself. Audit panics when m is nil.
func Audit(m Model, logger *audit.Logger) Model {
	if m == nil {
		panic("llm: Audit: model is nil; pass the Model to wrap")
	}
	if logger == nil {
		return m
	}
	return &auditedModel{model: m, logger: logger}
}

type auditedModel struct {
	model  Model
	logger *audit.Logger
}

func (a *auditedModel) Provider() string { return a.model.Provider() }

func (a *auditedModel) API() string { return a.model.API() }

// Generate calls the wrapped model and logs the call. When the model
// panics, the call is logged as an error and the panic goes on.
func (a *auditedModel) Generate(ctx context.Context, req Request) (resp *Response, err error) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			a.log(ctx, req, nil, fmt.Errorf("llm: model panicked: %v", r), time.Since(start))
			panic(r)
		}
	}()

	resp, err = a.model.Generate(ctx, req)
	a.log(ctx, req, resp, err, time.Since(start))
	return resp, err
}

// log builds the llm_call entry of one Generate call and logs it.
func (a *auditedModel) log(ctx context.Context, req Request, resp *Response, callErr error, elapsed time.Duration) {
	call := &audit.LLMCall{
		Provider:   a.model.Provider(),
		API:        a.model.API(),
		Model:      req.Model,
		DurationMs: durationMs(elapsed),
		Status:     audit.StatusSuccess,
		Step:       Step(ctx),
	}
	if resp != nil {
		call.ResponseModel = resp.Model
		call.Usage = resp.Usage
		call.FinishReason = resp.FinishReason
		call.HTTPStatus = resp.HTTPStatus
		call.Stream = resp.Stream
	}
	if call.Model == "" {
		// NOTE: a request without a model fails, and its entry would fail
		// validation too and be lost. It is kept under the response model
		// or, without one, under "unknown".
		call.Model = call.ResponseModel
		if call.Model == "" {
			call.Model = "unknown"
		}
	}

	if callErr != nil {
		call.Status = audit.StatusError
		call.Error = callErr.Error()
		var apiErr *APIError
		if errors.As(callErr, &apiErr) {
			call.HTTPStatus = apiErr.StatusCode
			if apiErr.Message != "" {
				call.Error = apiErr.Message
			}
		}
	}

	// Values the audit trail rejects would lose the whole entry.
	if call.HTTPStatus < 100 || call.HTTPStatus > 599 {
		call.HTTPStatus = 0
	}
	if call.Step < 0 {
		call.Step = 0
	}

	// Log counts its own failures in Stats and reports lost entries to the
	// error handler. Returning them would fail a model call that succeeded.
	_ = a.logger.Log(ctx, call)
}

// durationMs returns d in whole milliseconds, rounded up, so that a call
// that took any time at all records at least 1.
func durationMs(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

type stepKey struct{}

// WithStep returns a context that carries the agent loop's step number,
// starting at 1. Audit records it as the step of each model call made
// with the context.
func WithStep(ctx context.Context, step int) context.Context {
	return context.WithValue(ctx, stepKey{}, step)
}

// Step returns the step number carried by ctx, or 0 when there is none.
func Step(ctx context.Context) int {
	step, _ := ctx.Value(stepKey{}).(int)
	return step
}
