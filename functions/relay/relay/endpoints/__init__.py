"""One module per OpenAI endpoint; each describes itself to the shared pipeline."""
