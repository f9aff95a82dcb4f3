import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from subscribers.models import Subscriber


def upsert(mobile="+12125551212", **kwargs):
    with transaction.atomic():
        return Subscriber.objects.upsert(mobile, **kwargs)


@pytest.mark.django_db
def test_upsert_creates_then_updates_one_subscriber():
    first = upsert(country="US", carrier="VERIZONUS", fields={"Name": "Bill"})
    second = upsert(carrier="ATTUS", fields={"Zip": "10024"})
    assert first.pk == second.pk
    second.refresh_from_db()
    assert second.carrier == "ATTUS"
    assert second.country == "US"
    assert second.fields == {"Name": "Bill", "Zip": "10024"}
    assert Subscriber.objects.count() == 1


@pytest.mark.django_db
def test_a_blank_value_never_erases_a_stored_one():
    upsert(country="US", carrier="VERIZONUS", fields={"Name": "Bill", "DOB": "1/1/2000"})
    sub = upsert(country="", carrier="", fields={"Name": "", "DOB": "  "})
    sub.refresh_from_db()
    assert (sub.country, sub.carrier) == ("US", "VERIZONUS")
    assert sub.fields == {"Name": "Bill", "DOB": "1/1/2000"}


@pytest.mark.django_db
def test_the_latest_value_wins():
    upsert(fields={"Name": "Bill"})
    sub = upsert(fields={"Name": "William"})
    sub.refresh_from_db()
    assert sub.fields == {"Name": "William"}


@pytest.mark.django_db
def test_last_seen_moves_forward_only():
    now = timezone.now()
    upsert(seen_at=now)
    sub = upsert(seen_at=now - timedelta(days=1))  # a late, older callback
    sub.refresh_from_db()
    assert sub.last_seen_at == now
    assert sub.first_seen_at == now


@pytest.mark.django_db
def test_the_database_refuses_a_second_row_for_a_number():
    Subscriber.objects.create(mobile="+12125551212")
    with pytest.raises(IntegrityError), transaction.atomic():
        Subscriber.objects.create(mobile="+12125551212")


@pytest.mark.django_db
def test_the_database_refuses_numbers_not_in_e164():
    with pytest.raises(IntegrityError), transaction.atomic():
        Subscriber.objects.create(mobile="2125551212")


@pytest.mark.django_db(transaction=True)
def test_concurrent_upserts_of_a_new_number_make_one_subscriber():
    threads, errors = 8, []
    barrier = threading.Barrier(threads)

    def work(i):
        try:
            barrier.wait()
            upsert(carrier=f"C{i}", fields={f"f{i}": str(i)})
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)
        finally:
            connection.close()

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()

    assert errors == []
    sub = Subscriber.objects.get()
    # No thread's fields were lost to another's write.
    assert sub.fields == {f"f{i}": str(i) for i in range(threads)}


@pytest.mark.django_db
def test_an_older_callback_only_fills_gaps():
    now = timezone.now()
    upsert(carrier="ATTUS", fields={"Name": "William"}, seen_at=now)
    # A failed callback from yesterday, processed again today.
    sub = upsert(
        country="US",
        carrier="VERIZONUS",
        fields={"Name": "Bill", "Zip": "10024"},
        seen_at=now - timedelta(days=1),
    )
    sub.refresh_from_db()
    assert (sub.carrier, sub.country) == ("ATTUS", "US")
    assert sub.fields == {"Name": "William", "Zip": "10024"}
