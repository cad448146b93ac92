"""The web UI (Starlette): the deletion log, a URL's timeline, diffs, the replay frame, Memento.

Pages (all GET, plain HTML with no script at all):

- ``/``: the deletion log, newest first; filters ``q`` (words of the last good capture),
  ``reason``, ``source``, ``domain``, ``since``, ``until`` (times or ages), ``offset``; counts
  per reason and an SVG chart per day of what the filters match.
- ``/url?u=URL``: its timeline (every capture and check with outcomes, edits, deletions), and
  for each deletion the last good capture and the tombstone side by side.
- ``/diff?u=URL&from=ID&to=ID``: two captures' texts side by side.
- ``/story?id=N``: a story's copies on other sites (a timeline, which went first).
- ``/replay/{collection}/{timestamp}/{url}``: a banner (URL, capture time, timeline link) over
  an iframe of the replay origin (archive.web.replay), sandboxed; the deletion log's
  ``replay_url`` points here.
- ``/timemap/link/{url}``, ``/timegate/{url}``: Memento (archive.web.memento).
- ``/report``: the velocity of deletion (archive.analysis: survival curves, times to deletion,
  per day and reason, coverage, detection delay), filters ``since``, ``source``, ``platform``.
- ``/workers``: the cluster's workers (archive.web.workers), only with ``[cluster] redis``.
- ``/api/deletions``: the filtered log as JSON, the deletion objects of ``deletions --format
  json``; ``/export/evidence?u=URL[&deletion=ID]``: a deletion's evidence bundle (a WACZ).

Every answer forbids framing and scripts (Content-Security-Policy) and lets frames come only
from the replay origin. Only requests for the host names it serves are answered (a DNS
rebinding page cannot read the log through the browser).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

import archive
from archive.analysis.charts import day_bars
from archive.catalogue.blocking import BlockFilter, query_blocks
from archive.catalogue.db import connect, open_catalogue
from archive.catalogue.deletions import REASONS, DeletionFilter, deletion_counts, query_deletions
from archive.catalogue.history import NotInCatalogue, url_history
from archive.catalogue.search import SEARCH_CATCH_UP, pending, refresh_text_index
from archive.catalogue.stories import story_by_id
from archive.export.evidence import evidence_bundle
from archive.export.wacz import ExportError
from archive.home import Home
from archive.jobs import CONTROL
from archive.timeutil import http_date, iso, parse_time_or_age, timestamp14, utcnow
from archive.urlnorm import canonical_url, is_http_url, url_in_path
from archive.warc.cdxj_lookup import captures_of, nearest, split_view
from archive.warc.reader import RecordNotFound
from archive.warc.safepath import collection_or_none
from archive.web.fetch_guard import CrossSiteGuard
from archive.web.headers import SecurityHeaders
from archive.web.memento import (
    LINK_FORMAT,
    memento_url,
    original_links,
    parse_accept_datetime,
    timemap,
)
from archive.web.replay import replay_target, unfold_scheme
from archive.web.views import (
    good_captures,
    report_body,
    report_filter,
    side_by_side,
    story_order,
    story_timeline,
    timeline_events,
    url_deletions,
    vantage_states,
)
from archive.web.workers import WorkersPage

TEMPLATES = Path(__file__).resolve().parent / "templates"
PAGE_SIZE = 100
API_LIMIT = 1000
BLOCKS_SHOWN = 500       # the latest blocks the "blocked where" page lists
FILTER_KEYS = ("q", "reason", "source", "domain", "since", "until")


class WebUI:
    """The UI origin's Starlette app (``app``) over one home."""

    def __init__(self, home: Home, *, ui_origin: str, replay_origin: str,
                 allowed_hosts: list[str] | None = None, control_name: str = CONTROL,
                 cluster: tuple[str, str] | None = None) -> None:
        self.home = home
        self.control_name = control_name      # the control's vantage in check rows
        self.ui_origin = ui_origin.rstrip("/")
        self.replay_origin = replay_origin.rstrip("/")
        open_catalogue(home.db_path).conn.close()           # create or migrate it once
        self.templates = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                                     autoescape=select_autoescape(["html"]))
        self.templates.globals["cluster"] = cluster is not None   # the nav's Workers link
        self.css = (TEMPLATES / "ui.css").read_text(encoding="utf-8")
        routes = [
            Route("/", self.deletion_log), Route("/api/deletions", self.api_deletions),
            Route("/url", self.url_page), Route("/diff", self.diff_page),
            Route("/blocking", self.blocking), Route("/report", self.report),
            Route("/story", self.story_page),
            Route("/static/ui.css", self.stylesheet),
            Route("/replay/{rest:path}", self.replay_frame),
            Route("/timemap/link/{rest:path}", self.timemap),
            Route("/timegate/{rest:path}", self.timegate),
            Route("/export/evidence", self.evidence),
        ]
        if cluster is not None:          # (redis URL, home id): archive.web.workers
            routes.append(Route("/workers", WorkersPage(*cluster, render=self._page).page))
        middleware = [Middleware(SecurityHeaders, replay_origin=self.replay_origin),
                      Middleware(CrossSiteGuard, own_origins=(self.ui_origin,))]
        if allowed_hosts:
            middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
        self.app = Starlette(routes=routes, middleware=middleware,
                             exception_handlers={404: self._not_found})

    # -- helpers -------------------------------------------------------------------------------
    def _db(self) -> Any:
        return connect(self.home.db_path)

    def _page(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = self.templates.get_template(template).render(
            version=archive.__version__, home=str(self.home.root), **values)
        return HTMLResponse(html, status_code=status)

    def _error(self, status: int, title: str, message: str) -> HTMLResponse:
        return self._page("error.html", status, title=title, message=message)

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        return self._error(404, "Not found", f"nothing at {request.url.path}")

    def _filter(self, request: Request, limit: int) -> tuple[DeletionFilter, dict[str, str]]:
        """The deletion filter of the query string (ValueError names the bad value)."""
        params = request.query_params
        form = {key: params.get(key, "").strip() for key in FILTER_KEYS}
        now = utcnow()
        try:
            offset = int(params.get("offset") or 0)
        except ValueError:
            raise ValueError("offset must be a number") from None
        flt = DeletionFilter(
            since=parse_time_or_age(form["since"], now) if form["since"] else None,
            until=parse_time_or_age(form["until"], now) if form["until"] else None,
            source=form["source"] or None, domain=form["domain"] or None,
            reason=form["reason"] or None, text=form["q"] or None, limit=limit,
            offset=offset)
        return flt, form

    @staticmethod
    def _refresh_for_search(db: Any) -> int:
        """Index what writers queued, if little is (the server indexes a long backlog in the
        background from its start); returns how many captures are left out of the index."""
        waiting = pending(db)
        if 0 < waiting <= SEARCH_CATCH_UP:
            refresh_text_index(db)
            return 0
        return waiting

    def _rest(self, request: Request, prefix: str) -> str:
        raw = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        rest = unfold_scheme(raw[len(prefix):])
        query = request.scope.get("query_string", b"").decode("latin-1")
        return rest + ("?" + query if query else "")

    # -- pages ---------------------------------------------------------------------------------
    def deletion_log(self, request: Request) -> Response:
        error = None
        try:
            flt, form = self._filter(request, PAGE_SIZE)
        except ValueError as exc:
            error, form = str(exc), {key: "" for key in FILTER_KEYS}
            flt = DeletionFilter(limit=PAGE_SIZE)
        db = self._db()
        try:
            behind = self._refresh_for_search(db) if flt.text else 0
            rows = query_deletions(db, flt, replay_base=self.ui_origin)
            counts = deletion_counts(db, flt)
            sources = [r[0] for r in db.execute("SELECT name FROM sources ORDER BY name")]
        finally:
            db.conn.close()
        total = sum(counts["reason"].values())
        kept = {k: v for k, v in form.items() if v}
        reason_links = {r: "/?" + urlencode({**kept, "reason": r}) for r in counts["reason"]}
        next_link = None
        if flt.offset + len(rows) < total:
            next_link = "/?" + urlencode({**kept, "offset": flt.offset + len(rows)})
        return self._page("deletions.html", title="Deletion log", rows=rows, counts=counts,
                          chart=day_bars(counts["day"], label="deletions per day", width=480,
                                         height=80, css_class="chart"),
                          total=total, shown=len(rows),
                          form=form, reasons=REASONS, sources=sources, error=error,
                          narrowed=flt.narrowed, reason_links=reason_links,
                          next_link=next_link, index_behind=behind)

    def api_deletions(self, request: Request) -> Response:
        try:
            flt, _ = self._filter(request, API_LIMIT)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        db = self._db()
        try:
            if flt.text:
                self._refresh_for_search(db)
            return JSONResponse(query_deletions(db, flt, replay_base=self.ui_origin))
        finally:
            db.conn.close()

    def blocking(self, request: Request) -> Response:
        """Blocked where: the blocks at vantage points, latest seen first (``?vantage=``)."""
        vantage = request.query_params.get("vantage", "").strip() or None
        current = request.query_params.get("current") == "1"
        db = self._db()
        try:
            rows = query_blocks(db, BlockFilter(vantage=vantage, current=current,
                                                limit=BLOCKS_SHOWN), replay_base=self.ui_origin)
            vantages = [r[0] for r in db.execute("SELECT DISTINCT vantage FROM blocks"
                                                 " ORDER BY vantage")]
        finally:
            db.conn.close()
        return self._page("blocking.html", title="Blocked where", rows=rows, vantage=vantage,
                          vantages=vantages, current=current, limit=BLOCKS_SHOWN)

    def report(self, request: Request) -> Response:
        """The velocity report (archive.analysis): ``since``, ``source``, ``platform``."""
        try:
            form, flt = report_filter(request.query_params)
        except ValueError as exc:
            return self._error(400, "Bad report filter", str(exc))
        db = self._db()
        try:
            body = report_body(db, flt)
        finally:
            db.conn.close()
        return self._page("report.html", title="Velocity of deletion", body=body, form=form)

    def url_page(self, request: Request) -> Response:
        url = request.query_params.get("u", "").strip()
        if not is_http_url(url):
            return self._error(400, "Not a URL", "give an http(s) URL: /url?u=https://…")
        db = self._db()
        try:
            try:
                history = url_history(db, url)
            except NotInCatalogue as exc:
                return self._error(404, "Not in the catalogue", str(exc))
            deletions = url_deletions(db.conn, history["url"], self.replay_origin)
            vantages = vantage_states(db.conn, history["url"], self.control_name)
        finally:
            db.conn.close()
        return self._page("url.html", title=history["url"], url=history["url"],
                          watch=history["watch"],
                          events=timeline_events(history, self.control_name),
                          vantages=vantages,
                          deletions=deletions, good_captures=good_captures(history),
                          items=history["items"],
                          timemap=f"/timemap/link/{url_in_path(history['url'])}")

    def story_page(self, request: Request) -> Response:
        """``/story?id=N``: a story's copies on a timeline, which went first."""
        try:
            story_id = int(request.query_params.get("id", ""))
        except ValueError:
            return self._error(400, "Bad story", "give a story id: /story?id=N")
        db = self._db()
        try:
            story = story_by_id(db, story_id, replay_base=self.ui_origin)
        finally:
            db.conn.close()
        if story is None:
            return self._error(404, "No such story", "no story with this id")
        copies = story_order(story["copies"])
        return self._page("story.html", title=f"Story {story['story_id']}", story=story,
                          timeline=story_timeline(copies, iso(utcnow())))

    def diff_page(self, request: Request) -> Response:
        params = request.query_params
        url = params.get("u", "").strip()
        try:
            from_id, to_id = int(params.get("from", "")), int(params.get("to", ""))
        except ValueError:
            return self._error(400, "Bad diff", "give two capture ids: from=ID&to=ID")
        db = self._db()
        try:
            key = canonical_url(url) if is_http_url(url) else ""
            owners = {row[0] for row in db.execute(
                "SELECT url FROM captures WHERE id IN (?, ?)", (from_id, to_id))}
            if owners != {key}:
                return self._error(404, "No such captures",
                                   f"captures {from_id} and {to_id} are not both of {url}")
            try:
                shown = side_by_side(db.conn, self.home, key, from_id, to_id)
            except RecordNotFound as exc:
                return self._error(404, "Record missing", str(exc))
        finally:
            db.conn.close()
        return self._page("diff.html", title=f"Diff of {key}", url=key, **shown)

    def evidence(self, request: Request) -> Response:
        """One deletion's evidence bundle (archive.export.evidence), as a download."""
        url = request.query_params.get("u", "").strip()
        try:
            deletion_id = int(request.query_params["deletion"]) \
                if request.query_params.get("deletion") else None
        except ValueError:
            return self._error(400, "Bad request", "deletion must be a number")
        if not is_http_url(url):
            return self._error(400, "Not a URL", "give an http(s) URL: ?u=https://…")
        folder = tempfile.mkdtemp(prefix="memoryhole-evidence-")
        out = Path(folder) / "evidence.wacz"
        db = self._db()
        try:
            evidence_bundle(self.home, db, url, out, deletion_id=deletion_id,
                            replay_base=self.ui_origin)
        except ExportError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            return self._error(404, "No evidence", str(exc))
        finally:
            db.conn.close()
        name = "evidence-" + re.sub(r"[^A-Za-z0-9._-]+", "_", canonical_url(url))[:80] + ".wacz"
        return FileResponse(out, media_type="application/wacz", filename=name,
                            background=BackgroundTask(shutil.rmtree, folder, True))

    def stylesheet(self, request: Request) -> Response:
        return Response(self.css, media_type="text/css")

    def replay_frame(self, request: Request) -> Response:
        target = replay_target(self._rest(request, "/replay").split("?", 1)[0],
                               request.scope.get("query_string", b"").decode("latin-1"))
        if target is None:
            return self._error(404, "Not a replay URL", "use /replay/{collection}/"
                                                         "{timestamp}/{url}")
        view, timestamp, _, url = target
        collection, vantage = split_view(view)
        if collection_or_none(self.home, collection) is None:
            return self._error(404, "No such collection", f"no collection {collection!r}")
        chosen = nearest(captures_of(self.home, url, [collection]), timestamp, url, vantage)
        if chosen is None:
            return self._error(404, "Not archived", f"{url} is not archived in {view}")
        frame = memento_url(self.replay_origin, chosen)
        raw = memento_url(self.replay_origin, chosen, modifier="id_")
        captured = http_date(chosen.timestamp)
        db = self._db()
        try:
            found = db.execute(
                "SELECT title FROM captures WHERE warc_filename = ? AND warc_offset = ?",
                (chosen.entry.filename, chosen.entry.offset)).fetchone()
        finally:
            db.conn.close()
        return self._page("frame.html", title=url, page_title=found[0] if found else None,
                          url=chosen.url, captured_at=captured,
                          captured_iso=chosen.timestamp, http_status=chosen.entry.status,
                          frame_url=frame, raw_url=raw)

    def timemap(self, request: Request) -> Response:
        url = self._rest(request, "/timemap/link/")
        captures = captures_of(self.home, url) if is_http_url(url) else []
        if not captures:
            return Response(f"{url} is not archived\n", status_code=404, media_type="text/plain")
        body = timemap(url, captures, ui_origin=self.ui_origin,
                       replay_origin=self.replay_origin)
        return Response(body, media_type=LINK_FORMAT)

    def timegate(self, request: Request) -> Response:
        url = self._rest(request, "/timegate/")
        try:
            wanted = parse_accept_datetime(request.headers.get("accept-datetime"))
        except ValueError as exc:
            return Response(f"{exc}\n", status_code=400, media_type="text/plain")
        captures = captures_of(self.home, url) if is_http_url(url) else []
        chosen = nearest(captures, timestamp14(wanted) if wanted else "99991231235959", url)
        if chosen is None:
            return Response(f"{url} is not archived\n", status_code=404, media_type="text/plain")
        return RedirectResponse(memento_url(self.replay_origin, chosen), status_code=302,
                                headers={"Vary": "accept-datetime",
                                         "Link": original_links(url, self.ui_origin,
                                                                timegate=False)})


def make_ui_app(home: Home, *, ui_origin: str, replay_origin: str,
                allowed_hosts: list[str] | None = None, control_name: str = CONTROL,
                cluster: tuple[str, str] | None = None) -> Any:
    return WebUI(home, ui_origin=ui_origin, replay_origin=replay_origin,
                 allowed_hosts=allowed_hosts, control_name=control_name, cluster=cluster).app
