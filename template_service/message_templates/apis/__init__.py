"""Thin views: validate the request shape, call a selector or service, serialize the answer.

Reads and substitution need an API key with ``templates:read`` (or ``templates:write`` or
``internal``): template texts are the platform's, not every end user's. Writes need
``templates:write`` or ``internal``.

One module per topic: ``templates``, ``versions``, ``rendering`` (substitute, and the active
version for the consumers that render it themselves), ``categories``; ``common`` holds what
they share. urls.py names each view by its module.
"""
