package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agentaudit/agentaudit/agent"
	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/llm/anthropic"
	"github.com/agentaudit/agentaudit/llm/openai"
	"github.com/agentaudit/agentaudit/llm/replay"
	"github.com/agentaudit/agentaudit/tools"
	"github.com/agentaudit/agentaudit/tools/builtin"
)

// The providers the chat command can call.
const (
	providerOpenAI    = "openai"
	providerAnthropic = "anthropic"
)

// replayAPIKey is sent to a replay server, which ignores it; it keeps the
// SDKs from reading a real key from the environment.
const replayAPIKey = "replay-key"

// replaySuffix marks the provider of a call answered from a recorded
// response, such as "openai-replay", so that usage totals it apart from
// the calls a provider billed.
const replaySuffix = "-replay"

// chatOptions are the flags of the chat command.
type chatOptions struct {
	provider string
	model    string
	chatID   string
	resume   bool
	replay   []string
	sandbox  string
	baseURL  string
	system   string
	maxSteps int
	stream   bool
	// streamSet records that --stream was given, so that a replay whose
	// files disagree with it fails rather than silently switching.
	streamSet bool
	// commands builds the command lines printed as next steps.
	commands commandLine
}

func newChatCommand(a *app) *cobra.Command {
	var o chatOptions
	cmd := &cobra.Command{
		Use:   `chat [flags] "message"`,
		Short: "Send a message to an agent and run its tool calls",
		Long: `chat appends the message to the chat, calls the model through the
provider's official SDK and runs the tools the model calls, logging every
LLM call and tool execution. High-risk tools (write_file) wait for a human:
chat then prints the approval IDs and stops; decide with "approvals approve"
or "approvals deny", then continue with --resume.

The API key comes from OPENAI_API_KEY or ANTHROPIC_API_KEY. With --stream
the model's replies arrive as server-sent events; the trail is the same.
The trail names the provider by --provider, also for a --base-url server.

With --replay, chat answers from recorded response bodies served on
127.0.0.1 instead, so a recorded conversation runs offline; give one file
per model call, in order. JSON bodies (.json) replay without streaming and
event streams (.sse, .chunks.jsonl) with streaming, so all files of one
chat must be of one kind. Replayed calls are stored with the provider
openai-replay or anthropic-replay, so usage keeps them apart from calls a
provider billed.`,
		Example: `  agentaudit chat --provider openai --model gpt-4o-mini --sandbox ./work "What is in notes.txt?"
  agentaudit chat --chat chat-0199... --resume --provider openai --model gpt-4o-mini --sandbox ./work
  agentaudit chat --model gpt-4o --replay call.1.response.json --replay call.2.response.json "What is 15 * 4?"
  agentaudit chat --model gpt-4o-mini --replay call.1.response.sse --replay call.2.response.sse "Weather in Florence?"`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("chat takes one message, got %d arguments: quote the message", len(args))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.provider, "provider", providerOpenAI, "model provider: openai (or any OpenAI-compatible server) or anthropic")
	cmd.Flags().StringVar(&o.model, "model", "", "model to request, such as gpt-4o-mini or claude-sonnet-4-5 (required)")
	cmd.Flags().StringVar(&o.chatID, "chat", "", "chat ID to continue; a new ID is generated when empty")
	cmd.Flags().BoolVar(&o.resume, "resume", false, "continue the chat after its approvals are decided, without a new message")
	cmd.Flags().StringArrayVar(&o.replay, "replay", nil, "recorded response body to answer a model call with, offline; repeat for each call in order")
	cmd.Flags().StringVar(&o.sandbox, "sandbox", "", "folder the file tools (list_files, read_file, search_files, stat, write_file) work in; no file tools when empty")
	cmd.Flags().StringVar(&o.baseURL, "base-url", "", "provider API base URL, such as http://127.0.0.1:8080/v1 for an OpenAI-compatible server")
	cmd.Flags().StringVar(&o.system, "system", "", "system prompt sent with every model call")
	cmd.Flags().IntVar(&o.maxSteps, "max-steps", agent.DefaultMaxSteps, "maximum number of model calls for one message")
	cmd.Flags().BoolVar(&o.stream, "stream", false, "stream the model's replies as server-sent events (with --replay: on for .sse and .chunks.jsonl files, off for .json)")

	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		o.streamSet = cmd.Flags().Changed("stream")
		o.commands = newCommandLine(cmd, a.db)
		if err := o.check(args); err != nil {
			return err
		}
		if o.chatID == "" {
			o.chatID = newChatID("chat")
		}
		return a.runChat(cmd.Context(), o, args)
	}
	return cmd
}

func (o *chatOptions) check(args []string) error {
	switch o.provider {
	case providerOpenAI, providerAnthropic:
	default:
		return usagef("invalid --provider %q: use openai or anthropic", o.provider)
	}
	if o.model == "" {
		return usagef("--model is required: name the model to request, such as gpt-4o-mini")
	}
	if o.maxSteps < 1 {
		return usagef("invalid --max-steps %d: use 1 or more", o.maxSteps)
	}
	if len(o.chatID) > audit.MaxChatIDBytes {
		return usagef("invalid --chat: the ID has %d bytes; use at most %d, such as a UUID", len(o.chatID), audit.MaxChatIDBytes)
	}
	if len(o.replay) > 0 {
		streams, err := replayStreams(o.replay)
		if err != nil {
			return err
		}
		if o.streamSet && o.stream != streams {
			return usagef("--stream=%t does not fit the --replay files, which are %s; drop --stream, because replay streams exactly when the files are event streams", o.stream, replayKind(streams))
		}
		o.stream = streams
	}
	if o.resume {
		if o.chatID == "" {
			return usagef("--resume needs --chat: name the chat to continue")
		}
		if len(args) > 0 {
			return usagef("--resume takes no message: the chat continues where it paused")
		}
		return nil
	}
	if len(args) == 0 || strings.TrimSpace(args[0]) == "" {
		return usagef(`chat needs a message, such as agentaudit chat --model %s "Hello"`, o.model)
	}
	return nil
}

func (a *app) runChat(ctx context.Context, o chatOptions, args []string) (err error) {
	// The model comes first, so that a missing key or replay file fails
	// before the database is opened or created.
	mc := modelConfig{provider: o.provider, baseURL: o.baseURL, stream: o.stream}
	if len(o.replay) > 0 {
		srv, err := startReplay(o.replay)
		if err != nil {
			return err
		}
		defer closeReplay(a, srv)
		mc.baseURL, mc.replay = replayBaseURL(o.provider, srv), true
	} else if err := a.checkAPIKey(o.provider); err != nil {
		return err
	}
	model, err := newModel(mc)
	if err != nil {
		return err
	}

	s, err := a.openSession(ctx, true)
	if err != nil {
		return err
	}
	defer func() { err = joinClose(ctx, err, s) }()

	w, closeTools, err := a.newWorkflow(s, model, o.model, o.sandbox)
	if err != nil {
		return err
	}
	defer closeTools()
	w.System = o.system
	w.MaxSteps = o.maxSteps

	fmt.Fprintf(a.stdout, "chat %s\n", terminalCell(o.chatID))
	var out agent.Outcome
	if o.resume {
		out, err = w.Resume(ctx, o.chatID)
	} else {
		out, err = w.Run(ctx, o.chatID, args[0])
	}
	if err != nil {
		return err
	}
	sandbox, err := absSandbox(o.sandbox)
	if err != nil {
		return err
	}
	printOutcome(a.stdout, out, nextSteps{
		cmd:     o.commands,
		sandbox: sandbox,
		resume:  o.commands.resumeCommand(o.chatID, o.provider, o.model, sandbox, o.baseURL),
	})
	return nil
}

// newWorkflow returns a workflow over the session's database whose model
// calls and tool executions are logged, with the file tools of sandbox when
// it is not empty. closeTools releases the sandbox.
func (a *app) newWorkflow(s *session, model llm.Model, modelName, sandbox string) (w *agent.Workflow, closeTools func(), err error) {
	reg := tools.NewRegistry(tools.WithApprovalStore(s.backend), tools.WithAuditLogger(s.logger))
	closeTools = func() {}
	if sandbox != "" {
		box, err := builtin.NewSandbox(sandbox)
		if err != nil {
			return nil, nil, err
		}
		box.Register(reg)
		closeTools = func() { box.Close() }
	}
	if model != nil {
		model = llm.Audit(model, s.logger)
	}
	return &agent.Workflow{
		Model:     model,
		ModelName: modelName,
		Registry:  reg,
		History:   s.backend,
		Approvals: s.backend,
	}, closeTools, nil
}

// modelConfig selects and configures the adapter that newModel returns.
type modelConfig struct {
	// provider is providerOpenAI or providerAnthropic. It is also the
	// provider name in the audit trail, whatever the base URL, and gets
	// replaySuffix for a replay.
	provider string
	// baseURL points the SDK at another server when it is not empty.
	baseURL string
	stream  bool
	// replay marks a model that a replay server answers: the API key is
	// replayAPIKey and the SDK does not retry.
	replay bool
}

// newModel returns the adapter that c describes.
func newModel(c modelConfig) (llm.Model, error) {
	name := c.provider
	if c.replay {
		name += replaySuffix
	}
	switch c.provider {
	case providerOpenAI:
		opts := []openai.Option{openai.WithStream(c.stream), openai.WithProvider(name)}
		if c.baseURL != "" {
			opts = append(opts, openai.WithBaseURL(c.baseURL))
		}
		if c.replay {
			opts = append(opts, openai.WithAPIKey(replayAPIKey), openai.WithMaxRetries(0))
		}
		return openai.New(opts...), nil
	case providerAnthropic:
		opts := []anthropic.Option{anthropic.WithStream(c.stream), anthropic.WithProvider(name)}
		if c.baseURL != "" {
			opts = append(opts, anthropic.WithBaseURL(c.baseURL))
		}
		if c.replay {
			opts = append(opts, anthropic.WithAPIKey(replayAPIKey), anthropic.WithMaxRetries(0))
		}
		return anthropic.New(opts...), nil
	}
	return nil, usagef("invalid provider %q: use openai or anthropic", c.provider)
}

// checkAPIKey fails early, with the variable to set, when the provider's
// API key is missing from the environment.
func (a *app) checkAPIKey(provider string) error {
	name := "OPENAI_API_KEY"
	if provider == providerAnthropic {
		name = "ANTHROPIC_API_KEY"
	}
	if a.getenv(name) == "" {
		return fmt.Errorf("%s is not set: export the %s API key, or run offline with --replay FILE or agentaudit demo", name, provider)
	}
	return nil
}

// replayStreams reports whether the replay files are event streams (.sse
// or .chunks.jsonl) rather than JSON bodies. A list that mixes both is a
// usage error, because one chat either streams every model call or none.
func replayStreams(files []string) (bool, error) {
	var jsonFile, streamFile string
	for _, f := range files {
		isStream := strings.HasSuffix(f, ".sse") || strings.HasSuffix(f, ".chunks.jsonl")
		switch {
		case isStream && streamFile == "":
			streamFile = f
		case !isStream && jsonFile == "":
			jsonFile = f
		}
	}
	if jsonFile != "" && streamFile != "" {
		return false, usagef("--replay mixes a JSON body (%s) with an event stream (%s); give files of one kind, because a chat streams every model call or none", jsonFile, streamFile)
	}
	return streamFile != "", nil
}

// replayKind returns the kind of replay files, as messages name it.
func replayKind(streams bool) string {
	if streams {
		return "event streams (.sse, .chunks.jsonl)"
	}
	return "JSON bodies"
}

// startReplay serves the recorded response bodies in files on loopback.
func startReplay(files []string) (*replay.Server, error) {
	resps := make([]replay.Response, 0, len(files))
	for _, f := range files {
		r, err := replay.LoadFile(f)
		if err != nil {
			return nil, err
		}
		resps = append(resps, r)
	}
	return replay.NewServer(resps...)
}

func closeReplay(a *app, srv *replay.Server) {
	if err := srv.Close(); err != nil {
		a.log.Warn("close replay server", "error", err)
	}
}

// replayBaseURL returns the base URL that points the provider's SDK at srv.
func replayBaseURL(provider string, srv *replay.Server) string {
	if provider == providerOpenAI {
		return srv.URL() + "/v1"
	}
	return srv.URL()
}

// newChatID returns prefix followed by a new UUIDv7.
func newChatID(prefix string) string {
	return prefix + "-" + audit.NewID()
}
