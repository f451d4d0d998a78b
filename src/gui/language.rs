//! English / Simplified Chinese at run time. Texts in the .slint files are translated by
//! Slint from the bundled `ui/lang/zh_CN/LC_MESSAGES/alipay-pos.po`; amounts and item names
//! are formatted here, so they are pushed again after every switch.

use std::rc::Rc;

use slint::ComponentHandle;

use super::{Api, Shared, kiosk};
use crate::locale::Locale;

pub(super) fn wire(shared: &Rc<Shared>, api: &Api<'_>) {
    let weak = Rc::downgrade(shared);
    api.on_toggle_language(move || {
        let Some(shared) = weak.upgrade() else { return };
        kiosk::activity(&shared);
        let next = match shared.locale.get() {
            Locale::English => Locale::SimplifiedChinese,
            Locale::SimplifiedChinese => Locale::English,
        };
        apply(&shared, next);
    });
}

/// Switches every screen to `locale`.
pub(super) fn apply(shared: &Shared, locale: Locale) {
    // The bundled translation is named after its folder, `zh_CN`; English is the source.
    if let Err(error) = slint::select_bundled_translation(locale.code()) {
        tracing::warn!(%error, language = locale.code(), "cannot switch the language");
        return;
    }
    shared.locale.set(locale);
    if let Some(app) = shared.app() {
        app.global::<Api>().set_language(locale.code().into());
    }
    shared.push_all();
}
