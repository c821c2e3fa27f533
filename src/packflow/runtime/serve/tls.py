"""TLS and mutual TLS for ``packflow serve``: checked options, turned into uvicorn's ssl settings.

``--ssl-certfile``/``--ssl-keyfile`` switch the port to HTTPS; ``--ssl-ca-certs`` names the CA
bundle that client certificates are verified against; ``--ssl-client-cert`` says whether a client
must present one (``required``: mutual TLS, a client without a certificate fails the handshake),
may (``optional``) or is not asked (``none``, the default).
"""

from __future__ import annotations

import os
import ssl
from typing import Any

from packflow.exceptions import ConfigurationError

__all__ = ["CLIENT_CERT_MODES", "check_tls_options", "uvicorn_ssl_options"]

CLIENT_CERT_MODES = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


def check_tls_options(config: Any) -> None:
    """``ConfigurationError`` saying what to fix when the TLS options do not fit together."""
    if config.ssl_client_cert not in CLIENT_CERT_MODES:
        raise ConfigurationError(f"--ssl-client-cert {config.ssl_client_cert!r} is invalid; use none, optional or required.")
    if bool(config.ssl_certfile) != bool(config.ssl_keyfile):
        raise ConfigurationError("TLS needs both --ssl-certfile and --ssl-keyfile (the server's certificate and its key).")
    if (config.ssl_ca_certs or config.ssl_client_cert != "none") and not config.ssl_certfile:
        raise ConfigurationError("--ssl-ca-certs and --ssl-client-cert need TLS: give --ssl-certfile and --ssl-keyfile too.")
    if config.ssl_client_cert != "none" and not config.ssl_ca_certs:
        raise ConfigurationError(
            f"--ssl-client-cert {config.ssl_client_cert} needs --ssl-ca-certs, the CA bundle client certificates are checked against."
        )
    for option, path in (("--ssl-certfile", config.ssl_certfile), ("--ssl-keyfile", config.ssl_keyfile),
                         ("--ssl-ca-certs", config.ssl_ca_certs)):
        if path and not os.path.isfile(path):
            raise ConfigurationError(f"{option} {path!r} is not a file.")


def uvicorn_ssl_options(config: Any) -> dict[str, Any]:
    """Keyword arguments of ``uvicorn.Config`` for these TLS options (empty without TLS)."""
    if not config.ssl_certfile:
        return {}
    options: dict[str, Any] = {"ssl_certfile": config.ssl_certfile, "ssl_keyfile": config.ssl_keyfile,
                               "ssl_cert_reqs": CLIENT_CERT_MODES[config.ssl_client_cert]}
    if config.ssl_ca_certs:
        options["ssl_ca_certs"] = config.ssl_ca_certs
    return options
