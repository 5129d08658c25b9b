"""Acceptance for issue 3 (model packages and registry): the registry snippet and the models CLI as written.

Bad inputs get a precise error: unknown model / version / alias in every URI form, names that
would escape their namespace, aliasing an archived version, loading a pickle-only model without
``allow_pickle`` (the refusal says how to allow it), and signature violations naming the column.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import loopwright as lw
from cli_process import one_line_error, run_cli, run_cli_here


def cli(*args: str, cwd: Path | None = None, **env_extra: str) -> subprocess.CompletedProcess[str]:
    """``loopwright ARGS`` in a new process (the store/artifact URIs come from the environment)."""
    return run_cli(*args, cwd=cwd, env=env_extra)


def churn_frame(rows: int = 60) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(7)
    X = pd.DataFrame({"age": rng.integers(18, 80, rows), "balance": rng.normal(size=rows)})
    return X, (X["balance"] > 0).astype(int)


def train_and_register(versions: int = 3) -> list[str]:
    """``versions`` runs, each logging a model and registered as the issue shows; returns run ids."""
    X, y = churn_frame()
    lw.set_experiment("churn")
    run_ids = []
    for number in range(1, versions + 1):
        with lw.start_run(name=f"C={number}") as run:
            lw.log_params({"C": float(number), "penalty": "l2", "note": "[tuned] [/]"})
            model = LogisticRegression(C=float(number)).fit(X, y)
            lw.log_metric("auc", 0.9 + number / 100)
            lw.log_dataset(pd.concat([X, y.rename("churned")], axis=1), name="train")
            lw.log_model(model, "model", input_example=X[:5], metadata={"owner": "risk"})
        mv = lw.register_model(
            f"runs:/{run.id}/model", "churn", tags={"team": "risk"}, description=f"C={number}"
        )
        assert mv.version == number
        run_ids.append(run.id)
    return run_ids


def test_registry_snippet_as_written(lw_env: Path) -> None:
    run_ids = train_and_register()
    mv = lw.get_model_version("churn", 3)
    lw.set_alias("churn", "champion", mv.version)
    lw.delete_alias("churn", "champion")
    lw.set_alias("churn", "champion", mv.version)

    version = lw.get_model_version("churn", 3)
    assert (version.run_id, version.description, version.tags) == (run_ids[2], "C=3", {"team": "risk"})
    assert version.aliases == ["champion"] and version.status == "ready"
    found = lw.search_model_versions("name = 'churn'")
    assert sorted(v.version for v in found) == [1, 2, 3]

    lineage = lw.get_lineage("models:/churn@champion")
    assert lineage.model_version.version == 3 and lineage.run_id == run_ids[2]
    assert lineage.params == {"C": "3.0", "penalty": "l2", "note": "[tuned] [/]"}
    assert lineage.metrics == {"auc": 0.93}
    assert [(d.name, d.n_rows) for d in lineage.datasets] == [("train", 60)]

    audit = lw.list_audit_log("churn")
    assert [(e.action, e.version) for e in audit] == [
        ("register", 1),
        ("register", 2),
        ("register", 3),
        ("alias_set", 3),
        ("alias_deleted", 3),
        ("alias_set", 3),
    ]
    assert all(e.actor and e.time is not None for e in audit)
    assert audit[4].before == {"alias": "champion", "version": 3} and audit[4].after is None

    X, _ = churn_frame()
    expected = lw.load_model(f"runs:/{run_ids[2]}/model").predict(X)
    for uri in ("models:/churn/3", "models:/churn@champion"):
        model = lw.load_model(uri)
        np.testing.assert_array_equal(model.predict(X), expected)
        assert model.predict_proba(X[:4]).shape == (4, 2)


def test_models_cli_as_written(sqlite_env: Path, tmp_path: Path) -> None:
    train_and_register()
    X, _ = churn_frame()
    X.to_csv(tmp_path / "data.csv", index=False)

    listed = cli("models", "list")
    assert listed.returncode == 0 and "churn" in listed.stdout, listed.stderr
    shown = cli("models", "show", "churn", "--version", "2")
    assert shown.returncode == 0 and "models:/churn/2" in shown.stdout and "model.skops" in shown.stdout
    aliased = cli("models", "alias", "churn", "champion", "3")
    assert aliased.returncode == 0 and "models:/churn@champion → version 3" in aliased.stdout
    lineage = cli("models", "lineage", "models:/churn@champion")
    assert lineage.returncode == 0 and lw.get_model_version("churn", 3).run_id in lineage.stdout
    assert "note = [tuned] [/]" in lineage.stdout and "'C=3'" in lineage.stdout  # user text, not markup
    audit = cli("models", "audit", "churn")
    assert audit.returncode == 0 and "alias_set" in audit.stdout and "register" in audit.stdout

    predicted = cli(
        "models",
        "predict",
        "models:/churn@champion",
        "--input",
        "data.csv",
        "--output",
        "preds.csv",
        cwd=tmp_path,
    )
    assert predicted.returncode == 0, predicted.stderr
    preds = pd.read_csv(tmp_path / "preds.csv")
    np.testing.assert_array_equal(preds["prediction"], lw.load_model("models:/churn/3").predict(X))

    converted = cli("models", "convert-onnx", "models:/churn/3")
    assert converted.returncode == 0 and "max abs difference" in converted.stdout, converted.stderr
    # the version adopted the conversion: serving (prefer_onnx) runs it, with the same predictions
    onnx = lw.load_model("models:/churn/3", prefer_onnx=True)
    assert onnx.uses_onnx
    np.testing.assert_array_equal(onnx.predict(X), preds["prediction"])

    upgraded = cli("db", "upgrade")
    assert upgraded.returncode == 0 and "revision" in upgraded.stdout


@pytest.mark.parametrize(
    "uri, error, message",
    [
        ("models:/nope/1", lw.NotFound, "registered model 'nope' not found"),
        ("models:/nope@champion", lw.NotFound, "registered model 'nope' not found"),
        ("models:/churn/99", lw.NotFound, "registered model 'churn' has no version 99"),
        ("models:/churn@nope", lw.NotFound, "registered model 'churn' has no alias 'nope'"),
        ("runs:/deadbeef/model", lw.NotFound, "no model at runs:/deadbeef/model"),
        ("models:/churn", lw.InvalidInput, "use models:/NAME/VERSION or models:/NAME@ALIAS"),
        ("models:/churn/0", lw.InvalidInput, "invalid model URI 'models:/churn/0'"),
        ("models:/../x/1", lw.InvalidInput, "invalid model URI"),
        ("churn", lw.InvalidInput, "invalid model URI 'churn'"),
    ],
)
def test_unknown_or_malformed_model_uris(
    lw_env: Path, uri: str, error: type[lw.LoopwrightError], message: str
) -> None:
    train_and_register(versions=1)
    with pytest.raises(error) as raised:
        lw.load_model(uri)
    assert message in str(raised.value)
    if uri.startswith("models:/"):
        with pytest.raises(error) as raised:
            lw.get_lineage(uri)
        assert message in str(raised.value)


@pytest.mark.parametrize("name", ["../evil", "a/b", "/abs", "a\\b", "", "x" * 129, "a\x00b"])
def test_invalid_model_names_are_refused(sqlite_env: Path, name: str) -> None:
    (run_id,) = train_and_register(versions=1)
    calls = [
        lambda: lw.register_model(f"runs:/{run_id}/model", name),
        lambda: lw.get_model_version(name, 1),
        lambda: lw.set_alias(name, "champion", 1),
        lambda: lw.delete_alias(name, "champion"),
        lambda: lw.list_audit_log(name),
        lambda: lw.get_registered_model(name),
    ]
    for call in calls:
        with pytest.raises(lw.InvalidInput) as raised:
            call()
        assert f"invalid model name {name!r}" in str(raised.value)
    assert [m.name for m in lw.search_registered_models()] == ["churn"]


def test_aliases_need_live_versions(lw_env: Path) -> None:
    train_and_register(versions=2)
    lw.archive_model_version("churn", 1)
    with pytest.raises(lw.Conflict, match="version 1 of model 'churn' is archived"):
        lw.set_alias("churn", "champion", 1)
    with pytest.raises(lw.NotFound, match="has no version 7"):
        lw.set_alias("churn", "champion", 7)
    with pytest.raises(lw.NotFound, match="has no alias 'champion'"):
        lw.delete_alias("churn", "champion")
    with pytest.raises(lw.InvalidInput, match="invalid alias"):
        lw.set_alias("churn", "../champion", 2)
    assert [e.action for e in lw.list_audit_log("churn")][-1] == "archived"
    refused = cli("models", "alias", "churn", "champion", "1")
    one_line_error(refused, "archived")
    bad_version = cli("models", "alias", "churn", "champion", "three")
    assert bad_version.returncode == 2 and len(bad_version.stderr.strip().splitlines()) == 1
    assert "Traceback" not in bad_version.stderr and "'version'" in bad_version.stderr


def double(x: np.ndarray) -> np.ndarray:
    """A user function inside a pipeline: skops cannot vouch for it, so only pickle can save it."""
    return x * 2


def test_pickle_only_model_needs_allow_pickle(
    sqlite_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = churn_frame()
    model = make_pipeline(FunctionTransformer(double), LogisticRegression()).fit(X, y)
    with lw.start_run() as run:
        with pytest.raises(lw.InvalidInput, match="allow_pickle=True"):
            lw.log_model(model, "model", input_example=X[:5])
        lw.log_model(model, "model", input_example=X[:5], allow_pickle=True)
    lw.register_model(f"runs:/{run.id}/model", "pickled")

    for uri in (f"runs:/{run.id}/model", "models:/pickled/1"):
        with pytest.raises(lw.PermissionDenied) as refused:
            lw.load_model(uri)
        message = str(refused.value)
        assert "allow_pickle=True" in message and "LOOPWRIGHT_ALLOW_PICKLE=1" in message
    expected = model.predict(X)
    np.testing.assert_array_equal(lw.load_model("models:/pickled/1", allow_pickle=True).predict(X), expected)
    monkeypatch.setenv("LOOPWRIGHT_ALLOW_PICKLE", "1")
    np.testing.assert_array_equal(lw.load_model("models:/pickled/1").predict(X), expected)
    monkeypatch.delenv("LOOPWRIGHT_ALLOW_PICKLE")

    shown = cli("models", "show", "pickled", "--version", "1")
    assert "yes (loads only with allow_pickle=True)" in shown.stdout
    X.to_csv(tmp_path / "data.csv", index=False)
    predict = cli(
        "models", "predict", "models:/pickled/1", "--input", "data.csv", "--output", "p.csv", cwd=tmp_path
    )
    one_line_error(predict, "LOOPWRIGHT_ALLOW_PICKLE=1")
    assert not (tmp_path / "p.csv").exists()


def test_signature_errors_name_the_column(sqlite_env: Path) -> None:
    train_and_register(versions=1)
    model = lw.load_model("models:/churn/1")
    X, _ = churn_frame(6)
    cases = [
        (X[["age"]], "missing column 'balance'"),
        (X.assign(plan="a"), "unknown column 'plan'"),
        (X.assign(age=["x"] * 6), "column 'age': expected int64, got string"),
        (X.assign(balance=np.nan), "column 'balance': missing value"),
        (X.assign(age=X["age"] + 0.5), "column 'age': expected int64"),
        (np.zeros((2, 3)), "wrong shape"),
        (X[:0], "no rows to predict"),
    ]
    for data, message in cases:
        with pytest.raises(lw.InvalidInput) as raised:
            model.predict(data)
        assert message in str(raised.value)
    # integer -> float widening is allowed; records and a single dict work too
    assert len(model.predict(X.assign(balance=X["age"]))) == 6
    assert len(model.predict([{"age": 30, "balance": 0.5}])) == 1


def test_predict_cli_bad_files(
    sqlite_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    train_and_register(versions=1)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "missing_col.csv").write_text("age\n30\n")
    (work / "garbled.csv").write_bytes(bytes(range(128, 256)))
    (work / "empty.csv").write_text("")
    (work / "header.csv").write_text("age,balance\n")
    cases = [
        ("missing_col.csv", "p.csv", "missing column 'balance'"),
        ("garbled.csv", "p.csv", "cannot read garbled.csv as CSV"),
        ("empty.csv", "p.csv", "empty.csv has no rows to predict"),
        ("header.csv", "p.csv", "header.csv has no rows to predict"),
        ("nothere.csv", "p.csv", "no such input file: 'nothere.csv'"),
        ("header.csv", "nodir/p.csv", "no such folder for the output: 'nodir'"),
        ("header.csv", "p.xlsx", "p.xlsx: use a .csv, .parquet or .jsonl file"),
    ]
    for source, target, message in cases:
        code, _, err = run_cli_here(
            capsys, "models", "predict", "models:/churn/1", "--input", source, "--output", target
        )
        lines = err.strip().splitlines()
        assert code == 1 and len(lines) == 1 and message in lines[0], err
    # the same in a new process, as a user types it; nothing half-written is left behind
    result = cli(
        "models", "predict", "models:/churn/1", "--input", "missing_col.csv", "--output", "p.csv", cwd=work
    )
    one_line_error(result, "missing column 'balance'")
    assert sorted(p.name for p in work.iterdir()) == [
        "empty.csv",
        "garbled.csv",
        "header.csv",
        "missing_col.csv",
    ]


def test_log_model_arguments_are_checked(sqlite_env: Path) -> None:
    X, y = churn_frame()
    model = LogisticRegression().fit(X, y)
    with pytest.raises(lw.Conflict, match="no active run"):
        lw.log_model(model, "model", input_example=X[:5])
    with lw.start_run():
        with pytest.raises(lw.InvalidInput, match="absolute paths"):
            lw.log_model(model, "/model")
        with pytest.raises(lw.InvalidInput, match="signature must be a Signature"):
            lw.log_model(model, "model", signature="age:int")  # type: ignore[arg-type]
        with pytest.raises(lw.InvalidInput, match="malformed signature"):
            lw.log_model(model, "model", signature={"columns": ["age"]})
        with pytest.raises(lw.InvalidInput, match="requirements must be a list"):
            lw.log_model(model, "model", requirements="scikit-learn")  # type: ignore[arg-type]
        info = lw.log_model(model, "model/", input_example=X[:5], signature=None, requirements=None)
    assert info.artifact_path == "model" and lw.load_model(info.uri).signature is not None


def test_loading_a_sklearn_model_does_not_import_torch(sqlite_env: Path) -> None:
    # skops' import walks scikit-learn's subpackages, torch shim included: seconds per fresh process
    train_and_register(versions=1)
    script = (
        "import sys, loopwright as lw\n"
        "model = lw.load_model('models:/churn/1')\n"
        "print(model.predict([{'age': 30, 'balance': 0.5}])[0], 'torch' in sys.modules)\n"
        "import sklearn.externals.array_api_compat.torch\n"  # still importable afterwards
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "False"]
