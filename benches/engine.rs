//! The payment engine's figures for the README (`cargo bench --features test-support --bench engine`):
//! - journal commits per second with `synchronous=FULL` (one transaction per payment step);
//! - time from "start payment" to "code ready" against the embedded sandbox, p50/p99;
//! - CPU and memory of the resolver while 1,000 payments are unresolved and Alipay is down.
//!
//! A plain binary rather than criterion: the figures are distributions and process-level
//! resource use, which criterion's per-iteration timing does not report.

use std::time::{Duration, Instant};

use alipay_pos::checkout::{PayStart, Policy};
use alipay_pos::config::Config;
use alipay_pos::journal::{Actor, Journal, NewPayment, PaymentState, PaymentUpdate};
use alipay_pos::money::{Currency, Money};
use alipay_pos::sandbox::faults::FaultSettings;
use alipay_pos::terminal::Terminal;

/// (user+system CPU time, resident set size in KiB) of this process, from /proc.
fn process_usage() -> (Duration, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 (1-based) of the whole line: 11 and 12 here.
    let clock_ticks = 100; // Linux USER_HZ
    let cpu = Duration::from_millis((ticks(11) + ticks(12)) * 1000 / clock_ticks);
    let rss = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    (cpu, rss)
}

fn journal_commits(dir: &std::path::Path) {
    let mut journal = Journal::open_in(dir).expect("journal");
    let usd = Currency::from_code("USD").expect("USD");
    let amount = Money::from_minor(1234, usd).expect("amount");
    let count = 300;
    let started = Instant::now();
    for i in 0..count {
        let record = journal
            .create_payment(
                NewPayment {
                    payment_request_id: format!("bench-{i}"),
                    order_ref: format!("order-{i}"),
                    amount,
                    description: "bench".into(),
                    operator: "T01".into(),
                    product: alipay_pos::journal::Product::OrderCode,
                    customer_code: None,
                },
                Actor::System,
            )
            .expect("create");
        journal
            .transition_payment(
                &record,
                PaymentState::Unresolved,
                Actor::System,
                "bench",
                PaymentUpdate::default(),
            )
            .expect("transition");
    }
    let elapsed = started.elapsed();
    let commits = f64::from(count * 2);
    println!(
        "journal: {commits} commits (synchronous=FULL, WAL) in {:.2} s = {:.0} commits/s",
        elapsed.as_secs_f64(),
        commits / elapsed.as_secs_f64()
    );
}

async fn code_ready_latency(dir: &std::path::Path) {
    let mut config = Config::defaults();
    config.storage.data_dir = dir.to_path_buf();
    // Keep the pollers quiet: this measures pay → code, not polling.
    let policy = Policy {
        poll_interval: Duration::from_secs(3600),
        ..Policy::default()
    };
    let terminal = Terminal::start(config, policy).await.expect("terminal");
    let usd = Currency::from_code("USD").expect("USD");
    let mut samples = Vec::new();
    for i in 0..200u64 {
        let amount = Money::from_minor(100 + i, usd).expect("amount");
        let started = Instant::now();
        let (_, start) = terminal
            .checkout
            .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
                amount,
                "bench",
                Actor::Cashier,
            ))
            .await
            .expect("start");
        samples.push(started.elapsed());
        assert!(matches!(start, PayStart::CodeReady { .. }), "{start:?}");
    }
    samples.sort();
    println!(
        "start payment -> code ready (embedded sandbox, {} payments): p50 {:.1} ms, p99 {:.1} ms",
        samples.len(),
        alipay_pos::testing::percentile(&samples, 50).as_secs_f64() * 1000.0,
        alipay_pos::testing::percentile(&samples, 99).as_secs_f64() * 1000.0
    );
}

async fn resolver_idle_cost(dir: &std::path::Path) {
    let mut config = Config::defaults();
    config.storage.data_dir = dir.to_path_buf();
    let policy = Policy::default();
    let terminal = Terminal::start_with(config, policy, |options| {
        options.faults = Some(FaultSettings {
            down: true,
            ..FaultSettings::default()
        });
    })
    .await
    .expect("terminal");
    let usd = Currency::from_code("USD").expect("USD");
    let count = 1000;
    terminal
        .checkout
        .journal_for_tests(move |journal| {
            for i in 0..count {
                let record = journal.create_payment(
                    NewPayment {
                        payment_request_id: format!("unresolved-{i}"),
                        order_ref: format!("order-{i}"),
                        amount: Money::from_minor(500, usd).expect("amount"),
                        description: "bench".into(),
                        operator: "T01".into(),
                        product: alipay_pos::journal::Product::OrderCode,
                        customer_code: None,
                    },
                    Actor::System,
                )?;
                journal.transition_payment(
                    &record,
                    PaymentState::Unresolved,
                    Actor::System,
                    "bench: outcome unknown",
                    PaymentUpdate::default(),
                )?;
            }
            Ok(())
        })
        .await
        .expect("seed");
    let (cpu_before, _) = process_usage();
    let started = Instant::now();
    let resolver = terminal.checkout.clone();
    let task = tokio::spawn(async move { resolver.run_resolver().await });
    let window = Duration::from_secs(60);
    tokio::time::sleep(window).await;
    task.abort();
    let (cpu_after, rss) = process_usage();
    let cpu = cpu_after.saturating_sub(cpu_before);
    let open = terminal
        .checkout
        .journal_for_tests(|j| j.open_payments())
        .await
        .expect("open")
        .len();
    println!(
        "resolver with {count} unresolved payments and Alipay down, over {:.0} s: CPU {:.2} s ({:.1} % of one core), RSS {} MiB, still open {open}",
        started.elapsed().as_secs_f64(),
        cpu.as_secs_f64(),
        100.0 * cpu.as_secs_f64() / started.elapsed().as_secs_f64(),
        rss / 1024
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not used.
    let dir = tempfile::tempdir().expect("temp dir");
    journal_commits(&dir.path().join("journal"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(code_ready_latency(&dir.path().join("latency")));
    runtime.block_on(resolver_idle_cost(&dir.path().join("resolver")));
}
