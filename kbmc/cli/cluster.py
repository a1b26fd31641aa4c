"""`kbmc cluster`: cross-cluster database Clusters."""

from __future__ import annotations

import typer

app = typer.Typer(help="Render and create cross-cluster database Clusters.", no_args_is_help=True)
