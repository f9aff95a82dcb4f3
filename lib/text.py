"""How text is compared and when a value counts as given: one definition for callbacks, the
admin, the API and imports."""

from django.db.models import Value
from django.db.models.functions import Lower
from django.db.models.lookups import Exact


def folded(text: str) -> str:
    """Text as compared case-insensitively: trimmed, lower-cased, as LOWER() does in SQL."""
    return (text or "").strip().lower()


def same_text(field: str, value: str) -> Exact:
    """A query condition: `field` equals `value` whatever the case, as the unique constraints
    see it (LOWER() on both sides, so the constraint's index answers it)."""
    return Exact(Lower(field), Lower(Value(value)))


def canonical_name(name: str) -> str:
    """A parameter or column name as matched: any case, spaces and underscores ignored, so
    "short code", "Short_Code" and "shortcode" are one name."""
    return folded(name).replace(" ", "").replace("_", "")


def is_blank(value) -> bool:
    """A value that says nothing: None, or text that is empty or only whitespace."""
    return value is None or not str(value).strip()


def non_blank(fields: dict) -> dict:
    """The fields that carry a value: a blank value never erases a stored one."""
    return {name: value for name, value in fields.items() if not is_blank(value)}
