"""A recording stand-in for an external CLI we cannot run here (cilium, kbcli, helm).

Each call is appended as one JSON line to $KBMC_STANDIN_LOG: tool, argv, the
subcommand path and the kube context. Arguments are checked the way the real
tool's flag parser would: unknown subcommands and flags, flags missing their
value, `--set` values that helm's parser rejects, and the runbook's em-dash
flags (`—context`) are refused with a non-zero exit and an error on stderr.
$KBMC_STANDIN_FAIL="tool:code:message" makes that tool fail on purpose.
"""

from __future__ import annotations

import json
import os
import re
import sys

# tool -> (subcommand paths, flags taking a value, boolean flags, flag naming the kube context)
_COMMON_VALUE = {"--kubeconfig"}
SPECS: dict[str, tuple[set[tuple[str, ...]], set[str], set[str], str]] = {
    "cilium": (
        {("version",), ("status",), ("install",), ("upgrade",), ("uninstall",), ("clustermesh", "enable"),
         ("clustermesh", "disable"), ("clustermesh", "status"), ("clustermesh", "connect"),
         ("clustermesh", "disconnect"), ("connectivity", "test")},
        {"--context", "--set", "--version", "--service-type", "--destination-context", "--connection-mode",
         "--parallel", "--wait-duration", "-n", "--namespace"},
        {"--wait", "--enable-kvstoremesh"},
        "--context",
    ),
    "kbcli": (
        {("version",), ("kubeblocks", "install"), ("kubeblocks", "upgrade"), ("kubeblocks", "status"),
         ("kubeblocks", "uninstall"), ("addon", "list"), ("addon", "enable")},
        {"--context", "--set", "--set-string", "-f", "--values", "--version", "--timeout", "-n", "--namespace"},
        {"--create-namespace", "--wait", "--all", "--auto-approve"},
        "--context",
    ),
    "helm": (
        {("version",), ("install",), ("upgrade",), ("uninstall",), ("status",), ("list",), ("repo", "add"),
         ("repo", "update"), ("get", "values")},
        {"--kube-context", "--set", "--set-string", "-f", "--values", "--version", "--timeout", "-n",
         "--namespace", "-o", "--output"},
        {"--create-namespace", "--wait", "--install", "--atomic", "--all-namespaces", "-A"},
        "--kube-context",
    ),
}
_SET_FLAGS = {"--set", "--set-string"}
_VALUE_OPTS = {"--set", "--set-string", "--set-file", "--set-json", "-f", "--values"}  # kbcli: helm's value flags

# Subcommands whose flags differ from the tool's common set, as the real tool defines them:
# path -> (flags taking a value, boolean flags, takes positional arguments).
# kbcli kubeblocks install/upgrade: apecloud/kbcli pkg/cmd/kubeblocks/install.go and upgrade.go (cobra.NoArgs).
COMMAND_SPECS: dict[tuple[str, tuple[str, ...]], tuple[set[str], set[str], bool]] = {
    ("kbcli", ("kubeblocks", "install")): (
        _VALUE_OPTS | {"--context", "--version", "-n", "--namespace", "--timeout", "--pod-anti-affinity",
                       "--topology-keys", "--node-labels", "--tolerations"},
        {"--create-namespace", "--check", "--wait", "--wait-addons", "--force"},
        False,
    ),
    ("kbcli", ("kubeblocks", "upgrade")): (
        _VALUE_OPTS | {"--context", "--version", "-n", "--namespace", "--timeout"},
        {"--check", "--wait", "--auto-approve"},
        False,
    ),
}
_BOOL_VALUES = {"true", "false", "1", "0", "t", "f", "True", "False", "TRUE", "FALSE"}


def _split_set(value: str) -> list[str]:
    """Split a --set value at unescaped commas, as helm's strvals parser does."""
    return [p.replace("\\,", ",") for p in re.split(r"(?<!\\),", value)]


def _command_of(tool: str, argv: list[str]) -> tuple[str, ...] | None:
    words = [a for a in argv if not a.startswith("-")]
    for n in (2, 1):
        if (tool, tuple(words[:n])) in COMMAND_SPECS:
            return tuple(words[:n])
    return None


def parse(tool: str, argv: list[str]) -> tuple[tuple[str, ...], dict[str, list[str]], list[str]]:
    paths, value_flags, bool_flags, _ = SPECS[tool]
    value_flags = value_flags | _COMMON_VALUE
    specific = _command_of(tool, argv)
    positional_ok = True
    if specific is not None:
        value_flags, bool_flags, positional_ok = COMMAND_SPECS[(tool, specific)]
        value_flags = value_flags | _COMMON_VALUE
    words: list[str] = []
    flags: dict[str, list[str]] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg[:1] in ("\u2014", "\u2013"):
            raise SystemExit(_fail(f'unknown command "{arg}" for "{tool}" (an em dash is not "--")'))
        if arg.startswith("-"):
            name, eq, inline = arg.partition("=")
            if name in bool_flags:
                if eq and inline not in _BOOL_VALUES:
                    raise SystemExit(_fail(f'invalid argument "{inline}" for "{name}" flag: strconv.ParseBool: '
                                           f'parsing "{inline}": invalid syntax'))
                flags.setdefault(name, []).append(inline if eq else "true")
            elif name in value_flags:
                if eq:
                    value = inline
                elif i + 1 < len(argv):
                    i += 1
                    value = argv[i]
                else:
                    raise SystemExit(_fail(f"flag needs an argument: {name}"))
                if name in _SET_FLAGS:
                    for item in _split_set(value):
                        if "=" not in item:
                            raise SystemExit(_fail(f'failed parsing {name} data: key "{item}" has no value'))
                if name in ("-f", "--values") and not os.path.isfile(value):
                    raise SystemExit(_fail(f"open {value}: no such file or directory"))
                flags.setdefault(name, []).append(value)
            else:
                raise SystemExit(_fail(f"unknown flag: {name}"))
        else:
            words.append(arg)
        i += 1
    for n in (2, 1):
        if tuple(words[:n]) in paths:
            if words[n:] and not positional_ok:
                raise SystemExit(_fail(f'unknown command "{words[n]}" for "{tool} {" ".join(words[:n])}"'))
            return tuple(words[:n]), flags, words[n:]
    raise SystemExit(_fail(f'unknown command "{" ".join(words)}" for "{tool}"'))


def _fail(message: str) -> int:
    print(f"Error: {message}", file=sys.stderr)
    return 1


def main(tool: str, argv: list[str]) -> int:
    fail = os.environ.get("KBMC_STANDIN_FAIL", "")
    try:
        command, flags, positional = parse(tool, argv)
    except SystemExit as exc:
        return int(exc.code or 1)
    context_flag = SPECS[tool][3]
    values_files = {path: open(path).read() for name in ("-f", "--values") for path in flags.get(name, [])}
    record = {"tool": tool, "argv": argv, "command": list(command), "flags": flags, "args": positional,
              "context": (flags.get(context_flag) or [None])[-1], "valuesFiles": values_files}
    log = os.environ.get("KBMC_STANDIN_LOG")
    if log:
        with open(log, "a") as fh:
            fh.write(json.dumps(record) + "\n")
    if fail.startswith(f"{tool}:"):
        _, code, message = fail.split(":", 2)
        print(message, file=sys.stderr)
        return int(code)
    if command == ("version",):
        print(f"{tool} stand-in (kbmc tests)")
    return 0
