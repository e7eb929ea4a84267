"""Table state for lineage: read from the Delta log, equal to what Spark counts."""

from __future__ import annotations

import pytest

from llmlake.spark import delta_version
from llmlake.tables import table_state

pytestmark = pytest.mark.spark


def test_state_from_the_log_matches_spark(spark, tmp_path):
    path = str(tmp_path / "t")
    assert table_state(spark, path) == {"path": path, "version": None, "rows": 0}
    spark.range(0, 50).write.format("delta").save(path)
    spark.range(50, 80).repartition(3).write.format("delta").mode("append").save(path)
    from delta.tables import DeltaTable

    DeltaTable.forPath(spark, path).delete("id % 7 = 0")
    state = table_state(spark, path)
    assert state["version"] == delta_version(spark, path) == 2
    assert state["rows"] == spark.read.format("delta").load(path).count() == 80 - 12
