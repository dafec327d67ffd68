"""The node's web pages, rendered on the server (Jinja2, templates/ here): the case review
pages for commissions and investigators (review.py) with the observatory's statistics
(statistics.py), and the families' pages (family.py, in their words: family_view.py,
family_words.py). Each is an APIRouter that services/http/app.py includes."""

__all__: list[str] = []
