"""Built-in reward functions, importable as ``rlreason.reward``. All use TRL's reward signature."""
