"""LLM-judge throughput: requests per second to a vLLM judge (CPU, the tiny MoE, OpenAI-compatible server on
127.0.0.1), sent one at a time (``concurrency=1``, the baseline) and with ``concurrency`` requests in flight,
in one run against the same server, the disk cache off. vLLM batches the concurrent requests; the ratio is
what the ``llm_judge`` reward's bounded concurrency buys over a sequential client. Then the same requests once
more through the cache. Ends with one JSON line::

    {"samples": n, "sequential_rps": ..., "concurrent_rps": ..., "concurrency": k, "speedup": ..., "cached_rps": ...}

Usage: python bench/judge.py [--samples 64] [--concurrency 8] [--port 8790]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DIGIT = {"structured_outputs": {"regex": "[0-9]"}}


def tiny_checkpoint(folder: Path) -> str:
    """The tiny MoE and its tokenizer, built by the init stage."""
    from rlreason.config import compose
    from rlreason.stages import init
    from rlreason.stages.contract import Run

    cfg = compose([f"run_dir={folder}", "logger=none"])
    return init.run(cfg, Run(folder)).checkpoint


def throughput(judge, prompts, completions) -> float:
    from rlreason.rewards.guard import call

    start = time.perf_counter()
    values = call(judge, prompts=prompts, completions=completions)
    assert all(v is not None for v in values)
    return len(prompts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--port", type=int, default=8790)
    args = parser.parse_args()
    from rlreason.rewards.judge import LLMJudge
    from rlreason.rollout.server import wait_healthy

    work = Path(tempfile.mkdtemp(prefix="bench_judge_"))
    checkpoint = tiny_checkpoint(work)
    url = f"http://127.0.0.1:{args.port}"
    log = open(work / "vllm.log", "w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            checkpoint,
            "--served-model-name",
            "judge",
            "--host",
            "127.0.0.1",
            "--port",
            str(args.port),
            "--dtype",
            "float32",
            "--enforce-eager",
            "--max-model-len",
            "512",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"},
    )
    try:
        wait_healthy(url, 300, server, work / "vllm.log")
        prompts = [[{"role": "user", "content": f"What is {i} + {i % 7}?"}] for i in range(args.samples)]
        completions = [
            [{"role": "assistant", "content": f"<think>{i}+{i % 7}</think><answer>{i + i % 7}</answer>"}]
            for i in range(args.samples)
        ]
        kwargs = {"url": url, "extra_body": DIGIT, "max_score": 9}
        warm = LLMJudge(**kwargs, concurrency=args.concurrency, cache=None)
        asyncio.run(warm(prompts[:4], completions[:4]))  # the first requests pay for vLLM's warm-up
        sequential = throughput(LLMJudge(**kwargs, concurrency=1, cache=None), prompts, completions)
        concurrent = throughput(LLMJudge(**kwargs, concurrency=args.concurrency, cache=None), prompts, completions)
        cached = LLMJudge(**kwargs, concurrency=args.concurrency, cache=str(work / "judge.sqlite"))
        throughput(cached, prompts, completions)
        from_cache = throughput(cached, prompts, completions)
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    print(
        json.dumps(
            {
                "samples": args.samples,
                "sequential_rps": round(sequential, 2),
                "concurrent_rps": round(concurrent, 2),
                "concurrency": args.concurrency,
                "speedup": round(concurrent / sequential, 2),
                "cached_rps": round(from_cache, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
