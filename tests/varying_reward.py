"""A reward for tests that train: it varies within every group, so advantages are never all zero and every GRPO
step moves the weights. A module of its own (no imports) so that a subprocess can load it by path."""


def length_parity(prompts, completions, **kwargs):
    return [float(len(c[0]["content"]) % 2) for c in completions]
