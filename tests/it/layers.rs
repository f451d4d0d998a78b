//! The layer rules of `docs/architecture.md`, checked against the code: every `crate::<module>`
//! path in `src/` (outside comments and `#[cfg(test)]` modules) must be allowed by the
//! table's row for the module it is written in, and every module must have a row.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `` `name` `` in a table cell.
fn names_in(cell: &str) -> BTreeSet<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// module → the modules it may use, from the "Import rules" table.
fn rules() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let section = text
        .split("## Import rules")
        .nth(1)
        .expect("docs/architecture.md has an Import rules section");
    let mut rules = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').collect();
        let module = names_in(cells[1]).into_iter().next().unwrap();
        rules.insert(module, names_in(cells[2]));
    }
    assert!(rules.len() > 5, "the rules table was not found: {rules:?}");
    rules
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for lib.rs and main.rs).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative
        .components()
        .next()?
        .as_os_str()
        .to_str()?
        .to_string();
    if relative.components().count() == 1 {
        let name = first.strip_suffix(".rs")?.to_string();
        return (name != "lib" && name != "main").then_some(name);
    }
    Some(first)
}

/// Every module named as `crate::<name>` in the code of `text` (comments and test modules
/// left out: a test may name anything, and a doc link is not a dependency).
fn uses(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut found = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (at, _) in line.match_indices("crate::") {
            let before = line[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue; // e.g. `$crate::` in a macro, or `other_crate::`
            }
            let name: String = line[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn every_module_imports_only_what_the_rules_allow() {
    let rules = rules();
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut broken = Vec::new();
    let mut modules = BTreeSet::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        modules.insert(module.clone());
        let Some(allowed) = rules.get(&module) else {
            broken.push(format!("{module}: no row in docs/architecture.md"));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for used in uses(&text) {
            if used != module && !allowed.contains(&used) {
                broken.push(format!(
                    "{}: {module} uses crate::{used}, which its row does not allow",
                    file.strip_prefix(root()).unwrap().display()
                ));
            }
        }
    }
    for module in rules.keys() {
        if !modules.contains(module) {
            broken.push(format!(
                "docs/architecture.md has a row for {module}, which src/ lacks"
            ));
        }
    }
    assert!(
        broken.is_empty(),
        "layer rules broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_checker_sees_an_upward_import() {
    // The checker itself: an upward path is found, a comment and a test module are not.
    let text = "use crate::money::Money;\n// crate::gui in a comment\nfn f() { crate::cli::run(); }\n#[cfg(test)]\nmod tests { use crate::terminal; }\n";
    let found = uses(text);
    assert_eq!(
        found,
        BTreeSet::from(["money".to_string(), "cli".to_string()])
    );
}
