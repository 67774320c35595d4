//! TEMPORARY STUB (replaced by dev-agent on merge).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum AgentSpec {
    Preset(String),
}
