"""A local replica of the mobile Weibo JSON API (m.weibo.cn), for the weibo source tests.

``python -m tests.support.weibosite`` listens on 127.0.0.1 port 0 and prints its URL. The
shapes follow public scrapers (weibo-crawler, Weiboscope) and NOTES.md: the timeline container
(``/api/container/getIndex?...&containerid=107603<uid>[&since_id=]``, cards of ``card_type`` 9
with an ``mblog``), ``/statuses/show?id=`` (``{"ok": 1, "data": mblog}`` or ``{"ok": 0, "msg"}``),
newest comments ``/api/comments/show?id=&page=`` and hottest ``/comments/hotflow?id=``.

``POST /_user`` sets a user: ``{"uid", "screen_name", "per_page", "gone", "wall", "posts": [...]}``
with posts ``{"id", "text", "created_at", "pinned", "hidden", "state", "long_text",
"extend_fails", "comments": [...]}`` (``long_text``: a long post, cut in the timeline, whole at
``/statuses/extend?id=``, which answers 502 with ``extend_fails``):
``state`` "ok" (default), "censored", "author", "restricted", "missing" (what statuses/show
answers; the post is out of the timeline), "rate_limited" and "login" (statuses/show's walls);
``hidden`` leaves the post out of the timeline only. Comments: ``{"id", "text", "created_at",
"like_count", "deleted"}``.
``wall`` answers every API call with the visitor-system page; ``gone`` the account error.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from demosite.httpkit import QuietServer, RawHandler, ServerProcess, serve_main

MESSAGES = {
    "censored": {"ok": 0, "msg": "该微博因违反《微博社区公约》的相关规定，已被删除"},
    "author": {"ok": 0, "msg": "抱歉，此微博已被作者删除"},
    "restricted": {"ok": 0, "msg": "抱歉，由于作者设置，你暂时没有这条微博的查看权限哦"},
    "missing": {"ok": 0, "msg": "这条微博不存在"},
    "rate_limited": {"ok": 0, "msg": "请求过于频繁，请稍后再试"},
    "login": {"ok": -100, "url": "/login?r=%2Fstatuses%2Fshow"},
}
ACCOUNT_GONE = "用户不存在"
WALL = ("<html><head><title>Sina Visitor System</title></head><body>"
        "<script src='/visitor/genvisitor'></script></body></html>")
COMMENTS_PER_PAGE = 10


def mblog(user: dict[str, Any], post: dict[str, Any]) -> dict[str, Any]:
    found = {
        "id": str(post["id"]), "mid": str(post["id"]), "bid": f"B{post['id']}",
        "created_at": post.get("created_at", "Mon Nov 30 10:00:00 +0800 2026"),
        "text": post.get("text", ""), "source": "微博 weibo.com",
        "user": {"id": int(user["uid"]), "screen_name": user.get("screen_name", "user")},
        "reposts_count": 3, "comments_count": len(post.get("comments", [])),
        "attitudes_count": 10,
        "pics": [{"pid": f"p{post['id']}", "url": f"/pic/{post['id']}.jpg",
                  "large": {"url": f"/large/{post['id']}.jpg"}}] if post.get("pics") else [],
    }
    if post.get("long_text"):        # the timeline shows its first lines, a link to the rest
        found["text"] = (post["long_text"][:20] + f'...<a href="/status/{post["id"]}">全文</a>')
        found["isLongText"] = True
    if post.get("pinned"):
        found["isTop"] = 1
        found["mblogtype"] = 2
    if post.get("retweet_of"):
        found["retweeted_status"] = {"id": str(post["retweet_of"]), "text": "原微博",
                                     "user": {"id": 1, "screen_name": "other"}}
    return found


def timeline(user: dict[str, Any], since_id: int | None) -> dict[str, Any]:
    posts = [p for p in user["posts"] if not p.get("hidden") and p.get("state", "ok") == "ok"]
    pinned = [p for p in posts if p.get("pinned")]
    ordinary = sorted((p for p in posts if not p.get("pinned")), key=lambda p: -p["id"])
    if since_id is not None:
        ordinary = [p for p in ordinary if p["id"] <= since_id]
    per_page = user.get("per_page", 10)
    shown, rest = ordinary[:per_page], ordinary[per_page:]
    cards = [{"card_type": 11, "card_group": []}]           # a card that is no post
    cards += [{"card_type": 9, "itemid": "", "mblog": mblog(user, p)}
              for p in (pinned if since_id is None else []) + shown]
    info: dict[str, Any] = {"containerid": f"107603{user['uid']}", "total": len(posts)}
    if rest:
        info["since_id"] = rest[0]["id"]
    return {"ok": 1, "data": {"cardlistInfo": info, "cards": cards}}


def _comment(c: dict[str, Any]) -> dict[str, Any]:
    return {"id": c["id"], "created_at": c.get("created_at", "Mon Nov 30 11:00:00 +0800 2026"),
            "text": c.get("text", ""), "like_count": c.get("like_count", 0),
            "user": {"id": 7, "screen_name": c.get("user", "网友")}}


class WeiboHTTPServer(QuietServer):
    def __init__(self, address: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        super().__init__(address, WeiboHandler)
        self.lock = threading.Lock()
        self.users: dict[str, dict[str, Any]] = {}

    def post(self, post_id: int) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        for user in self.users.values():
            for post in user["posts"]:
                if post["id"] == post_id:
                    return user, post
        return None, None


class WeiboHandler(RawHandler):
    server: WeiboHTTPServer

    def route(self, path: str, query: dict[str, str]) -> None:
        server = self.server
        if path == "/_user" and self.command == "POST":
            data = self.read_json()
            with server.lock:
                server.users[str(data["uid"])] = data
            return self.send_json({"ok": True})
        with server.lock:
            if any(u.get("wall") for u in server.users.values()) and path.startswith(
                    ("/api/", "/statuses/", "/comments/")):
                return self.send_raw(200, WALL.encode(), ctype="text/html; charset=utf-8")
            if path == "/api/container/getIndex":
                user = server.users.get(query.get("value", ""))
                if user is None or user.get("gone"):
                    return self.send_json({"ok": 0, "msg": ACCOUNT_GONE})
                since = query.get("since_id")
                return self.send_json(timeline(user, int(since) if since else None))
            if path == "/statuses/show":
                user, post = server.post(int(query.get("id", "0") or 0))
                if user is None or post is None:
                    return self.send_json({"ok": 0, "msg": "这条微博不存在"})
                if user.get("gone"):
                    return self.send_json({"ok": 0, "msg": ACCOUNT_GONE})
                state = post.get("state", "ok")
                if state != "ok":
                    return self.send_json(MESSAGES[state])
                return self.send_json({"ok": 1, "data": mblog(user, post)})
            if path == "/statuses/extend":
                user, post = server.post(int(query.get("id", "0") or 0))
                if post is None or post.get("state", "ok") != "ok" or not post.get("long_text"):
                    return self.send_json({"ok": 0, "msg": "这条微博不存在"})
                if post.get("extend_fails"):
                    return self.send_raw(502, b"bad gateway", ctype="text/plain")
                return self.send_json({"ok": 1, "data": {
                    "ok": 1, "longTextContent": post["long_text"], "reposts_count": 3}})
            if path in ("/api/comments/show", "/comments/hotflow"):
                user, post = server.post(int(query.get("id", "0") or 0))
                if post is None or post.get("state", "ok") != "ok":
                    return self.send_json({"ok": 0, "msg": "暂无数据"})
                live = [c for c in post.get("comments", []) if not c.get("deleted")]
                if path == "/comments/hotflow":
                    hot = sorted(live, key=lambda c: -c.get("like_count", 0))[:COMMENTS_PER_PAGE]
                    return self.send_json({"ok": 1, "data": {
                        "data": [_comment(c) for c in hot], "max_id": 0, "max_id_type": 0}})
                page = int(query.get("page", "1"))
                newest = sorted(live, key=lambda c: -c["id"])
                shown = newest[(page - 1) * COMMENTS_PER_PAGE: page * COMMENTS_PER_PAGE]
                return self.send_json({"ok": 1, "data": {
                    "data": [_comment(c) for c in shown], "total_number": len(live),
                    "max": (len(live) + COMMENTS_PER_PAGE - 1) // COMMENTS_PER_PAGE}})
        return self.send_raw(404, b"<html><body>404</body></html>",
                             ctype="text/html; charset=utf-8")


class WeiboSite(ServerProcess):
    """``with WeiboSite() as site: site.user("1234567", posts=[...])``"""

    module = "tests.support.weibosite"
    root = Path(__file__).resolve().parents[2]

    def user(self, uid: str, posts: list[dict[str, Any]], **options: Any) -> None:
        self.request("/_user", {"uid": uid, "posts": posts, **options})


def main() -> None:
    serve_main(WeiboHTTPServer(("127.0.0.1", 0)), "weibosite")


if __name__ == "__main__":
    main()
