//! The Entry Code endpoints.
//!
//! Public (the customer's wallet), behind a per-IP rate limit (`tower_governor`, keyed by
//! the peer address), a body-size limit, a timeout and a concurrency limit:
//! - `GET /entry/{store}` and `/entry/{store}/{counter}`: the order page (a store with one
//!   counter shows it directly; with several, a list);
//! - `POST` to the same paths: the form; the hub pays, then answers `303 See Other` to
//!   Alipay's `redirectActionForm.redirectUrl`.
//!
//! Terminals (bearer token):
//! - `PUT /hub/v1/entry-order`: the counter's store, currency and pending order;
//! - `POST /hub/v1/entry-code/results/{id}/ack`: the terminal recorded a result.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use tower::limit::ConcurrencyLimitLayer;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::super::HubError;
use super::super::terminals::{self, Authenticated, Refusal};
use super::super::wire::{self, EntryCounter, Refused};
use super::EntryCodeHub;
use super::page::{self, Notice};
use super::resolver::{self, Started};
use super::store::{self, CounterRow};
use crate::locale::Locale;
use crate::money::{Currency, Money};

/// The page's form is two short fields; anything larger is not ours.
pub const MAX_PAGE_BODY_BYTES: usize = 4 * 1024;
/// A page request, `pay` included (the AMS client's own timeout is shorter), ends within
/// this.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(40);
/// Page requests handled at once; more wait their turn.
pub const PAGE_CONCURRENCY: usize = 64;
/// A terminal's order is a few hundred bytes.
pub const MAX_ORDER_BODY_BYTES: usize = 16 * 1024;

/// The in-app browsers that can pay: Alipay's own (`AlipayClient`, which AlipayHK's also
/// carries) and AlipayHK's (`AlipayHK`). Anything else gets the "open it in Alipay" page.
pub const SUPPORTED_WALLETS: [&str; 2] = ["AlipayClient", "AlipayHK"];

/// Whether `user_agent` is a wallet browser that can pay.
pub fn is_supported_wallet(user_agent: Option<&str>) -> bool {
    user_agent.is_some_and(|ua| SUPPORTED_WALLETS.iter().any(|marker| ua.contains(marker)))
}

/// The endpoints, with their layers.
pub fn router(hub: Arc<EntryCodeHub>) -> axum::Router {
    let limit = hub.settings.rate_limit;
    let mut governor = GovernorConfigBuilder::default();
    governor
        .period(limit.replenish)
        .burst_size(limit.burst.max(1));
    let public = axum::Router::new()
        .route("/entry/{store}", get(store_page).post(store_post))
        .route(
            "/entry/{store}/{counter}",
            get(counter_page).post(counter_post),
        )
        .layer(
            tower::ServiceBuilder::new()
                .layer(ConcurrencyLimitLayer::new(PAGE_CONCURRENCY))
                .layer(RequestBodyLimitLayer::new(MAX_PAGE_BODY_BYTES))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    PAGE_TIMEOUT,
                )),
        );
    let public = match governor.finish() {
        Some(config) => {
            public.layer(GovernorLayer::new(Arc::new(config)).error_handler(too_many_requests))
        }
        None => {
            tracing::error!("the Entry Code page's rate limit is not valid; the page is off");
            axum::Router::new()
        }
    };
    let terminals = axum::Router::new()
        .route(wire::ENTRY_ORDER_PATH, put(put_order))
        .route("/hub/v1/entry-code/results/{id}/ack", post(ack_result))
        .layer(RequestBodyLimitLayer::new(MAX_ORDER_BODY_BYTES));
    public.merge(terminals).with_state(hub)
}

/// 429, in both languages (the rejection comes before the request's language is read),
/// with the limiter's `Retry-After`.
fn too_many_requests(error: tower_governor::GovernorError) -> Response<Body> {
    let (status, wait) = match &error {
        tower_governor::GovernorError::TooManyRequests { wait_time, .. } => {
            (StatusCode::TOO_MANY_REQUESTS, Some(*wait_time))
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, None),
    };
    let body = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>429</title></head><body>\
         <p id=\"status\" data-status=\"{}\">{}</p><p lang=\"zh-CN\">{}</p></body></html>\n",
        Notice::TooMany.code(),
        Notice::TooMany.text(Locale::English),
        Notice::TooMany.text(Locale::SimplifiedChinese),
    );
    let mut response = (status, Html(body)).into_response();
    if let Some(wait) = wait
        && let Ok(value) = HeaderValue::from_str(&wait.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[derive(Debug, Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

fn locale(query: &LangQuery, headers: &HeaderMap) -> Locale {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    page::locale_of(query.lang.as_deref(), accept)
}

fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, Html(body)).into_response();
    // The page shows a live order: never from a cache.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn notice(locale: Locale, path: &str, status: StatusCode, notice: Notice) -> Response {
    html(status, page::notice_page(locale, path, notice))
}

/// A store or counter id as it may appear in a URL: 1-64 characters, none of them a
/// control character.
fn plausible(id: &str) -> bool {
    (1..=64).contains(&id.chars().count()) && !id.chars().any(char::is_control)
}

fn store_path(store_id: &str) -> String {
    format!("/entry/{}", page::url_segment(store_id))
}

fn counter_path(store_id: &str, counter: &str) -> String {
    format!(
        "/entry/{}/{}",
        page::url_segment(store_id),
        page::url_segment(counter)
    )
}

/// Which counter `/entry/{store}` means: the only one, or a list to choose from.
enum StoreTarget {
    One(CounterRow),
    Choose(Vec<String>, String),
    Unknown,
}

async fn store_target(hub: &EntryCodeHub, store_id: &str) -> Result<StoreTarget, Response> {
    if !plausible(store_id) {
        return Ok(StoreTarget::Unknown);
    }
    let counters = store::counters_of(&hub.pool, store_id)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "cannot read a store's counters");
            notice(
                Locale::English,
                &store_path(store_id),
                StatusCode::SERVICE_UNAVAILABLE,
                Notice::Busy,
            )
        })?;
    match counters.as_slice() {
        [] => Ok(StoreTarget::Unknown),
        [(only, _)] => match store::counter(&hub.pool, store_id, only).await {
            Ok(Some(row)) => Ok(StoreTarget::One(row)),
            Ok(None) => Ok(StoreTarget::Unknown),
            Err(_) => Err(notice(
                Locale::English,
                &store_path(store_id),
                StatusCode::SERVICE_UNAVAILABLE,
                Notice::Busy,
            )),
        },
        many => Ok(StoreTarget::Choose(
            many.iter().map(|(c, _)| c.clone()).collect(),
            many[0].1.clone(),
        )),
    }
}

async fn store_page(
    State(hub): State<Arc<EntryCodeHub>>,
    Path(store_id): Path<String>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let locale = locale(&query, &headers);
    let path = store_path(&store_id);
    match store_target(&hub, &store_id).await {
        Err(response) => response,
        Ok(StoreTarget::Unknown) => {
            notice(locale, &path, StatusCode::NOT_FOUND, Notice::UnknownStore)
        }
        Ok(StoreTarget::Choose(counters, name)) => html(
            StatusCode::OK,
            page::store_page(locale, &path, &name, &counters),
        ),
        Ok(StoreTarget::One(counter)) => show(locale, &path, &headers, &counter),
    }
}

async fn store_post(
    State(hub): State<Arc<EntryCodeHub>>,
    Path(store_id): Path<String>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let locale = locale(&query, &headers);
    let path = store_path(&store_id);
    match store_target(&hub, &store_id).await {
        Err(response) => response,
        Ok(StoreTarget::Unknown) => {
            notice(locale, &path, StatusCode::NOT_FOUND, Notice::UnknownStore)
        }
        Ok(StoreTarget::Choose(counters, name)) => html(
            StatusCode::CONFLICT,
            page::store_page(locale, &path, &name, &counters),
        ),
        Ok(StoreTarget::One(counter)) => pay(&hub, locale, &path, &headers, counter, &body).await,
    }
}

async fn find_counter(
    hub: &EntryCodeHub,
    locale: Locale,
    store_id: &str,
    counter: &str,
) -> Result<CounterRow, Response> {
    let path = counter_path(store_id, counter);
    if !plausible(store_id) || !plausible(counter) {
        return Err(notice(
            locale,
            &path,
            StatusCode::NOT_FOUND,
            Notice::UnknownStore,
        ));
    }
    match store::counter(&hub.pool, store_id, counter).await {
        Ok(Some(row)) => Ok(row),
        Ok(None) => {
            let known_store = store::counters_of(&hub.pool, store_id)
                .await
                .is_ok_and(|counters| !counters.is_empty());
            let which = if known_store {
                Notice::UnknownCounter
            } else {
                Notice::UnknownStore
            };
            Err(notice(locale, &path, StatusCode::NOT_FOUND, which))
        }
        Err(error) => {
            tracing::warn!(%error, "cannot read a counter");
            Err(notice(
                locale,
                &path,
                StatusCode::SERVICE_UNAVAILABLE,
                Notice::Busy,
            ))
        }
    }
}

async fn counter_page(
    State(hub): State<Arc<EntryCodeHub>>,
    Path((store_id, counter)): Path<(String, String)>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let locale = locale(&query, &headers);
    match find_counter(&hub, locale, &store_id, &counter).await {
        Ok(row) => show(locale, &counter_path(&store_id, &counter), &headers, &row),
        Err(response) => response,
    }
}

async fn counter_post(
    State(hub): State<Arc<EntryCodeHub>>,
    Path((store_id, counter)): Path<(String, String)>,
    Query(query): Query<LangQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let locale = locale(&query, &headers);
    match find_counter(&hub, locale, &store_id, &counter).await {
        Ok(row) => {
            pay(
                &hub,
                locale,
                &counter_path(&store_id, &counter),
                &headers,
                row,
                &body,
            )
            .await
        }
        Err(response) => response,
    }
}

fn show(locale: Locale, path: &str, headers: &HeaderMap, counter: &CounterRow) -> Response {
    if !is_supported_wallet(user_agent(headers)) {
        return notice(
            locale,
            path,
            StatusCode::FORBIDDEN,
            Notice::UnsupportedWallet,
        );
    }
    html(
        StatusCode::OK,
        page::counter_page(locale, path, counter, None),
    )
}

/// The amount-format refusal in the customer's language.
fn amount_error(locale: Locale, error: &crate::money::MoneyError) -> String {
    match locale {
        Locale::English => {
            let text = error.to_string();
            let mut chars = text.chars();
            chars.next().map_or(text.clone(), |first| {
                format!("{}{}", first.to_uppercase(), chars.as_str())
            })
        }
        Locale::SimplifiedChinese => "金额无效：请只输入数字和最多一个小数点，不要带符号或千位分隔符（例如 12.50），且金额须大于零。".to_owned(),
    }
}

/// `POST`: checks the wallet and the form, then pays. Nothing is sent for a bad request.
async fn pay(
    hub: &Arc<EntryCodeHub>,
    locale: Locale,
    path: &str,
    headers: &HeaderMap,
    counter: CounterRow,
    body: &[u8],
) -> Response {
    let Some(agent) = user_agent(headers).filter(|ua| is_supported_wallet(Some(ua))) else {
        return notice(
            locale,
            path,
            StatusCode::FORBIDDEN,
            Notice::UnsupportedWallet,
        );
    };
    let mut order_field = None;
    let mut amount_field = None;
    for (name, value) in url::form_urlencoded::parse(body) {
        match name.as_ref() {
            "order" => order_field = Some(value.into_owned()),
            "amount" => amount_field = Some(value.into_owned()),
            _ => {}
        }
    }
    let refuse = |status: StatusCode, message: &str| {
        html(
            status,
            page::counter_page(locale, path, &counter, Some(message)),
        )
    };
    let (amount, order_version, description) =
        match (counter.order_amount, order_field, amount_field) {
            (Some(amount), Some(version), _) => {
                if version.trim() != counter.order_version.to_string() {
                    return refuse(StatusCode::CONFLICT, Notice::OrderChanged.text(locale));
                }
                (
                    amount,
                    Some(counter.order_version),
                    counter
                        .order_description
                        .clone()
                        .filter(|d| !d.trim().is_empty())
                        .unwrap_or_else(|| counter.store_name.clone()),
                )
            }
            (Some(_), None, _) => {
                return refuse(StatusCode::CONFLICT, Notice::OrderChanged.text(locale));
            }
            (None, _, Some(text)) if counter.open_amount => {
                let currency = match Currency::from_code(&counter.currency) {
                    Ok(currency) => currency,
                    Err(_) => {
                        return notice(
                            locale,
                            path,
                            StatusCode::SERVICE_UNAVAILABLE,
                            Notice::NotSetUp,
                        );
                    }
                };
                match Money::parse(&text, currency) {
                    Ok(money) => (money.minor(), None, counter.store_name.clone()),
                    Err(error) => {
                        return refuse(StatusCode::BAD_REQUEST, &amount_error(locale, &error));
                    }
                }
            }
            (None, Some(_), _) => {
                return refuse(StatusCode::CONFLICT, Notice::OrderChanged.text(locale));
            }
            (None, None, _) if counter.open_amount => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    &amount_error(locale, &crate::money::MoneyError::Empty),
                );
            }
            (None, _, _) => return refuse(StatusCode::CONFLICT, Notice::OrderChanged.text(locale)),
        };
    // On a task of its own: a customer who closes the page, or the page's timeout, drops
    // this handler, and the payment must still be sent (or not) and then followed, never
    // left half-way until the next restart.
    let paying = tokio::spawn(resolver::start(
        hub.clone(),
        counter,
        order_version,
        amount,
        description,
        agent.to_owned(),
    ));
    let started = match paying.await {
        Ok(started) => started,
        Err(error) => Err(HubError::Database(format!(
            "the payment task failed: {error}"
        ))),
    };
    match started {
        Ok(Started::Redirect(url)) => match HeaderValue::from_str(&url) {
            Ok(location) => {
                let mut response = StatusCode::SEE_OTHER.into_response();
                response.headers_mut().insert(header::LOCATION, location);
                response
            }
            Err(_) => notice(locale, path, StatusCode::ACCEPTED, Notice::Unknown),
        },
        Ok(Started::Refused { code, .. }) => {
            tracing::info!(code, "Entry Code payment refused by Alipay");
            notice(locale, path, StatusCode::OK, Notice::Refused)
        }
        Ok(Started::Unknown) => notice(locale, path, StatusCode::ACCEPTED, Notice::Unknown),
        Ok(Started::AlreadyPaid) => notice(locale, path, StatusCode::CONFLICT, Notice::AlreadyPaid),
        Err(error) => {
            tracing::warn!(%error, "cannot start an Entry Code payment");
            notice(locale, path, StatusCode::SERVICE_UNAVAILABLE, Notice::Busy)
        }
    }
}

fn refused(status: StatusCode, error: String) -> Response {
    (status, axum::Json(Refused { error })).into_response()
}

async fn terminal(hub: &EntryCodeHub, headers: &HeaderMap) -> Result<Authenticated, Response> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    terminals::authenticate(&hub.pool, authorization)
        .await
        .map_err(|refusal| {
            let status = match &refusal {
                Refusal::Missing | Refusal::Unknown => StatusCode::UNAUTHORIZED,
                Refusal::Revoked { .. } => StatusCode::FORBIDDEN,
                Refusal::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            refused(status, refusal.message())
        })
}

/// `PUT /hub/v1/entry-order`.
async fn put_order(
    State(hub): State<Arc<EntryCodeHub>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let terminal = match terminal(&hub, &headers).await {
        Ok(terminal) => terminal,
        Err(response) => return response,
    };
    let counter: EntryCounter = match serde_json::from_slice(&body) {
        Ok(counter) => counter,
        Err(error) => {
            return refused(
                StatusCode::BAD_REQUEST,
                format!(
                    "the body is not an entry order ({{\"store\": {{\"referenceStoreId\", \
                     \"storeName\", \"storeMCC\"}}, \"currency\", \"openAmount\", \"order\": \
                     {{\"amountMinor\", \"description\"}} or null}}): {error}"
                ),
            );
        }
    };
    if let Err(problem) = check_counter(&counter) {
        return refused(StatusCode::BAD_REQUEST, problem);
    }
    match store::upsert_counter(&hub.pool, &terminal, &counter).await {
        Ok(version) => {
            tracing::info!(terminal = %terminal.name, store = %counter.store.reference_store_id, version, "entry order updated");
            (
                StatusCode::OK,
                axum::Json(serde_json::json!({
                    "store": counter.store.reference_store_id,
                    "counter": terminal.name,
                    "orderVersion": version,
                })),
            )
                .into_response()
        }
        Err(error) => refused(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{error}; the terminal retries"),
        ),
    }
}

/// The refusal of a bad entry order, naming the field.
fn check_counter(counter: &EntryCounter) -> Result<(), String> {
    let store = &counter.store;
    if !plausible(&store.reference_store_id)
        || !store
            .reference_store_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(
            "`store.referenceStoreId` must be 1-64 ASCII letters, digits, `-` or `_`".into(),
        );
    }
    if store.store_name.trim().is_empty() || store.store_name.chars().count() > 128 {
        return Err("`store.storeName` must be 1-128 characters".into());
    }
    if store.store_mcc.len() != 4 || !store.store_mcc.bytes().all(|b| b.is_ascii_digit()) {
        return Err("`store.storeMCC` must be four digits".into());
    }
    let currency =
        Currency::from_code(&counter.currency).map_err(|e| format!("`currency`: {e}"))?;
    if let Some(order) = &counter.order {
        Money::from_minor(order.amount_minor, currency)
            .map_err(|e| format!("`order.amountMinor`: {e}"))?;
        if order.description.chars().count() > 256 {
            return Err("`order.description` must be at most 256 characters".into());
        }
        if order
            .reference
            .as_ref()
            .is_some_and(|r| r.chars().count() > 64)
        {
            return Err("`order.reference` must be at most 64 characters".into());
        }
    }
    Ok(())
}

/// `POST /hub/v1/entry-code/results/{id}/ack`.
async fn ack_result(
    State(hub): State<Arc<EntryCodeHub>>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Response {
    let terminal = match terminal(&hub, &headers).await {
        Ok(terminal) => terminal,
        Err(response) => return response,
    };
    match store::mark_reported(&hub.pool, id, terminal.id).await {
        Ok(true) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "acknowledged": id })),
        )
            .into_response(),
        Ok(false) => refused(
            StatusCode::NOT_FOUND,
            format!(
                "no finished Entry Code payment {id} belongs to terminal `{}`",
                terminal.name
            ),
        ),
        Err(error) => refused(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{error}; the terminal retries"),
        ),
    }
}
