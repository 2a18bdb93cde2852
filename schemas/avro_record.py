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

_set_slot = object.__setattr__
# BaseModel's slot descriptors, called directly: a third cheaper than object.__setattr__.
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
_T = TypeVar("_T")
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

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.FIELD_NAMES = frozenset(cls.model_fields)

    def to_avro(self) -> dict[str, Any]:
        """The record as the dict fastavro writes."""
        raise NotImplementedError

    @classmethod
    def from_avro(cls, datum: Mapping[str, Any]) -> Self:
        """The record from the dict fastavro read (trusted: skips validation)."""
        raise NotImplementedError

    @classmethod
    def trusted(cls, values: dict[str, Any]) -> Self:
        """Build an instance from already-typed values without validation.

        Same effect as ``model_construct`` with every field given, at a third of its cost;
        only the codec's decode path uses it, on values fastavro produced from the schema.
        """
        record = cls.__new__(cls)
        _set_slot(record, "__dict__", values)
        _set_fields_set(record, set(cls.FIELD_NAMES))
        _set_extra(record, None)
        _set_private(record, None)
        return record
