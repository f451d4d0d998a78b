//! Merchant and store registration: `registration`, `inquiryRegistrationStatus`,
//! `inquiryRegistrationInfo` and verified `notifyRegistrationStatus`s.
//!
//! The same rules as payments, for a request that moves no money but must not be made twice:
//! - **Journal first.** The `registrationRequestId` and the digest of the exact body are
//!   committed before the request leaves.
//! - **Resend, never guess.** While an answer is lost the identical request goes again under
//!   the same id (Alipay answers a repeated id with the first result). A later `register`
//!   that finds the last request unanswered resends it if the details are unchanged; if they
//!   changed, an inquiry first says whether Alipay has the old one (then it is under review
//!   and nothing new is sent) or not (then it is marked lost and a new id is used).
//! - **Only verified facts.** The review is learned from a verified inquiry answer or a
//!   verified notification, journaled, then published
//!   ([`CheckoutEvent::RegistrationUpdated`]) so faces update without polling.

use super::{Checkout, CheckoutError, CheckoutEvent, ids};
use crate::ams::client::Outcome;
use crate::ams::models::{
    IN_STORE_PAYMENT, InquiryRegistrationInfoRequest, InquiryRegistrationInfoResponse,
    InquiryRegistrationStatusRequest, InquiryRegistrationStatusResponse, MerchantRegistrationInfo,
    NotifyRegistrationStatusRequest, PspRegistrationResult, RegistrationRequest,
    RegistrationResult, RegistrationStatus, ResultCode, StoreRegistrationInfo,
};
use crate::journal::{
    NewRegistration, RegistrationOutcome, RegistrationRecord, ReviewStatus, ReviewUpdate,
    WalletUpdate, WalletVerdict,
};

/// What the terminal registers: the merchant and store as Alipay's `registration` wants
/// them (the wiring builds them from the configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationDetails {
    pub merchant_info: MerchantRegistrationInfo,
    pub store_info: StoreRegistrationInfo,
}

/// How a `register` call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RegisterAnswer {
    /// Alipay accepted the registration for review; the verdict comes later.
    Accepted,
    /// Alipay refused it (`REGISTRATION_UNDER_REVIEW`, `REPEAT_REGISTRATION`,
    /// `REPEAT_REQ_INCONSISTENT`, `PARAM_ILLEGAL`, ...).
    Refused { code: ResultCode, message: String },
    /// No definite answer after every resend: run `register` again (the same request is
    /// resent) or `status`.
    Unknown { reason: String },
    /// The previous, unanswered registration turned out to be at Alipay already; nothing
    /// new was sent.
    PreviousAccepted,
}

/// A `register` call's answer and the journal's record of the request.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterReport {
    pub answer: RegisterAnswer,
    pub record: RegistrationRecord,
    /// The request id was one already journaled (a resend after an unknown outcome).
    pub resent: bool,
}

/// What an inquiry into the review learned.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusAnswer {
    /// Alipay's current review, in the journal's words.
    Review(ReviewUpdate),
    /// Alipay has no registration for this merchant and store (`RECORD_NOT_FOUND`).
    NotRegistered,
    Refused {
        code: ResultCode,
        message: String,
    },
    Unknown {
        reason: String,
    },
}

/// `merchant status`: the live answer and the journal's record after it.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusReport {
    pub answer: StatusAnswer,
    /// The journaled registration whose review is the store's status (the newest accepted
    /// one, else the newest), after the answer was applied.
    pub record: Option<RegistrationRecord>,
}

/// The details are not configured: nothing can be sent.
pub(super) fn no_details() -> CheckoutError {
    CheckoutError::NoRegistrationDetails
}

impl Checkout {
    fn registration_details(&self) -> Result<&RegistrationDetails, CheckoutError> {
        self.inner
            .settings
            .registration
            .as_ref()
            .ok_or_else(no_details)
    }

    /// The exact `registration` request for `registration_request_id`.
    pub fn registration_request(
        &self,
        registration_request_id: &str,
    ) -> Result<RegistrationRequest, CheckoutError> {
        let details = self.registration_details()?;
        Ok(RegistrationRequest {
            registration_request_id: registration_request_id.to_owned(),
            registration_notify_url: self
                .inner
                .settings
                .notify_url
                .as_ref()
                .map(|u| u.to_string()),
            pass_through_info: None,
            merchant_info: details.merchant_info.clone(),
            product_codes: vec![IN_STORE_PAYMENT.to_owned()],
            store_info: Some(details.store_info.clone()),
        })
    }

    fn merchant_and_store(&self) -> (String, String) {
        let merchant = &self.inner.settings.merchant;
        (
            merchant.reference_merchant_id.clone(),
            merchant.store.reference_store_id.clone(),
        )
    }

    /// What `register` would send now, without journaling or sending anything: the
    /// request id of an unanswered registration it would resend, or a fresh one. Returns
    /// the request (validated as the client would) and whether it is a resend.
    pub async fn registration_preview(&self) -> Result<(RegistrationRequest, bool), CheckoutError> {
        let (merchant, store) = self.merchant_and_store();
        let latest = self
            .db(move |j| j.latest_registration(&merchant, &store))
            .await?;
        if let Some(previous) = latest.filter(unanswered) {
            let request = self.registration_request(&previous.registration_request_id)?;
            if super::engine::request_hash(&request)? == previous.body_sha256 {
                return Ok((request, true));
            }
        }
        let id = self.new_registration_id()?;
        let request = self.registration_request(&id)?;
        crate::ams::models::Validate::validate(&request)
            .map_err(|e| CheckoutError::Request(e.into()))?;
        Ok((request, false))
    }

    fn new_registration_id(&self) -> Result<String, CheckoutError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Ok(ids::registration_request_id(
            &self.inner.settings.terminal_id,
            now,
        )?)
    }

    /// Registers the merchant and store: journals the request, sends it (resent unchanged
    /// while its outcome is unknown) and records the answer.
    pub async fn register(&self) -> Result<RegisterReport, CheckoutError> {
        let _one_at_a_time = self.inner.registration_lock.lock().await;
        let (merchant, store) = self.merchant_and_store();
        let latest = {
            let (merchant, store) = (merchant.clone(), store.clone());
            self.db(move |j| j.latest_registration(&merchant, &store))
                .await?
        };
        if let Some(previous) = latest.filter(unanswered) {
            let request = self.registration_request(&previous.registration_request_id)?;
            if super::engine::request_hash(&request)? == previous.body_sha256 {
                return self.send_registration(request, true).await;
            }
            // The details changed since: only a new id may carry them, and only once Alipay
            // has said whether it holds the old request.
            let id = previous.registration_request_id.clone();
            match self.inquire_status(Some(id.clone())).await? {
                StatusAnswer::Review(update) => {
                    let (record, _) = self
                        .db(move |j| j.record_registration_review(&id, update))
                        .await?;
                    self.publish_registration(&record);
                    return Ok(RegisterReport {
                        answer: RegisterAnswer::PreviousAccepted,
                        record,
                        resent: false,
                    });
                }
                StatusAnswer::NotRegistered => {
                    self.db(move |j| {
                        j.record_registration_answer(
                            &id,
                            RegistrationOutcome::Lost,
                            Some(ResultCode::RecordNotFound.as_str()),
                            Some("never reached Alipay (inquiry: RECORD_NOT_FOUND)"),
                        )
                    })
                    .await?;
                }
                StatusAnswer::Refused { code, message } => {
                    return Err(CheckoutError::PreviousRegistrationUnknown {
                        registration_request_id: previous.registration_request_id,
                        reason: format!("{code}: {message}"),
                    });
                }
                StatusAnswer::Unknown { reason } => {
                    return Err(CheckoutError::PreviousRegistrationUnknown {
                        registration_request_id: previous.registration_request_id,
                        reason,
                    });
                }
            }
        }
        let id = self.new_registration_id()?;
        let request = self.registration_request(&id)?;
        // Refused here, before anything is journaled: a request that cannot leave is no intent.
        crate::ams::models::Validate::validate(&request)
            .map_err(|e| CheckoutError::Request(e.into()))?;
        let new = NewRegistration {
            registration_request_id: id,
            reference_merchant_id: merchant,
            reference_store_id: store,
            body_sha256: super::engine::request_hash(&request)?,
        };
        self.db(move |j| j.create_registration(new)).await?;
        self.send_registration(request, false).await
    }

    async fn send_registration(
        &self,
        request: RegistrationRequest,
        resent: bool,
    ) -> Result<RegisterReport, CheckoutError> {
        let id = request.registration_request_id.clone();
        let mut reason = String::new();
        let mut sends = self.inner.policy.registration.sends();
        while let Some(attempt) = sends.next().await {
            let sent_id = id.clone();
            self.db(move |j| j.record_registration_send(&sent_id))
                .await?;
            let outcome = self.inner.client.call(&request).await?;
            self.note_connectivity(&outcome);
            let answered_id = id.clone();
            match outcome {
                Outcome::Success(_) => {
                    let record = self
                        .db(move |j| {
                            j.record_registration_answer(
                                &answered_id,
                                RegistrationOutcome::Accepted,
                                Some(ResultCode::Success.as_str()),
                                None,
                            )
                        })
                        .await?;
                    self.publish_registration(&record);
                    return Ok(RegisterReport {
                        answer: RegisterAnswer::Accepted,
                        record,
                        resent,
                    });
                }
                Outcome::Failed { code, message } => {
                    let (stored_code, stored_message) = (code.to_string(), message.clone());
                    let record = self
                        .db(move |j| {
                            j.record_registration_answer(
                                &answered_id,
                                RegistrationOutcome::Refused,
                                Some(&stored_code),
                                Some(&stored_message),
                            )
                        })
                        .await?;
                    self.publish_registration(&record);
                    return Ok(RegisterReport {
                        answer: RegisterAnswer::Refused { code, message },
                        record,
                        resent,
                    });
                }
                Outcome::Unknown(why) => {
                    tracing::warn!(registration = %id, attempt, reason = %why, "registration outcome unknown");
                    reason = why.to_string();
                }
            }
        }
        let stored_reason: String = reason.chars().take(256).collect();
        let record = self
            .db(move |j| {
                j.record_registration_answer(
                    &id,
                    RegistrationOutcome::Unknown,
                    None,
                    Some(&stored_reason),
                )
            })
            .await?;
        Ok(RegisterReport {
            answer: RegisterAnswer::Unknown { reason },
            record,
            resent,
        })
    }

    /// `inquiryRegistrationStatus` for this merchant and store (and the request id, when
    /// one is given), in the journal's words. Records nothing.
    async fn inquire_status(
        &self,
        registration_request_id: Option<String>,
    ) -> Result<StatusAnswer, CheckoutError> {
        let (merchant, store) = self.merchant_and_store();
        let request = InquiryRegistrationStatusRequest {
            reference_merchant_id: Some(merchant),
            registration_request_id,
            reference_store_id: Some(store),
        };
        let outcome: Outcome<InquiryRegistrationStatusResponse> =
            self.inner.client.call(&request).await?;
        self.note_connectivity(&outcome);
        Ok(match outcome {
            Outcome::Success(response) => StatusAnswer::Review(review_of(
                response.registration_result.as_ref(),
                response.psp_registration_result_list.as_deref(),
            )),
            Outcome::Failed {
                code: ResultCode::RecordNotFound,
                ..
            } => StatusAnswer::NotRegistered,
            Outcome::Failed { code, message } => StatusAnswer::Refused { code, message },
            Outcome::Unknown(reason) => StatusAnswer::Unknown {
                reason: reason.to_string(),
            },
        })
    }

    /// `merchant status` and the manager's "Check now": asks Alipay for the review of the
    /// newest accepted (or unanswered) registration, journals it, and returns both.
    pub async fn check_registration(&self) -> Result<StatusReport, CheckoutError> {
        let (merchant, store) = self.merchant_and_store();
        let known = {
            let (merchant, store) = (merchant.clone(), store.clone());
            self.db(move |j| {
                let accepted = j.latest_accepted_registration(&merchant, &store)?;
                match accepted {
                    Some(record) => Ok(Some(record)),
                    None => Ok(j.latest_registration(&merchant, &store)?.filter(unanswered)),
                }
            })
            .await?
        };
        let asked_id = known.as_ref().map(|r| r.registration_request_id.clone());
        let answer = self.inquire_status(asked_id.clone()).await?;
        match (&answer, asked_id) {
            (StatusAnswer::Review(update), Some(id)) => {
                let update = update.clone();
                let (record, _) = self
                    .db(move |j| j.record_registration_review(&id, update))
                    .await?;
                self.publish_registration(&record);
            }
            (StatusAnswer::NotRegistered, Some(id)) if known.as_ref().is_some_and(unanswered) => {
                self.db(move |j| {
                    j.record_registration_answer(
                        &id,
                        RegistrationOutcome::Lost,
                        Some(ResultCode::RecordNotFound.as_str()),
                        Some("never reached Alipay (inquiry: RECORD_NOT_FOUND)"),
                    )
                })
                .await?;
            }
            _ => {}
        }
        let record = self
            .db(move |j| j.current_registration(&merchant, &store))
            .await?;
        Ok(StatusReport { answer, record })
    }

    /// `inquiryRegistrationInfo`: what Alipay holds for this merchant and store.
    pub async fn registration_info(
        &self,
    ) -> Result<Outcome<InquiryRegistrationInfoResponse>, CheckoutError> {
        let (merchant, store) = self.merchant_and_store();
        let request = InquiryRegistrationInfoRequest {
            reference_merchant_id: merchant,
            reference_store_id: Some(store),
        };
        let outcome = self.inner.client.call(&request).await?;
        self.note_connectivity(&outcome);
        Ok(outcome)
    }

    /// A verified `notifyRegistrationStatus` (its body's SHA-256 is the de-duplication key).
    /// Returns once it is recorded, which is when the receiver may acknowledge it.
    pub async fn handle_registration_notification(
        &self,
        body_sha256: &str,
        notification: &NotifyRegistrationStatusRequest,
    ) -> Result<(), CheckoutError> {
        let id = notification.registration_request_id.clone();
        let update = review_of(
            notification.registration_result.as_ref(),
            notification.psp_registration_result_list.as_deref(),
        );
        let summary = summary_of(&update);
        let (digest, noted_id) = (body_sha256.to_owned(), id.clone());
        let receipt = self
            .db(move |j| j.record_registration_notification(&digest, &noted_id, &summary))
            .await?;
        if !receipt.first_time {
            tracing::info!(registration = %id, times = receipt.times_received, "duplicate registration notification acknowledged");
            return Ok(());
        }
        let lookup = id.clone();
        let Some(record) = self
            .db(move |j| j.registration_by_request_id(&lookup))
            .await?
        else {
            tracing::warn!(registration = %id, "registration notification for a registration this journal does not know; kept, not applied");
            return Ok(());
        };
        let (merchant, store) = (&record.reference_merchant_id, &record.reference_store_id);
        let names_other = notification.reference_merchant_id != *merchant
            || notification
                .reference_store_id
                .as_ref()
                .is_some_and(|s| s != store);
        if names_other || record.outcome == Some(RegistrationOutcome::Refused) {
            tracing::warn!(registration = %id, "registration notification does not fit the journaled registration; kept, not applied");
            return Ok(());
        }
        let (record, applied) = self
            .db(move |j| j.record_registration_review(&id, update))
            .await?;
        if !applied {
            tracing::info!(registration = %record.registration_request_id, "stale registration notification (the review was already complete); kept, not applied");
        }
        self.publish_registration(&record);
        Ok(())
    }

    fn publish_registration(&self, record: &RegistrationRecord) {
        self.publish(CheckoutEvent::RegistrationUpdated {
            registration_request_id: record.registration_request_id.clone(),
        });
    }
}

/// An answer is still owed: never answered, or only unknown answers so far.
fn unanswered(record: &RegistrationRecord) -> bool {
    matches!(record.outcome, None | Some(RegistrationOutcome::Unknown))
}

/// A wire review in the journal's words.
pub(super) fn review_of(
    overall: Option<&RegistrationResult>,
    wallets: Option<&[PspRegistrationResult]>,
) -> ReviewUpdate {
    let status_wire = overall.and_then(|o| o.registration_status.as_ref());
    let status = match status_wire {
        Some(RegistrationStatus::Pending) | None => ReviewStatus::Pending,
        Some(RegistrationStatus::Completed) => ReviewStatus::Completed,
        Some(_) => ReviewStatus::Other,
    };
    let wallets = wallets
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let result = w.registration_result.as_ref();
            let verdict_wire = result.and_then(|r| r.registration_status.as_ref());
            let verdict = match verdict_wire {
                Some(RegistrationStatus::Approved) => WalletVerdict::Approved,
                Some(RegistrationStatus::Rejected) => WalletVerdict::Rejected,
                Some(RegistrationStatus::Pending) | None => WalletVerdict::Pending,
                Some(_) => WalletVerdict::Other,
            };
            WalletUpdate {
                wallet: w
                    .psp_name
                    .clone()
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| format!("wallet {}", i + 1)),
                verdict,
                verdict_text: (verdict == WalletVerdict::Other)
                    .then(|| verdict_wire.map(|v| v.as_str().to_owned()))
                    .flatten(),
                reject_reasons: result.and_then(|r| r.reject_reasons.clone()),
            }
        })
        .collect();
    ReviewUpdate {
        status,
        status_text: (status == ReviewStatus::Other)
            .then(|| status_wire.map(|s| s.as_str().to_owned()))
            .flatten(),
        status_reasons: overall.and_then(|o| o.reject_reasons.clone()),
        wallets,
    }
}

/// One line for the notification log: the overall status and each wallet's verdict.
fn summary_of(update: &ReviewUpdate) -> String {
    let wallets: Vec<String> = update
        .wallets
        .iter()
        .map(|w| format!("{} {}", w.wallet, w.verdict.as_str()))
        .collect();
    format!("{}; {}", update.status.as_str(), wallets.join(", "))
}
