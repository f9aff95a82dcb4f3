"""Rehearse a campaign: realistic callbacks, as Sumotext would send them, to running URLs.

Used by `manage.py simulate_campaign`, `make demo` and bench/scale_out.py. Nothing here
touches the database: the callbacks go over HTTP to whatever instance the URLs name.
"""

import ipaddress
import random
import socket
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from campaigns.models import Kind

AREA_CODES = ("212", "415", "312", "305", "713", "617", "206", "404", "702", "813")
# How people type one number: the platform passes it on as typed.
NUMBER_STYLES = (
    "{a}{e}{l}",  # 2125551212
    "({a}) {e}-{l}",  # (212) 555-1212
    "+1 {a}-{e}-{l}",  # +1 212-555-1212
    "1-{a}-{e}-{l}",  # 1-212-555-1212
)
CARRIERS = {"VERIZONUS": 35, "ATTUS": 30, "TMOBILEUS": 25, "USCELLULAR": 5, "CRICKETUS": 5}
FIRST_NAMES = ("Bill", "Maria", "James", "Aisha", "Wei", "Sofia", "Diego", "Emma", "Noah", "Li")
INFO_MESSAGES = ("{k}", "{k} please", "{k}?", "{k} today", "what are your {k}", "{k} info")
# Share of callbacks that come from a number seen before in the run.
RETURNING = 0.3


@dataclass(frozen=True)
class Choice:
    reply: str
    label: str
    weight: int


DEFAULT_CHOICES = (Choice("A", "Tampa", 50), Choice("B", "Miami", 30), Choice("C", "Orlando", 20))


def parse_choices(text: str) -> tuple[Choice, ...]:
    """ "A:Tampa:5,B:Miami:3" -> choices with their weights."""
    choices = []
    for item in text.split(","):
        reply, label, weight = item.split(":")
        choices.append(Choice(reply.strip(), label.strip(), int(weight)))
    return tuple(choices)


def kind_of(url: str) -> str:
    """The event kind a callback URL receives, from its last path segment."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url} is not an http:// or https:// URL")
    last = parts.path.rstrip("/").rsplit("/", 1)[-1]
    if last not in Kind.values:
        raise ValueError(f"{url} does not end in /form/, /poll/ or /info/")
    return last


def is_loopback(url: str) -> bool:
    """Whether every address the URL's host resolves to is this machine's."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


@dataclass
class Campaigns:
    shortcode: str = "84700"
    poll_keyword: str = "FB1"
    form_keyword: str = "SOMEKEY"
    info_keyword: str = "HOURS"
    choices: tuple[Choice, ...] = DEFAULT_CHOICES


class Traffic:
    """The next callback's parameters: new and returning subscribers, typed every way."""

    def __init__(self, campaigns: Campaigns, seed: int | None = None):
        self.campaigns = campaigns
        self.random = random.Random(seed)
        self.seen: list[str] = []  # ten-digit numbers already used, to pick returning ones
        self.known: set[str] = set()
        self.sent: set[tuple] = set()  # every callback's parameters, to never repeat one
        self.lock = threading.Lock()

    def number(self) -> str:
        """Ten digits: a returning subscriber's, or a new one's."""
        if self.seen and self.random.random() < RETURNING:
            return self.random.choice(self.seen)
        while True:
            digits = f"{self.random.choice(AREA_CODES)}555{self.random.randrange(10000):04d}"
            if digits not in self.known:
                self.seen.append(digits)
                self.known.add(digits)
                return digits

    def typed(self, digits: str) -> str:
        style = self.random.choice(NUMBER_STYLES)
        return style.format(a=digits[:3], e=digits[3:6], l=digits[6:])

    def carrier(self) -> str:
        return self.random.choices(list(CARRIERS), weights=list(CARRIERS.values()))[0]

    def next(self, urls: list[tuple[str, str]]) -> tuple[str, dict[str, str]]:
        """The next callback: one of the (URL, kind) pairs, and its parameters."""
        with self.lock:
            url, kind = self.random.choice(urls)
            return url, self.params(kind)

    def params(self, kind: str) -> dict[str, str]:
        """A new callback's parameters: never one already sent, which the product would rightly
        take for the platform's retry of it (CALLBACK_DUPLICATE_WINDOW) and count once."""
        while True:
            params = self._params(kind)
            key = (kind, *params.items())
            if key not in self.sent:
                self.sent.add(key)
                return params

    def _params(self, kind: str) -> dict[str, str]:
        """The parameters Sumotext's document names for this kind, in its order."""
        mobile = self.typed(self.number())
        c, r = self.campaigns, self.random
        if kind == Kind.POLL:
            choice = r.choices(c.choices, weights=[ch.weight for ch in c.choices])[0]
            return {
                "mobile": mobile,
                "carrier": self.carrier(),
                "shortcode": c.shortcode,
                "key": c.poll_keyword,
                "reply": choice.reply,
                "label": choice.label,
            }
        if kind == Kind.INFO:
            message = r.choice(INFO_MESSAGES).format(k=c.info_keyword.lower())
            return {"lead": c.info_keyword, "mobile": mobile, "msg": message}
        born = f"{r.randint(1, 12)}/{r.randint(1, 28)}/{r.randint(1950, 2007)}"
        return {
            "country": "USA",
            "shortcode": c.shortcode,
            "key": c.form_keyword,
            "mobile": mobile,
            "carrierId": self.carrier(),
            "Name": r.choice(FIRST_NAMES),
            "DOB": born,
            "Zip": f"{r.randrange(501, 99951):05d}",
        }

    def subscribers(self) -> set[str]:
        """E.164 numbers of everyone this traffic sent a callback for."""
        return {f"+1{digits}" for digits in self.seen}


def wait_until_up(url: str, seconds: float) -> bool:
    """Whether the instance serving `url` answers its /healthz within `seconds`."""
    parts = urlsplit(url)
    health = f"{parts.scheme}://{parts.netloc}/healthz"
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(health, timeout=2):  # noqa: S310 (http(s) only)
                return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)


@dataclass
class Result:
    sent: int = 0
    statuses: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def percentile(self, p: int) -> float:
        """Latency in milliseconds below which p% of the answers came."""
        if len(self.latencies) < 2:
            return (self.latencies or [0.0])[0] * 1000
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1] * 1000


def send(url: str, params: dict[str, str], timeout: float = 30) -> tuple[int | str, float]:
    """One GET callback: its status (or the error's name) and how long the answer took."""
    started = time.perf_counter()
    try:
        # kind_of() let only http:// and https:// URLs this far.
        with urllib.request.urlopen(f"{url}?{urlencode(params)}", timeout=timeout) as response:  # noqa: S310
            response.read()
            status = response.status
    except urllib.error.HTTPError as e:
        status = e.code
    except OSError as e:
        status = type(e).__name__
    return status, time.perf_counter() - started


def run(
    urls,
    traffic: Traffic,
    count: int | None,
    duration: float | None,
    rate: float,
    concurrency: int = 8,
    progress=None,
) -> Result:
    """Send callbacks spread evenly at `rate` a second, until `count` or `duration` is reached.

    `progress(n)` is called after each answer.
    """
    kinds = [(url, kind_of(url)) for url in urls]
    result = Result()
    lock = threading.Lock()
    started = time.monotonic()
    next_index = iter(range(10**12))

    def due(i: int) -> float | None:
        at = started + i / rate
        if count is not None and i >= count:
            return None
        if duration is not None and at - started >= duration:
            return None
        return at

    def worker():
        while True:
            with lock:
                i = next(next_index)
            at = due(i)
            if at is None:
                return
            url, params = traffic.next(kinds)
            time.sleep(max(0.0, at - time.monotonic()))
            status, latency = send(url, params)
            with lock:
                result.sent += 1
                result.statuses[status] += 1
                result.latencies.append(latency)
            if progress:
                progress(1)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return result
