"""A page built by JavaScript for the browser tests: its story comes from an XHR."""

from __future__ import annotations

import gzip
import json

from tests.support.scriptserver import ScriptServer

STORY = {"title": "Built by script", "text": "Казахстан и Китай: текст из XHR"}
APP = ('<!doctype html><html><head><meta charset="utf-8"><title>JS app</title>'
       '<script src="/app.js"></script></head><body><h1>Loading</h1><div id="story"></div>'
       '<img src="/img/1.png"></body></html>')
APP_JS = ("fetch('/api/story.json').then(r => r.json()).then(d => {"
          " document.getElementById('story').innerHTML = '<p>' + d.text + '</p>';"
          " document.querySelector('h1').textContent = d.title; });")
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")


def serve_app(server: ScriptServer, page_paths: list[str]) -> None:
    for path in page_paths:
        server.script(path, [{"status": 200, "body": APP}])
    server.script("/app.js", [{"status": 200, "body": APP_JS,
                               "content_type": "application/javascript"}])
    server.script("/api/story.json", [{
        "status": 200, "body": gzip.compress(json.dumps(STORY).encode()).decode("latin-1"),
        "encoding": "latin-1", "content_type": "application/json",
        "headers": [["Content-Encoding", "gzip"]]}])
    server.script("/img/1.png", [{"status": 200, "body": PNG.decode("latin-1"),
                                  "encoding": "latin-1", "content_type": "image/png"}])
