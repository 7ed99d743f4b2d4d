"""Why a delivery attempt did not hand the email over, classified for the retry policy."""


class DeliveryFailure(Exception):
    """``permanent``: retrying cannot help (failed.queue now); otherwise retry later.

    ``retry_after`` asks for at least that many seconds before the next try (circuit open).
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        smtp_code: int | None = None,
        stage: str = "smtp",
    ):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        self.smtp_code = smtp_code
        self.stage = stage

    @classmethod
    def permanent_failure(cls, reason: str, **kwargs) -> "DeliveryFailure":
        return cls(reason, permanent=True, **kwargs)

    @classmethod
    def transient_failure(cls, reason: str, **kwargs) -> "DeliveryFailure":
        return cls(reason, permanent=False, **kwargs)
