"""``@recordclass`` gives the record's classes what the checkpoint relies on of a dataclass:
fields in declaration order (the writer encodes ``__dict__``), defaults, a new list or dict per
instance, equality by value, and a TypeError for a missing or unknown field (which the reader
turns into a CheckpointError)."""

from __future__ import annotations

import typing

import pytest

from iguana_fsm.memory.budget import Budget
from iguana_fsm.record import BootRecord, Handoff
from iguana_fsm.recordclass import field, field_types, fields, is_recordclass, recordclass


@recordclass
class Sample:
    """A record with a required field, a plain default and a factory default."""

    name: str
    count: int = 0
    tags: list[str] = field(default_factory=list)

    @property
    def shown(self) -> str:
        """A property is no field."""
        return f"{self.name}:{self.count}"


def test_fields_keep_their_declared_order() -> None:
    """The fields are the annotations in order, and an instance's ``__dict__`` holds them in
    that order whichever way they were given."""
    assert fields(Sample) == ("name", "count", "tags")
    assert list(vars(Sample(count=2, name="a"))) == ["name", "count", "tags"]
    assert is_recordclass(Sample) and not is_recordclass(Sample("a")) and not is_recordclass(int)


def test_defaults_and_a_new_list_each_time() -> None:
    """A missing field takes its default; a factory default is made anew for each instance."""
    first, second = Sample("a"), Sample("b", 3)
    first.tags.append("x")
    assert (first.count, second.count, second.tags) == (0, 3, [])
    assert "tags" not in Sample.__dict__ and Sample.count == 0


def test_equality_by_value_and_repr() -> None:
    """Two records of one class with equal fields are equal; another class never is."""
    assert Sample("a", 1, ["t"]) == Sample(name="a", count=1, tags=["t"])
    assert Sample("a") != Sample("b")
    assert Sample("a") != ("a", 0, [])
    assert repr(Sample("a")) == "Sample(name='a', count=0, tags=[])"
    with pytest.raises(TypeError):
        hash(Sample("a"))


@pytest.mark.parametrize(
    ("args", "kwargs", "said"),
    [
        ((), {}, "no value for required field 'name'"),
        (("a",), {"colour": 1}, "unexpected keyword argument 'colour'"),
        (("a",), {"name": "b"}, "multiple values for argument 'name'"),
        (("a", 1, [], 4), {}, "takes 3 arguments, 4 given"),
    ],
)
def test_a_wrong_call_is_a_type_error(
    args: tuple[object, ...], kwargs: dict[str, object], said: str
) -> None:
    """A missing required field, an unknown one, one given twice or too many: TypeError
    naming the class and the field, as the checkpoint reader reports it."""
    with pytest.raises(TypeError) as caught:
        Sample(*args, **kwargs)  # type: ignore[arg-type,misc]
    assert said in str(caught.value) and "Sample" in str(caught.value)


def test_a_mutable_default_or_a_required_field_after_a_default_is_refused() -> None:
    """A list as a plain default (shared by every instance) and a field without a default
    after one with a default are refused when the class is made."""
    with pytest.raises(TypeError, match="default_factory"):

        @recordclass
        class Shared:
            items: list[str] = []  # noqa: RUF012

    with pytest.raises(TypeError, match="without a default"):

        @recordclass
        class Order:
            first: int = 0
            second: int


def test_field_types_are_what_typing_resolves() -> None:
    """For every class of the boot record, the field types the checkpoint reader decodes with
    are what ``typing.get_type_hints`` makes of the same annotations."""
    seen: list[type] = []
    waiting: list[type] = [BootRecord]
    while waiting:
        kind = waiting.pop()
        if kind in seen:
            continue
        seen.append(kind)
        hints = typing.get_type_hints(kind)
        assert field_types(kind) == hints
        for hint in hints.values():
            inner = [hint, *typing.get_args(hint)]
            inner += [part for each in inner for part in typing.get_args(each)]
            waiting.extend(part for part in inner if is_recordclass(part))
    assert len(seen) > 10 and Handoff in seen and Budget in seen
