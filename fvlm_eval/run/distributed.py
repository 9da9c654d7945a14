"""Runs under torchrun: each rank is one shard (whole videos), rank 0 joins them at the end.

``torchrun --nproc-per-node N -m fvlm_eval run BENCHMARK ...`` starts N copies of the CLI; each
finds its rank in the environment torchrun sets, scores its shard on its own device (GPU
``LOCAL_RANK``, or the CPU), writes its own record files, and waits for the others; rank 0 then
merges the shards into the usual ``samples.jsonl`` and ``summary.json``. The process group
(gloo, whatever the device) is used for nothing but that wait and the exit codes.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from fvlm_eval.errors import INTERRUPT_EXIT_CODES, ExitCode, FvlmEvalError
from fvlm_eval.run.settings import RunOutcome
from fvlm_eval.run.shards import MergeRefused, Shard, merge


@dataclass(frozen=True)
class Launch:
    rank: int
    world: int
    local_rank: int

    @property
    def shard(self) -> Shard:
        return Shard(self.rank, self.world)

    @property
    def device(self) -> str:
        import torch

        return f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu"


# What torchrun sets for every rank; RANK or WORLD_SIZE alone (left in a shell, set by a scheduler) is not a launch.
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class LaunchError(FvlmEvalError):
    """The environment looks half like torchrun's: one line saying what is set and what is missing."""

    exit_code = ExitCode.USAGE


def launch_from_environment(environ=os.environ) -> Launch | None:
    """This process's place under torchrun read from ``environ``; None when neither RANK nor WORLD_SIZE is set."""
    if "RANK" not in environ and "WORLD_SIZE" not in environ:
        return None
    present = [f"{name}={environ[name]}" for name in TORCHRUN_VARIABLES if name in environ]
    missing = [name for name in TORCHRUN_VARIABLES if name not in environ]
    if missing:
        raise LaunchError(
            f"the environment sets {', '.join(present)} but not {', '.join(missing)}: launch with torchrun "
            f"(it sets all of {', '.join(TORCHRUN_VARIABLES)}), or unset "
            f"{' and '.join(n for n in ('RANK', 'WORLD_SIZE') if n in environ)} to run as one process"
        )
    try:
        found = Launch(int(environ["RANK"]), int(environ["WORLD_SIZE"]), int(environ.get("LOCAL_RANK", 0)))
    except ValueError:
        raise LaunchError(
            f"RANK={environ['RANK']}, WORLD_SIZE={environ['WORLD_SIZE']}, LOCAL_RANK="
            f"{environ.get('LOCAL_RANK', '')}: torchrun's ranks must be whole numbers"
        ) from None
    if not 0 <= found.rank < found.world or found.local_rank < 0:
        raise LaunchError(f"RANK={found.rank} with WORLD_SIZE={found.world}: a rank must be in 0..WORLD_SIZE-1")
    return found


def launch() -> Launch | None:
    """This process's place under torchrun (and the process group started), or None when not launched so.
    Raises LaunchError when the environment is half a torchrun launch (no raw torch.distributed error)."""
    found = launch_from_environment()
    if found is None:
        return None
    import torch.distributed as dist

    if not dist.is_initialized():  # collectives wait for the slowest shard (hours); the rendezvous does not
        dist.init_process_group(
            "gloo", store=_rendezvous(found), rank=found.rank, world_size=found.world, timeout=timedelta(hours=48)
        )
    return found


RENDEZVOUS_SECONDS = 120  # torchrun starts every rank at once: a rank that waits longer is no launch at all


def _rendezvous(found: Launch):
    """The store the ranks meet at (as torch's ``env://`` makes it: rank 0 hosts it, or torchrun's agent
    does), made within ``RENDEZVOUS_SECONDS``; else a ``LaunchError`` saying who did not come. A stray
    RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT once made a run wait 48 hours, deaf to SIGTERM."""
    import importlib
    import socket
    import time

    rendezvous = importlib.import_module(
        "torch.distributed.rendezvous"
    )  # the module (the package exports a function of its name)

    host, port = os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"]
    if not port.isdigit() or not 0 < int(port) < 2**16:
        raise LaunchError(f"MASTER_PORT={port}: not a port number")
    where = f"{host}:{port} (MASTER_ADDR:MASTER_PORT)"
    stray = (
        "is torchrun running? RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT left in the environment make a "
        "run wait for ranks that never come: unset them to run as one process"
    )
    hosting = found.rank == 0 and not rendezvous._torchelastic_use_agent_store()
    deadline = time.monotonic() + RENDEZVOUS_SECONDS
    while not hosting:  # in Python, so Ctrl-C and SIGTERM stop the wait (torch's own retries are deaf to them)
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise LaunchError(
                    f"rank {found.rank} of {found.world}: nothing answers at {where} after "
                    f"{RENDEZVOUS_SECONDS} s: {stray}"
                ) from None
            time.sleep(0.5)
    if hosting:  # the wait below is torch's, in C++: say why the process sits still, and what stops it
        import sys

        print(
            f"rank 0 of {found.world}: waiting up to {RENDEZVOUS_SECONDS} s at {where} for the other ranks "
            "(Ctrl-C or SIGTERM ends the wait)",
            file=sys.stderr,
            flush=True,
        )
    with _default_stops():
        try:
            return rendezvous._create_c10d_store(
                host, int(port), found.rank, found.world, timedelta(seconds=max(1.0, deadline - time.monotonic()))
            )
        except (RuntimeError, ValueError) as error:  # torch's DistStoreError and its kin
            first = cut_at_a_word((str(error).strip().splitlines() or [type(error).__name__])[0])
            raise LaunchError(
                f"rank {found.rank} of {found.world}: the ranks did not all meet at {where} within "
                f"{RENDEZVOUS_SECONDS} s ({first}): {stray}"
            ) from None


def cut_at_a_word(text: str, limit: int = 200) -> str:
    """``text`` whole up to ``limit`` characters, else cut after its last whole word within them, marked "…" (torch's
    and gloo's messages run long: cut mid-word, "the remote w" read as the whole message)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return (cut[: cut.rfind(" ")] if " " in cut else cut).rstrip(" ,;:(") + "…"


@contextmanager
def _default_stops():
    """SIGTERM and Ctrl-C end the process at once while torch waits in C++ (where no Python handler can
    run until it returns); nothing has been scored or written yet."""
    import signal
    import threading

    saved = {}
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGTERM, signal.SIGINT):
            saved[number] = signal.signal(number, signal.SIG_DFL)
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


def device_for(launch_: Launch, requested: str | None) -> str:
    """``--device cuda`` under torchrun means each rank's own GPU."""
    if requested in (None, "cuda"):
        return launch_.device if requested is None else f"cuda:{launch_.local_rank}"
    return requested


def finish(launch_: Launch, output: Path, outcome: RunOutcome) -> dict:
    """Wait for every rank; rank 0 merges when every rank finished its shard and says what every rank had to say
    (each shard's questions whose bound misses the clip, its failures: rank 0's alone were said). Returns rank
    0's summaries.
    A rank stopped by Ctrl-C or SIGTERM waits for no one: the launcher is ending every rank (a rank
    killed outright would leave the others' collective failing); its line says how to resume."""
    import torch
    import torch.distributed as dist

    if outcome.exit_code in INTERRUPT_EXIT_CODES:
        return {}
    codes = [torch.tensor([0]) for _ in range(launch_.world)]
    said: list = [[] for _ in range(launch_.world)]  # each rank's messages: rank 0 alone prints, for all of them
    try:
        dist.all_gather(codes, torch.tensor([outcome.exit_code]))
        dist.all_gather_object(said, list(outcome.messages))
    except RuntimeError as error:  # a rank died (killed, out of memory): gloo's connection closed
        reason = (str(error).strip().splitlines() or ["the collective failed"])[0]
        outcome.messages.append(
            f"rank {launch_.rank}: another rank ended before every shard was done ({cut_at_a_word(reason)}); "
            "the records are kept: rerun the same command to resume"
        )
        outcome.exit_code = max(outcome.exit_code, ExitCode.FAILED)
        return {}
    worst = max(int(c.item()) for c in codes)
    summaries: dict = {}
    if launch_.rank == 0:
        outcome.messages[:] = dict.fromkeys(m for messages in (outcome.messages, *said) for m in messages or ())
        if worst in (ExitCode.OK, ExitCode.FAILED):
            try:
                summaries = merge(output)
            except MergeRefused as error:  # what could be merged is, and shown
                summaries = error.merged
                outcome.messages.append(f"merging the ranks' records: {error}")
                outcome.exit_code = ExitCode.FAILED
        else:
            outcome.messages.append(
                f"a rank ended with exit code {worst}: shards left unmerged under {output}; "
                f"rerun the same command to resume, or `fvlm-eval merge {output}` once all are done"
            )
        outcome.exit_code = max(outcome.exit_code, worst)
    else:
        outcome.messages.clear()
    dist.barrier()
    dist.destroy_process_group()
    return summaries
