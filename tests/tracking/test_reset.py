"""lw.reset_clients() forgets everything the fluent API holds for the old environment (issue 18, item 4)."""

from __future__ import annotations

from pathlib import Path

import loopwright as lw
from loopwright.tracking.client import DEFAULT_EXPERIMENT


def test_reset_clients_forgets_the_chosen_experiment(lw_env: Path) -> None:
    lw.set_experiment("churn")
    with lw.start_run() as run:
        pass
    assert lw.get_experiment(lw.get_run(run.id).experiment_id).name == "churn"
    lw.reset_clients()
    with lw.start_run() as run:
        pass
    assert lw.get_experiment(lw.get_run(run.id).experiment_id).name == DEFAULT_EXPERIMENT
