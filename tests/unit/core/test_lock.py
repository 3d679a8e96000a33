"""The deploy lock: a dedicated app on Heroku, atomic by name."""

from __future__ import annotations

import pytest

from herotasks.core import lock
from herotasks.errors import ApiError, ConfigError, LockHeld


def holder(deploy_id="d1", who="ci@runner-1"):
    return lock.Holder(app="tally-prod", who=who, pid=42, stage="production",
                       commit="c" * 40, since=0.0, deploy_id=deploy_id)


def test_lock_app_name_is_valid_and_stable():
    name = lock.lock_app_name("tally-prod")
    assert name == lock.lock_app_name("tally-prod")
    assert name.startswith("htlock-") and len(name) <= 30
    assert name != lock.lock_app_name("tally-staging")


def test_acquire_creates_the_lock_app_with_the_holder(heroku):
    name = lock.acquire(heroku, holder())
    assert heroku.mutations() == ["create_app", "update_config_vars"]
    assert heroku.config[name]["HEROTASKS_LOCK_HOLDER"] == "ci@runner-1"
    assert lock.held_by(heroku, "tally-prod") == holder()


def test_never_touches_the_deployed_apps_config(heroku):
    heroku.add_app("tally-prod")
    lock.acquire(heroku, holder())
    assert heroku.config["tally-prod"] == {}


def test_second_deploy_fails_at_once_naming_the_holder(heroku):
    lock.acquire(heroku, holder())
    with pytest.raises(LockHeld) as err:
        lock.acquire(heroku, holder("d2", "dev@laptop"))
    line = str(err.value)
    assert "ci@runner-1" in line and "pid 42" in line and "stage production" in line
    assert "--force-unlock" in line


def test_reentrant_for_the_same_deploy(heroku):
    name = lock.acquire(heroku, holder())
    assert lock.acquire(heroku, holder()) == name


def test_force_unlock_takes_over(heroku):
    lock.acquire(heroku, holder())
    lock.acquire(heroku, holder("d2", "dev@laptop"), force=True)
    assert lock.held_by(heroku, "tally-prod").who == "dev@laptop"


def test_release_only_our_own(heroku):
    lock.acquire(heroku, holder("d2"))
    assert lock.release(heroku, "tally-prod", "d1") is False
    assert lock.held_by(heroku, "tally-prod") is not None
    assert lock.release(heroku, "tally-prod", "d2") is True
    assert lock.held_by(heroku, "tally-prod") is None
    assert lock.release(heroku, "tally-prod", "d2") is False  # already free


def test_lock_being_taken_without_holder_yet_is_not_released(heroku):
    heroku.create_app(lock.lock_app_name("tally-prod"))  # created, vars not yet set
    with pytest.raises(LockHeld, match="just starting"):
        lock.acquire(heroku, holder())
    assert lock.release(heroku, "tally-prod", "d1") is False
    assert lock.lock_app_name("tally-prod") in heroku.apps_


def test_failed_holder_write_gives_the_lock_back(heroku):
    heroku.fail["update_config_vars"] = ApiError("boom", status=503)
    with pytest.raises(ApiError):
        lock.acquire(heroku, holder())
    assert lock.lock_app_name("tally-prod") not in heroku.apps_


def test_other_api_errors_pass_through(heroku):
    heroku.fail["create_app"] = ApiError("Invalid credentials", status=401)
    with pytest.raises(ApiError, match="Invalid credentials"):
        lock.acquire(heroku, holder())


@pytest.mark.parametrize("status, message", [
    (403, "You do not have access to the team acme."),
    (422, "You've reached the limit of 100 apps for this account."),
])
def test_a_refusal_to_create_the_lock_app_is_neither_held_nor_taken(heroku, status,
                                                                    message):
    heroku.fail["create_app"] = ApiError(message, status=status, id="x")
    with pytest.raises(ConfigError) as err:
        lock.acquire(heroku, holder(), team="acme")
    text = str(err.value)
    assert text.startswith(
        f"Heroku refused to create the deploy lock app {lock.lock_app_name('tally-prod')}")
    assert message in text and "\n" not in text
    assert "being deployed" not in text and "taken" not in text


def test_the_lock_app_is_made_in_the_targets_team(heroku):
    name = lock.acquire(heroku, holder(), team="acme")
    assert ("create_app", name, "acme", None) in heroku.calls


def test_holder_roundtrip_and_describe():
    h = holder()
    assert lock.Holder.from_vars(h.to_vars()) == h
    assert lock.Holder.from_vars({}) is None
    assert "since 1970-01-01 00:00:00 UTC" in h.describe()


# -- a second user: 403, sharing, and a lock app only its owner may delete ----------

def test_a_lock_app_this_account_may_not_read_is_its_own_line(heroku):
    lock.acquire(heroku, holder())
    heroku.fail["config_vars"] = ApiError(
        "You do not have access to the app htlock-x.", status=403, id="forbidden")
    with pytest.raises(lock.ForeignLock) as err:
        lock.acquire(heroku, holder("d2", "dev@laptop"))
    line = str(err.value)
    assert "may not read it" in line and "403" in line and "heroku access:add" in line
    assert "being deployed" not in line and "taken" not in line


def test_a_personal_lock_app_is_shared_and_a_collaborator_leaves_it_free(heroku):
    name = lock.acquire(heroku, holder(), share_to=["owner@example.com", "ci@example.com"])
    assert heroku.apps_[name]["_collaborators"] == ["owner@example.com", "ci@example.com"]
    # another account's app: deleting it is refused, so releasing leaves it free
    heroku.fail["delete_app"] = ApiError("Only the owner ...", status=403, id="forbidden")
    assert lock.release(heroku, "tally-prod", "d1") is True
    assert heroku.config[name] == {lock.RELEASED_VAR: "1"}
    assert lock.held_by(heroku, "tally-prod") is None
    # the next deploy takes it over
    assert lock.acquire(heroku, holder("d2", "dev@laptop")) == name
    assert lock.held_by(heroku, "tally-prod").deploy_id == "d2"
    assert lock.RELEASED_VAR not in heroku.config[name]


def test_share_with_is_the_owner_and_collaborators_of_a_personal_target(heroku):
    heroku.add_app("tally-prod")
    heroku.add_collaborator("tally-prod", "ci@example.com")
    target = {"name": "tally-prod", "owner": {"email": "dev@example.com"}, "team": None}
    assert lock.share_with(heroku, target) == ["ci@example.com", "dev@example.com"]
    assert lock.share_with(heroku, {**target, "team": {"name": "t"}}) == []
