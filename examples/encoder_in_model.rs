//! A user's own Burn model with a pretrained `DbnEncoder` inside, fine-tuned end to end.
//!
//! ```text
//! cargo run --release -p dbn-examples --example encoder_in_model
//! ```
//!
//! 1. Pretrain a small DBN (784-256-128) greedily on MNIST images, no labels.
//! 2. Build `MyModel`: the DBN's encoder, then a head of the user's choosing (here dropout and a
//!    linear layer to 10 classes).
//! 3. Train `MyModel` with Adam on labelled images and report the test accuracy.

use std::ops::ControlFlow;

use burn::backend::{Autodiff, NdArray};
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use dbn_data::{
    ClassificationBatch, ClassificationBatcher, DEFAULT_VALIDATION, ExampleSet, ImageBatcher,
    Splits, shipped_mnist_dir,
};
use dbn_model::{
    DbnConfig, DbnEncoder, DbnPretrainer, Feed, PretrainConfig, RbmTrainingConfig, RunSeed,
};

/// The user's model: any Burn module can hold a `DbnEncoder` as it would hold a `Linear`.
#[derive(Module, Debug)]
struct MyModel<B: Backend> {
    encoder: DbnEncoder<B>,
    dropout: Dropout,
    head: Linear<B>,
}

impl<B: Backend> MyModel<B> {
    /// Class logits, `[batch, 10]`.
    fn forward(&self, images: Tensor<B, 2>) -> Tensor<B, 2> {
        self.head
            .forward(self.dropout.forward(self.encoder.forward(images)))
    }
}

/// How much of MNIST to use and for how long.
struct Budget {
    pretrain_images: usize,
    labelled_images: usize,
    pretrain_epochs: usize,
    finetune_epochs: usize,
}

fn batches<B: Backend>(set: &ExampleSet, device: &B::Device) -> Vec<ClassificationBatch<B>> {
    let items: Vec<_> = set.iter().collect();
    items
        .chunks(100)
        .map(|chunk| ClassificationBatcher::default().batch(chunk.to_vec(), device))
        .collect()
}

/// Pretrains, fine-tunes and returns the test accuracy in [0, 1].
fn run<B: AutodiffBackend>(budget: &Budget, device: &B::Device) -> f64 {
    let splits = Splits::load(shipped_mnist_dir(), DEFAULT_VALIDATION).expect("shipped MNIST");

    // 1. Unsupervised pretraining on the plain (non-autodiff) backend, the images streamed from
    //    the data set through the batcher a batch at a time (a tensor of all of them would do
    //    too, and map the layers' inputs once instead of per batch).
    let unlabelled = splits.train.clone().take(budget.pretrain_images);
    let images = Feed::<B::InnerBackend>::stream(unlabelled, ImageBatcher::default(), device);
    let model = DbnConfig::new(vec![784, 256, 128]);
    let rbm = RbmTrainingConfig::new().with_epochs(budget.pretrain_epochs);
    let seed = RunSeed(42);
    B::seed(device, seed.init());
    let dbn = model.init(device).expect("valid config");
    let pretrained = DbnPretrainer::new(model, PretrainConfig::new().with_rbm(rbm), seed)
        .expect("valid config")
        .pretrain(dbn, images, None, |s| {
            println!(
                "pretrain layer {} epoch {}: reconstruction error {:.2}",
                s.layer, s.epoch, s.reconstruction_error
            );
            ControlFlow::Continue(())
        })
        .expect("pretraining");

    // 2. The user's model on the autodiff backend; the encoder's copies of the weights train.
    let mut model = MyModel::<B> {
        encoder: DbnEncoder::from_dbn(&pretrained.dbn, device),
        dropout: DropoutConfig::new(0.2).init(),
        head: LinearConfig::new(128, 10).init(device),
    };

    // 3. Supervised training.
    let train = batches::<B>(&splits.train.clone().take(budget.labelled_images), device);
    let mut optimizer = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    for epoch in 1..=budget.finetune_epochs {
        let mut total = 0.0;
        for batch in &train {
            let loss = loss_fn.forward(model.forward(batch.images.clone()), batch.targets.clone());
            total += loss.clone().into_scalar().elem::<f64>();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(3e-3, model, grads);
        }
        println!(
            "fine-tune epoch {epoch}: mean loss {:.4}",
            total / train.len() as f64
        );
    }

    // Evaluation on the inner backend: no autodiff, no dropout.
    let model = model.valid();
    let (mut correct, mut total) = (0, 0);
    for batch in batches::<B::InnerBackend>(&splits.test, device) {
        let predicted = model.forward(batch.images).argmax(1).squeeze_dim::<1>(1);
        correct += predicted
            .equal(batch.targets.clone())
            .int()
            .sum()
            .into_scalar()
            .elem::<i64>();
        total += batch.targets.dims()[0] as i64;
    }
    correct as f64 / total as f64
}

fn main() {
    let budget = Budget {
        pretrain_images: 50_000,
        labelled_images: 50_000,
        pretrain_epochs: 5,
        finetune_epochs: 5,
    };
    let accuracy = run::<Autodiff<NdArray>>(&budget, &Default::default());
    println!("test accuracy: {:.2}%", 100.0 * accuracy);
}

#[test]
fn a_small_budget_learns_the_digits() {
    let budget = Budget {
        pretrain_images: 2000,
        labelled_images: 2000,
        pretrain_epochs: 2,
        finetune_epochs: 10,
    };
    let accuracy = run::<Autodiff<NdArray>>(&budget, &Default::default());
    // Chance is 10%; a net whose encoder or head failed to train stays far below 80%.
    assert!(accuracy > 0.8, "test accuracy {accuracy}");
}
