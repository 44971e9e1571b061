"""loop model info."""

from __future__ import annotations

from loop.cli import command
from loop.views.console import make_console


def info(args) -> int:
    """Which model the workspace uses, where its weights are cached, parameter count and dtype.

    The embedded default is dequantized from its GGUF and cached on first use (about 20-50 s once);
    it never reaches a model hub.
    """
    import json
    from dataclasses import asdict

    from rich.table import Table

    from loop.config import ModelSection
    from loop.model import load_model
    from loop.workspace import open_workspace

    name = args.model
    dtype = ModelSection().dtype
    if name is None:
        try:
            section = open_workspace(args.workspace).config().model
            name, dtype = section.name, section.dtype
        except Exception as err:  # outside a workspace: the default model
            from loop.errors import LoopError

            if not isinstance(err, LoopError):
                raise
            name = ModelSection().name
    _, _, model_info = load_model(name, dtype)
    if args.json:
        print(json.dumps(asdict(model_info)))
        return 0
    table = Table(show_header=False, box=None)
    for key, value in (("model", model_info.name), ("source", model_info.source), ("cached at", model_info.path),
                       ("parameters", f"{model_info.parameters:,} ({model_info.parameters / 1e6:.1f} M)"),
                       ("dtype", model_info.dtype)):
        table.add_row(f"[bold]{key}[/]", str(value))
    make_console().print(table)
    return 0


def register(subparsers) -> None:
    group = subparsers.add_parser("model", help="model information")
    sub = group.add_subparsers(dest="verb", metavar="VERB", required=True)
    p = command(sub, "info", info)
    p.add_argument("--model", help="model name, HF id or directory (default: from loop.toml)")
    p.add_argument("--json", action="store_true", help="print JSON")
