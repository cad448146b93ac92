"""Test helpers: the local servers and replicas the tests start on 127.0.0.1 (each also runs
as ``python -m tests.support.<name>``), the pywb and ReplayWeb.page environments, a web home
built from a local site, fake DNS names, and small helpers for reading WARCs back."""
