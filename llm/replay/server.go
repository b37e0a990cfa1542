package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// MaxRequestBytes caps the request body a Server reads and records.
const MaxRequestBytes = 32 << 20

// shutdownTimeout bounds how long Close waits for requests in flight before
// it closes their connections.
const shutdownTimeout = 5 * time.Second

// Request is one HTTP request a Server received.
type Request struct {
	Method string
	// Path is the URL path, with the query after "?" when there is one.
	Path   string
	Header http.Header
	Body   []byte
}

// Server is a loopback HTTP server that responds to each POST request with
// the next recorded Response. After the last one it responds 500 with a JSON
// error body. Other methods get 405 and use up no response.
//
// A Server is safe for concurrent use. Concurrent requests take responses
// in the order the server receives them.
type Server struct {
	listener net.Listener
	http     *http.Server
	served   chan struct{} // closed when the Serve goroutine returns
	serveErr error         // written before served is closed

	mu        sync.Mutex
	responses []Response
	next      int
	requests  []Request

	closeOnce sync.Once
	closeErr  error
}

// NewServer starts a Server on 127.0.0.1 at a free port that replays
// responses in order. The caller must call Close.
func NewServer(responses ...Response) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("replay: listen on 127.0.0.1: %w", err)
	}
	s := &Server{
		listener:  ln,
		served:    make(chan struct{}),
		responses: append([]Response(nil), responses...),
	}
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}

	go func() {
		defer close(s.served)
		if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.serveErr = err
		}
	}()
	return s, nil
}

// URL returns the server's base URL, such as "http://127.0.0.1:40123",
// without a trailing slash.
func (s *Server) URL() string {
	return "http://" + s.listener.Addr().String()
}

// Requests returns a copy of the requests received so far, in order,
// including those that arrived after the recorded responses ran out. The
// caller may modify the copy.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Header = r.Header.Clone()
		r.Body = bytes.Clone(r.Body)
		out[i] = r
	}
	return out
}

// Served returns how many recorded responses the server has sent.
func (s *Server) Served() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// Close stops the server: it waits up to 5 seconds for requests in flight,
// then closes every connection and waits for the serving goroutine to
// return. Close is idempotent, and later calls return the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		err := s.http.Shutdown(ctx)
		if err != nil {
			// Requests still in flight after the timeout are cut off.
			err = errors.Join(err, s.http.Close())
		}
		<-s.served
		s.closeErr = errors.Join(err, s.serveErr)
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("replay: close server: %w", s.closeErr)
		}
	})
	return s.closeErr
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, readErr := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	path := r.URL.Path
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}

	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: path, Header: r.Header.Clone(), Body: body})
	var (
		resp   Response
		ok     bool
		served = s.next
	)
	if readErr == nil && len(body) <= MaxRequestBytes && r.Method == http.MethodPost && s.next < len(s.responses) {
		resp, ok = s.responses[s.next], true
		s.next++
	}
	s.mu.Unlock()

	switch {
	case readErr != nil:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("replay: read request body: %v", readErr))
	case len(body) > MaxRequestBytes:
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("replay: request body exceeds %d bytes", MaxRequestBytes))
	case r.Method != http.MethodPost:
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("replay: method %s not served; send POST", r.Method))
	case !ok:
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("replay: no more recorded responses (served %d)", served))
	default:
		writeResponse(w, resp)
	}
}

// writeResponse sends resp. An event stream goes out one event per write,
// each flushed, so that the client reads it as a stream.
func writeResponse(w http.ResponseWriter, resp Response) {
	for key, values := range resp.Header {
		w.Header()[key] = append([]string(nil), values...)
	}
	if resp.ContentType != "" {
		w.Header().Set("Content-Type", resp.ContentType)
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}

	if resp.ContentType != ContentTypeSSE {
		w.Header().Set("Content-Length", strconv.Itoa(len(resp.Body)))
		w.WriteHeader(status)
		// A write error means the client went away, so there is no one to tell.
		_, _ = w.Write(resp.Body)
		return
	}

	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	rc := http.NewResponseController(w)
	for _, event := range splitEvents(resp.Body) {
		if _, err := w.Write(event); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// splitEvents splits an event-stream body after each blank line, keeping
// every byte, so that each piece is one event with its terminator.
func splitEvents(body []byte) [][]byte {
	var events [][]byte
	for len(body) > 0 {
		end := len(body)
		for _, sep := range [][]byte{[]byte("\n\n"), []byte("\r\n\r\n")} {
			if i := bytes.Index(body, sep); i >= 0 && i+len(sep) < end {
				end = i + len(sep)
			}
		}
		events = append(events, body[:end])
		body = body[end:]
	}
	return events
}

// writeError sends the JSON error body that OpenAI and Anthropic clients
// both read the message from.
func writeError(w http.ResponseWriter, status int, message string) {
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"message": message}})
	w.Header().Set("Content-Type", ContentTypeJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
