"""Writes of the gateway, by topic: ``intake`` (accept one notification), ``eligibility``
(who may send what to whom), ``bulk`` (many in one request), ``outbox`` (publish and relay),
``outbox_replay`` (operators), ``cancellation`` and ``status``. Import from the modules."""
