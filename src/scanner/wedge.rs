//! Telling a keyboard-wedge scanner from a person typing, by timing (the way Odoo's POS
//! barcode reader does it).
//!
//! A scanner plugged in as a USB keyboard "types" a whole code in a few milliseconds and
//! ends it with Enter (or Tab); a person types a key every 100 ms or more. So keys are held
//! while they may still be part of a scan, and either come out together as one
//! [`WedgeOutput::Scan`] or, once it is clear they were typing, as [`WedgeOutput::Typed`]
//! in their original order. Nothing is lost or duplicated, and scanned text never comes
//! out as typing (a payment code must not land in the description field).
//!
//! Pure logic: no Slint and no clock of its own. Every call carries the time as a
//! [`Duration`] since an arbitrary origin (the GUI passes Slint's animation tick, tests a
//! mocked time), and [`WedgeDetector::deadline`] says when the caller must call
//! [`WedgeDetector::flush`] if no key comes first.
//!
//! The rules, with `max_key_gap` G and `min_length` N:
//! * **Timing** (no prefix, no suffix): keys at most G apart, at least N characters, ending
//!   on Enter or Tab, are a scan. Anything else is typing: a burst that is too short, one
//!   without Enter (released once G has passed), one broken by a slow key (released before
//!   that key) or by another key (Backspace, Escape: released before it).
//! * **Prefix** (with or without a suffix): exact. A burst (prefix characters at most G
//!   apart) that starts with the prefix is a scan up to the suffix or Enter/Tab, whatever
//!   its length and timing after the prefix; without a terminator within
//!   [`PREFIXED_SCAN_TIMEOUT`] of the prefix's first key it is released as typing.
//! * **Suffix only**: exact. A burst (keys at most G apart) that ends in the suffix is a
//!   scan, whatever its length; Enter/Tab alone does not make one.
//! * After a scan ended by its suffix, an Enter or Tab within G is the scanner's own
//!   terminator (many send suffix + Enter) and is swallowed, so it cannot press Charge.
//! * A scan is never empty: a prefix or suffix with nothing between is typing.
//! * At most [`MAX_HELD_CHARS`] characters are held; a longer burst (a key held down on
//!   auto-repeat) is released as typing.

use std::fmt;
use std::time::Duration;

/// How long a scan that started with the prefix may wait for its terminator (suffix, Enter
/// or Tab) before its keys are given back as typing. A scanner sends a whole code in well
/// under a second, even over Bluetooth; 2 s is long enough for a slow one and short enough
/// that a cashier who typed the prefix by mistake sees the text reappear.
pub const PREFIXED_SCAN_TIMEOUT: Duration = Duration::from_secs(2);

/// Most characters held at once. Payment codes are 16 to 24 digits and other barcodes a few
/// dozen; beyond this the burst is a key on auto-repeat, not a scan.
pub const MAX_HELD_CHARS: usize = 256;

/// The default `max_key_gap` (`[scanner] max_key_gap_ms`): scanners send keys a few ms
/// apart, people rarely type two keys within 100 ms.
pub const DEFAULT_MAX_KEY_GAP: Duration = Duration::from_millis(100);

/// The default `min_length` (`[scanner] min_length`): the shortest payment code is 16
/// digits, so shorter fast bursts are a quick typist, not a payment code.
pub const DEFAULT_MIN_LENGTH: usize = 16;

/// How the detector tells scans from typing (`[scanner]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WedgeSettings {
    /// Keys further apart than this are typing, not a scan.
    pub max_key_gap: Duration,
    /// The fewest characters a timing-detected scan has (not counting Enter/Tab).
    pub min_length: usize,
    /// Characters the scanner is set to send before every code; makes detection exact.
    pub prefix: Option<String>,
    /// Characters the scanner is set to send after every code; makes detection exact.
    pub suffix: Option<String>,
}

impl Default for WedgeSettings {
    fn default() -> Self {
        WedgeSettings {
            max_key_gap: DEFAULT_MAX_KEY_GAP,
            min_length: DEFAULT_MIN_LENGTH,
            prefix: None,
            suffix: None,
        }
    }
}

/// One key as the page would receive it.
#[derive(Clone, PartialEq, Eq)]
pub enum WedgeKey {
    /// One printable key's text (usually one character).
    Text(String),
    Enter,
    Tab,
    /// Any other key, by name (Backspace, Escape, an arrow...): never part of a scan.
    Other(String),
}

/// Debug shows how long a text is, never the text: held and released keys can be the
/// digits of a customer's payment code.
impl fmt::Debug for WedgeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WedgeKey::Text(text) => write!(f, "Text(<{} chars>)", text.chars().count()),
            WedgeKey::Enter => f.write_str("Enter"),
            WedgeKey::Tab => f.write_str("Tab"),
            WedgeKey::Other(name) => write!(f, "Other({name:?})"),
        }
    }
}

/// What to deliver now.
#[derive(Clone, PartialEq, Eq)]
pub enum WedgeOutput {
    /// Give to the page as if typed, in order.
    Typed(WedgeKey),
    /// A whole scan, prefix and suffix stripped. A bearer secret when it is a payment
    /// code: log its length only.
    Scan(String),
}

/// Debug never shows a scan's text (it is a customer's payment code), only its length.
impl fmt::Debug for WedgeOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WedgeOutput::Typed(key) => write!(f, "Typed({key:?})"),
            WedgeOutput::Scan(code) => write!(f, "Scan(<{} chars>)", code.chars().count()),
        }
    }
}

/// Where the held keys are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A burst of keys at most `max_key_gap` apart (in prefix mode: still matching the
    /// prefix).
    Burst,
    /// The prefix has been seen: everything up to the terminator is the scan.
    Prefixed { started: Duration },
}

/// Holds keys while they may be part of a scan; see the module docs for the rules.
pub struct WedgeDetector {
    settings: WedgeSettings,
    /// Held printable keys with their times, oldest first.
    held: Vec<(String, Duration)>,
    /// The concatenated text of `held`.
    held_text: String,
    phase: Phase,
    /// After a suffix-terminated scan: until when an Enter/Tab is the scanner's own.
    swallow_until: Option<Duration>,
}

/// Debug shows only how much is held: held keys may be a payment code.
impl fmt::Debug for WedgeDetector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WedgeDetector")
            .field("settings", &self.settings)
            .field("held_keys", &self.held.len())
            .field("prefixed", &matches!(self.phase, Phase::Prefixed { .. }))
            .finish()
    }
}

/// The smallest step of a [`Duration`]: a key exactly `max_key_gap` after the last one is
/// still part of the burst, so the burst ends one step later.
const TICK: Duration = Duration::from_nanos(1);

impl WedgeDetector {
    /// Empty settings strings (`Some("")`) are treated as no prefix/suffix; the config
    /// loader refuses them anyway.
    pub fn new(mut settings: WedgeSettings) -> Self {
        settings.prefix = settings.prefix.filter(|p| !p.is_empty());
        settings.suffix = settings.suffix.filter(|s| !s.is_empty());
        WedgeDetector {
            settings,
            held: Vec::new(),
            held_text: String::new(),
            phase: Phase::Burst,
            swallow_until: None,
        }
    }

    pub fn settings(&self) -> &WedgeSettings {
        &self.settings
    }

    /// A key at time `at`. Returns what to deliver now (possibly nothing: the key is held
    /// while it may be part of a scan).
    pub fn key(&mut self, key: WedgeKey, at: Duration) -> Vec<WedgeOutput> {
        // Held keys whose time ran out go first: the new key comes after them.
        let mut out = self.flush(at);
        let swallow = self.swallow_until.take().is_some_and(|until| at <= until);
        match key {
            WedgeKey::Text(text) => self.text(text, at, &mut out),
            WedgeKey::Enter | WedgeKey::Tab if swallow && self.held.is_empty() => {}
            WedgeKey::Enter | WedgeKey::Tab => self.terminator(key, &mut out),
            WedgeKey::Other(_) => {
                self.release(&mut out);
                out.push(WedgeOutput::Typed(key));
            }
        }
        out
    }

    /// When the caller must call [`flush`](Self::flush) if no key comes first (None:
    /// nothing held). A key at exactly `last key + max_key_gap` still continues the burst,
    /// so the deadline is the instant after.
    pub fn deadline(&self) -> Option<Duration> {
        let (_, last) = self.held.last()?;
        Some(match self.phase {
            Phase::Burst => last
                .saturating_add(self.settings.max_key_gap)
                .saturating_add(TICK),
            Phase::Prefixed { started } => started.saturating_add(PREFIXED_SCAN_TIMEOUT),
        })
    }

    /// Releases held keys as typing once the gap since the last key exceeds `max_key_gap`
    /// (or, after a prefix, once [`PREFIXED_SCAN_TIMEOUT`] has passed). Calling it early
    /// does nothing.
    pub fn flush(&mut self, now: Duration) -> Vec<WedgeOutput> {
        let mut out = Vec::new();
        if self.deadline().is_some_and(|deadline| now >= deadline) {
            self.release(&mut out);
        }
        out
    }

    fn text(&mut self, text: String, at: Duration, out: &mut Vec<WedgeOutput>) {
        self.held_text.push_str(&text);
        self.held.push((text, at));
        if let (Some(prefix), Phase::Burst) = (self.settings.prefix.clone(), self.phase) {
            // Give back the oldest keys until what is held could still be (or is) the
            // prefix: "x~" with prefix "~" releases "x" and keeps "~".
            while !self.held.is_empty()
                && !prefix.starts_with(&self.held_text)
                && !self.held_text.starts_with(&prefix)
            {
                self.release_first(out);
            }
            if self.held_text.starts_with(&prefix)
                && let Some((_, first)) = self.held.first()
            {
                self.phase = Phase::Prefixed { started: *first };
            }
        }
        if let Some(code) = self.code_ending_in_suffix() {
            out.push(WedgeOutput::Scan(code));
            self.clear();
            self.swallow_until = Some(at.saturating_add(self.settings.max_key_gap));
        } else if self.held_text.chars().count() > MAX_HELD_CHARS {
            self.release(out);
        }
    }

    /// The code when the held text is a complete scan ended by the suffix: after the prefix
    /// in prefix mode, or a burst in suffix-only mode.
    fn code_ending_in_suffix(&self) -> Option<String> {
        let suffix = self.settings.suffix.as_deref()?;
        let body = match (&self.settings.prefix, self.phase) {
            (Some(prefix), Phase::Prefixed { .. }) => self.held_text.get(prefix.len()..)?,
            (Some(_), Phase::Burst) => return None,
            (None, _) => self.held_text.as_str(),
        };
        let code = body.strip_suffix(suffix)?;
        (!code.is_empty()).then(|| code.to_owned())
    }

    fn terminator(&mut self, key: WedgeKey, out: &mut Vec<WedgeOutput>) {
        let code = match (&self.settings.prefix, &self.settings.suffix, self.phase) {
            (Some(prefix), suffix, Phase::Prefixed { .. }) => {
                let body = self.held_text.get(prefix.len()..).unwrap_or_default();
                let body = suffix
                    .as_deref()
                    .and_then(|s| body.strip_suffix(s))
                    .unwrap_or(body);
                Some(body.to_owned())
            }
            (None, None, Phase::Burst)
                if self.held_text.chars().count() >= self.settings.min_length =>
            {
                Some(self.held_text.clone())
            }
            _ => None,
        };
        match code {
            Some(code) if !code.is_empty() => {
                out.push(WedgeOutput::Scan(code));
                self.clear();
            }
            _ => {
                self.release(out);
                out.push(WedgeOutput::Typed(key));
            }
        }
    }

    /// Gives every held key back as typing, in order.
    fn release(&mut self, out: &mut Vec<WedgeOutput>) {
        out.extend(
            self.held
                .drain(..)
                .map(|(text, _)| WedgeOutput::Typed(WedgeKey::Text(text))),
        );
        self.clear();
    }

    fn release_first(&mut self, out: &mut Vec<WedgeOutput>) {
        if self.held.is_empty() {
            return;
        }
        let (text, _) = self.held.remove(0);
        self.held_text.drain(..text.len());
        out.push(WedgeOutput::Typed(WedgeKey::Text(text)));
    }

    fn clear(&mut self) {
        self.held.clear();
        self.held_text.clear();
        self.phase = Phase::Burst;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn text(s: &str) -> WedgeKey {
        WedgeKey::Text(s.to_owned())
    }

    fn settings(prefix: Option<&str>, suffix: Option<&str>) -> WedgeSettings {
        WedgeSettings {
            prefix: prefix.map(str::to_owned),
            suffix: suffix.map(str::to_owned),
            ..WedgeSettings::default()
        }
    }

    /// Outputs as short readable strings (Debug hides texts on purpose): a typed text as
    /// itself, `⏎`/`⇥` for Enter/Tab, `<name>` for another key, `SCAN:code` for a scan.
    fn render(out: &[WedgeOutput]) -> Vec<String> {
        out.iter()
            .map(|o| match o {
                WedgeOutput::Typed(WedgeKey::Text(t)) => t.clone(),
                WedgeOutput::Typed(WedgeKey::Enter) => "⏎".to_owned(),
                WedgeOutput::Typed(WedgeKey::Tab) => "⇥".to_owned(),
                WedgeOutput::Typed(WedgeKey::Other(n)) => format!("<{n}>"),
                WedgeOutput::Scan(code) => format!("SCAN:{code}"),
            })
            .collect()
    }

    /// Each character of `chars` as a key, `step` ms apart from `start`; returns the time of
    /// the last one.
    fn type_chars(
        det: &mut WedgeDetector,
        chars: &str,
        start: u64,
        step: u64,
        out: &mut Vec<WedgeOutput>,
    ) -> u64 {
        let mut at = start;
        for (i, c) in chars.chars().enumerate() {
            at = start + step * i as u64;
            out.extend(det.key(text(&c.to_string()), ms(at)));
        }
        at
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    const CODE: &str = "2811234567890123";

    #[test]
    fn defaults() {
        let d = WedgeSettings::default();
        assert_eq!(d.max_key_gap, ms(100));
        assert_eq!(d.min_length, 16);
        assert_eq!(d.prefix, None);
        assert_eq!(d.suffix, None);
    }

    #[test]
    fn fast_burst_of_min_length_ending_on_enter_is_a_scan() {
        let mut det = WedgeDetector::new(WedgeSettings::default());
        let mut out = Vec::new();
        let last = type_chars(&mut det, CODE, 1_000, 8, &mut out);
        assert!(out.is_empty(), "held while it may be a scan: {out:?}");
        assert!(det.deadline().is_some());
        out.extend(det.key(WedgeKey::Enter, ms(last + 8)));
        assert_eq!(render(&out), vec![format!("SCAN:{CODE}")]);
        assert_eq!(det.deadline(), None);
    }

    #[test]
    fn tab_ends_a_scan_too() {
        let mut det = WedgeDetector::new(WedgeSettings::default());
        let mut out = Vec::new();
        let last = type_chars(&mut det, CODE, 0, 3, &mut out);
        out.extend(det.key(WedgeKey::Tab, ms(last + 3)));
        assert_eq!(render(&out), vec![format!("SCAN:{CODE}")]);
    }

    #[test]
    fn fast_keys_then_a_pause_are_released_at_flush_not_before() {
        let mut det = WedgeDetector::new(WedgeSettings::default());
        let mut out = Vec::new();
        type_chars(&mut det, "12", 500, 10, &mut out);
        assert!(out.is_empty());
        let deadline = det.deadline().unwrap();
        assert_eq!(deadline, ms(610) + TICK);
        assert!(
            det.flush(ms(610)).is_empty(),
            "a key now would still be fast"
        );
        assert_eq!(render(&det.flush(deadline)), strings(&["1", "2"]));
        assert_eq!(det.deadline(), None);
        assert!(det.flush(ms(5_000)).is_empty(), "released only once");
    }

    #[test]
    fn twenty_fast_digits_without_enter_are_typing() {
        let mut det = WedgeDetector::new(WedgeSettings::default());
        let mut out = Vec::new();
        let last = type_chars(&mut det, "12345678901234567890", 0, 5, &mut out);
        assert!(out.is_empty());
        out.extend(det.flush(ms(last + 101)));
        assert_eq!(render(&out).concat(), "12345678901234567890");
        assert_eq!(out.len(), 20);
    }

    #[test]
    fn short_fast_burst_then_enter_is_typing_then_enter() {
        let mut det = WedgeDetector::new(WedgeSettings::default());
        let mut out = Vec::new();
        let last = type_chars(&mut det, "1234567890", 0, 5, &mut out);
        out.extend(det.key(WedgeKey::Enter, ms(last + 5)));
        let mut expected: Vec<String> = "1234567890".chars().map(String::from).collect();
        expected.push("⏎".to_owned());
        assert_eq!(render(&out), expected);
    }

    #[test]
    fn a_slow_key_releases_the_held_burst_before_itself() {
        let mut det = WedgeDetector::new(WedgeSettings::default());
        let mut out = Vec::new();
        type_chars(&mut det, "123", 0, 10, &mut out);
        // 150 ms after the last key, without a flush in between.
        let released = det.key(text("4"), ms(170));
        assert_eq!(render(&released), strings(&["1", "2", "3"]));
        // "4" starts a new burst of its own.
        assert_eq!(det.deadline(), Some(ms(270) + TICK));
        let rest = det.key(WedgeKey::Enter, ms(180));
        assert_eq!(render(&rest), strings(&["4", "⏎"]));
    }

    #[test]
    fn enter_must_be_fast_too() {
        // Exactly max_key_gap apart is still a burst...
        let mut det = WedgeDetector::new(WedgeSettings::default());
        let mut out = Vec::new();
        let last = type_chars(&mut det, CODE, 0, 100, &mut out);
        out.extend(det.key(WedgeKey::Enter, ms(last + 100)));
        assert_eq!(render(&out), vec![format!("SCAN:{CODE}")]);
        // ...one millisecond more is typing.
        let mut det = WedgeDetector::new(WedgeSettings::default());
        let mut out = Vec::new();
        let last = type_chars(&mut det, CODE, 0, 5, &mut out);
        out.extend(det.key(WedgeKey::Enter, ms(last + 101)));
        assert_eq!(out.len(), CODE.len() + 1);
        assert_eq!(render(&out).concat(), format!("{CODE}⏎"));
    }

    #[test]
    fn another_key_releases_the_burst_and_follows_it() {
        let mut det = WedgeDetector::new(WedgeSettings::default());
        let mut out = Vec::new();
        type_chars(&mut det, "12", 0, 5, &mut out);
        out.extend(det.key(WedgeKey::Other("Backspace".to_owned()), ms(12)));
        assert_eq!(render(&out), strings(&["1", "2", "<Backspace>"]));
        assert_eq!(det.deadline(), None);
    }

    #[test]
    fn slow_typing_comes_through_in_order() {
        let mut det = WedgeDetector::new(WedgeSettings::default());
        let mut out = Vec::new();
        for (i, c) in "3.50".chars().enumerate() {
            let at = ms(1_000 + 250 * i as u64);
            out.extend(det.flush(at));
            out.extend(det.key(text(&c.to_string()), at));
        }
        out.extend(det.key(WedgeKey::Enter, ms(2_000)));
        assert_eq!(render(&out), strings(&["3", ".", "5", "0", "⏎"]));
    }

    #[test]
    fn a_key_on_auto_repeat_is_not_held_forever() {
        let mut det = WedgeDetector::new(WedgeSettings::default());
        let mut out = Vec::new();
        let many = "1".repeat(MAX_HELD_CHARS + 10);
        let last = type_chars(&mut det, &many, 0, 30, &mut out);
        assert_eq!(
            out.len(),
            MAX_HELD_CHARS + 1,
            "released at the first key over"
        );
        out.extend(det.key(WedgeKey::Enter, ms(last + 30)));
        assert_eq!(render(&out).concat(), format!("{many}⏎"));
    }

    #[test]
    fn with_a_prefix_any_length_and_timing_is_a_scan() {
        let mut det = WedgeDetector::new(settings(Some("~"), None));
        let mut out = Vec::new();
        out.extend(det.key(text("~"), ms(0)));
        // Short and slow after the prefix: still the scan.
        type_chars(&mut det, "123", 400, 400, &mut out);
        assert!(out.is_empty());
        assert_eq!(det.deadline(), Some(PREFIXED_SCAN_TIMEOUT));
        out.extend(det.key(WedgeKey::Enter, ms(1_999)));
        assert_eq!(render(&out), strings(&["SCAN:123"]));
    }

    #[test]
    fn a_prefix_without_terminator_gives_up_after_the_timeout() {
        let mut det = WedgeDetector::new(settings(Some("~"), None));
        let mut out = Vec::new();
        type_chars(&mut det, "~12", 100, 10, &mut out);
        assert!(det.flush(ms(2_099)).is_empty());
        out.extend(det.flush(ms(2_100)));
        assert_eq!(render(&out), strings(&["~", "1", "2"]));
        // A key arriving late (no flush called) releases them first, then counts itself.
        let mut det = WedgeDetector::new(settings(Some("~"), None));
        let mut out = Vec::new();
        type_chars(&mut det, "~1", 0, 10, &mut out);
        out.extend(det.key(WedgeKey::Enter, ms(2_500)));
        assert_eq!(render(&out), strings(&["~", "1", "⏎"]));
    }

    #[test]
    fn with_a_prefix_other_bursts_are_typing_even_long_ones() {
        let mut det = WedgeDetector::new(settings(Some("~"), None));
        let mut out = Vec::new();
        let last = type_chars(&mut det, CODE, 0, 5, &mut out);
        out.extend(det.key(WedgeKey::Enter, ms(last + 5)));
        assert_eq!(render(&out).concat(), format!("{CODE}⏎"));
        assert!(!out.iter().any(|o| matches!(o, WedgeOutput::Scan(_))));
    }

    #[test]
    fn keys_before_the_prefix_are_typing() {
        let mut det = WedgeDetector::new(settings(Some("~"), None));
        let mut out = Vec::new();
        type_chars(&mut det, "x~12", 0, 5, &mut out);
        out.extend(det.key(WedgeKey::Enter, ms(30)));
        assert_eq!(render(&out), strings(&["x", "SCAN:12"]));
        // A longer prefix that starts over: "##a5" with prefix "#a".
        let mut det = WedgeDetector::new(settings(Some("#a"), None));
        let mut out = Vec::new();
        type_chars(&mut det, "##a5", 0, 5, &mut out);
        out.extend(det.key(WedgeKey::Enter, ms(30)));
        assert_eq!(render(&out), strings(&["#", "SCAN:5"]));
    }

    #[test]
    fn a_slowly_typed_prefix_is_typing() {
        let mut det = WedgeDetector::new(settings(Some("#a"), None));
        let mut out = Vec::new();
        type_chars(&mut det, "#a1", 0, 150, &mut out);
        out.extend(det.key(WedgeKey::Enter, ms(310)));
        assert_eq!(render(&out), strings(&["#", "a", "1", "⏎"]));
    }

    #[test]
    fn prefix_then_terminator_at_once_is_typing() {
        let mut det = WedgeDetector::new(settings(Some("~"), Some("#")));
        let mut out = det.key(text("~"), ms(0));
        out.extend(det.key(WedgeKey::Enter, ms(5)));
        assert_eq!(render(&out), strings(&["~", "⏎"]));
    }

    #[test]
    fn prefix_and_suffix_end_at_the_suffix_and_swallow_the_scanners_enter() {
        let mut det = WedgeDetector::new(settings(Some("~"), Some("#")));
        let mut out = Vec::new();
        type_chars(&mut det, "~123#", 0, 5, &mut out);
        assert_eq!(render(&out), strings(&["SCAN:123"]));
        assert_eq!(det.deadline(), None);
        assert!(
            det.key(WedgeKey::Enter, ms(60)).is_empty(),
            "scanner's Enter"
        );
        // A later Enter is the cashier's.
        assert_eq!(render(&det.key(WedgeKey::Enter, ms(70))), strings(&["⏎"]));
        // And one after max_key_gap too.
        let mut det = WedgeDetector::new(settings(Some("~"), Some("#")));
        let mut out = Vec::new();
        type_chars(&mut det, "~123#", 0, 5, &mut out);
        out.extend(det.key(WedgeKey::Enter, ms(121)));
        assert_eq!(render(&out), strings(&["SCAN:123", "⏎"]));
    }

    #[test]
    fn prefix_and_suffix_enter_before_the_suffix_still_ends_the_scan() {
        let mut det = WedgeDetector::new(settings(Some("~"), Some("#")));
        let mut out = Vec::new();
        type_chars(&mut det, "~987", 0, 5, &mut out);
        out.extend(det.key(WedgeKey::Tab, ms(20)));
        assert_eq!(render(&out), strings(&["SCAN:987"]));
    }

    #[test]
    fn suffix_only_a_burst_ending_in_the_suffix_is_a_scan() {
        let mut det = WedgeDetector::new(settings(None, Some("#")));
        let mut out = Vec::new();
        type_chars(&mut det, "12#", 0, 5, &mut out);
        assert_eq!(render(&out), strings(&["SCAN:12"]));
        // Typed slowly it is typing.
        let mut det = WedgeDetector::new(settings(None, Some("#")));
        let mut out = Vec::new();
        type_chars(&mut det, "12#", 0, 150, &mut out);
        out.extend(det.flush(ms(1_000)));
        assert_eq!(render(&out), strings(&["1", "2", "#"]));
        // The suffix alone is not a scan.
        let mut det = WedgeDetector::new(settings(None, Some("#")));
        let mut out = det.key(text("#"), ms(0));
        out.extend(det.flush(ms(1_000)));
        assert_eq!(render(&out), strings(&["#"]));
    }

    #[test]
    fn suffix_only_enter_alone_makes_no_scan() {
        let mut det = WedgeDetector::new(settings(None, Some("#")));
        let mut out = Vec::new();
        let last = type_chars(&mut det, CODE, 0, 5, &mut out);
        out.extend(det.key(WedgeKey::Enter, ms(last + 5)));
        assert_eq!(render(&out).concat(), format!("{CODE}⏎"));
    }

    #[test]
    fn multi_character_suffix() {
        let mut det = WedgeDetector::new(settings(None, Some("~~")));
        let mut out = Vec::new();
        type_chars(&mut det, "4~5~~", 0, 5, &mut out);
        assert_eq!(render(&out), strings(&["SCAN:4~5"]));
    }

    #[test]
    fn debug_never_shows_a_code() {
        let scan = WedgeOutput::Scan(CODE.to_owned());
        assert_eq!(format!("{scan:?}"), "Scan(<16 chars>)");
        let typed = WedgeOutput::Typed(text("7"));
        assert!(!format!("{typed:?}").contains('7'));
        let mut det = WedgeDetector::new(WedgeSettings::default());
        type_chars(&mut det, CODE, 0, 5, &mut Vec::new());
        let shown = format!("{det:?}");
        assert!(!shown.contains("2811"), "{shown}");
        assert!(shown.contains("held_keys: 16"), "{shown}");
    }

    #[test]
    fn times_near_the_end_of_duration_do_not_overflow() {
        let mut det = WedgeDetector::new(settings(None, Some("#")));
        let base = Duration::MAX - ms(50);
        assert!(det.key(text("1"), base).is_empty());
        assert_eq!(det.deadline(), Some(Duration::MAX), "saturates");
        assert_eq!(
            render(&det.key(text("#"), base + ms(5))),
            strings(&["SCAN:1"])
        );
        assert!(
            det.key(WedgeKey::Enter, base + ms(10)).is_empty(),
            "the scanner's Enter"
        );
    }

    #[test]
    fn empty_prefix_and_suffix_mean_none() {
        let det = WedgeDetector::new(settings(Some(""), Some("")));
        assert_eq!(det.settings().prefix, None);
        assert_eq!(det.settings().suffix, None);
    }

    // --- The property: nothing lost, nothing duplicated, nothing reordered. ---

    fn is_terminator(key: &WedgeKey) -> bool {
        matches!(key, WedgeKey::Enter | WedgeKey::Tab)
    }

    /// Consumes text keys from `keys[i..]` whose texts concatenate to exactly `want`.
    fn consume_text(keys: &[WedgeKey], mut i: usize, want: &str) -> Option<usize> {
        let mut rest = want;
        while !rest.is_empty() {
            let WedgeKey::Text(t) = keys.get(i)? else {
                return None;
            };
            rest = rest.strip_prefix(t.as_str())?;
            i += 1;
        }
        Some(i)
    }

    /// Whether the outputs, read in order, are exactly the input keys: each `Typed` is the
    /// next key, and each `Scan(code)` is the next keys' `prefix + code` followed by Enter/Tab,
    /// or `prefix + code + suffix`, optionally followed by the swallowed Enter/Tab.
    fn reproduces(keys: &[WedgeKey], i: usize, out: &[WedgeOutput], pre: &str, suf: &str) -> bool {
        let Some((first, rest)) = out.split_first() else {
            return i == keys.len();
        };
        match first {
            WedgeOutput::Typed(key) => {
                keys.get(i) == Some(key) && reproduces(keys, i + 1, rest, pre, suf)
            }
            WedgeOutput::Scan(code) => {
                if code.is_empty() {
                    return false;
                }
                let ended_by_terminator = consume_text(keys, i, &format!("{pre}{code}"))
                    .is_some_and(|k| {
                        keys.get(k).is_some_and(is_terminator)
                            && reproduces(keys, k + 1, rest, pre, suf)
                    });
                let ended_by_suffix = !suf.is_empty()
                    && consume_text(keys, i, &format!("{pre}{code}{suf}")).is_some_and(|k| {
                        reproduces(keys, k, rest, pre, suf)
                            || (keys.get(k).is_some_and(is_terminator)
                                && reproduces(keys, k + 1, rest, pre, suf))
                    });
                ended_by_terminator || ended_by_suffix
            }
        }
    }

    fn key_strategy() -> impl Strategy<Value = WedgeKey> {
        prop_oneof![
            10 => prop::sample::select(vec!['0', '1', '2', '7', '9', '~', '#', 'a'])
                .prop_map(|c| WedgeKey::Text(c.to_string())),
            2 => Just(WedgeKey::Enter),
            1 => Just(WedgeKey::Tab),
            1 => Just(WedgeKey::Other("Backspace".to_owned())),
        ]
    }

    fn gap_strategy() -> impl Strategy<Value = u64> {
        prop_oneof![6 => 0u64..=20, 2 => 90u64..=110, 1 => 0u64..=3_000]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn typed_plus_scans_reproduce_the_input(
            keys in prop::collection::vec((key_strategy(), gap_strategy()), 0..60),
            min_length in 1usize..=6,
            prefix in prop::sample::select(vec![None, Some("~"), Some("#a")]),
            suffix in prop::sample::select(vec![None, Some("#"), Some("~~")]),
            gui_flushes in any::<bool>(),
        ) {
            let mut det = WedgeDetector::new(WedgeSettings {
                max_key_gap: ms(100),
                min_length,
                prefix: prefix.map(str::to_owned),
                suffix: suffix.map(str::to_owned),
            });
            let mut out = Vec::new();
            let mut now = ms(1_000);
            for (key, gap) in &keys {
                now += ms(*gap);
                // The GUI's timer fires at the deadline when no key came first.
                if gui_flushes
                    && let Some(deadline) = det.deadline()
                    && deadline < now
                {
                    out.extend(det.flush(deadline));
                }
                out.extend(det.key(key.clone(), now));
            }
            out.extend(det.flush(now + ms(10_000)));
            prop_assert_eq!(det.deadline(), None, "everything released at the end");
            let inputs: Vec<WedgeKey> = keys.into_iter().map(|(k, _)| k).collect();
            prop_assert!(
                reproduces(&inputs, 0, &out, prefix.unwrap_or(""), suffix.unwrap_or("")),
                "inputs {:?} gave {:?}",
                render(&inputs.iter().cloned().map(WedgeOutput::Typed).collect::<Vec<_>>()),
                render(&out)
            );
        }
    }
}
