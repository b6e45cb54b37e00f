"""Rows in the scratch database: generate a few valid rows for every empty table, and take the
inventory (tables, columns, row and non-null counts) that tells what an upgrade did to data.

Values are generated from the catalogue: by type category (numbers, strings within their
length, dates, booleans, JSON, arrays, network addresses, UUIDs, enum labels), foreign keys
pointing at existing parent rows, unique columns distinct per row. A table whose CHECK
constraints refuse the first attempt is retried with defaults, then with only the required
columns; a table that accepts none of them is reported and left empty.

Rows stay within what the application can write, as its models (env.py's ``target_metadata``)
declare it beyond the database (``declared_by``): no NULL where a model column is NOT NULL, only
an Enum's values in a text column, strings within the model's length, the model's kind of
value in a text column (a number where the model says Integer), and no row a model's CHECK
constraint refuses (such rows are deleted as soon as they are written).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Integer,
    Numeric,
    String,
    Uuid,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from mks_db.database import interrupt
from mks_db.database.server import describe_db_error
from mks_db.engine.catalog import prepared, user_tables, version_table

ROWS_PER_TABLE = 3

_COLUMNS_SQL = f"""
SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS qname,
       a.attnum, quote_ident(a.attname) AS col, format_type(a.atttypid, a.atttypmod) AS type,
       t.typcategory, t.typname, t.typtype, a.attnotnull,
       (d.adbin IS NOT NULL OR a.attidentity <> '') AS has_default,
       (a.attgenerated <> '' OR a.attidentity = 'a') AS generated,
       et.typcategory AS elem_category, et.typname AS elem_typname,
       format_type(t.typelem, NULL) AS elem_type, a.atttypmod
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE {user_tables()} AND NOT {version_table()}
  AND NOT c.relispartition {{only}}
ORDER BY c.oid, a.attnum
"""

_FOREIGN_KEYS_SQL = """
SELECT con.conrelid, con.conkey[1], quote_ident(pn.nspname) || '.' || quote_ident(pc.relname),
       quote_ident(pa.attname), con.confrelid
FROM pg_constraint con
JOIN pg_class pc ON pc.oid = con.confrelid
JOIN pg_namespace pn ON pn.oid = pc.relnamespace
JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = con.confkey[1]
WHERE con.contype = 'f' AND array_length(con.conkey, 1) = 1 {only}
"""


@dataclass
class Column:
    attnum: int
    name: str
    type: str
    category: str
    typname: str
    typtype: str
    not_null: bool
    has_default: bool
    generated: bool
    elem_category: str | None
    elem_typname: str | None
    elem_type: str | None
    typmod: int
    references: tuple[str, str] | None = None  # (parent table, parent column)
    declared: Declared | None = None  # what the models say of it, when they map it
    choices: tuple[str, ...] = ()  # the values (SQL literals) a CHECK of the database lists

    @property
    def required(self) -> bool:
        """Whether no row may hold NULL here: the database's NOT NULL or the models'."""
        return self.not_null or bool(self.declared and self.declared.not_null)


@dataclass(frozen=True)
class Declared:
    """What the models declare of a column beyond what the database enforces: the application
    never writes NULL there (``not_null``), only these values (an Enum's ``labels``), strings of
    at most ``length``, or, in a text column, values of the model's type (``kind``: a key of
    ``_KINDS``)."""

    not_null: bool = False
    labels: tuple[str, ...] = ()
    length: int | None = None
    kind: str | None = None


@dataclass(frozen=True)
class Models:
    """The models' declarations by table and column (named as ``read_tables`` names them), and
    their CHECK constraints by table (SQL expressions)."""

    columns: dict[tuple[str, str], Declared] = field(default_factory=dict)
    checks: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class Table:
    oid: int
    name: str
    columns: dict[int, Column] = field(default_factory=dict)
    parents: set[int] = field(default_factory=set)
    checks: tuple[str, ...] = ()  # the models' CHECK constraints: no generated row breaks them


@dataclass(frozen=True)
class TableData:
    """What a table held: its name, row count and, per column number, (name, non-null count)."""

    name: str
    rows: int
    columns: dict[int, tuple[str, int]]


def read_tables(
    connection: Connection, oids: Iterable[int] | None = None, foreign_keys: bool = True
) -> dict[int, Table]:
    """Every user table (or those of ``oids`` that exist) with its columns and (unless
    ``foreign_keys`` is false) its single-column foreign keys, by OID."""
    tables: dict[int, Table] = {}
    if oids is None:
        columns, params = text(_COLUMNS_SQL.format(only="")), {}
    else:  # the walk reads a few tables at every step: plan that query once
        columns = text(
            prepared(connection, "mks_db_columns(oid[])", _COLUMNS_SQL.format(only="AND c.oid = ANY($1)"))
        )
        params = {"p0": sorted(oids)}
    for row in connection.execute(columns, params):
        table = tables.setdefault(row.oid, Table(row.oid, row.qname))
        table.columns[row.attnum] = Column(
            row.attnum,
            row.col,
            row.type,
            row.typcategory,
            row.typname,
            row.typtype,
            row.attnotnull,
            row.has_default,
            row.generated,
            row.elem_category,
            row.elem_typname,
            row.elem_type,
            row.atttypmod,
        )
    if foreign_keys and tables:
        read_foreign_keys(connection, tables, everything=oids is None)
    return tables


def read_foreign_keys(connection: Connection, tables: dict[int, Table], everything: bool = False) -> None:
    """Set the single-column foreign keys of ``tables`` (``everything``: all the user's tables)."""
    if everything:
        foreign, params = text(_FOREIGN_KEYS_SQL.format(only="")), {}
    else:
        foreign = text(
            prepared(
                connection,
                "mks_db_foreign_keys(oid[])",
                _FOREIGN_KEYS_SQL.format(only="AND con.conrelid = ANY($1)"),
            )
        )
        params = {"p0": sorted(tables)}
    for table in tables.values():
        table.parents = set()
        for column in table.columns.values():
            column.references = None
    for child, attnum, parent_name, parent_col, parent_oid in connection.execute(foreign, params):
        if child in tables and attnum in tables[child].columns:
            tables[child].columns[attnum].references = (parent_name, parent_col)
            if parent_oid != child:
                tables[child].parents.add(parent_oid)


# A column's CHECK that lists its values (``col IN (...)``, which PostgreSQL keeps as
# ``col = ANY (ARRAY[...])``): the values generated rows take.
_CHOICES_SQL = """
SELECT con.conrelid, con.conkey[1], pg_get_constraintdef(con.oid)
FROM pg_constraint con
WHERE con.contype = 'c' AND array_length(con.conkey, 1) = 1 AND con.conrelid = ANY(CAST(:oids AS oid[]))
"""
_ANY_ARRAY = re.compile(r"= ANY \(+ARRAY\[(.*?)\]\)", re.DOTALL)
_LITERAL = re.compile(r"'(?:[^']|'')*'(?:::[\w ]+(?:\[\])?)*|-?\d+(?:\.\d+)?")


def _listed(definition: str) -> tuple[str, ...]:
    """The SQL literals a CHECK's definition lists for its column (``col = ANY (ARRAY[...])``,
    which ``col IN (...)`` becomes, and nothing else); none when it lists none."""
    match = _ANY_ARRAY.search(definition)
    if not match or " AND " in definition or " OR " in definition:
        return ()
    return tuple(_LITERAL.findall(match.group(1)))


def listed_values(definition: str) -> tuple[str, ...]:
    """The values a CHECK's definition lists for its column, as text (unquoted)."""
    return tuple(
        literal.split("'::")[0].strip("'").replace("''", "'") if literal.startswith("'") else literal
        for literal in _listed(definition)
    )


def read_choices(connection: Connection, tables: dict[int, Table]) -> None:
    """Set the values a CHECK constraint of the database lists for a column of ``tables``."""
    rows = connection.execute(text(_CHOICES_SQL), {"oids": sorted(tables)})
    for oid, attnum, definition in rows:
        column = tables[oid].columns.get(attnum) if oid in tables else None
        if column is not None and (listed := _listed(definition)):
            column.choices = listed


def inventory(connection: Connection, tables: dict[int, Table] | None = None) -> dict[int, TableData]:
    """Row and non-null counts of every user table, in one query."""
    tables = read_tables(connection) if tables is None else tables
    if not tables:
        return {}
    parts = []
    for table in tables.values():
        counts = ", ".join(f"count({c.name})" for c in table.columns.values())
        parts.append(
            f"SELECT {table.oid}::oid, ARRAY[count(*){', ' + counts if counts else ''}]::bigint[] "
            f"FROM {table.name}"
        )
    result = {}
    for oid, counts in connection.execute(text(" UNION ALL ".join(parts))):
        table = tables[oid]
        columns = {attnum: (col.name, counts[i + 1]) for i, (attnum, col) in enumerate(table.columns.items())}
        result[oid] = TableData(table.name, counts[0], columns)
    return result


class Rows:
    """What every table of the scratch database held at the last look, kept current by
    recounting only the tables a step changed, and the generated rows that fill new tables.

    The columns of every table are kept as last read: a table is read again whenever it is
    recounted, which every change to it (its DDL, or rows written) makes happen first.
    """

    def __init__(
        self,
        connection: Connection,
        rows_per_table: int = ROWS_PER_TABLE,
        models: Models | None = None,
    ) -> None:
        self.connection = connection
        self.rows_per_table = rows_per_table
        self.models = models or Models()  # what the models declare (``declared_by``)
        self.unfillable: set[str] = set()
        self.held: dict[int, TableData] = {}
        self.tables: dict[int, Table] = {}
        # The tables that hold generated rows (filled while empty): rows in any other table are
        # the chain's own (a revision's seed data), never removed by the walk.
        self.generated: set[int] = set()
        self.recount(None)

    def recount(self, oids: Iterable[int] | None) -> dict[int, TableData]:
        """Count the tables of ``oids`` again (None: all); return what they held before.

        Tables that no longer exist are forgotten (and returned, so drops can be judged).
        """
        if oids is None:
            before = self.held
            self.tables = self._as_the_models_say(read_tables(self.connection, foreign_keys=False))
            self.held = inventory(self.connection, self.tables)
            self.connection.commit()
            return before
        oids = set(oids)
        before = {oid: self.held.pop(oid) for oid in oids if oid in self.held}
        if oids:
            fresh = self._as_the_models_say(read_tables(self.connection, oids, foreign_keys=False))
            for oid in oids - fresh.keys():
                self.tables.pop(oid, None)
            self.tables.update(fresh)
            self.held.update(inventory(self.connection, fresh))
            self.connection.commit()
        return before

    def _as_the_models_say(self, tables: dict[int, Table]) -> dict[int, Table]:
        """``tables`` with what the models declare of them: their columns' and CHECKs."""
        declared = self.models.columns
        for table in tables.values():
            table.checks = self.models.checks.get(table.name, ())
            for attnum, column in table.columns.items():
                if (table.name, column.name) in declared:
                    table.columns[attnum] = replace(column, declared=declared[table.name, column.name])
        return tables

    def fill_empty_tables(self) -> list[str]:
        """Insert generated rows into every empty table, parents first, and commit.

        Returns one message per table that accepted no generated row (once per table).
        """
        empty = {oid: self.tables[oid] for oid, held in self.held.items() if not held.rows}
        if not empty:
            return []
        problems = insert_generated_rows(self.connection, empty, self.rows_per_table, self.unfillable)
        self.held.update(inventory(self.connection, empty))
        for oid, table in empty.items():  # every generated row broke one of the models' CHECKs
            if table.checks and not self.held[oid].rows and table.name not in self.unfillable:
                self.unfillable.add(table.name)
                problems.append(
                    f"could not generate rows for {table.name}: every generated row breaks a CHECK "
                    f"constraint of the models ({' AND '.join(table.checks)})"
                )
        self.generated |= {oid for oid in empty if self.held[oid].rows}
        self.connection.commit()
        return problems

    def remove_generated(self) -> None:
        """Empty the tables that hold generated rows (``TRUNCATE``; with ``CASCADE`` only when
        a table of the chain's own rows references one), leaving the chain's own rows, then
        count every table again."""
        names = [self.tables[oid].name for oid in self.generated if oid in self.tables]
        if names:
            try:
                with self.connection.begin_nested():
                    self.connection.execute(text(f"TRUNCATE {', '.join(names)}"))
            except DBAPIError:  # referenced from a table of seeded rows: as before, all of it
                self.connection.execute(text(f"TRUNCATE {', '.join(names)} CASCADE"))
            self.connection.commit()
        self.generated = set()
        self.recount(None)


def traceable(column: Column) -> bool:
    """Whether the generated values of ``column`` are distinctive enough to be recognised
    wherever a revision moves them: strings long enough for their label, and UUIDs (not
    numbers, dates or foreign keys, which any other table may hold too)."""
    if column.references or column.category == "A":
        return False
    if column.category == "S":
        return column.typmod <= 4 or column.typmod - 4 >= 12
    return column.typname == "uuid"


def generated_values(connection: Connection, columns: list[Column], rows: int) -> list[str]:
    """The text of the values ``Rows.fill_empty_tables`` generated for ``columns`` in rows 1..``rows``."""
    if not columns or rows < 1:
        return []
    expressions = ", ".join(f"({value_expression(c)})::text" for c in columns)
    result = connection.execute(text(f"SELECT ARRAY[{expressions}] FROM generate_series(1, {int(rows)}) g"))
    return sorted({value for (values,) in result for value in values if value})


def holding(connection: Connection, tables: Iterable[Table], values: list[str]) -> dict[str, set[str]]:
    """Which of ``values`` each of ``tables`` holds, in any column and any form that keeps the
    text (another type, inside JSON, another case): table name -> values found there."""
    found: dict[str, set[str]] = {}
    for table in tables:
        hits = connection.execute(
            text(
                "SELECT v FROM unnest(CAST(:values AS text[])) v WHERE EXISTS "
                f"(SELECT 1 FROM {table.name} x WHERE strpos(lower(x::text), lower(v)) > 0)"
            ),
            {"values": values},
        )
        found[table.name] = set(hits.scalars())
    return found


def insert_generated_rows(
    connection: Connection, tables: dict[int, Table], rows: int, unfillable: set[str]
) -> list[str]:
    """Insert ``rows`` generated rows into each of ``tables`` (empty ones), parents first,
    skipping and adding to ``unfillable`` the tables that accept none; one message each."""
    read_foreign_keys(connection, tables)
    read_choices(connection, tables)
    problems = []
    ordered = []
    for table in _parents_first(tables):
        if table.name in unfillable:
            continue
        orphan = _orphan(table, unfillable)
        if orphan:  # a row would hold NULL where the application always points at a parent
            unfillable.add(table.name)
            problems.append(orphan)
            continue
        if table.checks:
            table.checks = _valid_here(connection, table)
        ordered.append(table)
    if len(ordered) > 1 and _fill_at_once(connection, ordered, rows):
        # A table whose every row a CHECK of the models refused tries the other strategies.
        ordered = [table for table in ordered if table.checks and not _holds_rows(connection, table)]
    for table in ordered:
        orphan = _orphan(table, unfillable)
        if orphan:
            unfillable.add(table.name)
            problems.append(orphan)
            continue
        error = _fill_table(connection, table, rows)
        if error:
            unfillable.add(table.name)
            problems.append(f"could not generate rows for {table.name}: {error}")
    return problems


def required_parents(
    connection: Connection, tables: dict[int, Table], oids: Iterable[int]
) -> dict[int, Table]:
    """``oids``, the tables their foreign keys point at (so that their keys hold real values),
    and, through NOT NULL foreign keys, every table those need rows in first (a nullable
    foreign key further away is left NULL when its parent is empty)."""
    read_foreign_keys(connection, tables, everything=True)
    by_name = {table.name: oid for oid, table in tables.items()}
    start = [oid for oid in oids if oid in tables]
    needed: dict[int, Table] = {}
    pending = start + [
        by_name.get(c.references[0]) for o in start for c in tables[o].columns.values() if c.references
    ]
    while pending:
        oid = pending.pop()
        if oid in needed or oid not in tables:
            continue
        needed[oid] = tables[oid]
        for column in tables[oid].columns.values():
            if column.references and column.not_null and column.references[0] in by_name:
                pending.append(by_name[column.references[0]])
    return needed


def truncate_all(connection: Connection) -> None:
    """Empty every user table (used to tell a failure caused by rows from any other)."""
    names = [table.name for table in read_tables(connection).values()]
    if names:
        connection.execute(text(f"TRUNCATE {', '.join(names)} CASCADE"))
    connection.commit()


def _parents_first(tables: dict[int, Table]) -> list[Table]:
    ordered: list[Table] = []
    placed: set[int] = set()
    visiting: set[int] = set()

    def visit(oid: int) -> None:
        if oid in placed or oid in visiting or oid not in tables:
            return
        visiting.add(oid)
        for parent in sorted(tables[oid].parents):
            visit(parent)
        visiting.discard(oid)
        placed.add(oid)
        ordered.append(tables[oid])

    for oid in sorted(tables):
        visit(oid)
    return ordered


def bulk_fill(
    connection: Connection, oids: Iterable[int], rows: int, short: set[str] | None = None
) -> list[str]:
    """Add ``rows`` generated rows to each table of ``oids`` (after ``Rows.fill_empty_tables``: their parents
    hold rows), in one ``INSERT ... SELECT generate_series`` each, and commit; one message per
    table that refused them, whose name goes into ``short``."""
    tables = read_tables(connection, oids)
    trusted = _trusted_keys(connection, tables)
    problems = []
    for table in _parents_first(tables):
        _check_foreign_keys(connection, table.oid not in trusted)
        error = _fill_table(connection, table, rows, first=1_000)
        if error:
            problems.append(f"could not generate {rows} rows for {table.name}: {error}")
            if short is not None:
                short.add(table.name)
    connection.commit()
    return problems


# Tables whose every foreign key is one column that ``_value`` fills from the parent's keys.
_COMPOSITE_KEYS_SQL = (
    "SELECT DISTINCT conrelid FROM pg_constraint WHERE contype = 'f' AND cardinality(conkey) > 1"
)


def _trusted_keys(connection: Connection, tables: dict[int, Table]) -> set[int]:
    """The tables whose generated foreign key values are valid by construction (taken from the
    parent's keys), so that checking each of 100,000 rows against the parent would only cost
    time: every foreign key of theirs is single-column."""
    composite = {int(oid) for (oid,) in connection.execute(text(_COMPOSITE_KEYS_SQL))}
    return set(tables) - composite


def _check_foreign_keys(connection: Connection, check: bool) -> None:
    """Turn the row-by-row foreign key checks (and other triggers) of this transaction on or
    off (``session_replication_role``); left on where the server does not allow it."""
    try:
        with connection.begin_nested():
            connection.execute(
                text(f"SET LOCAL session_replication_role = {'DEFAULT' if check else 'replica'}")
            )
    except DBAPIError:  # not a superuser, nor granted SET on it: the checks stay
        interrupt.raise_if_requested()


def _fill_table(connection: Connection, table: Table, rows: int, first: int = 1) -> str | None:
    """Try the three strategies in turn, each in a savepoint; None when one worked. A first
    fill that no strategy manages is tried once more with a single row (a table whose CHECK
    admits one row only, ``CHECK (id = 1)``).

    Row numbers start at ``first``, so a second fill does not collide with the first's
    unique values."""
    last_error = None
    counts = (rows, 1) if rows > 1 and first == 1 else (rows,)
    for count in counts:
        for strategy in STRATEGIES:
            try:
                with connection.begin_nested():
                    connection.execute(text(_insert_sql(table, count, strategy, first)))
                if not table.checks or _holds_rows(connection, table):
                    return None
            except DBAPIError as exc:
                interrupt.raise_if_requested()
                last_error = describe_db_error(exc)
    return last_error


def _holds_rows(connection: Connection, table: Table) -> bool:
    return bool(connection.execute(text(f"SELECT EXISTS (SELECT FROM {table.name})")).scalar())


def _orphan(table: Table, unfillable: set[str]) -> str | None:
    """Why ``table`` gets no rows: a required foreign key (NOT NULL in the database or the
    models) to a table that could not be given any; None when it can."""
    for column in table.columns.values():
        if column.references and column.required and column.references[0] in unfillable:
            return (
                f"could not generate rows for {table.name}: its foreign key {column.name}, which "
                f"the models or the database require, points at {column.references[0]}, which got none"
            )
    return None


def _valid_here(connection: Connection, table: Table) -> tuple[str, ...]:
    """The models' CHECK expressions that hold on ``table`` as it is now (a model's CHECK may
    name a column a later revision adds)."""
    valid = []
    for expression in table.checks:
        try:
            with connection.begin_nested():
                connection.execute(text(f"SELECT FROM {table.name} WHERE NOT ({expression}) LIMIT 0"))
            valid.append(expression)
        except DBAPIError:
            interrupt.raise_if_requested()
    return tuple(valid)


def _fill_at_once(connection: Connection, tables: list[Table], rows: int) -> bool:
    """The usual case in one round trip: every table's first strategy, in order, in one
    savepoint. False, with nothing written, when any statement fails: then each table is
    tried on its own (``_fill_table``), which says which one refuses and why."""
    sql = ";\n".join(_insert_sql(table, rows, STRATEGIES[0], 1) for table in tables)
    try:
        with connection.begin_nested():
            connection.execute(text(sql))
        return True
    except DBAPIError:
        interrupt.raise_if_requested()
        return False


# How a table's rows are generated, tried in this order: every column; without the columns
# that have defaults; only the NOT NULL ones.
STRATEGIES = ("all", "no-defaults", "required")


def _insert_sql(table: Table, count: int, strategy: str, first: int) -> str:
    """``INSERT ... SELECT`` of ``count`` generated rows, numbered from ``first``."""
    columns = [c for c in table.columns.values() if _include(c, strategy)]
    if not columns:
        insert = f"INSERT INTO {table.name} SELECT FROM generate_series(1, {count})"
    else:
        names = ", ".join(c.name for c in columns)
        values = ", ".join(value_expression(c) for c in columns)
        insert = (
            f"INSERT INTO {table.name} ({names}) SELECT {values} "
            f"FROM generate_series({first}, {first + count - 1}) g"
        )
    if not table.checks:
        return insert
    # Rows a CHECK of the models refuses are rows the application never writes: gone at once.
    refused = " OR ".join(f"NOT coalesce(({expression}), true)" for expression in table.checks)
    return f"{insert};\nDELETE FROM {table.name} WHERE {refused}"


def _include(column: Column, strategy: str) -> bool:
    if column.generated:
        return False
    if column.has_default and (strategy != "all" or column.category == "N" and column.not_null):
        return False  # serial keys and defaults are left to the database
    if strategy == "required":
        return column.required
    return True


def declared_by(metadata: object) -> Models:
    """What the models (env.py's ``target_metadata``: a MetaData or a list of them) declare
    beyond the database's own constraints, for ``Rows`` to generate within it."""
    dialect = postgresql.dialect()
    models = Models()
    for each in (
        metadata if isinstance(metadata, list | tuple) else [metadata] if metadata is not None else []
    ):
        for table in getattr(each, "tables", {}).values():
            name = f"{_ident(table.schema or 'public')}.{_ident(table.name)}"
            checks = {c for c in table.constraints if isinstance(c, CheckConstraint)}
            for column in table.columns:
                checks |= {c for c in column.constraints if isinstance(c, CheckConstraint)}
                models.columns[name, _ident(column.name)] = _declared(column)
            expressions = []
            for check in checks:
                try:
                    compiled = check.sqltext.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
                    expressions.append(str(compiled))
                except Exception:  # noqa: BLE001 - an expression PostgreSQL's dialect cannot render
                    continue
            if expressions:
                models.checks[name] = tuple(sorted(expressions))
    return models


def _declared(column: object) -> Declared:
    """What a model column declares of the values the application writes (``Declared``)."""
    type_ = column.type
    labels = tuple(type_.enums) if isinstance(type_, Enum) else ()
    length = type_.length if isinstance(type_, String) and not labels else None
    kind = next((kind for kind, (model_type, _) in _KINDS.items() if isinstance(type_, model_type)), None)
    return Declared(not_null=not column.nullable, labels=labels, length=length, kind=kind)


def _ident(name: str) -> str:
    """``name`` as PostgreSQL's ``quote_ident`` writes it."""
    return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else '"' + name.replace('"', '""') + '"'


def value_expression(column: Column) -> str:
    if column.references:
        parent, key = column.references
        # One of the parent's first 100 keys, read once per statement (an uncorrelated ARRAY()
        # is computed once, not per row); NULL when the parent holds no row.
        keys = f"ARRAY(SELECT {key} FROM {parent} ORDER BY {key} LIMIT 100)"
        return f"({keys})[1 + (g - 1) % greatest(cardinality({keys}), 1)]"
    if column.category == "A" and column.elem_type:
        element = _scalar(
            column.elem_category or "",
            column.elem_typname or "",
            column.elem_type,
            "e",
            -1,
            column.name,
        )
        return f"ARRAY[{element}]::{column.type}"
    if column.choices:  # the values a CHECK of the database lists
        return _one_of(column.choices, column.type)
    declared = column.declared
    typmod = column.typmod
    if declared and column.category == "S":  # a text column: what the models write there
        if declared.labels:
            return _one_of(["'" + label.replace("'", "''") + "'" for label in declared.labels], column.type)
        if declared.kind:
            category, typname, type_ = _KINDS[declared.kind][1]
            return f"({_scalar(category, typname, type_, 'b', -1, column.name)})::text::{column.type}"
        if declared.length and (typmod <= 4 or declared.length < typmod - 4):
            typmod = declared.length + 4
    return _scalar(column.category, column.typname, column.type, column.typtype, typmod, column.name)


def _one_of(literals: Sequence[str], type_: str) -> str:
    """Row ``g``'s value among the SQL ``literals``, in turn, as ``type_``."""
    return f"(ARRAY[{', '.join(literals)}])[1 + (g - 1) % {len(literals)}]::{type_}"


def _scalar(category: str, typname: str, type_: str, typtype: str, typmod: int, name: str) -> str:
    """A SQL expression of row number ``g`` that is a valid, distinct value of the type (as
    distinct as the type allows: a value of ``varchar(3)`` repeats after 1,000 rows)."""
    special = _BY_TYPE.get(typname)
    if special:
        return special.format(g="g", type=type_)
    if typtype == "e" and category == "E":
        return f"(enum_range(NULL::{type_}))[1 + (g - 1) % array_length(enum_range(NULL::{type_}), 1)]"
    if category == "S":
        return _string(type_, typmod, name)
    if typname == "numeric" and typmod > 4:  # numeric(p, s): values below 10^(p - s)
        precision, scale = (typmod - 4) >> 16, (typmod - 4) & 0xFFFF
        return f"((g % {10**precision}) / {10**scale}::numeric)::{type_}"
    by_category = _BY_CATEGORY.get(category)
    if by_category:
        return by_category.format(g="g", type=type_)
    if typname == "uuid":
        return f"md5(g::text || '{name.strip(chr(34))}')::uuid"
    if category == "V" and typmod > 0:  # bit(n): the row number's last n bits
        return f"g::{type_}"
    return f"g::text::{type_}"


def _string(type_: str, typmod: int, name: str) -> str:
    """A SQL expression of row number ``g`` that is a distinct string within the type's length
    (60 when it has none): the row number and the column's name, or only the row number's last
    digits when the length is too short for the name."""
    length = typmod - 4 if typmod > 4 else 60
    label = name.strip('"')[:20].replace("'", "")
    if length < 12:  # too short for the label: the row number's last digits
        return f"right(g::text, {length})::{type_}"
    return f"left(g::text || '_{label}', {length})::{type_}"


# The values of the simple type categories (numbers, booleans, dates, times), templates as in ``_BY_TYPE``.
_BY_CATEGORY = {
    "N": "{g}::{type}",
    "B": "({g} % 2 = 0)",
    "D": "(timestamp '2024-01-01 09:00' + {g} * interval '1 day')::{type}",
    "T": "({g} * interval '1 minute')::{type}",
}


# Types whose values the categories above do not make valid (or distinct).
_BY_TYPE = {
    "int2": "({g} % 32767)::{type}",
    "time": "(time '00:00' + {g} * interval '1 second')::{type}",
    "timetz": "(timestamptz '2024-01-01 00:00+00' + {g} * interval '1 second')::{type}",
    "inet": "('10.0.0.0'::inet + {g})",
    "cidr": "('10.0.0.0'::inet + {g})::cidr",
    "macaddr": "lpad(to_hex({g}), 12, '0')::macaddr",
    "macaddr8": "lpad(to_hex({g}), 16, '0')::macaddr8",
    "json": "json_build_object('generated', {g})::{type}",
    "jsonb": "json_build_object('generated', {g})::{type}",
    "bytea": "convert_to({g}::text, 'UTF8')",
    "xml": "xmlelement(name generated, {g})",
    "varbit": "{g}::bit(32)::varbit",
    "int4range": "int4range({g}, {g} + 1)",
    "int8range": "int8range({g}, {g} + 1)",
    "numrange": "numrange({g}, {g} + 1)",
    "daterange": "daterange(date '2024-01-01' + {g}, date '2024-01-01' + {g} + 1)",
    "tsrange": "tsrange(timestamp '2024-01-01' + {g} * interval '1 minute', "
    "timestamp '2024-01-01' + ({g} + 1) * interval '1 minute')",
    "tstzrange": "tstzrange(timestamptz '2024-01-01' + {g} * interval '1 minute', "
    "timestamptz '2024-01-01' + ({g} + 1) * interval '1 minute')",
    "point": "point({g}, {g})",
    "line": "line(point(0, {g}), point(1, {g}))",
    "lseg": "lseg(point({g}, {g}), point({g} + 1, {g} + 1))",
    "box": "box(point({g}, {g}), point({g} + 1, {g} + 1))",
    "path": "path(polygon(box(point({g}, {g}), point({g} + 1, {g} + 1))))",
    "polygon": "polygon(box(point({g}, {g}), point({g} + 1, {g} + 1)))",
    "circle": "circle(point({g}, {g}), 1)",
}


# The model types whose values a text column of the database may hold (a key of this is a
# ``Declared.kind``), each with the (category, typname, type) it generates as.
_KINDS = {
    "integer": (Integer, ("N", "int4", "integer")),
    "numeric": (Numeric, ("N", "numeric", "numeric")),
    "boolean": (Boolean, ("B", "bool", "boolean")),
    "timestamp": (DateTime, ("D", "timestamp", "timestamp")),
    "date": (Date, ("D", "date", "date")),
    "json": (JSON, ("U", "jsonb", "jsonb")),
    "uuid": (Uuid, ("U", "uuid", "uuid")),
}
