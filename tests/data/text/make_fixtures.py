"""Regenerate the encoded HTML fixtures in this folder: ``python make_fixtures.py``.

The pages are written here as Unicode and encoded on purpose (GBK, GB2312, Big5, UTF-8 with a
BOM, windows-1252), because an editor would silently re-encode them. The prose is made up for
the tests; it only has to read like a real news page.
"""

from __future__ import annotations

import codecs
from pathlib import Path

HERE = Path(__file__).resolve().parent

SIMPLIFIED = [
    "哈萨克斯坦外交部发言人十四日在努尔苏丹举行的例行记者会上表示，哈方高度重视同中国的全面"
    "战略伙伴关系，愿同中方继续加强在贸易、能源和交通领域的务实合作。",
    "据哈萨克斯坦国家统计委员会公布的数据，今年前三个季度，哈中双边贸易额同比增长百分之十二，"
    "其中农产品出口增长尤为明显。",
    "分析人士指出，霍尔果斯口岸的过货量持续上升，途经哈萨克斯坦的中欧班列线路已成为连接亚欧"
    "大陆的重要通道。",
    "与此同时，哈萨克斯坦议会下院议员呼吁政府在扩大合作的同时，更加重视本国中小企业的利益，"
    "并加强对外资项目的环境评估。",
    "哈萨克斯坦外交部此前曾就中国部分网站发表的不实文章向中方提出交涉，强调哈萨克斯坦的主权"
    "和领土完整不容置疑。",
]

TRADITIONAL = [
    "哈薩克外交部發言人週四表示，哈方重視與中國的全面戰略夥伴關係，希望雙方在貿易、能源及交通"
    "領域繼續深化合作。",
    "有本地商會指出，經霍爾果斯口岸運往歐洲的貨物持續增加，不少香港物流公司亦開始拓展中亞航線。",
    "哈薩克外交部早前曾就內地網站刊登的失實文章向中方提出交涉，強調國家主權及領土完整不容置疑。",
    "分析人士認為，中亞國家在發展對華經貿關係的同時，亦會審慎處理民眾對外資項目的疑慮。",
]

# Cantonese quote: 咗 and 嘅 exist in Big5-HKSCS only, not in plain Big5.
CANTONESE = "一位在阿拉木圖經商的港人受訪時表示：「呢幾年生意確實多咗，不過當地嘅法規改得好快。」"


CHROME = {
    "zh": ("新闻网首页", "国际", "版权所有 新闻网"),
    "zh-Hant": ("新聞網首頁", "國際", "版權所有 新聞網"),
    "other": ("Home", "World", "All rights reserved"),
}


def page(title: str, paragraphs: list[str], head_extra: str = "", lang: str = "zh") -> str:
    """A small news page with chrome around one article."""
    home, world, rights = CHROME.get(lang, CHROME["other"])
    body = "\n".join(f"    <p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
{head_extra}<title>{title}</title>
</head>
<body>
  <div id="header"><a href="/">{home}</a> | <a href="/world">{world}</a> | 2020-04-14</div>
  <div class="article">
    <h1>{title}</h1>
{body}
  </div>
  <div class="footer">{rights}</div>
</body>
</html>
"""


def write(name: str, data: bytes) -> None:
    (HERE / name).write_bytes(data)


def main() -> None:
    # GBK, declared only in the HTTP Content-Type header (the tests pass the header).
    write("gbk_header_only.html", page("哈萨克斯坦重视对华合作", SIMPLIFIED).encode("gbk"))

    # Declared gb2312 in <meta http-equiv>, but uses a GBK-only character (镕), as real pages do.
    text = page(
        "哈中贸易额前三季度增长",
        [*SIMPLIFIED[1:3], "（本报记者 李镕 阿拉木图报道）"],
        head_extra='<meta http-equiv="Content-Type" content="text/html; charset=gb2312">\n',
    )
    write("gb2312_meta_http_equiv.html", text.encode("gbk"))

    # GBK with no declaration anywhere.
    text = page("哈萨克斯坦外交部就不实文章提出交涉", SIMPLIFIED)
    write("gbk_undeclared.html", text.encode("gbk"))

    # <meta charset=big5> with Big5-HKSCS characters.
    text = page(
        "港商看好中亞物流",
        [*TRADITIONAL[:2], CANTONESE, TRADITIONAL[2]],
        head_extra="<meta charset=big5>\n",
        lang="zh-Hant",
    )
    write("big5_meta_charset.html", text.encode("big5hkscs"))

    # Plain Big5 with no declaration.
    text = page("哈薩克重視對華關係", TRADITIONAL, lang="zh-Hant")
    write("big5_undeclared.html", text.encode("big5"))

    # UTF-8 with a BOM, and a meta that contradicts it (the BOM wins).
    kazakh = [
        "Қазақстан Сыртқы істер министрлігінің ресми өкілі Қытаймен сауда-экономикалық "
        "байланыстар дамып келе жатқанын айтты.",
        "Министерство иностранных дел Казахстана заявило, что суверенитет и территориальная "
        "целостность страны не подлежат сомнению.",
    ]
    text = page(
        "Қазақстан мен Қытай: сауда өсті",
        kazakh,
        head_extra='<meta charset="windows-1251">\n',
        lang="kk",
    )
    write("utf8_bom.html", codecs.BOM_UTF8 + text.encode("utf-8"))

    # A charset no codec knows; the bytes are GBK.
    text = page(
        "哈萨克斯坦议员呼吁重视中小企业",
        SIMPLIFIED,
        head_extra='<meta charset="x-klingon-2020">\n',
    )
    write("unknown_charset_gbk.html", text.encode("gbk"))

    # Declared iso-8859-1 (WHATWG: windows-1252) and really windows-1252: curly quotes, é.
    text = page(
        "Café owners “cautiously optimistic”",
        ["The café’s owner said trade with Almaty was “cautiously optimistic” – for now."],
        head_extra='<meta http-equiv="content-type" content="text/html; charset=ISO-8859-1">\n',
        lang="en",
    )
    write("latin1_declared_cp1252.html", text.encode("cp1252"))

    # Declared iso-8859-1 but the bytes are UTF-8 (a common server misconfiguration).
    text = page(
        "Алматы: цены на жильё выросли",
        ["Цены на жильё в Алматы выросли на 12 процентов за год."],
        head_extra='<meta charset="iso-8859-1">\n',
        lang="ru",
    )
    write("latin1_declared_utf8.html", text.encode("utf-8"))


if __name__ == "__main__":
    main()
