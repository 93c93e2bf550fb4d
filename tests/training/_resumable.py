"""A small resumable training script; ``test_checkpoint_resume.py`` runs, kills and reruns it.

``python _resumable.py HOW EPOCHS STOP_AT OUT [RUN_ID]``

- HOW: how the run is found again. ``name``: ``start_run(run_name="job",
  resume=True)``; ``env``: ``start_run()`` with ``KILN_RUN_ID`` set by the
  caller; ``id``: ``start_run(run_id=RUN_ID)``.
- STOP_AT: the epoch at which to stop, after training it but before logging
  or saving it (-1: never): it prints ``stopping N`` and sleeps, to be killed.
- OUT: where ``torch.save`` writes the final model and optimizer states.

Each line it prints is a marker the test reads: ``run ID``, ``start N``,
``saved N``.
"""

from __future__ import annotations

import sys
import time

import torch

import kiln
from kiln.tracking import ActiveRun
from kiln.training import checkpoint


def start(how: str, run_id: str | None) -> ActiveRun:
    if how == "name":
        return kiln.start_run(run_name="job", resume=True)
    if how == "env":
        return kiln.start_run()
    return kiln.start_run(run_id=run_id)


def main(how: str, epochs: int, stop_at: int, out: str, run_id: str | None = None) -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(64, 1)
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)

    with start(how, run_id) as run:
        print("run", run.id, flush=True)
        state = checkpoint.latest()
        first = 0
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["rng"])
            first = state["epoch"] + 1
        print("start", first, flush=True)
        kiln.log_param("lr", 0.05)
        for epoch in range(first, epochs):
            for batch in torch.randperm(64).split(16):  # the RNG state matters
                optimizer.zero_grad()
                torch.nn.functional.mse_loss(model(x[batch]), y[batch]).backward()
                optimizer.step()
            if epoch == stop_at:
                print("stopping", epoch, flush=True)
                time.sleep(600)
            with torch.no_grad():
                loss = torch.nn.functional.mse_loss(model(x), y).item()
            kiln.log_metric("loss", loss, step=epoch)
            state = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "rng": torch.get_rng_state(),
                "epoch": epoch,
            }
            checkpoint.save(state, step=epoch, metric=loss, keep_last=2, keep_best=1)
            print("saved", epoch, flush=True)
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, out)


if __name__ == "__main__":
    how, epochs, stop_at, out, *rest = sys.argv[1:]
    main(how, int(epochs), int(stop_at), out, *rest)
