from django.core.management.base import BaseCommand

from backoffice.deadman import deadman_check, deadman_status


class Command(BaseCommand):
    help = (
        "Alarm the supervisors if the task queue's heartbeat is stale (once per outage). "
        "Run it from cron: it works when the qcluster does not."
    )

    def handle(self, *args, **options):
        outage = deadman_check()
        status = deadman_status()
        if outage is not None:
            self.stdout.write(
                f"outage opened, supervisors alerted (last beat {outage.last_beat_at})"
            )
        elif status.stale:
            self.stdout.write("heartbeat stale; outage already open or never started")
        else:
            self.stdout.write("heartbeat fresh")
        return None
