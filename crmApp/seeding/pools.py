"""The words seeded records are made of, and a clock that spreads instants over the last year."""

from datetime import datetime, timedelta
from math import sqrt

FIRST_NAMES = (
    "Aaliyah",
    "Aaron",
    "Abigail",
    "Adrian",
    "Aisha",
    "Alejandro",
    "Alice",
    "Amara",
    "Amelia",
    "Andre",
    "Anna",
    "Arjun",
    "Ava",
    "Benjamin",
    "Bianca",
    "Camila",
    "Carlos",
    "Charlotte",
    "Chen",
    "Chloe",
    "Daniel",
    "David",
    "Diego",
    "Elena",
    "Elijah",
    "Emily",
    "Emma",
    "Ethan",
    "Fatima",
    "Felix",
    "Gabriel",
    "Grace",
    "Hannah",
    "Hiroshi",
    "Ibrahim",
    "Isabella",
    "Ivan",
    "Jack",
    "James",
    "Jasmine",
    "Javier",
    "Julia",
    "Kai",
    "Kenji",
    "Laila",
    "Leo",
    "Liam",
    "Lucas",
    "Lucia",
    "Maya",
    "Mateo",
    "Mia",
    "Mohammed",
    "Nadia",
    "Noah",
    "Nora",
    "Olivia",
    "Omar",
    "Priya",
    "Rafael",
    "Ravi",
    "Rosa",
    "Samuel",
    "Sara",
    "Sofia",
    "Tariq",
    "Thomas",
    "Valentina",
    "Wei",
    "Yara",
    "Zoe",
)
LAST_NAMES = (
    "Abbott",
    "Adeyemi",
    "Alvarez",
    "Anderson",
    "Baker",
    "Bennett",
    "Brooks",
    "Campbell",
    "Chen",
    "Clarke",
    "Cohen",
    "Cruz",
    "Dubois",
    "Evans",
    "Fischer",
    "Foster",
    "Garcia",
    "Gupta",
    "Hansen",
    "Harris",
    "Hughes",
    "Ivanova",
    "Jensen",
    "Johnson",
    "Kapoor",
    "Kim",
    "Kowalski",
    "Larsen",
    "Lee",
    "Lopez",
    "Martin",
    "Meyer",
    "Mitchell",
    "Moreau",
    "Murphy",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Okafor",
    "Olsen",
    "Patel",
    "Perez",
    "Petrov",
    "Quinn",
    "Ramirez",
    "Reyes",
    "Rossi",
    "Santos",
    "Schmidt",
    "Silva",
    "Singh",
    "Smith",
    "Suzuki",
    "Tanaka",
    "Taylor",
    "Thompson",
    "Torres",
    "Walker",
    "Wang",
    "Weber",
    "Williams",
    "Wilson",
    "Yamamoto",
    "Young",
    "Zhang",
)
COMPANY_WORDS = (
    "Apex",
    "Blue",
    "Bright",
    "Cedar",
    "Crest",
    "Delta",
    "Echo",
    "Evergreen",
    "Falcon",
    "Golden",
    "Harbor",
    "Horizon",
    "Iron",
    "Keystone",
    "Lakeside",
    "Maple",
    "Meridian",
    "Nimbus",
    "North",
    "Nova",
    "Orbit",
    "Pioneer",
    "Quantum",
    "Redwood",
    "Silver",
    "Summit",
    "Terra",
    "Union",
    "Vertex",
    "Zenith",
)
COMPANY_NOUNS = (
    "Analytics",
    "Logistics",
    "Systems",
    "Foods",
    "Health",
    "Energy",
    "Labs",
    "Media",
    "Motors",
    "Partners",
    "Retail",
    "Robotics",
    "Software",
    "Studios",
    "Textiles",
    "Ventures",
    "Works",
    "Capital",
    "Foundry",
    "Networks",
)
COMPANY_SUFFIXES = ("Inc.", "LLC", "Ltd.", "Group", "Co.", "GmbH", "S.A.")
COMPANIES = tuple(f"{w} {n} {s}" for w in COMPANY_WORDS for n in COMPANY_NOUNS for s in COMPANY_SUFFIXES[:3])
INDUSTRIES = (
    "Software",
    "Manufacturing",
    "Healthcare",
    "Retail",
    "Finance",
    "Education",
    "Logistics",
    "Hospitality",
    "Energy",
    "Construction",
    "Media",
    "Telecommunications",
    "Agriculture",
    "Consulting",
)
JOB_TITLES = (
    "CEO",
    "CTO",
    "CFO",
    "Head of Operations",
    "Procurement Manager",
    "IT Director",
    "Marketing Lead",
    "Sales Director",
    "Office Manager",
    "Product Manager",
    "Founder",
    "VP Engineering",
    "Buyer",
)
DEPARTMENTS = ("Sales", "Sales", "Sales", "Marketing", "Customer Success", "Operations", "Finance", "Support")
EMPLOYEE_TITLES = {
    "Sales": ("Account Executive", "Sales Representative", "Business Development Rep", "Sales Team Lead"),
    "Marketing": ("Marketing Specialist", "Growth Manager"),
    "Customer Success": ("Customer Success Manager", "Onboarding Specialist"),
    "Operations": ("Operations Analyst", "Office Manager"),
    "Finance": ("Accountant", "Financial Controller"),
    "Support": ("Support Engineer", "Support Specialist"),
}
VENDOR_TYPES = ("Software", "Hardware", "Consulting", "Logistics", "Marketing", "Office Supplies", "Cleaning")
CITIES = (
    ("New York", "United States"),
    ("Austin", "United States"),
    ("Toronto", "Canada"),
    ("London", "United Kingdom"),
    ("Berlin", "Germany"),
    ("Paris", "France"),
    ("Madrid", "Spain"),
    ("Milan", "Italy"),
    ("Lagos", "Nigeria"),
    ("Nairobi", "Kenya"),
    ("Mumbai", "India"),
    ("Singapore", "Singapore"),
    ("Tokyo", "Japan"),
    ("Sydney", "Australia"),
    ("São Paulo", "Brazil"),
    ("Mexico City", "Mexico"),
    ("Dhaka", "Bangladesh"),
)
STREETS = ("Main St", "Oak Ave", "Market St", "High St", "Park Rd", "Lake Dr", "Station Rd", "Hill St")
PRODUCTS = (
    "CRM licences",
    "Annual support",
    "Cloud migration",
    "Onboarding package",
    "Data platform",
    "Fleet tracking",
    "Security audit",
    "Training programme",
    "Hardware refresh",
    "Consulting retainer",
    "Analytics add-on",
)
LOST_REASONS = (
    "Chose a competitor",
    "Budget cut",
    "No decision made",
    "Price too high",
    "Timing not right",
    "Went with an in-house solution",
)
NOTES = ("", "", "", "", "Met at the spring trade show.", "Asked for a call back next quarter.", "Prefers email.")

DAY = 86_400
# "HH:MM:SS" for every second of a day, built once: formatting instants is the hot loop of a big fill.
_TIMES = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(DAY)]


class Clock:
    """Instants of the last `days` days as integer ticks (seconds since the first day), rendered as UTC text.

    Text in `YYYY-MM-DD HH:MM:SS` form is what both SQLite (Django's own storage form) and PostgreSQL
    (whose session time zone Django sets to UTC) read as a UTC timestamp.
    """

    def __init__(self, now: datetime, *, days: int = 365):
        self.now = now
        self.first_day = now.date() - timedelta(days=days)
        self._days = [(self.first_day + timedelta(days=d)).isoformat() for d in range(days + 400)]
        # Ticks never pass the present moment.
        self.max_tick = days * DAY + now.hour * 3600 + now.minute * 60 + now.second
        self.today_index = days

    def sample(self, rng, count: int, *, growth: bool = True, ordered: bool = False) -> list[int]:
        """`count` ticks spread over the period; with `growth` the density rises towards today (a growing book).

        `ordered` returns them oldest first: rows inserted in date order keep the created_at indexes
        append-only, which is what makes a million-row insert fast.
        """
        top, rnd = self.max_tick, rng.random
        draws = [rnd() for _ in range(count)]
        if ordered:
            draws.sort()
        if growth:
            return [int(top * sqrt(u)) for u in draws]
        return [int(top * u) for u in draws]

    def later(self, rng, tick: int, *, min_days: float, max_days: float) -> int:
        """A tick between `min_days` and `max_days` after `tick`, never past now."""
        return min(tick + int(DAY * (min_days + (max_days - min_days) * rng.random())), self.max_tick)

    def text(self, tick: int) -> str:
        """The tick as `YYYY-MM-DD HH:MM:SS` (UTC)."""
        return f"{self._days[tick // DAY]} {_TIMES[tick % DAY]}"

    def date_text(self, tick: int) -> str:
        """The calendar day of a tick as `YYYY-MM-DD`."""
        return self._days[tick // DAY]

    def future_date_text(self, days_ahead: int) -> str:
        """The date `days_ahead` days after today (at most ~400 days)."""
        return self._days[self.today_index + days_ahead]


def with_coverage(values: list, required) -> list:
    """Overwrite the first entries so every required value appears at least once (as far as the list allows)."""
    for index, value in enumerate(list(required)[: len(values)]):
        values[index] = value
    return values


ACTIVITY_SUBJECTS = {
    "note": "Note on the account",
    "call": "Follow-up call",
    "meeting": "Meeting",
    "task": "Send the proposal",
    "email": "Email about pricing",
}
