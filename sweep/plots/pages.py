"""HTML pages from Jinja2 templates (``sweep/templates/``), with autoescape on: every value
that reaches a page, from a figure's caption to a loss formula read from a shared folder, is
escaped, so a page can never run what a ``sweep.json`` holds."""

from __future__ import annotations

import base64
import functools


@functools.lru_cache(maxsize=1)
def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sweep.plots", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["b64"] = lambda data: base64.b64encode(data).decode()
    return env


def render(template: str, **context) -> str:
    """The page ``template`` (a file name in ``sweep/templates``) filled with ``context``.

    Raises:
        jinja2.UndefinedError: if the template uses a name the context lacks (a bug in
            sweep, never the user's input).
    """
    return _environment().get_template(template).render(**context)
