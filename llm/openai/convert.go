package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	sdk "github.com/openai/openai-go/v3"

	"github.com/agentaudit/agentaudit/audit/wire"
	"github.com/agentaudit/agentaudit/llm"
)

// newParams maps req to Chat Completions parameters. It rejects what the
// API would reject anyway, such as a missing model, with an error that
// names the field.
func newParams(req llm.Request) (sdk.ChatCompletionNewParams, error) {
	var params sdk.ChatCompletionNewParams
	if req.Model == "" {
		return params, errors.New("openai: request has no model; set Request.Model to a model name such as \"gpt-4o\"")
	}
	if req.MaxTokens < 0 {
		return params, fmt.Errorf("openai: invalid MaxTokens %d: use 0 for the provider's default or a positive limit", req.MaxTokens)
	}
	params.Model = req.Model
	if req.MaxTokens > 0 {
		params.MaxCompletionTokens = sdk.Int(int64(req.MaxTokens))
	}

	for i, msg := range req.Messages {
		p, err := newMessage(msg)
		if err != nil {
			return params, fmt.Errorf("openai: message %d: %w", i, err)
		}
		params.Messages = append(params.Messages, p)
	}

	for _, spec := range req.Tools {
		tool, err := newTool(spec)
		if err != nil {
			return params, fmt.Errorf("openai: tool %q: %w", spec.Name, err)
		}
		params.Tools = append(params.Tools, tool)
	}
	return params, nil
}

func newMessage(msg llm.Message) (sdk.ChatCompletionMessageParamUnion, error) {
	switch msg.Role {
	case llm.RoleSystem:
		return sdk.SystemMessage(msg.Content), nil
	case llm.RoleUser:
		return sdk.UserMessage(msg.Content), nil
	case llm.RoleTool:
		if msg.ToolCallID == "" {
			return sdk.ChatCompletionMessageParamUnion{}, errors.New("tool message has no ToolCallID; set it to the ID of the tool call it is the result of")
		}
		return sdk.ToolMessage(msg.Content, msg.ToolCallID), nil
	case llm.RoleAssistant:
		var assistant sdk.ChatCompletionAssistantMessageParam
		// The API requires content unless the message carries tool calls.
		if msg.Content != "" || len(msg.ToolCalls) == 0 {
			assistant.Content.OfString = sdk.String(msg.Content)
		}
		for j, call := range msg.ToolCalls {
			if call.ID == "" || call.Name == "" {
				return sdk.ChatCompletionMessageParamUnion{}, fmt.Errorf("tool call %d has ID %q and name %q; both are required", j, call.ID, call.Name)
			}
			assistant.ToolCalls = append(assistant.ToolCalls, sdk.ChatCompletionMessageToolCallUnionParam{
				OfFunction: &sdk.ChatCompletionMessageFunctionToolCallParam{
					ID: call.ID,
					Function: sdk.ChatCompletionMessageFunctionToolCallFunctionParam{
						Name:      call.Name,
						Arguments: call.Arguments,
					},
				},
			})
		}
		return sdk.ChatCompletionMessageParamUnion{OfAssistant: &assistant}, nil
	default:
		return sdk.ChatCompletionMessageParamUnion{}, fmt.Errorf("unknown role %q; use system, user, assistant or tool", msg.Role)
	}
}

func newTool(spec llm.ToolSpec) (sdk.ChatCompletionToolUnionParam, error) {
	if spec.Name == "" {
		return sdk.ChatCompletionToolUnionParam{}, errors.New("tool has no name; set ToolSpec.Name")
	}
	def := sdk.FunctionDefinitionParam{Name: spec.Name}
	if spec.Description != "" {
		def.Description = sdk.String(spec.Description)
	}
	schema, err := decodeSchema(spec.InputSchema)
	if err != nil {
		return sdk.ChatCompletionToolUnionParam{}, err
	}
	def.Parameters = schema
	return sdk.ChatCompletionFunctionTool(def), nil
}

// decodeSchema splits a JSON Schema object into its top-level members,
// each kept as raw JSON so that numbers and nested key order are sent as
// written. An empty or null schema decodes to nil, which the SDK omits.
func decodeSchema(raw json.RawMessage) (map[string]any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, fmt.Errorf("input schema is not a JSON object (%v); pass a JSON Schema such as {\"type\":\"object\"}", err)
	}
	if members == nil {
		return nil, nil
	}
	schema := make(map[string]any, len(members))
	for key, value := range members {
		schema[key] = value
	}
	return schema, nil
}

// convertResponse maps a completion to an llm.Response. The usage comes
// from parsed, the wire package's reading of the raw body or stream, so
// that the audit trail reads the provider's own numbers rather than the
// SDK's zero values for missing fields.
func convertResponse(completion *sdk.ChatCompletion, parsed wire.Result, httpResp *http.Response) *llm.Response {
	resp := &llm.Response{
		Message:      llm.Message{Role: llm.RoleAssistant},
		FinishReason: parsed.FinishReason,
		Model:        completion.Model,
		Usage:        parsed.Usage,
	}
	if resp.Model == "" {
		resp.Model = parsed.ResponseModel
	}
	if httpResp != nil {
		resp.HTTPStatus = httpResp.StatusCode
	}
	if len(completion.Choices) == 0 {
		return resp
	}

	choice := completion.Choices[0]
	if choice.FinishReason != "" {
		resp.FinishReason = choice.FinishReason
	}
	resp.Message.Content = choice.Message.Content
	if resp.Message.Content == "" && choice.Message.Refusal != "" {
		// A refusal comes without content, so it takes the content's place.
		resp.Message.Content = choice.Message.Refusal
	}
	for _, call := range choice.Message.ToolCalls {
		tc := llm.ToolCall{ID: call.ID, Name: call.Function.Name, Arguments: call.Function.Arguments}
		if call.Type == "custom" {
			tc.Name, tc.Arguments = call.Custom.Name, call.Custom.Input
		}
		resp.Message.ToolCalls = append(resp.Message.ToolCalls, tc)
	}
	return resp
}
