package wire

import (
	"bytes"
	"io"
)

// A StreamParser is an io.Writer, so it can sit behind an io.TeeReader on
// the response body.
var _ io.Writer = (*StreamParser)(nil)

// DefaultMaxEventBytes is the default limit on the size of one line and of
// one event's data in a stream. A Responses API response.completed event
// repeats the whole response, output and instructions included, so the
// limit leaves room for long outputs.
const DefaultMaxEventBytes = 4 << 20

// releaseBytes is the buffer capacity above which a StreamParser frees a
// buffer once the line or event that grew it is done, so that one large
// event does not pin memory for the rest of the stream.
const releaseBytes = 64 << 10

// StreamParser reads a server-sent event stream of one provider API as the
// caller reads the response body, and extracts what the stream reports.
//
// It handles event: and data: fields, LF, CRLF and CR line endings,
// comment lines, data spread over several lines and the "[DONE]" sentinel.
// It keeps only the unfinished last line and the data of the current event,
// each at most the limit set by WithMaxEventBytes. An event over the limit
// is skipped and counted, and so is an event whose data is not valid JSON.
//
// Following the SSE specification, an event is read when the blank line
// after it arrives. An event that the body ends without a blank line after
// is not read.
//
// A response with an error status usually carries a JSON body, not a
// stream; ParseBody reads it. A StreamParser is not safe for concurrent
// use.
type StreamParser struct {
	c collector

	max      int
	line     []byte // unfinished line, when a write ended inside one
	data     []byte // data of the current event, lines joined by "\n"
	event    []byte // event: field of the current event
	hasData  bool   // the current event has a data: field
	tooLong  bool   // the current event or line is over max; it is skipped
	lineLong bool   // the unfinished line is over max
	skipLF   bool   // the last byte was CR, so an LF next ends no line
	skipped  int

	// decodeAll turns off the check that skips payloads which cannot
	// change the record, so that tests can compare the two.
	decodeAll bool
}

// StreamOption configures a StreamParser.
type StreamOption func(*StreamParser)

// WithMaxEventBytes sets the maximum size in bytes of one line and of one
// event's data. A larger event is skipped and counted by Skipped. The
// default, also used for n <= 0, is DefaultMaxEventBytes.
func WithMaxEventBytes(n int) StreamOption {
	return func(p *StreamParser) {
		if n > 0 {
			p.max = n
		}
	}
}

// NewStreamParser returns a StreamParser for a stream of api. For
// Embeddings, which has no streaming form, and for an API the package does
// not know, it reads only the [DONE] sentinel.
func NewStreamParser(api API, opts ...StreamOption) *StreamParser {
	p := &StreamParser{c: collector{api: api, stream: true}, max: DefaultMaxEventBytes}
	for _, opt := range opts {
		opt(p)
	}
	return p
}

// Write feeds the next bytes of the stream, split anywhere, even inside a
// line, a UTF-8 character or a CRLF pair. It never fails and always returns
// len(b), nil. It does not retain b.
func (p *StreamParser) Write(b []byte) (int, error) {
	n := len(b)
	// A line ends at the first CR or LF. Each is found with IndexByte,
	// which is much faster than IndexAny for a pair of bytes. The position
	// of the next CR is kept until the lines pass it, so a stream without
	// CRs is searched for one once per Write.
	cr := -1 // index of the next CR at or after off, len(b) for none
	for off := 0; off < len(b); {
		if p.skipLF {
			p.skipLF = false
			if b[off] == '\n' {
				off++
				continue
			}
		}

		if cr < off {
			cr = len(b)
			if i := bytes.IndexByte(b[off:], '\r'); i >= 0 {
				cr = off + i
			}
		}
		end := cr
		if i := bytes.IndexByte(b[off:cr], '\n'); i >= 0 {
			end = off + i
		}
		if end == len(b) {
			p.appendLine(b[off:])
			break
		}
		if b[end] == '\r' {
			p.skipLF = true
		}

		line := b[off:end]
		if len(p.line) > 0 || p.lineLong {
			p.appendLine(line)
			p.endLine(p.line)
		} else {
			p.lineLong = len(line) > p.max
			p.endLine(line)
		}
		off = end + 1
	}
	return n, nil
}

// Result returns what the stream has reported so far. It may be called at
// any time, also before the stream ends.
func (p *StreamParser) Result() Result {
	return p.c.result()
}

// Done reports whether the stream reached its normal end: the [DONE]
// sentinel, a Responses response.completed, response.failed or
// response.incomplete event, an Anthropic message_stop event, or a Gemini
// chunk with a finishReason. An error event alone does not end a stream
// normally; Result reports it as Failed.
func (p *StreamParser) Done() bool {
	return p.c.done
}

// Skipped returns the number of events that were not read because they
// exceeded the size limit or their data was not valid JSON. Data that
// cannot change the record, such as a content delta, is not decoded, so it
// is not counted even when it is not valid JSON.
func (p *StreamParser) Skipped() int {
	return p.skipped
}

// ParseStream reads a complete stream body of api.
func ParseStream(api API, body []byte) Result {
	p := NewStreamParser(api)
	p.Write(body)
	return p.Result()
}

// appendLine adds b to the unfinished line, or marks the line too long when
// it would exceed the limit. The buffer never grows past max.
func (p *StreamParser) appendLine(b []byte) {
	if p.lineLong {
		return
	}
	if len(p.line)+len(b) > p.max {
		p.lineLong = true
		p.line = p.line[:0]
		return
	}
	p.line = appendBounded(p.line, b, p.max)
}

// endLine processes one complete line, without its line ending.
func (p *StreamParser) endLine(line []byte) {
	switch {
	case p.lineLong:
		p.tooLong = true
	case len(line) == 0:
		p.dispatch()
	default:
		p.field(line)
	}

	p.lineLong = false
	p.line = release(p.line)
}

// field processes one non-blank line: a comment, or a field name with an
// optional value after a colon and one optional space.
func (p *StreamParser) field(line []byte) {
	if line[0] == ':' {
		return
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}

	switch string(name) {
	case "data":
		p.appendData(value)
	case "event":
		p.event = appendBounded(p.event[:0], value, p.max)
	}
}

// appendData adds one data: line to the current event's data.
func (p *StreamParser) appendData(value []byte) {
	if p.tooLong {
		return
	}
	size := len(p.data) + len(value)
	if p.hasData {
		size++
	}
	if size > p.max {
		p.tooLong = true
		p.data = p.data[:0]
		return
	}
	if p.hasData {
		p.data = appendBounded(p.data, []byte{'\n'}, p.max)
	}
	p.data = appendBounded(p.data, value, p.max)
	p.hasData = true
}

// dispatch reads the current event at the blank line that ends it.
func (p *StreamParser) dispatch() {
	switch {
	case p.tooLong:
		p.skipped++
	case p.hasData:
		if !p.payload(p.event, bytes.TrimSpace(p.data)) {
			p.skipped++
		}
	}

	p.data = release(p.data)
	p.event = release(p.event)
	p.hasData = false
	p.tooLong = false
}

// payload reads one event's data and reports whether it was read or
// deliberately ignored; false means the data was not valid JSON.
func (p *StreamParser) payload(event, data []byte) bool {
	if string(data) == "[DONE]" {
		p.c.done = true
		return true
	}
	if len(data) == 0 {
		return true
	}

	// A payload that cannot change the record is not decoded, so it is not
	// checked for valid JSON either.
	switch p.c.api {
	case ChatCompletions:
		if !p.decodeAll && !hasMember(data, chatNames, p.c.unknownModel("model")) {
			return true
		}
		return p.c.chatPayload(data)
	case GeminiGenerateContent:
		if !p.decodeAll && !hasMember(data, geminiNames, p.c.unknownModel("modelVersion")) {
			return true
		}
		return p.c.geminiPayload(data)
	case AnthropicMessages, Responses:
		// An event: field names the type. An event type that carries no
		// audit data, such as a text delta, is not decoded at all.
		kind := kindUnknown
		if len(event) > 0 {
			kind = kindOf(event)
			if kind == kindUnknown {
				return true
			}
			if kind == kindMessageStop {
				p.c.done = true
				return true
			}
		} else if !p.decodeAll && !hasKnownType(data) {
			return true
		}
		if p.c.api == AnthropicMessages {
			return p.c.anthropicEvent(kind, data)
		}
		return p.c.responsesEvent(kind, data)
	}
	return true
}

// appendBounded appends src to dst, growing the capacity to at most limit;
// the caller checks that len(dst)+len(src) <= limit.
func appendBounded(dst, src []byte, limit int) []byte {
	need := len(dst) + len(src)
	if need > cap(dst) {
		grown := max(2*cap(dst), need, 512)
		grown = min(grown, limit)
		next := make([]byte, len(dst), grown)
		copy(next, dst)
		dst = next
	}
	return append(dst, src...)
}

// release returns b emptied, or nil when its capacity exceeds releaseBytes.
func release(b []byte) []byte {
	if cap(b) > releaseBytes {
		return nil
	}
	return b[:0]
}
