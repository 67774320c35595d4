//! The unchanged `aider` preset against the real Aider (`aider-chat`, pinned in
//! scripts/test.sh, installed into a Python virtualenv), offline: an OpenAI-compatible
//! provider (`OPENAI_API_BASE`) at the scripted model server, which answers Aider in its
//! `whole` edit format (`model_server.rs`, `Api::Chat`).
//!
//! The CLI comes from `CONFLUX_AIDER_BIN`, else the cache scripts/test.sh installs it into.

use crate::agent_cli::CliEnv;
use crate::model_server::Run;
use crate::test_claude::cached_bin;

#[test]
fn aider_ticks_a_change_offline_and_it_merges() {
    let bin = cached_bin("aider/bin/aider", "aider-chat", "CONFLUX_AIDER_BIN", "pip");
    let c = CliEnv::new("aider", &bin, vec![Run::all()]);
    // The model's metadata, and a fresh copy of the price list Aider would otherwise fetch
    // from GitHub at start.
    let metadata = c.env.path().join("aider-models.json");
    let model = serde_json::json!({"max_input_tokens": 200000, "max_output_tokens": 8192,
        "input_cost_per_token": 0.000003, "output_cost_per_token": 0.000015,
        "litellm_provider": "openai", "mode": "chat"});
    let prices = serde_json::json!({ "openai/scripted": model });
    std::fs::write(&metadata, prices.to_string()).unwrap();
    let caches = c.env.home.join(".aider/caches");
    std::fs::create_dir_all(&caches).unwrap();
    std::fs::write(
        caches.join("model_prices_and_context_window.json"),
        prices.to_string(),
    )
    .unwrap();
    // `--yes-always` would also say yes to showing the release notes in a browser and to
    // analytics, in a fresh HOME.
    let env = [
        ("OPENAI_API_BASE", format!("{}/v1", c.server.base_url())),
        ("OPENAI_API_KEY", "dummy-key-not-a-secret".to_owned()),
        ("AIDER_MODEL", "openai/scripted".to_owned()),
        ("AIDER_MODEL_METADATA_FILE", metadata.display().to_string()),
        ("LITELLM_LOCAL_MODEL_COST_MAP", "True".to_owned()),
    ];
    c.configure("aider", "", &env);
    c.env
        .add_change("add-x", &["1.1 Write it", "1.2 Test it"], &[], "");
    c.env.commit_all("change");
    let out = c.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    let st = c.env.state("add-x");
    assert_eq!(st["phase"], "done", "{st}");
    assert_eq!(c.server.runs("add-x"), 1, "{:?}", c.server.requests());
    // Every model call is 100 tokens in and 20 out, priced from the metadata above: Aider's
    // `Tokens: … Cost: …` report is the run's usage.
    let calls = c.server.requests().len() as u64;
    assert_eq!(
        (&st["tokens"]["input"], &st["tokens"]["output"]),
        (&(100 * calls).into(), &(20 * calls).into()),
        "{st}"
    );
    let cost = st["cost_usd"].as_f64().unwrap_or_default();
    assert!((cost - 0.0006 * calls as f64).abs() < 1e-9, "{st}");
    let log = c.decoded_log("add-x");
    assert!(
        log.contains("Applied edit to openspec/changes/add-x/tasks.md"),
        "{log}"
    );
    assert!(
        log.contains("Completed 2 task(s) of change add-x; 0 remain open."),
        "{log}"
    );
    c.assert_merges(&["add-x"]);
    // Aider's own files (chat history, repo-map cache, a `.aider*` line in .gitignore) never
    // reach the merged branch.
    let files = c.env.git(&["ls-files"]);
    assert!(
        !files.contains(".aider") && !files.contains(".gitignore"),
        "{files}"
    );
    c.assert_no_process_left();
}
