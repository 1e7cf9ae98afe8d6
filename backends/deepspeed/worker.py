"""One rank of a DeepSpeed run: ``deepspeed ... --module backends.deepspeed.worker JOB``.

Every rank loads the job written by :class:`backends.deepspeed.backend.DeepSpeedBackend`,
joins the process group and trains with :class:`~backends.deepspeed.trainer.DeepSpeedTrainer`.
Rank 0 writes the progress lines, the checkpoints, the run's log and ``result.json``; a
rank that fails writes ``failed-rank<r>.json`` and exits non-zero, after which the
launcher stops the others. A stop requested by the parent (the file ``stop``) is agreed
on by all ranks at the same step, which then checkpoint and exit; rank 0 leaves the file
``interrupted``. The files: :mod:`backends.deepspeed.protocol`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from backends.base import NullProgress, RunFailed
from backends.deepspeed.options import DeepSpeedOptions
from backends.deepspeed.protocol import PROGRESS, FileProgress, JobFolder
from backends.deepspeed.trainer import DeepSpeedTrainer
from suite import interrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job", type=Path)
    parser.add_argument("--local_rank", type=int, default=None)
    args = parser.parse_args(argv)
    job = JobFolder.read_job(args.job)
    options: DeepSpeedOptions = job.options
    folder = JobFolder(args.job.parent)

    import deepspeed

    for name in ("DeepSpeed", "deepspeed"):
        logging.getLogger(name).setLevel(logging.WARNING)
    local_rank = int(os.environ.get("LOCAL_RANK", args.local_rank or 0))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
        local_ranks = int(os.environ.get("LOCAL_SIZE", "1"))
        torch.set_num_threads(options.threads or max(1, len(os.sched_getaffinity(0)) // local_ranks))
    deepspeed.init_distributed(dist_init_required=True)
    rank, world = dist.get_rank(), dist.get_world_size()

    def fail(error: str, partial: dict[str, Any] | None) -> int:
        folder.write_failure(rank, world, error, partial)
        return 1

    trainer = DeepSpeedTrainer(job.cell, job.seed, job.run_dir, device, options, folder.path)
    progress = FileProgress(folder.path / PROGRESS) if rank == 0 else NullProgress()
    try:
        record = trainer.fit(progress)
    except interrupt.Interrupted:
        if rank == 0:
            folder.mark_interrupted()
        return 0
    except RunFailed as exc:
        print(f"rank {rank}: run failed: {exc}", file=sys.stderr, flush=True)
        return fail(str(exc), exc.partial)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which records the failure
        traceback.print_exc()
        return fail(f"{type(exc).__name__}: {exc}", None)
    if rank == 0:
        folder.write_result(record)
    dist.barrier()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
