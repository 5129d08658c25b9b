"""lw.evaluate_llm end to end (run, metrics, per-row artifact, prompt versions compared, endpoints,
tracing) and the prompt gate promoting or refusing an alias move, through the API and the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openai_standin import ChatStandIn

import loopwright as lw
from cli_process import PlatformServer, run_cli_here
from loopwright.errors import InvalidInput
from loopwright.llm.prompts import PromptVersion
from loopwright.llm.scorers import LLMJudge, Regex, Scorer
from loopwright.models.flavors.pyfunc import PythonModel
from loopwright.serving.server import build_app, run_in_thread

DATA = pd.DataFrame(
    {
        "inputs": [
            {"question": "capital of France?"},
            {"question": "capital of Italy?"},
            {"question": "capital of Spain?"},
        ],
        "expected": ["Paris", "Rome", "Madrid"],
        "contexts": [["fr"], ["it"], ["es"]],
    }
)
ANSWERS = {"capital of France?": "Paris", "capital of Italy?": "Rome", "capital of Spain?": "Barcelona"}


def make_app(prompt: PromptVersion) -> Any:
    """The app under test: v1 answers bare, v2 adds words (a worse exact match); both retrieve."""

    def answer(inputs: dict[str, str]) -> dict[str, Any]:
        rendered = prompt.format(**inputs)
        city = ANSWERS[inputs["question"]]
        text = city if rendered.startswith("Answer:") else f"I think it is {city}"
        docs = {"Paris": ["fr", "de"], "Rome": ["de", "it"], "Barcelona": ["de", "fr"]}[city]
        return {
            "text": text,
            "contexts": docs,
            "usage": {"prompt_tokens": 10, "completion_tokens": 2, "cost": 0.001},
        }

    return answer


def test_evaluate_llm_records_a_run_comparable_across_prompt_versions(sqlite_env: Path) -> None:
    v1 = lw.register_prompt("capitals", "Answer: {{ question }}")
    v2 = lw.register_prompt("capitals", "Please answer in a sentence: {{ question }}")
    scorers: list[str | Scorer] = [
        "exact_match",
        "token_f1",
        "mrr",
        "retrieval_hit_rate",
        "latency",
        "cost",
        Regex(r"^[A-Z]\w+$"),
    ]
    first = lw.evaluate_llm(make_app(v1), DATA, scorers, prompt=v1.uri)
    second = lw.evaluate_llm(make_app(v2), DATA, scorers, prompt="prompts:/capitals/2")

    assert first.metrics["exact_match"] == pytest.approx(2 / 3)
    assert second.metrics["exact_match"] == 0.0
    # v2: "I think it is Paris" vs "Paris": tokens [i, think, it, is, paris] → P 1/5, R 1, F1 1/3 (twice, then 0)
    assert second.metrics["token_f1"] == pytest.approx((1 / 3 + 1 / 3 + 0) / 3)
    assert first.metrics["mrr"] == pytest.approx((1 + 0.5 + 0) / 3)  # fr at 1, it at 2, es missed
    assert first.metrics["retrieval_hit_rate"] == pytest.approx(2 / 3)
    assert first.metrics["cost"] == pytest.approx(0.001) and first.metrics["cost_total"] == pytest.approx(
        0.003
    )
    assert first.metrics["regex"] == 1.0 and second.metrics["regex"] == 0.0
    assert first.metrics["latency_p95_ms"] is not None and first.metrics["error_rate"] == 0.0
    assert list(first.rows["output"]) == ["Paris", "Rome", "Barcelona"]
    assert list(first.rows["input_tokens"]) == [10, 10, 10]

    run = lw.get_run(first.run_id)
    assert run.status == "finished"
    assert run.metrics["exact_match"] == pytest.approx(2 / 3)
    assert run.params["prompt_uri"] == "prompts:/capitals/1" and run.params["prompt_version"] == "1"
    assert run.system_tags["loopwright.evaluation.prompt_uri"] == "prompts:/capitals/1"
    assert json.loads(run.params["scorer.regex"])["pattern"] == r"^[A-Z]\w+$"
    datasets = lw.get_client().get_dataset_inputs(first.run_id)
    assert [(d.name, d.n_rows) for d in datasets] == [("evaluation", 3)]
    stored = pd.read_parquet(io.BytesIO(lw.get_client().load_bytes(first.run_id, "evaluation/rows.parquet")))
    assert stored["exact_match"].tolist() == [1.0, 1.0, 0.0]
    assert json.loads(stored["inputs"][0]) == {"question": "capital of France?"}

    # both versions are runs of one prompt: found and compared by the tag
    found = lw.search_runs(
        "evaluations", "tags.`loopwright.evaluation.prompt_name` = 'capitals'", output="list"
    )
    by_version = {r.params["prompt_version"]: r.metrics["exact_match"] for r in found}
    assert by_version == {"1": pytest.approx(2 / 3), "2": 0.0}


def test_failing_rows_score_zero_and_rows_are_traced(sqlite_env: Path) -> None:
    def flaky(question: str) -> str:
        if "Italy" in question:
            raise RuntimeError("upstream timeout")
        return ANSWERS[question]

    data = [{"inputs": q, "expected": e} for q, e in zip(ANSWERS, ["Paris", "Rome", "Madrid"], strict=True)]
    result = lw.evaluate_llm(flaky, data, ["exact_match", "latency"])
    assert result.rows["exact_match"].tolist() == [1.0, 0.0, 0.0]
    assert result.rows["error"].tolist()[1] == "RuntimeError: upstream timeout"
    assert result.metrics["error_rate"] == pytest.approx(1 / 3)
    lw.flush_traces()
    traces = lw.search_traces()
    assert len(traces) == 3 and {t.run_id for t in traces} == {result.run_id}
    assert sorted(t.status for t in traces) == ["error", "ok", "ok"]


def test_a_chat_completions_endpoint_with_a_prompt_and_a_judge(sqlite_env: Path) -> None:
    prompt = lw.register_prompt("qa", "Answer briefly: {{ question }}")
    rubric = lw.register_prompt(
        "rubric", "Q: {{ question }}\nA: {{ answer }}\nExpected: {{ expected }}\nScore 1-5."
    )

    def reply(messages: list[dict[str, str]]) -> str:
        content = messages[0]["content"]
        if content.startswith("Q:"):  # the judge's call
            return '{"score": 5}' if "A: Paris" in content else '{"score": 1}'
        return "Paris" if "France" in content else "No idea"

    with ChatStandIn(reply) as server:
        judge = LLMJudge(rubric, base_url=server.base_url, model="judge")
        result = lw.evaluate_llm(
            f"{server.base_url}/chat/completions",
            DATA.head(2),
            ["exact_match"],
            prompt=prompt,
            model="small",
            judge=judge,
        )
    assert result.metrics["llm_judge"] == 3.0 and result.metrics["exact_match"] == 0.5
    asked = [r["messages"][0]["content"] for r in server.requests if r["model"] == "small"]
    assert asked == ["Answer briefly: capital of France?", "Answer briefly: capital of Italy?"]
    assert result.rows["input_tokens"].tolist() == [12, 12]  # the endpoint's usage
    with pytest.raises(InvalidInput, match="needs model="):
        lw.evaluate_llm(f"{server.base_url}/chat/completions", DATA, ["exact_match"])
    with pytest.raises(InvalidInput, match="'inputs' column"):
        lw.evaluate_llm(lambda q: q, [{"question": "x"}], ["exact_match"])


POLICY = {
    "metric_thresholds": {"exact_match": {"min": 0.5}},
    "versus_champion": {"token_f1": {"min_delta": 0.0}},
}


def test_the_prompt_gate_promotes_a_better_version_and_refuses_a_worse_one(sqlite_env: Path) -> None:
    v1 = lw.register_prompt("capitals", "Answer: {{ question }}")
    first = lw.gate(v1.uri, POLICY, DATA, app=make_app, promote="production", champion_alias="production")
    assert first.passed and first.promoted == "production" and first.champion is None
    assert lw.load_prompt("prompts:/capitals@production").version == 1

    v2 = lw.register_prompt("capitals", "Please answer in a sentence: {{ question }}")
    second = lw.gate(v2.uri, POLICY, DATA, app=make_app, promote="production", champion_alias="production")
    assert not second.passed and second.promoted is None
    assert {c.metric for c in second.failures} == {"exact_match", "token_f1"}
    assert second.champion_uri == "prompts:/capitals/1"
    assert lw.load_prompt("prompts:/capitals@production").version == 1  # not moved
    audit = lw.list_audit_log("capitals", action="gate_verdict")
    assert sorted((e.version, e.after["passed"]) for e in audit) == [(1, True), (2, False)]
    gate_run = lw.get_run(second.run_id)
    assert gate_run.system_tags["loopwright.gate.passed"] == "false"
    children = lw.get_client().list_child_runs(second.run_id)
    assert sorted(r.system_tags["loopwright.evaluation.role"] for r in children) == ["candidate", "champion"]
    with pytest.raises(InvalidInput, match="unknown metric 'roc_auc'"):
        lw.gate(v2.uri, {"metric_thresholds": {"roc_auc": {"min": 0.5}}}, DATA, app=make_app)
    with pytest.raises(InvalidInput, match="needs app="):
        lw.gate(v2.uri, POLICY, DATA)


def test_loopwright_gate_cli_on_a_prompt(
    sqlite_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lw.register_prompt("capitals", "Answer: {{ question }}")
    lw.register_prompt("capitals", "Please answer in a sentence: {{ question }}")
    (tmp_path / "capital_app.py").write_text(
        "from test_llm_evaluation import make_app\n\ndef build(prompt):\n    return make_app(prompt)\n"
    )
    monkeypatch.chdir(tmp_path)
    DATA.to_parquet(tmp_path / "qa.parquet")
    (tmp_path / "gate.yaml").write_text("metric_thresholds: {exact_match: {min: 0.5}}\n")
    args = [
        "--policy",
        "gate.yaml",
        "--data",
        "qa.parquet",
        "--app",
        "capital_app:build",
        "--promote",
        "production",
    ]
    code, out, err = run_cli_here(capsys, "gate", "prompts:/capitals/1", *args)
    assert code == 0, err
    assert "PASSED" in out and lw.load_prompt("prompts:/capitals@production").version == 1
    code, out, err = run_cli_here(
        capsys, "gate", "prompts:/capitals/2", *args, "--champion-alias", "production"
    )
    assert code == 1 and "FAILED" in out
    assert lw.load_prompt("prompts:/capitals@production").version == 1
    code, _, err = run_cli_here(capsys, "gate", "prompts:/capitals/2", *args[:4], "--app", "nowhere:build")
    assert code == 2 and "cannot load the app factory 'nowhere:build'" in err


def test_the_prompt_gate_moves_an_alias_on_a_server_only_as_a_maintainer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"sqlite:///{tmp_path}/lw.db"
    editor = lw.create_token("eda", "editor", store_uri=uri)[1]
    maintainer = lw.create_token("mia", "maintainer", store_uri=uri)[1]
    server = PlatformServer(
        "--auth", "--store-uri", uri, "--artifact-uri", str(tmp_path / "artifacts"), timeout=240
    )
    monkeypatch.setenv("LOOPWRIGHT_HOME", str(tmp_path / "client"))
    monkeypatch.setenv("LOOPWRIGHT_STORE_URI", server.url)
    monkeypatch.delenv("LOOPWRIGHT_ARTIFACT_URI", raising=False)
    try:
        monkeypatch.setenv("LOOPWRIGHT_TOKEN", editor)
        lw.reset_clients()
        v1 = lw.register_prompt("capitals", "Answer: {{ question }}")
        with pytest.raises(lw.PermissionDenied, match="maintainer"):
            lw.gate(v1.uri, POLICY, DATA, app=make_app, promote="production")
        monkeypatch.setenv("LOOPWRIGHT_TOKEN", maintainer)
        lw.reset_clients()
        verdict = lw.gate(v1.uri, POLICY, DATA, app=make_app, promote="production")
        assert verdict.promoted == "production"
        assert lw.load_prompt("prompts:/capitals@production").version == 1
        moves = [e for e in lw.list_audit_log("capitals") if e.entity == "alias"]
        assert [e.actor for e in moves] == ["mia"]
        verdicts = lw.list_audit_log("capitals", action="gate_verdict")
        assert sorted(e.actor for e in verdicts) == [
            "eda",
            "mia",
        ]  # the editor's verdict is kept, its move refused
    finally:
        lw.reset_clients()
        log = server.stop()
    assert "Traceback" not in log, log[-3000:]


class Capitals(PythonModel):
    """A registered pyfunc model answering questions, served by `loopwright serve`'s app."""

    def load(self, context: Any) -> None:
        self.answers = {"capital of France?": "Paris", "capital of Italy?": "Rome"}

    def predict(self, data: Any) -> list[str]:
        return [self.answers.get(q, "?") for q in data["question"]]


def test_a_loopwright_serving_endpoint_is_evaluated_row_by_row(sqlite_env: Path) -> None:
    with lw.start_run():
        info = lw.log_model(
            Capitals(), "model", input_example=pd.DataFrame({"question": ["capital of France?"]})
        )
    version = lw.register_model(info.uri, "capitals")
    data = [
        {"inputs": {"question": "capital of France?"}, "expected": "Paris"},
        {"inputs": {"question": "capital of Italy?"}, "expected": "Milan"},
    ]
    with run_in_thread(build_app(version.uri)) as server:
        result = lw.evaluate_llm(f"{server.url}/endpoints/capitals/predict", data, ["exact_match"])
        broken = lw.evaluate_llm(f"{server.url}/endpoints/nothing/predict", data[:1], ["exact_match"])
    assert result.rows["output"].tolist() == ["Paris", "Rome"] and result.metrics["exact_match"] == 0.5
    assert broken.metrics["error_rate"] == 1.0 and "HTTP 404" in broken.rows["error"][0]
