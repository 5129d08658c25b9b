"""The prompt registry: templates versioned, aliased, audited and permissioned exactly like models.

A prompt is a registered name of kind ``prompt`` (:meth:`Store.create_model_version` with
``kind="prompt"``): its versions are immutable (the template and metadata are one JSON blob, its
digest the version's ``manifest_digest``), aliases move with the same audit entries and the same
roles on the platform server as model aliases (a maintainer moves ``production``), and
``prompts:/NAME/VERSION`` / ``prompts:/NAME@ALIAS`` name a version the way ``models:/`` URIs do.

Templates use ``{{ name }}`` placeholders and nothing else: rendering is a substitution, never
template code, and it is strict — a missing or unknown variable is an error naming it.

Examples
--------
>>> import tempfile
>>> from loopwright.tracking.client import Client
>>> home = tempfile.mkdtemp()
>>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
>>> v1 = register_prompt("support-answer", "Answer as {{ tone }}: {{ question }}", client=client)
>>> v1.version, v1.variables
(1, ('question', 'tone'))
>>> _ = set_prompt_alias("support-answer", "production", 1, client=client)
>>> load_prompt("prompts:/support-answer@production", client=client).format(tone="a pirate", question="why?")
'Answer as a pirate: why?'
>>> load_prompt("prompts:/support-answer/1", client=client).format(tone="calm")
Traceback (most recent call last):
...
loopwright.errors.InvalidInput: prompt support-answer/1 needs the variable 'question'
>>> client.close()
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loopwright.errors import InvalidInput, NotFound
from loopwright.llm.tracing import current_span
from loopwright.names import validate_alias, validate_name, validate_version
from loopwright.registry.actor import current_actor
from loopwright.store.entities import ArtifactRef, ModelVersion, RegisteredModel, ToDict
from loopwright.tracking.client import Client, get_client

PROMPT_FORMAT = "loopwright.prompt/1"
PROMPT_FILE = "prompt.json"
MAX_TEMPLATE = 200_000
_PLACEHOLDER = re.compile(r"{{\s*([A-Za-z_][A-Za-z0-9_]*)\s*}}")
_BRACES = re.compile(r"{{.*?}}", re.S)


@dataclass(frozen=True)
class PromptVersion(ToDict):
    """One immutable version of a prompt; :meth:`format` renders it.

    Examples
    --------
    >>> p = PromptVersion("greet", 2, "Hello {{ name }}!", variables=("name",))
    >>> p.uri, p.format(name="Ada")
    ('prompts:/greet/2', 'Hello Ada!')
    """

    name: str
    version: int
    template: str
    metadata: dict[str, Any] = field(default_factory=dict)
    variables: tuple[str, ...] = ()
    digest: str | None = None
    aliases: list[str] = field(default_factory=list)
    description: str | None = None
    created_at: datetime | None = None
    created_by: str | None = None

    @property
    def uri(self) -> str:
        """``prompts:/NAME/VERSION``."""
        return f"prompts:/{self.name}/{self.version}"

    def format(self, **values: Any) -> str:
        """The template with every ``{{ variable }}`` replaced; a missing or unknown one is an error."""
        missing = [v for v in self.variables if v not in values]
        if missing:
            raise InvalidInput(
                f"prompt {self.name}/{self.version} needs the variable{'s' if len(missing) > 1 else ''} "
                + ", ".join(repr(m) for m in missing)
            )
        unknown = sorted(set(values) - set(self.variables))
        if unknown:
            raise InvalidInput(
                f"prompt {self.name}/{self.version} has no variable "
                + ", ".join(repr(u) for u in unknown)
                + f" (it has: {', '.join(self.variables) or 'none'})"
            )
        rendered = _PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), self.template)
        opened = current_span()
        if opened is not None:  # a trace records which prompt version it rendered
            opened.set_prompt(self.uri)
        return rendered


def template_variables(template: object) -> tuple[str, ...]:
    """The sorted ``{{ name }}`` placeholders of a template; anything else in ``{{ }}`` is refused.

    >>> template_variables("{{ b }} and {{a}} and {{ b }}")
    ('a', 'b')
    """
    if not isinstance(template, str) or not template.strip():
        raise InvalidInput("a prompt template must be a non-empty string")
    if len(template) > MAX_TEMPLATE:
        raise InvalidInput(f"a prompt template is at most {MAX_TEMPLATE} characters")
    for braces in _BRACES.findall(template):
        if not _PLACEHOLDER.fullmatch(braces):
            raise InvalidInput(f"{braces!r} is not a placeholder: write {{{{ name }}}} (letters, digits, _)")
    return tuple(sorted(set(_PLACEHOLDER.findall(template))))


def parse_prompt_uri(uri: str) -> tuple[str, int | None, str | None]:
    """``prompts:/NAME/VERSION`` or ``prompts:/NAME@ALIAS`` → (name, version, alias).

    >>> parse_prompt_uri("prompts:/support-answer@production")
    ('support-answer', None, 'production')
    """
    if not isinstance(uri, str) or not uri.startswith("prompts:/"):
        raise InvalidInput(f"invalid prompt URI {uri!r}: use prompts:/NAME/VERSION or prompts:/NAME@ALIAS")
    rest = uri.removeprefix("prompts:/").strip("/")
    if "@" in rest and "/" not in rest:
        name, _, alias = rest.partition("@")
        return validate_name(name, "prompt name"), None, validate_alias(alias)
    name, _, version = rest.partition("/")
    if version.isdigit() and int(version) > 0:
        return validate_name(name, "prompt name"), int(version), None
    raise InvalidInput(f"invalid prompt URI {uri!r}: use prompts:/NAME/VERSION or prompts:/NAME@ALIAS")


def register_prompt(
    name: str,
    template: str,
    metadata: Mapping[str, Any] | None = None,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    *,
    client: Client | None = None,
) -> PromptVersion:
    """Store ``template`` as the next immutable version of prompt ``name`` (created on first use).

    >>> import tempfile
    >>> from loopwright.tracking.client import Client
    >>> home = tempfile.mkdtemp()
    >>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
    >>> register_prompt("greet", "Hello {{ name }}", metadata={"temperature": 0.2}, client=client).version
    1
    >>> register_prompt("greet", "Hi {{ name }}", client=client).version
    2
    """
    validate_name(name, "prompt name")
    variables = template_variables(template)
    try:
        body = json.dumps(
            {
                "format": PROMPT_FORMAT,
                "template": template,
                "metadata": dict(metadata or {}),
                "variables": variables,
            },
            sort_keys=True,
            allow_nan=False,
        ).encode()
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"prompt metadata must be JSON: {error}") from None
    client = client or get_client()
    digest, size = client.blobs.put_bytes(body)
    version = client.store.create_model_version(
        name,
        f"prompts:/{name}",
        actor=current_actor(),
        manifest_digest=digest,
        tags=dict(tags or {}),
        description=description,
        kind="prompt",
    )
    # recorded for the version, so gc keeps the blob as long as the version exists
    client.store.record_artifacts("model_version", version.owner_id, [ArtifactRef(PROMPT_FILE, digest, size)])
    return _prompt(version, body)


def load_prompt(uri: str, version: int | None = None, *, client: Client | None = None) -> PromptVersion:
    """A prompt version by URI (``prompts:/NAME/VERSION``, ``prompts:/NAME@ALIAS``) or by name (the
    latest version, or ``version``).

    >>> import tempfile
    >>> from loopwright.tracking.client import Client
    >>> home = tempfile.mkdtemp()
    >>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
    >>> _ = register_prompt("greet", "Hello {{ name }}", client=client)
    >>> load_prompt("greet", client=client).format(name="Ada")
    'Hello Ada'
    """
    client = client or get_client()
    if uri.startswith("prompts:/"):
        name, number, alias = parse_prompt_uri(uri)
    else:
        name, number, alias = validate_name(uri, "prompt name"), version, None
    try:
        if alias is not None:
            found = client.store.get_model_version_by_alias(name, alias)
        else:
            if number is None:
                number = _registered(client, name).latest_version
            found = client.store.get_model_version(name, validate_version(number))
    except NotFound as error:  # the registry's words name a model; this is a prompt
        raise NotFound(_as_prompt(str(error))) from None
    if found.manifest_digest is None:
        raise NotFound(f"{name!r} is not a prompt")
    return _prompt(found, client.blobs.get_bytes(found.manifest_digest))


def set_prompt_alias(name: str, alias: str, version: int, *, client: Client | None = None) -> PromptVersion:
    """Point ``alias`` (``production``, ``candidate`` …) at a version; audited like model aliases.

    >>> import tempfile
    >>> from loopwright.tracking.client import Client
    >>> home = tempfile.mkdtemp()
    >>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
    >>> _ = register_prompt("greet", "Hello {{ name }}", client=client)
    >>> set_prompt_alias("greet", "production", 1, client=client).aliases
    ['production']
    """
    client = client or get_client()
    _registered(client, name)
    moved = client.store.set_alias(
        name, validate_alias(alias), validate_version(version), actor=current_actor()
    )
    return load_prompt(moved.uri.replace("models:/", "prompts:/"), client=client)


def delete_prompt_alias(name: str, alias: str, *, client: Client | None = None) -> None:
    """Remove an alias of a prompt (audited).

    >>> import tempfile
    >>> from loopwright.tracking.client import Client
    >>> home = tempfile.mkdtemp()
    >>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
    >>> _ = register_prompt("greet", "Hello {{ name }}", client=client)
    >>> _ = set_prompt_alias("greet", "candidate", 1, client=client)
    >>> delete_prompt_alias("greet", "candidate", client=client)
    >>> load_prompt("greet", client=client).aliases
    []
    """
    client = client or get_client()
    _registered(client, name)
    client.store.delete_alias(name, validate_alias(alias), actor=current_actor())


def search_prompts(
    filter: str | None = None, max_results: int = 1000, *, client: Client | None = None
) -> list[RegisteredModel]:
    """Prompts (names, latest version, aliases, tags) matching a registry filter like ``name LIKE 'support%'``.

    >>> import tempfile
    >>> from loopwright.tracking.client import Client
    >>> home = tempfile.mkdtemp()
    >>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
    >>> _ = register_prompt("support-answer", "{{ question }}", client=client)
    >>> [p.name for p in search_prompts("name LIKE 'support%'", client=client)]
    ['support-answer']
    """
    client = client or get_client()
    return client.store.search_registered_models(filter, ["name ASC"], max_results, kind="prompt")


def list_prompt_versions(name: str, *, client: Client | None = None) -> list[PromptVersion]:
    """Every version of a prompt, newest first.

    >>> import tempfile
    >>> from loopwright.tracking.client import Client
    >>> home = tempfile.mkdtemp()
    >>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
    >>> for text in ("v1 {{ q }}", "v2 {{ q }}"):
    ...     _ = register_prompt("qa", text, client=client)
    >>> [p.version for p in list_prompt_versions("qa", client=client)]
    [2, 1]
    """
    client = client or get_client()
    _registered(client, name)
    versions = client.store.search_model_versions(f"name = '{name}'", ["version DESC"], 10_000, kind="prompt")
    return [_prompt(v, client.blobs.get_bytes(v.manifest_digest or "")) for v in versions]


def diff_prompts(name: str, v1: int, v2: int, *, client: Client | None = None) -> str:
    """A unified diff of two versions' templates (and metadata, when it differs).

    >>> import tempfile
    >>> from loopwright.tracking.client import Client
    >>> home = tempfile.mkdtemp()
    >>> client = Client(f"sqlite:///{home}/lw.db", f"{home}/artifacts")
    >>> for text in ("Answer: {{ q }}", "Answer briefly: {{ q }}"):
    ...     _ = register_prompt("qa", text, client=client)
    >>> print(diff_prompts("qa", 1, 2, client=client).splitlines()[-1])
    +Answer briefly: {{ q }}
    """
    old, new = (load_prompt(name, v, client=client) for v in (v1, v2))
    lines = list(
        difflib.unified_diff(
            old.template.splitlines(keepends=True),
            new.template.splitlines(keepends=True),
            fromfile=old.uri,
            tofile=new.uri,
        )
    )
    if old.metadata != new.metadata:
        lines += list(
            difflib.unified_diff(
                _pretty(old.metadata), _pretty(new.metadata), f"{old.uri} metadata", f"{new.uri} metadata"
            )
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _pretty(value: Mapping[str, Any]) -> Sequence[str]:
    return json.dumps(value, indent=2, sort_keys=True).splitlines(keepends=True)


def _as_prompt(message: str) -> str:
    return message.replace("registered model", "prompt").replace("model version", "prompt version")


def _registered(client: Client, name: str) -> RegisteredModel:
    try:
        model = client.store.get_registered_model(validate_name(name, "prompt name"))
    except NotFound as error:
        raise NotFound(_as_prompt(str(error))) from None
    if model.kind != "prompt":
        raise InvalidInput(f"{name!r} is a registered {model.kind}, not a prompt")
    return model


def _prompt(version: ModelVersion, body: bytes) -> PromptVersion:
    try:
        data = json.loads(body)
        if data.get("format") != PROMPT_FORMAT:
            raise ValueError
    except (ValueError, AttributeError):
        raise InvalidInput(f"{version.name}/{version.version} is not a prompt (a model's package?)") from None
    return PromptVersion(
        name=version.name,
        version=version.version,
        template=data["template"],
        metadata=data.get("metadata") or {},
        variables=tuple(data.get("variables") or ()),
        digest=version.manifest_digest,
        aliases=version.aliases,
        description=version.description,
        created_at=version.created_at,
        created_by=version.created_by,
    )
