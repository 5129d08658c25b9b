"""``loopwright monitor …`` - mirrors ``lw.profile`` and ``lw.drift`` on files.

Data files are Parquet (``.parquet``/``.pq``) or CSV; a ``.json`` file is a stored profile; a
reference may also be a model URI whose version carries a reference profile.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import typer

from loopwright.cli.render import console, table
from loopwright.errors import InvalidInput
from loopwright.monitoring import Profile, drift, profile

app = typer.Typer(help="Profile data and check it for drift.", no_args_is_help=True)


def _split(names: str | None) -> list[str] | None:
    return [n.strip() for n in names.split(",") if n.strip()] if names else None


def _read(path: Path) -> pd.DataFrame | Profile:
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix == ".json":
        try:
            return Profile.from_dict(json.loads(path.read_text()))
        except json.JSONDecodeError as error:
            raise InvalidInput(f"{path} is not valid JSON: {error}") from None
    raise InvalidInput(f"unsupported file type {path.suffix!r}: use .parquet, .csv or a profile .json")


@app.command("profile")
def profile_(
    data: Path = typer.Argument(..., help="Parquet or CSV file."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the profile JSON here."),
    model: str = typer.Option(
        None, "--model", "-m", help="Store it with this version: models:/NAME/VERSION."
    ),
    categorical: str = typer.Option(None, "--categorical", "-c", help="Comma-separated categorical columns."),
    prediction: str = typer.Option(None, "--prediction", "-p", help="The prediction column."),
) -> None:
    """Profile a data file into a mergeable JSON profile (a drift reference)."""
    frame = _read(data)
    if isinstance(frame, Profile):
        raise InvalidInput(f"{data} is already a profile")
    if output is None and model is None:
        raise InvalidInput("say where the profile goes: --output FILE and/or --model models:/NAME/VERSION")
    result = profile(frame, categorical=_split(categorical), prediction=prediction, model=model)
    if output is not None:
        output.write_text(json.dumps(result.to_dict()))
    where = " and ".join(str(w) for w in (output, model) if w is not None)
    console.print(f"profiled {result.n_rows:,} rows, {len(result.features)} features -> {where}")


@app.command("drift")
def drift_(
    reference: str = typer.Argument(
        ..., help="Reference data (Parquet/CSV), profile (.json) or models:/ URI."
    ),
    current: Path = typer.Argument(..., help="Current data (Parquet/CSV) or profile (.json)."),
    categorical: str = typer.Option(None, "--categorical", "-c", help="Comma-separated categorical columns."),
    prediction: str = typer.Option(None, "--prediction", "-p", help="The prediction column."),
    report: Path = typer.Option(None, "--report", "-o", help="Also write the HTML report here."),
    drift_share: float = typer.Option(0.0, help="Share of drifted features that makes the dataset drift."),
    fail_on_drift: bool = typer.Option(False, "--fail-on-drift", help="Exit 1 when the dataset drifted."),
) -> None:
    """Compare current data with reference data feature by feature and print the verdicts."""
    result = drift(
        reference if reference.startswith("models:/") else _read(Path(reference)),
        _read(current),
        categorical=_split(categorical),
        prediction=prediction,
        drift_share=drift_share,
    )
    rows = [*result.features.values(), *([result.prediction] if result.prediction else [])]
    console.print(
        table(
            "drift",
            [
                "feature",
                "kind",
                "status",
                "drifted",
                "test",
                "p adj.",
                "effect",
                "value",
                "threshold",
                "message",
            ],
            [
                (
                    f.name + (" (prediction)" if f.is_prediction else ""),
                    f.kind,
                    f.status,
                    "n/a" if f.drifted is None else ("yes" if f.drifted else "no"),
                    f.test,
                    f.p_adjusted,
                    f.effect,
                    f.effect_size,
                    f.threshold,
                    f.message,
                )
                for f in rows
            ],
        )
    )
    verdict = "DRIFT" if result.drifted else "no drift"
    console.print(f"{verdict}: {len(result.drifted_features)} of {len(result.features)} features drifted")
    for message in result.messages:
        console.print(f"note: {message}")
    if report is not None:
        console.print(f"report written to {result.to_html(report)}")
    if fail_on_drift and result.drifted:
        raise typer.Exit(1)
