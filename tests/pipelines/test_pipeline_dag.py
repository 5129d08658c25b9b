"""Authoring: steps stay plain functions, a pipeline body builds the DAG from data flow."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pipeline_flows as flows
import pytest

import loopwright as lw
from loopwright.pipelines.fingerprints import cache_key
from loopwright.pipelines.graph import building
from loopwright.pipelines.steps import ray_options


def test_steps_and_pipelines_are_plain_callables() -> None:
    assert flows.inc(1) == 2
    assert flows.chain(0, n=4) == 4
    assert flows.diamond(1, 10) == 14


def test_each_call_is_its_own_node_even_in_a_loop() -> None:
    graph = flows.chain.build({"x": 0, "n": 4})
    assert list(graph.nodes) == ["inc", "inc_2", "inc_3", "inc_4"]
    assert [graph.nodes[n].upstream for n in graph.nodes] == [[], ["inc"], ["inc_2"], ["inc_3"]]
    assert graph.downstream("inc_2") == ["inc_3", "inc_4"]


def test_data_flow_defines_edges_and_independent_nodes() -> None:
    graph = flows.diamond.build({"a": 1, "b": 10})
    assert {n: graph.nodes[n].upstream for n in graph.nodes} == {
        "inc": [],
        "inc_2": [],
        "inc_3": ["inc"],
        "add": ["inc_3", "inc_2"],
    }


def test_tuple_outputs_unpack_into_parts() -> None:
    graph = flows.churn.build({"path": "data.csv", "C": 0.5})
    assert list(graph.nodes) == ["load", "split", "train", "evaluate"]
    train_arg = graph.nodes["train"].arguments["df"]
    assert (train_arg.node, train_arg.index) == ("split", 0)
    assert graph.nodes["train"].arguments["C"] == 0.5
    assert graph.nodes["evaluate"].upstream == ["train", "split"]


def test_outputs_cannot_be_used_as_values_while_building() -> None:
    with building(), pytest.raises(lw.InvalidInput, match="no value while the pipeline is being built"):
        if flows.inc(1):
            pass
    with building(), pytest.raises(lw.InvalidInput, match="tuple"):
        _a, _b = flows.inc(1)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(lw.InvalidInput, match="pipeline 'chain'"):
        flows.chain.bind({"y": 1})
    with building(), pytest.raises(lw.InvalidInput, match="step 'inc'"):
        flows.inc(1, 2)
    with pytest.raises(lw.InvalidInput, match="reserved"):

        @lw.pipeline
        def bad(executor: str) -> None: ...

    with pytest.raises(lw.InvalidInput, match="retries"):
        lw.step(retries=-1)


def test_resources_map_to_ray_options() -> None:
    @lw.step(resources={"num_cpus": 2, "num_gpus": 0.5, "memory": 1e9, "accelerator_tpu": 1})
    def heavy() -> int:
        return 1

    assert ray_options(heavy.options) == {
        "num_cpus": 2,
        "num_gpus": 0.5,
        "memory": 1e9,
        "resources": {"accelerator_tpu": 1},
    }
    assert ray_options(flows.inc.options) == {"num_cpus": 1}
    # Ray's own spelling of the built-in resources (as `ray start` and ray.nodes() use) works too
    pinned = lw.step(resources={"CPU": 1, "GPU": 0, "node_a": 1})(flows.inc.fn)
    assert ray_options(pinned.options) == {"num_cpus": 1, "num_gpus": 0, "resources": {"node_a": 1}}
    with pytest.raises(lw.InvalidInput, match="given twice"):
        lw.step(resources={"CPU": 1, "num_cpus": 2})


def test_source_digest_follows_called_user_functions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    module = tmp_path / "digest_mod.py"
    template = "from loopwright import step\ndef helper(x):\n    return x * {k}\n@step\ndef s(x: int) -> int:\n    return helper(x)\n"
    module.write_text(template.format(k=2))
    mod = importlib.import_module("digest_mod")
    before = mod.s.source_digest
    module.write_text(template.format(k=30))  # a different size, so the import system notices
    mod = importlib.reload(mod)
    assert mod.s.source_digest != before
    sys.modules.pop("digest_mod", None)
    assert cache_key(before, {"x": {"$value": 1}}) != cache_key(before, {"x": {"$value": 1.5}})
