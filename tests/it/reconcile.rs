//! Reconciliation against Alipay's report files (issue 12 §2): every discrepancy kind,
//! every file defect, idempotent imports, acceptance, and the CLI's output contract.
//!
//! The journal is a real SQLite file filled through the journal's own API with a fixed
//! clock (so payments fall in a known Alipay day), and the reports are files written the
//! way Alipay lays them out; the end-to-end run through the sandbox and SFTP is in
//! `reconcile_e2e.rs`.

use std::path::{Path, PathBuf};

use alipay_pos::journal::{
    Actor, DiscrepancyFilter, DiscrepancyKind, DiscrepancyResolution, Journal, ListedType,
    NewPayment, NewRefund, PaymentRecord, PaymentState, PaymentUpdate, Product,
    ReconciliationReads, RefundState, RefundUpdate, Resolution,
};
use alipay_pos::money::{Currency, Money};
use alipay_pos::reconcile::accept::accept;
use alipay_pos::reconcile::day_report::DayReport;
use alipay_pos::reconcile::{FileStatus, ReconcileError, Scope, import_files};
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::support::*;

/// Alipay's day 2026-11-30 (GMT+8), mid-morning.
const DAY: &str = "20261130";
const NOON: OffsetDateTime = datetime!(2026-11-30 12:00:00 +8);

/// The sample header of flows.md §8, in Alipay's order.
const TRANSACTION_HEADER: &str = "customerId,acquirer,acquirerReferenceNo,referenceMerchantId,referenceStoreId,transactionId,originalTransactionId,transactionRequestId,referenceTransactionId,orderDescription,paymentMethodType,pspName,transactionType,paymentTime,productCode,transactionAmountValue,transactionCurrency,originalTransactionRequestId,issuingCountry,cardBrand,funding";

fn scope() -> Scope {
    Scope {
        terminal_id: "T01".into(),
        store_id: "S0001".into(),
        customer_id: None,
    }
}

fn usd(minor: u64) -> Money {
    Money::from_minor(minor, Currency::from_code("USD").unwrap()).unwrap()
}

/// A request id of this terminal's shape (`<prefix>-<seconds>-T01-<random>`).
fn ours(prefix: &str, n: u32) -> String {
    format!("{prefix}-1764475200-T01-{n:012}")
}

struct Books {
    _dir: tempfile::TempDir,
    data: PathBuf,
    reports: PathBuf,
    journal: Journal,
}

fn books() -> Books {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let reports = dir.path().join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let journal = Journal::open_in(&data).unwrap().with_clock(|| NOON);
    Books {
        _dir: dir,
        data,
        reports,
        journal,
    }
}

impl Books {
    fn payment(&mut self, request_id: &str, amount: Money) -> PaymentRecord {
        self.journal
            .create_payment(
                NewPayment {
                    payment_request_id: request_id.to_string(),
                    order_ref: format!("O-{request_id}"),
                    amount,
                    description: "Coffee".into(),
                    operator: "T01".into(),
                    product: Product::OrderCode,
                    customer_code: None,
                },
                Actor::Cashier,
            )
            .unwrap()
    }

    fn paid_at(&mut self, request_id: &str, amount: Money, at: OffsetDateTime) -> PaymentRecord {
        let record = self.payment(request_id, amount);
        self.journal
            .transition_payment(
                &record,
                PaymentState::Paid,
                Actor::System,
                "paid",
                PaymentUpdate {
                    payment_id: Some(format!("A{request_id}")),
                    resolution: Some(Resolution::Pay),
                    paid_at: Some(at),
                    ..PaymentUpdate::default()
                },
            )
            .unwrap()
    }

    fn paid(&mut self, request_id: &str, amount: Money) -> PaymentRecord {
        self.paid_at(request_id, amount, NOON)
    }

    fn in_state(&mut self, request_id: &str, amount: Money, state: PaymentState) -> PaymentRecord {
        let record = self.payment(request_id, amount);
        self.journal
            .transition_payment(
                &record,
                state,
                Actor::System,
                "test",
                PaymentUpdate::default(),
            )
            .unwrap()
    }

    fn refunded(&mut self, payment: &PaymentRecord, request_id: &str, amount: Money) {
        let refund = self
            .journal
            .create_refund(
                NewRefund {
                    refund_request_id: request_id.to_string(),
                    payment: payment.id,
                    amount,
                    reason: "broken cup".into(),
                    manager: "Li".into(),
                },
                Actor::Manager,
            )
            .unwrap();
        self.journal
            .transition_refund(
                &refund,
                RefundState::Succeeded,
                Actor::System,
                "refunded",
                RefundUpdate {
                    refund_id: Some(format!("A{request_id}")),
                    resolution: Some(Resolution::Refund),
                    refunded_at: Some(NOON),
                    ..RefundUpdate::default()
                },
            )
            .unwrap();
    }

    fn import(
        &mut self,
        files: &[PathBuf],
    ) -> Result<alipay_pos::reconcile::ImportSummary, ReconcileError> {
        import_files(&mut self.journal, files, &scope())
    }
}

/// One transactions row in the sample header's columns.
struct Tx<'a> {
    kind: &'a str,
    request_id: &'a str,
    amount: &'a str,
    currency: &'a str,
    store: &'a str,
    original: &'a str,
}

fn tx<'a>(kind: &'a str, request_id: &'a str, amount: &'a str) -> Tx<'a> {
    Tx {
        kind,
        request_id,
        amount,
        currency: "USD",
        store: "S0001",
        original: "",
    }
}

fn tx_line(t: &Tx<'_>) -> String {
    format!(
        "1022188000000000001,Alipay,,M0001,{store},A{id},,{id},,Coffee,CONNECT_WALLET,ALIPAY_CN,{kind},2026-11-30T12:00:00+08:00,IN_STORE_PAYMENT,{amount},{currency},{original},,,",
        store = t.store,
        id = t.request_id,
        kind = t.kind,
        amount = t.amount,
        currency = t.currency,
        original = t.original,
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn transactions(dir: &Path, date: &str, rows: &[Tx<'_>]) -> PathBuf {
    let mut text = format!("{TRANSACTION_HEADER}\n");
    for row in rows {
        text.push_str(&tx_line(row));
        text.push('\n');
    }
    text.push_str("<END>\n");
    write(dir, &format!("transactionItems_{date}_000.csv"), &text)
}

#[test]
fn a_day_that_matches_has_no_discrepancies_and_a_second_import_is_skipped() {
    let mut b = books();
    let p1 = ours("P", 1);
    let p2 = ours("P", 2);
    let r1 = ours("R", 3);
    let first = b.paid(&p1, usd(1250));
    b.paid(&p2, usd(400));
    b.refunded(&first, &r1, usd(250));
    let other_till = "P-1764475200-T02-000000000009";
    let file = transactions(
        &b.reports,
        DAY,
        &[
            tx("PAYMENT", &p1, "12.50"),
            tx("PAYMENT", &p2, "4.00"),
            tx("REFUND", &r1, "-2.50"),
            // The same merchant's other till, and another store: not ours.
            tx("PAYMENT", other_till, "9.99"),
            Tx {
                store: "S0002",
                ..tx("PAYMENT", &ours("P", 4), "1.00")
            },
        ],
    );
    let summary = b.import(std::slice::from_ref(&file)).unwrap();
    assert_eq!(summary.files[0].status, FileStatus::Imported);
    assert_eq!(summary.files[0].file.rows, 5);
    assert_eq!((summary.matched, summary.not_ours), (3, 2));
    assert!(
        summary.discrepancies.is_empty(),
        "{:?}",
        summary.discrepancies
    );

    let again = b.import(&[file]).unwrap();
    assert_eq!(again.files[0].status, FileStatus::Skipped);
    assert_eq!((again.matched, again.not_ours), (3, 2));
    assert!(again.discrepancies.is_empty());
    assert_eq!(b.journal.imported_files(Some(DAY)).unwrap().len(), 1);
}

#[test]
fn each_discrepancy_kind_is_found_once_with_its_evidence() {
    let mut b = books();
    let listed_ok = ours("P", 1);
    let unlisted = ours("P", 2);
    let wrong_amount = ours("P", 3);
    let failed = ours("P", 4);
    let wrong_currency = ours("P", 5);
    let lost = ours("P", 6);
    b.paid(&listed_ok, usd(100));
    b.paid(&unlisted, usd(200));
    b.paid(&wrong_amount, usd(300));
    b.in_state(&failed, usd(400), PaymentState::Failed);
    b.paid(&wrong_currency, usd(500));
    let file = transactions(
        &b.reports,
        DAY,
        &[
            tx("PAYMENT", &listed_ok, "1.00"),
            tx("PAYMENT", &wrong_amount, "3.01"),
            tx("PAYMENT", &failed, "4.00"),
            Tx {
                currency: "JPY",
                ..tx("PAYMENT", &wrong_currency, "500")
            },
            tx("PAYMENT", &lost, "6.00"),
        ],
    );
    let summary = b.import(&[file]).unwrap();
    assert_eq!(summary.matched, 1);
    let mut kinds: Vec<(DiscrepancyKind, String)> = summary
        .discrepancies
        .iter()
        .map(|d| (d.kind, d.transaction_request_id.clone()))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            (DiscrepancyKind::MissingLocally, lost.clone()),
            (DiscrepancyKind::MissingAtAlipay, unlisted.clone()),
            (DiscrepancyKind::AmountMismatch, wrong_amount.clone()),
            (DiscrepancyKind::StateMismatch, failed.clone()),
            (DiscrepancyKind::CurrencyMismatch, wrong_currency.clone()),
        ]
    );
    let json = summary.to_json();
    let by_kind = |kind: &str| -> Value {
        json["discrepancies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["kind"] == kind)
            .cloned()
            .unwrap()
    };
    let amount = by_kind("amount_mismatch");
    assert_eq!(amount["transactionType"], "PAYMENT");
    assert_eq!(amount["alipay"]["amount"], "3.01");
    assert_eq!(amount["alipay"]["line"], 3);
    assert_eq!(amount["journal"]["amount"], "3.00");
    assert_eq!(by_kind("state_mismatch")["journal"]["state"], "failed");
    assert_eq!(by_kind("currency_mismatch")["alipay"]["currency"], "JPY");
    assert_eq!(by_kind("missing_locally")["journal"], Value::Null);
    assert_eq!(by_kind("missing_at_alipay")["alipay"]["listed"], false);
    assert_eq!(by_kind("missing_at_alipay")["journal"]["state"], "paid");
}

#[test]
fn a_cancel_the_journal_lacks_and_a_refund_it_has_as_failed_are_state_mismatches() {
    let mut b = books();
    let paid = ours("P", 1);
    b.paid(&paid, usd(100));
    let refunded = ours("P", 2);
    let payment = b.paid(&refunded, usd(900));
    let refund = ours("R", 3);
    let r = b
        .journal
        .create_refund(
            NewRefund {
                refund_request_id: refund.clone(),
                payment: payment.id,
                amount: usd(900),
                reason: "wrong order".into(),
                manager: "Li".into(),
            },
            Actor::Manager,
        )
        .unwrap();
    b.journal
        .transition_refund(
            &r,
            RefundState::Failed,
            Actor::System,
            "failed",
            RefundUpdate::default(),
        )
        .unwrap();
    let file = transactions(
        &b.reports,
        DAY,
        &[
            tx("PAYMENT", &paid, "1.00"),
            Tx {
                original: &paid,
                ..tx("CANCEL", &paid, "-1.00")
            },
            tx("PAYMENT", &refunded, "9.00"),
            tx("REFUND", &refund, "-9.00"),
        ],
    );
    let summary = b.import(&[file]).unwrap();
    let found: Vec<(DiscrepancyKind, ListedType)> = summary
        .discrepancies
        .iter()
        .map(|d| (d.kind, d.transaction_type))
        .collect();
    assert_eq!(
        found,
        vec![
            (DiscrepancyKind::StateMismatch, ListedType::Cancel),
            (DiscrepancyKind::StateMismatch, ListedType::Refund),
        ]
    );
    assert_eq!(summary.matched, 2);
}

#[test]
fn a_payment_at_the_cut_off_listed_the_next_day_closes_its_discrepancy_by_itself() {
    let mut b = books();
    let late = ours("P", 1);
    // 23:59:59.5 GMT+8: the terminal's day 30, but Alipay's file may list it on day 1.
    b.paid_at(&late, usd(700), datetime!(2026-11-30 23:59:59.5 +8));
    let day30 = transactions(&b.reports, DAY, &[]);
    let first = b.import(&[day30]).unwrap();
    assert_eq!(first.discrepancies.len(), 1);
    assert_eq!(
        first.discrepancies[0].kind,
        DiscrepancyKind::MissingAtAlipay
    );

    let day1 = transactions(&b.reports, "20261201", &[tx("PAYMENT", &late, "7.00")]);
    let second = b.import(&[day1]).unwrap();
    assert!(
        second.discrepancies.is_empty(),
        "{:?}",
        second.discrepancies
    );
    let closed = b
        .journal
        .discrepancies(&DiscrepancyFilter::default())
        .unwrap();
    assert_eq!(closed.len(), 1);
    match &closed[0].resolution {
        Some(DiscrepancyResolution::ListedLater { note }) => {
            assert!(
                note.contains("transactionItems_20261201_000.csv line 2"),
                "{note}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn accepting_settles_an_unresolved_payment_by_reconciliation_and_notes_the_others() {
    let mut b = books();
    let unresolved = ours("P", 1);
    b.in_state(&unresolved, usd(1000), PaymentState::Unresolved);
    let lost = ours("P", 2);
    let file = transactions(
        &b.reports,
        DAY,
        &[
            tx("PAYMENT", &unresolved, "10.00"),
            tx("PAYMENT", &lost, "2.00"),
        ],
    );
    let summary = b.import(&[file]).unwrap();
    assert_eq!(summary.discrepancies.len(), 2);
    let state = summary
        .discrepancies
        .iter()
        .find(|d| d.kind == DiscrepancyKind::StateMismatch)
        .unwrap()
        .id;
    let missing = summary
        .discrepancies
        .iter()
        .find(|d| d.kind == DiscrepancyKind::MissingLocally)
        .unwrap()
        .id;

    let manager = approval("Wang");
    assert!(matches!(
        accept(&mut b.journal, state, &manager, "  "),
        Err(ReconcileError::NoReason)
    ));
    let accepted = accept(&mut b.journal, state, &manager, "portal shows it paid").unwrap();
    assert_eq!(accepted.settled_as, Some("paid"));
    let record = b.journal.find_payment(&unresolved).unwrap().unwrap();
    assert_eq!(record.state, PaymentState::Paid);
    assert_eq!(record.resolution, Some(Resolution::Reconciliation));
    assert_eq!(
        record.payment_id.as_deref(),
        Some(format!("A{unresolved}").as_str())
    );
    let history = b.journal.events_for(record.id).unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.actor, Actor::Manager);
    assert!(
        last.detail
            .contains("accepted by Wang: portal shows it paid"),
        "{}",
        last.detail
    );
    assert!(matches!(
        accept(&mut b.journal, state, &manager, "again"),
        Err(ReconcileError::AlreadyResolved { .. })
    ));

    let none = accept(
        &mut b.journal,
        missing,
        &manager,
        "asked Alipay: a test order",
    )
    .unwrap();
    assert_eq!(none.settled_as, None);
    assert!(matches!(
        none.discrepancy.resolution,
        Some(DiscrepancyResolution::Accepted { ref manager, .. }) if manager == "Wang"
    ));
    assert!(matches!(
        accept(&mut b.journal, 999, &manager, "x"),
        Err(ReconcileError::NoSuchDiscrepancy { id: 999 })
    ));
    let report = DayReport::for_day(&b.journal, DAY).unwrap();
    assert!(report.open.is_empty());
    assert_eq!(report.resolved.len(), 2);
}

#[test]
fn columns_are_found_by_name_with_a_bom_crlf_and_unknown_columns() {
    let mut b = books();
    let p1 = ours("P", 1);
    b.paid(&p1, usd(1450));
    let text = format!(
        "\u{feff}transactionCurrency,someNewColumn,transactionAmountValue,transactionType,transactionRequestId,transactionId,paymentTime,customerId\r\nUSD,x,14.50,PAYMENT,{p1},A{p1},2026-11-30T12:00:00+08:00,1022188000000000001\r\n<END>\r\n"
    );
    let file = write(&b.reports, "transactionItems_20261130_000.csv", &text);
    let summary = b.import(&[file]).unwrap();
    assert_eq!(summary.matched, 1);
    assert!(
        summary.discrepancies.is_empty(),
        "{:?}",
        summary.discrepancies
    );
}

/// Every defect is refused with the file (and line) named, and leaves nothing behind.
#[test]
fn defective_files_are_refused_whole() {
    let mut b = books();
    let p1 = ours("P", 1);
    b.paid(&p1, usd(100));
    let good = tx_line(&tx("PAYMENT", &p1, "1.00"));
    let name = "transactionItems_20261130_000.csv";
    let cases: Vec<(String, &str)> = vec![
        (format!("{TRANSACTION_HEADER}\n{good}\n"), "incomplete"),
        (
            format!(
                "{}\n{good}\n<END>\n",
                TRANSACTION_HEADER.replace("transactionRequestId,", "")
            ),
            "`transactionRequestId`",
        ),
        (
            format!(
                "{TRANSACTION_HEADER}\n{good}\n{}\n<END>\n",
                tx_line(&tx("PAYMENT", &ours("P", 2), "1.005"))
            ),
            "line 3",
        ),
        (
            format!("{TRANSACTION_HEADER}\n{good}\n<END>\n{good}\n"),
            "after the `<END>`",
        ),
        (
            format!("{TRANSACTION_HEADER}\n{good},extra\n<END>\n"),
            "line 2",
        ),
        (
            format!(
                "{TRANSACTION_HEADER}\n{}\n<END>\n",
                tx_line(&Tx {
                    currency: "XYZ",
                    ..tx("PAYMENT", &p1, "1.00")
                })
            ),
            "not a currency code",
        ),
    ];
    for (text, expected) in cases {
        let file = write(&b.reports, name, &text);
        let error = b.import(&[file]).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(name), "{message}");
        assert!(message.contains(expected), "{expected}: {message}");
        assert_eq!(b.journal.imported_file(name).unwrap(), None, "{message}");
        assert!(
            b.journal
                .discrepancies(&DiscrepancyFilter::default())
                .unwrap()
                .is_empty()
        );
    }
    let renamed = write(
        &b.reports,
        "transactions.csv",
        &format!("{TRANSACTION_HEADER}\n<END>\n"),
    );
    assert!(matches!(
        b.import(&[renamed]),
        Err(ReconcileError::NotAReport { .. })
    ));

    let file = write(
        &b.reports,
        name,
        &format!("{TRANSACTION_HEADER}\n{good}\n<END>\n"),
    );
    b.import(std::slice::from_ref(&file)).unwrap();
    write(&b.reports, name, &format!("{TRANSACTION_HEADER}\n<END>\n"));
    assert!(matches!(
        b.import(&[file]),
        Err(ReconcileError::ChangedFile { .. })
    ));
}

const SUMMARY_HEADER: &str = "settlementBatchId,customerId,acquirer,summaryType,settlementTime,count,settlementAmountValue,settlementCurrency,feeAmountValue,feeCurrency";

#[test]
fn a_settlement_summary_gives_the_batch_its_gross_fees_and_net() {
    let mut b = books();
    let folder = b.reports.join("20261201");
    std::fs::create_dir_all(&folder).unwrap();
    let text = format!(
        "{SUMMARY_HEADER}\nB20261201USD,1022188000000000001,Alipay,PAYMENT,2026-12-01T10:00:00+08:00,2,14.50,USD,-0.50,USD\nB20261201USD,1022188000000000001,Alipay,REFUND,2026-12-01T10:00:00+08:00,1,-7.25,USD,0.25,USD\nB20261201USD,1022188000000000001,Alipay,TOTAL,2026-12-01T10:00:00+08:00,3,7.25,USD,-0.25,USD\n<END>\n"
    );
    let file = write(&folder, "settlementSummary_USD_B20261201USD_000.csv", &text);
    let summary = b.import(&[file]).unwrap();
    assert_eq!(summary.files[0].file.rows, 3);
    let report = DayReport::for_day(&b.journal, "20261201").unwrap();
    assert_eq!(report.batches.len(), 1);
    let batch = &report.batches[0];
    assert_eq!(batch.gross_minor, 725);
    assert_eq!(batch.batch.fee_minor, 25);
    assert_eq!(batch.batch.net_minor, 700);
    assert_eq!(batch.batch.count, 3);
    assert_eq!(report.to_json()["settlementBatches"][0]["gross"], "7.25");
    assert_eq!(report.to_json()["settlementBatches"][0]["net"], "7.00");

    let no_total = write(
        &folder,
        "settlementSummary_USD_B20261202USD_000.csv",
        &format!("{SUMMARY_HEADER}\n<END>\n"),
    );
    let error = b.import(&[no_total]).unwrap_err().to_string();
    assert!(error.contains("no TOTAL row"), "{error}");
}

// ---------------------------------------------------------------------------------------
// The command line: the output contract scripts rely on.

fn config_for(dir: &Path, data: &Path) -> PathBuf {
    let hash = alipay_pos::admin::hash_pin(TEST_PIN).unwrap();
    let file = dir.join("config.toml");
    std::fs::write(
        &file,
        format!(
            "[storage]\ndata_dir = \"{}\"\n\n[admin]\npin_hash = \"{hash}\"\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    file
}

fn json_out(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[test]
fn the_cli_prints_the_contract_and_exits_0_2_or_1() {
    let mut b = books();
    let p1 = ours("P", 1);
    let p2 = ours("P", 2);
    b.paid(&p1, usd(100));
    b.in_state(&p2, usd(200), PaymentState::Unresolved);
    let config = config_for(b._dir.path(), &b.data);
    let c = config.to_str().unwrap();
    let clean = transactions(&b.reports, DAY, &[tx("PAYMENT", &p1, "1.00")]);
    let open = transactions(&b.reports, "20261201", &[tx("PAYMENT", &p2, "2.00")]);
    drop(b.journal);

    let output = run_with_stdin(
        &[
            "--config",
            c,
            "reconcile",
            "import",
            clean.to_str().unwrap(),
            "--json",
        ],
        "",
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json = json_out(&output);
    assert_eq!(
        json["files"][0]["name"],
        "transactionItems_20261130_000.csv"
    );
    assert_eq!(json["files"][0]["status"], "imported");
    assert_eq!(json["files"][0]["rows"], 1);
    assert_eq!(json["matched"], 1);
    assert_eq!(json["notOurs"], 0);
    assert_eq!(json["discrepancies"], Value::Array(vec![]));

    let output = run_with_stdin(
        &[
            "--config",
            c,
            "reconcile",
            "import",
            clean.to_str().unwrap(),
            open.to_str().unwrap(),
            "--json",
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(2));
    let json = json_out(&output);
    assert_eq!(json["files"][0]["status"], "skipped");
    assert_eq!(json["files"][1]["status"], "imported");
    let d = &json["discrepancies"][0];
    assert_eq!(d["kind"], "state_mismatch");
    assert_eq!(d["transactionRequestId"], p2.as_str());
    assert_eq!(d["transactionType"], "PAYMENT");
    assert_eq!(d["journal"]["state"], "unresolved");
    let id = d["id"].as_i64().unwrap().to_string();

    let report = run_with_stdin(
        &[
            "--config",
            c,
            "reconcile",
            "report",
            "--date",
            "20261201",
            "--json",
        ],
        "",
    );
    assert_eq!(report.status.code(), Some(0));
    assert_eq!(
        json_out(&report)["openDiscrepancies"][0]["id"].to_string(),
        id
    );

    let wrong_pin = run_with_stdin(
        &[
            "--config",
            c,
            "reconcile",
            "accept",
            &id,
            "--reason",
            "portal: paid",
            "--pin-stdin",
        ],
        "000000\n",
    );
    assert_eq!(wrong_pin.status.code(), Some(1));
    let accepted = run_with_stdin(
        &[
            "--config",
            c,
            "reconcile",
            "accept",
            &id,
            "--reason",
            "portal: paid",
            "--pin-stdin",
            "--json",
        ],
        &format!("{TEST_PIN}\n"),
    );
    assert_eq!(
        accepted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    assert_eq!(json_out(&accepted)["settledAs"], "paid");
    let reader = alipay_pos::journal::Reader::open_in(&b.data).unwrap();
    assert_eq!(
        reader.find_payment(&p2).unwrap().unwrap().state,
        PaymentState::Paid
    );

    let bad = write(
        &b.reports,
        "transactionItems_20261202_000.csv",
        &format!("{TRANSACTION_HEADER}\n"),
    );
    let output = run_with_stdin(
        &[
            "--config",
            c,
            "reconcile",
            "import",
            bad.to_str().unwrap(),
            "--json",
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("incomplete"));
    let output = run_with_stdin(
        &["--config", c, "reconcile", "report", "--date", "2026-12-01"],
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("YYYYMMDD"));
}
