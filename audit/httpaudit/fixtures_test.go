package httpaudit

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentaudit/agentaudit/internal/fixtures"
)

// fixtureServer serves call at its path and records the request body the
// server received.
func fixtureServer(t *testing.T, call fixtureCall) (*httptest.Server, *bytes.Buffer) {
	t.Helper()
	var received bytes.Buffer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RequestURI() != call.target {
			t.Errorf("server got %s %s, want %s", r.Method, r.URL.RequestURI(), call.target)
		}
		if _, err := io.Copy(&received, r.Body); err != nil {
			t.Errorf("server read request body: %v", err)
		}
		call.serve(w)
	}))
	t.Cleanup(srv.Close)
	return srv, &received
}

// TestFixtures replays every recorded response through both faces of the
// interceptor and checks the logged entry against EXPECTED.json.
func TestFixtures(t *testing.T) {
	faces := []struct {
		name   string
		client func(tr *trail, provider string) *http.Client
	}{
		{"transport", func(tr *trail, provider string) *http.Client {
			return &http.Client{Transport: Transport(tr.logger, http.DefaultTransport, WithProvider(provider))}
		}},
		{"middleware", func(tr *trail, provider string) *http.Client {
			mw := Middleware(tr.logger, WithProvider(provider))
			return &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
				return mw(req, http.DefaultTransport.RoundTrip)
			})}
		}},
	}
	for _, c := range fixtures.Expected(t) {
		t.Run(c.File, func(t *testing.T) {
			call := loadCall(t, c)
			for _, face := range faces {
				t.Run(face.name, func(t *testing.T) {
					srv, received := fixtureServer(t, call)
					tr := newTrail(t)
					client := face.client(tr, c.Provider)

					resp, err := client.Do(call.newRequest(t, context.Background(), srv.URL))
					if err != nil {
						t.Fatalf("Do() error = %v, want nil", err)
					}
					got, err := io.ReadAll(resp.Body)
					if err != nil {
						t.Fatalf("read body: %v", err)
					}
					if err := resp.Body.Close(); err != nil {
						t.Errorf("Body.Close() = %v, want nil", err)
					}

					if !bytes.Equal(got, call.responseBody) {
						t.Errorf("response body differs from the served one: got %d bytes, want %d", len(got), len(call.responseBody))
					}
					if !bytes.Equal(received.Bytes(), call.requestBody) {
						t.Errorf("server received %d request bytes, want the %d sent", received.Len(), len(call.requestBody))
					}
					for _, d := range diffMetadata(tr.one(t), wantMetadata(c, call.status)) {
						t.Error(d)
					}
				})
			}
		})
	}
}

// TestFixturesByteForByte checks that a caller reading in odd-sized pieces
// receives exactly the bytes it receives without the interceptor.
func TestFixturesByteForByte(t *testing.T) {
	sizes := []int{1, 7, 13, 4093}
	for _, c := range fixtures.Expected(t) {
		t.Run(c.File, func(t *testing.T) {
			call := loadCall(t, c)
			srv, _ := fixtureServer(t, call)
			tr := newTrail(t)
			plain := &http.Client{Transport: http.DefaultTransport}
			watched := &http.Client{Transport: Transport(tr.logger, http.DefaultTransport)}

			for _, size := range sizes {
				want := fetch(t, plain, call.newRequest(t, context.Background(), srv.URL), size)
				got := fetch(t, watched, call.newRequest(t, context.Background(), srv.URL), size)
				if !bytes.Equal(got, want) {
					t.Errorf("reads of %d bytes: body through the interceptor differs: got %q, want %q", size, head(got), head(want))
				}
			}
			if n := len(tr.entries(t)); n != len(sizes) {
				t.Errorf("store holds %d entries, want %d", n, len(sizes))
			}
		})
	}
}

// fetch sends req and reads the body size bytes at a time.
func fetch(t *testing.T, client *http.Client, req *http.Request, size int) []byte {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("Do() error = %v, want nil", err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	buf := make([]byte, size)
	for {
		n, err := resp.Body.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			return out.Bytes()
		}
		if err != nil {
			t.Fatalf("read body: %v", err)
		}
	}
}

func head(b []byte) string {
	s := string(b)
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return strings.ReplaceAll(s, "\n", `\n`)
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
