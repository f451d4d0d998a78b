//! User-presented payments (the cashier scans the customer's payment code) through the real
//! engine and the embedded sandbox, whose simulated customers are picked by the code's last
//! four digits: 0000 pays at once, 1111 confirms in the wallet, 2222 has too little money,
//! 3333 shows an expired code.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::*;
use alipay_pos::checkout::{
    CheckoutError, PayStart, PaymentCode, PaymentIntent, Policy, ResultCode,
};
use alipay_pos::journal::{Actor, PaymentState, Resolution};
use alipay_pos::money::{Currency, Money};
use alipay_pos::terminal::Terminal;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

fn usd(text: &str) -> Money {
    Money::parse(text, Currency::USD).unwrap()
}

/// A valid Alipay payment code (16-24 digits from 25 to 30) ending in `ending`; `n` keeps
/// the codes of one test apart.
fn code(n: u32, ending: &str) -> String {
    format!("28{n:012}{ending}")
}

fn scanned(n: u32, ending: &str) -> PaymentCode {
    PaymentCode::parse(&code(n, ending)).unwrap()
}

async fn start(
    terminal: &Terminal,
    amount: &str,
    code: PaymentCode,
) -> (alipay_pos::journal::PaymentRecord, PayStart) {
    terminal
        .checkout
        .start_payment(PaymentIntent::user_presented(
            usd(amount),
            "Lunch set",
            Actor::Cashier,
            code,
        ))
        .await
        .unwrap()
}

/// The `paymentRequestId` of the sandbox's first payment once it is PROCESSING (the
/// customer has not confirmed it yet).
async fn processing_payment(control: &Control) -> String {
    wait_until("the sandbox to hold a processing payment", WAIT, || async {
        control
            .ledger()
            .await
            .payments
            .first()
            .is_some_and(|p| p.status == "PROCESSING")
    })
    .await;
    control.ledger().await.payments[0]
        .payment_request_id
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_that_pays_at_once_is_paid_by_the_pay_answer() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let (record, start) = start(&terminal, "12.50", scanned(1, "0000")).await;
    assert_eq!(start, PayStart::Paid);
    assert_eq!(record.state, PaymentState::Paid);
    assert_eq!(record.resolution, Some(Resolution::Pay));
    assert_eq!(record.product, alipay_pos::checkout::Product::UserPresented);
    assert_eq!(record.customer_code_last4.as_deref(), Some("0000"));
    assert!(record.code_value.is_none(), "no code of ours to show");
    let ledger = Control::of(&terminal).ledger().await;
    let remote = ledger.payment(&record.payment_request_id).unwrap();
    assert_eq!(remote.status, "SUCCESS");
    assert_eq!(remote.amount, 1250);
    let counts = assert_consistent(&terminal, true).await;
    assert_eq!(counts.paid, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refusal_fails_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    for (n, ending, expected) in [
        (2, "2222", ResultCode::UserBalanceNotEnough),
        (3, "3333", ResultCode::ExpiredCode),
    ] {
        let (record, start) = start(&terminal, "3.00", scanned(n, ending)).await;
        match start {
            PayStart::Failed { code, .. } => assert_eq!(code, expected),
            other => panic!("{ending}: expected a refusal, got {other:?}"),
        }
        assert_eq!(record.state, PaymentState::Failed);
        assert_eq!(record.result_code.as_deref(), Some(expected.as_str()));
    }
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_who_confirms_in_the_wallet_ends_paid() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let (record, start) = start(&terminal, "8.80", scanned(4, "1111")).await;
    assert_eq!(start, PayStart::AwaitingCustomer);
    assert_eq!(record.state, PaymentState::AwaitingCustomer);
    let id = record.payment_request_id.clone();
    let (status, answer) = Control::of(&terminal).customer_pays(&id).await;
    assert_eq!(status, 200, "{answer}");
    let record = wait_final(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Paid, "{record:?}");
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_who_never_confirms_is_cancelled_after_the_polls() {
    let dir = tempfile::tempdir().unwrap();
    let mut policy = Policy::fast();
    policy.confirm_polls = 3;
    let terminal = demo_terminal(dir.path(), policy, |_| {}).await;
    let (record, start) = start(&terminal, "8.81", scanned(5, "1111")).await;
    assert_eq!(start, PayStart::AwaitingCustomer);
    let id = record.payment_request_id;
    let record = wait_final(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Cancelled, "{record:?}");
    let ledger = Control::of(&terminal).ledger().await;
    assert_eq!(ledger.status_of(&id), Some("CANCELLED"));
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cashier_cancels_while_the_customer_confirms() {
    let dir = tempfile::tempdir().unwrap();
    let mut policy = Policy::fast();
    policy.confirm_first_poll = Duration::from_secs(30);
    let terminal = demo_terminal(dir.path(), policy, |_| {}).await;
    let (record, _) = start(&terminal, "8.82", scanned(6, "1111")).await;
    let id = record.payment_request_id;
    terminal
        .checkout
        .cancel(&id, Actor::Cashier, "the customer changed their mind")
        .await
        .unwrap();
    let record = wait_final(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Cancelled);
    // Confirming now is refused by the wallet: the money cannot move after the cancel.
    let (status, answer) = Control::of(&terminal).customer_pays(&id).await;
    assert_eq!(status, 409, "{answer}");
    assert_consistent(&terminal, true).await;
}

/// The customer confirms while `pay`'s answer (a stale `U`) is still on its way; the
/// notification that reaches the terminal first must not be lost behind it: the payment
/// ends paid, never failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_that_overtakes_the_pay_answer_ends_paid() {
    let dir = tempfile::tempdir().unwrap();
    let mut policy = Policy::fast();
    // No poll could decide before the notification does.
    policy.confirm_first_poll = Duration::from_secs(60);
    let terminal = demo_terminal(dir.path(), policy, |_| {}).await;
    let control = Control::of(&terminal);
    control
        .set_faults(json!({ "latency_ms": 1500, "apis": ["pay"] }))
        .await;
    let engine = terminal.checkout.clone();
    let paying = tokio::spawn(async move {
        engine
            .start_payment(PaymentIntent::user_presented(
                usd("8.83"),
                "Lunch set",
                Actor::Cashier,
                scanned(7, "1111"),
            ))
            .await
    });
    // The sandbox has processed `pay` (PROCESSING) but not answered yet.
    let id = processing_payment(&control).await;
    let (status, answer) = control.customer_pays(&id).await;
    assert_eq!(status, 200, "{answer}");
    let (_, start) = paying.await.unwrap().unwrap();
    assert!(
        matches!(start, PayStart::AwaitingCustomer | PayStart::Paid),
        "{start:?}"
    );
    let record = wait_final(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Paid, "{record:?}");
    assert_eq!(record.resolution, Some(Resolution::Notify));
    control.clear_faults().await;
    assert_consistent(&terminal, true).await;
}

/// A `pay` whose answer is lost while the customer confirms: the engine keeps following it
/// (the wallet may be asking for a PIN) instead of cancelling at the first "processing".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_pay_answer_is_followed_until_the_customer_confirms() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let control = Control::of(&terminal);
    control
        .set_faults(json!({ "drop_response_rate": 1.0, "apis": ["pay"] }))
        .await;
    let (record, start) = start(&terminal, "8.84", scanned(8, "1111")).await;
    assert_eq!(start, PayStart::Unknown);
    let id = record.payment_request_id;
    control.clear_faults().await;
    let (status, answer) = control.customer_pays(&id).await;
    assert_eq!(status, 200, "{answer}");
    let record = wait_final(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Paid, "{record:?}");
    let ledger = control.ledger().await;
    assert_eq!(ledger.payments.len(), 1, "one payment however many sends");
    assert_consistent(&terminal, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_scanned_twice_is_charged_once() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let (first, _) = start(&terminal, "5.00", scanned(9, "0000")).await;
    assert_eq!(first.state, PaymentState::Paid);
    let again = terminal
        .checkout
        .start_payment(PaymentIntent::user_presented(
            usd("5.00"),
            "Lunch set",
            Actor::Cashier,
            scanned(9, "0000"),
        ))
        .await
        .unwrap_err();
    match again {
        CheckoutError::CustomerCodeUsed {
            payment_request_id,
            state,
        } => {
            assert_eq!(payment_request_id, first.payment_request_id);
            assert_eq!(state, PaymentState::Paid);
        }
        other => panic!("expected CustomerCodeUsed, got {other}"),
    }
    // A code whose payment failed may be shown again (Alipay decides).
    let (failed, _) = start(&terminal, "5.00", scanned(10, "2222")).await;
    assert_eq!(failed.state, PaymentState::Failed);
    let (retried, _) = start(&terminal, "5.00", scanned(10, "2222")).await;
    assert_ne!(retried.payment_request_id, failed.payment_request_id);
    let ledger = Control::of(&terminal).ledger().await;
    assert_eq!(ledger.payments.len(), 3);
    assert_consistent(&terminal, true).await;
}

// ---------------------------------------------------------------------------------------
// The command line: `pay AMOUNT --customer-code CODE|-`, same exit codes and JSON as `pay`.

fn config_in(dir: &Path) -> std::path::PathBuf {
    let data_dir = dir.join("data");
    seed_sandbox_keys(&data_dir);
    let file = dir.join("config.toml");
    std::fs::write(
        &file,
        format!(
            "[storage]\ndata_dir = \"{}\"\n",
            data_dir.display().to_string().replace('\\', "\\\\")
        ),
    )
    .unwrap();
    file
}

/// Runs the binary with `input` on stdin and every log line on (`ALIPAY_POS_LOG=trace`).
fn run_cli(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(binary())
        .args(args)
        .env_remove("ALIPAY_POS_CONFIG")
        .env("ALIPAY_POS_LOG", "trace")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn last_json(output: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.lines().last().unwrap_or_default()).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {text:?}, stderr {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Every file under `dir` except the sandbox's own folder (Alipay's side, which is told the
/// code by the `pay` request and keeps it, as Alipay does).
fn terminal_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "sandbox") {
                continue;
            }
            terminal_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn pay_with_a_customer_code_exits_as_pay_does_and_never_keeps_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let config = config.to_str().unwrap();
    let mut codes = Vec::new();
    for (n, ending, exit, status, result) in [
        (11, "0000", 0, "SUCCESS", "SUCCESS"),
        (12, "2222", 2, "FAIL", "USER_BALANCE_NOT_ENOUGH"),
        (13, "3333", 2, "FAIL", "EXPIRED_CODE"),
    ] {
        let customer = code(n, ending);
        // From stdin, as the README recommends: the code stays out of the process list.
        let output = run_cli(
            &[
                "--config",
                config,
                "pay",
                "2.50",
                "--customer-code",
                "-",
                "--json",
            ],
            &format!("{customer}\n"),
        );
        assert_eq!(
            output.status.code(),
            Some(exit),
            "{ending}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json = last_json(&output);
        assert_eq!(json["status"], status, "{json}");
        assert_eq!(json["resultCode"], result, "{json}");
        assert_eq!(json["product"], "user_presented", "{json}");
        assert_eq!(json["customerCodeLast4"], ending, "{json}");
        assert_eq!(json["sandbox"], true);
        let logs = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            logs.contains("TRACE") || logs.contains("DEBUG"),
            "the logs ran at full detail"
        );
        assert!(
            !logs.contains(&customer),
            "the code reached the output: {logs}"
        );
        codes.push(customer);
    }
    // 1111 on the command line: nobody confirms, so the engine cancels it after its polls
    // (20 × 3 s after 5 s is too long for a test; ask for the definite "no" with a wrong
    // code instead, which is refused before anything is sent).
    let refused = run_cli(
        &[
            "--config",
            config,
            "pay",
            "2.50",
            "--customer-code",
            "1234",
            "--json",
        ],
        "",
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("refresh their code"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let mut files = Vec::new();
    terminal_files(&dir.path().join("data"), &mut files);
    assert!(
        files.iter().any(|f| f
            .file_name()
            .is_some_and(|n| n == alipay_pos::journal::FILE_NAME)),
        "{files:?}"
    );
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        for customer in &codes {
            assert!(
                !bytes
                    .windows(customer.len())
                    .any(|w| w == customer.as_bytes()),
                "{} holds a customer's code",
                file.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_who_declines_in_the_wallet_ends_failed_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let (record, start) = start(&terminal, "8.85", scanned(14, "1111")).await;
    assert_eq!(start, PayStart::AwaitingCustomer);
    let id = record.payment_request_id;
    let (status, answer) = Control::of(&terminal).customer_declines(&id).await;
    assert_eq!(status, 200, "{answer}");
    let record = wait_final(&terminal.checkout, &id, WAIT).await;
    assert_eq!(record.state, PaymentState::Failed, "{record:?}");
    assert_eq!(
        record.result_code.as_deref(),
        Some(ResultCode::UserPaymentVerificationFailed.as_str())
    );
    assert_consistent(&terminal, true).await;
}

/// `pay --customer-code` for the customer who confirms in the wallet: the command waits
/// ("Waiting for the customer to confirm"), the customer confirms through the sandbox the
/// command started, and it exits 0 with the `pay` JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pay_with_a_code_that_needs_confirmation_waits_for_the_customer() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    seed_sandbox_keys(&data_dir);
    // A fixed port, so the test can reach the sandbox inside the command.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        format!(
            "[storage]\ndata_dir = \"{}\"\n\n[sandbox]\nlisten = \"127.0.0.1:{port}\"\n",
            data_dir.display().to_string().replace('\\', "\\\\")
        ),
    )
    .unwrap();
    let customer = code(15, "1111");
    let mut child = Command::new(binary())
        .args([
            "--config",
            file.to_str().unwrap(),
            "pay",
            "6.60",
            "--customer-code",
            "-",
            "--json",
        ])
        .env_remove("ALIPAY_POS_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("{customer}\n").as_bytes()).unwrap();
    }
    // Killed if the test fails before the command ends on its own.
    let _kill = KillOnDrop(child.id());
    let token_file = data_dir.join("sandbox").join("control.token");
    wait_until("the command's sandbox to start", WAIT, || async {
        token_file.exists()
    })
    .await;
    let token = std::fs::read_to_string(&token_file).unwrap();
    let control = Control::at(&format!("http://127.0.0.1:{port}"), token.trim());
    let id = processing_payment(&control).await;
    let (status, answer) = control.customer_pays(&id).await;
    assert_eq!(status, 200, "{answer}");
    let output = tokio::time::timeout(
        WAIT,
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("the command ends once the customer confirmed")
    .unwrap()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("Waiting for the customer to confirm"),
        "{stderr}"
    );
    let json = last_json(&output);
    assert_eq!(json["status"], "SUCCESS", "{json}");
    assert_eq!(json["paymentRequestId"], id.as_str());
    assert_eq!(json["customerCodeLast4"], "1111");
}

/// Kills the command when the test panics before the command ended, so a failed test does
/// not leave a terminal (and its sandbox) running.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = Command::new("kill").arg(self.0.to_string()).status();
        }
    }
}
