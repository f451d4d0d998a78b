//! The customer wallet page in a real headless Chromium, driven over WebDriver: open the
//! page the QR code points to, check what the customer sees, press Pay, and see the payment
//! become SUCCESS at the sandbox and Paid in the terminal's journal. And the User-presented
//! side: the demo customer's payment-code page, a waiting payment's link, Confirm and
//! Decline, with the outcome read back through `inquiryPayment`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them and sets
//! `ALIPAY_POS_REQUIRE_BROWSER=1`, which turns their absence into a failure). On a machine
//! without them the test says so on stderr and checks nothing else.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alipay_pos::ams::client::{AmsClient, Outcome, UnknownReason};
use alipay_pos::ams::models::{Amount, InquiryPaymentRequest, Order, PayRequest, PaymentStatus};
use alipay_pos::checkout::{PayStart, Policy};
use alipay_pos::config::Config;
use alipay_pos::journal::{Actor, PaymentState};
use alipay_pos::money::{Currency, Money};
use alipay_pos::terminal::Terminal;
use fantoccini::{ClientBuilder, Locator};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn browser_available() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var_os("ALIPAY_POS_REQUIRE_BROWSER").is_none(),
            "ALIPAY_POS_REQUIRE_BROWSER is set but {CHROMIUM} or {CHROMEDRIVER} is missing: apt-get install chromium chromium-driver"
        );
        eprintln!(
            "SKIPPED: the wallet browser test needs chromium and chromium-driver (apt-get install chromium chromium-driver)"
        );
    }
    present
}

/// chromedriver, killed when the test ends however it ends.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Driver {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver { child, port }
}

async fn browser(driver: &Driver, profile: &Path) -> fantoccini::Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--window-size=390,844",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("connect to chromedriver")
}

async fn text_of(client: &fantoccini::Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn status_of(client: &fantoccini::Client) -> String {
    client
        .find(Locator::Css("#status"))
        .await
        .unwrap()
        .attr("data-status")
        .await
        .unwrap()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_pays_on_the_wallet_page_in_headless_chromium() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::defaults();
    config.storage.data_dir = dir.path().join("data");
    let terminal = Terminal::start(config, Policy::fast()).await.unwrap();
    let mut events = terminal.checkout.subscribe();
    let amount = Money::parse("12.34", Currency::from_code("USD").unwrap()).unwrap();
    let (record, start) = terminal
        .checkout
        .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
            amount,
            "Café au lait x2",
            Actor::Cashier,
        ))
        .await
        .unwrap();
    let PayStart::CodeReady { code_value, .. } = start else {
        panic!("no code: {start:?}")
    };

    let driver = start_driver();
    let profile: PathBuf = dir.path().join("chromium-profile");
    let client = browser(&driver, &profile).await;
    client.goto(&code_value).await.unwrap();

    // What the customer sees before paying.
    assert_eq!(text_of(&client, "#merchant").await, "Demo Cafe");
    assert!(
        text_of(&client, "#description")
            .await
            .contains("Café au lait x2")
    );
    let amount_text = text_of(&client, "#amount").await;
    assert!(amount_text.contains("12.34"), "{amount_text}");
    assert_eq!(status_of(&client).await, "PROCESSING");

    client
        .find(Locator::Css("#pay"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The form post answers with the result page.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(element) = client.find(Locator::Css("#status")).await
            && element.attr("data-status").await.ok().flatten().as_deref() == Some("SUCCESS")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the wallet never showed SUCCESS");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The terminal learns it: Paid in the journal.
    let id = record.payment_request_id.clone();
    let paid = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if terminal.checkout.payment(&id).await.unwrap().state == PaymentState::Paid {
                return;
            }
            let _ = events.recv().await;
        }
    })
    .await;
    assert!(
        paid.is_ok(),
        "the terminal never recorded the payment as paid"
    );

    // Opening the code again: already paid, and the Pay button is disabled.
    client.goto(&code_value).await.unwrap();
    assert_eq!(status_of(&client).await, "SUCCESS");
    let disabled = client
        .find(Locator::Css("#pay"))
        .await
        .unwrap()
        .attr("disabled")
        .await
        .unwrap();
    assert!(disabled.is_some(), "a paid code must not offer Pay again");
    client.close().await.unwrap();
}

/// Waits until the page's `#status` says `status` (a form post answers with the result
/// page, which may take a moment to load).
async fn wait_for_status(client: &fantoccini::Client, status: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(element) = client.find(Locator::Css("#status")).await
            && element.attr("data-status").await.ok().flatten().as_deref() == Some(status)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the wallet never showed {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn upm_order(value: u64) -> Order {
    serde_json::from_value(serde_json::json!({
        "referenceOrderId": "ORDER-UPM",
        "orderDescription": "Flat white",
        "orderAmount": {"currency": "HKD", "value": value.to_string()},
        "merchant": {
            "referenceMerchantId": "M0001",
            "merchantMCC": "5814",
            "merchantName": "Demo Cafe",
            "store": {"referenceStoreId": "S0001", "storeName": "Demo Cafe Main St", "storeMCC": "5814"}
        },
        "env": {"storeTerminalId": "T01", "storeTerminalRequestTime": "2025-01-01T08:00:00+08:00"}
    }))
    .unwrap()
}

/// The cashier scans `code` (a signed User-presented `pay`); a 1111 code is answered
/// `U PAYMENT_IN_PROCESS`: the customer must confirm.
async fn scan(client: &AmsClient, id: &str, code: &str) {
    let pay = PayRequest::user_presented(id, upm_order(480), Amount::new("HKD", 480), code);
    match client.call(&pay).await.unwrap() {
        Outcome::Unknown(UnknownReason::ResultUnknown { code, .. }) => {
            assert_eq!(code, "PAYMENT_IN_PROCESS")
        }
        other => panic!("a 1111 code must wait for the customer: {other:?}"),
    }
}

async fn inquiry_status(client: &AmsClient, id: &str) -> (PaymentStatus, String) {
    let Outcome::Success(r) = client
        .call(&InquiryPaymentRequest::by_payment_request_id(id))
        .await
        .unwrap()
    else {
        panic!("inquiryPayment failed")
    };
    (
        r.payment_status.unwrap(),
        r.payment_result_code.unwrap_or_default(),
    )
}

/// Opens the payment-code page, follows the waiting payment `id`'s link, and taps `button`.
async fn answer_on_the_phone(browser: &fantoccini::Client, page: &str, id: &str, button: &str) {
    browser.goto(page).await.unwrap();
    let link = browser
        .find(Locator::Css(&format!(
            "#waiting .waiting-payment[data-payment-request-id=\"{id}\"] a"
        )))
        .await
        .unwrap_or_else(|e| panic!("{id} is not in the waiting list: {e}"));
    assert!(link.text().await.unwrap().contains("Demo Cafe"));
    link.click().await.unwrap();
    wait_for_status(browser, "PROCESSING").await;
    assert!(text_of(browser, "#amount").await.contains("4.80"));
    browser
        .find(Locator::Css(button))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_confirms_and_declines_user_presented_payments_in_headless_chromium() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    alipay_pos::testing::seed_sandbox_keys(dir.path());
    let sandbox = alipay_pos::sandbox::embedded::start(dir.path(), "SANDBOX_WALLET_UPM")
        .await
        .unwrap();
    let client = sandbox.client().unwrap();
    let page = sandbox.payment_code_page_url();

    let driver = start_driver();
    let profile: PathBuf = dir.path().join("chromium-profile");
    let browser = browser(&driver, &profile).await;
    browser.goto(page.as_str()).await.unwrap();
    // The customer shows the "needs confirmation" code; the cashier scans its digits.
    let code = text_of(&browser, "#code-1111").await;
    assert!(code.ends_with("1111") && code.len() == 18, "{code}");
    for ending in ["0000", "2222", "3333"] {
        assert!(
            text_of(&browser, &format!("#code-{ending}"))
                .await
                .ends_with(ending)
        );
    }
    scan(&client, "upm-confirm", &code).await;
    answer_on_the_phone(&browser, page.as_str(), "upm-confirm", "#confirm").await;
    wait_for_status(&browser, "SUCCESS").await;
    assert_eq!(
        inquiry_status(&client, "upm-confirm").await.0,
        PaymentStatus::Success
    );

    // A second payment, declined: FAIL with the decline code, and it leaves the list.
    scan(&client, "upm-decline", &code).await;
    answer_on_the_phone(&browser, page.as_str(), "upm-decline", "#decline").await;
    wait_for_status(&browser, "FAIL").await;
    assert_eq!(
        inquiry_status(&client, "upm-decline").await,
        (
            PaymentStatus::Fail,
            alipay_pos::sandbox::DECLINED_CODE.to_owned()
        )
    );
    browser.goto(page.as_str()).await.unwrap();
    let left = browser
        .find_all(Locator::Css("#waiting .waiting-payment"))
        .await
        .unwrap();
    assert!(left.is_empty(), "answered payments must leave the list");
    browser.close().await.unwrap();
    sandbox.shutdown().await;
}
