"""Rollout engines: vLLM (colocated with the trainer, or a server) and Hugging Face ``generate``."""
