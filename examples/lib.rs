//! Runnable examples live beside this file; run one with `cargo run --release -p dbn-examples --example NAME`.
