//! The shape of the request ids this terminal sends, shared by the code that makes them
//! (`checkout::ids`) and the code that must recognise them later (`reconcile`).
//!
//! Every `paymentRequestId` and `refundRequestId` is `<prefix>-<unix seconds>-<terminal
//! tag>-<random>`. Alipay's reports list every transaction of the merchant, from every store
//! and terminal; the tag is how a terminal tells its own rows from its neighbours' without
//! asking anyone, which is what makes "Alipay lists a payment of ours that the journal does
//! not know" (a lost payment) distinguishable from "another till's payment".

/// Longest terminal tag: keeps a whole id within AMS's 64 characters.
const TAG_MAX_CHARS: usize = 16;

/// The terminal id reduced to the characters AMS ids allow (ASCII letters and digits),
/// at most 16 of them; `T` for an id with none.
pub fn terminal_tag(terminal_id: &str) -> String {
    let cleaned: String = terminal_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(TAG_MAX_CHARS)
        .collect();
    if cleaned.is_empty() {
        "T".to_string()
    } else {
        cleaned
    }
}

/// The terminal tag inside a request id of ours, or `None` for an id of another shape.
pub fn tag_of(request_id: &str) -> Option<&str> {
    let mut parts = request_id.split('-');
    let prefix = parts.next()?;
    let seconds = parts.next()?;
    let tag = parts.next()?;
    let random = parts.next()?;
    let well_formed = prefix.len() == 1
        && !seconds.is_empty()
        && seconds.bytes().all(|b| b.is_ascii_digit())
        && !tag.is_empty()
        && !random.is_empty()
        && parts.next().is_none();
    well_formed.then_some(tag)
}

/// Whether `request_id` was made by the terminal `terminal_id`.
pub fn issued_by(request_id: &str, terminal_id: &str) -> bool {
    tag_of(request_id) == Some(terminal_tag(terminal_id).as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_recognised_in_ids_of_ours_only() {
        assert_eq!(terminal_tag("T-01 (front)"), "T01front");
        assert_eq!(terminal_tag("--"), "T");
        assert_eq!(terminal_tag(&"x".repeat(40)).len(), 16);
        assert_eq!(
            tag_of("P-1735689600-T01front-ABCDEF012345"),
            Some("T01front")
        );
        assert!(issued_by("R-1-T01front-Z", "T-01 (front)"));
        assert!(!issued_by("P-1735689600-T02-ABC", "T-01 (front)"));
        for foreign in [
            "",
            "P",
            "P-12-T",
            "PAY-12-T-X",
            "P-1x-T-X",
            "P-12--X",
            "P-12-T-X-Y",
        ] {
            assert_eq!(tag_of(foreign), None, "{foreign}");
        }
    }
}
