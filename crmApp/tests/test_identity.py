"""An address (or username) is one account however it is written: TS #39 skeletons at every door."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from crmApp.identity import skeleton
from crmApp.models import User
from crmApp.tests.factories import TEST_PASSWORD, UserFactory

REGISTER, LOGIN = "/api/auth/register/", "/api/auth/login/"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("newhire@corp.example", "newh\u0131re@corp.example"),  # dotless ı
        ("newhire@corp.example", "NewHire@Corp.Example"),
        ("sam@corp.example", "\u017fam@corp.example"),  # long ſ
        ("ab@corp.example", "\uff41\uff42@corp.example"),  # full-width letters
        ("max@corp.example", "\u043cax@corp.example"),  # Cyrillic м
        ("max@corp.example", "\u041cAX@corp.example"),  # Cyrillic М
        ("anna@corp.example", "\u0430nna@corp.example"),  # Cyrillic а
        ("jane.doe", "JANE.DOE"),
    ],
)
def test_look_alikes_share_a_skeleton(one, other):
    assert skeleton(one) == skeleton(other)


@pytest.mark.parametrize(("one", "other"), [("ann@corp.example", "anne@corp.example"), ("bob", "rob")])
def test_different_names_keep_different_skeletons(one, other):
    assert skeleton(one) != skeleton(other)


def register(client, email, username=None):
    body = {
        "email": email,
        "password": TEST_PASSWORD,
        "first_name": "A",
        "last_name": "B",
        "organization_name": "Look-alike Co",
    }
    if username:
        body["username"] = username
    return client.post(REGISTER, body, format="json")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "look_alike", ["newh\u0131re@corp.example", "NEWHIRE@corp.example", "newh\uff49re@corp.example"]
)
def test_registering_a_look_alike_of_an_existing_address_is_400(look_alike):
    UserFactory(email="newhire@corp.example")

    response = register(APIClient(), look_alike)

    assert response.status_code == 400
    assert response.json()["errors"]["email"] == ["A user with this email already exists."]
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_registering_a_look_alike_username_is_400():
    UserFactory(email="first@corp.example", username="max")

    response = register(APIClient(), "second@corp.example", username="\u043cax")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["username"]


# 225 Hangul syllables of 7 letters each spell out to over 1,024; so do 60 copies of U+FDFA (18 letters each).
LONG_ADDRESS = "a@" + ".".join(["\ucb94" * 15] * 15) + ".com"
LONG_USERNAME = "\ufdfa" * 60


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("send", "field"),
    [
        (lambda client, owner, org: register(client, LONG_ADDRESS), "email"),
        (lambda client, owner, org: register(client, "fine@corp.example", username=LONG_USERNAME), "username"),
        (
            lambda client, owner, org: client.patch("/api/users/me/", {"username": LONG_USERNAME}, format="json"),
            "username",
        ),
        (
            lambda client, owner, org: client.post(
                f"/api/organizations/{org.id}/members/", {"email": LONG_ADDRESS, "role": "member"}, format="json"
            ),
            "email",
        ),
    ],
    ids=["register-email", "register-username", "rename", "invite"],
)
def test_an_address_or_username_too_long_to_compare_is_a_400_not_a_500(owner, organization, send, field):
    assert len(LONG_ADDRESS) <= 254 and len(LONG_USERNAME) <= 100 and len(skeleton(LONG_ADDRESS)) > 1024
    client = APIClient()
    client.force_authenticate(owner)
    users = User.objects.count()

    response = send(client, owner, organization)

    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == [field]
    assert User.objects.count() == users


@pytest.mark.django_db
def test_renaming_to_a_look_alike_username_is_400():
    UserFactory(email="first@corp.example", username="max")
    renamer = UserFactory(email="second@corp.example")
    client = APIClient()
    client.force_authenticate(renamer)

    response = client.patch("/api/users/me/", {"username": "MAX"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["username"]


@pytest.mark.django_db
@pytest.mark.parametrize("spelling", ["newhire@corp.example", "NewHire@CORP.example", "newh\u0131re@corp.example"])
def test_every_spelling_of_an_address_signs_in_to_its_one_account(spelling):
    account = UserFactory(email="newhire@corp.example")

    response = APIClient().post(LOGIN, {"email": spelling, "password": TEST_PASSWORD}, format="json")

    assert response.status_code == 200
    assert response.json()["user"]["id"] == account.id


@pytest.mark.django_db
def test_admin_sign_in_finds_one_account_and_never_fails(client):
    staff = UserFactory(email="staff@corp.example", is_staff=True, is_superuser=True)
    # A look-alike that predates the rule keeps a marked skeleton (see migration 0005).
    legacy = UserFactory(email="other@corp.example")
    User.objects.filter(pk=legacy.pk).update(
        email="st\u0430ff@corp.example", email_skeleton=f"{skeleton('staff@corp.example')}#collision-{legacy.pk}"
    )

    response = client.post("/admin/login/?next=/admin/", {"username": "STAFF@corp.example", "password": TEST_PASSWORD})

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert int(client.session["_auth_user_id"]) == staff.pk


@pytest.mark.django_db(transaction=True)
def test_the_migration_reports_look_alikes_and_merges_nothing(capsys):
    executor = MigrationExecutor(connection)
    executor.migrate([("crmApp", "0004_indexes_for_list_orderings")])
    old_apps = executor.loader.project_state([("crmApp", "0004_indexes_for_list_orderings")]).apps
    OldUser = old_apps.get_model("crmApp", "User")
    first = OldUser.objects.create(email="newhire@corp.example", username="max")
    second = OldUser.objects.create(email="newh\u0131re@corp.example", username="\u043cax")
    third = OldUser.objects.create(email="someone@corp.example")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    users = {user.pk: user for user in User.objects.all()}
    assert set(users) == {first.pk, second.pk, third.pk}  # nobody merged or deleted
    assert users[first.pk].email_skeleton == skeleton("newhire@corp.example")
    assert users[second.pk].email_skeleton == f"{skeleton('newhire@corp.example')}#collision-{second.pk}"
    assert users[second.pk].username_skeleton.endswith(f"#collision-{second.pk}")
    assert User.objects.find_by_email("NEWHIRE@corp.example").pk == first.pk
    report = capsys.readouterr().out
    assert f"user {second.pk}" in report and f"user {first.pk}" in report
