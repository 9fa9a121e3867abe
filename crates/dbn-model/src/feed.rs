//! How training data reaches the trainers: a [`Feed`] of visible vectors, held in memory as one
//! tensor or streamed from a Burn [`Dataset`] through a Burn [`Batcher`], batch by batch.
//!
//! The trainers draw each epoch's order themselves, from `(seed, layer, epoch)`
//! ([`crate::RunSeed::rbm_epoch`]), and ask the feed for the rows of each mini-batch
//! ([`Feed::rows`]). That is how a Burn `DataLoader` works inside (a dataset read by index, a
//! batcher making the batch); the trainers do not take a `DataLoader` itself because its order
//! is hidden state that advances with every pass, while a resumed run must see epoch `e` in
//! the order an uninterrupted run saw it.
//!
//! - [`Feed::InMemory`]: every example in one `[n, width]` tensor on the device; the fastest
//!   when it fits. The layers above the first get their input mapped once ([`Feed::map`]).
//! - [`Feed::Streamed`]: rows made on demand by a [`RowSource`], for data larger than memory or
//!   made on the fly; [`Feed::stream`] builds one from any Burn dataset and batcher (e.g.
//!   `dbn_data::ExampleSet` and `dbn_data::ImageBatcher`, the batcher of fine-tuning's images
//!   too). The layers above the first map each batch as it is read: nothing of the data set is
//!   held, at the cost of an up pass per batch.
//!
//! Both feeds give the same rows in the same order, so training on either gives the same RBM
//! (bit for bit on the CPU backends for the first layer).

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::*;

/// Rows of a data set, made on demand: what [`Feed::Streamed`] reads.
pub trait RowSource<B: Backend>: Send + Sync {
    /// Number of examples.
    fn len(&self) -> usize;

    /// Whether there are no examples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The examples at `indices` (each below [`RowSource::len`]), in that order.
    ///
    /// # Shapes
    /// -> `[indices.len(), width]`
    fn rows(&self, indices: &[usize]) -> Tensor<B, 2>;

    /// The device the rows are made on.
    fn device(&self) -> B::Device;
}

/// The visible vectors an RBM or a stack trains on (see the [module docs](self)).
#[derive(Clone)]
pub enum Feed<B: Backend> {
    /// Every example in one tensor `[n, width]`.
    InMemory(Tensor<B, 2>),
    /// Examples made on demand, a batch at a time.
    Streamed(Arc<dyn RowSource<B>>),
}

impl<B: Backend> From<Tensor<B, 2>> for Feed<B> {
    fn from(data: Tensor<B, 2>) -> Self {
        Feed::InMemory(data)
    }
}

impl<B: Backend> std::fmt::Debug for Feed<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Feed::InMemory(data) => write!(f, "Feed::InMemory({:?})", data.dims()),
            Feed::Streamed(source) => write!(f, "Feed::Streamed({} examples)", source.len()),
        }
    }
}

/// Rows of chunks that [`Feed::chunks`] gives a streamed feed: large enough to keep the device
/// busy, small enough to never hold much of the data.
const CHUNK_ROWS: usize = 1024;

impl<B: Backend> Feed<B> {
    /// The examples of a Burn `dataset`, batched by `batcher` on `device` when they are read.
    pub fn stream<I, D, T>(dataset: D, batcher: T, device: &B::Device) -> Self
    where
        I: Send + Sync + 'static,
        D: Dataset<I> + 'static,
        T: Batcher<B, I, Tensor<B, 2>> + Send + Sync + 'static,
    {
        Feed::Streamed(Arc::new(DatasetRows {
            dataset,
            batcher,
            device: device.clone(),
            item: std::marker::PhantomData,
        }))
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        match self {
            Feed::InMemory(data) => data.dims()[0],
            Feed::Streamed(source) => source.len(),
        }
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The device the rows are on.
    pub fn device(&self) -> B::Device {
        match self {
            Feed::InMemory(data) => data.device(),
            Feed::Streamed(source) => source.device(),
        }
    }

    /// The examples at `indices` (each below [`Feed::len`]), in that order.
    ///
    /// # Shapes
    /// -> `[indices.len(), width]`
    pub fn rows(&self, indices: &[usize]) -> Tensor<B, 2> {
        match self {
            Feed::InMemory(data) => {
                let indices: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
                let n = indices.len();
                let indices = Tensor::from_data(TensorData::new(indices, [n]), &data.device());
                data.clone().select(0, indices)
            }
            Feed::Streamed(source) => source.rows(indices),
        }
    }

    /// The first `n` examples (all of them if there are fewer), in data-set order.
    ///
    /// # Shapes
    /// -> `[min(n, len), width]`
    pub fn head(&self, n: usize) -> Tensor<B, 2> {
        let n = n.min(self.len());
        match self {
            Feed::InMemory(data) => data.clone().slice(0..n),
            Feed::Streamed(source) => source.rows(&(0..n).collect::<Vec<_>>()),
        }
    }

    /// Every example once, in data-set order, in consecutive chunks: the whole tensor in
    /// memory, chunks of up to 1,024 rows streamed.
    ///
    /// # Shapes
    /// each chunk `[rows, width]`
    pub fn chunks(&self) -> impl Iterator<Item = Tensor<B, 2>> + '_ {
        let (n, size) = match self {
            Feed::InMemory(data) => (data.dims()[0], data.dims()[0].max(1)),
            Feed::Streamed(source) => (source.len(), CHUNK_ROWS),
        };
        (0..n).step_by(size).map(move |start| match self {
            Feed::InMemory(data) => data.clone(),
            Feed::Streamed(source) => {
                let end = (start + size).min(n);
                source.rows(&(start..end).collect::<Vec<_>>())
            }
        })
    }

    /// Mean of the examples.
    ///
    /// # Shapes
    /// -> `[width]`
    pub fn mean(&self) -> Tensor<B, 1> {
        match self {
            Feed::InMemory(data) => data.clone().mean_dim(0).squeeze_dim(0),
            Feed::Streamed(_) => {
                let sum = self
                    .chunks()
                    .map(|chunk| chunk.sum_dim(0).squeeze_dim::<1>(0))
                    .reduce(|a, b| a + b)
                    .expect("a feed with examples");
                sum.div_scalar(self.len() as f64)
            }
        }
    }

    /// Every example mapped through `f` (e.g. the up pass of the RBM below): in memory, once
    /// now; streamed, each batch as it is read, so `f` should draw no randomness of its own
    /// unless drawing it again on every read is meant.
    ///
    /// # Shapes
    /// `f`: `[rows, width]` -> `[rows, new_width]`
    pub fn map(self, f: impl Fn(Tensor<B, 2>) -> Tensor<B, 2> + Send + Sync + 'static) -> Self {
        match self {
            Feed::InMemory(data) => Feed::InMemory(f(data)),
            Feed::Streamed(source) => Feed::Streamed(Arc::new(MappedRows {
                source,
                map: Box::new(f),
            })),
        }
    }
}

/// A Burn dataset read through a Burn batcher.
struct DatasetRows<I, D, T, B: Backend> {
    dataset: D,
    batcher: T,
    device: B::Device,
    item: std::marker::PhantomData<fn() -> I>,
}

impl<I, D, T, B> RowSource<B> for DatasetRows<I, D, T, B>
where
    B: Backend,
    I: Send + Sync,
    D: Dataset<I>,
    T: Batcher<B, I, Tensor<B, 2>> + Send + Sync,
{
    fn len(&self) -> usize {
        self.dataset.len()
    }

    fn rows(&self, indices: &[usize]) -> Tensor<B, 2> {
        let items = indices
            .iter()
            .map(|&i| {
                self.dataset
                    .get(i)
                    .unwrap_or_else(|| panic!("index {i} of a data set of {}", self.len()))
            })
            .collect();
        self.batcher.batch(items, &self.device)
    }

    fn device(&self) -> B::Device {
        self.device.clone()
    }
}

/// Rows of another source, mapped as they are read.
struct MappedRows<B: Backend> {
    source: Arc<dyn RowSource<B>>,
    map: Box<dyn Fn(Tensor<B, 2>) -> Tensor<B, 2> + Send + Sync>,
}

impl<B: Backend> RowSource<B> for MappedRows<B> {
    fn len(&self) -> usize {
        self.source.len()
    }

    fn rows(&self, indices: &[usize]) -> Tensor<B, 2> {
        (self.map)(self.source.rows(indices))
    }

    fn device(&self) -> B::Device {
        self.source.device()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::to_f64;
    use crate::test_support::{B, all_states, assert_close};
    use burn::data::dataset::InMemDataset;

    /// Rows of numbers, as they are.
    #[derive(Clone)]
    struct RowBatcher;

    impl Batcher<B, Vec<f32>, Tensor<B, 2>> for RowBatcher {
        fn batch(
            &self,
            items: Vec<Vec<f32>>,
            device: &burn::backend::ndarray::NdArrayDevice,
        ) -> Tensor<B, 2> {
            let shape = [items.len(), items[0].len()];
            Tensor::from_data(TensorData::new(items.concat(), shape), device)
        }
    }

    fn streamed(data: &Tensor<B, 2>) -> Feed<B> {
        let [n, width] = data.dims();
        let values = to_f64(data.clone());
        let rows = (0..n)
            .map(|i| {
                values[i * width..(i + 1) * width]
                    .iter()
                    .map(|&v| v as f32)
                    .collect()
            })
            .collect();
        Feed::stream(InMemDataset::new(rows), RowBatcher, &data.device())
    }

    #[test]
    fn a_stream_gives_the_rows_of_the_same_data_in_memory() {
        let data = all_states(5); // [32, 5]
        let (memory, stream) = (Feed::from(data.clone()), streamed(&data));
        assert_eq!((memory.len(), stream.len()), (32, 32));
        let indices = [31, 0, 7, 7, 12];
        assert_eq!(to_f64(memory.rows(&indices)), to_f64(stream.rows(&indices)));
        assert_eq!(to_f64(memory.head(3)), to_f64(stream.head(3)));
        assert_eq!(memory.head(100).dims(), [32, 5]);
        assert_close(&to_f64(memory.mean()), &to_f64(stream.mean()), 1e-6);
        assert_close(&to_f64(memory.mean()), &[0.5; 5], 1e-6);
        let rows: usize = stream.chunks().map(|c| c.dims()[0]).sum();
        assert_eq!(rows, 32);
    }

    #[test]
    fn a_mapped_stream_maps_every_read_and_memory_maps_once() {
        let data = all_states(4);
        let double = |t: Tensor<B, 2>| t * 2.0;
        let memory = Feed::from(data.clone()).map(double);
        let stream = streamed(&data).map(double);
        assert!(matches!(memory, Feed::InMemory(_)));
        assert!(matches!(stream, Feed::Streamed(_)));
        let expected = to_f64(data.slice(2..4) * 2.0);
        assert_eq!(to_f64(memory.rows(&[2, 3])), expected);
        assert_eq!(to_f64(stream.rows(&[2, 3])), expected);
    }
}
