"""The typer application: global options, command groups, and the one place errors become exit codes."""

import os
import sys
from typing import Annotated, Optional

import typer

from kbmc import __version__, redact
from kbmc.cli.state import Globals, parse_duration, split_contexts, state_of
from kbmc.errors import EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED, InputError, KbmcError, ValidationError
from kbmc.output import FORMATS, Output

app = typer.Typer(
    name="kbmc",
    help="Set up and run KubeBlocks across several Kubernetes clusters (one control plane, N data planes).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,  # locals would print kubeconfig credentials
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


@app.callback()
def root(
    ctx: typer.Context,
    kubeconfig: Annotated[Optional[str], typer.Option(
        "--kubeconfig", help="Kubeconfig file (default: KUBECONFIG, merged like kubectl, else ~/.kube/config).",
        show_default=False)] = None,
    context: Annotated[Optional[str], typer.Option(
        "--context", help="The control plane's kube context (default: kbmc.yaml, else current-context).",
        show_default=False)] = None,
    data_planes: Annotated[Optional[str], typer.Option(
        "--data-planes", help="Data-plane contexts, comma-separated (default: kbmc.yaml).", show_default=False)] = None,
    config: Annotated[Optional[str], typer.Option(
        "--config", "-f", help="Topology file (default: ./kbmc.yaml when present).", show_default=False)] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="Output format: table, json or yaml.")] = "table",
    request_timeout: Annotated[Optional[str], typer.Option(
        "--request-timeout", help="How long one API request may take before its cluster counts as unreachable: "
        "seconds, or a duration like 10s or 1m (default 30s).", show_default=False)] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colours (also: NO_COLOR).")] = False,
) -> None:
    if output not in FORMATS:
        raise InputError(f"--output {output!r} is not one of {', '.join(FORMATS)}")
    ctx.obj = Globals(
        kubeconfig_path=kubeconfig,
        context=context,
        data_planes=split_contexts(data_planes, "--data-planes"),
        config_path=config,
        output=output,
        request_timeout=parse_duration(request_timeout, "--request-timeout") if request_timeout is not None else None,
        debug=debug,
        no_color=no_color,
        out=Output(fmt=output, no_color=no_color),
    )


@app.command()
def version(ctx: typer.Context) -> None:
    """Print kbmc's version."""
    state = state_of(ctx)
    if state.out.machine:
        state.out.data({"version": __version__})
    else:
        state.out.raw(f"kbmc {__version__}\n")


# The options that may stand anywhere on the command line, as with kubectl.
_GLOBAL_WITH_VALUE = {"--kubeconfig", "--context", "--data-planes", "--config", "-f", "--output", "-o",
                      "--request-timeout"}
_GLOBAL_FLAGS = {"--debug", "--no-color"}


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move global options given after the subcommand to the front, so click parses them.

    `kbmc env prepare --context cp` then means the same as `kbmc --context cp env prepare`.
    """
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        name = arg.split("=", 1)[0]
        if arg in _GLOBAL_FLAGS:
            front.append(arg)
        elif name in _GLOBAL_WITH_VALUE and "=" in arg:
            front.append(arg)
        elif arg in _GLOBAL_WITH_VALUE and i + 1 < len(argv):
            front.extend(argv[i:i + 2])
            i += 1
        elif len(arg) > 2 and arg[:2] in ("-o", "-f") and not arg.startswith("--"):
            front.append(arg)  # -ojson, -fkbmc.yaml
        else:
            rest.append(arg)
        i += 1
    return front + rest


# Command groups by name. Only the group a command line uses is imported and
# registered (click's "lazy group" pattern): typer inspects every registered
# command's signature on each run, and start-up must stay close to kubectl's.
_GROUPS = {
    "init": "kbmc.cli.topology",
    "validate": "kbmc.cli.topology",
    "env": "kbmc.cli.env",
    "cluster": "kbmc.cli.cluster",
    "operator": "kbmc.cli.operator",
    "rbac": "kbmc.cli.rbac",
    "network": "kbmc.cli.network",
    "contexts": "kbmc.cli.contexts",
    "doctor": "kbmc.cli.doctor",
}
_registered: set[str] = set()


def register_groups(args: list[str] | None = None) -> None:
    """Register the group named in `args`, or every group (for help, completion, or an unknown name)."""
    import importlib

    wanted = _command_word(args or [])
    modules = [_GROUPS[wanted]] if wanted in _GROUPS else list(dict.fromkeys(_GROUPS.values()))
    for word, module_name in _GROUPS.items():
        if module_name not in modules or module_name in _registered:
            continue
        module = importlib.import_module(module_name)
        if hasattr(module, "register"):  # top-level commands
            module.register(app)
        else:  # a command group
            app.add_typer(module.app, name=word)
        _registered.add(module_name)


def _command_word(args: list[str]) -> str | None:
    """The first word that is not a global option or its value."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _GLOBAL_WITH_VALUE:
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        return arg
    return None


def _check_arguments(args: list[str]) -> None:
    """Arguments must be text: bytes that are not UTF-8 reach Python as lone surrogates, which no output can carry."""
    from kbmc.validation import utf8

    for i, arg in enumerate(args, start=1):
        if err := utf8(arg):
            raise InputError(f"argument {i} {err}", hint="pass text in UTF-8")


def _looks_like_url_with_userinfo(arg: str) -> bool:
    """`scheme://…@…`, or a scheme-less `user:password@host` (also after `CTX=`)."""
    import re

    return "@" in arg and ("://" in arg or re.search(r"(?:^|=)[^/=@\s]+:[^/@\s]*@", arg) is not None)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turn every error into one line on stderr and an exit code."""
    from click.exceptions import ClickException, UsageError

    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    # Shell completion asks about any word: give it every group.
    register_groups(None if any(k.endswith("_COMPLETE") for k in os.environ) else args)
    debug = "--debug" in args
    for arg in args:  # credentials in URLs given as flags (--server CTX=https://user:pw@host)
        if _looks_like_url_with_userinfo(arg):  # not a path such as …/metallb@v0.15.2/charts
            redact.register_url(arg)
    out = Output(no_color="--no-color" in args)
    _route_warnings(out)
    try:
        _check_arguments(args)
        result = app(args=args, prog_name="kbmc", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        code = EXIT_INTERRUPTED
    except UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help is the answer
            sys.stderr.write(exc.format_message() + "\n")
        else:  # one line, like every other kbmc error, instead of click's usage block
            where = exc.ctx.command_path if exc.ctx else "kbmc"
            out.error(f"{exc.format_message()} (see '{where} --help')")
        code = EXIT_INPUT
    except ClickException as exc:
        out.error(exc.format_message())  # through Output: an argument may carry a credential
        code = exc.exit_code
    except KbmcError as exc:
        if debug:
            out.traceback(exc)
        if isinstance(exc, ValidationError) and len(exc.problems) > 1:
            for problem in exc.problems:  # one line each, so every problem can be fixed in one go
                out.error(f"{exc.source}: {problem}")
        else:
            out.error(str(exc))
        code = exc.exit_code
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line unless --debug
        if debug:
            out.traceback(exc)
        out.error(f"unexpected {type(exc).__name__}: {exc}" + ("" if debug else " (rerun with --debug for details)"))
        code = EXIT_FAILED
    sys.exit(code)


def _route_warnings(out: Output) -> None:
    """Python warnings (from libraries too) reach the terminal through Output, so they are redacted."""
    import warnings

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: object = None, line: str | None = None) -> None:
        out.warn(f"{category.__name__}: {message}")

    warnings.showwarning = show
