"""Table facts read from the Delta log (delta-rs) agree with what Spark reports."""

from __future__ import annotations

import pytest

from llmlake.spark import delta_version
from llmlake.tables import get_property, set_property, table_state

pytestmark = pytest.mark.spark


def test_state_from_the_log_matches_spark(spark, tmp_path):
    from delta.tables import DeltaTable

    path = str(tmp_path / "t")
    assert table_state(spark, path) == {"path": path, "version": None, "rows": 0}
    assert delta_version(spark, path) is None
    spark.range(0, 50).write.format("delta").save(path)
    spark.range(50, 80).repartition(3).write.format("delta").mode("append").save(path)
    DeltaTable.forPath(spark, path).delete("id % 7 = 0")
    state = table_state(spark, path)
    history = DeltaTable.forPath(spark, path).history(1).first()["version"]
    assert state["version"] == delta_version(spark, path) == history == 2
    assert state["rows"] == spark.read.format("delta").load(path).count() == 80 - 12


def test_properties_from_the_log_match_spark(spark, tmp_path):
    from delta.tables import DeltaTable

    path = str(tmp_path / "p")
    spark.range(3).write.format("delta").save(path)
    assert get_property(spark, path, "llmlake.test") is None
    set_property(spark, path, "llmlake.test", "abc")
    assert get_property(spark, path, "llmlake.test") == "abc"
    detail = DeltaTable.forPath(spark, path).detail().first()["properties"]
    assert detail["llmlake.test"] == "abc"
