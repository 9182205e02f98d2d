//! The admin API of subscriptions (issue 10): list, create, read one, replace, delete. The
//! subscription is named by `?subscription=<name>` (`?name=` picks the bot). A secret or token
//! is shown once, when created; nothing here ever answers a stored one.

use std::rc::Rc;

use serde::Serialize;
use worker::{Request, Response, Result};

use super::routes::{error, json, random_key, read_body};
use super::runtime::{now, Runtime};
use crate::api::{ApiError, SubscriptionList, SubscriptionListing};
use crate::route_table::RouteId;
use crate::subscriptions::token::TOKEN_RANDOM_BYTES;
use crate::subscriptions::{new_token, token_hash, Kind, SubscriptionCreated, SubscriptionRequest};

/// The query parameter naming the subscription.
const QUERY: &str = "subscription";

/// `?subscription=<name>`: required, never "everything".
pub(crate) fn subscription_name(req: &Request) -> std::result::Result<String, ApiError> {
    req.url()
        .ok()
        .and_then(|url| {
            url.query_pairs()
                .find(|(key, _)| key == QUERY)
                .map(|(_, value)| value.into_owned())
        })
        .filter(|name| !name.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                Some(QUERY),
                "name the subscription: ?subscription=<name> (GET /subscriptions lists them)",
            )
        })
}

/// A new pull token for the bot this object serves, from the platform's CSPRNG.
pub(crate) fn draw_token(runtime: &Runtime) -> std::result::Result<String, ApiError> {
    let mut random = [0; TOKEN_RANDOM_BYTES];
    getrandom::fill(&mut random)
        .map_err(|e| ApiError::new(503, None, format!("could not draw a random token: {e}")))?;
    let bot = runtime
        .state
        .id()
        .name()
        .unwrap_or_else(|| crate::stub::DEFAULT_NAME.to_owned());
    new_token(&bot, &random)
}

/// The listing of the subscription named `name`, `default` included.
fn listing(runtime: &Runtime, name: &str) -> std::result::Result<SubscriptionListing, ApiError> {
    runtime
        .subscription_listings()
        .map_err(|e| ApiError::new(503, None, format!("storage failed: {e}")))?
        .into_iter()
        .find(|l| l.subscription.name == name)
        .ok_or_else(|| {
            ApiError::new(
                404,
                Some(QUERY),
                format!("no subscription named {name:?}: GET /subscriptions lists them"),
            )
        })
}

/// An answer as JSON.
fn value<T: Serialize>(answer: &T) -> std::result::Result<serde_json::Value, ApiError> {
    serde_json::to_value(answer).map_err(|e| ApiError::new(500, None, e.to_string()))
}

async fn answer(
    runtime: &Rc<Runtime>,
    id: RouteId,
    req: &Request,
) -> std::result::Result<(u16, serde_json::Value), ApiError> {
    match id {
        RouteId::ListSubscriptions => {
            let subscriptions = runtime
                .subscription_listings()
                .map_err(|e| ApiError::new(503, None, format!("storage failed: {e}")))?;
            Ok((200, value(&SubscriptionList { subscriptions })?))
        }
        RouteId::GetSubscription => Ok((200, value(&listing(runtime, &subscription_name(req)?)?)?)),
        RouteId::CreateSubscription | RouteId::ReplaceSubscription => {
            let replacing = match id {
                RouteId::ReplaceSubscription => Some(subscription_name(req)?),
                _ => None,
            };
            let mut request = SubscriptionRequest::from_json(&read_body(req).await?)?;
            if let Some(name) = &replacing {
                // `default` or an unknown name: say so before reading the body's rules.
                runtime.subscriptions.named(name)?;
                request = request.named(name)?;
            }
            let webhook_secret = request.generate_secret_if_asked(random_key)?;
            let spec = request.validate(runtime.insecure_webhooks)?;
            let subscription = spec.view();
            if replacing.is_some() {
                runtime.subscriptions.replace(&runtime.store, spec)?;
                let created = SubscriptionCreated {
                    subscription,
                    webhook_secret,
                    token: None,
                };
                return Ok((200, value(&created)?));
            }
            let token = match spec.kind {
                Kind::Pull => Some(draw_token(runtime)?),
                Kind::Push(_) => None,
            };
            let hash = token.as_deref().map(token_hash);
            runtime
                .subscriptions
                .create(&runtime.store, spec, hash.as_deref(), now())?;
            let created = SubscriptionCreated {
                subscription,
                webhook_secret,
                token,
            };
            Ok((201, value(&created)?))
        }
        RouteId::DeleteSubscription => {
            let name = subscription_name(req)?;
            runtime.delete_subscription(&name)?;
            Ok((
                200,
                value(&crate::api::SubscriptionDeleted { deleted: name })?,
            ))
        }
        _ => Err(ApiError::new(404, None, "not a subscription route")),
    }
}

/// Answers one of the subscription routes.
pub async fn handle(runtime: &Rc<Runtime>, id: RouteId, req: Request) -> Result<Response> {
    match answer(runtime, id, &req).await {
        Ok((status, body)) => json(status, &body),
        Err(e) => error(&e),
    }
}
