"""``rollout=vllm_server``: a vLLM server process next to the trainer, started, health-checked and stopped
by the GRPO stage (or one the user runs, ``rollout.server.url``).

On GPU the server is ``trl vllm-serve`` and TRL's server mode (NCCL weight sync) runs unchanged. On CPU it
is vLLM's OpenAI-compatible server with the :mod:`rlreason.rollout.server_worker` extension:
:class:`CPUServerGeneration` keeps TRL's server-mode generation and swaps in a client for the OpenAI
``/v1/completions`` endpoint and a weight sync through a checkpoint file (``docs/vllm-cpu.md``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import requests
from safetensors.torch import save_file
from trl.generation.vllm_generation import VLLMGeneration

from rlreason.distributed import cluster
from rlreason.distributed.comm import is_main_process
from rlreason.rollout.weight_sync import checkpoint_format_weights

logger = logging.getLogger(__name__)


class ServerError(RuntimeError):
    """The vLLM server did not start, died, or cannot be reached."""


def server_command(checkpoint: str, device: str, dtype: str, seed: int, rollout, host: str | None = None) -> list[str]:
    """The command that serves ``checkpoint`` for GRPO on ``device``, listening on ``host`` (default
    ``rollout.server.host``)."""
    server = rollout.server
    common = [
        "--host",
        host or server.host,
        "--port",
        str(server.port),
        "--max-model-len",
        str(rollout.max_model_length),
    ]
    if device == "cpu":
        return [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            checkpoint,
            *common,
            "--dtype",
            dtype,
            "--seed",
            str(seed),
            "--logprobs-mode",
            "processed_logprobs",
            *(["--enforce-eager"] if rollout.enforce_eager else []),
            "--worker-extension-cls",
            "rlreason.rollout.server_worker.CheckpointReload",
        ]
    return [
        "trl",
        "vllm-serve",
        "--model",
        checkpoint,
        *common,
        "--gpu-memory-utilization",
        str(rollout.gpu_memory_utilization),
        *(["--enforce-eager"] if rollout.enforce_eager else []),
    ]


def wait_healthy(url: str, timeout: float, process: subprocess.Popen | None = None, log: Path | None = None) -> None:
    """Poll ``url/health`` until it answers 200; fail early, with the server's last log lines, if it dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:]) if log and log.exists() else ""
            raise ServerError(
                f"vLLM server exited with code {process.returncode} before it was ready; see {log}:\n{tail}"
            )
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/health", timeout=5).status_code == 200:
                return
        time.sleep(1.0)
    raise ServerError(
        f"vLLM server at {url} not healthy after {timeout:.0f} s (rollout.server.timeout); see {log or 'its log'}"
    )


@contextlib.contextmanager
def managed_server(
    checkpoint: str, device: str, dtype: str, seed: int, rollout, log_dir: Path, lay: cluster.Layout | None = None
):
    """Yield the URL of a healthy server for ``checkpoint``: the user's (``rollout.server.url``), one on the
    job's vLLM node (``cluster.vllm_nodes=1``, layout ``lay``), or one started here on 127.0.0.1; the last two
    are stopped on exit, however the block exits."""
    server = rollout.server
    if server.url:
        wait_healthy(server.url.rstrip("/"), server.timeout)
        yield server.url.rstrip("/")
        return
    log = log_dir / "vllm_server.log"
    env = {"VLLM_SERVER_DEV_MODE": "1", "VLLM_CPU_KVCACHE_SPACE": str(rollout.kv_cache_gib)}
    if lay is not None and lay.vllm_task is not None:
        with _server_on_vllm_node(
            lay, server_command(checkpoint, device, dtype, seed, rollout, "0.0.0.0"), env, log, server
        ) as url:
            yield url
        return
    command = server_command(checkpoint, device, dtype, seed, rollout)
    logger.info("starting vLLM server: %s (log: %s)", " ".join(command), log)
    with open(log, "w") as handle:
        process = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **env}, start_new_session=True
        )
    url = f"http://{server.host}:{server.port}"
    try:
        wait_healthy(url, server.timeout, process, log)
        yield url
    finally:
        cluster.stop_process(process)


@contextlib.contextmanager
def _server_on_vllm_node(lay: cluster.Layout, command: list[str], env: dict, log: Path, server):
    """The job's vLLM task serves ``command``; yield its URL once healthy, and have it stop the server after."""
    request = cluster.post(lay, "serve", argv=command, env=env, port=server.port, log=str(log))
    try:
        url = cluster.wait_reply(lay, request, lay.vllm_task, server.timeout, "starting the vLLM server")["url"]
        logger.info("vLLM server on task %d: %s (log: %s)", lay.vllm_task, url, log)
        wait_healthy(url, server.timeout, log=log)
        yield url
    finally:
        stop = cluster.post(lay, "stop", serve=request)
        with contextlib.suppress(RuntimeError):
            cluster.wait_reply(lay, stop, lay.vllm_task, 60, "stopping the vLLM server")


class OpenAIServerClient:
    """What TRL's server-mode generation needs from a client, over vLLM's OpenAI-compatible server."""

    def __init__(self, url: str, model: str, timeout: float):
        self.url, self.model, self.timeout = url, model, timeout

    def _post(self, path: str, payload: dict) -> requests.Response:
        try:
            response = requests.post(f"{self.url}{path}", json=payload, timeout=self.timeout)
        except requests.RequestException as error:
            raise ServerError(
                f"vLLM server at {self.url} unreachable ({type(error).__name__}); did it die? {error}"
            ) from error
        if response.status_code != 200:
            raise ServerError(f"vLLM server {path} answered {response.status_code}: {response.text[:500]}")
        return response

    def generate(
        self,
        prompts,
        features=None,
        n=1,
        repetition_penalty=1.0,
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        min_p=0.0,
        max_tokens=16,
        logprobs=0,
        structured_outputs_regex=None,
        generation_kwargs=None,
    ) -> dict:
        if features is not None or structured_outputs_regex is not None:
            raise ServerError("rollout=vllm_server on CPU supports text prompts without structured outputs")
        payload = {
            "model": self.model,
            "prompt": prompts,
            "n": n,
            "temperature": temperature,
            "top_p": top_p,
            "top_k": top_k if top_k and top_k > 0 else -1,
            "min_p": min_p,
            "repetition_penalty": repetition_penalty,
            "max_tokens": max_tokens,
            "logprobs": 0,
            "return_token_ids": True,
            **(generation_kwargs or {}),
        }
        choices = sorted(self._post("/v1/completions", payload).json()["choices"], key=lambda c: c["index"])
        completion_ids = [c["token_ids"] for c in choices]
        token_logprobs = [[[lp] for lp in c["logprobs"]["token_logprobs"]] for c in choices]
        token_ids = [[[t] for t in c["token_ids"]] for c in choices]
        return {
            "prompt_ids": list(prompts),
            "completion_ids": completion_ids,
            "logprobs": token_logprobs,
            "logprob_token_ids": token_ids,
        }

    def reload_weights(self, path: str) -> None:
        self._post("/collective_rpc", {"method": "reload_from_checkpoint", "args": [path]})

    def reset_prefix_cache(self) -> None:
        self._post("/reset_prefix_cache", {})


class CPUServerGeneration(VLLMGeneration):
    """TRL's server-mode generation against a CPU vLLM server; weights travel through a checkpoint file."""

    def __init__(self, *args, server_url: str | None, sync_dir: Path, **kwargs):
        self.server_url, self.sync_file = server_url, Path(sync_dir) / "policy.safetensors"
        super().__init__(*args, mode="server", **kwargs)

    def _init_vllm(self) -> None:
        # As in TRL's server mode, only the main process talks to the server (the others get its samples).
        self.vllm_client = (
            OpenAIServerClient(self.server_url, self.model.name_or_path, self.server_timeout)
            if is_main_process()
            else None
        )

    def sync_weights(self) -> None:
        weights = checkpoint_format_weights(self.accelerator.unwrap_model(self.model))  # under ZeRO-3 a collective
        if is_main_process():
            # Tied tensors share storage, which safetensors refuses; the tiny copies cost nothing.
            save_file({name: tensor.contiguous().clone() for name, tensor in weights.items()}, str(self.sync_file))
            self.vllm_client.reload_weights(str(self.sync_file))
            self.vllm_client.reset_prefix_cache()
        self.accelerator.wait_for_everyone()
