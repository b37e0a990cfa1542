// Package replay serves recorded provider response bodies on a loopback HTTP
// server, so that the real provider SDKs parse real wire bytes offline.
//
// A test loads recorded bodies with LoadFile, starts a Server with them and
// points an SDK client at Server.URL. Each request to the server receives the
// next recorded response, in order; Server.Requests returns what the client
// sent.
package replay

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Content types that LoadFile assigns by file extension.
const (
	ContentTypeJSON = "application/json"
	ContentTypeSSE  = "text/event-stream"
)

// Response is one recorded HTTP response that a Server replays.
type Response struct {
	// Status is the HTTP status code, and 0 means 200.
	Status int
	// ContentType is sent as the Content-Type header. A text/event-stream
	// body is written event by event, with a flush after each event.
	ContentType string
	// Body is sent as recorded.
	Body []byte
	// Header contains further response headers. Content-Type is taken from
	// ContentType, and Content-Length is computed by the server.
	Header http.Header
}

// JSON returns a Response that sends body as application/json with status.
func JSON(status int, body string) Response {
	return Response{Status: status, ContentType: ContentTypeJSON, Body: []byte(body)}
}

// LoadFile reads a recorded response body and returns it as a Response.
//
// The content type follows the file name: ".json" is application/json,
// ".sse" is a raw text/event-stream body, and ".chunks.jsonl" holds one SSE
// data payload per line, which LoadFile frames as "data: <line>\n\n" events
// of a text/event-stream body (blank lines are skipped).
//
// The status comes from the sibling "<case>.meta.yaml" when it exists: the
// exchange whose files.response_body names the file, or else the exchange
// at the call index N of a "<case>.N.response.*" name (N counts from 1).
// The recorded response headers come along, without the ones that describe
// the recorded transfer (Content-Length, Content-Encoding, Transfer-Encoding,
// Connection, Keep-Alive) and without Content-Type. Without a meta file, or
// when it records no status, the status is 200. Set Response.Status to
// override it.
func LoadFile(path string) (Response, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return Response{}, fmt.Errorf("replay: read response file: %w", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return Response{}, fmt.Errorf("replay: response file %q is empty; record a response body in it or pick another file", path)
	}

	name := filepath.Base(path)
	resp := Response{Status: http.StatusOK, Body: body}
	switch {
	case strings.HasSuffix(name, ".chunks.jsonl"):
		resp.ContentType = ContentTypeSSE
		resp.Body = frameChunks(body)
	case strings.HasSuffix(name, ".sse"):
		resp.ContentType = ContentTypeSSE
	case strings.HasSuffix(name, ".json"):
		resp.ContentType = ContentTypeJSON
	default:
		return Response{}, fmt.Errorf("replay: response file %q has an unknown extension; use .json, .sse or .chunks.jsonl", path)
	}

	if err := applyMeta(path, &resp); err != nil {
		return Response{}, err
	}
	return resp, nil
}

// frameChunks turns one JSON payload per line into SSE data events.
func frameChunks(body []byte) []byte {
	var out bytes.Buffer
	for line := range bytes.Lines(body) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		out.WriteString("data: ")
		out.Write(line)
		out.WriteString("\n\n")
	}
	return out.Bytes()
}

// meta is the part of a "<case>.meta.yaml" file that LoadFile reads.
type meta struct {
	Exchanges []struct {
		Response *struct {
			Status  *int                    `yaml:"status"`
			Headers map[string]headerValues `yaml:"headers"`
		} `yaml:"response"`
		Files struct {
			ResponseBody string `yaml:"response_body"`
		} `yaml:"files"`
	} `yaml:"exchanges"`
}

// headerValues reads a header recorded as one string or as a list.
type headerValues []string

func (h *headerValues) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind == yaml.SequenceNode {
		var values []string
		if err := node.Decode(&values); err != nil {
			return err
		}
		*h = values
		return nil
	}
	var value string
	if err := node.Decode(&value); err != nil {
		return err
	}
	*h = []string{value}
	return nil
}

// skippedHeaders describe the recorded transfer, not the response, so
// replaying them would contradict the body the server sends.
var skippedHeaders = map[string]bool{
	"Content-Length":    true,
	"Content-Encoding":  true,
	"Content-Type":      true,
	"Transfer-Encoding": true,
	"Connection":        true,
	"Keep-Alive":        true,
}

// applyMeta sets the status and headers of resp from the meta file beside
// path, when there is one.
func applyMeta(path string, resp *Response) error {
	name := filepath.Base(path)
	caseName, index, ok := splitResponseName(name)
	if !ok {
		return nil
	}
	metaPath := filepath.Join(filepath.Dir(path), caseName+".meta.yaml")
	raw, err := os.ReadFile(metaPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("replay: read meta file: %w", err)
	}
	var m meta
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("replay: decode meta file %q: %w", metaPath, err)
	}

	// Prefer the exchange that names the file, else take it by position.
	exchange := -1
	for i, e := range m.Exchanges {
		if e.Files.ResponseBody == name {
			exchange = i
			break
		}
	}
	if exchange < 0 {
		if index >= len(m.Exchanges) {
			return fmt.Errorf("replay: meta file %q lists %d exchanges, none for %q (call %d); add the exchange or remove the meta file", metaPath, len(m.Exchanges), name, index+1)
		}
		exchange = index
	}

	recorded := m.Exchanges[exchange].Response
	if recorded == nil {
		return nil
	}
	if recorded.Status != nil {
		if *recorded.Status < 100 || *recorded.Status > 999 {
			return fmt.Errorf("replay: meta file %q: status %d of %q is not an HTTP status code", metaPath, *recorded.Status, name)
		}
		resp.Status = *recorded.Status
	}
	for key, values := range recorded.Headers {
		key = http.CanonicalHeaderKey(key)
		if skippedHeaders[key] {
			continue
		}
		if resp.Header == nil {
			resp.Header = make(http.Header)
		}
		for _, v := range values {
			resp.Header.Add(key, v)
		}
	}
	return nil
}

// splitResponseName splits "<case>[.N].response.<ext>" into the case name
// and the zero-based call index (N-1, or 0 without N).
func splitResponseName(name string) (caseName string, index int, ok bool) {
	i := strings.Index(name, ".response.")
	if i <= 0 {
		return "", 0, false
	}
	caseName = name[:i]
	if dot := strings.LastIndexByte(caseName, '.'); dot > 0 {
		if n, err := strconv.Atoi(caseName[dot+1:]); err == nil && n >= 1 {
			return caseName[:dot], n - 1, true
		}
	}
	return caseName, 0, true
}
