//! Brings the object's SQLite database to [`crate::schema::CURRENT_VERSION`] in the constructor, following
//! [`crate::schema`]: the missing steps in one `ctx.storage.transactionSync` (workers-rs 0.8.7
//! does not wrap it, so it is called through JavaScript), the new version recorded in the same
//! transaction; an empty database gets the current schema in one step. A database newer than
//! this build is refused before anything is written.

use std::cell::RefCell;
use std::rc::Rc;

use serde::Deserialize;
use worker::js_sys::{Function, Reflect};
use worker::wasm_bindgen::closure::Closure;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::{SqlStorage, State};

use crate::schema::{
    has_version_table, plan, records_version, Found, Migration, SchemaError, FIND_TABLES,
    READ_VERSION, RECORD_VERSION,
};

/// Migrates the database of `state`; returns the version it is at: as found, or as recorded by
/// the committed transaction of the steps.
pub fn migrate(state: &State, sql: &SqlStorage) -> worker::Result<u32> {
    let found = found(sql)?;
    let steps = plan(found).map_err(schema_error)?;
    let Some(last) = steps.last() else {
        return found.version().map_err(schema_error);
    };
    let in_sql = sql.clone();
    in_transaction(state, move || {
        steps.iter().try_for_each(|step| apply(&in_sql, step))
    })?;
    Ok(last.version)
}

fn schema_error(e: SchemaError) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

/// What the database holds that tells its version.
fn found(sql: &SqlStorage) -> worker::Result<Found> {
    #[derive(Deserialize)]
    struct Table {
        name: String,
    }
    #[derive(Deserialize)]
    struct Version {
        version: i64,
    }
    let tables: Vec<Table> = sql.exec(FIND_TABLES, None)?.to_array()?;
    let recorded = if has_version_table(tables.iter().map(|t| t.name.as_str())) {
        let rows: Vec<Version> = sql.exec(READ_VERSION, None)?.to_array()?;
        rows.first().map(|row| row.version)
    } else {
        None
    };
    Ok(Found {
        kv_table: tables.iter().any(|t| t.name == "kv"),
        recorded,
    })
}

fn apply(sql: &SqlStorage, step: &Migration) -> worker::Result<()> {
    for statement in step.statements {
        sql.exec(statement, None)?;
    }
    if records_version(step) {
        sql.exec(RECORD_VERSION, vec![i64::from(step.version).into()])?;
    }
    Ok(())
}

/// Runs `work` inside `ctx.storage.transactionSync`: all of it is committed, or none.
fn in_transaction(
    state: &State,
    work: impl FnOnce() -> worker::Result<()> + 'static,
) -> worker::Result<()> {
    let storage = Reflect::get(state.as_raw(), &JsValue::from_str("storage"))?;
    let transaction_sync: Function = Reflect::get(&storage, &JsValue::from_str("transactionSync"))?
        .dyn_into()
        .map_err(|_| {
            worker::Error::RustError(
                "ctx.storage.transactionSync is missing: the object needs SQLite storage".into(),
            )
        })?;
    // The closure reports a failure by throwing, so that the transaction rolls back; the Rust
    // error itself comes back through `failure`.
    let failure: Rc<RefCell<Option<worker::Error>>> = Rc::default();
    let report = Rc::clone(&failure);
    let body = Closure::once(move || -> Result<(), JsValue> {
        work().map_err(|e| {
            let thrown = JsValue::from_str(&e.to_string());
            *report.borrow_mut() = Some(e);
            thrown
        })
    });
    let called = transaction_sync.call1(&storage, body.as_ref().unchecked_ref());
    drop(body);
    let failure = failure.borrow_mut().take();
    match (failure, called) {
        (Some(e), _) => Err(e),
        (None, Err(thrown)) => Err(worker::Error::from(thrown)),
        (None, Ok(_)) => Ok(()),
    }
}
