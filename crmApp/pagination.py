"""The standard list envelope: {count, next, previous, results}."""
from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    """`?page=` and `?page_size=` (default 25, at most 100); a page past the end is a 404."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
