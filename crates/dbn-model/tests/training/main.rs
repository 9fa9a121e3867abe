//! dbn-model's integration tests, one binary: each test binary instantiates the trainers for its
//! backends anew, and as five binaries they took 289 s of a clean test build's compile time,
//! against 38 s as this one.

mod mnist;
mod reproducible;
mod resume;
mod streaming;
mod updown;

use std::sync::{Mutex, MutexGuard};

use burn::prelude::*;
use dbn_model::Rbm;

/// Held by every test of this binary: each seeds the backend's process-wide generator and
/// draws from it, so tests running side by side would draw from each other's streams and move
/// each other's results from run to run.
static GENERATOR: Mutex<()> = Mutex::new(());

/// Waits for the tests running before this one to finish drawing (see [`GENERATOR`]).
fn one_at_a_time() -> MutexGuard<'static, ()> {
    GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Every weight and bias of `rbms` as numbers, one vector per tensor (each RBM's weights,
/// visible bias, hidden bias in turn): what the resume tests compare bit for bit.
fn parameters<'a, B: Backend>(rbms: impl IntoIterator<Item = &'a Rbm<B>>) -> Vec<Vec<f32>> {
    rbms.into_iter()
        .flat_map(|r| {
            [
                r.weights.val().into_data().to_vec().unwrap(),
                r.visible_bias.val().into_data().to_vec().unwrap(),
                r.hidden_bias.val().into_data().to_vec().unwrap(),
            ]
        })
        .collect()
}
