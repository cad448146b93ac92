"""The story index on a real catalogue (archive.writer.stories): edits that move a URL, texts too
short, the candidate query's plan, shingling decided per text; and the bench's smoke run."""

from __future__ import annotations

from collections import Counter

from archive.catalogue.db import open_catalogue
from archive.text.minhash import CJK_SHINGLE, WORD_SHINGLE, is_cjk, shingles, tokens
from archive.writer.stories import StoryIndex, candidates_sql
from bench.stories import quality, scale
from demosite.content import BORDER_MARKET, KHORGOS, PIPELINE

KHORGOS_TEXT = " ".join(KHORGOS.paragraphs)
MARKET_TEXT = " ".join(BORDER_MARKET.paragraphs)
PIPELINE_TEXT = " ".join(PIPELINE.paragraphs)


def index(tmp_path):
    db = open_catalogue(tmp_path / "memoryhole.db")
    for n in range(1, 6):
        db.conn.execute("INSERT INTO urls (id, url, state) VALUES (?, ?, 'alive')",
                        (n, f"https://site{n}.example/a"))
    return db, StoryIndex(db.conn, None, Counter())


def story(db, url_id):
    return db.conn.execute("SELECT story_id FROM urls WHERE id = ?", (url_id,)).fetchone()[0]


def test_an_edit_moves_a_url_between_stories(tmp_path):
    db, stories = index(tmp_path)
    first = stories.assign(1, 11, KHORGOS_TEXT)
    assert first is None                                   # alone: no story yet
    khorgos = stories.assign(2, 12, KHORGOS_TEXT + " Reprinted with permission.")
    assert khorgos is not None and story(db, 1) == story(db, 2) == khorgos
    assert stories.assign(3, 13, MARKET_TEXT) is None
    market = stories.assign(4, 14, MARKET_TEXT)
    assert market not in (None, khorgos)
    # URL 2 is edited into a copy of the market story: it moves there; URL 1 stays in its own
    assert stories.assign(2, 22, MARKET_TEXT + " Updated.") == market
    assert (story(db, 1), story(db, 2)) == (khorgos, market)
    # an edit into a text like no other: it leaves its story
    assert stories.assign(2, 32, PIPELINE_TEXT) is None and story(db, 2) is None
    # too short: no signature, no story, its bands are gone
    stories.assign(4, 24, "Page not found.")
    assert story(db, 4) is None
    assert db.execute("SELECT count(*) FROM story_bands WHERE url_id = 4").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM story_signatures WHERE url_id = 4").fetchone()[0] == 0
    # the same text again: one lookup, nothing rewritten but the capture it is in
    bands = db.execute("SELECT band, key FROM story_bands WHERE url_id = 1 ORDER BY 1, 2"
                       ).fetchall()
    assert stories.assign(1, 41, KHORGOS_TEXT) == khorgos
    assert stories.stats["stories/unchanged"] == 1
    assert db.execute("SELECT band, key FROM story_bands WHERE url_id = 1 ORDER BY 1, 2"
                      ).fetchall() == bands
    assert db.execute("SELECT capture_id FROM story_signatures WHERE url_id = 1").fetchone() \
        == (41,)


def test_a_stricter_threshold_keeps_the_shortened_reprint_out(tmp_path):
    db = open_catalogue(tmp_path / "memoryhole.db")
    for n in (1, 2):
        db.conn.execute("INSERT INTO urls (id, url) VALUES (?, ?)", (n, f"https://s{n}.example/"))
    stories = StoryIndex(db.conn, 0.8, Counter())
    stories.assign(1, 1, KHORGOS_TEXT)
    assert stories.assign(2, 2, " ".join(KHORGOS.paragraphs[:3])) is None


def test_candidates_are_found_through_the_band_index(tmp_path):
    db, _ = index(tmp_path)
    plan = " ".join(str(row[-1]) for row in db.execute(
        "EXPLAIN QUERY PLAN " + candidates_sql(42), [0] * 84 + [1, 64]).fetchall())
    assert "SEARCH b USING PRIMARY KEY (band=? AND key=?)" in plan, plan
    assert "SCAN b" not in plan and "SCAN story_bands" not in plan, plan


def test_shingles_are_decided_per_text():
    assert not is_cjk(tokens("Khorgos freight traffic grows"))
    assert is_cjk(tokens("哈萨克斯坦与中国同意扩大霍尔果斯货运量 Khorgos"))
    assert not is_cjk(tokens("The article 哈萨克斯坦为何 was removed from the site last week"))
    latin = shingles("one two three four")
    assert latin == {"one two three", "two three four"} and WORD_SHINGLE == 3
    cjk = shingles("哈萨克斯坦 2020")
    assert "哈 萨 克 斯" in cjk and CJK_SHINGLE == 4
    assert "克 斯 坦 2020" in cjk                  # a number stays in the run, one token


def test_bench_runs_small():
    result = quality()
    best = {row["threshold"]: row for row in result["rows"]}[0.5]
    assert best["precision"] == 1.0 and best["recall"] == 1.0
    assert result["highest_other"][0] < 0.5 <= result["lowest_copy"][0]
    small = scale(300, batch=100)
    assert small["grouped"] > 0 and small["per_second"] > 0


def test_a_signature_made_by_a_worker_is_used_as_given(tmp_path):
    """A cluster's worker signs the text (archive.cluster.sink); the owner's writer stores that
    signature and does not sign again: the same stories as when it signs itself."""
    from archive.text.minhash import Signer, to_bytes

    class NoSigning(Signer):
        def sign(self, text):
            raise AssertionError("signed again")

    db, _ = index(tmp_path)
    given = StoryIndex(db.conn, None, Counter(), signer=NoSigning())
    made = Signer()

    def signed(text):
        signature = made.sign(text)
        return to_bytes(signature).hex() if signature is not None else ""

    assert given.assign(1, 11, KHORGOS_TEXT, signed=signed(KHORGOS_TEXT)) is None
    reprint = KHORGOS_TEXT + " Reprinted with permission."
    khorgos = given.assign(2, 12, reprint, signed=signed(reprint))
    assert khorgos is not None and story(db, 1) == story(db, 2) == khorgos
    assert given.assign(2, 22, "Page not found.", signed="") is None    # too short, as given
    assert story(db, 2) is None
