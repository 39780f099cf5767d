"""How the API reads a request's JSON body and query string (ADR 0016).

A body must be one JSON object of bounded depth; a query value, like any text, holds no
control character. Both are checked here once for every operation."""

from __future__ import annotations

from typing import Any, cast

from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from ninja.errors import ValidationError
from ninja.parser import Parser

from heroshhi.core.text import (
    CONTROL_CHARACTER_MESSAGE,
    JsonRefused,
    has_control_character,
    load_json,
)


class ApiParser(Parser):
    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = load_json(request.body)
        if not isinstance(data, dict):
            raise JsonRefused("not_an_object")
        return cast(dict[str, Any], data)

    def parse_querydict(
        self, data: MultiValueDict[str, Any], list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        message = str(CONTROL_CHARACTER_MESSAGE)
        refused = [
            # A refused key is not echoed back: the error names the query string instead.
            {"loc": ("query", "query" if has_control_character(key) else key), "msg": message}
            for key, values in data.lists()
            if has_control_character(key)
            or any(isinstance(value, str) and has_control_character(value) for value in values)
        ]
        if refused:
            raise ValidationError(refused)
        return super().parse_querydict(data, list_fields, request)
