"""Development and test tools: loopback SMTP/FCM servers (``loopback``) and test helpers
(``testing``). Installed by ``make install`` for tests and ``make dev``; never by the
production images, and never imported by runtime code (``.importlinter``)."""
