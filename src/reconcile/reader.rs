//! Reads one report file, strictly, a row at a time.
//!
//! Alipay's files are a header row of column names, the data rows, and a last line `<END>`.
//! The reader:
//! - finds columns by header name, in whatever order, and ignores columns it does not know
//!   (Alipay adds optional ones: dispute, card and fee columns);
//! - tolerates a UTF-8 byte order mark and CRLF line endings;
//! - refuses a file without a required column (named), a row with the wrong number of
//!   fields, a malformed value (with the line), and a file without `<END>` (incomplete,
//!   e.g. a download cut short) or with data after it.
//!
//! It streams: a million-row file is never in memory at once.

use std::collections::HashMap;
use std::io::Read;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::amount::{AmountError, minor_from_major};
use super::error::ReconcileError;
use crate::journal::ListedType;
use crate::money::Currency;

/// The line that ends every complete report.
pub const END_MARKER: &str = "<END>";

/// A report's rows, after its header.
pub struct ReportReader<R: Read> {
    file: String,
    csv: csv::Reader<R>,
    columns: HashMap<String, usize>,
    width: usize,
    record: csv::StringRecord,
    ended: bool,
}

/// One data row: its line number and fields, read by [`Column`].
pub struct Row<'r> {
    file: &'r str,
    line: u64,
    record: &'r csv::StringRecord,
}

/// A column found by name once per file ([`ReportReader::column`]), so a row's fields are
/// read by position: a million-row file would otherwise hash each name on every row.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    name: &'static str,
    index: Option<usize>,
}

impl<R: Read> ReportReader<R> {
    /// Reads the header. `file` names the file in every error.
    pub fn new(file: &str, input: R) -> Result<ReportReader<R>, ReconcileError> {
        // Records end at `\n` only: with the csv crate's default CRLF handling the reported
        // line of a row after a `\r\n` is one short, and errors must name the right line. A
        // `\r` before the `\n` is then the end of the last field, which is trimmed anyway.
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(input);
        let mut header = csv::StringRecord::new();
        let got = csv
            .read_record(&mut header)
            .map_err(|e| csv_error(file, &e))?;
        if !got || header.iter().all(|h| h.trim().is_empty()) {
            return Err(ReconcileError::BadFile {
                file: file.to_string(),
                reason: "it is empty (no header row)".to_string(),
            });
        }
        if header.len() == 1 && header.get(0).map(str::trim) == Some(END_MARKER) {
            return Err(ReconcileError::BadFile {
                file: file.to_string(),
                reason: "it has `<END>` but no header row".to_string(),
            });
        }
        let mut columns = HashMap::new();
        for (index, name) in header.iter().enumerate() {
            let name = name.trim().trim_start_matches('\u{feff}').to_string();
            if name.is_empty() {
                continue;
            }
            if columns.insert(name.clone(), index).is_some() {
                return Err(ReconcileError::BadFile {
                    file: file.to_string(),
                    reason: format!("the header names column `{name}` twice"),
                });
            }
        }
        Ok(ReportReader {
            file: file.to_string(),
            width: header.len(),
            csv,
            columns,
            record: csv::StringRecord::new(),
            ended: false,
        })
    }

    /// The column called `name`; reading it from a row gives "" when the file has no such
    /// column (optional columns).
    pub fn column(&self, name: &'static str) -> Column {
        Column {
            name,
            index: self.columns.get(name).copied(),
        }
    }

    /// Refuses the file unless every one of `names` is a column.
    pub fn require(&self, names: &[&str]) -> Result<(), ReconcileError> {
        match names.iter().find(|n| !self.columns.contains_key(**n)) {
            Some(missing) => Err(ReconcileError::BadFile {
                file: self.file.clone(),
                reason: format!("the required column `{missing}` is missing"),
            }),
            None => Ok(()),
        }
    }

    /// The next data row, or `None` after `<END>` (checked to be the last line).
    pub fn next_row(&mut self) -> Result<Option<Row<'_>>, ReconcileError> {
        if self.ended {
            return Ok(None);
        }
        let got = self
            .csv
            .read_record(&mut self.record)
            .map_err(|e| csv_error(&self.file, &e))?;
        let line = self.record.position().map_or(0, |p| p.line());
        if !got {
            return Err(ReconcileError::Incomplete {
                file: self.file.clone(),
            });
        }
        if is_end(&self.record) {
            let mut after = csv::StringRecord::new();
            while self
                .csv
                .read_record(&mut after)
                .map_err(|e| csv_error(&self.file, &e))?
            {
                if after.iter().any(|f| !f.trim().is_empty()) {
                    return Err(ReconcileError::BadRow {
                        file: self.file.clone(),
                        line: after.position().map_or(0, |p| p.line()),
                        reason: "there is data after the `<END>` line".to_string(),
                    });
                }
            }
            self.ended = true;
            return Ok(None);
        }
        if self.record.len() != self.width {
            return Err(ReconcileError::BadRow {
                file: self.file.clone(),
                line,
                reason: format!(
                    "it has {} fields where the header has {}",
                    self.record.len(),
                    self.width
                ),
            });
        }
        Ok(Some(Row {
            file: &self.file,
            line,
            record: &self.record,
        }))
    }
}

fn is_end(record: &csv::StringRecord) -> bool {
    record.get(0).map(str::trim) == Some(END_MARKER)
        && record.iter().skip(1).all(|f| f.trim().is_empty())
}

fn csv_error(file: &str, error: &csv::Error) -> ReconcileError {
    let line = error.position().map_or(0, |p| p.line());
    ReconcileError::BadRow {
        file: file.to_string(),
        line,
        reason: match error.kind() {
            csv::ErrorKind::Utf8 { .. } => "it is not UTF-8 text".to_string(),
            csv::ErrorKind::Io(e) => format!("it cannot be read: {e}"),
            _ => error.to_string(),
        },
    }
}

impl Row<'_> {
    pub fn line(&self) -> u64 {
        self.line
    }

    fn bad(&self, reason: String) -> ReconcileError {
        ReconcileError::BadRow {
            file: self.file.to_string(),
            line: self.line,
            reason,
        }
    }

    /// The trimmed text of `column`; empty when the column is absent or blank.
    pub fn text(&self, column: Column) -> &str {
        column
            .index
            .and_then(|i| self.record.get(i))
            .map_or("", str::trim)
    }

    /// The text of a required column, refused when blank.
    pub fn required(&self, column: Column) -> Result<&str, ReconcileError> {
        let text = self.text(column);
        if text.is_empty() {
            return Err(self.bad(format!("`{}` is empty", column.name)));
        }
        Ok(text)
    }

    pub fn currency(&self, column: Column) -> Result<Currency, ReconcileError> {
        let code = self.required(column)?;
        Currency::from_code(code)
            .map_err(|_| self.bad(format!("`{}` `{code}` is not a currency code", column.name)))
    }

    /// Signed minor units of `currency` from a major-unit amount column.
    pub fn amount(&self, column: Column, currency: Currency) -> Result<i64, ReconcileError> {
        let text = self.required(column)?;
        minor_from_major(text, currency)
            .map_err(|e: AmountError| self.bad(format!("`{}`: {e}", column.name)))
    }

    /// Like [`Row::amount`], zero when the column is absent or blank (optional fee columns).
    pub fn amount_or_zero(
        &self,
        column: Column,
        currency: Currency,
    ) -> Result<i64, ReconcileError> {
        if self.text(column).is_empty() {
            return Ok(0);
        }
        self.amount(column, currency)
    }

    /// An ISO 8601 time with its offset (`2018-12-25T10:00:00+08:00`).
    pub fn time(&self, column: Column) -> Result<OffsetDateTime, ReconcileError> {
        let text = self.required(column)?;
        OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
            self.bad(format!(
                "`{}` `{text}` is not an ISO 8601 time with an offset",
                column.name
            ))
        })
    }

    pub fn optional_time(&self, column: Column) -> Result<Option<OffsetDateTime>, ReconcileError> {
        if self.text(column).is_empty() {
            return Ok(None);
        }
        self.time(column).map(Some)
    }

    /// The `transactionType`, if it is one a till makes (PAYMENT, REFUND, CANCEL); other
    /// types (AUTHORIZATION, DISPUTE, SETTLEMENT_FEE…) are `None`.
    pub fn listed_type(&self, column: Column) -> Result<Option<ListedType>, ReconcileError> {
        Ok(ListedType::parse(self.required(column)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Result<Vec<(u64, String)>, ReconcileError> {
        let mut reader = ReportReader::new("t.csv", text.as_bytes())?;
        reader.require(&["b"])?;
        let b = reader.column("b");
        let mut out = Vec::new();
        while let Some(row) = reader.next_row()? {
            out.push((row.line(), row.text(b).to_string()));
        }
        Ok(out)
    }

    #[test]
    fn columns_by_name_with_a_bom_and_crlf() {
        let expected = vec![(2, "two".to_string()), (3, "five".to_string())];
        assert_eq!(
            rows("x,b,a\r\n1,two,3\r\n4,five,6\r\n<END>\r\n").unwrap(),
            expected,
            "crlf"
        );
        assert_eq!(
            rows("\u{feff}x,b,a\n1,two,3\n4,five,6\n<END>\n").unwrap(),
            expected,
            "bom"
        );
        let got = rows("\u{feff}x,b,a\r\n1,two,3\r\n4,five,6\r\n<END>\r\n").unwrap();
        assert_eq!(got, expected);
        assert_eq!(rows("b\n<END>").unwrap(), vec![]);
        assert_eq!(
            rows("a,b\n\"x,y\",\"q\"\"uote\"\n<END>\n").unwrap()[0].1,
            "q\"uote"
        );
    }

    #[test]
    fn defects_are_refused_with_the_file_and_line() {
        assert!(matches!(
            rows("a,b\n1,2\n"),
            Err(ReconcileError::Incomplete { .. })
        ));
        assert!(matches!(rows(""), Err(ReconcileError::BadFile { .. })));
        assert!(matches!(
            rows("<END>\n"),
            Err(ReconcileError::BadFile { .. })
        ));
        let missing = rows("a,c\n1,2\n<END>\n").unwrap_err().to_string();
        assert!(missing.contains("`b`"), "{missing}");
        let short = rows("a,b\n1,2\n3\n<END>\n").unwrap_err();
        assert!(
            matches!(short, ReconcileError::BadRow { line: 3, .. }),
            "{short:?}"
        );
        let after = rows("a,b\n1,2\n<END>\n4,5\n").unwrap_err();
        assert!(
            matches!(after, ReconcileError::BadRow { line: 4, .. }),
            "{after:?}"
        );
        assert!(matches!(
            rows("a,b,b\n1,2,3\n<END>\n"),
            Err(ReconcileError::BadFile { .. })
        ));
        let not_utf8 = ReportReader::new("t.csv", &b"a,b\n1,\xff\n<END>\n"[..])
            .and_then(|mut r| r.next_row().map(|_| ()))
            .unwrap_err();
        assert!(
            matches!(not_utf8, ReconcileError::BadRow { .. }),
            "{not_utf8:?}"
        );
    }
}
