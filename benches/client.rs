//! Round trips of the project's verified client against the real sandbox binary
//! (`cargo bench --features test-support --bench client`, issue 15 §2).
//!
//! The sandbox runs as its own process (`alipay-pos sandbox`, the binary this bench is built
//! beside), so its RSA work and ours are two processes on the machine's cores, as they would
//! be against a gateway, rather than one runtime sharing its threads. Each call is a real
//! signed `inquiryPayment`: the client signs, the sandbox verifies, answers and signs, the
//! client verifies. Two runs:
//! - **sequential**: one caller, one call after the other, over one keep-alive connection
//!   (reqwest keeps the connection of the previous call; `connections_opened` below counts
//!   the connections the sandbox saw, to prove it);
//! - **concurrent**: 16 callers at once on one shared client (its pool opens what it needs).
//!
//! The limit for one sequential caller is the four RSA operations (2 signs at ~0.24 ms and
//! 2 verifies at ~0.016 ms on this machine, about 0.52 ms) plus the HTTP and JSON work; the
//! issue's goal is at least 650 sequential calls/s.
//!
//! Beside calls/s and latency it prints the CPU time each process spent per call (from
//! `/proc/<pid>/stat`): unlike wall-clock figures, that hardly moves when other work shares
//! the machine, so it shows where a slow run's time went.
//!
//! Every answer must be a verified `SUCCESS`; anything else stops the bench, since a figure
//! of fast failures would be worthless.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alipay_pos::ams::client::{AmsClient, ClientSettings, Outcome};
use alipay_pos::ams::models::InquiryPaymentRequest;
use alipay_pos::testing::{self, percentile};

/// The client id the sandbox is started with (a `SANDBOX_` id selects the sandbox path).
const CLIENT_ID: &str = "SANDBOX_CLIENT_BENCH";
/// Calls made and thrown away first: connection set-up, the sandbox's first ledger reads.
const WARM_UP: usize = 300;
/// Sequential calls measured.
const SEQUENTIAL_CALLS: usize = 5_000;
/// Concurrent callers, and the calls each makes.
const CALLERS: usize = 16;
const CALLS_PER_CALLER: usize = 400;
/// How long the sandbox may take to print its address.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// The sandbox process, killed when the bench ends (or panics).
struct SandboxProcess {
    child: Child,
    addr: SocketAddr,
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `alipay-pos sandbox` on a free loopback port with the fixture keys (so it does
/// not spend seconds generating an RSA key) and waits for its `sandbox listening on` line.
fn start_sandbox(dir: &Path) -> SandboxProcess {
    let data = dir.join("sandbox");
    std::fs::create_dir_all(&data).expect("sandbox folder");
    std::fs::copy(
        testing::vector_path("alipay_private_key_pkcs8.pem"),
        data.join(alipay_pos::sandbox::ALIPAY_PRIVATE_KEY_FILE),
    )
    .expect("seed the sandbox key");
    let merchant_key = testing::vector_path("merchant_public_key.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_alipay-pos"))
        .arg("sandbox")
        .args(["--listen", "127.0.0.1:0", "--ephemeral", "--data-dir"])
        .arg(&data)
        .arg("--client")
        .arg(format!("{CLIENT_ID}={}", merchant_key.display()))
        .env_remove("ALIPAY_POS_CONFIG")
        .env("ALIPAY_POS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start alipay-pos sandbox");
    let stdout = child.stdout.take().expect("sandbox stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = rx
        .recv_timeout(START_DEADLINE)
        .expect("the sandbox printed its address in time");
    let addr = line
        .strip_prefix("sandbox listening on http://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line from the sandbox: {line}"));
    SandboxProcess { child, addr }
}

/// An Order Code payment to inquire about (waiting for its customer: the inquiry's answer
/// is a verified `S` either way, and the sandbox's work per call is the same).
async fn open_payment(client: &AmsClient) -> String {
    let pay = alipay_pos::testing::demo_pay_request("P-1796100000-BENCH-000000000001");
    match client.call(&pay).await {
        Ok(Outcome::Success(answer)) => answer.payment_id.expect("paymentId in the pay answer"),
        other => panic!("pay did not succeed: {other:?}"),
    }
}

/// One verified inquiry; its latency.
async fn inquire(client: &AmsClient, request: &InquiryPaymentRequest) -> Duration {
    let started = Instant::now();
    match client.call(request).await {
        Ok(Outcome::Success(_)) => started.elapsed(),
        other => panic!("inquiryPayment did not succeed: {other:?}"),
    }
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat` (fields 14
/// and 15, in USER_HZ ticks, which Linux reports as 100 a second on every architecture).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

/// CPU time of this process and of the sandbox, to subtract a run's start from its end.
fn cpu_times(sandbox: &SandboxProcess) -> (Duration, Duration) {
    (cpu_time(std::process::id()), cpu_time(sandbox.child.id()))
}

/// Prints what each process spent per call between `before` and now.
fn report_cpu(name: &str, calls: usize, before: (Duration, Duration), sandbox: &SandboxProcess) {
    let (client_now, sandbox_now) = cpu_times(sandbox);
    let per_call = |d: Duration| d.as_secs_f64() * 1000.0 / calls as f64;
    println!(
        "client: {name}: CPU per call: client {:.3} ms, sandbox {:.3} ms",
        per_call(client_now.saturating_sub(before.0)),
        per_call(sandbox_now.saturating_sub(before.1)),
    );
}

/// The TCP connections from this process to `addr` that the kernel lists as established
/// (`/proc/self/net/tcp`), to show the sequential run used one.
fn established_connections_to(addr: SocketAddr) -> usize {
    let Ok(table) = std::fs::read_to_string("/proc/self/net/tcp") else {
        return 0;
    };
    let wanted = format!("{:04X}", addr.port());
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local, remote, state (01 = ESTABLISHED); ours are the ones whose remote port is
            // the sandbox's.
            fields.len() > 3 && fields[2].ends_with(&format!(":{wanted}")) && fields[3] == "01"
        })
        .count()
}

fn report(name: &str, calls: usize, elapsed: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    println!(
        "client: {name}: {calls} signed inquiryPayment calls in {:.2} s: {:.0} calls/s, p50 {:.2} ms, p99 {:.2} ms",
        elapsed.as_secs_f64(),
        calls as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 50).as_secs_f64() * 1000.0,
        percentile(&latencies, 99).as_secs_f64() * 1000.0,
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sandbox = start_sandbox(dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let base = url::Url::parse(&format!("http://{}", sandbox.addr)).expect("sandbox URL");
        let client = AmsClient::new(
            ClientSettings::new(base, CLIENT_ID),
            testing::merchant_private_key(),
            testing::alipay_public_key(),
        )
        .expect("client");
        let payment_id = open_payment(&client).await;
        let request = InquiryPaymentRequest::by_payment_id(payment_id);

        for _ in 0..WARM_UP {
            inquire(&client, &request).await;
        }
        let mut latencies = Vec::with_capacity(SEQUENTIAL_CALLS);
        let cpu_before = cpu_times(&sandbox);
        let started = Instant::now();
        for _ in 0..SEQUENTIAL_CALLS {
            latencies.push(inquire(&client, &request).await);
        }
        let elapsed = started.elapsed();
        let connections = established_connections_to(sandbox.addr);
        report("sequential, 1 caller", SEQUENTIAL_CALLS, elapsed, latencies);
        report_cpu("sequential", SEQUENTIAL_CALLS, cpu_before, &sandbox);
        // Usually 1. hyper hands a connection back to its pool only after the previous
        // answer's body is read to the end; a call that starts in that instant opens a
        // second one, which then stays in the pool beside the first.
        println!("client: sequential run over {connections} established connection(s)");

        let client = Arc::new(client);
        let request = Arc::new(request);
        let cpu_before = cpu_times(&sandbox);
        let started = Instant::now();
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                let client = client.clone();
                let request = request.clone();
                tokio::spawn(async move {
                    let mut latencies = Vec::with_capacity(CALLS_PER_CALLER);
                    for _ in 0..CALLS_PER_CALLER {
                        latencies.push(inquire(&client, &request).await);
                    }
                    latencies
                })
            })
            .collect();
        let mut latencies = Vec::with_capacity(CALLERS * CALLS_PER_CALLER);
        for caller in callers {
            latencies.extend(caller.await.expect("caller"));
        }
        let elapsed = started.elapsed();
        report(
            &format!("concurrent, {CALLERS} callers"),
            CALLERS * CALLS_PER_CALLER,
            elapsed,
            latencies,
        );
        report_cpu(
            "concurrent",
            CALLERS * CALLS_PER_CALLER,
            cpu_before,
            &sandbox,
        );
    });
    drop(sandbox);
}
