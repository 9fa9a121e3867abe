//! A Burn [`DataLoader`] whose shuffle is a function of (seed, epoch), so that a resumed run sees
//! the same batches as one that never stopped.
//!
//! Burn's own shuffling loader draws each epoch's permutation from one random generator that
//! advances with every pass and is not part of burn-train's checkpoint: a run resumed after
//! epoch 3 shuffles its epoch 4 as an uninterrupted run shuffled epoch 1. [`EpochLoader`] counts
//! its passes from a given first epoch instead, and draws the permutation of epoch `e` from
//! `(seed, e)` alone.
//!
//! burn-train's multi-device strategy splits the training loader into one slice per device
//! ([`DataLoader::slice`]). A slice of an [`EpochLoader`] is a part of each epoch's order, so
//! the devices together see exactly the examples one device would have seen in that epoch,
//! each example once.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::Dataset;
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// Batches of a data set in an order fixed by (seed, epoch): pass `n` of [`DataLoader::iter`]
/// (counting from 0) is epoch `first_epoch + n`, shuffled by the permutation drawn from
/// `(seed, epoch)`, or in data-set order when `seed` is `None`. Copies made by
/// [`DataLoader::to_device`] share the pass counter; a [`DataLoader::slice`] `start..end` serves
/// positions `start..end` of each epoch's order and counts its own passes, from the epoch the
/// loader is at.
pub struct EpochLoader<B: Backend, I, O> {
    dataset: Arc<dyn Dataset<I>>,
    /// The positions of each epoch's order this loader serves.
    part: Range<usize>,
    batcher: Arc<dyn Batcher<B, I, O>>,
    batch_size: usize,
    seed: Option<u64>,
    next_epoch: Arc<AtomicUsize>,
    device: B::Device,
}

impl<B: Backend, I, O> EpochLoader<B, I, O> {
    /// A loader of `dataset` in batches of `batch_size` (the last one may be smaller), whose
    /// first pass is epoch `first_epoch` (from 1).
    ///
    /// # Panics
    /// If `batch_size` is 0 (settings are validated before a loader is built).
    pub fn new(
        dataset: impl Dataset<I> + 'static,
        batcher: impl Batcher<B, I, O> + 'static,
        batch_size: usize,
        seed: Option<u64>,
        first_epoch: usize,
        device: &B::Device,
    ) -> Self {
        assert!(batch_size > 0, "batch size must be at least 1");
        let part = 0..dataset.len();
        Self {
            dataset: Arc::new(dataset),
            part,
            batcher: Arc::new(batcher),
            batch_size,
            seed,
            next_epoch: Arc::new(AtomicUsize::new(first_epoch)),
            device: device.clone(),
        }
    }

    /// Indices of the data set in the order of `epoch`, this loader's part of it.
    fn order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.dataset.len()).collect();
        if let Some(seed) = self.seed {
            // Distinct, well-mixed streams per epoch (SplitMix64's increment).
            let key = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            order.shuffle(&mut StdRng::seed_from_u64(key));
        }
        order.drain(self.part.clone()).collect()
    }
}

impl<B: Backend, I, O> Clone for EpochLoader<B, I, O> {
    /// A copy sharing the pass counter.
    fn clone(&self) -> Self {
        Self {
            dataset: self.dataset.clone(),
            part: self.part.clone(),
            batcher: self.batcher.clone(),
            batch_size: self.batch_size,
            seed: self.seed,
            next_epoch: self.next_epoch.clone(),
            device: self.device.clone(),
        }
    }
}

impl<B, I, O> DataLoader<B, O> for EpochLoader<B, I, O>
where
    B: Backend,
    I: Send + Sync + Clone + 'static,
    O: Send + 'static,
{
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<O> + 'a> {
        let epoch = self.next_epoch.fetch_add(1, Ordering::SeqCst);
        Box::new(EpochIter {
            loader: self,
            order: self.order(epoch),
            done: 0,
        })
    }

    fn num_items(&self) -> usize {
        self.part.len()
    }

    fn to_device(&self, device: &B::Device) -> Arc<dyn DataLoader<B, O>> {
        Arc::new(Self {
            device: device.clone(),
            ..self.clone()
        })
    }

    /// Positions `start..end` of this loader's part of each epoch's order, with a pass
    /// counter of its own (burn-train iterates every slice once per epoch).
    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<B, O>> {
        let end = end.min(self.part.len());
        let start = start.min(end);
        let epoch = self.next_epoch.load(Ordering::SeqCst);
        Arc::new(Self {
            part: self.part.start + start..self.part.start + end,
            next_epoch: Arc::new(AtomicUsize::new(epoch)),
            ..self.clone()
        })
    }
}

/// One pass of an [`EpochLoader`].
struct EpochIter<'a, B: Backend, I, O> {
    loader: &'a EpochLoader<B, I, O>,
    order: Vec<usize>,
    done: usize,
}

impl<B: Backend, I, O> Iterator for EpochIter<'_, B, I, O> {
    type Item = O;

    fn next(&mut self) -> Option<O> {
        if self.done >= self.order.len() {
            return None;
        }
        let end = (self.done + self.loader.batch_size).min(self.order.len());
        let items = self.order[self.done..end]
            .iter()
            .filter_map(|&i| self.loader.dataset.get(i))
            .collect();
        self.done = end;
        Some(self.loader.batcher.batch(items, &self.loader.device))
    }
}

impl<B: Backend, I, O> DataLoaderIterator<O> for EpochIter<'_, B, I, O> {
    fn progress(&self) -> Progress {
        Progress::new(self.done, self.order.len())
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;
    use burn::data::dataset::InMemDataset;

    use super::*;

    /// Batches of numbers, as they are.
    #[derive(Clone)]
    struct Identity;
    impl Batcher<NdArray, usize, Vec<usize>> for Identity {
        fn batch(
            &self,
            items: Vec<usize>,
            _: &burn::backend::ndarray::NdArrayDevice,
        ) -> Vec<usize> {
            items
        }
    }

    fn loader(seed: Option<u64>, first_epoch: usize) -> EpochLoader<NdArray, usize, Vec<usize>> {
        let data = InMemDataset::new((0..10).collect());
        EpochLoader::new(data, Identity, 4, seed, first_epoch, &Default::default())
    }

    fn pass(loader: &dyn DataLoader<NdArray, Vec<usize>>) -> Vec<Vec<usize>> {
        loader.iter().collect()
    }

    #[test]
    fn each_epoch_is_a_permutation_in_batches_of_the_size_asked() {
        let loader = loader(Some(7), 1);
        let batches = pass(&loader);
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
        let mut seen: Vec<usize> = batches.concat();
        assert_ne!(seen, (0..10).collect::<Vec<_>>(), "shuffled");
        seen.sort_unstable();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        let mut iter = loader.iter();
        iter.next();
        assert_eq!(iter.progress().items_processed, 4);
        assert_eq!(iter.progress().items_total, 10);
    }

    #[test]
    fn a_loader_started_at_epoch_three_repeats_epoch_three_of_a_full_run() {
        let full = loader(Some(7), 1);
        let epochs: Vec<_> = (0..4).map(|_| pass(&full)).collect();
        assert_ne!(epochs[0], epochs[1], "every epoch has its own order");
        // As burn-train uses it: a copy for the device, shared pass counter.
        let resumed = loader(Some(7), 3).to_device(&Default::default());
        assert_eq!(pass(&*resumed), epochs[2]);
        assert_eq!(pass(&*resumed), epochs[3]);
        assert_ne!(pass(&loader(Some(8), 1)), epochs[0], "another seed");
    }

    #[test]
    fn without_a_seed_the_order_is_the_data_set_order() {
        let loader = loader(None, 1);
        assert_eq!(pass(&loader).concat(), (0..10).collect::<Vec<_>>());
        assert_eq!(pass(&*loader.slice(2, 5)).concat(), vec![2, 3, 4]);
    }

    #[test]
    fn the_slices_of_several_devices_together_are_each_epoch_of_one_device() {
        let one = loader(Some(7), 2);
        let epochs: Vec<Vec<usize>> = (0..3).map(|_| pass(&one).concat()).collect();
        // As burn-train's multi-device strategy splits it (`split_dataloader`).
        let devices = [Default::default(), Default::default()];
        let slices =
            burn::data::dataloader::split::split_dataloader(Arc::new(loader(Some(7), 2)), &devices);
        assert_eq!(slices.iter().map(|s| s.num_items()).sum::<usize>(), 10);
        for epoch in &epochs {
            let together: Vec<usize> = slices.iter().flat_map(|s| pass(&**s).concat()).collect();
            assert_eq!(&together, epoch);
        }
        let first = loader(Some(7), 1).slice(5, 10);
        assert_eq!(first.slice(1, 3).num_items(), 2);
        assert_eq!(pass(&*first.slice(1, 3)).concat(), pass(&*first)[0][1..3]);
    }
}
