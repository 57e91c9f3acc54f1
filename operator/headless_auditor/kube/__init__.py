"""The Kubernetes API: the client, the writer, the one-shot gatherer."""
