//! Stochastic gradient descent with momentum, one fused pass per parameter, and the
//! exponential learning-rate decay used with it.
//!
//! The same update as Burn's `Sgd` with momentum and no dampening,
//!
//! ```text
//! v ← momentum · v + g + weight_decay · p
//! p ← p − learning_rate · v
//! ```
//!
//! but through [`dbn_model::kernels::momentum_update`], which on the `Flex` backend reads and
//! writes each parameter, velocity and gradient once (Burn's `Sgd` makes five passes with a new
//! tensor each). Other backends take the generic path, the same operations as Burn's.

use burn::lr_scheduler::LrScheduler;
use burn::module::AutodiffModule;
use burn::optim::LearningRate;
use burn::optim::SimpleOptimizer;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::prelude::*;
use burn::record::Record;
use burn::tensor::backend::AutodiffBackend;
use dbn_model::kernels::{MomentumStep, momentum_update};

/// SGD with momentum and L2 weight decay (see the [module docs](self)).
#[derive(Clone, Copy, Debug)]
pub struct FusedSgd {
    momentum: f64,
    weight_decay: f64,
}

/// The velocity of one parameter.
#[derive(Record, Clone)]
pub struct FusedSgdState<B: Backend, const D: usize> {
    /// `v`, shaped like the parameter.
    pub velocity: Tensor<B, D>,
}

impl FusedSgd {
    /// The optimiser; `momentum` 0 is plain SGD.
    pub fn new(momentum: f64, weight_decay: f64) -> Self {
        Self {
            momentum,
            weight_decay,
        }
    }

    /// As an optimiser of module `M` trained on `B`, for `Learner` and hand-written loops.
    pub fn init<B: AutodiffBackend, M: AutodiffModule<B>>(self) -> OptimizerAdaptor<Self, M, B> {
        OptimizerAdaptor::from(self)
    }
}

impl<B: Backend> SimpleOptimizer<B> for FusedSgd {
    type State<const D: usize> = FusedSgdState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let velocity = match state {
            Some(state) => state.velocity,
            None => tensor.zeros_like(),
        };
        let coefficients = MomentumStep::sgd(self.momentum, self.weight_decay, lr);
        let (tensor, velocity) = momentum_update(tensor, velocity, grad, coefficients);
        (tensor, Some(FusedSgdState { velocity }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        FusedSgdState {
            velocity: state.velocity.to_device(device),
        }
    }
}

/// Exponential decay of the learning rate, one factor per step: step `t` (from 1) uses
/// `learning_rate · gamma^(t−1)`. The same schedule as Burn's `ExponentialLrScheduler`, which
/// refuses (by panicking) initial rates above 1; SGD on a sigmoid net is often run above 1.
#[derive(Clone, Copy, Debug)]
pub struct ExponentialDecay {
    /// The rate of the previous step (before the first: `learning_rate / gamma`).
    previous: f64,
    gamma: f64,
}

impl ExponentialDecay {
    /// The schedule from `learning_rate`, multiplied by `gamma` at every step.
    pub fn new(learning_rate: f64, gamma: f64) -> Self {
        Self {
            previous: learning_rate / gamma,
            gamma,
        }
    }
}

impl LrScheduler for ExponentialDecay {
    /// The rate of the last step.
    type Record<B: Backend> = LearningRate;

    fn step(&mut self) -> LearningRate {
        self.previous *= self.gamma;
        self.previous
    }

    fn to_record<B: Backend>(&self) -> LearningRate {
        self.previous
    }

    fn load_record<B: Backend>(self, record: LearningRate) -> Self {
        Self {
            previous: record,
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::momentum::MomentumConfig;
    use burn::optim::{GradientsParams, Optimizer, SgdConfig, decay::WeightDecayConfig};

    type A = Autodiff<Flex>;

    /// Three steps of `optimizer` on a small linear layer and a fixed loss.
    fn train(mut optimizer: impl Optimizer<Linear<A>, A>) -> Vec<f32> {
        let _turn = crate::generator_turn();
        let device = Default::default();
        A::seed(&device, 9);
        let mut layer = LinearConfig::new(6, 3).init::<A>(&device);
        let x = Tensor::<A, 2>::random([4, 6], burn::tensor::Distribution::Default, &device);
        for _ in 0..3 {
            let loss = layer.forward(x.clone()).powi_scalar(2).sum();
            let grads = GradientsParams::from_grads(loss.backward(), &layer);
            layer = optimizer.step(0.05, layer, grads);
        }
        layer.weight.val().into_data().to_vec().unwrap()
    }

    #[test]
    fn it_takes_the_same_steps_as_burns_sgd() {
        for (momentum, decay) in [(0.9, 0.0), (0.5, 0.01), (0.0, 0.0)] {
            let ours = train(FusedSgd::new(momentum, decay).init());
            let burns = train(
                SgdConfig::new()
                    .with_momentum((momentum > 0.0).then(|| {
                        MomentumConfig::new()
                            .with_momentum(momentum)
                            .with_dampening(0.0)
                    }))
                    .with_weight_decay((decay > 0.0).then(|| WeightDecayConfig::new(decay as f32)))
                    .init(),
            );
            for (a, b) in ours.iter().zip(&burns) {
                assert!((a - b).abs() < 1e-5, "{ours:?} vs {burns:?}");
            }
            assert_ne!(ours, train(FusedSgd::new(momentum, decay + 0.5).init()));
        }
    }

    #[test]
    fn the_decay_schedule_is_burns_and_allows_rates_above_one() {
        use burn::lr_scheduler::exponential::ExponentialLrSchedulerConfig;
        let mut ours = ExponentialDecay::new(0.5, 0.9);
        let mut burns = ExponentialLrSchedulerConfig::new(0.5, 0.9).init().unwrap();
        for _ in 0..5 {
            assert_eq!(LrScheduler::step(&mut ours), LrScheduler::step(&mut burns));
        }
        let mut large = ExponentialDecay::new(8.0, 0.5);
        assert_eq!(LrScheduler::step(&mut large), 8.0);
        assert_eq!(LrScheduler::step(&mut large), 4.0);
        let record = LrScheduler::to_record::<A>(&large);
        let mut restored = ExponentialDecay::new(8.0, 0.5).load_record::<A>(record);
        assert_eq!(LrScheduler::step(&mut restored), 2.0);
    }
}
