"""User values read exactly as helm reads them (so comparing with the stored release is exact).

helm (and kbcli, which uses helm's library) builds the user-supplied values in `values.Options.MergeValues`:
`--values` files through sigs.k8s.io/yaml (go-yaml v2 typing, then a JSON round trip: map keys become strings,
every number a float64), then each `--set` and `--set-string` through `pkg/strvals`. The release stores the
result as JSON. `read_values_file`, `parse_into` and `stored` below follow those sources (helm v3.19,
sigs.k8s.io/yaml v1.6, go.yaml.in/yaml/v2 v2.4) and are checked against the real helm binary in the tests.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

MAX_INDEX = 65536
MAX_NESTED_NAME_LEVEL = 30


class ValuesError(ValueError):
    """What helm would refuse (its own words where it has some)."""


# ---------------------------------------------------------------- strvals (pkg/strvals/parser.go)

class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def read(self) -> str | None:
        if self.pos >= len(self.text):
            return None
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    def unread(self) -> None:
        self.pos -= 1


class _EOF(Exception):
    pass


class _NotList(Exception):
    pass


def _runes_until(sc: _Scanner, stop: str) -> tuple[str, str | None]:
    """Characters up to one in `stop` (consumed, returned); a backslash takes the next character literally.
    Raises _EOF (with what was read) at the end of input."""
    out: list[str] = []
    while True:
        ch = sc.read()
        if ch is None:
            raise _EOFWith("".join(out))
        if ch in stop:
            return "".join(out), ch
        if ch == "\\":
            nxt = sc.read()
            if nxt is None:
                raise _EOFWith("".join(out))
            out.append(nxt)
        else:
            out.append(ch)


class _EOFWith(_EOF):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


_GO_INT = re.compile(r"^[+-]?[0-9]+$")
_INT64 = (-(2 ** 63), 2 ** 63 - 1)


def typed_value(text: str, as_string: bool) -> Any:
    """strvals' typedVal: true/false/null (any case), 0, and int64 not starting with 0; else the string."""
    if as_string:
        return text
    low = text.casefold()
    if low == "true":
        return True
    if low == "false":
        return False
    if low == "null":
        return None
    if text == "0":
        return 0
    if text and text[0] != "0" and _GO_INT.match(text):
        value = int(text)
        if _INT64[0] <= value <= _INT64[1]:
            return value
    return text


class _Parser:
    def __init__(self, text: str, data: dict[str, Any], as_string: bool) -> None:
        self.sc = _Scanner(text)
        self.data = data
        self.as_string = as_string

    def reader(self, text: str) -> Any:
        return typed_value(text, self.as_string)

    def parse(self) -> None:
        while True:
            try:
                self.key(self.data, 0)
            except _EOF:
                return

    def key(self, data: dict[str, Any], level: int) -> None:
        try:
            k, last = _runes_until(self.sc, "=[,.")
        except _EOFWith as eof:
            if not eof.text:
                raise _EOF() from None
            raise ValuesError(f'key "{eof.text}" has no value') from None
        if last == "[":
            index = self.key_index()
            existing = data.get(k, _MISSING)
            if existing is _MISSING:
                items: list[Any] = []
            elif isinstance(existing, list):
                items = existing
            else:
                raise ValuesError(f"unable to parse key: {k!r} is {_go_type(existing)}, not a list")
            try:
                items = self.list_item(items, index, level)
            finally:
                _set(data, k, items)
            return
        if last == "=":
            try:
                values = self.val_list()
            except _EOF:
                _set(data, k, "")
                raise
            except _NotList:
                text, _ = self.val()  # the end of input is found by the next key (helm returns nil here)
                _set(data, k, self.reader(text))
                return
            _set(data, k, values)
            return
        if last == ",":
            _set(data, k, "")
            raise ValuesError(f'key "{k}" has no value (cannot end with ,)')
        # last == "."
        level += 1
        if level > MAX_NESTED_NAME_LEVEL:
            raise ValuesError("value name nested level is greater than maximum supported nested level of "
                              f"{MAX_NESTED_NAME_LEVEL}")
        existing = data.get(k, _MISSING)
        if existing is _MISSING:
            inner: dict[str, Any] = {}
        elif isinstance(existing, dict):
            inner = existing
        else:
            raise ValuesError(f"unable to parse key: {k!r} is {_go_type(existing)}, not a map")
        try:
            self.key(inner, level)
        except _EOF:
            if inner:
                _set(data, k, inner)
            raise
        except ValuesError:
            if inner:
                _set(data, k, inner)
            raise
        if not inner:
            raise ValuesError(f'key map "{k}" has no value')
        _set(data, k, inner)

    def key_index(self) -> int:
        try:
            text, _ = _runes_until(self.sc, "]")
        except _EOFWith:
            raise ValuesError("error parsing index: EOF") from None
        if not re.fullmatch(r"[+-]?[0-9]+", text) or not _INT64[0] <= int(text) <= _INT64[1]:
            raise ValuesError(f'error parsing index: strconv.Atoi: parsing "{text}": invalid syntax')
        return int(text)

    def list_item(self, items: list[Any], i: int, level: int) -> list[Any]:
        if i < 0:
            raise ValuesError(f"negative {i} index not allowed")
        try:
            k, last = _runes_until(self.sc, "[.=")
        except _EOFWith as eof:
            if eof.text:
                raise ValuesError(f"unexpected data at end of array index: {eof.text!r}") from None
            raise _EOF() from None
        if k:
            raise ValuesError(f"unexpected data at end of array index: {k!r}")
        if last == "=":
            try:
                values = self.val_list()
            except _EOF:
                return _set_index(items, i, "")
            except _NotList:
                text, _ = self.val()
                return _set_index(items, i, self.reader(text))
            return _set_index(items, i, values)
        if last == "[":
            next_i = self.key_index()
            current: list[Any] = []
            if len(items) > i and items[i] is not None:
                if not isinstance(items[i], list):
                    raise ValuesError(f"unable to parse key: index {i} is {_go_type(items[i])}, not a list")
                current = items[i]
            return _set_index(items, i, self.list_item(current, next_i, level))
        # last == "."
        inner: dict[str, Any] = {}
        if len(items) > i:
            if isinstance(items[i], dict):
                inner = items[i]
            else:
                items[i] = inner
        self.key(inner, level)
        return _set_index(items, i, inner)

    def val(self) -> tuple[str, bool]:
        try:
            text, _ = _runes_until(self.sc, ",")
            return text, False
        except _EOFWith as eof:
            return eof.text, True

    def val_list(self) -> list[Any]:
        ch = self.sc.read()
        if ch is None:
            raise _EOF()
        if ch != "{":
            self.sc.unread()
            raise _NotList()
        out: list[Any] = []
        while True:
            try:
                text, last = _runes_until(self.sc, ",}")
            except _EOFWith:
                raise ValuesError("list must terminate with '}'") from None
            if last == "}":
                nxt = self.sc.read()
                if nxt is not None and nxt != ",":
                    self.sc.unread()
                out.append(self.reader(text))
                return out
            out.append(self.reader(text))


_MISSING = object()


def _go_type(value: Any) -> str:
    if value is None:
        return "nil"
    return {dict: "a map", list: "a list", str: "a string", bool: "a bool", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__)


def _set(data: dict[str, Any], key: str, value: Any) -> None:
    if key:
        data[key] = value


def _set_index(items: list[Any], index: int, value: Any) -> list[Any]:
    if index < 0:
        raise ValuesError(f"negative {index} index not allowed")
    if index > MAX_INDEX:
        raise ValuesError(f"index of {index} is greater than maximum supported index of {MAX_INDEX}")
    if len(items) <= index:
        items = items + [None] * (index + 1 - len(items))
    items[index] = value
    return items


def parse_into(text: str, dest: dict[str, Any], *, as_string: bool = False) -> None:
    """strvals.ParseInto / ParseIntoString: one `--set`/`--set-string` argument merged into `dest` in place."""
    _Parser(text, dest, as_string).parse()


# ---------------------------------------------------------------- values files (sigs.k8s.io/yaml + yaml.v2)

_FLOAT_STYLE = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_DOT_FLOAT = re.compile(r"^[-+]?\.[0-9]+([eE][-+]?[0-9]+)?$")
_RESOLVE_MAP: dict[str, Any] = {
    **dict.fromkeys(["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"], True),
    **dict.fromkeys(["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"], False),
    **dict.fromkeys(["", "~", "null", "Null", "NULL"], None),
    **dict.fromkeys([".nan", ".NaN", ".NAN"], math.nan),
    **dict.fromkeys([".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"], math.inf),
    **dict.fromkeys(["-.inf", "-.Inf", "-.INF"], -math.inf),
}
_TIMESTAMP = re.compile(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
                        r"(([Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))"
                        r"|( [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?))?$")


def _go_parse_uint(text: str, base: int) -> int | None:
    """strconv.ParseUint(text, base, 64) for base 0 or 2 (underscores already removed)."""
    if not text:
        return None
    if base == 0:
        base = 10
        if text[0] == "0":
            if len(text) >= 3 and text[1] in "bB":
                base, text = 2, text[2:]
            elif len(text) >= 3 and text[1] in "oO":
                base, text = 8, text[2:]
            elif len(text) >= 3 and text[1] in "xX":
                base, text = 16, text[2:]
            else:
                base, text = 8, text[1:]
                if not text:
                    return 0
    digits = "0123456789abcdef"[:base]
    if not text or any(c.lower() not in digits for c in text):
        return None
    value = int(text, base)
    return value if value < 2 ** 64 else None


def _go_parse_int(text: str, base: int) -> int | None:
    if not text:
        return None
    neg = text[0] == "-"
    if text[0] in "+-":
        text = text[1:]
    magnitude = _go_parse_uint(text, base)
    if magnitude is None:
        return None
    value = -magnitude if neg else magnitude
    return value if _INT64[0] <= value <= _INT64[1] else None


def _go_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isinf(value) else value  # Go: out of range is an error


def resolve_plain(text: str) -> Any:
    """go-yaml v2's resolve() for an untagged plain scalar; timestamps stay strings (decoding into interface{})."""
    if text in _RESOLVE_MAP:
        return _RESOLVE_MAP[text]
    hint = text[0]
    if hint == ".":
        if _DOT_FLOAT.match(text):
            value = _go_float(text)
            if value is not None:
                return value
        return text
    if hint in "+-0123456789":
        if _TIMESTAMP.match(text):
            return text
        plain = text.replace("_", "")
        int_value = _go_parse_int(plain, 0)
        if int_value is not None:
            return int_value
        uint_value = _go_parse_uint(plain, 0)
        if uint_value is not None:
            return uint_value
        if _FLOAT_STYLE.match(plain):
            value = _go_float(plain)
            if value is not None:
                return value
        if plain.startswith("0b"):
            for parse in (_go_parse_int, _go_parse_uint):
                found = parse(plain[2:], 2)
                if found is not None:
                    return found
        elif plain.startswith("-0b"):
            found = _go_parse_int("-" + plain[3:], 2)
            if found is not None:
                return found
    return text


_STR = "tag:yaml.org,2002:str"
_PLAIN = "tag:kbmc,plain"


def _loader_class() -> Any:
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[valid-type,misc]
        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            if kind is yaml.ScalarNode:
                return _PLAIN if implicit[0] else _STR
            return str(super().resolve(kind, value, implicit))

    return Loader


def read_values_file(text: str) -> dict[str, Any]:
    """A values file as helm reads it (first YAML document; empty -> {}); raises ValuesError otherwise."""
    import yaml

    loader = _loader_class()(text)
    try:
        node = loader.get_node() if loader.check_node() else None
    except yaml.YAMLError as exc:
        raise ValuesError(f"not valid YAML: {str(exc).splitlines()[0]}") from None
    finally:
        loader.dispose()
    if node is None:
        return {}
    doc = _decode(node, 0)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ValuesError("must be a mapping of chart values")
    return stored(doc)  # type: ignore[no-any-return]


def _decode(node: Any, depth: int) -> Any:
    import yaml

    if depth > 1000:
        raise ValuesError("nesting too deep")
    if isinstance(node, yaml.ScalarNode):
        if node.tag == _PLAIN:
            return resolve_plain(node.value)
        if node.tag == _STR:
            return node.value
        return _tagged(node)
    if isinstance(node, yaml.SequenceNode):
        return [_decode(child, depth + 1) for child in node.value]
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == "<<" and key_node.tag in (
                _PLAIN, "tag:yaml.org,2002:merge"):
            _merge(value_node, out, depth)
            continue
        key = _decode(key_node, depth + 1)
        if isinstance(key, (dict, list)):
            raise ValuesError(f"invalid map key: {key!r}")
        out[_json_key(key)] = _decode(value_node, depth + 1)
    return out


def _merge(node: Any, out: dict[Any, Any], depth: int) -> None:
    """yaml.v2: a merge key copies the mapping(s) in at its position; in a list, earlier mappings win."""
    import yaml

    nodes = list(reversed(node.value)) if isinstance(node, yaml.SequenceNode) else [node]
    for one in nodes:
        if not isinstance(one, yaml.MappingNode):
            raise ValuesError("map merge requires map or sequence of maps as the value")
        out.update(_decode(one, depth + 1))


def _tagged(node: Any) -> Any:
    """Explicitly tagged scalars (`!!int "3"`): resolved as plain, then held to the tag, like go-yaml v2."""
    short = node.tag.replace("tag:yaml.org,2002:", "!!")
    value = resolve_plain(node.value)
    kind = {bool: "!!bool", int: "!!int", float: "!!float", str: "!!str", type(None): "!!null"}[type(value)]
    if short == "!!binary":
        import base64
        import binascii

        try:
            return base64.b64decode(node.value.replace("\n", ""), validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            raise ValuesError("!!binary value contains invalid base64 data") from None
    if short == "!!timestamp" and _TIMESTAMP.match(node.value):
        return node.value
    if short == kind:
        return value
    if short == "!!float" and kind == "!!int":
        return float(value)
    if short.startswith("!!") and short in ("!!bool", "!!int", "!!float", "!!null", "!!timestamp"):
        raise ValuesError(f"cannot decode {kind} `{node.value}` as a {short}")
    return node.value  # a tag go-yaml does not resolve: the text as it is


def _json_key(key: Any) -> str:
    """sigs.k8s.io/yaml's convertToJSONableObject: map keys become strings."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, str):
        return key
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return _format_float32_g(key)
    raise ValuesError(f"unsupported map key of type: {type(key).__name__}, key: {key!r}")


def _format_float32_g(value: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 32), with go-yaml's names for the non-finite ones."""
    import struct

    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    try:
        f32 = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        f32 = math.inf if value > 0 else -math.inf
    if math.isinf(f32):  # beyond float32: Go's conversion gives an infinity
        return ".inf" if f32 > 0 else "-.inf"
    if f32 == 0:
        return "-0" if math.copysign(1, f32) < 0 else "0"
    for digits in range(1, 10):
        text = f"{f32:.{digits - 1}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == f32:
            break
    mantissa, exp_text = text.split("e")
    exp = int(exp_text)
    sign = "-" if mantissa.startswith("-") else ""
    digits_only = mantissa.lstrip("-").replace(".", "").rstrip("0") or "0"
    eprec = 6  # Go's %g with the shortest precision: %e when the exponent is < -4 or >= 6
    if exp < -4 or exp >= eprec:
        tail = digits_only[1:]
        return f"{sign}{digits_only[0]}{'.' + tail if tail else ''}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp >= 0:
        whole = digits_only[:exp + 1].ljust(exp + 1, "0")
        frac = digits_only[exp + 1:]
    else:
        whole, frac = "0", "0" * (-exp - 1) + digits_only
    return f"{sign}{whole}{'.' + frac if frac else ''}"


# ---------------------------------------------------------------- the stored (JSON) form

def stored(value: Any) -> Any:
    """A values-file value as the release stores it: numbers went through float64 (sigs.k8s.io/yaml decodes JSON
    into interface{}), and Go's encoding/json writes integral floats below 1e21 as plain digits."""
    if isinstance(value, dict):
        return {k: stored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [stored(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    number = float(value)
    if not math.isfinite(number):
        raise ValuesError(f"json: unsupported value: {'NaN' if math.isnan(number) else ('+Inf' if number > 0 else '-Inf')}")
    if number.is_integer() and abs(number) < 1e21:
        return int(Decimal(repr(number)))
    return number


def same(a: Any, b: Any) -> bool:
    """Equality of two JSON-like values where true is not 1 (Python's True == 1 would hide a change)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    if isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and a == b
    return bool(a == b)
