"""The post-incident review (BRIEF.md, step 4): the next-day report of a backlog episode.

- `windows`: which episodes a review covers (overlapping alarm episodes merged) and the
  baseline windows ("normal" = the same hours on the same weekday over the previous
  four weeks, or the previous seven days when the history is shorter);
- `sections`: the numbers of each section, read with grouped queries over indexed
  ranges (the window and its baseline windows), never a loop over all orders;
- `suggestions`: permanent changes derived from those numbers, with their evidence;
- `present`: the stored numbers turned into labelled rows in the reader's language;
- `charts`: matplotlib SVG (Agg, a CJK font named explicitly);
- `export`: the PDF (weasyprint, from the same HTML) and the XLSX (openpyxl);
- `services`: generate, regenerate, finalise, and the nightly job.

Every number is computed once, at generation, and kept in `IncidentReview.data`: the
page, the PDF and the XLSX show the same figures, in either language.
"""
