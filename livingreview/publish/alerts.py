"""Alerts when a version is published: e-mail (SMTP) and/or a webhook POST of ``whats_new.json``.

Delivery runs after every successful workflow run (the Snakefile's
``onsuccess``), never inside a rule, so:

* an alert that cannot be sent never blocks or undoes publishing: the failure
  is recorded in ``results/alerts/state.json`` (attempts, time, error with
  secrets removed) and retried on the next run;
* a version is alerted at most once per channel: a channel that succeeded is
  not sent again when the other one is retried.

``alerts.when``: ``conclusions_changed`` (a version whose ``whats_new.json``
lists changed conclusions, or the first version), ``every_version`` or
``never``. Secrets come from the environment only (``alerts.email.password_env``,
``alerts.webhook.token_env``) and are never written to the state file, logs or
messages.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import smtplib
import ssl
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..io import read_json, write_json
from .bundle import published_versions

__all__ = ["deliver", "due", "message_text", "run_hook"]

log = logging.getLogger(__name__)
WHEN = ("conclusions_changed", "every_version", "never")
SENT, FAILED, NOT_DUE, BEFORE = "sent", "failed", "not due", "published before alerts were set up"


def due(news: Mapping[str, Any], when: str) -> bool:
    """Whether a version's ``whats_new.json`` calls for an alert under the ``when`` policy.

    >>> due({"previous": "v1", "conclusions_changed": []}, "conclusions_changed")
    False
    >>> due({"previous": None, "conclusions_changed": []}, "conclusions_changed")
    True
    """
    if when == "never":
        return False
    if when == "every_version":
        return True
    return news.get("previous") is None or bool(news.get("conclusions_changed"))


def message_text(news: Mapping[str, Any], title: str) -> tuple[str, str]:
    """Subject and plain-text body of the e-mail."""
    changed = news.get("conclusions_changed") or []
    subject = f"{title}: version {news['version']}" + (
        f" - conclusions changed ({', '.join(changed)})" if changed else ""
    )
    lines = [f"{title}", f"Version {news['version']} ({news['date']})", ""]
    lines.append("Type of change: " + (", ".join(news.get("change_types") or []) or "none"))
    for o in news.get("outcomes") or []:
        label = (o.get("new") or o.get("old") or {}).get("label", o["domain"])
        if o.get("conclusion_changed"):
            lines.append(f"- {label}: conclusion changed: {'; '.join(o['reasons'])}")
        else:
            lines.append(f"- {label}: conclusion unchanged")
    lines += ["", "The version's whats_new.json is attached."]
    return subject, "\n".join(lines) + "\n"


def _redact(text: str, secrets: list[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text


def _safe_url(url: str) -> str:
    """The URL without user info and query (which may carry tokens), for the state file."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def send_email(cfg: Mapping[str, Any], news: Mapping[str, Any], title: str) -> None:
    """One message to ``recipients`` through ``host:port`` (STARTTLS or SSL when configured)."""
    subject, body = message_text(news, title)
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, cfg["sender"], ", ".join(cfg["recipients"])
    msg.set_content(body)
    payload = json.dumps(news, indent=2, ensure_ascii=False).encode("utf-8")
    msg.add_attachment(payload, maintype="application", subtype="json", filename="whats_new.json")
    password = os.environ.get(cfg.get("password_env") or "", "")
    timeout = float(cfg.get("timeout_s", 30))
    security = cfg.get("security", "starttls")
    if security == "ssl":
        server: smtplib.SMTP = smtplib.SMTP_SSL(
            cfg["host"], int(cfg["port"]), timeout=timeout, context=ssl.create_default_context()
        )
    else:
        server = smtplib.SMTP(cfg["host"], int(cfg["port"]), timeout=timeout)
    with server:
        if security == "starttls":
            server.starttls(context=ssl.create_default_context())
        if cfg.get("username"):
            if not password:
                raise RuntimeError(
                    f"alerts.email.username is set but the environment variable "
                    f"{cfg.get('password_env')} (alerts.email.password_env) is empty"
                )
            server.login(cfg["username"], password)
        server.send_message(msg)


def post_webhook(cfg: Mapping[str, Any], news: Mapping[str, Any]) -> None:
    """POST ``whats_new.json``; a bearer token from ``token_env`` when set. Non-2xx raises."""
    import requests

    headers = {"Content-Type": "application/json", "User-Agent": "livingreview-alerts"}
    token = os.environ.get(cfg.get("token_env") or "", "")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    resp = requests.post(
        cfg["url"],
        data=json.dumps(news, ensure_ascii=False).encode("utf-8"),
        headers=headers,
        timeout=float(cfg.get("timeout_s", 30)),
        allow_redirects=False,  # a redirect would carry the token elsewhere
    )
    if not 200 <= resp.status_code < 300:
        raise RuntimeError(f"HTTP {resp.status_code} from {_safe_url(cfg['url'])}")


def deliver(
    settings: Mapping[str, Any] | None,
    bundles: str | Path,
    state_path: str | Path,
    *,
    title: str = "Living systematic review",
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> dict[str, Any]:
    """Send the alerts that are due and not yet sent; record every attempt. Never raises.

    Returns the state (``{"versions": {version: {channel: {...}}}}``).
    """
    settings = settings or {}
    bundles, state_path = Path(bundles), Path(state_path)
    when = str(settings.get("when", "never"))
    channels = {
        name: cfg for name, cfg in (("email", settings.get("email")), ("webhook", settings.get("webhook"))) if cfg
    }  # fmt: skip
    secrets = [
        os.environ.get((channels.get("email") or {}).get("password_env") or "", ""),
        os.environ.get((channels.get("webhook") or {}).get("token_env") or "", ""),
    ]
    if when == "never" or not channels:  # nothing to send: touch nothing
        return {"versions": {}}
    try:
        state = read_json(state_path) if state_path.is_file() else None
        before = json.dumps(state, sort_keys=True)
        versions = published_versions(bundles)
        if state is None:  # alerts just set up: the history is not news
            state = {"versions": {v: {"status": BEFORE} for v in versions[:-1]}}
        stamp = now().isoformat(timespec="seconds")
        for version in versions:
            entry = state["versions"].setdefault(version, {})
            if entry.get("status") in (BEFORE, NOT_DUE):
                continue
            news_path = bundles / version / "whats_new.json"
            if not news_path.is_file():
                entry["status"] = BEFORE
                continue
            news = read_json(news_path)
            if not due(news, when):
                entry["status"] = NOT_DUE
                continue
            for name, cfg in channels.items():
                record = entry.setdefault(name, {"attempts": 0})
                if record.get("status") == SENT:
                    continue
                record["attempts"] += 1
                record["last_attempt"] = stamp
                try:
                    send_email(cfg, news, title) if name == "email" else post_webhook(cfg, news)
                except Exception as exc:  # recorded and retried next run, never fatal
                    record["status"] = FAILED
                    record["error"] = _redact(f"{type(exc).__name__}: {exc}", secrets)[:500]
                    log.warning(
                        "alert %s for version %s failed: %s", name, version, record["error"]
                    )
                else:
                    record["status"] = SENT
                    record.pop("error", None)
                    log.info("alert %s for version %s sent", name, version)
            entry["status"] = (
                SENT if all(entry[n].get("status") == SENT for n in channels) else FAILED
            )
        if json.dumps(state, sort_keys=True) != before:  # a run with no news writes nothing
            write_json(state_path, state)
        return state
    except Exception as exc:  # a broken state file or bundle folder must not fail the run
        log.error("alerts not delivered: %s", _redact(f"{type(exc).__name__}: {exc}", secrets))
        return {"error": _redact(str(exc), secrets)}


def run_hook(config: Mapping[str, Any], results: str | Path = "results") -> list[str]:
    """Deliver for a finished run; log to ``results/logs/alerts.log``; return one line per failure.

    Called after every successful ``livingreview update`` (so a failed alert is
    retried on the next run even when nothing else changed) and by the
    Snakefile's ``onsuccess`` when Snakemake is run directly.
    """
    results = Path(results)
    settings = config.get("alerts") or {}
    if settings.get("when", "never") == "never":
        return []
    (results / "logs").mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(results / "logs" / "alerts.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        title = str((config.get("review") or {}).get("title") or "Living systematic review")
        state = deliver(
            settings, results / "bundles", results / "alerts" / "state.json", title=title
        )
    finally:
        log.removeHandler(handler)
        handler.close()
    return [
        f"alert by {channel} for version {version} failed ({record.get('error')}); "
        "retried on the next run"
        for version, entry in (state.get("versions") or {}).items()
        for channel in ("email", "webhook")
        if (record := entry.get(channel) or {}).get("status") == FAILED
    ]
