"""The review as a PDF (weasyprint, from the same HTML as the page) and as an XLSX
(openpyxl, one sheet per table of the report)."""

from __future__ import annotations

import io
import logging

from django.template.loader import render_to_string
from django.utils import timezone, translation

from reports.review.present import review_present, review_tables

_SHEET_FORBIDDEN = str.maketrans(dict.fromkeys("[]:*?/\\", " "))


def review_context(review) -> dict:
    # matplotlib (and openpyxl below) load when a review is shown, not in every web
    # worker at start-up: fewer objects for the garbage collector to walk per request.
    from reports.review.charts import review_charts

    present = review_present(review)
    return {"report": present, "charts": review_charts(present)}


def review_html_for_print(review) -> str:
    return render_to_string(
        "reports/review/print.html",
        {**review_context(review), "language": translation.get_language()},
    )


def review_pdf(review) -> bytes:
    """The same report as the admin page, laid out for A4 (weasyprint)."""
    from weasyprint import HTML  # heavy import, only when a PDF is asked for

    html = review_html_for_print(review)
    # weasyprint logs every SVG presentation attribute its CSS parser skips (they are
    # drawn all the same) and each layout step: keep the server log readable.
    logger = logging.getLogger("weasyprint")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return HTML(string=html).write_pdf()
    finally:
        logger.setLevel(level)


def review_xlsx(review) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, headers, rows in review_tables(review_present(review)):
        sheet = workbook.create_sheet(str(name).translate(_SHEET_FORBIDDEN)[:31])
        sheet.append([str(h) for h in headers])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append([v if isinstance(v, int | float) or v is None else str(v) for v in row])
        for index, header in enumerate(headers, start=1):
            width = max([len(str(header)), *(len(str(r[index - 1] or "")) for r in rows)])
            sheet.column_dimensions[sheet.cell(1, index).column_letter].width = min(
                60, max(10, width + 2)
            )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def review_file_name(review, extension: str) -> str:
    start = timezone.localtime(review.window_start)
    return f"review-{review.pk}-{start:%Y%m%d-%H%M}.{extension}"
