//! Network-fault soak: many payments through the embedded sandbox while its fault injection
//! changes under them (latency, lost responses, HTTP 5xx, `U` answers, bad signatures, and a
//! gateway that goes down for a while), customers paying some codes, cashiers aborting
//! others, refunds on some paid ones. Afterwards every journal row must be final and agree
//! with the sandbox's ledger.
//!
//! `soak_quick` (100 payments) runs with every `cargo test`; the full run is
//! `cargo test --features failpoints,test-support --test it -- --ignored soak::soak_1000`. `SOAK_SEED=<n>` replays a run's
//! choices (the interleaving of course differs).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;
use alipay_pos::checkout::{Checkout, CheckoutEvent, PayStart, Policy, Recovery};
use alipay_pos::journal::{Actor, PaymentState, RefundState};
use alipay_pos::money::{Currency, Money};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

/// A small deterministic generator (xorshift64*), so a failing run can be replayed by seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The fault mixes the chaos task cycles through, by name.
fn fault_phases() -> Vec<(&'static str, Value)> {
    vec![
        ("calm", json!({})),
        ("latency", json!({ "latency_ms": 40 })),
        (
            "lost_responses",
            json!({ "drop_response_rate": 0.15, "latency_ms": 5 }),
        ),
        ("http_5xx", json!({ "http_5xx_rate": 0.2 })),
        ("unknown_U", json!({ "unknown_result_rate": 0.2 })),
        ("bad_signatures", json!({ "bad_signature_rate": 0.15 })),
        (
            "mixed",
            json!({
                "latency_ms": 10,
                "http_5xx_rate": 0.05,
                "drop_response_rate": 0.05,
                "unknown_result_rate": 0.05,
                "bad_signature_rate": 0.05,
            }),
        ),
        ("down", json!({ "down": true })),
    ]
}

#[derive(Default)]
struct Stats {
    code_ready: AtomicUsize,
    pay_failed: AtomicUsize,
    pay_unknown: AtomicUsize,
    customer_paid: AtomicUsize,
    customer_refused: AtomicUsize,
    cashier_cancels: AtomicUsize,
    walked_away: AtomicUsize,
    refunds_asked: AtomicUsize,
    refunds_refused_locally: AtomicUsize,
    /// Anything the engine answered with an error: must stay empty.
    errors: Mutex<Vec<String>>,
}

impl Stats {
    fn error(&self, what: String) {
        self.errors.lock().unwrap().push(what);
    }
}

fn add(counter: &AtomicUsize) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn amount(rng: &mut Rng) -> Money {
    // A few magic amounts among ordinary ones (src/sandbox/payments.rs `magic`).
    let minor = match rng.below(100) {
        0 => 9901,
        1 => 9903,
        2 => 9905,
        3 => 9906,
        4 if rng.chance(25) => 9902,
        5 if rng.chance(25) => 9904,
        _ => 100 + rng.below(4_900),
    };
    Money::from_minor(minor, Currency::USD).unwrap()
}

/// One customer at the till: start, then pay / abort / walk away, maybe a refund.
async fn one_payment(checkout: Checkout, control: Control, seed: u64, index: usize, stats: &Stats) {
    let mut rng = Rng::new(seed ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let started = checkout
        .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            amount(&mut rng),
            format!("soak #{index}"),
            Actor::Cashier,
        ))
        .await;
    let (record, start) = match started {
        Ok(started) => started,
        Err(error) => return stats.error(format!("#{index} start_payment: {error}")),
    };
    let id = record.payment_request_id.clone();
    match &start {
        PayStart::CodeReady { code_value, .. } => {
            add(&stats.code_ready);
            let think = Duration::from_millis(rng.below(300));
            match rng.below(100) {
                // The customer pays.
                0..55 => {
                    tokio::time::sleep(think).await;
                    customer_pays(&control, code_value, stats).await;
                }
                // The cashier aborts.
                55..80 => {
                    tokio::time::sleep(think).await;
                    add(&stats.cashier_cancels);
                    if let Err(error) = checkout.cancel(&id, Actor::Cashier, "soak abort").await {
                        stats.error(format!("#{index} cancel {id}: {error}"));
                    }
                }
                // Both at once: whoever wins, the journal must agree with Alipay.
                80..90 => {
                    tokio::time::sleep(think).await;
                    add(&stats.cashier_cancels);
                    let (_, cancelled) = tokio::join!(
                        customer_pays(&control, code_value, stats),
                        checkout.cancel(&id, Actor::Cashier, "soak race")
                    );
                    if let Err(error) = cancelled {
                        stats.error(format!("#{index} racing cancel {id}: {error}"));
                    }
                }
                // The customer walks away; the code expires.
                _ => add(&stats.walked_away),
            }
        }
        PayStart::Failed { .. } => add(&stats.pay_failed),
        PayStart::Unknown => add(&stats.pay_unknown),
        PayStart::Paid | PayStart::AwaitingCustomer => {
            panic!(
                "#{index}: an Order Code pay cannot take the money at once or wait for a confirmation"
            )
        }
    }
    let settled = settle(&checkout, &id).await;
    if settled.state == PaymentState::Paid && rng.chance(25) {
        refunds(
            &checkout,
            &id,
            settled.amount.minor(),
            &mut rng,
            stats,
            index,
        )
        .await;
    }
}

async fn customer_pays(control: &Control, code_value: &str, stats: &Stats) {
    let (status, _) = control.wallet_pay(code_value).await;
    if status == 200 {
        add(&stats.customer_paid);
    } else {
        add(&stats.customer_refused);
    }
}

/// Waits (bounded) until the engine is done with the payment for now.
async fn settle(checkout: &Checkout, id: &str) -> alipay_pos::journal::PaymentRecord {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let record = checkout.payment(id).await.unwrap();
        if record.state.is_final() || !checkout.is_driven(id) {
            return record;
        }
        assert!(Instant::now() < deadline, "{id} still driven: {record:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn refunds(
    checkout: &Checkout,
    id: &str,
    paid_minor: u64,
    rng: &mut Rng,
    stats: &Stats,
    index: usize,
) {
    // One PIN check per refunding payment, as at the counter.
    let approved = approval("M1");
    for _ in 0..=rng.below(3) {
        add(&stats.refunds_asked);
        // Now and then more than what is left, which must be refused locally.
        let minor = 1 + rng.below(paid_minor * 2 / 3);
        let money = Money::from_minor(minor, Currency::USD).unwrap();
        let asked = if rng.chance(20) { None } else { Some(money) };
        match checkout.refund(id, asked, "soak refund", &approved).await {
            Ok(_) => {}
            Err(alipay_pos::checkout::CheckoutError::Journal(
                alipay_pos::journal::JournalError::RefundExceedsPayment { .. },
            ))
            | Err(alipay_pos::checkout::CheckoutError::NothingLeftToRefund { .. }) => {
                add(&stats.refunds_refused_locally)
            }
            Err(error) => stats.error(format!("#{index} refund of {id}: {error}")),
        }
    }
}

/// Cycles the fault mixes until told to stop; `down` lasts one short tick.
async fn chaos(
    control: Control,
    stop: Arc<AtomicBool>,
    seed: u64,
) -> BTreeMap<&'static str, usize> {
    let phases = fault_phases();
    let mut rng = Rng::new(seed ^ 0xC4A0_5EED);
    let mut applied = BTreeMap::new();
    let mut order: Vec<usize> = Vec::new();
    let mut first_cycle = true;
    while !stop.load(Ordering::Relaxed) {
        // Every mix comes up once per cycle, in a shuffled order; the outage comes second in
        // the first cycle, so even a short run has payments in flight when it strikes.
        if order.is_empty() {
            order = (0..phases.len()).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            }
            if first_cycle {
                let down = order.iter().position(|&i| phases[i].0 == "down").unwrap();
                let second = order.len() - 2;
                order.swap(down, second);
                first_cycle = false;
            }
        }
        let (name, faults) = &phases[order.pop().unwrap()];
        control.set_faults(faults.clone()).await;
        *applied.entry(*name).or_insert(0) += 1;
        let hold = if *name == "down" {
            300 + rng.below(400)
        } else {
            200 + rng.below(400)
        };
        tokio::time::sleep(Duration::from_millis(hold)).await;
    }
    control.clear_faults().await;
    applied
}

/// Counts what the engine published (offline spells, unresolved payments and refunds).
#[derive(Debug, Default, Clone)]
struct Published {
    offline: usize,
    unresolved_payments: usize,
    unresolved_refunds: usize,
    lagged: u64,
}

fn count_events(checkout: &Checkout, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Published> {
    let mut rx = checkout.subscribe();
    tokio::spawn(async move {
        let mut seen = Published::default();
        loop {
            match tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
                Ok(Ok(CheckoutEvent::Connectivity { online: false })) => seen.offline += 1,
                Ok(Ok(CheckoutEvent::PaymentState {
                    state: PaymentState::Unresolved,
                    ..
                })) => seen.unresolved_payments += 1,
                Ok(Ok(CheckoutEvent::RefundState {
                    state: RefundState::Unresolved,
                    ..
                })) => seen.unresolved_refunds += 1,
                Ok(Ok(_)) => {}
                Ok(Err(RecvError::Lagged(n))) => seen.lagged += n,
                Ok(Err(RecvError::Closed)) => return seen,
                Err(_) if stop.load(Ordering::Relaxed) => return seen,
                Err(_) => {}
            }
        }
    })
}

async fn soak(payments: usize, concurrency: usize) {
    let seed: u64 = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut policy = Policy::fast();
    policy.max_code_lifetime = Duration::from_secs(3);
    policy.poll_interval = Duration::from_millis(100);
    // A short client timeout, so the hanging magic amounts cost seconds, not minutes.
    let config = sandbox_config(dir.path(), Some(1_500));
    let terminal =
        demo_terminal_with(config, policy, |o| o.hang_time = Duration::from_secs(3)).await;
    terminal
        .start_background_work(Recovery::CancelUnwatched)
        .await
        .unwrap();
    let checkout = terminal.checkout.clone();
    let control = Control::of(&terminal);

    let stop = Arc::new(AtomicBool::new(false));
    let published = count_events(&checkout, stop.clone());
    let chaos = tokio::spawn(chaos(control.clone(), stop.clone(), seed));
    let stats = Arc::new(Stats::default());
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (checkout, control, stats, next) = (
            checkout.clone(),
            control.clone(),
            stats.clone(),
            next.clone(),
        );
        workers.spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= payments {
                    return;
                }
                one_payment(checkout.clone(), control.clone(), seed, index, &stats).await;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let phases = chaos.await.unwrap();
    let run_time = began.elapsed();

    // The network is healthy again: the resolver (background, and these explicit rounds)
    // must finish everything.
    control.clear_faults().await;
    let mut rounds = 0;
    loop {
        rounds += 1;
        let report = checkout.resolve_once().await.unwrap();
        if report.open_payments.is_empty() && report.open_refunds.is_empty() {
            break;
        }
        assert!(
            rounds < 60,
            "still open after {rounds} resolver rounds: {report:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let published = published.await.unwrap();

    let errors = stats.errors.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "the engine answered with errors: {errors:#?}"
    );
    let counts = assert_consistent(&terminal, true).await;
    assert_eq!(
        counts.paid + counts.cancelled + counts.failed,
        payments,
        "every payment is in the journal, final"
    );
    // The customer was told "paid" at least as often as the journal says paid, minus those
    // the terminal reversed in time by cancelling; never the other way round.
    assert!(counts.paid <= stats.customer_paid.load(Ordering::Relaxed));
    let total = began.elapsed();
    let phases: Vec<String> = phases.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "soak seed={seed}: {payments} payments ({concurrency} at a time) in {:.1}s (+{:.1}s settling, {rounds} resolver rounds): \
         paid={} cancelled={} failed={} (never reached Alipay {}); refunds ok={} failed={} refused_locally={}; \
         codes={} pay_failed={} pay_unknown={} customer_paid={} customer_refused={} cashier_cancels={} walked_away={}; \
         unresolved_payments={} unresolved_refunds={} offline_spells={} lagged_events={}; fault_phases: {}",
        run_time.as_secs_f64(),
        (total - run_time).as_secs_f64(),
        counts.paid,
        counts.cancelled,
        counts.failed,
        counts.failed_never_sent,
        counts.refunds_succeeded,
        counts.refunds_failed,
        stats.refunds_refused_locally.load(Ordering::Relaxed),
        stats.code_ready.load(Ordering::Relaxed),
        stats.pay_failed.load(Ordering::Relaxed),
        stats.pay_unknown.load(Ordering::Relaxed),
        stats.customer_paid.load(Ordering::Relaxed),
        stats.customer_refused.load(Ordering::Relaxed),
        stats.cashier_cancels.load(Ordering::Relaxed),
        stats.walked_away.load(Ordering::Relaxed),
        published.unresolved_payments,
        published.unresolved_refunds,
        published.offline,
        published.lagged,
        phases.join(" "),
    );
    // The run exercised what it claims to.
    assert!(
        counts.paid > 0 && counts.cancelled > 0 && counts.failed > 0,
        "{counts:?}"
    );
    assert!(published.offline > 0, "the gateway never looked down");
    assert!(
        published.unresolved_payments > 0,
        "no outcome was ever in doubt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_quick() {
    soak(100, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "about a thousand payments; run by name: cargo test --features failpoints,test-support --test it -- --ignored soak::soak_1000"]
async fn soak_1000() {
    soak(1_000, 20).await;
}
