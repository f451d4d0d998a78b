//! Reconciliation at scale, for the README (`cargo bench --features test-support --bench reconcile`):
//! - importing and matching a 1,000,000-row transactions file against a journal of 1,000,000
//!   paid payments: wall time, rows per second, and the import process's peak resident set;
//! - `reconcile report` and the end-of-day totals over that journal.
//!
//! The import runs in a child process of this binary, so its peak memory (`VmHWM`) is the
//! import's own and not the set-up's. The journal is filled with one SQL transaction (the set-
//! up is not what is measured; the engine's own write path is in `--bench engine`).
//!
//! `RECONCILE_BENCH_ROWS` changes the size (default 1,000,000).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use alipay_pos::journal::{Journal, Reader};
use alipay_pos::reconcile::day_report::DayReport;
use alipay_pos::reconcile::{Scope, import_files};

const CHILD: &str = "RECONCILE_BENCH_CHILD";
const DAY: &str = "20261130";

fn rows() -> u64 {
    std::env::var("RECONCILE_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn request_id(n: u64) -> String {
    format!("P-1764475200-T01-{n:012}")
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A journal of `n` payments paid on Alipay day 2026-11-30.
fn fill_journal(data: &Path, n: u64) {
    drop(Journal::open_in(data).expect("journal"));
    let mut conn = rusqlite::Connection::open(data.join("journal.sqlite")).expect("open");
    let tx = conn.transaction().expect("transaction");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO payments (payment_request_id, order_ref, amount_minor, currency,
                     description, operator, state, payment_id, resolution, paid_at, created_at,
                     updated_at, final_at, product)
                 VALUES (?1, ?2, ?3, 'USD', 'Coffee', 'T01', 'paid', ?4, 'pay', ?5, ?5, ?5, ?5,
                         'order_code')",
            )
            .expect("prepare");
        for i in 0..n {
            // Spread over the day (04:00 to 15:59 UTC is 12:00 to 23:59 GMT+8).
            let seconds = i % 43_200;
            let at = format!(
                "2026-11-30T{:02}:{:02}:{:02}.000000Z",
                4 + seconds / 3600,
                (seconds / 60) % 60,
                seconds % 60
            );
            insert
                .execute(rusqlite::params![
                    request_id(i),
                    format!("O-{i}"),
                    100 + (i % 10_000) as i64,
                    format!("2026113022001{i:012}"),
                    at
                ])
                .expect("insert");
        }
    }
    tx.commit().expect("commit");
}

/// Alipay's transactions file listing every one of them.
fn write_file(dir: &Path, n: u64) -> PathBuf {
    let path = dir.join(format!("transactionItems_{DAY}_000.csv"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    writeln!(out, "customerId,acquirer,acquirerReferenceNo,referenceMerchantId,referenceStoreId,transactionId,originalTransactionId,transactionRequestId,referenceTransactionId,orderDescription,paymentMethodType,pspName,transactionType,paymentTime,productCode,transactionAmountValue,transactionCurrency,originalTransactionRequestId,issuingCountry,cardBrand,funding").expect("write");
    for i in 0..n {
        let minor = 100 + (i % 10_000);
        writeln!(
            out,
            "1022188000000000001,Alipay,,M0001,S0001,2026113022001{i:012},,{},,Coffee,CONNECT_WALLET,ALIPAY_CN,PAYMENT,2026-11-30T12:00:00+08:00,IN_STORE_PAYMENT,{}.{:02},USD,,,,",
            request_id(i),
            minor / 100,
            minor % 100
        )
        .expect("write");
    }
    writeln!(out, "<END>").expect("write");
    out.flush().expect("flush");
    path
}

/// The measured part, in the child: import and match.
fn child(data: &Path, file: &Path) {
    let mut journal = Journal::open_in(data).expect("journal");
    let scope = Scope {
        terminal_id: "T01".into(),
        store_id: "S0001".into(),
        customer_id: None,
    };
    let start = Instant::now();
    let summary = import_files(&mut journal, &[file.to_path_buf()], &scope).expect("import");
    let took = start.elapsed();
    println!(
        "{} {} {} {} {}",
        took.as_micros(),
        summary.files[0].file.rows,
        summary.matched,
        summary.discrepancies.len(),
        status_kib("VmHWM:")
    );
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        let (data, file) = spec.split_once('\n').expect("child spec");
        child(Path::new(data), Path::new(file));
        return;
    }
    let n = rows();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (_, fill) = timed(|| fill_journal(&data, n));
    let (file, write) = timed(|| write_file(dir.path(), n));
    let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    println!(
        "set-up: {n} paid payments in {:.1} s, a {:.0} MB file in {:.1} s",
        fill.as_secs_f64(),
        bytes as f64 / 1e6,
        write.as_secs_f64()
    );

    let output = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env(CHILD, format!("{}\n{}", data.display(), file.display()))
        .output()
        .expect("child");
    let text = String::from_utf8_lossy(&output.stdout);
    let figures: Vec<u64> = text
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let [micros, file_rows, matched, discrepancies, peak_kib] = figures[..] else {
        panic!(
            "the import failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    assert_eq!((file_rows, matched, discrepancies), (n, n, 0));
    let seconds = micros as f64 / 1e6;
    println!(
        "import + match: {file_rows} rows in {seconds:.2} s = {:.0} rows/s, peak RSS {:.1} MiB, {matched} matched, {discrepancies} discrepancies",
        file_rows as f64 / seconds,
        peak_kib as f64 / 1024.0
    );

    let journal = Journal::open_in(&data).expect("journal");
    let (report, took) = timed(|| DayReport::for_day(&journal, DAY).expect("report"));
    println!(
        "reconcile report {DAY}: {:.1} ms ({} matched)",
        took.as_secs_f64() * 1e3,
        report.matched
    );
    let reader = Reader::open_in(&data).expect("reader");
    let day = time::Date::from_calendar_date(2026, time::Month::November, 30).expect("date");
    let (totals, took) = timed(|| reader.daily_totals(day..=day).expect("totals"));
    println!(
        "end-of-day totals over {n} payments: {:.1} ms ({} currencies)",
        took.as_secs_f64() * 1e3,
        totals.len()
    );
}
