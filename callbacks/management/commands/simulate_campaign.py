import json

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from callbacks.simulator import (
    Campaigns,
    Traffic,
    is_loopback,
    kind_of,
    parse_choices,
    run,
    wait_until_up,
)


class Command(BaseCommand):
    help = (
        "Rehearse a campaign against a running instance: realistic callbacks to the given "
        "callback URLs (the kind follows from the URL's ending: /form/, /poll/, /info/)."
    )

    def add_arguments(self, parser):
        parser.add_argument("urls", nargs="+", metavar="URL")
        limit = parser.add_mutually_exclusive_group()
        limit.add_argument("--count", type=int, help="callbacks to send (default 100)")
        limit.add_argument("--duration", type=float, help="seconds to keep sending")
        parser.add_argument("--rate", type=float, default=20, help="callbacks a second")
        parser.add_argument("--concurrency", type=int, default=8, help="requests at once")
        parser.add_argument("--allow-remote", action="store_true", help="send beyond loopback")
        parser.add_argument("--shortcode", default="84700")
        parser.add_argument("--poll-keyword", default="FB1")
        parser.add_argument("--form-keyword", default="SOMEKEY")
        parser.add_argument("--info-keyword", default="HOURS")
        parser.add_argument(
            "--choices",
            default="A:Tampa:50,B:Miami:30,C:Orlando:20",
            help="poll replies as reply:label:weight, comma-separated",
        )
        parser.add_argument("--seed", type=int, help="repeat the same traffic")
        parser.add_argument(
            "--wait", type=float, default=0, help="seconds to wait for the server to come up"
        )
        parser.add_argument("--report", help="also write the summary as JSON to this file")

    def handle(self, *args, urls, count, duration, rate, concurrency, allow_remote, **options):
        try:
            kinds = {url: kind_of(url) for url in urls}
            choices = parse_choices(options["choices"])
        except ValueError as e:
            raise CommandError(str(e)) from None
        remote = [url for url in urls if not is_loopback(url)]
        if remote and not allow_remote:
            raise CommandError(
                f"{remote[0]} is not on this machine; pass --allow-remote to send callbacks there"
            )
        if count is None and duration is None:
            count = 100
        if rate <= 0 or (count is not None and count < 1) or concurrency < 1:
            raise CommandError("--rate, --count and --concurrency must be positive")

        if options["wait"] and not all(wait_until_up(url, options["wait"]) for url in urls):
            raise CommandError(f"no answer from {urls[0]} within {options['wait']} s")

        campaigns = Campaigns(
            options["shortcode"],
            options["poll_keyword"],
            options["form_keyword"],
            options["info_keyword"],
            choices,
        )
        traffic = Traffic(campaigns, seed=options["seed"])
        total = count if count is not None else int(duration * rate)
        console = Console(file=self.stdout, highlight=False)
        described = ", ".join(sorted(set(kinds.values())))
        with Progress(
            TextColumn(f"Sending {described} callbacks"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("callbacks", total=total)
            result = run(
                urls,
                traffic,
                count,
                duration,
                rate,
                concurrency,
                progress=lambda n: progress.advance(task, n),
            )

        summary = {
            "sent": result.sent,
            "subscribers": len(traffic.subscribers()),
            "statuses": {str(k): v for k, v in sorted(result.statuses.items(), key=str)},
            "latency_ms": {f"p{p}": round(result.percentile(p), 1) for p in (50, 95, 99)},
        }
        statuses = ", ".join(f"{n} x {status}" for status, n in summary["statuses"].items())
        latency = ", ".join(f"{k} {v} ms" for k, v in summary["latency_ms"].items())
        console.print(f"Sent {result.sent} callbacks for {summary['subscribers']} subscribers.")
        console.print(f"Answers: {statuses}.")
        console.print(f"Latency: {latency}.")
        if options["report"]:
            summary["mobiles"] = sorted(traffic.subscribers())
            with open(options["report"], "w") as f:
                json.dump(summary, f, indent=2)
