"""One ZeRO-3 training step, on 2 gloo processes, of an MoE whose experts are separate modules that run only for
the tokens routed to them (the layout of transformers 4's Mixtral and of remote-code MoE checkpoints), with
rank r routing every token to expert r: ``python -m torch.distributed.run --nproc_per_node=2 per_expert_moe.py
leaf|no-leaf``.

With ``leaf``, rlreason's ``prepare_model`` makes the sparse-MoE block a ZeRO-3 leaf, so both ranks gather the
whole block and the step completes (prints ``step done``). With ``no-leaf`` each rank gathers only the expert it
runs: the two ranks' all-gathers no longer match (the experts have different sizes), and the step fails or
hangs until the process group's timeout.
"""

import sys
from datetime import timedelta

import deepspeed
import torch
import torch.distributed as dist
from torch import nn

from rlreason.distributed.config import Strategy
from rlreason.distributed.zero import deepspeed_config, prepare_model

HIDDEN, EXPERTS = 16, 2


class RankTopKRouter(nn.Module):
    """A router that sends every token to the expert numbered like this process (the ``...TopKRouter`` name and
    output of transformers' families: ``(router_logits, routing_weights, selected_experts)``)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(EXPERTS, HIDDEN) * 0.1)

    def forward(self, hidden):
        logits = hidden @ self.weight.T
        selected = torch.full((hidden.shape[0], 1), dist.get_rank() % EXPERTS, dtype=torch.long)
        return logits, logits.softmax(-1).gather(-1, selected), selected


class PerExpertSparseMoeBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = RankTopKRouter()
        # experts of different widths, so that mismatched all-gathers cannot pass by having equal sizes
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(HIDDEN, HIDDEN * (e + 1)), nn.Linear(HIDDEN * (e + 1), HIDDEN))
            for e in range(EXPERTS)
        )

    def forward(self, hidden):
        _, weights, selected = self.gate(hidden)
        out = torch.zeros_like(hidden)
        for index, expert in enumerate(self.experts):
            rows = (selected == index).any(-1).nonzero().squeeze(-1)
            if rows.numel() == 0:
                continue  # an expert no token chose is not run: the ranks now fetch different parameters
            out = out.index_add(0, rows, expert(hidden[rows]) * weights[rows])
        return out


class PerExpertMoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(32, HIDDEN)
        self.blocks = nn.ModuleList(PerExpertSparseMoeBlock() for _ in range(2))
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, tokens):
        hidden = self.embed(tokens)
        for block in self.blocks:
            hidden = hidden + block(hidden)
        return self.head(hidden).pow(2).mean()


def main(mode: str) -> None:
    deepspeed.init_distributed(dist_backend="gloo", timeout=timedelta(seconds=20))
    torch.manual_seed(0)
    config = {
        **deepspeed_config(Strategy.zero3),
        "train_micro_batch_size_per_gpu": 1,
        "train_batch_size": 2,
        "gradient_accumulation_steps": 1,
        "gradient_clipping": 1.0,
        "bf16": {"enabled": False},
        "fp16": {"enabled": False},
    }
    with deepspeed.zero.Init(config_dict_or_path=config):  # as from_pretrained builds a model under ZeRO-3
        model = PerExpertMoE()
    if mode == "leaf":
        prepare_model(model, Strategy.zero3)
    engine, *_ = deepspeed.initialize(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), config=config)
    loss = engine(torch.arange(4))
    engine.backward(loss)
    engine.step()
    print(f"rank {dist.get_rank()}: step done, loss {loss.item():.4f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
