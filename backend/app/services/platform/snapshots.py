"""An immutable snapshot of an ORM row (the caches share snapshots across requests)."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

S = TypeVar("S", bound="DataclassInstance")


def snapshot_of(cls: type[S], row: object, **overrides: Any) -> S:
    """``cls`` with each field copied from the same-named attribute of ``row``, unless given in
    ``overrides`` (a renamed column, or one that is parsed on the way)."""
    names = [field.name for field in fields(cls)]
    if unknown := overrides.keys() - set(names):  # a typo must not pass silently
        raise TypeError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
    values = {name: overrides[name] if name in overrides else getattr(row, name) for name in names}
    return cls(**values)


class RowSnapshot:
    """Base of the snapshot dataclasses whose fields are all same-named columns of one row."""

    __slots__ = ()

    @classmethod
    def of(cls, row: object) -> Self:
        return snapshot_of(cast("type[DataclassInstance]", cls), row)  # type: ignore[return-value]
