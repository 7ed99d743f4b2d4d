"""A consumer process for the SIGTERM test: python sigterm_consumer.py URL LOG_PATH.

Its handler appends "start <id>" to LOG_PATH, sleeps 1 s, then appends "done <id>".
"""

from __future__ import annotations

import sys
import time

from notification_common.rabbitmq import EMAIL_QUEUE, BaseConsumer, ConsumedMessage


class SlowConsumer(BaseConsumer):
    queue = EMAIL_QUEUE

    def __init__(self, url: str, log_path: str):
        super().__init__(url)
        self.log_path = log_path

    def _log(self, line: str) -> None:
        with open(self.log_path, "a") as log:
            log.write(line + "\n")

    def handle(self, message: ConsumedMessage) -> None:
        self._log(f"start {message.message_id}")
        time.sleep(1.0)
        self._log(f"done {message.message_id}")


def main() -> int:
    url, log_path = sys.argv[1], sys.argv[2]
    consumer = SlowConsumer(url, log_path)
    consumer.install_signal_handlers()
    consumer.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
