//! Every tool has a man page that documents exactly the options its
//! `--help` lists, and the page is clean roff.

use crate::hsm::{tool_path, TOOLS};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn man_page(tool: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("man")
        .join(format!("{tool}.1"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Options named at the start of `--help` lines: `  -m, --module PATH  …`.
fn help_options(tool: &str) -> BTreeSet<String> {
    let output = std::process::Command::new(tool_path(tool))
        .arg("--help")
        .output()
        .expect("run");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("utf8");
    let mut options = BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with("  ")) {
        for word in line.split_whitespace() {
            let word = word.trim_end_matches(',');
            if !word.starts_with('-') {
                break;
            }
            options.insert(word.to_string());
        }
    }
    options
}

/// Options a man page documents: the bold words of its `.TP` tags.
fn man_options(page: &str) -> BTreeSet<String> {
    let mut options = BTreeSet::new();
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        if line != ".TP" {
            continue;
        }
        let Some(tag) = lines.next() else { break };
        let unescaped = tag
            .replace("\\-", "-")
            .replace("\\fB", " ")
            .replace("\\fR", " ")
            .replace('"', " ");
        for word in unescaped.split_whitespace() {
            let word = word.trim_end_matches(',');
            if word.starts_with('-') && word.len() > 1 {
                options.insert(word.to_string());
            }
        }
    }
    options
}

#[test]
fn help_and_man_page_list_the_same_options() {
    for tool in TOOLS {
        let help = help_options(tool);
        let man = man_options(&man_page(tool));
        assert!(
            help.contains("--help") && help.contains("--version"),
            "{tool}: {help:?}"
        );
        assert_eq!(help, man, "{tool}: --help and man/{tool}.1 differ");
    }
}

#[test]
fn man_pages_have_the_sections_operators_need() {
    for tool in TOOLS {
        let page = man_page(tool);
        for section in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "ENVIRONMENT",
            "EXIT STATUS",
            "FAILURE BEHAVIOUR",
            "SECURITY",
            "EXAMPLES",
            "SEE ALSO",
        ] {
            assert!(
                page.contains(&format!(".SH {section}")),
                "{tool}: no {section}"
            );
        }
    }
}

#[test]
fn man_pages_pass_mandoc_lint() {
    for tool in TOOLS {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("man")
            .join(format!("{tool}.1"));
        let output = std::process::Command::new("mandoc")
            .args(["-Tlint", "-Wwarning"])
            .arg(&path)
            .output()
            .expect("mandoc must be installed (scripts/test installs it)");
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && text.trim().is_empty(),
            "{tool}: {text}"
        );
    }
}

#[test]
fn every_tool_prints_its_version() {
    // -V means the version in every tool, as in BIND's (issue 11 item 6).
    for tool in TOOLS {
        for flag in ["--version", "-V"] {
            let output = std::process::Command::new(tool_path(tool))
                .arg(flag)
                .output()
                .expect("run");
            assert!(output.status.success(), "{tool} {flag}: {output:?}");
            let text = String::from_utf8(output.stdout).expect("utf8");
            assert_eq!(
                text,
                format!("{tool} (p11dnssec) {}\n", env!("CARGO_PKG_VERSION"))
            );
        }
    }
}
