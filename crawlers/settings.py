"""Scrapy settings for memoryhole: every default in one place, grouped and documented.

Keep the groups alphabetical inside. Component settings carry a prefix: ``ARCHIVE_*`` for the
archive writer and WARC recorder, ``SAFETY_*`` for the address guard, ``PROGRESS_*`` for progress
reporting, ``FASTPATH_*`` and ``RECHECK_*`` for the fast-path GETs, ``NEWS_*`` for the news
spider's feeds and sitemaps, ``REQUISITES_*`` for page requisites, ``BROWSER_*`` for pages
rendered in Chromium. ``crawlers.launch`` fills the per-run
values (home, run id, limits from ``memoryhole.toml``) on top of these when it starts a crawl
process.
"""

# the schedule's defaults have one home; imported as a module so that Scrapy, which takes every
# upper-case name of this module as a setting, sees no extra ones
from archive import jobs
from archive.detect import state as schedule

BOT_NAME = "memoryhole"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"

# --- memoryhole components -------------------------------------------------------------------
# Archive writer (crawlers.extensions.archiving), WARC recorder (crawlers.middlewares.recorder).
ARCHIVE_HOME = None                 # the home folder; required (set by crawlers.launch)
ARCHIVE_COLLECTION = "main"         # collections/<coll>/ inside the home
ARCHIVE_COMPRESSION = "fast"        # WARC gzip: fast (ISA-L) | balanced (zlib 6) | small (zlib 9)
ARCHIVE_CONTROL_NAME = "default"    # the control's name in check rows: "default" (the direct
                                    # egress) or the [[vantage]] with control = true
ARCHIVE_CONFIRM_AFTER = schedule.DEFAULT_CONFIRM_AFTER    # missing checks this far apart...
ARCHIVE_CONFIRM_CHECKS = schedule.DEFAULT_CONFIRM_CHECKS  # ...this many in a row: a deletion
ARCHIVE_EXTRACT = "fast"            # text stored per capture: fast | trafilatura
ARCHIVE_OPERATOR = ""               # warcinfo "operator"
ARCHIVE_QUEUE_MAX_BYTES = 256 * 1024 * 1024   # the archive writer process reads ahead at most
                                    # this many bytes of items (bodies); beyond, the crawl waits
                                    # for it (archive.writer.inbox; [crawl] writer_queue_mb)
ARCHIVE_RECHECK_OFFSETS = list(schedule.DEFAULT_OFFSETS)  # re-checks after a first capture
ARCHIVE_RUN_ID = None               # the runs row of this crawl
ARCHIVE_SHARE_TEXT_BACKLOG = 50     # from this many items waiting for the writer process on, the
                                    # crawl process extracts pages' fast text itself (-1: never)
ARCHIVE_STATS_FILE = None           # where the crawl's final stats are written as JSON
ARCHIVE_STORY_THRESHOLD = jobs.DEFAULT_STORY_THRESHOLD   # similarity of copies of one story's text
                                    # (archive.writer.stories; [stories] threshold)
ARCHIVE_WARC_MAX_BYTES = 1024 * 1024 * 1024   # rotate WARC files at this size

CLUSTER_CRAWL_BATCH = 4             # a crawl's jobs (20 URLs each) a worker reads and does at
                                    # once, at most: as many as CONCURRENT_REQUESTS needs
                                    # (crawlers.spiders.cluster_crawl)
CLUSTER_INFLIGHT = 32               # jobs a `memoryhole worker` holds at once, at most; more
                                    # are read as results go out (crawlers.spiders.worker)
CLUSTER_SLOT_LEASE = 30.0          # a worker's download holds one of its host's per_domain slots
                                    # shared by all workers (crawlers.middlewares.host_slots);
                                    # renewed while it runs, a dead worker's slot frees after this
CLUSTER_WORKER_NAME = None          # set in a worker's crawl: its WARCs go to its own files and
                                    # its results to the run's owner (archive.cluster.sink)

BROWSER_ENABLED = False             # sources with render = "browser" load in Chromium through
                                    # scrapy-playwright (crawlers.browser; crawlers.launch sets it
                                    # with the PLAYWRIGHT_* settings, only when such a source runs)
BROWSER_CONCURRENCY = 2             # pages rendered at once ([browser] concurrency)
BROWSER_MEMORY_EVERY = 50           # log the browser's memory every this many pages
BROWSER_PROXY_RESOLVER = "crawlers.browser.proxy.ProxyResolver"   # the name lookups of the
                                    # proxy every connection of Chromium goes through
                                    # (crawlers.browser.proxy), under the URL policy
BROWSER_SCREENSHOT_MAX_HEIGHT = 16384   # a full-page screenshot is clipped to this many CSS
BROWSER_SCREENSHOT_MAX_WIDTH = 4096     # pixels from the page's top left (a page can be made
                                        # endlessly tall); the bodies Chromium received are
                                        # bounded by DOWNLOAD_MAXSIZE, as Scrapy's are
BROWSER_WAIT_UNTIL = "networkidle"  # when a page counts as loaded (Playwright's wait_until)

NEWS_FEED_MAX_ITEMS = 1000          # entries taken from one feed, in document order; the rest
                                    # is not even parsed (crawlers.spiders.news; a source's
                                    # max_items overrides it; [crawl] feed_max_items)
NEWS_SITEMAP_MAX_ITEMS = 1000       # URLs taken from one sitemap (a source's max_items overrides
                                    # it; [crawl] sitemap_max_items)
NEWS_SITEMAP_MAX_FOLLOWED = 50      # sitemaps fetched for one source in a run, from its sitemap
                                    # indexes and robots.txt ([crawl] sitemap_max_followed)
NEWS_SITEMAP_MAX_DEPTH = 3          # a sitemap index nested this deep is not followed
                                    # ([crawl] sitemap_max_depth)

PROGRESS_ENABLED = False            # JSON progress lines on stdout, for the parent process
PROGRESS_INTERVAL = 1.0             # seconds between progress lines

FASTPATH_GIVE_UP = 8                # a host whose first this many fast-path GETs all go back to
                                    # Scrapy gets no more of them this run (crawlers.fastpath)
FASTPATH_PAGES = True               # a crawl's page GETs go out on the fast path first; only
                                    # plain 200s skip Scrapy (crawlers.fastpath.pages)
FASTPATH_RESOLVER = "aiohttp.resolver.ThreadedResolver"   # wrapped by the address guard

RECHECK_FAST_304 = True             # conditional re-checks go out on the fast path first; only
                                    # their 304s skip Scrapy (crawlers.fastpath.not_modified;
                                    # off: all through Scrapy)

REQUISITES_ENABLED = True           # fetch the images, stylesheets, scripts and fonts of every
                                    # page captured with a 200, for replay
                                    # (crawlers.extensions.requisites)
REQUISITES_MAX_PER_PAGE = 50        # at most this many from one page or stylesheet
REQUISITES_REFRESH = "7d"           # a requisite the index holds from this recently is not
                                    # fetched again

SAFETY_ALLOW_PRIVATE_ADDRESSES = False   # loopback, private, link-local, reserved: refused
SAFETY_ALLOWED_SCHEMES = ["http", "https"]
SAFETY_CA_FILE = ""                 # extra trust anchors (PEM), beside the system's (crawlers.tls)

# --- Scrapy: safety ----------------------------------------------------------------------------
REMOTE_CONTROL_ENABLED = False      # a server that runs Python sent to it: never
TELNETCONSOLE_ENABLED = False
DOWNLOAD_MAXSIZE = 50 * 1024 * 1024       # also bounds decompressed bodies (bombs) and the
                                          # bodies Chromium received (crawlers.browser)
DOWNLOAD_WARNSIZE = 16 * 1024 * 1024
DOWNLOAD_FAIL_ON_DATALOSS = True          # a cut response is an error, never archived as whole
DOWNLOAD_VERIFY_CERTIFICATES = True       # a forged certificate is no page (crawlers.tls)
TWISTED_DNS_RESOLVER = "crawlers.resolver.GuardedResolver"
# Scrapy's handlers for schemes memoryhole never fetches: off, beside the scheme list of the
# address guard (crawlers.runner keeps them off whatever a job's own DOWNLOAD_HANDLERS say)
DOWNLOAD_HANDLERS = {"file": None, "data": None, "ftp": None, "s3": None}

# --- Scrapy: politeness ------------------------------------------------------------------------
AUTOTHROTTLE_ENABLED = False
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
# Scrapy's own downloader lets a batch of requests past the per-domain limit (crawlers.downloader)
DOWNLOADER = "crawlers.downloader.PoliteDownloader"
DOWNLOAD_DELAY = 0
DOWNLOAD_TIMEOUT = 60
ROBOTSTXT_OBEY = True
USER_AGENT = "memoryhole/0.1 (+https://github.com/memoryhole/memoryhole)"

# --- Scrapy: speed (NOTES.md "Where the time goes") ----------------------------------------------
CONCURRENT_ITEMS = 8                # 100 tasks per callback output cost more than they give
WARN_ON_GENERATOR_RETURN_VALUE = False   # re-parses callback source on every call
LOG_LEVEL = "INFO"
LOG_VERSIONS = ["lxml", "libxml2", "cssselect", "parsel", "w3lib", "Twisted", "Python",
                "pyOpenSSL", "cryptography"]   # Scrapy's, less "Platform" (it runs `uname -p`)
RETRY_TIMES = 2

# --- Scrapy: components ----------------------------------------------------------------------
# Downloader side (process_response runs from high to low numbers): the recorder sits above
# the decompression middleware (590, Scrapy's HttpCompressionMiddleware made cheaper) and
# RedirectMiddleware (600), so it sees the bytes as sent and every redirect hop; the guard runs
# first on every request, redirects included.
DOWNLOADER_MIDDLEWARES = {
    "crawlers.middlewares.guard.SafetyGuardMiddleware": 50,
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
    "crawlers.middlewares.decompression.DecompressionMiddleware": 590,
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawlers.middlewares.retry.VerdictRetryMiddleware": 550,
    "crawlers.middlewares.robots.RobotsTxtMiddleware": 100,
    "crawlers.middlewares.control_proxy.ControlProxyMiddleware": 740,
    "crawlers.middlewares.recorder.WarcRecorderMiddleware": 950,
    "crawlers.middlewares.host_slots.HostSlotsMiddleware": 990,   # only in cluster workers
}
EXTENSIONS = {
    "crawlers.extensions.archiving.ArchiveExtension": 0,
    "crawlers.extensions.requisites.RequisiteFollower": 5,
    "crawlers.extensions.progress.ProgressExtension": 10,
    "crawlers.extensions.guard_proxy.BrowserGuardProxy": 20,     # only with BROWSER_ENABLED
}
ITEM_PIPELINES = {
    "pipelines.catalogue.CataloguePipeline": 800,
}
