"""Import/export of exception types (django-import-export, same rules as the catalogue)."""

from django.contrib.auth.models import Group

from exceptions.models import ExceptionType
from orders.resources import BackofficeResource, natural_key_field


class ExceptionTypeResource(BackofficeResource):
    team = natural_key_field("team", Group, "name")

    class Meta(BackofficeResource.Meta):
        model = ExceptionType
        name = ExceptionType._meta.verbose_name_plural
        import_id_fields = ("code",)
        fields = (
            "code",
            "name_zh",
            "name_en",
            "tag_zh",
            "tag_en",
            "team",
            "sla_minutes",
            "blocks_dispatch",
            "checklist",
            "is_active",
            "sort_order",
        )
