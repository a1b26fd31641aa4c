"""Jinja2 templates from the top-level `templates/` folder, shipped inside the wheel.

An installed wheel carries them as `kbmc/templates/` (see pyproject.toml); a
checkout or editable install finds them at the project root.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from kbmc.errors import KbmcError


def templates_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise KbmcError(f"kbmc's templates are missing (looked in {here / 'templates'}); reinstall kbmc")


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2  # only commands that render pay for it

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        bytecode_cache=_bytecode_cache(jinja2),
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - YAML, not HTML
    )
    env.filters["yaml"] = yaml_scalar
    return env


_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9._/-]*")  # used with fullmatch: `$` would allow a final newline
# Words YAML 1.1 (PyYAML, and so many tools) reads as booleans or null.
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def yaml_scalar(value: Any) -> str:
    """A scalar as YAML: plain when that cannot be misread, else a JSON string (valid YAML).

    Every value in a template goes through this filter, so no input can inject YAML.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    return double_quoted(text)


# What YAML parsers refuse raw in a document or read as a line break (so a round trip would change
# the value): DEL and the C1 controls (NEL among them), LINE/PARAGRAPH SEPARATOR, BOM, non-characters,
# and lone surrogates. JSON's own escapes already cover C0 controls, quotes and backslashes.
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def double_quoted(text: str) -> str:
    """A YAML double-quoted scalar that any YAML parser reads back as exactly `text`.

    A JSON string is a valid YAML double-quoted scalar; characters YAML cannot carry raw
    are written as `\\uXXXX` escapes, which both YAML and JSON define.
    """
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


def _bytecode_cache(jinja2: Any) -> Any:
    """Compiled templates cached per user (like .pyc files): compiling costs more than all else in a render.

    Jinja keys the cache by template path and checksum, so an edited template is recompiled.
    No cache when the directory cannot be made private.
    """
    from kbmc.cache import cache_dir

    root = cache_dir("templates")
    return None if root is None else jinja2.FileSystemBytecodeCache(str(root))


def render(template: str, **values: Any) -> str:
    import jinja2

    try:
        return str(_environment().get_template(template).render(**values))
    except jinja2.UndefinedError as exc:
        raise KbmcError(f"template {template}: {exc.message}") from None
