package postgres_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/agent"
	"github.com/agentaudit/agentaudit/llm"
)

func TestHistoryRoundTrip(t *testing.T) {
	dsn := testSchema(t)
	s := openStore(t, dsn)
	ctx := testContext(t, time.Minute)

	got, err := s.LoadMessages(ctx, "new-chat")
	if err != nil || len(got) != 0 {
		t.Fatalf("LoadMessages(new chat) = %v, %v; want none, nil", got, err)
	}

	first := []llm.Message{
		{Role: llm.RoleSystem, Content: "be brief"},
		{Role: llm.RoleUser, Content: "weather in \x00Paris\xff?"},
		{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call-1", Name: "weather", Arguments: `{"city":"Paris"}`}}},
	}
	second := []llm.Message{
		{Role: llm.RoleTool, ToolCallID: "call-1", ToolName: "weather", Content: "rain", IsError: false},
		{Role: llm.RoleAssistant, Content: "It rains."},
	}
	if err := s.AppendMessages(ctx, "chat-1", first); err != nil {
		t.Fatalf("AppendMessages(first) = %v", err)
	}
	if err := s.AppendMessages(ctx, "chat-1", nil); err != nil {
		t.Fatalf("AppendMessages(nil) = %v, want nil", err)
	}
	if err := s.AppendMessages(ctx, "", first); err == nil {
		t.Errorf("AppendMessages(empty chat id) = nil, want an error")
	}
	if err := s.AppendMessages(ctx, "chat-1", second); err != nil {
		t.Fatalf("AppendMessages(second) = %v", err)
	}

	got, err = s.LoadMessages(ctx, "chat-1")
	if err != nil {
		t.Fatalf("LoadMessages() = %v", err)
	}
	want := append(append([]llm.Message(nil), first...), second...)
	// encoding/json turns the NUL into \u0000, which text columns hold, and
	// the invalid byte into U+FFFD.
	want[1].Content = "weather in \x00Paris\uFFFD?"
	if len(got) != len(want) {
		t.Fatalf("LoadMessages() returned %d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if fmt.Sprintf("%+v", got[i]) != fmt.Sprintf("%+v", want[i]) {
			t.Errorf("message %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestHistoryConcurrentAppends appends from many goroutines over two Stores
// to one chat: every append's messages must stay together and in order, and
// none may be lost.
func TestHistoryConcurrentAppends(t *testing.T) {
	dsn := testSchema(t)
	stores := []agent.HistoryStore{openStore(t, dsn), openStore(t, dsn)}
	reader := openStore(t, dsn)
	ctx := testContext(t, 2*time.Minute)

	const writers, appends, perAppend = 8, 25, 3
	var wg sync.WaitGroup
	for w := range writers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			for a := range appends {
				msgs := make([]llm.Message, perAppend)
				for m := range msgs {
					msgs[m] = llm.Message{Role: llm.RoleUser, Content: fmt.Sprintf("%d/%d/%d", w, a, m)}
				}
				if err := s.AppendMessages(ctx, "shared-chat", msgs); err != nil {
					t.Errorf("AppendMessages(writer %d, append %d) = %v", w, a, err)
					return
				}
			}
		})
	}
	wg.Wait()

	got, err := reader.LoadMessages(ctx, "shared-chat")
	if err != nil {
		t.Fatalf("LoadMessages() = %v", err)
	}
	if len(got) != writers*appends*perAppend {
		t.Fatalf("LoadMessages() returned %d messages, want %d", len(got), writers*appends*perAppend)
	}
	nextAppend := make([]int, writers)
	for i := 0; i < len(got); i += perAppend {
		var w, a int
		for m := range perAppend {
			parts := strings.Split(got[i+m].Content, "/")
			w, _ = strconv.Atoi(parts[0])
			a, _ = strconv.Atoi(parts[1])
			if want := fmt.Sprintf("%d/%d/%d", w, a, m); got[i+m].Content != want {
				t.Fatalf("message %d = %q, want %q: an append was split or reordered", i+m, got[i+m].Content, want)
			}
		}
		if a != nextAppend[w] {
			t.Fatalf("messages %d.. are append %d of writer %d, want append %d: one writer's appends are out of order", i, a, w, nextAppend[w])
		}
		nextAppend[w]++
	}
}
