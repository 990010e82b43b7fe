"""DAPO's dynamic sampling for TRL's ``GRPOTrainer``: groups whose completions all earned the same reward have
zero advantage and teach nothing, so they are dropped and the batch is refilled with groups sampled for further
prompts, up to ``grpo.dynamic_sampling.max_rounds`` generation rounds per step.

TRL samples one generation batch per step and has no such option; :class:`DynamicSampling` wraps its
``_generate_and_score_completions``. A refill round asks the same method for another batch of prompts (drawn from
the training set by the seed, the step and the round, so the dataloader's order is untouched and a resumed run
refills as the uninterrupted one did), and the batch handed to
the optimizer keeps its size: the groups with a signal first, then, if the rounds ran out, zero-advantage groups
of the first round (which add nothing to the policy gradient). The sequences of different rounds are padded to
a common length, and ``num_items_in_batch`` (the loss normaliser) is counted anew.

Logged per step: ``dynamic_sampling/kept_share`` (the first round's share of groups with a signal),
``dynamic_sampling/rounds`` and ``dynamic_sampling/signal_share`` (the share of the final batch's groups with a
signal). Text rollouts only: a multimodal batch is refused with a message.
"""

from __future__ import annotations

import random

import torch

# An advantage this small is a group whose rewards all agree (TRL's mean and std leave float noise).
NO_SIGNAL = 1e-6
# Keys of TRL's generation batch, by how they are padded: prompts on the left, completions on the right.
LEFT_PADDED = ("prompt_ids", "prompt_mask")
RIGHT_PADDED = (
    "completion_ids",
    "completion_mask",
    "old_per_token_logps",
    "sampling_per_token_logps",
    "ref_per_token_logps",
    "importance_sampling_ratio",
    "tool_mask",
)
PER_SAMPLE = ("advantages",)


def group_signal(advantages: torch.Tensor, group_size: int) -> torch.Tensor:
    """Per group of ``group_size`` consecutive samples: True where some advantage is not zero."""
    return (advantages.view(-1, group_size).abs() > NO_SIGNAL).any(dim=1)


def _pad(tensor: torch.Tensor, length: int, value, left: bool) -> torch.Tensor:
    missing = length - tensor.shape[1]
    if missing <= 0:
        return tensor
    filler = torch.full((tensor.shape[0], missing, *tensor.shape[2:]), value, dtype=tensor.dtype, device=tensor.device)
    return torch.cat([filler, tensor] if left else [tensor, filler], dim=1)


def merged(batches: list[dict], picks: list[tuple[int, int]], group_size: int, pad_token_id: int) -> dict:
    """The generation batch made of the groups ``picks`` ((batch index, group index) pairs) of ``batches`` (TRL
    generation batches), their sequences padded to a common length; ``num_items_in_batch`` is left to the
    caller."""
    unknown = set(batches[0]) - set(LEFT_PADDED) - set(RIGHT_PADDED) - set(PER_SAMPLE) - {"num_items_in_batch"}
    if unknown:
        raise ValueError(
            f"grpo.dynamic_sampling: rollouts carrying {sorted(unknown)} (images?) are not supported; text only"
        )
    out = {}
    for key in batches[0]:
        if key == "num_items_in_batch":
            continue
        rows = [batches[b][key][g * group_size : (g + 1) * group_size] for b, g in picks]
        if key in PER_SAMPLE or rows[0].dim() < 2 or (key == "importance_sampling_ratio" and rows[0].shape[1] == 1):
            out[key] = torch.cat(rows)
            continue
        length = max(r.shape[1] for r in rows)
        value = pad_token_id if key.endswith("_ids") else (1 if key == "tool_mask" else 0)
        out[key] = torch.cat([_pad(r, length, value, left=key in LEFT_PADDED) for r in rows])
    return out


class RefillPrompts:
    """Training rows for refill rounds, each repeated ``group_size`` times as TRL's sampler repeats a prompt for
    its group. The rows of a round follow from (seed, process, step, round) alone, not from a stream's state, so
    a run resumed from a checkpoint refills exactly as the uninterrupted run did; the dataloader's order is
    untouched."""

    def __init__(self, dataset, group_size: int, seed: str):
        self.dataset, self.group_size, self.seed = dataset, group_size, seed

    def take(self, prompts: int, step: int, round_: int) -> list[dict]:
        rng = random.Random(f"{self.seed}:{step}:{round_}")
        indices = rng.sample(range(len(self.dataset)), min(prompts, len(self.dataset)))
        indices += [rng.randrange(len(self.dataset)) for _ in range(prompts - len(indices))]
        return [self.dataset[index] for index in indices for _ in range(self.group_size)]


class DynamicSampling:
    """A ``GRPOTrainer`` mixin: set ``dynamic_sampling`` (``grpo.dynamic_sampling``, with ``enabled`` and
    ``max_rounds``) to turn it on."""

    dynamic_sampling = None
    _refill: RefillPrompts | None = None

    def _generate_and_score_completions(self, inputs):
        first = super()._generate_and_score_completions(inputs)
        if self.dynamic_sampling is None or not self.dynamic_sampling.enabled or not self.model.training:
            return first
        size = self.num_generations
        if len(inputs) % size:
            raise ValueError(
                f"grpo.dynamic_sampling: a process's generation batch of {len(inputs)} does not hold whole groups of "
                f"{size} (grpo.num_generations); make grpo.prompts_per_step a multiple of the processes"
            )
        if self._refill is None:
            seed = f"{self.args.seed}:{self.accelerator.process_index}"
            self._refill = RefillPrompts(self.train_dataset, size, seed)
        batches = [first]
        signal = [group_signal(first["advantages"], size)]
        groups = len(signal[0])
        while len(batches) < self.dynamic_sampling.max_rounds and self._any_process_short(signal, groups):
            rows = self._refill.take(groups, self.state.global_step, len(batches))
            extra = super()._generate_and_score_completions(rows)
            batches.append(extra)
            signal.append(group_signal(extra["advantages"], size))
        with_signal = [(b, g) for b, flags in enumerate(signal) for g in range(groups) if flags[g]]
        without = [(0, g) for g in range(groups) if not signal[0][g]]
        picks = (with_signal + without)[:groups]
        batch = merged(batches, picks, size, self._tokenizer.pad_token_id)
        loss_mask = batch["completion_mask"] * batch.get("tool_mask", 1)
        batch["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()
        self._log_dynamic_sampling(signal[0], len(batches), min(len(with_signal), groups) / groups)
        return batch

    def _any_process_short(self, signal: list[torch.Tensor], groups: int) -> bool:
        """Whether any process still has fewer groups with a signal than its batch holds: every process then
        samples another round, since each round's scoring gathers across all of them."""
        kept = sum(int(flags.sum()) for flags in signal)
        short = torch.tensor([float(kept < groups)], device=self.accelerator.device)
        return bool(self.accelerator.gather(short).max().item())

    def _log_dynamic_sampling(self, first_round: torch.Tensor, rounds: int, signal_share: float) -> None:
        device = self.accelerator.device
        figures = torch.tensor([first_round.float().mean().item(), rounds, signal_share], device=device)
        gathered = self.accelerator.gather(figures.unsqueeze(0)).mean(dim=0)
        for key, value in zip(("kept_share", "rounds", "signal_share"), gathered.tolist()):
            self._metrics["train"][f"dynamic_sampling/{key}"].append(value)
