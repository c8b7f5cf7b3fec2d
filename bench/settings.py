"""The app's settings with the bench's URLconf (the app's URLs plus the floor), for the bench's processes only."""

from crmAdmin.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
