//! RSA-2048 SHA256withRSA signing and verification throughput, the cost every AMS request,
//! response and notification pays. Compare with `openssl speed rsa2048` on the same machine
//! (see the README's figures).

use std::hint::black_box;
use std::path::Path;

use alipay_pos::ams::{keys, signing};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/testvectors")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rsa2048(c: &mut Criterion) {
    let private_key = keys::parse_private_key(&fixture("merchant_private_key_pkcs8.pem"))
        .expect("fixture key")
        .key;
    let public_key = private_key.to_public_key();
    let content = fixture("v1_content_to_sign.txt").into_bytes();
    let signature = signing::sign(&private_key, &content).expect("sign");

    let mut group = c.benchmark_group("rsa2048");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sign (blinded)", |b| {
        b.iter(|| signing::sign(black_box(&private_key), black_box(&content)))
    });
    group.bench_function("verify", |b| {
        b.iter(|| signing::verify(black_box(&public_key), black_box(&content), &signature))
    });
    group.finish();
}

criterion_group!(benches, rsa2048);
criterion_main!(benches);
