//! Many terminals replicating their journals through one store hub into PostgreSQL
//! (`cargo bench --features test-support --bench hub_replication`, issue 13 §6).
//!
//! The bench starts a throw-away PostgreSQL 15 cluster (the integration tests' own support
//! code, `tests/it/support/postgres.rs`), migrates it, starts a real hub on loopback
//! (in-process `hub::server::start`), enrols every terminal (`hub::terminals::add`, so each
//! has its own token and tag) and runs them all at once on tokio. Each simulated terminal:
//! - *generates* its payments at a steady rate: payment `i` is three journal events
//!   (`created`, `created → awaiting_customer`, `awaiting_customer → paid`), each due at its
//!   own moment, so the load on the hub is steady rather than one burst;
//! - *ships* like the real shipper (`hub_link::shipper`): ask the cursor once, then post a
//!   [`ShipBatch`] of up to [`shipper::BATCH_EVENTS`] events after the cursor, with the
//!   payment rows those events touched as they stand after the batch's last event; right
//!   after a shipped batch it ships again, and when nothing is new it sleeps
//!   [`shipper::SHIP_INTERVAL`]. The real shipper reads a SQLite journal; here the source is
//!   synthetic (one SQLite journal per simulated terminal would measure 200 SQLite files on
//!   2 cores, not the hub), and the wire and batching are the same.
//!
//! Replication lag is, per event, the time from the moment it was due (generated) to the
//! moment its terminal read the hub's answer to the batch that carried it: committed at the
//! hub, as the terminal sees it. A failed post is retried (counted) like the shipper does.
//!
//! At the end the bench checks the hub has every event and payment exactly once, per
//! terminal, and every cursor at the terminal's last event: a figure from a run that lost
//! or doubled data would be worthless, so the bench panics instead.
//!
//! Scale (environment): `SIM_TERMINALS` (200), `SIM_PAYMENTS` per terminal (1,000),
//! `SIM_RATE` payments per second per terminal (4: 200 × 4 × 3 = 2,400 events/s offered,
//! above the 2,000 events/s goal; `0` makes every event due at the start, which
//! measures how fast the hub drains a backlog).

#[path = "../tests/it/support/postgres.rs"]
#[allow(dead_code)]
mod postgres;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alipay_pos::config::{DatabaseUrl, SANDBOX_CLIENT_ID};
use alipay_pos::hub::wire::{
    REPLICATION_BATCH_PATH, REPLICATION_CURSOR_PATH, ReplicationCursor, ShipBatch,
    ShippedEventWire, ShippedPayment,
};
use alipay_pos::hub::{self, HubSettings};
use alipay_pos::hub_link::shipper;
use alipay_pos::testing::{self, percentile};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Journal events per simulated payment.
const EVENTS_PER_PAYMENT: u64 = 3;
/// The store every simulated terminal belongs to is one of this many (as a chain would).
const STORES: usize = 20;
/// How long to wait for the shipper's first retry after a failed post.
const RETRY_AFTER: Duration = Duration::from_millis(250);

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: `{text}` is not a whole number")),
        Err(_) => default,
    }
}

/// One simulated terminal's identity at the hub.
struct SimTerminal {
    name: String,
    tag: String,
    token: String,
    store_id: String,
}

/// What one simulated terminal measured.
#[derive(Default)]
struct Shipped {
    lags: Vec<Duration>,
    batches: u64,
}

/// The schedule of one terminal: when event `k` (0-based) is due.
#[derive(Clone, Copy)]
struct Schedule {
    start: Instant,
    /// Spreads the terminals over one interval, so they do not all wake at once.
    phase: Duration,
    /// Between two events of this terminal; zero: all due at the start.
    every: Duration,
}

impl Schedule {
    fn due(&self, k: u64) -> Instant {
        self.start + self.phase + self.every * u32::try_from(k).unwrap()
    }

    /// How many of `total` events are due at `now`.
    fn due_count(&self, now: Instant, total: u64) -> u64 {
        let first = self.start + self.phase;
        if now < first {
            return 0;
        }
        if self.every.is_zero() {
            return total;
        }
        let elapsed = now - first;
        (elapsed.as_nanos() / self.every.as_nanos() + 1).min(u128::from(total)) as u64
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap()
}

/// The request id of payment `i` of a terminal, in the shape the hub checks
/// (`P-<seconds>-<tag>-<random>`).
fn payment_id(tag: &str, i: u64) -> String {
    format!("P-1764633600-{tag}-{i:08}")
}

/// Event `k` of a terminal (seq `k + 1`) and its payment's row as it stands after it.
fn event_and_row(
    terminal: &SimTerminal,
    k: u64,
    wall: OffsetDateTime,
) -> (ShippedEventWire, ShippedPayment) {
    let payment = k / EVENTS_PER_PAYMENT;
    let step = k % EVENTS_PER_PAYMENT;
    let request_id = payment_id(&terminal.tag, payment);
    let at = rfc3339(wall);
    let (kind, from, to, detail) = match step {
        0 => ("created", None, "created", "order code payment"),
        1 => (
            "transition",
            Some("created"),
            "awaiting_customer",
            "order code shown",
        ),
        _ => (
            "transition",
            Some("awaiting_customer"),
            "paid",
            "paid (inquiry)",
        ),
    };
    let event = ShippedEventWire {
        seq: i64::try_from(k + 1).unwrap(),
        at: at.clone(),
        actor: "engine".to_owned(),
        entity: "payment".to_owned(),
        request_id: request_id.clone(),
        kind: kind.to_owned(),
        from_state: from.map(str::to_owned),
        to_state: Some(to.to_owned()),
        detail: detail.to_owned(),
    };
    let paid = step == 2;
    let row = ShippedPayment {
        payment_request_id: request_id,
        order_ref: format!("ORDER-{payment}"),
        amount_minor: 100 + (payment % 5_000),
        currency: "USD".to_owned(),
        description: "Coffee".to_owned(),
        operator: "cashier".to_owned(),
        product: "order_code".to_owned(),
        state: to.to_owned(),
        payment_id: paid.then(|| format!("2026120219{payment:012}")),
        result_code: paid.then(|| "SUCCESS".to_owned()),
        result_message: paid.then(|| "success".to_owned()),
        resolution: None,
        paid_at: paid.then(|| at.clone()),
        created_at: at.clone(),
        updated_at: at.clone(),
        final_at: paid.then(|| at.clone()),
        customer_code_last4: None,
    };
    (event, row)
}

/// The batch of events `from..to` (0-based) after cursor `from`: the events and each touched
/// payment's row as it stands after the batch's last event.
fn batch(
    terminal: &SimTerminal,
    from: u64,
    to: u64,
    schedule: &Schedule,
    wall_start: OffsetDateTime,
) -> ShipBatch {
    let mut events = Vec::with_capacity((to - from) as usize);
    let mut payments: Vec<ShippedPayment> = Vec::new();
    for k in from..to {
        // Plus k µs: each event of a terminal has its own time even when all are due at
        // once (`SIM_RATE=0`), as a journal's do. The hub keeps a row's copy only when its
        // `updated_at` is newer, so a `paid` row with the same time as the `created` copy
        // shipped in the batch before would be dropped.
        let wall = wall_start + (schedule.due(k) - schedule.start) + Duration::from_micros(k);
        let (event, row) = event_and_row(terminal, k, wall);
        events.push(event);
        match payments.last_mut() {
            Some(last) if last.payment_request_id == row.payment_request_id => *last = row,
            _ => payments.push(row),
        }
    }
    ShipBatch {
        terminal_id: terminal.name.clone(),
        store_id: terminal.store_id.clone(),
        after: i64::try_from(from).unwrap(),
        events,
        payments,
        refunds: Vec::new(),
    }
}

/// One terminal's shipping loop, until all of its `total` events are at the hub.
async fn ship_all(
    base: String,
    terminal: SimTerminal,
    total: u64,
    schedule: Schedule,
    wall_start: OffsetDateTime,
    retries: Arc<AtomicU64>,
) -> Shipped {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let cursor: ReplicationCursor = http
        .get(format!("{base}{REPLICATION_CURSOR_PATH}"))
        .bearer_auth(&terminal.token)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .bytes()
        .await
        .map(|body| serde_json::from_slice(&body).unwrap())
        .unwrap();
    assert_eq!(cursor.cursor, 0, "a fresh hub has nothing of this terminal");
    let mut shipped = Shipped {
        lags: Vec::with_capacity(total as usize),
        batches: 0,
    };
    let mut done: u64 = 0;
    while done < total {
        let due = schedule.due_count(Instant::now(), total);
        if due == done {
            tokio::time::sleep(shipper::SHIP_INTERVAL).await;
            continue;
        }
        let to = due.min(done + u64::from(shipper::BATCH_EVENTS));
        let body = serde_json::to_vec(&batch(&terminal, done, to, &schedule, wall_start)).unwrap();
        let answer = http
            .post(format!("{base}{REPLICATION_BATCH_PATH}"))
            .bearer_auth(&terminal.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let cursor = match answer {
            Ok(response) if response.status().is_success() => {
                let body = response.bytes().await.ok();
                body.and_then(|body| serde_json::from_slice::<ReplicationCursor>(&body).ok())
            }
            Ok(response) if response.status().is_client_error() => panic!(
                "the hub refused a batch of {}: {} {}",
                terminal.name,
                response.status(),
                response.text().await.unwrap_or_default()
            ),
            _ => None,
        };
        let Some(cursor) = cursor else {
            retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(RETRY_AFTER).await;
            continue;
        };
        let answered = Instant::now();
        assert_eq!(
            cursor.cursor,
            i64::try_from(to).unwrap(),
            "the hub's cursor for {} after a batch",
            terminal.name
        );
        for k in done..to {
            shipped
                .lags
                .push(answered.saturating_duration_since(schedule.due(k)));
        }
        shipped.batches += 1;
        done = to;
    }
    shipped
}

/// CPU seconds (user + system) of process `pid`, with its waited-for children's when
/// `children` (PostgreSQL's postmaster reaps its backends).
fn cpu_seconds(pid: u32, children: bool) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // After the `(comm)` field: state is field 3; utime 14, stime 15, cutime 16, cstime 17.
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // `fields[0]` is field 3, so field n is `fields[n - 3]`.
    let mut ticks = tick(11) + tick(12);
    if children {
        ticks += tick(13) + tick(14);
    }
    // USER_HZ is 100 on Linux.
    ticks / 100.0
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The postmaster of the cluster on `port`: the `postgres` process whose command line has
/// `-p <port>` (other clusters may run on the machine).
fn postmaster_on(port: u16) -> Option<u32> {
    let port = port.to_string();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let is_postgres = args.first()?.ends_with(b"/postgres");
            let on_port = args
                .windows(2)
                .any(|pair| pair[0] == b"-p" && pair[1] == port.as_bytes());
            (is_postgres && on_port).then_some(pid)
        })
}

/// CPU seconds of the cluster: the postmaster, its reaped children, and its live ones.
fn cluster_cpu_seconds(postmaster: u32) -> f64 {
    let mut total = cpu_seconds(postmaster, true);
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            if parent_of(pid) == Some(postmaster) {
                total += cpu_seconds(pid, false);
            }
        }
    }
    total
}

fn port_of(url: &str) -> u16 {
    url.rsplit_once(':')
        .and_then(|(_, tail)| tail.split('/').next())
        .and_then(|port| port.parse().ok())
        .unwrap()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let terminals = env_number("SIM_TERMINALS", 200) as usize;
    let payments = env_number("SIM_PAYMENTS", 1_000);
    let rate = env_number("SIM_RATE", 4);
    let total_per_terminal = payments * EVENTS_PER_PAYMENT;

    let cluster = postgres::Postgres::start().await;
    let database_url = cluster.fresh_database().await;
    let postmaster = postmaster_on(port_of(&database_url));
    let pool = hub::db::pool(&DatabaseUrl::parse(&database_url).unwrap()).unwrap();
    hub::schema::migrate(&pool).await.unwrap();
    let running = hub::server::start(HubSettings {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        client_id: SANDBOX_CLIENT_ID.to_owned(),
        alipay_key: testing::alipay_public_key(),
        pool: pool.clone(),
    })
    .await
    .unwrap();
    let base = format!("http://{}", running.address);

    let mut enrolled = Vec::with_capacity(terminals);
    for t in 0..terminals {
        let name = format!("till{t:04}");
        let e = hub::terminals::add(&pool, &name).await.unwrap();
        enrolled.push(SimTerminal {
            name: e.name,
            tag: e.tag,
            token: e.token.expose().to_owned(),
            store_id: format!("S{:04}", t % STORES),
        });
    }

    let every = if rate == 0 {
        Duration::ZERO
    } else {
        Duration::from_secs(1) / u32::try_from(rate * EVENTS_PER_PAYMENT).unwrap()
    };
    println!(
        "hub replication: {terminals} terminals × {payments} payments × {EVENTS_PER_PAYMENT} \
         events = {} events; offered {} (batches of at most {}, idle interval {:?})",
        terminals as u64 * total_per_terminal,
        if rate == 0 {
            "all at once (backlog)".to_owned()
        } else {
            format!(
                "{} events/s ({rate} payments/s per terminal)",
                terminals as u64 * rate * EVENTS_PER_PAYMENT
            )
        },
        shipper::BATCH_EVENTS,
        shipper::SHIP_INTERVAL
    );

    let retries = Arc::new(AtomicU64::new(0));
    let pg_cpu_before = postmaster.map(cluster_cpu_seconds);
    let own_cpu_before = cpu_seconds(std::process::id(), false);
    let start = Instant::now() + Duration::from_millis(200);
    let wall_start = OffsetDateTime::now_utc() + Duration::from_millis(200);
    let mut tasks = Vec::with_capacity(terminals);
    for (t, terminal) in enrolled.into_iter().enumerate() {
        let schedule = Schedule {
            start,
            phase: shipper::SHIP_INTERVAL * u32::try_from(t).unwrap()
                / u32::try_from(terminals).unwrap(),
            every,
        };
        tasks.push(tokio::spawn(ship_all(
            base.clone(),
            terminal,
            total_per_terminal,
            schedule,
            wall_start,
            retries.clone(),
        )));
    }
    let mut lags = Vec::with_capacity(terminals * total_per_terminal as usize);
    let mut batches = 0;
    for task in tasks {
        let shipped = task.await.unwrap();
        lags.extend(shipped.lags);
        batches += shipped.batches;
    }
    let elapsed = start.elapsed();
    let own_cpu = cpu_seconds(std::process::id(), false) - own_cpu_before;
    let pg_cpu = postmaster
        .zip(pg_cpu_before)
        .map(|(pid, before)| cluster_cpu_seconds(pid) - before);

    // Every event and payment at the hub exactly once, per terminal; every cursor at the end.
    let pg = cluster
        .connect(database_url.rsplit('/').next().unwrap())
        .await
        .unwrap();
    let expected_events = i64::try_from(total_per_terminal).unwrap();
    let expected_payments = i64::try_from(payments).unwrap();
    let rows = pg
        .query(
            "SELECT t.name,
                    (SELECT count(*) FROM hub_events e WHERE e.terminal = t.name),
                    (SELECT count(DISTINCT seq) FROM hub_events e WHERE e.terminal = t.name),
                    (SELECT coalesce(max(seq), 0) FROM hub_events e WHERE e.terminal = t.name),
                    (SELECT count(*) FROM hub_payments p
                      WHERE p.terminal = t.name AND p.state = 'paid'),
                    (SELECT last_seq FROM hub_replication_cursors c WHERE c.terminal = t.name)
               FROM hub_terminals t ORDER BY t.name",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), terminals, "every enrolled terminal");
    for row in &rows {
        let name: String = row.get(0);
        assert_eq!(
            row.get::<_, i64>(1),
            expected_events,
            "{name}: events at the hub"
        );
        assert_eq!(
            row.get::<_, i64>(2),
            expected_events,
            "{name}: distinct seqs"
        );
        assert_eq!(row.get::<_, i64>(3), expected_events, "{name}: last seq");
        assert_eq!(
            row.get::<_, i64>(4),
            expected_payments,
            "{name}: paid payments"
        );
        assert_eq!(
            row.get::<_, Option<i64>>(5),
            Some(expected_events),
            "{name}: cursor"
        );
    }
    let total_events = lags.len();
    assert_eq!(total_events as u64, terminals as u64 * total_per_terminal);

    lags.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    println!(
        "  {total_events} events and {} payments committed in {:.1} s: {:.0} events/s, {batches} \
         batches ({:.0} events per batch), {} retried posts",
        terminals as u64 * payments,
        elapsed.as_secs_f64(),
        total_events as f64 / elapsed.as_secs_f64(),
        total_events as f64 / batches.max(1) as f64,
        retries.load(Ordering::Relaxed)
    );
    println!(
        "  replication lag (due → committed, as the terminal sees the answer): p50 {:.1} ms, \
         p99 {:.1} ms, max {:.1} ms",
        ms(percentile(&lags, 50)),
        ms(percentile(&lags, 99)),
        ms(percentile(&lags, 100))
    );
    println!(
        "  CPU: bench process (hub + {terminals} simulated terminals) {own_cpu:.1} s, \
         PostgreSQL {} (wall {:.1} s, {} cores)",
        pg_cpu.map_or("unknown".to_owned(), |s| format!("{s:.1} s")),
        elapsed.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // Per batch, the CPU figures hardly move with other work on the machine, unlike the
    // wall-clock ones: they compare two runs made at different loads.
    println!(
        "  CPU per batch: bench process {:.2} ms, PostgreSQL {}",
        own_cpu * 1_000.0 / batches.max(1) as f64,
        pg_cpu.map_or("unknown".to_owned(), |s| format!(
            "{:.2} ms",
            s * 1_000.0 / batches.max(1) as f64
        ))
    );
    println!("  every event and payment at the hub exactly once, per terminal: checked");
    running.stop().await;
}
