package wire

// eventKind is the type of a stream event that carries audit data, read
// from a payload's "type" member or from the SSE event: field. Every other
// type is kindUnknown, and its payload is not read.
type eventKind uint8

const (
	kindUnknown eventKind = iota
	kindError

	// Anthropic Messages.
	kindMessageStart
	kindMessageDelta
	kindMessageStop

	// OpenAI Responses.
	kindResponseCreated
	kindResponseInProgress
	kindResponseQueued
	kindResponseCompleted
	kindResponseFailed
	kindResponseIncomplete
)

// kindOf returns the kind of an event type name. The switch on string(name)
// does not allocate.
func kindOf(name []byte) eventKind {
	switch string(name) {
	case "error":
		return kindError
	case "message_start":
		return kindMessageStart
	case "message_delta":
		return kindMessageDelta
	case "message_stop":
		return kindMessageStop
	case "response.created":
		return kindResponseCreated
	case "response.in_progress":
		return kindResponseInProgress
	case "response.queued":
		return kindResponseQueued
	case "response.completed":
		return kindResponseCompleted
	case "response.failed":
		return kindResponseFailed
	case "response.incomplete":
		return kindResponseIncomplete
	}
	return kindUnknown
}

// UnmarshalJSON reads a JSON string naming an event type without allocating.
// A string with escape sequences, which no provider sends in a type name,
// reads as kindUnknown.
func (k *eventKind) UnmarshalJSON(b []byte) error {
	*k = kindUnknown
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		*k = kindOf(b[1 : len(b)-1])
	}
	return nil
}
