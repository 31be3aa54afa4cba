"""``@recordclass``: the typed, mutable classes of the boot record (``iguana_fsm.record``) and
of the memory plan, without the dataclasses module.

``iguana status`` reads the checkpoint through the record model, and a look from a rescue shell
must cost at most about twice an empty ``python -c pass`` (issue 17). ``dataclasses`` imports
``inspect`` (and with it ``ast``, ``dis``, ``tokenize``) and compiles three methods per class:
for the record's sixteen classes that was half the verb's own time. What the record needs of a
dataclass is small: an ``__init__`` taking the annotated fields (by position or keyword, with
their defaults), ``__eq__``, ``__repr__``, and the fields in declaration order (the instance's
``__dict__`` keeps that order: the checkpoint is written from it). That is what this gives,
with one ``__init__`` shared by every class instead of generated code; mypy checks the classes
as dataclasses (``typing.dataclass_transform``).

A class's own annotations are its fields (no inheritance of fields); a default is a value, or
``field(default_factory=...)`` for a new list or dict each time.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")

FIELDS = "__recordclass_fields__"
"""The class attribute holding the field names, in declaration order."""

_MISSING = object()

_MUTABLE = (list, dict, set)

_WRITTEN: dict[type, dict[str, Any]] = {}
"""Each record class's annotations as written (strings, or types)."""

_TYPES: dict[type, dict[str, Any]] = {}
"""Each record class's field types, once evaluated."""


class _Factory:
    """A default made anew for each instance (``field(default_factory=...)``)."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], T]) -> T:
    """A field whose default is ``default_factory()``, called for each new instance."""
    return _Factory(default_factory)  # type: ignore[return-value]


def fields(kind: Any) -> tuple[str, ...]:
    """The field names of a record class or instance, in declaration order."""
    names: tuple[str, ...] = getattr(kind, FIELDS)
    return names


def field_types(kind: type) -> dict[str, Any]:
    """Each field's type, its annotation (a string, under ``from __future__ import
    annotations``) evaluated in the class's module, as ``typing.get_type_hints`` gives it: all
    of a class's annotations in one evaluation, once (the checkpoint's reader asks for every
    class at each load: a third of what get_type_hints takes)."""
    found = _TYPES.get(kind)
    if found is None:
        annotations = dict(_WRITTEN[kind])
        written = {name: text for name, text in annotations.items() if isinstance(text, str)}
        if written:
            source = f"({', '.join(written.values())},)"  # the class's own annotations
            module = vars(sys.modules[kind.__module__])
            annotations.update(zip(written, eval(source, module), strict=True))
        found = _TYPES[kind] = annotations
    return found


def is_recordclass(kind: Any) -> bool:
    """Whether ``kind`` is a class made by ``@recordclass``."""
    return isinstance(kind, type) and FIELDS in kind.__dict__


@dataclass_transform(field_specifiers=(field,))
def recordclass(cls: type[T]) -> type[T]:
    """Give ``cls`` an ``__init__`` over its annotated fields, ``__eq__`` and ``__repr__``."""
    # the class's own annotations, as inspect.get_annotations reads them, without inspect
    written = dict(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063
    names = tuple(written)
    defaults: dict[str, Any] = {}
    for name in names:
        value = cls.__dict__.get(name, _MISSING)
        if value is _MISSING:
            if defaults:
                raise TypeError(f"{cls.__name__}.{name}: a field without a default follows one")
            continue
        if isinstance(value, _MUTABLE):
            raise TypeError(f"{cls.__name__}.{name}: a mutable default needs default_factory")
        defaults[name] = value
        if isinstance(value, _Factory):
            delattr(cls, name)  # the class keeps plain defaults only, as dataclasses do
    setattr(cls, FIELDS, names)
    _WRITTEN[cls] = written
    cls.__init__ = _initializer(cls.__name__, names, defaults)  # type: ignore[method-assign]
    cls.__eq__ = _eq  # type: ignore[method-assign,assignment]
    cls.__repr__ = _repr  # type: ignore[method-assign]
    cls.__hash__ = None  # type: ignore[assignment]  # mutable and compared by value
    return cls


def _initializer(
    kind: str, names: tuple[str, ...], defaults: dict[str, Any]
) -> Callable[..., None]:
    known = frozenset(names)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(f"{kind}() takes {len(names)} arguments, {len(args)} given")
        given = dict(zip(names, args, strict=False))  # fewer args than fields: the rest by name
        for name, value in kwargs.items():
            if name not in known:
                raise TypeError(f"{kind}() got an unexpected keyword argument {name!r}")
            if name in given:
                raise TypeError(f"{kind}() got multiple values for argument {name!r}")
            given[name] = value
        values = self.__dict__
        for name in names:
            value = given.get(name, _MISSING)
            if value is _MISSING:
                value = defaults.get(name, _MISSING)
                if value is _MISSING:
                    raise TypeError(f"{kind}: no value for required field {name!r}")
                if isinstance(value, _Factory):
                    value = value.make()
            values[name] = value

    __init__.__qualname__ = f"{kind}.__init__"
    return __init__


def _eq(self: Any, other: object) -> object:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return all(getattr(self, name) == getattr(other, name) for name in fields(self))


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in fields(self))
    return f"{type(self).__qualname__}({shown})"
