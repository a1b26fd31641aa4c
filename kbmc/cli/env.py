"""`kbmc env`: the data-plane kubeconfig Secret and the reachability preflight."""

from __future__ import annotations

import typer

app = typer.Typer(help="The data-plane kubeconfig Secret and the reachability preflight.", no_args_is_help=True)
