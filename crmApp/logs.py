"""Log records reshaped before any handler writes them."""

import logging


class AsWarningWithoutTraceback(logging.Filter):
    """Lets a record through as one WARNING line, without its traceback.

    For a client's mistake Django's security loggers write an ERROR with a traceback: a scanner's
    unknown `Host` header would fill the error log with them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        return True
