//! `BotRegistry`: the names of the bots this deployment runs, for the operator's page.
//!
//! Durable Objects cannot be listed, so the Worker entry writes a bot's name here when a
//! `/connect` for it succeeds, and `GET /bots` reads the list. One instance (named
//! [`REGISTRY_INSTANCE`]) per deployment; a name is a row, at most [`MAX_BOTS`] of them. It holds
//! names only: no token, setting or state (each bot's object has those).

use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use crate::api::ApiError;

/// The binding the entry finds the registry by (optional: without it `/bots` answers `503`).
pub const REGISTRY_BINDING: &str = "BOT_REGISTRY";
/// The registry's one instance.
pub const REGISTRY_INSTANCE: &str = "registry";
/// Names kept at most; registering one more is refused (`409`), the page still shows the others.
pub const MAX_BOTS: usize = 1_000;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS bots (name TEXT PRIMARY KEY, added_at INTEGER NOT NULL) WITHOUT ROWID;";

/// One bot the deployment runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredBot {
    /// Its `?name=`.
    pub name: String,
    /// When its first `/connect` succeeded (ms since epoch).
    pub added_at: u64,
}

/// `200` answer to `GET /bots`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotList {
    /// By name.
    pub bots: Vec<RegisteredBot>,
}

#[derive(Deserialize)]
struct Row {
    name: String,
    added_at: f64,
}

#[derive(Deserialize)]
struct Count {
    n: f64,
}

/// The registry object. Its routes are internal (the entry calls them after checking the admin
/// token): `GET /` lists, `PUT /?name=` adds, `DELETE /?name=` removes.
#[durable_object]
pub struct BotRegistry {
    state: State,
}

impl BotRegistry {
    fn list(&self) -> Result<BotList> {
        let sql = self.state.storage().sql();
        let rows: Vec<Row> = sql
            .exec("SELECT name, added_at FROM bots ORDER BY name", None)?
            .to_array()?;
        Ok(BotList {
            bots: rows
                .into_iter()
                .map(|r| RegisteredBot {
                    name: r.name,
                    added_at: r.added_at as u64,
                })
                .collect(),
        })
    }

    fn add(&self, name: &str) -> Result<Response> {
        let sql = self.state.storage().sql();
        let known: Vec<Count> = sql
            .exec(
                "SELECT COUNT(*) AS n FROM bots WHERE name = ?",
                vec![name.into()],
            )?
            .to_array()?;
        if known.first().is_some_and(|c| c.n > 0.0) {
            return Response::empty().map(|r| r.with_status(204));
        }
        let all: Vec<Count> = sql
            .exec("SELECT COUNT(*) AS n FROM bots", None)?
            .to_array()?;
        if all.first().is_some_and(|c| c.n as usize >= MAX_BOTS) {
            let error = ApiError::new(
                409,
                Some("name"),
                format!("the registry holds {MAX_BOTS} bots: remove one with DELETE /bots?name="),
            );
            return Ok(Response::from_json(&error)?.with_status(409));
        }
        sql.exec(
            "INSERT INTO bots (name, added_at) VALUES (?, ?)",
            vec![name.into(), (worker::Date::now().as_millis() as f64).into()],
        )?;
        Response::empty().map(|r| r.with_status(201))
    }

    fn remove(&self, name: &str) -> Result<Response> {
        self.state
            .storage()
            .sql()
            .exec("DELETE FROM bots WHERE name = ?", vec![name.into()])?;
        Response::empty().map(|r| r.with_status(204))
    }
}

impl DurableObject for BotRegistry {
    fn new(state: State, _env: Env) -> Self {
        console_error_panic_hook::set_once();
        if let Err(e) = state.storage().sql().exec(SCHEMA, None) {
            worker::console_error!("bot registry: could not create its table: {e}");
        }
        Self { state }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let name = req
            .url()?
            .query_pairs()
            .find(|(k, _)| k == "name")
            .map(|(_, v)| v.into_owned());
        match (req.method(), name) {
            (Method::Get, _) => Response::from_json(&self.list()?),
            (Method::Put, Some(name)) => self.add(&name),
            (Method::Delete, Some(name)) => self.remove(&name),
            _ => Ok(Response::from_json(&ApiError::new(
                400,
                Some("name"),
                "unknown registry call",
            ))?
            .with_status(400)),
        }
    }
}
