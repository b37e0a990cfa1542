package sqlite

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/agentaudit/agentaudit/llm"
)

func TestMessagesRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)

	msgs, err := s.LoadMessages(ctx, "new")
	if err != nil || len(msgs) != 0 {
		t.Fatalf("LoadMessages(new chat) = %v, %v, want none", msgs, err)
	}

	first := []llm.Message{
		{Role: llm.RoleSystem, Content: "be brief"},
		{Role: llm.RoleUser, Content: "NUL \x00, " + injection},
	}
	second := []llm.Message{
		{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_1", Name: "search", Arguments: `{"q":`}}},
		{Role: llm.RoleTool, ToolCallID: "call_1", ToolName: "search", Content: "boom", IsError: true},
	}
	if err := s.AppendMessages(ctx, "chat", first); err != nil {
		t.Fatalf("AppendMessages() = %v, want nil", err)
	}
	if err := s.AppendMessages(ctx, "chat", nil); err != nil {
		t.Fatalf("AppendMessages(nil) = %v, want nil", err)
	}
	if err := s.AppendMessages(ctx, "chat", second); err != nil {
		t.Fatalf("AppendMessages() = %v, want nil", err)
	}
	if err := s.AppendMessages(ctx, "other", first[:1]); err != nil {
		t.Fatal(err)
	}

	got, err := s.LoadMessages(ctx, "chat")
	if err != nil {
		t.Fatalf("LoadMessages() = %v, want nil", err)
	}
	want := append(append([]llm.Message{}, first...), second...)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadMessages() = %+v, want %+v", got, want)
	}

	if err := s.AppendMessages(ctx, "", first); err == nil || !strings.Contains(err.Error(), "chat id is empty") {
		t.Errorf("AppendMessages(empty chat) = %v, want an error naming the empty chat id", err)
	}
}

// TestAppendMessagesConcurrent appends to one chat from goroutines on two
// Stores: every message is stored once, seq has no gaps, and each append's
// messages stay together and in order.
func TestAppendMessagesConcurrent(t *testing.T) {
	ctx := context.Background()
	a, path := openTemp(t)
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	const (
		goroutines = 10
		appends    = 20
		perAppend  = 3
	)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		s := a
		if g%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for i := range appends {
				msgs := make([]llm.Message, perAppend)
				for j := range msgs {
					msgs[j] = llm.Message{Role: llm.RoleUser, Content: fmt.Sprintf("g%d a%d m%d", g, i, j)}
				}
				if err := s.AppendMessages(ctx, "shared", msgs); err != nil {
					errs <- fmt.Errorf("goroutine %d append %d: %w", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	got, err := a.LoadMessages(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != goroutines*appends*perAppend {
		t.Fatalf("LoadMessages() returned %d messages, want %d", len(got), goroutines*appends*perAppend)
	}
	next := make([]int, goroutines)
	for k := 0; k < len(got); k += perAppend {
		var g, i int
		if _, err := fmt.Sscanf(got[k].Content, "g%d a%d m0", &g, &i); err != nil {
			t.Fatalf("message %d = %q, want the first of an append", k, got[k].Content)
		}
		if i != next[g] {
			t.Errorf("goroutine %d: append %d stored where append %d belongs", g, i, next[g])
		}
		next[g] = i + 1
		for j := range perAppend {
			if want := fmt.Sprintf("g%d a%d m%d", g, i, j); got[k+j].Content != want {
				t.Errorf("message %d = %q, want %q", k+j, got[k+j].Content, want)
			}
		}
	}

	var minSeq, maxSeq, n int
	if err := a.reader.QueryRow("SELECT min(seq), max(seq), count(*) FROM chat_messages WHERE chat_id = 'shared'").Scan(&minSeq, &maxSeq, &n); err != nil {
		t.Fatal(err)
	}
	if minSeq != 1 || maxSeq != n {
		t.Errorf("seq runs from %d to %d over %d rows, want 1 to %d", minSeq, maxSeq, n, n)
	}
}
