"""Sender-managed users: a sender key creates and updates its users by its own external id.

External ids are unique per sender key id, the namespace that already scopes a sender's
idempotency keys and rate limits; such users have no password (docs/user_service.md,
"Sender-managed users"). One upsert path for one user (PUT) and for an import of many,
set-based: a fixed number of statements per call, whatever the number of users.
"""

import uuid
from dataclasses import dataclass, field

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from rest_framework import status as http

from notification_common.exceptions import ApplicationError, ErrorCode, NotFound
from notification_common.user_snapshots import user_snapshot_forget
from users.constants import DeviceDeactivationReason, Platform, UserErrorCode
from users.models import Device, Preferences, User, normalize_email
from users.services import category_switches_merge

CREATED, UPDATED, REJECTED = "created", "updated", "rejected"


@dataclass
class ManagedUser:
    """One validated item: ``devices`` None leaves the user's devices alone; a list is the
    complete set of active devices (others are deactivated)."""

    external_id: str
    email: str
    name: str
    preferences: dict | None = None
    devices: list[dict] | None = None

    @classmethod
    def from_validated(cls, data: dict, *, external_id: str) -> "ManagedUser":
        """An item from an API's validated input."""
        return cls(
            external_id=external_id,
            email=data["email"],
            name=data["name"],
            preferences=data.get("preferences"),
            devices=data.get("devices"),
        )


@dataclass(frozen=True)
class InvalidManagedUser:
    """An import item that did not validate: answered as rejected, never applied.
    ``external_id`` is the one sent (None when the item names none or is not an object)."""

    errors: dict
    external_id: object = None


@dataclass
class ManagedUserResult:
    index: int
    external_id: str
    outcome: str
    user_id: uuid.UUID | None = None
    error: ApplicationError | None = None
    _user: User | None = field(default=None, repr=False)


def _email_taken(email: str) -> ApplicationError:
    message = f"{email} belongs to another user."
    return ApplicationError(UserErrorCode.EMAIL_TAKEN, message, http.HTTP_409_CONFLICT, data={"email": [message]})


def _repeated(what: str, value: str) -> ApplicationError:
    message = f"{what} {value!r} appears more than once in this import."
    return ApplicationError(ErrorCode.VALIDATION_ERROR, message, data={what: [message]})


def managed_users_upsert(*, key_id: str, items: list[ManagedUser]) -> list[ManagedUserResult]:
    """Create or update each item's user under ``key_id``; one result per item, in order.

    All accepted items commit in one transaction. Two calls racing to create the same
    external id or email: the unique indexes decide, and the loser runs once more and
    finds the winner's row (an update, or a per-item ``email_taken``).
    """
    try:
        return _upsert(key_id=key_id, items=items)
    except IntegrityError:
        return _upsert(key_id=key_id, items=items)


def managed_users_import(*, key_id: str, items: list[ManagedUser | InvalidManagedUser]) -> dict:
    """An import, answered per item in order: ``{"created", "updated", "rejected", "results":
    [{"index", "external_id", "outcome", "user_id" | "error", ...}]}``. The valid items are
    upserted in one transaction (managed_users_upsert); the invalid ones are rejected. Raises
    ``validation_error`` (400, with the answer as data) when no item was accepted.
    """
    answers: list[dict | None] = [None] * len(items)
    valid: list[tuple[int, ManagedUser]] = []
    for index, item in enumerate(items):
        if isinstance(item, ManagedUser):
            valid.append((index, item))
            continue
        answers[index] = {
            "index": index,
            "external_id": item.external_id,
            "outcome": REJECTED,
            "error": ErrorCode.VALIDATION_ERROR,
            "errors": item.errors,
        }
    results = managed_users_upsert(key_id=key_id, items=[item for _, item in valid])
    for (index, _), result in zip(valid, results, strict=True):
        answer = {"index": index, "external_id": result.external_id, "outcome": result.outcome}
        if result.error is not None:
            answer.update(error=result.error.code, message=result.error.message, errors=result.error.data)
        else:
            answer["user_id"] = str(result.user_id)
        answers[index] = answer
    counts = {outcome: 0 for outcome in (CREATED, UPDATED, REJECTED)}
    for answer in answers:
        counts[answer["outcome"]] += 1
    data = {**counts, "results": answers}
    if counts[REJECTED] == len(answers):
        raise ApplicationError(ErrorCode.VALIDATION_ERROR, "No user in the list was accepted.", data=data)
    return data


@transaction.atomic
def _upsert(*, key_id: str, items: list[ManagedUser]) -> list[ManagedUserResult]:
    now = timezone.now()
    results = [
        ManagedUserResult(index=i, external_id=item.external_id, outcome=REJECTED) for i, item in enumerate(items)
    ]
    for item in items:
        item.email = normalize_email(item.email)
        item.name = item.name.strip()

    # Two reads for the whole call: this key's users by external id, and the owners of the emails.
    existing = {
        user.external_id: user
        for user in User.objects.select_for_update().filter(
            external_key_id=key_id, external_id__in={item.external_id for item in items}
        )
    }
    email_owner = dict(
        User.objects.annotate(email_lower=Lower("email"))
        .filter(email_lower__in={item.email for item in items})
        .values_list("email_lower", "id")
    )

    seen_ids: set[str] = set()
    seen_emails: set[str] = set()
    accepted: list[tuple[ManagedUser, ManagedUserResult]] = []
    for item, result in zip(items, results, strict=True):
        user = existing.get(item.external_id)
        owner = email_owner.get(item.email)
        if item.external_id in seen_ids:
            result.error = _repeated("external_id", item.external_id)
        elif item.email in seen_emails:
            result.error = _repeated("email", item.email)
        elif owner is not None and (user is None or owner != user.id):
            # Never adopt an account this key did not create: its devices would then get the
            # other owner's pushes, and its preferences would be the sender's to change.
            result.error = _email_taken(item.email)
        else:
            accepted.append((item, result))
        seen_ids.add(item.external_id)
        seen_emails.add(item.email)

    created: list[User] = []
    updated: list[User] = []
    for item, result in accepted:
        user = existing.get(item.external_id)
        if user is None:
            # No usable password: the person cannot log in; the sender manages the account.
            user = User(
                id=uuid.uuid4(),
                email=item.email,
                name=item.name,
                password=make_password(None),
                external_key_id=key_id,
                external_id=item.external_id,
                created_at=now,
                updated_at=now,
            )
            created.append(user)
            result.outcome = CREATED
        else:
            user.email, user.name, user.updated_at = item.email, item.name, now
            updated.append(user)
            result.outcome = UPDATED
        result.user_id, result._user = user.id, user

    User.objects.bulk_create(created)
    User.objects.bulk_update(updated, ["email", "name", "updated_at"])
    _preferences_apply(accepted=accepted, created_ids={user.id for user in created}, now=now)
    _devices_apply(accepted=accepted, now=now)

    changed = [user.id for user in updated]
    if changed:
        # After commit: the gateway must not re-cache the old copy in between.
        transaction.on_commit(lambda: user_snapshot_forget(*changed))
    return results


def _preferences_apply(*, accepted, created_ids: set, now) -> None:
    new_rows, changed_rows = [], []
    current = {
        prefs.user_id: prefs
        for prefs in Preferences.objects.select_for_update().filter(
            user_id__in=[r.user_id for _, r in accepted if r.user_id not in created_ids]
        )
    }
    for item, result in accepted:
        prefs = current.get(result.user_id)
        if prefs is None:
            prefs = Preferences(user_id=result.user_id, updated_at=now)
            new_rows.append(prefs)
        elif item.preferences:
            changed_rows.append(prefs)
        for name, value in (item.preferences or {}).items():
            if name == "categories":
                # Merged as PATCH /users/me/ does: switches not named keep their value.
                value = category_switches_merge(prefs.categories, value)
            setattr(prefs, name, value)
        prefs.updated_at = now
    Preferences.objects.bulk_create(new_rows)
    if changed_rows:
        names = sorted({name for item, _ in accepted for name in (item.preferences or {})})
        Preferences.objects.bulk_update(changed_rows, [*names, "updated_at"])


def _devices_apply(*, accepted, now) -> None:
    listed = [(item, result) for item, result in accepted if item.devices is not None]
    if not listed:
        return
    rows = [
        Device(
            id=uuid.uuid4(),
            user_id=result.user_id,
            token=device["token"],
            platform=device.get("platform") or Platform.DEFAULT,
            name=device.get("name", ""),
            active=True,
            last_seen=now,
            created_at=now,
            updated_at=now,
        )
        for item, result in listed
        for device in item.devices
    ]
    # One statement for every device of the call: the (user, token) index turns a known one
    # into a refresh (and reactivation), as device_add does for one.
    Device.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["user", "token"],
        update_fields=[
            "platform",
            "name",
            "active",
            "last_seen",
            "deactivated_at",
            "deactivation_reason",
            "updated_at",
        ],
    )
    keep = {(result.user_id, device["token"]) for item, result in listed for device in item.devices}
    stale = [
        device_id
        for device_id, user_id, token in Device.objects.filter(
            user_id__in=[result.user_id for _, result in listed], active=True
        ).values_list("id", "user_id", "token")
        if (user_id, token) not in keep
    ]
    if stale:
        Device.objects.filter(id__in=stale).update(
            active=False,
            deactivated_at=now,
            deactivation_reason=DeviceDeactivationReason.REMOVED_BY_SENDER,
            updated_at=now,
        )


def managed_user_get(*, key_id: str, external_id: str) -> User:
    """The user this key manages under ``external_id`` (404 when there is none)."""
    user = User.objects.filter(external_key_id=key_id, external_id=external_id).only("id").first()
    if user is None:
        raise NotFound(f"No user with external_id {external_id!r} for this sender.")
    return user
