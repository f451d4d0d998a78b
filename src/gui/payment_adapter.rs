//! Charge, the customer's QR screen, Cancel, the demo customer and the result screen:
//! wires their `Api` callbacks to the [`PaymentScreen`] controller and shows its state.
//!
//! [`PaymentScreen`]: super::controllers::payment_screen::PaymentScreen

use std::rc::Rc;

use slint::{ComponentHandle, Image};

use super::controllers::printing::PrintRequest;
use super::result_screen::{Reason, ResultScreen};
use super::{Api, FailReason, ResultKind, Shared, code_seconds_left, qr};

pub(super) fn wire(shared: &Rc<Shared>, api: &Api<'_>) {
    let weak = Rc::downgrade(shared);
    api.on_charge(move || {
        if let Some(shared) = weak.upgrade() {
            shared.activity();
            shared.charge();
        }
    });
    let weak = Rc::downgrade(shared);
    api.on_cancel_payment(move || {
        if let Some(shared) = weak.upgrade() {
            shared.payment.cancel();
        }
    });
    let weak = Rc::downgrade(shared);
    api.on_simulate_customer(move || {
        if let Some(shared) = weak.upgrade() {
            shared.payment.simulate_customer();
        }
    });
    let weak = Rc::downgrade(shared);
    api.on_demo_confirm(move |confirm| {
        if let Some(shared) = weak.upgrade() {
            shared.payment.demo_confirm(confirm);
        }
    });
    let weak = Rc::downgrade(shared);
    api.on_print_receipt(move || {
        if let Some(shared) = weak.upgrade() {
            shared.activity();
            if let Some(shown) = shared.payment.shown() {
                shared.receipt.print(
                    PrintRequest::Sale {
                        payment_request_id: shown.id,
                        copy: false,
                    },
                    shared.locale.get(),
                );
            }
        }
    });
    let weak = Rc::downgrade(shared);
    api.on_new_sale(move || {
        if let Some(shared) = weak.upgrade() {
            shared.new_sale();
        }
    });
}

/// The QR image, drawn again only when the order code changes.
fn push_qr(shared: &Shared, api: &Api<'_>, code: Option<&str>) {
    if shared.qr_code.borrow().as_deref() == code {
        return;
    }
    *shared.qr_code.borrow_mut() = code.map(str::to_string);
    let image = match code.map(qr::render) {
        Some(Ok(buffer)) => Image::from_rgb8(buffer),
        Some(Err(error)) => {
            tracing::error!(%error, "cannot draw the order code as a QR code");
            Image::default()
        }
        None => Image::default(),
    };
    api.set_qr_code(image);
}

/// The QR and result screens' texts from the payment on screen.
pub(super) fn push(shared: &Shared) {
    let Some(app) = shared.app() else { return };
    let api = app.global::<Api>();
    let locale = shared.locale.get();
    api.set_printer_set(shared.receipt.available());
    let (status, detail) = super::print_status_view(&shared.receipt.status());
    api.set_print_status(status);
    api.set_print_detail(detail.into());
    let Some(shown) = shared.payment.shown() else {
        push_qr(shared, &api, None);
        api.set_cancelling(false);
        api.set_simulating(false);
        api.set_return_seconds(0);
        return;
    };
    // The code stays drawn once the payment has a result (the result page does not show
    // it); it goes when the sale ends.
    if shown.result.is_none() && shown.code.is_some() {
        push_qr(shared, &api, shown.code.as_deref());
    }
    let amount = shown.amount.format(locale);
    api.set_qr_amount(amount.as_str().into());
    api.set_result_amount(amount.into());
    api.set_customer_code(shown.customer_code.clone().unwrap_or_default().into());
    api.set_cancelling(shown.cancelling);
    api.set_simulating(shown.simulating);
    api.set_seconds_left(code_seconds_left(shown.expires_at));
    if let Some(result) = &shown.result {
        api.set_result_kind(match result.kind {
            ResultScreen::Paid => ResultKind::Paid,
            ResultScreen::Failed => ResultKind::Failed,
            ResultScreen::Cancelled => ResultKind::Cancelled,
            ResultScreen::Unresolved => ResultKind::Unresolved,
        });
        api.set_fail_reason(match result.reason {
            Reason::Other => FailReason::Other,
            Reason::Balance => FailReason::Balance,
            Reason::Expired => FailReason::Expired,
            Reason::Risk => FailReason::Risk,
            Reason::Limit => FailReason::Limit,
            Reason::Currency => FailReason::Currency,
            Reason::CustomerAccount => FailReason::CustomerAccount,
            Reason::Setup => FailReason::Setup,
            Reason::Request => FailReason::Request,
            Reason::CodeExpired => FailReason::CodeExpired,
            Reason::InvalidCode => FailReason::InvalidCode,
            Reason::CustomerLimit => FailReason::CustomerLimit,
            Reason::NotConfirmed => FailReason::NotConfirmed,
            Reason::AccountRestricted => FailReason::AccountRestricted,
            Reason::NotVerified => FailReason::NotVerified,
        });
        api.set_result_code(result.code.as_str().into());
        api.set_result_time(
            result
                .time
                .map(crate::local_time::format_local)
                .unwrap_or_default()
                .into(),
        );
        api.set_result_payment_id(result.payment_id.as_str().into());
    }
}
