// Package audit records what an LLM agent does: every LLM call and every tool
// execution becomes one row of the audit_logs table, tied to its chat.
//
// Callers build an LLMCall or a ToolExecution and hand it to Logger.Log. The
// Logger validates it, assigns a UUIDv7 id and a timestamp, and queues it;
// one goroutine owned by the Logger writes queued entries to a Store in
// batches. Logging never blocks, fails or panics into the agent: problems go
// to the error handler and are counted in Stats.
package audit
