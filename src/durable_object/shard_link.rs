//! The shard side of a sharded bot (issue 12): a `DiscordGatewayDO` started by its coordinator
//! as one shard. It does everything the single object does (resume, outbox, delivery) and, in
//! addition, asks the coordinator before every Identify (never before a Resume), tells it when
//! the grant was used, and reports READY and a stop for good.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use worker::{console_error, console_log};

use super::internal::call_json;
use super::runtime::{env_string, now, Runtime};
use super::store::Store;
use crate::api::ApiError;
use crate::gateway::{Input, Shard};
use crate::route_table::RouteId;
use crate::shards::link::{IdentifyAnswer, ShardEvent, ShardLink, ShardReport, ShardStart};

/// Where the link is stored (`kv`).
const LINK_KEY: &str = "shard_link";
/// When the coordinator cannot be reached, ask again after this long.
const UNREACHABLE_RETRY_MS: u64 = 2_000;

/// The shard's link to its coordinator, if this object is a shard.
#[derive(Default)]
pub struct ShardSide {
    link: RefCell<Option<ShardLink>>,
    /// The session whose READY was reported.
    reported_ready: RefCell<Option<String>>,
    reported_stop: Cell<bool>,
}

impl ShardSide {
    /// Reads the stored link.
    pub fn load(store: &Store) -> worker::Result<Self> {
        Ok(Self {
            link: RefCell::new(store.get(LINK_KEY)?),
            ..Self::default()
        })
    }

    /// The link, if this object is a shard.
    pub fn link(&self) -> Option<ShardLink> {
        self.link.borrow().clone()
    }

    /// Whether this object is a shard that still runs a gateway (asks before Identify).
    pub fn gated(&self) -> bool {
        self.link.borrow().as_ref().is_some_and(|l| !l.retired)
    }

    /// Whether this object is a shard of a replaced set: it only delivers what it stored.
    pub fn retired(&self) -> bool {
        self.link.borrow().as_ref().is_some_and(|l| l.retired)
    }
}

/// `POST /internal/shard/start`: become (or stay) this shard, with these settings and the
/// token of this object's own environment.
pub fn start(runtime: &Rc<Runtime>, start: ShardStart) -> Result<(), ApiError> {
    let token = env_string(&runtime.env, "DISCORD_BOT_TOKEN").ok_or_else(|| {
        ApiError::new(
            503,
            Some("shards"),
            "a shard object needs DISCORD_BOT_TOKEN in its environment",
        )
    })?;
    // The subscriptions first: the first event of the session finds them.
    if let Some(sync) = &start.subscriptions {
        super::shard_subscriptions::apply(runtime, sync)?;
    }
    let mut settings = start.settings;
    settings.gateway.token = token;
    settings.gateway.shard = Some(
        Shard::new(start.shard, start.count)
            .map_err(|e| ApiError::bad_request(Some("shards"), e.to_string()))?,
    );
    let link = ShardLink {
        coordinator: start.coordinator,
        key: crate::shards::link::ShardKey {
            generation: start.generation,
            shard: start.shard,
            count: start.count,
        },
        retired: false,
    };
    runtime
        .store
        .put(LINK_KEY, &link)
        .map_err(|e| ApiError::new(503, None, e.to_string()))?;
    *runtime.shard.link.borrow_mut() = Some(link);
    runtime.shard.reported_stop.set(false);
    runtime.engine.borrow_mut().require_identify_grant();
    if let Some(presence) = start.presence {
        // Kept for the Identify (sent at once if this shard's session is READY).
        if let Err(e) = runtime.command(|engine, now| engine.set_presence(now, presence)) {
            console_error!("the bot's presence: {e}");
        }
    }
    runtime
        .connect(settings)
        .map_err(|e| ApiError::new(503, None, e.to_string()))
}

/// `POST /internal/shard/retire`: the set was replaced. The gateway stops (the session ends);
/// the settings stay, so what the outbox holds is still delivered.
pub fn retire(runtime: &Rc<Runtime>) -> worker::Result<()> {
    let link = runtime.shard.link.borrow_mut().as_mut().map(|link| {
        link.retired = true;
        link.clone()
    });
    if let Some(link) = link {
        runtime.store.put(LINK_KEY, &link)?;
        console_log!("shard {} of {} retired", link.key.shard, link.key.count);
        runtime.input(Input::Disconnect);
    }
    Ok(())
}

/// `/disconnect` on a shard: it is no longer one.
pub fn forget(runtime: &Runtime) -> worker::Result<()> {
    runtime.store.delete(LINK_KEY)?;
    *runtime.shard.link.borrow_mut() = None;
    Ok(())
}

/// The engine asked for an Identify grant: ask the coordinator, hand the answer to the engine.
pub fn ask_identify(runtime: &Rc<Runtime>) {
    let Some(link) = runtime.shard.link() else {
        return;
    };
    let runtime = runtime.clone();
    worker::wasm_bindgen_futures::spawn_local(async move {
        let answer: Result<IdentifyAnswer, String> = call_json(
            &runtime.env,
            &link.coordinator,
            RouteId::IdentifyAsk,
            Some(&link.key),
        )
        .await;
        let input = match answer {
            Ok(IdentifyAnswer {
                expires_at: Some(expires_at),
                ..
            }) => Input::IdentifyGranted { expires_at },
            Ok(answer) => Input::IdentifyDeferred {
                until: answer
                    .retry_at
                    .unwrap_or_else(|| now() + UNREACHABLE_RETRY_MS),
                exhausted: answer.exhausted,
            },
            Err(e) => {
                console_error!("identify grant: {e}");
                Input::IdentifyDeferred {
                    until: now() + UNREACHABLE_RETRY_MS,
                    exhausted: false,
                }
            }
        };
        runtime.input(input);
    });
}

/// The engine sent Identify with its grant: tell the coordinator (best effort: an unredeemed
/// grant only makes its bucket wait longer).
pub fn identify_sent(runtime: &Rc<Runtime>) {
    let Some(link) = runtime.shard.link() else {
        return;
    };
    let env = runtime.env.clone();
    worker::wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = call_json::<_, serde_json::Value>(
            &env,
            &link.coordinator,
            RouteId::IdentifySent,
            Some(&link.key),
        )
        .await
        {
            console_error!("identify sent: {e}");
        }
    });
}

/// After the engine persisted its state: report a new READY session, or a stop for good, once.
pub fn after_persist(runtime: &Rc<Runtime>) {
    let Some(link) = runtime.shard.link().filter(|l| !l.retired) else {
        return;
    };
    let event = {
        let engine = runtime.engine.borrow();
        if let Some(reason) = engine.stopped() {
            (!runtime.shard.reported_stop.replace(true)).then_some(ShardEvent::Stopped { reason })
        } else if engine.is_ready() {
            let session = engine.status().session_id;
            let mut reported = runtime.shard.reported_ready.borrow_mut();
            (*reported != session).then(|| {
                *reported = session;
                ShardEvent::Ready
            })
        } else {
            None
        }
    };
    let Some(event) = event else {
        return;
    };
    let env = runtime.env.clone();
    let subscriptions_version = super::shard_subscriptions::version(runtime);
    worker::wasm_bindgen_futures::spawn_local(async move {
        let report = ShardReport {
            key: link.key,
            event,
            subscriptions_version,
        };
        if let Err(e) = call_json::<_, serde_json::Value>(
            &env,
            &link.coordinator,
            RouteId::ShardReport,
            Some(&report),
        )
        .await
        {
            console_error!("shard report: {e}");
        }
    });
}
