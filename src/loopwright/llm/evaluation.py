"""``lw.evaluate_llm``: run an LLM/RAG app over a dataset, score every answer, record a run.

The app is a Python callable or an HTTP endpoint:

- a callable gets the row's ``inputs`` (a string, or a dict of variables) and returns the answer:
  a string, or a dict with ``text`` (or ``output``/``answer``), optionally ``contexts`` (what it
  retrieved, ranked) and ``usage`` (OpenAI-style token counts, ``cost``);
- a URL ending in ``/chat/completions`` is an OpenAI-compatible endpoint: each row is one user
  message — ``prompt`` rendered with the inputs when a prompt is given, else the inputs as text —
  sent with ``model=`` and a bearer key from ``api_key_env``;
- any other URL is a Loopwright serving endpoint (``…/endpoints/NAME/predict``): each row is
  ``{"instances": [inputs]}`` and the answer ``predictions[0]`` (a string or a dict as above).

The dataset is a table (anything :func:`loopwright.frames.to_pandas` takes, or a
``.parquet``/``.csv`` path) with an ``inputs`` column and optionally ``expected`` (the right answer),
``contexts`` (ids or texts a good retrieval returns, for ``retrieval_hit_rate``/``mrr``) and
``retrieved`` (what retrieval returned, when the app does not return ``contexts`` itself).

A row whose call fails is kept: its ``error`` is recorded, answer-quality scores are 0 there (a
failed answer is a wrong one) and ``error_rate`` is a metric. The run (experiment ``evaluations``
unless chosen; a child of the active run) holds params (app, prompt URI and version, scorers and
their settings, rows), tags ``loopwright.evaluation.kind=llm`` and ``loopwright.evaluation.prompt_uri``
(so versions of one prompt compare with ``search_runs``), the dataset fingerprint, the aggregates as
metrics, and ``evaluation/rows.parquet`` / ``evaluation/llm_metrics.json``. Each row's call is a
``chain`` span of a trace linked to that run (judge calls are ``llm`` spans inside it) while tracing
is on.

Examples
--------
>>> import os, tempfile, loopwright as lw
>>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
>>> data = [{"inputs": "capital of France?", "expected": "Paris"},
...         {"inputs": "capital of Italy?", "expected": "Rome"}]
>>> result = lw.evaluate_llm(lambda q: "Paris", data, scorers=["exact_match", "token_f1"])
>>> result.metrics["exact_match"], result.rows["exact_match"].tolist()
(0.5, [1.0, 0.0])
>>> lw.get_run(result.run_id).metrics["exact_match"]
0.5
>>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
"""

from __future__ import annotations

import importlib
import io
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from loopwright.errors import InvalidInput, LoopwrightError
from loopwright.evaluation.evaluate import DEFAULT_EXPERIMENT, TAG_PREFIX, read_data
from loopwright.llm.prompts import PromptVersion, load_prompt
from loopwright.llm.scorers import Row, Scorer, chat_completion, get_scorer, post_json, usage_of
from loopwright.llm.tracing import span
from loopwright.tracking.client import get_client
from loopwright.tracking.fluent import active_run, chosen_experiment

if TYPE_CHECKING:
    from loopwright.evaluation.gate import GateResult

App = Callable[[Any], Any] | str
ROWS_ARTIFACT = "evaluation/rows.parquet"
RESULT_ARTIFACT = "evaluation/llm_metrics.json"
DEFAULT_SCORERS = ("exact_match", "token_f1", "latency")
MAX_ROWS = 100_000


@dataclass
class LLMEvaluationResult:
    """What :func:`evaluate_llm` returns.

    ``metrics``: each scorer's aggregate (``latency_p50_ms``/``latency_p95_ms``, ``cost``/``cost_total``
    for those two) plus ``error_rate``; ``None`` where no row could be scored. ``rows``: one row per
    dataset row — ``inputs``, ``output``, ``expected``, ``retrieved``, ``latency_ms``,
    ``input_tokens``/``output_tokens``/``reported_cost`` when reported, ``error``, then one column per scorer.

    Examples
    --------
    >>> import os, tempfile
    >>> import loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> def answer(question: str) -> str:
    ...     if question == "?":
    ...         raise ValueError("no question")
    ...     return "4"
    >>> data = [{"inputs": "2+2", "expected": "4"}, {"inputs": "?", "expected": "1"}]
    >>> result = lw.evaluate_llm(answer, data, ["exact_match"])
    >>> result.metrics["error_rate"], result.rows["error"].iloc[1]
    (0.5, 'ValueError: no question')
    >>> lw.get_run(result.run_id).status
    'finished'
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """

    metrics: dict[str, float | None]
    rows: pd.DataFrame
    run_id: str
    prompt_uri: str | None = None
    scorers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: what a gate reads of a model evaluation: an LLM one times each call (``latency`` scorer), no slices
    latency: None = None
    slices: dict[str, dict[str, float | int | None]] = field(default_factory=dict)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.metrics.items() if v is not None)
        return f"LLMEvaluationResult(n={len(self.rows)}, {shown})"

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    def value(self, metric: str, scope: str = "overall") -> float | None:
        """A metric's aggregate (a gate reads it; LLM evaluations have no slices)."""
        return self.metrics.get(metric) if scope == "overall" else None

    def reason(self, metric: str, scope: str = "overall") -> str:
        return "" if metric in self.metrics else f"{metric} was not scored"

    def to_dict(self) -> dict[str, Any]:
        """The aggregates and what was evaluated (``evaluation/llm_metrics.json``)."""
        return {
            "format": "loopwright.llm_evaluation",
            "version": 1,
            "metrics": self.metrics,
            "prompt_uri": self.prompt_uri,
            "scorers": self.scorers,
            "n_rows": self.n_rows,
            "notes": self.notes,
            "run_id": self.run_id,
        }


def evaluate_llm(
    app: App,
    data: Any,
    scorers: Sequence[str | Scorer] = DEFAULT_SCORERS,
    *,
    prompt: str | PromptVersion | None = None,
    name: str | None = None,
    judge: Scorer | None = None,
    model: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    timeout: float = 60.0,
    experiment: str | None = None,
    tags: Mapping[str, str] | None = None,
    parent_id: str | None = None,
) -> LLMEvaluationResult:
    """Call ``app`` on every row of ``data``, score the answers, log a run (see the module docs).

    Parameters
    ----------
    app : callable or str
        The app, or the URL of an OpenAI-compatible ``/chat/completions`` or a Loopwright
        ``/endpoints/NAME/predict`` endpoint.
    data : frame, path or records
        An ``inputs`` column; optional ``expected``, ``contexts`` (relevant), ``retrieved``.
    scorers : list of str or Scorer
        Names (``exact_match``, ``token_f1``, ``embedding_similarity``, ``answer_relevance``,
        ``json_schema``, ``retrieval_hit_rate``, ``mrr``, ``latency``, ``cost``, ``llm_judge``) or
        objects (``Regex(pattern)``, ``JsonSchema(schema)``, ``LLMJudge(prompt, ...)`` …).
    prompt : str or PromptVersion, optional
        The prompt version the app uses (``prompts:/NAME/VERSION`` or ``@ALIAS``, pinned to its
        version): recorded on the run, and rendered with the inputs for a chat-completions URL.
    name : str, optional
        The run's name (default ``evaluate-llm-PROMPT-vN`` or ``evaluate-llm``).
    judge : Scorer, optional
        An :class:`~loopwright.llm.scorers.LLMJudge` added to ``scorers``.
    model, api_key_env, timeout
        For a chat-completions URL: the model name, the variable holding the key, seconds per call.
    experiment, tags, parent_id
        Where the run goes and what else it is tagged with.

    Returns
    -------
    LLMEvaluationResult
        ``.metrics``, ``.rows``, ``.run_id``.

    Examples
    --------
    >>> import os, tempfile
    >>> import loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> data = [{"inputs": "2+2", "expected": "4"}, {"inputs": "3+3", "expected": "7"}]
    >>> result = lw.evaluate_llm(lambda question: str(eval(question)), data, ["exact_match"])
    >>> result.metrics["exact_match"], list(result.rows["exact_match"])
    (0.5, [1.0, 0.0])
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    chosen = [get_scorer(s) for s in scorers] + ([judge] if judge is not None else [])
    if not chosen:
        raise InvalidInput("evaluate_llm needs at least one scorer")
    names = [s.name for s in chosen]
    if len(set(names)) < len(names):
        raise InvalidInput(f"two scorers share a name in {names}: give one a different name")
    version = load_prompt(prompt) if isinstance(prompt, str) else prompt
    call, app_name = _caller(app, version, model, api_key_env, timeout)
    frame, source = read_data(data)
    if "inputs" not in frame.columns:
        raise InvalidInput(f"the dataset needs an 'inputs' column; columns: {list(frame.columns)}")
    if len(frame) == 0 or len(frame) > MAX_ROWS:
        raise InvalidInput(f"the dataset has {len(frame)} rows: evaluate_llm takes 1 to {MAX_ROWS:,}")

    client = get_client()
    parent = parent_id or (active.id if (active := active_run()) is not None else None)
    prompt_tags = (
        {f"{TAG_PREFIX}prompt_uri": version.uri, f"{TAG_PREFIX}prompt_name": version.name} if version else {}
    )
    run = client.create_run(
        experiment or chosen_experiment() or DEFAULT_EXPERIMENT,
        name=name or (f"evaluate-llm-{version.name}-v{version.version}" if version else "evaluate-llm"),
        tags={f"{TAG_PREFIX}kind": "llm", f"{TAG_PREFIX}app": app_name, **prompt_tags, **(tags or {})},
        parent_id=parent,
    )
    try:
        rows = [_row(record, call, run.id) for record in frame.to_dict("records")]
        scores = {s.name: [_score(s, row) for row in rows] for s in chosen}
        metrics: dict[str, float | None] = {}
        for scorer in chosen:
            metrics.update(scorer.aggregate(scores[scorer.name]))
        errors = sum(row.error is not None for row in rows)
        metrics["error_rate"] = errors / len(rows)
        table = _table(rows, scores)
        notes = [f"{errors} of {len(rows)} app call(s) failed: see the error column"] if errors else []
        result = LLMEvaluationResult(metrics, table, run.id, version.uri if version else None, names, notes)
        client.log_params(
            run.id,
            {
                "app": app_name,
                "prompt_uri": version.uri if version else "",
                "prompt_version": version.version if version else "",
                "scorers": ",".join(names),
                "rows": len(rows),
                **{f"scorer.{s.name}": json.dumps(s.params(), default=str) for s in chosen if s.params()},
            },
        )
        client.log_dataset(run.id, _json_cells(frame), name="evaluation", context="evaluation", source=source)
        client.log_metrics(run.id, {k: v for k, v in metrics.items() if v is not None})
        client.log_bytes(run.id, _parquet(table), ROWS_ARTIFACT)
        client.log_dict(run.id, result.to_dict(), RESULT_ARTIFACT)
    except BaseException as error:
        client.end_run(run.id, "failed", error=f"{type(error).__name__}: {error}")
        raise
    client.end_run(run.id)
    return result


def _caller(
    app: App, prompt: PromptVersion | None, model: str | None, api_key_env: str, timeout: float
) -> tuple[Callable[[Any], Any], str]:
    if callable(app):
        return app, getattr(app, "__qualname__", type(app).__name__)
    if not isinstance(app, str) or not app.startswith(("http://", "https://")):
        raise InvalidInput(f"app must be a callable or an http(s) URL, got {app!r}")
    url = app.rstrip("/")
    if url.endswith("/chat/completions"):
        if not model:
            raise InvalidInput("a chat-completions endpoint needs model=")

        def chat(inputs: Any) -> Any:
            content = _render(prompt, inputs)
            return chat_completion(url, model, content, api_key=os.environ.get(api_key_env), timeout=timeout)

        return chat, url

    def predict(inputs: Any) -> Any:
        reply = post_json(url, {"instances": [inputs]}, api_key=os.environ.get(api_key_env), timeout=timeout)
        predictions = reply.get("predictions") if isinstance(reply, Mapping) else None
        if not isinstance(predictions, list) or not predictions:
            raise InvalidInput(f"{url} answered without predictions: {str(reply)[:200]}")
        return predictions[0]

    return predict, url


def _render(prompt: PromptVersion | None, inputs: Any) -> str:
    if prompt is None:
        return inputs if isinstance(inputs, str) else json.dumps(inputs, default=str)
    if isinstance(inputs, Mapping):
        return prompt.format(**inputs)
    if len(prompt.variables) == 1:  # a plain-text input fills the prompt's one variable
        return prompt.format(**{prompt.variables[0]: inputs})
    raise InvalidInput(f"prompt {prompt.uri} has variables {prompt.variables}: inputs must be a dict of them")


def _question(inputs: Any) -> str:
    """The text the answer should be relevant to: the inputs' ``question``/``query``/``input``, or all."""
    if isinstance(inputs, str):
        return inputs
    if isinstance(inputs, Mapping):
        for key in ("question", "query", "input", "prompt"):
            if isinstance(inputs.get(key), str):
                return str(inputs[key])
    return json.dumps(inputs, default=str)


def _row(record: Mapping[Any, Any], call: Callable[[Any], Any], run_id: str) -> Row:
    inputs = _plain(record["inputs"])
    expected, relevant = _plain(record.get("expected")), _list(record.get("contexts"))
    retrieved = _list(record.get("retrieved"))
    with span("evaluate_llm.row", kind="chain") as opened:
        if opened.parent_id is None:  # a trace of its own: it belongs to the evaluation run
            opened._trace.run_id = run_id
        opened.set_inputs(inputs)
        started = time.perf_counter()
        try:
            answer = call(inputs)
        except LoopwrightError as error:
            elapsed = (time.perf_counter() - started) * 1000
            opened.record_error(error)
            return Row(_question(inputs), "", expected, inputs, retrieved, relevant, elapsed, {}, str(error))
        except Exception as error:  # the app's own failure is a result of the evaluation, not its end
            elapsed = (time.perf_counter() - started) * 1000
            opened.record_error(error)
            message = f"{type(error).__name__}: {error}"
            return Row(_question(inputs), "", expected, inputs, retrieved, relevant, elapsed, {}, message)
        elapsed = (time.perf_counter() - started) * 1000
        opened.set_outputs(answer)
    text, returned, usage = _answer(answer)
    return Row(_question(inputs), text, expected, inputs, returned or retrieved, relevant, elapsed, usage)


def _answer(answer: Any) -> tuple[str, list[Any] | None, dict[str, Any]]:
    if isinstance(answer, str):
        return answer, None, {}
    if isinstance(answer, Mapping):
        if "choices" in answer:  # an OpenAI-shaped answer passed through as it came
            text = answer["choices"][0].get("message", {}).get("content", "") if answer["choices"] else ""
            return str(text or ""), None, usage_of(answer)
        for key in ("text", "output", "answer", "content"):
            if key in answer:
                usage = answer.get("usage")
                found = dict(usage) if isinstance(usage, Mapping) else {}
                return str(answer[key]), _list(answer.get("contexts")), usage_of({"usage": found}) or found
    raise InvalidInput(
        f"the app returned {type(answer).__name__}: return a string or a dict with 'text' "
        "(and optionally 'contexts', 'usage')"
    )


def _score(scorer: Scorer, row: Row) -> float | None:
    if row.error is not None and scorer.judges_output:
        return 0.0
    return scorer.score(row)


def _plain(value: Any) -> Any:
    """numpy arrays and scalars (what Parquet-read list cells are) as Python values; NaN as None."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float) and value != value:
        return None
    return value


def _list(value: Any) -> list[Any] | None:
    value = _plain(value)
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return list(value)
    raise InvalidInput(f"contexts/retrieved must be lists of ids or texts, got {type(value).__name__}")


def _table(rows: list[Row], scores: Mapping[str, list[float | None]]) -> pd.DataFrame:
    records = []
    for n, row in enumerate(rows):
        records.append(
            {
                "inputs": row.inputs,
                "output": row.output,
                "expected": row.expected,
                "retrieved": row.retrieved,
                "latency_ms": row.latency_ms,
                "input_tokens": row.usage.get("input_tokens"),
                "output_tokens": row.usage.get("output_tokens"),
                "reported_cost": row.usage.get("cost"),
                "error": row.error,
                **{name: values[n] for name, values in scores.items()},
            }
        )
    return pd.DataFrame.from_records(records)


def _json_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns (dicts, lists, mixed) as JSON text, so any row shape fits one Parquet column."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = [None if v is None else json.dumps(_plain(v), default=str) for v in out[column]]
    return out


def _parquet(table: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    _json_cells(table).to_parquet(buffer, index=False)
    return buffer.getvalue()


AppFactory = Callable[[PromptVersion], App]


def gate_prompt(
    prompt: str,
    policy: Any,
    data: Any,
    *,
    app: AppFactory | str,
    scorers: Sequence[str | Scorer] = (),
    promote: str | None = None,
    champion_alias: str = "champion",
    experiment: str | None = None,
) -> GateResult:
    """Gate a prompt version: evaluate it and the alias holder on the same data, check the policy,
    record the verdict, and on a pass move ``promote`` to it (what ``lw.gate("prompts:/...")`` does).

    A prompt is text, so a gate needs the app that uses it: ``app`` is a factory taking a
    :class:`~loopwright.llm.prompts.PromptVersion` and returning what :func:`evaluate_llm` calls (a
    callable or an endpoint URL), or ``"module:function"`` naming one (importable from the current
    folder). The policy is the models' format with scorer metrics (``token_f1``, ``llm_judge``,
    ``latency_p95_ms``, ``cost``, ``error_rate`` …); the scorers its metrics name run by name, and
    ``scorers`` adds objects (``Regex(...)``, a configured ``LLMJudge``). Records: a
    ``gate-NAME-vN`` run with ``gate/verdict.json``, both evaluations as its children, a
    ``gate_verdict`` audit entry on the version; the alias move is audited and, on a platform
    server, needs the maintainer role like any alias move.

    >>> import os, tempfile, loopwright as lw
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> v1 = lw.register_prompt("shout", "{{ q }}")
    >>> def app(prompt):
    ...     return lambda inputs: prompt.format(q=inputs).upper()
    >>> verdict = lw.gate(v1.uri, {"metric_thresholds": {"exact_match": {"min": 1.0}}},
    ...                   [{"inputs": "hi", "expected": "HI"}], app=app, promote="production")
    >>> verdict.passed, verdict.promoted, lw.load_prompt("prompts:/shout@production").version
    (True, 'production', 1)
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    from loopwright.evaluation.gate import AUDIT_ACTION, NO_CHAMPION, VERDICT_ARTIFACT, GateResult, _checks
    from loopwright.evaluation.policy import GatePolicy
    from loopwright.llm.prompts import parse_prompt_uri, set_prompt_alias
    from loopwright.llm.scorers import METRICS, scorer_for_metric
    from loopwright.names import validate_alias
    from loopwright.registry.actor import current_actor

    given = [get_scorer(s) for s in scorers]
    known = {*METRICS, *(m for s in given for m in s.metric_names())}
    rules = GatePolicy.load(policy, known=known)
    validate_alias(champion_alias, "champion alias")
    if promote is not None:
        validate_alias(promote, "promote alias")
    factory = resolve_app(app)
    parse_prompt_uri(prompt)
    candidate = load_prompt(prompt)
    covered = {m for s in given for m in s.metric_names()} | {"error_rate"}
    wanted: set[str] = set()
    for metric in sorted(rules.metrics - covered):
        found = scorer_for_metric(metric)
        if found is None:
            raise InvalidInput(f"the policy checks {metric}: pass a scorer reporting it (scorers=[...])")
        wanted.add(found)
    chosen = [*given, *(get_scorer(n) for n in sorted(wanted))]
    try:
        champion: PromptVersion | None = load_prompt(f"prompts:/{candidate.name}@{champion_alias}")
    except LoopwrightError:
        champion = None
    frame, _ = read_data(data)
    client = get_client()
    parent = active_run()
    gate_run = client.create_run(
        experiment or chosen_experiment() or DEFAULT_EXPERIMENT,
        name=f"gate-{candidate.name}-v{candidate.version}",
        tags={
            "loopwright.gate.model_uri": candidate.uri,
            "loopwright.gate.champion_uri": champion.uri if champion else "",
        },
        parent_id=parent.id if parent is not None else None,
    )
    try:
        results = [
            evaluate_llm(
                factory(version),
                frame,
                chosen,
                prompt=version,
                experiment=experiment,
                tags={f"{TAG_PREFIX}role": role},
                parent_id=gate_run.id,
            )
            for version, role in ((candidate, "candidate"), (champion, "champion"))
            if version is not None
        ]
        cand, champ = results[0], (results[1] if champion is not None else None)
        checks = _checks(rules, cand, champ)  # type: ignore[arg-type]  # reads .value/.reason/.latency/.slices
        passed = all(c.passed for c in checks)
        notes = [*cand.notes]
        if champion is None:
            notes.append(f"{NO_CHAMPION}: prompts:/{candidate.name}@{champion_alias} is not set")
        elif champion.version == candidate.version:
            notes.append(f"the candidate is the champion (version {candidate.version})")
        verdict = GateResult(
            passed=passed,
            checks=checks,
            candidate=cand,  # type: ignore[arg-type]
            champion=champ,  # type: ignore[arg-type]
            policy=rules,
            model_uri=candidate.uri,
            champion_uri=champion.uri if champion else None,
            promoted=promote if passed else None,
            run_id=gate_run.id,
            notes=notes,
        )
        client.set_tags(gate_run.id, {"loopwright.gate.passed": str(passed).lower()})
        client.log_metrics(
            gate_run.id, {"gate_passed": float(passed), "gate_failed_checks": float(len(verdict.failures))}
        )
        client.log_dict(gate_run.id, {**verdict.to_dict(), "promote": promote}, VERDICT_ARTIFACT)
        before = (
            {"champion": None}
            if champion is None or champ is None
            else {"champion": {"uri": champion.uri, "version": champion.version, "metrics": champ.metrics}}
        )
        entry = client.store.append_audit(
            "model_version",
            candidate.name,
            AUDIT_ACTION,
            actor=current_actor(),
            version=candidate.version,
            before=before,
            after={**verdict.to_dict(), "promote": promote},
        )
        verdict.audit_id = entry.id
    except BaseException as error:
        client.end_run(gate_run.id, "failed", error=f"{type(error).__name__}: {error}")
        raise
    client.end_run(gate_run.id)
    if passed and promote is not None:
        set_prompt_alias(candidate.name, promote, candidate.version)
    return verdict


def resolve_app(app: AppFactory | str) -> AppFactory:
    """The app factory itself, or the one ``"module:function"`` names (the current folder importable).

    >>> resolve_app("os.path:basename")("a/b")
    'b'
    """
    if callable(app):
        return app
    if not isinstance(app, str) or app.count(":") != 1:
        raise InvalidInput(f"app must be a factory or 'module:function', got {app!r}")
    module, _, attribute = app.partition(":")
    if os.getcwd() not in sys.path:  # `loopwright gate --app mymodule:make_app` from the project folder
        sys.path.insert(0, os.getcwd())
    try:
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as error:
        raise InvalidInput(f"cannot load the app factory {app!r}: {error}") from None
    if not callable(found):
        raise InvalidInput(f"{app!r} is not callable")
    return found
