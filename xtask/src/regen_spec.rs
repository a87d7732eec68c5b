//! `cargo xtask regen-spec`: upstream document in, `salesloft-openapi/swagger.json` out.

use crate::normalize;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

pub const UPSTREAM_URL: &str = "https://developers.salesloft.com/v2_api_def.json";

pub fn run(from: Option<&Path>, check: bool) -> Result<()> {
    let upstream = match from {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the upstream document {}", path.display()))?,
        None => download()?,
    };
    let upstream = serde_json::from_str(&upstream).context("the upstream document is not JSON")?;
    let rendered = normalize::render(&normalize::normalize(upstream)?)?;
    let target = swagger_path();
    if check {
        let committed = std::fs::read_to_string(&target)
            .with_context(|| format!("cannot read {}", target.display()))?;
        if committed != rendered {
            bail!(
                "{} is out of date; run `cargo xtask regen-spec --from <upstream>` and commit it.\n{}",
                target.display(),
                diff_summary(&committed, &rendered)
            );
        }
        println!("{} is up to date", target.display());
        return Ok(());
    }
    std::fs::write(&target, rendered)
        .with_context(|| format!("cannot write {}", target.display()))?;
    println!("wrote {}", target.display());
    Ok(())
}

fn swagger_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../salesloft-openapi/swagger.json")
}

fn download() -> Result<String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime
        .block_on(async {
            let response = reqwest::get(UPSTREAM_URL).await?.error_for_status()?;
            response.text().await
        })
        .with_context(|| {
            format!("cannot download {UPSTREAM_URL} (no network?); pass --from <path to v2_api_def.json>")
        })
}

/// A short, readable summary of how two texts differ: line counts and the first differing lines.
pub fn diff_summary(committed: &str, wanted: &str) -> String {
    let old: Vec<&str> = committed.lines().collect();
    let new: Vec<&str> = wanted.lines().collect();
    let mut out = format!(
        "committed: {} lines, normalization: {} lines\n",
        old.len(),
        new.len()
    );
    let mut shown = 0;
    for (index, pair) in old.iter().zip(new.iter()).enumerate() {
        if pair.0 != pair.1 {
            out.push_str(&format!(
                "line {}:\n  - {}\n  + {}\n",
                index + 1,
                pair.0.trim(),
                pair.1.trim()
            ));
            shown += 1;
            if shown == 5 {
                out.push_str("  ...\n");
                break;
            }
        }
    }
    if shown == 0 {
        let longer = if old.len() > new.len() {
            "committed file"
        } else {
            "normalization"
        };
        out.push_str(&format!("the {longer} has extra lines at the end\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_summary_names_the_first_changed_lines() {
        let summary = diff_summary("a\nb\nc\n", "a\nB\nc\n");
        assert!(summary.contains("line 2"), "{summary}");
        assert!(
            summary.contains("- b") && summary.contains("+ B"),
            "{summary}"
        );
    }

    #[test]
    fn diff_summary_reports_extra_lines() {
        assert!(diff_summary("a\n", "a\nb\n").contains("extra lines"));
    }
}
