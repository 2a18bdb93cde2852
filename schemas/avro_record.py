"""Base class of every generated record."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import ClassVar
from typing import Self
from typing import TypeVar

from pydantic import BaseModel
from pydantic import ConfigDict

_new = object.__new__
_set_slot = object.__setattr__
# BaseModel's slot descriptors, called directly: a third cheaper than object.__setattr__.
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
_T = TypeVar("_T")
INTERNED_MAX = 100_000
"""Distinct values an interning record class keeps (then it starts afresh)."""
_R = TypeVar("_R")


def maybe(convert: Callable[[_T], _R], value: _T | None) -> _R | None:
    """``convert(value)``, or None for None (nullable fields of generated records)."""
    return None if value is None else convert(value)


class AvroRecord(BaseModel):
    """A frozen pydantic model generated from one Avro record schema.

    ``to_avro`` and ``from_avro`` are generated field by field: they convert to and from
    the plain values fastavro reads and writes, without a generic ``model_dump`` walk.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    AVRO_NAME: ClassVar[str]
    """Full Avro name of the record, e.g. ``fundingflow.md.FundingRateUpdate``."""

    FIELD_NAMES: ClassVar[frozenset[str]] = frozenset()
    """Names of every field, set once per class."""

    _FIELDS_SET: ClassVar[set[str]] = set()
    """:attr:`FIELD_NAMES` as the set a record's fields-set starts from (copied, never given)."""

    _INTERNED: ClassVar[dict[tuple[Any, ...], Any]] = {}
    """Records of this class by their Avro values, for the classes whose ``from_avro`` shares
    one record per distinct value (``schemas.codegen.INTERNED``); bounded by
    :data:`INTERNED_MAX`."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.FIELD_NAMES = frozenset(cls.model_fields)
        cls._FIELDS_SET = set(cls.FIELD_NAMES)
        cls._INTERNED = {}

    def to_avro(self) -> dict[str, Any]:
        """The record as the dict fastavro writes."""
        raise NotImplementedError

    @classmethod
    def from_avro(cls, datum: Mapping[str, Any]) -> Self:
        """The record from the dict fastavro read (trusted: skips validation)."""
        raise NotImplementedError

    @classmethod
    def _intern(cls, key: tuple[Any, ...], record: Self) -> Self:
        """Keep ``record`` as the one record of its Avro values ``key`` (records are frozen, so
        every reader can share it)."""
        if len(cls._INTERNED) >= INTERNED_MAX:
            cls._INTERNED.clear()
        cls._INTERNED[key] = record
        return record

    @classmethod
    def trusted(cls, values: dict[str, Any]) -> Self:
        """Build an instance from already-typed values without validation.

        Same effect as ``model_construct`` with every field given, at a third of its cost;
        only the codec's decode path uses it, on values fastavro produced from the schema.
        """
        record = _new(cls)
        _set_slot(record, "__dict__", values)
        _set_fields_set(record, cls._FIELDS_SET.copy())
        _set_extra(record, None)
        _set_private(record, None)
        return record
