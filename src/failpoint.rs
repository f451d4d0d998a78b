//! Named places where the crash and fault tests stop the process: the engine's steps, the
//! hub link's acknowledgement, the hub's answer to Alipay. A module of its own, below
//! every layer that has one, so the hub (which never uses the engine) can have failpoints.
//!
//! Only in a build with the `failpoints` cargo feature (`cargo test --features failpoints`,
//! which the crash tests require): with `ALIPAY_POS_FAILPOINT=<name>` (several names may be
//! given, comma-separated) the engine announces `failpoint <name> reached` on stderr when it
//! gets there and then hangs, so the test can SIGKILL it at exactly that step. The variable
//! is read once.
//!
//! Without the feature (every shipped binary) [`hit`] is an empty inline function and the
//! variable is never read: an environment variable must not be able to freeze a till.
//! `alipay-pos --version` says which kind of build it is ([`COMPILED_IN`]).

/// Whether this build has failpoints (the `failpoints` feature).
pub const COMPILED_IN: bool = cfg!(feature = "failpoints");

/// The steps the crash campaign kills at.
pub const PAY_BEFORE_SEND: &str = "pay.before_send";
pub const PAY_AFTER_RESPONSE: &str = "pay.after_response";
pub const POLL_AFTER_RESPONSE: &str = "poll.after_response";
pub const CANCEL_BEFORE_SEND: &str = "cancel.before_send";
pub const CANCEL_AFTER_RESPONSE: &str = "cancel.after_response";
pub const REFUND_BEFORE_SEND: &str = "refund.before_send";
pub const REFUND_AFTER_RESPONSE: &str = "refund.after_response";

/// Where the fault tests kill a terminal: a notification the store hub relayed is recorded
/// in the journal, its acknowledgement not yet sent. Not in [`ALL`]: only a terminal with a
/// `[hub]` reaches it, which the crash campaign's terminals are not.
pub const HUB_LINK_BEFORE_ACK: &str = "hub_link.before_ack";
/// Where the fault tests kill the hub: a new notification is committed to PostgreSQL, the
/// SUCCESS not yet sent to Alipay (which therefore sends it again). Not in [`ALL`] either.
pub const HUB_AFTER_STORE: &str = "hub.after_store";

pub const ALL: [&str; 7] = [
    PAY_BEFORE_SEND,
    PAY_AFTER_RESPONSE,
    POLL_AFTER_RESPONSE,
    CANCEL_BEFORE_SEND,
    CANCEL_AFTER_RESPONSE,
    REFUND_BEFORE_SEND,
    REFUND_AFTER_RESPONSE,
];

#[cfg(feature = "failpoints")]
fn armed() -> &'static [String] {
    static ARMED: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    ARMED.get_or_init(|| {
        std::env::var("ALIPAY_POS_FAILPOINT")
            .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
            .unwrap_or_default()
    })
}

/// Hangs forever when `name` is armed. Blocking the thread is the point: nothing after
/// this step may run before the test kills the process.
#[cfg(feature = "failpoints")]
pub fn hit(name: &str) {
    if armed().iter().any(|armed| armed == name) {
        eprintln!("failpoint {name} reached");
        loop {
            std::thread::park();
        }
    }
}

/// Without the `failpoints` feature: nothing, and nothing for the optimiser to keep.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &str) {}
