"""The catalogue's schema: sqlite-utils migrations, in order (archive.catalogue.db applies them
when it opens the catalogue). Add new ones at the end; never edit an old one."""

from __future__ import annotations

import sqlite3

import sqlite_utils
from sqlite_utils.migrations import Migrations

MIGRATION_SET = "memoryhole"


def build_migrations() -> Migrations:
    """The catalogue's migrations, in order. Add new ones at the end; never edit an old one."""
    migrations = Migrations(MIGRATION_SET)

    @migrations(name="0001_core")
    def core(db: sqlite_utils.Database) -> None:
        db["sources"].create(
            {
                "id": int, "name": str, "kind": str, "url": str, "platform": str,
                "schedule": str, "render": str, "tags": str, "config": str,
                "created_at": str, "updated_at": str,
            },
            pk="id", not_null={"name", "kind"},
        )
        db["sources"].create_index(["name"], unique=True)
        db["urls"].create(
            {
                "id": int, "url": str, "domain": str, "source": str, "platform": str,
                "item_id": str, "first_seen_at": str, "last_captured_at": str,
                "last_checked_at": str, "next_check_at": str, "state": str,
                "missing_streak": int, "etag": str, "last_modified": str,
                "last_payload_digest": str, "last_text_digest": str, "last_capture_id": int,
            },
            pk="id", not_null={"url"}, defaults={"state": "alive", "missing_streak": 0},
        )
        db["urls"].create_index(["url"], unique=True)
        db["urls"].create_index(["domain"])
        db["urls"].create_index(["next_check_at"])
        db["urls"].create_index(["source"])
        db["runs"].create(
            {
                "id": int, "kind": str, "started_at": str, "finished_at": str,
                "status": str, "pid": int, "stats": str, "degraded": int, "detail": str,
            },
            pk="id", defaults={"degraded": 0},
        )
        db["captures"].create(
            {
                "id": int, "url": str, "fetched_url": str, "captured_at": str, "status": int,
                "mime": str, "collection": str, "warc_filename": str, "warc_offset": int,
                "warc_length": int, "warc_record_id": str, "payload_digest": str,
                "text_digest": str, "title": str, "text": str, "encoding": str,
                "is_revisit": int, "via": str, "run_id": int,
            },
            pk="id", not_null={"url", "captured_at", "warc_filename"},
            defaults={"is_revisit": 0, "via": "http"},
            foreign_keys=[("run_id", "runs", "id")],
        )
        db["captures"].create_index(["url", "captured_at"])
        db["captures"].create_index(["warc_record_id"], unique=True)
        db["captures"].create_index(["warc_filename", "warc_offset"])
        db["diffs"].create(
            {
                "id": int, "url": str, "from_capture_id": int, "to_capture_id": int,
                "created_at": str, "similarity": float, "added": int, "removed": int,
                "unified_diff": str,
            },
            pk="id",
            foreign_keys=[
                ("from_capture_id", "captures", "id"),
                ("to_capture_id", "captures", "id"),
            ],
        )
        db["diffs"].create_index(["url", "created_at"])

    @migrations(name="0002_checks_deletions")
    def checks_deletions(db: sqlite_utils.Database) -> None:
        db["urls"].add_column("last_alive_at", str)
        db["urls"].add_column("missing_since", str)
        db["urls"].add_column("missing_reason", str)
        db["urls"].add_column("deleted_at", str)
        db["urls"].add_column("check_count", int)
        db["checks"].create(
            {
                "id": int, "url": str, "url_id": int, "checked_at": str, "outcome": str,
                "http_status": int, "reason": str, "rule": str, "detail": str,
                "capture_id": int, "vantage": str, "run_id": int,
            },
            pk="id", not_null={"url", "checked_at", "outcome"},
        )
        db["checks"].create_index(["url", "checked_at"])
        db["checks"].create_index(["run_id"])
        db["deletions"].create(
            {
                "id": int, "url": str, "url_id": int, "domain": str, "source": str,
                "reason": str, "rule": str, "http_status": int, "detail": str,
                "detected_at": str, "last_seen_alive_at": str, "first_seen_missing_at": str,
                "confirmed_checks": int, "evidence_capture_id": int,
                "last_good_capture_id": int, "restored_at": str, "restored_capture_id": int,
                "notified_at": str, "restore_notified_at": str, "item_id": str,
                "parent_url": str,
            },
            pk="id", not_null={"url", "reason", "detected_at"},
        )
        db["deletions"].create_index(["detected_at"])
        db["deletions"].create_index(["domain", "detected_at"])
        db["deletions"].create_index(["source", "detected_at"])
        db["deletions"].create_index(["reason", "detected_at"])
        db["deletions"].create_index(["url"])

    @migrations(name="0003_transient_streak")
    def transient_streak(db: sqlite_utils.Database) -> None:
        db["urls"].add_column("transient_streak", int)

    @migrations(name="0004_checks_by_url_id")
    def checks_by_url_id(db: sqlite_utils.Database) -> None:
        # checks arrive in re-check order, random against the URL text: an index on the text
        # made bulk writes 3x slower (bench/deletions_scale.py); the integer key keeps it local.
        db.execute("DROP INDEX IF EXISTS idx_checks_url_checked_at")
        db["checks"].create_index(["url_id", "checked_at"])

    @migrations(name="0005_text_search")
    def text_search(db: sqlite_utils.Database) -> None:
        # Full-text search over captures' title and text (archive.catalogue.search). Writers
        # only queue the ids of changed rows (a trigger: microseconds); whoever searches
        # indexes them first, so no crawl pays for the index. Trigram: substrings of 3
        # characters or more, the only SQLite tokenizer that finds words in Chinese text, which
        # has no spaces.
        tokenizer = "trigram" if _has_trigram(db) else "unicode61"
        db.execute(f"CREATE VIRTUAL TABLE captures_fts USING fts5(title, text, "
                   f"tokenize='{tokenizer}')")
        db.execute("CREATE TABLE fts_pending (capture_id INTEGER PRIMARY KEY)")
        db.execute("CREATE TRIGGER captures_fts_queue_insert AFTER INSERT ON captures"
                   " WHEN new.text IS NOT NULL OR new.title IS NOT NULL"
                   " BEGIN INSERT OR IGNORE INTO fts_pending VALUES (new.id); END")
        db.execute("CREATE TRIGGER captures_fts_queue_update AFTER UPDATE OF title, text ON"
                   " captures BEGIN INSERT OR IGNORE INTO fts_pending VALUES (new.id); END")
        db.execute("CREATE TRIGGER captures_fts_queue_delete AFTER DELETE ON captures"
                   " BEGIN INSERT OR IGNORE INTO fts_pending VALUES (old.id); END")
        db.execute("INSERT INTO fts_pending SELECT id FROM captures WHERE text IS NOT NULL"
                   " OR title IS NOT NULL")

    @migrations(name="0006_items")
    def items(db: sqlite_utils.Database) -> None:
        # Items inside list pages (archive.writer.lists): a channel's messages, a timeline's posts.
        db["items"].create(
            {
                "id": int, "parent_url": str, "item_id": str, "seq": int, "platform": str,
                "source": str, "url": str, "check_url": str, "url_id": int, "posted_at": str,
                "text": str, "meta": str, "service": int, "first_seen_at": str,
                "last_seen_at": str, "first_capture_id": int, "last_capture_id": int,
                "state": str, "suspected_at": str, "suspected_capture_id": int,
            },
            pk="id", not_null={"parent_url", "item_id", "state"},
            defaults={"state": "present", "service": 0},
        )
        db["items"].create_index(["parent_url", "item_id"], unique=True)
        db["items"].create_index(["parent_url", "seq"])
        db["items"].create_index(["url_id"])
        db["urls"].add_column("parent_url", str)
        db["deletions"].add_column("item_text", str)

    @migrations(name="0007_items_missing_count")
    def items_missing_count(db: sqlite_utils.Database) -> None:
        # captures of its list in a row an item with no URL of its own was missing from
        db["items"].add_column("missing_count", int)
        db["deletions"].create_index(["parent_url", "item_id"])

    @migrations(name="0008_capture_meta")
    def capture_meta(db: sqlite_utils.Database) -> None:
        # what a platform's page says about itself, as JSON (a WeChat article's account,
        # publish time, images: archive.platforms.wechat)
        db["captures"].add_column("meta", str)

    @migrations(name="0009_watch_text")
    def watch_text(db: sqlite_utils.Database) -> None:
        # 0: a URL watched for its existence only (a Telegram channel's card, whose subscriber
        # count changes all the time): its text changes are never diffs nor "changed" checks
        db["urls"].add_column("watch_text", int)

    @migrations(name="0010_certificate_sha256")
    def certificate_sha256(db: sqlite_utils.Database) -> None:
        # the SHA-256 fingerprint of the server's certificate a capture came with (https; the
        # certificates themselves are in the WARC, a metadata record per origin and file)
        db["captures"].add_column("certificate_sha256", str)

    @migrations(name="0011_vantages")
    def vantages(db: sqlite_utils.Database) -> None:
        # the vantage point a capture was fetched from (NULL: the control); never the URL's
        # last good capture, what a 304 or a diff refers to
        db["captures"].add_column("vantage", str)
        # what is blocked where: alive at the control and failing or walled at a vantage
        # (archive.writer.vantages); one row per episode, open until the vantage sees it again
        db["blocks"].create({
            "id": int, "url": str, "url_id": int, "vantage": str, "first_blocked_at": str,
            "last_blocked_at": str, "unblocked_at": str, "check_id": int, "capture_id": int,
            "http_status": int, "reason": str, "rule": str, "detail": str, "notified_at": str,
        }, pk="id")
        db["blocks"].create_index(["url_id", "vantage"])
        db["blocks"].create_index(["vantage", "last_blocked_at"])

    @migrations(name="0012_text_from_capture")
    def text_from_capture(db: sqlite_utils.Database) -> None:
        # a capture whose text is the same as its URL's last good capture's keeps no copy: it
        # names the capture that holds the text (archive.catalogue.captures.text_sql); an
        # unchanged re-check then adds a few hundred bytes, not the page's text and its index
        db["captures"].add_column("text_capture_id", int)
        db.execute("CREATE INDEX idx_captures_text_capture_id ON captures (text_capture_id)"
                   " WHERE text_capture_id IS NOT NULL")

    @migrations(name="0013_item_versions")
    def item_versions(db: sqlite_utils.Database) -> None:
        # every text an item was listed with (archive.writer.lists): an edited message or
        # comment keeps each version, from the capture that first showed it; items listed
        # before this migration start with the text they had then, seen at their last listing
        db["item_versions"].create({
            "id": int, "item_row_id": int, "seen_at": str, "capture_id": int, "text": str,
        }, pk="id", foreign_keys=[("item_row_id", "items", "id")])
        db["item_versions"].create_index(["item_row_id", "seen_at"])
        db.execute("INSERT INTO item_versions (item_row_id, seen_at, capture_id, text)"
                   " SELECT id, last_seen_at, last_capture_id, text FROM items"
                   " WHERE text IS NOT NULL")

    @migrations(name="0014_stories")
    def stories(db: sqlite_utils.Database) -> None:
        # Copies of one story across sites (archive.writer.stories): a URL's story, the MinHash
        # signature of its last good text, and the LSH band keys that find its near-duplicates
        # with an index lookup per band (archive.text.minhash), so that adding a capture never
        # reads the whole index and nothing of it is held in memory between captures.
        db["stories"].create({"id": int, "created_at": str, "first_url_id": int}, pk="id")
        db["urls"].add_column("story_id", int)
        db.execute("CREATE INDEX idx_urls_story_id ON urls (story_id) WHERE story_id IS NOT NULL")
        db["story_signatures"].create({
            "url_id": int, "capture_id": int, "signature": bytes, "signed_at": str,
            "similarity": float,
        }, pk="url_id")
        db.execute("CREATE TABLE story_bands (band INTEGER NOT NULL, key INTEGER NOT NULL,"
                   " url_id INTEGER NOT NULL, PRIMARY KEY (band, key, url_id)) WITHOUT ROWID")

    @migrations(name="0015_cluster_jobs")
    def cluster_jobs(db: sqlite_utils.Database) -> None:
        # the cluster jobs whose results are stored (archive.cluster.ingest): a job done twice
        # by workers is stored once
        db["cluster_jobs"].create({"job_id": str, "run_id": int, "worker": str,
                                   "stored_at": str}, pk="job_id")

    @migrations(name="0016_stable_urls")
    def stable_urls(db: sqlite_utils.Database) -> None:
        # a re-check run's control candidates, newest checked first (archive.catalogue.due): a
        # walk of this index instead of a scan and sort of every watched URL (issue 14). Its
        # WHERE is due.py's "stable URL", word for word: SQLite uses a partial index only for a
        # query whose terms imply it.
        db.execute("CREATE INDEX idx_urls_stable ON urls (last_checked_at) WHERE"
                   " state = 'alive' AND check_count >= 1 AND missing_streak = 0 AND"
                   " transient_streak = 0 AND last_payload_digest IS NOT NULL AND"
                   " item_id IS NULL")

    @migrations(name="0017_full_captures_by_url")
    def full_captures_by_url(db: sqlite_utils.Database) -> None:
        # a URL's full (non-revisit) captures, newest last: what a re-check's revisit lookups
        # ask for (archive.writer.pages: the newest full capture, or the newest with a digest).
        # Through (url, captured_at) they read and sorted every capture of the URL, its revisits
        # included, so a check cost more the older its URL; here the newest comes first and
        # revisits are not in the index (issue 14)
        db.execute("CREATE INDEX idx_captures_url_full ON captures (url) WHERE is_revisit = 0")

    @migrations(name="0018_deletion_text_search")
    def deletion_text_search(db: sqlite_utils.Database) -> None:
        # The deletion log's text filter searches the deletions' last good captures only
        # (archive.catalogue.search): through every capture's index it listed every match in
        # the archive (0.7 s at 1M captures, 2 s at 3M, BENCHMARKS.md). Queued by triggers and
        # indexed by whoever searches, as captures_fts is (0005).
        tokenizer = "trigram" if _has_trigram(db) else "unicode61"
        db.execute(f"CREATE VIRTUAL TABLE deletions_fts USING fts5(title, text, "
                   f"tokenize='{tokenizer}')")
        db.execute("CREATE TABLE deletion_fts_pending (deletion_id INTEGER PRIMARY KEY)")
        db.execute("CREATE TRIGGER deletions_fts_queue_insert AFTER INSERT ON deletions"
                   " BEGIN INSERT OR IGNORE INTO deletion_fts_pending VALUES (new.id); END")
        db.execute("CREATE TRIGGER deletions_fts_queue_update AFTER UPDATE OF"
                   " last_good_capture_id ON deletions"
                   " BEGIN INSERT OR IGNORE INTO deletion_fts_pending VALUES (new.id); END")
        db.execute("CREATE TRIGGER deletions_fts_queue_delete AFTER DELETE ON deletions"
                   " BEGIN INSERT OR IGNORE INTO deletion_fts_pending VALUES (old.id); END")
        db.execute("INSERT INTO deletion_fts_pending SELECT id FROM deletions")

    return migrations


def _has_trigram(db: sqlite_utils.Database) -> bool:
    try:
        db.execute("CREATE VIRTUAL TABLE temp._probe_trigram USING fts5(x, tokenize='trigram')")
    except sqlite3.OperationalError:
        return False
    db.execute("DROP TABLE temp._probe_trigram")
    return True
