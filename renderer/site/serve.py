"""Preview a built site over HTTP on this machine only (127.0.0.1)."""

from __future__ import annotations

import functools
import http.server
from pathlib import Path

from ..errors import BadInputError


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def make_server(site: Path, port: int = 8000) -> http.server.ThreadingHTTPServer:
    """An HTTP server for ``site`` on 127.0.0.1 (``port=0`` picks a free port)."""
    if not (Path(site) / "index.html").is_file():
        raise BadInputError(site, "no index.html here; run `renderer site build` first")
    handler = functools.partial(_QuietHandler, directory=str(site))
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise BadInputError(f"port {port}", f"cannot listen ({exc.strerror or exc})") from None
