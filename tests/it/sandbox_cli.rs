//! The real `alipay-pos sandbox` binary, started as a script or a test harness would.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::*;
use alipay_pos::ams::client::{AmsClient, ClientSettings, Outcome, UnknownReason};
use alipay_pos::ams::keys;
use alipay_pos::ams::models::{Amount, InquiryPaymentRequest, Order, PayRequest};

const DEADLINE: Duration = Duration::from_secs(60);

/// A running sandbox process; killed if a test fails half-way.
struct Sandbox {
    child: Child,
    addr: SocketAddr,
    first_line: String,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Sandbox {
    let mut child = Command::new(binary())
        .arg("sandbox")
        .args(args)
        .env_remove("ALIPAY_POS_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first_line = rx
        .recv_timeout(DEADLINE)
        .expect("the sandbox printed nothing before the deadline");
    let addr = first_line
        .strip_prefix("sandbox listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
        .parse()
        .unwrap();
    Sandbox {
        child,
        addr,
        first_line,
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn order() -> Order {
    serde_json::from_value(serde_json::json!({
        "orderDescription": "Tea",
        "orderAmount": {"currency": "USD", "value": "300"},
        "merchant": {
            "referenceMerchantId": "M1", "merchantMCC": "5814", "merchantName": "Cafe",
            "store": {"referenceStoreId": "S1", "storeName": "Cafe 1", "storeMCC": "5814"}
        }
    }))
    .unwrap()
}

#[cfg(unix)]
#[test]
fn the_binary_announces_its_address_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let inline_key = vector_text("merchant_public_key.b64");
    let mut sandbox = start(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        p(&data),
        "--client",
        &format!(
            "SANDBOX_BY_PATH={}",
            p(&vector_path("merchant_public_key.pem"))
        ),
        "--client",
        &format!("SANDBOX_INLINE={inline_key}"),
        "--time-scale",
        "0.001",
        "--unknown-result-rate",
        "1",
        "--fault-apis",
        "inquiryPayment",
        "--fault-client",
        "SANDBOX_INLINE",
    ]);
    assert_ne!(sandbox.addr.port(), 0);
    assert_eq!(
        sandbox.first_line,
        format!("sandbox listening on http://{}", sandbox.addr)
    );
    // Its own key pair was written, the private half owner-only.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("alipay_private_key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let alipay_key = keys::load_public_key_file(&data.join("alipay_public_key.pem"))
        .unwrap()
        .key;

    let runtime = tokio::runtime::Runtime::new().unwrap();
    for client_id in ["SANDBOX_BY_PATH", "SANDBOX_INLINE"] {
        let settings = ClientSettings::new(
            format!("http://{}", sandbox.addr).parse().unwrap(),
            client_id,
        );
        let client = AmsClient::new(settings, merchant_private_key(), alipay_key.clone()).unwrap();
        let request = PayRequest::order_code(
            format!("cli-{client_id}"),
            order(),
            Amount::new("USD", 300),
            "http://127.0.0.1:9/notify",
        );
        match runtime.block_on(client.call(&request)).unwrap() {
            Outcome::Success(r) => {
                let code = r
                    .order_code_form
                    .unwrap()
                    .text_code_value()
                    .unwrap()
                    .to_owned();
                assert!(
                    code.starts_with(&format!("http://{}/wallet/", sandbox.addr)),
                    "{code}"
                );
            }
            other => panic!("{client_id}: {other:?}"),
        }
        // The fault flags hit only the inline client's inquiries.
        let inquiry = InquiryPaymentRequest::by_payment_request_id(format!("cli-{client_id}"));
        let outcome = runtime.block_on(client.call(&inquiry)).unwrap();
        match client_id {
            "SANDBOX_INLINE" => assert!(
                matches!(&outcome, Outcome::Unknown(UnknownReason::ResultUnknown { code, .. }) if code == "UNKNOWN_EXCEPTION"),
                "{outcome:?}"
            ),
            _ => assert!(outcome.is_success(), "{outcome:?}"),
        }
    }
    assert!(data.join("sandbox.sqlite").exists());

    let status = Command::new("kill")
        .args(["-TERM", &sandbox.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let end = Instant::now() + DEADLINE;
    let exit = loop {
        if let Some(exit) = sandbox.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < end, "the sandbox did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn a_lan_address_needs_allow_lan() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(binary())
        .args([
            "sandbox",
            "--listen",
            "0.0.0.0:0",
            "--data-dir",
            p(dir.path()),
            "--client",
            &format!("C={}", p(&vector_path("merchant_public_key.pem"))),
        ])
        .env_remove("ALIPAY_POS_CONFIG")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--allow-lan"), "{stderr}");
    assert!(output.stdout.is_empty());
    // Refused before anything was written.
    assert!(!dir.path().join("alipay_private_key.pem").exists());
}

#[test]
fn a_missing_client_key_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(binary())
        .args([
            "sandbox",
            "--data-dir",
            p(dir.path()),
            "--client",
            "C=/no/such/merchant_public_key.pem",
        ])
        .env_remove("ALIPAY_POS_CONFIG")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no such file"), "{stderr}");
}

#[test]
fn help_documents_the_flags_codes_and_amounts() {
    let output = Command::new(binary())
        .args(["sandbox", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "--listen",
        "--data-dir",
        "--client",
        "--allow-lan",
        "--public-url",
        "--ephemeral",
        "--order-code-expiry",
        "--cancel-window",
        "--refund-window",
        "--registration-delay",
        "--time-scale",
        "--single-refund",
        "--hang-time",
        "--http-5xx-rate",
        "--drop-response-rate",
        "--unknown-result-rate",
        "--bad-signature-rate",
        "--down",
        "--suppress-notifications",
        "--fault-apis",
        "--fault-client",
        "9901",
        "9906",
        "1111",
        "/sandbox/control/faults",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}
