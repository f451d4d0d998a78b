//! Compiles the Slint UI (`ui/app.slint` and everything it imports) into Rust, with the
//! Chinese translation from `ui/lang/` bundled into the binary so the language can be
//! switched at run time without gettext or files next to the executable.
//!
//! Only with the `gui` feature (on by default): a build without it has no Slint at all, not
//! even at build time, so there is nothing to compile here.

fn main() {
    #[cfg(feature = "gui")]
    compile_ui();
    #[cfg(not(feature = "gui"))]
    // Without this line cargo would run the script again after any change in the package.
    println!("cargo::rerun-if-changed=build.rs");
}

#[cfg(feature = "gui")]
fn compile_ui() {
    // Debug info lets the headless GUI tests find controls by their `accessible-label`;
    // release builds leave it out.
    let profile = std::env::var("PROFILE").unwrap_or_default();
    let config = slint_build::CompilerConfiguration::new()
        .with_style("fluent-light".into())
        .with_bundled_translations("ui/lang")
        // Messages in the .po files carry no context, so one English string has one
        // translation wherever it appears.
        .with_default_translation_context(slint_build::DefaultTranslationContext::None)
        .with_debug_info(profile != "release");
    if let Err(error) = slint_build::compile_with_config("ui/app.slint", config) {
        eprintln!("cannot compile the Slint UI: {error}");
        std::process::exit(1);
    }
}
