from django.core.management.base import BaseCommand

from reports.rollups import rollups_rebuild


class Command(BaseCommand):
    help = "Recompute the dashboard's hourly stage rollups from the whole timeline."

    def handle(self, *args, **options):
        run = rollups_rebuild()
        self.stdout.write(
            f"{run.rows} stage-hours rolled up from {run.start:%Y-%m-%d %H:%M} "
            f"to {run.end:%Y-%m-%d %H:%M} in {run.seconds:.1f} s"
        )
