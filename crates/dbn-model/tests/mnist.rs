//! CD-1 on the shipped MNIST: one epoch of a 784-500 RBM must learn real features.

use burn::backend::NdArray;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::*;
use dbn_data::{DEFAULT_VALIDATION, ImageBatcher, MnistSplits, shipped_mnist_dir};
use dbn_model::{CdConfig, RbmConfig, RbmTrainer};

type B = NdArray;

#[test]
fn one_cd1_epoch_on_mnist_cuts_the_reconstruction_error() {
    let device = Default::default();
    let splits = MnistSplits::load(shipped_mnist_dir(), DEFAULT_VALIDATION).unwrap();
    let images = |set: &dbn_data::MnistDataset| -> Tensor<B, 2> {
        ImageBatcher::default().batch(set.iter().collect(), &device)
    };
    let (train, valid) = (images(&splits.train), images(&splits.valid));
    let config = CdConfig::new().with_epochs(1).with_seed(7);
    B::seed(&device, 7);
    let rbm = RbmConfig::new(784, 500).init::<B>(&device);
    // The untrained model with the data-fitted visible biases that training starts from.
    let untrained = rbm.clone().with_visible_bias_from_data(train.clone());
    let monitor = valid.clone().slice([0..1000, 0..784]);
    let untrained_error = untrained
        .reconstruction_error(monitor.clone())
        .mean()
        .into_scalar();
    let fitted = RbmTrainer::new(config)
        .unwrap()
        .fit(rbm, train, Some(valid), |_| {})
        .unwrap();
    let stats = &fitted.history[0];
    let trained_error = fitted
        .rbm
        .reconstruction_error(monitor)
        .mean()
        .into_scalar();
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
