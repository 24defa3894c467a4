"""Bolt requests with a corrected form parser.

slack-bolt 1.30's `parse_body` treats any form-encoded body that merely *contains* the text "payload" as an
interaction and, finding no `payload` field, returns an empty body: `/incident status payloads blocked`
would be answered 404 and silently dropped. `SlackRequest` parses such bodies as the plain form they are.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.context import BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context
from slack_bolt.response import BoltResponse


class SlackRequest(BoltRequest):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        raw = self.raw_body
        if self.mode == "http" and not self.body and raw and not raw.lstrip().startswith("{") and "payload" in raw:
            params = dict(parse_qsl(raw, keep_blank_values=True))
            if "payload" not in params:
                self.body = params
                self.context = build_context(BoltContext(kwargs.get("context") or {}), self.body)


class WsgiHandler(SlackRequestHandler):
    """Bolt's WSGI adapter, building SlackRequest instead of BoltRequest."""

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        return self.app.dispatch(
            SlackRequest(body=request.get_body(), query=request.query_string, headers=request.get_headers()))
