"""The lead score of API.md › Business rules, as a pure function (services and the bulk seeder share it)."""

from decimal import Decimal

from crmApp.constants import LeadSource

SOURCE_POINTS = {
    LeadSource.REFERRAL: 25,
    LeadSource.PARTNER: 20,
    LeadSource.WEBSITE: 15,
    LeadSource.SOCIAL_MEDIA: 10,
    LeadSource.EMAIL_CAMPAIGN: 10,
    LeadSource.EVENT: 10,
    LeadSource.COLD_CALL: 5,
    LeadSource.ADVERTISEMENT: 5,
    LeadSource.OTHER: 0,
}
# (strictly greater than, points), highest first.
VALUE_POINTS = ((Decimal("100000"), 20), (Decimal("50000"), 15), (Decimal("10000"), 10))
FIELD_POINTS = {"email": 10, "phone": 10, "company": 15, "job_title": 10}
MAX_SCORE = 100


def _present(value) -> bool:
    return bool(value and str(value).strip())


def score_lead(*, email="", phone="", company="", job_title="", source=None, estimated_value=None) -> int:
    """0–100: points for each contact field present, the source and the estimated value; capped at 100."""
    present = {"email": email, "phone": phone, "company": company, "job_title": job_title}
    score = sum(points for name, points in FIELD_POINTS.items() if _present(present[name]))
    score += SOURCE_POINTS.get(source, 0)
    if estimated_value is not None:
        value = Decimal(estimated_value)
        score += next((points for threshold, points in VALUE_POINTS if value > threshold), 0)
    return min(score, MAX_SCORE)
