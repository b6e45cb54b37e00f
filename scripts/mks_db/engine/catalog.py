"""The schema as a normalised catalogue snapshot, kept current step by step.

A snapshot maps ``(kind, name)`` to a definition for every object a migration can create in
the user's schemas: schemas, tables, columns (type, nullability, default, identity, generated,
collation), constraints and indexes (their definitions), sequences, enum/domain/composite/range
types, views, functions, triggers, extensions, policies and comments. Objects owned by an
extension, Alembic's version table and mks-db's own schema (``mks_db``: the deploy history)
are left out; nothing depends on OIDs or column order, so
a table dropped and recreated the same way has the same snapshot.

Reading the whole catalogue after every step would make a walk over N revisions cost N x N:
each read grows with the schema. ``Tracker`` therefore reads everything once, then after each
step asks one cheap question -- which relations' catalogue rows (the relation, its columns,
defaults, constraints, indexes, triggers, rules, policies, comments, sequence ownership) were
added, changed or removed, seen through each row's ``xmin`` -- and re-reads only those, plus
the few objects that belong to no relation. A change to a schema or a user-defined type (which
renames what columns display) makes it read everything again. Its fingerprint is kept as a sum
of per-object hashes, so comparing two states costs nothing.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from mks_db.database import interrupt

VERSION_TABLE = "alembic_version"


def version_table(c: str = "c") -> str:
    """SQL: relation ``c`` is an Alembic version table, whatever env.py names it and wherever
    it puts it (``version_table``, ``version_table_schema``): ``alembic_version``, or a table
    with Alembic's ``version_num`` column under the primary key Alembic names ``<table>_pkc``."""
    return (
        f"({c}.relkind IN ('r', 'p') AND ({c}.relname = '{VERSION_TABLE}' OR ("
        f"EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = {c}.oid AND k.contype = 'p'"
        f" AND k.conname = {c}.relname || '_pkc')"
        f" AND EXISTS (SELECT 1 FROM pg_attribute v WHERE v.attrelid = {c}.oid"
        f" AND v.attname = 'version_num' AND NOT v.attisdropped))))"
    )


Snapshot = dict[tuple[str, str], str]


def user_schema(n: str = "n") -> str:
    """SQL: schema ``n`` (a pg_namespace row) holds the user's objects: it is not one of
    PostgreSQL's own (pg_catalog, information_schema, pg_toast, the temporary ones)."""
    return f"{n}.nspname NOT IN ('pg_catalog', 'information_schema') AND {n}.nspname NOT LIKE 'pg\\_%'"


def not_extension_owned(c: str = "c") -> str:
    """SQL: relation ``c`` (a pg_class row) belongs to no extension (an extension's tables come
    and go with it: they are not the user's)."""
    return (
        "NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.deptype = 'e'"
        f" AND e.classid = 'pg_class'::regclass AND e.objid = {c}.oid)"
    )


def user_tables(c: str = "c", n: str = "n") -> str:
    """SQL: ``c`` in schema ``n`` is one of the user's tables, as every part of mks-db counts
    them (each adds what it leaves out: the version table, mks-db's own schema, ...)."""
    return f"{c}.relkind IN ('r', 'p') AND {user_schema(n)} AND {not_extension_owned(c)}"


# The schemas compared: the user's, less mks-db's own (the deploy's history lives there).
# PostgreSQL 18 records every NOT NULL as a named constraint (contype 'n'), named after the
# table and column it was created for (``account_email_not_null``): a column renamed back keeps
# another name (``account_email_new_not_null``) for the same schema. The column's NOT NULL is in
# its definition already; such a constraint is kept only for what the column does not show.
_NOT_PLAIN_NOT_NULL = "(con.contype <> 'n' OR NOT con.convalidated OR con.connoinherit)"

_NS = f"""
    SELECT oid, nspname FROM pg_namespace n WHERE {user_schema()} AND nspname <> 'mks_db'
"""

_REL = f"""
    SELECT c.oid, c.relname, c.relkind, c.relpersistence, c.relrowsecurity, ns.nspname,
           quote_ident(ns.nspname) || '.' || quote_ident(c.relname) AS qname
    FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
      AND NOT {version_table()}
      AND {not_extension_owned()}
"""

# Objects that belong to a relation: (owner relation oid, kind, name, definition).
_RELATION_SQL = f"""
WITH ns AS ({_NS}), rel AS ({_REL} {{only}})
SELECT oid, CASE relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
       WHEN 'f' THEN 'foreign table' ELSE 'table' END AS kind,
       qname AS name,
       concat_ws(' ', CASE relkind WHEN 'p' THEN 'partitioned' END,
                 CASE relpersistence WHEN 'u' THEN 'unlogged' END,
                 CASE WHEN relrowsecurity THEN 'row level security' END,
                 CASE WHEN relkind IN ('v', 'm') THEN pg_get_viewdef(oid) END) AS definition
FROM rel WHERE relkind <> 'S'
UNION ALL
SELECT rel.oid, 'column', rel.qname || '.' || quote_ident(a.attname),
       concat_ws(' ', format_type(a.atttypid, a.atttypmod),
                 CASE WHEN a.attnotnull THEN 'NOT NULL' ELSE 'NULL' END,
                 CASE WHEN a.attgenerated = 's' THEN 'GENERATED ALWAYS AS '
                      || pg_get_expr(d.adbin, d.adrelid) || ' STORED'
                      WHEN d.adbin IS NOT NULL THEN 'DEFAULT ' || pg_get_expr(d.adbin, d.adrelid)
                 END,
                 CASE a.attidentity WHEN 'a' THEN 'GENERATED ALWAYS AS IDENTITY'
                      WHEN 'd' THEN 'GENERATED BY DEFAULT AS IDENTITY' END,
                 CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                      THEN 'COLLATE ' || (SELECT quote_ident(collname) FROM pg_collation
                                          WHERE oid = a.attcollation) END)
FROM rel JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE rel.relkind IN ('r', 'p', 'v', 'm', 'f')
UNION ALL
SELECT rel.oid, 'constraint', rel.qname || '.' || quote_ident(con.conname),
       pg_get_constraintdef(con.oid)  -- includes DEFERRABLE and NOT VALID
FROM pg_constraint con JOIN rel ON rel.oid = con.conrelid
WHERE {_NOT_PLAIN_NOT_NULL}
UNION ALL
SELECT rel.oid, 'index', quote_ident(rel.nspname) || '.' || quote_ident(i.relname),
       pg_get_indexdef(x.indexrelid) || CASE WHEN NOT x.indisvalid THEN ' INVALID' ELSE '' END
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN rel ON rel.oid = x.indrelid
UNION ALL
SELECT rel.oid, 'sequence', rel.qname,
       concat_ws(' ', format_type(s.seqtypid, NULL), 'START', s.seqstart, 'INCREMENT',
                 s.seqincrement, 'MIN', s.seqmin, 'MAX', s.seqmax, 'CACHE', s.seqcache,
                 CASE WHEN s.seqcycle THEN 'CYCLE' END,
                 (SELECT 'OWNED BY ' || quote_ident(oc.relname) || '.' || quote_ident(oa.attname)
                  FROM pg_depend dep JOIN pg_class oc ON oc.oid = dep.refobjid
                  JOIN pg_attribute oa ON oa.attrelid = dep.refobjid AND oa.attnum = dep.refobjsubid
                  WHERE dep.classid = 'pg_class'::regclass AND dep.objid = rel.oid
                    AND dep.deptype IN ('a', 'i') LIMIT 1))
FROM rel JOIN pg_sequence s ON s.seqrelid = rel.oid
UNION ALL
SELECT rel.oid, 'trigger', rel.qname || '.' || quote_ident(tg.tgname), pg_get_triggerdef(tg.oid)
FROM pg_trigger tg JOIN rel ON rel.oid = tg.tgrelid WHERE NOT tg.tgisinternal
UNION ALL
SELECT rel.oid, 'policy', rel.qname || '.' || quote_ident(pol.polname),
       concat_ws(' ', pol.polcmd, pol.polpermissive, pg_get_expr(pol.polqual, pol.polrelid),
                 pg_get_expr(pol.polwithcheck, pol.polrelid))
FROM pg_policy pol JOIN rel ON rel.oid = pol.polrelid
UNION ALL
SELECT rel.oid, 'comment', CASE WHEN d.objsubid = 0 THEN rel.qname
                                ELSE rel.qname || '.' || quote_ident(a.attname) END, d.description
FROM pg_description d JOIN rel ON d.classoid = 'pg_class'::regclass AND d.objoid = rel.oid
LEFT JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum = d.objsubid
"""

# Objects that belong to no relation: (kind, name, definition). Few, so always read whole.
_GLOBAL_SQL = f"""
WITH ns AS ({_NS}),
ext AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
SELECT 'schema' AS kind, quote_ident(nspname) AS name, '' AS definition
FROM ns WHERE nspname <> 'public'
  AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_namespace'::regclass
                  AND ext.objid = ns.oid)
UNION ALL
SELECT 'constraint', quote_ident(ns.nspname) || '.' || quote_ident(t.typname) || '.'
       || quote_ident(con.conname), pg_get_constraintdef(con.oid)
FROM pg_constraint con JOIN pg_type t ON t.oid = con.contypid JOIN ns ON ns.oid = t.typnamespace
WHERE {_NOT_PLAIN_NOT_NULL}
UNION ALL
SELECT CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' WHEN 'r' THEN 'range type'
       WHEN 'm' THEN 'multirange type' ELSE 'composite type' END,
       quote_ident(ns.nspname) || '.' || quote_ident(t.typname),
       CASE t.typtype
         WHEN 'e' THEN (SELECT string_agg(quote_literal(enumlabel), ', ' ORDER BY enumsortorder)
                        FROM pg_enum WHERE enumtypid = t.oid)
         WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod)
                       || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
                       || coalesce(' DEFAULT ' || t.typdefault, '')
         WHEN 'c' THEN (SELECT string_agg(quote_ident(a.attname) || ' '
                                          || format_type(a.atttypid, a.atttypmod), ', '
                                          ORDER BY a.attnum)
                        FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0
                          AND NOT a.attisdropped)
         ELSE '' END
FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
WHERE (t.typtype IN ('e', 'd', 'r', 'm')
       OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
  AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_type'::regclass AND ext.objid = t.oid)
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
       quote_ident(ns.nspname) || '.' || quote_ident(p.proname)
       || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       CASE WHEN p.prokind = 'a' THEN '' ELSE md5(pg_get_functiondef(p.oid)) END
FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_proc'::regclass AND ext.objid = p.oid)
UNION ALL
SELECT 'extension', quote_ident(e.extname), 'SCHEMA ' || quote_ident(n.nspname)
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql'
"""

# A signature per relation of its catalogue rows and those of everything that hangs off it
# (columns, defaults, constraints, indexes, triggers, rules, policies, comments, sequence
# ownership): the number of rows and the sum of their ``xmin``. A row added or changed brings
# a new xmin; a row removed lowers the count. Owner 0 signs what renames across
# relations or lies outside them (schemas, user-defined types, enum labels, functions,
# extensions).
# User objects have OIDs from 16384 (FirstNormalObjectId) on, so each catalogue is read
# through its index from there, past the system's rows.
# The xmin as a number, without a slow text cast: the age of the first normal xid minus the
# row's age. Frozen and bootstrap rows (age reported as INT_MAX) count as 0.
_XMIN = "CASE WHEN age(written) < 2147483647 THEN age('3'::xid) - age(written) ELSE 0 END"

_CHANGES_SQL = (
    """
WITH ns AS ("""
    + _NS
    + """),
owners AS (SELECT c.oid FROM pg_class c JOIN ns ON ns.oid = c.relnamespace),
rows(owner, written) AS (
    SELECT oid, xmin FROM pg_class WHERE oid IN (SELECT oid FROM owners)
    UNION ALL SELECT attrelid, xmin FROM pg_attribute WHERE attrelid >= 16384 AND attnum > 0
    UNION ALL SELECT adrelid, xmin FROM pg_attrdef WHERE adrelid >= 16384
    UNION ALL SELECT conrelid, xmin FROM pg_constraint WHERE conrelid >= 16384
    UNION ALL SELECT indrelid, xmin FROM pg_index WHERE indrelid >= 16384
    UNION ALL SELECT tgrelid, xmin FROM pg_trigger WHERE tgrelid >= 16384
    UNION ALL SELECT ev_class, xmin FROM pg_rewrite WHERE ev_class >= 16384
    UNION ALL SELECT polrelid, xmin FROM pg_policy
    UNION ALL SELECT objoid, xmin FROM pg_description
              WHERE objoid >= 16384 AND classoid = 'pg_class'::regclass
    UNION ALL SELECT objid, xmin FROM pg_depend
              WHERE classid = 'pg_class'::regclass AND objid >= 16384 AND deptype IN ('a', 'i')
    UNION ALL SELECT seqrelid, xmin FROM pg_sequence WHERE seqrelid >= 16384
)
SELECT owner, count(*) * 4294967296 + sum("""
    + _XMIN
    + """) AS signature
FROM rows WHERE owner IN (SELECT oid FROM owners)
GROUP BY owner
UNION ALL
SELECT 0, count(*) * 4294967296 + coalesce(sum("""
    + _XMIN
    + """), 0)
FROM (SELECT xmin AS written FROM pg_namespace
      UNION ALL SELECT t.xmin FROM pg_type t WHERE t.typtype IN ('e', 'd', 'r', 'm')
        OR (t.typtype = 'c' AND t.typrelid <> 0
            AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
      UNION ALL SELECT xmin FROM pg_enum
      UNION ALL SELECT xmin FROM pg_extension
      UNION ALL SELECT xmin FROM pg_constraint WHERE contypid <> 0
      UNION ALL SELECT p.xmin FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace) AS named
"""
)

# The owners whose signature differs from the one stored last time; stores the new ones.
_DIFF_SQL = f"""
WITH current_signatures AS ({_CHANGES_SQL}),
diff AS (
    SELECT coalesce(cur.owner, old.owner) AS owner, cur.signature
    FROM current_signatures cur FULL JOIN pg_temp.mks_db_signatures old ON old.owner = cur.owner
    WHERE cur.signature IS DISTINCT FROM old.signature
),
forgotten AS (DELETE FROM pg_temp.mks_db_signatures s USING diff WHERE s.owner = diff.owner),
stored AS (INSERT INTO pg_temp.mks_db_signatures
           SELECT owner, signature FROM diff WHERE signature IS NOT NULL)
SELECT owner FROM diff
"""

# Relations whose definitions name one of $1 (views, owned sequences, foreign keys,
# defaults, triggers, policies): a rename of those changes what they display.
_DEPENDENTS_SQL = """
SELECT DISTINCT CASE d.classid
    WHEN 'pg_class'::regclass THEN d.objid
    WHEN 'pg_rewrite'::regclass THEN (SELECT ev_class FROM pg_rewrite WHERE oid = d.objid)
    WHEN 'pg_attrdef'::regclass THEN (SELECT adrelid FROM pg_attrdef WHERE oid = d.objid)
    WHEN 'pg_constraint'::regclass THEN (SELECT conrelid FROM pg_constraint WHERE oid = d.objid)
    WHEN 'pg_trigger'::regclass THEN (SELECT tgrelid FROM pg_trigger WHERE oid = d.objid)
    WHEN 'pg_policy'::regclass THEN (SELECT polrelid FROM pg_policy WHERE oid = d.objid) END
FROM pg_depend d
WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = ANY($1)
"""

_GLOBAL_OWNER = 0

# The event log: with a superuser and migrations running on the tracker's own connection, an
# event trigger writes down what each DDL command touched, so a refresh reads no catalogue
# scan at all. Rows: (owner relation, scope, identity). Scope 'relation' names an owner;
# 'index' a dropped index by identity; 'global' an object outside relations (re-read those);
# 'all' a change that can rename what relations display (re-read everything); 'gone' a part
# of a relation dropped with the relation (which is logged itself).
_EVENT_LOG_SETUP = (
    "CREATE TEMP TABLE IF NOT EXISTS mks_db_ddl (owner oid, scope text, identity text)",
    """
CREATE OR REPLACE FUNCTION pg_temp.mks_db_log_ddl() RETURNS event_trigger
LANGUAGE plpgsql AS $log$
BEGIN
    IF TG_EVENT = 'ddl_command_end' THEN
        INSERT INTO pg_temp.mks_db_ddl
        SELECT owner,
               CASE WHEN owner IS NOT NULL THEN 'relation'
                    WHEN command_tag LIKE 'ALTER %' THEN 'all'
                    ELSE 'global' END,
               object_identity
        FROM (SELECT command_tag, object_identity, CASE classid
                WHEN 'pg_class'::regclass THEN
                    coalesce((SELECT indrelid FROM pg_index WHERE indexrelid = objid), objid)
                WHEN 'pg_constraint'::regclass THEN
                    (SELECT nullif(conrelid, 0) FROM pg_constraint WHERE oid = objid)
                WHEN 'pg_trigger'::regclass THEN (SELECT tgrelid FROM pg_trigger WHERE oid = objid)
                WHEN 'pg_policy'::regclass THEN (SELECT polrelid FROM pg_policy WHERE oid = objid)
                WHEN 'pg_rewrite'::regclass THEN (SELECT ev_class FROM pg_rewrite WHERE oid = objid)
                WHEN 'pg_attrdef'::regclass THEN (SELECT adrelid FROM pg_attrdef WHERE oid = objid)
              END AS owner
              FROM pg_event_trigger_ddl_commands()) AS commands;
    ELSE
        INSERT INTO pg_temp.mks_db_ddl
        SELECT CASE WHEN classid = 'pg_class'::regclass AND object_type <> 'index' THEN objid
                    WHEN object_type IN ('table constraint', 'trigger', 'policy', 'rule',
                                         'default value')
                    THEN to_regclass(quote_ident(address_names[1]) || '.'
                                     || quote_ident(address_names[2]))
               END,
               CASE WHEN object_type = 'index' THEN 'index'
                    WHEN classid = 'pg_class'::regclass THEN 'relation'
                    -- a table's row type, an array type: internal parts of what is logged
                    WHEN object_type = 'type' AND NOT original AND NOT normal THEN 'gone'
                    WHEN object_type IN ('table constraint', 'trigger', 'policy', 'rule',
                                         'default value')
                    THEN CASE WHEN to_regclass(quote_ident(address_names[1]) || '.'
                                               || quote_ident(address_names[2])) IS NULL
                              THEN 'gone' ELSE 'relation' END
                    ELSE 'global' END,
               object_identity
        FROM pg_event_trigger_dropped_objects()
        WHERE schema_name IS DISTINCT FROM 'pg_toast';  -- dropped with their table
    END IF;
END
$log$
""",
    "CREATE EVENT TRIGGER mks_db_ddl_end ON ddl_command_end EXECUTE FUNCTION pg_temp.mks_db_log_ddl()",
    "CREATE EVENT TRIGGER mks_db_sql_drop ON sql_drop EXECUTE FUNCTION pg_temp.mks_db_log_ddl()",
)
_READ_EVENT_LOG = "DELETE FROM pg_temp.mks_db_ddl RETURNING owner, scope, identity"


def snapshot(connection: Connection) -> Snapshot:
    """The whole normalised catalogue: ``{(kind, name): definition}``."""
    result = {(kind, name): definition or "" for _, kind, name, definition in _relation_rows(connection)}
    result.update(_global_rows(connection))
    return result


def _relation_rows(connection: Connection) -> list:
    """Every relation's objects (the tracker re-reads some through a prepared statement)."""
    return connection.execute(text(_RELATION_SQL.format(only=""))).all()


def _global_rows(connection: Connection) -> Snapshot:
    rows = connection.execute(text(_GLOBAL_SQL)).all()
    return {(kind, name): definition or "" for kind, name, definition in rows}


def _hash(key: tuple[str, str], definition: str) -> int:
    return hash((key, definition))


class Tracker:
    """The snapshot of one database, refreshed after each step by re-reading only what changed.

    ``fingerprint`` changes whenever the snapshot does; ``snapshot()`` returns a copy.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        # The last signatures stay on the server, in a temporary table (never part of a
        # snapshot), so that only the owners whose signature changed come back.
        connection.execute(
            text("CREATE TEMP TABLE IF NOT EXISTS mks_db_signatures (owner oid, signature bigint)")
        )
        self._changes = text(prepared(connection, "mks_db_changes", _DIFF_SQL))
        self._relations = text(
            prepared(connection, "mks_db_relations(oid[])", _RELATION_SQL.format(only="AND c.oid = ANY($1)"))
        )
        self._dependents = text(prepared(connection, "mks_db_dependents(oid[])", _DEPENDENTS_SQL))
        self.event_log = False
        self._index_owner: dict[str, int] = {}
        self.reset()

    def use_event_log(self) -> bool:
        """Switch to the event log if this connection may create event triggers (superuser).

        Only for migrations that run on this same connection: the trigger writes to this
        session's temporary table. Returns whether the log is in use.
        """
        superuser = self.connection.execute(
            text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        ).scalar()
        if not superuser:
            self.connection.rollback()
            return False
        try:
            for statement in _EVENT_LOG_SETUP:
                self.connection.execute(text(statement))
            # The snapshot read at construction is still current (the setup's objects live in
            # pg_temp, outside it); only a log left by an earlier tracker of this session goes.
            self.connection.execute(text("TRUNCATE pg_temp.mks_db_ddl"))
            self.connection.commit()
        except DBAPIError:
            interrupt.raise_if_requested()
            self.connection.rollback()
            return False
        self.event_log = True
        return True

    def reset(self) -> None:
        """Read everything again (a new database, or a change that renames across relations)."""
        if self.event_log:
            self.connection.execute(text("TRUNCATE pg_temp.mks_db_ddl"))
        else:
            self.connection.execute(text("TRUNCATE pg_temp.mks_db_signatures"))
            self.connection.execute(self._changes)
        self._parts: dict[int, Snapshot] = {}
        self._index_owner = {}
        for owner, kind, name, definition in _relation_rows(self.connection):
            self._parts.setdefault(owner, {})[(kind, name)] = definition or ""
            if kind == "index":
                self._index_owner[name] = owner
        self._parts[_GLOBAL_OWNER] = _global_rows(self.connection)
        self._hashes = {owner: self._part_hash(part) for owner, part in self._parts.items()}
        self.fingerprint = sum(self._hashes.values())
        self.connection.commit()

    def refresh(self) -> set[int]:
        """Bring the snapshot up to date; return the OIDs of the relations that changed."""
        changed = self._changes_from_event_log() if self.event_log else self._changes_from_signatures()
        if changed is None:
            before = set(self._parts)
            self.reset()
            return (before | set(self._parts)) - {_GLOBAL_OWNER}  # anything may have changed
        if _GLOBAL_OWNER in changed and not self.event_log:
            # A schema, type, function or extension changed: names shown anywhere may differ.
            self.reset()
            return changed - {_GLOBAL_OWNER}
        if _GLOBAL_OWNER in changed:  # created or dropped outside relations: re-read those
            changed.discard(_GLOBAL_OWNER)
            self._reread_global()
        if changed:
            changed |= self._dependents_of(changed)
        self._reread_relations(changed)
        self.connection.commit()
        return changed

    def _changes_from_signatures(self) -> set[int]:
        """Owners whose signature changed since the last read (``_GLOBAL_OWNER`` among them when
        objects outside relations changed); the new signatures stay on the server."""
        return {int(oid) for (oid,) in self.connection.execute(self._changes)}

    def _reread_global(self) -> None:
        """Read again the objects outside relations, in place of those of the snapshot."""
        self._drop_part(_GLOBAL_OWNER)
        self._parts[_GLOBAL_OWNER] = _global_rows(self.connection)
        self._hashes[_GLOBAL_OWNER] = self._part_hash(self._parts[_GLOBAL_OWNER])
        self.fingerprint += self._hashes[_GLOBAL_OWNER]

    def _dependents_of(self, changed: set[int]) -> set[int]:
        """The relations whose definitions name one of the ``changed`` relations (views, owned
        sequences, foreign keys, defaults, triggers, policies), by OID: a rename changes what
        they display."""
        rows = self.connection.execute(self._dependents, {"p0": sorted(changed)})
        return {int(oid) for (oid,) in rows if oid}

    def _reread_relations(self, changed: set[int]) -> None:
        """Read again the objects of the ``changed`` relations, in place of those of the
        snapshot (a relation no longer there leaves it)."""
        for oid in changed:
            self._drop_part(oid)
        rows = self.connection.execute(self._relations, {"p0": sorted(changed)}) if changed else []
        for owner, kind, name, definition in rows:
            self._parts.setdefault(owner, {})[(kind, name)] = definition or ""
            if kind == "index":
                self._index_owner[name] = owner
        for oid in changed:
            if oid in self._parts:
                self._hashes[oid] = self._part_hash(self._parts[oid])
                self.fingerprint += self._hashes[oid]

    def _changes_from_event_log(self) -> set[int] | None:
        """Owners the logged DDL touched; ``_GLOBAL_OWNER`` among them when objects outside
        relations changed; None when a change may rename across relations (read everything)."""
        changed: set[int] = set()
        for owner, scope, identity in self.connection.execute(text(_READ_EVENT_LOG)):
            if scope == "gone":
                continue
            if scope == "all":
                return None
            if scope == "global":
                changed.add(_GLOBAL_OWNER)
            elif scope == "index" and identity in self._index_owner:
                changed.add(self._index_owner[identity])
            elif owner is not None:
                changed.add(int(owner))
            else:
                return None  # something unaccounted for: be safe
        return changed

    def snapshot(self) -> Snapshot:
        flat: Snapshot = {}
        for part in self._parts.values():
            flat.update(part)
        return flat

    def _drop_part(self, oid: int) -> None:
        for kind, name in self._parts.pop(oid, {}):
            if kind == "index" and self._index_owner.get(name) == oid:
                del self._index_owner[name]
        self.fingerprint -= self._hashes.pop(oid, 0)

    @staticmethod
    def _part_hash(part: Snapshot) -> int:
        return sum(_hash(key, definition) for key, definition in part.items())


def prepared(connection: Connection, signature: str, sql: str) -> str:
    """``EXECUTE`` of ``sql``, PREPAREd once per database session as ``signature`` (say
    ``name(oid[])``, parameters ``$1``...): planning these catalogue queries costs more than
    running them, and the walk runs them at every step. Prepared statements outlive
    transactions, rolled back or not; the names prepared are kept with the DBAPI connection."""
    name, _, types = signature.partition("(")
    known = connection.info.setdefault("mks_db_prepared", set())
    if name not in known:
        connection.execute(text(f"PREPARE {signature} AS {sql}"))
        known.add(name)
    arguments = ", ".join(
        f"CAST(:p{i} AS {t.strip()})" for i, t in enumerate(types.rstrip(")").split(",")) if t
    )
    return f"EXECUTE {name}({arguments})" if arguments else f"EXECUTE {name}"


def diff(expected: Snapshot, actual: Snapshot) -> list[str]:
    """Object-by-object differences, one readable line each, sorted by kind and name.

    ``- kind name: definition`` is missing from ``actual``, ``+`` is extra in it, and
    ``~ kind name: expected -> actual`` changed.
    """
    lines = []
    for key in sorted(expected.keys() | actual.keys()):
        kind, name = key
        if key not in actual:
            lines.append(_line("-", kind, name, expected[key]))
        elif key not in expected:
            lines.append(_line("+", kind, name, actual[key]))
        elif expected[key] != actual[key]:
            lines.append(f"~ {kind} {name}: {expected[key]} -> {actual[key]}")
    return lines


def _line(sign: str, kind: str, name: str, definition: str) -> str:
    return f"{sign} {kind} {name}" + (f": {definition}" if definition else "")
