//! docs/brian2-guide.md is current: every `.model` it shows (the code
//! blocks marked `model`) runs with `rheo run` and writes an archive for
//! each of its monitors, and the README and the tutorial point to it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The text of every code block whose info string is `model`.
fn model_blocks(doc: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = doc;
    while let Some(start) = rest.find("```model\n") {
        let body = &rest[start + "```model\n".len()..];
        let end = body.find("```").expect("a model block is closed");
        blocks.push(body[..end].to_string());
        rest = &body[end + 3..];
    }
    blocks
}

/// The monitor names a model declares (the second word of each monitor
/// declaration, before its parenthesis).
fn monitors(model: &str) -> Vec<String> {
    model
        .lines()
        .filter_map(|line| {
            let (kind, rest) = line.split_once(' ')?;
            matches!(
                kind,
                "SpikeMonitor" | "StateMonitor" | "PopulationRateMonitor"
            )
            .then(|| rest.split('(').next().unwrap_or("").trim().to_string())
        })
        .collect()
}

#[test]
fn every_model_of_the_brian2_guide_runs() {
    let doc =
        std::fs::read_to_string(root().join("docs/brian2-guide.md")).expect("docs/brian2-guide.md");
    let blocks = model_blocks(&doc);
    assert!(blocks.len() >= 5, "the guide shows {} models", blocks.len());
    let dir = std::env::temp_dir().join(format!("rheo-guide-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (k, model) in blocks.iter().enumerate() {
        let path = dir.join(format!("guide{k}.model"));
        std::fs::write(&path, model).expect("write the model");
        let out = dir.join(format!("out{k}"));
        let output = Command::new(env!("CARGO_BIN_EXE_rheo"))
            .arg("run")
            .arg(&path)
            .arg("--out")
            .arg(&out)
            .arg("--quiet")
            .output()
            .expect("rheo runs");
        assert!(
            output.status.success(),
            "model {k} of the guide:\n{model}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let names = monitors(model);
        assert!(!names.is_empty(), "model {k} records something");
        for name in names {
            assert!(
                out.join(format!("{name}.npz")).is_file(),
                "model {k}: {name}.npz"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_readme_and_the_tutorial_link_the_guide() {
    for file in ["README.md", "docs/tutorial.md"] {
        let text = std::fs::read_to_string(root().join(file)).expect("readable");
        assert!(text.contains("brian2-guide.md"), "{file} links the guide");
    }
}

/// docs/output-format.md names every key `rheo run` writes into run.json
/// and every array of each kind of archive.
#[test]
fn the_output_format_names_every_key_of_run_json() {
    let doc = std::fs::read_to_string(root().join("docs/output-format.md"))
        .expect("docs/output-format.md");
    let dir = std::env::temp_dir().join(format!("rheo-format-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let model = dir.join("m.model");
    std::fs::write(
        &model,
        "tau = 10*ms\nNeuronGroup G(4):\n    model:\n        dv/dt = (2 - v)/tau : 1\n    \
         threshold: v > 1\n    reset: v = 0\n    method: exact\nSynapses S(G -> G):\n    \
         on_pre: v_post += 0.1\n    connect: 'i != j'\nSpikeMonitor spikes(G)\n\
         StateMonitor trace(G):\n    variables: v\n    record: 0\nPopulationRateMonitor rate(G)\n\
         run 20*ms\n",
    )
    .expect("write the model");
    let out = dir.join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_rheo"))
        .arg("run")
        .arg(&model)
        .args([
            "--out",
            out.to_str().unwrap_or(""),
            "--quiet",
            "--set",
            "tau=12*ms",
        ])
        .output()
        .expect("rheo runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run = std::fs::read_to_string(out.join("run.json")).expect("run.json");
    let run: serde_json::Value = serde_json::from_str(&run).expect("JSON");
    let keys = run.as_object().expect("an object").keys();
    for key in keys {
        assert!(
            doc.contains(&format!("| `{key}` |")),
            "run.json key `{key}`"
        );
    }
    for key in run["wall_seconds"].as_object().expect("phases").keys() {
        assert!(
            doc.contains(&format!("`{key}`")),
            "wall_seconds key `{key}`"
        );
    }
    for group in ["groups", "synapses", "files"] {
        for entry in run[group].as_array().expect("a list") {
            for key in entry.as_object().expect("an object").keys() {
                assert!(doc.contains(&format!("`{key}`")), "{group} key `{key}`");
            }
        }
    }
    for key in run["recordings"]["trace"]
        .as_object()
        .expect("a description")
        .keys()
    {
        assert!(
            doc.contains(&format!("| `{key}` |")),
            "metadata key `{key}`"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
