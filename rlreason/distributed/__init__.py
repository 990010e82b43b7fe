"""Training stages across processes: DeepSpeed ZeRO through TRL's trainers, launched by rlreason itself.

``distributed=zero2|zero3|zero3_offload`` (``distributed.num_processes``, default one per GPU) runs the
training stages (SFT, GRPO) as one process per device under ``torch.distributed.run``, while init, the
bookkeeping and eval stay in the single ``rlreason`` process. The parent writes the stage's DeepSpeed config
and launch command into ``<run_dir>/<stage>/distributed/`` (readable, reusable), starts the ranks, forwards
stop signals to them, and records the result rank 0 leaves behind, so resume and Ctrl-C behave as in a
single-process run.

- :mod:`rlreason.distributed.config`: the ``distributed`` config group, and the checks of it before a run;
- :mod:`rlreason.distributed.comm`: which process this is, and the collectives the stages use;
- :mod:`rlreason.distributed.zero`: the DeepSpeed config a strategy writes, ZeRO-3's model preparation, whole weights;
- :mod:`rlreason.distributed.launch`: the parent side (launch, signals, result);
- :mod:`rlreason.distributed.worker`: what each rank runs (process group, the stage, rank 0's result).
"""
