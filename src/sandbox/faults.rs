//! Fault injection: the failures a real gateway and network produce, on demand.
//!
//! The payment engine's reliability rests on how it treats `U`, timeouts, 5xx, dropped answers
//! and missing notifications; these settings let tests (and soak runs that mix them by
//! probability) produce each of them against an otherwise faithful gateway. The crucial
//! property is *when* a fault strikes relative to processing: `down` and 5xx strike before
//! anything is processed, while dropped responses, `U` answers and bad signatures strike after
//! the request has been processed and committed, which is the case a client must never
//! mistake for "did not happen".

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::ams::models::Api;

/// One set of fault settings, global (`client_id` null) or for one client id. This is the
/// JSON body of `PUT /sandbox/control/faults`; omitted fields mean "no fault".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSettings {
    #[serde(default)]
    pub client_id: Option<String>,
    /// Added before every answer (including faulty ones).
    #[serde(default)]
    pub latency_ms: u64,
    /// Answer HTTP 500 or 503 without processing.
    #[serde(default)]
    pub http_5xx_rate: f64,
    /// Process and commit, then break the connection without an answer.
    #[serde(default)]
    pub drop_response_rate: f64,
    /// Process and commit, then answer a signed `U` `UNKNOWN_EXCEPTION`.
    #[serde(default)]
    pub unknown_result_rate: f64,
    /// Process and commit, then answer normally but with a corrupted signature.
    #[serde(default)]
    pub bad_signature_rate: f64,
    /// Break every connection without processing, as if the gateway were unreachable.
    #[serde(default)]
    pub down: bool,
    /// Notifications for this client (or all) are never sent; the outbox marks them
    /// `SUPPRESSED`.
    #[serde(default)]
    pub suppress_notifications: bool,
    /// Restrict the gateway faults to these APIs (`pay`, `inquiryPayment`, ... as the docs
    /// name them); null means every API. Does not affect `suppress_notifications`.
    #[serde(default)]
    pub apis: Option<Vec<String>>,
    /// Answer a signed `F` with this result code without processing the request, as Alipay
    /// refuses a request (e.g. `REFUND_WINDOW_EXCEED` for a resent refund).
    #[serde(default)]
    pub refuse_with: Option<String>,
    /// Process and commit, then answer normally, signed, but naming another payment or
    /// refund: every echoed `paymentRequestId`, `paymentId`, `refundRequestId` and
    /// `refundId` gets a suffix. A replayed or substituted answer looks like this.
    #[serde(default)]
    pub echo_other_ids: bool,
    /// These settings apply to this many requests (of the APIs they cover), then give way
    /// to `then` (or to no fault). Null means for ever. With `then` this scripts exact
    /// sequences: "drop the first refund answer, refuse the resend".
    #[serde(default)]
    pub count: Option<u32>,
    /// What applies once `count` requests were served.
    #[serde(default)]
    pub then: Option<Box<FaultSettings>>,
}

impl FaultSettings {
    /// Rates must be probabilities and API names must exist; a typo in a soak test's fault
    /// mix should fail loudly, not silently inject nothing.
    pub fn check(&self) -> Result<(), String> {
        for (name, rate) in [
            ("http_5xx_rate", self.http_5xx_rate),
            ("drop_response_rate", self.drop_response_rate),
            ("unknown_result_rate", self.unknown_result_rate),
            ("bad_signature_rate", self.bad_signature_rate),
        ] {
            if !(rate.is_finite() && (0.0..=1.0).contains(&rate)) {
                return Err(format!("{name} must be a probability between 0 and 1"));
            }
        }
        if let Some(apis) = &self.apis {
            for name in apis {
                if !Api::ALL.iter().any(|a| a.name() == name) {
                    let known: Vec<&str> = Api::ALL.iter().map(|a| a.name()).collect();
                    return Err(format!(
                        "apis: unknown API `{name}`; use {}",
                        known.join(", ")
                    ));
                }
            }
        }
        if let Some(id) = &self.client_id
            && id.is_empty()
        {
            return Err("client_id must be null or a client id".into());
        }
        if let Some(code) = &self.refuse_with
            && (code.is_empty()
                || code.len() > 64
                || !code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        {
            return Err("refuse_with must be a result code such as REFUND_WINDOW_EXCEED".into());
        }
        if let Some(then) = &self.then {
            if self.count.is_none() {
                return Err(
                    "then needs a count: it applies once count requests were served".into(),
                );
            }
            if then.client_id.is_some() && then.client_id != self.client_id {
                return Err("then applies to the same client; leave its client_id out".into());
            }
            then.check().map_err(|e| format!("then: {e}"))?;
        }
        Ok(())
    }

    fn covers(&self, api: Api) -> bool {
        self.apis
            .as_ref()
            .is_none_or(|apis| apis.iter().any(|a| a == api.name()))
    }
}

/// What happens to one gateway request, decided up front so the handler just follows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FaultPlan {
    pub latency_ms: u64,
    pub down: bool,
    pub http_5xx: Option<u16>,
    pub refuse_with: Option<String>,
    pub drop_response: bool,
    pub unknown_result: bool,
    pub bad_signature: bool,
    pub echo_other_ids: bool,
}

/// The current global and per-client settings, as `GET /sandbox/control/faults` shows them.
/// A client's own settings replace the global ones for that client entirely (they are not
/// merged), so "everything fails except for client X" is expressible.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultState {
    pub global: Option<FaultSettings>,
    pub clients: BTreeMap<String, FaultSettings>,
}

#[derive(Debug, Default)]
pub(crate) struct FaultBoard {
    state: Mutex<FaultState>,
}

impl FaultBoard {
    /// A board with `initial` in force: global, or one client's when its `client_id` is set.
    pub fn new(initial: Option<FaultSettings>) -> Self {
        let board = FaultBoard::default();
        if let Some(settings) = initial {
            board.set(settings);
        }
        board
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultState> {
        // A panic while holding this lock cannot leave the plain data half-written in a way
        // that matters, so a poisoned lock is simply taken over.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn snapshot(&self) -> FaultState {
        self.lock().clone()
    }

    pub fn set(&self, settings: FaultSettings) {
        let mut state = self.lock();
        match settings.client_id.clone() {
            Some(id) => {
                state.clients.insert(id, settings);
            }
            None => state.global = Some(settings),
        }
    }

    /// Clears one client's settings, or everything when `client_id` is `None`.
    pub fn clear(&self, client_id: Option<&str>) {
        let mut state = self.lock();
        match client_id {
            Some(id) => {
                state.clients.remove(id);
            }
            None => *state = FaultState::default(),
        }
    }

    fn settings_for(&self, client_id: &str) -> Option<FaultSettings> {
        let state = self.lock();
        state
            .clients
            .get(client_id)
            .or(state.global.as_ref())
            .cloned()
    }

    /// The settings in force for this request, counting it against their `count` (and
    /// moving on to `then` when that runs out), in one step under the lock so concurrent
    /// requests each take their own turn.
    fn take_settings(&self, client_id: &str, api: Api) -> Option<FaultSettings> {
        let mut state = self.lock();
        let state = &mut *state;
        let slot = if state.clients.contains_key(client_id) {
            state.clients.get_mut(client_id)
        } else {
            state.global.as_mut()
        }?;
        if !slot.covers(api) {
            return None;
        }
        let settings = slot.clone();
        if let Some(count) = slot.count {
            if count <= 1 {
                let client_id = slot.client_id.clone();
                match slot.then.take() {
                    Some(mut then) => {
                        then.client_id = client_id;
                        *slot = *then;
                    }
                    None => {
                        *slot = FaultSettings {
                            client_id,
                            ..FaultSettings::default()
                        }
                    }
                }
            } else {
                slot.count = Some(count - 1);
            }
        }
        Some(settings)
    }

    /// Draws this request's faults. Only one post-processing fault applies per request
    /// (checked in the order drop, unknown, bad signature), so the rates read as "out of all
    /// requests, this share is dropped", not as overlapping events.
    pub fn plan(&self, client_id: &str, api: Api) -> FaultPlan {
        let Some(s) = self.take_settings(client_id, api) else {
            return FaultPlan::default();
        };
        let mut plan = FaultPlan {
            latency_ms: s.latency_ms,
            down: s.down,
            refuse_with: s.refuse_with.clone(),
            echo_other_ids: s.echo_other_ids,
            ..FaultPlan::default()
        };
        if chance(s.http_5xx_rate) {
            plan.http_5xx = Some(if chance(0.5) { 500 } else { 503 });
        } else if chance(s.drop_response_rate) {
            plan.drop_response = true;
        } else if chance(s.unknown_result_rate) {
            plan.unknown_result = true;
        } else if chance(s.bad_signature_rate) {
            plan.bad_signature = true;
        }
        plan
    }

    pub fn notifications_suppressed(&self, client_id: &str) -> bool {
        self.settings_for(client_id)
            .is_some_and(|s| s.suppress_notifications)
    }
}

/// True with probability `p`, from the OS random source. If the OS cannot supply randomness
/// the fault is not injected: a missing fault is the harmless direction.
fn chance(p: f64) -> bool {
    if p <= 0.0 {
        return false;
    }
    if p >= 1.0 {
        return true;
    }
    match getrandom::u64() {
        // 53 random bits give a uniform float in [0, 1).
        Ok(r) => ((r >> 11) as f64 / (1u64 << 53) as f64) < p,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_api_names_are_checked() {
        let mut s = FaultSettings {
            http_5xx_rate: 1.5,
            ..FaultSettings::default()
        };
        assert!(s.check().unwrap_err().contains("http_5xx_rate"));
        s.http_5xx_rate = f64::NAN;
        assert!(s.check().is_err());
        s.http_5xx_rate = 0.5;
        s.apis = Some(vec!["pay".into(), "Pay".into()]);
        assert!(s.check().unwrap_err().contains("`Pay`"));
        s.apis = Some(vec!["pay".into(), "inquiryPayment".into()]);
        s.check().unwrap();
    }

    #[test]
    fn unknown_json_fields_are_refused() {
        let e = serde_json::from_str::<FaultSettings>(r#"{"latency":5}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let s: FaultSettings = serde_json::from_str(r#"{"down":true}"#).unwrap();
        assert!(s.down);
    }

    #[test]
    fn client_settings_replace_global_and_apis_filter() {
        let board = FaultBoard::new(Some(FaultSettings {
            unknown_result_rate: 1.0,
            ..FaultSettings::default()
        }));
        assert!(board.plan("A", Api::Pay).unknown_result);
        board.set(FaultSettings {
            client_id: Some("B".into()),
            http_5xx_rate: 1.0,
            apis: Some(vec!["refund".into()]),
            suppress_notifications: true,
            ..FaultSettings::default()
        });
        assert_eq!(board.plan("B", Api::Pay), FaultPlan::default());
        assert!(board.plan("B", Api::Refund).http_5xx.is_some());
        assert!(board.notifications_suppressed("B"));
        assert!(!board.notifications_suppressed("A"));
        board.clear(Some("B"));
        assert!(board.plan("B", Api::Pay).unknown_result);
        board.clear(None);
        assert_eq!(board.plan("A", Api::Pay), FaultPlan::default());
        assert_eq!(board.snapshot(), FaultState::default());
    }

    #[test]
    fn initial_settings_for_one_client_stay_with_that_client() {
        let board = FaultBoard::new(Some(FaultSettings {
            client_id: Some("B".into()),
            down: true,
            ..FaultSettings::default()
        }));
        assert!(board.plan("B", Api::Cancel).down);
        assert!(!board.plan("A", Api::Cancel).down);
        assert_eq!(board.snapshot().global, None);
    }

    #[test]
    fn counted_settings_give_way_to_then_in_order() {
        let settings: FaultSettings = serde_json::from_value(serde_json::json!({
            "apis": ["refund"], "drop_response_rate": 1.0, "count": 1,
            "then": {"apis": ["refund"], "refuse_with": "REFUND_WINDOW_EXCEED", "count": 2}
        }))
        .unwrap();
        settings.check().unwrap();
        let board = FaultBoard::new(Some(settings));
        // Other APIs neither see the faults nor use up the count.
        assert_eq!(board.plan("A", Api::InquiryRefund), FaultPlan::default());
        assert!(board.plan("A", Api::Refund).drop_response);
        for _ in 0..2 {
            let plan = board.plan("A", Api::Refund);
            assert_eq!(plan.refuse_with.as_deref(), Some("REFUND_WINDOW_EXCEED"));
            assert!(!plan.drop_response);
        }
        assert_eq!(board.plan("A", Api::Refund), FaultPlan::default());
    }

    #[test]
    fn scripted_faults_are_checked() {
        let bad = |v: serde_json::Value| {
            serde_json::from_value::<FaultSettings>(v)
                .unwrap()
                .check()
                .unwrap_err()
        };
        assert!(bad(serde_json::json!({"then": {"down": true}})).contains("count"));
        assert!(bad(serde_json::json!({"refuse_with": "no spaces"})).contains("refuse_with"));
        assert!(
            bad(serde_json::json!({"count": 1, "then": {"http_5xx_rate": 2.0}}))
                .starts_with("then: ")
        );
    }

    #[test]
    fn chance_extremes_are_exact() {
        assert!((0..100).all(|_| chance(1.0)));
        assert!((0..100).all(|_| !chance(0.0)));
        let hits = (0..2000).filter(|_| chance(0.5)).count();
        assert!((700..1300).contains(&hits), "{hits}");
    }
}
