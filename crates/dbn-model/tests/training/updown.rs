//! Up-down fine-tuning on a tiny labelled stack whose generative model can be enumerated: it
//! raises the exact log-likelihood, and a run resumed from its checkpoint ends bit-identical to
//! one that never stopped.

use std::ops::ControlFlow;

use burn::backend::NdArray;
use burn::prelude::*;
use dbn_model::bound::exact_log_likelihood;
use dbn_model::{
    Dbn, DbnConfig, DbnPretrainer, Generative, PretrainConfig, RbmTrainingConfig, RunSeed,
    UpDownConfig, UpDownDbn, UpDownTrainer,
};

use super::one_at_a_time;

type B = NdArray;

/// An 8-6-8 stack with 4 label units in its top RBM.
fn model() -> DbnConfig {
    DbnConfig::new(vec![8, 6, 8]).with_labels(4)
}

/// Four 8-pixel patterns, each followed by its one-hot label, 25 copies each.
fn labelled_patterns() -> Tensor<B, 2> {
    let patterns = [
        [1., 1., 1., 1., 0., 0., 0., 0., 1., 0., 0., 0.],
        [0., 0., 0., 0., 1., 1., 1., 1., 0., 1., 0., 0.],
        [1., 0., 1., 0., 1., 0., 1., 0., 0., 0., 1., 0.],
        [0., 1., 0., 1., 0., 1., 0., 1., 0., 0., 0., 1.],
    ];
    Tensor::<B, 2>::from_floats(patterns, &Default::default()).repeat_dim(0, 25)
}

/// The stack pretrained greedily by CD-1 for `epochs` epochs per RBM.
fn pretrained(epochs: usize) -> Dbn<B> {
    let device = Default::default();
    B::seed(&device, 84);
    let rbm = RbmTrainingConfig::new()
        .with_epochs(epochs)
        .with_batch_size(10);
    DbnPretrainer::new(model(), PretrainConfig::new().with_rbm(rbm), RunSeed(84))
        .unwrap()
        .pretrain(
            model().init(&device).unwrap(),
            labelled_patterns(),
            None,
            |_| ControlFlow::Continue(()),
        )
        .unwrap()
        .dbn
}

/// Share of `data` (patterns and labels) the stack misclassifies by its top RBM.
fn generative_error(stack: &impl Generative<B>, data: Tensor<B, 2>) -> f64 {
    let truth = data.clone().slice_dim(1, 8..).argmax(1).squeeze_dim(1);
    let predicted = stack
        .classify_generatively(data.clone().slice_dim(1, 0..8))
        .unwrap();
    let right: i64 = predicted.equal(truth).int().sum().into_scalar().elem();
    1.0 - right as f64 / data.dims()[0] as f64
}

#[test]
fn up_down_raises_the_exact_log_likelihood_of_the_generative_model() {
    let _turn = one_at_a_time();
    // Pretrained for 5 epochs only, the stack is far from the data (the best possible mean
    // log p(v) is -ln 4 = -1.386 nats) and classifies 3 patterns in 4 wrongly. Up-down alone
    // brings it near the bound (seeded: -5.54 to -1.68 nats) and to no error; with the rate or
    // the epochs cut by 4, or from a well pretrained stack, it moves little.
    let data = labelled_patterns();
    let images = data.clone().slice_dim(1, 0..8);
    let dbn = pretrained(5);
    let before = exact_log_likelihood(&dbn, images.clone()).unwrap();
    let error_before = generative_error(&dbn, data.clone());
    let optimizer = UpDownConfig::new().optimizer.with_learning_rate(0.2);
    let config = UpDownConfig::new()
        .with_epochs(100)
        .with_batch_size(10)
        .with_optimizer(optimizer);
    let trained = UpDownTrainer::new(model(), config, RunSeed(85))
        .unwrap()
        .train(dbn, data.clone(), Some(data.clone().into()), |_| {})
        .unwrap();
    let after = exact_log_likelihood(&trained.model.generative, images).unwrap();
    let last = trained.history.last().unwrap();
    eprintln!(
        "log p(v): {before:.3} nats before up-down, {after:.3} after; generative error \
         {error_before} before, {:?} after",
        last.valid_generative_error
    );
    assert!(error_before >= 0.5, "{error_before}");
    assert!(after > before + 2.0, "{before} -> {after}");
    assert_eq!(last.valid_generative_error, Some(0.0));
    assert_eq!(generative_error(&trained.model, data), 0.0);
    assert!(trained.history[0].reconstruction_error > 10.0 * last.reconstruction_error);
}

/// Every weight and bias of the model, generative then recognition.
fn parameters(model: &UpDownDbn<B>) -> Vec<Vec<f32>> {
    let rbms = model.generative.rbms.iter();
    super::parameters(rbms.chain(&model.recognition.rbms))
}

#[test]
fn a_resumed_run_ends_bit_identical_to_one_that_never_stopped() {
    let _turn = one_at_a_time();
    let data = labelled_patterns();
    let dbn = pretrained(5);
    let dir = std::env::temp_dir().join(format!("dbn-updown-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (full, after_one) = (dir.join("full.ckpt"), dir.join("after-one.ckpt"));
    let config = UpDownConfig::new().with_epochs(3).with_batch_size(10);
    let trainer = UpDownTrainer::new(model(), config.clone(), RunSeed(86)).unwrap();
    let straight = trainer
        .clone()
        .with_checkpoint(&full)
        .train(dbn, data.clone(), None, |stats| {
            if stats.epoch == 1 {
                std::fs::copy(&full, &after_one).unwrap();
            }
        })
        .unwrap();
    let resumed = trainer
        .with_checkpoint(&after_one)
        .resume(data.clone(), None, |_| {})
        .unwrap();
    assert_eq!(resumed.history.len(), 3);
    assert_eq!(resumed.history[0], straight.history[0]);
    assert_eq!(parameters(&resumed.model), parameters(&straight.model));
    let other = UpDownTrainer::new(
        DbnConfig::new(vec![8, 5, 8]).with_labels(4),
        config,
        RunSeed(86),
    )
    .unwrap()
    .with_checkpoint(&after_one)
    .resume::<B>(data, None, |_| {})
    .unwrap_err();
    assert!(
        other
            .to_string()
            .contains("the checkpoint is of layers [8, 6, 8] with 4 label units"),
        "{other}"
    );
    let unlabelled = UpDownTrainer::new(
        DbnConfig::new(vec![8, 6, 8]),
        UpDownConfig::new(),
        RunSeed(86),
    )
    .unwrap()
    .with_checkpoint(&after_one)
    .resume::<B>(labelled_patterns().slice_dim(1, 0..8), None, |_| {})
    .unwrap_err();
    assert!(
        unlabelled
            .to_string()
            .contains("the configuration has [8, 6, 8] with 0"),
        "{unlabelled}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
