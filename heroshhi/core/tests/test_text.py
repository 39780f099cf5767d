"""The plain-text rule (ADR 0016): what it refuses, and that every form applies it."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from django import forms

import heroshhi
from heroshhi.core.forms import PlainTextMixin
from heroshhi.core.tenancy import workspace_scope
from heroshhi.core.text import (
    JsonRefused,
    control_character_paths,
    has_control_character,
    load_json,
)
from heroshhi.leads.models import Lead


@pytest.mark.parametrize(
    "text", ["\x00", "a\x08", "\x0b", "\x1f", "\x7f", "\x80", "\x9f", "\udc80"]
)
def test_control_characters_are_refused(text):
    assert has_control_character(text)


@pytest.mark.parametrize("text", ["", "tab\there", "line\nbreak\r\n", "प्रिया 🙏", "\xa0nbsp"])
def test_tab_line_breaks_and_any_script_are_text(text):
    assert not has_control_character(text)


def test_paths_name_nested_strings_and_keys():
    value = {"items": [{"name": "ok"}, {"tags": ["vip", "a\x00"]}], "bad\x01key": "x"}
    assert sorted(control_character_paths(value)) == ["items.1.tags.1", "request"]


def test_a_deep_value_is_walked_without_recursion():
    deep: list[object] = ["\x00"]
    for _ in range(100_000):
        deep = [deep]
    assert len(list(control_character_paths(deep))) == 1


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("[" * 100_000 + "]" * 100_000, "too_deep"),
        ("[" * 40 + "]" * 40, "too_deep"),
        ("{", "invalid_json"),
        (b"\xff", "invalid_json"),
    ],
)
def test_load_json_refuses_with_a_reason(raw, code):
    with pytest.raises(JsonRefused) as refused:
        load_json(raw)
    assert refused.value.code == code


def _project_forms() -> list[type[forms.BaseForm]]:
    for module in pkgutil.walk_packages(heroshhi.__path__, "heroshhi."):
        if not any(part in module.name for part in (".tests", ".migrations", "__main__")):
            importlib.import_module(module.name)
    found, pending = [], list(forms.BaseForm.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("heroshhi.") and ".tests" not in cls.__module__:
            found.append(cls)
    return found


def test_every_form_of_the_project_applies_the_rule():
    project_forms = _project_forms()
    assert len(project_forms) > 40
    assert [f.__qualname__ for f in project_forms if not issubclass(f, PlainTextMixin)] == []


@pytest.mark.django_db
def test_a_control_character_in_a_page_form_is_a_form_error(client, world):
    client.force_login(world.alice)
    response = client.post(
        f"/w/{world.a.slug}/leads/new/", {"name": "Priya\x01", "phone": "+919876500021"}
    )
    assert response.status_code == 400
    assert "name" in response.context["form"].errors
    with workspace_scope(world.a):
        assert not Lead.objects.exists()
