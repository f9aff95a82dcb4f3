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


def insert_sql(
    obj: models.Model,
    connection,
    computed: dict[str, str] | None = None,
    source: str = "",
    later: tuple[str, ...] = (),
) -> tuple[str, list]:
    """(sql, params) of the INSERT that saving the unsaved `obj` would run, for composing a
    larger statement or running it on a raw cursor without the ORM's machinery.

    `computed` gives SQL (no parameters) for some columns instead of the object's values;
    with `source` (a table or CTE name) the row is `SELECT … FROM source`, so it is inserted
    once per row of the source (none when it is empty), not `VALUES (…)`. The columns named
    in `later` come last, their values to be appended to the parameters when it runs.
    """
    computed = computed or {}
    quote = connection.ops.quote_name
    fields = _inserted_fields(obj, computed, later)
    columns = [quote(field.column) for field in fields]
    values = [computed.get(field.column, "%s") for field in fields]
    columns += [quote(column) for column in later]
    values += ["%s"] * len(later)
    table = quote(obj._meta.db_table)
    listed = ", ".join(values)
    rows = f"SELECT {listed} FROM {source}" if source else f"VALUES ({listed})"  # noqa: S608
    sql = f"INSERT INTO {table} ({', '.join(columns)}) {rows}"  # noqa: S608
    return sql, _params(obj, connection, fields, computed)


def insert_params(
    obj: models.Model,
    connection,
    computed: dict[str, str] | None = None,
    later: tuple[str, ...] = (),
) -> list:
    """insert_sql()'s parameters alone: for a statement whose text is composed once and run
    for many rows of the same shape."""
    computed = computed or {}
    return _params(obj, connection, _inserted_fields(obj, computed, later), computed)


def _inserted_fields(obj: models.Model, computed: dict[str, str], later: tuple[str, ...]) -> list:
    """The fields insert_sql() lists before `later`, in table order."""
    return [
        field
        for field in obj._meta.concrete_fields
        # The database numbers a new row's primary key, unless computed.
        if not (field.column not in computed and field.primary_key and obj.pk is None)
        and field.column not in later
    ]


def _params(obj: models.Model, connection, fields: list, computed: dict[str, str]) -> list:
    return [
        field.get_db_prep_save(field.pre_save(obj, add=True), connection)
        for field in fields
        if field.column not in computed
    ]


def insert_statement(obj: models.Model, connection, **compose) -> tuple[str, list]:
    """insert_sql() RETURNING the new row's id; `compose`: insert_sql()'s options."""
    sql, params = insert_sql(obj, connection, **compose)
    return f"{sql} RETURNING {connection.ops.quote_name(obj._meta.pk.column)}", params


def insert(obj: models.Model, connection, statement: tuple[str, list] | None = None) -> None:
    """Save the unsaved `obj` with one plain INSERT … RETURNING id: what save() writes, without
    its signals and query compilation (for hot paths; nothing here listens to these models).
    `statement`: insert_statement()'s, made earlier (before a lock was taken)."""
    sql, params = statement or insert_statement(obj, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        obj.pk = cursor.fetchone()[0]
    obj._state.adding, obj._state.db = False, connection.alias
