"""Helpers shared by the archive tests (load with ``load_kit()``: importlib mode cannot import conftest)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def assert_refused(proc: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    """The command exited with ``code``, printed each fragment, and printed no traceback."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, f"exit {proc.returncode}, expected {code}:\n{out}"
    assert "Traceback" not in out, out
    for fragment in fragments:
        assert fragment in out, f"{fragment!r} not in:\n{out}"


def extracted_dirs(cache: Path) -> list[Path]:
    """The published extractions in a cache (temporary and discarded copies excluded)."""
    root = cache / "archives"
    return sorted(p for p in root.iterdir() if not p.name.startswith(".")) if root.is_dir() else []


def make_wheel(dest: Path, name: str = "tinydep", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel ``name`` whose module defines ``VALUE = 42``."""
    import base64
    import hashlib
    import zipfile

    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"VALUE = 42\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    rows = [f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},{len(d)}"
            for n, d in files.items()]
    files[f"{info}/RECORD"] = ("\n".join(rows + [f"{info}/RECORD,,"]) + "\n").encode()
    path = dest / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for entry, data in files.items():
            zf.writestr(entry, data)
    return path


class RecordingServer:
    """An HTTP server on 127.0.0.1 that answers 404 to everything and records each request line."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def _record(self) -> None:
                requests.append(f"{self.command} {self.path}")
                self.send_error(404)

            do_GET = do_HEAD = do_POST = do_CONNECT = _record

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def offline_env(self, home: Path) -> dict[str, str]:
        """Every way pip could be pointed at the network, aimed at this server (and a user pip.conf)."""
        conf = home / ".config" / "pip" / "pip.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(f"[global]\nindex-url = {self.url}/conf-simple\nfind-links = {self.url}/conf-links\n")
        proxy = {k: self.url for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY")}
        return {**proxy, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "NO_PROXY": "", "no_proxy": "",
                "PIP_INDEX_URL": f"{self.url}/env-simple", "PIP_EXTRA_INDEX_URL": f"{self.url}/env-extra",
                "PIP_FIND_LINKS": f"{self.url}/env-links", "PIP_NO_INDEX": "0", "PIP_CONFIG_FILE": str(conf)}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
