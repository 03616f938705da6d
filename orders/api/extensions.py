"""Sections other apps add to the order detail of the API (orders imports none of them).

An app registers, in its `AppConfig.ready()`,

    register_detail_section("exceptions", open_cases_of, OpenCaseOut(many=True))

and `OrderOut` (the order as `GET /api/v1/orders/{number}/` and the staff endpoints
answer it) then carries `"exceptions": open_cases_of(order)`. The third argument
documents the section in the OpenAPI schema: a serializer (instance or class), an
`OpenApiTypes` member or a raw schema dict, as `extend_schema_field` takes them.

A section function reads one order: it runs once per detail answer, never in a list,
so one small indexed query is fine. Keys are part of the published contract: pick
them once and never rename them; a key may not shadow a field of the order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

SectionFunction = Callable[[Any], Any]


@dataclass(frozen=True)
class DetailSection:
    key: str
    function: SectionFunction
    field_class: type[serializers.Field]


_sections: dict[str, DetailSection] = {}


class SectionField(serializers.Field):
    """A read-only field whose value is the section function of the whole order."""

    function: SectionFunction

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, order):
        return self.function(order)


def register_detail_section(key: str, function: SectionFunction, schema_field) -> None:
    """Register (or replace) the section `key` of the order detail."""
    if not key.isidentifier():
        raise ValueError(f"detail section key {key!r} must be a plain identifier")
    field_class = extend_schema_field(schema_field)(
        type(f"{key.title().replace('_', '')}SectionField", (SectionField,), {})
    )
    field_class.function = staticmethod(function)
    _sections[key] = DetailSection(key=key, function=function, field_class=field_class)


def detail_section_fields(taken=()) -> dict[str, serializers.Field]:
    """Fresh fields for every registered section (a serializer's `get_fields()`)."""
    clashes = sorted(set(_sections) & set(taken))
    if clashes:
        raise ValueError(f"detail sections shadow fields of the order: {clashes}")
    return {key: section.field_class() for key, section in _sections.items()}
