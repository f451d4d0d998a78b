//! Alipay's report file names (flows.md §8), which say what a file is before it is opened.
//!
//! - `transactionItems_<yyyyMMdd>_<seq>.csv`
//! - `settlementItems_[<pspName>_]<currency>_<batchId>_<seq>.csv` (a `pspName` may hold `_`)
//! - `settlementSummary_[<pspName>_]<currency>_<batchId>_<seq>.csv`
//!
//! `<seq>` is three digits. A file of another name is refused rather than guessed at: a
//! renamed file could be anything.

use crate::journal::ReportKind;
use crate::money::Currency;

/// What a report's name says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportName {
    pub kind: ReportKind,
    /// The transaction date for transactions files (`yyyyMMdd`); `None` for settlement
    /// files, whose date is their folder's.
    pub transaction_date: Option<String>,
    /// The settlement currency and batch (settlement files only).
    pub currency: Option<Currency>,
    pub settlement_batch_id: Option<String>,
    /// The wallet, in single-wallet settlement mode.
    pub psp_name: Option<String>,
    pub seq: u16,
}

/// Whether `text` is a `yyyyMMdd` date that exists.
pub fn is_report_date(text: &str) -> bool {
    text.len() == 8
        && text.bytes().all(|b| b.is_ascii_digit())
        && time::Date::parse(
            text,
            time::macros::format_description!("[year][month][day]"),
        )
        .is_ok()
}

/// `day` as Alipay spells it (`yyyyMMdd`): folder and file names, `--date`.
pub fn report_date(day: time::Date) -> String {
    format!(
        "{:04}{:02}{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

fn seq(text: &str) -> Option<u16> {
    (text.len() == 3 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// A wallet name or batch id: letters, digits and `-` (never a path separator or `..`).
fn id_like(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl ReportName {
    /// Reads a file name (without any folder). `None` when it is not one of Alipay's report
    /// names.
    pub fn parse(name: &str) -> Option<ReportName> {
        let stem = name.strip_suffix(".csv")?;
        let parts: Vec<&str> = stem.split('_').collect();
        match parts.as_slice() {
            ["transactionItems", date, n] if is_report_date(date) => Some(ReportName {
                kind: ReportKind::Transactions,
                transaction_date: Some((*date).to_string()),
                currency: None,
                settlement_batch_id: None,
                psp_name: None,
                seq: seq(n)?,
            }),
            [prefix, rest @ ..] => {
                let kind = match *prefix {
                    "settlementItems" => ReportKind::SettlementItems,
                    "settlementSummary" => ReportKind::SettlementSummary,
                    _ => return None,
                };
                // The wallet's name may itself hold `_` (`ALIPAY_CN`): it is everything
                // between the prefix and the last three parts.
                let (psp, currency, batch, n) = match rest {
                    [currency, batch, n] => (None, currency, batch, n),
                    [psp @ .., currency, batch, n] if psp.iter().all(|p| id_like(p)) => {
                        (Some(psp.join("_")), currency, batch, n)
                    }
                    _ => return None,
                };
                if !id_like(batch) {
                    return None;
                }
                Some(ReportName {
                    kind,
                    transaction_date: None,
                    currency: Some(Currency::from_code(currency).ok()?),
                    settlement_batch_id: Some((*batch).to_string()),
                    psp_name: psp,
                    seq: seq(n)?,
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_reports_and_the_single_wallet_names_are_read() {
        let t = ReportName::parse("transactionItems_20181225_000.csv").unwrap();
        assert_eq!(t.kind, ReportKind::Transactions);
        assert_eq!(t.transaction_date.as_deref(), Some("20181225"));
        let s = ReportName::parse("settlementItems_USD_2018122611021040123_001.csv").unwrap();
        assert_eq!(s.kind, ReportKind::SettlementItems);
        assert_eq!(s.currency.map(|c| c.code()), Some("USD"));
        assert_eq!(
            s.settlement_batch_id.as_deref(),
            Some("2018122611021040123")
        );
        assert_eq!(s.seq, 1);
        let w = ReportName::parse("settlementSummary_KaKaoPay_USD_2018122611021040123_000.csv")
            .unwrap();
        assert_eq!(w.kind, ReportKind::SettlementSummary);
        assert_eq!(w.psp_name.as_deref(), Some("KaKaoPay"));
        let cn = ReportName::parse("settlementItems_ALIPAY_CN_USD_2026113000001_001.csv").unwrap();
        assert_eq!(cn.psp_name.as_deref(), Some("ALIPAY_CN"));
        assert_eq!(cn.currency.map(|c| c.code()), Some("USD"));
    }

    #[test]
    fn other_names_are_refused() {
        for name in [
            "transactionItems_20181325_000.csv",
            "transactionItems_20181225_0.csv",
            "transactionItems_20181225_000.txt",
            "transactionItems_20181225_000.csv.part",
            "settlementItems_XXX_1_000.csv",
            "settlementItems_USD__000.csv",
            "settlementSummary_USD_1.csv",
            "report.csv",
            "",
        ] {
            assert_eq!(ReportName::parse(name), None, "{name}");
        }
    }
}
