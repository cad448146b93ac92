"""Re-crawls: unchanged pages become revisits, edited pages get a diff, cosmetic edits do not."""

from __future__ import annotations

from tests.support import mockserver as ms
from tests.support.helpers import all_records, rows, run_cli, write_config


def test_recrawl_revisits_and_diffs(tmp_home, fresh_mockserver):
    server = fresh_mockserver
    write_config(tmp_home)
    same, edited, cosmetic = (server.url("/plain/same"), server.url("/plain/edited"),
                              server.url("/plain/cosmetic"))
    gz = server.url("/gzip/same")
    run_cli(tmp_home, "crawl", same, edited, cosmetic, gz)

    server.set_version("/plain/edited", 1)
    server.set_version("/plain/cosmetic", 2)
    second = run_cli(tmp_home, "crawl", same, edited, cosmetic, gz)
    assert "changed 1," in second.output, second.output

    records = all_records(tmp_home)
    revisits = {r["uri"] for r in records if r["type"] == "revisit"}
    assert revisits >= {same, gz}
    assert edited not in revisits and cosmetic not in revisits
    for record in records:
        if record["type"] == "revisit":
            assert record["headers"].get_header("WARC-Refers-To-Target-URI") == record["uri"]
            assert record["headers"].get_header("WARC-Refers-To-Date")
            assert record["headers"].get_header("WARC-Profile").endswith(
                "identical-payload-digest")
            assert record["raw"] == b""

    diffs = rows(tmp_home, "SELECT * FROM diffs")
    assert [d["url"] for d in diffs] == [edited]
    (diff,) = diffs
    assert diff["added"] == 1 and diff["removed"] == 1
    assert 0 < diff["similarity"] < 1
    assert ms.PLAIN_EDITED_PARAGRAPH in diff["unified_diff"]
    assert ms.PLAIN_ORIGINAL_SENTENCE in diff["unified_diff"]

    revisit_rows = rows(tmp_home, "SELECT url FROM captures WHERE is_revisit = 1")
    assert {r["url"] for r in revisit_rows} >= {same, gz}

    shown = run_cli(tmp_home, "diff", edited)
    assert "+1 -1" in shown.output
    assert "18 to 22" in shown.output and "18 to 25" in shown.output
    nothing = run_cli(tmp_home, "diff", cosmetic)
    assert "no text change" in nothing.output

    history = run_cli(tmp_home, "history", edited, "--format", "json")
    assert '"added": 1' in history.output


def test_trafilatura_extraction_when_configured(tmp_home, mockserver):
    write_config(tmp_home, extract="trafilatura")
    url = mockserver.url("/plain/full-extract")
    run_cli(tmp_home, "crawl", url)
    (row,) = rows(tmp_home, "SELECT text FROM captures WHERE url = ?", (url,))
    assert ms.PLAIN_PARAGRAPHS[0] in row["text"]
    assert ms.PLAIN_BYLINE not in row["text"]      # the fast extractor keeps the byline


def test_crawled_tombstone_never_becomes_the_last_good_capture(tmp_home):
    from tests.support.scriptserver import ScriptServer

    write_config(tmp_home, obey_robots=False)
    article = ("<html><head><title>文章</title></head><body><div id='js_content'><p>"
               + "哈萨克斯坦与中国的关系。" * 40 + "</p></div></body></html>")
    tombstone = ('<html><body><div class="weui-msg"><h2 class="weui-msg__title '
                 'global_error_msg">此内容因违规无法查看</h2></div></body></html>')
    with ScriptServer() as server:
        url = server.url("/s/abc")
        server.script("/s/abc", [{"status": 200, "body": article}, {"status": 200,
                                                                    "body": tombstone}])
        seeds = tmp_home / "seeds.toml"
        seeds.write_text(f'[[source]]\nname = "wx"\nurl = "{url}"\nplatform = "wechat"\n',
                         encoding="utf-8")
        run_cli(tmp_home, "crawl", "--seeds", str(seeds))
        second = run_cli(tmp_home, "crawl", "--seeds", str(seeds))
    assert "changed 0" in second.output
    (watched,) = rows(tmp_home, "SELECT last_capture_id FROM urls")
    (good,) = rows(tmp_home, "SELECT id, text FROM captures WHERE id = ?",
                   (watched["last_capture_id"],))
    assert "哈萨克斯坦与中国的关系" in good["text"]
    assert not rows(tmp_home, "SELECT * FROM diffs")
    (tomb,) = rows(tmp_home, "SELECT text FROM captures WHERE id != ?", (good["id"],))
    assert "此内容因违规无法查看" in tomb["text"]
