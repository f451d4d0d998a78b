//! `registration`, `inquiryRegistrationStatus`, `inquiryRegistrationInfo`, and the review that
//! turns a `PENDING` registration into `COMPLETED` after the configured delay.
//!
//! Choices where the reference is silent (documented in the README section):
//! * "Under review" is per merchant: while any registration of a `referenceMerchantId` is
//!   pending, a new one for that merchant is `REGISTRATION_UNDER_REVIEW`.
//! * "Already registered" is per merchant and store: an approved (merchant, store) pair
//!   cannot be registered again (`REPEAT_REGISTRATION`); another store of the same merchant can.
//! * A `referenceMerchantId` ending in `_REJECT` is rejected by the wallet at review time.
//! * Inquiring with a `registrationRequestId` together with a merchant or store id that
//!   belongs to another registration is `REPEAT_REQ_INCONSISTENT`.

use rusqlite::Transaction;

use super::answer::{Answer, Ctx, to_json};
use super::clock::duration_ms;
use super::ledger::{self, LedgerError, RegistrationRow};
use crate::ams::models::{
    InquiryRegistrationInfoRequest, InquiryRegistrationInfoResponse,
    InquiryRegistrationStatusRequest, InquiryRegistrationStatusResponse,
    NotifyRegistrationStatusRequest, PspRegistrationResult, RegistrationRequest,
    RegistrationResponse, RegistrationResult, RegistrationStatus, ResultInfo,
};

/// The wallet reporting on registrations, spelled as in the reference's examples.
pub const PSP_NAME: &str = "AlipayCN";
/// Merchant ids ending in this are rejected at review, to exercise the rejected path.
pub const REJECT_SUFFIX: &str = "_REJECT";

const PENDING: &str = "PENDING";
const COMPLETED: &str = "COMPLETED";

pub(crate) fn register(
    tx: &Transaction<'_>,
    ctx: &Ctx<'_>,
    req: RegistrationRequest,
) -> Result<Answer, LedgerError> {
    let canonical = String::from_utf8_lossy(&to_json(&req)).into_owned();
    if let Some(existing) =
        ledger::registration_by_request_id(tx, ctx.client_id, &req.registration_request_id)?
    {
        return Ok(if existing.request_json == canonical {
            Answer::new(existing.answer.into_bytes())
        } else {
            Answer::fail(
                "REPEAT_REQ_INCONSISTENT",
                "This registrationRequestId was used with different content.",
            )
        });
    }
    let merchant = req.merchant_info.reference_merchant_id.clone();
    let store = req
        .store_info
        .as_ref()
        .map(|s| s.reference_store_id.clone())
        .unwrap_or_default();
    let earlier = ledger::registrations_for(tx, ctx.client_id, Some(&merchant), None)?;
    if earlier.iter().any(|g| g.status == PENDING) {
        return Ok(Answer::fail(
            "REGISTRATION_UNDER_REVIEW",
            "A registration of this merchant is still under review; wait for its result.",
        ));
    }
    if earlier
        .iter()
        .any(|g| g.reference_store_id == store && g.is_approved())
    {
        return Ok(Answer::fail(
            "REPEAT_REGISTRATION",
            "This merchant and store are already registered.",
        ));
    }
    let answer = Answer::of(&RegistrationResponse {
        result: ResultInfo::success(),
        pass_through_info: req.pass_through_info.clone(),
    });
    ledger::insert_registration(
        tx,
        &RegistrationRow {
            client_id: ctx.client_id.to_owned(),
            registration_request_id: req.registration_request_id.clone(),
            reference_merchant_id: merchant,
            reference_store_id: store,
            request_json: canonical,
            status: PENDING.into(),
            psp_result: None,
            reject_reason: None,
            accepted_at: ctx.now_ms,
            due_at: ctx
                .now_ms
                .saturating_add(duration_ms(ctx.rules.registration_delay)),
            completed_at: None,
            notify_url: req.registration_notify_url.clone(),
            answer: answer.text(),
        },
    )?;
    Ok(answer)
}

/// Completes every registration whose review delay has passed and queues its notification.
/// Returns the number of notifications queued.
pub(crate) fn complete_due(tx: &Transaction<'_>, now_ms: i64) -> Result<usize, LedgerError> {
    let mut queued = 0;
    for mut g in ledger::registrations_due(tx, now_ms)? {
        let rejected = g.reference_merchant_id.ends_with(REJECT_SUFFIX);
        g.status = COMPLETED.into();
        g.psp_result = Some(if rejected { "REJECTED" } else { "APPROVED" }.into());
        g.reject_reason = rejected
            .then(|| format!("Simulated rejection: referenceMerchantId ends in {REJECT_SUFFIX}."));
        g.completed_at = Some(now_ms);
        ledger::save_registration(tx, &g)?;
        if let Some(url) = &g.notify_url {
            let (overall, wallets) = results(&g);
            let body = NotifyRegistrationStatusRequest {
                registration_request_id: g.registration_request_id.clone(),
                reference_merchant_id: g.reference_merchant_id.clone(),
                reference_store_id: (!g.reference_store_id.is_empty())
                    .then(|| g.reference_store_id.clone()),
                psp_registration_result_list: Some(wallets),
                registration_result: Some(overall),
            };
            let body = String::from_utf8_lossy(&to_json(&body)).into_owned();
            ledger::enqueue_notification(
                tx,
                &g.client_id,
                super::notifier::NOTIFY_REGISTRATION,
                &g.registration_request_id,
                url,
                &body,
                now_ms,
            )?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// The overall result and the per-wallet list for a registration.
fn results(g: &RegistrationRow) -> (RegistrationResult, Vec<PspRegistrationResult>) {
    let overall = RegistrationResult {
        registration_status: Some(RegistrationStatus::from(g.status.as_str())),
        reject_reasons: None,
    };
    let wallet = PspRegistrationResult {
        psp_name: Some(PSP_NAME.into()),
        registration_result: g.psp_result.as_deref().map(|r| RegistrationResult {
            registration_status: Some(RegistrationStatus::from(r)),
            reject_reasons: g.reject_reason.clone(),
        }),
    };
    (overall, vec![wallet])
}

fn not_found() -> Answer {
    Answer::fail(
        "RECORD_NOT_FOUND",
        "No registration matches the given ids for this client.",
    )
}

pub(crate) fn inquiry_status(
    tx: &Transaction<'_>,
    ctx: &Ctx<'_>,
    req: InquiryRegistrationStatusRequest,
) -> Result<Answer, LedgerError> {
    let found = match &req.registration_request_id {
        Some(id) => {
            let Some(g) = ledger::registration_by_request_id(tx, ctx.client_id, id)? else {
                return Ok(not_found());
            };
            let merchant_differs = req
                .reference_merchant_id
                .as_ref()
                .is_some_and(|m| *m != g.reference_merchant_id);
            let store_differs = req
                .reference_store_id
                .as_ref()
                .is_some_and(|s| *s != g.reference_store_id);
            if merchant_differs || store_differs {
                return Ok(Answer::fail(
                    "REPEAT_REQ_INCONSISTENT",
                    "The registrationRequestId belongs to another merchant or store.",
                ));
            }
            g
        }
        None => {
            let all = ledger::registrations_for(
                tx,
                ctx.client_id,
                req.reference_merchant_id.as_deref(),
                req.reference_store_id.as_deref(),
            )?;
            let Some(latest) = all.into_iter().next() else {
                return Ok(not_found());
            };
            latest
        }
    };
    let (overall, wallets) = results(&found);
    Ok(Answer::of(&InquiryRegistrationStatusResponse {
        result: ResultInfo::success(),
        registration_result: Some(overall),
        psp_registration_result_list: Some(wallets),
    }))
}

pub(crate) fn inquiry_info(
    tx: &Transaction<'_>,
    ctx: &Ctx<'_>,
    req: InquiryRegistrationInfoRequest,
) -> Result<Answer, LedgerError> {
    let all = ledger::registrations_for(
        tx,
        ctx.client_id,
        Some(&req.reference_merchant_id),
        req.reference_store_id.as_deref(),
    )?;
    if all.is_empty() {
        return Ok(not_found());
    }
    let mut r = InquiryRegistrationInfoResponse {
        result: ResultInfo::success(),
        merchant_info: None,
        store_info: None,
        product_codes: None,
    };
    // The latest *successful* registration; before any succeeded, only the acceptance result.
    if let Some(approved) = all.iter().find(|g| g.is_approved()) {
        let registered: RegistrationRequest = serde_json::from_str(&approved.request_json)
            .map_err(|e| LedgerError::Corrupt(format!("stored registration: {e}")))?;
        r.merchant_info = Some(registered.merchant_info);
        r.store_info = registered.store_info;
        r.product_codes = Some(registered.product_codes);
    }
    Ok(Answer::of(&r))
}
