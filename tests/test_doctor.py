"""``memoryhole doctor``: one line per check (ok, warn or fail, what, the fix); exit 1 when any
check fails. Real parts: Debian's Chromium, fc-list, the home's disk, TCP connections to
proxies on 127.0.0.1 that the test opens (or leaves closed)."""

from __future__ import annotations

import socket

from archive.catalogue.db import open_catalogue
from tests.support.helpers import free_port, run_cli, write_config


def _lines(output: str) -> dict[str, str]:
    """Each line keyed by what it checks (``chromium``, ``disk``, ``vantage kz``...)."""
    out = {}
    for line in output.splitlines():
        status, _, rest = line.partition("  ")
        out[rest.strip().split(":", 1)[0]] = line
        assert status.strip() in ("ok", "warn", "fail"), line
    return out


def _add_vantages(home, **proxies: str) -> None:
    config = home / "memoryhole.toml"
    text = config.read_text(encoding="utf-8")
    for name, proxy in proxies.items():
        text += f'\n[[vantage]]\nname = "{name}"\nproxy = "{proxy}"\n'
    config.write_text(text, encoding="utf-8")


def test_a_healthy_home_passes(tmp_home):
    write_config(tmp_home, warc_max_mb=1)
    with socket.create_server(("127.0.0.1", 0)) as proxy:       # a proxy that listens
        _add_vantages(tmp_home, kz=f"http://127.0.0.1:{proxy.getsockname()[1]}")
        result = run_cli(tmp_home, "doctor", expect=0)
    lines = _lines(result.output)
    assert lines["chromium"].startswith("ok") and "Chromium" in lines["chromium"]
    assert lines["disk"].startswith("ok")
    assert lines["vantage kz"].startswith("ok") and "accepts connections" in lines["vantage kz"]
    assert {"fonts", "clock", "pywb"} <= set(lines)
    assert not any(line.startswith("fail") for line in lines.values())


def test_a_proxy_nobody_listens_on_fails_naming_the_fix(tmp_home):
    write_config(tmp_home, warc_max_mb=1)
    port = free_port()                                          # nothing listens there
    _add_vantages(tmp_home, kz=f"socks5://researcher:s3cret-pw@127.0.0.1:{port}")
    result = run_cli(tmp_home, "doctor", expect=1)
    line = _lines(result.output)["vantage kz"]
    assert line.startswith("fail") and f"127.0.0.1:{port}" in line
    assert "cannot connect" in line
    assert "fix: start the proxy" in line and "[[vantage]] kz" in line
    assert str(tmp_home / "memoryhole.toml") in line
    assert "s3cret-pw" not in result.output and "researcher" not in result.output


def test_chromium_missing_where_memoryhole_chromium_points_fails(tmp_home, monkeypatch):
    write_config(tmp_home, warc_max_mb=1)
    missing = tmp_home / "no-such-chromium"
    monkeypatch.setenv("MEMORYHOLE_CHROMIUM", str(missing))
    result = run_cli(tmp_home, "doctor", expect=1)
    line = _lines(result.output)["chromium"]
    assert line.startswith("fail") and str(missing) in line
    assert "fix: apt-get install -y chromium" in line


def test_too_little_disk_for_the_warc_size_fails(tmp_home):
    write_config(tmp_home, warc_max_mb=10**9)                  # a petabyte per WARC file
    result = run_cli(tmp_home, "doctor", expect=1)
    line = _lines(result.output)["disk"]
    assert line.startswith("fail") and "warc_max_mb" in line.split("fix:", 1)[1]


def test_a_clock_behind_the_catalogue_fails(tmp_home):
    write_config(tmp_home, warc_max_mb=1)
    db = open_catalogue(tmp_home / "memoryhole.db")
    db["runs"].insert({"kind": "crawl", "started_at": "2999-01-01T00:00:00Z"})
    db.conn.close()
    result = run_cli(tmp_home, "doctor", expect=1)
    fails = [line for line in result.output.splitlines() if line.startswith("fail")]
    assert len(fails) == 1 and "clock" in fails[0] and "2999-01-01T00:00:00Z" in fails[0]


def test_the_clusters_redis_is_checked_never_showing_the_password(tmp_home, tmp_path):
    from archive.cluster.doctor import judge
    from tests.support.redisserver import RedisServer

    write_config(tmp_home, warc_max_mb=1)
    config = (tmp_home / "memoryhole.toml").read_text(encoding="utf-8")
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis", password="doctor-s3cret")
    try:
        (tmp_home / "memoryhole.toml").write_text(
            config + f'[cluster]\nredis = "{server.url}"\n', encoding="utf-8")
        run = run_cli(tmp_home, "doctor", expect=None)
        line = _lines(run.output)["redis"]
        assert line.startswith("warn") and "keeps no append-only file" in line, line
        assert f"redis://127.0.0.1:{server.port}/0 (version 7." in line
        server.client().config_set("appendonly", "yes")
        line = _lines(run_cli(tmp_home, "doctor", expect=None).output)["redis"]
        assert line.startswith("ok") and "append-only file on" in line, line
    finally:
        server.stop()
    gone = run_cli(tmp_home, "doctor", expect=1)          # the server is down now
    line = _lines(gone.output)["redis"]
    assert line.startswith("fail") and "cannot be reached" in line, line
    for output in (run.output, gone.output):
        assert "doctor-s3cret" not in output
    old = judge("redis://10.0.0.5:6379/0", "6.0.16", aof=True)
    assert old.status == "fail" and "needs >= 6.2" in old.line()
