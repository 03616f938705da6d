from django.core.management.base import BaseCommand, CommandError

from orders.services.partners import partner_create, partner_key_create


class Command(BaseCommand):
    help = (
        "Create a partner (or reuse the one with this code) and print a new API key. "
        "The key is shown once: it is stored hashed."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="the partner's display name")
        parser.add_argument("--code", default="", help="short code (default: from the name)")
        parser.add_argument("--key-name", default="created by create_partner")
        parser.add_argument("--quiet", action="store_true", help="print only the key")

    def handle(self, *args, name, code, key_name, quiet, **options):
        if not name.strip():
            raise CommandError("The partner needs a name.")
        partner = partner_create(name=name.strip(), code=code)
        key = partner_key_create(partner=partner, name=key_name, by_label="manage.py")
        if quiet:
            self.stdout.write(key)
            return
        self.stdout.write(f"Partner: {partner.name} (code {partner.code})")
        self.stdout.write(f"API key (shown once, keep it safe): {key}")
        self.stdout.write("Use it as the X-Api-Key header of /api/v1/ requests.")
