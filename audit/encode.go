package audit

import (
	"strconv"
	"unicode/utf8"
)

// appendMetadata appends r's metadata as the JSON object stored in the
// metadata column: the keys the struct tags of LLMCall or ToolExecution
// give, in field order, with the tags' omitempty rules. Strings are escaped
// as JSON.stringify escapes them, and bytes that are not UTF-8 become
// U+FFFD, so the result is valid UTF-8 JSON.
func appendMetadata(dst []byte, r *record) []byte {
	if r.typ == TypeLLMCall {
		return appendLLMCall(dst, &r.call, &r.usage)
	}
	return appendToolExecution(dst, &r.tool)
}

func appendLLMCall(dst []byte, c *LLMCall, u *usageCounts) []byte {
	dst = append(dst, `{"provider":`...)
	dst = appendString(dst, c.Provider)
	if c.API != "" {
		dst = append(dst, `,"api":`...)
		dst = appendString(dst, c.API)
	}
	dst = append(dst, `,"model":`...)
	dst = appendString(dst, c.Model)
	if c.ResponseModel != "" {
		dst = append(dst, `,"responseModel":`...)
		dst = appendString(dst, c.ResponseModel)
	}

	dst = append(dst, `,"usageAvailable":`...)
	dst = strconv.AppendBool(dst, c.Available)
	dst = appendCount(dst, `,"promptTokens":`, u, promptTokens)
	dst = appendCount(dst, `,"completionTokens":`, u, completionTokens)
	dst = appendCount(dst, `,"totalTokens":`, u, totalTokens)
	dst = appendCount(dst, `,"cachedInputTokens":`, u, cachedInputTokens)
	dst = appendCount(dst, `,"cacheWriteInputTokens":`, u, cacheWriteInputTokens)
	dst = appendCount(dst, `,"reasoningTokens":`, u, reasoningTokens)
	if _, known := u.get(providerTotalTokens); known {
		dst = appendCount(dst, `,"providerTotalTokens":`, u, providerTotalTokens)
	}

	dst = append(dst, `,"durationMs":`...)
	dst = strconv.AppendInt(dst, c.DurationMs, 10)
	dst = append(dst, `,"status":`...)
	dst = appendString(dst, string(c.Status))
	if c.Error != "" {
		dst = append(dst, `,"error":`...)
		dst = appendString(dst, c.Error)
	}
	if c.HTTPStatus != 0 {
		dst = append(dst, `,"httpStatus":`...)
		dst = strconv.AppendInt(dst, int64(c.HTTPStatus), 10)
	}
	if c.FinishReason != "" {
		dst = append(dst, `,"finishReason":`...)
		dst = appendString(dst, c.FinishReason)
	}

	dst = append(dst, `,"stream":`...)
	dst = strconv.AppendBool(dst, c.Stream)
	if c.Step != 0 {
		dst = append(dst, `,"step":`...)
		dst = strconv.AppendInt(dst, int64(c.Step), 10)
	}
	return append(dst, '}')
}

func appendToolExecution(dst []byte, e *ToolExecution) []byte {
	dst = append(dst, `{"toolName":`...)
	dst = appendString(dst, e.ToolName)
	if e.ToolCallID != "" {
		dst = append(dst, `,"toolCallId":`...)
		dst = appendString(dst, e.ToolCallID)
	}
	dst = append(dst, `,"status":`...)
	dst = appendString(dst, string(e.Status))
	dst = append(dst, `,"inputSummary":`...)
	dst = appendString(dst, e.InputSummary)
	dst = append(dst, `,"inputBytes":`...)
	dst = strconv.AppendInt(dst, int64(e.InputBytes), 10)
	dst = append(dst, `,"durationMs":`...)
	dst = strconv.AppendInt(dst, e.DurationMs, 10)
	if e.Error != "" {
		dst = append(dst, `,"error":`...)
		dst = appendString(dst, e.Error)
	}
	if e.Risk != "" {
		dst = append(dst, `,"risk":`...)
		dst = appendString(dst, e.Risk)
	}
	if e.ApprovalID != "" {
		dst = append(dst, `,"approvalId":`...)
		dst = appendString(dst, e.ApprovalID)
	}
	return append(dst, '}')
}

// appendCount appends key and count i of u, null when it is unknown.
func appendCount(dst []byte, key string, u *usageCounts, i int) []byte {
	dst = append(dst, key...)
	v, known := u.get(i)
	if !known {
		return append(dst, "null"...)
	}
	return strconv.AppendInt(dst, v, 10)
}

// appendString appends s as a JSON string in JSON.stringify's form.
func appendString(dst []byte, s string) []byte {
	if !needsEscape(s) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	w := sink{limit: -1, all: dst}
	writeTextAsJSONString(s, &w)
	return w.all
}

// needsEscape reports whether s has a character that JSON.stringify
// escapes, or bytes that are not UTF-8.
func needsEscape(s string) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == '"' || c == '\\':
			return true
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return !ascii && !utf8.ValidString(s)
}
