//! Request ids that are unique without coordination.
//!
//! flows.md advises building `paymentRequestId` from a timestamp, the terminal number and
//! randomness, never a sequence: after a crash or a restore from backup a counter can repeat,
//! and a repeated id would be answered with the *old* payment's result.

/// Characters the AMS ids may use ("special characters are not supported").
const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct IdError(#[source] getrandom::Error);

/// Drawn straight from the OS through `getrandom`, as the sandbox's ids are: one source of
/// randomness for ids, not a crypto crate's re-export of it.
fn random_suffix(len: usize) -> Result<String, IdError> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(IdError)?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

/// `<prefix>-<unix seconds>-<terminal tag>-<random>` ([`crate::request_ids`]), at most 64
/// characters.
fn new_id(prefix: &str, terminal_id: &str, unix_seconds: i64) -> Result<String, IdError> {
    Ok(format!(
        "{prefix}-{unix_seconds}-{}-{}",
        crate::request_ids::terminal_tag(terminal_id),
        random_suffix(12)?
    ))
}

pub fn payment_request_id(terminal_id: &str, unix_seconds: i64) -> Result<String, IdError> {
    new_id("P", terminal_id, unix_seconds)
}

pub fn refund_request_id(terminal_id: &str, unix_seconds: i64) -> Result<String, IdError> {
    new_id("R", terminal_id, unix_seconds)
}

/// The business order a payment belongs to; several attempts may share one.
pub fn order_ref(terminal_id: &str, unix_seconds: i64) -> Result<String, IdError> {
    new_id("O", terminal_id, unix_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ams::models::validate;

    #[test]
    fn ids_are_valid_ams_ids_and_do_not_repeat() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = payment_request_id("T-01 (front)", 1_735_689_600).unwrap();
            assert!(id.len() <= 64, "{id}");
            validate::request_id("paymentRequestId", &id).unwrap();
            assert!(id.starts_with("P-1735689600-T01front-"), "{id}");
            assert!(seen.insert(id));
        }
        let long = refund_request_id(&"x".repeat(200), i64::MAX).unwrap();
        assert!(long.len() <= 64, "{long}");
        validate::request_id("refundRequestId", &long).unwrap();
        assert!(order_ref("", 0).unwrap().starts_with("O-0-T-"));
    }
}
