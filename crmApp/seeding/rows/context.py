"""What every row generator shares: the fill's context, the columns every record has, chunking."""

from dataclasses import dataclass, field

from crmApp.seeding.pools import Clock

CHUNK = 20_000
COMMON = ("organization_id", "created_at", "updated_at", "created_by_id", "code")


@dataclass
class FillContext:
    """What every generator of one organization's fill needs to know."""

    organization_id: int
    author_id: int | None
    clock: Clock
    domain: str
    employee_ids: list = field(default_factory=list)
    customer_ids: list = field(default_factory=list)
    lead_ids: list = field(default_factory=list)
    deal_ids: list = field(default_factory=list)
    stages: list = field(default_factory=list)  # PipelineStage rows of the default pipeline, in order
    pipeline_id: int | None = None
    # How many new leads may be converted: one per new customer that can be linked to one.
    conversions: int = 0

    def assignees(self, rng, count: int) -> list:
        """`count` employee ids for assigned_to, about one in eight left unassigned."""
        if not self.employee_ids:
            return [None] * count
        picks = rng.choices(self.employee_ids, k=count)
        return [None if rng.random() < 0.125 else pick for pick in picks]


def chunks(count: int):
    """(first, size) of each chunk of `count` rows: a big fill is generated and written a chunk at a time."""
    for start in range(0, count, CHUNK):
        yield start, min(CHUNK, count - start)


def random_phone(rng) -> str:
    """A North American number in the fictional 555 range."""
    return f"+1-555-{rng.randrange(1000):03d}-{rng.randrange(10000):04d}"
