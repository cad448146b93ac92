"""What the demo site serves, as data: articles, WeChat-like pages and what phase 2 does.

Phase 1 is the site before the first crawl. Phase 2 is the site afterwards: one article is
edited, some are gone (404, 410), two WeChat-like pages are replaced by WeChat's tombstones,
one article redirects to the home page, one answers 503 every other request, and the feed
gains a new article. :data:`PHASE2_EXPECTED` says what a re-check should conclude for each
changed path. All texts are invented for the demo; events and names are fictionalised.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Article:
    """A news article on the portal."""

    path: str
    title: str
    lang: str  # "en" or "zh"
    published: str  # UTC, ISO-8601
    paragraphs: tuple[str, ...]
    byline: str = ""
    encoding: str = "utf-8"  # the only declaration is the Content-Type header
    gzip: bool = False  # always sent with Content-Encoding: gzip


@dataclass(frozen=True)
class WeChatArticle:
    """A page imitating an mp.weixin.qq.com article."""

    path: str
    title: str
    account: str
    author: str
    published: str  # as WeChat shows it: "YYYY-MM-DD HH:MM"
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Change:
    """What phase 2 does to one path."""

    reason: str  # edited, gone, censored, author_deleted, redirected, transient
    status: int  # the phase-2 status (for transient: of the first request; then 200, 503, ...)
    detail: str = ""  # tombstone wording or redirect target
    paragraphs: tuple[str, ...] = ()  # the edited text


TOMBSTONE_CENSORED = "此内容因违规无法查看"
TOMBSTONE_AUTHOR_DELETED = "该内容已被发布者删除"

KHORGOS = Article(
    path="/news/2020/04/khorgos-transit.html",
    title="Kazakhstan and China agree to expand Khorgos freight traffic",
    lang="en",
    published="2020-04-14T09:30:00Z",
    byline="By Aigerim Sadykova, Almaty",
    paragraphs=(
        "Kazakhstan and China agreed on Tuesday to expand freight traffic through the Khorgos "
        "border crossing, officials said after two days of talks held by video link.",
        "Under the arrangement, the dry port on the Kazakh side will handle up to 25 container "
        "trains a day, up from 18, and customs officers on both sides will accept electronic "
        "documents.",
        "The Ministry of Trade and Integration said exports of grain, flour and vegetable oil "
        "through the crossing had grown by a third in the first quarter despite border "
        "restrictions.",
        "Independent economists in Almaty welcomed the decision but said smaller Kazakh exporters "
        "still struggled to obtain the phytosanitary certificates they need.",
        "The two governments plan to review the agreement at the end of the year.",
    ),
)
KHORGOS_EDITED_INDEX = 2
KHORGOS_EDITED_PARAGRAPH = (
    "The Ministry of Trade and Integration said exports of grain, flour and vegetable oil through "
    "the crossing had grown in the first quarter, without giving figures, and that quarantine "
    "checks at the border would remain in place.")

PIPELINE = Article(
    path="/news/2020/04/pipeline-expansion.html",
    title="Gas pipeline expansion to double supply to southern Kazakhstan",
    lang="en",
    published="2020-04-13T15:00:00Z",
    byline="By staff reporters",
    gzip=True,
    paragraphs=(
        "The operator of the Beineu-Bozoi-Shymkent gas pipeline said on Monday that a second "
        "compressor station would be finished by the end of the year, doubling the line's "
        "capacity.",
        "Part of the additional gas is expected to be exported to China through the pipeline "
        "that joins the Central Asia-China system near Shymkent.",
        "Officials said priority would go to towns in the south, where many households still "
        "rely on coal for heating.",
        "Environmental groups asked the government to publish the full impact assessment before "
        "construction begins.",
    ),
)

MFA_PROTEST = Article(
    path="/zh/2020/04/waijiaobu-jiaoshe.html",
    title="哈萨克斯坦外交部就网络文章向中方提出交涉",
    lang="zh",
    published="2020-04-14T06:00:00Z",
    byline="本网记者 阿斯塔纳报道",
    paragraphs=(
        "哈萨克斯坦外交部14日发表声明，就中国一家门户网站刊登题为《哈萨克斯坦为何渴望回归中国》"
        "的文章向中国驻哈萨克斯坦大使馆提出交涉。",
        "声明说，该文章歪曲两国关系史，与两国元首确立的全面战略伙伴关系精神不符。",
        "中国驻哈萨克斯坦大使馆回应称，相关文章不代表中国政府立场，中方始终尊重哈萨克斯坦的"
        "独立、主权和领土完整。",
        "据报道，该文章随后已从原网站删除，但截图仍在社交媒体上流传。",
        "分析人士认为，此类网络文章在中亚国家容易引发舆论反弹，两国外交部门都希望尽快平息事态。",
    ),
)

WHEAT_GBK = Article(
    path="/zh/2020/04/xiaomai-chukou.html",
    title="哈萨克斯坦对华小麦出口一季度增长三成",
    lang="zh",
    published="2020-04-12T08:00:00Z",
    byline="本网记者 努尔苏丹报道",
    encoding="gbk",
    paragraphs=(
        "据哈萨克斯坦海关统计，今年第一季度哈方经阿拉山口和霍尔果斯口岸对华出口小麦约二十万吨，"
        "同比增长约三成。",
        "哈萨克斯坦农业部表示，中方去年扩大了准入的小麦产区范围，北部各州的农场主从中受益。",
        "业内人士指出，受疫情影响，铁路运力一度紧张，但三月下旬以来通关效率已逐步恢复。",
        "哈方希望今后向中国出口更多面粉、植物油和肉类等加工农产品。",
    ),
)

BORDER_MARKET = Article(
    path="/news/2020/04/border-market-reopens.html",
    title="Border market at Khorgos reopens after quarantine pause",
    lang="en",
    published="2020-04-11T10:00:00Z",
    byline="By Daniyar Akhmetov, Zharkent",
    paragraphs=(
        "The International Centre for Boundary Cooperation at Khorgos, a duty-free zone "
        "straddling the border, reopened to traders on Saturday after a two-month pause.",
        "Visitors must show a negative test and may stay no longer than eight hours, the "
        "centre's management said.",
        "Traders from Zharkent said turnover was a fraction of last year's, as most shoppers "
        "from Almaty were still staying at home.",
        "The Chinese side of the zone has not yet said when its shopping malls will reopen.",
    ),
)

STUDENTS = Article(
    path="/zh/2020/04/liuxuesheng.html",
    title="在华哈萨克斯坦留学生等待返校",
    lang="zh",
    published="2020-04-10T07:00:00Z",
    byline="本网记者 阿拉木图报道",
    paragraphs=(
        "据哈萨克斯坦教育部消息，在中国高校就读的哈萨克斯坦留学生约有一万四千人，其中多数在"
        "寒假后留在国内。",
        "随着疫情形势变化，部分中国高校开始通知留学生分批返校，但具体时间仍未确定。",
        "一些学生表示，网上授课时间与哈萨克斯坦时差较大，学习压力明显增加。",
        "哈方教育部门表示，将与中国有关部门保持沟通，协助学生办理签证和健康证明。",
    ),
)

FORUM = Article(
    path="/news/2020/05/transit-forum.html",
    title="Online forum discusses transit corridors through Central Asia",
    lang="en",
    published="2020-05-02T09:00:00Z",
    byline="By staff reporters",
    paragraphs=(
        "Officials and business leaders from Kazakhstan, China and Europe met by video link on "
        "Saturday to discuss freight corridors across Central Asia.",
        "Speakers said rail container traffic between China and Europe had grown during the "
        "pandemic while air cargo capacity fell.",
        "Several participants called for simpler border procedures and shared customs systems.",
    ),
)

WECHAT_RETURN = WeChatArticle(
    path="/s/Kz2020aHgQx9",
    title="哈萨克斯坦为何渴望回归中国",
    account="边疆史地杂谈",
    author="史地君",
    published="2020-04-09 21:47",
    paragraphs=(
        "近来，网络上有文章称，哈萨克斯坦在历史上与中国联系密切，部分地区曾属清朝管辖，"
        "因此“渴望回归中国”。",
        "文章列举了古代丝绸之路上的商贸往来，以及近年来中哈两国在能源、交通领域的合作项目，"
        "认为两国关系“早已超越一般邻国”。",
        "文章还引用了一些未注明出处的网友评论，称许多哈萨克斯坦民众对中国抱有好感。",
        "不过，作者并未提供可靠的民意调查数据，其中关于边界历史的说法也与学界主流观点不一致。",
        "（本文为演示站点的虚构示例文本，模仿2020年流传的同类网络文章。）",
    ),
)

WECHAT_TENGE = WeChatArticle(
    path="/s/Lm4bT7pWcE1",
    title="坚戈汇率波动对中哈边贸的影响",
    account="丝路财经观察",
    author="财经编辑部",
    published="2020-04-11 08:15",
    paragraphs=(
        "受国际油价下跌影响，哈萨克斯坦货币坚戈对美元汇率三月以来明显走弱。",
        "霍尔果斯口岸的一些中国商户表示，哈方客商的采购量有所下降，部分订单被推迟。",
        "也有贸易公司认为，汇率调整将使哈萨克斯坦农产品在中国市场更具价格优势。",
        "专家建议，双方企业可更多使用本币结算，以降低汇率风险。",
    ),
)

WECHAT_TRAINS = WeChatArticle(
    path="/s/Qr8nV3yZuK5",
    title="中欧班列经哈萨克斯坦过境量创新高",
    account="中亚新闻速递",
    author="速递君",
    published="2020-04-12 19:30",
    paragraphs=(
        "据哈萨克斯坦国家铁路公司消息，今年一季度经哈萨克斯坦过境的中欧班列数量同比增长约两成。",
        "疫情期间，海运和空运受到影响，不少企业转而选择铁路运输。",
        "哈方表示，将继续提高多斯特克和阿腾科里口岸的换装能力。",
    ),
)

ARTICLES = (KHORGOS, PIPELINE, MFA_PROTEST, WHEAT_GBK, BORDER_MARKET, STUDENTS, FORUM)
WECHAT_ARTICLES = (WECHAT_RETURN, WECHAT_TENGE, WECHAT_TRAINS)
FEED_PHASE1 = tuple(a.path for a in ARTICLES[:6])
FEED_PHASE2 = (FORUM.path, KHORGOS.path, WHEAT_GBK.path, STUDENTS.path)
NEW_IN_PHASE2 = (FORUM.path,)

PHASE2: dict[str, Change] = {
    KHORGOS.path: Change("edited", 200, paragraphs=tuple(
        KHORGOS_EDITED_PARAGRAPH if i == KHORGOS_EDITED_INDEX else p
        for i, p in enumerate(KHORGOS.paragraphs))),
    PIPELINE.path: Change("gone", 404),
    MFA_PROTEST.path: Change("gone", 410),
    WECHAT_RETURN.path: Change("censored", 200, TOMBSTONE_CENSORED),
    WECHAT_TENGE.path: Change("author_deleted", 200, TOMBSTONE_AUTHOR_DELETED),
    BORDER_MARKET.path: Change("redirected", 302, "/"),
    STUDENTS.path: Change("transient", 503),
}
PHASE2_EXPECTED: dict[str, str] = {path: change.reason for path, change in PHASE2.items()}
UNCHANGED_IN_PHASE2 = (WHEAT_GBK.path, WECHAT_TRAINS.path)


def article_by_path(path: str) -> Article | WeChatArticle | None:
    """The article or WeChat-like page served at ``path``, if any."""
    for item in (*ARTICLES, *WECHAT_ARTICLES):
        if item.path == path:
            return item
    return None
