"""Network address facts shared by every room (the shared kernel: no imports of ours)."""

from __future__ import annotations

import functools
import ipaddress
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl


def is_loopback(host: str | None) -> bool:
    """True for ``localhost`` and loopback addresses (where plain http is tolerated)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- aiohttp's default TLS contexts: the system's CA store loaded on first use -------------------------
# aiohttp creates two TLS contexts when `aiohttp.connector` is imported - a verifying default one and an
# unverified one - and loads the system's CA store into both: ~50 ms of CPU and ~2 MB in every process
# that imports it, before anything is asked of it. This package always passes its own context for
# HTTPS (one per CA bundle: `mimecast.client`, `sinks.http_common`), so those two serve only an aiohttp
# call given no context (`ssl=True`, e.g. a plain-http sink redirected to https). With
# `defer_aiohttp_default_tls()` called before aiohttp is imported, the verifying one loads the store on
# its first handshake, and the unverified one (CERT_NONE: it checks nothing against the store) does
# not load it. Start-up and RSS, issue 16.


def defer_aiohttp_default_tls() -> None:
    """Before aiohttp is imported: its default TLS contexts load the system's CA store when first used.

    Idempotent; does nothing once ``aiohttp.connector`` is imported. Only the execution of that one
    module is affected: there ``ssl.create_default_context()`` (no arguments) returns
    :func:`lazy_default_context`, and ``set_default_verify_paths`` is skipped
    for a context that verifies nothing (``CERT_NONE``).
    """
    if "aiohttp.connector" in sys.modules or any(isinstance(f, _ConnectorHook) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _ConnectorHook())


@functools.cache
def lazy_ca_context_class() -> type[ssl.SSLContext]:
    """An ``ssl.SSLContext`` whose ``set_default_verify_paths`` waits for the first use of the context.

    Used is: a handshake (``wrap_bio``, ``wrap_socket``) or a look at the store (``get_ca_certs``,
    ``cert_store_stats``); the store is then loaded once, before it answers.
    """
    import ssl
    import threading

    load_paths = ssl.SSLContext.set_default_verify_paths
    lock = threading.Lock()

    class CaStoreOnFirstUse(ssl.SSLContext):
        def set_default_verify_paths(self) -> None:
            self.__dict__["_ca_store_pending"] = True

        def _load_ca_store(self) -> None:
            if self.__dict__.get("_ca_store_pending"):
                with lock:
                    if self.__dict__.pop("_ca_store_pending", False):
                        load_paths(self)

        def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
            self._load_ca_store()
            return super().wrap_socket(*args, **kwargs)

        def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
            self._load_ca_store()
            return super().wrap_bio(*args, **kwargs)

        def get_ca_certs(self, binary_form: bool = False) -> Any:
            self._load_ca_store()
            return super().get_ca_certs(binary_form)

        def cert_store_stats(self) -> dict[str, int]:
            self._load_ca_store()
            return super().cert_store_stats()

    return CaStoreOnFirstUse


def lazy_default_context() -> ssl.SSLContext:
    """What ``ssl.create_default_context()`` returns, as a :func:`lazy_ca_context_class` instance.

    The standard library's steps for a client context without a CA file (a test compares every
    setting with its context's): TLS client, certificates and host names verified, the default CA
    store (here loaded on first use), ``SSLKEYLOGFILE`` honoured.
    """
    import os
    import ssl

    context = lazy_ca_context_class()(ssl.PROTOCOL_TLS_CLIENT)
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog and not sys.flags.ignore_environment:
        context.keylog_filename = keylog
    return context


class _ConnectorHook:
    """A meta-path finder for ``aiohttp.connector`` only; it leaves ``sys.meta_path`` when it finds it."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "aiohttp.connector":
            return None
        from importlib.machinery import PathFinder

        sys.meta_path.remove(self)
        spec = PathFinder.find_spec(name, path, target)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _DeferringLoader(spec.loader)  # type: ignore[assignment] # duck-typed Loader
        return spec


class _DeferringLoader:
    """Executes ``aiohttp.connector`` with the two ``ssl`` calls it makes at import made lazy."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        import ssl

        real_class, real_default = ssl.SSLContext, ssl.create_default_context
        patched = "set_default_verify_paths" in vars(real_class)
        real_paths = real_class.set_default_verify_paths

        def create_default_context(*args: Any, **kwargs: Any) -> ssl.SSLContext:
            if args or kwargs:
                return real_default(*args, **kwargs)
            return lazy_default_context()

        def set_default_verify_paths(self: ssl.SSLContext) -> None:
            if self.verify_mode != ssl.CERT_NONE:
                real_paths(self)

        ssl.create_default_context = create_default_context
        real_class.set_default_verify_paths = set_default_verify_paths  # type: ignore[method-assign]
        try:
            self._loader.exec_module(module)
        finally:
            ssl.create_default_context = real_default
            if patched:
                real_class.set_default_verify_paths = real_paths  # type: ignore[method-assign]
            else:
                del real_class.set_default_verify_paths
