"""The page of ``sweep serve``, from its Jinja2 template (``sweep/serve/templates``), with
autoescape on: a loss formula or folder name read from a shared folder is text, never markup."""

from __future__ import annotations

import functools

import sweep


@functools.lru_cache(maxsize=1)
def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("sweep.serve", "templates"), autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_page(mode: str) -> str:
    """The page for ``mode`` (``"sweep"`` or ``"fractal"``); the script fetches the rest."""
    return _environment().get_template("serve.html").render(mode=mode, version=sweep.__version__)
