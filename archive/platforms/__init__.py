"""What memoryhole knows of each platform (Telegram, Weibo, WeChat, news sites), one module per
platform, and :mod:`archive.platforms.registry`, the one place that maps hosts, source kinds
and URL checks to them.

Promises: a platform module parses that platform's pages and JSON and builds its URLs from a
source's own base URL (so a mirror or a local replica works like the real site); it never
fetches anything itself. Adding a platform means one module here, its entry in the registry,
and its rules file in ``archive/detect/rules/``.

May import: the ``archive`` root modules, :mod:`archive.warc` and :mod:`archive.text`.
"""
