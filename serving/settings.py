"""Where a running service takes its settings: the stored model's metadata, then the
environment.

``llmlake package`` writes the ``serve`` params section and the absolute lake root into
the BentoML model's metadata, and the champion's run and weights hash into its labels, so a
Bento or a container runs with the settings it was packaged with and needs no
params.yaml. Any of them can be overridden when the server starts:

* ``LLMLAKE_SERVE_<KEY>``: one ``serve`` key, the value read as YAML, as ``--set`` reads
  it (``LLMLAKE_SERVE_MAX_BATCH=8``, ``LLMLAKE_SERVE_LOG_TEXT=false``);
* ``LLMLAKE_LAKE_ROOT``: the lake whose ``ops/requests`` and ``ops/feedback`` tables
  receive the request logs (a container mounts a volume or names an object store here);
* ``LLMLAKE_API_KEY``: when set, every API route needs ``Authorization: Bearer <key>``;
  it must be at least 8 characters, so that request logs can scrub it from text.

``LLMLAKE_BENTO_MODEL`` names the BentoML model to serve (default ``llmlake-lm:latest``);
:mod:`serving.service` reads it when it is imported. The values are checked as params are, and an error names the key.

Example::

    >>> s = resolve({"serve": {"max_batch": 4, "log_text": True}, "lake_root": "/srv/lake"},
    ...             {"run": "train-1", "weights": "b1e7416914a5"}, "llmlake-lm:3fa2",
    ...             {"LLMLAKE_SERVE_MAX_BATCH": "8", "LLMLAKE_SERVE_LOG_TEXT": "false"})
    >>> s.serve.max_batch, s.serve.log_text, s.lake_root, s.version, s.api_key
    (8, False, '/srv/lake', 'train-1@b1e74169', None)
    >>> resolve({}, {}, "m:1", {"LLMLAKE_SERVE_TRUNCATE": "middle"})
    Traceback (most recent call last):
    ...
    llmlake.config.ConfigError: serve.truncate: must be one of left, refuse, got 'middle'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from llmlake.config import ConfigError, apply_overrides, params_from_dict
from llmlake.config_serve import ServeConfig
from serving.logrows import API_KEY_ENV, API_KEY_MIN_CHARS

MODEL_ENV = "LLMLAKE_BENTO_MODEL"  # the model tag to serve, read when the service loads
DEFAULT_MODEL = "llmlake-lm:latest"
SERVE_ENV_PREFIX = "LLMLAKE_SERVE_"
LAKE_ROOT_ENV = "LLMLAKE_LAKE_ROOT"
SERVE_KEYS = tuple(f.name for f in fields(ServeConfig))


@dataclass(frozen=True)
class Settings:
    """What the service runs with."""

    serve: ServeConfig
    lake_root: str      # the lake of the request-log tables
    model_tag: str      # the BentoML model tag served ("llmlake-lm:3fa2..."): the API's model id
    version: str        # what request records name the model by: run@weights hash
    api_key: str | None  # None: the API is open


def resolve(metadata: Mapping[str, Any], labels: Mapping[str, str], tag: str,
            env: Mapping[str, str]) -> Settings:
    """The settings of a model (its metadata and labels) under an environment (pure)."""
    serve = {k: v for k, v in dict(metadata.get("serve") or {}).items() if k in SERVE_KEYS}
    overrides = [f"serve.{name[len(SERVE_ENV_PREFIX):].lower()}={value}"
                 for name, value in sorted(env.items()) if name.startswith(SERVE_ENV_PREFIX)]
    lake_root = env.get(LAKE_ROOT_ENV) or metadata.get("lake_root") or "lake"
    params = params_from_dict(apply_overrides({"serve": serve, "lake": {"root": lake_root}},
                                              overrides))
    key = env.get(API_KEY_ENV) or None
    if key is not None and len(key) < API_KEY_MIN_CHARS:
        raise ConfigError(f"{API_KEY_ENV}: must be at least {API_KEY_MIN_CHARS} characters, "
                          f"got {len(key)}")
    return Settings(serve=params.serve, lake_root=params.lake.root, model_tag=tag,
                    version=model_version(labels, tag), api_key=key)


def model_version(labels: Mapping[str, str], tag: str) -> str:
    """``<run>@<first 8 hex of the weights hash>``; the tag for a model without labels."""
    run, weights = labels.get("run"), labels.get("weights")
    return f"{run}@{weights[:8]}" if run and weights else tag
