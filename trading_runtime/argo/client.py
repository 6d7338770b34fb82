"""Submitting and following a Workflow on an Argo server, through hera's WorkflowsService."""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trading_runtime.argo.batch import DEFAULT_NAMESPACE
from trading_runtime.argo.errors import ArgoError, ArgoUnreachableError

if TYPE_CHECKING:
    from hera.workflows.models import Workflow

__all__ = ["ArgoClient", "bare_token", "server_url", "workflow_link"]

TERMINAL_PHASES = ("Succeeded", "Failed", "Error")
DEFAULT_REQUEST_TIMEOUT_S = 30.0


def server_url(host: str, secure: bool = True) -> str:
    """The Argo server's base URL, with a trailing slash (hera joins API paths onto it). Accepts
    the argo CLI's ARGO_SERVER form ``host:port`` (https unless ``secure`` is false)."""
    host = host.strip()
    if not host:
        raise ArgoError("no Argo server: pass --host or set ARGO_SERVER")
    if "://" not in host:
        host = f"{'https' if secure else 'http'}://{host}"
    if not host.startswith(("http://", "https://")):
        raise ArgoError(f"Argo server {host!r}: expected an http:// or https:// URL")
    return host.rstrip("/") + "/"


def bare_token(token: str | None) -> str | None:
    """The token without a ``Bearer`` prefix (``argo auth token`` prints it with one)."""
    if token is None:
        return None
    token = token.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    return token or None


def workflow_link(host: str, namespace: str, name: str) -> str:
    return f"{host.rstrip('/')}/workflows/{namespace}/{name}"


_HTTP_HINTS = {
    400: "the server rejected the workflow",
    401: "the token was not accepted (set ARGO_TOKEN, e.g. from `argo auth token`)",
    403: "the token's service account may not do this in that namespace",
    404: "not found (is the host the Argo server's URL, and the namespace right?)",
    409: "a workflow of that name exists already",
}


@dataclass
class ArgoClient:
    """A small client over hera's WorkflowsService: timeouts on every request, and errors that
    name the server and the HTTP status but never the token."""

    host: str
    namespace: str = DEFAULT_NAMESPACE
    token: str | None = None
    verify_ssl: bool = True
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S

    def __post_init__(self) -> None:
        self.host = server_url(self.host)
        self.token = bare_token(self.token)

    def _service(self) -> Any:
        import requests
        from hera.workflows.service import WorkflowsService

        timeout = self.request_timeout_s

        class _TimeoutSession(requests.Session):
            # hera sets no timeout: a silent server would hang the command for ever.
            def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
                kwargs.setdefault("timeout", timeout)
                return super().request(method, url, *args, **kwargs)

        return WorkflowsService(
            host=self.host,
            token=self.token,
            namespace=self.namespace,
            verify_ssl=self.verify_ssl,
            session=_TimeoutSession(),
        )

    def _scrub(self, text: str) -> str:
        return text.replace(self.token, "***") if self.token else text

    def _call(self, action: str, function: Callable[[Any], Any]) -> Any:
        import requests
        from hera.exceptions import HeraException
        from pydantic import ValidationError

        where = f"Argo server {self.host.rstrip('/')}"
        service = self._service()
        try:
            with warnings.catch_warnings():
                # hera 7.1 serialises requests with pydantic's deprecated .json(): not ours to fix.
                warnings.simplefilter("ignore", DeprecationWarning)
                return function(service)
        except ValidationError as exc:
            raise ArgoError(
                f"{where} answered {action} with an unexpected document"
                f" ({exc.error_count()} problem(s), first: {exc.errors()[0]['loc']})"
            ) from None
        except HeraException as exc:
            message = self._scrub(str(exc))
            status = getattr(exc, "status_code", None)
            if status is None:
                found = re.search(r"status code (\d{3})", message)
                status = int(found.group(1)) if found else None
            hint = _HTTP_HINTS.get(status or 0, "request failed")
            raise ArgoError(
                f"{where} answered HTTP {status} to {action} in namespace {self.namespace}:"
                f" {hint}. {message}"
            ) from None
        except requests.exceptions.SSLError as exc:
            raise ArgoUnreachableError(
                f"{where}: TLS failed ({self._scrub(str(exc))}); for a self-signed certificate"
                " pass --insecure"
            ) from None
        except requests.exceptions.Timeout:
            raise ArgoUnreachableError(
                f"{where} did not answer within {self.request_timeout_s:g} s ({action})"
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise ArgoUnreachableError(
                f"cannot connect to {where} ({type(exc).__name__})"
            ) from None
        finally:
            service.close()

    def create(self, workflow: Workflow) -> str:
        """Create the workflow; its generated name."""
        from hera.workflows.models import WorkflowCreateRequest

        created = self._call(
            "create a workflow",
            lambda service: service.create_workflow(
                WorkflowCreateRequest(workflow=workflow), namespace=self.namespace
            ),
        )
        name = created.metadata.name if created.metadata is not None else None
        if not name:
            raise ArgoError(f"Argo server {self.host.rstrip('/')} created a workflow without name")
        return str(name)

    def status(self, name: str) -> tuple[str, str]:
        """(phase, message) of a workflow; phase "" before the controller has seen it."""
        workflow = self._call(
            f"read workflow {name}",
            lambda service: service.get_workflow(name, namespace=self.namespace),
        )
        status = workflow.status
        if status is None:
            return "", ""
        return status.phase or "", status.message or ""

    def wait(
        self,
        name: str,
        timeout_s: float,
        poll_interval_s: float,
        on_phase: Callable[[str, str], None] | None = None,
        transient_errors: int = 3,
    ) -> tuple[str, str]:
        """Poll until the workflow ends (Succeeded, Failed or Error); ArgoError past the
        timeout. A few consecutive failures to reach the server are tolerated; an HTTP error
        (401, 404, ...) is not."""
        deadline = time.monotonic() + timeout_s
        last = None
        failures = 0
        while True:
            try:
                phase, message = self.status(name)
                failures = 0
            except ArgoUnreachableError:
                failures += 1
                if failures > transient_errors:
                    raise
                phase, message = last or ("", "")
            if (phase, message) != last and on_phase is not None:
                on_phase(phase, message)
            last = (phase, message)
            if phase in TERMINAL_PHASES:
                return phase, message
            if time.monotonic() + poll_interval_s > deadline:
                raise ArgoError(
                    f"workflow {name} still {phase or 'pending'} after {timeout_s:g} s;"
                    f" follow it with `argo -n {self.namespace} watch {name}`"
                )
            time.sleep(poll_interval_s)
