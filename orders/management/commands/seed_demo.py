"""Load the demo shop: `python manage.py seed_demo [--seed 42] [--days 30] ...`.

`make run` calls it with --if-empty, so restarting never duplicates or replaces data.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import ProtectedError
from django.utils import timezone

from orders.demo import (
    STAFF,
    SUPERVISOR_LOGIN,
    TEAM_PASSWORD,
    DemoConflict,
    demo_reset,
    demo_seed,
)
from orders.models import Order


class Command(BaseCommand):
    help = (
        "Create deterministic demo data: a shop with 30 days of order history and a live backlog."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
        parser.add_argument("--days", type=int, default=30, help="days of history (default 30)")
        parser.add_argument(
            "--orders-per-day", type=int, default=600, help="average orders a day (default 600)"
        )
        parser.add_argument("--customers", type=int, default=300, help="customers (default 300)")
        parser.add_argument(
            "--live-orders",
            type=int,
            default=6,
            help="newest orders created through the real services (default 6)",
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when orders already exist"
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="delete all orders and the demo shop's master data first",
        )

    def handle(self, *args, **options):
        if options["days"] < 0 or options["orders_per_day"] < 1 or options["customers"] < 1:
            raise CommandError("--days must be >= 0, --orders-per-day and --customers >= 1")
        if options["if_empty"] and not options["reset"] and Order.objects.exists():
            self.stdout.write(
                "Orders already exist: demo data not loaded (use --reset to replace)."
            )
            return
        if options["reset"]:
            try:
                demo_reset()
            except ProtectedError as exc:
                raise CommandError(
                    f"Cannot reset: other records still refer to orders ({exc})"
                ) from exc
        try:
            summary = demo_seed(
                seed=options["seed"],
                days=options["days"],
                orders_per_day=options["orders_per_day"],
                customers=options["customers"],
                live_orders=options["live_orders"],
            )
        except DemoConflict as exc:
            raise CommandError(f"{exc}. Run with --reset to replace them.") from exc

        statuses = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_status.items()))
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data loaded in {summary.seconds:.1f} s: {summary.orders} orders "
                f"({statuses}), {summary.visits} stage visits, {summary.audit_events} audit "
                f"events, {summary.customers} customers, {summary.products} products."
            )
        )
        if summary.oldest_in_picking:
            waited = timezone.now() - summary.oldest_in_picking
            self.stdout.write(
                f"Picking backlog (pick-list printer fault): {summary.picking_backlog} orders, "
                f"oldest waiting {waited.total_seconds() / 3600:.1f} h."
            )
        for problem in summary.live_problems:
            self.stdout.write(self.style.WARNING(f"Live order not moved on: {problem}"))
        teams = " ".join(name for name in STAFF if name != SUPERVISOR_LOGIN[0])
        self.stdout.write(f"Supervisor login: {SUPERVISOR_LOGIN[0]} / {SUPERVISOR_LOGIN[1]}")
        self.stdout.write(f"Team logins (password {TEAM_PASSWORD}): {teams}")
