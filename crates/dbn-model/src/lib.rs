//! Restricted Boltzmann machines and deep belief networks as Burn modules, trained by
//! contrastive divergence written as explicit tensor updates (no autodiff).
//!
//! The modules arrive with the RBM and DBN issues; this crate is the workspace's place for them.
