"""The one-line messages for an API that cannot be used (`gitops_edge.cluster.kube_errors`):
why a connection failed, from the errors urllib3 wraps; credentials are never shown."""

from __future__ import annotations

import ssl

import pytest
import urllib3

from gitops_edge.cluster.kube_errors import Endpoint, shown_url, unreachable_reason


def wrapped(cause: BaseException, outer: type[Exception], *args: object) -> Exception:
    """`outer(*args)` raised from `cause`, inside a MaxRetryError, as urllib3 raises them."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise outer(*args) from exc
    except Exception as exc:
        return urllib3.exceptions.MaxRetryError(None, "/api/v1/nodes", exc)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            wrapped(
                ConnectionRefusedError(111, "Connection refused"),
                urllib3.exceptions.NewConnectionError,
                None,
                "Failed to establish a new connection: [Errno 111] Connection refused",
            ),
            "connection refused",
        ),
        (
            wrapped(
                OSError(113, "No route to host"),
                urllib3.exceptions.NewConnectionError,
                None,
                "Failed to establish a new connection",
            ),
            "no route to host",
        ),
        (
            urllib3.exceptions.MaxRetryError(
                None,  # type: ignore[arg-type]
                "/api",
                urllib3.exceptions.NameResolutionError("k8s.invalid", None, OSError("no")),  # type: ignore[arg-type]
            ),
            "the host name does not resolve",
        ),
        (urllib3.exceptions.ConnectTimeoutError(None, "connect timeout"), "timed out"),
        (
            wrapped(
                ssl.SSLCertVerificationError(1, "certificate verify failed"),
                urllib3.exceptions.SSLError,
                "bad handshake",
            ),
            "its certificate is not trusted (certificate verify failed)",
        ),
        (ValueError("something else"), "something else"),
    ],
)
def test_why_a_connection_failed(error: BaseException, reason: str) -> None:
    assert unreachable_reason(error) == reason


def test_messages_name_the_server_and_context_never_credentials() -> None:
    assert shown_url("https://admin:s3cret@k8s.example.com:6443/base") == (
        "https://k8s.example.com:6443/base"
    )
    assert shown_url("https://k8s.example.com:6443") == "https://k8s.example.com:6443"
    kube = Endpoint.of("https://admin:s3cret@k8s.example.com:6443", context="prod")
    assert kube.unauthorized() == (
        "401 Unauthorized: the credentials in context prod were refused by "
        "https://k8s.example.com:6443 — log in again or renew them in the kubeconfig, or pick "
        "another context with --cluster kube:CONTEXT"
    )
    pod = Endpoint.of("https://10.96.0.1:443", context=None, in_cluster=True)
    assert pod.unauthorized().startswith(
        "401 Unauthorized: the credentials of the pod's service account were refused by "
        "https://10.96.0.1:443"
    )
