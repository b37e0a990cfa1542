package audit

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// record is one entry in the queue: a copy of the metadata that the Logger
// owns, held by value so that Log allocates nothing for it. The writer
// builds the JSON encoding from it.
type record struct {
	id        [16]byte
	createdAt time.Time
	chatID    string
	typ       EntryType
	// call is an llm_call's metadata with the Usage pointers cleared, since
	// they would point into the caller's memory; usage holds the counts.
	call  LLMCall
	usage usageCounts
	// tool is a tool_execution's metadata with Input cleared and the
	// summary filled in.
	tool ToolExecution
}

// usageCounts holds the token counts of a Usage by value.
type usageCounts struct {
	values [numUsageCounts]int64
	// known has bit i set when values[i] was reported.
	known uint8
}

// The token counts of a Usage, in the order its fields are declared.
const (
	promptTokens = iota
	completionTokens
	totalTokens
	cachedInputTokens
	cacheWriteInputTokens
	reasoningTokens
	providerTotalTokens
	numUsageCounts
)

func (u *Usage) countFields() [numUsageCounts]*int64 {
	return [numUsageCounts]*int64{
		u.PromptTokens, u.CompletionTokens, u.TotalTokens, u.CachedInputTokens,
		u.CacheWriteInputTokens, u.ReasoningTokens, u.ProviderTotalTokens,
	}
}

// get returns count i and whether it is known.
func (u *usageCounts) get(i int) (int64, bool) {
	return u.values[i], u.known&(1<<i) != 0
}

// pendingEntry is a validated entry on its way into the queue.
type pendingEntry struct {
	call         *LLMCall
	tool         *ToolExecution
	inputSummary string
	inputBytes   int
	createdAt    time.Time
	chatID       string
}

// prepare validates m and does the work of queueing it that needs no lock:
// the input summary of a tool execution.
func prepare(m Metadata) (pendingEntry, error) {
	switch m := m.(type) {
	case *LLMCall:
		if err := m.Validate(); err != nil {
			return pendingEntry{}, err
		}
		return pendingEntry{call: m}, nil
	case *ToolExecution:
		if err := m.Validate(); err != nil {
			return pendingEntry{}, err
		}
		p := pendingEntry{tool: m, inputSummary: m.InputSummary, inputBytes: m.InputBytes}
		if p.inputSummary == "" {
			p.inputSummary, p.inputBytes = Summarize(m.Input)
		}
		return p, nil
	case nil:
		return pendingEntry{}, &ValidationError{Field: "metadata", Err: "is nil; pass an *LLMCall or a *ToolExecution"}
	default:
		return pendingEntry{}, &ValidationError{Field: "metadata", Err: fmt.Sprintf("has type %T; pass an *LLMCall or a *ToolExecution", m)}
	}
}

// set copies p into r, overwriting all of r.
func (r *record) set(p *pendingEntry, id [16]byte) {
	r.id = id
	r.createdAt = p.createdAt
	r.chatID = p.chatID
	if p.call != nil {
		r.typ = TypeLLMCall
		r.call = *p.call
		r.usage = usageCounts{}
		for i, count := range p.call.Usage.countFields() {
			if count != nil {
				r.usage.values[i] = *count
				r.usage.known |= 1 << i
			}
		}
		r.call.Usage = Usage{Available: p.call.Available}
		r.call.Error = capError(r.call.Error)
		r.tool = ToolExecution{}
		return
	}
	r.typ = TypeToolExecution
	r.call = LLMCall{}
	r.usage = usageCounts{}
	r.tool = *p.tool
	r.tool.Input = nil
	r.tool.InputSummary = p.inputSummary
	r.tool.InputBytes = p.inputBytes
	r.tool.Error = capError(r.tool.Error)
}

// MaxErrorBytes is the maximum size in bytes of the error text an entry
// stores. Log cuts a longer Error of an LLMCall or a ToolExecution on a
// character boundary and ends it with a marker giving the original size,
// such as "… (truncated, 182034 bytes)". The marker counts towards the
// limit. A provider's HTML error page then cannot push a row past a
// database's statement size limit (100,000 bytes on Cloudflare D1).
const MaxErrorBytes = 4096

// capError returns s, or s cut to MaxErrorBytes with the marker.
func capError(s string) string {
	if len(s) <= MaxErrorBytes {
		return s
	}
	marker := "… (truncated, " + strconv.Itoa(len(s)) + " bytes)"
	cut := MaxErrorBytes - len(marker)
	// Back up to the start of a character, so no UTF-8 sequence is split.
	// Text that is not UTF-8 stops after at most utf8.UTFMax steps.
	for i := 0; i < utf8.UTFMax && cut > 0 && !utf8.RuneStart(s[cut]); i++ {
		cut--
	}
	return s[:cut] + marker
}
