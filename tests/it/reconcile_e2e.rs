//! Closing the books end to end (issue 12): payments, a refund and a cancel through the
//! embedded sandbox; the sandbox publishes Alipay's reports; `alipay-pos reconcile fetch`
//! downloads them from a real OpenSSH server and imports them. Untouched, the day
//! reconciles to zero discrepancies; with the sandbox's ledger tampered, each of the five
//! kinds shows up exactly once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use alipay_pos::checkout::Policy;
use alipay_pos::journal::{Actor, PaymentState};
use alipay_pos::money::{Currency, Money};
use alipay_pos::reconcile::import::alipay_date_of;
use alipay_pos::terminal::Terminal;
use serde_json::Value;

use crate::support::sshd::Sshd;
use crate::support::*;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

struct Day {
    _dir: tempfile::TempDir,
    data: PathBuf,
    terminal: Terminal,
    /// Paid, then partly refunded.
    refunded: String,
    /// Paid (three of them: each tampered differently in the second test).
    paid: [String; 3],
    /// Cancelled before the customer paid: no money moved, Alipay lists nothing.
    cancelled: String,
    refund: String,
}

async fn a_day_of_sales() -> Day {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let terminal = demo_terminal(&data, Policy::fast(), |_| {}).await;
    let refunded = paid(&terminal, "12.50").await;
    let paid_ids = [
        paid(&terminal, "3.00").await,
        paid(&terminal, "4.25").await,
        paid(&terminal, "7.00").await,
    ];
    let refund = terminal
        .checkout
        .refund(
            &refunded,
            Some(Money::parse("2.50", Currency::USD).unwrap()),
            "spilled",
            &approval("Wang"),
        )
        .await
        .unwrap();
    let (cancelled, _) = awaiting(&terminal, "9.99").await;
    let record = terminal
        .checkout
        .cancel(&cancelled, Actor::Cashier, "customer left")
        .await
        .unwrap();
    assert_eq!(record.state, PaymentState::Cancelled);
    Day {
        _dir: dir,
        data,
        terminal,
        refunded,
        paid: paid_ids,
        cancelled,
        refund: refund.refund_request_id,
    }
}

impl Day {
    /// The Alipay days the sales fell on (two if they straddled midnight GMT+8).
    fn dates(&self) -> Vec<String> {
        let now = time::OffsetDateTime::now_utc();
        let mut dates = vec![
            alipay_date_of(now - time::Duration::minutes(5)),
            alipay_date_of(now),
        ];
        dates.dedup();
        dates
    }

    /// Ends the days on the sandbox's clock and has it publish them.
    async fn publish(&self) {
        let control = Control::of(&self.terminal);
        control.advance_clock_ms(DAY_MS + 60_000).await;
        let sandbox = self.terminal.sandbox().unwrap();
        for date in self.dates() {
            let files = sandbox.publish_reports(&date).await.unwrap();
            assert!(!files.is_empty(), "{date}");
        }
    }

    fn ledger(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.terminal.sandbox().unwrap().ledger_path()).unwrap()
    }

    /// A config file for the command line: this terminal's data, and the sandbox's
    /// published folder served by `sshd` when given.
    fn config(&self, sshd: Option<&Sshd>) -> PathBuf {
        let mut text = format!(
            "[storage]\ndata_dir = {:?}\n",
            self.data.display().to_string()
        );
        if let Some(sshd) = sshd {
            let sandbox = self.terminal.sandbox().unwrap();
            text.push_str(&format!(
                "\n[reconciliation]\nsftp_host = \"127.0.0.1\"\nsftp_port = {}\nusername = {:?}\n\
                 identity_file = {:?}\nknown_hosts = {:?}\ncustomer_id = {:?}\nremote_root = {:?}\n",
                sshd.port(),
                sshd.user(),
                sshd.identity().display().to_string(),
                sshd.known_hosts().display().to_string(),
                sandbox.customer_id(),
                sandbox.reports_root().display().to_string(),
            ));
        }
        let path = self.data.parent().unwrap().join(if sshd.is_some() {
            "sftp.toml"
        } else {
            "demo.toml"
        });
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// `reconcile fetch --date D --json` for every day: the exit statuses and the JSON objects.
fn fetch_all(config: &Path, dates: &[String]) -> Vec<(i32, Value)> {
    dates
        .iter()
        .map(|date| {
            let output = run_with_stdin(
                &[
                    "--config",
                    config.to_str().unwrap(),
                    "reconcile",
                    "fetch",
                    "--date",
                    date,
                    "--json",
                ],
                "",
            );
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            let json: Value =
                serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
            (output.status.code().unwrap_or(-1), json)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_through_the_sandbox_and_a_real_sshd_reconciles_to_zero() {
    let day = a_day_of_sales().await;
    day.publish().await;
    let sshd = Sshd::start();
    let config = day.config(Some(&sshd));
    let dates = day.dates();
    let results = tokio::task::spawn_blocking(move || fetch_all(&config, &dates))
        .await
        .unwrap();
    let (mut matched, mut not_ours) = (0, 0);
    for (status, json) in &results {
        assert_eq!(*status, 0, "{json}");
        assert_eq!(json["discrepancies"], Value::Array(vec![]), "{json}");
        assert!(
            json["files"].as_array().unwrap().iter().any(|f| f["name"]
                .as_str()
                .unwrap()
                .starts_with("transactionItems_")
                && f["status"] == "imported"),
            "{json}"
        );
        matched += json["matched"].as_u64().unwrap();
        not_ours += json["notOurs"].as_u64().unwrap();
    }
    // Four payments and a refund; the cancelled payment moved no money and is not listed.
    assert_eq!((matched, not_ours), (5, 0));

    // The embedded path (no [reconciliation]) reads the same published files: skipped.
    let demo = day.config(None);
    let dates = day.dates();
    let again = tokio::task::spawn_blocking(move || fetch_all(&demo, &dates))
        .await
        .unwrap();
    for (status, json) in &again {
        assert_eq!(*status, 0, "{json}");
        for file in json["files"].as_array().unwrap() {
            assert_eq!(file["status"], "skipped", "{json}");
        }
    }
    let _ = (&day.refunded, &day.refund, &day.cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_ledger_shows_each_kind_of_discrepancy_once() {
    let day = a_day_of_sales().await;
    let [amount, currency, renamed] = &day.paid;
    let lost = format!(
        "{}ZZZZZZZZZZZZ",
        renamed.trim_end_matches(|c: char| c != '-')
    );
    {
        let ledger = day.ledger();
        let changed = |sql: &str, id: &str| {
            let n = ledger.execute(sql, [id]).unwrap();
            assert_eq!(n, 1, "{sql} {id}");
        };
        changed(
            "UPDATE payments SET amount = amount + 1 WHERE payment_request_id = ?1",
            amount,
        );
        changed(
            "UPDATE payments SET currency = 'EUR' WHERE payment_request_id = ?1",
            currency,
        );
        // Alipay knows the payment under an id of ours the journal never made (lost), and
        // so does not list the one the journal has (missing at Alipay).
        ledger
            .execute(
                "UPDATE payments SET payment_request_id = ?2 WHERE payment_request_id = ?1",
                [renamed.as_str(), lost.as_str()],
            )
            .unwrap();
        // The payment the journal has as cancelled, paid after all.
        changed(
            "UPDATE payments SET status = 'SUCCESS', paid_at = cancel_time WHERE payment_request_id = ?1",
            &day.cancelled,
        );
    }
    day.publish().await;
    let sshd = Sshd::start();
    let config = day.config(Some(&sshd));
    let dates = day.dates();
    let results = tokio::task::spawn_blocking(move || fetch_all(&config, &dates))
        .await
        .unwrap();
    let mut found: Vec<(String, String)> = Vec::new();
    for (status, json) in &results {
        let discrepancies = json["discrepancies"].as_array().unwrap();
        assert_eq!(
            *status,
            if discrepancies.is_empty() { 0 } else { 2 },
            "{json}"
        );
        for d in discrepancies {
            found.push((
                d["kind"].as_str().unwrap().to_string(),
                d["transactionRequestId"].as_str().unwrap().to_string(),
            ));
        }
    }
    found.sort();
    let mut expected = vec![
        ("amount_mismatch".to_string(), amount.clone()),
        ("currency_mismatch".to_string(), currency.clone()),
        ("missing_at_alipay".to_string(), renamed.clone()),
        ("missing_locally".to_string(), lost),
        ("state_mismatch".to_string(), day.cancelled.clone()),
    ];
    expected.sort();
    assert_eq!(found, expected);
    let _ = Duration::ZERO;
}
