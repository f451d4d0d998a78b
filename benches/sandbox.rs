//! How many signed `inquiryPayment` calls per second the sandbox sustains on this machine,
//! with p50/p99 latency (`cargo bench --features test-support --bench sandbox`). The load comes from the project's
//! own verified client in the same process, so every request is really signed and every
//! answer really verified: the figure includes both ends' RSA work on the same 2 cores.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use alipay_pos::ams::client::Outcome;
use alipay_pos::ams::models::InquiryPaymentRequest;
use alipay_pos::sandbox::embedded;

const WORKERS: usize = 16;
const DURATION: Duration = Duration::from_secs(15);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let sandbox = embedded::start(dir.path(), "SANDBOX_BENCH").await.expect("sandbox");
        let client = sandbox.client().expect("client");
        let pay = alipay_pos::testing::demo_pay_request("bench-payment-1");
        let Ok(Outcome::Success(paid)) = client.call(&pay).await else {
            panic!("pay failed");
        };
        let payment_id = paid.payment_id.expect("paymentId");

        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for _ in 0..WORKERS {
            let client = client.clone();
            let stop = stop.clone();
            let request = InquiryPaymentRequest::by_payment_id(payment_id.clone());
            workers.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    match client.call(&request).await {
                        Ok(Outcome::Success(_)) => latencies.push(started.elapsed()),
                        _ => failures += 1,
                    }
                }
                (latencies, failures)
            }));
        }
        let started = Instant::now();
        tokio::time::sleep(DURATION).await;
        stop.store(true, Ordering::Relaxed);
        let mut latencies = Vec::new();
        let mut failures = 0;
        for worker in workers {
            let (mut l, f) = worker.await.expect("worker");
            latencies.append(&mut l);
            failures += f;
        }
        let elapsed = started.elapsed();
        latencies.sort();
        println!(
            "sandbox: signed inquiryPayment, {WORKERS} concurrent clients, {:.0} s: {:.0} requests/s, p50 {:.1} ms, p99 {:.1} ms, {failures} failures",
            elapsed.as_secs_f64(),
            latencies.len() as f64 / elapsed.as_secs_f64(),
            alipay_pos::testing::percentile(&latencies, 50).as_secs_f64() * 1000.0,
            alipay_pos::testing::percentile(&latencies, 99).as_secs_f64() * 1000.0,
        );
        sandbox.shutdown().await;
    });
}
