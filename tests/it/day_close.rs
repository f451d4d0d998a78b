//! The end-of-day close (Z report) and the accountants' export: close records through the
//! engine on the embedded sandbox, the real binary's `day` and `journal export` commands,
//! and `journal check` on a file whose close numbering was tampered with.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::*;
use alipay_pos::checkout::{CheckoutError, PayStart, PaymentIntent, Policy};
use alipay_pos::journal::{
    Actor, Journal, JournalError, NewPayment, PaymentState, PaymentUpdate, Product, Reader,
    RefundState, RefundUpdate, ViolationKind,
};
use alipay_pos::money::{Currency, Money};
use alipay_pos::terminal::Terminal;

const WAIT: Duration = Duration::from_secs(30);

fn money(text: &str, currency: Currency) -> Money {
    Money::parse(text, currency).unwrap()
}

/// Starts an Order Code payment of `amount`, has the sandbox's customer pay it, and waits
/// until the engine says paid.
async fn paid(terminal: &Terminal, amount: Money) -> String {
    let (record, start) = terminal
        .checkout
        .start_payment(PaymentIntent::order_code(
            amount,
            "Flat white",
            Actor::Cashier,
        ))
        .await
        .unwrap();
    let PayStart::CodeReady { code_value, .. } = start else {
        panic!("expected an order code, got {start:?}");
    };
    let (status, answer) = Control::of(terminal).wallet_pay(&code_value).await;
    assert_eq!(status, 200, "{answer}");
    let record = wait_final(&terminal.checkout, &record.payment_request_id, WAIT).await;
    assert_eq!(record.state, PaymentState::Paid);
    record.payment_request_id
}

/// A close through the engine: its figures equal the day's totals, it is number 1, a
/// second close of the day is refused naming the first, a future day is refused, and a
/// refund after the close shows against it while the close itself stays as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_records_the_day_and_later_events_show_against_it() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |_| {}).await;
    let checkout = &terminal.checkout;
    let first = paid(&terminal, money("10.00", Currency::USD)).await;
    let second = paid(&terminal, money("2.50", Currency::USD)).await;
    let yen = paid(&terminal, money("1200", Currency::JPY)).await;
    let refund = checkout
        .refund(
            &first,
            Some(money("3.00", Currency::USD)),
            "spilled",
            &approval("Ana"),
        )
        .await
        .unwrap();
    assert_eq!(refund.state, RefundState::Succeeded);
    // A payment still waiting for the customer at close.
    let (open, _) = checkout
        .start_payment(PaymentIntent::order_code(
            money("7.00", Currency::USD),
            "Open",
            Actor::Cashier,
        ))
        .await
        .unwrap();

    let today = alipay_pos::local_time::today();
    let close = checkout.close_day(today, &approval("Ana")).await.unwrap();
    assert_eq!(close.number, 1);
    assert_eq!(close.date, today);
    assert_eq!(close.closed_by, "Ana");
    assert_eq!(close.time_zone, alipay_pos::local_time::zone_name());
    let reader = terminal.reader().unwrap();
    let totals = reader.daily_totals(today..=today).unwrap();
    assert_eq!(close.totals, totals, "the close is the day's totals");
    let usd = close
        .totals
        .iter()
        .find(|t| t.currency == Currency::USD)
        .unwrap();
    assert_eq!((usd.paid_count, usd.paid.minor()), (2, 1250));
    assert_eq!((usd.refunded_count, usd.refunded.minor()), (1, 300));
    assert_eq!(usd.net.minor(), 950);
    let jpy = close
        .totals
        .iter()
        .find(|t| t.currency == Currency::JPY)
        .unwrap();
    assert_eq!(
        (jpy.paid_count, jpy.paid.minor(), jpy.net.minor()),
        (1, 1200, 1200)
    );
    let count = |state: PaymentState| {
        close
            .payment_counts
            .iter()
            .find(|(s, _)| *s == state)
            .map(|(_, n)| *n)
    };
    assert_eq!(count(PaymentState::Paid), Some(3));
    assert_eq!(count(PaymentState::AwaitingCustomer), Some(1));
    assert_eq!(count(PaymentState::Failed), Some(0), "zeros are listed too");
    assert_eq!(
        close.refund_counts,
        vec![
            (RefundState::Requested, 0),
            (RefundState::Unresolved, 0),
            (RefundState::Succeeded, 1),
            (RefundState::Failed, 0)
        ]
    );
    assert_eq!(close.unresolved_payments, 1, "the code still on screen");
    assert_eq!(close.unresolved_refunds, 0);
    assert!(close.has_unresolved());
    assert_eq!(
        close.first_payment.as_ref().unwrap().payment_request_id,
        first
    );
    assert_eq!(close.last_payment.as_ref().unwrap().payment_request_id, yen);
    assert_eq!(close.reconciliation, None, "no report imported");

    // Closed once.
    let again = checkout
        .close_day(today, &approval("Bo"))
        .await
        .unwrap_err();
    let CheckoutError::Journal(JournalError::DayAlreadyClosed { number, .. }) = &again else {
        panic!("expected DayAlreadyClosed, got {again:?}");
    };
    assert_eq!(*number, 1);
    let message = again.to_string();
    assert!(
        message.contains("close #1") && message.contains("已日结"),
        "{message}"
    );
    // Tomorrow has not started.
    let tomorrow = today.next_day().unwrap();
    let future = checkout
        .close_day(tomorrow, &approval("Ana"))
        .await
        .unwrap_err();
    assert!(future.to_string().contains("has not started"), "{future}");
    assert_eq!(reader.day_closes().unwrap().len(), 1, "nothing was written");

    // Nothing happened yet after the close.
    let report = reader.day_report(close.clone()).unwrap();
    assert!(report.later_events.is_empty(), "{:?}", report.later_events);
    assert!(!report.totals_changed());

    // A refund and the open code's cancel after the close.
    let late = checkout
        .refund(
            &second,
            Some(money("2.50", Currency::USD)),
            "late",
            &approval("Bo"),
        )
        .await
        .unwrap();
    assert_eq!(late.state, RefundState::Succeeded);
    checkout
        .cancel(&open.payment_request_id, Actor::Cashier, "customer left")
        .await
        .unwrap();
    wait_final(checkout, &open.payment_request_id, WAIT).await;

    let stored = reader.day_close_of(today).unwrap().unwrap();
    assert_eq!(stored, close, "the record never changes");
    let report = reader.day_report(stored).unwrap();
    let about: Vec<&str> = report
        .later_events
        .iter()
        .map(|e| e.request_id.as_str())
        .collect();
    assert!(
        about.contains(&late.refund_request_id.as_str()),
        "{about:?}"
    );
    assert!(
        about.contains(&open.payment_request_id.as_str()),
        "{about:?}"
    );
    assert!(
        !about.contains(&first.as_str()),
        "untouched payments stay out: {about:?}"
    );
    assert!(
        report
            .later_events
            .iter()
            .all(|e| e.event.seq > report.close.last_event_seq)
    );
    assert!(report.totals_changed());
    let usd_now = report
        .totals_now
        .iter()
        .find(|t| t.currency == Currency::USD)
        .unwrap();
    assert_eq!((usd_now.refunded.minor(), usd_now.net.minor()), (550, 700));
    assert_eq!(usd.net.minor(), 950, "the close keeps its own figures");

    // Another (earlier, empty) day takes the next number.
    let yesterday = today.previous_day().unwrap();
    let earlier = checkout
        .close_day(yesterday, &approval("Ana"))
        .await
        .unwrap();
    assert_eq!(earlier.number, 2);
    assert!(earlier.totals.is_empty());
    assert_eq!(earlier.first_payment, None);
    let numbers: Vec<u64> = reader
        .day_closes()
        .unwrap()
        .iter()
        .map(|c| c.number)
        .collect();
    assert_eq!(numbers, [1, 2]);
    assert!(reader.check().unwrap().is_clean());
}

/// A journal with one closed day, written directly (fixed clock).
fn journal_with_closes(dir: &Path, days: &[time::Date]) {
    let clock = time::macros::datetime!(2026-03-20 12:00 UTC);
    let mut journal = Journal::open_in(dir).unwrap().with_clock(move || clock);
    for day in days {
        let start = day.midnight().assume_utc();
        journal
            .close_day_in(*day, "Ana", start..start + time::Duration::days(1), "UTC")
            .unwrap();
    }
}

/// The numbering is enforced by the schema, and `journal check` catches a file whose
/// triggers were dropped and whose closes were renumbered or removed.
#[test]
fn the_journal_check_catches_tampered_close_numbers() {
    use time::macros::date;
    let dir = tempfile::tempdir().unwrap();
    let days = [
        date!(2026 - 03 - 01),
        date!(2026 - 03 - 02),
        date!(2026 - 03 - 03),
    ];
    journal_with_closes(dir.path(), &days);
    let path = dir.path().join(alipay_pos::journal::FILE_NAME);
    let conn = rusqlite::Connection::open(&path).unwrap();
    // With the triggers in place, no gap, no change, no delete.
    for sql in [
        "INSERT INTO day_closes (number, local_date, time_zone, day_start, day_end, closed_at,
             closed_by, last_event_seq, unresolved_payments, unresolved_refunds, figures)
         VALUES (7, '2026-03-09', 'UTC', 'a', 'b', 'c', 'Ana', 0, 0, 0, '{}')",
        "UPDATE day_closes SET closed_by = 'Eve' WHERE number = 2",
        "DELETE FROM day_closes WHERE number = 3",
    ] {
        let error = conn.execute_batch(sql).unwrap_err().to_string();
        assert!(error.contains("day close"), "{sql}: {error}");
    }
    drop(conn);
    assert!(
        Reader::open_in(dir.path())
            .unwrap()
            .check()
            .unwrap()
            .is_clean()
    );

    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TRIGGER day_closes_no_delete;
         DELETE FROM day_closes WHERE number = 2;",
    )
    .unwrap();
    drop(conn);
    let report = Reader::open_in(dir.path()).unwrap().check().unwrap();
    let numbering: Vec<_> = report
        .violations
        .iter()
        .filter(|v| v.kind == ViolationKind::CloseNumbering)
        .collect();
    assert_eq!(numbering.len(), 1, "{report:#?}");
    assert!(
        numbering[0].message.contains("#3") && numbering[0].message.contains("position 2"),
        "{}",
        numbering[0].message
    );
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.kind == ViolationKind::MissingTrigger
                && v.message.contains("day_closes_no_delete")),
        "{report:#?}"
    );

    // A figure rewritten by hand: the record is reported unreadable, not shown.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TRIGGER day_closes_no_update;
         UPDATE day_closes SET figures = '{\"totals\": 5}' WHERE number = 1;",
    )
    .unwrap();
    drop(conn);
    let report = Reader::open_in(dir.path()).unwrap().check().unwrap();
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.kind == ViolationKind::UnreadableClose),
        "{report:#?}"
    );
}

fn run_in(zone: &str, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(binary())
        .args(args)
        .env_remove("ALIPAY_POS_CONFIG")
        .env("TZ", zone)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A sandbox config in `dir` (keys seeded) with manager Ana's PIN set.
fn config_with_manager(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("data");
    seed_sandbox_keys(&data);
    let file = dir.join("config.toml");
    std::fs::write(
        &file,
        format!(
            "[storage]\ndata_dir = \"{}\"\n",
            p(&data).replace('\\', "\\\\")
        ),
    )
    .unwrap();
    let set = run_in(
        "UTC",
        &[
            "--config",
            p(&file),
            "admin",
            "set-pin",
            "--manager",
            "Ana",
            "--pin-stdin",
        ],
        Some("482913\n"),
    );
    assert!(set.status.success(), "{}", text(&set.stderr));
    file
}

/// `day close` with the manager's PIN, then the same day again (exit 1, naming the close),
/// a future day (exit 1), `day show` and `day list` in JSON.
#[test]
fn the_day_commands_close_once_and_show_the_close() {
    let dir = tempfile::tempdir().unwrap();
    let file = config_with_manager(dir.path());
    let config = p(&file);
    let pay = run_in(
        "UTC",
        &[
            "--config",
            config,
            "pay",
            "12.34",
            "--simulate-customer",
            "0",
            "--json",
        ],
        None,
    );
    assert_eq!(pay.status.code(), Some(0), "{}", text(&pay.stderr));

    let close = run_in(
        "UTC",
        &["--config", config, "day", "close", "--pin-stdin", "--json"],
        Some("482913\n"),
    );
    assert_eq!(close.status.code(), Some(0), "{}", text(&close.stderr));
    let json: serde_json::Value = serde_json::from_str(text(&close.stdout).trim()).unwrap();
    assert_eq!(json["number"], 1);
    assert_eq!(json["closedBy"], "Ana");
    assert_eq!(json["timeZone"], "UTC");
    assert_eq!(json["totals"][0]["currency"], "USD");
    assert_eq!(json["totals"][0]["paidMinor"], 1234);
    assert_eq!(json["paymentCounts"]["paid"], 1);
    assert_eq!(json["unresolvedPayments"], 0);
    assert_eq!(json["reconciliation"], serde_json::Value::Null);
    let date = json["date"].as_str().unwrap().to_owned();

    let again = run_in(
        "UTC",
        &["--config", config, "day", "close", "--pin-stdin"],
        Some("482913\n"),
    );
    assert_eq!(again.status.code(), Some(1));
    let error = text(&again.stderr);
    assert!(
        error.contains(&format!("{date} is already closed (close #1 at"))
            && error.contains("已日结"),
        "{error}"
    );

    let future = run_in(
        "UTC",
        &[
            "--config",
            config,
            "day",
            "close",
            "--date",
            "2999-01-01",
            "--pin-stdin",
        ],
        Some("482913\n"),
    );
    assert_eq!(future.status.code(), Some(1));
    assert!(
        text(&future.stderr).contains("has not started"),
        "{}",
        text(&future.stderr)
    );

    let show = run_in(
        "UTC",
        &["--config", config, "day", "show", "--date", &date, "--json"],
        None,
    );
    assert_eq!(show.status.code(), Some(0), "{}", text(&show.stderr));
    let report: serde_json::Value = serde_json::from_str(text(&show.stdout).trim()).unwrap();
    assert_eq!(report["close"], json);
    assert_eq!(report["totalsChanged"], false);
    assert_eq!(report["laterEvents"], serde_json::json!([]));

    let plain = run_in(
        "UTC",
        &["--config", config, "day", "show", "--number", "1"],
        None,
    );
    assert!(plain.status.success());
    let shown = text(&plain.stdout);
    assert!(shown.contains("Z report / 日结报告 #1"), "{shown}");
    assert!(shown.contains("USD  paid / 收款 12.34 (1)"), "{shown}");

    let missing = run_in(
        "UTC",
        &["--config", config, "day", "show", "--number", "9"],
        None,
    );
    assert_eq!(missing.status.code(), Some(1));

    let list = run_in("UTC", &["--config", config, "day", "list", "--json"], None);
    let closes: serde_json::Value = serde_json::from_str(text(&list.stdout).trim()).unwrap();
    assert_eq!(closes, serde_json::json!([json]));
}

/// A JPY (no decimals) and a USD (two) payment, and a refund, exported: the documented
/// header, exact major-unit amounts, local times with their offset, the zone named, a
/// formula-looking description defused; `--from` after `--to` refused.
#[test]
fn the_export_has_the_documented_columns_and_exact_amounts() {
    use time::macros::datetime;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("config.toml");
    std::fs::write(&file, format!("[storage]\ndata_dir = \"{}\"\n", p(&data))).unwrap();
    let at = datetime!(2026-03-07 02:00 UTC); // 10:00 in Shanghai
    let mut journal = Journal::open_in(&data).unwrap().with_clock(move || at);
    let mut payments = Vec::new();
    for (n, amount, description) in [
        (1, Money::from_minor(1200, Currency::JPY).unwrap(), "Ramen"),
        (
            2,
            Money::from_minor(1005, Currency::USD).unwrap(),
            "=SUM(A1:A9)",
        ),
    ] {
        let record = journal
            .create_payment(
                NewPayment {
                    payment_request_id: format!("EXP-P{n}"),
                    order_ref: format!("EXP-O{n}"),
                    amount,
                    description: description.to_owned(),
                    operator: "T01".into(),
                    product: Product::OrderCode,
                    customer_code: None,
                },
                Actor::Cashier,
            )
            .unwrap();
        journal
            .transition_payment(
                record.id,
                PaymentState::Paid,
                Actor::System,
                "paid",
                PaymentUpdate {
                    payment_id: Some(format!("ALI-{n}")),
                    paid_at: Some(at),
                    ..PaymentUpdate::default()
                },
            )
            .unwrap();
        payments.push(record.id);
    }
    let refund = journal
        .create_refund(
            alipay_pos::journal::NewRefund {
                refund_request_id: "EXP-R1".into(),
                payment: payments[1],
                amount: Money::from_minor(5, Currency::USD).unwrap(),
                reason: "short, one cent".into(),
                manager: "Ana".into(),
            },
            Actor::Manager,
        )
        .unwrap();
    journal
        .transition_refund(
            refund.id,
            RefundState::Succeeded,
            Actor::System,
            "refunded",
            RefundUpdate {
                refund_id: Some("ALI-R1".into()),
                ..RefundUpdate::default()
            },
        )
        .unwrap();
    drop(journal);

    let out = dir.path().join("export.csv");
    let export = run_in(
        "Asia/Shanghai",
        &[
            "--config",
            p(&file),
            "journal",
            "export",
            "--from",
            "2026-03-07",
            "--to",
            "2026-03-07",
            "--format",
            "csv",
            "--output",
            p(&out),
        ],
        None,
    );
    assert_eq!(export.status.code(), Some(0), "{}", text(&export.stderr));
    assert!(
        text(&export.stderr).contains("3 rows written"),
        "{}",
        text(&export.stderr)
    );
    let csv = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines,
        [
            "record_type,payment_request_id,refund_request_id,alipay_payment_id,alipay_refund_id,\
             order_ref,product,state,amount,currency,created_at,completed_at,final_at,time_zone,\
             operator,manager,description,reason,result_code,resolution",
            "payment,EXP-P1,,ALI-1,,EXP-O1,order_code,paid,1200,JPY,2026-03-07 10:00:00 +08:00,\
             2026-03-07 10:00:00 +08:00,2026-03-07 10:00:00 +08:00,Asia/Shanghai,T01,,Ramen,,,",
            "payment,EXP-P2,,ALI-2,,EXP-O2,order_code,paid,10.05,USD,2026-03-07 10:00:00 +08:00,\
             2026-03-07 10:00:00 +08:00,2026-03-07 10:00:00 +08:00,Asia/Shanghai,T01,,\
             '=SUM(A1:A9),,,",
            "refund,EXP-P2,EXP-R1,ALI-2,ALI-R1,EXP-O2,order_code,succeeded,0.05,USD,\
             2026-03-07 10:00:00 +08:00,2026-03-07 10:00:00 +08:00,2026-03-07 10:00:00 +08:00,\
             Asia/Shanghai,T01,Ana,'=SUM(A1:A9),\"short, one cent\",,",
        ]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the export holds every payment");
    }

    // The day before, in Shanghai, has nothing; stdout works too.
    let empty = run_in(
        "Asia/Shanghai",
        &[
            "--config",
            p(&file),
            "journal",
            "export",
            "--from",
            "2026-03-06",
            "--to",
            "2026-03-06",
        ],
        None,
    );
    assert_eq!(empty.status.code(), Some(0), "{}", text(&empty.stderr));
    assert_eq!(text(&empty.stdout).lines().count(), 1, "the header only");

    let backwards = run_in(
        "UTC",
        &[
            "--config",
            p(&file),
            "journal",
            "export",
            "--from",
            "2026-03-08",
            "--to",
            "2026-03-07",
        ],
        None,
    );
    assert_eq!(backwards.status.code(), Some(1));
    assert!(
        text(&backwards.stderr).contains("--from 2026-03-08 is after --to 2026-03-07"),
        "{}",
        text(&backwards.stderr)
    );
}

/// A close keeps the state of Alipay's reports for its day: files imported, rows matched
/// and not ours, discrepancies still open; a day with no report imported says so (`None`).
#[test]
fn a_close_records_the_reports_imported_for_its_day() {
    use time::macros::date;
    let dir = tempfile::tempdir().unwrap();
    drop(Journal::open_in(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(alipay_pos::journal::FILE_NAME)).unwrap();
    let sha = "0".repeat(64);
    conn.execute_batch(&format!(
        "INSERT INTO report_files (id, name, sha256, kind, report_date, rows, matched, not_ours,
             imported_at)
         VALUES (1, 'transactionItems_20260301_000.csv', '{sha}', 'transactions', '20260301',
             8, 5, 1, '2026-03-02T01:00:00.000000Z');
         INSERT INTO discrepancies (kind, report_date, transaction_request_id, transaction_type,
             file, line, alipay, journal, found_at)
         VALUES ('missing_locally', '20260301', 'P-LOST', 'PAYMENT', 1, 4, '{{}}', 'null',
                 '2026-03-02T01:00:00.000000Z'),
                ('missing_locally', '20260301', 'P-LOST-2', 'PAYMENT', 1, 5, '{{}}', 'null',
                 '2026-03-02T01:00:00.000000Z');
         UPDATE discrepancies SET resolution = 'listed_later',
             resolved_at = '2026-03-02T02:00:00.000000Z' WHERE transaction_request_id = 'P-LOST-2';"
    ))
    .unwrap();
    drop(conn);
    journal_with_closes(dir.path(), &[date!(2026 - 03 - 01), date!(2026 - 03 - 02)]);
    let closes = Reader::open_in(dir.path()).unwrap().day_closes().unwrap();
    let reconciliation = closes[0].reconciliation.unwrap();
    assert_eq!(
        (
            reconciliation.files_imported,
            reconciliation.matched,
            reconciliation.not_ours,
            reconciliation.open_discrepancies
        ),
        (1, 5, 1, 1),
        "the resolved discrepancy is not open"
    );
    assert_eq!(
        closes[1].reconciliation, None,
        "nothing imported for the 2nd"
    );
}
