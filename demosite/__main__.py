"""``python -m demosite``: serve the demo site on 127.0.0.1 and print its base URL."""

from demosite.site import main

main()
