package wire

// embeddingsBody is an embeddings response or error body, reduced to the
// members the audit trail reads. The embedding vectors are not read.
type embeddingsBody struct {
	Model firstString `json:"model"`
	// Usage has the shape of the Chat Completions usage. OpenAI reports only
	// prompt_tokens and total_tokens, because an embedding has no output
	// tokens, so the completion and the computed total stay unknown unless
	// a server reports completion_tokens.
	Usage *chatUsage `json:"usage"`
	Error errorField `json:"error"`
}

// embeddingsBody reads a complete embeddings body: a list of embeddings
// with the model and usage, or an {"error":{...}} body.
func (c *collector) embeddingsBody(data []byte) bool {
	var b embeddingsBody
	if !decode(data, &b) {
		return false
	}
	c.setModel(b.Model.value)
	if b.Usage != nil {
		c.chatUsage = b.Usage
	}
	if b.Error.present {
		c.fail(b.Error.message)
	}
	return true
}
