"""``rm:PATH``: a trained reward model as a GRPO reward (``AutoModelForSequenceClassification``, one logit).

The reward model reads each sample exactly as it was trained on it (``reward_text``): the prompt as the policy
saw it (its chat template, with the row's tools), the reply, then the end-of-sequence token. The
``reward_model`` stage writes its pairs with the same function, so the scores GRPO gets are the ones the
stage's held-out accuracy measured. Scoring is batched, without gradients, on the trainer's device.

``tasks`` limits the model to some tasks' rows (None on the others), so rules can score reasoning while the
model scores the rest, as R1's last RL stage did.
"""

from __future__ import annotations

import logging
from pathlib import Path

from rlreason.data.mixer import row_tools
from rlreason.distributed.zero import whole_weights
from rlreason.models.chat import prompt_text
from rlreason.rewards.guard import RewardSpecError
from rlreason.tasks.common import completion_text

logger = logging.getLogger(__name__)


def reward_text(tokenizer, prompt, completion, tools=None) -> str:
    """What a reward model reads of one sample: the rendered prompt, the reply and the end-of-sequence token."""
    return prompt_text(tokenizer, prompt, tools) + completion_text(completion) + (tokenizer.eos_token or "")


class RewardModel:
    """Scores samples with a sequence-classification checkpoint; the raw logit is the reward."""

    def __init__(
        self,
        path: str,
        batch_size: int = 32,
        tasks: list[str] | None = None,
        device: str = "auto",
        max_length: int | None = None,
    ):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        folder = Path(path)
        if not (folder / "config.json").is_file():
            raise RewardSpecError(
                f"reward 'rm:{path}': not a reward-model folder (no config.json); train one with the "
                "reward_model stage, or name a folder save_pretrained wrote"
            )
        # auto: this process's GPU (each training rank's own, as accelerate sets it), else the CPU
        self.device = (
            (f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu")
            if device == "auto"
            else device
        )
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        with whole_weights():  # each process scores with a whole copy, also beside a ZeRO-3 trainer
            self.model = AutoModelForSequenceClassification.from_pretrained(path).to(self.device).eval()
        if self.model.config.num_labels != 1:
            raise RewardSpecError(
                f"reward 'rm:{path}': the model has {self.model.config.num_labels} labels; a reward "
                "model has one (num_labels=1)"
            )
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.batch_size, self.tasks, self.max_length = batch_size, set(tasks) if tasks else None, max_length
        self.path = path

    def texts(self, prompts, completions, tools=None) -> list[str]:
        tools = tools or [None] * len(prompts)
        return [
            reward_text(self.tokenizer, p, c, row_tools({"tools": t})) for p, c, t in zip(prompts, completions, tools)
        ]

    def score_texts(self, texts: list[str]) -> list[float]:
        """The model's score of each text, in batches of ``batch_size`` (padded on the right, as TRL does)."""
        import torch

        scores = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(
                    texts[start : start + self.batch_size],
                    return_tensors="pt",
                    padding=True,
                    padding_side="right",
                    truncation=self.max_length is not None,
                    max_length=self.max_length,
                )
                logits = self.model(**batch.to(self.device)).logits[:, 0]
                scores += logits.float().cpu().tolist()
        return scores

    def __call__(self, prompts, completions, task=None, tools=None, **kwargs) -> list[float | None]:
        kinds = task or [None] * len(prompts)
        keep = [i for i, kind in enumerate(kinds) if self.tasks is None or kind in self.tasks]
        scores: list[float | None] = [None] * len(prompts)
        tools = tools or [None] * len(prompts)
        if keep:
            values = self.score_texts(
                self.texts([prompts[i] for i in keep], [completions[i] for i in keep], [tools[i] for i in keep])
            )
            for index, value in zip(keep, values):
                scores[index] = value
        return scores
