//! Seeded training is reproducible bit for bit on the CPU backends (ndarray and flex).

use burn::backend::{Flex, NdArray};
use burn::prelude::*;
use burn::tensor::Distribution;
use dbn_model::{CdConfig, RbmConfig, RbmTrainer, RbmTrainingConfig, RunSeed, SparsityConfig};

use super::one_at_a_time;

fn train<B: Backend>(seed: u64, persistent: bool) -> Vec<f32> {
    let device = Default::default();
    B::seed(&device, 1);
    let data = Tensor::<B, 2>::random([300, 16], Distribution::Default, &device);
    let rbm = RbmConfig::new(16, 8).init::<B>(&device);
    let cd = CdConfig::new().with_k(2);
    let cd = if persistent { cd.with_pcd() } else { cd };
    let config = RbmTrainingConfig::new()
        .with_epochs(3)
        .with_batch_size(32)
        .with_cd(cd)
        .with_sparsity(Some(SparsityConfig::new()));
    let fitted = RbmTrainer::new(config, RunSeed(seed))
        .unwrap()
        .fit(rbm, data, None, |_| {})
        .unwrap();
    fitted.rbm.weights.val().into_data().to_vec().unwrap()
}

fn check<B: Backend>() {
    for persistent in [false, true] {
        let first = train::<B>(9, persistent);
        assert_eq!(
            first,
            train::<B>(9, persistent),
            "persistent = {persistent}"
        );
        assert_ne!(
            first,
            train::<B>(10, persistent),
            "persistent = {persistent}"
        );
    }
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    let _turn = one_at_a_time();
    check::<NdArray>();
    check::<Flex>();
}
