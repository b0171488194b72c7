"""The feed caches' tables: bounded, and a put at capacity drops one entry in O(1)."""

from __future__ import annotations

from collections import OrderedDict

from app.services.platform.feed_cache import Entry, FeedTable


class NoScan(OrderedDict[str, Entry[int]]):
    """A table's rows, refusing every walk over them: what an O(n) eviction needs."""

    def _scan(self, *_: object) -> None:
        raise AssertionError("the table walked over all its entries")

    __iter__ = keys = values = items = _scan  # type: ignore[assignment]


def test_put_at_capacity_drops_exactly_the_oldest_without_scanning() -> None:
    dropped: list[str] = []
    table: FeedTable[str, int] = FeedTable(100, lambda key, _: dropped.append(key))
    for i in range(100):
        table.put(f"k{i}", Entry(i, 0.0))
    before = list(OrderedDict.items(table.rows))
    table.rows = NoScan(before)

    for i in range(100, 150):  # many drops in a row: each one O(1), none walks the table
        table.put(f"k{i}", Entry(i, 0.0))

    after = list(OrderedDict.items(table.rows))
    assert len(after) == 100
    assert dropped == [f"k{i}" for i in range(50)]
    assert after[:50] == before[50:]
    assert all(a[1] is b[1] for a, b in zip(after[:50], before[50:], strict=True))


def test_replacing_a_key_drops_nothing() -> None:
    dropped: list[str] = []
    table: FeedTable[str, int] = FeedTable(2, lambda key, _: dropped.append(key))
    table.put("a", Entry(1, 0.0))
    table.put("b", Entry(2, 0.0))
    table.put("a", Entry(3, 0.0))
    assert dropped == []
    assert list(OrderedDict.keys(table.rows)) == ["b", "a"]
