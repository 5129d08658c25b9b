"""Settings read from the environment at call time, so tests and users can change them live.

========================== =============================================== ================================
variable                   meaning                                         default
========================== =============================================== ================================
LOOPWRIGHT_HOME            folder for embedded state                       ``./.loopwright``
LOOPWRIGHT_STORE_URI       metadata store (sqlite, postgresql, http)       ``sqlite:///$HOME/loopwright.db``
LOOPWRIGHT_ARTIFACT_URI    blob store (folder, memory://, s3://)           ``$HOME/artifacts``
LOOPWRIGHT_TOKEN           bearer token for servers (predict role)         unset
LOOPWRIGHT_ADMIN_TOKEN     bearer token for admin routes (admin role)      unset
LOOPWRIGHT_ALLOW_PICKLE    allow loading pickle-based model packages       unset (refused)
LOOPWRIGHT_TRUSTED_MODULES modules whose code packages may import          unset (see models/trust.py)
                           (comma-separated; ``acme.`` is a prefix)
LOOPWRIGHT_USER            the actor the audit log and loop history name   the operating-system user
LOOPWRIGHT_ONNX_THREADS    intra-op threads of each ONNX Runtime session   ``1``
LOOPWRIGHT_DEBUG           the CLI shows tracebacks and Spark's own logs   unset
LOOPWRIGHT_JUDGE_PROMPT    the llm_judge scorer's rubric (prompts:/…)      unset
LOOPWRIGHT_JUDGE_BASE_URL  its OpenAI-compatible endpoint                  ``OPENAI_BASE_URL`` / OpenAI
LOOPWRIGHT_JUDGE_MODEL     its model                                       the rubric's ``model`` metadata
LOOPWRIGHT_JUDGE_API_KEY   its bearer key (read when a call is made)       ``OPENAI_API_KEY``
LOOPWRIGHT_RAY_ADDRESS     the Ray cluster ``executor="ray"`` joins        ``RAY_ADDRESS``, else local Ray
========================== =============================================== ================================

Examples
--------
>>> import os
>>> s = Settings.from_env({"LOOPWRIGHT_HOME": "/tmp/lw"})
>>> s.store_uri
'sqlite:////tmp/lw/loopwright.db'
>>> s.artifact_uri
'/tmp/lw/artifacts'
>>> Settings.from_env({"LOOPWRIGHT_USER": "ada", "LOOPWRIGHT_ONNX_THREADS": "2"}).onnx_threads
2
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from loopwright.errors import InvalidInput


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; build one with :meth:`from_env`."""

    home: Path
    store_uri: str
    artifact_uri: str
    token: str | None = None
    allow_pickle: bool = False
    admin_token: str | None = None
    trusted_modules: tuple[str, ...] = ()
    user: str | None = None
    onnx_threads: int = 1
    debug: bool = False
    judge_prompt: str | None = None
    judge_base_url: str | None = None
    judge_model: str | None = None
    judge_api_key_set: bool = False  # the key itself stays in the environment: never in a repr or log
    ray_address: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("LOOPWRIGHT_HOME") or ".loopwright").absolute()
        store_uri = env.get("LOOPWRIGHT_STORE_URI") or f"sqlite:///{home / 'loopwright.db'}"
        artifact_uri = env.get("LOOPWRIGHT_ARTIFACT_URI") or str(home / "artifacts")
        token = env.get("LOOPWRIGHT_TOKEN") or None
        allow_pickle = env.get("LOOPWRIGHT_ALLOW_PICKLE", "").lower() in {"1", "true", "yes"}
        admin_token = env.get("LOOPWRIGHT_ADMIN_TOKEN") or None
        trusted = tuple(m.strip() for m in env.get("LOOPWRIGHT_TRUSTED_MODULES", "").split(",") if m.strip())
        user = env.get("LOOPWRIGHT_USER", "").strip() or None
        threads = env.get("LOOPWRIGHT_ONNX_THREADS", "").strip() or "1"
        if not threads.isdigit() or int(threads) < 1:
            raise InvalidInput(f"LOOPWRIGHT_ONNX_THREADS must be a positive integer, got {threads!r}")
        debug = env.get("LOOPWRIGHT_DEBUG", "").lower() not in {"", "0", "false", "no"}
        return cls(
            home,
            store_uri,
            artifact_uri,
            token,
            allow_pickle,
            admin_token,
            trusted,
            user=user,
            onnx_threads=int(threads),
            debug=debug,
            judge_prompt=env.get("LOOPWRIGHT_JUDGE_PROMPT") or None,
            judge_base_url=env.get("LOOPWRIGHT_JUDGE_BASE_URL") or None,
            judge_model=env.get("LOOPWRIGHT_JUDGE_MODEL") or None,
            judge_api_key_set=bool(env.get("LOOPWRIGHT_JUDGE_API_KEY")),
            ray_address=env.get("LOOPWRIGHT_RAY_ADDRESS", "").strip() or None,
        )


def get_settings() -> Settings:
    """Return the settings as the environment says right now."""
    return Settings.from_env()
