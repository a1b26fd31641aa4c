"""YAML in and out, with the fast C loader when PyYAML has it."""

from __future__ import annotations

from typing import Any

import yaml


def _allowed_alias_ratio(decoded: int) -> float:
    """go-yaml's limit (decode.go allowedAliasRatio): generous for small documents, 10% for huge ones."""
    if decoded <= 400_000:
        return 0.99
    if decoded >= 4_000_000:
        return 0.10
    return 0.99 - 0.89 * (decoded - 400_000) / 3_600_000


def _check_aliasing(root: yaml.Node) -> None:
    """Refuse an alias bomb before anything expands it, with go-yaml's (so kubectl's) rule.

    PyYAML shares aliased objects, so loading is cheap, but the first deep copy, repr or JSON dump
    of the result expands every alias (nine levels of nine aliases: 387 million nodes, >2 GB).
    Counted on the node graph: how many nodes (and alias references) a full expansion visits.
    """
    memo: dict[int, tuple[int, int]] = {}
    busy: set[int] = set()

    def visit(node: yaml.Node) -> tuple[int, int]:
        key = id(node)
        if key in memo:  # a second reference to a node is an alias: it expands again
            nodes, aliases = memo[key]
            return nodes, aliases + 1
        if key in busy:
            raise yaml.constructor.ConstructorError(None, None, "an anchor's value contains itself", node.start_mark)
        busy.add(key)
        nodes, aliases = 1, 0
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        for child in children:
            n, a = visit(child)
            nodes += n
            aliases += a
        busy.discard(key)
        memo[key] = (nodes, aliases)
        return nodes, aliases

    nodes, aliases = visit(root)
    if aliases > 100 and nodes > 1000 and aliases / nodes > _allowed_alias_ratio(nodes):
        raise yaml.constructor.ConstructorError(
            None, None, "document contains excessive aliasing (kubectl: yaml: document contains excessive aliasing)",
            root.start_mark)


class _LastWinsLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe loader that keeps the last of duplicate keys (as kubectl does for kubeconfigs)."""

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_aliasing(node)
        return self.construct_document(node)


class _Loader(_LastWinsLoader):
    """A safe loader that refuses duplicate keys instead of keeping the last one (kbmc's own files)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` may override keys: that is what merging means
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                continue  # unhashable: the base class reports it
            if duplicate:
                first = seen[key].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {str(key)[:60]!r} (first at line {first})", key_node.start_mark)
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def _int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    try:
        return yaml.SafeLoader.construct_yaml_int(loader, node)  # type: ignore[no-any-return]
    except ValueError:  # Python refuses to convert integers of more than 4300 digits
        raise yaml.constructor.ConstructorError(
            None, None, f"the integer {node.value[:20]}… ({len(node.value)} digits) is too long", node.start_mark
        ) from None


_LastWinsLoader.add_constructor("tag:yaml.org,2002:int", _int)


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Multi-line strings (an embedded kubeconfig, a script) as readable `|` blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


class YamlError(ValueError):
    """Malformed YAML; the message names the source and the line."""


def _error(exc: yaml.YAMLError, source: str) -> YamlError:
    mark = getattr(exc, "problem_mark", None)
    where = f" line {mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["malformed"])[0]
    return YamlError(f"{source}:{where} is not valid YAML: {problem}")


def load_yaml(text: str, source: str, *, duplicate_keys: str = "refuse") -> Any:
    """One YAML document. Duplicate mapping keys are refused, or with `duplicate_keys="last"` the last
    one wins: that is kubectl's rule for kubeconfigs (sigs.k8s.io/yaml, checked with kubectl 1.32), while
    kbmc's own files refuse them. Excessive aliasing is refused either way."""
    loader = _LastWinsLoader if duplicate_keys == "last" else _Loader
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise _error(exc, source) from None


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
