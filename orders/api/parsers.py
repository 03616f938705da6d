"""The API's JSON parser: every unreadable body is a 400, never a 500."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's strict JSON parser, plus: a body nested too deep for Python's decoder
    (e.g. 100,000 opening brackets, a few hundred kilobytes) raises RecursionError,
    which DRF does not catch and which would become a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(_("The JSON body is nested too deeply.")) from None
