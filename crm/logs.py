"""What reaches the logs: never a callback token; one JSON object a line when asked.

A callback URL's token is the endpoint's only secret, so every log line, Django's and
gunicorn's, shows `/callbacks/…/poll/` instead of the token.
"""

import json
import logging
import re
from datetime import UTC, datetime

CALLBACK_TOKEN = re.compile(r"(/callbacks/)[^/?#\s\"']+")

# What a JSON line may carry besides its message: named facts, never personal data.
JSON_FIELDS = ("endpoint", "kind", "campaign", "outcome", "status", "duration_ms")


def redact(text: str) -> str:
    """The text with every callback token replaced by an ellipsis."""
    return CALLBACK_TOKEN.sub(r"\1…", text)


class RedactCallbackTokens(logging.Filter):
    """Rewrites each record's message without tokens (django.request logs every 4xx path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message and the known fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({f: getattr(record, f) for f in JSON_FIELDS if hasattr(record, f)})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
