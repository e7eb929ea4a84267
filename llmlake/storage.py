"""Object stores: the one place that knows a lake kept on S3 or an S3-compatible server.

A lake root such as ``s3a://bucket/lake`` (params ``lake.root``) puts every table in a
bucket. Spark reaches it through Hadoop's ``s3a`` file system, which lives in the
``hadoop-aws`` jar: :func:`hadoop_aws_package` names the Maven coordinate whose version
matches the Hadoop inside pyspark (a different one fails with missing classes), and
:func:`spark_settings` gives the ``spark.hadoop.fs.s3a.*`` settings. Readers without a JVM
(export-shards, training, evaluation, monitoring) open the same tables with delta-rs through
:func:`open_table`, which passes :func:`storage_options`; delta-rs takes ``s3a://`` as
it is, so a table's path is the same string in Spark, delta-rs and lineage.

Everything comes from the environment, the same variables the AWS SDKs and CLI read:

* ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN``): the
  credentials. They are read inside the JVM by the SDK's environment provider and by
  delta-rs itself; they are never copied into params, Spark settings or options built
  here, so no report, lineage record or logged configuration can hold them.
* ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``: an S3-compatible server (MinIO, moto,
  Ceph...). Such servers get path-style requests; an ``http://`` endpoint turns TLS off.
* ``AWS_REGION`` or ``AWS_DEFAULT_REGION``: the bucket's region (default ``us-east-1``).

Example::

    >>> env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_SECRET_ACCESS_KEY": "s"}
    >>> is_remote("s3a://bucket/lake/gold/sequences"), is_remote("lake/gold/sequences")
    (True, False)
    >>> storage_options("s3a://bucket/lake", env)
    {'AWS_REGION': 'us-east-1', 'AWS_ENDPOINT_URL': 'http://127.0.0.1:9000', 'AWS_ALLOW_HTTP': 'true'}
    >>> storage_options("lake", env) is None
    True
    >>> settings = spark_settings(env)
    >>> settings["spark.hadoop.fs.s3a.path.style.access"], "s" in settings.values()
    ('true', False)
    >>> needs_s3a("s3a://bucket/lake", {}), needs_s3a("lake", {S3A_PREFIX + "endpoint": "x"})
    (True, True)
    >>> needs_s3a("lake", {"spark.sql.shuffle.partitions": "8"})
    False
    >>> needs_s3a("lake", {}, sources=["data/raw", "s3a://bucket/crawl/"])
    True
    >>> hadoop_aws_package("3.4.2")
    'org.apache.hadoop:hadoop-aws:3.4.2'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

S3_SCHEMES = ("s3a://", "s3://")
DEFAULT_REGION = "us-east-1"
# The AWS SDK v2 provider that reads AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
# AWS_SESSION_TOKEN; naming it keeps s3a from probing an instance-metadata address.
ENV_CREDENTIALS = "software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider"
S3A_PREFIX = "spark.hadoop.fs.s3a."


def is_remote(path: str) -> bool:
    """True for a URI with a scheme other than ``file:`` (an object store)."""
    return "://" in path and not path.startswith("file:")


def is_s3(path: str | None) -> bool:
    return bool(path and path.startswith(S3_SCHEMES))


def endpoint(env: Mapping[str, str] | None = None) -> str | None:
    """The S3-compatible server's URL, or None for AWS itself."""
    env = os.environ if env is None else env
    return env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None


def region(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def storage_options(path: str, env: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """delta-rs options for the table at ``path`` (None for a local path).

    Only where and how to connect: delta-rs reads the credentials from the environment
    itself, so this dictionary is safe to log.
    """
    if not is_s3(path):
        return None
    options = {"AWS_REGION": region(env)}
    url = endpoint(env)
    if url:
        options["AWS_ENDPOINT_URL"] = url
        if url.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    return options


def spark_settings(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``spark.hadoop.fs.s3a.*`` settings for the environment's store (no secrets in them).

    ``s3://`` paths go to the same file system, so either scheme works as ``lake.root``.
    """
    settings = {
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        f"{S3A_PREFIX}aws.credentials.provider": ENV_CREDENTIALS,
        f"{S3A_PREFIX}endpoint.region": region(env),
    }
    url = endpoint(env)
    if url:
        settings[f"{S3A_PREFIX}endpoint"] = url
        # Servers other than AWS rarely serve virtual-host buckets (bucket.host names).
        settings[f"{S3A_PREFIX}path.style.access"] = "true"
        settings[f"{S3A_PREFIX}connection.ssl.enabled"] = str(url.startswith("https://")).lower()
    return settings


def needs_s3a(lake_root: str | None, conf: Mapping[str, str],
              sources: tuple[str, ...] | list[str] = ()) -> bool:
    """Whether a Spark session must load ``hadoop-aws``: the lake root or an input source is
    on S3, or the user's ``spark.conf`` configures s3a or names an S3 path."""
    return is_s3(lake_root) or any(is_s3(s) for s in sources) or any(
        key.startswith(S3A_PREFIX) or is_s3(str(value)) for key, value in conf.items())


def hadoop_version() -> str:
    """The Hadoop version inside the installed pyspark (read from its jar names)."""
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    for jar in sorted(jars.glob("hadoop-client-api-*.jar")):
        return jar.name.removeprefix("hadoop-client-api-").removesuffix(".jar")
    raise RuntimeError(f"no hadoop-client-api jar under {jars}; cannot choose hadoop-aws")


def hadoop_aws_package(version: str | None = None) -> str:
    """Maven coordinate of ``hadoop-aws`` for Spark's Hadoop (it pulls the AWS SDK v2
    bundle, about 640 MB, into the Ivy cache on first use)."""
    return f"org.apache.hadoop:hadoop-aws:{version or hadoop_version()}"


def open_table(path: str, version: int | None = None) -> Any:
    """delta-rs's ``DeltaTable`` at ``path`` (local or object store), at ``version`` if
    given. Read it through ``to_pyarrow_dataset()``."""
    from deltalake import DeltaTable

    return DeltaTable(path, version=version, storage_options=storage_options(path))


def table_exists(path: str) -> bool:
    from deltalake import DeltaTable

    return DeltaTable.is_deltatable(path, storage_options=storage_options(path))
