"""app/storage/db.py: nested write transactions are savepoints that undo exactly their own writes."""

from __future__ import annotations

import pytest

from app.storage.db import write_transaction
from app.storage.models import Tenant

pytestmark = pytest.mark.postgres  # the database matters: run again by --db=postgres


class Undo(Exception):
    pass


def slugs() -> set[str]:
    return {t.slug for t in Tenant.select()} - {Tenant.DEFAULT}


def test_a_failed_inner_write_undoes_itself_and_the_outer_one_commits(db, clock):
    with write_transaction():
        Tenant.create(slug="outer", created_at=clock())
        with pytest.raises(Undo), write_transaction():
            Tenant.create(slug="inner", created_at=clock())
            raise Undo
        with write_transaction():
            Tenant.create(slug="sibling", created_at=clock())
    assert slugs() == {"outer", "sibling"}


def test_an_enclosing_savepoint_rolls_back_past_its_failed_inner_one(db, clock):
    """All savepoints share one name: the rolled-back inner one must not be what the outer
    one then rolls back to."""
    with write_transaction():
        Tenant.create(slug="kept", created_at=clock())
        with pytest.raises(Undo), write_transaction():
            Tenant.create(slug="outer", created_at=clock())
            with pytest.raises(Undo), write_transaction():
                Tenant.create(slug="inner", created_at=clock())
                raise Undo
            raise Undo
    assert slugs() == {"kept"}
