"""Connected components (etl.dedup.components): the Spark large-star / small-star implementation
against the in-memory union-find reference, on chains, stars, many small components,
self-edges and a random graph."""

from __future__ import annotations

import random
import time
from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etl.dedup.components import connected_components, find_components, union_find_components

SCHEMA = "src string, dst string"


def _bfs_components(edges: list[tuple[str, str]]) -> dict[str, str]:
    """A second, independent reference: breadth-first search from every unseen node."""
    neighbours: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    label: dict[str, str] = {}
    for start in sorted(neighbours):
        if start in label:
            continue
        seen, frontier = {start}, [start]
        while frontier:
            frontier = [n for node in frontier for n in neighbours[node] if n not in seen]
            seen.update(frontier)
        for node in seen:
            label[node] = min(seen)
    return label


def test_union_find_crafted() -> None:
    edges = [("c", "b"), ("b", "a"), ("x", "y"), ("z", "z"), ("y", "x"), ("q", "c")]
    assert union_find_components(edges) == {
        "a": "a", "b": "a", "c": "a", "q": "a", "x": "x", "y": "x", "z": "z"}
    assert union_find_components([]) == {}


@given(st.lists(st.tuples(st.integers(0, 40).map(str), st.integers(0, 40).map(str))))
def test_union_find_matches_bfs(edges: list[tuple[str, str]]) -> None:
    assert union_find_components(edges) == _bfs_components(edges)


def _run(spark, edges: list[tuple[str | None, str | None]], **kwargs):
    df = spark.createDataFrame(edges, SCHEMA)
    start = time.perf_counter()
    result = find_components(df, **kwargs)
    rows = result.labels.collect()
    seconds = time.perf_counter() - start
    got = {r["node"]: r["component"] for r in rows}
    assert len(got) == len(rows), "every node exactly once"
    want = union_find_components([(a, b) for a, b in edges if a is not None and b is not None])
    assert got == want
    return result, seconds


def _chain(n: int, shuffle: bool) -> list[tuple[str, str]]:
    ids = [f"n{i:04d}" for i in range(n)]
    if shuffle:  # ids no longer follow the chain, so labels must travel both ways
        random.Random(0).shuffle(ids)
    return [(ids[i], ids[i + 1]) for i in range(n - 1)]


@pytest.mark.spark
def test_long_chain(spark) -> None:
    # Ids in chain order are the slow case: the minimum sits at one end.
    result, seconds = _run(spark, _chain(200, shuffle=False))
    print(f"\nchain of 200: {result.rounds} rounds, edges per round "
          f"{list(result.edge_counts)}, {seconds:.1f} s")
    assert result.rounds <= 10
    assert result.edge_counts[-1] == 199  # one star: every node but the minimum is a leaf


@pytest.mark.spark
def test_crafted_mix(spark) -> None:
    edges: list[tuple[str | None, str | None]] = list(_chain(200, shuffle=True))
    # stars: centre in the middle of the id range, so it is not the component's minimum
    edges += [("s05", f"s{i:02d}") for i in range(10) if i != 5]
    edges += [(f"t{i:02d}", "t00") for i in range(1, 30)]
    # many small components: pairs and triangles
    edges += [(f"p{i}a", f"p{i}b") for i in range(100)]
    edges += [e for i in range(50) for e in [(f"r{i}a", f"r{i}b"), (f"r{i}b", f"r{i}c"),
                                                (f"r{i}c", f"r{i}a")]]
    # isolated self-edges, and self-edges on nodes that also have other edges
    edges += [(f"self{i}", f"self{i}") for i in range(20)] + [("p0a", "p0a"), ("s07", "s07")]
    # duplicates, both directions, and rows with a missing end (ignored)
    edges += [("p1a", "p1b"), ("p1b", "p1a"), ("x", None), (None, "y"), (None, None)]
    # two stars joined through their leaves
    edges += [("s09", "t29")]
    result, seconds = _run(spark, edges)
    labels = {r["node"]: r["component"] for r in result.labels.collect()}
    assert labels["self3"] == "self3" and labels["t00"] == "s00" and "x" not in labels
    print(f"\nshuffled chain of 200 + stars + pairs + triangles + self-edges: "
          f"{result.rounds} rounds, {seconds:.1f} s")
    assert result.rounds <= 10


@pytest.mark.spark
def test_random_graph(spark) -> None:
    rng = random.Random(1)
    nodes = [f"doc-{rng.getrandbits(40):010x}" for _ in range(2500)]
    edges = [(rng.choice(nodes), rng.choice(nodes)) for _ in range(2000)]
    result, seconds = _run(spark, edges)
    components = len(set(union_find_components(edges).values()))
    print(f"\nrandom graph, 2,000 edges, {components} components: {result.rounds} rounds, "
          f"edges per round {list(result.edge_counts)}, {seconds:.1f} s")
    assert result.rounds <= 10


@pytest.mark.spark
def test_parquet_checkpoints_and_edge_cases(spark, tmp_path) -> None:
    edges = [("b", "c"), ("a", "b"), ("lone", "lone")]
    result, _ = _run(spark, edges, checkpoint_dir=str(tmp_path / "cc"))
    assert (tmp_path / "cc" / f"round-{result.rounds}").is_dir()
    empty = connected_components(spark.createDataFrame([], SCHEMA))
    assert empty.columns == ["node", "component"] and empty.count() == 0
    with pytest.raises(RuntimeError, match="did not converge"):
        find_components(spark.createDataFrame(_chain(10, shuffle=False), SCHEMA), max_iter=1)
