"""What may be written to logs: no callback token, since the token alone lets anyone post
callbacks."""

import logging
import re

# /callbacks/<token>/… in a path or URL, wherever it appears in a message.
CALLBACK_TOKEN = re.compile(r"(/callbacks/)[^/?#\s\"']+")
REDACTED = r"\1<token>"


def redact(text: str) -> str:
    return CALLBACK_TOKEN.sub(REDACTED, text)


class RedactCallbackTokens(logging.Filter):
    """Rewrites a record's message so no callback token reaches a handler.

    Django logs the path of every 4xx/5xx answer ("Not Found: /callbacks/<token>/poll/"),
    and a wrong token is still someone's secret, mistyped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
