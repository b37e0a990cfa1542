package d1

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/agentaudit/agentaudit/audit"
)

// APIError is an error reply of the D1 REST API: a status other than 2xx,
// or a body with "success": false.
type APIError struct {
	StatusCode int
	// Errors are the API's error objects, with the API token removed from
	// their messages.
	Errors []ErrorDetail
	// RetryAfter is the wait the reply's Retry-After header asked for; 0
	// when it had none.
	RetryAfter time.Duration
}

// ErrorDetail is one entry of an error reply's "errors" array.
type ErrorDetail struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "d1: HTTP %d", e.StatusCode)
	for i, d := range e.Errors {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		if d.Code != 0 {
			fmt.Fprintf(&b, "code %d: ", d.Code)
		}
		b.WriteString(d.Message)
	}
	return b.String()
}

// message returns the error messages joined, for matching.
func (e *APIError) message() string {
	msgs := make([]string, len(e.Errors))
	for i, d := range e.Errors {
		msgs[i] = d.Message
	}
	return strings.Join(msgs, "; ")
}

// transportError is a request that got no complete reply: the connection
// failed, timed out or was cut off mid-reply.
type transportError struct {
	err error
	// unsent is set when the connection was never made, so the statements
	// cannot have run.
	unsent bool
}

func (e *transportError) Error() string { return "d1: " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// errorKind sorts failures by what a caller can do about them.
type errorKind int

const (
	// kindUnsent failures left the statements unrun: HTTP 429, a refused
	// connection, or one of D1's transient errors, after which Cloudflare
	// advises retrying writes.
	kindUnsent errorKind = iota
	// kindUnknown failures may have run the statements: HTTP 5xx, a
	// timeout, a reply cut off.
	kindUnknown
	// kindAuth is a rejected token: HTTP 401 or 403.
	kindAuth
	// kindRow is a statement D1 rejected for a row's values: a constraint,
	// a value or statement too large. Other rows may still be written.
	kindRow
	// kindPermanent is any other rejected request, such as a missing table
	// or invalid SQL; retrying cannot help.
	kindPermanent
)

func (k errorKind) transient() bool { return k == kindUnsent || k == kindUnknown }

// transientMessages are D1 errors after which Cloudflare's D1 documentation
// advises retrying, and which D1 reports before committing anything.
var transientMessages = []string{
	"network connection lost",
	"storage caused object to be reset",
	"reset because its code was updated",
	"cannot resolve d1 db due to transient issue",
	"d1 db is overloaded",
	"too many requests queued",
}

// unknownMessages are D1 errors that a retry may cure but after which the
// statements may have run.
var unknownMessages = []string{
	"timed out",
	"timeout",
	"internal error",
}

// rowMessages are SQLite errors about the values of a statement's rows.
var rowMessages = []string{
	"sqlite_constraint",
	"constraint failed",
	"sqlite_toobig",
	"too big",
	"statement too long",
	"sqlite_mismatch",
	"datatype mismatch",
	"too many sql variables",
}

// classify returns the kind of a failure from Client.post.
func classify(err error) errorKind {
	var te *transportError
	if errors.As(err, &te) {
		if te.unsent {
			return kindUnsent
		}
		return kindUnknown
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return kindUnknown
		}
		return kindPermanent
	}

	switch apiErr.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return kindAuth
	case http.StatusTooManyRequests:
		return kindUnsent
	}
	msg := strings.ToLower(apiErr.message())
	switch {
	case containsAny(msg, transientMessages):
		return kindUnsent
	case apiErr.StatusCode >= 500, containsAny(msg, unknownMessages):
		return kindUnknown
	case containsAny(msg, rowMessages):
		return kindRow
	}
	return kindPermanent
}

// classified returns err for a failure that is not retried: row and other
// rejected statements are permanent for the request that carried them.
func classified(kind errorKind, err error) error {
	if kind == kindRow || kind == kindPermanent {
		return audit.Permanent(err)
	}
	return err
}

// isRowError reports whether err is a statement D1 rejected for a row's
// values, so that the request's other rows may succeed on their own.
func isRowError(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && classify(apiErr) == kindRow
}

// retryAfter returns the Retry-After wait of err, or 0.
func retryAfter(err error) time.Duration {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.RetryAfter
	}
	return 0
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
