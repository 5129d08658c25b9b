"""`loopwright serve` says which version an alias resolved to, and logs every hot swap at the default level."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import loopwright as lw
from cli_process import free_port, wait_ready


def test_the_banner_names_the_version_and_a_swap_is_logged(sqlite_env: Path) -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 2)), columns=["a", "b"])
    y = (X.a > 0).astype(int)
    for c in (1.0, 0.1):
        with lw.start_run():
            info = lw.log_model(LogisticRegression(C=c).fit(X, y), "model", input_example=X.head(3))
        lw.register_model(info.uri, "banner")
    lw.set_alias("banner", "champion", 1)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopwright.cli", "serve", "models:/banner@champion", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        lw.set_alias("banner", "champion", 2)
        assert httpx.post(f"{url}/admin/reload", timeout=60).status_code == 200
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    assert "models:/banner@champion → version 1" in out, out
    assert "hot swap: endpoint banner now serves models:/banner@champion version 2 (was 1)" in err, err


def test_serve_refuses_a_public_interface_without_a_token(sqlite_env: Path) -> None:
    from cli_process import one_line_error, run_cli

    env = {"LOOPWRIGHT_TOKEN": ""}
    result = run_cli(
        "serve", "models:/nothing@champion", "--host", "0.0.0.0", "--port", str(free_port()), env=env
    )
    one_line_error(result, "refusing to listen on 0.0.0.0 without a token", "--allow-unauthenticated")
