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


def insert_sql(obj: models.Model, connection, computed: dict[str, str] | None = None):
    """(sql, params) of the INSERT that saving the unsaved `obj` would run, to compose into a
    larger statement; `computed` gives SQL (no parameters) for some columns instead."""
    computed = computed or {}
    quote = connection.ops.quote_name
    columns, values, params = [], [], []
    for field in obj._meta.concrete_fields:
        if field.primary_key and getattr(obj, field.attname) is None:
            continue  # the database numbers it
        columns.append(quote(field.column))
        if field.column in computed:
            values.append(computed[field.column])
        else:
            values.append("%s")
            params.append(field.get_db_prep_save(field.pre_save(obj, add=True), connection))
    table = quote(obj._meta.db_table)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(values)})"  # noqa: S608
    return sql, params
