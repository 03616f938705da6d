"""Senders: one small function per channel kind.

Each sender delivers one `Message` through one `NotificationChannel` within the
channel's latency budget. It returns the HTTP status (None for e-mail) on success
and raises `TimeoutError` when the receiver is too slow, or `DeliveryError` for
anything else the receiver refused. Plain `urllib` (no extra dependency).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.notifications.models import ChannelKind, Message, NotificationChannel

SIGNATURE_HEADER = "X-Backoffice-Signature"
USER_AGENT = "backoffice-notifications/1"
# Enough of a receiver's answer to parse a robot's JSON or quote an error page.
MAX_RESPONSE_BYTES = 64 * 1024


class DeliveryError(Exception):
    def __init__(self, message: str, *, http_status: int | None = None):
        super().__init__(message)
        self.http_status = http_status


def absolute_link(link: str) -> str:
    if link.startswith("/") and settings.NOTIFY_BASE_URL:
        return settings.NOTIFY_BASE_URL + link
    return link


def subject_line(message: Message) -> str:
    if message.is_urgent:
        return f"{_('[URGENT]')} {message.subject}"
    return message.subject


def _markdown(message: Message) -> str:
    parts = [f"### {subject_line(message)}"]
    if message.text:
        parts.append(message.text)
    link = absolute_link(message.link)
    if link:
        parts.append(f"[{link}]({link})")
    return "\n\n".join(parts)


def _plain_text(message: Message) -> str:
    return "\n\n".join(p for p in (message.text, absolute_link(message.link)) if p)


# --- e-mail -------------------------------------------------------------------


def send_email(channel: NotificationChannel, message: Message) -> int | None:
    addresses = channel.email_addresses or list(message.recipient_emails)
    if not addresses:
        raise DeliveryError("no e-mail address: the recipients have none and the target is blank")
    connection = get_connection(timeout=channel.timeout_ms / 1000)
    email = EmailMessage(
        subject=subject_line(message),
        body=_plain_text(message) or message.subject,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=addresses,
        connection=connection,
    )
    try:
        email.send(fail_silently=False)
    except TimeoutError:
        raise
    except OSError as exc:  # smtplib.SMTPException and refused connections
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
    return None


# --- HTTP ---------------------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirected POST would silently become a GET without body: treat 3xx as failure.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post_json(
    url: str, payload: dict, *, timeout_ms: int, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """POST JSON; return (status, body) for a 2xx answer, raise otherwise."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    return post_bytes(url, body, timeout_ms=timeout_ms, headers=headers)


def post_bytes(
    url: str, body: bytes, *, timeout_ms: int, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            **(headers or {}),
        },
    )
    try:
        with _opener.open(request, timeout=timeout_ms / 1000) as response:
            return response.status, response.read(MAX_RESPONSE_BYTES)
    except urllib.error.HTTPError as exc:
        detail = exc.read(500).decode("utf-8", "replace") if exc.fp else ""
        raise DeliveryError(f"HTTP {exc.code}: {detail}".strip(), http_status=exc.code) from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise TimeoutError(str(exc.reason)) from exc
        raise DeliveryError(f"connection failed: {exc.reason}") from exc
    except TimeoutError:
        raise
    except OSError as exc:  # reset by peer, bad status line...
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc


def _robot_answer(status: int, body: bytes, *, keys: tuple[str, ...]) -> int:
    """Chat robots answer 200 with an error code in the body: 0 means delivered."""
    if status != 200:
        raise DeliveryError(f"HTTP {status}: {body[:200]!r}", http_status=status)
    try:
        answer = json.loads(body or b"{}")
    except ValueError:
        raise DeliveryError(f"not a JSON answer: {body[:200]!r}", http_status=status) from None
    for key in keys:
        if key in answer:
            if answer[key] == 0:
                return status
            detail = answer.get("errmsg") or answer.get("msg") or answer.get("StatusMessage")
            raise DeliveryError(f"{key}={answer[key]}: {detail}", http_status=status)
    raise DeliveryError(f"unexpected answer: {body[:200]!r}", http_status=status)


def webhook_payload(message: Message) -> dict:
    return {
        "event": message.event,
        "level": message.level,
        "subject": message.subject,
        "text": message.text,
        "link": absolute_link(message.link),
        "sent_at": timezone.now().isoformat(),
    }


def webhook_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(channel: NotificationChannel, message: Message) -> int | None:
    body = json.dumps(webhook_payload(message), ensure_ascii=False).encode()
    headers = {SIGNATURE_HEADER: webhook_signature(channel.secret, body)} if channel.secret else {}
    status, _body = post_bytes(channel.target, body, timeout_ms=channel.timeout_ms, headers=headers)
    return status


def send_wecom(channel: NotificationChannel, message: Message) -> int | None:
    payload = {"msgtype": "markdown", "markdown": {"content": _markdown(message)}}
    status, body = post_json(channel.target, payload, timeout_ms=channel.timeout_ms)
    return _robot_answer(status, body, keys=("errcode",))


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """base64(HMAC-SHA256(key=secret, msg="{timestamp}\\n{secret}")), before URL-encoding."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def send_dingtalk(channel: NotificationChannel, message: Message) -> int | None:
    url = channel.target
    if channel.secret:
        timestamp = int(time.time() * 1000)
        query = urllib.parse.urlencode(
            {"timestamp": timestamp, "sign": dingtalk_sign(channel.secret, timestamp)}
        )
        url = f"{url}{'&' if '?' in url else '?'}{query}"
    payload = {
        "msgtype": "markdown",
        "markdown": {"title": subject_line(message), "text": _markdown(message)},
    }
    status, body = post_json(url, payload, timeout_ms=channel.timeout_ms)
    return _robot_answer(status, body, keys=("errcode",))


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """base64(HMAC-SHA256(key="{timestamp}\\n{secret}", msg=b"")), as Feishu specifies."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def send_feishu(channel: NotificationChannel, message: Message) -> int | None:
    text = "\n".join(p for p in (subject_line(message), _plain_text(message)) if p)
    payload: dict = {"msg_type": "text", "content": {"text": text}}
    if channel.secret:
        timestamp = int(time.time())
        payload = {
            "timestamp": str(timestamp),
            "sign": feishu_sign(channel.secret, timestamp),
            **payload,
        }
    status, body = post_json(channel.target, payload, timeout_ms=channel.timeout_ms)
    return _robot_answer(status, body, keys=("code", "StatusCode"))


SENDERS: dict[str, Callable[[NotificationChannel, Message], int | None]] = {
    ChannelKind.EMAIL: send_email,
    ChannelKind.WEBHOOK: send_webhook,
    ChannelKind.WECOM: send_wecom,
    ChannelKind.DINGTALK: send_dingtalk,
    ChannelKind.FEISHU: send_feishu,
}
