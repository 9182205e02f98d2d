//! The control API's routes, in one table (issue 10, "one route table").
//!
//! [`ROUTES`] is the only place a route's path and method are written. The Worker entry and the
//! Durable Object route by looking a request up in it ([`lookup`]), `GatewayStub` sends each
//! call to the path of its [`RouteId`], and the `404`/`405` answers (with `Allow`) come from it.
//! Tests keep README.md's route table and the TypeScript client (`client/gateway-stub.ts`)
//! equal to it (`tests/route_table.rs`).

use std::fmt;

/// Which route: what the object does for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteId {
    /// `POST /connect`.
    Connect,
    /// `POST /disconnect`.
    Disconnect,
    /// `GET /status`.
    Status,
    /// `GET /dead-letters`.
    DeadLetters,
    /// `POST /dead-letters/replay`.
    ReplayDeadLetters,
    /// `POST /dead-letters/drop`.
    DropDeadLetters,
    /// `GET /subscriptions`: every subscription, with its counts.
    ListSubscriptions,
    /// `POST /subscriptions`: a new push or pull subscription.
    CreateSubscription,
    /// `GET /subscriptions/one?subscription=`: one subscription.
    GetSubscription,
    /// `PUT /subscriptions?subscription=`: replace a subscription's definition.
    ReplaceSubscription,
    /// `DELETE /subscriptions?subscription=`: delete a subscription, releasing its events.
    DeleteSubscription,
    /// `POST /v1/messages`: post as the bot (split, rate-limited).
    SendMessage,
    /// `PUT /v1/reactions`: add the bot's reaction.
    AddReaction,
    /// `DELETE /v1/reactions`: remove the bot's reaction.
    RemoveReaction,
    /// `POST /presence`: the bot's status and activities.
    SetPresence,
    /// `GET /v1/inbox`: a pull subscription's events after its cursor (long poll).
    Inbox,
    /// `POST /v1/ack`: a pull subscription's cursor moves, releasing what it read.
    Ack,
    /// `GET /v1/me`: a pull subscription's name, cursor, lag and filter.
    Me,
    /// `POST /subscriptions/rotate-token`: a new token for a pull subscription.
    RotateToken,
    /// `POST /subscriptions/revoke-token`: a pull subscription's token stops working.
    RevokeToken,
    /// `GET /bots`: the Worker entry's registry of bot names.
    Bots,
    /// `DELETE /bots?name=`: forget one name in the registry.
    ForgetBot,
    /// `GET /admin`: the operator's page (its script and style sit under `/admin/`).
    AdminPage,
    /// Coordinator → shard object: run as this shard (issue 12; internal).
    ShardStart,
    /// Coordinator → shard object: the set was replaced; stop the gateway, keep delivering.
    ShardRetire,
    /// Shard object → coordinator: may I Identify?
    IdentifyAsk,
    /// Shard object → coordinator: I sent Identify with my grant.
    IdentifySent,
    /// Shard object → coordinator: READY, or stopped for good.
    ShardReport,
    /// Coordinator → shard object: the bot's subscriptions, at a version.
    ShardSubscriptions,
    /// Coordinator → shard object: read, acknowledge or measure a pull subscription's log.
    ShardPull,
}

/// The HTTP methods the routes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpMethod {
    /// `GET`: reads, no body.
    Get,
    /// `POST`: a JSON body (possibly empty).
    Post,
    /// `PUT`: a JSON body.
    Put,
    /// `DELETE`: no body, or a JSON body naming what to delete.
    Delete,
}

impl HttpMethod {
    /// The method's name, as on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
        }
    }
}

#[cfg(target_arch = "wasm32")]
impl From<HttpMethod> for worker::Method {
    fn from(method: HttpMethod) -> Self {
        match method {
            HttpMethod::Get => Self::Get,
            HttpMethod::Post => Self::Post,
            HttpMethod::Put => Self::Put,
            HttpMethod::Delete => Self::Delete,
        }
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may call a route through the Worker entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <GATEWAY_ADMIN_TOKEN>`.
    Admin,
    /// `Authorization: Bearer dgdp_<bot>_<hex>`: a pull subscription's token (the bot comes
    /// from the token, no `?name=`); the admin token is refused.
    Subscription,
    /// The admin token, or a pull subscription's token limited to its filter's channels.
    AdminOrSubscription,
    /// None: the operator's page, which holds no secret and asks for the token itself.
    Public,
    /// Between the objects of one bot (a coordinator and its shards): the Worker entry answers
    /// `404` as for a path it does not know, and no client calls it.
    Internal,
}

/// What answers a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServedBy {
    /// The bot's Durable Object (`?name=` picks it): the routes of `GatewayStub` and the
    /// TypeScript client.
    Object,
    /// The Worker entry itself (the bot registry, the operator's page).
    Entry,
}

/// One route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Which one.
    pub id: RouteId,
    /// Its method.
    pub method: HttpMethod,
    /// Its path.
    pub path: &'static str,
    /// Who may call it.
    pub auth: Auth,
    /// What answers it.
    pub served_by: ServedBy,
    /// What it does, in one line (README's "does" column).
    pub does: &'static str,
    /// What it answers on success (README's "answers" column).
    pub answers: &'static str,
}

/// Every route of the control API, in the order the README lists them.
pub const ROUTES: &[Route] = &[
    Route {
        id: RouteId::Connect,
        method: HttpMethod::Post,
        path: "/connect",
        auth: Auth::Admin,
        served_by: ServedBy::Object,
        does: "connects (or re-applies new settings)",
        answers: "`202 {\"status\":\"connecting\"}`",
    },
    Route {
        id: RouteId::Disconnect,
        method: HttpMethod::Post,
        path: "/disconnect",
        auth: Auth::Admin,
        served_by: ServedBy::Object,
        does: "closes with 1000, forgets credentials and session",
        answers: "`200 {\"status\":\"disconnected\"}`",
    },
    Route {
        id: RouteId::Status,
        method: HttpMethod::Get,
        path: "/status",
        auth: Auth::Admin,
        served_by: ServedBy::Object,
        does: "state, session, heartbeat, identify budget, counters, delivery, schema version",
        answers: "`200 {...}`",
    },
    Route {
        id: RouteId::DeadLetters,
        method: HttpMethod::Get,
        path: "/dead-letters",
        auth: Auth::Admin,
        served_by: ServedBy::Object,
        does: "events given up on, of `?subscription=<name>` (a push subscription; default `default`)",
        answers: "`200 {\"deadLetters\":[...]}`",
    },
    Route {
        id: RouteId::ReplayDeadLetters,
        method: HttpMethod::Post,
        path: "/dead-letters/replay",
        auth: Auth::Admin,
        served_by: ServedBy::Object,
        does: "`{\"ids\":[...]}` (1 to 1,000 ids) or `{\"all\":true}`: deliver again (`?subscription=` as above)",
        answers: "`200 {\"affected\":n}`",
    },
    Route {
        id: RouteId::DropDeadLetters,
        method: HttpMethod::Post,
        path: "/dead-letters/drop",
        auth: Auth::Admin,
        served_by: ServedBy::Object,
        does: "`{\"ids\":[...]}` (1 to 1,000 ids) or `{\"all\":true}`: delete (`?subscription=` as above)",
        answers: "`200 {\"affected\":n}`",
    },
    Route {
        id: RouteId::ListSubscriptions,
        method: HttpMethod::Get,
        path: "/subscriptions",
        auth: Auth::Admin,
        served_by: ServedBy::Object,
        does: "every subscription (`default` first) with its counts; never a secret or token",
        answers: "`200 {\"subscriptions\":[...]}`",
    },
    Route {
        id: RouteId::CreateSubscription,
        method: HttpMethod::Post,
        path: "/subscriptions",
        auth: Auth::Admin,
        served_by: ServedBy::Object,
        does: "`{\"name\",\"kind\",\"webhookUrl\"?,\"webhookSecret\"?,\"filter\"?}` (kind `push` or `pull`): a new subscription (see \"One bot, many tenants\")",
        answers: "`201 {...}` (a pull `token`, a generated `webhookSecret`: shown once)",
    },
    Route {
        id: RouteId::GetSubscription,
        method: HttpMethod::Get,
        path: "/subscriptions/one",
        auth: Auth::Admin,
        served_by: ServedBy::Object,
        does: "`?subscription=<name>`: one subscription with its counts",
        answers: "`200 {...}`",
    },
    Route {
        id: RouteId::ReplaceSubscription,
        method: HttpMethod::Put,
        path: "/subscriptions",
        auth: Auth::Admin,
        served_by: ServedBy::Object,
        does: "`?subscription=<name>`, a create body: replaces its definition (same kind; new events only)",
        answers: "`200 {...}`",
    },
    Route {
        id: RouteId::DeleteSubscription,
        method: HttpMethod::Delete,
        path: "/subscriptions",
        auth: Auth::Admin,
        served_by: ServedBy::Object,
        does: "`?subscription=<name>` (required; not `default`): deletes it and releases its events",
        answers: "`200 {\"deleted\":name}`",
    },
    Route {
        id: RouteId::SendMessage,
        method: HttpMethod::Post,
        path: "/v1/messages",
        auth: Auth::AdminOrSubscription,
        served_by: ServedBy::Object,
        does: "`{\"channel_id\",\"content\",\"reply_to\"?,\"allowed_mentions\"?}`: posts as the bot, split when long (see \"Talking back\")",
        answers: "`200 {\"message_ids\":[...]}`",
    },
    Route {
        id: RouteId::AddReaction,
        method: HttpMethod::Put,
        path: "/v1/reactions",
        auth: Auth::AdminOrSubscription,
        served_by: ServedBy::Object,
        does: "`{\"channel_id\",\"message_id\",\"emoji\"}`: adds the bot's reaction",
        answers: "`200 {\"ok\":true}`",
    },
    Route {
        id: RouteId::RemoveReaction,
        method: HttpMethod::Delete,
        path: "/v1/reactions",
        auth: Auth::AdminOrSubscription,
        served_by: ServedBy::Object,
        does: "`{\"channel_id\",\"message_id\",\"emoji\"}`: removes the bot's reaction",
        answers: "`200 {\"ok\":true}`",
    },
    Route {
        id: RouteId::SetPresence,
        method: HttpMethod::Post,
        path: "/presence",
        auth: Auth::Admin,
        served_by: ServedBy::Object,
        does: "`{\"status\",\"activities\"?,\"afk\"?}`: the bot's presence, over the gateway",
        answers: "`200 {\"presence\":{...},\"sent\":true}`",
    },
    Route {
        id: RouteId::Inbox,
        method: HttpMethod::Get,
        path: "/v1/inbox",
        auth: Auth::Subscription,
        served_by: ServedBy::Object,
        does: "`?after=&limit=1..200&wait=0..25` (pull token): events after the cursor, held up to `wait` s until one comes (see \"Agents that poll\")",
        answers: "`200 {\"entries\":[...],\"next_cursor\":n}`",
    },
    Route {
        id: RouteId::Ack,
        method: HttpMethod::Post,
        path: "/v1/ack",
        auth: Auth::Subscription,
        served_by: ServedBy::Object,
        does: "`{\"cursor\":n}` (pull token): everything up to `n` is read",
        answers: "`200 {\"cursor\":n}`",
    },
    Route {
        id: RouteId::Me,
        method: HttpMethod::Get,
        path: "/v1/me",
        auth: Auth::Subscription,
        served_by: ServedBy::Object,
        does: "(pull token) the subscription's name, cursor, lag, missed events and filter",
        answers: "`200 {\"name\",\"cursor\",\"lag\",\"missed\",\"filter\"}`",
    },
    Route {
        id: RouteId::RotateToken,
        method: HttpMethod::Post,
        path: "/subscriptions/rotate-token",
        auth: Auth::Admin,
        served_by: ServedBy::Object,
        does: "`?subscription=<name>` (pull): a new token, shown once; the old one stops at once",
        answers: "`200 {\"name\",\"token\"}`",
    },
    Route {
        id: RouteId::RevokeToken,
        method: HttpMethod::Post,
        path: "/subscriptions/revoke-token",
        auth: Auth::Admin,
        served_by: ServedBy::Object,
        does: "`?subscription=<name>` (pull): its token stops working (rotate to issue a new one)",
        answers: "`200 {\"name\",\"revoked\":true}`",
    },
    Route {
        id: RouteId::Bots,
        method: HttpMethod::Get,
        path: "/bots",
        auth: Auth::Admin,
        served_by: ServedBy::Entry,
        does: "the bots this deployment runs (the registry; no `?name=`)",
        answers: "`200 {\"bots\":[{\"name\",\"addedAt\"}]}`",
    },
    Route {
        id: RouteId::ForgetBot,
        method: HttpMethod::Delete,
        path: "/bots",
        auth: Auth::Admin,
        served_by: ServedBy::Entry,
        does: "`?name=<bot>` (required): forgets a bot in the registry; its object is untouched",
        answers: "`204`",
    },
    Route {
        id: RouteId::AdminPage,
        method: HttpMethod::Get,
        path: "/admin",
        auth: Auth::Public,
        served_by: ServedBy::Entry,
        does: "the operator's page (no token: the page asks for it)",
        answers: "`200` HTML",
    },
    Route {
        id: RouteId::ShardStart,
        method: HttpMethod::Post,
        path: "/internal/shard/start",
        auth: Auth::Internal,
        served_by: ServedBy::Object,
        does: "coordinator → shard: run as shard id of count",
        answers: "`202`",
    },
    Route {
        id: RouteId::ShardRetire,
        method: HttpMethod::Post,
        path: "/internal/shard/retire",
        auth: Auth::Internal,
        served_by: ServedBy::Object,
        does: "coordinator → shard: stop the gateway, deliver what is stored",
        answers: "`200`",
    },
    Route {
        id: RouteId::IdentifyAsk,
        method: HttpMethod::Post,
        path: "/internal/identify",
        auth: Auth::Internal,
        served_by: ServedBy::Object,
        does: "shard → coordinator: a grant to Identify, or when to ask again",
        answers: "`200 {\"expiresAt\"}` or `200 {\"retryAt\",\"exhausted\"}`",
    },
    Route {
        id: RouteId::IdentifySent,
        method: HttpMethod::Post,
        path: "/internal/identify/sent",
        auth: Auth::Internal,
        served_by: ServedBy::Object,
        does: "shard → coordinator: Identify sent with the grant",
        answers: "`200`",
    },
    Route {
        id: RouteId::ShardReport,
        method: HttpMethod::Post,
        path: "/internal/shard/report",
        auth: Auth::Internal,
        served_by: ServedBy::Object,
        does: "shard → coordinator: READY, or stopped for good",
        answers: "`200`",
    },
    Route {
        id: RouteId::ShardSubscriptions,
        method: HttpMethod::Post,
        path: "/internal/shard/subscriptions",
        auth: Auth::Internal,
        served_by: ServedBy::Object,
        does: "coordinator → shard: the bot's subscriptions at a version",
        answers: "`200 {\"version\"}`",
    },
    Route {
        id: RouteId::ShardPull,
        method: HttpMethod::Post,
        path: "/internal/shard/pull",
        auth: Auth::Internal,
        served_by: ServedBy::Object,
        does: "coordinator → shard: read, acknowledge or measure a pull subscription",
        answers: "`200`",
    },
];

/// Whether `route` is one of the public control API (not [`Auth::Internal`]).
pub fn is_public(route: &Route) -> bool {
    route.auth != Auth::Internal
}

/// The route `id`.
pub fn route(id: RouteId) -> &'static Route {
    // Every id has a row: `tests::issue_10_every_route_id_has_one_row` checks it.
    ROUTES.iter().find(|r| r.id == id).unwrap_or(&ROUTES[0])
}

/// Why a request matches no route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Miss {
    /// No route has this path: `404`.
    NotFound,
    /// The path exists with other methods: `405`, with `Allow` set to [`Miss::allow`].
    MethodNotAllowed {
        /// The methods the path takes.
        allowed: Vec<HttpMethod>,
    },
}

impl Miss {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::MethodNotAllowed { .. } => 405,
        }
    }

    /// The `Allow` header's value for a `405`.
    pub fn allow(&self) -> Option<String> {
        match self {
            Self::NotFound => None,
            Self::MethodNotAllowed { allowed } => Some(
                allowed
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        }
    }

    /// The error message, naming what to use instead.
    pub fn message(&self, path: &str) -> String {
        match self {
            Self::NotFound => format!(
                "no such route: use {}",
                ROUTES
                    .iter()
                    .filter(|r| is_public(r))
                    .map(|r| format!("{} {}", r.method, r.path))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::MethodNotAllowed { .. } => format!(
                "use {} for {path}",
                self.allow().unwrap_or_default().replace(", ", " or ")
            ),
        }
    }
}

/// The route for `method` (as on the wire, e.g. `"GET"`) and `path`, or why there is none.
pub fn lookup(method: &str, path: &str) -> Result<&'static Route, Miss> {
    let mut allowed = Vec::new();
    for route in ROUTES.iter().filter(|r| r.path == path) {
        if route.method.as_str() == method {
            return Ok(route);
        }
        allowed.push(route.method);
    }
    if allowed.is_empty() {
        Err(Miss::NotFound)
    } else {
        Err(Miss::MethodNotAllowed { allowed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: &[RouteId] = &[
        RouteId::Connect,
        RouteId::Disconnect,
        RouteId::Status,
        RouteId::DeadLetters,
        RouteId::ReplayDeadLetters,
        RouteId::DropDeadLetters,
        RouteId::ListSubscriptions,
        RouteId::CreateSubscription,
        RouteId::GetSubscription,
        RouteId::ReplaceSubscription,
        RouteId::DeleteSubscription,
        RouteId::SendMessage,
        RouteId::AddReaction,
        RouteId::RemoveReaction,
        RouteId::SetPresence,
        RouteId::Inbox,
        RouteId::Ack,
        RouteId::Me,
        RouteId::RotateToken,
        RouteId::RevokeToken,
        RouteId::Bots,
        RouteId::ForgetBot,
        RouteId::AdminPage,
        RouteId::ShardStart,
        RouteId::ShardRetire,
        RouteId::IdentifyAsk,
        RouteId::IdentifySent,
        RouteId::ShardReport,
        RouteId::ShardSubscriptions,
        RouteId::ShardPull,
    ];

    #[test]
    fn issue_10_every_route_id_has_one_row() {
        assert_eq!(ROUTES.len(), IDS.len());
        for &id in IDS {
            assert_eq!(ROUTES.iter().filter(|r| r.id == id).count(), 1, "{id:?}");
            assert_eq!(route(id).id, id);
        }
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    (a.method, a.path) != (b.method, b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
    }

    #[test]
    fn issue_10_lookup_finds_each_route_by_method_and_path() {
        for r in ROUTES {
            assert_eq!(lookup(r.method.as_str(), r.path), Ok(r));
        }
    }

    #[test]
    fn issue_10_an_unknown_path_is_404_listing_the_routes() {
        let miss = lookup("GET", "/nope").unwrap_err();
        assert_eq!(miss, Miss::NotFound);
        assert_eq!(miss.status(), 404);
        assert_eq!(miss.allow(), None);
        let message = miss.message("/nope");
        for r in ROUTES {
            let listed = message.contains(&format!("{} {}", r.method, r.path));
            assert_eq!(listed, is_public(r), "{} {}", r.method, r.path);
        }
        // Paths match exactly: no prefix, no trailing slash, no case folding.
        for path in ["/connect/", "/Connect", "/dead-letters/replay/x", ""] {
            assert_eq!(lookup("POST", path), Err(Miss::NotFound), "{path}");
        }
    }

    #[test]
    fn issue_10_a_wrong_method_is_405_with_allow() {
        let miss = lookup("GET", "/connect").unwrap_err();
        assert_eq!(miss.status(), 405);
        assert_eq!(miss.allow().as_deref(), Some("POST"));
        assert_eq!(miss.message("/connect"), "use POST for /connect");
        assert_eq!(
            lookup("DELETE", "/status").unwrap_err().allow().as_deref(),
            Some("GET")
        );
        assert_eq!(
            lookup("POST", "/bots").unwrap_err().allow().as_deref(),
            Some("GET, DELETE")
        );
        assert_eq!(
            lookup("post", "/connect").unwrap_err().status(),
            405,
            "methods are case-sensitive, as on the wire"
        );
    }
}
