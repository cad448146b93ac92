"""Generate a deterministic static news site for the crawl benchmark.

``generate_site(folder, pages, base_url)`` writes ``pages`` article pages of 30-60 KB (news
chrome: header, nav, breadcrumbs, share bar, related links, footer, JSON-LD; an ``<article>``
of English and some Chinese paragraphs), ``urls.txt`` (one absolute URL a line), ``feed.xml``
(RSS 2.0 listing every page), ``robots.txt`` (everything allowed) and ``index.html``.

Every other page also gets a pre-compressed ``.html.gz`` twin, which nginx's ``gzip_static``
serves to clients that accept gzip: half the pages travel compressed, and the server spends
no CPU compressing (the benchmark machine has two cores and the crawler should have them).

The same arguments always give the same bytes; a ``site.json`` manifest lets a second call
with the same arguments return at once.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

MIN_BYTES = 30 * 1024
MAX_BYTES = 60 * 1024
SECTIONS = ("world", "china", "business", "technology", "opinion", "culture", "sport",
            "science", "health", "media")
_WORDS = (
    "government officials said the report was released on tuesday after weeks of "
    "negotiations between the ministry and local authorities who declined to comment "
    "further on the decision which critics described as a setback for press freedom and "
    "independent journalism in the region where several reporters have been detained "
    "since the protests began last spring according to rights groups monitoring the "
    "situation the spokesperson added that the measures were temporary and necessary to "
    "maintain public order while residents interviewed by our correspondent expressed "
    "concern about internet restrictions that have blocked access to foreign news sites "
    "social media platforms and messaging applications used by millions of people every "
    "day analysts expect the policy to remain in place until the end of the year despite "
    "international pressure from trade partners and human rights organisations the "
    "company confirmed in a statement that it had removed the posts at the request of "
    "regulators citing national security laws passed in march economists warned that "
    "growth could slow as investors weigh political risk alongside rising debt levels"
).split()
_HANZI = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子"
    "说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机"
    "当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心"
    "反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程"
    "展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期"
    "根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志"
    "世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每"
    "目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律"
    "叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感"
    "劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片"
    "始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严龙飞"
)


@dataclass(frozen=True)
class SiteInfo:
    folder: str
    pages: int
    base_url: str
    seed: int
    total_bytes: int
    gzipped_pages: int

    @property
    def urls_file(self) -> Path:
        return Path(self.folder) / "urls.txt"

    @property
    def feed_url(self) -> str:
        return f"{self.base_url}/feed.xml"

    def urls(self) -> list[str]:
        return self.urls_file.read_text(encoding="utf-8").split()


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 26))]
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), f"{rng.randint(2, 980):,}")
    return " ".join(words).capitalize() + "."


def _hanzi_sentence(rng: random.Random) -> str:
    return "".join(rng.choice(_HANZI) for _ in range(rng.randint(18, 48))) + "。"


def _pools(seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    return ([_sentence(rng) for _ in range(4000)], [_hanzi_sentence(rng) for _ in range(800)])


def _path(index: int, when: datetime) -> str:
    section = SECTIONS[index % len(SECTIONS)]
    return f"/{section}/{when:%Y/%m/%d}/article-{index:05d}.html"


def _when(index: int) -> datetime:
    return datetime(2024, 1, 1, 6, 0, tzinfo=UTC) + timedelta(minutes=37 * index)


def _title(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 11))).capitalize()


def _chrome_top(title: str, section: str, url: str, when: datetime, rng: random.Random) -> str:
    nav = "".join(f'<li class="nav-item"><a href="/{s}/" class="nav-link">{s.title()}</a></li>'
                  for s in SECTIONS)
    trending = "".join(f'<li><a href="/{rng.choice(SECTIONS)}/tag/{rng.choice(_WORDS)}/">'
                       f"#{rng.choice(_WORDS)}</a></li>" for _ in range(12))
    ld = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle", "headline": title,
                     "datePublished": when.isoformat(), "url": url,
                     "author": {"@type": "Person", "name": "Staff Reporter"}})
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} | The Loopback Times</title>"
        f'<meta name="description" content="{escape(title)}">'
        f'<meta property="og:title" content="{escape(title)}"><meta property="og:url" '
        f'content="{url}"><meta property="og:type" content="article">'
        f'<meta property="article:published_time" content="{when.isoformat()}">'
        f'<link rel="canonical" href="{url}"><link rel="stylesheet" href="/static/site.css">'
        '<link rel="alternate" type="application/rss+xml" href="/feed.xml">'
        f'<script type="application/ld+json">{ld}</script>'
        "<style>body{font-family:Georgia,serif;margin:0}.wrap{max-width:960px;margin:auto}"
        ".nav-item{display:inline-block;padding:4px 8px}article p{line-height:1.6}</style>"
        '</head><body><div class="wrap"><header class="site-header"><div class="masthead">'
        '<a href="/" class="logo">The Loopback Times</a><form class="search" action="/search">'
        '<input name="q" placeholder="Search"></form></div>'
        f'<nav class="primary"><ul class="nav">{nav}</ul></nav>'
        f'<div class="trending"><span>Trending</span><ul>{trending}</ul></div></header>'
        f'<div class="breadcrumbs"><a href="/">Home</a> &rsaquo; '
        f'<a href="/{section}/">{section.title()}</a></div>'
    )


def _chrome_bottom(index: int, pages: int, rng: random.Random, when: datetime) -> str:
    related = "".join(
        f'<li><a href="{_path(j, _when(j))}">{escape(_title(rng))}</a></li>'
        for j in sorted({rng.randrange(pages) for _ in range(8)} - {index}))
    footer_cols = "".join(
        f'<div class="col"><h4>{s.title()}</h4><ul>' + "".join(
            f'<li><a href="/{s}/{w}/">{w.title()}</a></li>'
            for w in rng.sample(_WORDS, 6)) + "</ul></div>" for s in SECTIONS)
    return (
        f'<aside class="related"><h3>Related</h3><ul>{related}</ul></aside>'
        '<div class="share"><a href="#" class="share-x">Share</a>'
        '<a href="#" class="share-weibo">微博</a><a href="#" class="share-mail">Email</a></div>'
        f'<footer class="site-footer"><div class="cols">{footer_cols}</div>'
        f"<p>&copy; {when.year} The Loopback Times. Generated page {index}.</p></footer>"
        '</div><script src="/static/site.js" defer></script></body></html>\n'
    )


def render_page(index: int, pages: int, base_url: str, seed: int,
                pools: tuple[list[str], list[str]]) -> tuple[str, bytes]:
    """One article page: its path and its UTF-8 bytes (30-60 KB)."""
    rng = random.Random(seed * 1_000_003 + index)
    english, chinese = pools
    when = _when(index)
    path = _path(index, when)
    section = SECTIONS[index % len(SECTIONS)]
    title = _title(rng)
    target = rng.randint(MIN_BYTES, MAX_BYTES - 1600)   # a paragraph adds at most ~1.5 KB
    head = _chrome_top(title, section, base_url + path, when, rng)
    head += (f'<main><article class="story" data-id="{index}"><h1 class="headline">'
             f"{escape(title)}</h1><p class=\"byline\">By Staff Reporter &middot; "
             f'<time datetime="{when.isoformat()}">{when:%d %B %Y %H:%M} UTC</time></p>'
             '<figure><img src="/static/photo.jpg" alt="" width="800" height="450">'
             "<figcaption>File photo.</figcaption></figure>")
    tail = "</article></main>" + _chrome_bottom(index, pages, rng, when)
    size = len(head.encode()) + len(tail.encode())
    body: list[str] = []
    while size < target:
        if rng.random() < 0.2:
            para = "".join(rng.choice(chinese) for _ in range(rng.randint(2, 6)))
            text = f'<p lang="zh">{para}</p>'
        elif rng.random() < 0.05:
            text = f"<h2>{escape(_title(rng))}</h2>"
        else:
            text = "<p>" + " ".join(rng.choice(english) for _ in range(rng.randint(2, 7))) + "</p>"
        body.append(text)
        size += len(text.encode())
    return path, (head + "".join(body) + tail).encode("utf-8")


def _feed(base_url: str, items: list[tuple[str, str, datetime]]) -> str:
    entries = "".join(
        f"<item><title>{xml_escape(title)}</title><link>{base_url}{path}</link>"
        f'<guid isPermaLink="true">{base_url}{path}</guid>'
        f"<pubDate>{when:%a, %d %b %Y %H:%M:%S +0000}</pubDate></item>\n"
        for path, title, when in reversed(items))
    return ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>The Loopback Times</title><link>{base_url}/</link>"
            f"<description>Benchmark feed</description>\n{entries}</channel></rss>\n")


def generate_site(folder: Path, pages: int = 2000, base_url: str = "http://127.0.0.1:8080",
                  seed: int = 1) -> SiteInfo:
    """Write the site into ``folder`` (replacing an older one) and describe it."""
    base_url = base_url.rstrip("/")
    manifest = folder / "site.json"
    if manifest.exists():
        old = json.loads(manifest.read_text(encoding="utf-8"))
        if (old.get("pages"), old.get("base_url"), old.get("seed")) == (pages, base_url, seed):
            return SiteInfo(**{**old, "folder": str(folder)})
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    pools = _pools(seed)
    items: list[tuple[str, str, datetime]] = []
    urls: list[str] = []
    total = gzipped = 0
    for index in range(pages):
        path, data = render_page(index, pages, base_url, seed, pools)
        target = folder / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if index % 2 == 0:
            # mtime=0 keeps the .gz bytes deterministic
            target.with_name(target.name + ".gz").write_bytes(
                gzip.compress(data, compresslevel=6, mtime=0))
            gzipped += 1
        title = data.split(b"<title>", 1)[1].split(b" | ", 1)[0].decode("utf-8")
        items.append((path, title, _when(index)))
        urls.append(base_url + path)
        total += len(data)
    (folder / "urls.txt").write_text("\n".join(urls) + "\n", encoding="utf-8")
    (folder / "feed.xml").write_text(_feed(base_url, items), encoding="utf-8")
    (folder / "robots.txt").write_text("User-agent: *\nAllow: /\n", encoding="utf-8")
    (folder / "index.html").write_text(
        "<!DOCTYPE html><html><head><title>The Loopback Times</title></head><body>"
        + "".join(f'<a href="/{s}/">{s}</a> ' for s in SECTIONS) + "</body></html>\n",
        encoding="utf-8")
    info = SiteInfo(folder=str(folder), pages=pages, base_url=base_url, seed=seed,
                    total_bytes=total, gzipped_pages=gzipped)
    manifest.write_text(json.dumps(asdict(info), indent=1), encoding="utf-8")
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--base-url", default="http://127.0.0.1:8080")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    info = generate_site(args.folder, args.pages, args.base_url, args.seed)
    print(f"{info.pages} pages, {info.total_bytes / info.pages / 1024:.1f} KB average, "
          f"{info.gzipped_pages} with a .gz twin, in {info.folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
