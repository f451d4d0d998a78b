//! A small ESC/POS decoder for the subset the receipts emit, so tests can assert what a
//! printer would print: text lines with their style (GB18030 inside `FS &` ... `FS .`),
//! the `GS ( k` QR payloads, `GS k` barcodes, status requests and cuts. Anything else is
//! recorded as an error, so a test notices a command it did not expect.

use encoding_rs::Encoding;

/// One printed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub bold: bool,
    /// `GS !` with width and height above 1.
    pub double: bool,
    /// `ESC a`: 0 left, 1 centre, 2 right.
    pub align: u8,
    /// Some of it was inside `FS &` ... `FS .`.
    pub chinese_mode: bool,
}

/// Everything a stream of bytes asked the printer to do.
#[derive(Debug, Default, Clone)]
pub struct Decoded {
    pub initialised: bool,
    /// Every line ended by LF (empty ones included).
    pub lines: Vec<Line>,
    pub qr_codes: Vec<String>,
    pub barcodes: Vec<String>,
    /// `DLE EOT n`: the `n`s.
    pub status_requests: Vec<u8>,
    pub cuts: usize,
    pub errors: Vec<String>,
}

impl Decoded {
    /// The non-empty lines' text.
    pub fn texts(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter(|l| !l.text.is_empty())
            .map(|l| l.text.clone())
            .collect()
    }

    /// All text run together (ids wrapped over two lines read whole again).
    pub fn joined(&self) -> String {
        self.lines.iter().map(|l| l.text.as_str()).collect()
    }

    pub fn line(&self, text: &str) -> Option<&Line> {
        self.lines.iter().find(|l| l.text == text)
    }
}

/// Decodes `bytes`. Text inside the Chinese mode is decoded with `encoding`; outside it,
/// with `encoding` too when `chinese_mode` is false (a printer that takes the encoding
/// without the mode), else it must be ASCII.
pub fn decode(bytes: &[u8], encoding: &'static Encoding, chinese_mode: bool) -> Decoded {
    let mut d = Decoded::default();
    let mut bold = false;
    let mut double = false;
    let mut align = 0u8;
    let mut in_chinese = false;
    let mut line_used_chinese = false;
    let mut pending: Vec<u8> = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    // Moves the bytes collected so far into `text`.
    let flush =
        |pending: &mut Vec<u8>, text: &mut String, in_chinese: bool, errors: &mut Vec<String>| {
            if pending.is_empty() {
                return;
            }
            if in_chinese || !chinese_mode {
                let (decoded, _, bad) = encoding.decode(pending);
                if bad {
                    errors.push(format!("undecodable text {pending:02x?}"));
                }
                text.push_str(&decoded);
            } else if pending.is_ascii() {
                text.push_str(&String::from_utf8_lossy(pending));
            } else {
                errors.push(format!(
                    "non-ASCII outside the Chinese mode: {pending:02x?}"
                ));
                text.push_str(&String::from_utf8_lossy(pending));
            }
            pending.clear();
        };
    let at = |i: usize| bytes.get(i).copied();
    while i < bytes.len() {
        let b = bytes[i];
        match (b, at(i + 1)) {
            (0x0A, _) => {
                flush(&mut pending, &mut text, in_chinese, &mut d.errors);
                d.lines.push(Line {
                    text: std::mem::take(&mut text),
                    bold,
                    double,
                    align,
                    chinese_mode: line_used_chinese,
                });
                line_used_chinese = in_chinese;
                i += 1;
            }
            (0x1B, Some(b'@')) => {
                d.initialised = true;
                bold = false;
                double = false;
                align = 0;
                in_chinese = false;
                i += 2;
            }
            (0x1B, Some(b'a')) => {
                align = at(i + 2).unwrap_or(0) % 48;
                i += 3;
            }
            (0x1B, Some(b'E')) => {
                bold = at(i + 2).unwrap_or(0) & 1 == 1;
                i += 3;
            }
            (0x1B, Some(b'd')) => {
                flush(&mut pending, &mut text, in_chinese, &mut d.errors);
                let n = at(i + 2).unwrap_or(0);
                for _ in 0..n {
                    d.lines.push(Line {
                        text: std::mem::take(&mut text),
                        bold,
                        double,
                        align,
                        chinese_mode: line_used_chinese,
                    });
                    line_used_chinese = in_chinese;
                }
                i += 3;
            }
            (0x1D, Some(b'!')) => {
                double = at(i + 2).unwrap_or(0) != 0;
                i += 3;
            }
            (0x1C, Some(b'&')) => {
                flush(&mut pending, &mut text, in_chinese, &mut d.errors);
                in_chinese = true;
                line_used_chinese = true;
                i += 2;
            }
            (0x1C, Some(b'.')) => {
                flush(&mut pending, &mut text, in_chinese, &mut d.errors);
                in_chinese = false;
                i += 2;
            }
            (0x10, Some(0x04)) => {
                d.status_requests.push(at(i + 2).unwrap_or(0));
                i += 3;
            }
            (0x1D, Some(b'V')) => {
                d.cuts += 1;
                // GS V m, or GS V A/B n.
                i += if matches!(at(i + 2), Some(b'A' | b'B')) {
                    4
                } else {
                    3
                };
            }
            (0x1D, Some(b'(')) if at(i + 2) == Some(b'k') => {
                let len =
                    usize::from(at(i + 3).unwrap_or(0)) + 256 * usize::from(at(i + 4).unwrap_or(0));
                let start = i + 5;
                let Some(body) = bytes.get(start..start + len) else {
                    d.errors.push("truncated GS ( k".into());
                    break;
                };
                // cn 49 = QR; fn 80 = store the data (after m), 81 = print it.
                if body.len() >= 3 && body[0] == 49 && body[1] == 80 {
                    d.qr_codes
                        .push(String::from_utf8_lossy(&body[3..]).into_owned());
                }
                i = start + len;
            }
            (0x1D, Some(b'k')) => {
                // GS k m d1...dk NUL (m 0-6), or GS k m n d1...dn (m 65-78).
                let m = at(i + 2).unwrap_or(0);
                if m <= 6 {
                    let start = i + 3;
                    let end = bytes[start..]
                        .iter()
                        .position(|&b| b == 0)
                        .map_or(bytes.len(), |p| start + p);
                    d.barcodes
                        .push(String::from_utf8_lossy(&bytes[start..end]).into_owned());
                    i = end + 1;
                } else {
                    let n = usize::from(at(i + 3).unwrap_or(0));
                    let start = i + 4;
                    let data = bytes.get(start..start + n).unwrap_or_default();
                    // Code 128 data starts with its code set ("{B").
                    let data = data.strip_prefix(b"{B").unwrap_or(data);
                    d.barcodes.push(String::from_utf8_lossy(data).into_owned());
                    i = start + n;
                }
            }
            (0x1D, Some(b'h' | b'w' | b'H' | b'f')) => i += 3,
            // NUL does nothing on a printer (the escpos crate sends one after `DLE EOT n`).
            (0x00, _) => i += 1,
            (0x00..=0x1F, _) => {
                d.errors
                    .push(format!("unexpected control byte {b:#04x} at {i}"));
                i += 1;
            }
            _ => {
                pending.push(b);
                i += 1;
            }
        }
    }
    flush(&mut pending, &mut text, in_chinese, &mut d.errors);
    if !text.is_empty() {
        d.errors
            .push(format!("text without a line feed at the end: {text:?}"));
    }
    d
}
