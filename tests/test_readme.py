"""The README runs as written: every ```python and shell block of README.md is executed here.

The README is read as a new user would follow it, top to bottom, in one empty folder (the temporary
``readme`` folder below, with ``LOOPWRIGHT_HOME`` inside it): the files one section makes (the churn
table of the tour, a registered version, ``profile.json`` …) are there for the next.

- **Python blocks** of one ``## section`` run in order in one fresh interpreter, so a block may use the
  names of earlier blocks of its section, as a reader's session would. Each block is compiled under its
  README line numbers, so a failure points at the README.
- **Shell blocks** (``bash``, ``shell``, ``sh``, ``console``) run line by line (a ``\\`` continues a line;
  ``console`` blocks run their ``$ `` lines), with the venv's ``bin`` first on ``PATH``; each line must exit 0.

Markers, HTML comments on the lines right above a fence (invisible on GitHub):

- ``<!-- excerpt: REASON -->`` — the block is not run (it needs what this machine does not have: ``make``
  creating a venv, ``pip install``, a server that runs until stopped, a cluster, credentials). The reason
  is required and names the test that covers the block when one does.
- ``<!-- file: NAME -->`` — the block (e.g. a YAML policy) is written to ``NAME`` in the folder when it is
  reached, as the reader would save it.
- ``<!-- exits N: PREFIX -->`` — shell lines starting with ``PREFIX`` fail on purpose with exit code ``N``.
- ``<!-- with NAME = EXPRESSION -->`` — ``NAME`` in the shell block's lines is what the reader pastes in:
  ``EXPRESSION`` evaluated in the section's Python session (e.g. ``RUN_ID = run.id``).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BIN = Path(sys.executable).parent
SHELL_LANGUAGES = {"bash", "shell", "sh", "console"}
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[ \t]*$")
MARKER = re.compile(r"^[ \t]*<!--\s*(?P<body>.*?)\s*-->[ \t]*$")
RESULT = "@@readme-block@@ "
BLOCK_TIMEOUT = 420


@dataclass
class Block:
    section: str
    line: int  # 1-based README line of the block's first code line
    lang: str
    code: str
    excerpt: str | None = None
    file: str | None = None
    exits: dict[str, int] = field(default_factory=dict)
    substitutions: dict[str, str] = field(default_factory=dict)

    @property
    def runnable(self) -> bool:
        return self.excerpt is None and (self.lang == "python" or self.lang in SHELL_LANGUAGES)

    def where(self) -> str:
        return f"README.md:{self.line} ({self.lang} block in section {self.section!r})"


def parse_readme(text: str) -> list[Block]:
    """Every fenced block with the markers written above it, in document order."""
    lines = text.splitlines()
    blocks: list[Block] = []
    section = "(top)"
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line[3:].strip()
        opened = FENCE.match(line)
        if not opened:
            i += 1
            continue
        indent, lang = opened["indent"], opened["lang"].lower()
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"README.md:{i + 1}: a ``` fence is never closed")
        body = [raw[len(indent) :] if raw.startswith(indent) else raw.lstrip() for raw in lines[i + 1 : end]]
        block = Block(section=section, line=i + 2, lang=lang, code="\n".join(body) + "\n")
        above = i - 1
        while above >= 0 and (marker := MARKER.match(lines[above])):
            _apply_marker(block, marker["body"], above + 1)
            above -= 1
        blocks.append(block)
        i = end + 1
    return blocks


def _apply_marker(block: Block, body: str, line: int) -> None:
    key, sep, value = body.partition(":")
    key, value = key.strip(), value.strip()
    if key == "excerpt" and sep:
        if not value:
            raise AssertionError(f"README.md:{line}: an excerpt marker must say why the block cannot run")
        block.excerpt = value
    elif key == "file" and sep and value:
        block.file = value
    elif re.fullmatch(r"exits \d+", key) and sep and value:
        block.exits[value] = int(key.split()[1])
    elif body.startswith("with ") and "=" in body:
        name, _, expression = body[5:].partition("=")
        block.substitutions[name.strip()] = expression.strip()
    # any other comment (a note to editors) is not a marker


def shell_commands(block: Block) -> list[str]:
    """The block's commands: comments and blank lines dropped, ``\\`` continuations joined."""
    commands: list[str] = []
    pending = ""
    for raw in block.code.splitlines():
        line = raw.rstrip()
        if block.lang == "console" and not pending:
            if not line.startswith("$ "):
                continue  # output shown in the README
            line = line[2:]
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        commands.append(pending + line)
        pending = ""
    if pending:
        commands.append(pending.strip())
    return commands


# The interpreter a section's Python blocks run in: reads one JSON request per line on stdin
# ({"code", "line"} to execute a block, {"eval"} to evaluate an expression), answers one line on
# stdout prefixed with RESULT. Blocks print to stderr (kept in a file), so nothing they print can
# be taken for an answer. Code is registered in linecache under README.md, so `inspect.getsource`
# (which the pipeline cache key uses) works as it does in a notebook.
DRIVER = textwrap.dedent(
    r"""
    import json, linecache, sys, traceback
    RESULT = sys.argv[1]
    answer = sys.stdout
    sys.stdout = sys.stderr
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    for request in sys.stdin:
        request = json.loads(request)
        try:
            if "eval" in request:
                value = str(eval(request["eval"], namespace))
            else:
                name = f"<README.md:{request['line']}>"
                source = "\n" * (request["line"] - 1) + request["code"]
                linecache.cache[name] = (len(source), None, source.splitlines(True), name)
                exec(compile(source, name, "exec"), namespace)
                value = None
            reply = {"ok": True, "value": value}
        except BaseException:
            reply = {"ok": False, "error": traceback.format_exc(limit=-8)}
        sys.stderr.flush()
        answer.write(RESULT + json.dumps(reply) + "\n")
        answer.flush()
    """
)


class PythonSession:
    """One fresh interpreter for one README section."""

    def __init__(self, cwd: Path, env: dict[str, str], log: IO[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-c", DRIVER, RESULT],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )

    def request(self, payload: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(payload) + "\n")
        self.process.stdin.flush()
        for line in self.process.stdout:  # a process a block started may share the stdout: skip its lines
            if line.startswith(RESULT):
                reply: dict[str, Any] = json.loads(line[len(RESULT) :])
                return reply
        raise AssertionError(f"the Python session ended (exit {self.process.wait()}) without answering")

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


BLOCKS = parse_readme(README.read_text(encoding="utf-8"))
SECTIONS = list(dict.fromkeys(block.section for block in BLOCKS if block.runnable))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reader's empty working folder, shared by the sections in README order."""
    return tmp_path_factory.mktemp("readme")


def _environment(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPWRIGHT_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        LOOPWRIGHT_HOME=str(folder / ".loopwright"),
        PYTHONPATH=str(folder),  # a pipeline module the README writes is importable, as from its folder
        COLUMNS="110",
    )
    return env


def _tail(path: Path, limit: int = 4000) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-limit:]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("section", SECTIONS)
def test_readme_section_runs(section: str, folder: Path) -> None:
    env = _environment(folder)
    log_path = folder / f"python-{re.sub(r'[^a-z0-9]+', '-', section.lower())}.log"
    with log_path.open("w") as log:
        session: PythonSession | None = None
        try:
            for block in (b for b in BLOCKS if b.section == section):
                if block.file:
                    (folder / block.file).write_text(block.code, encoding="utf-8")
                if not block.runnable:
                    continue
                if block.lang == "python":
                    session = session or PythonSession(folder, env, log)
                    reply = session.request({"code": block.code, "line": block.line})
                    assert reply["ok"], f"{block.where()} failed:\n{reply['error']}\n{_tail(log_path)}"
                    continue
                values: dict[str, str] = {}
                for name, expression in block.substitutions.items():
                    assert session is not None, (
                        f"{block.where()}: 'with {name}' needs a Python block before it"
                    )
                    reply = session.request({"eval": expression})
                    assert reply["ok"], f"{block.where()}: {expression} failed:\n{reply['error']}"
                    values[name] = reply["value"]
                for command in shell_commands(block):
                    _run_shell(block, command, values, folder, env)
        finally:
            if session is not None:
                session.close()


def _run_shell(block: Block, command: str, values: dict[str, str], folder: Path, env: dict[str, str]) -> None:
    for name, value in values.items():
        command = re.sub(rf"\b{re.escape(name)}\b", value, command)
    expected = next((code for prefix, code in block.exits.items() if command.startswith(prefix)), 0)
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == expected, (
        f"{block.where()}: `{command}` exited {done.returncode}, expected {expected}\n"
        f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    )


def test_every_block_runs_or_says_why_not() -> None:
    """A block is Python or shell (run), data (yaml/json/text, run only as a `file:` it declares), or an
    excerpt with its reason; an `exits` marker names a command its block really has."""
    kinds = {block.lang for block in BLOCKS}
    assert "python" in kinds and kinds & SHELL_LANGUAGES
    for block in BLOCKS:
        assert block.lang, f"{block.where()}: give the fence a language (python, bash, yaml …)"
        if block.lang == "python":
            ast.parse(block.code, filename=block.where())  # excerpts too: they must at least be Python
        for prefix in block.exits:
            assert any(c.startswith(prefix) for c in shell_commands(block)), (
                f"{block.where()}: the marker 'exits …: {prefix}' matches none of its commands"
            )
    runnable = [block for block in BLOCKS if block.runnable]
    assert len(runnable) >= 8, "most of the README must run; excerpts are for what cannot run here"


def test_markers_are_read() -> None:
    """The parser itself: markers, continuations, console prompts and excerpt reasons."""
    text = textwrap.dedent(
        """\
        ## One
        <!-- excerpt: needs a cluster -->
        ```bash
        kubectl apply -f x.yaml
        ```
        <!-- file: gate.yaml -->
        ```yaml
        a: 1
        ```
        <!-- with RUN_ID = run.id -->
        <!-- exits 1: loopwright monitor drift -->
        ```bash
        # a comment
        loopwright runs show RUN_ID
        loopwright monitor drift a b \\
            --fail-on-drift
        ```
        ## Two
          ```console
          $ loopwright --version
          loopwright 0.1
          ```
        """
    )
    excerpt, data, shell, console = parse_readme(text)
    assert excerpt.excerpt == "needs a cluster" and not excerpt.runnable
    assert data.file == "gate.yaml" and not data.runnable and data.code == "a: 1\n"
    assert shell.substitutions == {"RUN_ID": "run.id"} and shell.exits == {"loopwright monitor drift": 1}
    assert shell_commands(shell) == [
        "loopwright runs show RUN_ID",
        "loopwright monitor drift a b      --fail-on-drift",
    ]
    assert console.section == "Two" and shell_commands(console) == ["loopwright --version"]
    with pytest.raises(AssertionError, match="must say why"):
        parse_readme("<!-- excerpt: -->\n```bash\nmake demo\n```\n")
