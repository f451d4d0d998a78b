//! The keyboard on the cashier and kiosk pages, with a barcode scanner among its typists.
//!
//! Most USB scanners are keyboard wedges: a customer's payment code arrives as 16 to 24
//! keystrokes a few milliseconds apart, then Enter. [`crate::scanner::WedgeDetector`] tells that
//! burst from a person's typing by timing; this controller puts it between the keyboard and
//! the page, so that a scan never ends up in the amount or the description:
//! - **The amount** is Rust's own (`Api.key`): keys are held while they may be a scan and
//!   released as typing once they cannot be, so a scan never shows there, not even briefly.
//! - **The description** is a text field that owns its cursor, so holding and replaying keys
//!   would scramble it. There keys go straight through, and when a burst turns out to be a
//!   scan the description is put back as it was before the burst.

use std::cell::RefCell;
use std::time::Duration;

use crate::scanner::{WedgeDetector, WedgeKey, WedgeOutput, WedgeSettings};

/// What the page must do after a key (in order).
#[derive(Clone, PartialEq, Eq)]
pub enum ScanAction {
    /// A key as `Api.key` names it ("5", "enter", "backspace", ...), to handle as typed.
    Type(String),
    /// A whole scan: the customer's code (a bearer secret: never log it).
    Scan(String),
    /// The description as it was before a burst that turned out to be a scan.
    RestoreDescription(String),
}

/// `Debug` without the scan's text (it is a customer's payment code).
impl std::fmt::Debug for ScanAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanAction::Type(key) if key.chars().count() == 1 => write!(f, "Type(<1 char>)"),
            ScanAction::Type(key) => write!(f, "Type({key:?})"),
            ScanAction::Scan(code) => write!(f, "Scan(<{} chars>)", code.chars().count()),
            ScanAction::RestoreDescription(_) => f.write_str("RestoreDescription"),
        }
    }
}

/// Where the keyboard's keys go on this page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTarget {
    /// The amount (the cashier's keypad).
    Amount,
    /// The description field, which has the focus.
    Description,
    /// The kiosk: customers do not type, so only scans mean something.
    Kiosk,
}

pub struct ScanInput {
    detector: RefCell<WedgeDetector>,
    /// The description before the burst being held began (description target only).
    before_burst: RefCell<Option<String>>,
}

/// The detector's key for one of `Api.scanner-key`'s names.
fn wedge_key(key: &str) -> WedgeKey {
    match key {
        "enter" => WedgeKey::Enter,
        "tab" => WedgeKey::Tab,
        "backspace" | "escape" => WedgeKey::Other(key.to_owned()),
        text if text.chars().count() == 1 && text.chars().all(|c| !c.is_control()) => {
            // Slint names arrows and function keys with private-use characters.
            if text.chars().all(|c| ('\u{F700}'..='\u{F8FF}').contains(&c)) {
                WedgeKey::Other(text.to_owned())
            } else {
                WedgeKey::Text(text.to_owned())
            }
        }
        other => WedgeKey::Other(other.to_owned()),
    }
}

fn key_name(key: WedgeKey) -> String {
    match key {
        WedgeKey::Text(text) | WedgeKey::Other(text) => text,
        WedgeKey::Enter => "enter".to_owned(),
        WedgeKey::Tab => "tab".to_owned(),
    }
}

impl ScanInput {
    pub fn new(settings: WedgeSettings) -> ScanInput {
        ScanInput {
            detector: RefCell::new(WedgeDetector::new(settings)),
            before_burst: RefCell::new(None),
        }
    }

    /// One key at `at` (any monotonic clock, the same for every call). Returns whether the
    /// key is taken (the focused field must not see it) and what to do now.
    /// `description` is the description's text when the key goes to it.
    pub fn key(
        &self,
        key: &str,
        at: Duration,
        target: KeyTarget,
        description: &str,
    ) -> (bool, Vec<ScanAction>) {
        let key = wedge_key(key);
        let holding = self.detector.borrow().deadline().is_some();
        if matches!(key, WedgeKey::Other(_)) && !holding {
            // Backspace, Escape, arrows: never a scan; the page has them as usual.
            return (false, Vec::new());
        }
        if target == KeyTarget::Description && !holding {
            *self.before_burst.borrow_mut() = Some(description.to_owned());
        }
        let outputs = self.detector.borrow_mut().key(key.clone(), at);
        let scanned = outputs
            .iter()
            .any(|output| matches!(output, WedgeOutput::Scan(_)));
        let actions = self.actions(outputs, target);
        let taken = match target {
            KeyTarget::Amount | KeyTarget::Kiosk => true,
            // The field already has the burst's keys; only the scan's end is kept from it.
            KeyTarget::Description => scanned,
        };
        (taken, actions)
    }

    /// When [`ScanInput::flush`] is due if no key comes first.
    pub fn deadline(&self) -> Option<Duration> {
        self.detector.borrow().deadline()
    }

    /// Releases held keys once they can no longer be a scan.
    pub fn flush(&self, now: Duration, target: KeyTarget) -> Vec<ScanAction> {
        let outputs = self.detector.borrow_mut().flush(now);
        self.actions(outputs, target)
    }

    fn actions(&self, outputs: Vec<WedgeOutput>, target: KeyTarget) -> Vec<ScanAction> {
        let mut actions = Vec::new();
        for output in outputs {
            match output {
                WedgeOutput::Scan(code) => {
                    if target == KeyTarget::Description
                        && let Some(before) = self.before_burst.borrow_mut().take()
                    {
                        actions.push(ScanAction::RestoreDescription(before));
                    }
                    actions.push(ScanAction::Scan(code));
                }
                // The amount gets released keys as typed; the description already has them,
                // and a kiosk's customers do not type.
                WedgeOutput::Typed(key) => {
                    if target == KeyTarget::Amount {
                        actions.push(ScanAction::Type(key_name(key)));
                    }
                }
            }
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: &str = "281006020000001111";

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Feeds `keys` `gap` apart from `start`; returns every action and the last time.
    fn feed(
        input: &ScanInput,
        keys: &[&str],
        start: u64,
        gap: u64,
        target: KeyTarget,
    ) -> (Vec<bool>, Vec<ScanAction>, u64) {
        let mut taken = Vec::new();
        let mut actions = Vec::new();
        let mut at = start;
        for key in keys {
            let (took, mut more) = input.key(key, ms(at), target, "Coffee");
            taken.push(took);
            actions.append(&mut more);
            at += gap;
        }
        (taken, actions, at)
    }

    fn code_keys() -> Vec<String> {
        let mut keys: Vec<String> = CODE.chars().map(String::from).collect();
        keys.push("enter".into());
        keys
    }

    #[test]
    fn a_fast_burst_ending_in_enter_is_a_scan_and_never_typing() {
        let input = ScanInput::new(WedgeSettings::default());
        let keys = code_keys();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let (taken, actions, _) = feed(&input, &keys, 1000, 5, KeyTarget::Amount);
        assert!(taken.iter().all(|t| *t), "the amount never sees a key");
        assert_eq!(actions, vec![ScanAction::Scan(CODE.into())]);
        assert_eq!(input.deadline(), None);
    }

    #[test]
    fn slow_digits_are_typing_released_in_order() {
        let input = ScanInput::new(WedgeSettings::default());
        let (_, actions, at) = feed(&input, &["1", "2", "5"], 1000, 150, KeyTarget::Amount);
        // Each key was released when the next came too late; the last one waits its gap.
        assert_eq!(
            actions,
            vec![ScanAction::Type("1".into()), ScanAction::Type("2".into())]
        );
        let due = input.deadline().unwrap();
        assert!(due <= ms(at), "{due:?}");
        assert_eq!(
            input.flush(due, KeyTarget::Amount),
            vec![ScanAction::Type("5".into())]
        );
        let (_, actions, _) = feed(&input, &["enter"], at + 500, 0, KeyTarget::Amount);
        assert_eq!(actions, vec![ScanAction::Type("enter".into())]);
    }

    #[test]
    fn backspace_and_arrows_pass_when_nothing_is_held() {
        let input = ScanInput::new(WedgeSettings::default());
        assert_eq!(
            input.key("backspace", ms(10), KeyTarget::Amount, ""),
            (false, vec![])
        );
        assert_eq!(
            input.key("\u{F702}", ms(20), KeyTarget::Amount, ""),
            (false, vec![])
        );
    }

    #[test]
    fn a_scan_into_the_description_is_taken_back_out() {
        let input = ScanInput::new(WedgeSettings::default());
        let keys = code_keys();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let (taken, actions, _) = feed(&input, &keys, 1000, 4, KeyTarget::Description);
        // The digits reached the field (it owns its cursor); Enter did not.
        assert!(taken[..CODE.len()].iter().all(|t| !*t));
        assert!(taken[CODE.len()]);
        assert_eq!(
            actions,
            vec![
                ScanAction::RestoreDescription("Coffee".into()),
                ScanAction::Scan(CODE.into())
            ]
        );
    }

    #[test]
    fn typing_in_the_description_stays_there() {
        let input = ScanInput::new(WedgeSettings::default());
        let (taken, actions, at) =
            feed(&input, &["T", "e", "a"], 1000, 150, KeyTarget::Description);
        assert!(taken.iter().all(|t| !*t));
        assert!(actions.is_empty());
        let (taken, actions, _) = feed(&input, &["enter"], at, 0, KeyTarget::Description);
        assert_eq!(taken, vec![false], "Enter ends the editing as usual");
        assert!(actions.is_empty());
    }

    #[test]
    fn a_kiosk_only_hears_scans() {
        let input = ScanInput::new(WedgeSettings::default());
        let (_, actions, at) = feed(&input, &["1", "2"], 1000, 150, KeyTarget::Kiosk);
        assert!(actions.is_empty());
        let due = input.deadline().unwrap();
        assert!(input.flush(due.max(ms(at)), KeyTarget::Kiosk).is_empty());
        let keys = code_keys();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let (_, actions, _) = feed(&input, &keys, at + 1000, 3, KeyTarget::Kiosk);
        assert_eq!(actions, vec![ScanAction::Scan(CODE.into())]);
    }

    #[test]
    fn debug_never_shows_a_code() {
        let text = format!("{:?}", ScanAction::Scan(CODE.into()));
        assert!(!text.contains("2810"), "{text}");
    }
}
