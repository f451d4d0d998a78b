//! `merchant register | status | info`: the merchant and store registration Alipay's wallets
//! review before they accept the store's payments.
//!
//! Exit status: 0 accepted (register) or answered (status, info); 2 refused or not
//! registered; 3 no definite answer (try again; `register` resends the same request);
//! 1 usage or configuration; 4 the machine cannot do it now.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use super::payment_cmd::{EXIT_FAILED_OR_CANCELLED, EXIT_UNRESOLVED, SANDBOX_MARK, runtime};
use super::{CliError, CliResult};
use crate::ams::client::Outcome;
use crate::checkout::{RegisterAnswer, ResultCode, StatusAnswer};
use crate::config::Config;
use crate::journal::{RegistrationRecord, ReviewStatus, WalletVerdict};

#[derive(Debug, Subcommand)]
pub enum MerchantCommand {
    /// Register the merchant and store with Alipay (`registration`), from `[merchant]`,
    /// `[store]` and `[registration]` in the configuration.
    ///
    /// Journaled before it is sent; a request whose answer was lost is resent unchanged
    /// (same registrationRequestId) by the next `register`. Exit status 0 accepted for
    /// review, 2 refused, 3 no answer yet (run it again).
    Register(RegisterArgs),
    /// Ask Alipay how the review stands: overall, and per wallet (approved, rejected with
    /// the reasons, pending). Journals what it learns.
    Status(JsonArg),
    /// Show what Alipay holds for the merchant and store (`inquiryRegistrationInfo`).
    Info(JsonArg),
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Print the exact JSON body that would be sent, and send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(command: MerchantCommand, config_path: Option<&Path>) -> CliResult {
    let config = Config::discover(config_path)?;
    if matches!(command, MerchantCommand::Register(_)) {
        // Checked before anything starts: a missing table is the user's to add.
        config.registration_details()?;
    }
    runtime()?.block_on(async move {
        let terminal = crate::terminal::Terminal::start(config, crate::checkout::Policy::default())
            .await
            .map_err(CliError::from_terminal)?;
        let sandbox = terminal.sandbox().is_some();
        let checkout = &terminal.checkout;
        match command {
            MerchantCommand::Register(args) if args.dry_run => {
                let (request, resend) = checkout
                    .registration_preview()
                    .await
                    .map_err(CliError::from_checkout)?;
                let body = serde_json::to_string(&request)
                    .map_err(|e| CliError::cannot_work(format!("cannot encode the request: {e}")))?;
                let mut out = std::io::stdout().lock();
                if args.json {
                    let request: serde_json::Value = serde_json::from_str(&body)
                        .map_err(|e| CliError::cannot_work(e.to_string()))?;
                    writeln!(
                        out,
                        "{}",
                        json!({"sandbox": sandbox, "dryRun": true, "resend": resend, "request": request})
                    )?;
                } else {
                    writeln!(out, "{body}")?;
                    eprintln!(
                        "{}",
                        if resend {
                            "dry run: nothing was sent; `merchant register` would resend this unanswered request unchanged / 演示运行：未发送；正式运行会原样重发这个未获答复的请求"
                        } else {
                            "dry run: nothing was sent; `merchant register` sends this with a new registrationRequestId / 演示运行：未发送；正式运行会使用新的 registrationRequestId 发送"
                        }
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            MerchantCommand::Register(args) => {
                let report = checkout.register().await.map_err(CliError::from_checkout)?;
                let (outcome, code, message, exit) = match &report.answer {
                    RegisterAnswer::Accepted => ("accepted", Some(ResultCode::Success), None, 0),
                    RegisterAnswer::PreviousAccepted => ("previous_accepted", None, None, 0),
                    RegisterAnswer::Refused { code, message } => (
                        "refused",
                        Some(code.clone()),
                        Some(message.clone()),
                        EXIT_FAILED_OR_CANCELLED,
                    ),
                    RegisterAnswer::Unknown { reason } => {
                        ("unknown", None, Some(reason.clone()), EXIT_UNRESOLVED)
                    }
                };
                let (en, zh) = register_words(&report.answer);
                let mut out = std::io::stdout().lock();
                if args.json {
                    writeln!(
                        out,
                        "{}",
                        json!({
                            "sandbox": sandbox,
                            "registrationRequestId": report.record.registration_request_id,
                            "resent": report.resent,
                            "outcome": outcome,
                            "resultCode": code.as_ref().map(ResultCode::as_str),
                            "resultMessage": message,
                            "next": {"en": en, "zh": zh},
                        })
                    )?;
                } else {
                    if sandbox {
                        writeln!(out, "{SANDBOX_MARK}")?;
                    }
                    writeln!(
                        out,
                        "registration {}{}",
                        report.record.registration_request_id,
                        if report.resent { " (resent unchanged)" } else { "" }
                    )?;
                    writeln!(out, "{en}")?;
                    writeln!(out, "{zh}")?;
                }
                Ok(ExitCode::from(exit))
            }
            MerchantCommand::Status(args) => {
                let report = checkout
                    .check_registration()
                    .await
                    .map_err(CliError::from_checkout)?;
                let mut out = std::io::stdout().lock();
                let (word, exit) = match &report.answer {
                    StatusAnswer::Review(update) => (update.status.as_str(), 0),
                    StatusAnswer::NotRegistered => ("not_registered", EXIT_FAILED_OR_CANCELLED),
                    StatusAnswer::Refused { .. } => ("refused", EXIT_FAILED_OR_CANCELLED),
                    StatusAnswer::Unknown { .. } => ("unknown", EXIT_UNRESOLVED),
                };
                if args.json {
                    let (code, message) = match &report.answer {
                        StatusAnswer::Refused { code, message } => {
                            (Some(code.as_str().to_owned()), Some(message.clone()))
                        }
                        StatusAnswer::Unknown { reason } => (None, Some(reason.clone())),
                        StatusAnswer::NotRegistered => {
                            (Some(ResultCode::RecordNotFound.as_str().to_owned()), None)
                        }
                        StatusAnswer::Review(_) => (Some("SUCCESS".to_owned()), None),
                    };
                    writeln!(
                        out,
                        "{}",
                        json!({
                            "sandbox": sandbox,
                            "status": word,
                            "resultCode": code,
                            "resultMessage": message,
                            "anyWalletApproved": report.record.as_ref().is_some_and(RegistrationRecord::any_wallet_approved),
                            "registration": report.record.as_ref().map(record_json),
                        })
                    )?;
                } else {
                    if sandbox {
                        writeln!(out, "{SANDBOX_MARK}")?;
                    }
                    match &report.answer {
                        StatusAnswer::Review(_) => {}
                        StatusAnswer::NotRegistered => writeln!(
                            out,
                            "Alipay has no registration of this merchant and store: run `alipay-pos merchant register`.\n支付宝没有该商户和门店的登记：请运行 `alipay-pos merchant register`。"
                        )?,
                        StatusAnswer::Refused { code, message } => {
                            let (en, zh) = refusal_words(code, message);
                            writeln!(out, "{en}\n{zh}")?;
                        }
                        StatusAnswer::Unknown { reason } => writeln!(
                            out,
                            "Alipay could not be asked ({reason}); below is the last known status. Try again later.\n暂时无法查询支付宝；以下是最后已知的状态，请稍后重试。"
                        )?,
                    }
                    match &report.record {
                        Some(record) => write_record(&mut out, record)?,
                        None => writeln!(out, "nothing journaled yet / 本机尚无登记记录")?,
                    }
                }
                Ok(ExitCode::from(exit))
            }
            MerchantCommand::Info(args) => {
                let outcome = checkout
                    .registration_info()
                    .await
                    .map_err(CliError::from_checkout)?;
                let mut out = std::io::stdout().lock();
                let exit = match &outcome {
                    Outcome::Success(_) => 0,
                    Outcome::Failed { .. } => EXIT_FAILED_OR_CANCELLED,
                    Outcome::Unknown(_) => EXIT_UNRESOLVED,
                };
                if args.json {
                    let value = match &outcome {
                        Outcome::Success(response) => json!({
                            "sandbox": sandbox,
                            "resultCode": "SUCCESS",
                            "registered": response.merchant_info.is_some(),
                            "merchantInfo": response.merchant_info,
                            "storeInfo": response.store_info,
                            "productCodes": response.product_codes,
                        }),
                        Outcome::Failed { code, message } => json!({
                            "sandbox": sandbox, "registered": false,
                            "resultCode": code.as_str(), "resultMessage": message,
                        }),
                        Outcome::Unknown(reason) => json!({
                            "sandbox": sandbox, "registered": null,
                            "resultCode": null, "resultMessage": reason.to_string(),
                        }),
                    };
                    writeln!(out, "{value}")?;
                } else {
                    if sandbox {
                        writeln!(out, "{SANDBOX_MARK}")?;
                    }
                    match &outcome {
                        Outcome::Success(response) => match &response.merchant_info {
                            Some(info) => {
                                let pretty = serde_json::to_string_pretty(&json!({
                                    "merchantInfo": info,
                                    "storeInfo": response.store_info,
                                    "productCodes": response.product_codes,
                                }))
                                .map_err(|e| CliError::cannot_work(e.to_string()))?;
                                writeln!(out, "What Alipay holds (the latest approved registration) / 支付宝登记的信息：\n{pretty}")?;
                            }
                            None => writeln!(
                                out,
                                "Alipay accepted a registration but none is approved yet: wait for the review (`alipay-pos merchant status`).\n支付宝已受理登记，但尚无通过的登记：请等待审核（`alipay-pos merchant status`）。"
                            )?,
                        },
                        Outcome::Failed {
                            code: ResultCode::RecordNotFound,
                            ..
                        } => writeln!(
                            out,
                            "Alipay holds nothing for this merchant and store: run `alipay-pos merchant register`.\n支付宝没有该商户和门店的信息：请运行 `alipay-pos merchant register`。"
                        )?,
                        Outcome::Failed { code, message } => {
                            let (en, zh) = refusal_words(code, message);
                            writeln!(out, "{en}\n{zh}")?;
                        }
                        Outcome::Unknown(reason) => writeln!(
                            out,
                            "Alipay could not be asked ({reason}); try again later.\n暂时无法查询支付宝，请稍后重试。"
                        )?,
                    }
                }
                Ok(ExitCode::from(exit))
            }
        }
    })
}

/// The journal's record of a registration, as `merchant status --json` prints it.
fn record_json(record: &RegistrationRecord) -> serde_json::Value {
    json!({
        "registrationRequestId": record.registration_request_id,
        "referenceMerchantId": record.reference_merchant_id,
        "referenceStoreId": record.reference_store_id,
        "createdAt": record.created_at.to_string(),
        "sends": record.sends,
        "outcome": record.outcome.map(|o| o.as_str()),
        "resultCode": record.result_code,
        "status": record.status.map(ReviewStatus::as_str),
        "statusReasons": record.status_reasons,
        "lastChecked": record.checked_at.map(|t| t.to_string()),
        "wallets": record.wallets.iter().map(|w| json!({
            "wallet": w.wallet,
            "verdict": w.verdict.as_str(),
            "verdictText": w.verdict_text,
            "rejectReasons": w.reject_reasons,
        })).collect::<Vec<_>>(),
    })
}

fn write_record(out: &mut impl Write, record: &RegistrationRecord) -> std::io::Result<()> {
    writeln!(out, "registration {}", record.registration_request_id)?;
    let (en, zh) = match record.status {
        Some(ReviewStatus::Pending) => ("under review", "审核中"),
        Some(ReviewStatus::Completed) => ("review completed", "审核完成"),
        Some(ReviewStatus::Other) => ("other", "其他"),
        None => match record.outcome.map(|o| o.as_str()) {
            Some("refused") => ("refused", "被拒绝受理"),
            Some("lost") => ("never reached Alipay", "未送达支付宝"),
            _ => ("no answer yet", "尚无答复"),
        },
    };
    let text = record.status_text.as_deref().unwrap_or_default();
    writeln!(out, "status: {en} / {zh} {text}")?;
    if let Some(reasons) = &record.status_reasons {
        writeln!(out, "reasons: {reasons}")?;
    }
    for wallet in &record.wallets {
        let (en, zh) = verdict_words(wallet.verdict);
        write!(out, "  {}: {en} / {zh}", wallet.wallet)?;
        if let Some(text) = &wallet.verdict_text {
            write!(out, " ({text})")?;
        }
        if let Some(reasons) = &wallet.reject_reasons {
            write!(out, " — {reasons}")?;
        }
        writeln!(out)?;
    }
    if record.status == Some(ReviewStatus::Completed) && !record.any_wallet_approved() {
        writeln!(
            out,
            "No wallet approved the store: correct what the reasons name in [registration], then run `alipay-pos merchant register` again.\n没有钱包通过门店审核：请按拒绝原因修改 [registration]，然后重新运行 `alipay-pos merchant register`。"
        )?;
    }
    if let Some(at) = record.checked_at {
        writeln!(
            out,
            "last checked / 最后查询: {}",
            crate::local_time::format_local(at)
        )?;
    }
    Ok(())
}

/// A wallet's verdict in both languages.
pub(super) fn verdict_words(verdict: WalletVerdict) -> (&'static str, &'static str) {
    match verdict {
        WalletVerdict::Approved => ("APPROVED", "已通过"),
        WalletVerdict::Rejected => ("REJECTED", "已拒绝"),
        WalletVerdict::Pending => ("pending", "审核中"),
        WalletVerdict::Other => ("other", "其他"),
    }
}

/// What `register` found, and the next step, in English and Chinese.
pub(super) fn register_words(answer: &RegisterAnswer) -> (String, String) {
    match answer {
        RegisterAnswer::Accepted => (
            "Accepted: Alipay's wallets are reviewing the merchant and store. The result arrives by notification; or run `alipay-pos merchant status`.".into(),
            "已受理：支付宝各钱包正在审核商户和门店。结果会通过通知送达，也可运行 `alipay-pos merchant status` 查询。".into(),
        ),
        RegisterAnswer::PreviousAccepted => (
            "The previous registration, whose answer was lost, is at Alipay and under review: nothing new was sent. Run `alipay-pos merchant status`.".into(),
            "上一次答复丢失的登记已在支付宝审核中，未重复发送。请运行 `alipay-pos merchant status`。".into(),
        ),
        RegisterAnswer::Refused { code, message } => refusal_words(code, message),
        RegisterAnswer::Unknown { reason } => (
            format!("No answer from Alipay ({reason}). Run `alipay-pos merchant register` again: it resends the same request, which cannot register twice."),
            "支付宝未答复。请再次运行 `alipay-pos merchant register`：它会原样重发同一请求，不会重复登记。".into(),
        ),
    }
}

/// A refused registration call in plain words with the next step, in English and Chinese.
pub fn refusal_words(code: &ResultCode, message: &str) -> (String, String) {
    match code {
        ResultCode::RegistrationUnderReview => (
            "REGISTRATION_UNDER_REVIEW: a registration of this merchant is still under review. Wait for its result (`alipay-pos merchant status`); register again only if it is rejected.".into(),
            "REGISTRATION_UNDER_REVIEW：该商户的登记仍在审核中。请等待结果（`alipay-pos merchant status`），仅在被拒绝后重新登记。".into(),
        ),
        ResultCode::RepeatRegistration => (
            "REPEAT_REGISTRATION: this merchant and store are already registered. Run `alipay-pos merchant status` to see each wallet's verdict.".into(),
            "REPEAT_REGISTRATION：该商户和门店已登记。请运行 `alipay-pos merchant status` 查看各钱包的审核结果。".into(),
        ),
        ResultCode::RepeatReqInconsistent => (
            "REPEAT_REQ_INCONSISTENT: Alipay already has this registrationRequestId with other details, so nothing changed. Run `alipay-pos merchant register` again: it sends the current details under a new id.".into(),
            "REPEAT_REQ_INCONSISTENT：支付宝已有此 registrationRequestId 但内容不同，未作任何更改。请再次运行 `alipay-pos merchant register`，它会用新的请求号发送当前信息。".into(),
        ),
        ResultCode::ParamIllegal => {
            let field = field_named(message);
            (
                format!("PARAM_ILLEGAL: Alipay refused {field} ({message}). Correct it in the config file, check with `alipay-pos merchant register --dry-run`, then register again."),
                format!("PARAM_ILLEGAL：支付宝不接受 {field}。请在配置文件中改正，用 `alipay-pos merchant register --dry-run` 检查后重新登记。"),
            )
        }
        ResultCode::InvalidClient | ResultCode::ClientInvalid => (
            format!("{code}: Alipay does not know this client id. Check `alipay.client_id` and the keys in the config file."),
            format!("{code}：支付宝不认识此 client id。请检查配置文件中的 `alipay.client_id` 和密钥。"),
        ),
        ResultCode::RecordNotFound => (
            "RECORD_NOT_FOUND: Alipay has no registration of this merchant and store. Run `alipay-pos merchant register`.".into(),
            "RECORD_NOT_FOUND：支付宝没有该商户和门店的登记。请运行 `alipay-pos merchant register`。".into(),
        ),
        other => (
            format!("{other}: Alipay refused the request ({message}). Check the registration details and try again, or contact Alipay support with this code."),
            format!("{other}：支付宝拒绝了请求。请检查登记信息后重试，或凭此代码联系支付宝客服。"),
        ),
    }
}

/// Which setting a `PARAM_ILLEGAL` message is about: the wire field it names and, where one
/// setting holds it, that key of the config file.
pub fn field_named(message: &str) -> String {
    // Most specific first: `registrationAddress` before any `Address`.
    const FIELDS: &[(&str, &str)] = &[
        ("legalName", "registration.legal_name"),
        ("registrationType", "registration.registration_type"),
        ("registrationNo", "registration.registration_no"),
        ("businessType", "registration.business_type"),
        ("contactInfo", "registration.contact_email"),
        ("registrationAddress", "registration.merchant_address"),
        ("merchantAddress", "registration.merchant_address"),
        ("storeAddress", "registration.store_address"),
        ("websites", "registration.websites"),
        ("logo", "registration.logo_url"),
        ("merchantDisplayName", "registration.display_name"),
        ("merchantMCC", "merchant.mcc"),
        ("storeMCC", "store.mcc"),
        ("storeName", "store.name"),
        ("referenceStoreId", "store.reference_store_id"),
        ("referenceMerchantId", "merchant.reference_merchant_id"),
    ];
    for (wire, key) in FIELDS {
        if let Some(start) = message.find(wire) {
            // The whole dotted path around the name, as Alipay wrote it.
            let begin = message[..start]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '[' | ']')))
                .map_or(0, |i| i + 1);
            let end = message[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '[' | ']')))
                .map_or(message.len(), |i| start + i);
            return format!(
                "the field {} (`{key}` in the config file)",
                &message[begin..end]
            );
        }
    }
    "a registration detail".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_illegal_names_the_field_and_its_config_key() {
        let named = field_named("merchantInfo.registrationDetail.legalName: is required");
        assert_eq!(
            named,
            "the field merchantInfo.registrationDetail.legalName (`registration.legal_name` in the config file)"
        );
        assert!(
            field_named("storeInfo.storeAddress.region bad").contains("registration.store_address")
        );
        assert_eq!(field_named("something odd"), "a registration detail");
    }

    #[test]
    fn every_registration_code_has_words_and_a_next_step() {
        for code in [
            ResultCode::RegistrationUnderReview,
            ResultCode::RepeatRegistration,
            ResultCode::RepeatReqInconsistent,
            ResultCode::ParamIllegal,
            ResultCode::InvalidClient,
            ResultCode::RecordNotFound,
            ResultCode::from("SOMETHING_NEW"),
        ] {
            let (en, zh) = refusal_words(&code, "merchantInfo.websites[0].url: bad");
            assert!(en.starts_with(code.as_str()), "{en}");
            assert!(zh.starts_with(code.as_str()), "{zh}");
            assert!(
                en.contains("alipay-pos") || en.contains("config") || en.contains("support"),
                "{en}"
            );
            assert!(
                zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{zh}"
            );
        }
        let (en, _) = refusal_words(
            &ResultCode::ParamIllegal,
            "merchantInfo.websites[0].url: bad",
        );
        assert!(
            en.contains("merchantInfo.websites[0].url") && en.contains("registration.websites"),
            "{en}"
        );
        let (en, _) = refusal_words(&ResultCode::RegistrationUnderReview, "");
        assert!(en.contains("Wait"), "{en}");
        let (en, _) = refusal_words(&ResultCode::RepeatRegistration, "");
        assert!(en.contains("merchant status"), "{en}");
    }
}
