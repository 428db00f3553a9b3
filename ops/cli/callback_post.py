"""`medins pay`'s way in by default (R44): the channel's signed callback POSTed to the HTTPS callback
endpoint (python -m services.collection.callbacks) at the channel's own path, as the channel sends it;
the answer checked as that channel checks it (WeChat Pay: a 2xx; Alipay: the body `success`; UnionPay:
200 — ops/channel_sim/apis.py), and the intake's decision read from the endpoint's Medins-* headers
(services/collection/callbacks/answers.py). One pipeline with NotifyPayment (R21b): the callback is
stored with its outcome in channel_notifications either way."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from urllib.parse import unquote

from medins.collection.v1 import collection_service_pb2 as pb

from ops.channel_sim.apis import callback_answered
from ops.cli.errors import EXIT_UNREACHABLE, CallFailed, CliError, Refusal
from services.collection.callbacks import answers
from services.collection.callbacks.app import routes
from services.collection.domain.model import Channel
from services.common.settings import Settings
from services.common.tls import TlsFiles

TIMEOUT_SECONDS = 30.0
SERVICE = "callback endpoint"
_WILDCARDS = {"0.0.0.0", "::", ""}


def default_url(settings: Settings) -> str:
    """The endpoint's base URL as this machine's settings place it: https when it has its certificate
    (`make certs`, MEDINS_CALLBACKS_TLS_DIR or MEDINS_TLS_DIR), on 127.0.0.1:MEDINS_CALLBACKS_PORT."""
    host = "127.0.0.1" if settings.listen_host in _WILDCARDS else settings.listen_host
    scheme = "https" if settings.callbacks_tls_path is not None else "http"
    return f"{scheme}://{host}:{settings.callbacks_port}"


def trusted(settings: Settings) -> ssl.SSLContext:
    """Trusts the endpoint's CA (the ca.pem beside its certificate; `make certs`), else the system's."""
    root = settings.callbacks_tls_path
    ca = TlsFiles(root).ca if root is not None else None
    if ca is not None and ca.exists():
        return ssl.create_default_context(cafile=str(ca))
    return ssl.create_default_context()


def path_of(channel: Channel) -> tuple[str, str]:
    """(the channel's callback path, its protocol family)."""
    return next((path, family) for path, (family, c) in routes().items() if c is channel)


@dataclass(frozen=True)
class Answered:
    status: int
    body: bytes
    headers: Message


def _post(url: str, headers: dict[str, str], body: bytes, context: ssl.SSLContext) -> Answered:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS, context=context) as answer:
            return Answered(answer.status, answer.read(), answer.headers)
    except urllib.error.HTTPError as refused:
        return Answered(refused.code, refused.read(), refused.headers)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CliError(
            f"cannot reach the callback endpoint at {url} ({reason})\n"
            "  is it running (make run, or python -m services.collection.callbacks)? "
            "give another with --callbacks-url, or send over gRPC with --grpc",
            EXIT_UNREACHABLE,
        ) from None


def deliver(
    base_url: str, channel: Channel, headers: dict[str, str], body: bytes, settings: Settings
) -> pb.NotifyPaymentResponse:
    """POSTs the callback; the intake's decision as NotifyPayment answers it. A refusal is raised as
    CallFailed (the reason and message the endpoint's headers give); an answer the channel would not
    take as delivered, without one, as a CliError."""
    path, family = path_of(channel)
    url = base_url.rstrip("/") + path
    answered = _post(url, headers, body, trusted(settings))
    found = answered.headers
    outcome = found.get(answers.OUTCOME, "")
    if outcome == "REFUSED":
        kind, _, reason = found.get(answers.REFUSAL, "").partition(" ")
        message = unquote(found.get(answers.REFUSAL_MESSAGE, ""))
        raise CallFailed(SERVICE, url, Refusal(code=kind or "UNKNOWN", message=message, reason=reason))
    text = answered.body.decode(errors="replace")
    if not callback_answered(family, answered.status, text) or outcome not in {"APPLIED", "REFUND_RAISED"}:
        raise CliError(
            f"the callback endpoint at {url} did not take the callback: HTTP {answered.status} {text[:200]!r}"
            + (" (a concurrent copy got in the way; send it again)" if outcome == "RACED" else ""),
            1,
        )
    return pb.NotifyPaymentResponse(
        outcome=pb.NotificationOutcome.Value(f"NOTIFICATION_OUTCOME_{outcome}"),
        payment_id=found.get(answers.PAYMENT_ID, ""),
        order_id=found.get(answers.ORDER_ID, ""),
        receipt_number=found.get(answers.RECEIPT_NUMBER, ""),
        refund_id=found.get(answers.REFUND_ID, ""),
    )
