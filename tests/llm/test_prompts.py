"""The prompt registry: immutable versions, aliases with audit, strict rendering, diffs, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

import loopwright as lw
from cli_process import run_cli_here
from loopwright.errors import Conflict, InvalidInput, NotFound

TEMPLATE = "Answer as {{ tone }}: {{ question }}"


def test_versions_are_immutable_and_aliases_move_with_audit(lw_env: Path) -> None:
    v1 = lw.register_prompt("support-answer", TEMPLATE, metadata={"model": "gpt-4o-mini"})
    v2 = lw.register_prompt("support-answer", "Answer kindly as {{ tone }}: {{ question }}")
    assert (v1.version, v2.version) == (1, 2) and v1.digest != v2.digest
    assert lw.load_prompt("prompts:/support-answer/1").template == TEMPLATE  # v1 unchanged by v2
    assert lw.load_prompt("support-answer").version == 2  # by name: the latest

    lw.set_prompt_alias("support-answer", "production", 1)
    lw.set_prompt_alias("support-answer", "candidate", 2)
    lw.set_prompt_alias("support-answer", "production", 2)
    prod = lw.load_prompt("prompts:/support-answer@production")
    assert prod.version == 2 and sorted(prod.aliases) == ["candidate", "production"]
    moves = [e for e in lw.list_audit_log("support-answer") if e.entity == "alias"]
    assert [(e.action, e.before, e.after) for e in moves][-1][0] == "alias_moved"
    assert len(moves) == 3

    lw.delete_prompt_alias("support-answer", "candidate")
    with pytest.raises(NotFound, match="alias"):
        lw.load_prompt("prompts:/support-answer@candidate")


def test_rendering_is_strict_and_names_the_variable(lw_env: Path) -> None:
    prompt = lw.register_prompt("support-answer", TEMPLATE)
    assert prompt.format(tone="a pirate", question="why?") == "Answer as a pirate: why?"
    with pytest.raises(InvalidInput, match="needs the variable 'question'"):
        prompt.format(tone="calm")
    with pytest.raises(InvalidInput, match="has no variable 'mood'"):
        prompt.format(tone="calm", question="q", mood="x")
    # a value is text, never template code: braces in it are not rendered again
    assert prompt.format(tone="{{ question }}", question="q") == "Answer as {{ question }}: q"


@pytest.mark.parametrize("bad", ["", "   ", "{{ user.name }}", "{{ 1 + 1 }}", "{% if x %}"])
def test_templates_hold_placeholders_only(lw_env: Path, bad: str) -> None:
    if bad == "{% if x %}":  # not a placeholder syntax at all: stored as text, with no variables
        assert lw.register_prompt("raw", bad).variables == ()
        return
    with pytest.raises(InvalidInput):
        lw.register_prompt("bad", bad)
    with pytest.raises(NotFound, match="prompt 'bad' not found"):
        lw.load_prompt("bad")


def test_prompts_and_models_keep_their_own_names(lw_env: Path) -> None:
    lw.register_prompt("support-answer", TEMPLATE)
    assert [p.name for p in lw.search_prompts()] == ["support-answer"]
    assert lw.search_registered_models() == []  # models listings never show prompts
    assert lw.search_model_versions() == []
    with lw.start_run() as run:  # a package as log_model lays it out (the registry reads the manifest)
        lw.log_dict({"flavor": "sklearn", "files": {}}, "model/manifest.json")
    run_id = run.id
    with pytest.raises(Conflict, match="is a registered prompt, not a model"):
        lw.register_model(f"runs:/{run_id}/model", "support-answer")
    lw.register_model(f"runs:/{run_id}/model", "churn")
    with pytest.raises(Conflict, match="is a registered model, not a prompt"):
        lw.register_prompt("churn", TEMPLATE)
    with pytest.raises(InvalidInput, match="not a prompt"):
        lw.load_prompt("prompts:/churn/1")


def test_the_cli_lists_shows_diffs_and_moves_aliases(
    lw_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lw.register_prompt("support-answer", TEMPLATE)
    lw.register_prompt("support-answer", "Answer kindly as {{ tone }}: {{ question }}")
    code, out, err = run_cli_here(capsys, "prompts", "alias", "support-answer", "production", "1")
    assert code == 0, err
    code, out, _ = run_cli_here(capsys, "prompts", "list")
    assert code == 0 and "support-answer" in out and "production→1" in out
    code, out, _ = run_cli_here(capsys, "prompts", "show", "prompts:/support-answer@production")
    assert code == 0 and TEMPLATE in out and "question, tone" in out
    code, out, _ = run_cli_here(capsys, "prompts", "diff", "support-answer", "1", "2")
    assert code == 0 and "-Answer as {{ tone }}" in out and "+Answer kindly" in out
    code, _, err = run_cli_here(capsys, "prompts", "show", "nope")
    assert code == 1 and err.strip() == "error: prompt 'nope' not found"
