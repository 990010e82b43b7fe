"""Multi-turn tool rollouts for GRPO, in token space: TRL's ``rollout_func`` hook.

A completion is an episode: the policy replies; when every call of its reply names a tool of the
:class:`~rlreason.tools.box.ToolBox` (``rollout.tools``), the calls run and their results are appended as a
tool turn, and the policy replies again, up to ``rollout.max_turns`` replies or ``grpo.max_completion_length``
tokens. A reply without a call, with a malformed one, calling a tool the box does not run (such as the
tool-calling task's schema-only tools), or cut off by the length limit ends the episode — so rows of the other
tasks get exactly one reply, as without this hook.

Token-in, token-out: each reply's token ids are the engine's, kept as sampled (never decoded and re-encoded);
the tool turn's ids are the chat template's rendering of the tool messages after an end of turn (TRL's
``_get_tool_suffix_ids``), and the next reply is sampled from prompt + everything so far. The tool tokens get
``env_mask`` 0 (TRL leaves them out of the loss, the entropy and the mismatch figures) and logprob 0.

Generation goes through the trainer's ``_generate_single_turn``, so it runs on whatever the trainer samples
with: vLLM colocated (rlreason's CPU engine or TRL's GPU one), a vLLM server on one process, or Hugging Face
``generate``. Each process runs its own episodes; a turn's generation is not a collective there.

Returned next to the ids, per completion, for the rewards (TRL passes them as keyword arguments): ``turns``
(replies), ``tool_calls`` and ``tool_failures``; logged per step: ``tools/turns``, TRL's
``tools/call_frequency`` (calls per episode) and ``tools/failure_frequency`` (failed share of calls).
"""

from __future__ import annotations

import torch

from rlreason.errors import UserError
from rlreason.tasks.tool_use import calls_in
from rlreason.tools.box import ToolBox

# Logged every generation: replies per episode, calls per episode (TRL's name), the failed share of calls (TRL's).
TOOL_METRICS = ("tools/turns", "tools/call_frequency", "tools/failure_frequency")


class ToolRollout:
    """``rollout_func(prompts, trainer)`` for ``GRPOTrainer``: multi-turn episodes with the tools of ``box``."""

    def __init__(self, box: ToolBox, max_turns: int):
        self.box, self.max_turns = box, max_turns

    def close(self) -> None:
        self.box.close()

    def __call__(self, prompts: list, trainer) -> dict:
        prompt_ids, _, _ = trainer._tokenize_prompts(prompts)
        training = trainer.model.training
        group = trainer.num_generations if training else trainer.num_generations_eval
        replies, logprobs = trainer._generate_single_turn(prompt_ids, None, {}, group)
        episodes = [Episode(list(ids), logps) for ids, logps in zip(replies, _or_none(logprobs, len(replies)))]
        limit = trainer.max_completion_length
        eos = set(trainer.eos_token_ids)
        active = list(range(len(episodes)))
        for _ in range(1, self.max_turns):
            following = []
            for i in active:
                episode = episodes[i]
                if not episode.ids or episode.ids[-1] not in eos:  # cut off by the length limit
                    continue
                calls = calls_in(trainer.processing_class.decode(episode.last_reply, skip_special_tokens=True))
                if not self.box.runs(calls):
                    continue
                results = [self.box.run(call) for call in calls]
                tool_ids = trainer._get_tool_suffix_ids([result.message for result in results])
                if len(episode.ids) + len(tool_ids) >= limit:  # no room for the results and another reply
                    continue
                episode.add_tool_turn(tool_ids, results)
                following.append(i)
            if not following:
                break
            replies, logprobs = trainer._generate_single_turn(
                [prompt_ids[i] + episodes[i].ids for i in following], None, {}, 1
            )
            for i, ids, logps in zip(following, replies, _or_none(logprobs, len(replies))):
                room = limit - len(episodes[i].ids)
                episodes[i].add_reply(list(ids)[:room], None if logps is None else list(logps)[:room])
            active = following
        self._log(trainer, episodes, "train" if training else "eval")
        return {
            "prompt_ids": prompt_ids,
            "completion_ids": [e.ids for e in episodes],
            "logprobs": None if episodes[0].logprobs is None else [e.logprobs for e in episodes],
            "env_mask": [e.mask for e in episodes],
            "turns": [e.turns for e in episodes],
            "tool_calls": [e.calls for e in episodes],
            "tool_failures": [e.failures for e in episodes],
        }

    @staticmethod
    def _log(trainer, episodes: list[Episode], mode: str) -> None:
        device = trainer.accelerator.device
        local = torch.tensor([[e.turns, e.calls, e.failures] for e in episodes], dtype=torch.float32, device=device)
        turns, calls, failures = trainer.accelerator.gather(local).sum(dim=0).tolist()
        count = trainer.accelerator.gather(torch.tensor([len(episodes)], device=device)).sum().item()
        figures = (turns / count, calls / count, failures / calls if calls else 0.0)
        for key, value in zip(TOOL_METRICS, figures, strict=True):
            trainer._metrics[mode][key].append(value)


def _or_none(logprobs, count: int) -> list:
    """The engine's per-reply logprobs, or a None per reply where it gives none (Hugging Face generate)."""
    return logprobs if logprobs is not None else [None] * count


class Episode:
    """One completion being built: its token ids, the engine's logprob of each, and which tokens the policy
    wrote (1) or a tool did (0)."""

    def __init__(self, ids: list[int], logprobs: list[float] | None):
        self.ids, self.mask, self.turns = [], [], 0
        self.logprobs: list[float] | None = [] if logprobs is not None else None
        self.calls = self.failures = 0
        self._reply_start = 0
        self.add_reply(ids, logprobs)

    @property
    def last_reply(self) -> list[int]:
        return self.ids[self._reply_start :]

    def add_reply(self, ids: list[int], logprobs: list[float] | None) -> None:
        self._reply_start = len(self.ids)
        self.ids += ids
        self.mask += [1] * len(ids)
        if self.logprobs is not None:
            self.logprobs += logprobs if logprobs is not None else [0.0] * len(ids)
        self.turns += 1

    def add_tool_turn(self, ids: list[int], results) -> None:
        """The tool turn's ids (the chat template's rendering of ``results``, ToolResults of the calls)."""
        self.calls += len(results)
        self.failures += sum(result.failed for result in results)
        self.ids += ids
        self.mask += [0] * len(ids)
        if self.logprobs is not None:
            self.logprobs += [0.0] * len(ids)


def tool_rollout(cfg) -> ToolRollout | None:
    """The multi-turn rollout of ``rollout.max_turns`` > 1 with ``rollout.tools``; None for single-turn GRPO.

    Each process runs its own episodes, so a turn's generation must not be a collective: a vLLM server shared by
    several processes, or ZeRO-3's parameter gathering around Hugging Face ``generate``, would need every
    process to generate as often as the others."""
    rollout = cfg.rollout
    if rollout.max_turns == 1:
        return None
    processes = cfg.distributed.num_processes or 1
    if processes > 1 and rollout.mode.value == "server" and rollout.engine.value == "vllm":
        raise UserError(
            "rollout.max_turns > 1 with rollout=vllm_server on several processes is not supported (the server "
            "generates for all processes at once, turn by turn); use rollout=vllm_colocate or one process"
        )
    if processes > 1 and cfg.distributed.strategy.value.startswith("zero3") and rollout.engine.value == "hf":
        raise UserError(
            "rollout.max_turns > 1 with rollout=hf under distributed=zero3 on several processes is not supported "
            "(ZeRO-3 gathers the weights for every generate call); use rollout=vllm_colocate or distributed=zero2"
        )
    return ToolRollout(ToolBox(rollout.tools, rollout.tool_timeout_s, rollout.tool_output_chars), rollout.max_turns)
