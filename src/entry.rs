//! The thin Worker in front of the Durable Object (cargo feature `entry`, on by default).
//!
//! The routes of [`crate::route_table`], each behind its rule: `Authorization: Bearer
//! <GATEWAY_ADMIN_TOKEN>` for the admin routes; a pull subscription's token
//! (`dgdp_<bot>_<hex>`) for `/v1/inbox`, `/v1/ack` and `/v1/me`, either for the talk-back
//! routes; none for the operator's page. `?name=` picks the object (one per bot); a pull token
//! names its bot itself, and goes to the object, which checks it against the hash it keeps.
//! `/connect` fills `botToken`, `webhookUrl` and `webhookSecret` from `DISCORD_BOT_TOKEN`,
//! `WEBHOOK_URL` and `WEBHOOK_SECRET` unless the JSON body gives them, and only for the
//! environment's own webhook or a host in `ALLOWED_WEBHOOK_HOSTS` ([`crate::credentials`]).

use wasm_bindgen::JsCast;
use worker::js_sys::Uint8Array;
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::DurableObjectNamespace;
use worker::{
    event, web_sys, Context, Env, Headers, Method, Request, RequestInit, Response, Result,
};

use crate::admin_page;
use crate::api::{ApiError, ConnectRequest, MAX_BODY_BYTES};
use crate::auth::{route_caller, Caller};
use crate::credentials::{AllowedHosts, EnvironmentCredentials};
use crate::durable_object::routes::miss;
use crate::durable_object::runtime::{env_string, insecure_webhooks_allowed};
use crate::http_body::read_request_body;
use crate::registry::{REGISTRY_BINDING, REGISTRY_INSTANCE};
use crate::route_table::{lookup, Auth, Miss, RouteId, ServedBy};

/// The Durable Object binding the entry forwards to.
pub const BINDING: &str = "DISCORD_GATEWAY";
/// The instance used when no `?name=` is given.
pub const DEFAULT_NAME: &str = "default";

fn error(error: &ApiError) -> Result<Response> {
    Ok(Response::from_json(error)?.with_status(error.status))
}

fn instance_name(req: &Request) -> std::result::Result<String, ApiError> {
    let url = req
        .url()
        .map_err(|_| ApiError::bad_request(None, "bad request URL"))?;
    let name = url
        .query_pairs()
        .find(|(key, _)| key == "name")
        .map_or_else(|| DEFAULT_NAME.to_owned(), |(_, value)| value.into_owned());
    if crate::subscriptions::valid_name(&name) {
        Ok(name)
    } else {
        Err(ApiError::bad_request(
            Some("name"),
            "name must be 1-64 letters, digits, '-', '_' or '.'",
        ))
    }
}

/// The environment's credentials and where they may go; `503` when `ALLOWED_WEBHOOK_HOSTS`
/// cannot be read (a misconfiguration must not widen or silently narrow the rule).
fn environment_credentials(env: &Env) -> std::result::Result<EnvironmentCredentials, ApiError> {
    let allowed_hosts =
        AllowedHosts::parse(&env_string(env, "ALLOWED_WEBHOOK_HOSTS").unwrap_or_default())
            .map_err(|e| ApiError::new(503, None, e))?;
    Ok(EnvironmentCredentials {
        bot_token: env_string(env, "DISCORD_BOT_TOKEN"),
        webhook_url: env_string(env, "WEBHOOK_URL"),
        webhook_secret: env_string(env, "WEBHOOK_SECRET"),
        allowed_hosts,
        allow_insecure_webhooks: insecure_webhooks_allowed(env),
    })
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    console_error_panic_hook::set_once();
    let path = req.path();
    // The operator's page and its files need no token (they hold no secret).
    if req.method() == Method::Get {
        if let Some(page) = admin_page::serve(&path) {
            return page.map(Into::into);
        }
    }
    // An unknown path is 404 before authentication; a wrong method is 405 after it. The routes
    // between the objects of a bot (issue 12) are not the entry's: 404, as for an unknown path.
    let found = lookup(req.method().as_ref(), &path);
    if let Err(e @ Miss::NotFound) = &found {
        return miss(e, &path).map(Into::into);
    }
    if found
        .as_ref()
        .is_ok_and(|route| route.auth == Auth::Internal)
        || found
            .as_ref()
            .is_err_and(|_| path.starts_with("/internal/"))
    {
        return miss(&Miss::NotFound, &path).map(Into::into);
    }
    // Each route's rule from the table (a new `Auth` rule must be handled here); a 405 takes the
    // admin token too, so as not to reveal more.
    let authorization = req.headers().get("authorization").ok().flatten();
    let caller = match found.as_ref().map_or(Auth::Admin, |route| route.auth) {
        Auth::Public => Caller::Admin, // the operator's page: its files were served above
        rule => match route_caller(
            rule,
            authorization.as_deref(),
            env_string(&env, "GATEWAY_ADMIN_TOKEN").as_deref(),
        ) {
            Ok(caller) => caller,
            Err(e) => {
                let mut response = error(&e)?;
                if e.status == 401 {
                    response.headers_mut().set("www-authenticate", "Bearer")?;
                }
                return Ok(response.into());
            }
        },
    };
    let route = match found {
        Ok(route) => route,
        Err(e) => return miss(&e, &path).map(Into::into),
    };
    if route.served_by == ServedBy::Entry {
        return entry_route(route.id, &req, &env, &path)
            .await
            .map(Into::into);
    }
    let route_method = Method::from(route.method);
    // A pull token names its bot; otherwise `?name=` does.
    let name = match &caller {
        Caller::Subscription { bot, .. } => bot.clone(),
        Caller::Admin => match instance_name(&req) {
            Ok(name) => name,
            Err(e) => return error(&e).map(Into::into),
        },
    };

    let headers = Headers::new();
    let mut init = RequestInit::new();
    init.with_method(route_method.clone());
    let body = if route_method != Method::Get {
        match read_request_body(&req, MAX_BODY_BYTES).await {
            Ok(body) => body,
            Err(e) => return error(&e.into()).map(Into::into),
        }
    } else {
        Vec::new()
    };
    if route.id == RouteId::Connect {
        let request = match ConnectRequest::from_json(&body)
            .and_then(|request| environment_credentials(&env)?.fill(request))
        {
            Ok(request) => request,
            Err(e) => return error(&e).map(Into::into),
        };
        headers.set("content-type", "application/json")?;
        init.with_body(Some(serde_json::to_string(&request)?.into()));
    } else if !body.is_empty() {
        headers.set("content-type", "application/json")?;
        init.with_body(Some(Uint8Array::from(body.as_slice()).into()));
    }
    // The object checks a pull token itself (against the hash it keeps); the admin token is
    // never forwarded: a request without a token is the admin's.
    if let Caller::Subscription { token, .. } = &caller {
        headers.set("authorization", &format!("Bearer {token}"))?;
    }
    init.with_headers(headers);
    // The query goes along (e.g. `?subscription=`); the object ignores `name`.
    let query = req
        .url()?
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let inner = Request::new_with_init(
        &format!("https://gateway.internal{}{query}", route.path),
        &init,
    )?;
    let response = fetch_object(&env, &name, &inner).await?;
    if route.id == RouteId::Connect && response.status() == 202 {
        // The page lists bots from the registry; registering must not delay the answer.
        ctx.wait_until(async move {
            if let Err(e) = bot_registry_call(&env, Method::Put, Some(&name)).await {
                worker::console_error!("bot registry: could not record {name}: {e}");
            }
        });
    }
    Ok(response)
}

/// `request` to the object `name`, its answer handed back as the runtime gave it. The `worker`
/// crate's `Stub::fetch_with_request` turns the answer into its own `Response` (reading its
/// headers, status, `cf`, `webSocket` and body stream across into Wasm) and the entry then has
/// to build a new JS `Response` around that stream: a third of the entry's CPU for each
/// forwarded request, and the largest single cost of a warm `GET /status` (issue 9,
/// `bench/status.mjs`). The object's answer needs no change here, so it is passed through.
async fn fetch_object(env: &Env, name: &str, request: &Request) -> Result<web_sys::Response> {
    let namespace = env.durable_object(BINDING)?;
    let namespace: &DurableObjectNamespace = namespace.as_ref().unchecked_ref();
    let stub = namespace.get(&namespace.id_from_name(name)?)?;
    let answer = JsFuture::from(stub.fetch_with_request(request.inner())?).await?;
    // `fetch` on a stub resolves with a `Response` or rejects.
    Ok(answer.unchecked_into())
}

/// The routes the entry answers itself: the bot registry and the operator's page.
async fn entry_route(id: RouteId, req: &Request, env: &Env, path: &str) -> Result<Response> {
    match id {
        RouteId::Bots => bot_registry_call(env, Method::Get, None).await,
        RouteId::ForgetBot => {
            // Forgetting a bot names it: no default instance here.
            let named = req
                .url()
                .is_ok_and(|url| url.query_pairs().any(|(k, _)| k == "name"));
            match instance_name(req) {
                Ok(name) if named => bot_registry_call(env, Method::Delete, Some(&name)).await,
                Ok(_) => error(&ApiError::bad_request(
                    Some("name"),
                    "DELETE /bots needs ?name=<bot> (the bot to forget)",
                )),
                Err(e) => error(&e),
            }
        }
        RouteId::AdminPage => {
            admin_page::serve(path).unwrap_or_else(|| miss(&Miss::NotFound, path))
        }
        _ => miss(&Miss::NotFound, path),
    }
}

/// One call to the bot registry ([`crate::registry`]); `503` when the deployment has no
/// `BOT_REGISTRY` binding (a `wrangler.toml` from before the registry).
async fn bot_registry_call(env: &Env, method: Method, name: Option<&str>) -> Result<Response> {
    let Ok(namespace) = env.durable_object(REGISTRY_BINDING) else {
        return error(&ApiError::new(
            503,
            None,
            "no BOT_REGISTRY binding: add it and its migration from this release's wrangler.toml",
        ));
    };
    let stub = namespace.id_from_name(REGISTRY_INSTANCE)?.get_stub()?;
    let mut url = worker::Url::parse("https://registry.internal/")?;
    if let Some(name) = name {
        url.query_pairs_mut().append_pair("name", name);
    }
    let mut init = RequestInit::new();
    init.with_method(method);
    stub.fetch_with_request(Request::new_with_init(url.as_str(), &init)?)
        .await
}
