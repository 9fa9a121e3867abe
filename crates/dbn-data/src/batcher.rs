//! Burn batchers: examples' features to `[batch, width]` tensors, labels to class indices.
//!
//! RBMs with Bernoulli visible units are trained on binary or probability-valued data (features
//! in [0, 1], such as grey level / 255); the [`Binarization`] of an [`ImageBatcher`] decides
//! which (real-valued data for Gaussian units is batched as it is, [`Binarization::None`]):
//! - [`Binarization::None`]: the features as they are, grey levels used as probabilities (the
//!   usual choice for MNIST pretraining and for fine-tuning);
//! - [`Binarization::Threshold`]: 1 where a feature exceeds a threshold, else 0;
//! - [`Binarization::Stochastic`]: 1 with probability the feature (in [0, 1]), drawn afresh for each
//!   epoch, reproducibly: the draw for a pixel depends only on (seed, epoch, image index in its
//!   file, pixel), never on batch order, batch size or threads.

use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::dataset::Example;
use crate::error::{DataError, Result};

/// How features (grey levels / 255) become visible-unit values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Binarization {
    /// The features as they are.
    #[default]
    None,
    /// 1.0 where a feature > the threshold (strictly between 0 and 1), else 0.0.
    Threshold(f32),
    /// 1.0 with probability the feature, seeded, fresh per epoch.
    Stochastic {
        /// Seed of the draws; with the epoch and image index it fixes every pixel.
        seed: u64,
    },
}

impl Binarization {
    /// Checks the setting.
    ///
    /// # Errors
    /// [`DataError::InvalidThreshold`] for a threshold outside (0, 1) (or NaN).
    pub fn validate(self) -> Result<Self> {
        match self {
            Binarization::Threshold(t) if !(t > 0.0 && t < 1.0) => {
                Err(DataError::InvalidThreshold(t))
            }
            other => Ok(other),
        }
    }
}

/// Batches [`Example`]s into a feature tensor `[batch, width]`.
#[derive(Clone, Debug, Default)]
pub struct ImageBatcher {
    binarization: Binarization,
    epoch: u64,
}

impl ImageBatcher {
    /// A batcher for epoch 0.
    ///
    /// # Errors
    /// As [`Binarization::validate`].
    pub fn new(binarization: Binarization) -> Result<Self> {
        Ok(Self {
            binarization: binarization.validate()?,
            epoch: 0,
        })
    }

    /// A batcher for epoch 0 of [`Binarization::Stochastic`], which has no setting to reject.
    pub fn stochastic(seed: u64) -> Self {
        Self {
            binarization: Binarization::Stochastic { seed },
            epoch: 0,
        }
    }

    /// The same batcher for another epoch: stochastic binarisation draws afresh.
    pub fn for_epoch(&self, epoch: u64) -> Self {
        Self {
            epoch,
            ..self.clone()
        }
    }

    /// The binarisation applied.
    pub fn binarization(&self) -> Binarization {
        self.binarization
    }

    /// Visible values of the items, row after row: `[batch * width]`.
    fn values(&self, items: &[Example]) -> Vec<f32> {
        let mut values = Vec::with_capacity(items.iter().map(|item| item.features.len()).sum());
        for item in items {
            let features = item.features.iter().copied();
            match self.binarization {
                Binarization::None => values.extend(features),
                Binarization::Threshold(t) => values.extend(features.map(|p| f32::from(p > t))),
                Binarization::Stochastic { seed } => {
                    let mut rng = StdRng::from_seed(draw_seed(seed, self.epoch, item.index));
                    values.extend(features.map(|p| f32::from(rng.random::<f32>() < p)));
                }
            }
        }
        values
    }
}

/// The 256-bit seed of one image's draws: (seed, epoch, index) laid side by side, so distinct
/// triples never share a stream.
fn draw_seed(seed: u64, epoch: u64, index: usize) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&epoch.to_le_bytes());
    bytes[16..24].copy_from_slice(&(index as u64).to_le_bytes());
    bytes
}

/// Stacks values into a `[batch, width]` tensor (`width` from the first item).
fn image_tensor<B: Backend>(
    values: Vec<f32>,
    items: &[Example],
    device: &B::Device,
) -> Tensor<B, 2> {
    let width = items.first().map_or(0, |item| item.features.len());
    Tensor::from_data(TensorData::new(values, [items.len(), width]), device)
}

impl<B: Backend> Batcher<B, Example, Tensor<B, 2>> for ImageBatcher {
    /// # Shapes
    /// output: `[items.len(), width]`
    fn batch(&self, items: Vec<Example>, device: &B::Device) -> Tensor<B, 2> {
        image_tensor(self.values(&items), &items, device)
    }
}

/// A labelled batch for supervised fine-tuning.
#[derive(Clone, Debug)]
pub struct ClassificationBatch<B: Backend> {
    /// `[batch, width]`, the features.
    pub images: Tensor<B, 2>,
    /// `[batch]`, class indices.
    pub targets: Tensor<B, 1, Int>,
}

/// Batches [`Example`]s into a [`ClassificationBatch`]; images as its [`ImageBatcher`] makes
/// them (grey levels by default).
#[derive(Clone, Debug, Default)]
pub struct ClassificationBatcher {
    images: ImageBatcher,
}

impl ClassificationBatcher {
    /// A batcher whose images are made by `images`.
    pub fn new(images: ImageBatcher) -> Self {
        Self { images }
    }
}

impl<B: Backend> Batcher<B, Example, ClassificationBatch<B>> for ClassificationBatcher {
    /// # Shapes
    /// images: `[items.len(), width]`, targets: `[items.len()]`
    ///
    /// # Panics
    /// On an item without a label: batch labelled sets only
    /// ([`crate::ExampleSet::is_labelled`]).
    fn batch(&self, items: Vec<Example>, device: &B::Device) -> ClassificationBatch<B> {
        let targets: Vec<i64> = items
            .iter()
            .map(|item| {
                item.label
                    .expect("a classification batch of labelled examples") as i64
            })
            .collect();
        let targets = Tensor::from_data(TensorData::new(targets, [items.len()]), device);
        let images = image_tensor(self.images.values(&items), &items, device);
        ClassificationBatch { images, targets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    type B = NdArray;

    /// Items whose pixels run through all grey levels 0..=255 at offsets.
    fn items(n: usize, n_pixels: usize) -> Vec<Example> {
        (0..n)
            .map(|i| Example {
                index: 100 + i,
                features: grey(
                    &(0..n_pixels)
                        .map(|p| ((p * 7 + i * 13) % 256) as u8)
                        .collect::<Vec<_>>(),
                ),
                label: Some(i % 10),
            })
            .collect()
    }

    /// Grey levels as features.
    fn grey(levels: &[u8]) -> Vec<f32> {
        levels.iter().map(|&g| f32::from(g) / 255.0).collect()
    }

    fn to_vec(t: Tensor<B, 2>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    #[test]
    fn grey_levels_scale_to_unit_interval_with_batch_shape() {
        let device = Default::default();
        let batch = items(3, 784);
        let t: Tensor<B, 2> = ImageBatcher::default().batch(batch.clone(), &device);
        assert_eq!(t.dims(), [3, 784]);
        let values = to_vec(t);
        for (v, g) in values
            .iter()
            .zip(batch.iter().flat_map(|item| &item.features))
        {
            assert_eq!(v, g);
        }
        assert_eq!(values.iter().cloned().fold(f32::MAX, f32::min), 0.0);
        assert_eq!(values.iter().cloned().fold(f32::MIN, f32::max), 1.0);
    }

    #[test]
    fn classification_batches_carry_targets() {
        let device = Default::default();
        let batch: ClassificationBatch<B> =
            ClassificationBatcher::default().batch(items(12, 5), &device);
        assert_eq!(batch.images.dims(), [12, 5]);
        assert_eq!(batch.targets.dims(), [12]);
        let targets: Vec<i64> = batch.targets.into_data().convert::<i64>().to_vec().unwrap();
        assert_eq!(targets, vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    }

    #[test]
    fn threshold_binarises_strictly_above() {
        let device = Default::default();
        let item = Example {
            index: 0,
            features: grey(&[0, 127, 128, 255]),
            label: Some(0),
        };
        let batcher = ImageBatcher::new(Binarization::Threshold(0.5)).unwrap();
        let t: Tensor<B, 2> = batcher.batch(vec![item], &device);
        assert_eq!(to_vec(t), vec![0.0, 0.0, 1.0, 1.0]);
    }

    #[test]
    fn thresholds_outside_the_open_unit_interval_are_rejected() {
        for t in [0.0, 1.0, -0.5, 2.0, f32::NAN] {
            let err = ImageBatcher::new(Binarization::Threshold(t)).unwrap_err();
            assert!(matches!(err, DataError::InvalidThreshold(_)), "{err:?}");
        }
    }

    #[test]
    fn stochastic_binarisation_is_seeded_fresh_per_epoch_and_order_free() {
        let device = Default::default();
        let batch = items(8, 784);
        let batcher = ImageBatcher::new(Binarization::Stochastic { seed: 7 }).unwrap();
        let run = |b: &ImageBatcher, items: Vec<Example>| to_vec(b.batch(items, &device));
        let epoch0 = run(&batcher, batch.clone());
        assert!(epoch0.iter().all(|&v| v == 0.0 || v == 1.0));
        // Same seed and epoch: identical, even split into other batches.
        assert_eq!(epoch0, run(&batcher, batch.clone()));
        let halves = [
            run(&batcher, batch[..3].to_vec()),
            run(&batcher, batch[3..].to_vec()),
        ]
        .concat();
        assert_eq!(epoch0, halves);
        // Another epoch or seed: fresh draws.
        // The infallible constructor is the same batcher.
        assert_eq!(epoch0, run(&ImageBatcher::stochastic(7), batch.clone()));
        let epoch1 = run(&batcher.for_epoch(1), batch.clone());
        let other_seed = ImageBatcher::stochastic(8);
        let differing = |a: &[f32], b: &[f32]| a.iter().zip(b).filter(|(x, y)| x != y).count();
        assert!(
            differing(&epoch0, &epoch1) > 100,
            "{}",
            differing(&epoch0, &epoch1)
        );
        assert!(differing(&epoch0, &run(&other_seed, batch.clone())) > 100);
        // Pure black and pure white never flip.
        for (v, &g) in epoch0
            .iter()
            .zip(batch.iter().flat_map(|item| &item.features))
        {
            if g == 0.0 || g == 1.0 {
                assert_eq!(*v, g);
            }
        }
    }

    #[test]
    fn stochastic_means_match_grey_levels() {
        // 2000 epochs of one image with grey levels 0, 51, 128, 204: the fraction of ones must
        // be within 4 standard errors of grey / 255.
        let device = Default::default();
        let item = Example {
            index: 3,
            features: grey(&[0, 51, 128, 204]),
            label: None,
        };
        let batcher = ImageBatcher::new(Binarization::Stochastic { seed: 1 }).unwrap();
        let epochs = 2000;
        let mut sums = [0.0f64; 4];
        for epoch in 0..epochs {
            let t: Tensor<B, 2> = batcher.for_epoch(epoch).batch(vec![item.clone()], &device);
            for (s, v) in sums.iter_mut().zip(to_vec(t)) {
                *s += f64::from(v);
            }
        }
        for (s, g) in sums.iter().zip(&item.features) {
            let p = f64::from(*g);
            let se = (p * (1.0 - p) / epochs as f64).sqrt();
            let mean = s / epochs as f64;
            assert!(
                (mean - p).abs() <= 4.0 * se + 1e-12,
                "grey {g}: mean {mean}, p {p}"
            );
        }
    }
}
