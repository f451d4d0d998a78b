//! Merchant and store registration against the embedded sandbox: register, pending, approved
//! by the sandbox's delayed review and its signed notification, rejected (the sandbox's
//! `_REJECT` merchant switch), every result code, lost answers (identical resends, and an
//! inquiry before a new id), replayed and forged notifications, the CLI, the config checks
//! and the demo catalog.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use alipay_pos::ams::models::{
    NotifyRegistrationStatusRequest, PspRegistrationResult, RegistrationResult, RegistrationStatus,
};
use alipay_pos::checkout::{Policy, RegisterAnswer, ResultCode, StatusAnswer};
use alipay_pos::config::Config;
use alipay_pos::journal::{RegistrationOutcome, RegistrationRecord, ReviewStatus, WalletVerdict};
use alipay_pos::terminal::Terminal;
use serde_json::{Value, json};

use crate::support::{
    Control, alipay_private_key, binary, demo_terminal, demo_terminal_with, merchant_private_key,
    sandbox_config, seed_sandbox_keys, wait_until,
};

const REVIEW: Duration = Duration::from_millis(300);
const WITHIN: Duration = Duration::from_secs(15);

fn current(terminal: &Terminal) -> Option<RegistrationRecord> {
    terminal
        .reader()
        .unwrap()
        .current_registration(
            &terminal.config.merchant.reference_merchant_id,
            &terminal.config.store.reference_store_id,
        )
        .unwrap()
}

async fn wait_completed(terminal: &Terminal) -> RegistrationRecord {
    wait_until("the review to complete in the journal", WITHIN, || {
        let done = current(terminal).is_some_and(|r| r.status == Some(ReviewStatus::Completed));
        async move { done }
    })
    .await;
    current(terminal).unwrap()
}

#[tokio::test]
async fn register_is_pending_then_approved_by_the_signed_notification() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |o| {
        o.registration_delay = REVIEW;
    })
    .await;
    let mut events = terminal.checkout.subscribe();

    let report = terminal.checkout.register().await.unwrap();
    assert_eq!(report.answer, RegisterAnswer::Accepted);
    assert!(!report.resent);
    assert_eq!(report.record.sends, 1);
    assert_eq!(report.record.outcome, Some(RegistrationOutcome::Accepted));
    let id = report.record.registration_request_id.clone();
    assert!(id.starts_with("G-"), "{id}");

    // Pending right after: the inquiry says so, and the journal keeps it.
    let status = terminal.checkout.check_registration().await.unwrap();
    match &status.answer {
        StatusAnswer::Review(update) => {
            assert_eq!(update.status, ReviewStatus::Pending);
            assert_eq!(update.wallets[0].verdict, WalletVerdict::Pending);
        }
        other => panic!("expected a pending review, got {other:?}"),
    }
    let pending = status.record.unwrap();
    assert_eq!(pending.status, Some(ReviewStatus::Pending));
    assert!(pending.checked_at.is_some());

    // Approved without another inquiry: the sandbox's signed notification reaches the
    // terminal's receiver, which journals it.
    let approved = wait_completed(&terminal).await;
    assert_eq!(approved.registration_request_id, id);
    assert_eq!(approved.wallets.len(), 1);
    assert_eq!(approved.wallets[0].wallet, "AlipayCN");
    assert_eq!(approved.wallets[0].verdict, WalletVerdict::Approved);
    assert!(approved.any_wallet_approved());
    let counts = terminal
        .reader()
        .unwrap()
        .registration_notification_counts()
        .unwrap();
    assert_eq!(counts, (1, 1), "one verified notification, recorded once");
    // Faces heard about it.
    let mut heard = false;
    while let Ok(event) = events.try_recv() {
        heard |= matches!(event, alipay_pos::checkout::CheckoutEvent::RegistrationUpdated { ref registration_request_id } if *registration_request_id == id);
    }
    assert!(heard, "a RegistrationUpdated event was published");

    // What Alipay holds now is what was sent.
    let info = terminal.checkout.registration_info().await.unwrap();
    let alipay_pos::ams::client::Outcome::Success(info) = info else {
        panic!("inquiryRegistrationInfo failed: {info:?}");
    };
    let merchant = info.merchant_info.unwrap();
    assert_eq!(merchant.reference_merchant_id, "M0001");
    assert_eq!(
        merchant.registration_detail.unwrap().legal_name.as_deref(),
        Some("Demo Cafe LLC")
    );
    assert_eq!(info.store_info.unwrap().reference_store_id, "S0001");

    // Registering again is REPEAT_REGISTRATION, journaled as refused; the status stays
    // the approved registration's.
    let again = terminal.checkout.register().await.unwrap();
    match &again.answer {
        RegisterAnswer::Refused { code, .. } => {
            assert_eq!(*code, ResultCode::RepeatRegistration)
        }
        other => panic!("expected REPEAT_REGISTRATION, got {other:?}"),
    }
    assert_ne!(again.record.registration_request_id, id, "a new id");
    assert_eq!(again.record.outcome, Some(RegistrationOutcome::Refused));
    assert_eq!(current(&terminal).unwrap().registration_request_id, id);
}

#[tokio::test]
async fn a_rejected_store_shows_the_wallets_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = sandbox_config(dir.path(), None);
    // The sandbox's switch: a merchant id ending in `_REJECT` is rejected at review.
    config.merchant.reference_merchant_id = "M0001_REJECT".into();
    let terminal = demo_terminal_with(config, Policy::fast(), |o| {
        o.registration_delay = REVIEW;
    })
    .await;
    let report = terminal.checkout.register().await.unwrap();
    assert_eq!(report.answer, RegisterAnswer::Accepted);
    let done = wait_completed(&terminal).await;
    assert_eq!(done.wallets[0].verdict, WalletVerdict::Rejected);
    let reasons = done.wallets[0].reject_reasons.as_deref().unwrap();
    assert!(reasons.contains("_REJECT"), "{reasons}");
    assert!(!done.any_wallet_approved());
    // An inquiry agrees with the notification.
    let status = terminal.checkout.check_registration().await.unwrap();
    let StatusAnswer::Review(update) = status.answer else {
        panic!("{:?}", status.answer)
    };
    assert_eq!(update.wallets[0].verdict, WalletVerdict::Rejected);
}

#[tokio::test]
async fn under_review_and_refusals_are_journaled_with_their_codes() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |o| {
        o.registration_delay = Duration::from_secs(600);
    })
    .await;
    let first = terminal.checkout.register().await.unwrap();
    assert_eq!(first.answer, RegisterAnswer::Accepted);
    let second = terminal.checkout.register().await.unwrap();
    let RegisterAnswer::Refused { code, .. } = &second.answer else {
        panic!("{:?}", second.answer)
    };
    assert_eq!(*code, ResultCode::RegistrationUnderReview);
    assert_eq!(
        second.record.result_code.as_deref(),
        Some("REGISTRATION_UNDER_REVIEW")
    );

    // Codes the sandbox only gives on demand: Alipay's refusal, journaled verbatim.
    let control = Control::of(&terminal);
    for code in ["REPEAT_REQ_INCONSISTENT", "PARAM_ILLEGAL", "INVALID_CLIENT"] {
        control
            .set_faults(json!({"apis": ["registration"], "refuse_with": code}))
            .await;
        let refused = terminal.checkout.register().await.unwrap();
        let RegisterAnswer::Refused { code: got, .. } = &refused.answer else {
            panic!("{code}: {:?}", refused.answer)
        };
        assert_eq!(got.as_str(), code);
        assert_eq!(refused.record.outcome, Some(RegistrationOutcome::Refused));
        assert_eq!(refused.record.result_code.as_deref(), Some(code));
    }
    control.clear_faults().await;
    // The status is still the first, accepted registration's.
    assert_eq!(
        current(&terminal).unwrap().registration_request_id,
        first.record.registration_request_id
    );
}

#[tokio::test]
async fn a_lost_answer_is_resent_under_the_same_id_and_registers_once() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |o| {
        o.registration_delay = Duration::from_secs(600);
    })
    .await;
    let control = Control::of(&terminal);
    // Processed and committed at the sandbox, but every answer lost.
    control
        .set_faults(json!({"apis": ["registration"], "drop_response_rate": 1.0}))
        .await;
    let lost = terminal.checkout.register().await.unwrap();
    assert!(
        matches!(lost.answer, RegisterAnswer::Unknown { .. }),
        "{:?}",
        lost.answer
    );
    assert_eq!(lost.record.outcome, Some(RegistrationOutcome::Unknown));
    assert_eq!(lost.record.sends, Policy::fast().registration.attempts);
    let id = lost.record.registration_request_id.clone();

    control.clear_faults().await;
    let resent = terminal.checkout.register().await.unwrap();
    assert!(resent.resent);
    assert_eq!(
        resent.record.registration_request_id, id,
        "the same id again"
    );
    // Alipay answers a repeated id with its first result: accepted, not under review.
    assert_eq!(resent.answer, RegisterAnswer::Accepted);
    assert_eq!(resent.record.body_sha256, lost.record.body_sha256);
}

#[tokio::test]
async fn changed_details_after_a_lost_answer_are_not_sent_before_an_inquiry() {
    let dir = tempfile::tempdir().unwrap();
    let start = |display: &'static str| {
        let mut config = sandbox_config(dir.path(), None);
        if let Some(r) = config.registration.as_mut() {
            r.display_name = display.into();
        }
        demo_terminal_with(config, Policy::fast(), |o| {
            o.registration_delay = Duration::from_secs(600);
        })
    };
    // 1. Reached Alipay, answer lost; then the details change: the inquiry finds the old
    //    registration, so nothing new is sent.
    let terminal = start("Demo Cafe").await;
    Control::of(&terminal)
        .set_faults(json!({"apis": ["registration"], "drop_response_rate": 1.0}))
        .await;
    let lost = terminal.checkout.register().await.unwrap();
    assert!(matches!(lost.answer, RegisterAnswer::Unknown { .. }));
    drop(terminal);
    let terminal = start("Demo Cafe & Bakery").await;
    let report = terminal.checkout.register().await.unwrap();
    assert_eq!(report.answer, RegisterAnswer::PreviousAccepted);
    assert_eq!(
        report.record.registration_request_id,
        lost.record.registration_request_id
    );
    assert_eq!(report.record.outcome, Some(RegistrationOutcome::Accepted));
    assert_eq!(report.record.status, Some(ReviewStatus::Pending));
}

#[tokio::test]
async fn a_request_that_never_arrived_is_marked_lost_before_a_new_id() {
    let dir = tempfile::tempdir().unwrap();
    let start = |display: &'static str| {
        let mut config = sandbox_config(dir.path(), None);
        if let Some(r) = config.registration.as_mut() {
            r.display_name = display.into();
        }
        demo_terminal_with(config, Policy::fast(), |o| {
            o.registration_delay = Duration::from_secs(600);
        })
    };
    let terminal = start("Demo Cafe").await;
    // Down: nothing is processed.
    Control::of(&terminal)
        .set_faults(json!({"apis": ["registration"], "down": true}))
        .await;
    let lost = terminal.checkout.register().await.unwrap();
    assert!(matches!(lost.answer, RegisterAnswer::Unknown { .. }));
    drop(terminal);
    let terminal = start("Demo Cafe & Bakery").await;
    let report = terminal.checkout.register().await.unwrap();
    assert_eq!(report.answer, RegisterAnswer::Accepted);
    assert_ne!(
        report.record.registration_request_id,
        lost.record.registration_request_id
    );
    let old = terminal
        .checkout
        .journal_for_tests({
            let id = lost.record.registration_request_id.clone();
            move |j| j.registration_by_request_id(&id)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.outcome, Some(RegistrationOutcome::Lost));
}

/// Posts `body` to the terminal's receiver, signed with `key` (Alipay's, or a forger's).
async fn post_signed(
    terminal: &Terminal,
    body: &[u8],
    key: &alipay_pos::ams::crypto::PrivateKey,
) -> Value {
    use alipay_pos::ams::{signing, timefmt};
    let client_id = terminal.config.alipay.client_id.clone();
    let request_time = timefmt::format_datetime(time::OffsetDateTime::now_utc());
    let path = alipay_pos::terminal::NOTIFY_PATH;
    let content = signing::content_to_sign(path, &client_id, &request_time, body);
    let signature = signing::sign_header(key, signing::DEFAULT_KEY_VERSION, &content).unwrap();
    let response = reqwest::Client::new()
        .post(format!("http://{}{path}", terminal.notification_address()))
        .header("content-type", "application/json; charset=UTF-8")
        .header("client-id", client_id)
        .header("request-time", request_time)
        .header("signature", signature.to_string())
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap()
}

fn notification(id: &str, overall: &str, wallet: Option<&str>) -> Vec<u8> {
    serde_json::to_vec(&NotifyRegistrationStatusRequest {
        registration_request_id: id.into(),
        reference_merchant_id: "M0001".into(),
        reference_store_id: Some("S0001".into()),
        psp_registration_result_list: Some(vec![PspRegistrationResult {
            psp_name: Some("AlipayCN".into()),
            registration_result: wallet.map(|w| RegistrationResult {
                registration_status: Some(RegistrationStatus::from(w)),
                reject_reasons: None,
            }),
        }]),
        registration_result: Some(RegistrationResult {
            registration_status: Some(RegistrationStatus::from(overall)),
            reject_reasons: None,
        }),
    })
    .unwrap()
}

fn acknowledged(answer: &Value) -> bool {
    answer["result"]["resultStatus"] == "S"
}

#[tokio::test]
async fn notifications_are_verified_deduplicated_and_never_undo_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = demo_terminal(dir.path(), Policy::fast(), |o| {
        // The sandbox's own review stays out of the way: this test plays Alipay.
        o.registration_delay = Duration::from_secs(600);
    })
    .await;
    let id = terminal
        .checkout
        .register()
        .await
        .unwrap()
        .record
        .registration_request_id;
    let alipay = alipay_private_key();
    let counts = || {
        terminal
            .reader()
            .unwrap()
            .registration_notification_counts()
            .unwrap()
    };

    // Forged (signed with another key than Alipay's): "resend", nothing recorded.
    let approved = notification(&id, "COMPLETED", Some("APPROVED"));
    let forged = post_signed(&terminal, &approved, &merchant_private_key()).await;
    assert!(!acknowledged(&forged), "{forged}");
    assert_eq!(counts(), (0, 0));
    assert_eq!(
        current(&terminal).unwrap().status,
        None,
        "a forged verdict changes nothing"
    );

    // The genuine one is applied once; its replay is acknowledged and only counted.
    assert!(acknowledged(
        &post_signed(&terminal, &approved, &alipay).await
    ));
    let record = current(&terminal).unwrap();
    assert_eq!(record.status, Some(ReviewStatus::Completed));
    assert_eq!(record.wallets[0].verdict, WalletVerdict::Approved);
    let first_checked = record.checked_at;
    assert!(acknowledged(
        &post_signed(&terminal, &approved, &alipay).await
    ));
    assert_eq!(counts(), (1, 2), "one notification, received twice");
    assert_eq!(current(&terminal).unwrap().checked_at, first_checked);

    // A late PENDING (an older notification resent) does not undo the verdict.
    let stale = notification(&id, "PENDING", None);
    assert!(acknowledged(&post_signed(&terminal, &stale, &alipay).await));
    let record = current(&terminal).unwrap();
    assert_eq!(record.status, Some(ReviewStatus::Completed));
    assert_eq!(record.wallets[0].verdict, WalletVerdict::Approved);

    // One for a registration this journal never sent: acknowledged (it is genuine), kept,
    // not applied to anything.
    let unknown = notification("G-0-T01-NOTOURS", "COMPLETED", Some("REJECTED"));
    assert!(acknowledged(
        &post_signed(&terminal, &unknown, &alipay).await
    ));
    assert_eq!(counts(), (3, 4));
    assert_eq!(
        current(&terminal).unwrap().wallets[0].verdict,
        WalletVerdict::Approved
    );
}

fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("config.toml");
    let data = dir.join("data");
    seed_sandbox_keys(&data);
    std::fs::write(
        &path,
        // The caller's text first: a top-level key (`catalog = []`) must precede the tables.
        format!(
            "{extra}\n[alipay]\ngateway = \"sandbox\"\n\n[storage]\ndata_dir = \"{}\"\n",
            data.display()
        ),
    )
    .unwrap();
    path
}

const REGISTRATION: &str = r#"
[registration]
legal_name = "Harbour Noodles Ltd"
registration_type = "ENTERPRISE_REGISTRATION_NO"
registration_no = "201912345K"
business_type = "ENTERPRISE"
contact_email = "owner@harbour-noodles.example"
websites = ["https://harbour-noodles.example/"]

[registration.merchant_address]
region = "SG"
city = "Singapore"
address1 = "1 Harbour Front Ave"

[registration.store_address]
region = "SG"
city = "Singapore"
address1 = "2 Harbour Front Ave"
"#;

fn cli(config: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(binary())
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("ALIPAY_POS_REQUIRE_LIVE")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_registers_follows_the_review_and_shows_what_alipay_holds() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), REGISTRATION);

    let (code, out, err) = cli(&config, &["merchant", "register", "--dry-run", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let dry: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(dry["dryRun"], true);
    assert_eq!(
        dry["request"]["merchantInfo"]["registrationDetail"]["legalName"],
        "Harbour Noodles Ltd"
    );
    assert_eq!(dry["request"]["storeInfo"]["storeAddress"]["region"], "SG");
    assert_eq!(dry["request"]["productCodes"][0], "IN_STORE_PAYMENT");

    let (code, out, err) = cli(&config, &["merchant", "register", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let registered: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(registered["outcome"], "accepted");
    assert_eq!(registered["sandbox"], true);
    let id = registered["registrationRequestId"]
        .as_str()
        .unwrap()
        .to_owned();

    // Words and the next step, in both languages.
    let (code, out, _) = cli(&config, &["merchant", "register"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("REGISTRATION_UNDER_REVIEW") && out.contains("Wait"),
        "{out}"
    );
    assert!(out.contains("审核中"), "{out}");

    let (code, out, _) = cli(&config, &["merchant", "status", "--json"]);
    assert_eq!(code, 0, "{out}");
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["registration"]["registrationRequestId"], id.as_str());

    // The embedded sandbox of a command reviews in 10 s; each `status` asks again.
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    let status = loop {
        let (code, out, _) = cli(&config, &["merchant", "status", "--json"]);
        assert_eq!(code, 0, "{out}");
        let status: Value = serde_json::from_str(&out).unwrap();
        if status["status"] == "completed" {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "review never completed: {out}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(status["anyWalletApproved"], true);
    assert_eq!(status["registration"]["wallets"][0]["verdict"], "approved");
    assert!(status["registration"]["lastChecked"].is_string());

    let (code, out, _) = cli(&config, &["merchant", "status"]);
    assert_eq!(code, 0);
    assert!(out.contains("AlipayCN: APPROVED / 已通过"), "{out}");

    let (code, out, _) = cli(&config, &["merchant", "info", "--json"]);
    assert_eq!(code, 0, "{out}");
    let info: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["registered"], true);
    assert_eq!(
        info["merchantInfo"]["registrationDetail"]["registrationNo"],
        "201912345K"
    );

    let (code, out, _) = cli(&config, &["merchant", "register"]);
    assert_eq!(code, 2);
    assert!(
        out.contains("REPEAT_REGISTRATION") && out.contains("merchant status"),
        "{out}"
    );
}

#[test]
fn the_cli_refuses_to_register_without_details_and_names_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let (code, out, err) = cli(&config, &["merchant", "register"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("`registration`") && err.contains("[registration]"),
        "{err}"
    );
}

#[test]
fn every_registration_key_is_checked_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_config(dir.path(), REGISTRATION);
    let loaded = Config::load(&good).unwrap();
    let details = loaded.registration.unwrap();
    assert_eq!(
        details.display_name, "Demo Cafe",
        "merchant.name by default"
    );
    assert_eq!(details.contacts.len(), 1);
    let cases: &[(&str, &str, &str)] = &[
        (
            "legal_name = \"Harbour Noodles Ltd\"\n",
            "",
            "registration.legal_name",
        ),
        (
            "registration_type = \"ENTERPRISE_REGISTRATION_NO\"",
            "registration_type = \"enterprise no\"",
            "registration.registration_type",
        ),
        (
            "contact_email = \"owner@harbour-noodles.example\"",
            "contact_email = \"owner.example\"",
            "registration.contact_email",
        ),
        (
            "contact_email = \"owner@harbour-noodles.example\"",
            "contact_phone = \"call me\"",
            "registration.contact_phone",
        ),
        (
            "websites = [\"https://harbour-noodles.example/\"]",
            "websites = [\"harbour-noodles\"]",
            "registration.websites[0]",
        ),
        (
            "[registration.merchant_address]\nregion = \"SG\"",
            "[registration.merchant_address]\nregion = \"Singapore\"",
            "registration.merchant_address.region",
        ),
        (
            "[registration.store_address]\nregion = \"SG\"\ncity = \"Singapore\"\naddress1 = \"2 Harbour Front Ave\"\n",
            "",
            "registration.store_address",
        ),
        (
            "business_type = \"ENTERPRISE\"\n",
            "business_type = \"ENTERPRISE\"\nlogo = \"x\"\n",
            "registration.logo",
        ),
    ];
    for (from, to, key) in cases {
        let text = REGISTRATION.replacen(from, to, 1);
        assert_ne!(text, REGISTRATION, "case {key} changes the file");
        let path = write_config(&dir.path().join(key.replace(['.', '[', ']'], "_")), &text);
        let error = Config::load(&path).expect_err(key);
        assert_eq!(error.key(), Some(*key), "{error}");
    }
}

#[test]
fn the_demo_catalog_comes_without_a_config_file_and_a_files_own_replaces_it() {
    let demo = Config::defaults();
    assert!(demo.catalog.len() >= 4, "a small demo catalog");
    assert!(
        demo.catalog.iter().all(|item| item.name_zh.is_some()),
        "in both languages"
    );
    let dir = tempfile::tempdir().unwrap();
    let empty = write_config(&dir.path().join("empty"), "catalog = []\n");
    assert!(
        Config::load(&empty).unwrap().catalog.is_empty(),
        "an empty catalog stays empty"
    );
    let none = write_config(&dir.path().join("none"), "");
    assert!(
        Config::load(&none).unwrap().catalog.is_empty(),
        "a file without one has none"
    );
    let own = write_config(
        &dir.path().join("own"),
        "[[catalog]]\nname = \"Noodles\"\nprice = \"8.80\"\n",
    );
    let own = Config::load(&own).unwrap().catalog;
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].name, "Noodles");
}
