//! The object's SQLite schema as numbered migrations, and the rule that upgrades a stored
//! database (issue 10, "storage migrations").
//!
//! [`MIGRATIONS`] is the one list of schema changes: step `n` takes a database at version
//! `n - 1` to version `n`. The object applies the steps the stored database lacks, in order,
//! in one transaction that also records the new version, when it is constructed; an empty
//! database gets [`NEW_DATABASE`] instead, the current schema in one step (issue 9: a new
//! object's start). A database recorded at a version newer than this build knows is refused:
//! the object then answers `503` and never writes to it (no downgrade, nothing deleted).
//!
//! Version 1 is the schema of the first release, which recorded no version: a database with
//! its tables but without a `schema_version` table is at version 1. The version is recorded
//! from version 2 on, in the one-row table version 2 creates. Every statement is also
//! idempotent (`IF NOT EXISTS`, `INSERT OR IGNORE`), so a step that runs again changes nothing,
//! except `ALTER TABLE`, which only the transaction guards (it runs once, with the version
//! recorded beside it).
//!
//! Pure: the object (`durable_object::store`) runs the statements.

use std::fmt;

/// One schema change.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// The version the database is at once this step is applied.
    pub version: u32,
    /// What it changes, in words.
    pub what: &'static str,
    /// Its statements, run in order.
    pub statements: &'static [&'static str],
}

/// Every schema change, oldest first; versions are `1, 2, 3, ...`.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        what: "settings and snapshot (kv), the outbox, the known channels",
        statements: &[KV_TABLE, OUTBOX_TABLE_V1, CHANNELS_TABLE],
    },
    Migration {
        version: 2,
        what: "the schema version is recorded",
        statements: &[VERSION_TABLE],
    },
    Migration {
        version: 3,
        what: "the outbox becomes the event log: subscriptions (the `default` one is /connect's \
               webhook), each event's holders, per-subscription delivery state",
        statements: &[
            SUBSCRIPTIONS_TABLE,
            DEFAULT_SUBSCRIPTION,
            DELIVERIES_TABLE,
            // The first release's webhook is the `default` subscription: its retries and dead
            // letters move over as they are.
            "INSERT OR IGNORE INTO deliveries
                (subscription, position, attempts, next_attempt_at, since, last_error, dead)
                SELECT 1, id, attempts, next_attempt_at, created_at, last_error, dead
                FROM outbox WHERE attempts > 0 OR dead = 1",
            // Which subscriptions still hold the event (comma-separated ids).
            "ALTER TABLE outbox ADD COLUMN holders TEXT NOT NULL DEFAULT '1'",
            "ALTER TABLE outbox DROP COLUMN attempts",
            "ALTER TABLE outbox DROP COLUMN next_attempt_at",
            "ALTER TABLE outbox DROP COLUMN last_error",
            "ALTER TABLE outbox DROP COLUMN dead",
        ],
    },
];

/// A new database's schema (issue 9, runtime start): the tables [`MIGRATIONS`] end with, each
/// created as it is at [`CURRENT_VERSION`], in one step. An empty database gets this step
/// instead of every migration: 8 statements rather than 16, and none of version 3's table
/// rewrites (`ALTER TABLE ... DROP COLUMN` copies the outbox). The tables other than the outbox
/// are the same statements as in the steps; `e2e/upgrade.test.mjs` compares a new database's
/// tables, column by column, with the first release's upgraded by the steps.
pub const NEW_DATABASE: Migration = Migration {
    version: CURRENT_VERSION,
    what: "the current schema, for a database with none of its tables",
    statements: &[
        KV_TABLE,
        OUTBOX_TABLE,
        CHANNELS_TABLE,
        VERSION_TABLE,
        SUBSCRIPTIONS_TABLE,
        DEFAULT_SUBSCRIPTION,
        DELIVERIES_TABLE,
    ],
};

/// Settings, the session snapshot and other single values, as JSON by key (version 1).
const KV_TABLE: &str = "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)";

/// The first release's outbox (version 1): its delivery state in each event's row.
const OUTBOX_TABLE_V1: &str = "CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    channel TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    dead INTEGER NOT NULL DEFAULT 0
)";

/// The event log as version 3 leaves the outbox: the delivery state moved to `deliveries`,
/// `holders` added last (where `ALTER TABLE ... ADD COLUMN` puts it).
const OUTBOX_TABLE: &str = "CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    channel TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    holders TEXT NOT NULL DEFAULT '1'
)";

/// The known channels (version 1).
const CHANNELS_TABLE: &str = "CREATE TABLE IF NOT EXISTS channels (
    id TEXT PRIMARY KEY,
    kind INTEGER NOT NULL,
    parent_id TEXT
) WITHOUT ROWID";

/// Subscriptions (version 3). AUTOINCREMENT: a deleted subscription's id is never given to
/// another, so no leftover state of it can be inherited.
const SUBSCRIPTIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    definition TEXT NOT NULL,
    token_hash TEXT,
    cursor INTEGER NOT NULL DEFAULT 0,
    missed INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
)";

/// The `default` subscription, `/connect`'s webhook (version 3).
const DEFAULT_SUBSCRIPTION: &str =
    "INSERT OR IGNORE INTO subscriptions (id, name, kind, definition, created_at)
    VALUES (1, 'default', 'push', '{}', 0)";

/// A row only while an event's delivery to a subscription is not plain: retried, dead, or
/// replayed. A first attempt that succeeds writes none (version 3).
const DELIVERIES_TABLE: &str = "CREATE TABLE IF NOT EXISTS deliveries (
    subscription INTEGER NOT NULL,
    position INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    since INTEGER NOT NULL,
    last_error TEXT,
    dead INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (subscription, position)
) WITHOUT ROWID";

/// The id of the `default` subscription (`POST /connect`'s webhook), created by version 3.
pub const DEFAULT_SUBSCRIPTION_ID: i64 = 1;

/// The table holding the schema version (one row), created by version 2.
const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
)";

/// The first version recorded in `schema_version` (the table exists from it on).
pub const RECORDED_SINCE: u32 = 2;

/// Records `?` as the schema version; runs in the transaction of the step it records.
pub const RECORD_VERSION: &str = "INSERT INTO schema_version (id, version) VALUES (1, ?)
    ON CONFLICT (id) DO UPDATE SET version = excluded.version";

/// Reads the recorded version (no row: none recorded).
pub const READ_VERSION: &str = "SELECT version FROM schema_version WHERE id = 1";

/// Lists which of the tables that tell the version exist (`name` column).
pub const FIND_TABLES: &str =
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('kv', 'schema_version')";

/// Whether the `schema_version` table exists (from [`FIND_TABLES`]).
pub fn has_version_table<'a>(tables: impl IntoIterator<Item = &'a str>) -> bool {
    tables.into_iter().any(|t| t == "schema_version")
}

/// The version this build brings a database to.
pub const CURRENT_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// What a database was found to hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// Whether the first release's `kv` table exists.
    pub kv_table: bool,
    /// The version recorded in `schema_version`, if any.
    pub recorded: Option<i64>,
}

/// A stored database this build cannot use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchemaError {
    /// Written by a newer build: this one would misread it, and never downgrades.
    Newer {
        /// The stored version.
        found: i64,
        /// The newest this build knows.
        known: u32,
    },
    /// A version below 1 recorded: not written by any build of this project.
    Invalid(i64),
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Newer { found, known } => write!(
                f,
                "the stored database has schema version {found}, newer than this build knows ({known}): \
                 deploy the newer build again; this one never downgrades or deletes stored data"
            ),
            Self::Invalid(found) => write!(
                f,
                "the stored database records schema version {found}, which no build writes; it is left as it is"
            ),
        }
    }
}

impl std::error::Error for SchemaError {}

impl Found {
    /// The version the database is at: recorded, or 1 for the first release's unversioned tables,
    /// or 0 for an empty database.
    pub fn version(self) -> Result<u32, SchemaError> {
        match self.recorded {
            Some(v) if v < 1 => Err(SchemaError::Invalid(v)),
            Some(v) => u32::try_from(v)
                .ok()
                .filter(|v| *v <= CURRENT_VERSION)
                .ok_or(SchemaError::Newer {
                    found: v,
                    known: CURRENT_VERSION,
                }),
            None => Ok(u32::from(self.kv_table)),
        }
    }
}

/// The steps that bring a database at version `at` up to [`CURRENT_VERSION`], in order: for an
/// empty database (version 0), the one step [`NEW_DATABASE`].
pub fn plan(found: Found) -> Result<&'static [Migration], SchemaError> {
    match found.version()? {
        0 => Ok(std::slice::from_ref(&NEW_DATABASE)),
        at => Ok(&MIGRATIONS[at as usize..]),
    }
}

/// Whether applying `step` also records its version (the table exists from
/// [`RECORDED_SINCE`] on).
pub fn records_version(step: &Migration) -> bool {
    step.version >= RECORDED_SINCE
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: Found = Found {
        kv_table: false,
        recorded: None,
    };
    /// The first release's database: its tables, no version.
    const RELEASE_0_1: Found = Found {
        kv_table: true,
        recorded: None,
    };

    fn versions(steps: &[Migration]) -> Vec<u32> {
        steps.iter().map(|m| m.version).collect()
    }

    #[test]
    fn issue_10_migrations_are_numbered_one_by_one_from_1() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.what);
            assert!(!m.statements.is_empty());
        }
        assert_eq!(CURRENT_VERSION, 3);
    }

    #[test]
    fn issue_9_an_empty_database_gets_the_current_schema_in_one_step() {
        let steps = plan(EMPTY).unwrap();
        assert_eq!(versions(steps), vec![CURRENT_VERSION]);
        assert!(records_version(&steps[0]));
        // No table rewrite, and every table the steps create.
        assert!(steps[0].statements.iter().all(|s| !s.contains("ALTER")));
        let created = |s: &str| s.trim_start().starts_with("CREATE TABLE");
        let tables_of_steps = MIGRATIONS
            .iter()
            .flat_map(|m| m.statements)
            .filter(|s| created(s))
            .count();
        let new_tables = steps[0].statements.iter().filter(|s| created(s)).count();
        // Each table once, in the steps as in the new step.
        assert_eq!(new_tables, tables_of_steps);
    }

    #[test]
    fn issue_10_the_unversioned_first_release_is_version_1_and_gets_the_rest() {
        assert_eq!(RELEASE_0_1.version(), Ok(1));
        assert_eq!(versions(plan(RELEASE_0_1).unwrap()), vec![2, 3]);
    }

    #[test]
    fn issue_10_a_current_database_gets_nothing_and_steps_are_idempotent() {
        let current = Found {
            kv_table: true,
            recorded: Some(i64::from(CURRENT_VERSION)),
        };
        assert!(plan(current).unwrap().is_empty());
        // A step that runs twice (a crash between steps is covered by its transaction, but the
        // statements hold it anyway) creates nothing twice.
        for m in MIGRATIONS.iter().chain([&NEW_DATABASE]) {
            for s in m.statements {
                let s = s.trim_start().to_ascii_uppercase();
                assert!(
                    !s.starts_with("CREATE") || s.contains("IF NOT EXISTS"),
                    "not idempotent in step {}: {s}",
                    m.version
                );
                assert!(
                    !s.starts_with("INSERT") || s.contains("OR IGNORE"),
                    "not idempotent in step {}: {s}",
                    m.version
                );
            }
        }
    }

    #[test]
    fn issue_10_a_newer_database_is_refused_with_words() {
        let newer = Found {
            kv_table: true,
            recorded: Some(i64::from(CURRENT_VERSION) + 1),
        };
        let err = plan(newer).unwrap_err();
        assert_eq!(
            err,
            SchemaError::Newer {
                found: i64::from(CURRENT_VERSION) + 1,
                known: CURRENT_VERSION
            }
        );
        assert!(err.to_string().contains("newer than this build knows"));
        assert!(plan(Found {
            kv_table: true,
            recorded: Some(i64::MAX)
        })
        .is_err());
        assert_eq!(
            plan(Found {
                kv_table: true,
                recorded: Some(0)
            })
            .unwrap_err(),
            SchemaError::Invalid(0)
        );
    }

    #[test]
    fn issue_10_the_version_is_recorded_from_the_step_that_creates_its_table() {
        let creates = MIGRATIONS
            .iter()
            .find(|m| m.statements.contains(&VERSION_TABLE))
            .unwrap();
        assert_eq!(creates.version, RECORDED_SINCE);
        for m in MIGRATIONS {
            assert_eq!(records_version(m), m.version >= creates.version);
        }
        assert!(has_version_table(["kv", "schema_version"]));
        assert!(!has_version_table(["kv"]));
    }
}
