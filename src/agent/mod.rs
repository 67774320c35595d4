//! See DESIGN.md.
pub mod presets;
