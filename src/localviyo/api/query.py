"""Query parameters shared by the profile operations: sparse fieldsets, additional fields, include."""

from __future__ import annotations

from localviyo.api.request import Request
from localviyo.errors import Invalid

_LOCATION = ("address1", "address2", "city", "country", "latitude", "longitude", "region", "zip", "timezone", "ip")
_EMAIL_MARKETING = (
    "can_receive_email_marketing",
    "consent",
    "consent_timestamp",
    "last_updated",
    "method",
    "method_detail",
    "custom_method_detail",
    "double_optin",
    "suppression",
    "list_suppressions",
)
_SMS_MARKETING = (
    "can_receive_sms_marketing",
    "consent",
    "consent_timestamp",
    "method",
    "method_detail",
    "last_updated",
)
_PREDICTIVE = (
    "historic_clv",
    "predicted_clv",
    "total_clv",
    "historic_number_of_orders",
    "predicted_number_of_orders",
    "average_days_between_orders",
    "average_order_value",
    "churn_probability",
    "expected_date_of_next_order",
)

PROFILE_FIELDS: frozenset[str] = frozenset(
    [
        "email",
        "phone_number",
        "external_id",
        "first_name",
        "last_name",
        "organization",
        "title",
        "image",
        "created",
        "updated",
        "last_event_date",
        "location",
        *(f"location.{key}" for key in _LOCATION),
        "properties",
        "subscriptions",
        "subscriptions.email",
        "subscriptions.email.marketing",
        *(f"subscriptions.email.marketing.{key}" for key in _EMAIL_MARKETING),
        "subscriptions.sms",
        "subscriptions.sms.marketing",
        *(f"subscriptions.sms.marketing.{key}" for key in _SMS_MARKETING),
        "predictive_analytics",
        *(f"predictive_analytics.{key}" for key in _PREDICTIVE),
    ]
)
ADDITIONAL_FIELDS = ("subscriptions", "predictive_analytics")
INCLUDE = ("lists", "segments")

INVALID_CHOICE = "'{value}' is not a valid choice for '{parameter}'."


def csv_parameter(request: Request, name: str, allowed: frozenset[str] | tuple[str, ...]) -> list[str] | None:
    """A comma-separated parameter, each value checked; None when the parameter is absent."""
    raw = request.query.get(name)
    if raw is None:
        return None
    values = [value.strip() for value in raw.split(",") if value.strip()]
    for value in values:
        if value not in allowed:
            raise Invalid(INVALID_CHOICE.format(value=value, parameter=name), parameter=name)
    return values


def profile_fields(request: Request) -> list[str] | None:
    allowed = PROFILE_FIELDS | {"locale"} if request.revision.has_locale else PROFILE_FIELDS
    return csv_parameter(request, "fields[profile]", allowed)


def additional_fields(request: Request) -> list[str]:
    return csv_parameter(request, "additional-fields[profile]", ADDITIONAL_FIELDS) or []
