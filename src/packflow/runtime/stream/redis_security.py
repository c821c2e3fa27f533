"""TLS and ACL credentials for the Redis Streams driver, and keeping them out of every message.

``rediss://USER:PASSWORD@HOST:PORT/DB`` connects over TLS as a Redis ACL user; the CA bundle and a
client certificate come from ``--redis-ca-certs``/``--redis-certfile``/``--redis-keyfile`` (or the
URL's own ``ssl_ca_certs=…``, ``ssl_certfile=…``, ``ssl_keyfile=…`` query parameters, which
redis-py reads). :func:`redact_url` is what logs, ``--status`` lines and errors show instead of the
URL: the password is replaced by ``***``.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from packflow.exceptions import ConfigurationError

__all__ = ["redact_text", "redact_url", "remember_secrets", "tls_options"]


def redact_url(url: str) -> str:
    """``url`` with its password (and any ``password=`` query value) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable Redis URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo or not user else f"{user}@{host}"
        if ":" not in userinfo and userinfo:  # redis://SECRET@host: a bare password in the user slot
            netloc = f"***@{host}"
    query = "&".join(
        f"{k}=***" if k.lower() == "password" else f"{k}={v}" if sep else k
        for k, sep, v in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str, url: str) -> str:
    """``text`` (e.g. a client library's error message) with the URL's password removed."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    out = text.replace(url, redact_url(url))
    return out.replace(password, "***") if password else out


def remember_secrets(url: str) -> None:
    """Mask the URL's password (as written and percent-decoded) in every log line and error of the process."""
    from packflow._redact import add_secret

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return
    query = [v for k, v in parse_qsl(parts.query) if k.lower() == "password"]
    add_secret(password, unquote(password) if password else None, *query)


def tls_options(url: str, ca_certs: str | None, certfile: str | None, keyfile: str | None) -> dict[str, Any]:
    """redis-py keyword arguments for the TLS files; ``ConfigurationError`` when they do not fit."""
    given = {"--redis-ca-certs": ca_certs, "--redis-certfile": certfile, "--redis-keyfile": keyfile}
    if not any(given.values()):
        return {}
    if not url.startswith("rediss://"):
        raise ConfigurationError("--redis-ca-certs/--redis-certfile/--redis-keyfile need a rediss:// URL (TLS).")
    if bool(certfile) != bool(keyfile):
        raise ConfigurationError("A Redis client certificate needs both --redis-certfile and --redis-keyfile.")
    for option, path in given.items():
        if path and not os.path.isfile(path):
            raise ConfigurationError(f"{option} {path!r} is not a file.")
    options: dict[str, Any] = {}
    if ca_certs:
        options["ssl_ca_certs"] = ca_certs
    if certfile:
        options.update(ssl_certfile=certfile, ssl_keyfile=keyfile)
    return options
