"""Small model helpers every app uses."""

from django.db import IntegrityError, models, transaction


def first_or_create(queryset: models.QuerySet, **values) -> models.Model:
    """The first row of `queryset`, or a new one made of `values`.

    When two requests race to create the same row, the unique constraint picks the
    winner and the loser reads the winner's row.
    """
    found = queryset.first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return queryset.create(**values)
    except IntegrityError:
        return queryset.get()
