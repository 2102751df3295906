"""Preview a built site over HTTP on this machine only (127.0.0.1), as a good host serves it:
text gzipped, content-hashed media cached for good, everything else revalidated."""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import os
import re
from pathlib import Path

from ..errors import BadInputError

# media/<group>/[<stem>-]<10 hex>[-<width>].<ext>: the name changes whenever the bytes do.
HASHED = re.compile(r"/media/(?:.+[-/])?[0-9a-f]{10}(?:-\d+)?\.(?:png|webp|jpg|mp4|webm)$")
GZIP_TYPES = (".html", ".css", ".js", ".xml", ".svg", ".json", ".txt")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def cache_control(path: str) -> str:
    """``Cache-Control`` for a URL path: forever for hashed media, revalidate for the rest."""
    return IMMUTABLE if HASHED.search(path.split("?", 1)[0]) else REVALIDATE


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def handle(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client left
            super().handle()

    def end_headers(self) -> None:
        self.send_header("Cache-Control", cache_control(self.path))
        super().end_headers()

    def _text_file(self) -> str | None:
        """The file a request names when it is text worth gzipping, else None (a folder
        without its "/" too: the base class redirects it)."""
        path = self.translate_path(self.path)
        if os.path.isdir(path):
            if not self.path.split("?", 1)[0].endswith("/"):
                return None
            path = os.path.join(path, "index.html")
        return path if path.endswith(GZIP_TYPES) and os.path.isfile(path) else None

    def _send_gzip(self, head: bool) -> bool:
        """Send the file gzipped when the client takes gzip and it is text (a ``.gz`` that
        ``--precompress`` wrote is sent as it is). False: nothing sent."""
        path = self._text_file()
        if path is None or "gzip" not in self.headers.get("Accept-Encoding", ""):
            return False
        pre = Path(path + ".gz")
        if pre.is_file() and pre.stat().st_mtime >= os.stat(path).st_mtime:
            body = pre.read_bytes()
        else:
            body = gzip.compress(Path(path).read_bytes(), compresslevel=6, mtime=0)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)
        return True

    def do_GET(self) -> None:
        if not self._send_gzip(head=False):
            super().do_GET()

    def do_HEAD(self) -> None:
        if not self._send_gzip(head=True):
            super().do_HEAD()


def make_server(site: Path, port: int = 8000) -> http.server.ThreadingHTTPServer:
    """An HTTP server for ``site`` on 127.0.0.1 (``port=0`` picks a free port)."""
    if not (Path(site) / "index.html").is_file():
        raise BadInputError(site, "no index.html here; run `renderer site build` first")
    handler = functools.partial(_Handler, directory=str(site))
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise BadInputError(f"port {port}", f"cannot listen ({exc.strerror or exc})") from None
