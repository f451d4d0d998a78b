//! The Registration panel (manager's Settings): maps the
//! [`Registration`](super::controllers::manager::registration::Registration) controller onto
//! the `Manager` global's `registration-*` properties. The words are in the `.slint` file.

use slint::{ModelRc, VecModel};

use super::controllers::manager::registration::Registration;
use super::{Manager, RegistrationStage, WalletRow, WalletVerdictKind};
use crate::journal::{RegistrationOutcome, RegistrationRecord, ReviewStatus, WalletVerdict};

/// Where the record stands, in the panel's terms.
pub(crate) fn stage_of(record: Option<&RegistrationRecord>) -> RegistrationStage {
    let Some(record) = record else {
        return RegistrationStage::None;
    };
    match (record.status, record.outcome) {
        (Some(ReviewStatus::Pending), _) => RegistrationStage::Pending,
        (Some(ReviewStatus::Completed), _) => RegistrationStage::Completed,
        (Some(ReviewStatus::Other), _) => RegistrationStage::Other,
        (None, Some(RegistrationOutcome::Accepted)) => RegistrationStage::Pending,
        (None, Some(RegistrationOutcome::Refused)) => RegistrationStage::Refused,
        (None, Some(RegistrationOutcome::Lost)) => RegistrationStage::Lost,
        (None, Some(RegistrationOutcome::Unknown) | None) => RegistrationStage::NoAnswer,
    }
}

pub(super) fn push(manager: &Manager<'_>, panel: &Registration) {
    let record = panel.record();
    manager.set_registration_loaded(panel.loaded());
    manager.set_registration_checking(panel.checking());
    manager.set_registration_check_failed(panel.check_failed());
    manager.set_registration_stage(stage_of(record.as_ref()));
    let text = |value: Option<&String>| value.cloned().unwrap_or_default().into();
    manager.set_registration_id(text(record.as_ref().map(|r| &r.registration_request_id)));
    manager.set_registration_code(text(record.as_ref().and_then(|r| r.result_code.as_ref())));
    manager
        .set_registration_status_text(text(record.as_ref().and_then(|r| r.status_text.as_ref())));
    manager.set_registration_checked(
        record
            .as_ref()
            .and_then(|r| r.checked_at)
            .map(crate::local_time::format_local)
            .unwrap_or_default()
            .into(),
    );
    manager.set_registration_wallets_any_approved(
        record
            .as_ref()
            .is_some_and(RegistrationRecord::any_wallet_approved),
    );
    let rows: Vec<WalletRow> = record
        .iter()
        .flat_map(|r| r.wallets.iter())
        .map(|w| WalletRow {
            name: w.wallet.clone().into(),
            verdict: match w.verdict {
                WalletVerdict::Approved => WalletVerdictKind::Approved,
                WalletVerdict::Rejected => WalletVerdictKind::Rejected,
                WalletVerdict::Pending => WalletVerdictKind::Pending,
                WalletVerdict::Other => WalletVerdictKind::Other,
            },
            verdict_text: w.verdict_text.clone().unwrap_or_default().into(),
            reasons: w.reject_reasons.clone().unwrap_or_default().into(),
        })
        .collect();
    manager.set_registration_wallets(ModelRc::new(VecModel::from(rows)));
}
