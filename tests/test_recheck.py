"""Re-checks end to end: a real crawl, a scripted server that deletes, censors and fails, real
re-check runs, and the deletion log they leave."""

from __future__ import annotations

import json

from tests.support.helpers import all_records, rows, run_cli, write_config

ARTICLE = ("<html><head><title>{title}</title></head><body><nav>Home | World</nav><article>"
           "<h1>{title}</h1><p>{text}</p><p>Second paragraph of the report on Khorgos.</p>"
           "</article><footer>Steppe Herald 2020</footer></body></html>")
WECHAT_TOMBSTONE = ('<html><head><title></title></head><body><div class="weui-msg">'
                    '<div class="weui-msg__text-area"><h2 class="weui-msg__title '
                    'global_error_msg">{text}</h2></div></div></body></html>')
WEIBO_NOTICE = ('<html><head><title>微博</title></head><body><div class="m-error">'
                '<p class="h5-4box">{text}</p></div></body></html>')


def article(title: str, text: str = "Kazakhstan and China signed a transit deal.") -> dict:
    return {"status": 200, "body": ARTICLE.format(title=title, text=text)}


def configure(home, **recheck):
    write_config(home, obey_robots=False, timeout=2)
    values = {"confirm_after": "0s", **recheck}
    lines = ["[recheck]"] + [f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}"
                             for k, v in values.items()]
    with open(home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def crawl(home, server, paths):
    run_cli(home, "crawl", *[server.url(p) for p in paths])


def recheck(home, *args):
    return run_cli(home, "recheck", "--all", *args)


def deletions(home):
    return json.loads(run_cli(home, "deletions", "--format", "json").output)


DELETIONS = {
    "/news/gone404": ({"status": 404, "body": "<h1>Not Found</h1>"}, "gone"),
    "/news/gone410": ({"status": 410, "body": "<h1>Gone</h1>"}, "gone"),
    "/s/censored": ({"status": 200, "body": WECHAT_TOMBSTONE.format(text="此内容因违规无法查看")},
                    "censored"),
    "/s/authordel": ({"status": 200, "body": WECHAT_TOMBSTONE.format(text="该内容已被发布者删除")},
                     "author_deleted"),
    "/s/private": ({"status": 200,
                    "body": WECHAT_TOMBSTONE.format(text="根据作者隐私设置，无法查看该内容")},
                   "restricted"),
    "/s/banned": ({"status": 200, "body": WECHAT_TOMBSTONE.format(text="该公众号已被封禁")},
                  "account_gone"),
    "/news/2020/04/moved.html": ({"status": 302, "headers": [["Location", "/"]], "body": ""},
                                 "redirected"),
}


def test_every_reason_from_realistic_pages(tmp_home, server):
    configure(tmp_home)
    platforms = {"/s/": "wechat"}
    for path in DELETIONS:
        server.script(path, [article(f"Article {path}")])
    seeds = tmp_home / "seeds.toml"
    seeds.write_text("\n".join(
        f'[[source]]\nname = "src{i}"\nkind = "page"\nurl = "{server.url(path)}"\n'
        f'platform = "{next((v for k, v in platforms.items() if path.startswith(k)), "news")}"\n'
        for i, path in enumerate(DELETIONS)), encoding="utf-8")
    run_cli(tmp_home, "crawl", "--seeds", str(seeds))
    for path, (response, _) in DELETIONS.items():
        server.script(path, [response])
    first = recheck(tmp_home)
    assert "deletions confirmed 0" in first.output, first.output      # one missing check only
    second = recheck(tmp_home)
    assert f"deletions confirmed {len(DELETIONS)}" in second.output, second.output
    found = {d["url"]: d for d in deletions(tmp_home)}
    for path, (_, reason) in DELETIONS.items():
        entry = found[server.url(path)]
        assert entry["reason"] == reason, (path, entry)
        assert entry["last_seen_alive_at"] <= entry["first_seen_missing_at"] <= \
            entry["detected_at"]
        assert entry["last_good_capture"]["warc_filename"].endswith(".warc.gz")
        assert entry["evidence"]["rule"]
        assert entry["replay_url"].startswith("http://127.0.0.1:8765/replay/main/")
    # the tombstone pages are archived in full: they are the evidence
    tombstones = [r for r in all_records(tmp_home) if r["uri"] == server.url("/s/censored")
                  and r["type"] == "response"]
    assert any("此内容因违规无法查看" in r["raw"].decode("utf-8") for r in tombstones)


def test_soft_404_by_probe(tmp_home, server):
    configure(tmp_home)
    home_like = {"status": 200, "body": ARTICLE.format(
        title="Steppe Herald - news from Kazakhstan", text="Welcome to the front page.")}
    server.script("/news/2020/story.html", [article("A story about wheat exports")])
    crawl(tmp_home, server, ["/news/2020/story.html"])
    server.script("/_default", [home_like])               # every unknown URL answers 200
    server.script("/news/2020/story.html", [home_like])   # and so does the deleted story
    recheck(tmp_home)
    recheck(tmp_home)
    (entry,) = deletions(tmp_home)
    assert entry["reason"] == "soft_404"


NEVER = {
    "/timeout": [{"status": 200, "body": "late", "delay": 4}],
    "/reset": [{"close": True}],
    "/e500": [{"status": 500, "body": "<h1>Internal Server Error</h1>"}],
    "/e503": [{"status": 503, "body": "busy", "headers": [["Retry-After", "120"]]}],
    "/e429": [{"status": 429, "body": "slow down", "headers": [["Retry-After", "60"]]}],
    "/captcha": [{"status": 200, "body": '<html><body><div class="weui-msg"><p>环境异常</p>'
                  '<a href="/mp/wappoc_appmsgcaptcha?poc_token=x">去验证</a></div></body></html>'}],
    "/login": [{"status": 302, "body": "", "headers": [["Location", "/passport/login?next=/x"]]}],
    "/empty": [{"status": 200, "body": ""}],
    "/challenge": [{"status": 403, "body": "<html><head><title>Just a moment...</title></head>"
                    "<body><div id='challenge-platform'></div></body></html>"}],
    "/geo": [{"status": 451, "body": "<h1>Unavailable For Legal Reasons</h1>"}],
}


def test_never_a_deletion(tmp_home, server):
    configure(tmp_home)
    for path in NEVER:
        server.script(path, [article(f"Page {path}")])
    crawl(tmp_home, server, list(NEVER))
    for path, responses in NEVER.items():
        server.script(path, responses)
    for _ in range(3):
        recheck(tmp_home)
    assert deletions(tmp_home) == []
    # the crawl's fetch, then one per re-check: a check's 5xx or 429 is its verdict, not retried
    # (crawlers.middlewares.retry); the crawl's own fetch got a 200
    assert {path: server.hits()[path] for path in ("/e500", "/e503", "/e429")} == \
        {"/e500": 4, "/e503": 4, "/e429": 4}
    outcomes = rows(tmp_home, "SELECT url, outcome FROM checks")
    assert outcomes and {o["outcome"] for o in outcomes} <= {"transient", "blocked"}
    geo = {o["outcome"] for o in outcomes if o["url"].endswith("/geo")}
    assert geo == {"blocked"}
    states = {r["state"] for r in rows(tmp_home, "SELECT state FROM urls")}
    assert "deleted" not in states


def test_flap_does_not_confirm_and_restore_is_logged(tmp_home, server):
    configure(tmp_home)
    server.script("/flap", [article("Flapping")])
    server.script("/back", [article("Comes back")])
    crawl(tmp_home, server, ["/flap", "/back"])
    gone = {"status": 404, "body": "nope"}
    server.script("/flap", [gone, article("Flapping"), gone, article("Flapping")])
    server.script("/back", [gone, gone, article("Comes back")])
    for _ in range(4):
        recheck(tmp_home)
    (entry,) = deletions(tmp_home)
    assert entry["url"] == server.url("/back")
    assert entry["restored_at"] and entry["restored_at"] > entry["detected_at"]
    (back,) = rows(tmp_home, "SELECT state FROM urls WHERE url = ?", (server.url("/back"),))
    assert back["state"] == "alive"


def test_degraded_run_confirms_nothing(tmp_home, server):
    configure(tmp_home)
    server.script("/dies", [article("Dies")])
    live = [f"/ok{n}" for n in range(3)]
    for path in live:
        server.script(path, [article(path)])
    crawl(tmp_home, server, ["/dies", *live])
    server.script("/dies", [{"status": 404, "body": "gone"}])
    for path in live:
        server.script(path, [{"close": True}])     # our side: connections fail
    recheck(tmp_home)
    degraded = recheck(tmp_home)
    assert "DEGRADED run (most checks could not connect)" in degraded.output
    assert "deletions confirmed 0" in degraded.output
    assert deletions(tmp_home) == []
    runs = rows(tmp_home, "SELECT degraded, detail FROM runs WHERE kind = 'recheck' ORDER BY id")
    assert runs[-1]["degraded"] == 1 and "most checks could not connect" in runs[-1]["detail"]
    # a degraded run's checks are no evidence: even the 404 counts as transient
    dies = rows(tmp_home, "SELECT outcome, reason, detail FROM checks WHERE url = ?",
                (server.url("/dies"),))
    assert [(c["outcome"], c["reason"]) for c in dies] == [("transient", "degraded")] * 2
    assert "classified missing/gone" in dies[0]["detail"]
    [state] = rows(tmp_home, "SELECT state, missing_streak FROM urls WHERE url = ?",
                   (server.url("/dies"),))
    assert (state["state"], state["missing_streak"]) == ("alive", 0)
    for path in live:
        server.script(path, [article(path)])
    first = recheck(tmp_home)                 # healthy: the first missing check...
    assert "deletions confirmed 0" in first.output, first.output
    healthy = recheck(tmp_home)               # ...and the one that confirms it
    assert "deletions confirmed 1" in healthy.output, healthy.output


def test_conditional_get_gives_304_revisits(tmp_home, server):
    configure(tmp_home)
    page = article("Tagged")
    page["headers"] = [["ETag", '"v1"']]
    server.script("/tagged", [page])
    crawl(tmp_home, server, ["/tagged"])
    before = sum(p.stat().st_size for p in (tmp_home / "collections").rglob("*.warc.gz"))
    result = recheck(tmp_home)
    assert "alive 1" in result.output
    after = sum(p.stat().st_size for p in (tmp_home / "collections").rglob("*.warc.gz"))
    revisits = [r for r in all_records(tmp_home) if r["type"] == "revisit"]
    assert len(revisits) == 1
    assert revisits[0]["http"].get_statuscode() == "304"
    assert revisits[0]["headers"].get_header("WARC-Profile").endswith("server-not-modified")
    assert after - before <= 1024 + 700     # one revisit + request (+ a new file's warcinfo)


def test_schedule_due_and_domain_budget(tmp_home, server):
    configure(tmp_home, domain_budget=2)
    paths = [f"/p{n}" for n in range(5)]
    for path in paths:
        server.script(path, [article(path)])
    crawl(tmp_home, server, paths)
    due = run_cli(tmp_home, "recheck", "--due")
    assert "checked 0" in due.output                # the first check is 5 minutes away
    budget = recheck(tmp_home)
    assert "checked 2" in budget.output
    watched = rows(tmp_home, "SELECT next_check_at, last_checked_at FROM urls")
    assert all(w["next_check_at"] for w in watched)
    assert sum(1 for w in watched if w["last_checked_at"]) == 2


def test_history_lists_checks_with_outcomes(tmp_home, server):
    configure(tmp_home)
    server.script("/h", [article("History"), {"status": 404, "body": "gone"}])
    crawl(tmp_home, server, ["/h"])
    recheck(tmp_home)
    recheck(tmp_home)
    data = json.loads(run_cli(tmp_home, "history", server.url("/h"), "--format", "json").output)
    assert [c["outcome"] for c in data["checks"]] == ["missing", "missing"]
    assert data["deletions"][0]["reason"] == "gone"
    table = run_cli(tmp_home, "history", server.url("/h")).output
    assert "missing" in table and "http/404@1" in table and "deleted (gone" in table


def test_confirmed_deletion_is_notified_through_apprise(tmp_home, server):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        configure(tmp_home)
        with open(tmp_home / "memoryhole.toml", "a", encoding="utf-8") as handle:
            handle.write(f'[notify]\nurls = ["json://127.0.0.1:{hook.server_port}/hook"]\n')
        server.script("/n", [article("Notify me")])
        crawl(tmp_home, server, ["/n"])
        server.script("/n", [{"status": 410, "body": "gone"}])
        recheck(tmp_home)
        assert received == []                     # one missing check: nothing confirmed yet
        recheck(tmp_home)
        recheck(tmp_home)                          # already notified: not sent twice
    finally:
        hook.shutdown()
    assert len(received) == 1
    message = json.dumps(received[0], ensure_ascii=False)
    assert server.url("/n") in message and "gone" in message
    assert "/replay/main/" in message
