"""``loopwright spark …`` — batch scoring on Spark (mirrors :func:`loopwright.integrations.spark.score`)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import typer

from loopwright.cli.render import console, table
from loopwright.config import get_settings
from loopwright.errors import AlreadyExists, InvalidInput, NotFound

app = typer.Typer(help="Batch scoring on Spark.", no_args_is_help=True)

FORMATS = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json"}
#: the session's configuration beyond the master (bench/spark_scale.py gives MLflow's spark_udf the same)
SESSION_CONF = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"}


@app.command("score")
def score_command(
    model_uri: str = typer.Argument(
        ..., help="models:/NAME/VERSION, models:/NAME@ALIAS or runs:/RUN_ID/path."
    ),
    input: Path = typer.Option(
        ..., "--input", "-i", help="Parquet (file or folder), .csv or .jsonl to score."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Where Spark writes the scored rows (a folder)."),
    master: str = typer.Option("local[*]", "--master", help="Spark master URL."),
    proba: bool = typer.Option(False, "--proba", help="Also write proba_<class> columns."),
    output_col: str = typer.Option("prediction", "--output-col", help="Name of the prediction column."),
) -> None:
    """Score a file on Spark with a pinned model version; the output appears whole or not at all.

    The input and output are local paths; Spark writes the output in a temporary folder next to
    it, renamed into place when the job has succeeded.
    """
    if not input.exists():
        raise NotFound(f"input {input} does not exist")
    fmt = FORMATS.get(input.suffix.lower() if input.is_file() else ".parquet")
    if fmt is None:
        raise InvalidInput(f"cannot read {input.name}: use .parquet, .csv or .jsonl")
    if output.exists():
        raise AlreadyExists(f"output {output} already exists; remove it or choose another path")
    out_fmt = FORMATS.get(output.suffix.lower(), "parquet")

    # pyspark warns on every pandas UDF that it "does not yet fully support pandas >= 3"; not the user's business
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
    from pyspark.sql import SparkSession

    from loopwright.integrations.spark import executor_errors, score

    started = time.perf_counter()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Python workers run this interpreter
    builder = SparkSession.builder.master(master).appName(f"loopwright score {model_uri}")
    for key, value in SESSION_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    # an executor's failure is our one error line; Spark's own stack traces only when debugging
    spark.sparkContext.setLogLevel("ERROR" if get_settings().debug else "FATAL")
    try:
        reader = (
            spark.read.option("header", "true").option("inferSchema", "true") if fmt == "csv" else spark.read
        )
        scored = score(reader.format(fmt).load(str(input)), model_uri, output_col, proba=proba)
        meta = scored.schema[output_col].metadata["loopwright"]
        output.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
        try:
            writer = scored.write.mode("overwrite").format(out_fmt)
            with executor_errors():
                (writer.option("header", "true") if out_fmt == "csv" else writer).save(str(temp))
            temp.rename(output)  # the same folder: an atomic rename
        finally:
            shutil.rmtree(temp, ignore_errors=True)
        rows = spark.read.format(out_fmt).load(str(output)).count()
    finally:
        spark.stop()
    console.print(
        table(
            None,
            ["model", "digest", "rows", "output", "seconds"],
            [
                (
                    meta["model_uri"],
                    str(meta["manifest_digest"])[:12],
                    f"{rows:,}",
                    str(output),
                    f"{time.perf_counter() - started:.1f}",
                )
            ],
        )
    )
