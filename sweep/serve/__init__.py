"""``sweep serve``: explore a sweep or a trainability image in the browser.

    from sweep.serve import Shown, create_app
    from sweep.serve.sweepview import open_sweep

    app = create_app(Shown(sweep=open_sweep("sweep-results")))   # any ASGI server runs it

The sweep view shows the outcome, iterations and loss maps of a finished sweep folder: hover
names a cell's settings, a click traces that run (``sweep.trace``), and controls recompute a
small grid with other fixed settings. The trainability view recomputes the image for every
window a person zooms to, with its box-counting dimension, and saves a view as a
``sweep fractal`` folder.
"""

from sweep.serve.app import Shown, create_app

__all__ = ["Shown", "create_app"]
