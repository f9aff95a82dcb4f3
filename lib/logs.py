"""What may be written to logs: no callback token, since the token alone lets anyone post
callbacks, and no phone number, which is a subscriber's personal data (a database error's
detail names the key it tripped on: "Key (mobile)=(+12125551212) already exists")."""

import json
import logging
import re
from datetime import UTC, datetime

# /callbacks/<token>/… in a path or URL, wherever it appears in a message.
CALLBACK_TOKEN = re.compile(r"(/callbacks/)[^/?#\s\"']+")
REDACTED = r"\1<token>"
# A number as stored (+ and 8 to 15 digits) or as typed (10 or more digits in a row).
PHONE_NUMBER = re.compile(r"\+\d{8,15}\b|\b\d{10,15}\b")
# What a JSON line may carry besides its message: named facts, never personal data.
JSON_FIELDS = ("endpoint", "kind", "campaign", "outcome", "status", "duration_ms")


def redact(text: str) -> str:
    return PHONE_NUMBER.sub("<number>", CALLBACK_TOKEN.sub(REDACTED, text))


class Redact(logging.Filter):
    """Rewrites a record's message and traceback so no token or number reaches a handler.

    Django logs the path of every 4xx/5xx answer ("Not Found: /callbacks/<token>/poll/"),
    and a wrong token is still someone's secret, mistyped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when it is set, instead of formatting exc_info.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (LOG_FORMAT=json): time (UTC), level, logger, message, and
    the known fields a record carries (the callback outcome line's)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({f: getattr(record, f) for f in JSON_FIELDS if hasattr(record, f)})
        if record.exc_info:
            entry["error"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
