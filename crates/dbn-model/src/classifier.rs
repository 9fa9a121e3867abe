//! The pretrained stack as a feed-forward net: [`DbnEncoder`] (sigmoid layers from the RBMs'
//! weights and hidden biases) and [`DbnClassifier`] (the encoder plus an output layer), both
//! plain Burn modules whose every parameter trains on an autodiff backend.
//!
//! ```text
//! encoder:     h(l) = σ(b_l + W_lᵀ h(l-1)),  l = 1..L         (Linear weight = W_l, bias = b_l)
//! classifier:  logits = W_out h(L) + b_out
//!              softmax over classes, or one sigmoid unit for binary targets
//! ```
//!
//! In training (on an autodiff backend) the classifier can drop out input and hidden units
//! (Srivastava et al. 2014: each unit zeroed with probability p, the rest scaled by 1/(1-p));
//! inference uses every unit.
//!
//! [`DbnClassifierConfig::init`] builds the same architecture from random initialisation, the
//! baseline a pretrained net must always be compared with.

use burn::module::{Initializer, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::check::Range;
use crate::dbn::Dbn;
use crate::error::ModelError;
use crate::kernels::{self, affine, sigmoid};
use crate::numerics::softplus;

/// Bottom-up sigmoid layers, the feature extractor of a DBN, for use inside any Burn model.
#[derive(Module, Debug)]
pub struct DbnEncoder<B: Backend> {
    /// One `Linear` per RBM, bottom first: weight `[n_in, n_out]` = the RBM's `W`, bias = its
    /// hidden bias.
    pub layers: Vec<Linear<B>>,
}

impl<B: Backend> DbnEncoder<B> {
    /// An encoder holding copies of `dbn`'s weights and hidden biases on `device` (of any
    /// backend: a DBN pretrained without autodiff gives trainable parameters on an autodiff
    /// backend).
    pub fn from_dbn<B2: Backend>(dbn: &Dbn<B2>, device: &B::Device) -> Self {
        let layers = dbn
            .rbms
            .iter()
            .map(|rbm| Linear {
                // Label units (the top RBM's, if any) are not inputs of the network.
                weight: Param::from_data(
                    rbm.weights
                        .val()
                        .slice_dim(0, 0..rbm.n_features())
                        .into_data(),
                    device,
                ),
                bias: Some(Param::from_data(rbm.hidden_bias.val().into_data(), device)),
            })
            .collect();
        Self { layers }
    }

    /// Features of the top layer: `σ(b + Wᵀx)` through every layer.
    ///
    /// # Shapes
    /// x `[batch, n_visible]` -> `[batch, n_top]`
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.forward_dropout(x, &DropoutConfig::new(0.0).init())
    }

    /// Features of hidden layer `layer` (from 1): `σ(b + Wᵀx)` through the first `layer`
    /// layers.
    ///
    /// # Shapes
    /// x `[batch, n_visible]` -> `[batch, sizes[layer]]` ([`layer_sizes`](Self::layer_sizes))
    ///
    /// # Panics
    /// When `layer` is above the top.
    pub fn features(&self, x: Tensor<B, 2>, layer: usize) -> Tensor<B, 2> {
        assert!(layer <= self.layers.len(), "layer {layer} above the top");
        self.layers[..layer]
            .iter()
            .fold(x, |h, layer| sigmoid(apply(layer, h)))
    }

    /// Layer sizes from the input up: `[n_visible, n_hidden1, ...]`.
    pub fn layer_sizes(&self) -> Vec<usize> {
        let inputs = self.layers.first().map(|l| l.weight.dims()[0]);
        inputs
            .into_iter()
            .chain(self.layers.iter().map(|l| l.weight.dims()[1]))
            .collect()
    }

    /// [`forward`](Self::forward) with `dropout`'s rate applied to every layer's output
    /// ([`kernels::dropout`]: in training only; without autodiff, or with probability 0, the
    /// input passes through).
    ///
    /// # Shapes
    /// x `[batch, n_visible]` -> `[batch, n_top]`
    pub fn forward_dropout(&self, x: Tensor<B, 2>, dropout: &Dropout) -> Tensor<B, 2> {
        self.layers.iter().fold(x, |h, layer| {
            kernels::dropout(sigmoid(apply(layer, h)), dropout.prob)
        })
    }
}

/// Configuration of a [`DbnClassifier`].
#[derive(Config, Debug)]
pub struct DbnClassifierConfig {
    /// Layer sizes of the encoder from the input up, e.g. `[784, 500, 500, 2000]`.
    pub layers: Vec<usize>,
    /// Output units: the number of classes for a softmax head, or 1 for a single sigmoid unit
    /// (binary targets 0/1).
    #[config(default = 10)]
    pub n_outputs: usize,
    /// Probability of dropping each input unit in training, in [0, 1).
    #[config(default = 0.0)]
    pub input_dropout: f64,
    /// Probability of dropping each hidden unit in training, in [0, 1).
    #[config(default = 0.0)]
    pub dropout: f64,
}

impl DbnClassifierConfig {
    /// Checks the sizes.
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`] naming `layers` or `n_outputs`.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.layers.len() < 2 || self.layers.contains(&0) {
            return Err(ModelError::invalid(
                "layers",
                format!("{:?}", self.layers),
                "at least an input and one hidden size, none zero",
            ));
        }
        if self.n_outputs == 0 {
            return Err(ModelError::invalid(
                "n_outputs",
                0,
                "1 for a sigmoid unit, or the number of classes",
            ));
        }
        Range::Fraction.check("input_dropout", self.input_dropout)?;
        Range::Fraction.check("dropout", self.dropout)
    }

    /// The dropout modules: (input, hidden).
    fn dropouts(&self) -> (Dropout, Dropout) {
        (
            DropoutConfig::new(self.input_dropout).init(),
            DropoutConfig::new(self.dropout).init(),
        )
    }

    /// The architecture from random initialisation (Xavier-uniform weights and biases, with
    /// [`SIGMOID_GAIN`] for the sigmoid layers): the baseline for a pretrained net.
    ///
    /// # Errors
    /// As [`DbnClassifierConfig::validate`].
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<DbnClassifier<B>, ModelError> {
        self.validate()?;
        let layers = self
            .layers
            .windows(2)
            .map(|pair| linear(pair[0], pair[1], SIGMOID_GAIN, device))
            .collect();
        let (input_dropout, dropout) = self.dropouts();
        Ok(DbnClassifier {
            encoder: DbnEncoder { layers },
            output: self.output_layer(device),
            input_dropout,
            dropout,
        })
    }

    /// The encoder copied from a pretrained `dbn` (whose layer sizes must be `layers`), and a
    /// randomly initialised output layer.
    ///
    /// # Errors
    /// As [`DbnClassifierConfig::validate`], and [`ModelError::InvalidConfig`] when the DBN's
    /// layer sizes differ from `layers`.
    pub fn pretrained<B: Backend, B2: Backend>(
        &self,
        dbn: &Dbn<B2>,
        device: &B::Device,
    ) -> Result<DbnClassifier<B>, ModelError> {
        self.validate()?;
        if dbn.layer_sizes() != self.layers {
            return Err(ModelError::invalid(
                "layers",
                format!("{:?}", self.layers),
                "the pretrained DBN has other layer sizes",
            ));
        }
        let (input_dropout, dropout) = self.dropouts();
        Ok(DbnClassifier {
            encoder: DbnEncoder::from_dbn(dbn, device),
            output: self.output_layer(device),
            input_dropout,
            dropout,
        })
    }

    fn output_layer<B: Backend>(&self, device: &B::Device) -> Linear<B> {
        let top = *self.layers.last().expect("validated: at least two sizes");
        linear(top, self.n_outputs, 1.0, device)
    }
}

/// Xavier-uniform gain of a sigmoid layer: Glorot & Bengio (2010) derive their range for tanh
/// and recommend 4 times it for the logistic sigmoid, whose slope at 0 is a quarter of tanh's
/// (as the Theano deep-learning tutorials' MLP does). With gain 1, the random-init
/// 784-500-500-2000 baseline sat on the ln 10 loss plateau for every learning rate tried.
pub const SIGMOID_GAIN: f64 = 4.0;

/// `layer.forward(x)`, through [`affine`] (fused kernels on `Flex`) when it has a bias.
///
/// # Shapes
/// x `[batch, n_in]` -> `[batch, n_out]`
fn apply<B: Backend>(layer: &Linear<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    match &layer.bias {
        Some(bias) => affine(x, layer.weight.val(), bias.val()),
        None => layer.forward(x),
    }
}

/// A `Linear` layer with Xavier-uniform weights and biases scaled by `gain`, drawn now: Burn
/// initialises parameters lazily, and a clone of a lazy parameter draws its own values (a model
/// saved before its first use would not be the model used).
fn linear<B: Backend>(n_in: usize, n_out: usize, gain: f64, device: &B::Device) -> Linear<B> {
    let lazy = LinearConfig::new(n_in, n_out)
        .with_initializer(Initializer::XavierUniform { gain })
        .init(device);
    Linear {
        weight: Param::from_tensor(lazy.weight.val()),
        bias: lazy.bias.map(|b| Param::from_tensor(b.val())),
    }
}

/// A feed-forward classifier: a [`DbnEncoder`] and an output layer.
#[derive(Module, Debug)]
pub struct DbnClassifier<B: Backend> {
    /// The sigmoid layers.
    pub encoder: DbnEncoder<B>,
    /// The output layer, `[n_top, n_outputs]`.
    pub output: Linear<B>,
    /// Dropout of the input units (training only).
    pub input_dropout: Dropout,
    /// Dropout of every hidden layer's units (training only).
    pub dropout: Dropout,
}

impl<B: Backend> DbnClassifier<B> {
    /// Output logits (pre-activations), with dropout in training.
    ///
    /// # Shapes
    /// x `[batch, n_visible]` -> `[batch, n_outputs]`
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let x = kernels::dropout(x, self.input_dropout.prob);
        apply(&self.output, self.encoder.forward_dropout(x, &self.dropout))
    }

    /// Number of input units: features per example.
    pub fn n_inputs(&self) -> usize {
        self.encoder.layers[0].weight.dims()[0]
    }

    /// Number of output units.
    pub fn n_outputs(&self) -> usize {
        self.output.weight.dims()[1]
    }

    /// Output probabilities: softmax over classes, or the sigmoid of a single unit
    /// (P(target = 1)).
    ///
    /// # Shapes
    /// logits `[batch, n_outputs]` -> `[batch, n_outputs]`
    pub fn probabilities(&self, logits: Tensor<B, 2>) -> Tensor<B, 2> {
        match self.n_outputs() {
            1 => sigmoid(logits),
            _ => softmax(logits, 1),
        }
    }

    /// Mean loss: cross-entropy of the softmax, or binary cross-entropy of the sigmoid unit
    /// (`softplus(z) - y·z`, stable).
    ///
    /// # Shapes
    /// logits `[batch, n_outputs]`, targets `[batch]` (class indices, or 0/1) -> `[1]`
    pub fn loss(&self, logits: Tensor<B, 2>, targets: Tensor<B, 1, Int>) -> Tensor<B, 1> {
        self.weighted_loss(logits, targets, None)
    }

    /// [`DbnClassifier::loss`] with each example weighted by its class's `class_weights`
    /// entry (one per class; two, for classes 0 and 1, for a sigmoid unit): the weighted mean
    /// `Σ w_y·loss / Σ w_y`, as PyTorch's `CrossEntropyLoss(weight=...)`; `None` weighs every
    /// example alike. Weights above 1 for the rarer classes make their errors cost more, so
    /// that a net on data of unequal classes does not learn to answer the commonest.
    ///
    /// # Shapes
    /// logits `[batch, n_outputs]`, targets `[batch]`, class_weights `[classes]` -> `[1]`
    ///
    /// # Panics
    /// When `class_weights` holds fewer weights than classes (two for a sigmoid unit), or a
    /// weight that is not finite and above 0.
    pub fn weighted_loss(
        &self,
        logits: Tensor<B, 2>,
        targets: Tensor<B, 1, Int>,
        class_weights: Option<&[f32]>,
    ) -> Tensor<B, 1> {
        if let Some(weights) = class_weights {
            let classes = self.n_outputs().max(2);
            assert!(
                weights.len() >= classes,
                "{} class weights for {classes} classes",
                weights.len()
            );
            assert!(
                weights.iter().all(|w| w.is_finite() && *w > 0.0),
                "class weights must be finite and above 0: {weights:?}"
            );
        }
        let device = logits.device();
        match self.n_outputs() {
            1 => {
                let z = logits.squeeze_dim::<1>(1); // [batch]
                let losses = softplus(z.clone()) - z * targets.clone().float();
                match class_weights {
                    None => losses.mean(),
                    Some(weights) => {
                        let weights = TensorData::new(weights.to_vec(), [weights.len()]);
                        let w = Tensor::<B, 1>::from_data(weights, &device).select(0, targets);
                        (losses * w.clone()).sum() / w.sum()
                    }
                }
            }
            _ => CrossEntropyLossConfig::new()
                .with_weights(class_weights.map(<[f32]>::to_vec))
                .init(&device)
                .forward(logits, targets),
        }
    }

    /// Predicted classes: the arg-max of the logits, or `logit > 0` for a sigmoid unit.
    ///
    /// # Shapes
    /// logits `[batch, n_outputs]` -> `[batch]`
    pub fn predict(&self, logits: Tensor<B, 2>) -> Tensor<B, 1, Int> {
        match self.n_outputs() {
            1 => logits.greater_elem(0.0).int().squeeze_dim(1),
            _ => logits.argmax(1).squeeze_dim(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Generative;
    use crate::numerics::to_f64;
    use crate::test_support::assert_close;
    use crate::test_support::tutorial_dbn;
    use burn::backend::{Autodiff, NdArray};
    use burn::module::AutodiffModule;
    use burn::optim::{GradientsParams, Optimizer, SgdConfig};

    type AB = Autodiff<NdArray>;

    /// A 4-3 net of `outputs` outputs from random initialisation: what the loss and the
    /// predictions are tested on.
    fn head(outputs: usize) -> DbnClassifier<NdArray> {
        DbnClassifierConfig::new(vec![4, 3])
            .with_n_outputs(outputs)
            .init::<NdArray>(&Default::default())
            .unwrap()
    }

    #[test]
    #[should_panic(expected = "2 class weights for 3 classes")]
    fn too_few_class_weights_are_refused() {
        let device = Default::default();
        let net = head(3);
        let logits = Tensor::<NdArray, 2>::zeros([1, 3], &device);
        net.weighted_loss(logits, Tensor::from_ints([2], &device), Some(&[1.0, 1.0]));
    }

    #[test]
    fn one_optimiser_step_moves_every_parameter_of_a_pretrained_classifier() {
        let device = Default::default();
        let dbn = tutorial_dbn(); // pretrained-style weights on the plain backend
        let net = DbnClassifierConfig::new(vec![4, 3, 2])
            .with_n_outputs(3)
            .pretrained::<AB, NdArray>(&dbn, &device)
            .unwrap();
        let before = net.clone().valid();
        let x = Tensor::<AB, 2>::from_floats([[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]], &device);
        let logits = net.forward(x);
        let loss = net.loss(logits, Tensor::from_ints([2, 0], &device));
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        let mut optimizer = SgdConfig::new().init();
        let after = optimizer.step(0.5, net, grads).valid();
        let pairs = [
            (
                before.encoder.layers[0].weight.val(),
                after.encoder.layers[0].weight.val(),
            ),
            (
                before.encoder.layers[1].weight.val(),
                after.encoder.layers[1].weight.val(),
            ),
            (before.output.weight.val(), after.output.weight.val()),
        ];
        for (i, (b, a)) in pairs.into_iter().enumerate() {
            assert!(
                to_f64((a - b).abs().max()).iter().all(|&d| d > 0.0),
                "weight {i} frozen"
            );
        }
        for i in 0..2 {
            let b = before.encoder.layers[i].bias.as_ref().unwrap().val();
            let a = after.encoder.layers[i].bias.as_ref().unwrap().val();
            assert!(to_f64((a - b).abs().max())[0] > 0.0, "bias {i} frozen");
        }
        let b = before.output.bias.as_ref().unwrap().val();
        let a = after.output.bias.as_ref().unwrap().val();
        assert!(to_f64((a - b).abs().max())[0] > 0.0, "output bias frozen");
    }

    #[test]
    fn the_encoder_computes_the_dbn_up_pass() {
        let device = Default::default();
        let dbn = tutorial_dbn();
        let encoder = DbnEncoder::<NdArray>::from_dbn(&dbn, &device);
        let v = Tensor::<NdArray, 2>::from_floats(
            [[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 1.0, 0.0]],
            &device,
        );
        assert_close(
            &to_f64(encoder.forward(v.clone())),
            &to_f64(dbn.encode(v.clone())),
            1e-7,
        );
        // Each layer's features are the stack's at that layer, and the top's are `forward`'s.
        let sizes = encoder.layer_sizes();
        assert_eq!(sizes, dbn.layer_sizes());
        for layer in 0..sizes.len() {
            assert_close(
                &to_f64(encoder.features(v.clone(), layer)),
                &to_f64(Generative::features(&dbn, v.clone(), layer)),
                1e-7,
            );
        }
    }

    #[test]
    fn random_and_pretrained_classifiers_share_the_architecture() {
        let device = Default::default();
        let config = DbnClassifierConfig::new(vec![4, 3, 2]).with_n_outputs(10);
        let random = config.init::<NdArray>(&device).unwrap();
        let pretrained = config
            .pretrained::<NdArray, NdArray>(&tutorial_dbn(), &device)
            .unwrap();
        assert_eq!(random.num_params(), pretrained.num_params());
        assert_eq!(random.num_params(), 4 * 3 + 3 + 3 * 2 + 2 + 2 * 10 + 10);
        let x = Tensor::<NdArray, 2>::zeros([5, 4], &device);
        let probs = random.probabilities(random.forward(x));
        assert_close(&to_f64(probs.sum_dim(1)), &[1.0; 5], 1e-6);
        let err = DbnClassifierConfig::new(vec![4, 5, 2])
            .pretrained::<NdArray, NdArray>(&tutorial_dbn(), &device)
            .unwrap_err();
        assert!(err.to_string().contains("other layer sizes"), "{err}");
    }

    #[test]
    fn dropout_acts_in_training_only_and_keeps_the_expected_activation() {
        let device = Default::default();
        let config = DbnClassifierConfig::new(vec![50, 40])
            .with_n_outputs(3)
            .with_input_dropout(0.2)
            .with_dropout(0.5);
        AB::seed(&device, 5);
        let net = config.init::<AB>(&device).unwrap();
        let x = Tensor::<AB, 2>::ones([200, 50], &device);
        // Inference (no autodiff): every unit, so the same as the net without dropout.
        let plain = net.valid().encoder.forward(x.clone().inner());
        let inferred = net
            .valid()
            .encoder
            .forward_dropout(x.clone().inner(), &net.dropout);
        assert_eq!(to_f64(plain.clone()), to_f64(inferred));
        // Training: about half the hidden units are zero, the rest doubled, so the mean holds.
        let trained = net.encoder.forward_dropout(x.clone(), &net.dropout).inner();
        let values = to_f64(trained);
        let zeros = values.iter().filter(|&&v| v == 0.0).count() as f64 / values.len() as f64;
        assert!((zeros - 0.5).abs() < 0.03, "dropped share {zeros}");
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let expected = mean(&to_f64(plain));
        assert!(
            (mean(&values) - expected).abs() < 0.03 * expected,
            "{}",
            mean(&values)
        );
        // Two training passes draw different units; logits come out on every example.
        let a = to_f64(net.forward(x.clone()).inner());
        assert_ne!(a, to_f64(net.forward(x).inner()));
        for p in [1.0, -0.1, f64::NAN] {
            let err = config.clone().with_dropout(p).validate().unwrap_err();
            assert!(err.to_string().contains("dropout"), "{err}");
        }
    }

    fn classes(t: Tensor<NdArray, 1, Int>) -> Vec<i64> {
        t.into_data().convert::<i64>().to_vec().unwrap()
    }

    #[test]
    fn predictions_are_argmax_or_the_sign_of_the_logit() {
        let device = Default::default();
        let net = head(3);
        let logits =
            Tensor::<NdArray, 2>::from_floats([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5]], &device);
        assert_eq!(classes(net.predict(logits)), vec![1, 0]);
        let binary = head(1);
        let logits = Tensor::<NdArray, 2>::from_floats([[0.3], [-0.2]], &device);
        assert_eq!(classes(binary.predict(logits)), vec![1, 0]);
    }
}
