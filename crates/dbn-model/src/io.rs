//! Saving and loading modules ([`save_module`], [`load_module`] for every [`Persist`] module:
//! [`Rbm`], [`Dbn`], [`DbnClassifier`]): a Burn record (`NAME.mpk`, full precision, so a round trip is
//! bit-exact) beside its config as JSON (`NAME.json`). Each file is written whole under a
//! temporary name, flushed to disk and renamed into place ([`write_atomically`],
//! [`AtomicMpkRecorder`]), so an interrupted save or a full disk never leaves a truncated file
//! that loads; loading checks that the record's shapes are the config's, and lays the saved
//! config over [`Persist::defaults`], so a file saved before a setting existed still loads.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::config::{Config, config_to_json};
use burn::prelude::*;
use burn::record::{FileRecorder, FullPrecisionSettings, Recorder, RecorderError};
use serde::{Serialize, de::DeserializeOwned};

use crate::classifier::{DbnClassifier, DbnClassifierConfig};
use crate::dbn::{Dbn, DbnConfig};
use crate::error::ModelError;
use crate::rbm::{Rbm, RbmConfig};

/// File stem of a saved DBN in its folder: `dbn.json` and `dbn.mpk`.
pub const DBN_NAME: &str = "dbn";
/// File stem of a saved RBM in its folder: `rbm.json` and `rbm.mpk`.
pub const RBM_NAME: &str = "rbm";
/// File stem of a saved classifier in its folder: `classifier.json` and `classifier.mpk`.
pub const CLASSIFIER_NAME: &str = "classifier";

/// Writes `bytes` to `path` as a whole or not at all: into a hidden temporary file beside it,
/// flushed to disk, then renamed over `path`. A crash, a kill or a full disk at any moment leaves
/// either the old file or the new one, never a mix or a truncated file; the temporary file is
/// removed when writing fails.
///
/// # Errors
/// The first I/O error (creating, writing, flushing or renaming).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |name| name.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    written
}

/// Burn's named MessagePack record format (what `NamedMpkFileRecorder<FullPrecisionSettings>`
/// reads and writes), saved through [`write_atomically`]. Burn's own file recorders write in
/// place and drop their buffered writer without checking the final flush, so a kill or a full
/// disk can leave a truncated record; this one cannot. Usable wherever Burn takes a
/// [`FileRecorder`], burn-train's checkpointer included.
#[derive(Debug, Default, Clone, Copy)]
pub struct AtomicMpkRecorder;

impl<B: Backend> Recorder<B> for AtomicMpkRecorder {
    type Settings = FullPrecisionSettings;
    type RecordArgs = PathBuf;
    type RecordOutput = ();
    type LoadArgs = PathBuf;

    fn save_item<I: Serialize>(&self, item: I, mut file: PathBuf) -> Result<(), RecorderError> {
        file.set_extension(<Self as FileRecorder<B>>::file_extension());
        let bytes = rmp_serde::to_vec_named(&item)
            .map_err(|e| RecorderError::Unknown(format!("{}: {e}", file.display())))?;
        write_atomically(&file, &bytes)
            .map_err(|e| RecorderError::Unknown(format!("{}: {e}", file.display())))
    }

    fn load_item<I: DeserializeOwned>(&self, file: &mut PathBuf) -> Result<I, RecorderError> {
        file.set_extension(<Self as FileRecorder<B>>::file_extension());
        let bytes = std::fs::read(&*file)
            .map_err(|e| RecorderError::FileNotFound(format!("{}: {e}", file.display())))?;
        rmp_serde::from_slice(&bytes)
            .map_err(|e| RecorderError::DeserializeError(format!("{}: {e}", file.display())))
    }
}

impl<B: Backend> FileRecorder<B> for AtomicMpkRecorder {
    fn file_extension() -> &'static str {
        "mpk"
    }
}

fn io_error(path: &Path, reason: impl std::fmt::Display) -> ModelError {
    ModelError::Io {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// `dir/NAME.EXT`.
fn file(dir: &Path, name: &str, ext: &str) -> PathBuf {
    dir.join(format!("{name}.{ext}"))
}

/// Writes `config` and `module`'s record into `dir` under `name`, each atomically; the record
/// last, so a folder whose record exists holds a complete save.
fn save<B: Backend, M: Module<B>, C: Config>(
    module: &M,
    config: &C,
    dir: &Path,
    name: &str,
) -> Result<(), ModelError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| io_error(dir, format!("cannot create folder: {e}")))?;
    let json = file(dir, name, "json");
    write_atomically(&json, config_to_json(config).as_bytes())
        .map_err(|e| io_error(&json, format!("cannot write: {e}")))?;
    // The recorder names the file NAME.mpk and reports the path in its error.
    module
        .clone()
        .save_file(dir.join(name), &AtomicMpkRecorder)
        .map_err(|e| io_error(dir, format!("cannot save {name}.mpk: {e}")))
}

/// Why a JSON config could not be read over a base config ([`config_over`]).
#[derive(Debug)]
pub enum OverlayError {
    /// Not JSON, or a value of the wrong type for its setting: the dotted path of the part
    /// that was being read (`""` for the whole text) and the reason.
    Invalid {
        /// Dotted path of the part being read.
        at: String,
        /// Why it is invalid.
        why: String,
    },
    /// A setting the base config has no place for, by its dotted path (e.g. `finetune.lr`).
    UnknownSetting(String),
}

impl OverlayError {
    /// An [`OverlayError::Invalid`] of the whole text.
    fn invalid(why: impl std::fmt::Display) -> Self {
        Self::Invalid {
            at: String::new(),
            why: why.to_string(),
        }
    }

    /// The error of a config read at the dotted path `at` of a larger one: its paths start
    /// there.
    pub fn within(self, at: &str) -> Self {
        let joined = |path: String| match path.as_str() {
            "" => at.to_string(),
            _ => format!("{at}.{path}"),
        };
        match self {
            Self::Invalid { at: inner, why } => Self::Invalid {
                at: joined(inner),
                why,
            },
            Self::UnknownSetting(path) => Self::UnknownSetting(joined(path)),
        }
    }
}

impl std::fmt::Display for OverlayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid { at, why } if at.is_empty() => write!(f, "{why}"),
            Self::Invalid { at, why } => write!(f, "{at}: {why}"),
            Self::UnknownSetting(path) => write!(f, "unknown setting {path}"),
        }
    }
}

/// The JSON config `text` laid over `base`: a setting the text leaves out keeps `base`'s
/// value, so a file may hold only the settings it changes, or predate a setting added since.
/// Objects are laid key by key, each element of an array over `base`'s first element (so an
/// element gets the settings it leaves out), any other value replaced.
///
/// # Errors
/// [`OverlayError::UnknownSetting`] for a key `base` has no place for,
/// [`OverlayError::Invalid`] for text that is not JSON or a value of the wrong type.
pub fn config_over<C: Serialize + DeserializeOwned>(
    text: &str,
    base: &C,
) -> Result<C, OverlayError> {
    value_over(parse(text)?, base)
}

/// A [`DbnConfig`] in JSON `text` laid over `base` as [`config_over`] lays any config, except
/// that each element of `layer_cd` is laid over `cd` (as the text leaves it) rather than over
/// a default: one RBM's settings need name only what differs from the shared ones, e.g.
/// `{"cd": {"epochs": 50}, "layer_cd": [{}, {}, {"k": 5}]}`.
///
/// # Errors
/// As [`config_over`]; an error inside an element names it (`layer_cd.2.kk`).
pub fn dbn_config_over(text: &str, base: &DbnConfig) -> Result<DbnConfig, OverlayError> {
    let mut top = parse(text)?;
    let layer_cd = top
        .as_object_mut()
        .and_then(|fields| fields.remove("layer_cd"));
    let mut config = value_over(top, base)?;
    if let Some(layer_cd) = layer_cd {
        let serde_json::Value::Array(elements) = layer_cd else {
            return Err(OverlayError::invalid("expected an array").within("layer_cd"));
        };
        config.layer_cd = elements
            .into_iter()
            .enumerate()
            .map(|(i, element)| {
                value_over(element, &config.cd).map_err(|e| e.within(&format!("layer_cd.{i}")))
            })
            .collect::<Result<_, _>>()?;
    }
    Ok(config)
}

/// JSON `text` as a value.
fn parse(text: &str) -> Result<serde_json::Value, OverlayError> {
    serde_json::from_str(text).map_err(OverlayError::invalid)
}

/// The JSON value `top` laid over `base` (see [`config_over`]).
fn value_over<C: Serialize + DeserializeOwned>(
    top: serde_json::Value,
    base: &C,
) -> Result<C, OverlayError> {
    let mut config = serde_json::to_value(base).map_err(OverlayError::invalid)?;
    overlay_at(&mut config, top, "").map_err(OverlayError::UnknownSetting)?;
    serde_json::from_value(config).map_err(OverlayError::invalid)
}

/// Writes `top` over `base` (see [`config_over`]); the dotted path of the first key of `top`
/// that `base` has no place for otherwise. `at` is the path of `base` itself.
fn overlay_at(
    base: &mut serde_json::Value,
    top: serde_json::Value,
    at: &str,
) -> Result<(), String> {
    use serde_json::Value;
    let path = |key: &dyn std::fmt::Display| match at {
        "" => key.to_string(),
        _ => format!("{at}.{key}"),
    };
    match (base, top) {
        (Value::Object(base), Value::Object(top)) => {
            for (key, value) in top {
                let slot = base.get_mut(&key).ok_or_else(|| path(&key))?;
                overlay_at(slot, value, &path(&key))?;
            }
        }
        (Value::Array(base), Value::Array(top)) => {
            let template = base.first().cloned();
            *base = Vec::with_capacity(top.len());
            for (i, value) in top.into_iter().enumerate() {
                let mut element = template.clone().unwrap_or(Value::Null);
                overlay_at(&mut element, value, &path(&i))?;
                base.push(element);
            }
        }
        (base, top) => *base = top,
    }
    Ok(())
}

/// Reads `dir/NAME.json` over `M`'s defaults ([`Persist::config_over`]).
fn load_config<B: Backend, M: Persist<B>>(dir: &Path) -> Result<M::Config, ModelError> {
    let path = file(dir, M::NAME, "json");
    if !path.is_file() {
        return Err(io_error(&path, "not found"));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| io_error(&path, e))?;
    M::config_over(&text, &M::defaults())
        .map_err(|e| io_error(&path, format!("invalid config: {e}")))
}

/// Loads `dir/NAME.mpk` into `module`, whose shapes come from the config.
fn load_record<B: Backend, M: Module<B>>(
    module: M,
    dir: &Path,
    name: &str,
    device: &B::Device,
) -> Result<M, ModelError> {
    let path = file(dir, name, "mpk");
    if !path.is_file() {
        return Err(io_error(&path, "not found"));
    }
    module
        .load_file(dir.join(name), &AtomicMpkRecorder, device)
        .map_err(|e| io_error(&path, format!("cannot load: {e}")))
}

/// A module saved as a record beside its config, and rebuilt from them.
pub trait Persist<B: Backend>: Module<B> {
    /// Its configuration type.
    type Config: Config;
    /// File stem in the folder.
    const NAME: &'static str;
    /// A config of every setting's default, under a saved one: settings added since it was
    /// saved take these values. Array fields hold one element, the default of each element.
    fn defaults() -> Self::Config;
    /// The config in JSON `text` over `base`: [`config_over`], unless the config has a rule of
    /// its own.
    ///
    /// # Errors
    /// An [`OverlayError`].
    fn config_over(text: &str, base: &Self::Config) -> Result<Self::Config, OverlayError> {
        config_over(text, base)
    }
    /// A module of the config's shapes, for the record to be loaded into.
    ///
    /// # Errors
    /// For an invalid config.
    fn from_config(config: &Self::Config, device: &B::Device) -> Result<Self, ModelError>;
    /// The layer sizes this module has, to compare with its config's.
    fn sizes(&self) -> Vec<usize>;
    /// The layer sizes the config describes.
    fn config_sizes(config: &Self::Config) -> Vec<usize>;
}

impl<B: Backend> Persist<B> for Rbm<B> {
    type Config = RbmConfig;
    const NAME: &'static str = RBM_NAME;
    fn defaults() -> RbmConfig {
        RbmConfig::new(0, 0)
    }
    fn from_config(config: &RbmConfig, device: &B::Device) -> Result<Self, ModelError> {
        config.validate()?;
        Ok(config.init(device))
    }
    fn sizes(&self) -> Vec<usize> {
        vec![self.n_visible(), self.n_hidden()]
    }
    fn config_sizes(config: &RbmConfig) -> Vec<usize> {
        vec![config.n_visible, config.n_hidden]
    }
}

impl<B: Backend> Persist<B> for Dbn<B> {
    type Config = DbnConfig;
    const NAME: &'static str = DBN_NAME;
    fn defaults() -> DbnConfig {
        DbnConfig::new(Vec::new())
    }
    fn config_over(text: &str, base: &DbnConfig) -> Result<DbnConfig, OverlayError> {
        dbn_config_over(text, base)
    }
    fn from_config(config: &DbnConfig, device: &B::Device) -> Result<Self, ModelError> {
        config.init(device)
    }
    fn sizes(&self) -> Vec<usize> {
        self.layer_sizes()
    }
    fn config_sizes(config: &DbnConfig) -> Vec<usize> {
        config.layers.clone()
    }
}

impl<B: Backend> Persist<B> for DbnClassifier<B> {
    type Config = DbnClassifierConfig;
    const NAME: &'static str = CLASSIFIER_NAME;
    fn defaults() -> DbnClassifierConfig {
        DbnClassifierConfig::new(Vec::new())
    }
    fn from_config(config: &DbnClassifierConfig, device: &B::Device) -> Result<Self, ModelError> {
        config.init(device)
    }
    fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![self.encoder.layers[0].weight.dims()[0]];
        sizes.extend(self.encoder.layers.iter().map(|l| l.weight.dims()[1]));
        sizes.push(self.n_outputs());
        sizes
    }
    fn config_sizes(config: &DbnClassifierConfig) -> Vec<usize> {
        let mut sizes = config.layers.clone();
        sizes.push(config.n_outputs);
        sizes
    }
}

/// Saves `module` and its `config` into `dir` (`NAME.json`, `NAME.mpk`).
///
/// # Errors
/// [`ModelError::Io`] naming the file that cannot be written.
pub fn save_module<B: Backend, M: Persist<B>>(
    module: &M,
    config: &M::Config,
    dir: &Path,
) -> Result<(), ModelError> {
    save(module, config, dir, M::NAME)
}

/// Loads a module saved by [`save_module`], with its config.
///
/// # Errors
/// [`ModelError::Io`] naming a missing or invalid file, or a record whose sizes are not the
/// config's.
pub fn load_module<B: Backend, M: Persist<B>>(
    dir: &Path,
    device: &B::Device,
) -> Result<(M, M::Config), ModelError> {
    let config = load_config::<B, M>(dir)?;
    let module = load_record(M::from_config(&config, device)?, dir, M::NAME, device)?;
    let (sizes, expected) = (module.sizes(), M::config_sizes(&config));
    if sizes != expected {
        let path = file(dir, M::NAME, "mpk");
        let reason = format!("holds layers {sizes:?}, its config says {expected:?}");
        return Err(io_error(&path, reason));
    }
    Ok((module, config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cd::CdConfig;
    use crate::rbm::VisibleUnits;
    use crate::rbm::tests::B;

    fn values<M: Module<B>>(module: &M) -> Vec<Vec<f32>> {
        struct Collect(Vec<Vec<f32>>);
        impl burn::module::ModuleVisitor<B> for Collect {
            fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
                self.0.push(param.val().into_data().to_vec().unwrap());
            }
        }
        let mut collect = Collect(Vec::new());
        module.visit(&mut collect);
        collect.0
    }

    #[test]
    fn a_dbn_round_trip_is_bit_exact() {
        let dir = tempfile::tempdir().unwrap();
        let device = Default::default();
        let config = DbnConfig::new(vec![7, 5, 3])
            .with_visible(VisibleUnits::Gaussian)
            .with_init_std(0.3);
        let dbn = config.init::<B>(&device).unwrap();
        save_module(&dbn, &config, dir.path()).unwrap();
        let (loaded, loaded_config) = load_module::<B, Dbn<B>>(dir.path(), &device).unwrap();
        assert_eq!(values(&loaded), values(&dbn));
        assert_eq!(loaded_config.layers, config.layers);
        assert_eq!(loaded.rbms[0].visible, VisibleUnits::Gaussian);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names.len(),
            2,
            "only dbn.json and dbn.mpk remain: {names:?}"
        );
    }

    #[test]
    fn each_rbm_s_settings_are_read_over_the_shared_ones() {
        let base = DbnConfig::new(vec![7, 5, 3, 2]);
        let text = r#"{"cd": {"k": 3}, "layer_cd": [{"epochs": 5}, {}, {"persistent": true}]}"#;
        let config = dbn_config_over(text, &base).unwrap();
        assert_eq!(config.cd.k, 3);
        let epochs: Vec<usize> = config.layer_cd.iter().map(|cd| cd.epochs).collect();
        assert_eq!(epochs, [5, base.cd.epochs, base.cd.epochs]);
        assert!(config.layer_cd.iter().all(|cd| cd.k == 3));
        assert!(config.layer_cd[2].persistent && !config.layer_cd[0].persistent);
        // Errors name the element.
        let err = dbn_config_over(r#"{"layer_cd": [{}, {"kk": 2}]}"#, &base).unwrap_err();
        assert_eq!(err.to_string(), "unknown setting layer_cd.1.kk");
        let err = dbn_config_over(r#"{"layer_cd": [{"k": "two"}]}"#, &base).unwrap_err();
        assert!(
            err.to_string().starts_with("layer_cd.0: invalid type"),
            "{err}"
        );
        let err = dbn_config_over(r#"{"layer_cd": 3}"#, &base).unwrap_err();
        assert_eq!(err.to_string(), "layer_cd: expected an array");
        // A saved stack's config is read by the same rule.
        let dir = tempfile::tempdir().unwrap();
        let device = Default::default();
        let dbn = base.init::<B>(&device).unwrap();
        save_module(&dbn, &base, dir.path()).unwrap();
        let mut json = serde_json::to_value(&base).unwrap();
        json["cd"]["k"] = 4.into();
        json["layer_cd"] = serde_json::json!([{}, {"epochs": 1}, {}]);
        std::fs::write(dir.path().join("dbn.json"), json.to_string()).unwrap();
        let (_, loaded) = load_module::<B, Dbn<B>>(dir.path(), &device).unwrap();
        assert!(loaded.layer_cd.iter().all(|cd| cd.k == 4));
        assert_eq!(loaded.layer_cd[1].epochs, 1);
    }

    #[test]
    fn a_config_saved_before_a_setting_existed_loads_with_its_default() {
        let dir = tempfile::tempdir().unwrap();
        let device = Default::default();
        let cd = CdConfig::new().with_k(3).with_lr_decay(0.5);
        let config = DbnConfig::new(vec![7, 5, 3])
            .with_cd(cd.clone())
            .with_layer_cd(vec![cd.clone(), cd]);
        let dbn = config.init::<B>(&device).unwrap();
        save_module(&dbn, &config, dir.path()).unwrap();
        // Remove a setting everywhere, as a file from before it existed lacks it.
        let path = dir.path().join("dbn.json");
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        json["cd"].as_object_mut().unwrap().remove("lr_decay");
        for layer in json["layer_cd"].as_array_mut().unwrap() {
            layer.as_object_mut().unwrap().remove("lr_decay");
        }
        std::fs::write(&path, json.to_string()).unwrap();
        let (_, loaded) = load_module::<B, Dbn<B>>(dir.path(), &device).unwrap();
        assert_eq!(loaded.cd.lr_decay, 1.0);
        assert_eq!(loaded.cd.k, 3, "the saved settings win");
        assert_eq!(loaded.layer_cd.len(), 2);
        assert!(
            loaded
                .layer_cd
                .iter()
                .all(|cd| cd.lr_decay == 1.0 && cd.k == 3)
        );
        // A setting no version has is an error naming it, not silently dropped.
        json["cd"]["learning_rat"] = 0.1.into();
        std::fs::write(&path, json.to_string()).unwrap();
        let err = load_module::<B, Dbn<B>>(dir.path(), &device).unwrap_err();
        assert!(
            err.to_string().contains("unknown setting cd.learning_rat"),
            "{err}"
        );
    }

    #[test]
    fn an_rbm_round_trip_is_bit_exact() {
        let dir = tempfile::tempdir().unwrap();
        let device = Default::default();
        let config = RbmConfig::new(9, 4).with_visible(VisibleUnits::Gaussian);
        let rbm = config.init::<B>(&device);
        save_module(&rbm, &config, dir.path()).unwrap();
        let (loaded, _) = load_module::<B, Rbm<B>>(dir.path(), &device).unwrap();
        assert_eq!(values(&loaded), values(&rbm));
        assert_eq!(loaded.visible, VisibleUnits::Gaussian);
    }

    #[test]
    fn a_classifier_round_trip_is_bit_exact() {
        let dir = tempfile::tempdir().unwrap();
        let device = Default::default();
        let config = DbnClassifierConfig::new(vec![6, 4, 3]).with_n_outputs(5);
        let net = config.init::<B>(&device).unwrap();
        save_module(&net, &config, dir.path()).unwrap();
        let (loaded, _) = load_module::<B, DbnClassifier<B>>(dir.path(), &device).unwrap();
        assert_eq!(values(&loaded), values(&net));
    }

    #[test]
    fn a_record_of_other_sizes_is_an_error_not_a_silent_load() {
        let dir = tempfile::tempdir().unwrap();
        let device = Default::default();
        let small = DbnConfig::new(vec![7, 5]);
        save_module(&small.init::<B>(&device).unwrap(), &small, dir.path()).unwrap();
        // A config claiming other sizes beside that record.
        DbnConfig::new(vec![7, 6])
            .save(dir.path().join("dbn.json"))
            .unwrap();
        let err = load_module::<B, Dbn<B>>(dir.path(), &device).unwrap_err();
        assert!(err.to_string().contains("dbn.mpk"), "{err}");
        let err = load_module::<B, Dbn<B>>(&dir.path().join("nothing"), &device).unwrap_err();
        assert!(err.to_string().contains("dbn.json: not found"), "{err}");
    }
}
