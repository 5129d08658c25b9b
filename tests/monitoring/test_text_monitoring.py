"""Text monitoring: embedding drift of input texts (MMD permutation test) and live metrics from stored
traces, judged by the tabular alert rules."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import loopwright as lw
from loopwright.errors import InvalidInput
from loopwright.llm.tracing import span
from loopwright.monitoring.alerts import AlertConfig
from loopwright.monitoring.text import text_drift
from loopwright.monitoring.traces import monitor_traces, trace_windows

SPORTS = [
    "The striker scored twice in the second half.",
    "Our goalkeeper saved a penalty in extra time.",
    "The coach changed the lineup before the derby.",
    "She won the hundred metres in record time.",
    "The referee showed a red card to the defender.",
    "The home team lost the final on penalties.",
    "He served three aces in the deciding set.",
    "The marathon runners passed the halfway mark.",
    "Fans cheered as the captain lifted the trophy.",
    "The cyclist attacked on the last mountain climb.",
    "A late header sealed the league title.",
    "The batsman hit a six over the boundary.",
    "The midfielder was transferred for a record fee.",
    "The relay team dropped the baton on the last leg.",
    "The boxer won the title fight by knockout.",
    "The quarterback threw a touchdown pass.",
    "The swimmer broke the world record in the heats.",
    "The winger crossed the ball into the box.",
    "The team trained hard ahead of the cup tie.",
    "The tennis match went to a fifth-set tiebreak.",
]
COOKING = [
    "Whisk the eggs with sugar until pale.",
    "Simmer the tomato sauce for twenty minutes.",
    "Knead the dough and let it rise for an hour.",
    "Season the soup with salt and black pepper.",
    "Roast the vegetables in a hot oven.",
    "Fold the flour gently into the batter.",
    "Chop the onions finely and fry them in butter.",
    "Marinate the chicken overnight in yoghurt.",
    "Bake the cake until a skewer comes out clean.",
    "Grate the cheese over the warm pasta.",
    "Blanch the beans and plunge them into ice water.",
    "Stir the risotto while adding the stock slowly.",
    "Slice the bread thinly and toast it.",
    "Caramelise the sugar in a heavy pan.",
    "Let the stew rest before serving.",
    "Squeeze lemon juice over the grilled fish.",
    "Sprinkle fresh herbs over the salad.",
    "Melt the chocolate over a pan of simmering water.",
    "Peel and dice the potatoes for the mash.",
    "Reduce the wine until it thickens.",
]


def test_text_drift_detects_a_topic_shift_not_a_resample() -> None:
    shifted = lw.drift(SPORTS[:10], COOKING[:10], kind="text")  # through the drift API
    feature = shifted.features["text"]
    assert shifted.drifted and shifted.verdict == "drift" and feature.kind == "text"
    assert feature.test == "mmd_permutation" and feature.p_value is not None and feature.p_value < 0.01
    assert feature.statistic is not None and feature.statistic > 0.1

    same = text_drift(SPORTS[::2], SPORTS[1::2])
    assert same.verdict == "no drift" and same.passed
    assert same.features["text"].statistic is not None and same.features["text"].statistic < 0.05

    mixed = text_drift(SPORTS, SPORTS[:5] + COOKING[:15])  # three quarters of the traffic changed topic
    assert mixed.drifted and mixed.to_dict()["features"]["text"]["n_current"] == 20


def test_text_drift_refuses_bad_input_and_reports_empty_sides() -> None:
    with pytest.raises(InvalidInput, match="must be strings, found int"):
        text_drift(SPORTS, [1, 2, 3])
    with pytest.raises(InvalidInput, match="must be a list of strings"):
        text_drift("one text", SPORTS)
    with pytest.raises(InvalidInput, match="kind must be 'tabular' or 'text'"):
        lw.drift(SPORTS, COOKING, kind="image")
    empty = text_drift(SPORTS, [])
    assert empty.verdict == "no verdict" and empty.features["text"].status == "empty" and not empty.passed


def test_trace_metrics_and_alerts(sqlite_env: Path) -> None:
    for i in range(6):
        try:
            with span("support-bot", kind="agent") as root:
                with span("llm", kind="llm") as call:
                    call.set_usage(input_tokens=10, output_tokens=5, cost=0.002)
                root.set_attribute("score.relevance", 0.5 if i % 2 else 1.0)
                time.sleep(0.002)
                if i >= 4:
                    raise RuntimeError("tool timed out")
        except RuntimeError:
            pass
    with span("other-app"):
        pass

    [window] = [w for w in trace_windows("name = 'support-bot'", window="1d") if w.n_rows]
    m = window.metrics
    assert window.n_rows == 6 and m["error_rate"] == pytest.approx(2 / 6)
    assert m["input_tokens"] == 60 and m["output_tokens"] == 30
    assert m["cost"] == pytest.approx(0.012) and m["cost_per_trace"] == pytest.approx(0.002)
    assert m["score.relevance"] == pytest.approx(0.75) and m["latency_p95_ms"] >= m["latency_p50_ms"] >= 2

    config = AlertConfig.from_dict({"metrics": {"error_rate": {"max": 0.2}}, "min_labels": 3})
    judged = monitor_traces("name = 'support-bot'", alerts=config, window="1d", endpoint="support-bot")
    fired = [a for w in judged for a in w.alerts]
    assert fired == ["firing: error_rate 0.3333 above max 0.2 (6 labelled rows)"]
    events = lw.tracking.client.get_client().store.list_alert_events("support-bot")
    assert [(e.rule, e.status) for e in events] == [("metric:error_rate", "firing")]
    again = monitor_traces("name = 'support-bot'", alerts=config, window="1d", endpoint="support-bot")
    assert not [a for w in again for a in w.alerts]  # still firing: not sent twice
