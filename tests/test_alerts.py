"""Alerts end to end against a local SMTP server and a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from livingreview.publish import alerts

SECRET = "s3cr3t-pa55"
TOKEN = "tok-9f8e7d"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """aiosmtpd handler: keeps every message; can be told to refuse."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.refuse = False

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's API
        if self.refuse:
            return "451 try again later"
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


@pytest.fixture
def webhook():
    received: list[dict] = []
    state = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's API
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"auth": self.headers.get("Authorization"), "body": json.loads(body)})
            self.send_response(state["status"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield received, state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def publish(bundles: Path, version: str, *, previous=None, changed=()) -> None:
    folder = bundles / version
    folder.mkdir(parents=True)
    news = {"version": version, "date": version[:10], "previous": previous, "change_types": ["new studies"],
            "conclusions_changed": list(changed),
            "outcomes": [{"domain": "glycemic", "old": None, "new": {"label": "Glycemic control"},
                          "conclusion_changed": bool(changed), "reasons": ["certainty: Moderate -> Low"] if changed else []}]}  # fmt: skip
    (folder / "whats_new.json").write_text(json.dumps(news))
    (bundles / "LATEST").write_text(version + "\n")


def settings(smtp_port=None, url=None, when="conclusions_changed"):
    out = {"when": when}
    if smtp_port:
        out["email"] = {"host": "127.0.0.1", "port": smtp_port, "sender": "review@example.org",
                        "recipients": ["team@example.org"], "security": "none",
                        "password_env": "LR_TEST_SMTP_PASSWORD"}  # fmt: skip
    if url:
        out["webhook"] = {"url": url, "token_env": "LR_TEST_WEBHOOK_TOKEN"}
    return out


def clock():
    return dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)


def test_changed_conclusions_are_sent_once_by_both_channels(tmp_path, smtp, webhook, monkeypatch):
    monkeypatch.setenv("LR_TEST_WEBHOOK_TOKEN", TOKEN)
    inbox, port = smtp
    received, _, url = webhook
    bundles, state = tmp_path / "bundles", tmp_path / "alerts" / "state.json"
    publish(bundles, "2026-12-01.1")
    alerts.deliver(settings(port, url), bundles, state, title="IM for diabetes", now=clock)
    assert len(inbox.messages) == 1 and len(received) == 1  # the first version is always news
    publish(bundles, "2026-12-01.2", previous="2026-12-01.1")  # nothing concluded differently
    publish(bundles, "2026-12-02.1", previous="2026-12-01.2", changed=["glycemic"])
    result = alerts.deliver(settings(port, url), bundles, state, title="IM for diabetes", now=clock)
    assert result["versions"]["2026-12-01.2"]["status"] == "not due"
    assert result["versions"]["2026-12-02.1"]["status"] == "sent"
    msg = inbox.messages[-1]
    assert (
        msg["Subject"].strip()
        == "IM for diabetes: version 2026-12-02.1 - conclusions changed (glycemic)"
    )
    assert msg["To"] == "team@example.org" and len(inbox.messages) == 2
    attached = [p for p in msg.walk() if p.get_filename() == "whats_new.json"]
    assert json.loads(attached[0].get_payload(decode=True))["version"] == "2026-12-02.1"
    assert (
        received[-1]["auth"] == f"Bearer {TOKEN}"
        and received[-1]["body"]["version"] == "2026-12-02.1"
    )
    alerts.deliver(settings(port, url), bundles, state, title="IM for diabetes", now=clock)
    assert len(inbox.messages) == 2 and len(received) == 2  # never twice


def test_a_failed_alert_is_recorded_without_secrets_and_retried(
    tmp_path, smtp, webhook, monkeypatch
):
    monkeypatch.setenv("LR_TEST_SMTP_PASSWORD", SECRET)
    monkeypatch.setenv("LR_TEST_WEBHOOK_TOKEN", TOKEN)
    inbox, port = smtp
    received, hook, url = webhook
    bundles, state = tmp_path / "bundles", tmp_path / "state.json"
    publish(bundles, "2026-12-01.1")
    inbox.refuse, hook["status"] = True, 503
    result = alerts.deliver(settings(port, url), bundles, state, now=clock)
    entry = result["versions"]["2026-12-01.1"]
    assert entry["status"] == "failed"
    assert entry["email"]["status"] == "failed" and entry["email"]["attempts"] == 1
    assert "451" in entry["email"]["error"]
    assert entry["webhook"]["error"] == f"RuntimeError: HTTP 503 from {url}"
    text = state.read_text()
    assert SECRET not in text and TOKEN not in text
    inbox.refuse = False  # the mail server is back; the webhook is still down
    result = alerts.deliver(settings(port, url), bundles, state, now=clock)
    entry = result["versions"]["2026-12-01.1"]
    assert entry["email"]["status"] == "sent" and entry["email"]["attempts"] == 2
    assert entry["webhook"]["attempts"] == 2 and entry["status"] == "failed"
    hook["status"] = 204
    alerts.deliver(settings(port, url), bundles, state, now=clock)
    assert len(inbox.messages) == 1  # the e-mail that went through is not sent again
    assert json.loads(state.read_text())["versions"]["2026-12-01.1"]["status"] == "sent"


def test_unreachable_server_and_username_without_password_never_raise(tmp_path, monkeypatch):
    monkeypatch.delenv("LR_TEST_SMTP_PASSWORD", raising=False)
    bundles, state = tmp_path / "bundles", tmp_path / "state.json"
    publish(bundles, "2026-12-01.1")
    cfg = settings(free_port(), "http://127.0.0.1:9/hook")  # nothing listens there
    cfg["email"]["username"] = "review"
    result = alerts.deliver(cfg, bundles, state, now=clock)
    entry = result["versions"]["2026-12-01.1"]
    assert entry["email"]["status"] == "failed" and entry["webhook"]["status"] == "failed"
    assert (
        "ConnectionRefusedError" in entry["email"]["error"] or "OSError" in entry["email"]["error"]
    )


def test_setting_up_alerts_does_not_send_the_history(tmp_path, smtp):
    inbox, port = smtp
    bundles, state = tmp_path / "bundles", tmp_path / "state.json"
    publish(bundles, "2026-11-01.1")
    publish(bundles, "2026-11-08.1", previous="2026-11-01.1", changed=["glycemic"])
    publish(bundles, "2026-11-15.1", previous="2026-11-08.1", changed=["glycemic"])
    result = alerts.deliver(settings(port, when="every_version"), bundles, state, now=clock)
    assert [v["status"] for v in result["versions"].values()] == [
        "published before alerts were set up",
        "published before alerts were set up",
        "sent",
    ]
    assert len(inbox.messages) == 1


def test_never_and_no_channel_send_nothing_and_write_nothing(tmp_path, smtp):
    inbox, port = smtp
    bundles, state = tmp_path / "bundles", tmp_path / "state.json"
    publish(bundles, "2026-12-01.1")
    assert alerts.deliver(settings(port, when="never"), bundles, state) == {"versions": {}}
    assert alerts.deliver({"when": "every_version"}, bundles, state) == {"versions": {}}
    assert not state.exists() and inbox.messages == []
    alerts.deliver(settings(port), bundles, state, now=clock)
    mtime = state.stat().st_mtime_ns
    alerts.deliver(settings(port), bundles, state, now=clock)  # no news: the state is not rewritten
    assert state.stat().st_mtime_ns == mtime and len(inbox.messages) == 1


def test_update_delivers_with_the_runs_own_configuration(tmp_path, webhook):
    """`livingreview update` merges config files and --config as Snakemake does, then delivers."""
    import shutil

    from livingreview import cli

    repo = Path(__file__).resolve().parents[1]
    received, _, url = webhook
    (tmp_path / "config").mkdir()
    shutil.copy(repo / "config" / "config.yaml", tmp_path / "config" / "config.yaml")
    shutil.copytree(repo / "workflow" / "schemas", tmp_path / "workflow" / "schemas")
    extra = tmp_path / "alerts.yaml"
    extra.write_text(f"alerts:\n  webhook: {{url: '{url}'}}\n")
    publish(tmp_path / "results" / "bundles", "2026-12-01.1")
    configs = [tmp_path / "config" / "config.yaml", extra]
    assert cli._deliver_alerts(tmp_path, configs, []) == []  # when: never in config.yaml
    assert received == []
    assert cli._deliver_alerts(tmp_path, configs, ["alerts={when: every_version}"]) == []
    assert len(received) == 1 and received[0]["body"]["version"] == "2026-12-01.1"
    state = json.loads((tmp_path / "results" / "alerts" / "state.json").read_text())
    assert state["versions"]["2026-12-01.1"]["webhook"]["status"] == "sent"
    bad = cli._deliver_alerts(
        tmp_path, configs, ["alerts={when: every_version, webhook: {url: ftp://x}}"]
    )
    assert len(bad) == 1 and bad[0].startswith("not delivered: ")
