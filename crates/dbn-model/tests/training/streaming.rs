//! Pretraining on data streamed from a Burn dataset through the data crate's batcher
//! (`Feed::stream`): the same stack as from the same images in memory, read a batch at a time,
//! and resumable bit for bit.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::backend::NdArray;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::*;
use dbn_data::{DEFAULT_VALIDATION, ExampleSet, ImageBatcher, Splits, shipped_mnist_dir};
use dbn_model::{
    CdConfig, Dbn, DbnConfig, DbnPretrainer, Feed, ModelError, PretrainConfig, RbmTrainingConfig,
    RowSource, RunSeed,
};

use super::one_at_a_time;

type B = NdArray;

const SEED: RunSeed = RunSeed(9);

/// 1,500 MNIST training images.
fn images() -> ExampleSet {
    Splits::load(shipped_mnist_dir(), DEFAULT_VALIDATION)
        .unwrap()
        .train
        .take(1500)
}

fn model() -> DbnConfig {
    DbnConfig::new(vec![784, 40, 20])
}

/// Visible biases start at zero: from the data, the streamed feed's mean (a sum of chunks)
/// rounds differently from the tensor's.
fn pretrainer() -> DbnPretrainer {
    let rbm = RbmTrainingConfig::new()
        .with_visible_bias_from_data(false)
        .with_epochs(2)
        .with_batch_size(50)
        .with_monitor_size(300)
        .with_cd(CdConfig::new().with_pcd());
    DbnPretrainer::new(model(), PretrainConfig::new().with_rbm(rbm), SEED).unwrap()
}

fn fresh() -> Dbn<B> {
    let device = Default::default();
    B::seed(&device, SEED.init());
    model().init::<B>(&device).unwrap()
}

fn parameters(dbn: &Dbn<B>, layer: usize) -> Vec<f32> {
    let rbm = &dbn.rbms[layer - 1];
    [
        rbm.weights.val().into_data().to_vec::<f32>().unwrap(),
        rbm.visible_bias.val().into_data().to_vec().unwrap(),
        rbm.hidden_bias.val().into_data().to_vec().unwrap(),
    ]
    .concat()
}

fn go_on(_: &dbn_model::EpochStats) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

/// A source that remembers the most rows it was asked for at once.
struct Counting {
    inner: Feed<B>,
    most: AtomicUsize,
}

impl RowSource<B> for Counting {
    fn len(&self) -> usize {
        self.inner.len()
    }

    fn rows(&self, indices: &[usize]) -> Tensor<B, 2> {
        self.most.fetch_max(indices.len(), Ordering::SeqCst);
        self.inner.rows(indices)
    }

    fn device(&self) -> burn::backend::ndarray::NdArrayDevice {
        self.inner.device()
    }
}

#[test]
fn a_streamed_data_set_pretrains_the_stack_its_tensor_does_read_a_batch_at_a_time() {
    let _one = one_at_a_time();
    let device = Default::default();
    let set = images();
    let tensor: Tensor<B, 2> = ImageBatcher::default().batch(set.iter().collect(), &device);
    let in_memory = pretrainer().pretrain(fresh(), tensor, None, go_on).unwrap();

    let counting = Arc::new(Counting {
        inner: Feed::stream(set, ImageBatcher::default(), &device),
        most: AtomicUsize::new(0),
    });
    let streamed = pretrainer()
        .pretrain(fresh(), Feed::Streamed(counting.clone()), None, go_on)
        .unwrap();

    // Layer 1 sees the same rows in the same order: the same RBM, bit for bit.
    assert_eq!(parameters(&streamed.dbn, 1), parameters(&in_memory.dbn, 1));
    // Layer 2 maps each batch through layer 1 as it is read, instead of the whole set at once:
    // the same values up to the products' rounding.
    let (a, b) = (parameters(&streamed.dbn, 2), parameters(&in_memory.dbn, 2));
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(diff < 1e-4, "layer 2 differs by up to {diff}");
    assert_eq!(
        streamed.history[1].last().unwrap().epoch,
        in_memory.history[1].last().unwrap().epoch
    );
    // Never the whole set at once: mini-batches, the monitored head, chunks of checks.
    let most = counting.most.load(Ordering::SeqCst);
    assert!(most <= 1024, "{most} of the 1,500 rows read at once");
}

#[test]
fn a_streamed_run_resumed_from_its_checkpoint_matches_one_that_never_stopped() {
    let _one = one_at_a_time();
    let device = Default::default();
    let feed = || Feed::<B>::stream(images(), ImageBatcher::default(), &device);
    let reference = pretrainer().pretrain(fresh(), feed(), None, go_on).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let pretrainer = pretrainer().with_checkpoint(dir.path().join("pretrain.ckpt"));
    let stop_at_layer_2 = |s: &dbn_model::EpochStats| {
        if (s.layer, s.epoch) == (2, 1) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let err = pretrainer
        .pretrain(fresh(), feed(), None, stop_at_layer_2)
        .unwrap_err();
    assert!(
        matches!(err, ModelError::Interrupted { layer: 2, epoch: 1 }),
        "{err}"
    );
    let resumed = pretrainer.resume(feed(), None, go_on).unwrap();
    for layer in [1, 2] {
        assert_eq!(
            parameters(&resumed.dbn, layer),
            parameters(&reference.dbn, layer),
            "layer {layer}"
        );
    }
}
