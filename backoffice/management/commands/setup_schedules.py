from django.core.management.base import BaseCommand

from backoffice.schedules import all_schedule_specs, schedules_sync


class Command(BaseCommand):
    help = "Declare every app's django-q2 schedules (idempotent)."

    def handle(self, *args, **options):
        created, updated = schedules_sync()
        for spec in all_schedule_specs():
            state = (
                "created" if spec.name in created else "updated" if spec.name in updated else "ok"
            )
            every = spec.cron or f"every {spec.minutes} min"
            self.stdout.write(f"  {state:8} {spec.name:40} {every}")
        self.stdout.write(self.style.SUCCESS(f"{len(all_schedule_specs())} schedules declared."))
