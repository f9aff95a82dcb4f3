"""What the configured log handler writes: no callback token and no phone number, in the
message or in a traceback, in either log format."""

import copy
import io
import logging
import logging.config

import pytest
from django.conf import settings


@pytest.fixture(params=["text", "json"])
def log(request):
    """A logger wired through the product's LOGGING handler, writing to a string."""
    config = copy.deepcopy(settings.LOGGING)
    config["handlers"]["console"]["formatter"] = request.param
    config["root"]["level"] = "INFO"
    logging.config.dictConfig(config)
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)
    yield logging.getLogger("callbacks.processing"), stream
    logging.config.dictConfig(settings.LOGGING)


def test_a_database_error_naming_a_number_is_logged_without_it(log):
    logger, stream = log
    try:
        raise RuntimeError("duplicate key: Key (mobile)=(+12125551212) already exists.")
    except RuntimeError:
        logger.exception("callback %s failed", 42)

    written = stream.getvalue()
    assert "callback 42 failed" in written
    assert "Key (mobile)=(<number>) already exists" in written
    assert "2125551212" not in written


def test_a_number_as_typed_and_a_token_in_a_message_are_redacted(log):
    logger, stream = log
    logger.warning("GET /callbacks/S3cretToken/poll/?mobile=2125551212 from 12125551212")

    written = stream.getvalue()
    assert "/callbacks/<token>/poll/?mobile=<number> from <number>" in written
    assert "S3cretToken" not in written and "555" not in written
