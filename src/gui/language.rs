//! English / Simplified Chinese at run time. Texts in the .slint files are translated by
//! Slint from the bundled `ui/lang/zh_CN/LC_MESSAGES/alipay-pos.po`; amounts and item names
//! are formatted in Rust, so every screen is pushed again after a switch
//! ([`Shared::set_locale`](super::Shared)).

use std::rc::Rc;

use super::{Api, Shared};
use crate::locale::Locale;

pub(super) fn wire(shared: &Rc<Shared>, api: &Api<'_>) {
    let weak = Rc::downgrade(shared);
    api.on_toggle_language(move || {
        let Some(shared) = weak.upgrade() else { return };
        shared.activity();
        let next = match shared.locale.get() {
            Locale::English => Locale::SimplifiedChinese,
            Locale::SimplifiedChinese => Locale::English,
        };
        shared.set_locale(next);
    });
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    /// The first string literal of every `@tr(...)` in the .slint files under `dir`.
    fn tr_texts(dir: &Path, found: &mut BTreeSet<String>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                tr_texts(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "slint") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (start, _) in text.match_indices("@tr(\"") {
                    let rest = &text[start + 5..];
                    let end = rest.find('"').unwrap();
                    found.insert(rest[..end].to_string());
                }
            }
        }
    }

    /// `msgid "..."` → its `msgstr` (or `msgstr[0]`), for one-line entries.
    fn po_entries(path: &Path) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(path).unwrap();
        let unquote = |line: &str, prefix: &str| -> Option<String> {
            let rest = line.strip_prefix(prefix)?.trim();
            Some(rest.strip_prefix('"')?.strip_suffix('"')?.to_string())
        };
        let mut entries = Vec::new();
        let mut id: Option<String> = None;
        for line in text.lines() {
            if let Some(msgid) = unquote(line, "msgid ") {
                id = Some(msgid);
            } else if let Some(msgstr) =
                unquote(line, "msgstr ").or_else(|| unquote(line, "msgstr[0] "))
                && let Some(msgid) = id.take()
            {
                entries.push((msgid, msgstr));
            }
        }
        entries
    }

    #[test]
    fn every_ui_text_has_a_chinese_translation() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts = BTreeSet::new();
        tr_texts(&root.join("ui"), &mut texts);
        assert!(texts.contains("New sale"), "the scan found no @tr texts");
        let po = po_entries(&root.join("ui/lang/zh_CN/LC_MESSAGES/alipay-pos.po"));
        let translated: BTreeSet<&str> = po
            .iter()
            .filter(|(id, text)| !id.is_empty() && !text.is_empty())
            .map(|(id, _)| id.as_str())
            .collect();
        let missing: Vec<&String> = texts
            .iter()
            .filter(|text| !translated.contains(text.as_str()))
            .collect();
        assert!(missing.is_empty(), "untranslated: {missing:#?}");
        for (id, text) in &po {
            assert_eq!(
                id.matches("{}").count(),
                text.matches("{}").count(),
                "placeholders differ in {id:?}"
            );
        }
    }
}
