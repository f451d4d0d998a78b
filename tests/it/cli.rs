//! The real `alipay-pos` binary, run as a user would.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::*;

fn run(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .env_remove("ALIPAY_POS_CONFIG")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["keys", "--help"],
        vec!["keys", "generate", "--help"],
        vec!["signature", "--help"],
        vec!["signature", "sign", "--help"],
        vec!["signature", "verify", "--help"],
        vec!["config", "--help"],
        vec!["config", "check", "--help"],
    ] {
        let output = run(&args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        assert!(stdout(&output).contains("Usage:"), "{args:?}");
    }
}

#[cfg(unix)]
#[test]
fn keys_generate_writes_an_owner_only_pair_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("keys");
    let output = run(&["keys", "generate", "--out", p(&out)]);
    assert!(output.status.success(), "{}", stderr(&output));
    let private = out.join("merchant_private_key.pem");
    let public = out.join("merchant_public_key.pem");
    let mode = std::fs::metadata(&private).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // The last line is the one-line public key, and it is the public half of the private key.
    let text = stdout(&output);
    let one_line = text.lines().last().unwrap();
    let uploaded = alipay_pos::ams::keys::parse_public_key(one_line).unwrap();
    assert_eq!(
        uploaded.encoding,
        alipay_pos::ams::keys::KeyEncoding::SpkiBase64
    );
    let private_key = alipay_pos::ams::keys::load_private_key_file(&private).unwrap();
    assert_eq!(
        private_key.encoding,
        alipay_pos::ams::keys::KeyEncoding::Pkcs8Pem
    );
    assert_eq!(private_key.key.public_key(), uploaded.key);
    assert_eq!(
        alipay_pos::ams::keys::load_public_key_file(&public)
            .unwrap()
            .key,
        uploaded.key
    );

    let before = std::fs::read(&private).unwrap();
    let again = run(&["keys", "generate", "--out", p(&out)]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("refusing to overwrite"),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read(&private).unwrap(), before);
}

const V1_PATH: &str = "/ams/api/v1/payments/pay";
const V1_TIME: &str = "1735689600000";

#[test]
fn signature_sign_reproduces_the_v1_vector() {
    for key in [
        "merchant_private_key_pkcs8.pem",
        "merchant_private_key_pkcs1.b64",
    ] {
        let output = run(&[
            "signature",
            "sign",
            "--key",
            p(&vector_path(key)),
            "--client-id",
            VECTOR_CLIENT_ID,
            "--time",
            V1_TIME,
            "--path",
            V1_PATH,
            "--body-file",
            p(&vector_path("v1_request_body.json")),
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        let text = stdout(&output);
        let (content, last) = text.trim_end().rsplit_once('\n').unwrap();
        assert_eq!(last, vector_text("v1_signature.urlencoded"));
        assert_eq!(
            content.as_bytes(),
            vector_bytes("v1_content_to_sign.txt").as_slice()
        );
    }
}

/// Runs `signature verify` on the v1 vector with some parts replaced.
fn verify(key: &Path, time: &str, path: &str, body: &Path, signature: (&str, &str)) -> Output {
    run(&[
        "signature",
        "verify",
        "--key",
        p(key),
        "--client-id",
        VECTOR_CLIENT_ID,
        "--time",
        time,
        "--path",
        path,
        "--body-file",
        p(body),
        signature.0,
        signature.1,
    ])
}

fn v1_header() -> String {
    format!(
        "algorithm=RSA256,keyVersion=1,signature={}",
        vector_text("v1_signature.urlencoded")
    )
}

#[test]
fn signature_verify_accepts_the_vector() {
    let header = v1_header();
    let output = verify(
        &vector_path("merchant_public_key.pem"),
        V1_TIME,
        V1_PATH,
        &vector_path("v1_request_body.json"),
        ("--header", &header),
    );
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(stdout(&output).contains("OK: signature verified"));
}

#[test]
fn signature_verify_names_the_wrong_key() {
    let header = v1_header();
    let output = verify(
        &vector_path("alipay_public_key.pem"),
        V1_TIME,
        V1_PATH,
        &vector_path("v1_request_body.json"),
        ("--header", &header),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).contains("wrong key"), "{}", stdout(&output));
}

#[test]
fn signature_verify_names_a_pkcs_mixup() {
    let dir = tempfile::tempdir().unwrap();
    // PKCS#8 content under a PKCS#1 label: what happens when armor is added by hand.
    let mislabelled = dir.path().join("mislabelled.pem");
    let text = vector_text("merchant_private_key_pkcs8.pem")
        .replace("BEGIN PRIVATE KEY", "BEGIN RSA PRIVATE KEY")
        .replace("END PRIVATE KEY", "END RSA PRIVATE KEY");
    std::fs::write(&mislabelled, text).unwrap();
    let header = v1_header();
    let output = verify(
        &mislabelled,
        V1_TIME,
        V1_PATH,
        &vector_path("v1_request_body.json"),
        ("--header", &header),
    );
    let out = stdout(&output);
    assert!(out.contains("PKCS#1/PKCS#8 mix-up"), "{out}");
    assert!(out.contains("private key"), "{out}");
}

#[test]
fn signature_verify_names_a_signature_that_was_not_url_decoded() {
    let still_encoded = vector_text("v1_signature.urlencoded");
    let output = verify(
        &vector_path("merchant_public_key.pem"),
        V1_TIME,
        V1_PATH,
        &vector_path("v1_request_body.json"),
        ("--signature", &still_encoded),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stdout(&output).contains("still URL-encoded"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn signature_verify_names_a_plus_turned_into_space() {
    let mangled = vector_text("v1_signature.b64").replace('+', " ");
    let output = verify(
        &vector_path("merchant_public_key.pem"),
        V1_TIME,
        V1_PATH,
        &vector_path("v1_request_body.json"),
        ("--signature", &mangled),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stdout(&output).contains("spaces where `+` belonged"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn signature_verify_names_a_changed_body() {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.json");
    std::fs::write(
        &body,
        String::from_utf8(vector_bytes("v1_request_body.json"))
            .unwrap()
            .replace("1250", "1251"),
    )
    .unwrap();
    let header = v1_header();
    let output = verify(
        &vector_path("merchant_public_key.pem"),
        V1_TIME,
        V1_PATH,
        &body,
        ("--header", &header),
    );
    assert_eq!(output.status.code(), Some(2));
    let out = stdout(&output);
    assert!(out.contains("the key is right"), "{out}");
    assert!(out.contains("body changed"), "{out}");
}

#[test]
fn signature_verify_names_a_pretty_printed_body() {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.json");
    let value: serde_json::Value =
        serde_json::from_slice(&vector_bytes("v1_request_body.json")).unwrap();
    std::fs::write(&body, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    let header = v1_header();
    let output = verify(
        &vector_path("merchant_public_key.pem"),
        V1_TIME,
        V1_PATH,
        &body,
        ("--header", &header),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stdout(&output).contains("re-serialised (the signer signed it compact)"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn signature_verify_names_a_time_mismatch() {
    // The same instant, re-formatted as ISO 8601: the classic "parsed and re-printed" bug.
    let header = v1_header();
    let output = verify(
        &vector_path("merchant_public_key.pem"),
        "2025-01-01T08:00:00+08:00",
        V1_PATH,
        &vector_path("v1_request_body.json"),
        ("--header", &header),
    );
    assert_eq!(output.status.code(), Some(2));
    let out = stdout(&output);
    assert!(out.contains("time mismatch"), "{out}");
    assert!(out.contains("`1735689600000`"), "{out}");
}

#[test]
fn signature_verify_names_a_path_mismatch() {
    let header = v1_header();
    let output = verify(
        &vector_path("merchant_public_key.pem"),
        V1_TIME,
        "/ams/sandbox/api/v1/payments/pay",
        &vector_path("v1_request_body.json"),
        ("--header", &header),
    );
    assert_eq!(output.status.code(), Some(2));
    let out = stdout(&output);
    assert!(out.contains("path mismatch"), "{out}");
    assert!(out.contains("`/ams/api/v1/payments/pay`"), "{out}");
}

#[test]
fn signature_verify_rejects_a_missing_key_file_as_usage_error() {
    let header = v1_header();
    let output = verify(
        Path::new("/nonexistent/key.pem"),
        V1_TIME,
        V1_PATH,
        &vector_path("v1_request_body.json"),
        ("--header", &header),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("/nonexistent/key.pem"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn config_check_with_defaults_selects_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(binary())
        .args(["config", "check"])
        .env_remove("ALIPAY_POS_CONFIG")
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("built-in defaults"), "{out}");
    assert!(out.contains("gateway: sandbox"), "{out}");
}

#[test]
fn config_check_names_file_and_key_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, "[alipay]\ngateway = \"moon\"\n").unwrap();
    let output = run(&["--config", p(&file), "config", "check"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("config.toml"), "{err}");
    assert!(err.contains("alipay.gateway"), "{err}");
}

#[test]
fn config_check_loads_real_keys_and_shows_fingerprints_not_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        format!(
            "[alipay]\ngateway = \"asia\"\nclient_id = \"{VECTOR_CLIENT_ID}\"\nmerchant_private_key = \"{}\"\nalipay_public_key = \"{}\"\n",
            p(&private_key_copy(dir.path(), "merchant_private_key_pkcs1.pem")),
            p(&vector_path("alipay_public_key.b64")),
        ),
    )
    .unwrap();
    let output = run(&["--config", p(&file), "config", "check"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("merchant key fingerprint"), "{out}");
    let private_b64 = vector_text("merchant_private_key_pkcs1.b64");
    assert!(
        !out.contains(&private_b64[..40]),
        "a private key leaked into the output"
    );
}

#[test]
fn config_check_rejects_a_public_key_given_as_merchant_private_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        format!(
            "[alipay]\ngateway = \"asia\"\nclient_id = \"X1\"\nmerchant_private_key = \"{}\"\nalipay_public_key = \"{}\"\n",
            p(&private_key_copy(dir.path(), "merchant_public_key.pem")),
            p(&vector_path("alipay_public_key.pem")),
        ),
    )
    .unwrap();
    let output = run(&["--config", p(&file), "config", "check"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("alipay.merchant_private_key"), "{err}");
    assert!(err.contains("public key"), "{err}");
}

#[test]
fn admin_set_pin_stores_only_a_hash_and_keeps_the_file() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, "# counter 2\n[payment]\ncurrency = \"HKD\"\n").unwrap();
    let mut child = Command::new(binary())
        .args(["--config", p(&file), "admin", "set-pin", "--pin-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"482913\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("# counter 2\n[payment]\ncurrency = \"HKD\"\n"),
        "{text}"
    );
    assert!(text.contains("pin_hash = \"$argon2id$"), "{text}");
    assert!(
        !text.contains("482913"),
        "the PIN itself must never be stored"
    );

    let mut bad = Command::new(binary())
        .args(["--config", p(&file), "admin", "set-pin", "--pin-stdin"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    bad.stdin.take().unwrap().write_all(b"12\n").unwrap();
    let output = bad.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("4 to 12 digits"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn one_engine_per_data_folder_but_status_reads_alongside() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        format!(
            "[storage]\ndata_dir = \"{}\"\n",
            p(&dir.path().join("data"))
        ),
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (terminal, paid_id) = runtime.block_on(async {
        let config = alipay_pos::config::Config::load(&file).unwrap();
        let terminal =
            alipay_pos::terminal::Terminal::start(config, alipay_pos::checkout::Policy::fast())
                .await
                .unwrap();
        let amount = alipay_pos::money::Money::parse(
            "1.00",
            alipay_pos::money::Currency::from_code("USD").unwrap(),
        )
        .unwrap();
        let (record, _) = terminal
            .checkout
            .start_payment(alipay_pos::checkout::PaymentIntent::order_code(
                amount,
                "lock test",
                alipay_pos::journal::Actor::Cashier,
            ))
            .await
            .unwrap();
        (terminal, record.payment_request_id)
    });

    let busy = run(&["--config", p(&file), "resolve"]);
    // The command is fine; the machine (another engine on the folder) is in the way.
    assert_eq!(busy.status.code(), Some(4), "{}", stderr(&busy));
    assert!(
        stderr(&busy).contains("another alipay-pos"),
        "{}",
        stderr(&busy)
    );

    let status = run(&["--config", p(&file), "status", &paid_id, "--json"]);
    assert!(
        stdout(&status).contains(&paid_id),
        "{}{}",
        stdout(&status),
        stderr(&status)
    );

    drop(terminal);
    drop(runtime);
    // The lock goes with the engine: a command can take over.
    let after = run(&["--config", p(&file), "journal", "list", "--json"]);
    assert!(after.status.success(), "{}", stderr(&after));
}

/// A journal another process holds locked is the environment's fault, not a usage error:
/// exit 4 ("cannot work now, retry"), never 1, and the message says the journal is locked.
#[test]
fn a_journal_locked_by_another_process_exits_4_not_1() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("config.toml");
    std::fs::write(&file, format!("[storage]\ndata_dir = \"{}\"\n", p(&data))).unwrap();
    // Creates the journal (a reading command does that on a fresh folder).
    let created = run(&["--config", p(&file), "journal", "list"]);
    assert!(created.status.success(), "{}", stderr(&created));

    // This test process is the "other program": it holds SQLite's write lock.
    let holder = rusqlite::Connection::open(data.join(alipay_pos::journal::FILE_NAME)).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let pay = run(&["--config", p(&file), "pay", "1.00", "--json"]);
    assert_eq!(pay.status.code(), Some(4), "{}", stderr(&pay));
    assert!(stderr(&pay).contains("locked"), "{}", stderr(&pay));

    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    let list = run(&["--config", p(&file), "journal", "list"]);
    assert!(list.status.success(), "{}", stderr(&list));
}

/// `pay --simulate-customer` pays through the embedded sandbox's wallet page even when the
/// order codes carry a public URL the terminal itself cannot reach (a phone demo's LAN
/// address, here a documentation address): the demo customer uses the local address.
#[test]
fn pay_with_a_simulated_customer_ends_paid_whatever_the_codes_public_url() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    seed_sandbox_keys(&data_dir);
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        format!(
            "[storage]\ndata_dir = \"{}\"\n\n[sandbox]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://192.0.2.10:8090\"\n",
            p(&data_dir).replace('\\', "\\\\")
        ),
    )
    .unwrap();
    let output = run(&[
        "--config",
        p(&file),
        "pay",
        "12.34",
        "--simulate-customer",
        "0",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("code: http://192.0.2.10:8090/wallet/"),
        "the code carries the public URL: {}",
        stderr(&output)
    );
    let last = stdout(&output)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let json: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(json["status"], "SUCCESS", "{last}");
}

/// A sandbox config in `dir` (keys seeded, so nothing slow is generated), with `admin`
/// appended as the `[admin]` table's lines.
fn manager_config(dir: &Path, admin: &str) -> std::path::PathBuf {
    let data_dir = dir.join("data");
    seed_sandbox_keys(&data_dir);
    let file = dir.join("config.toml");
    std::fs::write(
        &file,
        format!(
            "[storage]\ndata_dir = \"{}\"\n\n[admin]\n{admin}",
            p(&data_dir).replace('\\', "\\\\")
        ),
    )
    .unwrap();
    file
}

#[test]
fn refund_and_settle_without_a_pin_set_exit_1_and_say_how_to_set_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = manager_config(dir.path(), "");
    for args in [
        vec!["refund", "P-1", "--reason", "broken cup", "--pin-stdin"],
        vec![
            "settle",
            "P-1",
            "--paid",
            "--reason",
            "portal",
            "--pin-stdin",
        ],
    ] {
        let mut all = vec!["--config", p(&file)];
        all.extend(args);
        let output = run_with_stdin(&all, "1234\n");
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("alipay-pos admin set-pin --manager NAME"),
            "{}",
            stderr(&output)
        );
    }
    // The free-text --manager of old is gone: the PIN says who approves.
    let output = run(&[
        "--config",
        p(&file),
        "refund",
        "P-1",
        "--reason",
        "x",
        "--manager",
        "boss",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

#[test]
fn set_pin_per_manager_refuses_a_pin_another_manager_has() {
    let dir = tempfile::tempdir().unwrap();
    let file = manager_config(dir.path(), "");
    let set = |name: &str, pin: &str| {
        run_with_stdin(
            &[
                "--config",
                p(&file),
                "admin",
                "set-pin",
                "--manager",
                name,
                "--pin-stdin",
            ],
            &format!("{pin}\n"),
        )
    };
    let ana = set("Ana Lim", "482913");
    assert!(ana.status.success(), "{}", stderr(&ana));
    let bo = set("Bo", "482913");
    assert_eq!(bo.status.code(), Some(1));
    assert!(
        stderr(&bo).contains("Ana Lim already has this PIN"),
        "{}",
        stderr(&bo)
    );
    // Ana may set her own PIN again, Bo gets his own.
    assert!(set("Ana Lim", "482913").status.success());
    assert!(set("Bo", "739164").status.success());
    let bad_name = set(" ", "111111");
    assert_eq!(bad_name.status.code(), Some(1));
    let config = alipay_pos::config::Config::load(&file).unwrap();
    let names: Vec<String> = config
        .admin
        .managers()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["Ana Lim", "Bo"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
}

#[test]
fn a_wrong_pin_exits_1_and_the_lockout_survives_into_the_next_process() {
    let dir = tempfile::tempdir().unwrap();
    let file = manager_config(dir.path(), "max_pin_attempts = 2\nlockout_seconds = 300\n");
    let set = run_with_stdin(
        &["--config", p(&file), "admin", "set-pin", "--pin-stdin"],
        "482913\n",
    );
    assert!(set.status.success(), "{}", stderr(&set));
    let refund = |pin: &str| {
        run_with_stdin(
            &[
                "--config",
                p(&file),
                "refund",
                "P-unknown",
                "--reason",
                "test",
                "--pin-stdin",
            ],
            &format!("{pin}\n"),
        )
    };
    let first = refund("000000");
    assert_eq!(first.status.code(), Some(1));
    assert!(
        stderr(&first).contains("wrong PIN (1 tries left"),
        "{}",
        stderr(&first)
    );
    let second = refund("000001");
    assert_eq!(second.status.code(), Some(1));
    assert!(
        stderr(&second).contains("locked for 300 s"),
        "{}",
        stderr(&second)
    );
    // A new process, the right PIN: still locked, because the count is in data_dir.
    let third = refund("482913");
    assert_eq!(third.status.code(), Some(1));
    assert!(
        stderr(&third).contains("PINs are locked for"),
        "{}",
        stderr(&third)
    );
    let lockout = dir
        .path()
        .join("data")
        .join(alipay_pos::admin::LOCKOUT_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&lockout).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    assert!(
        std::fs::read_to_string(&lockout)
            .unwrap()
            .contains("locked_until_unix_ms")
    );
}

#[test]
fn a_refund_with_the_right_pin_is_journaled_with_that_managers_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = manager_config(dir.path(), "");
    for (name, pin) in [("Ana Lim", "482913"), ("Bo", "739164")] {
        let set = run_with_stdin(
            &[
                "--config",
                p(&file),
                "admin",
                "set-pin",
                "--manager",
                name,
                "--pin-stdin",
            ],
            &format!("{pin}\n"),
        );
        assert!(set.status.success(), "{}", stderr(&set));
    }
    let pay = run(&[
        "--config",
        p(&file),
        "pay",
        "12.34",
        "--simulate-customer",
        "0",
        "--json",
    ]);
    assert_eq!(pay.status.code(), Some(0), "{}", stderr(&pay));
    let last = stdout(&pay).lines().last().unwrap_or_default().to_string();
    let json: serde_json::Value = serde_json::from_str(&last).unwrap();
    let id = json["paymentRequestId"].as_str().unwrap().to_string();

    // Bo's PIN: the journal names Bo, not whoever typed a name.
    let refund = run_with_stdin(
        &[
            "--config",
            p(&file),
            "refund",
            &id,
            "2.00",
            "--reason",
            "cold coffee",
            "--pin-stdin",
        ],
        "739164\n",
    );
    assert_eq!(refund.status.code(), Some(0), "{}", stderr(&refund));
    let journal = alipay_pos::journal::Journal::open_in(dir.path().join("data")).unwrap();
    let payment = journal.payment_by_request_id(&id).unwrap().unwrap();
    let refunds = journal.refunds_for(payment.id).unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].manager, "Bo");
    let events = journal.events_for(refunds[0].entity()).unwrap();
    assert!(events[0].detail.contains("Bo"), "{}", events[0].detail);
    drop(journal);

    // A paid payment is not settled by hand; the command says what to do instead.
    let settle = run_with_stdin(
        &[
            "--config",
            p(&file),
            "settle",
            &id,
            "--not-paid",
            "--reason",
            "portal",
            "--pin-stdin",
        ],
        "482913\n",
    );
    assert_eq!(settle.status.code(), Some(1));
    assert!(
        stderr(&settle).contains("already paid; refund it"),
        "{}",
        stderr(&settle)
    );
}

/// A demo config (embedded sandbox) with its data in `dir/data`, and the sandbox keys seeded.
fn sandbox_config_file(dir: &Path) -> std::path::PathBuf {
    manager_config(dir, "")
}

/// A config on a real (custom) gateway where nothing listens, sharing `dir/data`.
fn live_config_file(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("live.toml");
    std::fs::write(
        &file,
        format!(
            "[alipay]\ngateway = \"http://127.0.0.1:9\"\nclient_id = \"{VECTOR_CLIENT_ID}\"\n\
             merchant_private_key = \"{}\"\nalipay_public_key = \"{}\"\n\n\
             [payment]\nnotify_listen = \"127.0.0.1:0\"\n\n[storage]\ndata_dir = \"{}\"\n",
            p(&private_key_copy(dir, "merchant_private_key_pkcs8.pem")),
            p(&vector_path("alipay_public_key.pem")),
            p(&dir.join("data")).replace('\\', "\\\\"),
        ),
    )
    .unwrap();
    file
}

fn json_line(output: &Output) -> serde_json::Value {
    let text = stdout(output);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Against the embedded sandbox every result line starts with SANDBOX and the JSON says
/// `"sandbox": true`; the same journal read through a live config says neither.
#[test]
fn sandbox_results_say_sandbox_in_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let file = sandbox_config_file(dir.path());
    let paid = run(&[
        "--config",
        p(&file),
        "pay",
        "3.20",
        "--simulate-customer",
        "0",
        "--json",
    ]);
    assert_eq!(paid.status.code(), Some(0), "{}", stderr(&paid));
    let result_line = stderr(&paid)
        .lines()
        .find(|l| l.contains("PAID / 已支付"))
        .unwrap_or_default()
        .to_string();
    assert!(
        result_line.starts_with("SANDBOX (demo, no real money / 演示：不涉及真实资金)"),
        "{result_line:?}"
    );
    let json = json_line(&paid);
    assert_eq!(json["status"], "SUCCESS");
    assert_eq!(json["sandbox"], true);
    let id = json["paymentRequestId"].as_str().unwrap().to_string();

    let status = run(&["--config", p(&file), "status", &id]);
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    let first = stdout(&status)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(first.starts_with("SANDBOX "), "{first:?}");
    let status = run(&["--config", p(&file), "status", &id, "--json"]);
    assert_eq!(json_line(&status)["sandbox"], true);

    // Cancelling a paid payment reports it as it stands, marked too.
    let cancel = run(&["--config", p(&file), "cancel", &id, "--json"]);
    assert_eq!(cancel.status.code(), Some(2), "{}", stderr(&cancel));
    assert!(
        stderr(&cancel)
            .lines()
            .any(|l| l.starts_with("SANDBOX ") && l.contains("PAID / 已支付")),
        "{}",
        stderr(&cancel)
    );
    assert_eq!(json_line(&cancel)["sandbox"], true);

    let live = live_config_file(dir.path());
    let status = run(&["--config", p(&live), "status", &id]);
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    assert!(!stdout(&status).contains("SANDBOX"), "{}", stdout(&status));
    let status = run(&["--config", p(&live), "status", &id, "--json"]);
    assert_eq!(json_line(&status)["sandbox"], false);
}

/// `--require-live` (or `ALIPAY_POS_REQUIRE_LIVE=1`) refuses the embedded sandbox for the GUI
/// and every command that starts the engine, and says what to do; a live config passes.
#[test]
fn require_live_refuses_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let file = sandbox_config_file(dir.path());
    let refused = |output: &Output, what: &str| {
        assert_eq!(output.status.code(), Some(1), "{what}: {}", stderr(output));
        let err = stderr(output);
        assert!(err.contains("--require-live"), "{what}: {err}");
        assert!(err.contains("real gateway"), "{what}: {err}");
        assert!(err.contains("--config"), "{what}: {err}");
        assert!(stdout(output).is_empty(), "{what}: nothing was done");
    };
    for args in [
        vec!["pay", "1.00", "--simulate-customer", "0"],
        vec!["cancel", "pos-x"],
        vec!["refund", "pos-x", "--reason", "test"],
        vec!["resolve"],
        // No command: the GUI, refused before any window opens.
        vec![],
    ] {
        let mut full = vec!["--require-live", "--config", p(&file)];
        full.extend(args.iter().copied());
        refused(&run(&full), &format!("{args:?}"));
        let by_env = Command::new(binary())
            .args(["--config", p(&file)])
            .args(&args)
            .env_remove("ALIPAY_POS_CONFIG")
            .env("ALIPAY_POS_REQUIRE_LIVE", "1")
            .output()
            .unwrap();
        refused(&by_env, &format!("env {args:?}"));
    }
    // The built-in defaults (no config file at all) are the sandbox too.
    let defaults = Command::new(binary())
        .args(["--require-live", "resolve"])
        .env_remove("ALIPAY_POS_CONFIG")
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("no-config"))
        .env("XDG_DATA_HOME", dir.path().join("xdg-data"))
        .output()
        .unwrap();
    refused(&defaults, "defaults");
    assert!(
        stderr(&defaults).contains("built-in defaults"),
        "{}",
        stderr(&defaults)
    );
    assert!(!dir.path().join("xdg-data").exists(), "nothing was started");

    // Nothing was started: no journal was created by any refused command.
    assert!(!dir.path().join("data/journal.sqlite").exists());
    // Commands that do not start the engine are not refused.
    let list = run(&["--require-live", "--config", p(&file), "config", "check"]);
    assert_eq!(list.status.code(), Some(0), "{}", stderr(&list));
    // ALIPAY_POS_REQUIRE_LIVE=0 is off.
    let off = Command::new(binary())
        .args(["--config", p(&file), "resolve"])
        .env_remove("ALIPAY_POS_CONFIG")
        .env("ALIPAY_POS_REQUIRE_LIVE", "0")
        .output()
        .unwrap();
    assert_eq!(off.status.code(), Some(0), "{}", stderr(&off));

    // A live gateway starts (resolve has nothing to do, so nothing is sent).
    let live = live_config_file(dir.path());
    let ok = run(&["--require-live", "--config", p(&live), "resolve"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("nothing left open"), "{}", stdout(&ok));
}

/// The shipped binary has no failpoints: `--version` says so, and arming one does nothing
/// (a `pay` runs through every kill point to PAID). A `--features failpoints` build (the
/// crash tests') says the opposite.
#[test]
fn the_shipped_binary_has_no_failpoints() {
    let version = run(&["--version"]);
    assert!(version.status.success());
    let text = stdout(&version);
    if cfg!(feature = "failpoints") {
        assert!(text.contains("failpoints: compiled in"), "{text}");
        return;
    }
    assert!(text.contains("failpoints: none"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let file = sandbox_config_file(dir.path());
    let paid = Command::new(binary())
        .args([
            "--config",
            p(&file),
            "pay",
            "1.00",
            "--simulate-customer",
            "0",
            "--json",
        ])
        .env_remove("ALIPAY_POS_CONFIG")
        .env(
            "ALIPAY_POS_FAILPOINT",
            alipay_pos::checkout::failpoint::ALL.join(","),
        )
        .output()
        .unwrap();
    assert_eq!(paid.status.code(), Some(0), "{}", stderr(&paid));
    assert!(!stderr(&paid).contains("failpoint"), "{}", stderr(&paid));
    assert_eq!(json_line(&paid)["status"], "SUCCESS");
}

/// `journal totals` splits a day's paid money per product (text and `--json`, amounts in
/// integer minor units beside the major-unit strings), and `journal list` names each
/// payment's product with only the last 4 digits of a scanned customer code.
#[test]
fn journal_totals_and_list_show_each_payments_product() {
    use alipay_pos::journal::{
        Actor, CustomerCode, Journal, NewPayment, PaymentState, PaymentUpdate, Product,
    };
    use alipay_pos::money::{Currency, Money};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("config.toml");
    std::fs::write(&file, format!("[storage]\ndata_dir = \"{}\"\n", p(&data))).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let mut journal = Journal::open_in(&data).unwrap();
    let paid_at = time::macros::datetime!(2026-03-07 12:00 UTC);
    for (n, product, minor) in [
        (1, Product::OrderCode, 1000),
        (2, Product::UserPresented, 250),
        (3, Product::UserPresented, 125),
    ] {
        let record = journal
            .create_payment(
                NewPayment {
                    payment_request_id: format!("CLI-P{n}"),
                    order_ref: format!("CLI-O{n}"),
                    amount: Money::from_minor(minor, Currency::USD).unwrap(),
                    description: String::new(),
                    operator: "T01".into(),
                    product,
                    customer_code: (product == Product::UserPresented).then(|| CustomerCode {
                        last4: format!("{n}{n}{n}{n}"),
                        sha256: format!("{n:064x}"),
                    }),
                },
                Actor::Cashier,
            )
            .unwrap();
        journal
            .transition_payment(
                record.id,
                PaymentState::Paid,
                Actor::System,
                "paid",
                PaymentUpdate {
                    payment_id: Some(format!("A{n}")),
                    paid_at: Some(paid_at),
                    ..PaymentUpdate::default()
                },
            )
            .unwrap();
    }
    drop(journal);

    let in_utc = |args: &[&str]| {
        Command::new(binary())
            .args(args)
            .env_remove("ALIPAY_POS_CONFIG")
            .env("TZ", "UTC")
            .output()
            .unwrap()
    };
    let json = in_utc(&[
        "--config",
        p(&file),
        "journal",
        "totals",
        "--date",
        "2026-03-07",
        "--json",
    ]);
    assert!(json.status.success(), "{}", stderr(&json));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let usd = &rows[0];
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(usd["currency"], "USD");
    assert_eq!(usd["paidCount"], 3);
    assert_eq!(usd["paidMinor"], 1375);
    assert_eq!(usd["netMinor"], 1375);
    assert_eq!(
        usd["byProduct"],
        serde_json::json!([
            {"product": "order_code", "paidCount": 1, "paid": "10.00", "paidMinor": 1000},
            {"product": "user_presented", "paidCount": 2, "paid": "3.75", "paidMinor": 375},
        ])
    );

    let text = in_utc(&[
        "--config",
        p(&file),
        "journal",
        "totals",
        "--date",
        "2026-03-07",
    ]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = stdout(&text);
    assert!(text.contains("paid 13.75 (3)"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("user_presented") && l.contains("3.75 (2)")),
        "{text}"
    );
    let other_day = in_utc(&[
        "--config",
        p(&file),
        "journal",
        "totals",
        "--date",
        "2026-03-08",
    ]);
    assert!(
        stdout(&other_day).contains("no payments"),
        "{}",
        stdout(&other_day)
    );
    let bad = in_utc(&[
        "--config",
        p(&file),
        "journal",
        "totals",
        "--date",
        "7 March",
    ]);
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));

    let list = in_utc(&["--config", p(&file), "journal", "list"]);
    let list = stdout(&list);
    let line = |id: &str| {
        list.lines()
            .find(|l| l.contains(id))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line("CLI-P2").contains("user_presented ****2222"), "{list}");
    assert!(line("CLI-P1").contains("order_code"), "{list}");
    assert!(!line("CLI-P1").contains("****"), "{list}");
}
