//! The sandbox's reconciliation reports (issue 12 §1): payments, a refund and a cancel go
//! through the real sandbox over loopback HTTP, then the day is published (API, control
//! endpoint, the real `alipay-pos sandbox reports`, and by itself after the cut-off), and
//! the files are read back with the `csv` crate, row by row.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::*;
use alipay_pos::ams::client::{AmsClient, ClientSettings, Outcome};
use alipay_pos::ams::models::{Amount, CancelRequest, Order, PayRequest, RefundRequest};
use alipay_pos::sandbox::reports::{
    self, AlipayDay, SETTLEMENT_ITEMS_HEADER, SETTLEMENT_SUMMARY_HEADER, TRANSACTION_ITEMS_HEADER,
};
use alipay_pos::sandbox::{self, ClientRegistration, RunningSandbox, SandboxOptions};
use serde_json::json;

const CLIENT: &str = "SANDBOX_POS_REPORTS";
const DAY_MS: i64 = 86_400_000;
const DEADLINE: Duration = Duration::from_secs(30);

struct Harness {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    sandbox: RunningSandbox,
    client: AmsClient,
    control: Control,
}

async fn harness(adjust: impl FnOnce(&mut SandboxOptions)) -> Harness {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sandbox");
    std::fs::create_dir_all(&dir).unwrap();
    for (fixture, name) in [
        (
            "alipay_private_key_pkcs8.pem",
            sandbox::ALIPAY_PRIVATE_KEY_FILE,
        ),
        ("alipay_public_key.pem", sandbox::ALIPAY_PUBLIC_KEY_FILE),
    ] {
        std::fs::copy(vector_path(fixture), dir.join(name)).unwrap();
    }
    let mut options = SandboxOptions::new(&dir);
    options.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    options.sweep_interval = Duration::from_millis(20);
    options.clients.push(ClientRegistration {
        client_id: CLIENT.into(),
        merchant_public_key: merchant_public_key(),
    });
    adjust(&mut options);
    let sandbox = sandbox::start(options).await.unwrap();
    let mut settings = ClientSettings::new(sandbox.base_url().clone(), CLIENT);
    settings.request_timeout = Duration::from_secs(10);
    let client = AmsClient::new(settings, merchant_private_key(), alipay_public_key()).unwrap();
    let control = Control::at(sandbox.base_url().as_str(), sandbox.control_token());
    Harness {
        _tmp: tmp,
        dir,
        sandbox,
        client,
        control,
    }
}

/// The Alipay day `days` away from the sandbox clock's today.
async fn day_from_today(control: &Control, days: i64) -> AlipayDay {
    let now = control.clock_now_ms().await;
    AlipayDay::of_ms(now + days * DAY_MS)
}

/// Moves the sandbox clock to `at_ms` (epoch milliseconds).
async fn move_clock_to(control: &Control, at_ms: i64) {
    let now = control.clock_now_ms().await;
    control.advance_clock_ms(at_ms - now).await;
}

/// Moves the sandbox clock to `ms_of_day` after midnight GMT+8 of the Alipay day `days`
/// away from today's, and returns that day.
async fn set_clock(control: &Control, days: i64, ms_of_day: i64) -> AlipayDay {
    let day = day_from_today(control, days).await;
    move_clock_to(control, day.start_ms() + ms_of_day).await;
    day
}

fn order(id: &str, value: u64, currency: &str) -> Order {
    serde_json::from_value(json!({
        "referenceOrderId": format!("ORDER-{id}"),
        "orderDescription": format!("Flat white, oat milk ({id})"),
        "orderAmount": {"currency": currency, "value": value.to_string()},
        "merchant": {
            "referenceMerchantId": "M0001",
            "merchantMCC": "5814",
            "merchantName": "Demo Cafe",
            "store": {"referenceStoreId": "S0001", "storeName": "Demo Cafe Main St", "storeMCC": "5814"}
        },
        "env": {"storeTerminalId": "T01", "storeTerminalRequestTime": "2026-12-01T08:00:00+08:00"}
    }))
    .unwrap()
}

impl Harness {
    /// An Order Code payment, paid by the customer unless `pay` is false; its `paymentId`.
    async fn payment(&self, id: &str, value: u64, currency: &str, pay: bool) -> String {
        let request = PayRequest::order_code_polled(
            id,
            order(id, value, currency),
            Amount::new(currency, value),
        );
        let Outcome::Success(answer) = self.client.call(&request).await.unwrap() else {
            panic!("pay {id} was not accepted");
        };
        if pay {
            let (status, body) = self.control.customer_pays(id).await;
            assert_eq!(status, 200, "{body}");
        }
        answer.payment_id.unwrap()
    }

    async fn cancel(&self, id: &str) {
        let outcome = self
            .client
            .call(&CancelRequest::by_payment_request_id(id))
            .await
            .unwrap();
        assert!(outcome.is_success(), "cancel {id}: {outcome:?}");
    }

    /// A refund of `value` USD minor units; its `refundId`.
    async fn refund(&self, request_id: &str, payment_id: &str, value: u64) -> String {
        let request = RefundRequest::new(request_id, payment_id, Amount::new("USD", value));
        let Outcome::Success(answer) = self.client.call(&request).await.unwrap() else {
            panic!("refund {request_id} was not accepted");
        };
        answer.refund_id.unwrap()
    }

    fn customer(&self) -> String {
        reports::customer_id(CLIENT)
    }
}

/// A report read back: its header and its rows by column name. Asserts the `<END>` line.
struct Report {
    header: Vec<String>,
    rows: Vec<HashMap<String, String>>,
}

impl Report {
    fn read(path: &Path) -> Report {
        let raw = std::fs::read_to_string(path).unwrap();
        assert!(raw.ends_with("\n<END>\n"), "{}: {raw}", path.display());
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(raw.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let (end, data) = records.split_last().unwrap();
        assert_eq!(end.iter().collect::<Vec<_>>(), ["<END>"]);
        let rows = data
            .iter()
            .map(|record| {
                assert_eq!(record.len(), header.len(), "{record:?}");
                header
                    .iter()
                    .cloned()
                    .zip(record.iter().map(String::from))
                    .collect()
            })
            .collect();
        Report { header, rows }
    }

    /// The row of this type and transaction id.
    fn row(&self, transaction_type: &str, transaction_id: &str) -> &HashMap<String, String> {
        self.rows
            .iter()
            .find(|r| {
                r["transactionType"] == transaction_type && r["transactionId"] == transaction_id
            })
            .unwrap_or_else(|| panic!("no {transaction_type} row {transaction_id}"))
    }

    /// `(summaryType, count, settlementAmountValue, feeAmountValue)` per summary row.
    fn summary(&self) -> Vec<(String, String, String, String)> {
        self.rows
            .iter()
            .map(|r| {
                (
                    r["summaryType"].clone(),
                    r["count"].clone(),
                    r["settlementAmountValue"].clone(),
                    r["feeAmountValue"].clone(),
                )
            })
            .collect()
    }
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

fn contents(files: &[PathBuf]) -> Vec<Vec<u8>> {
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_a_refund_and_a_cancel_are_published_with_fees_and_exact_sums() {
    let h = harness(|_| {}).await;
    let day = set_clock(&h.control, 1, 12 * 3_600_000).await;
    let p1 = h.payment("R-P1", 1250, "USD", true).await;
    let p2 = h.payment("R-P2", 3000, "USD", true).await;
    let f1 = h.refund("R-F1", &p2, 1000).await;
    let p3 = h.payment("R-P3", 800, "USD", true).await;
    h.cancel("R-P3").await;
    // Cancelled before it was paid: no money moved, so no row.
    let p4 = h.payment("R-P4", 500, "USD", false).await;
    h.cancel("R-P4").await;
    let p5 = h.payment("R-P5", 1800, "JPY", true).await;

    // Not before the cut-off.
    let early = h
        .sandbox
        .publish_reports(&day.yyyymmdd())
        .await
        .unwrap_err();
    assert!(early.to_string().contains("has not ended yet"), "{early}");
    move_clock_to(&h.control, day.end_ms()).await;
    let files = h.sandbox.publish_reports(&day.yyyymmdd()).await.unwrap();

    let root = h.sandbox.reports_root();
    assert_eq!(root, h.dir.join("sftp"));
    let customer = h.customer();
    let day_dir = root.join(format!("v1/settlements/{customer}/{day}"));
    let settle_dir = root.join(format!("v1/settlements/{customer}/{}", day.next()));
    let names: Vec<String> = files.iter().map(|f| name(f)).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert_eq!(
        files[0],
        day_dir.join(format!("transactionItems_{day}_000.csv"))
    );
    for file in &files[1..] {
        assert_eq!(file.parent().unwrap(), settle_dir);
    }
    let jpy_batch = reports::settlement_batch_id(&customer, "JPY", day.next());
    let usd_batch = reports::settlement_batch_id(&customer, "USD", day.next());
    assert_eq!(
        names[1..],
        [
            format!("settlementItems_JPY_{jpy_batch}_000.csv"),
            format!("settlementSummary_JPY_{jpy_batch}_000.csv"),
            format!("settlementItems_USD_{usd_batch}_000.csv"),
            format!("settlementSummary_USD_{usd_batch}_000.csv"),
        ]
    );

    // The day's transactions.
    let transactions = Report::read(&files[0]);
    assert_eq!(transactions.header, TRANSACTION_ITEMS_HEADER);
    let kinds: Vec<(&str, &str)> = transactions
        .rows
        .iter()
        .map(|r| (r["transactionType"].as_str(), r["transactionId"].as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("PAYMENT", p1.as_str()),
            ("PAYMENT", p2.as_str()),
            ("REFUND", f1.as_str()),
            ("PAYMENT", p3.as_str()),
            ("CANCEL", p3.as_str()),
            ("PAYMENT", p5.as_str()),
        ]
    );
    assert!(transactions.rows.iter().all(|r| r["transactionId"] != p4));
    let times: Vec<&str> = transactions
        .rows
        .iter()
        .map(|r| r["paymentTime"].as_str())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "rows in time order");
    let date_prefix = format!(
        "{}-{}-{}T12:",
        &day.yyyymmdd()[..4],
        &day.yyyymmdd()[4..6],
        &day.yyyymmdd()[6..]
    );
    for row in &transactions.rows {
        assert_eq!(row["customerId"], customer);
        assert_eq!(row["acquirer"], "Alipay");
        assert_eq!(row["referenceMerchantId"], "M0001");
        assert_eq!(row["referenceStoreId"], "S0001");
        assert_eq!(row["paymentMethodType"], "CONNECT_WALLET");
        assert_eq!(row["pspName"], "ALIPAYCN");
        assert_eq!(row["productCode"], "IN_STORE_PAYMENT");
        assert!(row["paymentTime"].starts_with(&date_prefix), "{row:?}");
        assert!(row["paymentTime"].ends_with("+08:00"), "{row:?}");
        for empty in [
            "acquirerReferenceNo",
            "issuingCountry",
            "cardBrand",
            "funding",
        ] {
            assert_eq!(row[empty], "", "{empty}");
        }
    }
    let expect = |kind: &str, id: &str, fields: &[(&str, &str)]| {
        let row = transactions.row(kind, id);
        for (column, value) in fields {
            assert_eq!(row[*column], *value, "{kind} {id} {column}");
        }
    };
    expect(
        "PAYMENT",
        &p1,
        &[
            ("transactionRequestId", "R-P1"),
            ("originalTransactionId", ""),
            ("originalTransactionRequestId", ""),
            ("referenceTransactionId", "ORDER-R-P1"),
            ("orderDescription", "Flat white, oat milk (R-P1)"),
            ("transactionAmountValue", "12.50"),
            ("transactionCurrency", "USD"),
        ],
    );
    expect(
        "REFUND",
        &f1,
        &[
            ("transactionRequestId", "R-F1"),
            ("originalTransactionId", &p2),
            ("originalTransactionRequestId", "R-P2"),
            ("referenceTransactionId", "ORDER-R-P2"),
            ("transactionAmountValue", "-10.00"),
            ("transactionCurrency", "USD"),
        ],
    );
    expect(
        "CANCEL",
        &p3,
        &[
            ("transactionRequestId", "R-P3"),
            ("originalTransactionId", ""),
            ("originalTransactionRequestId", "R-P3"),
            ("transactionAmountValue", "-8.00"),
        ],
    );
    expect(
        "PAYMENT",
        &p5,
        &[
            ("transactionAmountValue", "1800"),
            ("transactionCurrency", "JPY"),
        ],
    );

    // The USD batch: every USD transaction with its fee (60 bps, half away from zero).
    let items = Report::read(&files[3]);
    assert_eq!(items.header, SETTLEMENT_ITEMS_HEADER);
    assert_eq!(items.rows.len(), 5);
    let settlement_time = format!(
        "{}-{}-{}T00:00:00+08:00",
        &day.next().yyyymmdd()[..4],
        &day.next().yyyymmdd()[4..6],
        &day.next().yyyymmdd()[6..]
    );
    for (kind, id, amount, fee) in [
        ("PAYMENT", p1.as_str(), "12.50", "-0.08"), // 7.5 cents → 8
        ("PAYMENT", p2.as_str(), "30.00", "-0.18"),
        ("REFUND", f1.as_str(), "-10.00", "0.06"),
        ("PAYMENT", p3.as_str(), "8.00", "-0.05"), // 4.8 cents → 5
        ("CANCEL", p3.as_str(), "-8.00", "0.05"),
    ] {
        let row = items.row(kind, id);
        assert_eq!(row["settlementBatchId"], usd_batch);
        assert_eq!(row["customerId"], customer);
        assert_eq!(row["transactionAmountValue"], amount, "{kind} {id}");
        assert_eq!(row["settlementAmountValue"], amount, "{kind} {id}");
        assert_eq!(row["settlementCurrency"], "USD");
        assert_eq!(row["feeAmountValue"], fee, "{kind} {id}");
        assert_eq!(row["feeCurrency"], "USD");
        assert_eq!(row["settlementTime"], settlement_time);
        assert_eq!(row["quoteCurrencyPair"], "");
    }
    let summary = Report::read(&files[4]);
    assert_eq!(summary.header, SETTLEMENT_SUMMARY_HEADER);
    let own = |a: &str, b: &str, c: &str, d: &str| {
        (a.to_owned(), b.to_owned(), c.to_owned(), d.to_owned())
    };
    assert_eq!(
        summary.summary(),
        [
            own("PAYMENT", "3", "50.50", "-0.31"),
            own("REFUND", "1", "-10.00", "0.06"),
            own("CANCEL", "1", "-8.00", "0.05"),
            own("TOTAL", "5", "32.50", "-0.20"),
        ]
    );
    for row in &summary.rows {
        assert_eq!(row["settlementBatchId"], usd_batch);
        assert_eq!(row["settlementCurrency"], "USD");
        assert_eq!(row["settlementTime"], settlement_time);
    }
    // The JPY batch: exponent 0, 10.8 yen → 11.
    let jpy = Report::read(&files[1]);
    assert_eq!(jpy.row("PAYMENT", &p5)["feeAmountValue"], "-11");
    assert_eq!(
        Report::read(&files[2]).summary(),
        [
            own("PAYMENT", "1", "1800", "-11"),
            own("TOTAL", "1", "1800", "-11"),
        ]
    );

    // Regenerating gives the same files, byte for byte.
    let before = contents(&files);
    let again = h.sandbox.publish_reports(&day.yyyymmdd()).await.unwrap();
    assert_eq!(again, files);
    assert_eq!(contents(&again), before);
    h.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_endpoint_publishes_a_day_and_refuses_bad_ones() {
    let h = harness(|o| o.fee_rate_bps = 100).await;
    let day = set_clock(&h.control, 1, 10 * 3_600_000).await;
    let p1 = h.payment("R-C1", 2000, "USD", true).await;

    let (status, body) = h.control.publish_reports(&day.yyyymmdd()).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("has not ended yet"),
        "{body}"
    );
    for bad in ["2026-12-01", "20261341", "tomorrow"] {
        let (status, body) = h.control.publish_reports(bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("YYYYMMDD"),
            "{body}"
        );
    }
    let unauthorized = reqwest::Client::new()
        .post(format!(
            "{}sandbox/control/reports?date={day}",
            h.sandbox.base_url()
        ))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);

    move_clock_to(&h.control, day.end_ms()).await;
    let (status, body) = h.control.publish_reports(&day.yyyymmdd()).await;
    assert_eq!(status, 200, "{body}");
    let customer = h.customer();
    let batch = reports::settlement_batch_id(&customer, "USD", day.next());
    assert_eq!(body["date"], day.yyyymmdd());
    assert_eq!(body["root"], h.sandbox.reports_root().display().to_string());
    assert_eq!(
        body["files"],
        json!([
            format!("/v1/settlements/{customer}/{day}/transactionItems_{day}_000.csv"),
            format!(
                "/v1/settlements/{customer}/{}/settlementItems_USD_{batch}_000.csv",
                day.next()
            ),
            format!(
                "/v1/settlements/{customer}/{}/settlementSummary_USD_{batch}_000.csv",
                day.next()
            ),
        ])
    );
    let items = h
        .sandbox
        .reports_root()
        .join(body["files"][1].as_str().unwrap().trim_start_matches('/'));
    // 1 % of USD 20.00.
    assert_eq!(
        Report::read(&items).row("PAYMENT", &p1)["feeAmountValue"],
        "-0.20"
    );
    h.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_appear_by_themselves_once_the_clock_passes_the_cut_off() {
    let data = tempfile::tempdir().unwrap();
    seed_sandbox_keys(data.path());
    let embedded = sandbox::embedded::start_with(data.path(), CLIENT, |o| {
        o.sweep_interval = Duration::from_millis(20);
    })
    .await
    .unwrap();
    let control = Control::at(
        embedded.base_url().as_str(),
        embedded.sandbox().control_token(),
    );
    assert_eq!(embedded.reports_root(), data.path().join("sandbox/sftp"));
    assert_eq!(
        embedded.ledger_path(),
        data.path().join("sandbox/sandbox.sqlite")
    );
    assert!(embedded.ledger_path().is_file());
    assert_eq!(embedded.customer_id(), reports::customer_id(CLIENT));

    // A minute before the cut-off of a day two days ahead.
    let day = set_clock(&control, 2, DAY_MS - 60_000).await;
    let client = embedded.client().unwrap();
    let request = PayRequest::order_code_polled(
        "R-AUTO-1",
        order("R-AUTO-1", 4321, "USD"),
        Amount::new("USD", 4321),
    );
    let Outcome::Success(answer) = client.call(&request).await.unwrap() else {
        panic!("pay was not accepted");
    };
    let payment_id = answer.payment_id.unwrap();
    let (status, body) = control.customer_pays("R-AUTO-1").await;
    assert_eq!(status, 200, "{body}");
    let file = embedded
        .reports_root()
        .join(format!("v1/settlements/{}/{day}", embedded.customer_id()))
        .join(format!("transactionItems_{day}_000.csv"));
    assert!(!file.exists(), "published before the cut-off");

    control.advance_clock_ms(65_000).await;
    wait_until("the day's reports after the cut-off", DEADLINE, || {
        let file = file.clone();
        async move { file.exists() }
    })
    .await;
    let report = Report::read(&file);
    assert_eq!(report.rows.len(), 1);
    let row = report.row("PAYMENT", &payment_id);
    assert_eq!(row["transactionRequestId"], "R-AUTO-1");
    assert_eq!(row["transactionAmountValue"], "43.21");
    let settlement_dir = embedded.reports_root().join(format!(
        "v1/settlements/{}/{}",
        embedded.customer_id(),
        day.next()
    ));
    wait_until("the settlement files", DEADLINE, || {
        let dir = settlement_dir.clone();
        async move {
            std::fs::read_dir(&dir)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .filter(|e| e.file_name().to_string_lossy().ends_with(".csv"))
                        .count()
                        == 2
                })
                .unwrap_or(false)
        }
    })
    .await;
    // The day before (also closed since the clock moved) got its empty file.
    let empty = embedded
        .reports_root()
        .join(format!(
            "v1/settlements/{}/{}",
            embedded.customer_id(),
            day.previous()
        ))
        .join(format!("transactionItems_{}_000.csv", day.previous()));
    assert!(Report::read(&empty).rows.is_empty());
    // On demand through the embedded sandbox's API, the same bytes.
    let before = std::fs::read(&file).unwrap();
    let files = embedded.publish_reports(&day.yyyymmdd()).await.unwrap();
    assert_eq!(files[0], file);
    assert_eq!(std::fs::read(&file).unwrap(), before);
    embedded.shutdown().await;
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .arg("sandbox")
        .arg("reports")
        .args(args)
        .env_remove("ALIPAY_POS_CONFIG")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_publishes_a_stopped_sandboxs_day_identically() {
    let h = harness(|o| o.fee_rate_bps = 45).await;
    // Two days ago on the wall clock, so the command (which has only the wall clock) finds
    // the day over.
    let day = set_clock(&h.control, -2, 9 * 3_600_000).await;
    let p1 = h.payment("R-CLI-1", 10_000, "USD", true).await;
    move_clock_to(&h.control, day.end_ms()).await;
    let files = h.sandbox.publish_reports(&day.yyyymmdd()).await.unwrap();
    let before = contents(&files);
    assert_eq!(
        Report::read(&files[1]).row("PAYMENT", &p1)["feeAmountValue"],
        "-0.45"
    );
    h.sandbox.shutdown().await;

    let dir = h.dir.display().to_string();
    let out = cli(&["--date", &day.yyyymmdd(), "--dir", &dir]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Vec<PathBuf> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(PathBuf::from)
        .collect();
    assert_eq!(printed, files);
    assert_eq!(
        contents(&printed),
        before,
        "the stored fee rate (45 bps) is reused"
    );

    // Another fee rate changes the fees, and only them.
    let out = cli(&[
        "--date",
        &day.yyyymmdd(),
        "--dir",
        &dir,
        "--fee-rate-bps",
        "100",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        Report::read(&files[1]).row("PAYMENT", &p1)["feeAmountValue"],
        "-1.00"
    );
    assert_eq!(std::fs::read(&files[0]).unwrap(), before[0]);

    // An empty day: the empty file, or with --empty-days none nothing at all.
    let empty_day = day.previous().yyyymmdd();
    let out = cli(&["--date", &empty_day, "--dir", &dir]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed.lines().count(), 1, "{printed}");
    assert!(Report::read(Path::new(printed.trim())).rows.is_empty());
    let out = cli(&["--date", &empty_day, "--dir", &dir, "--empty-days", "none"]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert!(!Path::new(printed.trim()).exists());

    // Refusals: exit 1, saying what is wrong.
    for (args, says) in [
        (vec!["--date", "2026-12-01", "--dir", &dir], "YYYYMMDD"),
        (vec!["--date", "20260230", "--dir", &dir], "YYYYMMDD"),
        (
            vec!["--date", "29991231", "--dir", &dir],
            "has not ended yet",
        ),
        (
            vec!["--date", &empty_day, "--dir", "/nonexistent/sandbox"],
            "no sandbox ledger",
        ),
        (
            vec![
                "--date",
                &empty_day,
                "--dir",
                &dir,
                "--fee-rate-bps",
                "10001",
            ],
            "--fee-rate-bps",
        ),
    ] {
        let out = cli(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}
