//! Learning on the shipped MNIST: one CD-1 epoch of a 784-500 RBM must learn real features, and
//! a small pretrained DBN must generate digit-like images.

use std::ops::ControlFlow;

use burn::backend::NdArray;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::*;
use dbn_data::{DEFAULT_VALIDATION, ImageBatcher, Splits, shipped_mnist_dir};
use dbn_model::conformance::correlation;
use dbn_model::{
    Dbn, DbnConfig, DbnPretrainer, Feed, Generative, PretrainConfig, RbmConfig, RbmTrainer,
    RbmTrainingConfig, RunSeed,
};

use super::one_at_a_time;

type B = NdArray;

/// Burn's generic operations.
#[test]
fn one_cd1_epoch_on_mnist_cuts_the_reconstruction_error() {
    one_cd1_epoch::<B>();
}

/// The fused kernels of `dbn_model::kernels` (with the `flex` feature).
#[test]
fn one_cd1_epoch_on_mnist_cuts_the_reconstruction_error_on_flex() {
    one_cd1_epoch::<burn::backend::Flex>();
}

fn one_cd1_epoch<B: Backend>() {
    let _one = one_at_a_time();
    let device = Default::default();
    let splits = Splits::load(shipped_mnist_dir(), DEFAULT_VALIDATION).unwrap();
    let images = |set: &dbn_data::ExampleSet| -> Tensor<B, 2> {
        ImageBatcher::default().batch(set.iter().collect(), &device)
    };
    let (train, valid) = (images(&splits.train), images(&splits.valid));
    let config = RbmTrainingConfig::new().with_epochs(1);
    B::seed(&device, 7);
    let rbm = RbmConfig::new(784, 500).init::<B>(&device);
    // The untrained model with the data-fitted visible biases that training starts from.
    let untrained = rbm
        .clone()
        .with_visible_bias_from_mean(Feed::from(train.clone()).mean());
    let monitor = valid.clone().slice([0..1000, 0..784]);
    let untrained_error: f32 = untrained
        .reconstruction_error(monitor.clone())
        .mean()
        .into_scalar()
        .elem();
    let fitted = RbmTrainer::new(config, RunSeed(7))
        .unwrap()
        .fit(rbm, train, Some(valid.into()), |_| {})
        .unwrap();
    let stats = &fitted.history[0];
    let trained_error: f32 = fitted
        .rbm
        .reconstruction_error(monitor)
        .mean()
        .into_scalar()
        .elem();
    eprintln!(
        "untrained {untrained_error:.2}, after one CD-1 epoch {trained_error:.2} \
         (validation; training subset {:.2}, free-energy gap {:.2}, {:.1} s)",
        stats.reconstruction_error,
        stats.free_energy_gap.unwrap(),
        stats.seconds
    );
    // Fitting only the visible biases (a broken weight update) leaves about the summed pixel
    // variance, 52 per image; a working CD-1 epoch gets far below that.
    assert!(untrained_error > 45.0, "{untrained_error}");
    assert!(trained_error < 20.0, "reconstruction error {trained_error}");
    assert!(trained_error < 0.4 * untrained_error);
    assert!(
        stats.free_energy_gap.unwrap().abs() < 5.0,
        "one epoch cannot overfit"
    );
}

/// Mean image of the generated visible probabilities, `[784]`, drawn from seed 11.
fn mean_generated(dbn: &Dbn<B>) -> Vec<f32> {
    B::seed(&Default::default(), 11);
    let generated = dbn.generate(200, 200);
    generated.probs.mean_dim(0).into_data().to_vec().unwrap()
}

#[test]
fn a_pretrained_dbn_generates_digit_like_images_and_an_untrained_one_does_not() {
    let _one = one_at_a_time();
    let device = Default::default();
    let splits = Splits::load(shipped_mnist_dir(), DEFAULT_VALIDATION).unwrap();
    let train: Tensor<B, 2> =
        ImageBatcher::default().batch(splits.train.take(5000).iter().collect(), &device);
    let data_mean: Vec<f32> = train.clone().mean_dim(0).into_data().to_vec().unwrap();
    let model = DbnConfig::new(vec![784, 200, 200]);
    let training = PretrainConfig::new().with_rbm(RbmTrainingConfig::new().with_epochs(5));
    // The stack starts from seed 42 and trains with seed 3, the seeds this test had before
    // the run's one seed (RunSeed) replaced the config's two.
    let seed = RunSeed(3);
    B::seed(&device, 42);
    let untrained = model.init::<B>(&device).unwrap();
    let untrained_corr = correlation(&mean_generated(&untrained), &data_mean);
    let pretrained = DbnPretrainer::new(model, training, seed)
        .unwrap()
        .pretrain(untrained, train, None, |_| ControlFlow::Continue(()))
        .unwrap();
    let pretrained_corr = correlation(&mean_generated(&pretrained.dbn), &data_mean);
    eprintln!(
        "mean-image correlation with the data: pretrained {pretrained_corr:.3}, untrained {untrained_corr:.3}"
    );
    assert!(pretrained_corr > 0.8, "{pretrained_corr}");
    assert!(untrained_corr.abs() < 0.5, "{untrained_corr}");
}

/// `[n, 10]` one-hot rows of the labels of `set`.
fn one_hot_labels<B: Backend>(set: &dbn_data::ExampleSet, device: &B::Device) -> Tensor<B, 2> {
    let labels: Vec<usize> = set
        .iter()
        .map(|item| item.label.expect("labelled"))
        .collect();
    dbn_model::one_hot_rows(&labels, 10, device)
}

/// The top RBM trained on `[h(1), one-hot label]` (Hinton et al. 2006's joint top RBM, small):
/// classifying by the free energy of each clamped label beats chance (90% error) by far, and
/// the samples generated with a label clamped are recognised as that label (by the nearest
/// class-mean image of the training data, a classifier that owes the model nothing) far more
/// often than the 10% a sampler ignoring the label would get.
#[test]
fn a_stack_with_labels_in_its_top_rbm_classifies_and_generates_each_class() {
    let _one = one_at_a_time();
    type F = burn::backend::Flex;
    let device = Default::default();
    let splits = Splits::load(shipped_mnist_dir(), DEFAULT_VALIDATION).unwrap();
    let set = splits.train.take(5000);
    let images: Tensor<F, 2> = ImageBatcher::default().batch(set.iter().collect(), &device);
    let labels = one_hot_labels::<F>(&set, &device);
    let train = Tensor::cat(vec![images.clone(), labels.clone()], 1);
    let model = DbnConfig::new(vec![784, 200, 400]).with_labels(10);
    let training = PretrainConfig::new().with_rbm(RbmTrainingConfig::new().with_epochs(5));
    F::seed(&device, 42);
    let untrained = model.init::<F>(&device).unwrap();
    let dbn = DbnPretrainer::new(model, training, RunSeed(3))
        .unwrap()
        .pretrain(untrained, train, None, |_| ControlFlow::Continue(()))
        .unwrap()
        .dbn;

    let test = splits.test.take(2000);
    let test_images: Tensor<F, 2> = ImageBatcher::default().batch(test.iter().collect(), &device);
    let truth: Vec<i64> = test
        .iter()
        .map(|item| item.label.expect("labelled") as i64)
        .collect();
    let predicted: Vec<i64> = dbn
        .classify_generatively(test_images)
        .unwrap()
        .into_data()
        .convert::<i64>()
        .to_vec()
        .unwrap();
    let wrong = predicted.iter().zip(&truth).filter(|(p, t)| p != t).count();
    let generative_error = wrong as f64 / truth.len() as f64;

    // Class means of the training images, [10, 784].
    let counts = labels.clone().sum_dim(0).transpose(); // [10, 1]
    let means = labels.transpose().matmul(images) / counts;
    F::seed(&device, 12);
    let asked: Vec<usize> = (0..200).map(|i| i % 10).collect();
    let generated = dbn.generate_class(&asked, 200).unwrap().probs; // [200, 784]
    // Nearest mean: argmin ‖x - m‖² = argmax (2 x·m - ‖m‖²).
    let norms = means.clone().square().sum_dim(1).transpose(); // [1, 10]
    let scores = generated.matmul(means.transpose()).mul_scalar(2.0) - norms;
    let recognised: Vec<i64> = scores
        .argmax(1)
        .into_data()
        .convert::<i64>()
        .to_vec()
        .unwrap();
    let right = recognised
        .iter()
        .zip(&asked)
        .filter(|&(r, &a)| *r == a as i64)
        .count();
    let recognised_share = right as f64 / asked.len() as f64;
    eprintln!(
        "generative test error {generative_error:.3}; class-conditional samples recognised as \
         their label {recognised_share:.3}"
    );
    assert!(
        generative_error < 0.3,
        "generative test error {generative_error}"
    );
    assert!(recognised_share > 0.5, "recognised {recognised_share}");
}
