"""vLLM worker extension for ``rollout=vllm_server`` on CPU: reload the trainer's weights from a checkpoint.

TRL's server mode pushes weights over NCCL, which does not exist on CPU. The server is started with
``--worker-extension-cls rlreason.rollout.server_worker.CheckpointReload`` and ``VLLM_SERVER_DEV_MODE=1``;
after each optimizer step the trainer writes its weights (checkpoint format) to a file and calls
``reload_from_checkpoint`` through the server's ``/collective_rpc`` endpoint.
"""

from __future__ import annotations

from safetensors.torch import load_file

from rlreason.rollout.weight_sync import load_into_vllm


class CheckpointReload:
    """Mixed into vLLM's worker class by ``--worker-extension-cls``; ``self.model_runner`` is the worker's."""

    def reload_from_checkpoint(self, path: str) -> None:
        load_into_vllm(self.model_runner, load_file(path))
