"""The local Spark session: Delta loaded, and the driver reachable on loopback only."""

from __future__ import annotations

import pytest

from llmlake.spark import LOOPBACK

pytestmark = pytest.mark.spark


def test_local_driver_binds_to_loopback(spark):
    assert spark.conf.get("spark.driver.bindAddress") == LOOPBACK
    assert spark.conf.get("spark.driver.host") == LOOPBACK
    assert spark.sparkContext.uiWebUrl is None or LOOPBACK in spark.sparkContext.uiWebUrl


def test_delta_is_loaded(spark, tmp_path):
    spark.range(2).write.format("delta").save(str(tmp_path / "t"))
    assert spark.read.format("delta").load(str(tmp_path / "t")).count() == 2
