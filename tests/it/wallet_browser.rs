//! The customer wallet page in a real headless Chromium, driven over WebDriver: open the
//! page the QR code points to, check what the customer sees, press Pay, and see the payment
//! become SUCCESS at the sandbox and Paid in the terminal's journal.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them and sets
//! `ALIPAY_POS_REQUIRE_BROWSER=1`, which turns their absence into a failure). On a machine
//! without them the test says so on stderr and checks nothing else.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
