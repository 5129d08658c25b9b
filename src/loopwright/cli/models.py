"""``loopwright models …`` — mirrors the registry API (``lw.register_model``, ``lw.set_alias`` …)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.text import Text
from rich.tree import Tree

from loopwright.cli.render import (
    FullIdsOption,
    Output,
    OutputOption,
    console,
    fmt,
    key_values,
    render,
    render_one,
    table,
)
from loopwright.errors import IntegrityError, InvalidInput
from loopwright.models.trust import code_summary
from loopwright.registry.client import RegistryClient, uses_pickle
from loopwright.store.entities import ModelVersion

app = typer.Typer(
    help="The model registry: versions, aliases, lineage and the audit log.", no_args_is_help=True
)


def _registry() -> RegistryClient:
    return RegistryClient()


def _tags(tags: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))


def _package(registry: RegistryClient, version: ModelVersion) -> tuple[str, str]:
    """What one read of the version's manifest says: the code loading imports and whether Loopwright
    allows it (models/trust.py), and a flag: ``pickle`` when loading needs pickle, else a manifest problem."""
    try:
        manifest = registry.get_manifest(version)
    except IntegrityError:
        return "", "manifest tampered"
    if version.manifest_digest is None or manifest is None:
        return "", "" if version.manifest_digest is None else "manifest missing"
    try:
        code = code_summary(manifest, registry.store, version.manifest_digest)
    except InvalidInput:  # an unknown flavor: the package cannot load, and says so when loaded
        code = ""
    return code, "pickle" if uses_pickle(manifest) else ""


def _versions_table(
    registry: RegistryClient,
    title: str,
    versions: list[ModelVersion],
    uri: bool,
    output: Output = Output.table,
    full_ids: bool = False,
) -> None:
    """Print one row per version; ``uri`` names the model too (for results spanning several models)."""
    render(
        output,
        versions,
        title,
        [
            "uri" if uri else "version",
            "status",
            "aliases",
            "run_id",
            "created",
            "created_by",
            "tags",
            "code",
            "flags",
        ],
        [
            (
                v.uri if uri else v.version,
                v.status,
                ", ".join(v.aliases),
                v.run_id,
                v.created_at,
                v.created_by,
                _tags(v.tags),
                *_package(registry, v),
            )
            for v in versions
        ],
        ids={"run_id"},
        full_ids=full_ids,
    )


@app.command("list")
def list_(
    filter: str = typer.Option(None, "--filter", "-f", help="e.g. \"name LIKE 'churn%'\""),
    max_results: int = typer.Option(100, "--max-results", "-n"),
    output: Output = OutputOption,
) -> None:
    """List registered models with their latest version and aliases."""
    models = _registry().search_registered_models(filter, max_results=max_results)
    render(
        output,
        models,
        "registered models",
        ["name", "latest version", "aliases", "updated", "tags", "description"],
        [
            (
                m.name,
                m.latest_version,
                ", ".join(f"{a}→{v}" for a, v in m.aliases.items()),
                m.updated_at,
                _tags(m.tags),
                m.description,
            )
            for m in models
        ],
    )


@app.command()
def show(
    name: str,
    version: int = typer.Option(None, "--version", "-v", help="Show one version in detail."),
    output: Output = OutputOption,
    full_ids: bool = FullIdsOption,
) -> None:
    """Show a registered model and its versions, or one version with its files (json: the model's or
    the version's to_dict())."""
    registry = _registry()
    if version is None:
        model = registry.get_registered_model(name)
        if render_one(output, model):
            return
        console.print(
            key_values(
                f"model {model.name}",
                {
                    "description": model.description,
                    "latest version": model.latest_version,
                    "aliases": ", ".join(f"{a}→{v}" for a, v in model.aliases.items()),
                    "tags": _tags(model.tags),
                    "created": model.created_at,
                    "updated": model.updated_at,
                },
            )
        )
        versions = registry.search_model_versions(f"name = '{name}'", max_results=100_000)
        _versions_table(registry, "versions", versions, uri=False, full_ids=full_ids)
        return
    mv = registry.get_model_version(name, version)
    if render_one(output, mv):
        return
    code, flag = _package(registry, mv)
    console.print(
        key_values(
            f"model {mv.name} version {mv.version}",
            {
                "uri": mv.uri,
                "status": mv.status,
                "aliases": ", ".join(mv.aliases),
                "run_id": mv.run_id,
                "source": mv.source,
                "manifest digest": mv.manifest_digest,
                "description": mv.description,
                "created": mv.created_at,
                "created by": mv.created_by,
                "pickle": "yes (loads only with allow_pickle=True)" if flag == "pickle" else "no",
                "code": code or "none",
                **({"warning": flag} if flag not in ("", "pickle") else {}),
            },
        )
    )
    if mv.tags:
        console.print(key_values("tags", mv.tags))
    files = registry.store.list_artifacts("model_version", mv.owner_id)
    if files:
        console.print(
            table("files", ["path", "size", "digest"], [(f.path, f.size, f.digest[:16]) for f in files])
        )


@app.command()
def search(
    filter: str = typer.Argument(None, help="e.g. \"name = 'churn' and alias = 'champion'\""),
    order_by: list[str] = typer.Option(None, "--order-by", "-o", help="e.g. 'version DESC' (repeatable)."),
    max_results: int = typer.Option(100, "--max-results", "-n"),
    output: Output = OutputOption,
    full_ids: bool = FullIdsOption,
) -> None:
    """Search model versions (mirrors lw.search_model_versions)."""
    registry = _registry()
    versions = registry.search_model_versions(filter, order_by or None, max_results)
    _versions_table(registry, "model versions", versions, uri=True, output=output, full_ids=full_ids)


@app.command()
def register(
    model_uri: str = typer.Argument(..., help="runs:/RUN_ID/model"),
    name: str = typer.Argument(..., help="Registered model name."),
    tag: list[str] = typer.Option(None, "--tag", "-t", help="KEY=VALUE (repeatable)."),
    description: str = typer.Option(None, "--description", "-d"),
) -> None:
    """Register a logged model package as the next version of NAME."""
    tags: dict[str, str] = {}
    for item in tag or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"--tag takes KEY=VALUE, got {item!r}")
        tags[key] = value
    mv = _registry().register_model(model_uri, name, tags=tags, description=description)
    console.print(f"registered [bold]{mv.uri}[/] from {mv.source}")


@app.command()
def alias(
    name: str,
    alias: str,
    version: int = typer.Argument(None, help="The version the alias points to."),
    delete: bool = typer.Option(False, "--delete", help="Remove the alias instead."),
) -> None:
    """Point ALIAS at VERSION (create or move it), or remove it with --delete."""
    registry = _registry()
    if delete:
        if version is not None:
            raise InvalidInput("give either a version or --delete, not both")
        registry.delete_alias(name, alias)
        console.print(f"deleted alias [bold]{alias}[/] of model {name}")
        return
    if version is None:
        raise InvalidInput(
            f"give the version {alias!r} should point to, e.g. `models alias {name} {alias} 3`"
        )
    mv = registry.set_alias(name, alias, version)
    console.print(f"models:/{name}@{alias} → version {mv.version}")


@app.command()
def tag(
    name: str,
    version: int,
    key: str,
    value: str = typer.Argument(None),
    delete: bool = typer.Option(False, "--delete", help="Remove the tag instead."),
) -> None:
    """Set (or --delete) a tag on one version."""
    registry = _registry()
    if delete:
        registry.delete_model_version_tag(name, version, key)
        console.print(f"deleted tag {key} of {name} version {version}")
        return
    if value is None:
        raise InvalidInput("give the tag's value, or --delete")
    registry.set_model_version_tag(name, version, key, value)
    console.print(f"tagged {name} version {version}: {key}={escape(value)}")


@app.command()
def archive(name: str, version: int) -> None:
    """Archive a version (it can no longer be given an alias)."""
    mv = _registry().archive_model_version(name, version)
    console.print(f"archived {mv.uri}")


@app.command()
def restore(name: str, version: int) -> None:
    """Restore an archived version to ready."""
    mv = _registry().restore_model_version(name, version)
    console.print(f"restored {mv.uri}")


@app.command()
def lineage(
    model_uri: str = typer.Argument(..., help="models:/NAME/VERSION or models:/NAME@ALIAS"),
    output: Output = OutputOption,
) -> None:
    """Trace a model version to its run, datasets, params, metrics and code version."""
    found = _registry().get_lineage(model_uri)
    if render_one(output, found):
        return
    mv = found.model_version
    aliases = f" @{', @'.join(mv.aliases)}" if mv.aliases else ""
    root = Tree(f"[bold]{mv.uri}[/]{aliases} ({mv.status})")
    if found.run_id is None:
        root.add("no run recorded")
    elif found.run is None:
        root.add(f"run {found.run_id} [dim](purged)[/]")
    else:
        run = found.run
        node = root.add(f"run [bold]{run.id}[/] {escape(repr(run.name))} ({run.status})")
        commit = found.code_version.get("git_commit")
        code = found.code_version.get("source_name", "?") + (f" @ git {commit}" if commit else "")
        node.add(Text(f"code: {code}"))
        for title, values in (("params", found.params), ("metrics", found.metrics)):
            branch = node.add(title)
            for key, value in sorted(values.items()):
                branch.add(Text(f"{key} = {fmt(value)}"))
        datasets = node.add("datasets")
        for d in found.datasets:
            datasets.add(Text(f"{d.name} ({d.context}, {d.n_rows} rows, sha256 {d.digest[:16]})"))
    for pipeline in found.pipeline_runs:
        params = ", ".join(f"{k}={fmt(v)}" for k, v in sorted(pipeline.params.items()))
        root.add(
            f"pipeline [bold]{escape(pipeline.pipeline)}[/] run [bold]{pipeline.id}[/] ({pipeline.status})"
            + (escape(f" params: {params}") if params else "")
        )
    for file in found.input_files:
        root.add(Text(f"input file {file.path} (sha256 {file.digest[:16]})"))
    for data in found.input_datasets:
        root.add(Text(f"input dataset {data.name} ({data.n_rows} rows, sha256 {data.digest[:16]})"))
    upstream = [e for e in found.edges if not (e.src_type == "run" and e.dst_type == "model_version")]
    if upstream:
        branch = root.add("upstream lineage")
        for e in upstream:
            branch.add(Text(f"{e.src_type}:{e.src_id} -[{e.relation}]-> {e.dst_type}:{e.dst_id}"))
    console.print(root)


@app.command()
def audit(
    name: str,
    version: int = typer.Option(None, "--version", "-v", help="Only this version's entries."),
    action: str = typer.Option(None, "--action", "-a", help="Only this action (e.g. alias_moved)."),
    output: Output = OutputOption,
) -> None:
    """Show who changed what in a registered model, oldest first, one line per change (the entity
    is the version when one is given, else the model; json and csv have it)."""
    entries = _registry().list_audit_log(name, version, action)
    columns = ["id", "time", "actor", "action", "version", "before", "after"]
    if output is Output.csv:
        columns.insert(3, "entity")
    render(
        output,
        entries,
        f"audit log of {name}",
        columns,
        [
            (
                e.id,
                e.time,
                e.actor,
                *([e.entity] if output is Output.csv else []),
                e.action,
                e.version,
                _compact(e.before),
                _compact(e.after),
            )
            for e in entries
        ],
    )


def _compact(value: Any) -> str:
    """A before/after snapshot on one short line: ``k=v`` pairs, long ids and digests cut."""
    if value is None:
        return ""
    if not isinstance(value, dict):
        return json.dumps(value)
    parts = []
    for key, item in sorted(value.items()):
        if item is None or item == {}:
            continue
        text = item if isinstance(item, str) else json.dumps(item, sort_keys=True, separators=(",", ":"))
        parts.append(f"{key}={text[:12] + '…' if len(text) > 24 else text}")
    return ", ".join(parts)


@app.command()
def predict(
    model_uri: str = typer.Argument(
        ..., help="runs:/RUN_ID/model, models:/NAME/VERSION or models:/NAME@ALIAS"
    ),
    input: Path = typer.Option(..., "--input", "-i", help="A .csv, .parquet or .jsonl file."),
    output: Path = typer.Option(..., "--output", "-o", help="Where predictions go (.csv, .parquet, .jsonl)."),
    proba: bool = typer.Option(False, "--proba", help="Add proba_<class> columns."),
    chunk_rows: int = typer.Option(50_000, "--chunk-rows", help="Rows per chunk (bounds memory)."),
) -> None:
    """Predict a file in chunks with a progress bar (mirrors ``lw.load_model(uri).predict``)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from loopwright.models import load_model
    from loopwright.models.batch import predict_file

    model = load_model(model_uri)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,  # no bar (nor its blank line) in pipes and logs
    ) as bar:
        task = bar.add_task(
            f"predicting {input.name}", total=input.stat().st_size if input.exists() else None
        )
        rows = predict_file(
            model,
            input,
            output,
            chunk_rows=chunk_rows,
            proba=proba,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(f"wrote {rows:,} predictions of [bold]{model_uri}[/] to {escape(str(output))}")


@app.command("convert-onnx")
def convert_onnx(
    model_uri: str = typer.Argument(
        ..., help="models:/NAME/VERSION, models:/NAME@ALIAS or runs:/RUN_ID/model"
    ),
) -> None:
    """Add a parity-checked ONNX conversion; a registered version adopts it (serving prefers it)."""
    from loopwright.models import read_manifest

    info = _registry().convert_to_onnx(model_uri)
    parity = (read_manifest(info.manifest_digest).get("onnx") or {}).get("max_abs_diff")
    console.print(
        f"{model_uri}: ONNX conversion stored (package {info.manifest_digest[:12]}"
        + (f", max abs difference on the input example {parity:.3g}" if parity is not None else "")
        + ")"
    )
