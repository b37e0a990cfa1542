package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/agentaudit/agentaudit/audit/wire"
	"github.com/agentaudit/agentaudit/llm"
)

// newParams maps req to Messages API parameters. System messages become the
// system prompt, and tool results become tool_result blocks of a user turn.
// Consecutive messages of one Anthropic role are merged into one turn,
// because the API expects all results of one assistant turn in the next
// user turn.
func newParams(req llm.Request) (sdk.MessageNewParams, error) {
	var params sdk.MessageNewParams
	if req.Model == "" {
		return params, errors.New("anthropic: request has no model; set Request.Model to a model name such as \"claude-sonnet-4-5\"")
	}
	if req.MaxTokens < 0 {
		return params, fmt.Errorf("anthropic: invalid MaxTokens %d: use 0 for %d or a positive limit", req.MaxTokens, DefaultMaxTokens)
	}
	params.Model = req.Model
	params.MaxTokens = DefaultMaxTokens
	if req.MaxTokens > 0 {
		params.MaxTokens = int64(req.MaxTokens)
	}

	for i, msg := range req.Messages {
		if msg.Role == llm.RoleSystem {
			// The API rejects empty text blocks, and an empty system
			// message adds nothing.
			if msg.Content != "" {
				params.System = append(params.System, sdk.TextBlockParam{Text: msg.Content})
			}
			continue
		}
		assistant, blocks, err := newBlocks(msg)
		if err != nil {
			return params, fmt.Errorf("anthropic: message %d: %w", i, err)
		}
		params.Messages = appendTurn(params.Messages, assistant, blocks)
	}

	for _, spec := range req.Tools {
		tool, err := newTool(spec)
		if err != nil {
			return params, fmt.Errorf("anthropic: tool %q: %w", spec.Name, err)
		}
		params.Tools = append(params.Tools, tool)
	}
	return params, nil
}

// newBlocks returns the content blocks of msg and whether they belong to an
// assistant turn.
func newBlocks(msg llm.Message) (assistant bool, blocks []sdk.ContentBlockParamUnion, err error) {
	switch msg.Role {
	case llm.RoleUser:
		return false, []sdk.ContentBlockParamUnion{sdk.NewTextBlock(msg.Content)}, nil
	case llm.RoleTool:
		if msg.ToolCallID == "" {
			return false, nil, errors.New("tool message has no ToolCallID; set it to the ID of the tool call it is the result of")
		}
		result := sdk.ToolResultBlockParam{ToolUseID: msg.ToolCallID}
		if msg.Content != "" {
			result.Content = []sdk.ToolResultBlockParamContentUnion{{OfText: &sdk.TextBlockParam{Text: msg.Content}}}
		}
		if msg.IsError {
			result.IsError = sdk.Bool(true)
		}
		return false, []sdk.ContentBlockParamUnion{{OfToolResult: &result}}, nil
	case llm.RoleAssistant:
		// The API rejects empty text blocks, which an assistant turn that
		// only calls tools would otherwise carry.
		if msg.Content != "" || len(msg.ToolCalls) == 0 {
			blocks = append(blocks, sdk.NewTextBlock(msg.Content))
		}
		for j, call := range msg.ToolCalls {
			if call.ID == "" || call.Name == "" {
				return true, nil, fmt.Errorf("tool call %d has ID %q and name %q; both are required", j, call.ID, call.Name)
			}
			input, err := toolInput(call.Arguments)
			if err != nil {
				return true, nil, fmt.Errorf("tool call %q: %w", call.ID, err)
			}
			blocks = append(blocks, sdk.NewToolUseBlock(call.ID, input, call.Name))
		}
		return true, blocks, nil
	default:
		return false, nil, fmt.Errorf("unknown role %q; use system, user, assistant or tool", msg.Role)
	}
}

// toolInput returns a tool call's arguments as the JSON object a tool_use
// block carries. Empty arguments become an empty object.
func toolInput(arguments string) (json.RawMessage, error) {
	trimmed := strings.TrimSpace(arguments)
	if trimmed == "" {
		return json.RawMessage("{}"), nil
	}
	if !json.Valid([]byte(trimmed)) || trimmed[0] != '{' {
		return nil, fmt.Errorf("arguments %.80q are not a JSON object, which a tool_use block requires", arguments)
	}
	return json.RawMessage(trimmed), nil
}

// appendTurn adds blocks to the last turn when it has the same role, and
// starts a new turn otherwise.
func appendTurn(turns []sdk.MessageParam, assistant bool, blocks []sdk.ContentBlockParamUnion) []sdk.MessageParam {
	if n := len(turns); n > 0 {
		last := &turns[n-1]
		if assistant && last.OfAssistant != nil {
			last.OfAssistant.Content = append(last.OfAssistant.Content, blocks...)
			return turns
		}
		if !assistant && last.OfUser != nil {
			last.OfUser.Content = append(last.OfUser.Content, blocks...)
			return turns
		}
	}
	if assistant {
		return append(turns, sdk.NewAssistantMessage(blocks...))
	}
	return append(turns, sdk.NewUserMessage(blocks...))
}

func newTool(spec llm.ToolSpec) (sdk.ToolUnionParam, error) {
	if spec.Name == "" {
		return sdk.ToolUnionParam{}, errors.New("tool has no name; set ToolSpec.Name")
	}
	schema, err := newInputSchema(spec.InputSchema)
	if err != nil {
		return sdk.ToolUnionParam{}, err
	}
	tool := sdk.ToolParam{Name: spec.Name, InputSchema: schema}
	if spec.Description != "" {
		tool.Description = sdk.String(spec.Description)
	}
	return sdk.ToolUnionParam{OfTool: &tool}, nil
}

// newInputSchema splits a JSON Schema object into the SDK's fields. Values
// stay as raw JSON, so numbers and key order inside them are sent as
// written. An empty or null schema is an object without properties.
func newInputSchema(raw json.RawMessage) (sdk.ToolInputSchemaParam, error) {
	schema := sdk.ToolInputSchemaParam{Properties: json.RawMessage("{}")}
	if len(bytes.TrimSpace(raw)) == 0 {
		return schema, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return schema, fmt.Errorf("input schema is not a JSON object (%v); pass a JSON Schema such as {\"type\":\"object\"}", err)
	}

	for key, value := range fields {
		switch key {
		case "type":
			var typ string
			if err := json.Unmarshal(value, &typ); err != nil || typ != "object" {
				return schema, fmt.Errorf("input schema type is %s; the Messages API requires \"object\"", value)
			}
		case "properties":
			schema.Properties = value
		case "required":
			if err := json.Unmarshal(value, &schema.Required); err != nil {
				return schema, fmt.Errorf("input schema \"required\" is %s; use an array of property names", value)
			}
		default:
			if schema.ExtraFields == nil {
				schema.ExtraFields = make(map[string]any)
			}
			schema.ExtraFields[key] = value
		}
	}
	return schema, nil
}

// convertResponse maps a message to an llm.Response. The usage comes from
// parsed, the wire package's reading of the raw body or stream, so that the
// audit trail reads the provider's own numbers rather than the SDK's zero
// values for missing fields.
func convertResponse(msg *sdk.Message, parsed wire.Result, httpResp *http.Response) *llm.Response {
	resp := &llm.Response{
		Message:      llm.Message{Role: llm.RoleAssistant},
		FinishReason: string(msg.StopReason),
		Model:        msg.Model,
		Usage:        parsed.Usage,
	}
	if resp.FinishReason == "" {
		resp.FinishReason = parsed.FinishReason
	}
	if resp.Model == "" {
		resp.Model = parsed.ResponseModel
	}
	if httpResp != nil {
		resp.HTTPStatus = httpResp.StatusCode
	}

	// NOTE: thinking and server-tool blocks are dropped, so a history sent
	// back with extended thinking and tool use lacks the thinking block the
	// API asks for in that case.
	var text strings.Builder
	for _, block := range msg.Content {
		switch block.Type {
		case "text":
			text.WriteString(block.Text)
		case "tool_use":
			resp.Message.ToolCalls = append(resp.Message.ToolCalls, llm.ToolCall{
				ID:        block.ID,
				Name:      block.Name,
				Arguments: string(block.Input),
			})
		}
	}
	resp.Message.Content = text.String()
	return resp
}
