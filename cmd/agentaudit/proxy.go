package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/audit/httpaudit"
)

// chatIDHeader is the request header that carries the chat ID of a call
// through the proxy; the proxy removes it before forwarding.
const chatIDHeader = "Agentaudit-Chat-Id"

// defaultShutdownTimeout is how long the proxy waits for open calls to
// finish when it stops, before it closes their connections.
const defaultShutdownTimeout = 10 * time.Second

// defaultProxyListen is the address the proxy listens on by default.
const defaultProxyListen = "127.0.0.1:8787"

func newProxyCommand(a *app) *cobra.Command {
	var (
		listen          string
		upstream        string
		provider        string
		shutdownTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "proxy --upstream URL",
		Short: "Forward LLM API calls to a provider and log each one",
		Long: `proxy is a reverse proxy for LLM APIs. It forwards every request to
--upstream unchanged and streams the response back as it arrives, and it
logs each Chat Completions, Responses, Anthropic Messages or Gemini
generateContent call as an llm_call entry: model, token usage, duration
and status. Other requests pass through without an entry.

Point an agent's base URL at the proxy to audit it without changing its
code. The chat ID of a call is the Agentaudit-Chat-Id request header,
which the proxy removes before forwarding.

--upstream may end in a path prefix, such as https://api.openai.com/v1 or
https://api.groq.com/openai/v1. A request whose path already starts with
that prefix is forwarded with its path unchanged, so an agent whose base
URL is http://127.0.0.1:8787/v1 reaches /v1/chat/completions, not
/v1/v1/chat/completions. Any other request path is appended to the
prefix.

On SIGINT or SIGTERM the proxy stops accepting connections, waits up to
--shutdown-timeout for open calls to end, closes the rest and writes the
audit log.`,
		Example: `  agentaudit proxy --upstream https://api.openai.com
  agentaudit proxy --upstream https://api.groq.com/openai/v1 --provider groq
  OPENAI_BASE_URL=http://127.0.0.1:8787/v1 python agent.py
  curl http://127.0.0.1:8787/v1/chat/completions -H 'Agentaudit-Chat-Id: chat-1' \
    -H "Authorization: Bearer $OPENAI_API_KEY" -H 'Content-Type: application/json' \
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := parseUpstream(upstream)
			if err != nil {
				return err
			}
			if shutdownTimeout <= 0 {
				return usagef("proxy: invalid --shutdown-timeout %s; give a positive duration such as 10s", shutdownTimeout)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("proxy: listen on %q: %w; choose a free address with --listen", listen, err)
			}
			s, err := a.openSession(cmd.Context(), true)
			if err != nil {
				ln.Close()
				return err
			}

			var opts []httpaudit.Option
			if provider != "" {
				opts = append(opts, httpaudit.WithProvider(provider))
			}
			log := a.proxyLog()
			ps := &proxyServer{
				handler:         newProxyHandler(target, s.logger, log, nil, opts...),
				logger:          s.logger,
				log:             log,
				upstream:        target,
				shutdownTimeout: shutdownTimeout,
			}
			err = ps.serve(cmd.Context(), ln)
			return joinClose(cmd.Context(), err, s)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", defaultProxyListen, "address to listen on, host:port")
	cmd.Flags().StringVar(&upstream, "upstream", "", "base URL of the provider API to forward to, such as https://api.openai.com, with or without a path prefix such as /v1 (required)")
	cmd.Flags().StringVar(&provider, "provider", "", "provider name stored in each entry (default: from the upstream host, such as openai for api.openai.com; for another host, openai-compatible, or anthropic-compatible or gemini-compatible for those APIs)")
	cmd.Flags().DurationVar(&shutdownTimeout, "shutdown-timeout", defaultShutdownTimeout, "how long to wait for open calls to end when stopping")
	return cmd
}

// proxyLog returns the logger of the proxy server. A server logs its start
// and stop by default, so it logs at info level, or debug with --verbose.
func (a *app) proxyLog() *slog.Logger {
	level := slog.LevelInfo
	if a.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
}

// parseUpstream parses the --upstream flag.
func parseUpstream(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, usagef("proxy: missing --upstream; give the provider's base URL, such as https://api.openai.com")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("proxy: invalid --upstream %q; want an absolute http or https URL, such as https://api.openai.com", raw)
	}
	return u, nil
}

// newProxyHandler returns a reverse proxy to upstream that logs every LLM
// call passing through it to logger. Responses stream through unbuffered.
// The chat ID comes from the Agentaudit-Chat-Id request header, which is
// not forwarded. A request whose header is longer than
// audit.MaxChatIDBytes gets a 400 with a JSON error and is not forwarded,
// because its call could not be recorded. base is the transport to upstream;
// nil means a clone of http.DefaultTransport. log receives one record per
// failed upstream call.
func newProxyHandler(upstream *url.URL, logger *audit.Logger, log *slog.Logger, base http.RoundTripper, opts ...httpaudit.Option) http.Handler {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstreamFor(upstream, pr.In.URL.Path))
			chatID := pr.In.Header.Get(chatIDHeader)
			pr.Out.Header.Del(chatIDHeader)
			// Without the client's Accept-Encoding the transport requests
			// gzip itself and decompresses it, so the interceptor parses
			// plain bytes. The client receives the body uncompressed.
			pr.Out.Header.Del("Accept-Encoding")
			if chatID != "" {
				pr.Out = pr.Out.WithContext(audit.WithChatID(pr.Out.Context(), chatID))
			}
		},
		Transport: httpaudit.Transport(logger, base, opts...),
		// A negative interval flushes after every write, so that server-sent
		// events reach the client as the upstream sends them.
		FlushInterval: -1,
		// ReverseProxy passes the outbound request, whose context carries
		// the chat ID and whose header no longer does.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Warn("proxy: upstream call failed",
				"method", r.Method,
				"path", r.URL.Path,
				"chat_id", audit.ChatID(r.Context()),
				"error", err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := len(r.Header.Get(chatIDHeader)); n > audit.MaxChatIDBytes {
			log.Warn("proxy: rejected a request with a chat ID that is too long",
				"method", r.Method,
				"path", r.URL.Path,
				"chat_id_bytes", n)
			msg := fmt.Sprintf("agentaudit proxy: the %s header has %d bytes; send at most %d, such as a UUID",
				chatIDHeader, n, audit.MaxChatIDBytes)
			writeJSONError(w, http.StatusBadRequest, msg)
			return
		}
		proxy.ServeHTTP(w, r)
	})
}

// writeJSONError writes status and an error body in the form of the
// OpenAI and Anthropic APIs: {"type":"error","error":{"message":...,"type":...}}.
func writeJSONError(w http.ResponseWriter, status int, msg string) {
	type apiError struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	}
	body, _ := json.Marshal(struct {
		Type  string   `json:"type"`
		Error apiError `json:"error"`
	}{"error", apiError{Message: msg, Type: "invalid_request_error"}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// upstreamFor returns the URL that a request for path is forwarded to. An
// upstream path prefix that path already starts with, at a segment
// boundary, is not added a second time. Otherwise httputil's SetURL
// appends path to the upstream's path.
func upstreamFor(upstream *url.URL, path string) *url.URL {
	prefix := strings.TrimSuffix(upstream.Path, "/")
	if prefix == "" || (path != prefix && !strings.HasPrefix(path, prefix+"/")) {
		return upstream
	}
	origin := *upstream
	origin.Path, origin.RawPath = "", ""
	return &origin
}

// proxyServer serves a proxy handler until its context ends.
type proxyServer struct {
	handler         http.Handler
	logger          *audit.Logger
	log             *slog.Logger
	upstream        *url.URL
	shutdownTimeout time.Duration
}

// serve serves on ln until ctx ends or serving fails. It then stops taking
// connections, waits up to shutdownTimeout for open calls to end, closes
// the connections still open, waits for their handlers to return, and
// flushes the logger, so that every call that went through is written.
// The logger stays open; its owner closes it.
func (s *proxyServer) serve(ctx context.Context, ln net.Listener) error {
	var calls inflight
	srv := &http.Server{
		Handler:           calls.track(s.handler),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.log.Info("proxy started", "listen", ln.Addr().String(), "upstream", s.upstream.Redacted())

	var serveErr error
	select {
	case serveErr = <-served:
		s.log.Error("proxy stopped serving", "error", serveErr)
	case <-ctx.Done():
		s.log.Info("proxy stopping", "reason", context.Cause(ctx), "timeout", s.shutdownTimeout)
	}

	// Cleanup must run after ctx has ended, so its deadline derives from a
	// context that is not cancelled with it.
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(stopCtx); err != nil {
		s.log.Warn("proxy: open calls did not end in time; closing their connections", "error", err)
		if err := srv.Close(); err != nil {
			s.log.Warn("proxy: close connections", "error", err)
		}
	}
	if serveErr == nil {
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			serveErr = err
		}
	}

	// Handlers whose connections were closed still return and close their
	// response bodies, which logs their calls; wait for them, then flush.
	waitCtx, cancelWait := context.WithTimeout(context.WithoutCancel(ctx), s.shutdownTimeout)
	defer cancelWait()
	if err := calls.wait(waitCtx); err != nil {
		s.log.Warn("proxy: handlers still running after shutdown", "error", err)
	}
	if err := s.logger.Flush(waitCtx); err != nil {
		s.log.Error("proxy: flush audit log", "error", err)
		serveErr = errors.Join(serveErr, fmt.Errorf("proxy: flush audit log: %w", err))
	}
	s.log.Info("proxy stopped")
	return serveErr
}

// inflight counts running handlers, so that shutdown can wait for handlers
// whose connections http.Server.Close closed without waiting.
type inflight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0 while a caller waits
}

func (f *inflight) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.add(1)
		defer f.add(-1)
		h.ServeHTTP(w, r)
	})
}

func (f *inflight) add(delta int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n += delta
	if f.n == 0 && f.idle != nil {
		close(f.idle)
		f.idle = nil
	}
}

// wait returns when no handler runs, or ctx's error when ctx ends first.
func (f *inflight) wait(ctx context.Context) error {
	f.mu.Lock()
	if f.n == 0 {
		f.mu.Unlock()
		return nil
	}
	if f.idle == nil {
		f.idle = make(chan struct{})
	}
	idle := f.idle
	f.mu.Unlock()

	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
