//! Reading a JSON config over a base config: a setting the JSON leaves out keeps the base's
//! value, so a file may hold only the settings it changes, or predate a setting added since;
//! a setting the base has no place for is an error naming it by its dotted path.

use serde::{Serialize, de::DeserializeOwned};

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
    pub(crate) fn invalid(why: impl std::fmt::Display) -> Self {
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

/// JSON `text` as a value.
pub(crate) fn parse(text: &str) -> Result<serde_json::Value, OverlayError> {
    serde_json::from_str(text).map_err(OverlayError::invalid)
}

/// The JSON value `top` laid over `base` (see [`config_over`]).
pub(crate) fn value_over<C: Serialize + DeserializeOwned>(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbm::{RbmConfig, VisibleUnits};

    #[test]
    fn the_text_changes_only_what_it_names() {
        let base = RbmConfig::new(4, 3).with_init_std(0.5);
        let config = config_over(r#"{"visible": "Gaussian"}"#, &base).unwrap();
        assert_eq!(config.visible, VisibleUnits::Gaussian);
        assert_eq!((config.n_visible, config.init_std), (4, 0.5));
        let err = config_over(r#"{"n_hiden": 2}"#, &base).unwrap_err();
        assert_eq!(err.to_string(), "unknown setting n_hiden");
        let err = config_over(r#"{"n_hidden": "two"}"#, &base).unwrap_err();
        assert!(err.to_string().starts_with("invalid type"), "{err}");
        assert!(config_over("{ not json", &base).is_err());
        let nested = OverlayError::UnknownSetting("k".into()).within("rbm.cd");
        assert_eq!(nested.to_string(), "unknown setting rbm.cd.k");
    }
}
