//! The hub's tables, created and upgraded by versioned migrations at every start.
//!
//! Like the terminal's journal (`journal/schema.rs`) the list is append-only: a migration
//! once released is never edited, a change is a new one. `hub_schema` records each applied
//! version; each migration runs in one transaction with its version row, so a crash leaves
//! the database at the previous version or the next, never between. Two hubs starting at
//! once serialise on a PostgreSQL advisory lock, so the second finds the work done.
//!
//! Room is left for what comes later (journal replication, chain views, Entry Code): their
//! tables arrive as further migrations and reference `hub_terminals(id)`.

use deadpool_postgres::Pool;

use super::HubError;

/// The advisory-lock key the migrations hold ("alipayhub" in ASCII, cut to 8 bytes).
const MIGRATION_LOCK: i64 = 0x616c_6970_6179_6875;

/// Version 1: enrolled terminals and the notifications Alipay posted.
///
/// - `hub_terminals`: the token's SHA-256 only; `tag` is `request_ids::terminal_tag` of the
///   name, unique among terminals not revoked (it routes notifications).
/// - `hub_notifications`: the raw notification as it arrived (path, the headers the
///   signature covers, the body's exact bytes), `identity` for de-duplication, `route_tag`
///   (the tag in its `paymentRequestId`, `NULL` when it names no terminal of ours), and the
///   delivery: when it was first handed to a terminal's connection and when, by whom and
///   how it was acknowledged.
const MIGRATION_HUB_FOUNDATION: &str = "
CREATE TABLE hub_terminals (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    tag TEXT NOT NULL CHECK (length(tag) BETWEEN 1 AND 16),
    token_sha256 BYTEA NOT NULL CHECK (length(token_sha256) = 32),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX hub_terminals_active_tag ON hub_terminals (tag) WHERE revoked_at IS NULL;

CREATE TABLE hub_notifications (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('notifyPayment', 'notifyRegistrationStatus')),
    identity TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    headers JSONB NOT NULL,
    body BYTEA NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    resends INTEGER NOT NULL DEFAULT 0,
    route_tag TEXT,
    delivered_at TIMESTAMPTZ,
    delivered_to BIGINT REFERENCES hub_terminals (id),
    acknowledged_at TIMESTAMPTZ,
    acknowledged_by BIGINT REFERENCES hub_terminals (id),
    ack_outcome TEXT CHECK (ack_outcome IN ('recorded', 'rejected')),
    ack_reason TEXT,
    CHECK ((acknowledged_at IS NULL) = (ack_outcome IS NULL))
);
CREATE INDEX hub_notifications_waiting ON hub_notifications (route_tag, id)
    WHERE acknowledged_at IS NULL;
";

/// Journal replication (issue 13 §3): every terminal's append-only events and the payment
/// and refund rows they touch, the chain's copy of the terminals' journals.
///
/// - `hub_replication_cursors`: per terminal (its hub name, from its token), the last event
///   `seq` committed and the store (`store.reference_store_id` of its journal) it files
///   under. The truth a terminal resumes shipping from.
/// - `hub_events`: keyed by (terminal, seq), append-only like the journal's own log
///   (triggers refuse UPDATE and DELETE), so a resent batch inserts nothing.
/// - `hub_payments`, `hub_refunds`: the newest copy of each row, keyed by (terminal,
///   request id); a copy only replaces one with an older `updated_at`. Amounts are integer
///   minor units with their currency.
const MIGRATION_REPLICATION: &str = "
CREATE TABLE hub_replication_cursors (
    terminal TEXT PRIMARY KEY CHECK (length(terminal) BETWEEN 1 AND 64),
    store_id TEXT NOT NULL CHECK (length(store_id) BETWEEN 1 AND 64),
    last_seq BIGINT NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    batches BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE hub_events (
    terminal TEXT NOT NULL,
    seq BIGINT NOT NULL CHECK (seq > 0),
    store_id TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    actor TEXT NOT NULL,
    entity_kind TEXT NOT NULL CHECK (entity_kind IN ('payment', 'refund')),
    request_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    detail TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (terminal, seq)
);
CREATE INDEX hub_events_request ON hub_events (request_id);
CREATE FUNCTION hub_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'replicated journal events are append-only';
END;
$$;
CREATE TRIGGER hub_events_no_change BEFORE UPDATE OR DELETE ON hub_events
    FOR EACH ROW EXECUTE FUNCTION hub_events_append_only();

CREATE TABLE hub_payments (
    terminal TEXT NOT NULL,
    payment_request_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    order_ref TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor BETWEEN 1 AND 9999999999999999),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    description TEXT NOT NULL,
    operator TEXT NOT NULL,
    product TEXT NOT NULL,
    state TEXT NOT NULL,
    payment_id TEXT,
    result_code TEXT,
    result_message TEXT,
    resolution TEXT,
    paid_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    final_at TIMESTAMPTZ,
    customer_code_last4 TEXT,
    PRIMARY KEY (terminal, payment_request_id)
);
CREATE INDEX hub_payments_request ON hub_payments (payment_request_id);
CREATE INDEX hub_payments_store_created ON hub_payments (store_id, created_at);
CREATE INDEX hub_payments_paid ON hub_payments (paid_at) WHERE paid_at IS NOT NULL;

CREATE TABLE hub_refunds (
    terminal TEXT NOT NULL,
    refund_request_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    payment_request_id TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor BETWEEN 1 AND 9999999999999999),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    reason TEXT NOT NULL,
    manager TEXT NOT NULL,
    state TEXT NOT NULL,
    refund_id TEXT,
    result_code TEXT,
    result_message TEXT,
    resolution TEXT,
    refunded_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    final_at TIMESTAMPTZ,
    PRIMARY KEY (terminal, refund_request_id)
);
CREATE INDEX hub_refunds_payment ON hub_refunds (payment_request_id);
CREATE INDEX hub_refunds_refunded ON hub_refunds (refunded_at) WHERE refunded_at IS NOT NULL;
";

/// Refunds at any counter (issue 13 §3): before a terminal with a hub sends `refund`, the
/// hub reserves the amount against the replicated payment, in one transaction that locks
/// the payment's row, so two counters cannot both refund the last of it.
///
/// - `hub_refund_reservations`: one row per `refundRequestId` (the refunding terminal's
///   id), `reserved` until the terminal says it never journaled the refund (`released`).
///   Once the refund itself is replicated (`hub_refunds`), its replicated state decides
///   whether it still counts (a failed refund frees its amount).
const MIGRATION_REPLICATION_REFUND_RESERVATIONS: &str = "
CREATE TABLE hub_refund_reservations (
    refund_request_id TEXT PRIMARY KEY,
    terminal TEXT NOT NULL,
    payment_request_id TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor BETWEEN 1 AND 9999999999999999),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    state TEXT NOT NULL DEFAULT 'reserved' CHECK (state IN ('reserved', 'released')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    released_at TIMESTAMPTZ,
    CHECK ((state = 'released') = (released_at IS NOT NULL))
);
CREATE INDEX hub_refund_reservations_payment ON hub_refund_reservations (payment_request_id);
";

/// Entry Code, hosted by the hub (README, "Entry Code").
///
/// - `hub_entry_counters`: each counter (an enrolled terminal) that takes Entry Code
///   payments: its store's ids as the terminal sent them, its currency, whether a customer may
///   type the amount, and the order the cashier entered (`order_version` grows with each
///   push, so a page shown for an old order cannot pay the new one).
/// - `hub_entry_payments`: the hub's journal of Entry Code payments. A row is committed in
///   state `sending` **before** `pay` goes out; `awaiting` once Alipay answered with the
///   wallet's redirect; `unknown` when the answer was lost, `U` or a 5xx; then one of the
///   final `success`, `failed`, `cancelled`. `reported_at` is when the counter's terminal
///   acknowledged the result. One live payment per counter order: a second customer tap on
///   the same order is sent to the same redirect instead of paying twice.
const MIGRATION_ENTRY_CODE: &str = "
CREATE TABLE hub_entry_counters (
    store_id TEXT NOT NULL CHECK (length(store_id) BETWEEN 1 AND 64),
    counter TEXT NOT NULL CHECK (length(counter) BETWEEN 1 AND 64),
    terminal_id BIGINT NOT NULL REFERENCES hub_terminals (id),
    store_name TEXT NOT NULL,
    store_mcc TEXT NOT NULL,
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    open_amount BOOLEAN NOT NULL,
    order_version BIGINT NOT NULL DEFAULT 0,
    order_amount BIGINT CHECK (order_amount > 0),
    order_description TEXT,
    order_reference TEXT,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, counter)
);

CREATE TABLE hub_entry_payments (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_request_id TEXT NOT NULL UNIQUE CHECK (length(payment_request_id) <= 64),
    store_id TEXT NOT NULL,
    counter TEXT NOT NULL,
    terminal_id BIGINT NOT NULL REFERENCES hub_terminals (id),
    order_version BIGINT,
    order_reference TEXT,
    description TEXT NOT NULL,
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    amount BIGINT NOT NULL CHECK (amount > 0),
    user_agent TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN
        ('sending', 'awaiting', 'unknown', 'success', 'failed', 'cancelled')),
    result_code TEXT,
    result_message TEXT,
    payment_id TEXT,
    redirect_url TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deadline TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ,
    reported_at TIMESTAMPTZ,
    CHECK ((finished_at IS NULL) = (state IN ('sending', 'awaiting', 'unknown')))
);
CREATE INDEX hub_entry_payments_open ON hub_entry_payments (id)
    WHERE state IN ('sending', 'awaiting', 'unknown');
CREATE INDEX hub_entry_payments_unreported ON hub_entry_payments (terminal_id, id)
    WHERE finished_at IS NOT NULL AND reported_at IS NULL;
CREATE UNIQUE INDEX hub_entry_payments_one_per_order
    ON hub_entry_payments (store_id, counter, order_version)
    WHERE order_version IS NOT NULL AND state IN ('sending', 'awaiting', 'unknown', 'success');
";

/// Every migration, in order; index + 1 is the version it brings the database to.
pub const MIGRATIONS: &[&str] = &[
    MIGRATION_HUB_FOUNDATION,
    MIGRATION_REPLICATION,
    MIGRATION_REPLICATION_REFUND_RESERVATIONS,
    MIGRATION_ENTRY_CODE,
];

/// The version a fully migrated hub database has.
pub fn latest_version() -> i32 {
    i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX)
}

/// What [`migrate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    pub from: i32,
    pub to: i32,
}

/// Brings the database to [`latest_version`]; a no-op when it is there already.
pub async fn migrate(pool: &Pool) -> Result<Migrated, HubError> {
    let mut client = pool.get().await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = migrate_locked(&mut client).await;
    // Released on every path; a connection that died released it already.
    if let Err(error) = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
    {
        tracing::warn!(error = %super::db::describe(&error), "could not release the migration lock");
    }
    result
}

async fn migrate_locked(client: &mut deadpool_postgres::Client) -> Result<Migrated, HubError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS hub_schema (
                 version INTEGER PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await?;
    let row = client
        .query_one("SELECT COALESCE(MAX(version), 0) FROM hub_schema", &[])
        .await?;
    let from: i32 = row.get(0);
    let known = latest_version();
    if from > known {
        return Err(HubError::SchemaTooNew { found: from, known });
    }
    for (index, migration) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(from).unwrap_or(0))
    {
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        let transaction = client.transaction().await?;
        transaction.batch_execute(migration).await?;
        transaction
            .execute("INSERT INTO hub_schema (version) VALUES ($1)", &[&version])
            .await?;
        transaction.commit().await?;
        tracing::info!(version, "hub database migrated");
    }
    Ok(Migrated { from, to: known })
}
