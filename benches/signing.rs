//! RSA-2048 SHA256withRSA signing and verification throughput, the cost every AMS request,
//! response and notification pays. Compare with `openssl speed rsa2048` on the same machine
//! (see the README's figures).

use std::hint::black_box;

use alipay_pos::ams::signing;
use alipay_pos::testing;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn rsa2048(c: &mut Criterion) {
    let private_key = testing::merchant_private_key();
    let public_key = private_key.public_key();
    let content = testing::vector_bytes("v1_content_to_sign.txt");
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
