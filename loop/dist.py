"""Several processes running one `loop run` (torchrun, accelerate launch): who writes, who waits.

Rank 0 alone holds the run lock and writes the ledger; the other processes train beside it (TRL and
accelerate handle the data-parallel training) and hear rank 0's decisions by broadcast. Every helper
here is a no-op in a single process, so the round recipes read the same either way. The collectives
are accelerate's (over torch.distributed; gloo on a CPU), started on first use; on the ground floor
because the ledger's critique recorder gathers with them too.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from loop.errors import LoopError


def world_size() -> int:
    """How many processes run this command (torchrun and accelerate launch set WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def distributed() -> bool:
    return world_size() > 1


def rank() -> int:
    """This process's rank, read from the launcher's environment: asking it starts no process group, so
    an error path can ask (a collective there could wait on a process that has already gone)."""
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """Whether this process writes the ledger and speaks to the terminal."""
    return rank() == 0


def use_cpu_without_gpu() -> None:
    """With several processes and no GPU, tell accelerate to run them on the CPU (gloo), as `accelerate
    launch --cpu` does: else accelerate sees no device to share, and under torchrun every process would
    train alone on the whole round. Called before any trainer or process group exists (plan_run)."""
    if distributed():
        import torch

        if not torch.cuda.is_available():
            os.environ.setdefault("ACCELERATE_USE_CPU", "true")


def _state():
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    use_cpu_without_gpu()
    # The process group, started the first time; TRL's trainers start theirs with the same settings.
    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))


def barrier() -> None:
    """Every process waits here until all have arrived (after rank 0 wrote what the others read)."""
    if distributed():
        _state().wait_for_everyone()


def broadcast_object(obj: Any) -> Any:
    """Rank 0's `obj` on every process (what the others pass is ignored)."""
    if not distributed():
        return obj
    from accelerate.utils import broadcast_object_list

    _state()
    return broadcast_object_list([obj], from_process=0)[0]


def gather_object(items: list) -> list:
    """Every process's `items`, concatenated in rank order, on every process; each process must call it,
    also with an empty list."""
    if not distributed():
        return list(items)
    from accelerate.utils import gather_object as accelerate_gather

    _state()
    return accelerate_gather(list(items))


def shut_down() -> None:
    """After a command every process completed: all meet, then the process group is destroyed. Left to
    the interpreter's exit, gloo's worker threads can abort a process whose work was done (SIGABRT,
    "terminate called without an active exception"). Not after an error: a process that failed alone
    would leave the others waiting at the meeting."""
    import sys

    if not distributed() or "torch" not in sys.modules:
        return
    import torch.distributed as torch_dist

    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()


class EchoedError(LoopError):
    """Rank 0's LoopError, raised again on another process so that it stops too; rank 0 prints it."""


def on_main(func: Callable[..., Any], *args: Any) -> Any:
    """`func(*args)` run by rank 0 alone, its result broadcast to every process. A LoopError there reaches
    every process as the same LoopError (an EchoedError on the others), so none waits for a result that
    will never come."""
    if not distributed():
        return func(*args)
    outcome: tuple[str, Any] = ("ok", None)
    error: LoopError | None = None
    if is_main():
        try:
            outcome = ("ok", func(*args))
        except LoopError as err:
            error, outcome = err, ("error", str(err))
    status, value = broadcast_object(outcome)
    if status == "error":
        raise error or EchoedError(value)  # the message already names its file and line
    return value
