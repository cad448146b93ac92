"""Copies of the demo's stories on other sites: reprints with other chrome, a shortened reprint,
reprints on other WeChat-like accounts, and translations, which are not copies.

Each :class:`Reprint` says which story it is a copy of (``of``: the path of the original in
:mod:`demosite.content`), or None for a text that must not join it (a translation). The
measurements of bench/stories.py and the tests of tests/test_stories.py use them; all texts are
invented for the demo.

The demo site (demosite.site) serves :data:`SERVED`, three copies of the censored WeChat story
(WECHAT_RETURN), watched from the first crawl; in phase 3 :data:`PHASE3` censors one of them
too, after the original's deletion was confirmed (censors sweep reprints).
"""

from __future__ import annotations

from dataclasses import dataclass

from demosite.content import KHORGOS, MFA_PROTEST, TOMBSTONE_CENSORED, WECHAT_RETURN, Change
from demosite.pages import news_page, wechat_page


@dataclass(frozen=True)
class Reprint:
    path: str
    title: str
    paragraphs: tuple[str, ...]
    kind: str                 # "news" (other chrome: lang picks it) | "wechat"
    of: str | None            # the original's path when a copy; None: must not match
    lang: str = "en"
    account: str = ""         # wechat: the account
    note: str = ""            # what kind of copy

    def html(self) -> str:
        if self.kind == "wechat":
            return wechat_page(self.title, self.account, "2020-04-10 09:12", self.paragraphs)
        return news_page(self.title, self.paragraphs, lang=self.lang,
                         chrome_date="15 April 2020", byline="Reprinted")


KHORGOS_REPRINT = Reprint(
    "/reprint/khorgos-freight.html", KHORGOS.title + " | Almaty Business Daily",
    (*KHORGOS.paragraphs, "This article first appeared in The Steppe Herald."), "news",
    KHORGOS.path, lang="zh-Hant", note="reprint, other chrome and title, a credit line")
KHORGOS_SHORT = Reprint(
    "/reprint/khorgos-short.html", "Khorgos freight traffic to grow", KHORGOS.paragraphs[:3],
    "news", KHORGOS.path, note="shortened: the first three of five paragraphs")
KHORGOS_ZH = Reprint(
    "/zh/reprint/huoerguosi.html", "哈萨克斯坦与中国同意扩大霍尔果斯货运量", (
        "哈萨克斯坦和中国周二同意扩大经霍尔果斯口岸的货运量，官员在两天的视频会谈后表示。",
        "根据这一安排，哈方一侧的陆港每天将处理多达25列集装箱列车，高于此前的18列，双方海关"
        "官员将接受电子单证。",
        "贸易和一体化部表示，尽管边境受到限制，第一季度经该口岸出口的粮食、面粉和植物油增长了"
        "三分之一。",
        "阿拉木图的独立经济学家对这一决定表示欢迎，但表示较小的哈萨克出口商仍难以获得所需的"
        "植物检疫证书。",
        "两国政府计划在年底对协议进行审查。",
    ), "news", None, lang="zh", note="translation into Chinese: not a copy")
RETURN_PORTAL = Reprint(
    "/zh/reprint/huigui.html", "转载：" + WECHAT_RETURN.title,
    ("来源：微信公众号" + WECHAT_RETURN.account, *WECHAT_RETURN.paragraphs), "news",
    WECHAT_RETURN.path, lang="zh", note="CJK reprint on a portal, a source line added")
RETURN_ACCOUNT = Reprint(
    "/s/Xy7rReprint2", WECHAT_RETURN.title, WECHAT_RETURN.paragraphs[:-1], "wechat",
    WECHAT_RETURN.path, account="历史那些事儿",
    note="CJK reprint on another account, without the last paragraph")
RETURN_ACCOUNT2 = Reprint(
    "/s/Ab3kReprint3", WECHAT_RETURN.title + "（深度）", WECHAT_RETURN.paragraphs, "wechat",
    WECHAT_RETURN.path, account="中亚观察家", note="CJK reprint on a third account")
RETURN_EN = Reprint(
    "/reprint/eager-to-return.html", "Why Kazakhstan is eager to return to China", (
        "Recently, articles online have claimed that Kazakhstan has historically been closely "
        "connected with China, that parts of it were once ruled by the Qing, and that it is "
        "therefore \"eager to return to China\".",
        "The article lists trade along the ancient Silk Road and recent cooperation projects "
        "between China and Kazakhstan in energy and transport, and says that relations between "
        "the two countries \"have long gone beyond those of ordinary neighbours\".",
        "It also quotes unattributed comments by internet users saying that many people in "
        "Kazakhstan feel warmly towards China.",
        "The author, however, gives no reliable polling data, and his claims about the history "
        "of the border disagree with mainstream scholarship.",
    ), "news", None, note="translation into English: not a copy")
MFA_REPRINT = Reprint(
    "/zh/reprint/jiaoshe.html", MFA_PROTEST.title, MFA_PROTEST.paragraphs, "news",
    MFA_PROTEST.path, lang="zh-Hant", note="CJK reprint, other chrome")

REPRINTS = (KHORGOS_REPRINT, KHORGOS_SHORT, KHORGOS_ZH, RETURN_PORTAL, RETURN_ACCOUNT,
            RETURN_ACCOUNT2, RETURN_EN, MFA_REPRINT)

SERVED = (RETURN_PORTAL, RETURN_ACCOUNT, RETURN_ACCOUNT2)
# phase 3 (after phase 2's changes, which stay): a reprint on another account is censored
PHASE3: dict[str, Change] = {RETURN_ACCOUNT2.path: Change("censored", 200, TOMBSTONE_CENSORED)}


def served_reprint(path: str) -> Reprint | None:
    """The reprint the demo site serves at ``path``, if any."""
    return next((r for r in SERVED if r.path == path), None)
