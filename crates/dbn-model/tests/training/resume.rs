//! A pretraining run interrupted and resumed from its checkpoint ends bit-identical to one that
//! never stopped (CPU backend, same seed).

use std::ops::ControlFlow;

use burn::backend::NdArray;
use burn::prelude::*;
use burn::tensor::Distribution;
use dbn_model::{
    CdConfig, Dbn, DbnConfig, DbnPretrainer, EarlyStoppingConfig, ModelError, PretrainConfig,
    RbmTrainingConfig, RunSeed, SparsityConfig,
};

use super::{one_at_a_time, parameters};

type B = NdArray;

const SEED: RunSeed = RunSeed(5);

fn model() -> DbnConfig {
    DbnConfig::new(vec![20, 12, 8, 6])
}

/// The pretrainer, passing probabilities up or, with `sample_up`, samples drawn once per layer.
fn pretrainer(sample_up: bool) -> DbnPretrainer {
    let rbm = RbmTrainingConfig::new()
        .with_epochs(3)
        .with_batch_size(25)
        .with_cd(CdConfig::new().with_pcd())
        .with_sparsity(Some(SparsityConfig::new()))
        .with_early_stopping(Some(EarlyStoppingConfig::new()));
    let config = PretrainConfig::new()
        .with_rbm(rbm)
        .with_sample_up(sample_up);
    DbnPretrainer::new(model(), config, SEED).unwrap()
}

/// A fresh stack, initialised from the run's seed.
fn fresh() -> Dbn<B> {
    let device = Default::default();
    B::seed(&device, SEED.init());
    model().init::<B>(&device).unwrap()
}

fn data() -> (Tensor<B, 2>, Tensor<B, 2>) {
    let device = Default::default();
    B::seed(&device, 77);
    let all = Tensor::<B, 2>::random([250, 20], Distribution::Default, &device);
    (
        all.clone().slice([0..200, 0..20]),
        all.slice([200..250, 0..20]),
    )
}

#[test]
fn resumed_pretraining_matches_an_uninterrupted_run() {
    let _turn = one_at_a_time();
    for sample_up in [false, true] {
        resumed_run_matches(sample_up);
    }
}

fn resumed_run_matches(sample_up: bool) {
    let (train, valid) = data();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pretrain.ckpt");

    let straight = pretrainer(sample_up);
    let reference = straight
        .pretrain(fresh(), train.clone(), Some(valid.clone().into()), |_| {
            ControlFlow::Continue(())
        })
        .unwrap();

    // Interrupt at (layer 1, epoch 2), then at (layer 2, epoch 3: the end of a layer), then
    // finish; each interruption goes through the checkpoint file.
    let pretrainer = pretrainer(sample_up).with_checkpoint(&path);
    let stop_at = |layer: usize, epoch: usize| {
        move |s: &dbn_model::EpochStats| {
            if (s.layer, s.epoch) == (layer, epoch) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
    };
    let err = pretrainer
        .pretrain(
            fresh(),
            train.clone(),
            Some(valid.clone().into()),
            stop_at(1, 2),
        )
        .unwrap_err();
    assert!(
        matches!(err, ModelError::Interrupted { layer: 1, epoch: 2 }),
        "{err}"
    );
    let err = pretrainer
        .resume(train.clone(), Some(valid.clone().into()), stop_at(2, 3))
        .unwrap_err();
    assert!(
        matches!(err, ModelError::Interrupted { layer: 2, epoch: 3 }),
        "{err}"
    );
    let resumed = pretrainer
        .resume(train, Some(valid.into()), |_| ControlFlow::Continue(()))
        .unwrap();

    assert_eq!(
        parameters(&resumed.dbn.rbms),
        parameters(&reference.dbn.rbms),
        "sample_up {sample_up}"
    );
    assert_eq!(resumed.history.len(), 3);
    let epochs = |h: &Vec<Vec<dbn_model::EpochStats>>| {
        h.iter()
            .map(|l| {
                l.iter()
                    .map(|s| (s.layer, s.epoch, s.reconstruction_error))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(epochs(&resumed.history), epochs(&reference.history));
    assert!(
        !path.with_extension("tmp").exists(),
        "no temporary file is left behind"
    );
}
