//! The one seed of a run, and the seed each consumer derives from it: every random draw of
//! initialisation, pretraining, fine-tuning and sampling is seeded by one of these functions,
//! so a run is reproducible from one number and each part's stream is documented here.
//!
//! Burn 0.21 draws random tensors from the backend's own generator, which only `B::seed`
//! sets. So the trainers seed the backend explicitly, from these seeds, at documented points:
//! before initialisation, at the start of each CD epoch, before each fine-tuning step. An
//! epoch's or a step's draws therefore depend on its position alone, not on the epochs before
//! it, which is what makes a resumed run bit-identical to one that never stopped.

use serde::{Deserialize, Serialize};

/// A run's seed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RunSeed(pub u64);

impl RunSeed {
    /// Initial weights of a stack or a classifier (random init and the softmax head): the
    /// seed itself.
    pub fn init(self) -> u64 {
        self.0
    }

    /// The one Bernoulli draw that binarises the training images (`binarize`), and the
    /// samples and pictures drawn after training: the seed itself.
    pub fn draws(self) -> u64 {
        self.0
    }

    /// The sampled up pass that feeds RBM `layer` (1-based) with `sample_up`.
    pub fn sample_up(self, layer: usize) -> u64 {
        self.0 ^ layer as u64
    }

    /// Epoch `epoch` of RBM `layer` (both from 1): the shuffle's generator is seeded with these
    /// 256 bits, (seed, layer, epoch) side by side, and the backend with its first draw.
    pub fn rbm_epoch(self, layer: usize, epoch: usize) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&self.0.to_le_bytes());
        bytes[8..16].copy_from_slice(&(layer as u64).to_le_bytes());
        bytes[16..24].copy_from_slice(&(epoch as u64).to_le_bytes());
        bytes
    }

    /// Epoch `epoch` (from 1) of up-down fine-tuning: as [`RunSeed::rbm_epoch`], in the place
    /// of a layer that no stack has (`u64::MAX`).
    pub fn up_down_epoch(self, epoch: usize) -> [u8; 32] {
        let mut bytes = self.rbm_epoch(0, epoch);
        bytes[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        bytes
    }

    /// The order of fine-tuning's mini-batches: the data loader derives each epoch's order
    /// from this and the epoch alone (`dbn_data::EpochLoader`).
    pub fn finetune_shuffle(self) -> u64 {
        self.0
    }

    /// Fine-tuning step `batch` (from 1) of epoch `epoch` (from 1): its dropout masks.
    pub fn finetune_step(self, epoch: usize, batch: usize) -> u64 {
        let step = (epoch as u64) << 32 | batch as u64;
        self.0 ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_consumer_gets_its_own_stream() {
        let seed = RunSeed(42);
        assert_eq!(seed.init(), 42);
        assert_ne!(seed.sample_up(2), seed.sample_up(3));
        assert_ne!(seed.rbm_epoch(1, 2), seed.rbm_epoch(2, 1));
        assert_ne!(seed.rbm_epoch(1, 1), RunSeed(43).rbm_epoch(1, 1));
        assert_ne!(seed.up_down_epoch(1), seed.rbm_epoch(1, 1));
        assert_ne!(seed.up_down_epoch(1), seed.up_down_epoch(2));
        assert_ne!(seed.finetune_step(1, 2), seed.finetune_step(2, 1));
        assert_ne!(seed.finetune_step(1, 1), RunSeed(43).finetune_step(1, 1));
    }
}
