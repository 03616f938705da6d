"""The claim counters (backoffice.claims): a queue's first claims race to create its
counter row; a claim must never be refused by a limit that is not there."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from backoffice.claims import _raise
from backoffice.models import WorkLoad


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("limit", [None, 5])
def test_a_counter_row_committed_during_our_raise_is_counted_not_refused(limit):
    """Another claim creates the counter row and commits just after our UPDATE missed
    it (it was not committed yet): we must count on that row, not answer "at the
    limit" (seen as "The concurrency limit of None items ... is reached")."""
    key = f"race-queue-{limit}"
    created, commit, committed = threading.Event(), threading.Event(), threading.Event()

    def other_claim():
        try:
            with transaction.atomic():
                WorkLoad.objects.create(key=key, in_progress=1)
                created.set()
                commit.wait(10)
        finally:
            connection.close()
            committed.set()

    thread = threading.Thread(target=other_claim)
    thread.start()
    assert created.wait(10)

    def commit_the_other_after_our_first_update(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith("UPDATE") and not commit.is_set():
            commit.set()
            committed.wait(10)
        return result

    with transaction.atomic(), connection.execute_wrapper(commit_the_other_after_our_first_update):
        assert _raise(key, limit) is True
    thread.join(10)
    assert WorkLoad.objects.get(key=key).in_progress == 2


@pytest.mark.django_db
def test_a_counter_at_its_limit_refuses_and_a_new_one_starts_at_one():
    assert _raise("queue-a", 2) is True
    assert _raise("queue-a", 2) is True
    assert _raise("queue-a", 2) is False
    assert WorkLoad.objects.get(key="queue-a").in_progress == 2
    assert _raise("queue-b", None) is True
    assert WorkLoad.objects.get(key="queue-b").in_progress == 1
