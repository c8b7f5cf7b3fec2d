"""The one error body of the API: `{detail, code, errors?, retry_after?}` (the `Error` component)."""

from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """Every 4xx and 5xx answer: a sentence, a machine code, and what more the error has to say."""

    detail = serializers.CharField(help_text="A human sentence saying what went wrong.")
    code = serializers.CharField(help_text="A machine code: `invalid`, `not_found`, `protected`, `throttled`, …")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Validation errors only: the messages per field (`non_field_errors` for the whole body).",
    )
    retry_after = serializers.IntegerField(required=False, help_text="429 only: seconds until a request is allowed.")
