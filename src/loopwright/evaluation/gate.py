"""``lw.gate``: evaluate a candidate version and the champion on the same data, check a policy, record the verdict.

What a gate does, in order:

1. load the policy (:class:`~loopwright.evaluation.policy.GatePolicy`), read the data once, and
   load the candidate (``models:/NAME/VERSION`` or ``@ALIAS``, pinned to its version) and the
   champion (``models:/NAME@champion``; none is fine);
2. compute both evaluations (same rows, same slices), then time both models' predictions
   interleaved in this one process, so the latency ratio is fair;
3. log a ``gate-NAME-vVERSION`` run with the verdict (``gate/verdict.json``, tag
   ``loopwright.gate.passed``) and, as its children, one evaluation run per model (each linked to
   its version by an ``evaluated_by`` lineage edge);
4. append ``gate_verdict`` to the registry audit log for the candidate version: ``before`` holds
   the champion (version and metrics, or ``null``), ``after`` the verdict (passed, every check,
   the policy, the run ids, the promotion asked for);
5. on a pass, move the alias ``promote`` names to the candidate (audited as any alias move).

Examples
--------
>>> import os, tempfile, numpy as np, pandas as pd, loopwright as lw
>>> from sklearn.linear_model import LogisticRegression
>>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"x": rng.normal(size=300)})
>>> df["churned"] = (df["x"] + rng.normal(scale=0.5, size=300) > 0).astype(int)
>>> with lw.start_run() as run:
...     _ = lw.log_model(LogisticRegression().fit(df[["x"]], df["churned"]), "model", input_example=df[["x"]])
>>> _ = lw.register_model(f"runs:/{run.id}/model", "churn")
>>> verdict = lw.gate("models:/churn/1", policy={"metric_thresholds": {"roc_auc": {"min": 0.8}},
...                   "versus_champion": {"roc_auc": {"min_delta": -0.005}}},
...                   data=df, target="churned", promote="challenger", latency_sample=10)
>>> verdict.passed, [c.reason for c in verdict.checks][1], verdict.promoted
(True, 'no champion', 'challenger')
>>> lw.list_audit_log("churn", action="gate_verdict")[0].after["passed"]
True
>>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from loopwright.errors import InvalidInput, NotFound
from loopwright.evaluation.evaluate import (
    DEFAULT_EXPERIMENT,
    Subject,
    compute,
    infer_task,
    labelled_rows,
    load_subject,
    model_input,
    read_data,
    record,
)
from loopwright.evaluation.latency import DEFAULT_SAMPLE, measure_latency
from loopwright.evaluation.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS
from loopwright.evaluation.policy import GatePolicy, Rule
from loopwright.evaluation.result import OVERALL, EvaluationResult
from loopwright.models.loaded import LoadedModel
from loopwright.models.signature import Signature
from loopwright.names import validate_alias
from loopwright.registry.client import RegistryClient
from loopwright.registry.signatures import signature_differences, warn_unsigned
from loopwright.store.entities import ModelVersion
from loopwright.tracking.client import get_client
from loopwright.tracking.fluent import active_run, chosen_experiment

log = logging.getLogger("loopwright.gate")

AUDIT_ACTION = "gate_verdict"
VERDICT_ARTIFACT = "gate/verdict.json"
NO_CHAMPION = "no champion"
SIGNATURE_RULE = "takes the champion's inputs"
CheckKind = Literal["threshold", "versus_champion", "slice", "signature"]


@dataclass(frozen=True)
class GateCheck:
    """One rule applied: the values it looked at, whether it held, and why not."""

    metric: str
    scope: str
    kind: CheckKind
    rule: str
    candidate: float | None
    champion: float | None
    passed: bool
    reason: str = ""
    #: latency rules: the interquartile range, across timing rounds, of what the rule bounds
    spread: tuple[float, float] | None = None
    #: that range straddled the bound, so ``passed`` is the policy's ``inconclusive`` setting
    inconclusive: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GateResult:
    """The verdict of :func:`gate`.

    Attributes
    ----------
    passed : bool
        Every check held.
    checks : list of GateCheck
        One per rule (and per slice value for slice rules), in policy order.
    candidate, champion : EvaluationResult, EvaluationResult or None
        Both evaluations (``champion`` is ``None`` when the alias points nowhere).
    model_uri : str
        ``models:/NAME/VERSION`` of the candidate.
    champion_uri : str or None
        ``models:/NAME/VERSION`` of the champion.
    promoted : str or None
        The alias moved to the candidate (only on a pass).
    run_id : str
        The gate's tracking run (the evaluations are its children).
    audit_id : int
        The ``gate_verdict`` audit entry.

    Examples
    --------
    >>> import os, tempfile, pandas as pd, loopwright as lw
    >>> from sklearn.linear_model import LogisticRegression
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> df = pd.DataFrame({"x": [0.1, 0.4, 0.35, 0.8, 0.2, 0.9], "churned": [0, 0, 1, 1, 0, 1]})
    >>> with lw.start_run() as run:
    ...     _ = lw.log_model(LogisticRegression().fit(df[["x"]], df["churned"]), "model", input_example=df[["x"]])
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> verdict = lw.gate(mv.uri, policy={"metric_thresholds": {"roc_auc": {"min": 0.95}}},
    ...                  data=df, target="churned", latency_sample=5)
    >>> verdict.passed, [(c.metric, c.passed) for c in verdict.failures]
    (False, [('roc_auc', False)])
    >>> verdict.to_frame()[["metric", "kind", "passed"]].values.tolist()
    [['roc_auc', 'threshold', False]]
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """

    passed: bool
    checks: list[GateCheck]
    candidate: EvaluationResult
    champion: EvaluationResult | None
    policy: GatePolicy
    model_uri: str
    champion_uri: str | None = None
    promoted: str | None = None
    run_id: str = ""
    audit_id: int = 0
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        failed = len(self.failures)
        return f"GateResult({self.model_uri!r}, passed={self.passed}, checks={len(self.checks)}, failed={failed})"

    def __bool__(self) -> bool:
        return self.passed

    @property
    def failures(self) -> list[GateCheck]:
        """The checks that did not hold."""
        return [c for c in self.checks if not c.passed]

    def to_frame(self) -> pd.DataFrame:
        """One row per check: metric, scope, kind, rule, candidate, champion, passed, reason."""
        columns = ["metric", "scope", "kind", "rule", "candidate", "champion", "passed", "reason"]
        return pd.DataFrame([c.to_dict() for c in self.checks], columns=columns)

    def to_dict(self) -> dict[str, Any]:
        """The verdict as JSON-able values (what the audit entry's ``after`` and ``gate/verdict.json`` hold)."""
        return {
            "passed": self.passed,
            "model_uri": self.model_uri,
            "champion_uri": self.champion_uri,
            "checks": [c.to_dict() for c in self.checks],
            "policy": self.policy.to_dict(),
            "candidate_run_id": self.candidate.run_id,
            "champion_run_id": None if self.champion is None else self.champion.run_id,
            "gate_run_id": self.run_id,
            "promote": self.promoted,
            "notes": self.notes,
        }


def gate(
    model: str | LoadedModel,
    policy: GatePolicy | dict[str, Any] | str | os.PathLike[str],
    data: Any,
    target: str | None = None,
    task: str | None = None,
    slices: Sequence[str] | None = None,
    *,
    promote: str | None = None,
    champion_alias: str = "champion",
    pos_label: Any = None,
    experiment: str | None = None,
    latency_sample: int = DEFAULT_SAMPLE,
    app: Any = None,
    scorers: Sequence[Any] = (),
) -> GateResult:
    """Gate a registered candidate version against a policy and the current champion.

    Parameters
    ----------
    model : str or LoadedModel
        The candidate: ``models:/NAME/VERSION`` (or ``models:/NAME@ALIAS``, resolved once), or a
        prompt version ``prompts:/NAME/VERSION``: then ``app`` and ``scorers`` are used and ``target``,
        ``task``, ``slices``, ``pos_label`` and ``latency_sample`` are not (see
        :func:`loopwright.llm.evaluation.gate_prompt`).
    policy : dict, GatePolicy, path or YAML text
        The rules, or a ``.yaml``/``.json`` file holding them (see
        :mod:`loopwright.evaluation.policy`).
    data : DataFrame or path
        Labelled hold-out data (``.parquet``/``.csv`` paths are read), the same for both models.
    target : str
        The label column.
    task : {"classification", "regression"}, optional
        Default: inferred from the candidate.
    slices : list of str, optional
        Extra slice columns to report; the policy's slice columns are always evaluated.
    promote : str, optional
        An alias (e.g. ``challenger``) to point at the candidate when the gate passes.
    champion_alias : str
        The alias naming the champion (default ``champion``).
    pos_label, experiment, latency_sample
        As in :func:`loopwright.evaluate`.
    app, scorers
        For a prompt: the app factory (``PromptVersion`` → callable or URL, or ``"module:function"``)
        and scorer objects beyond those the policy's metrics name.

    Returns
    -------
    GateResult
        ``.passed``, ``.checks``, ``.candidate`` / ``.champion``, ``.to_frame()``.

    Examples
    --------
    >>> import os, tempfile, pandas as pd, loopwright as lw
    >>> from sklearn.linear_model import LogisticRegression
    >>> os.environ["LOOPWRIGHT_HOME"] = tempfile.mkdtemp()
    >>> df = pd.DataFrame({"x": [0.1, 0.4, 0.35, 0.8, 0.2, 0.9], "churned": [0, 0, 1, 1, 0, 1]})
    >>> with lw.start_run() as run:
    ...     _ = lw.log_model(LogisticRegression().fit(df[["x"]], df["churned"]), "model", input_example=df[["x"]])
    >>> mv = lw.register_model(f"runs:/{run.id}/model", "churn")
    >>> verdict = lw.gate(mv.uri, policy={"metric_thresholds": {"accuracy": {"min": 0.8}}},
    ...                  data=df, target="churned", latency_sample=5)
    >>> verdict.passed, [(c.metric, c.candidate) for c in verdict.checks]
    (True, [('accuracy', 0.8333333333333334)])
    >>> del os.environ["LOOPWRIGHT_HOME"]; lw.reset_clients()
    """
    if isinstance(model, str) and model.startswith("prompts:/"):
        from loopwright.llm.evaluation import gate_prompt

        if app is None:
            raise InvalidInput(
                "a prompt gate needs app=: a factory taking the PromptVersion (or 'module:function')"
            )
        return gate_prompt(
            model,
            policy,
            data,
            app=app,
            scorers=scorers,
            promote=promote,
            champion_alias=champion_alias,
            experiment=experiment,
        )
    if target is None:
        raise InvalidInput("a model gate needs target= (the label column)")
    rules = GatePolicy.load(policy)
    validate_alias(champion_alias, "champion alias")
    if promote is not None:
        validate_alias(promote, "promote alias")
    frame, source = read_data(data)
    labelled, notes = labelled_rows(frame, target)
    registry = RegistryClient()
    candidate = load_subject(model)
    if candidate.name is None or candidate.version is None:
        raise InvalidInput(
            f"a gate judges a registered version, and {candidate.uri} is not one: "
            "register it with lw.register_model and gate models:/NAME/VERSION"
        )
    name, version = candidate.name, candidate.version
    champion_version = _champion(registry, name, champion_alias)
    champion = load_subject(champion_version.uri) if champion_version is not None else None
    task = task or infer_task(candidate.model)
    _check_task(rules, task)
    columns = list(dict.fromkeys([*rules.slice_columns, *(slices or [])]))
    subjects = [candidate] if champion is None else [candidate, champion]
    inputs = [model_input(s.model, labelled, target) for s in subjects]
    results = [
        compute(s, labelled, x, target, task, columns, pos_label=pos_label)
        for s, x in zip(subjects, inputs, strict=True)
    ]
    latencies = measure_latency([s.model for s in subjects], inputs, sample=latency_sample)
    for result, latency in zip(results, latencies, strict=True):
        result.set_latency(latency)
        result.notes[:0] = notes
    if champion is None:
        notes = [*notes, f"{NO_CHAMPION}: models:/{name}@{champion_alias} is not set"]
    elif champion.version == version:
        notes = [*notes, f"the candidate is the champion (version {version})"]
    checks = _checks(rules, results[0], results[1] if champion is not None else None)
    if candidate.model.signature is None:
        notes = [*notes, warn_unsigned(candidate.uri, "gating")]
    elif champion is not None and champion.model.signature is not None:
        checks = [
            *_signature_check(candidate.model.signature, champion.model.signature, champion.uri),
            *checks,
        ]
    passed = all(c.passed for c in checks)
    for check in checks:
        if check.inconclusive:  # the caller should know a rule could not judge, whatever it counted as
            notes = [*notes, f"{check.metric} {check.rule}: {check.reason}"]
            log.warning("gate %s: %s %s: %s", candidate.uri, check.metric, check.rule, check.reason)
            warnings.warn(f"gate {candidate.uri}: {check.metric} {check.rule}: {check.reason}", stacklevel=2)

    client = get_client()
    parent = active_run()
    gate_run = client.create_run(
        experiment or chosen_experiment() or DEFAULT_EXPERIMENT,
        name=f"gate-{name}-v{version}",
        tags={
            "loopwright.gate.model_uri": candidate.uri,
            "loopwright.gate.champion_uri": champion.uri if champion else "",
            "loopwright.gate.passed": str(passed).lower(),
        },
        parent_id=parent.id if parent is not None else None,
    )
    try:
        for subject, result, role in zip(subjects, results, ("candidate", "champion"), strict=False):
            record(
                result,
                subject,
                labelled,
                source,
                experiment=experiment,
                tags={"loopwright.evaluation.role": role},
                parent_id=gate_run.id,
            )
        verdict = GateResult(
            passed=passed,
            checks=checks,
            candidate=results[0],
            champion=results[1] if champion is not None else None,
            policy=rules,
            model_uri=candidate.uri,
            champion_uri=champion.uri if champion is not None else None,
            promoted=promote if passed else None,
            run_id=gate_run.id,
            notes=notes,
        )
        client.log_metrics(
            gate_run.id, {"gate_passed": float(passed), "gate_failed_checks": float(len(verdict.failures))}
        )
        client.log_dict(gate_run.id, {**verdict.to_dict(), "promote": promote}, VERDICT_ARTIFACT)
        entry = registry.store.append_audit(
            "model_version",
            name,
            AUDIT_ACTION,
            actor=registry.actor,
            version=version,
            before=_champion_summary(champion, verdict.champion),
            after={**verdict.to_dict(), "promote": promote},
        )
        verdict.audit_id = entry.id
    except BaseException as error:
        client.end_run(gate_run.id, "failed", error=f"{type(error).__name__}: {error}")
        raise
    client.end_run(gate_run.id)
    if passed and promote is not None:
        registry.set_alias(name, promote, version)
    return verdict


def _champion(registry: RegistryClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return registry.get_model_version_by_alias(name, alias)
    except NotFound:
        return None


def _champion_summary(subject: Subject | None, result: EvaluationResult | None) -> dict[str, Any]:
    if subject is None or result is None:
        return {"champion": None}
    return {"champion": {"uri": subject.uri, "version": subject.version, "metrics": result.metrics}}


def _check_task(policy: GatePolicy, task: str) -> None:
    other = set(REGRESSION_METRICS if task == "classification" else CLASSIFICATION_METRICS)
    wrong = sorted(policy.metrics & other)
    if wrong:
        raise InvalidInput(
            f"the policy checks {', '.join(wrong)}, which {task} does not report "
            f"(the candidate is evaluated as {task}; pass task= to choose)"
        )


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _bound(
    metric: str,
    scope: str,
    kind: CheckKind,
    rule: Rule,
    cand: EvaluationResult,
    champ: float | None,
    inconclusive: str = "pass",
) -> GateCheck:
    value = cand.value(metric, scope)
    if value is None:
        reason = cand.reason(metric, scope) or "not computed"
        return GateCheck(
            metric, scope, kind, str(rule), None, champ, False, f"candidate {metric} undefined: {reason}"
        )
    samples = cand.latency.rounds.get(metric, []) if cand.latency is not None else []
    return _judged(
        GateCheck(metric, scope, kind, str(rule), value, champ, False), rule, value, samples, "", inconclusive
    )


def _versus(
    metric: str,
    rule: Rule,
    cand: EvaluationResult,
    champ: EvaluationResult | None,
    inconclusive: str = "pass",
) -> GateCheck:
    value = cand.value(metric)
    if champ is None:
        return GateCheck(metric, OVERALL, "versus_champion", str(rule), value, None, True, NO_CHAMPION)
    reference = champ.value(metric)
    if value is None or reference is None:
        who, result = ("candidate", cand) if value is None else ("champion", champ)
        reason = f"{who} {metric} undefined: {result.reason(metric) or 'not computed'}"
        return GateCheck(metric, OVERALL, "versus_champion", str(rule), value, reference, False, reason)
    check = GateCheck(metric, OVERALL, "versus_champion", str(rule), value, reference, False)
    # the candidate's and champion's rounds ran interleaved, so round k of one pairs with round k of the other
    paired = zip(
        *(r.latency.rounds.get(metric, []) if r.latency else [] for r in (cand, champ)), strict=False
    )
    if rule.op.endswith("_ratio"):
        if reference == 0:
            return replace(check, reason=f"champion {metric} is 0: no ratio")
        samples = [c / h for c, h in paired if h > 0]
        return _judged(check, rule, value / reference, samples, "ratio", inconclusive)
    return _judged(check, rule, value - reference, [c - h for c, h in paired], "delta", inconclusive)


def _judged(
    check: GateCheck, rule: Rule, observed: float, samples: list[float], label: str, inconclusive: str
) -> GateCheck:
    """``check`` judged on ``observed``, or, for latency, on the spread of ``samples`` across timing rounds.

    A latency figure is noise-prone: the rule judges only when the interquartile range of its per-round
    values lies wholly on one side of the bound; otherwise the check is inconclusive and counts as
    the policy's ``inconclusive`` setting (default pass).
    """
    shown = f"{label} {observed:+.4g}" if label == "delta" else f"{label} {observed:.4g}" if label else ""
    if len(samples) < 3:
        ok = rule.holds(observed)
        reason = shown if ok else f"{shown or _fmt(observed)}{', ' if shown else ' is '}not {rule}"
        return replace(check, passed=ok, reason=reason)
    low, high = (float(v) for v in np.percentile(samples, [25, 75]))
    spread = f"{_fmt(low)} to {_fmt(high)} across {len(samples)} timing rounds"
    what = f"{shown} ({spread})" if shown else f"{_fmt(observed)} ({spread})"
    holds_low, holds_high = rule.holds(low), rule.holds(high)
    if holds_low and holds_high:
        return replace(check, passed=True, reason=what, spread=(low, high))
    if not holds_low and not holds_high:
        return replace(check, passed=False, reason=f"{what}, not {rule}", spread=(low, high))
    reason = f"inconclusive: {what} straddles {rule}; counted as {inconclusive}"
    return replace(check, passed=inconclusive == "pass", reason=reason, spread=(low, high), inconclusive=True)


def _signature_check(candidate: Signature, champion: Signature, champion_uri: str) -> list[GateCheck]:
    """A failing ``signature`` check when the candidate would refuse requests the champion takes."""
    differences = signature_differences(candidate, champion)
    if not differences:
        return []
    reason = f"{'; '.join(differences)} ({champion_uri})"
    return [GateCheck("signature", OVERALL, "signature", SIGNATURE_RULE, None, None, False, reason)]


def _checks(policy: GatePolicy, cand: EvaluationResult, champ: EvaluationResult | None) -> list[GateCheck]:
    checks = []
    for metric, found in policy.metric_thresholds.items():
        reference = None if champ is None else champ.value(metric)
        checks += [
            _bound(metric, OVERALL, "threshold", rule, cand, reference, policy.inconclusive) for rule in found
        ]
    for metric, found in policy.versus_champion.items():
        checks += [_versus(metric, rule, cand, champ, policy.inconclusive) for rule in found]
    for column, metrics in policy.slices.items():
        scopes = [key for key in cand.slices if key.partition("=")[0] == column]
        for scope in scopes:
            for metric, found in metrics.items():
                reference = None if champ is None else champ.value(metric, scope)
                checks += [_bound(metric, scope, "slice", rule, cand, reference) for rule in found]
    return checks
